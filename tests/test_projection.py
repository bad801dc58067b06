"""2-D projections: precomputed columns, cached PCA, offline UMAP."""
from __future__ import annotations

import builtins
import sys

import numpy as np
import pandas as pd
import pytest

from astroexplore import projection as proj
from astroexplore.catalogue import Catalogue, load_catalogue, save_catalogue


def _cat(n=300, d=10, seed=0, table=None, metadata=None):
    emb = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    emb[:, 0] *= 5  # a dominant direction, so PCA has a clear first axis
    return Catalogue.from_arrays(emb, table=table, metadata=metadata)


@pytest.fixture()
def saved_cat(tmp_path):
    path = save_catalogue(_cat(seed=4), tmp_path / "survey.parquet")
    return load_catalogue(path)


def test_pca_is_cached(saved_cat, monkeypatch):
    cat = saved_cat
    xy = proj.projection(cat)
    assert xy.shape == (cat.n_galaxies, 2) and xy.dtype == np.float32
    cached = proj.cache_path(cat, "pca")
    assert cached.is_file() and cached.parent == cat.cache_dir
    assert cat.fingerprint in cached.name
    # the second call loads the cache: no PCA computed
    monkeypatch.setattr(proj, "compute_pca", lambda *a, **k: pytest.fail("PCA recomputed"))
    np.testing.assert_array_equal(proj.projection(cat), xy)
    np.testing.assert_array_equal(proj.projection(cat, method="pca"), xy)
    # a fresh load of the same file hits the same cache
    again = load_catalogue(cat.path)
    np.testing.assert_array_equal(proj.projection(again), xy)


def test_pca_values_match_sklearn():
    from sklearn.decomposition import PCA

    cat = _cat()
    xy = proj.projection(cat, method="pca")
    ref = PCA(2, svd_solver="randomized", random_state=0).fit_transform(cat.embeddings)
    np.testing.assert_allclose(np.abs(xy), np.abs(ref), rtol=1e-3, atol=1e-4)
    assert xy[:, 0].var() > xy[:, 1].var()


def test_damaged_cache_is_recomputed(saved_cat):
    path = proj.cache_path(saved_cat, "pca")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an npy file")
    xy = proj.projection(saved_cat)
    assert xy.shape == (saved_cat.n_galaxies, 2)
    np.testing.assert_array_equal(np.load(path), xy)


@pytest.mark.parametrize("pair", [("umap_0", "umap_1"), ("umap_x", "umap_y"), ("pca_0", "pca_1"),
                                  ("proj_x", "proj_y"), ("UMAP_0", "UMAP_1")])
def test_precomputed_columns_used(pair):
    n = 50
    t = pd.DataFrame({pair[0]: np.arange(n, dtype=float), pair[1]: -np.arange(n, dtype=float)})
    cat = _cat(n=n, table=t)
    assert proj.projection_columns(cat) == pair
    xy = proj.projection(cat)
    np.testing.assert_array_equal(xy[:, 0], np.arange(n))
    np.testing.assert_array_equal(xy[:, 1], -np.arange(n))
    np.testing.assert_array_equal(proj.projection(cat, method="precomputed"), xy)


def test_umap_preferred_over_pca_and_bare_xy_ignored():
    t = pd.DataFrame({"x": np.arange(20.0), "y": np.arange(20.0),
                      "pca_0": np.ones(20), "umap_0": np.zeros(20), "umap_1": np.zeros(20),
                      "pca_1": np.ones(20)})
    cat = _cat(n=20, table=t)
    assert proj.projection_columns(cat) == ("umap_0", "umap_1")
    only_xy = _cat(n=20, table=t[["x", "y"]])
    assert proj.projection_columns(only_xy) is None  # x/y are often pixel positions
    named = _cat(n=20, table=t[["x", "y"]], metadata={"projection_columns": ["x", "y"]})
    assert proj.projection_columns(named) == ("x", "y")
    with pytest.raises(ValueError, match="no precomputed projection"):
        proj.projection(only_xy, method="precomputed")


def test_non_numeric_pair_ignored():
    t = pd.DataFrame({"pca_0": ["a"] * 5, "pca_1": ["b"] * 5})
    assert proj.projection_columns(_cat(n=5, table=t)) is None


def test_real_precomputed_pca(shared_data):
    t = pd.read_parquet(shared_data / "desi_explorer_50k" / "desi_50k_pca2.parquet")
    t = t.iloc[:2000].rename(columns={"id_str": "id"})
    cat = Catalogue.from_arrays(np.zeros((len(t), 2)), table=t)
    assert proj.projection_columns(cat) == ("pca_0", "pca_1")
    np.testing.assert_allclose(proj.projection(cat), t[["pca_0", "pca_1"]].to_numpy(), rtol=1e-6)


@pytest.mark.slow  # numba compiles umap-learn on first use (~30 s)
def test_umap_runs_caches_and_is_preferred(saved_cat, tmp_path):
    cat = Catalogue.from_arrays(np.random.default_rng(0).normal(size=(500, 10)))
    # make the catalogue file-backed so the cache goes beside it
    path = save_catalogue(cat, tmp_path / "small.parquet")
    cat = load_catalogue(path)
    with pytest.raises(FileNotFoundError, match="astroexplore project"):
        proj.projection(cat, method="umap")
    pca = proj.projection(cat, method="pca")
    xy = proj.compute_umap(cat, out_path=tmp_path / "layout.csv", progress=False, n_neighbors=10)
    assert xy.shape == (500, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert proj.cache_path(cat, "umap").is_file()
    np.testing.assert_array_equal(proj.projection(cat), xy)  # auto prefers the cached UMAP
    np.testing.assert_array_equal(proj.projection(cat, method="umap"), xy)
    np.testing.assert_array_equal(proj.projection(cat, method="pca"), pca)
    layout = pd.read_csv(tmp_path / "layout.csv", dtype={"id": str})
    assert list(layout.columns) == ["id", "umap_0", "umap_1"]
    assert layout["id"].tolist() == cat.ids.tolist()


def test_umap_install_hint(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "umap" or name.startswith("umap."):
            raise ImportError("No module named 'umap'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "umap", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install astroexplore\[umap\]"):
        proj.compute_umap(_cat(n=10), progress=False)


def test_bad_method():
    with pytest.raises(ValueError, match="unknown projection method"):
        proj.projection(_cat(n=5), method="tsne")


def test_map_axes_say_what_the_map_is_and_what_pca_keeps(saved_cat, monkeypatch):
    """The map had no axes: nothing said it was two principal components keeping a third of the
    variance, so the galaxies nearest a tap read as the most similar ones."""
    from sklearn.decomposition import PCA

    x, y, sentence = proj.map_axes(saved_cat, proj.projection(saved_cat))
    share = PCA(n_components=2).fit(np.asarray(saved_cat.embeddings, dtype=np.float64)).explained_variance_ratio_
    assert x == f"PC 1 ({share[0]:.0%} of the variance)" and y == f"PC 2 ({share[1]:.0%})"
    assert f"first two principal components, {share.sum():.0%} of its variance" in sentence
    monkeypatch.setattr(proj, "VARIANCE_SAMPLE", 50)  # a sample of the rows: the same share, near enough
    assert proj.map_axes(saved_cat, proj.projection(saved_cat))[0][:6] == "PC 1 ("
    t = pd.DataFrame({"umap_0": np.arange(20.0), "umap_1": np.arange(20.0)})
    assert proj.map_axes(_cat(n=20, table=t), None)[:2] == ("umap_0", "umap_1")
