"""Ranking strategies ("sort by"): pure functions over arrays; higher = shown first.

The :class:`~astroexplore.explorer.Explorer` holds the state (anomaly scores, the head's
predictions, the labels) and calls these.

The blend of prior and head
---------------------------
(The Explorer's "combined" ranking is, by default, the anomaly prior corrected by the labels
along isolation-forest paths, :mod:`astroexplore.isolation_kernel`, which found more anomalies
on every discovery set; the blend below is what ``ucb``, ``expected_improvement`` and
``uncertainty`` apply to that corrected prior, and what "combined" is with ``kernel_trees=0``.)

The unsupervised anomaly score is a *prior* on interest; the head's ensemble is an estimate with
its own spread. :func:`posterior` combines them like two Gaussian measurements::

    prior_i  = 5 * (scaled_i / 5) ** prior_power          # anomaly score in score units
    v_head_i = std_i**2 + prior_std**2 * n0 / n_labels    # ensemble spread + few-label penalty
    w_i      = (1 / v_head_i) / (1 / prior_std**2 + 1 / v_head_i)
    mu_i     = (1 - w_i) * prior_i + w_i * mean_i         # posterior mean
    sd_i     = (1 / prior_std**2 + 1 / v_head_i) ** -0.5  # posterior spread

and ``combined = mu + explore * sd``. So the head's weight grows with the number of labels
(the ``n0 / n_labels`` term: with ``n0`` labels the head counts as much as the prior) *and* with
its confidence at that galaxy (ensemble agreement). Where the head knows nothing (far from every
label, members disagree) the ranking falls back to the anomaly score; where it is confident it
can **raise** a modest anomaly that resembles the galaxies the user scored 5 as well as lower a
strong anomaly that resembles the ones scored 0 (Astronomaly's NeighbourScore can only lower).
The ``explore`` bonus (default 0.1: on the greedy discovery sets exploitation pays, 0.5 found
fewer anomalies) keeps unexplored anomalies in view. The Explorer also feeds the prior to the head
as an extra input column, so with enough labels the head itself learns how far this user's
interest follows the anomaly score (the prior can count for more, or for nothing).

We chose this over training the head on the residual ``y - prior`` because a residual head must
extrapolate its correction to regions without labels (a ReLU MLP extrapolates linearly, which moves
unexplored anomalies by arbitrary amounts), while the blend hands those regions back to the prior
by construction; it also keeps the head's own prediction meaningful ("predicted interest").
The acquisitions (:func:`ucb`, :func:`expected_improvement`, :func:`uncertainty`) are applied to
the same posterior ``(mu, sd)``, so every learning strategy keeps the prior.
``prior_power = 2`` maps the uniform rank scale to interest units where only the top of the
anomaly ranking looks interesting (median galaxy 1.25, top 10% above 4), as real interest is rare.
"""
from __future__ import annotations

import numpy as np

from .constants import MAX_SCORE

__all__ = [
    "combined_scores",
    "expected_improvement",
    "posterior",
    "prior_in_score_units",
    "random_scores",
    "rank",
    "select_diverse",
    "top_k",
    "ucb",
    "uncertainty",
]


def _as_mask(mask, n: int, name: str = "mask") -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != (n,) or mask.dtype != bool:
        raise ValueError(f"{name} must be a boolean array of shape ({n},); got "
                         f"{mask.dtype} array of shape {mask.shape}.")
    return mask


def rank(scores, *, mask=None, labelled=None, unlabelled_first: bool = False) -> np.ndarray:
    """Row indices sorted by ``scores``, highest first (ties by row order; NaN last).

    Parameters
    ----------
    scores : ndarray of shape (n,), float
    mask : ndarray of shape (n,), bool, optional
        Only rows where True are returned (e.g. a morphology filter).
    labelled : ndarray of shape (n,), bool, optional
        Needed for ``unlabelled_first``.
    unlabelled_first : bool, default False
        Unlabelled rows first (in score order), then labelled ones.

    Returns
    -------
    ndarray of shape (n_selected,), int64

    Examples
    --------
    >>> rank(np.array([0.1, 0.9, 0.5])).tolist()
    [1, 2, 0]
    >>> rank(np.array([0.1, 0.9, 0.5]), labelled=np.array([False, True, False]),
    ...      unlabelled_first=True).tolist()
    [2, 0, 1]
    """
    scores = np.asarray(scores)
    n = scores.shape[0]
    mask = _as_mask(mask, n)
    labelled = _as_mask(labelled, n, "labelled")
    if unlabelled_first and labelled is None:
        raise ValueError("unlabelled_first=True needs the labelled mask.")
    key = -scores if scores.dtype.kind == "f" else -scores.astype(np.float64)
    nan = np.isnan(key)
    if nan.any():
        key[nan] = np.inf
    rows = np.flatnonzero(mask) if mask is not None else None
    sub = key if rows is None else key[rows]
    order = _stable_argsort(sub)
    order = order if rows is None else rows[order]
    if unlabelled_first:
        lab = labelled[order]
        order = np.concatenate([order[~lab], order[lab]])
    return order.astype(np.int64, copy=False)


def _stable_argsort(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` for a NaN-free float key, about twice as fast at 1M rows.

    Each float32 key is mapped to an order-preserving uint32 and packed above its row number into
    one uint64, so an unstable sort of unique values gives the stable order (ties by row). Keys
    that are not exactly float32 (float64) and arrays of 2**32 rows or more use numpy's argsort.
    """
    if key.dtype != np.float32 or key.size >= 2**32:
        return np.argsort(key, kind="stable")
    bits = (key + np.float32(0.0)).view(np.uint32)      # -0.0 + 0.0 = 0.0: they tie, as in numpy
    sortable = np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)
    packed = (sortable << np.uint64(32)) | np.arange(key.size, dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)


def top_k(scores, k: int, *, allowed=None) -> np.ndarray:
    """The ``k`` highest-scoring rows among ``allowed`` (bool mask), best first (O(n) select).

    >>> top_k(np.array([3.0, 1.0, 2.0, 5.0]), 2).tolist()
    [3, 0]
    >>> top_k(np.array([0.0, 0.0, 1.0, 1.0, 1.0]), 2).tolist()  # ties: the first rows
    [2, 3]
    """
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(scores.shape[0]) if allowed is None else np.flatnonzero(allowed)
    if k <= 0 or rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    sub = -scores[rows]
    sub = np.where(np.isnan(sub), np.inf, sub)
    if k < rows.size:  # every row above the k-th score, then the rows tied with it, by row
        kth = np.partition(sub, k - 1)[k - 1]
        above = np.flatnonzero(sub < kth)
        part = np.concatenate([above, np.flatnonzero(sub == kth)[:k - above.size]])
    else:
        part = np.arange(rows.size)
    # order by score, ties by row (as rank() and the app's list)
    part = part[np.lexsort((rows[part], sub[part]))]
    return rows[part].astype(np.int64)


_RANDOM_RANKING_SALT = 0x72616E64  # "rand"


def random_scores(n: int, seed: int = 0) -> np.ndarray:
    """Seeded uniform [0, 1) scores, float64, shape (n,) (the "random" ranking).

    >>> bool((random_scores(5, 1) == random_scores(5, 1)).all())
    True
    """
    # a salt of its own: the demo survey draws its population from [seed, 7919], and the same
    # stream made this "random" order follow the demo's morphologies (and so its interest)
    return np.random.default_rng([int(seed), _RANDOM_RANKING_SALT]).random(n)


def prior_in_score_units(scaled, *, power: float = 2.0) -> np.ndarray:
    """Map rank-scaled anomaly scores (0-5, uniform) to interest units: ``5 * (s / 5) ** power``.

    >>> prior_in_score_units(np.array([0.0, 2.5, 5.0])).tolist()
    [0.0, 1.25, 5.0]
    """
    s = np.asarray(scaled, dtype=np.float32) / MAX_SCORE
    return (MAX_SCORE * np.power(s, power)).astype(np.float32)


def posterior(prior, mean, std, n_labels: int, *, prior_std: float = 1.5,
              n0: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Precision-weighted blend of the anomaly prior and the head (see the module docstring).

    Parameters
    ----------
    prior : ndarray of shape (n,), float
        Anomaly prior in score units (:func:`prior_in_score_units`).
    mean, std : ndarray of shape (n,), float or None
        The head's ensemble mean and spread (score units); None = no head yet (returns the prior).
    n_labels : int
        Labels the head was trained on.
    prior_std : float, default 1.5
        Spread of the prior, score units.
    n0 : float, default 5
        Labels at which the head weighs as much as the prior (where its members agree).

    Returns
    -------
    mu, sd : ndarray of shape (n,), float32

    Examples
    --------
    >>> mu, sd = posterior(np.array([5.0, 0.0]), np.array([0.0, 5.0]), np.array([0.0, 0.0]), 5)
    >>> mu.round(2).tolist()
    [2.5, 2.5]
    >>> mu, sd = posterior(np.array([5.0, 0.0]), np.array([0.0, 5.0]), np.array([0.0, 0.0]), 500)
    >>> [round(float(m), 2) for m in mu]
    [0.05, 4.95]
    """
    prior = np.asarray(prior, dtype=np.float32)
    p_prior = np.float32(1.0 / prior_std**2)
    if mean is None or n_labels <= 0:
        return prior.copy(), np.full(prior.shape, prior_std, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    v_head = np.square(std) + np.float32(prior_std**2 * n0 / n_labels)
    p_head = 1.0 / v_head
    total = p_prior + p_head
    w = p_head / total
    mu = prior + w * (mean - prior)
    sd = np.sqrt(1.0 / total)
    return mu.astype(np.float32, copy=False), sd.astype(np.float32, copy=False)


def combined_scores(prior, mean, std, n_labels: int, *, prior_std: float = 1.5, n0: float = 5.0,
                    explore: float = 0.1) -> np.ndarray:
    """The "combined" ranking value: posterior mean + ``explore`` x posterior spread (float32).

    >>> combined_scores(np.array([4.0, 1.0]), None, None, 0, explore=0.0).tolist()
    [4.0, 1.0]
    """
    mu, sd = posterior(prior, mean, std, n_labels, prior_std=prior_std, n0=n0)
    return mu + np.float32(explore) * sd


def ucb(mean, std, kappa: float = 1.0) -> np.ndarray:
    """Upper confidence bound ``mean + kappa * std`` (float32).

    >>> ucb(np.array([1.0]), np.array([0.5]), kappa=2).tolist()
    [2.0]
    """
    return (np.asarray(mean, dtype=np.float32) + np.float32(kappa) * np.asarray(std, np.float32))


def expected_improvement(mean, std, best: float, xi: float = 0.01) -> np.ndarray:
    """Expected improvement over ``best`` (maximisation): ``(m - best - xi) Phi(z) + s phi(z)``.

    Parameters
    ----------
    mean, std : ndarray of shape (n,), float
    best : float
        Best value so far (the Explorer uses the highest posterior mean among labelled galaxies).
    xi : float, default 0.01
        Exploration margin, score units.

    Returns
    -------
    ndarray of shape (n,), float64 (>= 0)

    >>> round(float(expected_improvement(np.array([1.0]), np.array([1.0]), 0.0, xi=0.0)[0]), 4)
    1.0833
    """
    from scipy.special import ndtr

    mean = np.asarray(mean, dtype=np.float64)
    std = np.maximum(np.asarray(std, dtype=np.float64), 1e-9)
    imp = mean - best - xi
    z = imp / std
    return imp * ndtr(z) + std * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def uncertainty(std) -> np.ndarray:
    """Pure exploration: the spread itself (float32).

    >>> uncertainty(np.array([0.5, 0.25])).tolist()
    [0.5, 0.25]
    """
    return np.asarray(std, dtype=np.float32).copy()


def select_diverse(scores, n: int, embeddings, *, allowed=None, min_distance: float | None = None,
                   pool_factor: int = 20) -> np.ndarray:
    """Pick ``n`` high-scoring rows that are not near-duplicates of each other (greedy).

    Candidates are the ``max(pool_factor * n, 100)`` best rows among ``allowed``; going down
    that list, a row is taken unless it lies within ``min_distance`` (Euclidean, in the units of
    ``embeddings``) of a row already taken. If the pool runs out it is enlarged 4x (twice), then
    the batch is filled with the best remaining rows regardless of distance.

    Parameters
    ----------
    scores : ndarray of shape (n_rows,), float
        Higher = better candidate.
    n : int
        Batch size.
    embeddings : ndarray of shape (n_rows, n_features)
        Only the pool's rows are read.
    allowed : ndarray of shape (n_rows,), bool, optional
        E.g. unlabelled & morphology filter.
    min_distance : float, optional
        Default: 2% of the median pairwise distance within the pool
        (:func:`_near_duplicate_distance`: exact and near duplicates never share a batch,
        whatever the embedding's scale).
    pool_factor : int, default 20

    Returns
    -------
    ndarray of shape (<= n,), int64, best first

    Examples
    --------
    >>> X = np.array([[0.0, 0], [0, 0], [0, 0.001], [5, 5], [9, 0]])
    >>> select_diverse(np.array([5.0, 4.9, 4.8, 1.0, 0.5]), 3, X).tolist()
    [0, 3, 4]
    """
    scores = np.asarray(scores)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    n_allowed = int(scores.shape[0] if allowed is None else np.count_nonzero(allowed))
    n = min(n, n_allowed)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pool_size = max(pool_factor * n, 100)
    threshold = min_distance
    chosen: list[int] = []
    for _attempt in range(3):
        pool = top_k(scores, min(pool_size, n_allowed), allowed=allowed)
        E = np.asarray(embeddings[pool], dtype=np.float64)
        if threshold is None:
            threshold = _near_duplicate_distance(E[: min(len(E), 500)])
        chosen_pos: list[int] = []
        min_d2 = np.full(len(pool), np.inf)
        thr2 = float(threshold) ** 2
        for j in range(len(pool)):
            if min_d2[j] <= thr2:  # within min_distance of a row already taken (0 for duplicates)
                continue
            chosen_pos.append(j)
            np.minimum(min_d2, np.square(E - E[j]).sum(axis=1), out=min_d2)
            if len(chosen_pos) == n:
                break
        chosen = [int(pool[j]) for j in chosen_pos]
        if len(chosen) == n or len(pool) >= n_allowed:
            break
        pool_size *= 4
    if len(chosen) < n:  # fill with the best remaining, regardless of distance
        taken = set(chosen)
        for r in top_k(scores, min(n_allowed, n + len(chosen)), allowed=allowed):
            if len(chosen) == n:
                break
            if int(r) not in taken:
                chosen.append(int(r))
                taken.add(int(r))
    return np.asarray(chosen, dtype=np.int64)


#: near-duplicate threshold: this fraction of the median pairwise distance within the pool
NEAR_DUPLICATE_FRACTION = 0.02


def _near_duplicate_distance(sample: np.ndarray) -> float:
    """Distance below which two candidates count as near-duplicates: ``NEAR_DUPLICATE_FRACTION``
    (2%) of the median pairwise distance within ``sample``.

    The same galaxy imaged twice, or two cutouts of one object, lie far closer than that; distinct
    members of a tight, interesting group do not. (The earlier 20% kept such groups out of a batch
    of 10: batch protocol on coniferest's non_anomalous_outliers, whose anomalous cluster has a
    neighbour spacing of ~11% of the median pairwise distance, found@50 24.4 -> 32.0 of 32 with
    2%; kddcup_sub@100 63.6 -> 68.6 with ours:combined; ``benchmarks/README.md``.)
    """
    if len(sample) < 2:
        return 0.0
    d2 = _sq_dists(sample, sample)
    iu = np.triu_indices(len(sample), 1)
    return NEAR_DUPLICATE_FRACTION * float(np.sqrt(np.median(d2[iu])))


def _sq_dists(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d2, 0.0)
