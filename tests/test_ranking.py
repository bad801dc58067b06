"""Pure ranking functions: order, masks, blend behaviour, acquisitions, diverse batches."""
from __future__ import annotations

import numpy as np
import pytest

from astroexplore import ranking as R


def test_rank_order_ties_nan_mask_unlabelled_first():
    s = np.array([1.0, 3.0, np.nan, 3.0, 2.0])
    assert R.rank(s).tolist() == [1, 3, 4, 0, 2]
    mask = np.array([True, False, True, True, True])
    assert R.rank(s, mask=mask).tolist() == [3, 4, 0, 2]
    lab = np.array([False, True, False, False, True])
    assert R.rank(s, labelled=lab, unlabelled_first=True).tolist() == [3, 0, 2, 1, 4]
    assert R.rank(s, mask=mask, labelled=lab, unlabelled_first=True).tolist() == [3, 0, 2, 4]
    with pytest.raises(ValueError, match="needs the labelled mask"):
        R.rank(s, unlabelled_first=True)
    with pytest.raises(ValueError, match=r"boolean array of shape \(5,\)"):
        R.rank(s, mask=np.ones(4, bool))


def test_top_k_matches_full_sort():
    s = np.random.default_rng(0).random(1000)
    allowed = np.random.default_rng(1).random(1000) > 0.5
    full = R.rank(s, mask=allowed)
    assert R.top_k(s, 25, allowed=allowed).tolist() == full[:25].tolist()
    assert R.top_k(s, 5000, allowed=allowed).tolist() == full.tolist()


def test_posterior_weight_grows_with_labels_and_confidence():
    prior = np.array([5.0, 5.0, 0.0])
    mean = np.array([0.0, 0.0, 5.0])
    std = np.array([0.1, 3.0, 0.1])
    mu_few, _ = R.posterior(prior, mean, std, 2)
    mu_many, _ = R.posterior(prior, mean, std, 200)
    # more labels -> closer to the head; confident rows move more than uncertain ones
    assert mu_many[0] < mu_few[0] and mu_many[2] > mu_few[2]
    assert mu_many[0] < mu_many[1]
    # the head can raise a low-prior galaxy above a high-prior one it says is dull
    assert mu_many[2] > mu_many[0]
    # no head: the prior itself
    np.testing.assert_array_equal(R.posterior(prior, None, None, 0)[0], prior)


def test_combined_explore_bonus():
    prior = np.full(3, 2.0)
    mean = np.full(3, 2.0)
    std = np.array([0.0, 1.0, 3.0])
    c = R.combined_scores(prior, mean, std, 20, explore=1.0)
    assert c[0] < c[1] < c[2]


def test_acquisitions():
    mean = np.array([1.0, 2.0, 2.0])
    std = np.array([1.0, 0.0, 1.0])
    assert R.ucb(mean, std, kappa=2).tolist() == [3.0, 2.0, 4.0]
    ei = R.expected_improvement(mean, std, best=2.0, xi=0.0)
    assert ei[2] > ei[0] > ei[1] - 1e-12 and (ei >= 0).all()
    assert R.uncertainty(std).tolist() == std.tolist()


def test_random_scores_seeded():
    assert np.array_equal(R.random_scores(10, 3), R.random_scores(10, 3))
    assert not np.array_equal(R.random_scores(10, 3), R.random_scores(10, 4))


def test_prior_units():
    s = np.array([0.0, 2.5, 4.5, 5.0])
    p = R.prior_in_score_units(s)
    assert p[0] == 0 and p[-1] == 5 and (np.diff(p) > 0).all() and p[1] < 2.5


def test_select_diverse_no_duplicates():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 5))
    # every point 4 times: exact duplicates + a near duplicate of each, with similar scores
    X = np.concatenate([base, base, base, base + 1e-4])
    scores = np.concatenate([np.arange(30.0)] * 4) + rng.random(120) * 0.01
    batch = R.select_diverse(scores, 10, X)
    assert len(batch) == len(set(batch.tolist())) == 10
    picked = X[batch]
    d = np.sqrt(((picked[:, None] - picked[None]) ** 2).sum(-1))
    assert d[np.triu_indices(10, 1)].min() > 0.1
    # best candidate first
    assert scores[batch[0]] == scores.max()


def test_select_diverse_respects_allowed_and_fills():
    X = np.zeros((50, 3))                         # all identical: diversity impossible
    scores = np.arange(50.0)
    allowed = np.zeros(50, bool)
    allowed[:20] = True
    batch = R.select_diverse(scores, 5, X, allowed=allowed)
    assert len(batch) == 5 and allowed[batch].all()
    assert batch.tolist() == [19, 18, 17, 16, 15]  # filled by score after diversity failed
    assert R.select_diverse(scores, 5, X, allowed=np.zeros(50, bool)).size == 0
    assert R.select_diverse(scores, 0, X).size == 0


def test_select_diverse_explicit_min_distance():
    X = np.array([[0.0], [0.5], [1.0], [3.0]])
    s = np.array([4.0, 3.0, 2.0, 1.0])
    assert R.select_diverse(s, 3, X, min_distance=0.75).tolist() == [0, 2, 3]


def test_rank_fast_sort_matches_numpy_stable_argsort():
    from astroexplore.ranking import _stable_argsort

    rng = np.random.default_rng(3)
    key = rng.normal(size=50_000).astype(np.float32)
    key[::5] = 0.25                                       # many ties: order by row
    key[1::97] = -0.0                                     # ties with 0.0, as in numpy
    key[2::97] = 0.0
    key[3::101] = np.inf
    key[4::103] = -np.inf
    assert np.array_equal(_stable_argsort(key), np.argsort(key, kind="stable"))
    assert np.array_equal(_stable_argsort(key.astype(np.float64)), np.argsort(key, kind="stable"))


def test_select_diverse_keeps_a_tight_interesting_group_together():
    """In a 2-D map, 15 distinct galaxies of one tight group (extent ~3, neighbour spacing ~0.5,
    in a field ~20 across) are not near-duplicates of each other: a batch of 10 takes them, while
    exact copies of them are still skipped."""
    rng = np.random.default_rng(1)
    group = rng.normal(scale=1.0, size=(15, 2))
    spread = rng.uniform(-10, 10, size=(300, 2))
    X = np.vstack([group, group[:5], spread])            # rows 15-19: exact copies of 0-4
    scores = np.r_[np.full(15, 5.0), np.full(5, 5.0), rng.uniform(0, 4, 300)]
    batch = R.select_diverse(scores, 10, X)
    assert (batch < 15).sum() == 10
    assert not np.isin(batch, np.arange(15, 20)).any()


def test_top_k_breaks_ties_by_row_like_rank():
    """argpartition picked any of the rows tied at the k-th score; top_k must agree with rank()."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        s = rng.integers(0, 3, size=rng.integers(1, 40)).astype(float)
        allowed = rng.random(s.size) < 0.8
        for k in (1, 2, 5, 50):
            expected = R.rank(s, mask=allowed)[:k]
            np.testing.assert_array_equal(R.top_k(s, k, allowed=allowed), expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_random_ranking_is_independent_of_the_demo_population(seed):
    """Both drew from default_rng([seed, 7919]): the demo's morphology is chosen by the same
    uniforms, so the 'random' order of the demo survey put its mergers first (Spearman 0.76 with
    the true interest at seed 0)."""
    from scipy.stats import spearmanr

    from astroexplore.demo.survey import MORPHOLOGY_SHARES, sample_population
    from astroexplore.ranking import random_scores

    n = 4000
    pop = sample_population(n, seed=seed)
    order = {k: i for i, k in enumerate(MORPHOLOGY_SHARES)}
    code = np.array([order.get(m, len(order)) for m in pop["morphology"]], dtype=float)
    rho = spearmanr(random_scores(n, seed), code).statistic
    assert abs(rho) < 0.1, rho
