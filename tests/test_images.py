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
    cube[0, 3:7, 4:8] = 5.0   # a source bright in the g plane only
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
    with pytest.raises(ImageError, match=r"bad.fits.*\(5, 4, 4\).*Write 3 of its planes \(e.g. the g, r, z bands\)"):
        load_image(p)


def _galaxy_plane(size: int = 24) -> np.ndarray:
    """A round exponential-profile galaxy in the middle of a (size, size) plane, peak 100."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return 100.0 * np.exp(-np.hypot(yy, xx) / 3.0)


def test_fits_nan_pixels_are_black_and_leave_the_stretch_alone(tmp_path):
    from astropy.io import fits

    sky = 1000.0  # an unsubtracted sky level, as in many survey cutouts
    galaxy = _galaxy_plane() + sky
    # the same galaxy at the edge of the footprint: 60% of the cutout masked (NaN), one inf pixel
    holed = np.full((24, 60), np.nan)
    holed[:, 36:] = galaxy
    holed[0, 40] = np.inf
    fits.PrimaryHDU(galaxy.astype(np.float32)).writeto(tmp_path / "galaxy.fits")
    fits.PrimaryHDU(holed.astype(np.float32)).writeto(tmp_path / "holed.fits")
    a, b = load_image(tmp_path / "galaxy.fits"), load_image(tmp_path / "holed.fits")
    assert (b[:, :36] == 0).all() and (b[-1, 40] == 0).all()  # at the sky level (FITS row 0 = bottom)
    # the galaxy is stretched exactly as without the mask: NaN moved neither the sky nor the scale
    # (the old rule set NaN to 0, so the median sky fell to 0 and the sky came out grey)
    b[-1, 40] = a[-1, 4]
    np.testing.assert_array_equal(b[:, 36:], a)
    assert a[:3, :3].max() <= 3 and a[12, 12, 0] > 200


def test_fits_cube_each_band_loses_its_own_sky(tmp_path):
    from astropy.io import fits

    g = _galaxy_plane()
    cube = np.stack([g + 5.0, g * 0.5 + 300.0, g * 0.25 + 40.0])  # three sky levels
    fits.PrimaryHDU(cube.astype(np.float32)).writeto(tmp_path / "cube.fits")
    img = load_image(tmp_path / "cube.fits").astype(int)
    corner = img[:3, :3].reshape(-1, 3)
    assert corner.max() <= 3, corner  # the sky is black in every band: no colour cast
    centre = img[12, 12]
    assert centre[0] > centre[1] > centre[2] > 0  # the band ratios survive the common scale


def test_fits_without_any_finite_pixel_names_the_file(tmp_path):
    from astropy.io import fits

    p = tmp_path / "off_footprint.fits"
    fits.PrimaryHDU(np.full((3, 8, 8), np.nan, np.float32)).writeto(p)
    with pytest.raises(ImageError, match="off_footprint.fits.*no finite pixel"):
        load_image(p)
    # one empty band is fine: it is drawn black
    cube = np.stack([_galaxy_plane(8), np.full((8, 8), np.nan), _galaxy_plane(8)])
    fits.PrimaryHDU(cube.astype(np.float32)).writeto(tmp_path / "one_band.fits")
    img = load_image(tmp_path / "one_band.fits")
    assert (img[..., 1] == 0).all() and img[..., 0].max() > 200


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


# ------------------------------------------------------------------------------- large and odd inputs
def test_large_images_are_reduced_on_reading(tmp_path):
    """A 3000 x 2000 PNG / JPEG and a 3000 x 3000 FITS come back at MAX_SIDE on the long side."""
    from astropy.io import fits

    from astroexplore.images import MAX_SIDE

    big = np.zeros((2000, 3000, 3), np.uint8)
    big[900:1100, 1400:1600] = 255  # a bright square in the middle
    for name in ("big.png", "big.jpg"):
        Image.fromarray(big).save(tmp_path / name)
        img = load_image(tmp_path / name)
        assert max(img.shape[:2]) == MAX_SIDE and abs(img.shape[1] / img.shape[0] - 1.5) < 0.01
        h, w = img.shape[:2]
        assert img[h // 2, w // 2].mean() > 200 and img[5, 5].mean() < 30
    sky = np.random.default_rng(1).normal(0, 1, (3000, 3000))
    sky[1400:1600, 1400:1600] += 100
    sky[:200, :200] = np.nan  # masked corner
    fits.PrimaryHDU(sky).writeto(tmp_path / "big.fits")
    img = load_image(tmp_path / "big.fits")
    assert img.shape == (1000, 1000, 3) and img[500, 500].mean() > 200  # 3 x 3 blocks


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (40, 20, 3)


def test_decompression_bomb_is_an_image_error(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels > 2 x the limit
    with pytest.raises(ImageError, match="too large to read safely"):
        load_image(tmp_path / "bomb.png")


def test_data_uri_images_are_shown():
    import base64

    from astroexplore.catalogue import Catalogue

    uri = "data:image/png;base64," + base64.b64encode(to_png_bytes(RGB)).decode()
    cat = Catalogue.from_arrays(np.ones((1, 2), np.float32), ids=["g"], table=pd.DataFrame({"image": [uri]}))
    np.testing.assert_array_equal(image_for(cat, 0), RGB)
