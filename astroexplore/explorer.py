"""The session object the app, the scripts and the benchmarks share: rank, label, retrain.

:class:`Explorer` holds the state (catalogue, label store, anomaly scores, the interest head and
its predictions); the maths lives in :mod:`astroexplore.ranking`, :mod:`astroexplore.head` and
:mod:`astroexplore.detectors`. :func:`run_loop` is the UI-free labelling loop whose "ask the
human" step is a callback (the Panel app, a script, or a simulated oracle).

Threading: a Panel app may run :meth:`Explorer.retrain` in a background thread while the user keeps
labelling. ``retrain`` trains a *copy* of the head on a snapshot of the labels and swaps the new
head and its predictions in under a lock in one assignment, so every ranking sees either the old or
the new model, never a mix. Two retrains never overlap (a second waits for the first). Labels
written during a retrain are kept in the store and used by the next one.
"""
from __future__ import annotations

import copy
import itertools
import math
import numbers
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ranking as _rk
from .constants import DETECTORS, MAX_SCORE, MIN_SCORE, RankingMethod
from .errors import CatalogueError, LabelError, check_count, did_you_mean
from .wording import counted

__all__ = ["Explorer", "LabelledMany", "Retrained", "run_loop", "check_method", "shared_arrays"]

_RETRAIN_NUMBERS = itertools.count(1)  # orders every retrain of the process


@dataclass(frozen=True)
class LabelledMany:
    """What :meth:`Explorer.label_many` stored.

    Attributes
    ----------
    events : tuple of LabelEvent
        The label events written, in the order of the ids given (their ``event_id`` undo them:
        :meth:`Explorer.undo_many`).
    new : tuple of str
        Galaxies this user had not scored: stored with the score given.
    kept : tuple of str
        Galaxies this user had scored: their score and note kept, the tags added to theirs.
    unchanged : tuple of str
        Galaxies that already had this user's score and every tag given: nothing written.
    score : int
        The score given to the new ones.
    tags : tuple of str
        The tags given (normalised, ``#ring``).
    """

    events: tuple
    new: tuple[str, ...]
    kept: tuple[str, ...]
    unchanged: tuple[str, ...]
    score: int
    tags: tuple[str, ...]

    def summary(self) -> str:
        """One sentence for a status line: how many were stored, as what."""
        tags = f" {' '.join(self.tags)}" if self.tags else ""
        parts = []
        if self.new:
            parts.append(f"{len(self.new):,} scored {self.score}{tags}")
        if self.kept:
            parts.append(f"{len(self.kept):,} you had scored keep their score"
                         + (f", {' '.join(self.tags)} added" if self.tags else ""))
        if self.unchanged:
            parts.append(f"{len(self.unchanged):,} already labelled so")
        n = len(self.events)
        return f"Stored {counted(n, 'label')}: " + "; ".join(parts) + "."


@dataclass(frozen=True)
class Retrained:
    """One retrain's result, which another :class:`Explorer` with the same ``model_key`` (same
    catalogue, label store and model settings) can :meth:`~Explorer.adopt` instead of retraining.

    ``number`` orders the retrains of the process (later = higher); ``model`` is None for a
    retrain with no label (rankings fall back to the anomaly prior).
    """

    number: int
    key: tuple
    model: object | None

_METHODS = [m.value for m in RankingMethod]
#: Rankings that learn nothing from labels (no "not learnt yet" warning for them).
_PRIOR_ONLY = frozenset([*(str(d) for d in DETECTORS), RankingMethod.RANDOM.value])
#: InterestHead parameters the Explorer uses unless ``head_params`` overrides them: 8 members of
#: 20 hidden units instead of the head's own 5 x 32 -- the same 160 hidden units, so the same cost
#: (warm retrain on 200 labels ~0.1 s; predicting 1M x 40 0.26-0.36 s vs 0.28-0.38 s for 5 x 32,
#: one thread, bfloat16), but a wider ensemble whose spread is a better uncertainty for the
#: posterior blend. Greedy discovery (``benchmarks/discovery.py``), ours:combined, mean
#: found@budget, 5 x 32 -> 8 x 20 (seeds): mammography@300 158.0 -> 173.0 (0-2), thyroid@100
#: 53.8 -> 55.2 (0-4), kddcup_sub 64.6 -> 66.2 (0-4), yeast 24.0 -> 25.3 (0-2), abalone
#: 23.0 -> 22.7 (0-2), covtype_sub 19 -> 19 (@10 4.0 -> 6.5), non_anomalous_outliers 32 -> 32,
#: demo 87.8 -> 86.9 (0-7; seed-to-seed sd ~3). 10 x 16 was close (mammography 169.5) but lost on
#: kddcup_sub (62.2); 10 x 32 costs twice the prediction time.
_HEAD_METHODS = {RankingMethod.PREDICTED_INTEREST, RankingMethod.COMBINED, RankingMethod.UCB,
                 RankingMethod.EXPECTED_IMPROVEMENT, RankingMethod.UNCERTAINTY}


def check_method(method) -> RankingMethod:
    """Return ``method`` as a :class:`RankingMethod`; ValueError with a suggestion otherwise.

    >>> check_method("ucb")
    <RankingMethod.UCB: 'ucb'>
    >>> check_method("combine")
    Traceback (most recent call last):
    ...
    ValueError: Unknown ranking method 'combine'. Choose one of: isolation_forest, lof, knn, random, predicted_interest, combined, ucb, expected_improvement, uncertainty. Did you mean 'combined'?
    """
    if isinstance(method, RankingMethod):
        return method
    try:
        return RankingMethod(str(method))
    except ValueError:
        raise ValueError(f"Unknown ranking method {method!r}. Choose one of: {', '.join(_METHODS)}."
                         f"{did_you_mean(str(method), _METHODS)}") from None


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mark a session's cached arrays read-only (a caller's edit would change every ranking)."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


class SharedArrays:
    """Read-only arrays of one catalogue that every :class:`Explorer` over it shares.

    What depends only on the catalogue and the model settings (a detector's anomaly scores, the
    prior, the "random" ranking, the input statistics, the head's side columns, the isolation
    paths of the kernel forest) is computed or read from the disk cache once per process and
    catalogue, not once per session: a served 1M-galaxy catalogue used to hold them again for each
    browser session (``benchmarks/results/memory.md``). What depends on the session (its user,
    the labels, its retrained model, its ranking order) stays on the Explorer.

    Values are immutable or hold read-only arrays (``writeable=False``), so sessions in other
    threads can read them without a lock. Each key is computed once: a second caller waits for the
    first (one lock per key, so computing one value blocks neither reading nor computing another).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._values: dict[Hashable, object] = {}
        self._computing: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._values

    def peek(self, key):
        """The value of ``key``, or None when it has not been computed."""
        with self._lock:
            return self._values.get(key)

    def put(self, key, value):
        """Store ``value`` under ``key`` unless one is there already; returns the one kept."""
        with self._lock:
            return self._values.setdefault(key, value)

    def get(self, key, compute: Callable[[], object]):
        """The value of ``key``, calling ``compute()`` once (process-wide) when it is missing."""
        with self._lock:
            if key in self._values:
                return self._values[key]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = compute()  # an exception stores nothing: the next caller tries again
            with self._lock:
                self._computing.pop(key, None)
                return self._values.setdefault(key, value)


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared_arrays(catalogue) -> SharedArrays:
    """The :class:`SharedArrays` of ``catalogue`` (one per catalogue object in the process; it
    goes with the catalogue). A catalogue object that cannot be weakly referenced gets a new,
    unshared one each call."""
    with _SHARED_LOCK:
        try:
            found = _SHARED.get(catalogue)
            if found is None:
                found = _SHARED[catalogue] = SharedArrays()
            return found
        except TypeError:  # not weakly referenceable or not hashable: nothing to share by
            return SharedArrays()


def _check_head_params(params: dict) -> None:
    """Unknown or invalid ``head_params`` fail when the Explorer is made, not at the first retrain
    (in the app that runs in a background thread)."""
    import inspect

    from .head import InterestHead

    known = list(inspect.signature(InterestHead).parameters)
    for key in params:
        if key not in known:
            raise ValueError(f"head_params: unknown InterestHead parameter {key!r}; choose from "
                             f"{known}.{did_you_mean(str(key), known)}")
    InterestHead(**params)._check_params()


def _check_real(name: str, value, *, positive: bool) -> float:
    """``value`` as a float, ValueError naming ``name`` unless finite and > 0 (``positive``) or >= 0."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or value < 0 or (positive and value == 0)):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}; got {value!r}.")
    return float(value)


def _check_score(score, galaxy_id) -> int:
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        raise LabelError(f"score {score!r} for galaxy {galaxy_id!r} is not a number: "
                         f"give an int {MIN_SCORE}-{MAX_SCORE}")
    if not isinstance(score, numbers.Integral) and not float(score).is_integer():
        raise LabelError(f"score {score!r} for galaxy {galaxy_id!r} is not a whole number: "
                         f"give an int {MIN_SCORE}-{MAX_SCORE}")
    value = int(score)
    if not MIN_SCORE <= value <= MAX_SCORE:
        raise LabelError(f"score {value} for galaxy {galaxy_id!r} is outside {MIN_SCORE}-{MAX_SCORE}")
    return value


def _check_session_parts(catalogue, store) -> None:
    """TypeError, saying what to pass, for a path (or anything else) given instead of a loaded
    catalogue or an open label store."""
    if isinstance(catalogue, (str, os.PathLike)):
        raise TypeError(f"Explorer needs a loaded catalogue, not the path {str(catalogue)!r}: "
                        "Explorer(load_catalogue(path), store)")
    if not all(hasattr(catalogue, a) for a in ("embeddings", "ids", "index_of")):
        raise TypeError(f"Explorer needs a Catalogue (astroexplore.load_catalogue), got "
                        f"{type(catalogue).__name__}")
    if isinstance(store, (str, os.PathLike)):
        raise TypeError(f"Explorer needs an open label store, not the path {str(store)!r}: "
                        "Explorer(catalogue, LabelStore(path, valid_ids=catalogue.ids))")
    if not all(callable(getattr(store, a, None)) for a in ("add", "undo", "latest", "scores")):
        raise TypeError(f"Explorer needs a LabelStore (astroexplore.LabelStore), got "
                        f"{type(store).__name__}")


class Explorer:
    """One user's exploration session over a catalogue: rankings, labels, the retrainable head.

    Parameters
    ----------
    catalogue : Catalogue
        Needs ``embeddings`` (n_galaxies, n_features) float32, ``ids``, ``indices_of``,
        ``index_of``; ``cache_dir``/``fingerprint`` for cached anomaly scores.
    store : LabelStore
        Where labels go (and come from: other users' labels count too, see ``score_users``).
    user : str, default "anonymous"
        Who labels in this session.
    detector : {"isolation_forest", "lof", "knn"}, default "isolation_forest"
        The anomaly prior used by the learning rankings.
    seed : int, default 0
        Seeds the detector, the head and the "random" ranking: same seed, same rankings.
    score_users : str or None, default None
        Whose scores train the head: None = mean over all users, or one user's name.
    head_params : dict, optional
        Extra :class:`~astroexplore.head.InterestHead` parameters (``n_members``, ``hidden``,
        ``epochs``, ``device``, ...) over the head's defaults (8 members of 20 hidden units,
        chosen on the discovery benchmark: more anomalies found than 5 x 32 at the same cost).
    prior_std, n0, explore : float, default 1.5, 5, 0.1
        Blend parameters of :func:`astroexplore.ranking.posterior` / ``combined_scores``.
    prior_power : float, default 2
        :func:`astroexplore.ranking.prior_in_score_units`.
    kappa : float, default 1.0
        UCB exploration weight.
    xi : float, default 0.01
        Expected-improvement margin (score units).
    prior_input : bool, default True
        Give the head the anomaly prior as an extra input column, so it can learn how far the
        anomaly score predicts this user's interest (measured on the thyroid discovery set:
        63 vs 59 anomalies found in 100 greedy queries, mean of 3 seeds).
    tree_features : int, default 0
        Also give the head the per-tree isolation depths of this many isolation trees
        (:func:`astroexplore.detectors.tree_depth_features`, AADForest's representation), so it
        can learn which trees isolate what this user finds interesting; 0 = off. Off by default
        because it is not a uniform win (greedy discovery, ``combined``, found@budget, seeds 0-2
        or 0-1, 32 trees vs off, measured with a 5 x 32 head): thyroid 60.3 vs 53.7 of 73
        (100 trees: 64.0), yeast 24.7 vs 24.0, but mammography@300 142.5 vs 157.5 (@100 81.0 vs
        75.5), abalone 21.0 vs 23.0, demo 84.0 vs 88.5 (@50 48.5 vs 45.5): the tree columns help
        the first ~50 labels and on tabular sets whose anomalies sit in a few features, and
        over-fit later (more weight decay, fewer tree-aware members, a linear-only tree part,
        PCA to 16 columns and a larger ``n0`` did not remove the losses). With the default
        8 x 20 head it did not even help thyroid (53.0 vs 57.0, seeds 0-1; mammography@300
        147.0 vs 175.5, demo 80.5 vs 84.5). Kept as an option for experiments. Cost: 5.2 s and 128 MB once for 1M x 40 at 32 trees
        (cached beside the catalogue); predicting 1M x (40 + 1 + 32) took 0.29-0.39 s vs
        0.32-0.39 s without (one thread, bfloat16); 100 trees: 0.49-0.56 s and 400 MB.
    kernel_trees : int, default 100
        Trees of the isolation forest whose paths carry the labels to similar galaxies
        (:mod:`astroexplore.isolation_kernel`): each retrain fits the correction
        ``score - prior`` by kernel ridge regression with the isolation path kernel, and the
        "combined" ranking is the prior plus that correction; ucb, expected_improvement and
        uncertainty blend the corrected prior with the head. 0 = off (then "combined" is the
        precision-weighted blend of the raw prior and the head, mean + ``explore`` x spread).
        Greedy discovery benchmark (``benchmarks/README.md``), found at the budget, this (5
        seeds) vs the blend (earlier runs, 2-8 seeds): thyroid@100 67.0 vs 55.2 of 73,
        mammography@300 181.2 vs 173.0, kddcup_sub 72.0 vs 66.2, yeast 29.2 vs 25.3, demo
        89.8 vs 86.9; abalone 22.2 vs 22.7 (within seed noise); covtype_sub and
        non_anomalous_outliers find all by 50-100 either way.
    kernel_alpha : float, default 0.1
        Its ridge penalty (:class:`~astroexplore.isolation_kernel.IsolationKernelRidge`).
    cache : bool, default True
        Cache anomaly scores (and the tree features and isolation leaves) in
        ``catalogue.cache_dir``, and share them, read-only, with every other Explorer of this
        catalogue object in the process (:func:`shared_arrays`: a served catalogue holds them
        once, not once per browser session). False: computed for this Explorer alone.

    Notes
    -----
    Before the first :meth:`retrain` (or with no labels) every learning method
    (predicted_interest, combined, ucb, expected_improvement, uncertainty) ranks by the anomaly
    prior, as Astronomaly's first screen does. Rows of ``scores("combined")`` and
    ``scores("predicted_interest")`` for labelled galaxies hold the (mean) label itself.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from astroexplore.catalogue import Catalogue
    >>> from astroexplore.labels import LabelStore
    >>> X = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
    >>> cat = Catalogue.from_arrays(X)
    >>> store = LabelStore(pathlib.Path(tempfile.mkdtemp()) / "labels.sqlite")
    >>> ex = Explorer(cat, store, user="ada", detector="knn")
    >>> batch = ex.next_batch(3)
    >>> _ = [ex.label(cat.ids[i], 5) for i in batch]
    >>> ex.retrain(progress=None)["n_labels"]
    3
    >>> int(ex.labelled_mask.sum()), ex.ranking("combined", unlabelled_first=True).shape
    (3, (300,))
    """

    def __init__(self, catalogue, store, *, user: str = "anonymous",
                 detector: str = "isolation_forest", seed: int = 0, score_users: str | None = None,
                 head_params: dict | None = None, prior_std: float = 1.5, n0: float = 5.0,
                 explore: float = 0.1, prior_power: float = 2.0, kappa: float = 1.0,
                 xi: float = 0.01, prior_input: bool = True, tree_features: int = 0,
                 kernel_trees: int = 100, kernel_alpha: float = 0.1, cache: bool = True):
        _check_session_parts(catalogue, store)
        emb = getattr(catalogue, "embeddings", None)
        if emb is None or np.ndim(emb) != 2 or emb.shape[0] == 0:
            raise CatalogueError("The catalogue has no galaxies: nothing to explore. Load a "
                                 "catalogue with at least one row of embeddings.")
        if not isinstance(user, str) or not user.strip():
            raise LabelError(f"user name must be a non-empty string, got {user!r}")
        check_count("tree_features", tree_features, minimum=0)
        check_count("kernel_trees", kernel_trees, minimum=0)
        _check_real("kernel_alpha", kernel_alpha, positive=True)
        for name, value in (("prior_std", prior_std), ("n0", n0), ("prior_power", prior_power)):
            _check_real(name, value, positive=True)
        for name, value in (("explore", explore), ("kappa", kappa), ("xi", xi)):
            _check_real(name, value, positive=False)
        names = [str(d) for d in DETECTORS]
        if str(detector) not in names:
            raise ValueError(f"Unknown anomaly detector {detector!r}; choose one of {names}."
                             f"{did_you_mean(str(detector), names)}")
        self.catalogue = catalogue
        self.store = store
        self.user = user.strip()
        self.detector = str(detector)
        self.seed = int(seed)
        self.score_users = score_users
        self.head_params = dict(head_params or {})
        _check_head_params(self.head_params)
        self.prior_std = prior_std
        self.n0 = n0
        self.explore = explore
        self.prior_power = prior_power
        self.kappa = kappa
        self.xi = xi
        self.prior_input = bool(prior_input)
        self.tree_features = int(tree_features)
        self.kernel_trees = int(kernel_trees)
        self.kernel_alpha = float(kernel_alpha)
        self.cache = cache
        self._lock = threading.RLock()          # guards the swap of model state and caches
        self._labelled_cache = None              # (key, labelled_mask), see labelled_mask
        self._scores_cache = None                # (key, stored scores), see _stored_scores
        self._retrain_lock = threading.Lock()   # one retrain at a time
        # read-only arrays that depend only on the catalogue and the settings, shared by every
        # Explorer of this catalogue in the process (computed once, one lock per key: computing
        # a detector or the kernel paths blocks no ranking); the attributes below only point at them
        # (``cache=False`` keeps them private: computed for this Explorer, kept by nothing else)
        self._shared = shared_arrays(catalogue) if cache else SharedArrays()
        self._anomaly: dict[object, object] = {}
        self._random: np.ndarray | None = None
        self._stats: tuple[np.ndarray, np.ndarray] | None = None
        self._side: tuple | None = None   # (columns (n, k) float32 or None, mean, std)
        self._paths = None                # IsolationPaths of the kernel forest, built on demand
        # model state (a _Model), swapped atomically as one object:
        # head, n_labels, refined prior (n,) float32 or None, lazy head predictions
        self._model: _Model | None = None
        #: Bumped each time a retrain replaces the model (views compare it to know they are stale).
        self.model_version = 0
        self.last_report: dict | None = None  # what the latest retrain() returned (see there)
        #: Warn (once) when a ranking that learns from labels is asked for before any retrain
        #: although the store holds labels; the app, which retrains on open and says so, sets False.
        self.warn_unlearnt = True
        self._retrained: Retrained | None = None

    # ------------------------------------------------------------------ basics
    @property
    def n_galaxies(self) -> int:
        return int(self.catalogue.embeddings.shape[0])

    def __repr__(self) -> str:
        return (f"Explorer({self.n_galaxies} galaxies, user={self.user!r}, "
                f"detector={self.detector!r}, seed={self.seed})")

    def anomaly_scores(self, detector: str | None = None):
        """The :class:`~astroexplore.detectors.AnomalyScores` of ``detector`` (default: the session's).

        Computed once per detector and process (and cached on disk beside the catalogue); every
        Explorer of the catalogue with the same ``seed`` shares its arrays, hence read-only: copy
        them to change them.
        """
        from .detectors import compute_scores

        name = str(detector or self.detector)
        with self._lock:
            known = self._anomaly.get(name)
        if known is not None:
            return known

        def compute():
            scores = compute_scores(self.catalogue, name, seed=self.seed, cache=self.cache)
            _read_only(scores.raw, scores.scaled)
            return scores

        # not under self._lock: a computation takes seconds, and rankings must not wait for it
        scores = self._shared.get(self._scores_key(name), compute)
        with self._lock:
            return self._anomaly.setdefault(name, scores)

    def _scores_key(self, name: str) -> tuple:
        return ("anomaly_scores", name, self.seed, bool(self.cache))

    def _detectors_for(self, method) -> list[str]:
        method = check_method(method)
        if method.value in [str(d) for d in DETECTORS]:
            return [method.value]
        return [] if method is RankingMethod.RANDOM else [self.detector]

    def scores_ready(self, method="combined") -> bool:
        """True if :meth:`scores` and :meth:`ranking` of ``method`` return without computing an
        anomaly detector (for millions of galaxies, kNN and LOF take tens of seconds the first
        time); a detector in the disk cache is read now (milliseconds) and counts as ready. See
        :meth:`prepare_scores`."""
        from .detectors import cached_scores

        for name in self._detectors_for(method):
            with self._lock:
                if name in self._anomaly:
                    continue
            key = self._scores_key(name)
            found = self._shared.peek(key)
            if found is None:
                found = cached_scores(self.catalogue, name, seed=self.seed) if self.cache else None
                if found is None:
                    return False
                _read_only(found.raw, found.scaled)
                found = self._shared.put(key, found)
            with self._lock:
                self._anomaly.setdefault(name, found)
        return True

    def prepare_scores(self, method="combined") -> None:
        """Compute (or read from the disk cache) the anomaly detectors that ``method`` needs, e.g.
        in a background thread, so that its rankings are quick afterwards."""
        for name in self._detectors_for(method):
            self.anomaly_scores(name)

    def _prior(self) -> np.ndarray:
        """The anomaly prior in score units, (n_galaxies,) float32, read-only (shared)."""
        key = ("prior", self.detector, self.prior_power)
        with self._lock:
            known = self._anomaly.get(key)
        if known is not None:
            return known
        # not under self._lock: it may wait for a computation
        prior = self._shared.get(
            ("prior", self.detector, self.seed, bool(self.cache), self.prior_power),
            lambda: _read_only(_rk.prior_in_score_units(self.anomaly_scores().scaled,
                                                        power=self.prior_power))[0])
        with self._lock:
            return self._anomaly.setdefault(key, prior)

    def _random_scores(self) -> np.ndarray:
        """The "random" ranking's scores, (n_galaxies,) float64, read-only (shared)."""
        with self._lock:
            known = self._random
        if known is None:
            known = self._shared.get(("random", self.seed), lambda: _read_only(
                _rk.random_scores(self.n_galaxies, self.seed))[0])
            with self._lock:
                self._random = known
        return known

    def _input_stats(self):
        from .detectors import _column_stats

        with self._lock:
            known = self._stats
        if known is None:
            def compute():
                mean, std = _column_stats(self.catalogue.embeddings, 65_536)
                return _read_only(mean.astype(np.float32), std.astype(np.float32))

            known = self._shared.get(("input_stats",), compute)
            with self._lock:
                self._stats = known
        return known

    def _side_columns(self):
        """The head's extra inputs: (side (n, k) float32 or None, mean (k,), std (k,)).

        Column 0 the anomaly prior (``prior_input``), then ``tree_features`` per-tree isolation
        depths. Built once per process for every Explorer of the catalogue with the same settings
        (read-only arrays; the tree depths are cached on disk beside the catalogue).
        """
        with self._lock:
            known = self._side
        if known is None:
            key = ("side_columns", self.detector, self.seed, bool(self.cache), self.prior_power,
                   self.prior_input, self.tree_features)
            known = self._shared.get(key, self._build_side_columns)
            with self._lock:
                self._side = known
        return known

    def _build_side_columns(self):
        from .detectors import _column_stats

        cols = []
        if self.prior_input:  # the prior first: it may wait for a detector computed elsewhere
            cols.append(self._prior()[:, None])
        if self.tree_features:
            from .detectors import tree_depth_features

            cols.append(tree_depth_features(self.catalogue, n_trees=self.tree_features,
                                            seed=self.seed, cache=self.cache))
        if not cols:
            return (None, *_read_only(np.zeros(0, np.float32), np.ones(0, np.float32)))
        # the prior alone: a (read-only) view of the shared prior, no copy
        side = (cols[0] if len(cols) == 1
                else np.concatenate(cols, axis=1)).astype(np.float32, copy=False)
        side = np.ascontiguousarray(side)
        stats = []
        if self.prior_input:  # the prior column: as before tree features existed
            prior = cols[0][:, 0]
            stats.append(([prior.mean()], [max(float(prior.std()), 1e-3)]))
        if self.tree_features:  # chunked float64, no (n, k) float64 copy
            m, sd = _column_stats(cols[-1], 65_536)
            stats.append((m, np.maximum(sd, 1e-3)))
        mean = np.concatenate([np.asarray(m, np.float32) for m, _ in stats])
        std = np.concatenate([np.asarray(sd, np.float32) for _, sd in stats])
        return _read_only(side, mean, std)

    def isolation_paths(self):
        """The :class:`~astroexplore.isolation_kernel.IsolationPaths` of the kernel forest.

        Built once per process for every Explorer of the catalogue with the same
        ``kernel_trees`` and ``seed`` (leaf ids cached beside the catalogue and memory-mapped;
        every array read-only); None when ``kernel_trees=0``.
        """
        if not self.kernel_trees:
            return None
        from .isolation_kernel import isolation_paths

        with self._lock:
            known = self._paths
        if known is None:
            # not under self._lock: growing the leaves takes seconds, and rankings must not wait
            known = self._shared.get(
                ("isolation_paths", self.kernel_trees, self.seed, bool(self.cache)),
                lambda: isolation_paths(self.catalogue, n_trees=self.kernel_trees, seed=self.seed,
                                        cache=self.cache).freeze())
            with self._lock:
                self._paths = known
        return known

    # ------------------------------------------------------------------ labels
    def _stored_scores(self):
        """``store.scores(user=score_users)``, read again only after a label was committed (by
        any connection: :attr:`LabelStore.revision`): the app asks for it on every change."""
        key = (self.store.revision, repr(self.score_users))
        cached = self._scores_cache
        if cached is None or cached[0] != key:
            cached = self._scores_cache = (key, self.store.scores(user=self.score_users))
        return cached[1]

    def _labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Snapshot of the training labels: rows (m,) int64 and scores (m,) float64."""
        series = self._stored_scores()
        if len(series) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        # labels for galaxies not in this catalogue (another file sharing the store) are skipped
        rows, known = self.catalogue.known_rows(series.index)
        return rows, series.to_numpy(dtype=np.float64)[known]

    @property
    def n_training_labels(self) -> int:
        """How many labels of this catalogue the next :meth:`retrain` learns from (one per
        galaxy and user of ``score_users``)."""
        return int(self._labels()[0].size)

    def labels_not_in_catalogue(self) -> list[str]:
        """Ids with a stored label (by ``score_users``) that are not galaxies of this catalogue:
        kept in the store (another catalogue sharing it, an older version of this one), never
        learnt or ranked here."""
        series = self._stored_scores()
        if len(series) == 0:
            return []
        known = self.catalogue.known_rows(series.index)[1]
        return [str(i) for i in series.index[~known]]

    def unlearnt_labels(self) -> int:
        """How many of this catalogue's training labels the ranking has not learnt: galaxies
        scored (by ``score_users``) since the model was trained, by anyone or any process, those
        whose score changed and those whose label was undone; every one before the first
        :meth:`retrain` (the rankings then use the anomaly prior alone)."""
        rows, y = self._labels()
        model = self._model
        learnt = {} if model is None else model.learnt
        now = dict(zip(rows.tolist(), y.tolist()))
        return sum(learnt.get(r) != v for r, v in now.items()) + sum(r not in now for r in learnt)

    def _warn_unlearnt(self, method, stacklevel: int = 3) -> None:
        """Once per Explorer: a ranking that learns from labels, asked for before any retrain
        while the store holds labels of this catalogue (a script on a store of an earlier day),
        says that it is the anomaly prior until :meth:`retrain`."""
        if not self.warn_unlearnt or self._model is not None or check_method(method).value in _PRIOR_ONLY:
            return
        n = self.n_training_labels
        if n:
            import warnings

            self.warn_unlearnt = False
            warnings.warn(f"{n:,} stored label{'s are' if n != 1 else ' is'} not learnt yet: call retrain() "
                          f"first; until then the {check_method(method).value!r} ranking is the anomaly "
                          "prior alone", UserWarning, stacklevel=stacklevel)

    @property
    def labelled_mask(self) -> np.ndarray:
        """Galaxies with a current label, ndarray of shape (n_galaxies,), bool.

        Labelled = scored by the users whose scores train the head (``score_users``; None = any
        user) or by this session's user. Read-only, and kept until a label is committed (by any
        connection: :attr:`LabelStore.revision`), so a sort and its count read the store once.
        """
        key = (id(self.catalogue), id(self.store), self.store.revision, self.user,
               repr(self.score_users))
        cached = self._labelled_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        mask = self._compute_labelled_mask()
        mask.flags.writeable = False
        self._labelled_cache = (key, mask)
        return mask

    def _compute_labelled_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_galaxies, dtype=bool)
        rows, _ = self._labels()
        mask[rows] = True
        if self.score_users is not None and self.score_users != self.user:
            own = self.store.labelled_ids(user=self.user)
            if own:
                mask[self.catalogue.known_rows(list(own))[0]] = True
        return mask

    def label(self, galaxy_id, score, *, tags: Iterable[str] = (), note: str | None = None):
        """Record this user's interest score (int 0-5) for one galaxy; returns the LabelEvent.

        Raises
        ------
        LabelError
            Unknown galaxy id (with a suggestion), or a score that is not a whole number 0-5.
        """
        try:
            self.catalogue.index_of(str(galaxy_id))
        except KeyError as err:
            raise LabelError(str(err.args[0]) if err.args else f"unknown galaxy id {galaxy_id!r}") \
                from None
        value = _check_score(score, galaxy_id)
        return self.store.add(str(galaxy_id), value, user=self.user, tags=tags, note=note)

    def undo(self, event_id: int | None = None):
        """Cancel this user's latest label (or their label ``event_id``); returns the undo event or
        None (nothing to undo)."""
        return self.store.undo(self.user, event_id)

    def label_many(self, galaxy_ids: Iterable[str], score, *, tags: Iterable[str] | str = (),
                   note: str | None = None) -> LabelledMany:
        """Label a set of galaxies at once, such as known objects found by their positions
        (:func:`astroexplore.crossmatch.crossmatch`): all in one transaction, on disk when this
        returns, or none if an id is not in the catalogue.

        A galaxy this user has not scored gets ``score`` (int 0-5), ``tags`` and ``note``. One
        they have scored keeps its score and note, and gets ``tags`` added to its own (a new
        label event: undo brings the old one back): a look at one galaxy outweighs a list.
        Repeated ids count once.

        Returns
        -------
        LabelledMany
            The events written and which galaxies were new, kept their score, or unchanged.

        Raises
        ------
        LabelError
            A score that is not a whole number 0-5, an unknown galaxy id (the first is named,
            with the count), or no id at all.
        """
        from .labels import _normalise_tags

        ids = list(dict.fromkeys(str(g) for g in galaxy_ids))
        if not ids:
            raise LabelError("no galaxies to label")
        unknown = [g for g, ok in zip(ids, self.catalogue.known_rows(ids)[1]) if not ok]
        if unknown:
            raise LabelError(f"galaxy id {unknown[0]!r} is not in the catalogue"
                             + (f" ({len(unknown)} such ids)" if len(unknown) > 1 else "")
                             + "; nothing was stored")
        value, wanted = _check_score(score, ids[0]), _normalise_tags(tags)
        mine = self.store.latest(user=self.user).set_index("id")
        rows, new, kept, unchanged = [], [], [], []
        for gid in ids:
            if gid not in mine.index:
                new.append(gid)
                rows.append({"id": gid, "score": value, "tags": wanted, "note": note})
                continue
            old = mine.loc[gid]
            merged = tuple(dict.fromkeys((*old["tags"], *wanted)))
            if merged == tuple(old["tags"]):
                unchanged.append(gid)
                continue
            kept.append(gid)
            rows.append({"id": gid, "score": int(old["score"]), "tags": merged, "note": old["note"]})
        events = self.store.add_events(rows, user=self.user)
        return LabelledMany(tuple(events), tuple(new), tuple(kept), tuple(unchanged), value, wanted)

    def undo_many(self, events: Iterable) -> list:
        """Cancel this user's labels ``events`` (LabelEvents or their ``event_id``, as
        :meth:`label_many` returned them) in one transaction; those no longer in effect are passed
        over. Returns the undo events."""
        ids = [getattr(e, "event_id", e) for e in events]
        return self.store.undo_many(self.user, ids)

    def labels_table(self, *, user: str | None = None):
        """Every current label with the galaxy's position: the CSV the app's sidebar downloads.

        Columns ``id``, ``ra``, ``dec`` (degrees; where the catalogue has coordinates), then
        :meth:`LabelStore.export_frame`'s ``score, user, timestamp`` (ISO 8601 UTC), ``tags``
        (space-separated), ``note``; one row per (galaxy, user), oldest first (``user``: only
        theirs). :meth:`LabelStore.import_csv` reads it back (it ignores ``ra``/``dec``).

        Returns
        -------
        pandas.DataFrame
        """
        return self.store.export_frame(user, catalogue=self.catalogue)

    def labelled_galaxies(self, *, min_score: float = 0, user: str | None = None,
                          tag: str | None = None):
        """The galaxies of this catalogue with a current label, best first: what was found so far.

        Parameters
        ----------
        min_score : float, default 0
            Keep galaxies whose score is at least this (0-5).
        user : str, optional
            Only this user's labels (their score); default every user's (the mean score).
        tag : str, optional
            Keep galaxies whose labels carry this tag (``"ring"`` finds ``"#ring"``).

        Returns
        -------
        pandas.DataFrame
            One row per galaxy: ``id``, ``row`` (in the catalogue), ``score`` (float: the mean
            over the users counted), ``n_labels`` (users who labelled it), ``tags`` (sorted
            tuple, every user's), ``notes`` (every user's note, ``"ana: looks lensed | ben:
            ..."``, '' without one), ``last`` (UTC time of the latest of its labels); sorted by
            score, highest first, then most recently labelled first. Labels of galaxies that
            are not in this catalogue (a store shared with another) are left out.
        """
        import pandas as pd

        latest = self.store.latest(user=user)
        rows, known = self.catalogue.known_rows(latest["id"])
        latest = latest[known].assign(row=rows)
        by = latest.groupby("id", sort=False)
        found = pd.DataFrame({"row": by["row"].first(), "score": by["score"].mean().astype(float),
                              "n_labels": by.size(), "last": by["timestamp"].max(),
                              "newest": by["event_id"].max()})  # store order: no ties
        # every user's tags: only the labels that carry any are grouped (a union per galaxy took
        # most of the time for 50,000 labels)
        tagged = latest.loc[latest["tags"].map(len) > 0, ["id", "tags"]].explode("tags")
        unions = tagged.groupby("id")["tags"].agg(lambda ts: tuple(sorted(set(ts)))).to_dict()
        found["tags"] = [unions.get(gid, ()) for gid in found.index]
        note = latest["note"].fillna("").astype(str).str.strip()
        said = (latest["user"].astype(str) + ": " + note)[note != ""]  # oldest first, as stored
        notes = said.groupby(latest.loc[said.index, "id"]).agg(" | ".join).to_dict()
        found["notes"] = [notes.get(gid, "") for gid in found.index]
        found = (found.reset_index().sort_values(["score", "newest"], ascending=False, kind="stable")
                 [["id", "row", "score", "n_labels", "tags", "notes", "last"]].reset_index(drop=True))
        return finds_of(found, min_score=min_score, tag=tag)

    def discovery_curve(self, *, min_score: float = 4, user: str | None = None, tag: str | None = None,
                        labelled=None):
        """The finds against the galaxies labelled, in the order they were first labelled: is the
        ranking bringing interesting galaxies up (Astronomaly's and Protege's figure)?

        A galaxy is a find if :meth:`labelled_galaxies` with these choices lists it (its score, the
        mean of the users counted, at least ``min_score``; with ``tag``, a label carrying it).
        Galaxies whose every label was undone are not counted.

        Parameters
        ----------
        min_score : float, default 4
        user : str, optional
            Only this user's labels; default every user's.
        tag : str, optional
        labelled : pandas.DataFrame, optional
            ``labelled_galaxies(user=user)``, where the caller has read it already (the Labelled
            tab reads it once for its list, :func:`finds_of`, and its curve).

        Returns
        -------
        pandas.DataFrame
            One row per labelled galaxy, in the order of its first label still in force:
            ``n_labelled`` (1, 2, ...), ``id``, ``score`` (float), ``found`` (bool) and
            ``n_found`` (finds among the first ``n_labelled``).
        """
        import pandas as pd

        if labelled is None:
            labelled = self.labelled_galaxies(user=user)  # every labelled galaxy, its score and tags
        is_find = _is_find(labelled, min_score, tag)
        first = self.store.first_labelled(user=user)  # every galaxy listed, earliest first
        place = pd.Series(np.arange(len(first)), index=first["id"])
        # (a galaxy whose label was undone since `labelled` was read goes last)
        order = np.argsort(place.reindex(labelled["id"]).fillna(len(first)).to_numpy(np.int64), kind="stable")
        ids = labelled["id"].to_numpy()[order]
        hit = is_find[order]
        return pd.DataFrame({"n_labelled": np.arange(1, len(ids) + 1), "id": ids,
                             "score": labelled["score"].to_numpy(np.float64)[order], "found": hit,
                             "n_found": np.cumsum(hit)})

    def labelled_table(self, *, min_score: float = 0, user: str | None = None, tag: str | None = None):
        """:meth:`labelled_galaxies` as a follow-up list: the Labelled tab's CSV and
        ``astroexplore labels finds``.

        Returns
        -------
        pandas.DataFrame
            ``id``, ``ra``, ``dec`` (degrees, where the catalogue has them), ``score``,
            ``n_labels``, ``tags`` (space-separated), ``notes``, ``last_labelled`` (ISO 8601 UTC), then the
            galaxies' own catalogue columns (:func:`~astroexplore.catalogue.describing_columns`);
            best first.
        """
        import pandas as pd

        from .catalogue import position_columns, with_catalogue_columns

        found = self.labelled_galaxies(min_score=min_score, user=user, tag=tag)
        out = pd.DataFrame({"id": found["id"].astype(str)})
        for name, values in position_columns(self.catalogue, out["id"]):
            out[name] = values
        out["score"] = found["score"].to_numpy(dtype=np.float64)
        out["n_labels"] = found["n_labels"].to_numpy(dtype=np.int64)
        out["tags"] = [" ".join(t) for t in found["tags"]]
        out["notes"] = found["notes"].to_numpy(dtype=object)
        out["last_labelled"] = [t.isoformat() for t in found["last"]]
        return with_catalogue_columns(out, self.catalogue)

    # ------------------------------------------------------------------ the head
    def _new_head(self):
        from .head import InterestHead

        mean, std = self._input_stats()
        side, smean, sstd = self._side_columns()
        if side is not None:
            mean = np.r_[mean, smean].astype(np.float32)
            std = np.r_[std, sstd].astype(np.float32)
        params = {"seed": self.seed, "input_mean": mean, "input_scale": std,
                  **self.head_params}
        return InterestHead(**params)

    def retrain(self, progress: Callable[[float], None] | None = None, *,
                predict_head: bool | None = None, warm_start: bool = False) -> dict:
        """Retrain the interest head and the isolation-kernel correction on a snapshot of the
        labels, and re-predict.

        The head is fitted afresh (seeded) each time, so the same labels give the same model and
        rankings whatever came before: pressing Retrain twice changes nothing, and an undone
        label leaves no trace. 1M galaxies, 200 labels: fit 0.12 s, against 0.10 s warm
        (``benchmarks/results/retrain.md``).

        Parameters
        ----------
        progress : callable(float), optional
            Called with the fraction done, 0-1 (training up to 0.8, prediction to 1).
        predict_head : bool or None, default None
            Predict the head over every galaxy now (True), or on the first ranking that needs it
            (False: predicted_interest, ucb, expected_improvement, uncertainty; 0.3 s for 1M
            galaxies). None = now only when "combined" needs it (``kernel_trees=0``). The app
            passes True (it retrains in the background).
        warm_start : bool, default False
            Continue from the previous head's weights (``warm_epochs`` steps instead of
            ``epochs``): faster, but the model then depends on the order of earlier retrains.

        Returns
        -------
        dict
            ``n_labels``, ``seconds`` (total), ``fit_seconds``, ``predict_seconds`` (the head's
            predictions, 0 when deferred),
            ``kernel_seconds`` (the isolation-kernel correction, fit and predict), ``device``,
            ``epochs``, ``warm_start``, ``skipped`` (True with no labels: the model is cleared
            and rankings fall back to the anomaly prior).
        """
        t0 = time.perf_counter()
        with self._retrain_lock:
            rows, y = self._labels()
            if rows.size == 0:
                self._warn_no_labels_matched()
                self._swap_in(None)
                report = {"n_labels": 0, "seconds": time.perf_counter() - t0, "fit_seconds": 0.0,
                          "predict_seconds": 0.0, "device": None, "epochs": 0,
                          "warm_start": False, "skipped": True}
                self.last_report = report
                if progress is not None:
                    progress(1.0)
                return report
            self._warn_labels_not_in_catalogue(rows.size)
            with self._lock:
                current = self._model
            warm = warm_start and current is not None
            head = copy.deepcopy(current.head) if warm else self._new_head()
            emb = self.catalogue.embeddings
            fit_progress = None if progress is None else (lambda f: progress(0.8 * f))
            t1 = time.perf_counter()
            side = self._side_columns()[0]
            head.fit(emb[rows], y, side=None if side is None else side[rows], warm_start=warm,
                     progress=fit_progress)
            t2 = time.perf_counter()
            refined = self._fit_kernel(rows, y)
            t3 = time.perf_counter()
            model = _Model(head, int(rows.size), refined, emb, side, dict(zip(rows.tolist(), y.tolist())))
            if predict_head or (predict_head is None and refined is None):
                model.predictions()
            t4 = time.perf_counter()
            self._swap_in(model)
            report = {"n_labels": int(rows.size), "seconds": t4 - t0, "fit_seconds": t2 - t1,
                      "predict_seconds": t4 - t3, "kernel_seconds": t3 - t2, "device": head.device_,
                      "epochs": head.last_fit_["epochs"], "warm_start": head.last_fit_["warm_start"],
                      "skipped": False}
            self.last_report = report
            if progress is not None:
                progress(1.0)
            return report

    def _warn_labels_not_in_catalogue(self, n_learnt: int) -> None:
        """A retrain that leaves out labels of galaxies this catalogue lacks says how many."""
        missing = self.labels_not_in_catalogue()
        if missing:
            import warnings

            warnings.warn(f"{len(missing):,} of the {len(missing) + n_learnt:,} labelled galaxies are not in this "
                          f"catalogue (e.g. {missing[0]!r}): their labels stay in the store, unused here; "
                          f"retrained on the other {n_learnt:,}", UserWarning, stacklevel=3)

    def _warn_no_labels_matched(self) -> None:
        """A retrain with nothing to learn from, although the store holds labels, says why:
        their ids are not this catalogue's (another id column, another id format), or
        ``score_users`` names nobody who labelled (a typo, another case)."""
        import warnings

        stored = self.store.scores(user=self.score_users)
        if len(stored):
            warnings.warn(
                f"none of the {len(stored):,} stored labels is for a galaxy of this catalogue (e.g. id "
                f"{str(stored.index[0])!r}; this catalogue's ids look like {str(self.catalogue.ids[0])!r}): "
                "load the catalogue with the id column the labels were given with (id_column=...)",
                UserWarning, stacklevel=3)
        elif self.score_users is not None and (users := self.store.users()):
            warnings.warn(
                f"score_users={self.score_users!r}: no label by that user in the store (users with "
                f"labels: {', '.join(map(repr, users[:10]))}).{did_you_mean(str(self.score_users), users)}",
                UserWarning, stacklevel=3)

    def _swap_in(self, model) -> None:
        with self._lock:
            self._model = model
            self._retrained = Retrained(next(_RETRAIN_NUMBERS), self.model_key, model)
            self.model_version += 1

    @property
    def model_key(self) -> tuple:
        """What a retrain's model depends on besides the labels: the catalogue, the label store and
        the settings of the head, the prior and the isolation kernel. Explorers with equal keys
        learn the same model from the same labels (a retrain is seeded and starts afresh)."""
        return (id(self.catalogue), str(Path(self.store.path).resolve()), self.score_users,
                self.detector, self.seed, repr(sorted(self.head_params.items())), self.prior_power,
                self.prior_input, self.tree_features, self.kernel_trees, self.kernel_alpha)

    @property
    def last_retrain(self) -> Retrained | None:
        """This Explorer's latest retrain (its own or an adopted one); None before any."""
        return self._retrained

    def adopt(self, retrained: Retrained | None) -> bool:
        """Use another Explorer's retrain (``other.last_retrain``) as this one's, without training:
        another window's Retrain reaching this window. Only a retrain with this ``model_key``
        that is newer than this Explorer's own latest is taken; True if it was."""
        if retrained is None or retrained.key != self.model_key:
            return False
        with self._lock:
            if self._retrained is not None and self._retrained.number >= retrained.number:
                return False
            self._model = retrained.model
            self._retrained = retrained
            self.model_version += 1
            return True

    def _fit_kernel(self, rows, y):
        """The prior corrected by the labels (isolation kernel ridge), (n,) float32; None if off."""
        paths = self.isolation_paths()
        if paths is None:
            return None
        from .isolation_kernel import IsolationKernelRidge

        prior = self._prior()
        model = IsolationKernelRidge(alpha=self.kernel_alpha).fit(paths, rows, y, prior[rows])
        return model.refine(prior, model.predict(paths))

    @property
    def predicted_interest(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, std) of the head over all galaxies, each (n_galaxies,) float32 and read-only (the
        session's own arrays: copy them to change them); None before training."""
        model = self._model
        return None if model is None else model.predictions()

    @property
    def head(self):
        """The current :class:`~astroexplore.head.InterestHead` (None before the first retrain)."""
        model = self._model
        return None if model is None else model.head

    # ------------------------------------------------------------------ rankings
    def scores(self, method="combined") -> np.ndarray:
        """The value each ranking sorts by, ndarray of shape (n_galaxies,), higher first; a new
        array each call (changing it changes no ranking).

        Detectors: rank-scaled anomaly score 0-5; random: seeded uniform; predicted_interest:
        head mean; combined: the anomaly prior corrected by the labels along isolation paths
        (:mod:`astroexplore.isolation_kernel`; with ``kernel_trees=0`` the blend of
        :func:`astroexplore.ranking.combined_scores`); ucb / expected_improvement:
        :mod:`astroexplore.ranking` over the blend of that corrected prior and the head;
        uncertainty: the spread of the head's ensemble alone (all fall back to the anomaly prior
        before the first retrain).
        """
        method = check_method(method)
        if method.value in [str(d) for d in DETECTORS]:
            return self.anomaly_scores(method.value).scaled.copy()
        if method is RankingMethod.RANDOM:
            return self._random_scores().copy()
        model = self._model  # one read: consistent head, predictions, n, refined prior
        prior = self._prior()
        if model is None:
            return prior.copy()
        refined, n_trained = model.refined, model.n_labels
        rows, y = self._labels()
        if method is RankingMethod.COMBINED and refined is not None:
            out = refined.copy()
            out[rows] = y
            return out
        mean, std = model.predictions()
        if method is RankingMethod.PREDICTED_INTEREST:
            out = mean.copy()
            out[rows] = y
            return out
        base = prior if refined is None else refined
        mu, sd = _rk.posterior(base, mean, std, n_trained, prior_std=self.prior_std, n0=self.n0)
        if method is RankingMethod.COMBINED:
            out = mu + np.float32(self.explore) * sd
            out[rows] = y
            return out
        if method is RankingMethod.UCB:
            return _rk.ucb(mu, sd, self.kappa)
        if method is RankingMethod.EXPECTED_IMPROVEMENT:
            best = float(mu[rows].max()) if rows.size else float(mu.max())
            return _rk.expected_improvement(mu, sd, best, self.xi)
        return _rk.uncertainty(std)

    def _check_mask(self, mask):
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != (self.n_galaxies,) or mask.dtype != bool:
            raise ValueError(f"mask must be a boolean array of shape ({self.n_galaxies},) (one "
                             f"entry per galaxy); got {mask.dtype} array of shape {mask.shape}.")
        return mask

    def ranking(self, method="combined", *, mask=None, unlabelled_first: bool = False) -> np.ndarray:
        """Row indices by ``method``, best first; only rows where ``mask`` ((n_galaxies,) bool)
        is True; with ``unlabelled_first`` the galaxies nobody labelled come before the others.

        ``method`` is a :class:`~astroexplore.constants.RankingMethod` or its name:
        "isolation_forest", "lof", "knn" (anomaly detectors), "random", "predicted_interest",
        "combined", "ucb", "expected_improvement" or "uncertainty" (see :meth:`scores`).

        Returns
        -------
        ndarray of shape (n_selected,), int64
        """
        return self._ranked(method, mask, unlabelled_first)[0]

    def _ranked(self, method, mask, unlabelled_first: bool) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`ranking`'s row indices and the scores they were sorted by (one computation)."""
        self._warn_unlearnt(method, stacklevel=4)  # the caller of ranking / ranking_table
        method = check_method(method)
        mask = self._check_mask(mask)
        scores = self.scores(method)
        labelled = self.labelled_mask if unlabelled_first else None
        return _rk.rank(scores, mask=mask, labelled=labelled, unlabelled_first=unlabelled_first), scores

    def ranking_table(self, method="combined", *, top: int = 500, mask=None,
                      unlabelled_first: bool = True, columns=()):
        """The first ``top`` galaxies of :meth:`ranking` as a follow-up list: the app's "Top N
        (CSV)" and ``astroexplore rank``.

        Parameters
        ----------
        method : RankingMethod or str, default "combined"
        top : int, default 500
            How many galaxies (fewer where fewer pass ``mask``).
        mask : (n_galaxies,) bool, optional
            The galaxies allowed (a filter's, :func:`astroexplore.filter_text.selection_mask`).
        unlabelled_first : bool, default True
            The galaxies nobody labelled come first, as in the app's list.
        columns : sequence of str, optional
            More catalogue columns to add after the describing ones (those ``mask``'s filter read:
            :func:`astroexplore.filter_text.selection_columns`).

        Returns
        -------
        pandas.DataFrame
            One row per galaxy, in ranking order: ``rank`` (1 = first), ``id``, ``ra``, ``dec``
            (degrees, where the catalogue has them), ``ranking_score`` (what ``method`` sorts by:
            :meth:`scores`), ``anomaly_score`` (the session detector's, rank-scaled 0-5),
            ``predicted_interest`` and ``predicted_interest_std`` (the head's mean and spread, 0-5
            scale; NaN before the first :meth:`retrain`), these four float32; ``labelled_score``
            (the mean of the current labels of every user, NaN where none) and ``n_labels``; then
            the galaxies' own catalogue columns (:func:`~astroexplore.catalogue.describing_columns`).
        """
        import pandas as pd

        from .catalogue import position_columns, with_catalogue_columns

        if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
            raise ValueError(f"top must be a whole number of galaxies, at least 1; got {top!r}.")
        rows, scores = self._ranked(method, mask, unlabelled_first)
        rows = rows[:int(top)]
        out = pd.DataFrame({"rank": np.arange(1, rows.size + 1), "id": self.catalogue.ids[rows].astype(str)})
        for name, values in position_columns(self.catalogue, out["id"], rows):
            out[name] = values
        out["ranking_score"] = scores[rows].astype(np.float32)
        out["anomaly_score"] = self.anomaly_scores().scaled[rows].astype(np.float32)
        predicted = self.predicted_interest
        for name, values in zip(("predicted_interest", "predicted_interest_std"), predicted or (None, None)):
            out[name] = (np.full(rows.size, np.nan, np.float32) if values is None
                         else values[rows].astype(np.float32))
        labels = self.store.latest()
        where, known = self.catalogue.known_rows(labels["id"])
        per_row = pd.Series(labels["score"].to_numpy(np.float64)[known]).groupby(where)
        out["labelled_score"] = per_row.mean().reindex(rows).to_numpy(np.float64)
        out["n_labels"] = per_row.size().reindex(rows).fillna(0).to_numpy(np.int64)
        return with_catalogue_columns(out, self.catalogue, rows, also=columns)

    def next_batch(self, n: int = 10, method="ucb", *, mask=None,
                   min_distance: float | None = None) -> np.ndarray:
        """The next ``n`` unlabelled galaxies to show: high ``method`` score, no near-duplicates.

        Diversity: :func:`astroexplore.ranking.select_diverse` in standardised embedding space:
        no two galaxies of the batch closer than ``min_distance`` (Euclidean, in standard
        deviations of the embedding; default 2% of the median distance among the candidates,
        which keeps exact and near duplicates apart).

        ``method``: a :class:`~astroexplore.constants.RankingMethod` or its name:
        "isolation_forest", "lof", "knn" (anomaly detectors), "random", "predicted_interest",
        "combined", "ucb", "expected_improvement" or "uncertainty" (see :meth:`scores`).
        ``mask``: (n_galaxies,) bool, the galaxies allowed (e.g. a morphology filter's).

        Returns
        -------
        ndarray of shape (<= n,), int64 row indices, best first (empty when all are labelled)
        """
        self._warn_unlearnt(method)
        method = check_method(method)
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative int; got {n!r}.")
        mask = self._check_mask(mask)
        allowed = ~self.labelled_mask
        if mask is not None:
            allowed &= mask
        scores = self.scores(method)
        mean, std = self._input_stats()
        emb = _Standardised(self.catalogue.embeddings, mean, std)
        return _rk.select_diverse(scores, int(n), emb, allowed=allowed, min_distance=min_distance)


def finds_of(labelled, *, min_score: float = 0, tag: str | None = None):
    """The rows of an :meth:`Explorer.labelled_galaxies` table scored at least ``min_score`` and,
    with ``tag``, carrying it (``"ring"`` finds ``"#ring"``): what ``labelled_galaxies`` with
    those choices returns, without reading the store again. Order kept, index renumbered."""
    return labelled[_is_find(labelled, min_score, tag)].reset_index(drop=True)


def _is_find(labelled, min_score: float, tag: str | None) -> np.ndarray:
    keep = labelled["score"].to_numpy(np.float64) >= float(min_score)
    return keep & _carrying(labelled["tags"], tag) if tag else keep


def _carrying(tags, tag: str) -> np.ndarray:
    """(n,) bool: which of ``tags`` (a sequence of tag tuples, one per galaxy) hold ``tag``
    (normalised: ``"ring"`` finds ``"#ring"``)."""
    from .labels import normalise_tag

    wanted = normalise_tag(tag)
    return np.fromiter((wanted in ts for ts in tags), bool, len(tags))


class _Model:
    """One retrain's result, swapped in as a whole: the head, its label count, the corrected
    prior (None without the kernel) and the head's predictions over every galaxy, computed once
    on first use (under a lock of their own, so two rankings never predict twice)."""

    def __init__(self, head, n_labels: int, refined, embeddings, side, learnt: dict[int, float] | None = None):
        self.head, self.n_labels, self.refined = head, n_labels, refined
        self.learnt = learnt or {}  # row -> the score it learnt (Explorer.unlearnt_labels)
        self._inputs = (embeddings, side)
        self._pred: tuple[np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of the head, each (n_galaxies,) float32."""
        with self._lock:
            if self._pred is None:
                emb, side = self._inputs
                self._pred = _read_only(*self.head.predict(emb, side=side))
                self._inputs = None
            return self._pred


class _Standardised:
    """Row access to standardised embeddings without copying the whole matrix."""

    def __init__(self, X, mean, std):
        self.X, self.mean, self.inv = X, mean, 1.0 / std

    def __getitem__(self, rows):
        return (np.asarray(self.X[rows], dtype=np.float32) - self.mean) * self.inv


def run_loop(explorer: Explorer, ask: Callable[[str], int | None], n_labels: int, *,
             batch_size: int = 10, method="combined", mask=None, retrain: bool = True,
             progress: Callable[[int, int], None] | None = None) -> list[tuple[str, int]]:
    """UI-free labelling loop: show a batch, ask the human, store the labels, retrain, repeat.

    Parameters
    ----------
    explorer : Explorer
    ask : callable(galaxy_id: str) -> int or None
        The human (app, script, simulated oracle): a score 0-5, or None to skip the galaxy
        (it is not offered again in this loop).
    n_labels : int
        Labels to collect (fewer if the catalogue runs out).
    batch_size : int, default 10
        Galaxies per batch; the head is retrained after each batch.
    method : str, default "combined"
        Ranking method for :meth:`Explorer.next_batch` ("combined" found more anomalies than
        "ucb" on 5 of the 8 sets of the batch discovery benchmark, e.g. mammography 145.4 vs
        144.4 and yeast 28.4 vs 25.6; ``benchmarks/results/discovery.md``).
    mask : ndarray of shape (n_galaxies,), bool, optional
        Only galaxies where True are offered.
    retrain : bool, default True
    progress : callable(done: int, total: int), optional

    Returns
    -------
    list of (galaxy_id, score)
        In the order labelled.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from astroexplore.catalogue import Catalogue
    >>> from astroexplore.labels import LabelStore
    >>> cat = Catalogue.from_arrays(np.random.default_rng(1).normal(size=(200, 3)))
    >>> ex = Explorer(cat, LabelStore(pathlib.Path(tempfile.mkdtemp()) / "l.sqlite"), detector="knn")
    >>> got = run_loop(ex, lambda gid: 5 if int(gid) % 2 else 0, 6, batch_size=3)
    >>> len(got), ex.store.count()
    (6, 6)
    """
    check_method(method)
    if isinstance(n_labels, bool) or not isinstance(n_labels, numbers.Integral) or n_labels < 0:
        raise ValueError(f"n_labels must be a non-negative int; got {n_labels!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}.")
    mask = explorer._check_mask(mask)
    offer = np.ones(explorer.n_galaxies, dtype=bool) if mask is None else mask.copy()
    ids = explorer.catalogue.ids
    done: list[tuple[str, int]] = []
    while len(done) < n_labels:
        batch = explorer.next_batch(min(batch_size, n_labels - len(done)), method, mask=offer)
        if batch.size == 0:
            break
        for i in batch:
            gid = str(ids[i])
            score = ask(gid)
            offer[i] = False
            if score is None:
                continue
            explorer.label(gid, score)
            done.append((gid, int(score)))
            if progress is not None:
                progress(len(done), n_labels)
        if retrain:
            explorer.retrain()
    return done
