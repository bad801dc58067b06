"""Zoobot prediction HDF5 files -> expected vote fractions (astroexplore.zoobot)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from astroexplore.catalogue import load_catalogue
from astroexplore.errors import CatalogueError
from astroexplore.zoobot import group_label_columns, read_zoobot_predictions, vote_fractions

LABELS = ["smooth-or-featured_smooth", "smooth-or-featured_featured-or-disk",
          "smooth-or-featured_artifact", "disk-edge-on_yes", "disk-edge-on_no",
          "has-spiral-arms_yes", "has-spiral-arms_no"]
QUESTIONS = {"smooth-or-featured": [0, 1, 2], "disk-edge-on": [3, 4], "has-spiral-arms": [5, 6]}


def write_predictions(path, predictions, ids, labels=LABELS, *, vlen=True):
    """Write a file the way zoobot.predictions_to_hdf5 does (or with fixed-length bytes)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("predictions", data=predictions, compression="gzip")
        if vlen:
            dt = h5py.string_dtype(encoding="utf-8")
            f.create_dataset("id_str", data=list(ids), dtype=dt)
            f.create_dataset("label_cols", data=list(labels), dtype=dt)
        else:
            f.create_dataset("id_str", data=np.array([s.encode() for s in ids]))
            f.create_dataset("label_cols", data=np.array([s.encode() for s in labels]))
    return path


def concentrations(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 30.0, size=shape).astype(np.float32)


def expected(alpha):
    """Direct computation, (n, answers, samples) -> mean, p5, p95: the mixture over samples of the
    Beta(alpha_j, A - alpha_j) marginals, matched by a Beta of its mean and variance (scipy.stats)."""
    from scipy import stats

    m = np.empty(alpha.shape[:2])
    v = np.empty(alpha.shape[:2])
    for idx in QUESTIONS.values():
        a = alpha[:, idx, :].astype(np.float64)
        total = a.sum(axis=1, keepdims=True)
        beta_mean = a / total
        beta_var = stats.beta.var(a, total - a)
        m[:, idx] = beta_mean.mean(axis=2)
        v[:, idx] = (beta_var + beta_mean ** 2).mean(axis=2) - m[:, idx] ** 2
    k = m * (1 - m) / v - 1
    return m, stats.beta.ppf(0.05, m * k, (1 - m) * k), stats.beta.ppf(0.95, m * k, (1 - m) * k)


@pytest.fixture
def ids():
    return [f"{100000 + i}_{i * 7}" for i in range(12)]


@pytest.mark.parametrize("vlen", [True, False])
def test_fractions_match_numpy_and_sum_to_one(tmp_path, ids, vlen):
    alpha = concentrations((12, len(LABELS), 5))
    path = write_predictions(tmp_path / "preds.hdf5", alpha, ids, vlen=vlen)
    df = read_zoobot_predictions(path)
    assert df["id"].tolist() == ids
    mean, lo, hi = expected(alpha)
    for j, label in enumerate(LABELS):
        np.testing.assert_allclose(df[f"{label}_fraction"], mean[:, j], rtol=1e-5)
        np.testing.assert_allclose(df[f"{label}_fraction_lo"], lo[:, j], rtol=1e-5)
        np.testing.assert_allclose(df[f"{label}_fraction_hi"], hi[:, j], rtol=1e-5)
    for idx in QUESTIONS.values():
        total = df[[f"{LABELS[j]}_fraction" for j in idx]].sum(axis=1)
        np.testing.assert_allclose(total, 1.0, rtol=1e-5)
    assert (df.filter(like="_fraction_lo").to_numpy() <= df.filter(regex="_fraction$").to_numpy()
            + 1e-6).all()


def test_model_axis_is_pooled_with_passes(tmp_path, ids):
    alpha = concentrations((12, len(LABELS), 4, 3), seed=1)
    df = read_zoobot_predictions(write_predictions(tmp_path / "ens.h5", alpha, ids))
    mean, lo, hi = expected(alpha.reshape(12, len(LABELS), 12))
    np.testing.assert_allclose(df[[f"{c}_fraction" for c in LABELS]], mean, rtol=1e-5)
    np.testing.assert_allclose(df[[f"{c}_fraction_lo" for c in LABELS]], lo, rtol=1e-5)
    np.testing.assert_allclose(df[[f"{c}_fraction_hi" for c in LABELS]], hi, rtol=1e-5)


def test_single_pass_interval_is_the_dirichlet_marginal(tmp_path, ids):
    """One forward pass: the interval is that pass's Beta(alpha, A - alpha), not zero width."""
    from scipy import stats

    alpha = concentrations((12, len(LABELS), 1), seed=2)
    df = read_zoobot_predictions(write_predictions(tmp_path / "one.h5", alpha, ids))
    a, rest = alpha[:, 3, 0].astype(float), alpha[:, 4, 0].astype(float)  # disk-edge-on yes / no
    c = LABELS[3]
    np.testing.assert_allclose(df[f"{c}_fraction_lo"], stats.beta.ppf(0.05, a, rest), rtol=1e-4)
    np.testing.assert_allclose(df[f"{c}_fraction_hi"], stats.beta.ppf(0.95, a, rest), rtol=1e-4)


def test_interval_covers_90_percent_of_the_vote_probability():
    """Draws from the mixture the interval describes (a pass, then p from its Dirichlet) fall in
    [lo, hi] 90% of the time (the old percentiles over 5 passes covered 31-38%)."""
    rng = np.random.default_rng(3)
    n, passes = 4000, 5
    base = rng.uniform(1, 25, size=(n, 3, 1))
    alpha = base * rng.uniform(0.8, 1.25, size=(n, 3, passes))  # passes disagree a little
    mean, lo, hi = vote_fractions(alpha, {"q": [0, 1, 2]})
    which = rng.integers(0, passes, n)
    p = np.array([rng.dirichlet(alpha[i, :, which[i]]) for i in range(n)])
    inside = (p >= lo) & (p <= hi)
    assert abs(inside.mean() - 0.90) < 0.02, inside.mean(axis=0)


def test_partial_questions_and_lone_answers_are_refused(tmp_path, ids):
    """A question with an answer missing, or a single answer, would get wrong fractions (1.0)."""
    alpha = concentrations((12, 2, 3))
    with pytest.raises(CatalogueError, match="only some of its answers"):
        read_zoobot_predictions(write_predictions(tmp_path / "part.h5", alpha, ids, labels=LABELS[:2]))
    with pytest.raises(CatalogueError, match="single answer column"):
        group_label_columns(["odd-thing_yes", "other_a", "other_b"])
    gz2 = ["t01_smooth_or_features_a01_smooth", "t01_smooth_or_features_a02_features_or_disk",
           "t01_smooth_or_features_a03_star_or_artifact"]
    assert group_label_columns(gz2, schema=None) == {"t01_smooth_or_features": [0, 1, 2]}


def test_grouping_by_prefix_and_by_schema():
    groups = group_label_columns(["odd-thing_yes", "odd-thing_no", "other_a", "other_b"])
    assert groups == {"odd-thing": [0, 1], "other": [2, 3]}
    assert group_label_columns(LABELS) == QUESTIONS
    schemas = pytest.importorskip("astroexplore.schemas")
    dr8 = [f"bar-dr8_{a}" for a in ("strong", "weak", "no")]
    assert group_label_columns(dr8, schemas.gz_decals_schema("-dr8")) == {"bar": [0, 1, 2]}


def test_grouping_falls_back_without_schemas_module(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "astroexplore.schemas", None)  # import raises ImportError
    assert group_label_columns(LABELS) == QUESTIONS


def test_vote_fractions_small_example():
    a = np.array([[[1.0, 3.0], [3.0, 1.0], [2.0, 2.0]]])
    mean, lo, hi = vote_fractions(a, {"q": [0, 1], "r": [2]})
    np.testing.assert_allclose(mean, [[0.5, 0.5, 1.0]])
    assert lo[0, 0] < 0.5 < hi[0, 0]


def test_h5_as_catalogue_uses_fractions_as_embedding(tmp_path, ids):
    alpha = concentrations((12, len(LABELS), 5))
    cat = load_catalogue(write_predictions(tmp_path / "preds.h5", alpha, ids))
    assert cat.embeddings.shape == (12, len(LABELS))
    np.testing.assert_allclose(cat.embeddings, expected(alpha)[0], rtol=1e-5)
    assert cat.ids.tolist() == ids


def test_missing_dataset(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("predictions", data=np.ones((2, 2, 1)))
    with pytest.raises(CatalogueError, match=r"bad\.h5.*no dataset 'id_str'") as err:
        read_zoobot_predictions(path)
    assert err.value.column == "id_str"


def test_shape_mismatch(tmp_path, ids):
    path = write_predictions(tmp_path / "p.h5", concentrations((11, len(LABELS), 2)), ids)
    with pytest.raises(CatalogueError, match=r"p\.h5.*'predictions' has shape \(11, 7, 2\)"):
        read_zoobot_predictions(path)


def test_non_positive_concentration(tmp_path, ids):
    alpha = concentrations((12, len(LABELS), 3))
    alpha[4, 5, 1] = 0.0
    alpha[9, 0, 0] = np.nan
    path = write_predictions(tmp_path / "p.h5", alpha, ids)
    with pytest.raises(CatalogueError,
                       match=r"p\.h5: 2 rows have a Dirichlet.*'has-spiral-arms_yes'.*row 4, "
                             r"id '100004_28'") as err:
        read_zoobot_predictions(path)
    assert err.value.rows == [4, 9] and err.value.column == "has-spiral-arms_yes"


def test_duplicate_ids(tmp_path, ids):
    ids[5] = ids[2]
    path = write_predictions(tmp_path / "p.h5", concentrations((12, len(LABELS), 2)), ids)
    with pytest.raises(CatalogueError, match=r"duplicate id in 'id_str' \(first: row 5") as err:
        read_zoobot_predictions(path)
    assert err.value.rows == [5]


def test_corrupt_and_missing_file(tmp_path):
    bad = tmp_path / "corrupt.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(CatalogueError, match=r"corrupt\.h5: cannot read as HDF5"):
        read_zoobot_predictions(bad)
    with pytest.raises(CatalogueError, match=r"nothere\.h5: file not found"):
        read_zoobot_predictions(tmp_path / "nothere.h5")


def test_interval_can_be_skipped_for_speed(tmp_path, ids):
    alpha = concentrations((12, len(LABELS), 5), seed=4)
    path = write_predictions(tmp_path / "fast.h5", alpha, ids)
    fast, full = read_zoobot_predictions(path, interval=False), read_zoobot_predictions(path)
    assert not any(c.endswith(("_lo", "_hi")) for c in fast.columns)
    np.testing.assert_array_equal(fast[[f"{c}_fraction" for c in LABELS]], full[[f"{c}_fraction" for c in LABELS]])


def test_interval_by_threads_equals_one_thread_and_the_direct_computation():
    """The interval is computed in row blocks by several threads: the same numbers as in one
    thread, in the same rows (a block boundary misplaced would move rows)."""
    alpha = concentrations((9_001, len(LABELS), 3), seed=11)
    one = vote_fractions(alpha, QUESTIONS, threads=1)
    four = vote_fractions(alpha, QUESTIONS, threads=4)
    for a, b in zip(one, four):
        np.testing.assert_array_equal(a, b)
    m, p5, p95 = expected(alpha[::500])
    np.testing.assert_allclose(four[0][::500], m, atol=1e-6)
    np.testing.assert_allclose(four[1][::500], p5, atol=2e-5)
    np.testing.assert_allclose(four[2][::500], p95, atol=2e-5)
