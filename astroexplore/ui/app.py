"""The whole app: five tabs over one :class:`AppState`.

>>> from astroexplore.ui.app import build_app            # doctest: +SKIP
>>> build_app(explorer).servable()                       # doctest: +SKIP
"""
from __future__ import annotations

import re

import panel as pn
import param
from panel.io.resources import CDN_DIST
from panel.theme.fast import Fast

from astroexplore.ui.address import CopyLink, follow_address, left_out_text
from astroexplore.ui.labelled import LabelledView
from astroexplore.ui.latent_map import MapView
from astroexplore.ui.morphology import MorphologyView
from astroexplore.ui.scoring import ScoringView
from astroexplore.ui.similarity import SimilarityView
from astroexplore.ui.state import AppState
from astroexplore.ui.widgets import ConnectionNotice, FoldSidebar, PageScroll, RememberedName, csv_buffer
from astroexplore.ui.notebook import ShownAsIpywidget

TITLE = "astroexplore"
#: the most galaxies the sidebar's "Top N (CSV)" sends through the page (1,000,000 rows were a
#: 116 MB CSV, 2.5 s of the event loop every window shares); ``astroexplore rank`` writes any number
MAX_TOP_DOWNLOAD = 100_000
# Open Sans where it is installed, else the system's UI font: no web font is fetched (below)
FONT = ('"Open Sans", system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
        'sans-serif')
_EXTENSIONS_LOADED = False


class LocalFast(Fast):
    """Panel's Fast design without its web font.

    ``Fast`` links ``https://fonts.googleapis.com/css?family=Open+Sans`` into every page (twice):
    the only request the app made off its own server, which on an offline machine fails (and
    can hold up the page until it does). Everything else of Fast is kept; its JS modules are
    named by their dist URLs, which Panel maps to the copies it serves itself (a relative
    name would be looked up under this class's name).
    """

    _resources = {
        **Fast._resources,
        "font": {},
        "js_modules": {
            "fast": Fast._resources["js_modules"]["fast"],
            "fast-design": f"{CDN_DIST}bundled/fast/js/fast_design.js",
        },
    }


def load_extensions():
    """``pn.extension`` + the HoloViews bokeh backend (apps and notebooks call this, never the
    core at import time)."""
    global _EXTENSIONS_LOADED
    import holoviews as hv
    if not _EXTENSIONS_LOADED:
        pn.extension("tabulator", notifications=False, inline=True)
        hv.extension("bokeh", logo=False, inline=True)
        _EXTENSIONS_LOADED = True


class ExplorerApp(ShownAsIpywidget, pn.viewable.Viewer):
    """Tabs (Scoring, Latent map, Filter, Similarity search, Labelled) plus a sidebar.

    Only the scoring view is built with the page; the others are built the first time their
    tab opens (or their attribute is read), which keeps a new session quick to appear.
    """

    state = param.ClassSelector(class_=AppState)

    _VIEWS = (("scoring", ScoringView), ("map", MapView), ("morphology", MorphologyView),
              ("similarity", SimilarityView), ("labelled", LabelledView))

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self._views: dict[str, pn.viewable.Viewer] = {}
        self._slots = [pn.Column(sizing_mode="stretch_width") for _ in self._VIEWS]
        self.tabs = pn.Tabs(*zip(s.TABS, self._slots), dynamic=True, sizing_mode="stretch_width")
        self.tabs.link(s, active="tab", bidirectional=True)
        self._fill_tab()
        s.param.watch(self._run_linked_search, "similarity_query")

    def _run_linked_search(self, event) -> None:
        """A search set before its tab was opened (a link, a reload): its view is built to run it,
        so the map marks its query and results at once (they waited for the tab to be opened)."""
        if event.new and "similarity" not in self._views:
            self.view("similarity")

    def __repr__(self) -> str:  # param's default lists every parameter of the state, order included
        return f"ExplorerApp({self.state!r})"

    def view(self, name: str) -> pn.viewable.Viewer:
        """The view called ``name`` ("scoring", "map", "morphology", "similarity", "labelled"), built once."""
        if name not in self._views:
            cls = dict(self._VIEWS)[name]
            self._views[name] = cls(state=self.state)
        return self._views[name]

    @property
    def scoring(self) -> ScoringView:
        return self.view("scoring")

    @property
    def map(self) -> MapView:
        return self.view("map")

    @property
    def morphology(self) -> MorphologyView:
        return self.view("morphology")

    @property
    def similarity(self) -> SimilarityView:
        return self.view("similarity")

    @property
    def labelled(self) -> LabelledView:
        return self.view("labelled")

    @param.depends("state.tab", watch=True)
    def _fill_tab(self):
        """Side effect: put a tab's view into its slot the first time the tab is shown."""
        k = min(max(int(self.state.tab), 0), len(self._slots) - 1)
        slot = self._slots[k]
        if not slot.objects:
            slot.append(self.view(self._VIEWS[k][0]))

    @param.depends("state.n_match", "state.n_labelled", "state.n_labelled_user", "state.n_labelled_elsewhere")
    def _summary(self):
        s = self.state
        n = s.catalogue.n_galaxies
        flt = "" if s.n_match == n else f"  \nFilter: **{s.n_match:,}** of {n:,} match"
        elsewhere = (f"  \n{s.n_labelled_elsewhere:,} of them not in this catalogue: kept, not learnt"
                     if s.n_labelled_elsewhere else "")
        return pn.pane.Markdown(
            f"**{n:,}** galaxies{flt}  \nLabelled: **{s.n_labelled:,}** (you: {s.n_labelled_user:,}){elsewhere}",
            width=200)  # not stretched: in a notebook the sidebar's items share a wrapping row

    def _remembered_name(self) -> RememberedName:
        """The browser remembers the name typed last; a window that has not been given one yet
        (still the session's default) takes it."""
        s = self.state
        default = s.user

        def use(name: str):
            if s.user == default and name.strip():
                s.user = name.strip()
                s.message = (f"Labels are stored under {s.user_name}, the name this browser used last "
                             "(change it in the sidebar).")

        memory = RememberedName(value=s.user_name, on_stored=use)
        s.param.watch(lambda e: setattr(memory, "value", s.user_name), "user")
        return memory

    def sidebar(self):
        s = self.state
        authenticated = bool(pn.state.user) and pn.state.user != "guest" and bool(pn.state.user_info)
        user = pn.widgets.TextInput.from_param(s.param.user, label="Your name (stored with labels)",
                                               disabled=authenticated, width=225)
        remembered = [] if authenticated else [self._remembered_name()]
        path = getattr(s.catalogue, "path", None)
        return [user, *remembered, ConnectionNotice(), self._summary, self._labels_download(),
                self._ranking_download(),
                pn.pane.Markdown(f"Catalogue: `{path.name if path else 'in memory'}`",
                                 styles={"color": "#666", "font-size": "12px"})]

    def _labels_download(self) -> pn.widgets.FileDownload:
        """Every label stored (all users), with each galaxy's ra/dec: a follow-up list, or the
        file ``astroexplore labels import`` reads into another store."""
        path = getattr(self.state.catalogue, "path", None)
        return pn.widgets.FileDownload(
            callback=lambda: csv_buffer(self.state.explorer.labels_table()), label="Download labels (CSV)",
            filename=f"{path.stem if path else 'catalogue'}_labels.csv", color="default", width=225)

    def _ranking_download(self) -> pn.Column:
        """The first N galaxies of the Scoring tab's list (its method, the filter, unlabelled
        first), with their scores, predicted interest, labels and catalogue columns: the
        candidates to follow up (:meth:`AppState.ranking_table`; ``astroexplore rank``)."""
        s = self.state
        default, most = min(500, s.catalogue.n_galaxies), min(s.catalogue.n_galaxies, MAX_TOP_DOWNLOAD)
        # a box of its own: typing a number must not download; the button says how many it gives
        top = pn.widgets.IntInput(value=default, start=1, end=most, step=100, width=80, margin=(5, 0, 5, 10),
                                  description=f"How many galaxies of the list (at most {MAX_TOP_DOWNLOAD:,} "
                                              "here; astroexplore rank writes any number)",
                                  css_classes=["ae-top-n"])

        def how_many(value, n_match) -> int:  # an emptied box means the default; a filter may pass fewer
            return min(default if value is None else max(int(value), 1), most, n_match)

        def csv():
            table = s.ranking_table(how_many(top.value, s.n_match))
            button.filename = f"top{len(table)}_{s.ranked_by}.csv"
            return csv_buffer(table)

        button = pn.widgets.FileDownload(
            callback=csv, filename="ranking.csv", color="default", width=140,
            label=pn.bind(lambda value, n_match: f"Top {how_many(value, n_match):,} (CSV)", top, s.param.n_match),
            description="Download the first galaxies of the Scoring tab's list, as it is sorted and "
                        "filtered: id, ra/dec, ranking and anomaly scores, predicted interest, labels "
                        "and catalogue columns")
        caption = pn.pane.Markdown("The list's first galaxies, to follow up:", margin=(0, 10, -10, 10),
                                   styles={"color": "#555", "font-size": "12px"})
        return pn.Column(caption, pn.Row(top, button), width=235)

    def __panel__(self):
        # a notebook cell is narrower than a page: the sidebar's items go above the tabs, which
        # keep the cell's whole width (beside them the scoring view ran past its right edge), in a
        # box that wraps (in a Row, the "Top N" download squeezed the counts into a column one
        # letter wide)
        return pn.Column(pn.FlexBox(*self.sidebar(), flex_wrap="wrap", align_items="flex-start",
                                    sizing_mode="stretch_width"), self.tabs, sizing_mode="stretch_width")


def _markdown_text(text: str) -> str:
    """``text`` with Markdown's punctuation escaped (a column called ``*flux*`` stays as typed)."""
    return re.sub(r"([\\`*_{}\[\]<>#|!])", r"\\\1", text)


def _as_state(explorer_or_state, user=None) -> AppState:
    if isinstance(explorer_or_state, AppState):
        if user:
            explorer_or_state.user = user
        return explorer_or_state
    return AppState(explorer_or_state, **({"user": user} if user else {}))


def build_app(explorer_or_state, *, template: bool = True, user: str | None = None,
              title: str = TITLE):
    """The app over an ``Explorer`` (or an existing :class:`AppState`).

    Parameters
    ----------
    explorer_or_state : Explorer or AppState
    template : bool, default True
        True: a ``FastListTemplate`` page for ``panel serve``. False: a plain layout that
        displays inline in Jupyter.
    user : str, optional
        Label author; default: ``pn.state.user`` when authenticated, else the state's user.
    title : str

    Returns
    -------
    pn.template.FastListTemplate or ExplorerApp
        ``.state`` on either holds the :class:`AppState`.

    Notes
    -----
    To serve it from a Python script, give Panel a function, so that each browser session gets
    its own state and its live sync: ``pn.serve(lambda: build_app(Explorer(cat, store)))``, or
    use :func:`astroexplore.ui.serve.serve`. An app object passed to ``pn.serve`` itself is one
    state shared by every window, and it does not follow labels made elsewhere.
    """
    load_extensions()
    if user is None and pn.state.user and pn.state.user_info:
        user = pn.state.user
    state = _as_state(explorer_or_state, user=user)
    app = ExplorerApp(state=state)
    # labels and retrains from elsewhere (another window, a script in the same notebook) show up
    pn.state.onload(lambda: state.start_sync())
    if not template:
        return app
    # the address holds what the window shows (astroexplore.ui.address): a reload or a link opens it again
    address, problems = follow_address(state)
    left_out = [pn.pane.Alert(_markdown_text(left_out_text(problems)), alert_type="warning",
                              sizing_mode="stretch_width")] if problems else []
    top = PageScroll()  # a tab opened (by its header, or by a gallery card) shows its top
    state.param.watch(lambda e: top.scroll(), "tab")
    page = pn.template.FastListTemplate(
        title=title, sidebar=[*app.sidebar(), CopyLink(width=225, margin=(5, 10)), top, address, FoldSidebar()],
        main=[*left_out, app.tabs],
        sidebar_width=260,
        accent_base_color="#0072b5", header_background="#0b3d62", theme_toggle=False,
        design=LocalFast, font=FONT)
    page.state = state
    page.app = app
    return page
