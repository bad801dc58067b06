"""The interest head: learns, copes with 1 label and imbalance, warm-starts, is deterministic."""
from __future__ import annotations

import numpy as np
import pytest

from astroexplore.head import InterestHead, balanced_weights


@pytest.fixture(scope="module")
def blobs():
    """Three Gaussian blobs in 10-d; blob 0 is interesting (5), the others not (0)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(3, 10))
    which = np.repeat(np.arange(3), 200)
    X = (centres[which] + rng.normal(size=(600, 10))).astype(np.float32)
    y = np.where(which == 0, 5.0, 0.0)
    return X, y, which


def test_learns_and_generalises(blobs):
    X, y, which = blobs
    train = np.r_[0:5, 200:210, 400:410]
    head = InterestHead(device="cpu").fit(X[train], y[train])
    mean, std = head.predict(X)
    assert mean.shape == std.shape == (600,) and mean.dtype == std.dtype == np.float32
    assert ((mean >= 0) & (mean <= 5)).all() and (std >= 0).all()
    assert mean[which == 0].mean() > 3.5 and mean[which != 0].mean() < 1.0


def test_one_label(blobs):
    X, _, _ = blobs
    for score in (0, 5):
        mean, std = InterestHead(device="cpu").fit(X[:1], [score]).predict(X)
        assert np.isfinite(mean).all() and np.isfinite(std).all()
        assert abs(float(mean[0]) - score) < 0.5


def test_imbalance_reweighting(blobs):
    """3 positives among 300 zeros: the balanced head still ranks the positives' blob first."""
    X, y, which = blobs
    train = np.r_[0:3, 200:350, 400:550]
    head = InterestHead(device="cpu").fit(X[train], y[train])
    mean, _ = head.predict(X)
    held_out = np.r_[3:200]
    assert mean[held_out].mean() > 2.5
    assert np.median(mean[held_out]) > np.quantile(mean[200:], 0.95)
    w = balanced_weights(y[train])
    assert w[:3].mean() > 10 * w[3:].mean() * 0.99  # capped at 10x


def test_balanced_weights_cap():
    w = balanced_weights([0] * 99 + [5], max_weight=10)
    assert np.isclose(w.mean(), 1.0) and np.isclose(w[-1] / w[0], 10.0)
    assert balanced_weights([0, 5]).tolist() == [1.0, 1.0]


def test_deterministic_for_a_seed(blobs):
    X, y, _ = blobs
    train = np.r_[0:5, 200:205]
    runs = []
    for _ in range(2):
        head = InterestHead(seed=3, device="cpu").fit(X[train], y[train])
        head.fit(X[train[:8]], y[train[:8]])  # and a warm start
        runs.append(head.predict(X))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(np.argsort(-runs[0][0], kind="stable"),
                                  np.argsort(-runs[1][0], kind="stable"))
    other = InterestHead(seed=4, device="cpu").fit(X[train], y[train]).predict(X)[0]
    assert not np.array_equal(other, runs[0][0])


def test_warm_start_keeps_weights_and_runs_fewer_epochs(blobs):
    X, y, _ = blobs
    train = np.r_[0:5, 200:210]
    head = InterestHead(epochs=300, warm_epochs=50, device="cpu").fit(X[train], y[train])
    assert head.last_fit_["warm_start"] is False and head.last_fit_["epochs"] == 300
    before = head.predict(X)[0]
    head.fit(X[train], y[train])
    assert head.last_fit_["warm_start"] is True and head.last_fit_["epochs"] == 50
    after = head.predict(X)[0]
    assert np.abs(after - before).mean() < 0.3     # continued, not restarted
    head.fit(X[train], y[train], warm_start=False)
    assert head.last_fit_["warm_start"] is False and head.n_fits_ == 1


def test_ensemble_uncertainty_higher_far_from_labels(blobs):
    X, y, which = blobs
    train = np.r_[0:20, 200:220]                   # blob 2 never labelled
    mean, std = InterestHead(device="cpu").fit(X[train], y[train]).predict(X)
    assert std[which == 2].mean() > std[train].mean()


def test_precision_float32_close_to_bfloat16(blobs):
    X, y, _ = blobs
    train = np.r_[0:5, 200:210]
    a = InterestHead(precision="float32", device="cpu").fit(X[train], y[train]).predict(X)[0]
    b = InterestHead(precision="bfloat16", device="cpu").fit(X[train], y[train]).predict(X)[0]
    assert np.abs(a - b).max() < 0.15


def test_chunked_prediction_equals_whole(blobs):
    X, y, _ = blobs
    head = InterestHead(device="cpu").fit(X[:20], y[:20])
    whole = head.predict(X)
    chunked = head.predict(X, chunk_size=7)
    np.testing.assert_allclose(whole[0], chunked[0], atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda h, X: h.fit(X[:0], []), "without labels"),
    (lambda h, X: h.fit(X[:2], [1.0, 7.0]), r"Scores must lie in \[0, 5\]"),
    (lambda h, X: h.fit(X[:2], [1.0]), "2 rows but y has 1"),
    (lambda h, X: h.predict(X), "not fitted yet"),
    (lambda h, X: h.fit(X[:2], [1, 2]).predict(np.zeros((3, 4))),
     "embeddings has 4 features, but the head was trained on 10"),
    (lambda h, X: InterestHead(n_members=0).fit(X[:2], [1, 2]), "'n_members' parameter"),
])
def test_clear_errors(blobs, call, match):
    X, _, _ = blobs
    with pytest.raises((ValueError, RuntimeError), match=match):
        call(InterestHead(device="cpu"), X)


def test_side_columns(blobs):
    """Extra input columns (the Explorer passes the anomaly prior) are used and checked."""
    X, y, which = blobs
    side = (which == 0).astype(np.float32) * 5     # a side column that predicts the target
    train = np.r_[0:5, 200:210, 400:410]
    head = InterestHead(device="cpu").fit(X[train], y[train], side=side[train])
    assert head.n_features_in_ == 11 and head.n_side_ == 1
    mean, _ = head.predict(X, side=side)
    assert mean[which == 0].mean() > 3.5
    with pytest.raises(ValueError, match="side columns"):
        head.predict(X)
    plain = InterestHead(device="cpu").fit(X[train], y[train])
    with pytest.raises(ValueError, match="without side columns"):
        plain.predict(X, side=side)


@pytest.mark.parametrize("params", [{"max_balance": 0}, {"max_balance": 0.5}, {"weight_decay": -1e-3},
                                    {"lr": float("nan")}, {"weight_decay": float("inf")}])
def test_invalid_parameters_are_refused(blobs, params):
    """max_balance=0 made every prediction NaN without an error."""
    X, y, _ = blobs
    with pytest.raises(ValueError, match=next(iter(params))):
        InterestHead(device="cpu", **params).fit(X[:20], y[:20])


@pytest.mark.parametrize("weights", [np.zeros(20), np.r_[np.ones(19), np.nan], np.r_[np.ones(19), np.inf]])
def test_invalid_sample_weights_are_refused(blobs, weights):
    X, y, _ = blobs
    with pytest.raises(ValueError, match="sample_weight"):
        InterestHead(device="cpu").fit(X[:20], y[:20], sample_weight=weights)


def test_predict_names_a_row_with_nan(blobs):
    """fit refused NaN but predict returned NaN for that row without a word."""
    X, y, _ = blobs
    head = InterestHead(device="cpu").fit(X[:20], y[:20])
    bad = X.copy()
    bad[437, 3] = np.nan
    with pytest.raises(ValueError, match="row 437"):
        head.predict(bad, chunk_size=100)


def test_a_device_torch_does_not_see_fails_when_the_head_is_made(tmp_path):
    """head_params={"device": "cuda"} on a machine without a GPU was accepted, then the first
    retrain (in the app: a background thread) failed with torch's bare AssertionError."""
    import torch

    from astroexplore.catalogue import Catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    with pytest.raises(ValueError, match=r"device=cuda: (this torch is built without CUDA|torch sees no CUDA GPU).*device=cpu"):
        InterestHead(device="cuda")._check_params()
    with pytest.raises(ValueError, match=r"device=tpu9: not a torch device"):
        InterestHead(device="tpu9")._check_params()
    cat = Catalogue.from_arrays(np.zeros((5, 2), np.float32))
    with LabelStore(tmp_path / "l.sqlite") as store, pytest.raises(ValueError, match="device=cuda"):
        Explorer(cat, store, head_params={"device": "cuda"})
    InterestHead(device="cpu")._check_params()
