"""Labelled view: the galaxies scored so far, best first (what the search has found), as a
gallery to look through again and a CSV.

Yours or everyone's (the mean score), from a minimum score, with a tag or any. A card opens the
galaxy in the scoring view, where Forward goes on through the whole list (to re-score, tag or
note them one after another). It follows new labels, from this window or any other, when its tab
is opened (while hidden it only notes that it is out of date).
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import panel as pn
import param

from astroexplore.explorer import finds_of
from astroexplore.ui.gallery import Gallery
from astroexplore.ui.notebook import ShownAsIpywidget
from astroexplore.ui.state import AppState
from astroexplore.ui.widgets import csv_buffer
from astroexplore.wording import counted

YOURS = "Yours"
EVERYONE = "Everyone's"
ANY_TAG = "(any tag)"
N_CARDS = 96


def score_text(score: float) -> str:
    """``'5'`` for a whole score, ``'4.5'`` for a mean of several users' scores."""
    return f"{score:.0f}" if float(score).is_integer() else f"{score:.1f}"


def parse_finds(text: str) -> tuple[int, bool, str]:
    """``(min_score, everyone, tag)`` of the address's ``finds`` value (``'3,everyone,#ring'``;
    '' = the defaults: 4, yours, any tag). ValueError naming what does not fit."""
    min_score, everyone, tag = LabelledView.param.min_score.default, False, ANY_TAG
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if parts and parts[0].isdigit():
        min_score = int(parts.pop(0))
        if min_score not in LabelledView.param.min_score.objects:
            raise ValueError(f"the score {min_score} is not 0 to 5")
    for part in parts:
        if part in ("everyone", "yours"):
            everyone = part == "everyone"
        elif tag == ANY_TAG:
            tag = part if part.startswith("#") else f"#{part}"
        else:
            raise ValueError(f"'{part}': expected min_score[,everyone][,#tag]")
    return min_score, everyone, tag


class LabelledView(ShownAsIpywidget, pn.viewable.Viewer):
    """The labelled galaxies, best first, from ``min_score`` up; a gallery and a CSV download."""

    state = param.ClassSelector(class_=AppState)
    whose = param.Selector(default=YOURS, objects=[YOURS, EVERYONE], label="Labels")
    min_score = param.Selector(default=4, objects=[0, 1, 2, 3, 4, 5], label="Score at least")
    tag = param.Selector(default=ANY_TAG, objects=[ANY_TAG], label="Tag")
    found = param.DataFrame(default=None, allow_None=True, doc=(
        ":meth:`Explorer.labelled_galaxies` of the choices: one row per galaxy, best first."))

    def __init__(self, **params):
        super().__init__(**params)
        self._gallery = Gallery(state=self.state, title="", max_items=N_CARDS)
        self._curve_source, self._curve_plot = _curve_figure()
        self._curve_text = pn.pane.HTML("", margin=(0, 10), sizing_mode="stretch_width",
                                        styles={"font-size": "13px", "color": "#333"})
        self._download = pn.widgets.FileDownload(
            callback=self._csv, filename="labelled_galaxies.csv", label="Download them as CSV",
            width=220, color="default", disabled=self.param.found.rx.pipe(_nothing_found))
        self._stale = False
        self.state.param.watch(self._on_labels, ["labels_version", "user"])
        self.state.param.watch(self._on_tab, "tab")
        # the choices the page's address holds (state.finds): taken now, followed both ways
        self.param.watch(lambda *e: setattr(self.state, "finds", self.choices_text()), ["whose", "min_score", "tag"])
        self.state.param.watch(lambda e: self._follow_state(), "finds")
        self._follow_state()
        self.refresh()

    def choices_text(self) -> str:
        """The choices as the address writes them: ``''`` (the defaults), ``'3,everyone,#ring'``."""
        parts = [str(self.min_score), *(["everyone"] if self.whose == EVERYONE else []),
                 *([self.tag] if self.tag != ANY_TAG else [])]
        return "" if parts == [str(self.param.min_score.default)] else ",".join(parts)

    def _follow_state(self):
        """Take ``state.finds`` when set elsewhere (a link, a script); see :func:`parse_finds`."""
        if self.state.finds == self.choices_text():
            return
        min_score, everyone, tag = parse_finds(self.state.finds)
        if tag not in self.param.tag.objects:
            self.param.tag.objects = [*self.param.tag.objects, tag]
        self.param.update(min_score=min_score, whose=EVERYONE if everyone else YOURS, tag=tag)

    @property
    def _my_tab(self) -> int:
        return self.state.TABS.index("Labelled")

    def _on_labels(self, _event=None):
        if self.state.tab == self._my_tab:
            self.refresh()
        else:  # a label given in the Scoring tab: no thumbnails drawn for a hidden tab
            self._stale = True

    def _on_tab(self, event):
        if event.new == self._my_tab and self._stale:
            self.refresh()

    @param.depends("whose", "min_score", "tag", watch=True)
    def refresh(self):
        """Read the labels again and show those the choices keep."""
        st = self.state
        self._stale = False
        tags = [ANY_TAG, *st.store.tags()]
        if self.tag not in tags:
            tags.append(self.tag)  # no label carries it any more: it stays chosen, and finds nothing
        self.param.tag.objects = tags
        choices = self._choices()
        everything = st.explorer.labelled_galaxies(user=choices["user"])  # one read: list and curve
        found = finds_of(everything, min_score=choices["min_score"], tag=choices["tag"])
        self._show_curve(st.explorer.discovery_curve(**choices, labelled=everything))
        title = self.describe(len(found))
        self.found = found
        captions = [" ".join([score_text(s), *t]) for s, t in zip(found["score"], found["tags"])]
        rows = found["row"].to_numpy(dtype="int64")
        # a card opened goes on through the whole list, not only the cards shown
        self._gallery.param.update(indices=rows, captions=captions, title=title, through_rows=rows,
                                   through_title=title)

    def _show_curve(self, curve: pd.DataFrame) -> None:
        """The discovery curve (finds against galaxies labelled) and what it says, in words."""
        self._curve_source.data = {"n_labelled": np.r_[0, curve["n_labelled"].to_numpy()],
                                   "n_found": np.r_[0, curve["n_found"].to_numpy()]}
        self._curve_text.object = html.escape(self.curve_summary(curve))
        self._curve_plot.visible = len(curve) > 0

    def curve_summary(self, curve: pd.DataFrame) -> str:
        """``'9 finds (scored 4 or more) among 30 galaxies you labelled: 3 in the first 15 (20%),
        6 in the last 15 (40%).'`` The halves say whether the ranking brings them up faster."""
        n = len(curve)
        who = "you labelled" if self.whose == YOURS else "labelled"
        if not n:
            return f"No galaxies {who} yet: the finds will be counted here as you score."
        least = f"{self.min_score} or more" if self.min_score > 0 else "0 to 5"  # as describe() says it
        what = f"scored {least}" + ("" if self.tag == ANY_TAG else f", tagged {self.tag}")
        total = int(curve["n_found"].iloc[-1])
        text = f"{counted(total, 'find')} ({what}) among {counted(n, 'galaxy', 'galaxies')} {who}"
        if n < 10:
            return text + "."
        half = n // 2
        first, last = int(curve["found"].iloc[:half].sum()), int(curve["found"].iloc[n - half:].sum())
        return (text + f": {first:,} in the first {half:,} ({first / half:.0%}), "
                f"{last:,} in the last {half:,} ({last / half:.0%}).")

    def _choices(self) -> dict:
        """The choices as :meth:`Explorer.labelled_galaxies` takes them."""
        return {"min_score": self.min_score, "user": self.state.user_name if self.whose == YOURS else None,
                "tag": None if self.tag == ANY_TAG else self.tag}

    def describe(self, n: int) -> str:
        """``'12 galaxies you scored 4 or more, tagged #ring, best first'``."""
        who = "you scored" if self.whose == YOURS else "scored"
        least = f"{self.min_score} or more" if self.min_score > 0 else "0 to 5"
        mean = "" if self.whose == YOURS else " (the mean of everyone's scores)"
        tag = "" if self.tag == ANY_TAG else f", tagged {self.tag}"
        return f"{counted(n, 'galaxy', 'galaxies')} {who} {least}{mean}{tag}, best first"

    def table(self) -> pd.DataFrame:
        """The download: :meth:`Explorer.labelled_table` of the choices (ra/dec, score, labels,
        tags, notes, last label time, the catalogue's columns), read from the store when asked."""
        return self.state.explorer.labelled_table(**self._choices())

    def _csv(self):
        return csv_buffer(self.table())

    def __panel__(self):
        whose = pn.widgets.RadioButtonGroup.from_param(
            self.param.whose, color="primary", variant="outline",  # the chosen one filled
            stylesheets=[".bk-btn.bk-active { color: #fff; font-weight: 600; }"])
        # a FlexBox that wraps: in a narrow window (1024 px) the download goes to the next line
        controls = pn.FlexBox(whose, pn.widgets.Select.from_param(self.param.min_score, width=130),
                              pn.widgets.Select.from_param(self.param.tag, width=180), self._download,
                              flex_wrap="wrap", align_items="flex-end")
        hint = pn.pane.HTML(
            "<span style='color:#555;font-size:13px'>" + html.escape(
                "Click a galaxy to open it in the Scoring tab; Forward then goes on through this "
                "list, to score, tag or note them again.") + "</span>", margin=(0, 10))
        curve = pn.Row(pn.pane.Bokeh(self._curve_plot), pn.Column(
            pn.pane.HTML("<b>Discovery curve</b>", margin=(5, 10, 0, 10)), self._curve_text,
            pn.pane.HTML("<span style='color:#555;font-size:12px'>Finds against galaxies labelled, "
                         "in the order they were first scored: the steeper the curve, the more of "
                         "what was looked at was interesting. From 10 labels on, the line above compares "
                         "the first half of them with the last.</span>",
                         margin=(0, 10), sizing_mode="stretch_width"),
            sizing_mode="stretch_width"), sizing_mode="stretch_width")
        return pn.Column(controls, curve, hint, self._gallery, sizing_mode="stretch_width")


def _curve_figure():
    """A small step plot of finds against galaxies labelled, and its data source (updated in
    place: the figure is drawn once)."""
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    source = ColumnDataSource({"n_labelled": [0], "n_found": [0]})
    fig = figure(height=170, width=320, toolbar_location=None, tools="", x_axis_label="galaxies labelled",
                 y_axis_label="finds", margin=(5, 10, 5, 10), css_classes=["ae-discovery-curve"])
    fig.step("n_labelled", "n_found", source=source, mode="after", line_width=2, color="#0b5394")
    fig.x_range.start = fig.y_range.start = 0
    fig.xaxis.axis_label_text_font_size = fig.yaxis.axis_label_text_font_size = "11px"
    return source, fig


def _nothing_found(found: pd.DataFrame | None) -> bool:
    """No labelled galaxy that the choices keep (the download has nothing to give)."""
    return found is None or not len(found)
