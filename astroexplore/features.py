"""Pixel baselines: features computed from galaxy images without a trained network.

* :func:`pixel_pca_features` — PCA of the pixels after turning each galaxy to a canonical
  orientation (major axis horizontal, from image moments) and averaging over its flips, so the
  components do not depend on the position angle.
* :func:`morphology_features` — Astronomaly-style hand-made features (Lochner & Bassett 2021):
  ellipse fits from image moments, Hu moments, colours in the core and outskirts, concentration,
  asymmetry, clumpiness, azimuthal Fourier modes m = 1..4 in deprojected annuli (arms, bars), and
  a few artefact detectors (saturated pixels, single-band columns and streaks, light at the edges).
* :func:`combined_features` — both standardised, concatenated and reduced by PCA: the encoder of
  the demo survey (:data:`ENCODER_NAME`).

All take ``images`` as an array of shape (n, H, W, 3), uint8 (0-255) or float in [0, 1], RGB.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import ndimage

#: Name recorded in a catalogue's metadata for :func:`combined_features`.
ENCODER_NAME = "astroexplore.features.combined_features"
ENCODER_VERSION = 1

_CHUNK = 1024


def _as_float(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (n, H, W, 3); got {images.shape}.")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    return images.astype(np.float32, copy=False)


def _downsample(x: np.ndarray, target: int) -> np.ndarray:
    """(n, H, W, C) -> (n, target, target, C) by block means (H divisible) or linear zoom.

    A non-square image is first cropped to its central square, so that a round galaxy stays
    round (stretching it would make it elliptical).
    """
    n, h, w, c = x.shape
    if h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, top:top + side, left:left + side]
        h = w = side
    if h == target and w == target:
        return x
    if h % target == 0 and w % target == 0:
        fy, fx = h // target, w // target
        out = np.zeros((n, target, target, c), np.float32)
        for i in range(fy):
            for j in range(fx):
                out += x[:, i::fy, j::fx]
        return out / np.float32(fy * fx)
    xc = np.moveaxis(x, -1, 1)                                   # (n, c, h, w)
    out = np.matmul(np.matmul(_area_matrix(h, target), xc), _area_matrix(w, target).T)
    return np.ascontiguousarray(np.moveaxis(out, 1, -1), dtype=np.float32)


@functools.lru_cache(maxsize=16)
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging input pixels by their overlap with each output pixel."""
    edges_in = np.arange(n_in + 1) / n_in
    edges_out = np.arange(n_out + 1) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    m = np.clip(hi - lo, 0, None)
    return (m / m.sum(axis=1, keepdims=True)).astype(np.float32)


def _moments(lum: np.ndarray):
    """Flux-weighted centroid and second moments of (n, H, W) non-negative images (pixel units)."""
    n, h, w = lum.shape
    yy, xx = _geometry(h) if h == w else np.mgrid[0:h, 0:w].astype(np.float32)
    f = lum.sum(axis=(1, 2)) + 1e-8
    cx = (lum * xx).sum(axis=(1, 2)) / f
    cy = (lum * yy).sum(axis=(1, 2)) / f
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    mxx = (lum * dx * dx).sum(axis=(1, 2)) / f
    myy = (lum * dy * dy).sum(axis=(1, 2)) / f
    mxy = (lum * dx * dy).sum(axis=(1, 2)) / f
    return f, cx, cy, dx, dy, mxx, myy, mxy


def _luminance(x: np.ndarray) -> np.ndarray:
    """Background-subtracted, non-negative luminance (n, H, W) from (n, H, W, 3) floats."""
    lum = x.mean(axis=-1)
    border = np.concatenate([lum[:, :2].reshape(len(lum), -1), lum[:, -2:].reshape(len(lum), -1),
                             lum[:, :, :2].reshape(len(lum), -1), lum[:, :, -2:].reshape(len(lum), -1)], 1)
    bg = np.median(border, axis=1)
    return np.maximum(lum - bg[:, None, None], 0.0)


def _canonical(x: np.ndarray) -> np.ndarray:
    """Rotate each (H, W, 3) image so its major axis is horizontal, then average over its flips."""
    n, h, w, _ = x.shape
    lum = _luminance(x)
    lum = np.where(lum > np.percentile(lum, 60, axis=(1, 2), keepdims=True), lum, 0)
    _, cx, cy, _, _, mxx, myy, mxy = _moments(lum)
    theta = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    # bilinear rotation by theta about the image centre (edge pixels repeated), all images at once
    yy, xx = _geometry(h) if h == w else np.mgrid[0:h, 0:w].astype(np.float32)
    cr, cc = (h - 1) / 2, (w - 1) / 2
    c = np.cos(theta).astype(np.float32)[:, None, None]
    s = np.sin(theta).astype(np.float32)[:, None, None]
    ir = np.clip(c * (yy - cr) + s * (xx - cc) + cr, 0, h - 1)
    ic = np.clip(-s * (yy - cr) + c * (xx - cc) + cc, 0, w - 1)
    r0 = np.minimum(ir.astype(np.int64), h - 2)
    c0 = np.minimum(ic.astype(np.int64), w - 2)
    fr = ir - r0
    fc = ic - c0
    planes = np.moveaxis(x, -1, 0).reshape(x.shape[-1], n * h * w)      # (3, n*h*w)
    i00 = (np.arange(n)[:, None, None] * (h * w) + r0 * w + c0).ravel()
    fr, fc = fr.reshape(1, -1), fc.reshape(1, -1)
    out = ((1 - fr) * ((1 - fc) * planes.take(i00, axis=1) + fc * planes.take(i00 + 1, axis=1))
           + fr * ((1 - fc) * planes.take(i00 + w, axis=1) + fc * planes.take(i00 + w + 1, axis=1)))
    out = np.ascontiguousarray(np.moveaxis(out.reshape(-1, n, h, w), 0, -1), dtype=np.float32)
    return 0.25 * (out + out[:, ::-1] + out[:, :, ::-1] + out[:, ::-1, ::-1])


def canonical_pixels(images, *, resolution: int = 32) -> np.ndarray:
    """Orientation-normalised pixels: the per-image half of :func:`pixel_pca_features`.

    Each image is downsampled to ``resolution`` pixels, rotated so its major axis (from image
    moments) is horizontal, and averaged over its horizontal and vertical flips.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, 3), uint8 or float in [0, 1]
    resolution : int

    Returns
    -------
    ndarray of shape (n, resolution * resolution * 3), float32 in [0, 1].

    >>> canonical_pixels(np.zeros((2, 64, 64, 3), np.uint8)).shape
    (2, 3072)
    """
    images = np.asarray(images)
    rows = [np.zeros((0, resolution * resolution * 3), np.float32)]
    for start in range(0, len(images), _CHUNK):
        x = _downsample(_as_float(images[start:start + _CHUNK]), resolution)
        rows.append(_canonical(x).reshape(len(x), -1))
    return np.concatenate(rows).astype(np.float32, copy=False)


def _pca_scores(data: np.ndarray, n_components: int, seed: int, max_fit: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    n = len(data)
    k = int(min(n_components, n, data.shape[1]))
    rng = np.random.default_rng(seed)
    fit = data if n <= max_fit else data[np.sort(rng.choice(n, max_fit, replace=False))]
    pca = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(fit)
    return pca.transform(data).astype(np.float32)


def pixel_pca_features(images, n_components: int = 40, seed: int = 0, *, resolution: int = 32,
                       max_fit: int = 5000) -> np.ndarray:
    """PCA of orientation-normalised pixels (:func:`canonical_pixels`).

    PCA is fitted on at most ``max_fit`` images (a seeded sample) and applied to all, so the
    components do not depend on the galaxies' position angles.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, 3), uint8 or float in [0, 1]
    n_components : int
        Number of components (at most n and the number of pixel values).
    seed : int
        Seed for the fitting sample and the randomized SVD.

    Returns
    -------
    ndarray of shape (n, n_components), float32: PCA scores.

    >>> rng = np.random.default_rng(0)
    >>> pixel_pca_features(rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8), 5).shape
    (20, 5)
    """
    return _pca_scores(canonical_pixels(images, resolution=resolution), n_components, seed, max_fit)


#: Names of the columns :func:`morphology_features` returns.
MORPHOLOGY_FEATURE_NAMES: tuple[str, ...] = (
    ("flux", "size", "ellipticity", "centroid_offset")
    + tuple(f"hu_{k}" for k in range(1, 8))
    + tuple(f"profile_{k}" for k in range(8))
    + ("concentration", "r50")
    + ("core_z_g", "core_r_g", "outer_z_g", "outer_r_g", "colour_gradient", "colour_spread",
       "blue_fraction", "green_excess")
    + ("asymmetry", "clumpiness", "n_peaks")
    + tuple(f"fourier_{a}_m{m}" for a in ("inner", "mid", "outer") for m in range(1, 5))
    + ("winding_cos", "winding_sin", "m2_phase_jump")
    + ("saturated", "column_excess", "streak_excess", "edge_light", "ring_excess")
    + ("line_peak", "line_anisotropy")
)

_LINE_ANGLES = 12


@functools.lru_cache(maxsize=4)
def _line_projector(size: int) -> np.ndarray:
    """(size*size, angles*size) matrix: mean light per straight strip, for 12 strip directions.

    A Radon transform restricted to the outskirts (more than 0.2 image widths from the centre),
    so a streak crossing the image stands out while the galaxy itself does not.
    """
    c = (np.arange(size) + 0.5) / size - 0.5
    y, x = np.meshgrid(c, c, indexing="ij")
    far = (np.hypot(x, y) > 0.2).ravel()
    cols = []
    for a in np.arange(_LINE_ANGLES) * np.pi / _LINE_ANGLES:
        d = (x * np.sin(a) - y * np.cos(a)).ravel()
        b = np.clip(((d + 0.75) / 1.5 * size).astype(int), 0, size - 1)
        onehot = np.zeros((size * size, size), np.float32)
        onehot[np.arange(size * size), b] = far
        counts = onehot.sum(axis=0)
        cols.append(onehot / np.maximum(counts, 4))
    return np.concatenate(cols, axis=1)


@functools.lru_cache(maxsize=4)
def _geometry(size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


_PROFILE_EDGES = np.array([0, 0.03, 0.06, 0.09, 0.13, 0.18, 0.24, 0.32, 0.75])
_GROWTH_STEP = 0.02


def _binned(values: np.ndarray, bins: np.ndarray, nbins: int) -> np.ndarray:
    """Per-image sums of ``values`` (n, H, W) in integer ``bins`` (n, H, W) -> (n, nbins)."""
    n = len(values)
    flat = (bins + nbins * np.arange(n)[:, None, None]).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=n * nbins).reshape(n, nbins)


def _morph_chunk(x: np.ndarray) -> np.ndarray:
    n, h, w, _ = x.shape
    size = float(h)
    lum = _luminance(x)
    f, cx, cy, dx, dy, mxx, myy, mxy = _moments(lum)
    tr = mxx + myy
    disc = np.sqrt(np.maximum((mxx - myy) ** 2 / 4 + mxy ** 2, 0))
    l1 = tr / 2 + disc
    l2 = np.maximum(tr / 2 - disc, 1e-6)
    q = np.sqrt(l2 / np.maximum(l1, 1e-6))
    theta = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    feats = [np.log1p(f), np.log(np.sqrt(tr) / size + 1e-3), 1 - q,
             np.hypot(cx - (w - 1) / 2, cy - (h - 1) / 2) / size]
    # Hu moments (scale-normalised central moments)
    dx2, dy2 = dx * dx, dy * dy
    norm2, norm3 = f ** 2, f ** 2.5

    def eta(a, norm):
        return (lum * a).sum(axis=(1, 2)) / norm

    n20, n02, n11 = eta(dx2, norm2), eta(dy2, norm2), eta(dx * dy, norm2)
    n30, n03 = eta(dx2 * dx, norm3), eta(dy2 * dy, norm3)
    n21, n12 = eta(dx2 * dy, norm3), eta(dx * dy2, norm3)
    hu = [
        n20 + n02,
        (n20 - n02) ** 2 + 4 * n11 ** 2,
        (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2,
        (n30 + n12) ** 2 + (n21 + n03) ** 2,
        (n30 - 3 * n12) * (n30 + n12) * ((n30 + n12) ** 2 - 3 * (n21 + n03) ** 2)
        + (3 * n21 - n03) * (n21 + n03) * (3 * (n30 + n12) ** 2 - (n21 + n03) ** 2),
        (n20 - n02) * ((n30 + n12) ** 2 - (n21 + n03) ** 2) + 4 * n11 * (n30 + n12) * (n21 + n03),
        (3 * n21 - n03) * (n30 + n12) * ((n30 + n12) ** 2 - 3 * (n21 + n03) ** 2)
        - (n30 - 3 * n12) * (n21 + n03) * (3 * (n30 + n12) ** 2 - (n21 + n03) ** 2),
    ]
    feats += [np.sign(v) * np.log1p(np.abs(v) * 1e3) for v in hu]
    # radial profile in circular annuli around the centroid (fractions of the image width)
    r = np.sqrt(dx2 + dy2) / size
    nb = len(_PROFILE_EDGES) - 1
    pbin = np.clip(np.searchsorted(_PROFILE_EDGES, r, side="right") - 1, 0, nb - 1)
    counts = _binned(np.ones_like(lum), pbin, nb)
    prof = _binned(lum, pbin, nb) / np.maximum(counts, 1)
    feats += list(np.log(prof / (prof[:, :1] + 1e-6) + 1e-3).T)
    # concentration from the curve of growth (radii in steps of 0.02 image widths)
    ng = int(0.75 / _GROWTH_STEP) + 1
    growth = np.cumsum(_binned(lum, np.minimum((r / _GROWTH_STEP).astype(int), ng - 1), ng), axis=1) / f[:, None]
    radii = (np.arange(ng) + 1) * _GROWTH_STEP
    r20 = radii[np.argmax(growth >= 0.2, axis=1)]
    r50 = radii[np.argmax(growth >= 0.5, axis=1)]
    r80 = radii[np.argmax(growth >= 0.8, axis=1)]
    feats += [np.log(r80 / r20), r50]
    # colours in the core and outskirts (channels R=z, G=r, B=g; background-subtracted)
    bgc = np.median(np.concatenate([x[:, :2].reshape(n, -1, 3), x[:, -2:].reshape(n, -1, 3),
                                    x[:, :, :2].reshape(n, -1, 3), x[:, :, -2:].reshape(n, -1, 3)], 1), axis=1)
    xc = np.maximum(x - bgc[:, None, None, :], 0)
    core = (r < 0.05)[..., None]
    outer = ((r >= 0.07) & (r < 0.25))[..., None]
    cf = (xc * core).sum(axis=(1, 2)) + 1e-3
    of = (xc * outer).sum(axis=(1, 2)) + 1e-3
    core_zg, core_rg = np.log(cf[:, 0] / cf[:, 2]), np.log(cf[:, 1] / cf[:, 2])
    out_zg, out_rg = np.log(of[:, 0] / of[:, 2]), np.log(of[:, 1] / of[:, 2])
    bright = lum > 0.25 * lum.max(axis=(1, 2), keepdims=True)
    bmr = xc[..., 2] - xc[..., 0]
    cnt = np.maximum(bright.sum(axis=(1, 2)), 1)
    mean_bmr = (bmr * bright).sum(axis=(1, 2)) / cnt
    spread = np.sqrt(np.maximum(((bmr - mean_bmr[:, None, None]) ** 2 * bright).sum(axis=(1, 2)) / cnt, 0))
    signif = lum > 0.08
    blue = (signif & (xc[..., 2] > 1.15 * xc[..., 0])).sum(axis=(1, 2)) / np.maximum(signif.sum(axis=(1, 2)), 1)
    green = ((xc[..., 1] - 0.5 * (xc[..., 0] + xc[..., 2])) * bright).sum(axis=(1, 2)) / cnt
    feats += [core_zg, core_rg, out_zg, out_rg, out_zg - core_zg, spread, blue, green]
    # asymmetry (about the image centre), clumpiness, peaks
    rot = lum[:, ::-1, ::-1]
    feats.append(np.abs(lum - rot).sum(axis=(1, 2)) / (2 * f))
    smooth = ndimage.gaussian_filter(lum, sigma=(0, size / 40, size / 40), truncate=3.0)
    feats.append(np.maximum(lum - smooth, 0).sum(axis=(1, 2)) / f)
    peak = (lum == ndimage.maximum_filter(lum, size=(1, 3, 3))) & (lum > 0.15 * lum.max(axis=(1, 2), keepdims=True))
    feats.append(np.log1p(peak.sum(axis=(1, 2))))
    # azimuthal Fourier modes in deprojected annuli (ellipse from the moments)
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = c * dx + s * dy
    v = (-s * dx + c * dy) / np.maximum(q, 0.2)[:, None, None]
    rr = np.sqrt(u * u + v * v) / size
    z1 = (u - 1j * v) / np.maximum(rr * size, 1e-3)   # exp(-i phi)
    z = [z1, z1 * z1]
    z.append(z[1] * z1)
    z.append(z[1] * z[1])
    scale = np.maximum(r50, 0.03)[:, None, None]
    phases = []
    for a, b in [(0.5, 1.2), (1.2, 2.2), (2.2, 3.5)]:
        m = ((rr >= a * scale) & (rr < b * scale)) * lum
        tot = m.sum(axis=(1, 2)) + 1e-6
        for k in range(4):
            ck = (m * z[k]).sum(axis=(1, 2)) / tot
            feats.append(np.abs(ck))
            if k == 1:
                phases.append(np.angle(ck))
    d1 = phases[1] - phases[0]
    d2 = phases[2] - phases[1]
    feats += [np.cos(d1) + np.cos(d2), np.abs(np.sin(d1)) + np.abs(np.sin(d2)),
              np.abs(np.angle(np.exp(1j * (phases[2] - phases[0]))))]
    # artefact detectors
    feats.append((x.max(axis=-1) > 0.98).mean(axis=(1, 2)))
    dev = x - x.mean(axis=-1, keepdims=True)                     # single-band excess
    colmean = np.abs(dev.mean(axis=1))                           # (n, W, 3)
    feats.append(np.log(colmean.max(axis=(1, 2)) / (np.median(colmean, axis=(1, 2)) + 1e-3) + 1e-3))
    far = r > 0.3
    nfar = np.maximum(far.sum(axis=(1, 2)), 1)
    feats.append(np.log((np.abs(dev).max(axis=-1) * far).sum(axis=(1, 2)) / nfar + 1e-3))
    feats.append(np.log((lum * far).sum(axis=(1, 2)) / nfar + 1e-3))
    # excess light in a ring away from the centre (rings, lensing arcs): profile bump
    feats.append(np.log((prof[:, 3:6].max(axis=1) + 1e-4) / (np.sqrt(prof[:, 2] * prof[:, 6]) + 1e-4)))
    # straight lines (satellite trails, spikes): brightest strip in each of 12 directions
    strips = (lum.reshape(n, -1) @ _line_projector(h)).reshape(n, _LINE_ANGLES, h)
    base = np.median(strips, axis=2)
    peak = (strips.max(axis=2) - base)
    feats.append(np.log(peak.max(axis=1) + 1e-3))
    feats.append(np.log((peak.max(axis=1) + 1e-3) / (np.median(peak, axis=1) + 1e-3)))
    out = np.stack(feats, 1).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def morphology_features(images, *, resolution: int = 32) -> np.ndarray:
    """Astronomaly-style morphology features of each image.

    Images are first downsampled to ``resolution`` pixels (speed; the features are about shapes
    a few pixels across and larger).

    Parameters
    ----------
    images : ndarray of shape (n, H, W, 3), uint8 or float in [0, 1], RGB
    resolution : int

    Returns
    -------
    ndarray of shape (n, len(MORPHOLOGY_FEATURE_NAMES)), float32, unstandardised (see
    :data:`MORPHOLOGY_FEATURE_NAMES` for the columns), finite.

    >>> x = np.zeros((2, 32, 32, 3), np.uint8); x[:, 12:20, 10:22] = 200
    >>> f = morphology_features(x)
    >>> f.shape == (2, len(MORPHOLOGY_FEATURE_NAMES)), bool(np.isfinite(f).all())
    (True, True)
    """
    images = np.asarray(images)
    parts = [np.zeros((0, len(MORPHOLOGY_FEATURE_NAMES)), np.float32)]
    for s in range(0, len(images), _CHUNK):
        parts.append(_morph_chunk(_downsample(_as_float(images[s:s + _CHUNK]), resolution)))
    return np.concatenate(parts)


def robust_standardise(x, clip: float = 8.0) -> np.ndarray:
    """Per column: minus the median, over the standard deviation, clipped to +-``clip``.

    Non-finite values are left out of the median and the standard deviation and become 0 (the
    median); a constant column becomes 0.

    Parameters
    ----------
    x : array of shape (n, k)
    clip : float

    Returns
    -------
    ndarray of shape (n, k), float64

    >>> robust_standardise(np.array([[0.0, 1.0], [2.0, 1.0], [4.0, np.nan]]))[:, 0].round(3).tolist()
    [-1.225, 0.0, 1.225]
    """
    x = np.asarray(x, np.float64)
    x = np.where(np.isfinite(x), x, np.nan)
    with warnings.catch_warnings():  # all-NaN columns: median and sd NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmedian(x, axis=0) if len(x) else np.zeros(x.shape[1:])
        sd = np.nanstd(x, axis=0) if len(x) else np.ones(x.shape[1:])
    sd = np.where(np.isfinite(sd) & (sd > 1e-8), sd, 1.0)
    return np.nan_to_num(np.clip((x - np.nan_to_num(mu)) / sd, -clip, clip))


def combine_blocks(pixels: np.ndarray, morphology: np.ndarray, n_components: int = 40,
                   seed: int = 0, *, max_fit: int = 5000) -> np.ndarray:
    """The fitted half of :func:`combined_features`, from its per-image blocks.

    Parameters
    ----------
    pixels : ndarray of shape (n, p), float32
        :func:`canonical_pixels` of the images.
    morphology : ndarray of shape (n, k), float32
        :func:`morphology_features` of the images.
    n_components : int
    seed : int

    Returns
    -------
    ndarray of shape (n, n_components), float32, C-contiguous (zero-padded when there are fewer
    galaxies or features than ``n_components``; all zeros for fewer than 3 galaxies).
    """
    from sklearn.decomposition import PCA

    n = len(pixels)
    if n < 3:  # nothing to learn a projection from: a constant embedding of the right shape
        return np.zeros((n, n_components), np.float32)
    pix = _pca_scores(np.asarray(pixels, np.float32), n_components, seed, max_fit).astype(np.float64)
    pix = (pix - pix.mean(axis=0)) / np.sqrt(pix.var(axis=0).mean() + 1e-12)
    morph = robust_standardise(morphology)
    joined = np.concatenate([pix, morph], axis=1)
    k = int(min(n_components, joined.shape[0], joined.shape[1]))
    emb = PCA(n_components=k, random_state=seed).fit_transform(joined)
    if k < n_components:  # fewer galaxies than dimensions: pad, so the width is always n_components
        emb = np.pad(emb, ((0, 0), (0, n_components - k)))
    return np.ascontiguousarray(emb, dtype=np.float32)


def combined_features(images, n_components: int = 40, seed: int = 0) -> np.ndarray:
    """The demo encoder: pixel PCA and morphology features, standardised, joined, reduced by PCA.

    The pixel-PCA block (:func:`pixel_pca_features`) is scaled to unit mean variance per column
    (keeping its spectrum), each morphology feature (:func:`morphology_features`) to unit variance
    (median-centred, clipped at 8 sigma); the concatenation is reduced to ``n_components`` by PCA.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, 3), uint8 or float in [0, 1]
    n_components : int
    seed : int

    Returns
    -------
    ndarray of shape (n, n_components), float32, C-contiguous.

    >>> rng = np.random.default_rng(0)
    >>> combined_features(rng.integers(0, 255, (50, 32, 32, 3), dtype=np.uint8), 8).shape
    (50, 8)
    """
    return combine_blocks(canonical_pixels(images), morphology_features(images), n_components, seed)
