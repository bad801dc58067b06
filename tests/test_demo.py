"""The synthetic demo survey: determinism, votes, truth, images, embeddings."""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from astroexplore.demo import demo_catalogue_path, image_store_path, make_demo_catalogue, render_galaxy
from astroexplore.demo.survey import (
    ANOMALY_KINDS,
    GZ_DECALS_PARENTS,
    GZ_DECALS_QUESTIONS,
    MORPHOLOGIES,
    fraction_column,
    galaxy_rng,
    interest_of,
    sample_params,
    sample_population,
    simulate_votes,
)
from astroexplore.images import image_for

N = 300


def _read(path):
    tbl = pq.read_table(path)
    meta = json.loads(tbl.schema.metadata[b"astroexplore"])
    df = tbl.to_pandas()
    emb = np.stack(df.pop("embedding").to_numpy()).astype(np.float32)
    return df, emb, meta


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_a")
    path = make_demo_catalogue(out, n=N, seed=0, progress=False)
    return path, *_read(path)


def test_paths(demo):
    path = demo[0]
    assert path == demo_catalogue_path(path.parent)
    assert image_store_path(path).is_file()


def test_deterministic_for_a_seed(demo, tmp_path):
    path, df, emb, _ = demo
    again = make_demo_catalogue(tmp_path / "b", n=N, seed=0, progress=False)
    df2, emb2, _ = _read(again)
    np.testing.assert_array_equal(emb, emb2)
    pd.testing.assert_frame_equal(df, df2)
    np.testing.assert_array_equal(np.load(image_store_path(path)), np.load(image_store_path(again)))
    other = make_demo_catalogue(tmp_path / "c", n=N, seed=1, progress=False)
    df3, emb3, _ = _read(other)
    assert not np.allclose(emb, emb3)
    assert not df["ra"].equals(df3["ra"])


def test_same_result_in_worker_processes(demo, tmp_path, monkeypatch):
    _, df, emb, _ = demo
    monkeypatch.setenv("ASTROEXPLORE_DEMO_WORKERS", "2")
    df2, emb2, _ = _read(make_demo_catalogue(tmp_path, n=N, seed=0, progress=False))
    np.testing.assert_array_equal(emb, emb2)
    pd.testing.assert_frame_equal(df, df2)


def test_columns_and_types(demo):
    _, df, emb, meta = demo
    assert list(df.columns[:4]) == ["id", "ra", "dec", "image"]
    assert df["id"].iloc[0] == "demo_000001" and df["id"].is_unique
    assert df["ra"].between(150, 165).all() and df["dec"].between(-2, 8).all()
    for q, answers in GZ_DECALS_QUESTIONS.items():
        for a in answers:
            assert fraction_column(q, a) in df.columns
    for col in ("truth_morphology", "truth_anomaly", "truth_interest"):
        assert col in df.columns
    assert set(df["truth_morphology"]) <= set(MORPHOLOGIES)
    assert set(df["truth_anomaly"]) <= {"none", *ANOMALY_KINDS}
    assert df["truth_interest"].between(0, 5).all()
    assert emb.shape == (N, 40) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert meta["encoder"]["name"] == "astroexplore.features.combined_features"
    assert meta["image_store"]["path"] == image_store_path(demo[0]).name
    assert meta["demo"]["seed"] == 0


def test_votes_follow_the_tree(demo):
    df = demo[1]
    for q, answers in GZ_DECALS_QUESTIONS.items():
        frac = df[[fraction_column(q, a) for a in answers]].to_numpy()
        nan = np.isnan(frac)
        assert (nan.all(axis=1) | ~nan.any(axis=1)).all(), f"{q}: NaN in only some answers"
        ok = ~nan[:, 0]
        np.testing.assert_allclose(frac[ok].sum(axis=1), 1.0, atol=1e-9)
        assert ((frac[ok] >= 0) & (frac[ok] <= 1)).all()
        parent = GZ_DECALS_PARENTS[q]
        if parent is not None:
            pf = df[fraction_column(*parent)].to_numpy()
            # asked only where the parent was answered, and some volunteers gave the parent answer
            assert not (ok & np.isnan(pf)).any(), q
            assert (pf[ok] > 0).all(), q
    # the root is always answered; deep questions are often NaN
    assert df[fraction_column("smooth-or-featured", "smooth")].notna().all()
    assert df[fraction_column("spiral-arm-count", "2")].isna().mean() > 0.3


def test_votes_reflect_truth(demo):
    df = demo[1]
    smooth = df[fraction_column("smooth-or-featured", "smooth")]
    ell = df["truth_morphology"] == "elliptical"
    spiral = df["truth_morphology"].isin(["spiral", "barred_spiral"])
    assert smooth[ell].mean() > smooth[spiral].mean() + 0.3
    edge = df[fraction_column("disk-edge-on", "yes")]
    assert edge[df["truth_morphology"] == "edge_on"].mean() > 0.7


def test_anomaly_share_and_kinds():
    pop = sample_population(20000, seed=3)
    share = (pop["anomaly"] != "none").mean()
    assert 0.01 <= share <= 0.02
    assert set(pop["anomaly"]) == {"none", *ANOMALY_KINDS}
    small = sample_population(300, seed=0)
    assert 3 <= (small["anomaly"] != "none").sum() <= 6


def test_interest_oracle():
    got = interest_of(["elliptical", "spiral", "ring", "merger", "clumpy", "elliptical", "spiral"],
                      ["none", "none", "none", "none", "blue_clumpy", "lens", "satellite_trail"])
    assert got.tolist() == [0, 1, 2, 3, 4, 5, 0]


@pytest.mark.parametrize("size", [32, 64])
def test_render_every_kind(size):
    cases = [(m, "none") for m in MORPHOLOGIES] + [("spiral", k) for k in ANOMALY_KINDS]
    for j, (m, a) in enumerate(cases):
        rng = galaxy_rng(0, j)
        img = render_galaxy(sample_params(m, a, rng), size, rng)
        assert img.shape == (size, size, 3) and img.dtype == np.float32, (m, a)
        assert np.isfinite(img).all() and img.min() >= 0 and img.max() <= 1, (m, a)
        centre = img[size // 2 - 4: size // 2 + 4, size // 2 - 4: size // 2 + 4].mean()
        assert centre > img[:4, :4].mean(), f"{m}/{a}: no galaxy in the middle"


def test_simulate_votes_deterministic():
    pop = sample_population(50, seed=0)
    params = pd.DataFrame([sample_params(m, a, galaxy_rng(0, i))
                           for i, (m, a) in enumerate(zip(pop["morphology"], pop["anomaly"], strict=True))])
    a, b = simulate_votes(params, seed=0), simulate_votes(params, seed=0)
    pd.testing.assert_frame_equal(a, b)
    assert a.shape == (50, 34)


def test_image_store_and_rerender(demo, tmp_path):
    path, df, _, meta = demo
    store = np.load(image_store_path(path), mmap_mode="r")
    assert store.shape == (N, 64, 64, 3) and store.dtype == np.uint8
    cat = SimpleNamespace(table=df, metadata=meta, path=path)
    for i in (0, 7, N - 1):
        np.testing.assert_array_equal(image_for(cat, i), store[i])
    # without the store the galaxy is re-rendered, identically
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    moved = SimpleNamespace(table=df, metadata=meta, path=copy)
    np.testing.assert_array_equal(image_for(moved, 5), store[5])
    # a subset keeps pointing at the right galaxy
    sub = SimpleNamespace(table=df.iloc[[9, 3]].reset_index(drop=True), metadata=meta, path=path)
    np.testing.assert_array_equal(image_for(sub, 1), store[3])


def test_with_catalogue_module(demo):
    catalogue = pytest.importorskip("astroexplore.catalogue")
    cat = catalogue.load_catalogue(demo[0])
    assert cat.n_galaxies == N and cat.n_features == 40
    assert cat.metadata["encoder"]["name"] == "astroexplore.features.combined_features"
    img = image_for(cat, 2)
    assert img is not None and img.shape == (64, 64, 3)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="'n' parameter"):
        make_demo_catalogue(tmp_path, n=0, progress=False)


def test_tiny_survey_keeps_40_dimensions(tmp_path):
    df, emb, _ = _read(make_demo_catalogue(tmp_path, n=5, seed=0, progress=False))
    assert emb.shape == (5, 40) and np.isfinite(emb).all()
    assert len(df) == 5
