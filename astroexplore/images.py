"""Image sources: read galaxy images from files, from the demo's image store, or draw a placeholder.

Every function returns RGB images as ``(H, W, 3)`` uint8 arrays.

Formats :func:`load_image` reads
* JPEG / PNG / anything Pillow reads: greyscale (``L``, 16-bit ``I;16``, ``I``, ``F``) becomes three
  equal channels (16-bit and float images scaled by their maximum); palette (``P``) images are
  expanded; an alpha channel (``LA``, ``RGBA``) is composited over black, the sky's colour; CMYK is
  converted to RGB.
* FITS (``.fits``, ``.fit``, ``.fts``, optionally ``.gz``): the first HDU with image data. A 2-D
  image is asinh-stretched (sky median subtracted, scaled by its 99.5th percentile) to greyscale in
  three channels. A 3-D cube of shape (3, H, W) (or (H, W, 3)) becomes RGB: each plane's own sky
  median is subtracted, then one common scale keeps the colours. Its planes are taken as R, G, B
  in order, except that Legacy-Survey cutouts whose header says ``BAND0 = 'g'``, ``BAND1 = 'r'``,
  ``BAND2 = 'z'`` are reversed to (z, r, g) as in the Legacy viewer. NaN (masked, off the
  footprint) and infinite pixels are drawn at the sky level (black) and do not move the stretch;
  an image with no finite pixel raises :class:`ImageError`.

Images larger than :data:`MAX_SIDE` pixels on a side are reduced to it on reading (JPEG by
Pillow's draft mode, other formats by resampling, FITS by averaging pixel blocks before the
stretch): a 4000 x 4000 FITS took 3.5 s and 1 GB and made a 28 MB data URI for the app before.
JPEG/PNG EXIF orientation is applied (a mirrored tag would flip a spiral's handedness).
"""
from __future__ import annotations

import base64
import functools
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np

_log = logging.getLogger(__name__)

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fz")
#: Suffixes (case-insensitive) of the image files :func:`load_image` reads: JPEG, PNG or FITS
#: (``.fz``: fpack-compressed FITS).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png") + _FITS_SUFFIXES
#: Columns (any case, first found) a table given to ``astroexplore embed`` has its image paths in.
EMBED_IMAGE_COLUMNS = ("image", "file", "file_loc", "filename", "path", "image_path", "jpg", "png_loc")
#: Longest side (pixels) an image is reduced to on reading; galaxy cutouts are far smaller.
MAX_SIDE = 1024


class ImageError(ValueError):
    """An image file is missing, unreadable or of an unsupported shape.

    Parameters
    ----------
    message : str
        What is wrong.
    file : str or None
        The file (``"<bytes>"`` for in-memory data).
    """

    def __init__(self, message: str, *, file: str | None = None):
        self.file = None if file is None else str(file)
        super().__init__(f"{self.file}: {message}" if self.file else message)


def is_url(ref) -> bool:
    """An image reference that is a URL (or a ``data:`` URI), not a file path."""
    return isinstance(ref, str) and ("://" in ref or ref.startswith("data:"))


def _is_fits_name(name: str) -> bool:
    return name.lower().endswith(_FITS_SUFFIXES)


def _asinh_stretch(data: np.ndarray, name: str, q: float = 10.0) -> np.ndarray:
    """(C, H, W) float fluxes -> (C, H, W) in [0, 1].

    Each plane's sky (its median over finite pixels) is subtracted, then every plane is divided by
    one common scale, the 99.5th percentile of all sky-subtracted finite pixels (so colours keep
    their ratios). Non-finite pixels (NaN: masked or off the survey's footprint; inf) are drawn
    at the sky level, black, and do not move the sky or the scale.
    """
    data = np.asarray(data, np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        raise ImageError("no finite pixel in the image (all NaN or inf): the cutout is probably off "
                         "the survey's footprint; remove it or replace it.", file=name)
    sky = np.array([np.median(plane[ok]) if ok.any() else 0.0 for plane, ok in zip(data, finite)])
    x = np.where(finite, data - sky[:, None, None], 0.0)
    hi = np.percentile(x[finite], 99.5)
    if not hi > 0:
        hi = np.max(np.abs(x)) or 1.0
    x = np.clip(x / hi, 0, None)
    return np.clip(np.arcsinh(q * x) / np.arcsinh(q), 0.0, 1.0)


def _read_fits(source, name: str) -> np.ndarray:
    from astropy.io import fits

    try:
        with fits.open(source, memmap=False) as hdul:
            hdu = next((h for h in hdul if getattr(h, "data", None) is not None and np.ndim(h.data) >= 2), None)
            if hdu is None:
                raise ImageError("no image data in any HDU of this FITS file.", file=name)
            data = np.asarray(hdu.data)
            header = hdu.header
    except ImageError:
        raise
    except Exception as exc:  # astropy raises OSError, TypeError, ValueError... on corrupt files
        raise ImageError(f"not a readable FITS file ({exc}).", file=name) from exc
    data = _binned(np.squeeze(data))
    if data.ndim == 2:
        grey = _asinh_stretch(data[None], name)[0]
        rgb = np.repeat(grey[..., None], 3, axis=-1)
    elif data.ndim == 3 and 3 in (data.shape[0], data.shape[-1]):
        cube = data if data.shape[0] == 3 else np.moveaxis(data, -1, 0)
        bands = [str(header.get(f"BAND{k}", "")).strip().lower() for k in range(3)]
        if bands == ["g", "r", "z"]:
            cube = cube[::-1]
        rgb = np.moveaxis(_asinh_stretch(cube, name), 0, -1)
    else:
        hint = (" Write 3 of its planes (e.g. the g, r, z bands) as a (3, H, W) cube, or one as a 2-D image."
                if data.ndim == 3 else "")
        raise ImageError(f"FITS image of shape {data.shape} is neither 2-D nor a 3-plane cube (3, H, W).{hint}",
                         file=name)
    # FITS row 0 is the bottom of the image; flip so the array reads top-down like a JPEG.
    return np.ascontiguousarray((rgb[::-1] * 255 + 0.5).astype(np.uint8))


def _binned(data: np.ndarray) -> np.ndarray:
    """Average blocks of f x f pixels (f the smallest integer bringing the longest side to at most
    :data:`MAX_SIDE`) of a 2-D image or a (3, H, W) / (H, W, 3) cube; NaN pixels are left out of
    their block's mean (a block of only NaN stays NaN: masked)."""
    spatial = (0, 1) if data.ndim == 2 or data.shape[-1] == 3 else (1, 2)
    h, w = data.shape[spatial[0]], data.shape[spatial[1]]
    f = -(-max(h, w) // MAX_SIDE)
    if f <= 1:
        return data
    x = np.asarray(data, np.float64)
    x = np.moveaxis(x, spatial, (0, 1))[: h // f * f, : w // f * f]
    x = x.reshape(h // f, f, w // f, f, *x.shape[2:])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: NaN, as wanted
        x = np.nanmean(x, axis=(1, 3))
    return np.moveaxis(x, (0, 1), spatial)


def _pil_to_rgb(im) -> np.ndarray:
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = a.max()
        a = a / top * 255 if top > 0 else a
        grey = np.clip(a + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def load_image(path_or_bytes) -> np.ndarray:
    """Read an image file (JPEG, PNG, FITS, ...) as RGB.

    Parameters
    ----------
    path_or_bytes : str, os.PathLike or bytes
        A file path, or the file's bytes (FITS is recognised by its ``SIMPLE`` header).

    Returns
    -------
    ndarray of shape (H, W, 3), uint8. See the module docstring for how greyscale, palette,
    alpha and FITS data are converted.

    Raises
    ------
    ImageError
        The file is missing, not an image, or corrupt; the message names the file.

    >>> img = load_image(to_png_bytes(placeholder(16)))
    >>> img.shape, img.dtype
    ((16, 16, 3), dtype('uint8'))
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        name = "<bytes>"
        if data[:9] == b"SIMPLE  =":
            return _read_fits(io.BytesIO(data), name)
        source = io.BytesIO(data)
    else:
        path = Path(os.fspath(path_or_bytes))
        name = str(path)
        if not path.is_file():
            raise ImageError("image file not found." if not path.exists() else "not a file.", file=name)
        if _is_fits_name(path.name):
            return _read_fits(path, name)
        with open(path, "rb") as fh:
            if fh.read(9) == b"SIMPLE  =":
                return _read_fits(path, name)
        source = path
    try:
        with Image.open(source) as im:
            return _pil_to_rgb(_reduced(im))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large to read safely ({exc}); cut a smaller cutout around the "
                         "galaxy.", file=name) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"not a readable image ({exc}).", file=name) from exc


def _reduced(im):
    """The loaded image, EXIF orientation applied, its longest side at most :data:`MAX_SIDE`."""
    from PIL import Image, ImageOps

    if max(im.size) > MAX_SIDE and im.format == "JPEG":
        im.draft(im.mode, (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 scale: fast, little memory
    im.load()
    im = ImageOps.exif_transpose(im)
    if max(im.size) > MAX_SIDE:
        scale = MAX_SIDE / max(im.size)
        size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
        im = im.resize(size, Image.BILINEAR, reducing_gap=2.0) if im.mode not in ("P", "1") else im.resize(size)
    return im


def placeholder(size: int = 128) -> np.ndarray:
    """A grey "no image" tile.

    Parameters
    ----------
    size : int
        Width and height in pixels.

    Returns
    -------
    ndarray of shape (size, size, 3), uint8.

    >>> placeholder(32).shape
    (32, 32, 3)
    """
    from PIL import Image, ImageDraw

    size = int(size)
    im = Image.new("RGB", (size, size), (96, 96, 96))
    draw = ImageDraw.Draw(im)
    m = max(1, size // 8)
    draw.rectangle([m, m, size - 1 - m, size - 1 - m], outline=(140, 140, 140), width=max(1, size // 64))
    if size >= 48:
        text = "no image"
        box = draw.textbbox((0, 0), text)
        draw.text(((size - (box[2] - box[0])) / 2, (size - (box[3] - box[1])) / 2), text, fill=(200, 200, 200))
    else:
        draw.line([m, m, size - 1 - m, size - 1 - m], fill=(140, 140, 140))
        draw.line([m, size - 1 - m, size - 1 - m, m], fill=(140, 140, 140))
    return np.asarray(im, dtype=np.uint8).copy()


def to_png_bytes(image) -> bytes:
    """Encode an image as PNG.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) or (H, W)
        uint8, or float in [0, 1] (scaled by 255).

    Returns
    -------
    bytes (a PNG file).

    >>> to_png_bytes(np.zeros((4, 4, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    from PIL import Image

    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a.astype(np.float64)), 0, 1) * 255 + 0.5).astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise ValueError(f"image must have shape (H, W), (H, W, 3) or (H, W, 4); got {a.shape}.")
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Images of catalogue rows
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _open_store(path: str, mtime_ns: int) -> np.ndarray:
    return np.load(path, mmap_mode="r")


def _demo_index(catalogue, i: int) -> int:
    """The galaxy's index in the demo image store (stable under ``Catalogue.subset``)."""
    table = catalogue.table
    if "image" in table.columns:
        ref = table["image"].iloc[i]
        if isinstance(ref, str) and ref.startswith("demo://"):
            return int(ref[len("demo://"):])
    return int(i)


def _demo_image(catalogue, i: int, meta: dict) -> np.ndarray | None:
    store = meta.get("image_store") or {}
    k = _demo_index(catalogue, i)
    base = getattr(catalogue, "path", None)
    if store.get("path") and base is not None:
        p = Path(base).parent / store["path"]
        try:
            arr = _open_store(str(p), p.stat().st_mtime_ns)
            if 0 <= k < len(arr):
                return np.array(arr[k])
        except (OSError, ValueError) as exc:
            _log.info("demo image store %s unavailable (%s); re-rendering", p, exc)
    demo = meta.get("demo") or {}
    table = catalogue.table
    if "seed" in demo and {"truth_morphology", "truth_anomaly"} <= set(table.columns):
        from astroexplore.demo.make import render_one

        _, img = render_one(int(demo["seed"]), k, str(table["truth_morphology"].iloc[i]),
                            str(table["truth_anomaly"].iloc[i]), int(demo.get("image_size", 64)))
        return img
    return None


def _reference(catalogue, i: int) -> str | None:
    ref_fn = getattr(catalogue, "image_reference", None)
    if callable(ref_fn):
        return ref_fn(i)
    table = catalogue.table
    if "image" not in table.columns:
        return None
    ref = table["image"].iloc[i]
    if not isinstance(ref, str) or not ref:
        return None
    base = getattr(catalogue, "path", None)
    if "://" not in ref and base is not None and not Path(ref).is_absolute():
        return str(Path(base).parent / ref)
    return ref


def _data_uri_bytes(uri: str) -> bytes:
    """The bytes of a ``data:`` URI (base64 or percent-encoded)."""
    from urllib.parse import unquote_to_bytes

    head, _, payload = uri.partition(",")
    try:
        return base64.b64decode(payload) if head.endswith(";base64") else unquote_to_bytes(payload)
    except ValueError as exc:
        raise ImageError(f"not a readable data: URI ({exc}).", file=uri[:40] + "...") from exc


def image_for(catalogue, i: int) -> np.ndarray | None:
    """The image of row ``i`` of a catalogue, or None when it has none available here.

    Sources, in order: the demo survey's image store (re-rendered from its seed if the store is
    gone); the file named by ``catalogue.image_reference(i)`` (paths relative to the catalogue).
    URLs are not fetched server-side: they give None (a browser can load them itself), as does a
    missing or unreadable file (logged).

    Parameters
    ----------
    catalogue : astroexplore.catalogue.Catalogue
    i : int
        Row index.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8, or None.
    """
    meta = getattr(catalogue, "metadata", None) or {}
    store = meta.get("image_store") or {}
    if store.get("kind") == "demo_npy" or "demo" in meta:
        img = _demo_image(catalogue, int(i), meta)
        if img is not None:
            return img
    try:
        ref = _reference(catalogue, int(i))
    except (KeyError, ValueError, IndexError) as exc:
        _log.info("no image reference for row %s: %s", i, exc)
        return None
    if not ref or "://" in ref:
        return None
    try:
        if ref.startswith("data:"):  # an image inlined in the catalogue: data:image/png;base64,...
            return load_image(_data_uri_bytes(ref))
        return load_image(ref)
    except ImageError as exc:
        _log.warning("%s", exc)
        return None
