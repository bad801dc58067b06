"""The PCA that reduces an encoder's representation to the catalogue's ``embedding`` column.

``astroexplore embed`` fits it once, on the embeddings of the run that trained the encoder, and
stores it in the encoder checkpoint (key ``"pca"``: tensors, so the checkpoint stays readable with
``torch.load(weights_only=True)``). Every later ``embed --encoder CHECKPOINT`` projects with that
same basis, so catalogues embedded with one encoder share their ``embedding`` coordinates (a
refit per run would rotate, flip and reorder the axes). A checkpoint without one (older ones, or
one trained with ``--pca 0``) gets one fitted and saved by the first run that needs it.

>>> import numpy as np
>>> X = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
>>> pca = EmbeddingPCA.fit(X, 3)
>>> pca.transform(X).shape, pca.n_components
((50, 3), 3)
>>> back = EmbeddingPCA.from_state(pca.to_state())
>>> bool(np.allclose(back.transform(X), pca.transform(X)))
True
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Checkpoint key holding :meth:`EmbeddingPCA.to_state`.
CHECKPOINT_KEY = "pca"


@dataclass
class EmbeddingPCA:
    """A fitted PCA basis of an encoder's representation.

    Attributes
    ----------
    mean : ndarray (d,) float64
        Mean representation of the images it was fitted on.
    components : ndarray (k, d) float64
        Principal axes, by decreasing explained variance (as sklearn's ``PCA.components_``).
    explained_variance, explained_variance_ratio : ndarray (k,) float64
        Variance along each axis, and its share of the total variance (of the fitting images).
    epoch : int or None
        Epochs the encoder had been trained when the PCA was fitted (a basis of other weights
        is stale).
    n_fit : int
        Number of images fitted on.
    unit_vectors : bool
        Fitted on embeddings of unit length (:attr:`Encoder.unit_vectors
        <astroexplore.encoder.embed.Encoder.unit_vectors>`). A checkpoint's PCA without it was
        fitted on the raw representations of an earlier version and is not reused.
    columns : tuple of str or None
        The table columns the features came from, in order, where they were columns (a basis of
        ``astroexplore reduce``: applied to another table only if its columns are these).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    epoch: int | None = None
    n_fit: int = 0
    unit_vectors: bool = False
    columns: tuple[str, ...] | None = None

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def dims(self) -> int:
        """``d``, the representation's dimension."""
        return int(self.components.shape[1])

    @classmethod
    def fit(cls, X: np.ndarray, n_components: int, *, seed: int = 0, epoch: int | None = None,
            unit_vectors: bool = False, dtype=np.float64, solver: str = "auto") -> EmbeddingPCA:
        """Fit ``n_components`` axes (at most ``len(X) - 1`` and ``d``) to the rows of ``X``,
        computed in ``dtype`` (float32 halves the memory of a large sample) with scikit-learn's
        ``svd_solver`` ``solver`` ("covariance_eigh": exact and fast for many more rows than
        features; "auto" may pick a randomized one); stored as float64."""
        from sklearn.decomposition import PCA

        X = np.asarray(X, dtype=dtype)
        k = int(min(n_components, len(X) - 1, X.shape[1]))
        if k < 1:
            raise ValueError(f"PCA needs at least 2 embeddings and 1 component, got {X.shape} and {n_components}")
        pca = PCA(k, svd_solver=solver, random_state=seed).fit(X)
        return cls(pca.mean_.astype(np.float64), pca.components_.astype(np.float64),
                   pca.explained_variance_.astype(np.float64), pca.explained_variance_ratio_.astype(np.float64),
                   epoch=epoch, n_fit=len(X), unit_vectors=bool(unit_vectors))

    def transform(self, X: np.ndarray, n_components: int | None = None) -> np.ndarray:
        """``(X - mean) @ components[:n_components].T`` as float32 (all components by default)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dims:
            raise ValueError(f"this PCA was fitted on {self.dims}-d representations, got shape {X.shape}")
        k = self.n_components if n_components is None else int(min(n_components, self.n_components))
        return self.partial_transform(X, 0, k).astype(np.float32)

    def partial_transform(self, X: np.ndarray, start: int, n_components: int) -> np.ndarray:
        """The share of :meth:`transform` that the features ``start .. start + X.shape[1] - 1``
        make, float64 ``(n, n_components)``: the transform of a row is the sum of these over
        any split of its features into column groups (so a wide table is projected a few
        columns at a time)."""
        X = np.asarray(X, dtype=np.float64)
        cols = slice(start, start + X.shape[1])
        return (X - self.mean[cols]) @ self.components[:n_components, cols].T

    def variance_kept(self, n_components: int | None = None) -> float:
        """Share of the fitting images' variance kept by the first ``n_components`` axes."""
        k = self.n_components if n_components is None else int(n_components)
        return float(self.explained_variance_ratio[:k].sum())

    # ------------------------------------------------------------------ a basis of its own file
    def save_npz(self, path: str | Path) -> Path:
        """Write the basis to ``path`` (``.npz``; atomic), as :func:`astroexplore.reduce.reduce_catalogue`
        keeps the basis of a reduced catalogue, so that later tables project into the same axes."""
        import os

        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        try:
            np.savez(tmp, mean=self.mean, components=self.components,
                     explained_variance=self.explained_variance,
                     explained_variance_ratio=self.explained_variance_ratio, n_fit=np.int64(self.n_fit),
                     **({} if self.columns is None else {"columns": np.array(self.columns, dtype=str)}))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load_npz(cls, path: str | Path) -> EmbeddingPCA:
        """A basis written by :meth:`save_npz`; ``ValueError`` naming the file if it is not one."""
        try:
            f = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a PCA basis written by astroexplore reduce ({err})") from None
        if not hasattr(f, "files"):  # a .npy array, not an .npz archive
            raise ValueError(f"{path}: not a PCA basis written by astroexplore reduce (an array, not "
                             "its .pca.npz archive)")
        try:
            with f:
                return cls(*(np.asarray(f[k], dtype=np.float64) for k in
                             ("mean", "components", "explained_variance", "explained_variance_ratio")),
                           n_fit=int(f["n_fit"]),
                           columns=tuple(str(c) for c in f["columns"]) if "columns" in f.files else None)
        except (KeyError, ValueError) as err:
            raise ValueError(f"{path}: not a PCA basis written by astroexplore reduce ({err})") from None

    # ------------------------------------------------------------------ checkpoint storage
    def to_state(self) -> dict:
        """Tensors and numbers only (a checkpoint stays loadable with ``weights_only=True``)."""
        import torch

        return {"mean": torch.from_numpy(self.mean), "components": torch.from_numpy(self.components),
                "explained_variance": torch.from_numpy(self.explained_variance),
                "explained_variance_ratio": torch.from_numpy(self.explained_variance_ratio),
                "epoch": None if self.epoch is None else int(self.epoch), "n_fit": int(self.n_fit),
                "unit_vectors": bool(self.unit_vectors)}

    @classmethod
    def from_state(cls, state: dict) -> EmbeddingPCA:
        def arr(key):
            v = state[key]
            return np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)

        return cls(arr("mean"), arr("components"), arr("explained_variance"), arr("explained_variance_ratio"),
                   epoch=state.get("epoch"), n_fit=int(state.get("n_fit") or 0),
                   unit_vectors=bool(state.get("unit_vectors", False)))


def pca_from_checkpoint(state: dict) -> EmbeddingPCA | None:
    """The PCA stored in a checkpoint's contents, or None (none stored, stored for other weights,
    or fitted on the raw representations that embeddings were before they were unit vectors)."""
    raw = state.get(CHECKPOINT_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        pca = EmbeddingPCA.from_state(raw)
    except (KeyError, TypeError, ValueError):
        return None
    if pca.epoch is not None and int(pca.epoch) != int(state["epoch"]):
        return None  # fitted before more epochs were trained: another basis
    if not pca.unit_vectors:
        return None  # fitted on raw representations: the embeddings are unit vectors now
    return pca


def read_pca(path: str | Path) -> EmbeddingPCA | None:
    """The PCA stored in the checkpoint file ``path`` (None if it has none for its weights)."""
    from astroexplore.encoder.embed import read_checkpoint

    return pca_from_checkpoint(read_checkpoint(path))


def save_pca(path: str | Path, pca: EmbeddingPCA) -> None:
    """Store ``pca`` in the checkpoint file ``path`` (atomically; everything else kept).

    Raises
    ------
    OSError
        The checkpoint cannot be rewritten (read-only file or folder).
    FileNotFoundError, ValueError
        As :func:`~astroexplore.encoder.embed.read_checkpoint`.
    """
    from astroexplore.encoder.embed import read_checkpoint
    from astroexplore.encoder.train import _save_atomic

    path = Path(path)
    state = read_checkpoint(path)
    if not path.stat().st_mode & 0o222:  # marked read-only: not rewritten, even by root
        raise PermissionError(f"{path}: the checkpoint file is read-only")
    if pca.epoch is None:
        pca.epoch = int(state["epoch"])
    state[CHECKPOINT_KEY] = pca.to_state()
    _save_atomic(state, path)
