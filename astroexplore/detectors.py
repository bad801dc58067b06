"""Unsupervised anomaly scores over a catalogue's embeddings.

Three detectors, scikit-learn shaped (keyword-only constructor arguments stored as given,
``fit`` returns ``self``, learned attributes end in ``_``). Convention for the whole project:
``score_samples`` returns **higher = more anomalous**.

- :class:`IsolationForestDetector` wraps :class:`sklearn.ensemble.IsolationForest`
  (its ``score_samples`` negated).
- :class:`LOFDetector` is the local outlier factor of Breunig et al. (2000), the same formula as
  :class:`sklearn.neighbors.LocalOutlierFactor` with ``novelty=True`` (a test checks the two agree),
  with the neighbour search done by faiss because scikit-learn's brute-force search is about
  2.5x slower in 40 dimensions on two cores.
- :class:`KNNDetector` is the mean (or k-th) Euclidean distance to the ``n_neighbors`` nearest
  reference points, by exact faiss search (cross-checked against ``sklearn.neighbors.NearestNeighbors``).

Scaling to millions of galaxies
-------------------------------
Neighbour methods compare every galaxy to a *reference set*; an exact search of 1M galaxies
against 1M costs ~1e12 distance evaluations (hours on two cores). So LOF and kNN are fitted on a
random subsample of ``max_samples`` galaxies (default 10,000) and every galaxy is scored against
it in chunks (``novelty`` semantics). Galaxies that are in the reference set are scored
leave-one-out (their own zero distance is dropped), so a catalogue smaller than ``max_samples`` gets
the exact, classical LOF / kNN scores. Measured on the shared 2-core machine (1M x 40, load
average ~8 from other jobs): isolation forest 12 s; kNN 26 s and LOF 55 s (faiss, 10k
references, one faiss thread, see ``ASTROEXPLORE_FAISS_THREADS``: two threads took 106 s under
that load); peak memory 290-490 MB including the 160 MB embeddings. Results are cached beside the catalogue, so this is paid once per catalogue.

Memory for 10M x 40 float32 (the embeddings themselves: 1.6 GB, held by the catalogue): scoring runs
in chunks of ``chunk_size`` rows (default 65,536): a standardised float32 chunk is 10 MB; faiss
distances for a chunk are 65,536 x (k + 1) float32 (<6 MB); the fit subsample is at most
200,000 x 40 float32 (32 MB); outputs are raw + scaled float32 (2 x 40 MB) and one int64 argsort for
the rank scaling (80 MB); nothing of size (n, d) is copied. Measured (``benchmarks/bench_memory.py``,
10M x 40 on the 2-core, 24 GB machine, results in ``benchmarks/results/memory.md``): the process
held 2.0 GB after loading the ``.npy`` catalogue (3.4 GB peak while loading, ids included), 2.9 GB
after the isolation forest (49 s), 2.9 GB after kNN (183 s) and 3.0 GB after LOF (249 s); the
whole session, with the isolation-kernel leaves (2 GB of int16) and a retrain, peaked at 6.9 GB.

Scaled scores
-------------
``AnomalyScores.scaled`` is **rank based**: ``5 * rank / (n - 1)`` where rank 0 is the least
anomalous (tied raw scores share their mean rank: identical galaxies are equally anomalous). It is robust to a few extreme raw values (one huge
outlier cannot squash the rest into 0) and gives every detector the same 0-5 distribution, so the
"combined" ranking can swap detectors without retuning. The raw value is kept in ``raw``.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunks import for_each_chunk
from .constants import DETECTORS, MAX_SCORE
from .errors import did_you_mean

__all__ = [
    "AnomalyScores",
    "IsolationForestDetector",
    "KNNDetector",
    "LOFDetector",
    "compute_scores",
    "make_detector",
    "rank_scale",
    "tree_depth_features",
]

#: Version of the scoring code; part of the cache key so old caches are ignored after changes.
_SCORES_VERSION = 2  # 2: tied raw scores share their mean rank in the 0-5 scale
_PREPROCESS = ("standardise", "pca", None)
_DEFAULT_CHUNK = 65_536
_MAX_FIT_SAMPLES = 200_000


# --------------------------------------------------------------------------------------------
# parameter checks
# --------------------------------------------------------------------------------------------
def _check_int(owner: str, name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The {name!r} parameter of {owner} must be an int in [{low}, inf). "
                         f"Got {value!r} instead.")
    return int(value)


def _check_X(owner: str, X, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{owner} expects a 2-D array of shape (n_samples, n_features); "
                         f"got shape {X.shape}.")
    if X.shape[0] == 0:
        raise ValueError(f"{owner} got an empty array (0 samples).")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but {owner} was fitted on {n_features}.")
    X = np.ascontiguousarray(X, dtype=np.float32)
    check_finite_rows(owner, X)
    return X


def check_finite_rows(owner: str, X, chunk_size: int = 65_536) -> None:
    """ValueError naming the first row of ``X`` (n, d) holding NaN or inf, read in chunks."""
    bad = [start + np.flatnonzero(~np.isfinite(X[start:start + chunk_size]).all(axis=1))
           for start in range(0, X.shape[0], chunk_size)]
    bad = np.concatenate(bad) if bad else np.zeros(0, np.int64)
    if bad.size:
        raise ValueError(f"{owner}: {bad.size} rows of X hold NaN or inf (first: row {bad[0]}).")


def _faiss():
    import faiss

    return faiss


def _faiss_threads() -> int:
    """faiss OpenMP threads for scoring: ``ASTROEXPLORE_FAISS_THREADS``, default 1.

    Measured on the shared 2-core machines: a 65,536 x 10,000 search took 2.4 s with one thread
    and 5.9 s with two (OpenMP threads spin against the other processes' threads).
    """
    return max(1, int(os.environ.get("ASTROEXPLORE_FAISS_THREADS", "1")))


class _ReferenceSearch:
    """A faiss flat index over the reference set, reused for every chunk."""

    def __init__(self, reference: np.ndarray):
        faiss = _faiss()
        self.index = faiss.IndexFlatL2(reference.shape[1])
        self.index.add(reference)

    def search(self, queries: np.ndarray, k: int):
        faiss = _faiss()
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(_faiss_threads())
        try:
            d2, idx = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        finally:
            faiss.omp_set_num_threads(before)
        np.maximum(d2, 0, out=d2)
        return np.sqrt(d2, out=d2), idx


def _drop_self(dist: np.ndarray, idx: np.ndarray, self_rows: np.ndarray, k: int):
    """Remove each query's own entry (reference row ``self_rows[i]``) from k+1 neighbours.

    If the row is not among the returned neighbours (exact ties at distance 0), the farthest
    neighbour is dropped instead, so an exact duplicate still counts as a neighbour at distance 0.
    """
    is_self = idx == self_rows[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    # keep the first occurrence only
    first = np.argmax(is_self, axis=1)
    keep = np.ones_like(is_self)
    keep[np.arange(len(first)), first] = False
    return dist[keep].reshape(-1, k), idx[keep].reshape(-1, k)


# --------------------------------------------------------------------------------------------
# detectors
# --------------------------------------------------------------------------------------------
class _Detector:
    """Shared bits: ``fit`` on a (sub)sample, ``score_samples`` in chunks; higher = more anomalous."""

    _name = "detector"

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in self._param_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self):
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(f"This {type(self).__name__} is not fitted yet; call fit(X) first.")

    def score_samples(self, X) -> np.ndarray:
        """Anomaly score of each row of ``X`` (higher = more anomalous).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to score, treated as *new* points (a fitted point scores its own distance 0
            as a neighbour; use ``train_scores_`` for the fitted points' leave-one-out scores).

        Returns
        -------
        ndarray of shape (n_samples,), float32
        """
        self._check_fitted()
        X = _check_X(type(self).__name__, X, self.n_features_in_)
        out = np.empty(X.shape[0], dtype=np.float32)
        for start in range(0, X.shape[0], _DEFAULT_CHUNK):
            out[start:start + _DEFAULT_CHUNK] = self._score(X[start:start + _DEFAULT_CHUNK])
        return out


class IsolationForestDetector(_Detector):
    """Isolation forest (Liu et al. 2008) via scikit-learn; higher score = more anomalous.

    Parameters
    ----------
    n_estimators : int, default 100
        Number of trees.
    max_samples : int, default 256
        Points drawn to grow each tree (scikit-learn's ``max_samples``; capped at n_samples).
    random_state : int, default 0
        Seed; the same seed gives the same scores.
    n_jobs : int or None, default None
        Parallel jobs for fitting and scoring (scikit-learn's meaning).

    Attributes
    ----------
    forest_ : sklearn.ensemble.IsolationForest
    n_features_in_ : int
    train_scores_ : None
        Isolation forest scores of fitted points need no leave-one-out correction.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 3)).astype("float32")
    >>> X[0] = 8.0                                # a planted outlier
    >>> det = IsolationForestDetector(n_estimators=50).fit(X)
    >>> int(np.argmax(det.score_samples(X)))
    0
    """

    _name = "isolation_forest"
    _param_names = ("n_estimators", "max_samples", "random_state", "n_jobs")

    def __init__(self, *, n_estimators: int = 100, max_samples: int = 256, random_state: int = 0,
                 n_jobs: int | None = None):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None) -> "IsolationForestDetector":
        """Grow the forest on ``X`` of shape (n_samples, n_features); returns ``self``."""
        from sklearn.ensemble import IsolationForest

        name = type(self).__name__
        _check_int(name, "n_estimators", self.n_estimators, 1)
        _check_int(name, "max_samples", self.max_samples, 2)
        X = _check_X(name, X)
        self.forest_ = IsolationForest(n_estimators=self.n_estimators,
                                       max_samples=min(self.max_samples, X.shape[0]),
                                       random_state=self.random_state, n_jobs=self.n_jobs).fit(X)
        self.n_features_in_ = X.shape[1]
        self.train_scores_ = None
        return self

    def _score(self, X: np.ndarray) -> np.ndarray:
        return (-self.forest_.score_samples(X)).astype(np.float32)


class KNNDetector(_Detector):
    """Distance to the nearest reference points (exact faiss search); higher = more anomalous.

    Parameters
    ----------
    n_neighbors : int, default 10
        Neighbours used (k).
    aggregate : {"mean", "kth"}, default "mean"
        Score = mean Euclidean distance to the k nearest, or the distance to the k-th.
    max_samples : int, default 10_000
        Reference set size: ``fit`` keeps a random subsample of this many rows (all rows if fewer).
    random_state : int, default 0
        Seed for the subsample.

    Attributes
    ----------
    reference_ : ndarray of shape (n_reference, n_features), float32
    reference_indices_ : ndarray of shape (n_reference,), int64
        Rows of the fitted ``X`` kept as references.
    train_scores_ : ndarray of shape (n_reference,), float32
        Leave-one-out scores of the reference rows (own distance dropped).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 4)).astype("float32")
    >>> X[7] += 10
    >>> det = KNNDetector(n_neighbors=5).fit(X)
    >>> int(np.argmax(det.train_scores_))
    7
    """

    _name = "knn"
    _param_names = ("n_neighbors", "aggregate", "max_samples", "random_state")

    def __init__(self, *, n_neighbors: int = 10, aggregate: str = "mean", max_samples: int = 10_000,
                 random_state: int = 0):
        self.n_neighbors = n_neighbors
        self.aggregate = aggregate
        self.max_samples = max_samples
        self.random_state = random_state

    def _check_params(self, n: int) -> int:
        name = type(self).__name__
        k = _check_int(name, "n_neighbors", self.n_neighbors, 1)
        _check_int(name, "max_samples", self.max_samples, 2)
        if "aggregate" in self._param_names and self.aggregate not in ("mean", "kth"):
            raise ValueError(f"The 'aggregate' parameter of {name} must be 'mean' or 'kth'. "
                             f"Got {self.aggregate!r} instead.{did_you_mean(str(self.aggregate), ['mean', 'kth'])}")
        n_ref = min(n, self.max_samples)
        if k >= n_ref:
            raise ValueError(f"The 'n_neighbors' parameter of {name} must be smaller than the number "
                             f"of reference points ({n_ref}). Got {k} instead.")
        return k

    def _subsample(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        if n <= self.max_samples:
            return np.arange(n, dtype=np.int64)
        rng = np.random.default_rng(self.random_state)
        return np.sort(rng.choice(n, size=self.max_samples, replace=False)).astype(np.int64)

    def fit(self, X, y=None) -> "KNNDetector":
        """Keep a reference subsample of ``X`` (n_samples, n_features); returns ``self``."""
        d, _ = self._fit_reference(X)
        self.train_scores_ = self._aggregate(d)
        return self

    def _fit_reference(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Validate, keep the reference subsample, index it; its leave-one-out k neighbours (d, i)."""
        X = _check_X(type(self).__name__, X)
        k = self._check_params(X.shape[0])
        self.reference_indices_ = self._subsample(X)
        self.reference_ = np.ascontiguousarray(X[self.reference_indices_])
        self.n_features_in_ = X.shape[1]
        self._search = _ReferenceSearch(self.reference_)
        return self._neighbours_loo(self.reference_, np.arange(len(self.reference_)), k)

    def _neighbours_loo(self, Xq, self_rows, k):
        out_d = np.empty((len(Xq), k), dtype=np.float32)
        out_i = np.empty((len(Xq), k), dtype=np.int64)
        for s in range(0, len(Xq), _DEFAULT_CHUNK):
            d, i = self._search.search(Xq[s:s + _DEFAULT_CHUNK], k + 1)
            out_d[s:s + _DEFAULT_CHUNK], out_i[s:s + _DEFAULT_CHUNK] = _drop_self(
                d, i, self_rows[s:s + _DEFAULT_CHUNK], k)
        return out_d, out_i

    def _aggregate(self, d: np.ndarray) -> np.ndarray:
        return (d.mean(axis=1) if self.aggregate == "mean" else d[:, -1]).astype(np.float32)

    def _score(self, X: np.ndarray) -> np.ndarray:
        d, _ = self._search.search(X, self.n_neighbors)
        return self._aggregate(d)


class LOFDetector(KNNDetector):
    """Local outlier factor (Breunig et al. 2000) against a reference subsample; higher = more anomalous.

    The score is scikit-learn's ``-LocalOutlierFactor(novelty=True).score_samples``, i.e. the LOF
    itself (~1 for inliers, larger for outliers), with neighbours found by exact faiss search.
    Reference rows (``train_scores_``) are scored leave-one-out, like scikit-learn's
    ``-negative_outlier_factor_``.

    Parameters
    ----------
    n_neighbors : int, default 20
    max_samples : int, default 10_000
        Reference set size (random subsample of the fitted rows).
    random_state : int, default 0

    Attributes
    ----------
    reference_, reference_indices_, train_scores_, n_features_in_ : as :class:`KNNDetector`
    k_distance_ : ndarray of shape (n_reference,), float32
        Distance of each reference point to its k-th neighbour.
    lrd_ : ndarray of shape (n_reference,), float64
        Local reachability density of each reference point.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(1).normal(size=(300, 4)).astype("float32")
    >>> X[3] += 6
    >>> det = LOFDetector(n_neighbors=10).fit(X)
    >>> int(np.argmax(det.train_scores_))
    3
    """

    _name = "lof"
    _param_names = ("n_neighbors", "max_samples", "random_state")

    def __init__(self, *, n_neighbors: int = 20, max_samples: int = 10_000, random_state: int = 0):
        self.n_neighbors = n_neighbors
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X, y=None) -> "LOFDetector":
        """Fit the reference subsample of ``X`` (n_samples, n_features); returns ``self``."""
        d, i = self._fit_reference(X)
        self.k_distance_ = d[:, -1].copy()
        self.lrd_ = self._lrd(d, i)
        self.train_scores_ = (self.lrd_[i].mean(axis=1) / self.lrd_).astype(np.float32)
        return self

    def _lrd(self, d: np.ndarray, i: np.ndarray) -> np.ndarray:
        reach = np.maximum(d, self.k_distance_[i]).astype(np.float64)
        return 1.0 / (reach.mean(axis=1) + 1e-10)  # same regulariser as scikit-learn

    def _score(self, X: np.ndarray) -> np.ndarray:
        d, i = self._search.search(X, self.n_neighbors)
        return (self.lrd_[i].mean(axis=1) / self._lrd(d, i)).astype(np.float32)


_DETECTOR_CLASSES = {"isolation_forest": IsolationForestDetector, "lof": LOFDetector, "knn": KNNDetector}


def _check_method(method) -> str:
    name = str(method.value if hasattr(method, "value") else method)
    names = [str(d) for d in DETECTORS]
    if name not in names:
        raise ValueError(f"Unknown anomaly detector {name!r}; choose one of {names}."
                         f"{did_you_mean(name, names)}")
    return name


def make_detector(method: str = "isolation_forest", *, seed: int = 0, **params) -> _Detector:
    """Build the detector called ``method`` ("isolation_forest", "lof", "knn") with ``params``.

    >>> make_detector("knn", n_neighbors=5)
    KNNDetector(n_neighbors=5, aggregate='mean', max_samples=10000, random_state=0)
    """
    return _DETECTOR_CLASSES[_check_method(method)](random_state=seed, **params)


# --------------------------------------------------------------------------------------------
# preprocessing and compute_scores
# --------------------------------------------------------------------------------------------
def _column_stats(X: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each column, accumulated in float64 over chunks (no (n, d) copy)."""
    n, d = X.shape
    s = np.zeros(d)
    s2 = np.zeros(d)
    for start in range(0, n, chunk):
        c = X[start:start + chunk].astype(np.float64)
        s += c.sum(axis=0)
        s2 += np.square(c).sum(axis=0)
    mean = s / n
    var = np.maximum(s2 / n - mean**2, 0.0)
    std = np.sqrt(var)
    std[std < 1e-12] = 1.0
    return mean, std


class _Preprocessor:
    """Chunk-wise standardisation and optional PCA (fitted on a subsample)."""

    def __init__(self, kind, X: np.ndarray, fit_rows: np.ndarray, chunk: int, seed: int):
        self.kind = kind
        self.mean = self.scale = self.components = None
        if kind is None:
            return
        mean, std = _column_stats(X, chunk)
        self.mean, self.scale = mean.astype(np.float32), (1.0 / std).astype(np.float32)
        if kind == "pca":
            from sklearn.decomposition import PCA

            sample = self._standardise(np.asarray(X[fit_rows], dtype=np.float32))
            pca = PCA(n_components=0.95, svd_solver="full", random_state=seed).fit(sample)
            self.components = np.ascontiguousarray(pca.components_.T, dtype=np.float32)
            self.pca_mean = pca.mean_.astype(np.float32)

    def _standardise(self, c: np.ndarray) -> np.ndarray:
        return (c - self.mean) * self.scale

    def __call__(self, c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=np.float32)
        if self.kind is None:
            return np.ascontiguousarray(c)
        c = self._standardise(c)
        if self.components is not None:
            c = (c - self.pca_mean) @ self.components
        return np.ascontiguousarray(c, dtype=np.float32)


@dataclass
class AnomalyScores:
    """Anomaly scores of every galaxy in a catalogue (higher = more anomalous).

    Attributes
    ----------
    method : str
        Detector name ("isolation_forest", "lof", "knn").
    raw : ndarray of shape (n_galaxies,), float32
        The detector's own score (isolation forest: negated scikit-learn ``score_samples``;
        LOF: the outlier factor; kNN: mean distance in preprocessed units).
    scaled : ndarray of shape (n_galaxies,), float32
        Rank-based 0-5 (5 = most anomalous), see :func:`rank_scale`.
    params : dict
        Everything that determined the scores (seed, preprocess, detector parameters).
    """

    method: str
    raw: np.ndarray
    scaled: np.ndarray
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.raw)


def rank_scale(raw: np.ndarray) -> np.ndarray:
    """Map scores to 0-5 by rank: ``5 * rank / (n - 1)``; tied scores share their mean rank
    (identical galaxies are equally anomalous); float32.

    >>> rank_scale(np.array([0.1, 10.0, 0.5])).tolist()
    [0.0, 5.0, 2.5]
    >>> rank_scale(np.ones(5)).tolist()
    [2.5, 2.5, 2.5, 2.5, 2.5]
    """
    raw = np.asarray(raw)
    n = raw.shape[0]
    out = np.empty(n, dtype=np.float32)
    if n == 0:
        return out
    if n == 1:
        out[:] = MAX_SCORE
        return out
    from scipy.stats import rankdata

    out[:] = (rankdata(raw, method="average") - 1.0) * (MAX_SCORE / (n - 1))
    return out


def _cache_path(cat, method: str, params: dict, *, prefix: str = "scores_") -> Path | None:
    """``<cache_dir>/<prefix><method>_<hash of params>_<fingerprint>.npy``; None without a cache."""
    try:
        cache_dir = Path(cat.cache_dir)
        fingerprint = str(cat.fingerprint)
    except Exception:  # noqa: BLE001 - an in-memory stand-in without a cache
        return None
    key = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return cache_dir / f"{prefix}{method}_{key}_{fingerprint}.npy"


def _scores_request(catalogue, method, seed, preprocess, cache, params, max_fit_samples):
    """(method, X, n, unfitted detector, full parameters, cache path or None) of a request."""
    method = _check_method(method)
    if preprocess not in _PREPROCESS:
        raise ValueError(f"Unknown preprocess {preprocess!r}; choose one of {list(_PREPROCESS)}."
                         f"{did_you_mean(str(preprocess), ['standardise', 'pca'])}")
    X = catalogue if isinstance(catalogue, np.ndarray) else catalogue.embeddings
    n = X.shape[0] if getattr(X, "ndim", 0) == 2 else 0
    if n == 0:
        raise ValueError("Cannot compute anomaly scores: the catalogue has no galaxies.")
    params = dict(params or {})
    detector = make_detector(method, seed=seed, **params)
    _fit_neighbours_to(detector, min(n, max_fit_samples), explicit="n_neighbors" in params)
    full = {"version": _SCORES_VERSION, "method": method, "seed": seed, "preprocess": preprocess,
            "max_fit_samples": max_fit_samples, "n": int(n), **detector.get_params()}
    path = None if (not cache or isinstance(catalogue, np.ndarray)) else _cache_path(catalogue, method, full)
    return method, X, n, detector, full, path


def cached_scores(catalogue, method: str = "isolation_forest", *, seed: int = 0,
                  preprocess: str | None = "standardise", params: dict | None = None,
                  max_fit_samples: int = _MAX_FIT_SAMPLES) -> AnomalyScores | None:
    """What :func:`compute_scores` with the same arguments would return, if it is in the disk
    cache (milliseconds); None if it would have to be computed."""
    method, _, n, _, full, path = _scores_request(catalogue, method, seed, preprocess, True,
                                                  params, max_fit_samples)
    arr = load_cached_array(path, (2, n))
    return None if arr is None else AnomalyScores(method, arr[0].copy(), arr[1].copy(), full)


def compute_scores(catalogue, method: str = "isolation_forest", *, seed: int = 0,
                   preprocess: str | None = "standardise", cache: bool = True,
                   params: dict | None = None, max_fit_samples: int = _MAX_FIT_SAMPLES,
                   chunk_size: int = _DEFAULT_CHUNK,
                   progress: Callable[[float], None] | None = None) -> AnomalyScores:
    """Anomaly score of every galaxy in ``catalogue`` (higher = more anomalous).

    The detector is fitted on a random subsample of at most ``max_fit_samples`` rows (isolation
    forest) or its own ``max_samples`` reference rows (LOF, kNN), then every row is scored in chunks
    of ``chunk_size``. Rows in a neighbour detector's reference set get leave-one-out scores.

    Parameters
    ----------
    catalogue : Catalogue or ndarray of shape (n_galaxies, n_features)
        Uses ``catalogue.embeddings`` (float32); a bare array is scored without caching.
    method : {"isolation_forest", "lof", "knn"}
    seed : int, default 0
        Same seed, same scores.
    preprocess : {"standardise", "pca", None}, default "standardise"
        Per-feature standardisation (mean/std over all rows); "pca" also keeps the principal
        components explaining 95% of the standardised variance (PCA fitted on the subsample).
    cache : bool, default True
        Read/write ``catalogue.cache_dir / f"scores_{method}_{params-hash}_{fingerprint}.npy"``
        (raw and scaled, shape (2, n) float32), so an app start-up does not recompute.
    params : dict, optional
        Detector constructor parameters (e.g. ``{"n_neighbors": 20}``).
    max_fit_samples : int, default 200_000
    chunk_size : int, default 65_536
    progress : callable(float), optional
        Called with the fraction done (0-1) after each chunk.

    Returns
    -------
    AnomalyScores

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(500, 5)).astype("float32")
    >>> X[42] += 9
    >>> s = compute_scores(X, "knn", params={"n_neighbors": 5})
    >>> int(np.argmax(s.raw)), float(s.scaled[42])
    (42, 5.0)
    """
    method, X, n, detector, full, path = _scores_request(catalogue, method, seed, preprocess, cache,
                                                         params, max_fit_samples)
    arr = load_cached_array(path, (2, n))  # unreadable or stale: recompute and overwrite
    if arr is not None:
        return AnomalyScores(method, arr[0].copy(), arr[1].copy(), full)

    # every input, before any preprocessing spreads one bad value over a whole column (a
    # Catalogue built without load_catalogue/from_arrays was never checked); small next to scoring
    check_finite_rows("compute_scores", X, chunk_size)
    fit_rows = fit_subsample(n, max_fit_samples, seed)
    prep = _Preprocessor(preprocess, X, fit_rows, chunk_size, seed)
    fit_X = prep(X[fit_rows])
    _check_X(type(detector).__name__, fit_X)
    detector.fit(fit_X)
    raw = np.empty(n, dtype=np.float32)

    def score(start: int, stop: int) -> None:
        raw[start:stop] = detector._score(prep(X[start:stop]))

    # the forest's trees release the GIL: chunks in parallel threads; faiss (LOF, kNN) already
    # uses every core
    threads = None if isinstance(detector, IsolationForestDetector) else 1
    for_each_chunk(score, n, chunk_size, threads=threads, progress=progress)
    train = getattr(detector, "train_scores_", None)
    if train is not None:  # leave-one-out scores for the neighbour detectors' reference rows
        raw[fit_rows[detector.reference_indices_]] = train
    scaled = rank_scale(raw)
    save_cached_array(path, np.stack([raw, scaled]))  # read-only folder: still returned
    return AnomalyScores(method, raw, scaled, full)


# --------------------------------------------------------------------------------------------
# per-galaxy features for the interest head
# --------------------------------------------------------------------------------------------
def tree_depth_features(catalogue, *, n_trees: int = 32, max_samples: int = 256, seed: int = 0,
                        cache: bool = True, max_fit_samples: int = _MAX_FIT_SAMPLES,
                        chunk_size: int = _DEFAULT_CHUNK) -> np.ndarray:
    """Per-tree isolation depth of every galaxy (AAD's representation), shape (n, n_trees) float32.

    An isolation forest of ``n_trees`` trees (``max_samples`` points each, seeded by ``seed``) is
    grown on the standardised embeddings (a subsample of at most ``max_fit_samples`` rows);
    column ``t`` is ``-depth_t / c(max_samples)``, the negated normalised path length of the
    galaxy in tree ``t`` (higher = isolated sooner = more anomalous; the mean over columns is the
    isolation-forest score up to a monotone map). A linear model over these columns is what
    AADForest (Das et al. 2017) re-weights from the labels; the
    :class:`~astroexplore.explorer.Explorer` gives them to the interest head as extra inputs, so it
    can learn *which* trees isolate the galaxies this user finds interesting.

    Cost (measured on the shared 2-core machine, 1M x 40, 32 trees): 5.2 s, computed once per
    catalogue and cached beside it like the anomaly scores (``tree_depth_<hash>_<fingerprint>.npy``,
    n x n_trees float32: 128 MB for 1M galaxies at 32 trees).

    Parameters
    ----------
    catalogue : Catalogue or ndarray of shape (n_galaxies, n_features)
        A bare array is never cached.
    n_trees : int, default 32
    max_samples : int, default 256
    seed : int, default 0
    cache : bool, default True
    max_fit_samples : int, default 200_000
    chunk_size : int, default 65_536

    Returns
    -------
    ndarray of shape (n_galaxies, n_trees), float32

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(300, 3)).astype("float32")
    >>> X[5] = 9.0
    >>> F = tree_depth_features(X, n_trees=8)
    >>> F.shape, int(np.argmax(F.mean(axis=1)))
    ((300, 8), 5)
    """
    from sklearn.ensemble import IsolationForest
    from sklearn.ensemble._iforest import _average_path_length

    _check_int("tree_depth_features", "n_trees", n_trees, 1)
    _check_int("tree_depth_features", "max_samples", max_samples, 2)
    X = catalogue if isinstance(catalogue, np.ndarray) else catalogue.embeddings
    n = X.shape[0] if getattr(X, "ndim", 0) == 2 else 0
    if n == 0:
        raise ValueError("Cannot compute tree features: the catalogue has no galaxies.")
    full = {"version": _SCORES_VERSION, "kind": "tree_depth", "seed": seed, "n_trees": n_trees,
            "max_samples": max_samples, "max_fit_samples": max_fit_samples, "n": int(n)}
    path = None
    if cache and not isinstance(catalogue, np.ndarray):
        path = _cache_path(catalogue, "tree_depth", full, prefix="")
    arr = load_cached_array(path, (n, n_trees))
    if arr is not None:
        return arr.astype(np.float32, copy=False)
    fit_rows = fit_subsample(n, max_fit_samples, seed)
    prep = _Preprocessor("standardise", X, fit_rows, chunk_size, seed)
    ms = min(max_samples, n)
    forest = IsolationForest(n_estimators=n_trees, max_samples=ms, random_state=seed).fit(
        prep(X[fit_rows]))
    norm = float(_average_path_length([ms])[0]) or 1.0
    out = np.empty((n, n_trees), dtype=np.float32)

    def depths(start: int, stop: int) -> None:
        c = prep(X[start:stop])
        for t, (tree, feats) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
            leaves = tree.apply(c[:, feats], check_input=False)
            out[start:stop, t] = -(forest._decision_path_lengths[t][leaves]
                                   + forest._average_path_length_per_tree[t][leaves] - 1.0) / norm

    for_each_chunk(depths, n, chunk_size)
    save_cached_array(path, out)
    return out


def _fit_neighbours_to(detector, n_fit: int, *, explicit: bool) -> None:
    """Lower a neighbour detector's *default* ``n_neighbors`` to half its ``n_fit`` reference rows
    where the default is not below them (a 5-galaxy catalogue gets 2 neighbours: with every other
    galaxy as a neighbour, LOF scores all alike); an explicit value is left for the detector to
    validate. Fewer than 2 galaxies have no neighbours: a ValueError says so."""
    k = getattr(detector, "n_neighbors", None)
    n_ref = min(n_fit, getattr(detector, "max_samples", n_fit))
    if k is None or explicit or k < n_ref:
        return
    if n_ref < 2:
        raise ValueError(f"{type(detector).__name__} needs at least 2 galaxies to find neighbours "
                         f"(got {n_ref}); use the 'isolation_forest' method.")
    detector.n_neighbors = max(1, n_ref // 2)


def fit_subsample(n: int, max_fit_samples: int, seed: int) -> np.ndarray:
    """Rows a model is fitted on: all ``n``, or a seeded sorted sample of ``max_fit_samples``."""
    if n <= max_fit_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_fit_samples, replace=False))


def load_cached_array(path: Path | None, shape: tuple, dtype=None, *, mmap: bool = False):
    """The array cached at ``path`` if it exists, is readable and has ``shape`` (and ``dtype``);
    else None (the caller recomputes and overwrites)."""
    if path is None or not path.exists():
        return None
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None)
    except (OSError, ValueError):
        return None
    if arr.shape != tuple(shape) or (dtype is not None and arr.dtype != np.dtype(dtype)):
        return None
    return arr


def save_cached_array(path: Path | None, arr: np.ndarray) -> None:
    """Write ``arr`` to ``path`` atomically (temporary file + rename); a read-only folder is
    not an error (the result is still returned to the caller, only not cached)."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
    except OSError:
        pass
