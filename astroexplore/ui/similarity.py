"""Similarity search view: galaxies that look like the current one, a sky position, a Legacy
Survey link, or everything carrying a tag. Results as a gallery and a table with CSV download;
the morphology filter applies; same-object neighbours (within 3 arcsec) are dropped by the core.
"""
from __future__ import annotations

import html
import io

import numpy as np
import pandas as pd
import panel as pn
import param

from astroexplore.ui.gallery import Gallery
from astroexplore.ui.state import AppState

FROM_CURRENT = "Current galaxy"
FROM_POSITION = "RA / Dec"
FROM_URL = "Legacy Survey viewer link"
FROM_TAG = "Tag"
MODES = [FROM_CURRENT, FROM_POSITION, FROM_URL, FROM_TAG]
MAX_RESULTS = 1000


class SimilarityView(pn.viewable.Viewer):
    """Nearest neighbours in embedding space (faiss) from one of four kinds of query."""

    state = param.ClassSelector(class_=AppState)
    mode = param.Selector(default=FROM_CURRENT, objects=MODES, label="Search from")
    position = param.String(default="", label="RA, Dec (degrees or hh:mm:ss +dd:mm:ss)")
    url = param.String(default="", label="Legacy Survey viewer link")
    tag = param.Selector(default=None, objects=[], allow_None=True, label="Tag")
    k = param.Integer(default=24, bounds=(1, None), label="Number of results",
                      doc=f"Galaxies to find (at most {MAX_RESULTS}: a larger number is clamped).")
    results = param.DataFrame(default=None, allow_None=True)
    result_indices = param.Array(default=None)
    summary = param.String(default="")
    warning = param.String(default="")

    def __init__(self, **params):
        super().__init__(**params)
        self._gallery = Gallery(state=self.state, title="")
        self._search_button = pn.widgets.Button(label="Search", color="primary", width=120,
                                                on_click=lambda e: self.search())
        self._download = pn.widgets.FileDownload(
            callback=self._csv, filename="similar_galaxies.csv", label="Download results as CSV",
            disabled=True, width=220)
        self._refresh_tags()
        self.state.param.watch(lambda e: self._refresh_tags(), "labels_version")
        # another window may have added or removed tags: read them again when the tag mode opens
        self.param.watch(lambda e: self._refresh_tags() if e.new == FROM_TAG else None, "mode")

    def _refresh_tags(self):
        tags = list(self.state.store.tags())
        self.param.tag.objects = tags
        if self.tag not in tags:
            self.tag = tags[0] if tags else None

    # the query ------------------------------------------------------------------------------------
    def search(self):
        """Run the query of the chosen mode; fills ``results`` and the gallery (errors -> warning)."""
        from astroexplore import search as core
        st = self.state
        if self.k > MAX_RESULTS:
            self.k = MAX_RESULTS
        cat, mask, k = st.catalogue, st.mask, int(self.k)
        index = st.resources.index
        self.warning = ""
        try:
            if self.mode == FROM_CURRENT:
                res = core.search_by_index(cat, index, st.current, k, mask=mask)
                what = f"galaxies similar to {st.current_id}"
            elif self.mode in (FROM_POSITION, FROM_URL):
                text = self.position if self.mode == FROM_POSITION else self.url
                if not text.strip():
                    raise ValueError("type a position first" if self.mode == FROM_POSITION
                                     else "paste a Legacy Survey viewer link first")
                ra, dec = (core.parse_position(text) if self.mode == FROM_POSITION
                           else core.parse_legacy_survey_url(text))
                res = core.search_by_coords(cat, index, ra, dec, k, mask=mask)
                qid = cat.ids[res.query_index]
                what = (f"galaxies similar to {qid}, the nearest catalogue galaxy to RA {ra:.5f}, "
                        f"Dec {dec:+.5f} ({res.separation_arcsec:.1f} arcsec away)")
            else:
                if not self.tag:
                    raise ValueError("no tags yet: add one (e.g. #ring) when you score a galaxy")
                tagged = st.store.tagged(self.tag)
                ids = [gid for gid, ok in zip(tagged, cat.known_rows(tagged)[1]) if ok]
                if not tagged:  # untagged since the list was read (here or in another window)
                    tag = self.tag
                    self._refresh_tags()
                    raise ValueError(f"no galaxy carries {tag} any more (its labels were changed or "
                                     "undone); the tag list is up to date again")
                if not ids:
                    raise ValueError(f"none of the {len(tagged)} galaxies tagged {self.tag} is in this "
                                     "catalogue (the label store is shared with another one)")
                res = core.search_by_ids(cat, index, ids, k, mask=mask)
                what = f"galaxies similar to the {len(ids)} tagged {self.tag}"
        except (ValueError, KeyError, IndexError) as err:
            self._clear()  # no earlier query's results under this query's warning
            self.warning = str(err.args[0] if isinstance(err, KeyError) and err.args else err)
            return None
        extra = {}
        sc = st.scores()
        if sc is not None:
            extra[f"score_{st.method}"] = sc
        pred = getattr(st.explorer, "predicted_interest", None)
        if pred is not None:
            extra["predicted_interest"] = pred[0]
        frame = res.to_frame(cat, extra)
        with param.parameterized.batch_call_watchers(self):
            self.result_indices = np.asarray(res.indices, dtype=np.int64)
            self.results = frame
            self.summary = f"{len(frame)} {what}"
            self.warning = res.warning or ""
        self._gallery.param.update(indices=self.result_indices,
                                   captions=[f"d = {d:.3f}" for d in frame["distance"]],
                                   title=self.summary)
        self._download.disabled = False
        return res

    def _clear(self):
        with param.parameterized.batch_call_watchers(self):
            self.result_indices = None
            self.results = None
            self.summary = ""
        self._gallery.param.update(indices=None, captions=[], title="")
        self._download.disabled = True

    def _csv(self):
        buf = io.StringIO()
        (self.results if self.results is not None else pd.DataFrame()).to_csv(buf, index=False)
        buf.seek(0)
        return buf

    # rendering ------------------------------------------------------------------------------------
    @param.depends("mode")
    def _inputs(self):
        if self.mode == FROM_CURRENT:  # HTML-escaped: an id is text, never markup
            return pn.pane.HTML(pn.bind(lambda c: "Query: the galaxy in the scoring view (<b>"
                                        f"{html.escape(str(self.state.catalogue.ids[c]))}</b>).",
                                        self.state.param.current))
        if self.mode == FROM_POSITION:
            box = pn.widgets.TextInput.from_param(self.param.position, placeholder="150.1 2.2", width=360)
        elif self.mode == FROM_URL:
            box = pn.widgets.TextInput.from_param(
                self.param.url, width=520,
                placeholder="https://www.legacysurvey.org/viewer?ra=150.1&dec=2.2&layer=ls-dr10&zoom=16")
        else:
            return pn.widgets.Select.from_param(self.param.tag, width=200)
        box.param.watch(lambda e: self.search(), "enter_pressed")  # Enter searches, as the button
        return box

    @param.depends("warning", "summary")
    def _messages(self):
        items = []
        if self.warning:  # HTML, not an Alert (Markdown): an id in the text stays as written
            items.append(pn.pane.HTML(
                f"<div style='background:#fff3cd;color:#664d03;border:1px solid #ffe69c;"
                f"border-radius:6px;padding:8px 12px'>{html.escape(self.warning)}</div>",
                sizing_mode="stretch_width"))
        return pn.Column(*items, sizing_mode="stretch_width")

    @param.depends("results")
    def _table(self):
        if self.results is None:
            return pn.pane.Markdown("")
        return pn.widgets.Tabulator(self.results, show_index=False, pagination="local", page_size=15,
                                    disabled=True, sizing_mode="stretch_width", height=460)

    def __panel__(self):
        if not self.state.catalogue.has_coordinates:
            self.param.mode.objects = [FROM_CURRENT, FROM_TAG]
        return pn.Column(
            pn.Row(pn.widgets.RadioButtonGroup.from_param(self.param.mode),
                   pn.widgets.IntInput.from_param(self.param.k, width=140)),
            pn.Row(self._inputs, pn.Column(self._search_button, align="end"), self._download),
            self._messages,
            pn.Row(pn.Column(self._gallery, sizing_mode="stretch_width"),
                   pn.Column(self._table, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
