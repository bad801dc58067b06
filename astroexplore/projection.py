"""2-D map coordinates for the latent-space view.

Where the catalogue already holds a projection (``umap_0``/``umap_1``, ``pca_0``/``pca_1``, ...)
it is used as is. Otherwise a PCA to two components is computed once and cached in
``catalogue.cache_dir`` (keyed by ``catalogue.fingerprint``). UMAP is slow on millions of rows, so
it is only computed offline (:func:`compute_umap`, CLI ``astroexplore project PATH --method umap``)
and then preferred by :func:`projection`. Nothing here imports Panel.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PROJECTION_PAIRS", "projection_columns", "projection", "map_axes", "compute_pca", "compute_umap",
           "cache_path"]

#: Column pairs recognised as a precomputed 2-D projection, in order of preference. Bare
#: ``x``/``y`` are not among them (they are often pixel positions); name them in
#: ``catalogue.metadata["projection_columns"]`` to use them.
PROJECTION_PAIRS: tuple[tuple[str, str], ...] = (
    ("umap_0", "umap_1"), ("umap_x", "umap_y"), ("umap1", "umap2"), ("umap_1", "umap_2"),
    ("tsne_0", "tsne_1"), ("tsne_x", "tsne_y"),
    ("pca_0", "pca_1"), ("pca_x", "pca_y"), ("pca1", "pca2"), ("pca_1", "pca_2"),
    ("proj_x", "proj_y"), ("proj_0", "proj_1"), ("projection_x", "projection_y"),
)

_METHODS = ("auto", "precomputed", "umap", "pca")


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def projection_columns(catalogue: Any) -> tuple[str, str] | None:
    """The pair of table columns holding a precomputed 2-D projection, or None.

    ``catalogue.metadata["projection_columns"]`` (a pair of names) wins; otherwise the first of
    :data:`PROJECTION_PAIRS` present (case-insensitive) with numeric values.

    Parameters
    ----------
    catalogue : Catalogue

    Returns
    -------
    (str, str) or None
        Column names as spelt in the table.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> t = pd.DataFrame({"id": ["a"], "x": [1.0], "y": [2.0], "PCA_0": [0.1], "PCA_1": [0.2]})
    >>> projection_columns(SimpleNamespace(table=t, metadata={}))
    ('PCA_0', 'PCA_1')
    >>> projection_columns(SimpleNamespace(table=t, metadata={"projection_columns": ["x", "y"]}))
    ('x', 'y')
    """
    table = catalogue.table
    names = {str(c).lower(): c for c in table.columns}
    meta = getattr(catalogue, "metadata", None) or {}
    given = meta.get("projection_columns") if isinstance(meta, dict) else None
    if given is not None and len(given) == 2 and all(c in table.columns for c in given):
        if all(_is_numeric(table[c]) for c in given):
            return str(given[0]), str(given[1])
    for a, b in PROJECTION_PAIRS:
        if a in names and b in names:
            ca, cb = names[a], names[b]
            if _is_numeric(table[ca]) and _is_numeric(table[cb]):
                return str(ca), str(cb)
    return None


def _columns_xy(table: pd.DataFrame, cols: tuple[str, str]) -> np.ndarray:
    """The two projection columns as ``(n, 2)`` float32."""
    return np.ascontiguousarray(table[list(cols)].to_numpy(dtype=np.float32))


def _is_nonlinear_layout(catalogue: Any, cols: tuple[str, str]) -> bool:
    """Columns a user chose (metadata) or named as UMAP / t-SNE: they beat a cached UMAP."""
    meta = getattr(catalogue, "metadata", None) or {}
    return bool(meta.get("projection_columns")) or str(cols[0]).lower().startswith(("umap", "tsne"))


def cache_path(catalogue: Any, method: str) -> Path:
    """Where the ``method`` ("pca" or "umap") projection of ``catalogue`` is cached (.npy)."""
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", str(catalogue.fingerprint))[:64]
    return Path(catalogue.cache_dir) / f"projection_{method}_{key}.npy"


def _load_cached(path: Path, n: int, *, header_only: bool = False) -> np.ndarray | None:
    """The cached (n, 2) layout at ``path``, or None (missing, damaged, another size);
    ``header_only``: memory-mapped, its values not read (which layout, not what it holds)."""
    if not path.is_file():
        return None
    try:
        xy = np.load(path, allow_pickle=False, mmap_mode="r" if header_only else None)
    except (OSError, ValueError):
        return None  # a damaged cache is recomputed
    if xy.shape != (n, 2):
        return None
    return xy if header_only else np.ascontiguousarray(xy, dtype=np.float32)


def _save(path: Path, xy: np.ndarray) -> None:
    """Cache ``xy`` atomically; a folder that cannot be written only means no cache."""
    from astroexplore.detectors import save_cached_array

    save_cached_array(path, xy)


def compute_pca(embeddings: Any, seed: int = 0) -> np.ndarray:
    """First two principal components of ``embeddings``.

    Parameters
    ----------
    embeddings : array-like of shape (n_galaxies, n_features)
    seed : int, default 0
        ``random_state`` of the randomized SVD (used for wide embeddings, d > 1000 or n < 10 d).

    Returns
    -------
    ndarray of shape (n_galaxies, 2), float32
        Zero-padded when there are fewer than two usable components.

    Examples
    --------
    >>> compute_pca(np.random.default_rng(0).normal(size=(50, 5))).shape
    (50, 2)
    """
    from sklearn.decomposition import PCA

    x = np.asarray(embeddings, dtype=np.float32)
    n, d = x.shape
    out = np.zeros((n, 2), dtype=np.float32)
    n_comp = min(2, d, n)
    if n_comp == 0:
        return out
    if n_comp < 2 or n < 3:
        xc = x - x.mean(axis=0)
        out[:, :n_comp] = xc[:, :n_comp]
        return out
    # "auto": the eigenvectors of the (d, d) covariance when n >= 10 d and d <= 1000 (1M x 40:
    # 0.1 s against 3.1 s for the randomized SVD, same axes), randomized SVD otherwise
    pca = PCA(n_components=2, svd_solver="auto", random_state=seed)
    out[:] = pca.fit_transform(x).astype(np.float32)
    return out


def projection(catalogue: Any, method: str = "auto") -> np.ndarray:
    """2-D map coordinates for every galaxy.

    Parameters
    ----------
    catalogue : Catalogue
    method : {"auto", "precomputed", "umap", "pca"}
        ``"auto"``: precomputed UMAP / t-SNE columns (or ``metadata["projection_columns"]``),
        else a cached UMAP (from :func:`compute_umap`: ``astroexplore project`` was run, so it
        beats other precomputed columns such as ``pca_0/pca_1``), else those columns, else PCA.
        ``"umap"`` never computes UMAP here (it is slow): it raises FileNotFoundError with the
        command to run. ``"pca"`` computes PCA once and caches it.

    Returns
    -------
    ndarray of shape (n_galaxies, 2), float32

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> t = pd.DataFrame({"id": ["a", "b"], "umap_0": [1.0, 2.0], "umap_1": [3.0, 4.0]})
    >>> projection(SimpleNamespace(table=t, metadata={}))
    array([[1., 3.],
           [2., 4.]], dtype=float32)
    """
    kind, cols, xy = _layout(catalogue, method)
    if xy is not None:
        return xy
    if kind == "columns":
        return _columns_xy(catalogue.table, cols)
    xy = compute_pca(catalogue.embeddings, seed=0)
    _save(cache_path(catalogue, "pca"), xy)
    return xy


def _layout(catalogue: Any, method: str, *, header_only: bool = False
            ) -> tuple[str, tuple[str, str] | None, np.ndarray | None]:
    """Which layout :func:`projection` gives: ``("columns", (x, y), None)``, ``("umap", None,
    xy)`` (cached), or ``("pca", None, xy or None)`` (None: not cached yet). ``header_only``: the
    cached layouts only memory-mapped (:func:`_load_cached`)."""
    if method not in _METHODS:
        raise ValueError(f"unknown projection method {method!r}; choose from {', '.join(_METHODS)}")
    n = len(catalogue.table)
    cols = projection_columns(catalogue) if method in ("auto", "precomputed") else None
    if cols is not None and (method == "precomputed" or _is_nonlinear_layout(catalogue, cols)):
        return "columns", cols, None
    if method == "precomputed":
        raise ValueError(
            "the catalogue has no precomputed projection columns (looked for "
            + ", ".join(f"{a}/{b}" for a, b in PROJECTION_PAIRS[:7]) + ", ...)")
    if method in ("auto", "umap"):
        umap_path = cache_path(catalogue, "umap")
        xy = _load_cached(umap_path, n, header_only=header_only)
        if xy is not None:
            return "umap", None, xy
        if cols is not None:
            return "columns", cols, None
        if method == "umap":
            where = getattr(catalogue, "path", None) or "CATALOGUE"
            raise FileNotFoundError(
                f"no UMAP projection cached at {umap_path}; compute it offline with "
                f"`astroexplore project {where} --method umap` (or projection.compute_umap)")
    return "pca", None, _load_cached(cache_path(catalogue, "pca"), n, header_only=header_only)


#: rows read to estimate the share of the embedding's variance a PCA map keeps
VARIANCE_SAMPLE = 200_000


def map_axes(catalogue: Any, xy: np.ndarray) -> tuple[str, str, str]:
    """What the map's axes are, for its reader: (x label, y label, one sentence), for the
    layout :func:`projection` gives (``xy``, its output).

    PCA axes carry the share of the embedding's variance each keeps (estimated on at most
    :data:`VARIANCE_SAMPLE` rows): a map that keeps 46% of it puts galaxies side by side that
    the full embedding holds apart, so the sentence says where the most similar ones are found.
    """
    kind, cols, _ = _layout(catalogue, "auto", header_only=True)  # xy is already read
    if kind == "columns":
        return str(cols[0]), str(cols[1]), f"The map is the catalogue's own projection ({cols[0]}, {cols[1]})."
    if kind == "umap":
        return "UMAP 1", "UMAP 2", "The map is a UMAP of the embedding (astroexplore project)."
    emb = catalogue.embeddings
    step = max(1, len(xy) // VARIANCE_SAMPLE)
    total = float(np.var(np.asarray(emb[::step], dtype=np.float64), axis=0).sum())
    shares = np.var(np.asarray(xy[::step], dtype=np.float64), axis=0) / total if total > 0 else np.zeros(2)
    return (f"PC 1 ({shares[0]:.0%} of the variance)", f"PC 2 ({shares[1]:.0%})",
            f"The map is the embedding's first two principal components, {shares.sum():.0%} of its "
            "variance: galaxies near each other here are not always alike.")


def compute_umap(catalogue: Any, out_path: str | Path | None = None, progress: bool = True, *,
                 n_neighbors: int = 15, min_dist: float = 0.1, seed: int | None = 0
                 ) -> np.ndarray:
    """UMAP layout of ``catalogue.embeddings`` (slow: run offline), cached for :func:`projection`.

    Parameters
    ----------
    catalogue : Catalogue
    out_path : str or Path, optional
        Also write the layout here: ``.npy`` (array), ``.csv`` or ``.parquet`` (``id``,
        ``umap_0``, ``umap_1``).
    progress : bool, default True
        Show umap-learn's progress (epoch bar).
    n_neighbors : int, default 15
    min_dist : float, default 0.1
    seed : int or None, default 0
        ``random_state``: umap-learn then runs single-threaded and reproducibly; None runs it on
        every core, not reproducibly.

    Returns
    -------
    ndarray of shape (n_galaxies, 2), float32

    Raises
    ------
    ImportError
        When umap-learn is missing, with the install command.
    """
    try:
        import umap
    except ImportError as err:
        raise ImportError("UMAP needs the optional umap-learn package: "
                          "pip install astroexplore[umap]  (or: pip install umap-learn)") from err
    x = np.asarray(catalogue.embeddings, dtype=np.float32)
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"UMAP needs at least 4 galaxies, the catalogue has {n}")
    reducer = umap.UMAP(n_components=2, n_neighbors=int(min(n_neighbors, n - 1)),
                        min_dist=min_dist, init="pca", random_state=seed,
                        n_jobs=1 if seed is not None else -1, verbose=bool(progress),
                        tqdm_kwds={"disable": not progress, "desc": "UMAP epochs"})
    xy = np.ascontiguousarray(reducer.fit_transform(x), dtype=np.float32)
    _save(cache_path(catalogue, "umap"), xy)
    if out_path is not None:
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        suffix = out.suffix.lower()
        if suffix == ".npy":
            np.save(out, xy)
        elif suffix in (".csv", ".parquet"):
            frame = pd.DataFrame({"id": np.asarray(catalogue.ids), "umap_0": xy[:, 0],
                                  "umap_1": xy[:, 1]})
            frame.to_csv(out, index=False) if suffix == ".csv" else frame.to_parquet(out, index=False)
        else:
            raise ValueError(f"out_path must end in .npy, .csv or .parquet, got {out}")
    return xy
