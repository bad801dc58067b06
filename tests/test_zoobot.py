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
    """Direct numpy computation: (n, answers, samples) -> mean, p5, p95 of per-sample fractions."""
    frac = np.empty_like(alpha, dtype=np.float64)
    for idx in QUESTIONS.values():
        a = alpha[:, idx, :].astype(np.float64)
        frac[:, idx, :] = a / a.sum(axis=1, keepdims=True)
    return frac.mean(axis=2), np.percentile(frac, 5, axis=2), np.percentile(frac, 95, axis=2)


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


def test_single_pass_gives_degenerate_interval(tmp_path, ids):
    alpha = concentrations((12, len(LABELS), 1), seed=2)
    df = read_zoobot_predictions(write_predictions(tmp_path / "one.h5", alpha, ids))
    c = LABELS[3]
    np.testing.assert_allclose(df[f"{c}_fraction_lo"], df[f"{c}_fraction"], rtol=1e-6)
    np.testing.assert_allclose(df[f"{c}_fraction_hi"], df[f"{c}_fraction"], rtol=1e-6)


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
