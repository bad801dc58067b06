"""Similarity search view: galaxies that look like the current one, a sky position, a Legacy
Survey link, a list of known objects' positions (cross-matched to the catalogue), or everything
carrying a tag. Results as a gallery and a table with CSV download;
the morphology filter applies; same-object neighbours (within 3 arcsec) are dropped by the core.

The chosen mode is a filled button and only its input is shown; the query itself (the galaxy
searched from, or thumbnails of the tagged galaxies) is shown above its results.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import panel as pn
import param

from astroexplore.catalogue import with_catalogue_columns
from astroexplore.crossmatch import DEFAULT_MATCH_ARCSEC
from astroexplore.similar import DEFAULT_K, MAX_MATCH_ARCSEC, MAX_RESULTS, MIN_MATCH_ARCSEC, checked_tag
from astroexplore.ui.gallery import Gallery
from astroexplore.ui.state import ANONYMOUS, AppState, with_labels
from astroexplore.ui.notebook import ShownAsIpywidget
from astroexplore.wording import counted
from astroexplore.ui.widgets import csv_buffer, flex_column

FROM_CURRENT = "Current galaxy"
FROM_POSITION = "RA / Dec"
FROM_URL = "Legacy Survey viewer link"
FROM_LIST = "Known objects"
FROM_TAG = "Tag"
MODES = [FROM_CURRENT, FROM_POSITION, FROM_URL, FROM_LIST, FROM_TAG]
QUERY_THUMBS = 8  # tagged galaxies shown as the query of a tag search
QUERY_SIZE, TAG_SIZE, CURRENT_SIZE = 112, 64, 48  # thumbnail sizes (pixels)
# narrowest gallery (3 thumbnails across) and table (the titles of 6 columns read whole) side by
# side; in less room the table goes under the gallery
GALLERY_MIN_PX, TABLE_MIN_PX = 360, 500


class SimilarityView(ShownAsIpywidget, pn.viewable.Viewer):
    """Nearest neighbours in embedding space (faiss) from one of four kinds of query."""

    state = param.ClassSelector(class_=AppState)
    mode = param.Selector(default=FROM_CURRENT, objects=MODES, label="Search from")
    position = param.String(default="", label="RA, Dec (degrees or hh:mm:ss +dd:mm:ss)")
    url = param.String(default="", label="Legacy Survey viewer link")
    positions_text = param.String(default="", label="Positions of known objects, one a line")
    # what the box shows is what is used: a radius outside the range is a warning, not a silently
    # kept earlier value
    match_arcsec = param.Number(default=DEFAULT_MATCH_ARCSEC, allow_None=True, label="Match radius (arcsec)",
                                doc="A position matches the nearest catalogue galaxy within this distance "
                                    f"({MIN_MATCH_ARCSEC:g} to {MAX_MATCH_ARCSEC:g} arcsec).")
    tag = param.Selector(default=None, objects=[], allow_None=True, label="Tag")
    k = param.Integer(default=DEFAULT_K, bounds=(1, None), label="Number of results",
                      doc=f"Galaxies to find (at most {MAX_RESULTS}: a larger number is clamped).")
    results = param.DataFrame(default=None, allow_None=True)
    result_indices = param.Array(default=None)
    summary = param.String(default="")
    warning = param.String(default="")
    query_indices = param.Array(default=None, doc="Rows of the last search's query galaxies (one "
                                "galaxy, or the tagged galaxies of a tag search); None before.")
    query_text = param.String(default="", doc="What the last query was, shown with its thumbnails.")
    known_matched = param.Boolean(default=False, doc="The query shown is a Known objects search's "
                                  "matched galaxies, which can be labelled at once.")
    label_score = param.Selector(default=5, objects=[5, 4, 3, 2, 1, 0], label="Score",
                                 doc="Interest score for the matched galaxies you have not scored.")
    label_tags = param.String(default="", label="Tags", doc="Tags for every matched galaxy (#polar-ring); "
                              "one you have scored keeps its score and gets these tags.")
    label_message = param.String(default="", doc="What the last Label / Undo of the matched galaxies did.")
    labelled = param.Parameter(default=None, doc="The LabelledMany the last Label of the matched galaxies "
                               "stored, which Undo takes back; None when there is nothing to undo.")

    def __init__(self, **params):
        super().__init__(**params)
        if not self.state.catalogue.has_coordinates:
            self.param.mode.objects = [FROM_CURRENT, FROM_TAG]
        # each mode's input, built once; _inputs shows the chosen mode's one
        self._current_line = pn.pane.HTML(pn.bind(self._current_html, self.state.param.current),
                                          margin=(12, 10, 5, 10))
        self._position_box = pn.widgets.TextInput.from_param(
            self.param.position, placeholder="150.1 2.2", width=360)
        self._url_box = pn.widgets.TextInput.from_param(
            self.param.url, width=520,
            placeholder="https://www.legacysurvey.org/viewer?ra=150.1&dec=2.2&layer=ls-dr10&zoom=16")
        for box in (self._position_box, self._url_box):  # Enter searches, as the button
            box.param.watch(lambda e: self.search(), "enter_pressed")
        self._list_box = pn.Row(
            pn.widgets.TextAreaInput.from_param(
                self.param.positions_text, width=420, height=130,
                placeholder="150.1 2.2  # a name\n10:00:24 +02:12:00\n... or a table pasted with its "
                            "header line (name, RA, Dec)"),
            pn.widgets.FloatInput.from_param(self.param.match_arcsec, width=150, step=1.0), margin=0)
        self._tag_select = pn.widgets.Select.from_param(self.param.tag, width=200)
        self._gallery = Gallery(state=self.state, title="")
        self._search_button = pn.widgets.Button(label="Search", color="primary", width=120,
                                                on_click=lambda e: self.search())
        # the buttons follow the view's parameters: the number matched, whether there is an Undo
        self._label_button = pn.widgets.Button(
            label=pn.bind(_label_button_text, self.param.query_indices), color="success", width=150,
            on_click=lambda e: self.label_matched())
        self._undo_button = pn.widgets.Button(label="Undo these labels", width=150,
                                              disabled=self.param.labelled.rx.is_(None),
                                              on_click=lambda e: self.undo_labelled())
        self._label_inputs = (pn.widgets.Select.from_param(self.param.label_score, width=80),
                              pn.widgets.TextInput.from_param(self.param.label_tags, width=220,
                                                              placeholder="#polar-ring"))
        self._download = pn.widgets.FileDownload(
            callback=self._csv, filename="similar_galaxies.csv", label="Download results as CSV",
            disabled=self.param.results.rx.is_(None), width=220)
        self._matches = None  # a Known objects search's positions and the galaxy each matched
        self._matches_download = pn.widgets.FileDownload(
            callback=lambda: csv_buffer(self._matches if self._matches is not None else pd.DataFrame()),
            filename="known_objects_matched.csv", label="Download the matches as CSV", width=230,
            description="Each position of the list with the galaxy it matched, its separation (arcsec) "
                        "and how many galaxies lie within the radius: what `astroexplore match` writes")
        self._refresh_tags()
        self.state.param.watch(lambda e: self._refresh_tags(), "labels_version")
        self.state.param.watch(lambda e: self._refresh_labels(), ["labels_version", "user"])
        # another window may have added or removed tags: read them again when the tag mode opens
        self.param.watch(lambda e: self._refresh_tags() if e.new == FROM_TAG else None, "mode")
        # the search a link asks for (state.similarity_query), run now and whenever it is set elsewhere
        self._shown_query = ""
        self.state.param.watch(lambda e: self._follow_state(), "similarity_query")
        self._follow_state()

    def _refresh_labels(self):
        """The results' ``your_score`` and ``tags`` as the store has them now (a result scored
        from the gallery kept showing "-")."""
        if self.results is None or "your_score" not in self.results.columns:
            return
        self.results = with_labels(self.results.drop(columns=["your_score", "tags"]), self.state)

    def _refresh_tags(self):
        tags = list(self.state.store.tags())
        self.param.tag.objects = tags
        if self.tag not in tags:
            self.tag = tags[0] if tags else None

    # the query ------------------------------------------------------------------------------------
    def _follow_state(self):
        """Run ``state.similarity_query`` when it is not the search shown (a link, a script)."""
        query = self.state.similarity_query
        if query == self._shown_query:
            return
        if not query:
            self._clear()
            return
        self.run_query(query, self.state.similarity_k)

    def run_query(self, query: str, k: int | None = None):
        """Run a search written as the page's address writes it: ``'galaxy:ID'`` (from that
        galaxy), ``'position:RA,Dec'`` (degrees, or any form the RA / Dec box takes) or
        ``'tag:#ring'``; ``k`` results (default: :attr:`k`). Problems -> :attr:`warning`."""
        kind, _, value = str(query).partition(":")
        if k is not None:
            self.k = int(k)
        if kind == "galaxy":
            row = self.state.catalogue.row_of_typed_id(value)
            if row is None:
                self._fail(f"galaxy '{value}' is not in this catalogue")
                return None
            self.mode = FROM_CURRENT
            return self.search(row=row)
        if kind == "position" and FROM_POSITION in self.param.mode.objects:
            self.param.update(mode=FROM_POSITION, position=value.replace(",", " "))
            return self.search()
        if kind == "positions" and FROM_LIST in self.param.mode.objects:
            radius, _, pairs = value.partition(";")
            try:
                radius = float(radius)
            except ValueError:
                self._fail(f"cannot search by '{query}': the match radius '{radius}' is not a number")
                return None
            self.param.update(mode=FROM_LIST, match_arcsec=radius,
                              positions_text="\n".join(p.replace(",", " ") for p in pairs.split(";")))
            return self.search()
        if kind == "tag":
            self.mode = FROM_TAG
            try:
                self.tag = checked_tag(value, self.param.tag.objects)
            except ValueError as err:
                self._fail(str(err))
                return None
            return self.search()
        self._fail(f"cannot search by '{query}': expected galaxy:ID, position:RA,Dec, "
                   "positions:RADIUS;RA,Dec;... or tag:#name")
        return None

    def _fail(self, text: str) -> None:
        """No results, and ``text`` as the warning (no earlier query's results under it)."""
        self._clear()
        self.warning = text
        self._publish("")

    def _publish(self, query: str) -> None:
        """The search shown, to ``state.similarity_query`` (and so to the page's address)."""
        self._shown_query = query
        self.state.param.update(similarity_query=query, similarity_k=int(self.k))

    def search(self, row: int | None = None):
        """Run the query of the chosen mode; fills ``results`` and the gallery (errors -> warning).

        Parameters
        ----------
        row : int, optional
            With the "Current galaxy" mode: search from this catalogue row instead of the galaxy
            on screen (a link's search).
        """
        from astroexplore import search as core
        from astroexplore import similar
        st = self.state
        if self.k > MAX_RESULTS:
            self.k = MAX_RESULTS
        cat, mask, k = st.catalogue, st.mask, int(self.k)
        index = st.resources.index
        self.warning = ""
        shown_as = None  # the query in words, where the tab says it otherwise than the core
        try:
            if self.mode == FROM_CURRENT:
                found = similar.from_galaxy(cat, index, st.current if row is None else int(row), k, mask=mask)
                shown_as = ("the galaxy on screen in the Scoring tab when you searched" if row is None
                            else "the galaxy the link names")
            elif self.mode in (FROM_POSITION, FROM_URL):
                text = self.position if self.mode == FROM_POSITION else self.url
                if not text.strip():
                    raise ValueError("type a position first" if self.mode == FROM_POSITION
                                     else "paste a Legacy Survey viewer link first")
                ra, dec = (core.parse_position(text) if self.mode == FROM_POSITION
                           else core.parse_legacy_survey_url(text))
                found = similar.from_position(cat, index, ra, dec, k, mask=mask)
            elif self.mode == FROM_LIST:
                if not self.positions_text.strip():
                    raise ValueError("paste the positions of known objects first, one a line (RA Dec)")
                from astroexplore.crossmatch import read_positions
                radius = similar.check_match_radius(self.match_arcsec)  # said before the list's problems
                found = similar.from_known_objects(cat, index, read_positions(self.positions_text),
                                                   radius, k, mask=mask)
            else:
                found = self._search_tag(index, k, mask)
        except (ValueError, KeyError, IndexError) as err:
            self._fail(str(err.args[0] if isinstance(err, KeyError) and err.args else err))
            return None
        res, what = found.result, found.what
        if mask is not None:  # say so: the nearest galaxies the filter hides are left out
            what += (f", among the {int(st.n_match):,} of {cat.n_galaxies:,} that pass the "
                     "filter")
        extra = {}
        sc = st.scores()
        if sc is not None:
            extra[f"score_{st.method}"] = sc
        pred = getattr(st.explorer, "predicted_interest", None)
        if pred is not None:
            extra["predicted_interest"] = pred[0]
        frame = with_labels(res.to_frame(cat, extra), st)
        with param.parameterized.batch_call_watchers(self):
            self.result_indices = np.asarray(res.indices, dtype=np.int64)
            self.results = frame
            self.summary = f"{len(frame)} {what}"
            self.warning = found.warning or ""
            self.query_indices = found.query_rows
            self.query_text = shown_as or found.query_text
            self._matches = found.matches
            self.known_matched = self.mode == FROM_LIST
            self.label_message = ""
            self.labelled = None  # Undo takes back the labels of the matched galaxies shown, not a former list's
        st.param.update(search_rows=self.query_indices, found_rows=self.result_indices)  # the map marks them
        self._gallery.param.update(indices=self.result_indices,
                                   captions=[f"d = {d:.3f}" for d in frame["distance"]],
                                   title=self.summary)
        self._publish(found.search)
        return res

    def _search_tag(self, index, k: int, mask):
        """The "Tag" search; a tag no galaxy carries any more (its labels changed here or in
        another window) also brings the tag list up to date."""
        from astroexplore import similar

        tag = self.tag
        if not tag:
            raise ValueError("no tags yet: add one (e.g. #ring) when you score a galaxy")
        try:
            return similar.from_tag(self.state.catalogue, index, self.state.store, tag, k, mask=mask)
        except ValueError:
            if self.state.store.tagged(tag):
                raise  # tagged galaxies, none of them in this catalogue: said as it is
            self._refresh_tags()
            raise ValueError(f"no galaxy carries {tag} any more (its labels were changed or "
                             "undone); the tag list is up to date again") from None

    def _clear(self):
        with param.parameterized.batch_call_watchers(self):
            self.result_indices = None
            self.results = None
            self.summary = ""
            self.query_indices = None
            self.query_text = ""
            self.known_matched = False
            self.label_message = ""
            self.labelled = None
        self.state.param.update(search_rows=None, found_rows=None)
        self._gallery.param.update(indices=None, captions=[], title="")

    # labelling the known objects ------------------------------------------------------------------
    def label_matched(self):
        """Store :attr:`label_score` and :attr:`label_tags` for the galaxies the Known objects
        search matched (:meth:`AppState.label_many`: one you have scored keeps its score and gets
        the tags). The message says what was stored once it is on disk; errors go there too.
        Returns the :class:`~astroexplore.explorer.LabelledMany`, or None."""
        from astroexplore.errors import LabelError

        if not self.known_matched or self.query_indices is None:
            self.label_message = "Search from a list of known objects first: their matched galaxies are labelled."
            return None
        try:
            done = self.state.label_many(self.query_indices, self.label_score, self.label_tags)
        except (LabelError, ValueError) as err:
            self.label_message = f"Not stored: {err}"
            return None
        anonymous = bool(done.events) and done.events[0].user == ANONYMOUS
        self.param.update(labelled=done if done.events else None, label_message=(
            done.summary() + (" Retrain to learn from them." if done.events else "")
            + (f" Stored as {ANONYMOUS}: type your name in the sidebar to sign your labels." if anonymous else "")))
        return done

    def undo_labelled(self) -> int:
        """Cancel the labels the last :meth:`label_matched` stored (those still in effect)."""
        if self.labelled is None:
            return 0
        n = self.state.undo_many(self.labelled.events)
        self.param.update(labelled=None,
                          label_message=f"Undid {counted(n, 'label')} of the matched galaxies.")
        return n

    @param.depends("known_matched", "query_indices")
    def _label_row(self):
        """Below a Known objects search's query: score and tag its matched galaxies at once."""
        if not self.known_matched or self.query_indices is None:
            return pn.Column(height=0, margin=0)
        n = len(self.query_indices)
        intro = pn.pane.HTML(f"<b>Label the {counted(n, 'matched galaxy', 'matched galaxies')}</b>",
                             margin=(14, 5, 5, 10))
        row = pn.FlexBox(intro, *self._label_inputs, pn.Column(self._label_button, align="end"),
                         pn.Column(self._undo_button, align="end"), pn.Column(self._matches_download, align="end"),
                         flex_wrap="wrap", align_items="flex-end")
        return pn.Column(row, self._label_said, sizing_mode="stretch_width")

    @param.depends("label_message")
    def _label_said(self):
        """What the last Label / Undo stored (said once it is on disk), or why nothing was."""
        if not self.label_message:
            return pn.pane.HTML("", margin=0)
        colour = "#8a1c1c" if self.label_message.startswith("Not stored") else "#1b5e20"
        return pn.pane.HTML(f"<div class='ae-label-many' role='status' style='color:{colour};"
                            f"padding:2px 12px'>{html.escape(self.label_message)}</div>",
                            sizing_mode="stretch_width", margin=0)

    def _csv(self):
        """The download's bytes: the results with the galaxies' catalogue columns."""
        if self.results is None:
            return csv_buffer(pd.DataFrame())
        return csv_buffer(with_catalogue_columns(self.results, self.state.catalogue,
                                                 also=self.state.selection_columns()))

    # rendering ------------------------------------------------------------------------------------
    def _current_html(self, current: int) -> str:
        """The 'Current galaxy' line: which galaxy a search would start from (HTML-escaped: an id
        is text, never markup)."""
        gid = html.escape(str(self.state.catalogue.ids[current]))
        return (f"<span style='font-size:15px'>Search from: <b>{gid}</b></span> "
                "<span style='color:#555'>(the galaxy on screen in the Scoring tab)</span>")

    @param.depends("mode")
    def _inputs(self):
        """The input of the chosen mode, and only that one."""
        return {FROM_CURRENT: self._current_line, FROM_POSITION: self._position_box,
                FROM_URL: self._url_box, FROM_LIST: self._list_box, FROM_TAG: self._tag_select}[self.mode]

    @param.depends("mode", "state.current")
    def _current_thumb(self):
        """A small thumbnail of the current galaxy next to its id, in the 'Current galaxy' mode."""
        if self.mode != FROM_CURRENT:
            return pn.pane.HTML("", width=0, margin=0)
        i = int(self.state.current)
        return pn.pane.HTML(_img(self.state.resources.thumbnail_uri(i, CURRENT_SIZE),
                                 str(self.state.catalogue.ids[i]), CURRENT_SIZE),
                            width=CURRENT_SIZE + 4, height=CURRENT_SIZE + 4, margin=(5, 0, 5, 10))

    @param.depends("query_indices", "query_text")
    def _query(self):
        """The query of the results below: its galaxy (thumbnail, id) or the tagged galaxies."""
        rows = self.query_indices
        if rows is None or not len(rows):
            return pn.pane.HTML("", sizing_mode="stretch_width", margin=0)
        res, ids = self.state.resources, self.state.catalogue.ids
        note = html.escape(self.query_text)
        box = ("display:flex;align-items:center;gap:12px;flex-wrap:wrap;padding:8px 12px;"
               "background:#f3f7fb;border:1px solid #c9d9ea;border-left:4px solid #0072b5;"
               "border-radius:6px;font:14px system-ui,sans-serif;color:#222")
        if len(rows) == 1:  # one galaxy: current, nearest to a position or a link
            i = int(rows[0])
            gid = html.escape(str(ids[i]))
            body = (_img(res.thumbnail_uri(i, QUERY_SIZE), str(ids[i]), QUERY_SIZE)
                    + f"<div><div style='color:#555'>Query</div>"
                    f"<div style='font-size:17px;font-weight:600'>{gid}</div>"
                    f"<div style='color:#444'>{note}</div></div>")
        else:  # a tag: the first few tagged galaxies
            shown = rows[:QUERY_THUMBS]
            more = (f" <span style='color:#555'>(the first {len(shown)} shown)</span>"
                    if len(shown) < len(rows) else "")
            thumbs = "".join(
                f"<figure style='margin:0;text-align:center;font-size:11px'>"
                f"{_img(res.thumbnail_uri(int(i), TAG_SIZE), str(ids[i]), TAG_SIZE)}"
                f"<figcaption style='max-width:{TAG_SIZE + 40}px;overflow:hidden;"
                f"text-overflow:ellipsis;white-space:nowrap'>{html.escape(str(ids[i]))}"
                f"</figcaption></figure>" for i in shown)
            body = (f"<div style='flex-basis:100%'><span style='color:#555'>Query:</span> "
                    f"<b>{note}</b>{more}</div>{thumbs}")
        return pn.pane.HTML(f"<div class='ae-query' role='group' aria-label='Query'"
                            f" style='{box}'>{body}</div>", sizing_mode="stretch_width")

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
        # the columns share the table's width (fitted to their data, the scores ran off a laptop's
        # screen) and show the digits that mean something; the CSV keeps every digit
        return pn.widgets.Tabulator(self.results, show_index=False, pagination="local", page_size=15,
                                    disabled=True, sizing_mode="stretch_width", height=510,  # 15 rows, header, pages
                                    layout="fit_columns", formatters=_number_formats(self.results),
                                    widths={"id": "26%"},  # an id is read whole, numbers are short
                                    # beside the gallery: RA/Dec are in the CSV and on the card
                                    hidden_columns=["ra", "dec"],
                                    titles=_short_titles(self.results),
                                    header_tooltips={c: c for c in self.results.columns})

    def __panel__(self):
        mode = pn.widgets.RadioButtonGroup.from_param(
            self.param.mode, color="primary", variant="outline",  # the chosen one filled
            stylesheets=[".bk-btn.bk-active { color: #fff; font-weight: 600; }",  # and legible
                         # in a narrow window the buttons wrap (their labels overlapped)
                         ".bk-btn-group { flex-wrap: wrap; } .bk-btn { flex: 0 0 auto; }"])
        return pn.Column(
            # FlexBoxes that wrap: in a narrow window (1024 px) the number of results and the
            # download button go to the next line instead of off the right edge
            pn.FlexBox(pn.pane.HTML("<b>Search from</b>", margin=(14, 5, 5, 10)), mode,
                       pn.widgets.IntInput.from_param(self.param.k, width=140),
                       flex_wrap="wrap", align_items="flex-end"),
            pn.FlexBox(self._inputs, self._current_thumb, pn.Column(self._search_button, align="end"),
                       self._download, flex_wrap="wrap", align_items="flex-end"),
            self._messages,
            self._query,
            self._label_row,
            # a FlexBox, not a Row: beside the gallery the table keeps the room its column titles
            # need (in a notebook's output they were cut to "di..."), or goes under it
            pn.FlexBox(flex_column(self._gallery, min_width=GALLERY_MIN_PX),
                       flex_column(self._table, min_width=TABLE_MIN_PX),
                       flex_wrap="wrap", sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )


def _label_button_text(rows) -> str:
    """The Label button's text for the matched galaxies' rows: "Label 3 galaxies"."""
    n = 0 if rows is None else len(rows)
    return f"Label {counted(n, 'galaxy', 'galaxies')}"


def _number_formats(frame: pd.DataFrame) -> dict:
    """Tabulator formatters of a results table: RA/Dec to 0.036 arcsec (5 decimals of a degree),
    distances and scores to 3 decimals."""
    from bokeh.models.widgets.tables import NumberFormatter
    return {c: NumberFormatter(format="0.00000" if c in ("ra", "dec") else "0.000", text_align="right")
            for c in frame.columns if pd.api.types.is_float_dtype(frame[c])}


def _short_titles(frame: pd.DataFrame) -> dict:
    """Column titles short enough for eight columns beside the gallery ("score_combined" ->
    "score"); the CSV and the header tooltips keep the full names."""
    short = {"ra": "RA", "dec": "Dec", "distance": "dist.", "predicted_interest": "pred.",
             "your_score": "yours"}
    return {c: short.get(c, "score" if c.startswith("score_") else c) for c in frame.columns}


def _img(src: str, gid: str, size: int) -> str:
    """An ``<img>`` of a galaxy (black square behind it; alt text names it)."""
    alt = html.escape(f"galaxy {gid}", quote=True)
    return (f"<img src='{html.escape(src, quote=True)}' alt='{alt}' title='{html.escape(gid, quote=True)}'"
            f" width='{size}' height='{size}' style='object-fit:contain;background:#000;"
            f"border-radius:4px'>")
