"""Pixel baselines: shapes, determinism, rotation robustness, usefulness on the demo galaxies."""
from __future__ import annotations

import numpy as np
import pytest

from astroexplore.demo.make import render_one
from astroexplore.demo.survey import sample_population
from astroexplore.features import (
    MORPHOLOGY_FEATURE_NAMES,
    canonical_pixels,
    combine_blocks,
    combined_features,
    morphology_features,
    pixel_pca_features,
)


@pytest.fixture(scope="module")
def galaxies():
    pop = sample_population(300, seed=5)
    imgs = np.stack([render_one(5, i, m, a, 48)[1]
                     for i, (m, a) in enumerate(zip(pop["morphology"], pop["anomaly"], strict=True))])
    return imgs, pop["morphology"].to_numpy()


def test_shapes_and_dtypes(galaxies):
    imgs, _ = galaxies
    m = morphology_features(imgs)
    assert m.shape == (len(imgs), len(MORPHOLOGY_FEATURE_NAMES)) and m.dtype == np.float32
    assert np.isfinite(m).all()
    p = pixel_pca_features(imgs, n_components=12, seed=0)
    assert p.shape == (len(imgs), 12) and p.dtype == np.float32
    np.testing.assert_array_equal(p, pixel_pca_features(imgs, n_components=12, seed=0))
    # float input in [0, 1] gives the same features as uint8
    np.testing.assert_allclose(morphology_features(imgs[:20] / 255.0), m[:20], rtol=1e-3, atol=1e-3)


def test_empty_and_bad_input():
    assert morphology_features(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, len(MORPHOLOGY_FEATURE_NAMES))
    with pytest.raises(ValueError, match=r"\(n, H, W, 3\)"):
        morphology_features(np.zeros((3, 32, 32), np.uint8))


def test_deterministic(galaxies):
    imgs = galaxies[0][:120]
    a = combined_features(imgs, 10, seed=1)
    b = combine_blocks(canonical_pixels(imgs), morphology_features(imgs), 10, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(pixel_pca_features(imgs, 5, seed=1), pixel_pca_features(imgs[::-1], 5, seed=1))


def test_rotation_robust(galaxies):
    imgs, _ = galaxies
    rot = np.ascontiguousarray(np.rot90(imgs[:50], 1, axes=(1, 2)))
    c0, c1 = canonical_pixels(imgs[:50]), canonical_pixels(rot)
    assert np.abs(c0 - c1).mean() < 0.01 * np.abs(c0).mean() + 1e-3
    m0, m1 = morphology_features(imgs[:50]), morphology_features(rot)
    sd = morphology_features(imgs).std(axis=0) + 1e-6
    shape_cols = [i for i, n in enumerate(MORPHOLOGY_FEATURE_NAMES) if n != "column_excess"]
    assert np.abs((m0 - m1) / sd)[:, shape_cols].max() < 0.5


def test_embeddings_separate_morphologies(galaxies):
    from sklearn.neighbors import NearestNeighbors

    imgs, morph = galaxies
    emb = combined_features(imgs, 20)
    assert emb.shape == (len(imgs), 20) and emb.dtype == np.float32 and emb.flags.c_contiguous
    _, idx = NearestNeighbors(n_neighbors=11).fit(emb).kneighbors(emb)
    purity = (morph[idx[:, 1:]] == morph[:, None]).mean()
    _, counts = np.unique(morph, return_counts=True)
    chance = ((counts / counts.sum()) ** 2).sum()
    print(f"kNN(10) purity {purity:.3f} vs chance {chance:.3f}")
    assert purity > chance + 0.2


def test_round_galaxy_in_a_non_square_frame_stays_round():
    """A round Gaussian in a 64 x 128 frame: cropped to its central square, not stretched."""
    y, x = np.mgrid[:64, :128]
    wide = np.exp(-((x - 63.5) ** 2 + (y - 31.5) ** 2) / (2 * 6.0 ** 2))
    y, x = np.mgrid[:64, :64]
    square = np.exp(-((x - 31.5) ** 2 + (y - 31.5) ** 2) / (2 * 6.0 ** 2))
    imgs = np.stack([np.repeat(im[..., None], 3, -1) for im in (square,)]).astype(np.float32)
    wide_imgs = np.repeat(wide[None, ..., None], 3, -1).astype(np.float32)
    names = list(MORPHOLOGY_FEATURE_NAMES)
    e = names.index("ellipticity")
    assert abs(morphology_features(wide_imgs)[0, e] - morphology_features(imgs)[0, e]) < 0.02
