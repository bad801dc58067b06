"""Learning interest along isolation-forest paths: kernel ridge with the isolation path kernel.

The anomaly prior says which galaxies an isolation forest isolates quickly; a user's scores say
which of those (and which others) they find interesting. :class:`IsolationKernelRidge` learns a
*correction* to the prior from the scores, in the representation in which the forest itself
sees the data: two galaxies are similar when their root-to-leaf paths share many nodes across
the trees. Each galaxy is the vector of its path-node indicators over all trees, scaled to unit
length::

    phi_i = P_i / sqrt(L_i)        P_i[node] = 1 if galaxy i passes through node (any tree)
                                   L_i       = number of nodes on its paths (sum over trees)
    K(i, j) = phi_i . phi_j        shared path nodes / sqrt(L_i L_j), in (0, 1]

and the correction is the weighted ridge regression of the residual ``score - prior`` on
``phi``::

    beta = argmin sum_j w_j (r_j - phi_j . beta)^2 + alpha |beta|^2,   r_j = y_j - prior_j
    interest_i = prior_i + phi_i . beta      (score units; not clipped, so the order is kept)

(kernel ridge regression with ``K``, i.e. the posterior mean of a Gaussian process with that
kernel). Every galaxy shares the root and the shallow nodes of each tree with every labelled
one, so a label moves the whole catalogue a little (one 5 on an ordinary galaxy of the demo
survey: +3.4 at that galaxy, +1.2 to +2.0 at the 500 galaxies farthest from it); a galaxy that
sits in the same isolated region as a galaxy scored 5 moves up further, as far as the overlap
goes, and one next to galaxies scored 0 moves down. So scores can raise as well as lower a galaxy. ``w`` are the
inverse-frequency label weights of :func:`astroexplore.head.balanced_weights` (heavy imbalance:
most scores 0-1).

It is the same representation AADForest (Das et al. 2017; coniferest) re-weights, but a
regression on graded 0-5 scores with the prior as its mean rather than a hinge loss on binary
labels, and with the internal nodes in the features, so that galaxies isolated in the same
region but in different leaves still share the upper part of their paths. Measured on the greedy
discovery benchmark (``benchmarks/discovery.py``; results in ``benchmarks/README.md``).

Cost
----
Leaf ids are computed once per catalogue (``n x n_trees`` int16: 200 MB for 1M galaxies at 100
trees; cached beside the catalogue like the anomaly scores). A fit builds the sparse path matrix
of the labelled galaxies only (``n_labels x ~n_trees * depth`` non-zeros) and solves the ridge
problem with scikit-learn; predicting every galaxy is one table look-up per galaxy and tree (the
per-leaf sum of ``beta`` over the leaf's ancestors), in chunks.
"""
from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass, field

import numba
import numpy as np

from .chunks import for_each_chunk

__all__ = ["IsolationPaths", "IsolationKernelRidge", "isolation_paths"]

_CHUNK = 65_536
_MAX_FIT_SAMPLES = 200_000
_VERSION = 1


@dataclass
class IsolationPaths:
    """Where every galaxy lands in an isolation forest, and the forest's node structure.

    Attributes
    ----------
    leaves : ndarray of shape (n_galaxies, n_trees), int16
        Tree-local index of the leaf each galaxy falls in.
    offsets : ndarray of shape (n_trees + 1,), int64
        Global node index of each tree's root; tree ``t`` owns nodes ``offsets[t]:offsets[t+1]``.
    parent : ndarray of shape (n_nodes,), int64
        Global index of each node's parent, -1 for the roots.
    depth : ndarray of shape (n_nodes,), int64
        Depth of each node (roots 0).
    row_scale : ndarray of shape (n_galaxies,), float32
        ``1 / sqrt(L_i)``, L_i the number of path nodes of galaxy i over all trees.
    """

    leaves: np.ndarray
    offsets: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    row_scale: np.ndarray
    _anc: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _frozen: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def n_galaxies(self) -> int:
        return int(self.leaves.shape[0])

    @property
    def n_trees(self) -> int:
        return int(self.leaves.shape[1])

    @property
    def n_nodes(self) -> int:
        return int(self.parent.shape[0])

    def freeze(self) -> "IsolationPaths":
        """Mark every array read-only (so that sessions in other threads can share these paths
        without a lock); returns ``self``."""
        for a in (self.leaves, self.offsets, self.parent, self.depth, self.row_scale):
            a.flags.writeable = False
        self._frozen = True
        return self

    def _global_leaves(self, rows) -> np.ndarray:
        return self.leaves[rows].astype(np.int64) + self.offsets[None, :-1]

    def path_matrix(self, rows) -> "scipy.sparse.csr_matrix":  # noqa: F821
        """Scaled path indicators ``phi`` of ``rows``: csr (len(rows), n_nodes) float64."""
        import scipy.sparse as sp

        rows = np.asarray(rows, dtype=np.int64)
        anc = self._ancestors()
        nodes = anc[self._global_leaves(rows)].reshape(rows.size, -1)  # (m, T * (max_depth + 1))
        keep = nodes >= 0
        counts = keep.sum(axis=1)
        indptr = np.r_[0, np.cumsum(counts)]
        data = np.repeat(self.row_scale[rows].astype(np.float64), counts)
        return sp.csr_matrix((data, nodes[keep], indptr), shape=(rows.size, self.n_nodes))

    def _ancestors(self) -> np.ndarray:
        """(n_nodes, max_depth + 1) int64: each node's ancestors and itself, -1 padded."""
        if self._anc is None:
            width = int(self.depth.max()) + 1
            anc = np.full((self.n_nodes, width), -1, dtype=np.int64)
            anc[:, 0] = np.arange(self.n_nodes)
            cur = anc[:, 0].copy()
            for k in range(1, width):
                cur = np.where(cur >= 0, self.parent[np.maximum(cur, 0)], -1)
                anc[:, k] = cur
            if self._frozen:  # shared: two threads may both build it; either result is the same
                anc.flags.writeable = False
            self._anc = anc
        return self._anc

    def path_sums(self, node_values: np.ndarray, *, chunk_size: int = _CHUNK) -> np.ndarray:
        """``phi_i . node_values`` for every galaxy: ndarray (n_galaxies,) float32.

        ``node_values`` (n_nodes,): a value per node; each galaxy gets the sum over the nodes
        on its paths, times ``row_scale``.
        """
        cum = np.asarray(node_values, dtype=np.float64).copy()
        order = np.argsort(self.depth, kind="stable")
        for d in range(1, int(self.depth.max()) + 1):  # root-to-leaf cumulative sums
            nodes = order[self.depth[order] == d]
            cum[nodes] += cum[self.parent[nodes]]
        out = np.empty(self.n_galaxies, dtype=np.float32)
        _gather_sums(self.leaves, cum.astype(np.float32), self.offsets[:-1].astype(np.int64),
                     self.row_scale, out, chunk_size)
        return out


def _gather_sums(leaves, table, offsets, scale, out, chunk_size):
    """``out[i] = scale[i] * sum_t table[offsets[t] + leaves[i, t]]``, by numba over row chunks.

    One pass over the (n, T) int16 leaf ids (a memory map is read chunk by chunk); about 5x
    faster than numpy's take + sum, which converts every index to int64 first.
    """
    for s in range(0, leaves.shape[0], chunk_size):
        _gather_kernel(np.ascontiguousarray(leaves[s:s + chunk_size]), table, offsets,
               scale[s:s + chunk_size], out[s:s + chunk_size])


@numba.njit(cache=True, nogil=True)
def _gather_kernel(leaves, table, offsets, scale, out):  # pragma: no cover - compiled by numba
    n, T = leaves.shape
    for i in range(n):
        acc = np.float32(0.0)
        for t in range(T):
            acc += table[offsets[t] + leaves[i, t]]
        out[i] = acc * scale[i]


def _grow_forest(X: np.ndarray, n_trees: int, max_samples: int, seed: int, max_fit_samples: int):
    from sklearn.ensemble import IsolationForest

    from .detectors import fit_subsample

    n = X.shape[0]
    fit_rows = fit_subsample(n, max_fit_samples, seed)
    return IsolationForest(n_estimators=n_trees, max_samples=min(max_samples, n),
                           random_state=seed).fit(np.asarray(X[fit_rows], dtype=np.float32))


def _structure(forest):
    counts = [est.tree_.node_count for est in forest.estimators_]
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    parent = np.full(offsets[-1], -1, dtype=np.int64)
    depth = np.zeros(offsets[-1], dtype=np.int64)
    for t, est in enumerate(forest.estimators_):
        tree, off = est.tree_, offsets[t]
        for node in range(tree.node_count):  # preorder: a parent comes before its children
            for child in (tree.children_left[node], tree.children_right[node]):
                if child >= 0:
                    parent[off + child] = off + node
                    depth[off + child] = depth[off + node] + 1
    return offsets, parent, depth


def _forest_digest(forest) -> str:
    """Hash of every split (feature and threshold) of the forest: 16 hex."""
    h = hashlib.sha1()
    for est, feats in zip(forest.estimators_, forest.estimators_features_):
        h.update(np.asarray(feats).tobytes() + est.tree_.feature.tobytes() + est.tree_.threshold.tobytes())
    return h.hexdigest()[:16]


def _apply(forest, X: np.ndarray, chunk_size: int) -> np.ndarray:
    n, T = X.shape[0], len(forest.estimators_)
    leaves = np.empty((n, T), dtype=np.int16)

    def apply(start: int, stop: int) -> None:
        c = np.ascontiguousarray(X[start:stop], dtype=np.float32)
        for t, (est, feats) in enumerate(zip(forest.estimators_, forest.estimators_features_)):
            leaves[start:stop, t] = est.apply(c[:, feats], check_input=False)

    for_each_chunk(apply, n, chunk_size)  # the trees release the GIL: chunks in parallel threads
    return leaves


def isolation_paths(catalogue, *, n_trees: int = 100, max_samples: int = 256, seed: int = 0,
                    cache: bool = True, max_fit_samples: int = _MAX_FIT_SAMPLES,
                    chunk_size: int = _CHUNK) -> IsolationPaths:
    """Grow a seeded isolation forest on the embeddings and find every galaxy's leaves.

    Parameters
    ----------
    catalogue : Catalogue or ndarray of shape (n_galaxies, n_features)
        A bare array is never cached.
    n_trees : int, default 100
    max_samples : int, default 256
        Points per tree (at most 511 nodes, so leaf ids fit in int16).
    seed : int, default 0
    cache : bool, default True
        Keep the leaf ids beside the catalogue (``isolation_leaves_<hash>_<fingerprint>.npy``);
        the forest itself is regrown from the seed (a fraction of a second).
    max_fit_samples : int, default 200_000
        Rows the trees draw their samples from (a seeded subsample of larger catalogues).

    Returns
    -------
    IsolationPaths

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(500, 3)).astype("float32")
    >>> paths = isolation_paths(X, n_trees=10)
    >>> paths.leaves.shape, paths.n_trees, bool((paths.row_scale > 0).all())
    ((500, 10), 10, True)
    """
    from .detectors import _cache_path, _check_int, check_finite_rows, load_cached_array, save_cached_array

    n_trees = _check_int("isolation_paths", "n_trees", n_trees, 1)
    max_samples = _check_int("isolation_paths", "max_samples", max_samples, 2)
    if max_samples > 16_384:
        raise ValueError(f"max_samples must be at most 16384 (leaf ids are int16); got {max_samples}.")
    X = catalogue if isinstance(catalogue, np.ndarray) else catalogue.embeddings
    n = X.shape[0] if getattr(X, "ndim", 0) == 2 else 0
    if n == 0:
        raise ValueError("Cannot grow isolation paths: the catalogue has no galaxies.")
    if isinstance(catalogue, np.ndarray):
        check_finite_rows("isolation_paths", X, chunk_size)
    forest = _grow_forest(X, n_trees, max_samples, seed, max_fit_samples)
    offsets, parent, depth = _structure(forest)
    path = None
    if cache and not isinstance(catalogue, np.ndarray):
        key = {"version": _VERSION, "kind": "isolation_leaves", "seed": seed, "n_trees": n_trees,
               "max_samples": max_samples, "max_fit_samples": max_fit_samples, "n": int(n),
               # leaf ids only mean something for this very forest
               "forest": _forest_digest(forest)}
        path = _cache_path(catalogue, "isolation_leaves", key, prefix="")
    leaves = load_cached_array(path, (n, n_trees), np.int16, mmap=True)
    if leaves is None:
        leaves = _apply(forest, X, chunk_size)
        save_cached_array(path, leaves)
    paths = IsolationPaths(leaves, offsets, parent, depth, np.ones(n, dtype=np.float32))
    length = paths.path_sums(np.ones(paths.n_nodes))  # nodes on each galaxy's paths
    paths.row_scale = (1.0 / np.sqrt(np.maximum(length, 1.0))).astype(np.float32)
    return paths


class IsolationKernelRidge:
    """Weighted kernel ridge regression of a residual on isolation paths (see the module doc).

    Parameters
    ----------
    alpha : float, default 0.1
        Ridge penalty. Smaller trusts each label further along the paths. Chosen on the greedy
        discovery benchmark (prior + correction, top pick each step, seeds 0-2, mean found):
        thyroid@100 67.0 / 67.3 / 65.7 / 63.0 for alpha 0.03 / 0.1 / 0.3 / 1.0, mammography@300
        177.0 / 182.3 / 181.7 / 178.7.
    balance : bool, default True
        Weight labels by inverse score frequency (:func:`~astroexplore.head.balanced_weights`).

    Attributes
    ----------
    coef_ : ndarray of shape (n_nodes,), float64
        ``beta``, a weight per forest node.
    n_labels_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2)).astype("float32")
    >>> X[:10] += 6                                    # a small far cluster
    >>> paths = isolation_paths(X, n_trees=50)
    >>> prior = np.zeros(400, dtype="float32")
    >>> model = IsolationKernelRidge().fit(paths, [0, 1], [5.0, 5.0], prior[[0, 1]])
    >>> corr = model.predict(paths)
    >>> bool(corr[2:10].mean() > corr[10:].mean() + 1)   # the rest of the cluster moves up
    True
    """

    def __init__(self, *, alpha: float = 0.1, balance: bool = True):
        self.alpha = alpha
        self.balance = balance

    def fit(self, paths: IsolationPaths, rows, y, prior_at_rows, sample_weight=None):
        """Fit the correction ``y - prior`` at the labelled ``rows``; returns ``self``.

        Parameters
        ----------
        paths : IsolationPaths
        rows : array-like of shape (m,), int
            Row indices of the labelled galaxies.
        y : array-like of shape (m,), float
            Their scores, 0-5.
        prior_at_rows : array-like of shape (m,), float
            The prior (score units) at those rows.
        sample_weight : array-like of shape (m,), optional
            Multiplies the balance weights.
        """
        from sklearn.linear_model import Ridge

        from .head import balanced_weights

        if not (isinstance(self.alpha, numbers.Real) and self.alpha > 0):
            raise ValueError(f"alpha must be a number > 0; got {self.alpha!r}.")
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        prior = np.asarray(prior_at_rows, dtype=np.float64).reshape(-1)
        if not rows.size:
            raise ValueError("Cannot fit the isolation-kernel correction without labels (got 0).")
        if y.shape != rows.shape or prior.shape != rows.shape:
            raise ValueError(f"rows, y and prior_at_rows must have the same length; got "
                             f"{rows.size}, {y.size}, {prior.size}.")
        if rows.min() < 0 or rows.max() >= paths.n_galaxies:
            raise ValueError(f"rows must be in [0, {paths.n_galaxies}); got {rows.min()}..{rows.max()}.")
        w = balanced_weights(y) if self.balance else np.ones(rows.size)
        if sample_weight is not None:
            w = w * np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        Phi = paths.path_matrix(rows)
        ridge = Ridge(alpha=float(self.alpha), fit_intercept=False, solver="auto")
        ridge.fit(Phi, y - prior, sample_weight=w)
        self.coef_ = np.asarray(ridge.coef_, dtype=np.float64).reshape(-1)
        self.n_labels_ = int(rows.size)
        return self

    def predict(self, paths: IsolationPaths) -> np.ndarray:
        """The correction for every galaxy, ndarray (n_galaxies,) float32, score units."""
        if not hasattr(self, "coef_"):
            raise RuntimeError("IsolationKernelRidge is not fitted yet: call fit() first.")
        if self.coef_.shape[0] != paths.n_nodes:
            raise ValueError(f"fitted on a forest of {self.coef_.shape[0]} nodes; these paths have "
                             f"{paths.n_nodes}.")
        return paths.path_sums(self.coef_)

    @staticmethod
    def refine(prior, correction) -> np.ndarray:
        """``prior + correction``, float32: the prior corrected by the labels, in score units.

        Not clipped to 0-5: after many labels the correction takes whole regions below 0 (or a
        strong anomaly next to galaxies scored 5 above 5), and clipping would tie them all and
        lose their order (greedy discovery, kddcup_sub: after 92 labels every unlabelled row sat
        at 0 and the next pick fell to row order).
        """
        return np.asarray(prior, dtype=np.float32) + np.asarray(correction, dtype=np.float32)
