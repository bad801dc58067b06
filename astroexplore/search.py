"""Similarity search over galaxy embeddings (faiss), by galaxy, by sky position, by URL or by tag.

- :class:`SimilarityIndex`: exact ``IndexFlatL2`` below ``exact_below`` rows (2 million by
  default), ``IndexHNSWFlat`` above; optional L2-normalisation (cosine similarity); masks
  (e.g. a morphology filter) and exclusions. :meth:`SimilarityIndex.for_catalogue` builds one
  index per catalogue and keeps HNSW indexes in ``catalogue.cache_dir`` (minutes to build).
- :func:`search_by_index`, :func:`search_by_coords`, :func:`search_by_ids` return a
  :class:`SearchResult` whose :meth:`~SearchResult.to_frame` is ready for a CSV download.
- :func:`parse_legacy_survey_url` reads RA/Dec from a Legacy Survey viewer link;
  :func:`drop_same_object` removes repeated detections of one object.

Distances are Euclidean (``sqrt`` of faiss' squared L2) in embedding units; with
``normalise=True`` they are chord distances on the unit sphere, ``sqrt(2 - 2 cos)``.
Nothing here imports Panel.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import faiss
import numpy as np
import pandas as pd

from astroexplore.errors import CatalogueError, check_count, did_you_mean

__all__ = [
    "SimilarityIndex",
    "SearchResult",
    "search_by_index",
    "search_by_coords",
    "search_by_ids",
    "nearest_galaxy",
    "nearest_galaxies",
    "parse_legacy_survey_url",
    "parse_position",
    "drop_same_object",
    "WARN_SEPARATION_ARCSEC",
]

#: search_by_coords warns when the nearest catalogue galaxy is further than this (arcsec).
WARN_SEPARATION_ARCSEC = 20.0
#: A position whose nearest catalogue galaxy is further than this (degrees) is outside the survey:
#: the app neither searches from nor opens a galaxy that far away (the core only warns).
OUTSIDE_SURVEY_DEG = 5.0
#: Results closer than this to the query or to an earlier result are the same object (arcsec).
SAME_OBJECT_ARCSEC = 3.0

@contextlib.contextmanager
def _faiss_threads(n_queries: int):
    """One OpenMP thread for a single query (5 ms instead of 30-40 ms on 1M x 40: thread start-up
    costs more than the scan), the current setting for batches; restored afterwards."""
    previous = max(1, faiss.omp_get_max_threads())
    if n_queries <= 1:
        faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        if n_queries <= 1:
            faiss.omp_set_num_threads(previous)


def _as_float32_2d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


class SimilarityIndex:
    """Nearest-neighbour index over embeddings.

    Parameters
    ----------
    embeddings : array-like of shape (n_galaxies, n_features)
        Converted to float32; must be finite.
    normalise : bool, default False
        L2-normalise rows (and queries) first, so that the ranking is by cosine similarity.
    exact_below : int, default 2_000_000
        Use an exact ``IndexFlatL2`` when ``n_galaxies < exact_below``, else ``IndexHNSWFlat``.
    seed : int, default 0
        Kept for reproducibility records (HNSW construction in faiss uses its own fixed seed; it
        is deterministic when built with one thread).
    hnsw_m, ef_construction, ef_search : int
        HNSW graph degree and beam widths (``ef_search`` grows with ``k`` at query time). Recall
        of the 10 nearest, queries from the catalogue, 200,000 x 40 isotropic Gaussian (hard:
        no low-dimensional structure), ``ef_search`` 64 / 128 / 256 / 512: 0.869 / 0.942 /
        0.976 / 0.992 at 0.23 / 0.34 / 0.69 / 1.34 ms per query (2-core CPU); many exactly
        repeated vectors lower it further. Default 256.

    Attributes
    ----------
    n_galaxies, n_features : int
    exact : bool
        True for the flat (exact) index.

    Examples
    --------
    >>> X = np.array([[0, 0], [1, 0], [0, 3], [5, 5]], dtype=np.float32)
    >>> index = SimilarityIndex(X)
    >>> idx, dist = index.query(X[0], k=2)
    >>> idx, dist
    (array([[0, 1]]), array([[0., 1.]], dtype=float32))
    >>> index.query(X[0], k=2, exclude=[0])[0]
    array([[1, 2]])
    >>> index.query(X[0], k=2, mask=np.array([False, False, True, True]))[0]
    array([[2, 3]])
    """

    #: Masks allowing fewer rows than this are searched exactly over the masked subset.
    subset_below: int = 20_000
    #: Largest over-fetch (neighbours per query) before falling back to the exact subset search.
    max_fetch: int = 4096

    def __init__(self, embeddings: Any, *, normalise: bool = False, exact_below: int = 2_000_000,
                 seed: int = 0, hnsw_m: int = 32, ef_construction: int = 64, ef_search: int = 256):
        x = _as_float32_2d(embeddings, "embeddings")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"embeddings must have at least one row and one column, got {x.shape}")
        if not np.isfinite(x).all():
            bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
            raise ValueError(f"embeddings hold NaN/inf in {bad.size} rows (first: row {bad[0]})")
        self.normalise = bool(normalise)
        self.exact_below = int(exact_below)
        self.seed = int(seed)
        self.ef_search = int(ef_search)
        if self.normalise:
            x = _l2_normalise(x)
        self.n_galaxies, self.n_features = x.shape
        self.exact = self.n_galaxies < self.exact_below
        if self.exact:
            index = faiss.IndexFlatL2(self.n_features)
        else:
            index = faiss.IndexHNSWFlat(self.n_features, int(hnsw_m))
            index.hnsw.efConstruction = int(ef_construction)
        index.add(x)
        self._attach(index)

    def _attach(self, index: Any) -> None:
        self._index = index
        storage = index if self.exact else faiss.downcast_index(index.storage)
        # zero-copy view of the vectors faiss holds (kept alive by self._index)
        self._xb = faiss.rev_swig_ptr(storage.get_xb(), index.ntotal * index.d).reshape(
            index.ntotal, index.d)

    def __repr__(self) -> str:
        kind = "exact" if self.exact else "HNSW"
        return (f"SimilarityIndex({self.n_galaxies} x {self.n_features}, {kind}, "
                f"normalise={self.normalise})")

    # --------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` (faiss format) and its options to ``path + ".json"``.

        Worth it for HNSW: building one over millions of rows takes minutes.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        tmp.replace(path)
        meta = {"normalise": self.normalise, "exact_below": self.exact_below, "seed": self.seed,
                "ef_search": self.ef_search, "exact": self.exact}
        Path(str(path) + ".json").write_text(json.dumps(meta))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SimilarityIndex:
        """Read an index written by :meth:`save`."""
        path = Path(path)
        meta = json.loads(Path(str(path) + ".json").read_text())
        index = faiss.read_index(str(path))
        self = cls.__new__(cls)
        self.normalise = bool(meta["normalise"])
        self.exact_below = int(meta["exact_below"])
        self.seed = int(meta["seed"])
        self.ef_search = int(meta["ef_search"])
        self.exact = bool(meta["exact"])
        self.n_galaxies, self.n_features = int(index.ntotal), int(index.d)
        self._attach(index)  # read_index returns the concrete class; keep this owning proxy
        return self

    @classmethod
    def for_catalogue(cls, catalogue: Any, *, persist: bool = True,
                      **kwargs: Any) -> SimilarityIndex:
        """An index over ``catalogue.embeddings``, built once per catalogue and options.

        Parameters
        ----------
        catalogue : Catalogue
        persist : bool, default True
            HNSW indexes (catalogues of ``exact_below`` rows or more) are also saved in
            ``catalogue.cache_dir`` (keyed by ``catalogue.fingerprint``) and loaded from there
            next time; exact indexes are cheap to rebuild and are not saved.
        **kwargs
            Options of :class:`SimilarityIndex`.
        """
        key = ("similarity_index", tuple(sorted(kwargs.items())))
        cached = _cache_get(catalogue, key)
        if cached is not None:
            return cached
        path = None
        n = int(np.shape(catalogue.embeddings)[0])
        exact_below = int(kwargs.get("exact_below", 2_000_000))
        if persist and n >= exact_below and getattr(catalogue, "cache_dir", None) is not None:
            options = hashlib.sha1(repr(key[1]).encode()).hexdigest()[:8]
            fp = re.sub(r"[^A-Za-z0-9_.-]", "_", str(catalogue.fingerprint))[:64]
            path = Path(catalogue.cache_dir) / f"similarity_hnsw_{fp}_{options}.faiss"
            if path.is_file():
                try:
                    cached = cls.load(path)
                except (OSError, RuntimeError, ValueError, KeyError):
                    cached = None  # damaged: rebuilt below
                if cached is not None and cached.n_galaxies != n:
                    cached = None
        if cached is None:
            cached = cls(catalogue.embeddings, **kwargs)
            if path is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    cached.save(path)
        _cache_put(catalogue, key, cached)
        return cached

    @property
    def vectors(self) -> np.ndarray:
        """The indexed vectors (normalised when ``normalise``), shape (n_galaxies, n_features),
        float32, read-only view."""
        v = self._xb.view()
        v.flags.writeable = False
        return v

    # --------------------------------------------------------------------------- searching
    def _prepare(self, vectors: Any) -> np.ndarray:
        q = np.asarray(vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.n_features:
            raise ValueError(f"query vectors have shape {np.shape(vectors)}, but the index holds "
                             f"{self.n_features} features")
        if not np.isfinite(q).all():
            raise ValueError("query vectors hold NaN or inf")
        return _l2_normalise(q) if self.normalise else np.ascontiguousarray(q)

    def _raw_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = int(min(k, self.n_galaxies))
        if self.exact:
            d2, idx = self._index.search(q, k)
        else:
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
            d2, idx = self._index.search(q, k, params=params)
        return idx.astype(np.int64, copy=False), d2

    def query(self, vectors: Any, k: int = 10, *, mask: Any = None,
              exclude: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed rows to each query vector.

        Parameters
        ----------
        vectors : array-like of shape (n_queries, n_features) or (n_features,)
            Query embeddings (normalised here when the index is).
        k : int, default 10
            Neighbours per query.
        mask : array-like of bool, shape (n_galaxies,), optional
            Rows allowed in the results (e.g. a morphology filter). The search over-fetches
            ``k`` times a growing factor and filters; rows still short of ``k`` results, and
            small masks, are searched exactly over the masked subset.
        exclude : iterable of int, optional
            Row indices never returned (e.g. the query galaxy itself).

        Returns
        -------
        indices : ndarray of shape (n_queries, k), int64
            Row indices, nearest first; -1 pads rows with fewer than ``k`` allowed galaxies.
        distances : ndarray of shape (n_queries, k), float32
            Euclidean distances (``inf`` for padding).
        """
        k = check_count("k", k)
        q = self._prepare(vectors)
        allowed = None
        if mask is not None:
            allowed = np.asarray(mask, dtype=bool).reshape(-1)
            if allowed.size != self.n_galaxies:
                raise ValueError(f"mask has {allowed.size} entries, but the index holds "
                                 f"{self.n_galaxies} galaxies")
            allowed = allowed.copy()
        excl = np.asarray(list(exclude) if exclude is not None else [], dtype=np.int64).reshape(-1)
        if excl.size:
            if ((excl < 0) | (excl >= self.n_galaxies)).any():
                raise IndexError(f"exclude holds indices outside [0, {self.n_galaxies})")
            if allowed is None:
                allowed = np.ones(self.n_galaxies, dtype=bool)
            allowed[excl] = False
        with _faiss_threads(len(q)):
            if allowed is None:
                idx, d2 = self._raw_search(q, k)
            else:
                idx, d2 = self._masked_search(q, k, allowed, n_excluded=int(excl.size))
        return _finish(idx, d2, k)

    def _masked_search(self, q: np.ndarray, k: int, allowed: np.ndarray, n_excluded: int = 0):
        n_allowed = int(allowed.sum())
        n_q = len(q)
        out_i = np.full((n_q, k), -1, dtype=np.int64)
        out_d = np.full((n_q, k), np.inf, dtype=np.float32)
        if n_allowed == 0:
            return out_i, out_d
        frac = n_allowed / self.n_galaxies
        max_fetch = self.max_fetch
        k_fetch = int(math.ceil(2.0 * k / frac)) + 8 + min(n_excluded, max_fetch)
        todo = np.arange(n_q)
        if n_allowed >= self.subset_below and k_fetch <= max_fetch:
            while todo.size:
                kf = min(k_fetch, self.n_galaxies)
                idx, d2 = self._raw_search(q[todo], kf)
                ok = (idx >= 0) & allowed[np.clip(idx, 0, None)]
                enough = ok.sum(axis=1) >= min(k, n_allowed)
                for row in np.flatnonzero(enough):
                    sel = np.flatnonzero(ok[row])[:k]
                    out_i[todo[row], :sel.size] = idx[row, sel]
                    out_d[todo[row], :sel.size] = d2[row, sel]
                todo = todo[~enough]
                if kf >= self.n_galaxies or k_fetch >= max_fetch:
                    break
                k_fetch = min(k_fetch * 4, max_fetch)
        if todo.size:  # exact search over the masked subset
            rows = np.flatnonzero(allowed)
            sub = np.ascontiguousarray(self._xb[rows])
            kk = min(k, n_allowed)
            d2, idx = faiss.knn(q[todo], sub, kk)
            good = idx >= 0
            out_i[todo, :kk] = np.where(good, rows[np.clip(idx, 0, None)], -1)
            out_d[todo, :kk] = np.where(good, d2, np.inf)
        return out_i, out_d


def _finish(idx: np.ndarray, d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad to k columns, turn squared L2 into Euclidean distances, -1/inf for missing."""
    idx = np.asarray(idx, dtype=np.int64)
    d2 = np.asarray(d2, dtype=np.float32)
    if idx.shape[1] < k:
        pad = k - idx.shape[1]
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        d2 = np.pad(d2, ((0, 0), (0, pad)), constant_values=np.inf)
    dist = np.sqrt(np.maximum(d2, 0.0)).astype(np.float32)
    dist[idx < 0] = np.inf
    return idx, dist


# ------------------------------------------------------------------------------- caching
_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _cache_get(catalogue: Any, key: Any) -> Any:
    try:
        entry = _CACHE.get(catalogue)
    except TypeError:  # not weak-referenceable (e.g. a SimpleNamespace): no cache
        return None
    return None if entry is None else entry.get(key)


def _cache_put(catalogue: Any, key: Any, value: Any) -> None:
    with contextlib.suppress(TypeError):
        _CACHE.setdefault(catalogue, {})[key] = value


# ------------------------------------------------------------------------------- results
@dataclass
class SearchResult:
    """Galaxies found by a search, nearest first.

    Attributes
    ----------
    indices : ndarray of shape (n_results,), int64
        Catalogue row indices.
    distances : ndarray of shape (n_results,), float32
        Embedding distances to the query (see the module docstring).
    separation_arcsec : float or None
        For a sky-position search: angular distance (arcsec) from the given position to the
        catalogue galaxy used as the query.
    warning : str or None
        Something the user should see (e.g. the nearest galaxy is far from the position given).
    query_index : int or None
        Row index of the galaxy used as the query, when there is one.
    """

    indices: np.ndarray
    distances: np.ndarray
    separation_arcsec: float | None = None
    warning: str | None = None
    query_index: int | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def to_frame(self, catalogue: Any,
                 extra_columns: Sequence[str] | Mapping[str, Any] = ()) -> pd.DataFrame:
        """Results as a table for display or CSV download.

        Parameters
        ----------
        catalogue : Catalogue
            The catalogue the indices refer to.
        extra_columns : sequence of str or mapping str -> array of shape (n_galaxies,)
            Catalogue columns to add (e.g. ``"has-spiral-arms_yes_fraction"``), or named
            per-galaxy arrays (e.g. ``{"anomaly_score": scores}``).

        Returns
        -------
        DataFrame
            Columns ``id``, ``ra``, ``dec`` (when the catalogue has coordinates), ``distance``,
            then the extra columns; one row per result.
        """
        idx = np.asarray(self.indices, dtype=np.int64)
        frame = {"id": np.asarray(catalogue.ids)[idx]}
        ra, dec = getattr(catalogue, "ra", None), getattr(catalogue, "dec", None)
        if ra is not None and dec is not None:
            frame["ra"] = np.asarray(ra, dtype=np.float64)[idx]
            frame["dec"] = np.asarray(dec, dtype=np.float64)[idx]
        frame["distance"] = np.asarray(self.distances, dtype=np.float32)
        if isinstance(extra_columns, Mapping):
            for name, values in extra_columns.items():
                values = np.asarray(values)
                if values.shape[0] != len(catalogue.ids):
                    raise ValueError(f"extra column '{name}' has {values.shape[0]} values, but the "
                                     f"catalogue holds {len(catalogue.ids)} galaxies")
                frame[str(name)] = values[idx]
        else:
            table = catalogue.table
            for name in extra_columns:
                if name not in table.columns:
                    raise CatalogueError(
                        f"column '{name}' not found.{did_you_mean(name, map(str, table.columns))}",
                        file=getattr(catalogue, "path", None), column=name)
                frame[name] = table[name].to_numpy()[idx]
        return pd.DataFrame(frame)


def _result_from_row(idx: np.ndarray, dist: np.ndarray, **kw: Any) -> SearchResult:
    keep = idx >= 0
    return SearchResult(idx[keep].astype(np.int64), dist[keep].astype(np.float32), **kw)


def _coords(catalogue: Any) -> tuple[np.ndarray, np.ndarray] | None:
    ra, dec = getattr(catalogue, "ra", None), getattr(catalogue, "dec", None)
    if ra is None or dec is None:
        return None
    return np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)


def _index_or_default(catalogue: Any, index: SimilarityIndex | None) -> SimilarityIndex:
    index = SimilarityIndex.for_catalogue(catalogue) if index is None else index
    n = len(catalogue.ids)
    if index.n_galaxies != n:
        raise ValueError(f"the index holds {index.n_galaxies} galaxies, but the catalogue {n}")
    return index


def _search_with_dedup(catalogue: Any, index: SimilarityIndex, vector: np.ndarray, k: int, *,
                       mask: Any, exclude: np.ndarray, query_radec: Any,
                       same_object_arcsec: float | None) -> tuple[np.ndarray, np.ndarray]:
    coords = _coords(catalogue)
    dedup = same_object_arcsec is not None and same_object_arcsec > 0 and coords is not None
    fetch = k if not dedup else 2 * k + 5
    while True:
        idx, dist = index.query(vector, fetch, mask=mask, exclude=exclude)
        idx, dist = idx[0], dist[0]
        idx, dist = idx[idx >= 0], dist[idx >= 0]
        if not dedup:
            return idx[:k], dist[:k]
        keep = _same_object_keep(coords[0], coords[1], idx, query_radec, same_object_arcsec)
        if keep.sum() >= k or len(idx) < fetch or fetch >= index.n_galaxies:
            return idx[keep][:k], dist[keep][:k]
        fetch = min(fetch * 4, index.n_galaxies)


# ------------------------------------------------------------------------------- searches
def search_by_index(catalogue: Any, index: SimilarityIndex | None, i: int, k: int = 10, *,
                    mask: Any = None, same_object_arcsec: float | None = SAME_OBJECT_ARCSEC
                    ) -> SearchResult:
    """Galaxies most similar to catalogue row ``i`` (the galaxy itself excluded).

    Parameters
    ----------
    catalogue : Catalogue
    index : SimilarityIndex or None
        Index over ``catalogue.embeddings`` (built once and cached when None).
    i : int
        Row index of the query galaxy.
    k : int, default 10
        Number of results.
    mask : ndarray of shape (n_galaxies,), bool, optional
        Galaxies allowed in the results (e.g. ``MorphologyFilter.mask(catalogue)``).
    same_object_arcsec : float or None, default 3
        When the catalogue has coordinates, drop results within this radius of the query or of
        an earlier result (one object catalogued twice). None keeps everything.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cat = SimpleNamespace(ids=np.array(["a", "b", "c"], dtype=object), ra=None, dec=None,
    ...                       embeddings=np.array([[0.], [1.], [3.]], dtype=np.float32))
    >>> search_by_index(cat, None, 0, k=2).indices
    array([1, 2])
    """
    if isinstance(i, bool) or not isinstance(i, numbers.Integral):  # numpy ints are Integral, numpy bools not
        raise TypeError(f"search_by_index takes a row number (int), got {i!r}; for a galaxy id "
                        "use search_by_ids(catalogue, index, [galaxy_id])")
    k = check_count("k", k)
    index = _index_or_default(catalogue, index)
    i = int(i)
    if not 0 <= i < index.n_galaxies:
        raise IndexError(f"row {i} is outside the catalogue (0..{index.n_galaxies - 1})")
    coords = _coords(catalogue)
    radec = None if coords is None else (coords[0][i], coords[1][i])
    idx, dist = _search_with_dedup(catalogue, index, index.vectors[i], k, mask=mask,
                                   exclude=np.array([i]), query_radec=radec,
                                   same_object_arcsec=same_object_arcsec)
    return SearchResult(idx, dist, query_index=i)


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cd = np.cos(dec)
    return np.stack([cd * np.cos(ra), cd * np.sin(ra), np.sin(dec)], axis=-1)


def _sky_tree(catalogue: Any):
    """cKDTree over the unit vectors of galaxies with finite coordinates (cached per catalogue)."""
    from scipy.spatial import cKDTree

    cached = _cache_get(catalogue, "sky_tree")
    if cached is not None:
        return cached
    coords = _coords(catalogue)
    if coords is None:
        raise CatalogueError("the catalogue has no 'ra'/'dec' columns, so it cannot be searched "
                             "by sky position", file=getattr(catalogue, "path", None))
    ra, dec = coords
    rows = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    if rows.size == 0:
        raise CatalogueError("every galaxy has NaN ra/dec", file=getattr(catalogue, "path", None),
                             column="ra")
    tree = (cKDTree(_unit_vectors(ra[rows], dec[rows])), rows)
    _cache_put(catalogue, "sky_tree", tree)
    return tree


def angle_text(arcsec: float) -> str:
    """An angular separation in the unit that reads best.

    >>> angle_text(12.34), angle_text(754.0), angle_text(491279.7)
    ('12.3 arcsec', '12.6 arcmin', '136.47 deg')
    """
    if arcsec < 120:
        return f"{arcsec:.1f} arcsec"
    if arcsec < 7200:
        return f"{arcsec / 60:.1f} arcmin"
    return f"{arcsec / 3600:.2f} deg"


def _check_radec(ra: float, dec: float) -> tuple[float, float]:
    ra, dec = float(ra), float(dec)
    if not (math.isfinite(ra) and math.isfinite(dec)):
        raise ValueError(f"RA/Dec must be finite numbers, got ({ra}, {dec})")
    if not -90.0 <= dec <= 90.0:
        raise ValueError(f"Dec must be within [-90, 90] degrees, got {dec}")
    if not -360.0 <= ra <= 360.0:
        raise ValueError(f"RA must be within [0, 360] degrees (negative values wrap), got {ra}: "
                         "is it in hours or swapped with Dec?")
    return ra % 360.0, dec


def nearest_galaxies(catalogue: Any, ra: Any, dec: Any) -> tuple[np.ndarray, np.ndarray]:
    """The catalogue galaxy nearest to each of several sky positions.

    Parameters
    ----------
    catalogue : Catalogue
        With ``ra``/``dec`` (degrees); CatalogueError otherwise.
    ra, dec : array-like of shape (n,)
        Positions, degrees (ICRS), finite and checked by the caller.

    Returns
    -------
    (ndarray of shape (n,) int64, ndarray of shape (n,) float64)
        Row indices, and separations in arcsec (exact great-circle distances).
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    tree, rows = _sky_tree(catalogue)
    _, j = tree.query(_unit_vectors(ra, dec), k=1)
    idx = rows[np.asarray(j, dtype=np.int64)]
    cra, cdec = _coords(catalogue)
    return idx.astype(np.int64), separation_deg(ra, dec, cra[idx], cdec[idx]) * 3600.0


def galaxies_within(catalogue: Any, ra: Any, dec: Any, radius_arcsec: float) -> np.ndarray:
    """(n,) int64: how many catalogue galaxies lie within ``radius_arcsec`` of each position
    (degrees, finite, checked by the caller): more than one makes a match by position doubtful."""
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    tree, _ = _sky_tree(catalogue)
    chord = 2.0 * np.sin(np.radians(radius_arcsec / 3600.0) / 2.0)  # the tree holds unit vectors
    return np.asarray(tree.query_ball_point(_unit_vectors(ra, dec), chord, return_length=True), dtype=np.int64)


def nearest_galaxy(catalogue: Any, ra: float, dec: float) -> tuple[int, float]:
    """The catalogue galaxy nearest to a sky position.

    Parameters
    ----------
    catalogue : Catalogue
        With ``ra``/``dec`` (degrees).
    ra, dec : float
        Position, degrees (ICRS).

    Returns
    -------
    (int, float)
        Row index and separation in arcsec (exact great-circle distance).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cat = SimpleNamespace(ra=np.array([10.0, 20.0]), dec=np.array([0.0, 0.0]))
    >>> i, sep = nearest_galaxy(cat, 20.0, 0.01)
    >>> i, round(sep, 3)
    (1, 36.0)
    """
    ra, dec = _check_radec(ra, dec)
    idx, sep = nearest_galaxies(catalogue, [ra], [dec])
    return int(idx[0]), float(sep[0])


def search_by_coords(catalogue: Any, index: SimilarityIndex | None, ra: float, dec: float,
                     k: int = 10, *, mask: Any = None,
                     warn_arcsec: float = WARN_SEPARATION_ARCSEC,
                     same_object_arcsec: float | None = SAME_OBJECT_ARCSEC) -> SearchResult:
    """Galaxies similar to the catalogue galaxy nearest to (``ra``, ``dec``).

    Parameters
    ----------
    catalogue : Catalogue
        With ``ra``/``dec``; CatalogueError otherwise.
    index : SimilarityIndex or None
        Index over ``catalogue.embeddings`` (built once and cached when None).
    ra, dec : float
        Sky position, degrees (ICRS).
    k : int, default 10
    mask : ndarray of shape (n_galaxies,), bool, optional
        Galaxies allowed in the results.
    warn_arcsec : float, default 20
        Set ``warning`` when the nearest galaxy is further than this (arcsec).
    same_object_arcsec : float or None, default 3
        Drop results within this radius of the position, of the matched galaxy or of an
        earlier result.

    Returns
    -------
    SearchResult
        With ``query_index`` (the matched galaxy), ``separation_arcsec`` and maybe ``warning``.
    """
    k = check_count("k", k)
    index = _index_or_default(catalogue, index)
    ra, dec = _check_radec(ra, dec)
    i, sep = nearest_galaxy(catalogue, ra, dec)
    warning = None
    if sep > warn_arcsec:
        warning = (f"the nearest galaxy in the catalogue ({catalogue.ids[i]}) is {angle_text(sep)} "
                   f"from RA {ra:.5f}, Dec {dec:+.5f} (more than {warn_arcsec:g}\"): the results "
                   f"are galaxies similar to it, not to whatever lies at that position")
    cra, cdec = _coords(catalogue)
    query_radec = np.array([[ra, dec], [cra[i], cdec[i]]])
    idx, dist = _search_with_dedup(catalogue, index, index.vectors[i], k, mask=mask,
                                   exclude=np.array([i]), query_radec=query_radec,
                                   same_object_arcsec=same_object_arcsec)
    return SearchResult(idx, dist, separation_arcsec=sep, warning=warning, query_index=i)


def search_by_ids(catalogue: Any, index: SimilarityIndex | None, ids: Iterable[str], k: int = 10,
                  *, mask: Any = None,
                  same_object_arcsec: float | None = SAME_OBJECT_ARCSEC) -> SearchResult:
    """Galaxies similar to a set of galaxies (e.g. all those tagged "#lens").

    The query is the mean of the tagged galaxies' L2-normalised embeddings (rescaled to their
    mean norm when the index is not normalised); the tagged galaxies are excluded from the
    results.

    Parameters
    ----------
    catalogue : Catalogue
    index : SimilarityIndex or None
        Index over ``catalogue.embeddings`` (built once and cached when None).
    ids : iterable of str, or one str
        Galaxy ids; KeyError naming unknown ones.
    k : int, default 10
    mask : ndarray of shape (n_galaxies,), bool, optional
    same_object_arcsec : float or None, default 3
        Drop results within this radius of a tagged galaxy or of an earlier result.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cat = SimpleNamespace(ids=np.array(["a", "b", "c", "d"], dtype=object), ra=None, dec=None,
    ...     embeddings=np.array([[1, 0], [1, 0.1], [0.9, 0.2], [0, 1]], dtype=np.float32))
    >>> search_by_ids(cat, None, ["a", "b"], k=2).indices
    array([2, 3])
    """
    k = check_count("k", k)
    index = _index_or_default(catalogue, index)
    ids = [ids] if isinstance(ids, str) else [str(x) for x in ids]  # one id, not its characters
    if not ids:
        raise ValueError("search_by_ids needs at least one galaxy id")
    all_ids = pd.Index(np.asarray(catalogue.ids).astype(str))
    rows = all_ids.get_indexer(ids)
    if (rows < 0).any():
        unknown = [x for x, r in zip(ids, rows) if r < 0]
        raise KeyError(f"{len(unknown)} id(s) not in the catalogue (first: '{unknown[0]}')."
                       f"{did_you_mean(unknown[0], all_ids[:100_000])}")
    rows = np.unique(rows)
    emb = np.asarray(catalogue.embeddings, dtype=np.float32)[rows]
    norms = np.linalg.norm(emb, axis=1)
    vector = _l2_normalise(emb).mean(axis=0)
    if not index.normalise:
        vector = vector * float(norms.mean())
    coords = _coords(catalogue)
    query_radec = None if coords is None else np.stack([coords[0][rows], coords[1][rows]], axis=1)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
    idx, dist = _search_with_dedup(catalogue, index, vector, k, mask=mask, exclude=rows,
                                   query_radec=query_radec, same_object_arcsec=same_object_arcsec)
    return SearchResult(idx, dist)


# ------------------------------------------------------------------------------- same object
def separation_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle distance in degrees (Vincenty formula, as astropy), broadcasting."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    s1, c1, s2, c2 = np.sin(dec1), np.cos(dec1), np.sin(dec2), np.cos(dec2)
    num1 = c2 * np.sin(dra)
    num2 = c1 * s2 - s1 * c2 * np.cos(dra)
    den = s1 * s2 + c1 * c2 * np.cos(dra)
    return np.degrees(np.arctan2(np.hypot(num1, num2), den))


def _same_object_keep(ra: np.ndarray, dec: np.ndarray, indices: np.ndarray, query_radec: Any,
                      radius_arcsec: float) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64)
    r_ra, r_dec = ra[indices], dec[indices]
    keep = np.ones(indices.size, dtype=bool)
    radius = radius_arcsec / 3600.0
    if query_radec is not None:
        qs = np.asarray(query_radec, dtype=np.float64).reshape(-1, 2)
        for qra, qdec in qs:
            with np.errstate(invalid="ignore"):
                keep &= ~(separation_deg(qra, qdec, r_ra, r_dec) <= radius)
    for j in range(indices.size):
        if not keep[j] or not (np.isfinite(r_ra[j]) and np.isfinite(r_dec[j])):
            continue
        later = np.arange(j + 1, indices.size)
        with np.errstate(invalid="ignore"):
            close = separation_deg(r_ra[j], r_dec[j], r_ra[later], r_dec[later]) <= radius
        keep[later[close]] = False
    return keep


def drop_same_object(catalogue_or_ra: Any, *args: Any, radius_arcsec: float = SAME_OBJECT_ARCSEC
                     ) -> np.ndarray:
    """Drop results that are the query object or an earlier result seen again.

    Two call forms::

        drop_same_object(catalogue, indices, query_radec, radius_arcsec=3)
        drop_same_object(ra, dec, indices, query_radec, radius_arcsec=3)

    Parameters
    ----------
    catalogue_or_ra : Catalogue or ndarray of shape (n_galaxies,), float64, degrees
        A catalogue with coordinates, or the RA column (then ``dec`` follows).
    indices : ndarray of shape (n_results,), int
        Result rows, best first.
    query_radec : (float, float), array of shape (m, 2) or None
        Position(s) of the query, degrees; results within ``radius_arcsec`` of one are dropped.
    radius_arcsec : float, default 3
        Matching radius, arcsec.

    Returns
    -------
    ndarray of int64
        The kept indices, in their original order (NaN positions are always kept).

    Examples
    --------
    >>> ra = np.array([10.0, 10.0002, 10.5, 10.5001, 11.0])
    >>> dec = np.zeros(5)
    >>> drop_same_object(ra, dec, [1, 2, 3, 4], (10.0, 0.0))
    array([2, 4])
    """
    if hasattr(catalogue_or_ra, "ids") or hasattr(catalogue_or_ra, "table"):
        coords = _coords(catalogue_or_ra)
        if coords is None:
            raise CatalogueError("the catalogue has no 'ra'/'dec' columns",
                                 file=getattr(catalogue_or_ra, "path", None))
        ra, dec = coords
        rest = list(args)
    else:
        if not args:
            raise TypeError("drop_same_object(ra, dec, indices, query_radec) needs dec")
        ra = np.asarray(catalogue_or_ra, dtype=np.float64)
        dec = np.asarray(args[0], dtype=np.float64)
        rest = list(args[1:])
    if not rest:
        raise TypeError("drop_same_object needs the result indices")
    indices = np.asarray(rest[0], dtype=np.int64).reshape(-1)
    query_radec = rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        radius_arcsec = float(rest[2])
    keep = _same_object_keep(ra, dec, indices, query_radec, radius_arcsec)
    return indices[keep]


# ------------------------------------------------------------------------------- parsing
_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _radec_from_params(params: dict[str, list[str]]) -> tuple[float, float] | None:
    lower = {k.lower(): v for k, v in params.items()}
    if "ra" in lower and "dec" in lower:
        try:
            return float(lower["ra"][0]), float(lower["dec"][0])
        except ValueError:
            return None
    return None


def parse_legacy_survey_url(url: str) -> tuple[float, float]:
    """RA and Dec (degrees) from a Legacy Survey viewer or cutout link.

    Handles ``https://www.legacysurvey.org/viewer?ra=150.1&dec=2.2&layer=ls-dr10&zoom=16``,
    cutout service links (``/viewer/jpeg-cutout?ra=..&dec=..``, ``fits-cutout``), links with the
    position after ``#`` (``viewer#ra=150.1&dec=2.2`` or ``viewer#150.1,2.2``) and links
    without the scheme.

    Raises
    ------
    ValueError
        With a message saying what was expected.

    Examples
    --------
    >>> parse_legacy_survey_url("https://www.legacysurvey.org/viewer?ra=150.1&dec=2.2&layer=ls-dr10&zoom=16")
    (150.1, 2.2)
    >>> parse_legacy_survey_url("legacysurvey.org/viewer/jpeg-cutout?ra=10.5&dec=-3.25&size=256")
    (10.5, -3.25)
    >>> parse_legacy_survey_url("https://www.legacysurvey.org/viewer#ra=1.5&dec=-2")
    (1.5, -2.0)
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("expected a Legacy Survey viewer link such as "
                         "https://www.legacysurvey.org/viewer?ra=150.1&dec=2.2, got an empty value")
    text = url.strip()
    parsed = urlparse(text if "://" in text else "https://" + text)
    radec = _radec_from_params(parse_qs(parsed.query))
    if radec is None and parsed.fragment:
        frag = unquote(parsed.fragment)
        radec = _radec_from_params(parse_qs(frag.lstrip("?/")))
        if radec is None:
            m = re.fullmatch(rf"\s*/?({_FLOAT})\s*[, /]\s*({_FLOAT})(?:[/,&].*)?", frag)
            if m:
                radec = float(m.group(1)), float(m.group(2))
    if radec is None:
        host = parsed.netloc.lower()
        what = ("this Legacy Survey link has no ra=/dec= values"
                if "legacysurvey" in host else "this does not look like a Legacy Survey viewer link")
        raise ValueError(f"{what}: {url!r}. Expected e.g. "
                         f"https://www.legacysurvey.org/viewer?ra=150.1&dec=2.2&layer=ls-dr10&zoom=16")
    ra, dec = radec
    if not (math.isfinite(ra) and math.isfinite(dec)) or not 0.0 <= ra <= 360.0 \
            or not -90.0 <= dec <= 90.0:
        raise ValueError(f"RA/Dec out of range in {url!r}: ra={ra} (0..360), dec={dec} (-90..90)")
    return ra, dec


#: two or more numbers (with signs and sexagesimal marks) and nothing else
_POSITION_SHAPE = re.compile(r"[-+]?\d[\d.hmsd°'\"]*(?:[\s,;:]+[-+]?\d[\d.hmsd°'\"]*)+")


def looks_like_position(text: str) -> bool:
    """Whether ``text`` has the shape of a sky position (numbers only, with signs and sexagesimal
    marks), so that :func:`parse_position`'s error about it (an RA or Dec out of range) is the one
    to show, rather than "no such galaxy id".

    >>> looks_like_position("500 100"), looks_like_position("10:00:24 +95:00:00")
    (True, True)
    >>> looks_like_position("DEMO_000005"), looks_like_position("150")
    (False, False)
    """
    return bool(_POSITION_SHAPE.fullmatch(str(text).strip()))


#: minus signs that text copied from a PDF, arXiv's HTML or a web page holds instead of '-'
MINUS_SIGNS = str.maketrans({c: "-" for c in "\u2212\u2012\u2013\u2014\u2010\u2011\ufe63\uff0d"})


def _degrees_before_spaced_dec(s: str) -> tuple[float, float] | None:
    """``"163.825932 +03 32 46.5"``: one number, then a Dec written as 2 or 3 space-separated
    fields (signed, or after a decimal RA). A lone RA is degrees, as for two numbers; astropy took
    it for hours, wrapped at 24 h, and searched 300 deg away. None for any other shape."""
    fields = re.split(r"\s*[,;]\s*|\s+", s)
    if not 3 <= len(fields) <= 4 or not all(re.fullmatch(_FLOAT, f) for f in fields):
        return None
    if not (fields[1][0] in "+-" or "." in fields[0]) or any(f[0] in "+-" for f in fields[2:]):
        return None  # "10 55 18.22 +03 ...", "10 20 55 3": hours first, for astropy
    from astropy import units as u
    from astropy.coordinates import Angle

    try:
        dec = Angle(":".join(fields[1:]), unit=u.deg).deg
    except ValueError:
        return None  # minutes of 75 and the like: astropy's own error below
    return _check_radec(float(fields[0]), float(dec))


def parse_position(text: str) -> tuple[float, float]:
    """RA and Dec (degrees) from a search box: a Legacy Survey link, ``"150.1 2.2"``,
    ``"150.1, 2.2"`` or sexagesimal ``"10h00m24s +02d12m00s"`` (astropy).

    Examples
    --------
    >>> parse_position("150.1, 2.2")
    (150.1, 2.2)
    >>> ra, dec = parse_position("10:00:24 +02:12:00")
    >>> round(ra, 4), round(dec, 4)
    (150.1, 2.2)
    >>> [round(x, 4) for x in parse_position("10h00m24s, +02d12m00s")]
    [150.1, 2.2]
    >>> parse_position("152.2 +3d00m")  # a decimal RA is degrees, whatever the Dec
    (152.2, 3.0)
    >>> [round(x, 5) for x in parse_position("163.825932 +03 32 46.5")]  # so is one before spaced fields
    [163.82593, 3.54625]
    >>> parse_position("30.5 \u221212.5")  # the minus sign of a PDF or a web page
    (30.5, -12.5)
    """
    s = str(text).translate(MINUS_SIGNS).strip()
    if "legacysurvey" in s.lower() or "://" in s or s.lower().startswith("www."):
        return parse_legacy_survey_url(s)
    # two decimal numbers are degrees, whatever separates them (comma, spaces, a tab pasted from
    # a table): only text astropy must parse is read as hours
    m = re.fullmatch(rf"({_FLOAT})(?:\s*[,;]\s*|\s+)({_FLOAT})", s)
    if m:
        return _check_radec(float(m.group(1)), float(m.group(2)))
    # "152.2 +3d00m": a decimal RA (degrees) with a sexagesimal Dec; astropy read that RA as hours
    m = re.fullmatch(rf"({_FLOAT})(?:\s*[,;]\s*|\s+)([-+]?\d[\d.]*\s*(?:[d°:]\s*[\d.]*\s*[m':]?\s*[\d.]*\s*[s\"]?)?)", s)
    if m and re.search(r"[d°:m's\"]", m.group(2)):
        from astropy import units as u
        from astropy.coordinates import Angle

        try:
            return _check_radec(float(m.group(1)), float(Angle(m.group(2).replace(" ", ""), unit=u.deg).deg))
        except ValueError:
            pass  # not a Dec astropy reads: the general parser below says what is wrong
    radec = _degrees_before_spaced_dec(s)
    if radec is not None:
        return radec
    if s.startswith("-"):
        raise ValueError(f"cannot read a sky position from {text!r}: an RA in hours is not negative "
                         "(in degrees, a negative RA wraps: '-0.5 2.2')")
    sexagesimal = re.search(r"[:hdms]", s.lower()) or len(re.findall(r"\d+(?:\.\d*)?", s)) > 2
    if sexagesimal and len(re.findall(r"[,;]", s)) == 1:
        s = re.sub(r"\s*[,;]\s*", " ", s)  # "10:00:24, +02:12:00": astropy wants no comma
    try:
        from astropy import units as u
        from astropy.coordinates import SkyCoord

        c = SkyCoord(s, unit=(u.hourangle, u.deg))
    except Exception as err:  # astropy raises several types for unparseable text
        raise ValueError(f"cannot read a sky position from {text!r}: give 'ra dec' in degrees, "
                         f"sexagesimal 'hh:mm:ss +dd:mm:ss', or a Legacy Survey viewer link") from err
    return float(c.ra.deg), float(c.dec.deg)
