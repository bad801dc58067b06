"""App state: one ``param.Parameterized`` per browser session, over a shared :class:`Explorer`.

Views hold an :class:`AppState` and only render it; widgets come from its parameters. The heavy,
read-only things that every session of one catalogue shares (2-D projection, its KD-tree, the
similarity index, thumbnails) live in :class:`SharedResources`, built once per catalogue.
"""
from __future__ import annotations

import base64
import concurrent.futures
import logging
import re
import threading
import time
import weakref
from collections import OrderedDict

import numpy as np
import pandas as pd
import param

from astroexplore.constants import ANONYMOUS, SCORES, RankingMethod
from astroexplore.labels import with_user_labels
from astroexplore.similar import DEFAULT_K
from astroexplore.wording import counted

log = logging.getLogger(__name__)

#: The state whose periodic sync runs, per Explorer (weak: a closed session's Explorer goes away).
_SYNCING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: One background worker for retraining, shared by every session of the process (2-core machines:
#: two retrains at once would only slow each other down).
_RETRAIN_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                          thread_name_prefix="astroexplore-retrain")
#: Anomaly detectors a session asks for the first time (kNN, LOF: tens of seconds for millions of
#: galaxies) are computed here, not in the server's event loop, which every session shares.
_SCORES_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                         thread_name_prefix="astroexplore-scores")

RANKING_METHODS = [m.value for m in RankingMethod]


def parse_tags(text: str) -> tuple[str, ...]:
    """Split a tags box ("#ring, merger #lens") into normalised tags.

    >>> parse_tags("#Ring, merger  #lens")
    ('#ring', '#merger', '#lens')
    """
    out = []
    for word in re.split(r"[\s,;]+", str(text or "")):
        word = word.strip().lower()
        if not word:
            continue
        if not word.startswith("#"):
            word = "#" + word
        if word not in out:
            out.append(word)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Shared per-catalogue resources
# --------------------------------------------------------------------------------------------
class SharedResources:
    """Read-only things every session of one catalogue shares, each built lazily once.

    Parameters
    ----------
    catalogue : Catalogue
        The catalogue; never copied.
    """

    def __init__(self, catalogue):
        self.catalogue = catalogue
        self._lock = threading.RLock()
        self._projection = None
        self._map_axes = None
        self._map_index = None
        self._index = None
        self._frame = None
        self._thumbs: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._thumb_lock = threading.Lock()
        self._retrains: dict[tuple, object] = {}  # model_key -> the latest Retrained of a session

    # retrains shared between sessions ---------------------------------------------------------
    def publish_retrain(self, retrained) -> None:
        """Offer a session's :class:`~astroexplore.explorer.Retrained` to the other sessions
        (kept if it is the latest with its ``key``)."""
        if retrained is None:
            return
        with self._lock:
            known = self._retrains.get(retrained.key)
            if known is None or known.number < retrained.number:
                self._retrains[retrained.key] = retrained

    def latest_retrain(self, key: tuple):
        """The latest published retrain with ``key`` (an Explorer's ``model_key``), or None."""
        with self._lock:
            return self._retrains.get(key)

    # 2-D map ---------------------------------------------------------------------------------
    @property
    def projection(self) -> np.ndarray:
        """(n_galaxies, 2) float32 map coordinates (:func:`astroexplore.projection.projection`)."""
        with self._lock:
            if self._projection is None:
                from astroexplore.projection import projection
                self._projection = np.ascontiguousarray(projection(self.catalogue), dtype=np.float32)
            return self._projection

    @property
    def map_axes(self) -> tuple[str, str, str]:
        """The map's (x label, y label, sentence) (:func:`astroexplore.projection.map_axes`)."""
        with self._lock:
            if self._map_axes is None:
                from astroexplore.projection import map_axes
                self._map_axes = map_axes(self.catalogue, self.projection)
            return self._map_axes

    @property
    def frame(self) -> pd.DataFrame:
        """DataFrame with columns ``x``, ``y`` (map coordinates) the map aggregates; other
        colour-by columns are added to it lazily by :meth:`ensure_column`."""
        with self._lock:
            if self._frame is None:
                xy = self.projection
                self._frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
            return self._frame

    def ensure_column(self, name: str, values) -> str:
        """Add ``values`` (n,) as float32 column ``name`` to :attr:`frame` (replacing it); a
        ``pd.Categorical`` is kept as it is (the map's colouring by class)."""
        with self._lock:
            self.frame[name] = values if isinstance(values, pd.Categorical) else np.asarray(values, dtype=np.float32)
            return name

    @property
    def map_index(self):
        """:class:`astroexplore.map_index.MapIndex` over :attr:`projection` (point and box queries)."""
        with self._lock:
            if self._map_index is None:
                from astroexplore.map_index import MapIndex
                self._map_index = MapIndex(self.projection)
            return self._map_index

    # similarity ------------------------------------------------------------------------------
    @property
    def index(self):
        """:class:`astroexplore.search.SimilarityIndex` over the catalogue's embeddings."""
        with self._lock:
            if self._index is None:
                from astroexplore.search import SimilarityIndex
                self._index = SimilarityIndex.for_catalogue(self.catalogue)
            return self._index

    # thumbnails ------------------------------------------------------------------------------
    def thumbnail_uri(self, i: int, size: int = 96) -> str:
        """``data:image/png;base64,...`` thumbnail of galaxy row ``i`` (placeholder on failure)."""
        key = (int(i), int(size))
        with self._thumb_lock:
            if key in self._thumbs:
                self._thumbs.move_to_end(key)
                return self._thumbs[key]
        uri = image_src(self.catalogue, int(i), size=size)
        with self._thumb_lock:
            self._thumbs[key] = uri
            while len(self._thumbs) > 4000:
                self._thumbs.popitem(last=False)
        return uri


_RESOURCES: dict[int, SharedResources] = {}
_RESOURCES_LOCK = threading.Lock()


def with_labels(table: pd.DataFrame, state) -> pd.DataFrame:
    """``table`` (one row per galaxy, column ``id``) with the ``your_score`` and ``tags`` of the
    labels ``state``'s user gave them: a download says which galaxies were scored already."""
    return with_user_labels(table, state.store, state.user_name)


def resources_for(catalogue) -> SharedResources:
    """The :class:`SharedResources` of ``catalogue`` (one per catalogue object per process)."""
    with _RESOURCES_LOCK:
        res = _RESOURCES.get(id(catalogue))
        if res is None or res.catalogue is not catalogue:
            res = _RESOURCES[id(catalogue)] = SharedResources(catalogue)
        return res


def image_url(catalogue, i: int) -> str | None:
    """The http(s) URL of row ``i``'s image when it is remote (the browser loads it), else None."""
    try:
        ref = catalogue.image_reference(int(i))
    except Exception:
        return None
    if isinstance(ref, str) and ref.lower().startswith(("http://", "https://")):
        return ref
    return None


_PLACEHOLDER_URI: dict[int, str] = {}


def placeholder_uri(size: int = 128) -> str:
    """PNG data URI of :func:`astroexplore.images.placeholder` (cached)."""
    if size not in _PLACEHOLDER_URI:
        from astroexplore import images
        _PLACEHOLDER_URI[size] = png_data_uri(images.placeholder(size))
    return _PLACEHOLDER_URI[size]


def image_src(catalogue, i: int, size: int | None = None) -> str:
    """What an ``<img src>`` should show for row ``i``: a PNG data URI of the local image, the
    image's URL when it is remote, or the placeholder when neither is available."""
    from astroexplore import images
    try:
        img = images.image_for(catalogue, int(i))
    except Exception as err:  # a broken file must never stop the app
        log.warning("image of row %s failed to load: %s", i, err)
        img = None
    if img is not None:
        return png_data_uri(img, size=size)
    return image_url(catalogue, i) or placeholder_uri(size or 128)


def galaxy_image(catalogue, i: int) -> np.ndarray:
    """(H, W, 3) uint8 image of row ``i``; the placeholder when it is missing or unreadable."""
    from astroexplore import images
    try:
        img = images.image_for(catalogue, int(i))
    except Exception as err:  # a broken file must never stop the app
        log.warning("image of row %s failed to load: %s", i, err)
        img = None
    if img is None:
        return images.placeholder()
    return img


def png_data_uri(image: np.ndarray, size: int | None = None) -> str:
    """PNG data URI of ``image`` (H, W, 3), optionally resized so its longer side is ``size``."""
    from astroexplore import images
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if size is not None and max(img.shape[:2]) != size:
        from PIL import Image
        pil = Image.fromarray(img)
        scale = size / max(img.shape[:2])
        pil = pil.resize((max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                         Image.LANCZOS if scale < 1 else Image.NEAREST)
        img = np.asarray(pil)
    return "data:image/png;base64," + base64.b64encode(images.to_png_bytes(img)).decode("ascii")


# --------------------------------------------------------------------------------------------
# Session state
# --------------------------------------------------------------------------------------------
KEPT_ON_SCREEN = "this galaxy stays on screen; after it, the new rank 1"


def _stop_callback(callback, what: str) -> None:
    """Stop a periodic callback of Panel's (None: nothing to stop); one already stopped with its
    session is logged, not raised."""
    if callback is None:
        return
    try:
        callback.stop()
    except Exception as err:
        log.info("stopping the %s callback: %s", what, err)


class AppState(param.Parameterized):
    """Everything one browser session (or notebook) looks at, over a shared ``Explorer``.

    The ranking order is recomputed when the method, "unlabelled first" or the filter changes,
    and after a retrain; labelling does not re-sort, so the list stays where the user is (and,
    with ``advance``, moves one place on).

    Parameters
    ----------
    explorer : Explorer
        The labelling session (catalogue, label store, detectors, interest head).
    """

    explorer = param.Parameter(doc="The Explorer (catalogue + label store + models).")
    user = param.String(default=ANONYMOUS, doc="Name stored with each label.")
    method = param.Selector(default=RankingMethod.COMBINED.value, objects=RANKING_METHODS,
                            label="Scoring method to sort by")
    unlabelled_first = param.Boolean(default=True, label="Show unlabelled first")
    advance = param.Boolean(default=True, label="Next after scoring",
                            doc="After a score of the galaxy on screen is stored, show the next one "
                                "in the list (not for a galaxy opened outside the list).")
    learn_on_open = param.Boolean(default=True, doc="A window opened on a label store that already "
                                  "holds labels of this catalogue (a restarted server, a new notebook) "
                                  "retrains on them at once, in the background, unless another "
                                  "window's retrain is taken over.")
    order = param.Array(default=None, doc="Row indices in ranking order (after the filter), or of "
                        "the gallery being gone through (:attr:`list_title`).")
    list_title = param.String(default="", doc="What the list is while it is a gallery gone through "
                              "(:meth:`go_through`), e.g. '24 galaxies similar to X'; '' = the ranking.")
    position = param.Integer(default=0, bounds=(0, None), label="Index in list")
    current = param.Integer(default=0, doc="Row index of the galaxy being scored.")
    off_list = param.Boolean(default=False, doc="The galaxy shown is not in the list (opened by id, "
                             "from the map or a search while the filter hides it); Forward and Back "
                             "go on from ``position``.")
    current_score = param.Integer(default=None, allow_None=True,
                                  doc="This user's score of the current galaxy (None = unlabelled).")
    nothing_listed = param.Boolean(default=False, doc="The filter matches no galaxy: nothing to score.")
    tags = param.String(default="", label="Tags", doc="e.g. '#ring #merger'; stored with the label.")
    note = param.String(default="", label="Note")
    filter = param.Parameter(default=None, doc="astroexplore.filters.MorphologyFilter or None.")
    column_ranges = param.Parameter(default=(), doc="Tuple of astroexplore.column_filter.ColumnRange "
                                    "objects on the catalogue's own columns (redshift, magnitudes), ANDed "
                                    "with the morphology filter.")
    mask = param.Array(default=None, doc="(n,) bool: galaxies passing the filter and the column ranges; "
                       "None = all.")
    n_match = param.Integer(default=0, doc="How many galaxies pass the filter and the column ranges.")
    n_labelled = param.Integer(default=0, doc="Galaxies with a current label (all users).")
    n_labelled_user = param.Integer(default=0, doc="Galaxies this user labelled.")
    n_labelled_elsewhere = param.Integer(default=0, doc="Of n_labelled, galaxies this catalogue lacks "
                                         "(another catalogue sharing the store, an older version): not learnt.")
    labels_version = param.Integer(default=0, doc="Bumped after each label / undo.")
    model_version = param.Integer(default=0, doc="Bumped after each retrain.")
    scores_version = param.Integer(default=0, doc="Bumped when scores computed in the background are ready.")
    retraining = param.Boolean(default=False)
    retrain_progress = param.Number(default=0.0, bounds=(0.0, 1.0))
    retrain_message = param.String(default="")
    message = param.String(default="", doc="Last status line (label stored, errors, ...).")
    selection = param.Array(default=None, doc="Row indices shown in the map gallery.")
    selection_title = param.String(default="")
    map_point = param.Tuple(default=None, allow_None=True, length=2, doc="Last tap on the map.")
    tab = param.Integer(default=0, doc="Active tab of the app.")
    map_box = param.NumericTuple(default=None, allow_None=True, length=4, doc="(x0, y0, x1, y1): the map's "
                                 "box selection, whose galaxies its gallery shows; None = none (the "
                                 "galaxies nearest ``map_point`` instead).")
    map_zoom = param.NumericTuple(default=None, allow_None=True, length=4, doc="(x0, x1, y0, y1): the part "
                                  "of the map in view; None = the whole map (the galaxies the filter keeps).")
    map_colour = param.String(default="", doc="What the map is coloured by ('' = galaxy density).")
    map_classes = param.List(default=[], item_type=str, doc="The classes the map colours, coloured by a "
                             "class column ([] = its default ones: the most frequent).")
    similarity_query = param.String(default="", doc="The similarity search shown, as the page's address "
                                    "writes it: 'galaxy:ID', 'position:RA,Dec' (degrees), "
                                    "'positions:RADIUS;RA,Dec;...' (known objects) or 'tag:#ring' "
                                    "(see astroexplore.ui.address); '' = none. Set elsewhere, the "
                                    "Similarity search tab runs it.")
    search_rows = param.Array(default=None, doc="Catalogue rows of the similarity search's query: the "
                              "galaxy searched from, or a tag's or the known objects' galaxies; None = no "
                              "search shown. The latent map marks them.")
    found_rows = param.Array(default=None, doc="Catalogue rows of that search's results, nearest first; "
                             "None = none. The latent map marks them.")
    similarity_k = param.Integer(default=DEFAULT_K, bounds=(1, None), doc="How many galaxies that search returns.")
    finds = param.String(default="", doc="The Labelled tab's choices, as the page's address writes them: "
                         "'4' (your labels scored 4 or more, the default), '3,everyone', '4,everyone,#ring'.")

    TABS = ("Scoring", "Latent map", "Filter", "Similarity search", "Labelled")

    def __init__(self, explorer, **params):
        user = params.pop("user", None) or getattr(explorer, "user", None) or ANONYMOUS
        super().__init__(explorer=explorer, user=user, **params)
        self._lock = threading.RLock()
        self._future: concurrent.futures.Future | None = None
        self._progress_value = 0.0
        self._poller = None
        self._seen_revision = None
        self._written: list[tuple[str, int]] = []  # (user, event_id) this session stored: Undo's stack
        # the list was re-sorted while the galaxy on screen stayed (opened off the list, or kept
        # through a retrain): Forward shows the top of the new list, not the place left behind
        self._from_top = False
        self._hold_current = False  # set while refresh_order moves the place of an off-list galaxy
        self._opened_on: int | None = None  # the galaxy shown when a learn-on-open retrain started
        self._loading_annotations = False  # set while the stored tags / note are put in the boxes
        self._left_ranking_at: int | None = None  # the galaxy shown when a gallery was entered
        self._n_unlabelled = 0  # the head of the order nobody had labelled when it was sorted
        self._showing = ""  # the "Showing X" message of the galaxy on screen, while it is up
        self._new_labels = 0  # labels this window stored since the ranking was last re-learned
        self._new_at_start = 0  # ... when the running retrain started
        # a new window starts from the latest retrain another window made (if its settings match)
        self.explorer.adopt(self.resources.latest_retrain(self.explorer.model_key))
        self.explorer.warn_unlearnt = False  # the page says what the ranking has learnt
        self._seen_model = self.explorer.model_version
        self._syncer = None
        self._computing: dict[str, concurrent.futures.Future] = {}  # method -> its background scores
        self._ranked_by: str | None = None  # the method the order was sorted by (while another computes)
        # a galaxy opened (by id, a link, a gallery) since the method was last changed: when that
        # method's scores land later, it stays on screen instead of the new rank 1
        self._asked_method = self.method
        self._opened_since_method = False
        self.n_match = self.catalogue.n_galaxies
        self._sync_user()
        self._take_outside_labels()  # a store shared with another catalogue; a retrain taken above
        self.refresh_order(keep_current=False)
        self._learn_stored_labels()

    def _learn_stored_labels(self) -> None:
        """Retrain on the labels already in the store when this Explorer has no model yet, so a
        restarted server ranks by what was scored before it (in the background, as Retrain)."""
        if not self.learn_on_open or self.explorer.last_retrain is not None:
            return
        n = self.explorer.n_training_labels
        if n == 0:
            return
        self._opened_on = self.current  # left untouched until the retrain lands: show its new top
        self.start_retrain()
        self.retrain_message = (f"Learning from the {counted(n, 'label')} stored "
                                "earlier, in the background; the list re-sorts when done.")

    def __repr__(self) -> str:  # param's default prints the whole order array
        n = 0 if self.order is None else len(self.order)
        where = "off the list" if self.off_list else f"rank {self.position + 1:,} of {n:,}"
        return (f"AppState(user={self.user!r}, method={self.method!r}, showing "
                f"{self.current_id!r} ({where}), {self.n_labelled:,} galaxies labelled)")

    # convenience ------------------------------------------------------------------------------
    @property
    def catalogue(self):
        return self.explorer.catalogue

    @property
    def store(self):
        return self.explorer.store

    @property
    def resources(self) -> SharedResources:
        return resources_for(self.catalogue)

    @property
    def current_id(self) -> str:
        return str(self.catalogue.ids[self.current])

    def scores_ready(self, method: str | None = None) -> bool:
        """True if the scores of ``method`` (default: the sort method) can be had at once. If not,
        they are computed in the background (once) and :meth:`sync` takes them when ready."""
        method = method or self.method
        if self.explorer.scores_ready(method):
            return True
        with self._lock:
            if method not in self._computing:
                self._computing[method] = _SCORES_EXECUTOR.submit(self.explorer.prepare_scores, method)
        return False

    def wait_for_scores(self, timeout: float | None = None) -> bool:
        """Wait for the scores being computed in the background and take them (as :meth:`sync`
        does); for scripts and tests. True if anything was taken."""
        concurrent.futures.wait(list(self._computing.values()), timeout=timeout)
        return self._take_computed_scores()

    def _take_computed_scores(self) -> bool:
        with self._lock:
            done = {m: f for m, f in self._computing.items() if f.done()}
            for m in done:
                del self._computing[m]
        if not done:
            return False
        failed = {m: f.exception() for m, f in done.items() if f.exception() is not None}
        for m, err in failed.items():
            log.error("computing the %s scores failed: %s", m, err)
        with param.parameterized.batch_call_watchers(self):
            self.scores_version += 1
            if failed:
                self.message = "; ".join(f"Computing the {m} scores failed: {err}" for m, err in failed.items())
        if self.method in done and self.method not in failed:
            self.refresh_order()
            self.message = f"The {self.method} scores are ready; the list is sorted by them."
        return True

    def scores(self, method: str | None = None) -> np.ndarray | None:
        """(n,) float scores of ``method`` (default: the sort method); None when unavailable, or
        while they are computed in the background (:meth:`scores_ready`)."""
        method = method or self.method
        try:
            if not self.scores_ready(method):
                return None
            return np.asarray(self.explorer.scores(method), dtype=float)
        except Exception as err:
            log.info("scores(%s) unavailable: %s", method, err)
            return None

    # user and their labels --------------------------------------------------------------------
    @property
    def user_name(self) -> str:
        """The user labels are stored under ("anonymous" when the box is blank)."""
        return (self.user or "").strip() or ANONYMOUS

    @param.depends("user", watch=True)
    def _sync_user(self):
        if hasattr(self.explorer, "user"):
            try:
                self.explorer.user = self.user_name
            except AttributeError:
                pass
        self._update_counts()
        self._sync_current()
        self._warn_other_case()

    def _warn_other_case(self) -> None:
        """Names are exact ("Alice" and "alice" are two users): a new name that differs from one
        in the store only by case is said, with its label count (the counter read "you: 0")."""
        name = self.user_name
        if name == ANONYMOUS or self.n_labelled_user:
            return
        others = [u for u in self.store.users() if u != name and u.casefold() == name.casefold()]
        if others:
            n = self.store.count(user=others[0])
            self.message = (f"No labels under {name!r} yet; {others[0]!r} has {n:,}. Names are exact: "
                            f"type {others[0]!r} to go on with those.")

    def _update_counts(self):
        self._seen_revision = self.store.revision
        self.n_labelled = int(self.store.count())
        self.n_labelled_user = int(self.store.count(user=self.user_name))

    def refresh_counts(self) -> bool:
        """Re-read the label counts if anyone (another session or process) has labelled since
        they were read; True if they were. The check reads no table."""
        if self.store.revision == self._seen_revision:
            return False
        with param.parameterized.batch_call_watchers(self):
            self._update_counts()
            self._take_outside_labels()
            self.labels_version += 1  # the label views (map, tags) follow what others stored
        return True

    def _take_outside_labels(self) -> None:
        """Labels stored elsewhere (another window, a script): those of galaxies this catalogue
        lacks are counted apart (this window stores only its own galaxies'), and those the
        ranking has not learnt join the retrain line's count."""
        self.n_labelled_elsewhere = len(self.explorer.labels_not_in_catalogue())
        if self.explorer.last_retrain is not None:
            self._say_unlearnt()

    def sync(self) -> bool:
        """Catch up with changes made outside this session: labels stored by another window,
        process or a script (``run_loop`` in the same notebook), and a retrain of the Explorer
        that this session did not start. Re-reads the counts and this galaxy's score and
        refreshes the label views (``labels_version``), and re-sorts the list after such a
        retrain. Reads no table when nothing changed; True if anything did."""
        changed = self.refresh_counts()
        if changed:
            event = self.store.label_of(self.current_id, self.user_name)
            self.current_score = None if event is None else int(event.score)
        changed = self._take_computed_scores() or changed
        if self.retraining:  # where no periodic callback polls (a script), the sync pulls it in
            fut = self._future
            return bool(fut is not None and fut.done() and self.poll_retrain()) or changed
        # another window's retrain (its own Explorer, the same model settings): taken, not redone
        elsewhere = self.explorer.adopt(self.resources.latest_retrain(self.explorer.model_key))
        if self.explorer.model_version != self._seen_model:
            self._seen_model = self.explorer.model_version
            self._new_labels = 0
            keep = self._keeps_galaxy_after_retrain()
            with param.parameterized.batch_call_watchers(self):
                self.model_version += 1
                if elsewhere:
                    self.retrain_message = ("Re-sorted after a retrain in another window"
                                            + (f" ({KEPT_ON_SCREEN})." if keep else ", from the top."))
            self._resort_after_retrain(keep)
            changed = True
        return changed

    def _resort_after_retrain(self, keep: bool) -> None:
        """Re-sort after a retrain; a galaxy kept on screen is followed by the new rank 1."""
        self.refresh_order(keep_current=keep)
        if keep and not self.off_list and not self.nothing_listed:
            self._from_top = True

    def _keeps_galaxy_after_retrain(self) -> bool:
        """After a retrain, a galaxy not yet scored stays on screen (a score typed as the retrain
        lands must go to the galaxy seen); after a scored one the list starts from its new top.
        So does a window whose retrain on the labels stored earlier (:attr:`learn_on_open`) lands
        before anything was done in it: it opened on the old ranking's top, which may be far down
        the new one (a score typed as it lands still goes to the galaxy seen: the browser sends
        which galaxy that was)."""
        opened_on, self._opened_on = self._opened_on, None
        if opened_on is not None and self.current == opened_on and not self._written:
            return False
        return self.current_score is None and not self.nothing_listed

    def start_sync(self, period_ms: int = 2000) -> bool:
        """Register :meth:`sync` to run every ``period_ms`` (once per state). It runs in a served
        session or a live notebook; in a plain script nothing runs it: call ``sync()`` yourself.
        A newer state over the same Explorer (a notebook cell building the app again) stops the
        older one's sync. False if Panel refused the callback."""
        if self._syncer is not None:
            return True
        try:
            from panel.io import PeriodicCallback

            # background: Panel would otherwise show its busy spinner for every run, every 2 s
            syncer = PeriodicCallback(callback=self._sync_tick, period=period_ms, background=True)
            syncer.start()
            self._syncer = syncer
        except Exception as err:
            log.info("no periodic callback for syncing: %s", err)
            return False
        older = _SYNCING.get(self.explorer)
        if older is not None and older is not self:
            older.stop_sync()
        _SYNCING[self.explorer] = self
        return True

    def _sync_tick(self) -> None:
        """One run of the periodic sync; a closed label store (its owner shut it while this
        session lived on, e.g. a server being stopped) ends the sync instead of raising every 2 s."""
        if self.store.closed:
            self.stop_sync()
            return
        self.sync()

    def stop_sync(self) -> None:
        """Stop the periodic :meth:`sync` (idempotent)."""
        syncer, self._syncer = self._syncer, None
        _stop_callback(syncer, "sync")
        if _SYNCING.get(self.explorer) is self:
            del _SYNCING[self.explorer]

    def my_score(self, galaxy_id: str) -> int | None:
        """This user's current score of ``galaxy_id`` in the store, or None."""
        event = self.store.label_of(galaxy_id, self.user_name)
        return None if event is None else int(event.score)

    # ranking and navigation ----------------------------------------------------------------------
    @param.depends("method", "unlabelled_first", "mask", watch=True)
    def refresh_order(self, keep_current: bool = True):
        """Recompute :attr:`order`; keep showing the current galaxy when it is still listed,
        except after a change of method, which shows the new method's rank 1.

        A method whose scores are not computed yet (a first kNN over millions of galaxies) is
        computed in the background; meanwhile the list keeps the previous method's order (the
        filter still applies) and :meth:`sync` re-sorts it when they are ready."""
        t0 = time.perf_counter()
        method = self.method
        if self._ranked_by is not None and not self.scores_ready(method):
            method = self._ranked_by
            self.message = (f"Computing the {self.method} scores of {self.catalogue.n_galaxies:,} "
                            f"galaxies in the background (once: they are cached); sorted by "
                            f"{method} until they are ready.")
        if self.method != self._asked_method:
            self._asked_method, self._opened_since_method = self.method, False
        order = np.asarray(self.explorer.ranking(method, mask=self.mask,
                                                 unlabelled_first=self.unlabelled_first), dtype=np.int64)
        if self._ranked_by not in (None, method):
            if method == self.method:  # an earlier method's "computing" or "ready" line is stale now
                self.message = f"Sorted by {method}."
            if not self.off_list and not self._opened_since_method:
                keep_current = False  # another method: its rank 1, not the old galaxy deep in its list
        self._ranked_by = method
        # the list's head of galaxies nobody had labelled when it was sorted (see next())
        self._n_unlabelled = (int(np.count_nonzero(~self.explorer.labelled_mask[order]))
                              if self.unlabelled_first else 0)
        log.debug("ranking %s took %.3f s", method, time.perf_counter() - t0)
        where = np.flatnonzero(order == self.current) if keep_current and len(order) else []
        if keep_current and self.off_list and not len(where) and len(order):
            # a galaxy opened outside the list stays on screen; the list was re-sorted, so the
            # place left means nothing: Forward (or Back) shows rank 1
            self._hold_current = True  # position 0 must not replace the galaxy on screen
            try:
                with param.parameterized.batch_call_watchers(self):
                    self.order = order
                    self.list_title = ""
                    self.position = 0
                    self.nothing_listed = False
            finally:
                self._hold_current = False
            self._from_top = True
            return
        with param.parameterized.batch_call_watchers(self):
            self.order = order
            self.list_title = ""
            self.position = int(where[0]) if len(where) else 0
            self.nothing_listed = len(order) == 0
        self._sync_position()

    @property
    def ranked_by(self) -> str:
        """The method the list is sorted by: :attr:`method`, or the previous one while its scores
        are computed in the background."""
        return self._ranked_by or self.method

    def selection_columns(self) -> list[str]:
        """The catalogue columns the filter reads (its vote fractions, its column ranges): the
        downloads carry them."""
        from astroexplore.filter_text import selection_columns

        return selection_columns(self.filter, self.column_ranges)

    def ranking_table(self, top: int) -> pd.DataFrame:
        """The first ``top`` galaxies of the ranking the list follows (its method, the filter and
        "Show unlabelled first"): :meth:`Explorer.ranking_table` with the user's ``your_score`` and
        ``tags``, as the other downloads carry them: the sidebar's "Top N (CSV)"."""
        table = self.explorer.ranking_table(self.ranked_by, top=top, mask=self.mask,
                                            unlabelled_first=self.unlabelled_first,
                                            columns=self.selection_columns())
        return with_labels(table, self)

    @param.depends("position", watch=True)
    def _sync_position(self):
        if self._hold_current or self.order is None or len(self.order) == 0:
            return
        pos = min(max(int(self.position), 0), len(self.order) - 1)
        if pos != self.position:
            self.position = pos
            return
        with param.parameterized.batch_call_watchers(self):
            self.current = int(self.order[pos])
            self.off_list = False
        self._from_top = False

    def show_rank(self, pos: int):
        """Show the galaxy at place ``pos`` (0-based, clamped) of the list, also when ``position``
        is already there but another galaxy is on screen (:attr:`off_list`)."""
        if self.order is None or len(self.order) == 0:
            return
        self.position = min(max(int(pos), 0), len(self.order) - 1)
        self._sync_position()  # also when position did not change (its watcher then stays quiet)

    @param.depends("current", watch=True)
    def _sync_current(self):
        """Show this user's label of the new galaxy as the store has it now (another session
        may have written it), and refresh the counts if anyone labelled meanwhile."""
        event = self.store.label_of(self.current_id, self.user_name)
        self.current_score = None if event is None else int(event.score)
        self._loading_annotations = True  # the stored ones shown, not an edit to store
        try:
            self.tags = " ".join(event.tags) if event and event.tags else ""
            self.note = (event.note or "") if event else ""
        finally:
            self._loading_annotations = False
        self.refresh_counts()

    @param.depends("current", watch=True)
    def _forget_stale_messages(self) -> None:
        """Another galaxy on screen: a "Showing X" message about the one before is cleared (one
        that replaced it stays: "Stored X = 3" after Forward), and a retrain line's "this galaxy
        stays on screen" is no longer said of it (it is set only while that galaxy is current)."""
        if self._showing and self.message == self._showing:
            self.message = ""
        self._showing = ""
        self.retrain_message = self.retrain_message.replace(f" ({KEPT_ON_SCREEN}).", ".")

    def _say_showing(self, text: str) -> None:
        """A message about the galaxy now on screen (cleared when another is shown)."""
        self.message = self._showing = text

    @param.depends("tags", "note", watch=True)
    def _annotations_edited(self):
        """Tags or a note typed for a galaxy this user has scored are stored at once, with its
        score (a new label event: Undo brings the old ones back); for one not scored yet, the
        status line says that they are stored with a score. Typed on a scored galaxy and then
        left with Forward, they were lost without a word."""
        if self._loading_annotations:
            return
        event = self.store.label_of(self.current_id, self.user_name)
        if event is None:
            if self.tags.strip() or self.note.strip():
                self.message = (f"Tags and notes are stored with a score: press 0-5 to store them "
                                f"with {self.current_id}.")
            return
        tags, note = parse_tags(self.tags), (self.note or None)
        if tuple(event.tags) == tags and (event.note or None) == note:
            return
        try:
            stored = self.explorer.label(self.current_id, int(event.score), tags=tags, note=note)
        except Exception as err:  # a bad tag or note: said, the stored label unchanged
            self.message = f"Not stored: {err}"
            return
        self._written.append((stored.user, stored.event_id))
        with param.parameterized.batch_call_watchers(self):
            self.message = (f"Updated {self.current_id}: {' '.join(tags) or 'no tags'}"
                            + (", with a note" if note else "") + f"; its score {int(event.score)} kept.")
            self.labels_version += 1

    def show_top(self):
        """Show the top of the list: with :attr:`unlabelled_first`, the first galaxy not labelled
        yet (the list is not re-sorted after each label, so rank 1 may have been scored since)."""
        if self.order is None or len(self.order) == 0:
            return
        pos = 0
        if self.unlabelled_first:
            todo = np.flatnonzero(~self.explorer.labelled_mask[self.order])
            pos = int(todo[0]) if len(todo) else 0
        self.show_rank(pos)

    def next(self, step: int = 1):
        """Move ``step`` places down the list (negative: back). After a re-sort that kept the
        galaxy on screen (a retrain, or a galaxy opened off the list), Forward goes to the top of
        the new list (its second place when the kept galaxy is first), as does Back off the list."""
        if self.order is None or len(self.order) == 0:
            return
        if self._from_top and (step > 0 or self.off_list):
            target = 1 if int(self.order[0]) == self.current and len(self.order) > 1 else 0
        else:
            target = self.position + step
        self.show_rank(self._skip_labelled_since_sort(target) if step > 0 else target)

    def _skip_labelled_since_sort(self, pos: int) -> int:
        """``pos``, or the first place after it whose galaxy is still unlabelled, within the
        head of the list that was unlabelled when it was sorted (:attr:`unlabelled_first`):
        a galaxy scored since (on screen while a retrain re-sorted the list, or in another
        window) came round again a few places on."""
        end = min(self._n_unlabelled, len(self.order))
        if not self.unlabelled_first or self.list_title or pos >= end:
            return pos
        labelled = self.explorer.labelled_mask
        while pos < end and labelled[self.order[pos]]:
            pos += 1
        return pos

    def previous(self):
        self.next(-1)

    def goto(self, i: int, *, switch_tab: bool = True):
        """Show galaxy row ``i`` in the scoring view (its place in the list when listed)."""
        i = int(i)
        where = np.flatnonzero(self.order == i) if self.order is not None else []
        self._opened_since_method = True
        with param.parameterized.batch_call_watchers(self):
            if len(where):
                self.position = int(where[0])
            self.current = i
            self.off_list = not len(where)
            self.nothing_listed = False
        if len(where):  # a listed galaxy chosen: Forward goes on from its place
            self._from_top = False
        if switch_tab:
            self.tab = 0

    def go_through(self, rows, i: int, title: str = ""):
        """Score the galaxies ``rows`` (a gallery: similarity results, the map's box) in their
        order from row ``i`` on, in the scoring view: Forward, Back and "Next after scoring" go
        through them instead of the ranking, until :meth:`back_to_ranking` or a change of method,
        filter or "unlabelled first", or a retrain, re-sorts the ranking.

        Parameters
        ----------
        rows : array of int
            Catalogue row indices, in the gallery's order.
        i : int
            The row to show first (a row not in ``rows`` is opened alone, as :meth:`goto`).
        title : str
            What the gallery is, shown above the image ("24 galaxies similar to X").
        """
        rows = np.asarray(rows, dtype=np.int64).ravel()
        where = np.flatnonzero(rows == int(i))
        if not len(where):
            self.goto(int(i))
            return
        if not self.list_title:  # leaving the ranking: where to come back to
            self._left_ranking_at = None if self.off_list else self.current
        with param.parameterized.batch_call_watchers(self):
            self.order = rows
            self.list_title = str(title or "the galaxies of a gallery")
            self.position = int(where[0])
            self.nothing_listed = False
        self._from_top = False
        self._sync_position()
        self.tab = 0

    def back_to_ranking(self):
        """Leave the gallery gone through (:meth:`go_through`) for the ranking, where it was
        left: the galaxy shown then, if still not labelled, else the first galaxy not labelled
        (it went to the gallery galaxy's own place in the ranking, hundreds of ranks away)."""
        back_to, self._left_ranking_at = self._left_ranking_at, None
        self.refresh_order(keep_current=False)
        where = np.flatnonzero(self.order == back_to) if back_to is not None else []
        if len(where) and not self.explorer.labelled_mask[back_to]:
            self.show_rank(int(where[0]))
        else:
            self.show_top()

    def goto_id(self, galaxy_id: str) -> bool:
        """Show the galaxy with id ``galaxy_id`` or, where no id is that and the catalogue has
        positions, the galaxy nearest to that sky position ("150.1 2.2", "10:00:24 +02:12:00", a
        Legacy Survey link: as the Similarity tab's RA / Dec box reads them); False (and a message)
        when neither."""
        typed = str(galaxy_id).strip()
        i = self.catalogue.row_of_typed_id(typed)  # forgiving case: ids are copied by hand
        if i is None:
            return self._goto_position(typed)
        self.goto(int(i))
        self._say_showing(f"Showing {self.current_id}." + self._off_list_note())
        return True

    def _off_list_note(self) -> str:
        return " It is not in the list (the morphology filter hides it)." if self.off_list else ""

    def _goto_position(self, typed: str) -> bool:
        """:meth:`goto_id` for text that is no id: the nearest galaxy to it as a sky position."""
        from astroexplore.search import (OUTSIDE_SURVEY_DEG, WARN_SEPARATION_ARCSEC, angle_text, looks_like_position,
                                         nearest_galaxy, parse_position)

        try:
            self.catalogue.index_of(typed)
        except KeyError as err:  # its message suggests a close id where there is one
            not_an_id = str(err.args[0])
        try:
            if not self.catalogue.has_coordinates:
                raise ValueError("no positions")
            ra, dec = parse_position(typed)
        except ValueError as err:
            # numbers (an RA and a Dec out of range, "500 100"): what is wrong with the position
            said = str(err) if self.catalogue.has_coordinates and looks_like_position(typed) \
                else not_an_id
            self.message = said[:1].upper() + said[1:]
            return False
        i, sep = nearest_galaxy(self.catalogue, ra, dec)
        if sep > OUTSIDE_SURVEY_DEG * 3600:
            self.message = (f"RA {ra:.5f}, Dec {dec:+.5f} is outside the survey: the nearest galaxy, "
                            f"{self.catalogue.ids[i]}, is {angle_text(sep)} away.")
            return False
        self.goto(int(i))
        far = " (further than the position's galaxy would be: check it)" if sep > WARN_SEPARATION_ARCSEC else ""
        self._say_showing(f"Showing {self.current_id}, the nearest galaxy to RA {ra:.5f}, Dec {dec:+.5f}: "
                          f"{angle_text(sep)} away{far}." + self._off_list_note())
        return True

    # labelling --------------------------------------------------------------------------------
    @property
    def n_written(self) -> int:
        """How many labels this session committed and has not undone (its Undo stack); grows by
        one when :meth:`label` has committed, whatever happens after."""
        return len(self._written)

    def label(self, score: int, galaxy: int | None = None):
        """Store ``score`` (0-5) for the current galaxy with the tags and note boxes, or for row
        ``galaxy`` (another galaxy keeps its own stored tags and note: the boxes show the current one's).

        Returns after the label is committed to the store; only then does the view change: with
        :attr:`advance` (the default) a score of the galaxy on screen then shows the next one in
        the list (the last one, or one opened outside the list, stays).
        """
        if int(score) not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {score!r}")
        if galaxy is None and self.nothing_listed:
            raise ValueError("no galaxy matches the filter; loosen or clear it to go on scoring")
        i = self.current if galaxy is None else int(galaxy)
        galaxy_id = str(self.catalogue.ids[i])
        if i == self.current:  # the tag and note boxes belong to the galaxy on screen
            tags, note = parse_tags(self.tags), self.note or None
        else:  # another galaxy (the screen lagged behind the server): keep its own tags and note
            stored = self.store.label_of(galaxy_id, self.user_name)
            tags, note = (stored.tags, stored.note) if stored else ((), None)
        outside = self.store.revision != self._seen_revision  # stored elsewhere since the counts were read
        event = self.explorer.label(galaxy_id, int(score), tags=tags, note=note)
        self._written.append((event.user, event.event_id))
        with param.parameterized.batch_call_watchers(self):
            if i == self.current:
                self.current_score = int(score)
            self._update_counts()
            self.message = (f"Stored {galaxy_id} = {int(score)}" + (f" {' '.join(event.tags)}" if event.tags else "")
                            + (f" as {ANONYMOUS}: type your name in the sidebar to sign your labels."
                               if event.user == ANONYMOUS else ""))
            self.labels_version += 1
            self._count_new_label()
            if outside:
                self._take_outside_labels()
        if i == self.current and self.advance and not self.off_list and not self.nothing_listed:
            self.next()  # the last galaxy of the list stays
        return event

    def label_many(self, rows, score: int, tags: str = "", note: str | None = None):
        """Store ``score`` (0-5) with ``tags`` (a tags box's text) for the catalogue ``rows`` at
        once, as :meth:`Explorer.label_many` does (galaxies this user scored keep their score and
        get the tags). Returns its :class:`~astroexplore.explorer.LabelledMany` once every label is
        committed; only then do the counts, the retrain line and the label views change. The
        Scoring tab's Undo takes them back one at a time, :meth:`undo_many` all at once."""
        ids = np.asarray(self.catalogue.ids)[np.asarray(rows, dtype=np.int64)]
        done = self.explorer.label_many(ids, int(score), tags=parse_tags(tags), note=note or None)
        self._written.extend((e.user, e.event_id) for e in done.events)
        with param.parameterized.batch_call_watchers(self):
            self._update_counts()
            self._sync_current()  # the galaxy on screen may be one of them
            self.labels_version += 1
            self._count_new_label(len(done.events))
        return done

    def undo_many(self, events) -> int:
        """Cancel the labels ``events`` (as :meth:`label_many` returned them) that are still in
        effect, in one transaction; returns how many were."""
        by_user: dict[str, list[int]] = {}  # under the name they were stored with
        for e in events:
            by_user.setdefault(e.user, []).append(e.event_id)
        undone = [u for user, ids in by_user.items() for u in self.store.undo_many(user, ids)]
        gone = {(e.user, e.event_id) for e in events}
        self._written = [w for w in self._written if w not in gone]
        with param.parameterized.batch_call_watchers(self):
            self._update_counts()
            self._sync_current()
            self.labels_version += 1
            self._count_undone(len(undone))
        return len(undone)

    def _count_new_label(self, n: int = 1) -> None:
        """The retrain line says how many labels the ranking has not learnt yet (the "Retrained on
        N labels" of an earlier retrain stayed up, however many were scored after it)."""
        if n <= 0:
            return
        self._new_labels += n
        if not self.retraining:
            self._say_new_labels()

    def _count_undone(self, n: int = 1) -> None:
        """``n`` labels of this window undone, the latest first: those stored since the last
        retrain are no longer new (an undone label did not call for a retrain); older ones, which
        the ranking learnt, do."""
        if n <= 0:
            return
        new = min(n, self._new_labels)
        self._new_labels -= new
        if self.retraining:
            return
        learnt = n - new
        if learnt and self.explorer.last_retrain is not None:
            it = "it" if learnt == 1 else "them"
            self.retrain_message = (f"{counted(learnt, 'label')} the ranking learnt undone: press Retrain to "
                                    f"re-sort the list without {it}.")
        elif self._new_labels:
            self._say_new_labels()
        else:
            self.retrain_message = ("No label stored since the last retrain: the list is sorted as it learnt."
                                    if self.explorer.last_retrain is not None else "")

    def _say_unlearnt(self) -> None:
        """Labels the ranking has not learnt that this window did not store (another window, a
        script) join the retrain line's count: it counted only this window's own."""
        n = self.explorer.unlearnt_labels()
        if n > self._new_labels and not self.retraining:
            self._new_labels = n
            self._say_new_labels()

    def _say_new_labels(self) -> None:
        what = counted(self._new_labels, "label")
        self.retrain_message = (f"{what} stored since the last retrain: press Retrain to re-sort the list by them."
                                if self.explorer.last_retrain is not None
                                else f"{what} stored: press Retrain to re-sort the list by your scores.")

    def undo(self):
        """Cancel the last label this session stored that is still in effect (append-only undo in
        the store): another window under the same name keeps its labels."""
        event = None
        while self._written and event is None:
            user, event_id = self._written.pop()
            event = self.store.undo(user, event_id)
        if event is None:
            self.message = "Nothing to undo (this window has stored no label since it opened)."
            return None
        self._sync_user()
        with param.parameterized.batch_call_watchers(self):
            self.message = f"Undid the last label ({event.galaxy_id})."
            self.labels_version += 1
            self._count_undone()
        row = self.catalogue.index_of(event.galaxy_id)
        if int(row) != self.current:  # back to the galaxy whose label was undone, to score it again
            self.goto(int(row), switch_tab=False)
            self.message = f"Undid the last label ({event.galaxy_id}); showing it again."
        return event

    # filter ------------------------------------------------------------------------------------
    @param.depends("filter", "column_ranges", watch=True)
    def _apply_filter(self):
        from astroexplore.filter_text import selection_mask

        mask = selection_mask(self.catalogue, self.filter, self.column_ranges)
        n_match = self.catalogue.n_galaxies if mask is None else int(mask.sum())
        self.mask = mask  # re-sorts the list (refresh_order) before the count changes
        self.n_match = n_match

    # retraining ----------------------------------------------------------------------------------
    def start_retrain(self, *, poll: bool = True) -> concurrent.futures.Future | None:
        """Retrain the interest head in a background thread; the session keeps responding.

        Progress goes to :attr:`retrain_progress`; :meth:`poll_retrain` (a periodic callback in a
        served or notebook session) pulls the finished result into this session and re-sorts.
        """
        with self._lock:
            if self._future is not None and not self._future.done():
                return self._future
            self._progress_value = 0.0
            self._t_start = time.perf_counter()
            self._new_at_start = self._new_labels
            self._future = _RETRAIN_EXECUTOR.submit(self.explorer.retrain, progress=self._on_progress,
                                                  predict_head=True)
        self.retraining = True
        self.retrain_progress = 0.0
        self.retrain_message = "Retraining in the background; keep labelling."
        if poll and self._poller is None:  # one poller at most (a finished, unpolled retrain keeps its own)
            try:
                import panel as pn
                self._poller = pn.state.add_periodic_callback(self.poll_retrain, period=250)
            except Exception as err:  # no event loop (plain script): the caller polls
                log.info("no periodic callback for retrain polling: %s", err)
                self._poller = None
        return self._future

    def _on_progress(self, fraction: float):  # called in the worker thread: plain attribute only
        try:
            self._progress_value = float(min(max(fraction, 0.0), 1.0))
        except (TypeError, ValueError):
            pass

    def poll_retrain(self) -> bool:
        """Pull progress / the finished retrain into the session; True once finished."""
        fut = self._future
        if fut is None:
            return True
        if not fut.done():
            self.retrain_progress = self._progress_value
            return False
        self._future = None
        self._stop_poller()
        if self.store.closed:  # the session outlived its label store (a server being stopped):
            return True        # nothing to show, and re-rendering would read the closed store
        try:
            report = fut.result()
        except Exception as err:
            log.exception("retrain failed")
            self._opened_on = None
            self.retraining = False
            self.retrain_message = f"Retrain failed: {err}"
            return True
        seconds = time.perf_counter() - self._t_start
        self._seen_model = self.explorer.model_version  # this session's own retrain
        self._new_labels -= min(self._new_labels, self._new_at_start)  # those scored during it remain
        self.resources.publish_retrain(self.explorer.last_retrain)
        n = (report or {}).get("n_labels", self.n_labelled) if isinstance(report, dict) else self.n_labelled
        keep = self._keeps_galaxy_after_retrain()
        skipped = isinstance(report, dict) and report.get("skipped")
        with param.parameterized.batch_call_watchers(self):
            self.retrain_progress = 1.0
            self.retraining = False
            self.model_version += 1
            if skipped:  # no label of this catalogue yet: the ranking is the anomaly score's
                self.retrain_message = "Nothing to learn from yet: score a few galaxies, then Retrain."
            else:
                self.retrain_message = (f"Retrained on {counted(n, 'label')} in {seconds:.1f} s; list re-sorted"
                                        + (f" ({KEPT_ON_SCREEN})."
                                           if keep else ", from the top."))
        self._resort_after_retrain(keep)
        return True

    def _stop_poller(self) -> None:
        poller, self._poller = self._poller, None
        _stop_callback(poller, "retrain poller")

    def wait_retrain(self, timeout: float = 120.0) -> bool:
        """Block until the retrain finishes and pull its result (tests, scripts)."""
        fut = self._future
        if fut is not None:
            concurrent.futures.wait([fut], timeout=timeout)
        return self.poll_retrain()
