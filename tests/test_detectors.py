"""Unsupervised anomaly detectors: planted outliers, determinism, cross-checks, caching, errors."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors

from astroexplore.catalogue import Catalogue
from astroexplore.detectors import (AnomalyScores, IsolationForestDetector, KNNDetector,
                                    LOFDetector, compute_scores, make_detector, rank_scale,
                                    tree_depth_features)


@pytest.fixture(scope="module")
def planted():
    """1,000 Gaussian points in 8-d with 5 planted outliers (rows 0-4)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 8)).astype(np.float32)
    X[:5] += rng.choice([-7.0, 7.0], size=(5, 8))
    return X


@pytest.mark.parametrize("method", ["isolation_forest", "lof", "knn"])
def test_planted_outliers_on_top(planted, method):
    s = compute_scores(planted, method, seed=0)
    assert isinstance(s, AnomalyScores) and s.method == method
    assert s.raw.shape == s.scaled.shape == (1000,)
    assert s.raw.dtype == s.scaled.dtype == np.float32
    assert set(np.argsort(-s.raw)[:5]) == set(range(5))
    assert s.scaled.min() == 0.0 and s.scaled.max() == 5.0
    assert (s.scaled[:5] > 4.9).all()


@pytest.mark.parametrize("method", ["isolation_forest", "lof", "knn"])
def test_deterministic_for_a_seed(planted, method):
    a = compute_scores(planted, method, seed=3)
    b = compute_scores(planted, method, seed=3)
    np.testing.assert_array_equal(a.raw, b.raw)


@pytest.mark.parametrize("preprocess", [None, "standardise", "pca"])
def test_preprocess_options(planted, preprocess):
    s = compute_scores(planted, "knn", preprocess=preprocess)
    assert set(np.argsort(-s.raw)[:5]) == set(range(5))


def test_knn_matches_sklearn_nearest_neighbors():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 6)).astype(np.float32)
    Q = (rng.normal(size=(50, 6)) * 1.5).astype(np.float32)
    det = KNNDetector(n_neighbors=7).fit(X)
    nn = NearestNeighbors(n_neighbors=8).fit(X)
    d_train = nn.kneighbors(X)[0][:, 1:]            # leave-one-out: drop the point itself
    np.testing.assert_allclose(det.train_scores_, d_train.mean(axis=1), rtol=1e-4, atol=1e-5)
    d_new = NearestNeighbors(n_neighbors=7).fit(X).kneighbors(Q)[0]
    np.testing.assert_allclose(det.score_samples(Q), d_new.mean(axis=1), rtol=1e-4, atol=1e-5)
    kth = KNNDetector(n_neighbors=7, aggregate="kth").fit(X)
    np.testing.assert_allclose(kth.score_samples(Q), d_new[:, -1], rtol=1e-4, atol=1e-5)


def test_lof_matches_sklearn():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    Q = (rng.normal(size=(40, 5)) * 2).astype(np.float32)
    det = LOFDetector(n_neighbors=15).fit(X)
    sk = LocalOutlierFactor(n_neighbors=15, novelty=True).fit(X)
    np.testing.assert_allclose(det.train_scores_, -sk.negative_outlier_factor_, rtol=1e-4)
    np.testing.assert_allclose(det.score_samples(Q), -sk.score_samples(Q), rtol=1e-4)


def test_isolation_forest_matches_sklearn():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    det = IsolationForestDetector(n_estimators=50, random_state=5).fit(X)
    sk = IsolationForest(n_estimators=50, max_samples=256, random_state=5).fit(X)
    np.testing.assert_allclose(det.score_samples(X), -sk.score_samples(X), rtol=1e-6)


def test_sklearn_shaped_estimators():
    det = make_detector("lof", n_neighbors=5)
    assert det.get_params()["n_neighbors"] == 5 and det.random_state == 0
    assert not hasattr(det, "n_features_in_")
    X = np.random.default_rng(0).normal(size=(50, 3))
    assert det.fit(X) is det and det.n_features_in_ == 3
    with pytest.raises(ValueError, match="X has 4 features, but LOFDetector was fitted on 3"):
        det.score_samples(np.zeros((2, 4)))


def test_subsampled_reference_for_large_inputs():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    X[10] += 9
    s = compute_scores(X, "lof", params={"max_samples": 500})
    assert int(np.argmax(s.raw)) == 10
    assert np.isfinite(s.raw).all()


def test_rank_scale():
    np.testing.assert_allclose(rank_scale(np.array([3.0, -1.0, 10.0, 0.0, 0.5])),
                               [3.75, 0.0, 5.0, 1.25, 2.5])
    assert rank_scale(np.array([2.0])).tolist() == [5.0]


def test_cache_written_and_reused(tmp_path, planted, monkeypatch):
    cat = Catalogue.from_arrays(planted)
    monkeypatch.setattr(Catalogue, "cache_dir", tmp_path, raising=False)
    first = compute_scores(cat, "knn", seed=1)
    files = list(tmp_path.glob("scores_knn_*.npy"))
    assert len(files) == 1 and cat.fingerprint in files[0].name
    # a second call reads the file (prove it by planting a marker in the cache)
    arr = np.load(files[0])
    arr[0, 0] = 123.0
    np.save(files[0], arr)
    again = compute_scores(cat, "knn", seed=1)
    assert again.raw[0] == 123.0
    assert compute_scores(cat, "knn", seed=1, cache=False).raw[0] == first.raw[0]
    compute_scores(cat, "knn", seed=2)  # another seed, another file
    assert len(list(tmp_path.glob("scores_knn_*.npy"))) == 2


@pytest.mark.parametrize("call, match", [
    (lambda X: compute_scores(X, "isolation_forrest"), "Did you mean 'isolation_forest'"),
    (lambda X: compute_scores(X, "knn", preprocess="standardize"), "Did you mean 'standardise'"),
    (lambda X: compute_scores(np.zeros((0, 3), np.float32), "knn"), "no galaxies"),
    (lambda X: KNNDetector(n_neighbors=0).fit(X), r"'n_neighbors' parameter of KNNDetector must be an int in \[1, inf\). Got 0"),
    (lambda X: KNNDetector(aggregate="median").fit(X), "'aggregate' parameter"),
    (lambda X: KNNDetector(n_neighbors=2000).fit(X), "smaller than the number of reference points"),
    (lambda X: KNNDetector().fit(np.full((20, 2), np.nan)), "NaN or inf"),
    (lambda X: KNNDetector().score_samples(X), "not fitted yet"),
])
def test_clear_errors(planted, call, match):
    with pytest.raises((ValueError, RuntimeError), match=match):
        call(planted)


def test_tree_depth_features(planted, tmp_path, monkeypatch):
    F = tree_depth_features(planted, n_trees=16, seed=0)
    assert F.shape == (1000, 16) and F.dtype == np.float32 and np.isfinite(F).all()
    assert (F < 0).all()                                    # negated path lengths
    assert set(np.argsort(-F.mean(axis=1))[:5]) == set(range(5))  # the planted outliers
    np.testing.assert_array_equal(F, tree_depth_features(planted, n_trees=16, seed=0))
    # cached beside a catalogue, then read back
    cat = Catalogue.from_arrays(planted)
    monkeypatch.setattr(Catalogue, "cache_dir", tmp_path, raising=False)
    first = tree_depth_features(cat, n_trees=16, seed=0)
    files = list(tmp_path.glob("tree_depth_*.npy"))
    assert len(files) == 1 and cat.fingerprint in files[0].name
    arr = np.load(files[0])
    arr[0, 0] = 7.0
    np.save(files[0], arr)
    assert tree_depth_features(cat, n_trees=16, seed=0)[0, 0] == 7.0
    assert tree_depth_features(cat, n_trees=16, seed=0, cache=False)[0, 0] == first[0, 0]
    with pytest.raises(ValueError, match="n_trees"):
        tree_depth_features(planted, n_trees=0)


@pytest.mark.parametrize("method", ["knn", "lof"])
def test_neighbour_detectors_on_a_catalogue_smaller_than_their_default_k(method):
    """5 galaxies, default k 10/20: k becomes 2 and the outlier still ranks first."""
    X = np.zeros((5, 3), np.float32)
    X[:4] = np.random.default_rng(0).normal(0, 0.1, (4, 3))
    X[4] = 10.0
    s = compute_scores(X, method, cache=False)
    assert s.params["n_neighbors"] == 2 and int(np.argmax(s.raw)) == 4
    with pytest.raises(ValueError, match="must be smaller than the number of reference points"):
        compute_scores(X, method, params={"n_neighbors": 10}, cache=False)
    with pytest.raises(ValueError, match="at least 2 galaxies"):
        compute_scores(X[:1], method, cache=False)


def test_one_nan_value_is_reported_as_one_row():
    X = np.random.default_rng(0).normal(size=(500, 4)).astype(np.float32)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 rows of X hold NaN or inf \(first: row 7\)"):
        compute_scores(X, "isolation_forest", cache=False)


def test_nan_in_an_unvalidated_catalogue_is_named_by_its_row():
    """Catalogue(table, X) is not validated: standardising spread row 10's NaN over the column and
    the error named row 0 of 500."""
    import pandas as pd

    X = np.random.default_rng(2).normal(size=(500, 4)).astype(np.float32)
    X[10, 2] = np.nan
    cat = Catalogue(pd.DataFrame({"id": [f"g{i}" for i in range(500)]}), X)
    with pytest.raises(ValueError, match=r"1 rows .*first: row 10\)"):
        compute_scores(cat, "knn", cache=False)
