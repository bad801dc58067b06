"""Turning what users have (arrays, tensors, image files, vote tables) into training tensors.

Image conversion rules (documented, applied to every file and array):

- greyscale ``(H, W)`` or ``(H, W, 1)`` -> the grey level copied to 3 channels;
- RGBA -> the alpha channel is dropped; more than 4 channels -> :class:`ImageError`;
- non-square -> centre-cropped to the shorter side (galaxies are centred in cutouts);
- ``crop < 1`` -> then only the central ``crop`` fraction of the side is kept (small galaxies in
  wide cutouts, e.g. SDSS GZ1 at 0.5, get more pixels and less sky);
- any other size -> resized to ``image_size`` x ``image_size`` (antialiased bilinear);
- float arrays must be in ``[0, 1]``; uint8 arrays are divided by 255;
- an unreadable file -> :class:`ImageError` naming the file.

Files are read with :func:`astroexplore.images.load_image` (jpg/png/FITS).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from astroexplore.images import IMAGE_SUFFIXES, ImageError
from astroexplore.images import load_image as _load_image


def no_bar(progress: bool) -> bool | None:
    """tqdm's ``disable`` for ``progress``: bars only on a terminal (None: off when the output is
    redirected to a file or pipe, where ``\\r`` redraws would fill it; shown in notebooks)."""
    return None if progress else True


def image_suffix(name: str) -> str:
    """The longest of :data:`IMAGE_SUFFIXES` ``name`` ends with (any case), or ``""``."""
    low = name.lower()
    return max((s for s in IMAGE_SUFFIXES if low.endswith(s)), key=len, default="")


def image_id(path: str | Path) -> str:
    """A galaxy id from an image file name: the name without its image suffix.

    Only a suffix of :data:`IMAGE_SUFFIXES` is removed (any case; for fpack-compressed FITS also
    the FITS suffix before ``.fz``), so dots inside the name are kept.

    >>> image_id("J000411.19+020924.0.jpg"), image_id("a.b.FITS.fz"), image_id("x.tif")
    ('J000411.19+020924.0', 'a.b', 'x.tif')
    """
    name = Path(path).name
    suffix = image_suffix(name)
    stem = name[:len(name) - len(suffix)]
    if suffix == ".fz":
        stem = stem[:len(stem) - len(image_suffix(stem))]
    return stem


def list_image_files(folder: str | Path) -> list[Path]:
    """Image files (:data:`IMAGE_SUFFIXES`) directly in ``folder``, sorted by name.

    Subfolders are not searched, and hidden files (names starting with ".", such as macOS
    ``._name.jpg`` resource forks) are skipped. A link whose target is missing is listed (reading
    it says so), not dropped: a folder of links to an unmounted disk would lose galaxies unsaid.
    """
    folder = Path(folder)
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and image_suffix(p.name) and not p.is_dir())


def read_image(path: str | Path) -> np.ndarray:
    """Read one file as an ``(H, W, C)`` array (any of the conversions above not yet applied).

    Raises
    ------
    ImageError
        The file is missing, truncated or not an image; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found")
    try:
        return np.asarray(_load_image(path))
    except ImageError:
        raise
    except Exception as err:  # PIL.UnidentifiedImageError, OSError (truncated), astropy errors
        raise ImageError(f"{path}: cannot read image ({type(err).__name__}: {err})") from err


def _centre(t: torch.Tensor, crop: float) -> torch.Tensor:
    """Centre-crop the last two axes to a square, then to the central ``crop`` fraction."""
    h, w = t.shape[-2:]
    s = min(h, w)
    if crop < 1.0:
        s = max(1, round(s * crop))
    top, left = (h - s) // 2, (w - s) // 2
    return t[..., top:top + s, left:left + s]


def _check_crop(crop: float) -> float:
    crop = float(crop)
    if not 0.0 < crop <= 1.0:
        raise ValueError(f"The 'crop' parameter must be a fraction in (0, 1]. Got {crop} instead.")
    return crop


def to_chw_uint8(image: np.ndarray, image_size: int, *, source: str = "image",
                 crop: float = 1.0) -> torch.Tensor:
    """Convert one image array to a ``(3, image_size, image_size)`` uint8 tensor (rules above).

    >>> to_chw_uint8(np.zeros((50, 80), np.uint8), 32).shape
    torch.Size([3, 32, 32])
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ImageError(f"{source}: expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    if a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 2, 3, 4):  # (C, H, W)
        a = np.moveaxis(a, 0, -1)
    c = a.shape[2]
    if c in (1, 2):  # grey or grey + alpha
        a = np.repeat(a[:, :, :1], 3, axis=2)
    elif c == 4:
        a = a[:, :, :3]
    elif c != 3:
        raise ImageError(f"{source}: expected 1, 3 or 4 channels, got {c} (shape {a.shape})")
    if a.dtype == np.uint8:
        t = torch.from_numpy(np.array(a, copy=True, order="C")).permute(2, 0, 1)
    else:
        f = a.astype(np.float32)
        if not np.isfinite(f).all() or f.min() < 0 or f.max() > 1.0 + 1e-6:
            raise ImageError(f"{source}: float images must be finite and in [0, 1] "
                             f"(got range {np.nanmin(f):.3g}..{np.nanmax(f):.3g})")
        t = torch.from_numpy(np.round(f * 255).astype(np.uint8)).permute(2, 0, 1)
    t = _centre(t, _check_crop(crop))
    if t.shape[1] != image_size:
        t = F.interpolate(t[None].float(), size=(image_size, image_size), mode="bilinear",
                          antialias=True, align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    return t.contiguous()


def load_images(paths: Sequence[str | Path], image_size: int, *, skip_bad: bool = False,
                progress: bool = False, crop: float = 1.0,
                warn_small: bool = False) -> tuple[torch.Tensor, list[int], list[str]]:
    """Read and convert files to a ``(n, 3, S, S)`` uint8 tensor.

    ``warn_small``: one UserWarning when images are enlarged more than twice (an 8 px file read
    at 64 px: probably not the cutout meant), with their count and the first.

    Returns
    -------
    images : Tensor (n_good, 3, S, S) uint8
    good : list of int
        Indices into ``paths`` of the images returned.
    errors : list of str
        One message per bad file (only when ``skip_bad``; otherwise the first bad file raises).
    """
    from tqdm.auto import tqdm

    out, good, errors, small = [], [], [], []
    for i, p in enumerate(tqdm(list(paths), desc="reading images", disable=no_bar(progress), unit="img")):
        try:
            img = read_image(p)
            out.append(to_chw_uint8(img, image_size, source=str(p), crop=crop))
            good.append(i)
            if warn_small and min(img.shape[:2]) * crop < image_size / 2:  # enlarged more than twice
                small.append((p, img.shape[:2]))
        except ImageError as err:
            if not skip_bad:
                raise
            errors.append(str(err))
    if small:
        import warnings

        (p, (h, w)), n = small[0], len(small)
        warnings.warn(f"{n:,} image{'s' if n != 1 else ''} enlarged more than twice to {image_size} px (e.g. "
                      f"{p}: {w}x{h} px): check they are the cutouts meant (or use a smaller image size)",
                      UserWarning, stacklevel=2)
    if not out:
        return torch.zeros(0, 3, image_size, image_size, dtype=torch.uint8), good, errors
    return torch.stack(out), good, errors


def as_image_tensor(images, image_size: int | None = None, *, progress: bool = False,
                    crop: float = 1.0) -> torch.Tensor:
    """Accept the image containers the encoder API takes; return ``(n, 3, S, S)`` uint8 (CPU).

    ``images`` may be a uint8 or float ``[0, 1]`` array of shape ``(n, H, W, 3)``, ``(n, H, W)`` or
    ``(n, 3, H, W)``; a torch tensor of shape ``(n, 3, H, W)``; or a sequence of file paths.
    ``image_size=None`` keeps the size of square arrays (files then need it). ``crop`` as in the
    module docstring.

    >>> as_image_tensor(np.zeros((2, 40, 40, 3), np.uint8), 32).shape
    torch.Size([2, 3, 32, 32])
    """
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, Path)):
        if image_size is None:
            raise ValueError("image_size is needed to read image files")
        return load_images(images, image_size, progress=progress, crop=crop)[0]
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        if t.ndim != 4 or t.shape[1] != 3:
            raise ImageError(f"expected a (n, 3, H, W) tensor, got shape {tuple(t.shape)}")
        if t.dtype != torch.uint8:
            if not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1.0 + 1e-6:
                raise ImageError("float image tensors must be finite and in [0, 1]")
            t = (t.float() * 255).round().to(torch.uint8)
        a = t
    else:
        a = np.asarray(images)
        if a.ndim == 3:  # (n, H, W) greyscale
            a = np.repeat(a[:, None], 3, axis=1)
        elif a.ndim == 4 and a.shape[-1] in (1, 3, 4) and a.shape[1] not in (3,):
            if a.shape[-1] == 1:
                a = np.repeat(a, 3, axis=-1)
            a = np.moveaxis(a[..., :3], -1, 1)
        if a.ndim != 4 or a.shape[1] != 3:
            raise ImageError(f"expected images of shape (n, H, W, 3) or (n, 3, H, W), got {np.shape(images)}")
        if a.dtype != np.uint8:
            f = np.asarray(a, dtype=np.float32)
            if not np.isfinite(f).all() or f.min() < 0 or f.max() > 1.0 + 1e-6:
                raise ImageError("float image arrays must be finite and in [0, 1] "
                                 f"(got range {np.nanmin(f):.3g}..{np.nanmax(f):.3g})")
            a = np.round(f * 255).astype(np.uint8)
        a = torch.from_numpy(np.ascontiguousarray(a))
    n, _, h, w = a.shape
    crop = _check_crop(crop)
    size = image_size or round(min(h, w) * crop)
    a = _centre(a, crop)
    if a.shape[-1] != size:
        chunks = [F.interpolate(a[i:i + 1024].float(), size=(size, size), mode="bilinear",
                                antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8)
                  for i in range(0, n, 1024)]
        a = torch.cat(chunks) if chunks else torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return a.contiguous()


# ---------------------------------------------------------------------------- votes
def vote_targets(votes, schema=None, *, votes_per_galaxy: float = 40.0
                 ) -> tuple[np.ndarray, list[list[int]], list[str]]:
    """Vote counts and question groups for the Dirichlet-multinomial loss.

    Parameters
    ----------
    votes : DataFrame or ndarray of shape (n, n_answers)
        Vote counts, or vote fractions in [0, 1] (then multiplied by ``votes_per_galaxy``:
        a nominal number of volunteers, since fractions lose the count). NaN = not asked.
    schema : Schema, dict {question: [columns]}, list of lists of column indices, or None
        How answers group into questions. ``None`` with a DataFrame: detected with
        :func:`astroexplore.schemas.detect_schema`, else every ``*_fraction`` column is a binary
        question against its complement.
        A question whose answer columns are only partly present gets one extra "rest" column
        ``1 - sum(present)`` (fractions only), e.g. ``has-spiral-arms_no`` -> (no, rest).
    votes_per_galaxy : float

    Returns
    -------
    counts : ndarray (n, n_cols) float32
    questions : list of list of int
        Column indices of each question's answers.
    columns : list of str
        Name of each column (``"<question>_rest"`` for completed ones).

    Examples
    --------
    >>> import pandas as pd
    >>> k, q, c = vote_targets(pd.DataFrame({"a_yes_fraction": [0.25, 1.0]}), votes_per_galaxy=4)
    >>> k.tolist(), q, c
    ([[1.0, 3.0], [4.0, 0.0]], [[0, 1]], ['a_yes_fraction', 'a_yes_fraction_rest'])
    """
    import pandas as pd

    if isinstance(votes, pd.DataFrame):
        groups: list[tuple[str, list[str]]]
        if schema is None:
            try:
                from astroexplore.schemas import detect_schema
                schema = detect_schema(list(votes.columns))
            except ImportError:  # pragma: no cover
                schema = None
        if schema is None:
            cols = [c for c in votes.columns if str(c).endswith("_fraction")]
            if not cols:
                raise ValueError("no vote columns: pass a schema or columns ending in '_fraction'")
            groups = [(c, [c]) for c in cols]
        elif isinstance(schema, Mapping):
            groups = [(q, list(cs)) for q, cs in schema.items()]
        elif hasattr(schema, "questions"):
            groups = [(q.name, [a.column for a in q.answers]) for q in schema.questions]
        else:
            raise TypeError("schema must be a Schema, a dict {question: [columns]} or None for a DataFrame")
        blocks, questions, names = [], [], []
        # counts or fractions: decided once for the whole table (a follow-up question with at
        # most one vote per galaxy must not be read as fractions while the others are counts)
        every = [c for _, cols in groups for c in cols if c in votes.columns]
        allv = votes[every].to_numpy(dtype=np.float64) if every else np.zeros((0, 0))
        is_fraction = bool(np.nanmax(np.abs(allv)) <= 1.0 + 1e-9) if np.isfinite(allv).any() else True
        for qname, cols in groups:
            present = [c for c in cols if c in votes.columns]
            if not present:
                continue
            v = votes[present].to_numpy(dtype=np.float64)
            if len(present) < len(cols) or len(present) == 1:
                if not is_fraction:
                    raise ValueError(f"question {qname!r}: only {present} of {cols} present; "
                                     "completing a question needs fractions, not counts")
                v = np.concatenate([v, np.clip(1 - np.nansum(v, axis=1, keepdims=True), 0, 1)], axis=1)
                v[np.isnan(v[:, :-1]).any(axis=1)] = np.nan
                present = present + [f"{present[0] if len(present) == 1 else qname}_rest"]
            if is_fraction:
                v = v * votes_per_galaxy
            start = sum(b.shape[1] for b in blocks)
            questions.append(list(range(start, start + v.shape[1])))
            blocks.append(v)
            names.extend(present)
        if not blocks:
            raise ValueError("none of the schema's answer columns are in the vote table")
        counts = np.concatenate(blocks, axis=1)
        return np.nan_to_num(counts, nan=0.0).astype(np.float32), questions, names
    counts = np.asarray(votes, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"votes must be 2-D (n, n_answers), got shape {counts.shape}")
    if schema is None:
        raise ValueError("an array of votes needs schema= (list of lists of column indices)")
    questions = [list(map(int, q)) for q in schema]
    if np.isfinite(counts).any() and np.nanmax(counts) <= 1.0:
        counts = counts * votes_per_galaxy
    names = [f"answer_{i}" for i in range(counts.shape[1])]
    return np.nan_to_num(counts, nan=0.0).astype(np.float32), questions, names
