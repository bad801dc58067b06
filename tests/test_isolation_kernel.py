"""The isolation-kernel correction: against direct computations, behaviour, cache, errors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from astroexplore.catalogue import Catalogue
from astroexplore.explorer import Explorer
from astroexplore.head import balanced_weights
from astroexplore.isolation_kernel import IsolationKernelRidge, _grow_forest, isolation_paths
from astroexplore.labels import LabelStore


@pytest.fixture(scope="module")
def data():
    """600 points in 5-d: a main cloud, a far cluster of 20 (rows 0-19), a second of 20 (20-39)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 5))
    X[:20] += 7.0
    X[20:40] -= 7.0
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def paths(data):
    return isolation_paths(data, n_trees=40, seed=1)


def _direct_phi(X, n_trees, seed):
    """Scaled node indicators straight from scikit-learn's decision paths."""
    forest = _grow_forest(X, n_trees, 256, seed, 200_000)
    P = sp.hstack([est.decision_path(X[:, feats])
                   for est, feats in zip(forest.estimators_, forest.estimators_features_)]).tocsr()
    P = P.astype(np.float64)
    length = np.asarray(P.sum(axis=1)).ravel()
    return sp.diags(1.0 / np.sqrt(length)) @ P


def test_path_matrix_and_sums_match_decision_paths(data, paths):
    phi = _direct_phi(data, 40, 1)
    assert phi.shape == (600, paths.n_nodes)
    rows = np.array([0, 5, 33, 100, 599])
    np.testing.assert_allclose(paths.path_matrix(rows).toarray(), phi[rows].toarray(), rtol=1e-6)
    K = (phi @ phi.T).toarray()
    assert np.allclose(np.diag(K), 1.0) and K.min() > 0          # unit length, roots shared
    assert K[0, 1] > K[0, 300] and K[20, 21] > K[20, 0]          # cluster mates are closer
    beta = np.random.default_rng(0).normal(size=paths.n_nodes)
    np.testing.assert_allclose(paths.path_sums(beta, chunk_size=128), phi @ beta, rtol=1e-4,
                               atol=1e-4)


def test_fit_is_weighted_kernel_ridge(data, paths):
    """predict() equals the dual solution (K + alpha W^-1)^-1 r, computed directly."""
    phi = _direct_phi(data, 40, 1)
    rng = np.random.default_rng(1)
    rows = rng.choice(600, size=30, replace=False)
    y = np.where(rows < 20, 5.0, rng.integers(0, 2, size=30)).astype(float)
    prior = rng.uniform(0, 5, size=600).astype(np.float32)
    model = IsolationKernelRidge(alpha=0.1).fit(paths, rows, y, prior[rows])
    K = (phi[rows] @ phi[rows].T).toarray()
    w = balanced_weights(y)
    dual = np.linalg.solve(K + 0.1 * np.diag(1.0 / w), y - prior[rows])
    expected = phi @ (phi[rows].T @ dual)
    np.testing.assert_allclose(model.predict(paths), expected, atol=2e-3)


def test_labels_raise_and_lower_their_regions(data, paths):
    prior = np.full(600, 2.0, dtype=np.float32)
    model = IsolationKernelRidge().fit(paths, [0, 1, 20, 21], [5.0, 5.0, 0.0, 0.0], prior[[0, 1, 20, 21]])
    refined = model.refine(prior, model.predict(paths))
    assert refined.dtype == np.float32
    np.testing.assert_allclose(refined, prior + model.predict(paths), rtol=1e-6)   # not clipped
    up, down, rest = refined[2:20], refined[22:40], refined[40:]
    assert up.mean() > 3.0 > 1.0 > down.mean()            # both clusters move, opposite ways
    assert abs(float(np.median(rest)) - 2.0) < 0.5          # the main cloud keeps its prior
    assert up.min() > np.percentile(rest, 90)


def test_one_label_and_determinism(data):
    a = isolation_paths(data, n_trees=20, seed=4)
    b = isolation_paths(data, n_trees=20, seed=4)
    np.testing.assert_array_equal(a.leaves, b.leaves)
    assert not np.array_equal(a.leaves, isolation_paths(data, n_trees=20, seed=5).leaves)
    m = IsolationKernelRidge().fit(a, [3], [5.0], [0.0])
    corr = m.predict(a)
    assert corr[3] == corr.max() and corr[3] > 0 and np.isfinite(corr).all()


def test_leaves_cached_beside_catalogue(data, tmp_path, monkeypatch):
    cat = Catalogue.from_arrays(data)
    monkeypatch.setattr(type(cat), "cache_dir", property(lambda self: tmp_path), raising=False)
    first = isolation_paths(cat, n_trees=16, seed=0)
    files = list(tmp_path.glob("isolation_leaves_*.npy"))
    assert len(files) == 1 and np.load(files[0]).shape == (600, 16)
    again = isolation_paths(cat, n_trees=16, seed=0)               # read back (memory map)
    np.testing.assert_array_equal(again.leaves, first.leaves)
    np.testing.assert_allclose(again.row_scale, first.row_scale)
    files[0].write_bytes(b"not an npy file")                       # a broken cache is rebuilt
    np.testing.assert_array_equal(isolation_paths(cat, n_trees=16, seed=0).leaves, first.leaves)
    assert np.load(files[0]).shape == (600, 16)


def test_clear_errors(data, paths):
    with pytest.raises(ValueError, match="n_trees"):
        isolation_paths(data, n_trees=0)
    with pytest.raises(ValueError, match="no galaxies"):
        isolation_paths(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="without labels"):
        IsolationKernelRidge().fit(paths, [], [], [])
    with pytest.raises(ValueError, match="same length"):
        IsolationKernelRidge().fit(paths, [0, 1], [5.0], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"rows must be in \[0, 600\)"):
        IsolationKernelRidge().fit(paths, [600], [5.0], [0.0])
    with pytest.raises(ValueError, match="alpha"):
        IsolationKernelRidge(alpha=0).fit(paths, [0], [5.0], [0.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        IsolationKernelRidge().predict(paths)
    other = isolation_paths(data, n_trees=3, seed=0)
    with pytest.raises(ValueError, match="nodes"):
        IsolationKernelRidge().fit(paths, [0], [5.0], [0.0]).predict(other)


# ------------------------------------------------------------------ through the Explorer
@pytest.fixture
def explorer_factory(data, tmp_path):
    cat = Catalogue.from_arrays(data, ids=[f"g{i:03d}" for i in range(600)])

    def make(name="l", **kw):
        store = LabelStore(tmp_path / f"{name}.sqlite", valid_ids=cat.ids)
        return cat, Explorer(cat, store, user="ada", seed=0, cache=False, **kw)
    return make


def test_explorer_combined_is_prior_plus_correction(explorer_factory):
    cat, ex = explorer_factory()
    prior = ex.scores("combined")                       # before training: the prior
    for i, score in [(0, 5), (1, 5), (20, 0), (21, 0), (300, 0)]:
        ex.label(cat.ids[i], score)
    report = ex.retrain(predict_head=False)
    assert report["kernel_seconds"] > 0 and report["predict_seconds"] < 0.05
    after = ex.scores("combined")
    # both far clusters start near the top of the prior (~4.6); the labels split them
    assert abs(prior[2:20].mean() - prior[22:40].mean()) < 0.5
    assert after[22:40].mean() < prior[22:40].mean() - 1.0    # lowered
    assert after[2:20].min() > after[22:40].max()
    top = ex.ranking("combined", unlabelled_first=True)[:18]
    assert np.isin(top, np.arange(2, 20)).mean() >= 0.8
    assert after[0] == 5 and after[20] == 0                    # labelled rows hold their label
    lazy = ex.predicted_interest                               # computed now, on first use
    _, eager_ex = explorer_factory("m")
    for i, score in [(0, 5), (1, 5), (20, 0), (21, 0), (300, 0)]:
        eager_ex.label(cat.ids[i], score)
    eager_ex.retrain(predict_head=True)
    np.testing.assert_array_equal(lazy[0], eager_ex.predicted_interest[0])
    np.testing.assert_array_equal(ex.scores("ucb"), eager_ex.scores("ucb"))


def test_explorer_without_kernel_uses_the_blend(explorer_factory):
    from astroexplore import ranking as rk

    cat, ex = explorer_factory(kernel_trees=0)
    assert ex.isolation_paths() is None
    for i, score in [(0, 5), (20, 0)]:
        ex.label(cat.ids[i], score)
    report = ex.retrain()
    assert report["kernel_seconds"] < 0.05 and report["predict_seconds"] > 0
    mean, std = ex.predicted_interest
    expected = rk.combined_scores(ex._prior(), mean, std, 2, prior_std=ex.prior_std, n0=ex.n0,
                                  explore=ex.explore)
    got = ex.scores("combined")
    unl = np.ones(600, bool)
    unl[[0, 20]] = False
    np.testing.assert_allclose(got[unl], expected[unl], rtol=1e-6)


@pytest.mark.parametrize("kw, match", [({"kernel_trees": -1}, "kernel_trees"),
                                       ({"kernel_trees": 2.5}, "kernel_trees"),
                                       ({"kernel_alpha": 0}, "kernel_alpha")])
def test_explorer_rejects_bad_kernel_settings(explorer_factory, kw, match):
    with pytest.raises(ValueError, match=match):
        explorer_factory(**kw)


def test_explorer_copes_with_5000_imbalanced_labels_from_two_users(tmp_path):
    """5,000 labels (95% scored 0-1) by two users: the correction fits and ranks the rest."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(8000, 6)).astype(np.float32)
    X[:300] += 5.0                                     # the interesting region
    ids = [f"g{i:05d}" for i in range(8000)]
    cat = Catalogue.from_arrays(X, ids=ids)
    store = LabelStore(tmp_path / "many.sqlite", valid_ids=cat.ids)
    rows = np.r_[np.arange(0, 250), rng.choice(np.arange(300, 8000), 4750, replace=False)]
    scores = np.where(rows < 300, 5, rng.integers(0, 2, size=rows.size))
    for user, part in (("ada", slice(0, 2500)), ("bob", slice(2500, 5000))):
        store.add_many([(ids[r], int(s)) for r, s in zip(rows[part], scores[part])], user=user)
    ex = Explorer(cat, store, user="ada", seed=0, cache=False)
    report = ex.retrain()
    assert report["n_labels"] == 5000
    top = ex.ranking("combined", unlabelled_first=True)[:50]
    assert np.isin(top, np.arange(250, 300)).mean() >= 0.8     # the 50 unlabelled of the region


def test_cli_scores_caches_the_kernel_leaves(data, tmp_path, capsys):
    """`astroexplore scores` precomputes the leaf ids, which the Explorer then reads back."""
    from astroexplore.catalogue import load_catalogue, save_catalogue
    from astroexplore.cli import main

    path = save_catalogue(Catalogue.from_arrays(data), tmp_path / "cat.parquet")
    assert main(["scores", str(path), "--kernel-trees", "12"]) == 0
    assert "isolation paths: cached 600 x 12 leaf ids" in capsys.readouterr().out
    cat = load_catalogue(path)
    files = list(cat.cache_dir.glob("isolation_leaves_*.npy"))
    assert len(files) == 1
    ex = Explorer(cat, LabelStore(tmp_path / "l.sqlite"), kernel_trees=12)
    paths = ex.isolation_paths()
    assert isinstance(paths.leaves, np.memmap)                    # read from the cache
    np.testing.assert_array_equal(paths.leaves, isolation_paths(data, n_trees=12).leaves)


def test_in_memory_catalogues_differing_in_one_row_do_not_share_caches():
    """Row 1 made an outlier: its own scores and leaves, not the first catalogue's cached ones."""
    from astroexplore.catalogue import Catalogue
    from astroexplore.detectors import compute_scores

    X = np.random.default_rng(7).normal(size=(1000, 8)).astype(np.float32)
    X2 = X.copy()
    X2[1] += 50.0
    a, b = Catalogue.from_arrays(X), Catalogue.from_arrays(X2)
    assert a.fingerprint != b.fingerprint
    compute_scores(a, "isolation_forest")
    isolation_paths(a, n_trees=20)
    cached = compute_scores(b, "isolation_forest")
    assert cached.scaled[1] == compute_scores(b, "isolation_forest", cache=False).scaled[1] == 5.0
    np.testing.assert_array_equal(np.asarray(isolation_paths(b, n_trees=20).leaves),
                                  isolation_paths(b, n_trees=20, cache=False).leaves)
