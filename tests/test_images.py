"""Image sources: every file format, conversions, errors, placeholders, images of catalogue rows."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from astroexplore.images import ImageError, image_for, load_image, placeholder, to_png_bytes

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (20, 24, 3), dtype=np.uint8)


def test_png_roundtrip(tmp_path):
    p = tmp_path / "g.png"
    Image.fromarray(RGB).save(p)
    img = load_image(p)
    assert img.dtype == np.uint8 and img.shape == (20, 24, 3)
    np.testing.assert_array_equal(img, RGB)
    np.testing.assert_array_equal(load_image(str(p)), RGB)
    np.testing.assert_array_equal(load_image(p.read_bytes()), RGB)


def test_jpeg(tmp_path):
    p = tmp_path / "g.jpg"
    Image.fromarray(RGB).save(p, quality=95)
    img = load_image(p)
    assert img.shape == (20, 24, 3) and img.dtype == np.uint8


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "I;16", "CMYK"])
def test_pil_modes_become_rgb(tmp_path, mode):
    if mode == "I;16":
        im = Image.fromarray(RGB[..., 0].astype(np.uint16) * 200)
        assert im.mode.startswith("I")
    else:
        im = Image.fromarray(RGB).convert(mode)
    p = tmp_path / ("g.tif" if mode == "CMYK" else "g.png")
    im.save(p)
    img = load_image(p)
    assert img.shape == (20, 24, 3) and img.dtype == np.uint8
    if mode in ("L", "LA", "I;16"):
        assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


def test_alpha_composited_over_black(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., :3] = 200
    a[:2, ..., 3] = 255          # top half opaque, bottom transparent
    p = tmp_path / "a.png"
    Image.fromarray(a, "RGBA").save(p)
    img = load_image(p)
    assert (img[:2] == 200).all() and (img[2:] == 0).all()


def test_fits_2d(tmp_path):
    from astropy.io import fits

    data = RNG.normal(0, 1, (16, 18)).astype(np.float32)
    data[8, 9] = 100
    p = tmp_path / "g.fits"
    fits.PrimaryHDU(data).writeto(p)
    img = load_image(p)
    assert img.shape == (16, 18, 3) and img.dtype == np.uint8
    assert (img[..., 0] == img[..., 2]).all()
    # FITS row 0 is the bottom: the bright pixel moves to row 16 - 1 - 8
    assert img[7, 9, 0] == 255
    np.testing.assert_array_equal(load_image(p.read_bytes()), img)


def test_fits_cube_and_legacy_band_order(tmp_path):
    from astropy.io import fits

    cube = np.zeros((3, 10, 12), np.float32)
    cube[0] = 5.0   # g plane bright
    cube += RNG.normal(0, 0.01, cube.shape).astype(np.float32)
    plain = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(plain)
    img = load_image(plain)
    assert img.shape == (10, 12, 3)
    assert img[..., 0].mean() > img[..., 2].mean()          # plane 0 -> red
    hdr = fits.Header({"BAND0": "g", "BAND1": "r", "BAND2": "z"})
    legacy = tmp_path / "legacy.fits"
    fits.PrimaryHDU(cube, header=hdr).writeto(legacy)
    img = load_image(legacy)
    assert img[..., 2].mean() > img[..., 0].mean()          # g -> blue, as in the Legacy viewer
    # an extension HDU with the data (empty primary) is found too
    ext = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube[0])]).writeto(ext)
    assert load_image(ext).shape == (10, 12, 3)


def test_fits_bad_shape(tmp_path):
    from astropy.io import fits

    p = tmp_path / "bad.fits"
    fits.PrimaryHDU(np.zeros((5, 4, 4), np.float32)).writeto(p)
    with pytest.raises(ImageError, match="bad.fits"):
        load_image(p)


@pytest.mark.parametrize("name", ["corrupt.png", "corrupt.jpg", "corrupt.fits"])
def test_corrupt_file_names_the_file(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert name in str(err.value) and err.value.file == str(p)
    assert isinstance(err.value, ValueError)


def test_truncated_png(tmp_path):
    p = tmp_path / "trunc.png"
    p.write_bytes(to_png_bytes(RGB)[:60])
    with pytest.raises(ImageError, match="trunc.png"):
        load_image(p)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="nope.png: image file not found"):
        load_image(tmp_path / "nope.png")


def test_placeholder_and_png_bytes():
    for size in (16, 64, 128):
        ph = placeholder(size)
        assert ph.shape == (size, size, 3) and ph.dtype == np.uint8
    np.testing.assert_array_equal(load_image(to_png_bytes(RGB)), RGB)
    f = RGB / 255.0
    np.testing.assert_array_equal(load_image(to_png_bytes(f)), RGB)
    grey = load_image(to_png_bytes(RGB[..., 0]))
    np.testing.assert_array_equal(grey[..., 1], RGB[..., 0])
    with pytest.raises(ValueError, match="shape"):
        to_png_bytes(np.zeros((2, 2, 5)))


def test_image_for_files_urls_and_missing(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"junk")
    table = pd.DataFrame({"id": ["a", "b", "c", "d", "e"],
                          "image": ["a.png", "http://example.org/x.jpg", "missing.png", None, "bad.png"]})
    cat = SimpleNamespace(table=table, metadata={}, path=tmp_path / "cat.parquet")
    np.testing.assert_array_equal(image_for(cat, 0), RGB)
    assert image_for(cat, 1) is None
    assert image_for(cat, 2) is None
    assert image_for(cat, 3) is None
    assert image_for(cat, 4) is None
    # a catalogue object that resolves references itself is asked first
    cat2 = SimpleNamespace(table=table, metadata={}, path=None,
                           image_reference=lambda i: str(tmp_path / "a.png"))
    np.testing.assert_array_equal(image_for(cat2, 3), RGB)
