"""Render a synthetic galaxy image from its physical parameters.

Light is built in three bands (g, r, z) from analytic components — Sersic bulges and ellipticals,
exponential discs seen at an inclination, logarithmic spiral arms with star-forming clumps, bars,
rings, dust lanes, companions and tidal tails, lensing arcs, background stars — then blurred by a
Gaussian PSF, given sky and Poisson noise, and mapped to RGB with the asinh stretch the Legacy
Survey viewer uses (z -> red, r -> green, g -> blue). Sizes are in units of the image width, so a
galaxy looks the same at any image size. Each galaxy is a handful of numpy operations on its own
``(size, size)`` grid: about a millisecond at 64 x 64.
"""
from __future__ import annotations

import functools

import numpy as np

from astroexplore.demo.survey import PITCH_DEG

# Spectral energy distributions: flux in (g, r, z) relative to r.
SED_OLD = np.array([0.44, 1.0, 1.75])      # ellipticals, bulges: red
SED_DISC = np.array([0.6, 1.0, 1.4])     # discs
SED_YOUNG = np.array([0.78, 1.0, 1.1])    # spiral arms
SED_HII = np.array([1.0, 1.0, 0.8])       # star-forming clumps, lensed arcs: blue
SED_PEA = np.array([0.5, 1.9, 0.75])      # [OIII] in the r band: green
SED_WHITE = np.array([1.0, 1.0, 1.0])

#: Legacy Survey viewer RGB scales (band -> (RGB channel, scale)), from legacypipe's ``sdss_rgb``.
_RGB_SCALE = np.array([6.0, 3.4, 2.2])  # g, r, z
_NANOMAGGY = 0.0035  # one unit of sky noise at 64 px, in nanomaggy-like units for the stretch
_Q = 20.0
_M = 0.02
_GAIN = 0.3  # Poisson: flux units per "electron"
_DUST_TAU = np.array([1.0, 0.72, 0.42])  # relative dust opacity in g, r, z


def _bn(n):
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n)


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = ((np.arange(size) + 0.5) / size - 0.5).astype(np.float32)
    y, x = np.meshgrid(c, c, indexing="ij")
    y.setflags(write=False)
    x.setflags(write=False)
    return y, x


class _Canvas:
    """Grid coordinates (image widths, origin at the centre) and the (3, size, size) band image."""

    def __init__(self, size: int):
        self.size = size
        self.y, self.x = _grid(size)
        self.c = self.x[0]
        self.bands = np.zeros((3, size, size), dtype=np.float32)
        self.pix = 1.0 / size

    def add(self, profile: np.ndarray, flux: float, sed: np.ndarray) -> None:
        """Add a profile normalised to total ``flux`` (in r) with colour ``sed``."""
        s = profile.sum()
        if s > 0 and flux > 0:
            k = np.float32(flux / s)
            self.bands += (k * profile)[None] * sed.astype(np.float32)[:, None, None]

    def rotated(self, x0, y0, pa):
        dx, dy = self.x - x0, self.y - y0
        c, s = np.cos(pa), np.sin(pa)
        return c * dx + s * dy, -s * dx + c * dy


def _sersic(r, re, n):
    return np.exp(-_bn(n) * ((np.maximum(r, 1e-4) / re) ** (1.0 / n) - 1.0))


def _ellipse_r(xp, yp, q, c=2.0):
    if c == 2.0:
        return np.sqrt(xp * xp + (yp / q) ** 2)
    return (np.abs(xp) ** c + np.abs(yp / q) ** c) ** (1.0 / c)


def _blob(cv: _Canvas, x0, y0, sigma):
    """A circular Gaussian, built as the outer product of two 1-D Gaussians (separable, cheap)."""
    k = -0.5 / (sigma * sigma)
    return np.outer(np.exp(k * (cv.c - y0) ** 2), np.exp(k * (cv.c - x0) ** 2))


def _add_disc_galaxy(cv: _Canvas, p: dict, rng, *, x0, y0, pa, flux, scale=1.0, arms=True) -> None:
    """Bulge + inclined exponential disc (+ arms, clumps, bar, ring, dust)."""
    incl = p["incl"]
    cos_i = np.cos(incl)
    q_disc = np.sqrt(cos_i ** 2 + ((0.24 if p["dust"] > 0 else 0.16) * np.sin(incl)) ** 2)
    xp, yp = cv.rotated(x0, y0, pa)
    u, v = xp, yp / q_disc                       # disc-plane coordinates
    R = np.sqrt(u * u + v * v) + 1e-6
    h = p["disc_re"] / 1.678 * scale             # exponential scale length
    disc = np.exp(-R / h)
    bf = p["bulge_frac"]
    f_disc = flux * (1 - bf)
    n_arms = p["n_arms"] if arms else 0
    if n_arms > 0 and p["arm_strength"] > 0:
        pitch = np.deg2rad(PITCH_DEG.get(p["winding"], PITCH_DEG["medium"]))
        phi = np.arctan2(v, u)
        phase0 = rng.uniform(0, 2 * np.pi)
        wind = np.log(R / h) / np.tan(pitch)
        if p["flocculent"]:
            # many short, broken arm segments
            psi = n_arms * (phi - wind + 0.4 * np.sin(3 * phi + phase0)) + phase0
            mod = (0.5 * (1 + np.cos(psi))) ** 2 * (0.6 + 0.4 * np.cos(2 * psi + 5 * R / h))
        else:
            psi = n_arms * (phi - wind) + phase0
            mod = (0.5 * (1 + np.cos(psi))) ** 4
        inner = 1 - np.exp(-(R / (0.6 * h)) ** 2)
        s = p["arm_strength"]
        arm_light = disc * mod * inner
        cv.add(disc * (1 - 0.6 * s * inner), f_disc * (1 - 0.45 * s), SED_DISC)
        cv.add(arm_light, f_disc * 0.45 * s, SED_YOUNG)
        # star-forming clumps along the arms
        nc = p["clumps"]
        if nc:
            Rc = h * rng.uniform(0.8, 3.0, nc)
            k = rng.integers(0, n_arms, nc)
            phic = np.log(Rc / h) / np.tan(pitch) + (2 * np.pi * k - phase0) / n_arms
            uc, vc = Rc * np.cos(phic), Rc * np.sin(phic) * q_disc
            cp, sp = np.cos(pa), np.sin(pa)
            xs = x0 + cp * uc - sp * vc
            ys = y0 + sp * uc + cp * vc
            clumps = np.zeros_like(disc)
            for j in range(nc):
                clumps += rng.uniform(0.5, 1.0) * _blob(cv, xs[j], ys[j], 0.006 * scale + 0.3 * cv.pix)
            cv.add(clumps, f_disc * 0.12 * s, SED_HII)
    else:
        cv.add(disc, f_disc, SED_DISC)
    if p["bar"] > 0:
        beta = rng.uniform(0, np.pi)
        cb, sb = np.cos(beta), np.sin(beta)
        ub, vb = cb * u + sb * v, -sb * u + cb * v
        rb = _ellipse_r(ub, vb, 0.28, c=3.0)
        bar = _sersic(rb, p["bar_len"] * 0.6 * scale, 0.5)
        cv.add(bar, flux * 0.22 * p["bar"], 0.5 * (SED_OLD + SED_DISC))
    if p["ring_r"] > 0 and p["ring_strength"] > 0:
        ring = np.exp(-0.5 * ((R - p["ring_r"] * scale) / (0.012 * scale + 0.5 * cv.pix)) ** 2)
        cv.add(ring, flux * 0.45 * p["ring_strength"], 0.5 * (SED_YOUNG + SED_HII))
    if bf > 0:
        c = 2.0
        if p["boxy"] == 1:
            c = 3.5
        bq = p["bulge_q"] if p["boxy"] == 0 else (0.55 if p["boxy"] == 1 else 0.8)
        rb = _ellipse_r(xp, yp, bq, c=c)
        cv.add(_sersic(rb, p["bulge_re"] * scale, p["bulge_n"]), flux * bf, SED_OLD)
    if p["dust"] > 0:
        w = 0.016 + 0.2 * cv.pix
        lane = np.exp(-0.5 * ((yp - 0.004 * np.sign(np.cos(pa))) / w) ** 2) * (np.abs(xp) < 2.5 * p["disc_re"])
        cv.bands *= 1 - p["dust"] * _DUST_TAU[:, None, None] * lane[None]


def _add_elliptical(cv: _Canvas, *, x0, y0, pa, q, re, n, flux, sed=SED_OLD) -> None:
    xp, yp = cv.rotated(x0, y0, pa)
    cv.add(_sersic(_ellipse_r(xp, yp, q), re, n), flux, sed)


def _add_tail(cv: _Canvas, rng, *, x0, y0, angle, length, sweep, flux, width=0.012) -> None:
    """A curved tidal tail: a chain of Gaussian blobs spiralling out of (x0, y0)."""
    t = np.linspace(0.15, 1.0, 18)
    r = length * t
    th = angle + sweep * t
    tail = np.zeros_like(cv.x)
    for tj, rj, thj in zip(t, r, th, strict=True):
        tail += (1.1 - tj) * _blob(cv, x0 + rj * np.cos(thj), y0 + rj * np.sin(thj), width * (0.7 + tj))
    cv.add(tail, flux, 0.5 * (SED_DISC + SED_YOUNG))


def _galaxy_light(cv: _Canvas, p: dict, rng) -> None:
    morph, anom = p["morphology"], p["anomaly"]
    x0, y0, pa, flux = p["x0"], p["y0"], p["pa"], p["flux"]
    if morph == "elliptical":
        _add_elliptical(cv, x0=x0, y0=y0, pa=pa, q=p["q"], re=p["re"], n=p["sersic_n"], flux=flux)
    elif morph in ("spiral", "barred_spiral", "lenticular", "ring", "edge_on") and anom != "collisional_ring":
        _add_disc_galaxy(cv, p, rng, x0=x0, y0=y0, pa=pa, flux=flux)
    elif morph == "merger":
        st = p["merge_state"]
        cpa = p["companion_pa"]
        sep = p["companion_sep"]
        # the pair straddles the centre, weighted by flux
        fc = p["companion_flux"]
        w = fc / (1 + fc)
        xa, ya = x0 - w * sep * np.cos(cpa), y0 - w * sep * np.sin(cpa)
        xb, yb = xa + sep * np.cos(cpa), ya + sep * np.sin(cpa)
        main_p = dict(p, dust=0.0)
        _add_disc_galaxy(cv, main_p, rng, x0=xa, y0=ya, pa=pa, flux=flux, scale=0.8)
        if rng.uniform() < 0.5:
            _add_elliptical(cv, x0=xb, y0=yb, pa=rng.uniform(0, np.pi), q=rng.uniform(0.5, 1.0),
                            re=0.035 * (0.6 + fc), n=rng.uniform(1.5, 4), flux=flux * fc)
        else:
            comp = dict(p, incl=np.arccos(rng.uniform(0.3, 1)), n_arms=0, bar=0.0, ring_r=0.0,
                        bulge_frac=0.4, dust=0.0)
            _add_disc_galaxy(cv, comp, rng, x0=xb, y0=yb, pa=rng.uniform(0, np.pi), flux=flux * fc,
                             scale=0.4 + 0.5 * fc)
        ts = p["tail_strength"]
        sgn = rng.choice([-1.0, 1.0])
        _add_tail(cv, rng, x0=xa, y0=ya, angle=cpa + np.pi + rng.uniform(-0.6, 0.6),
                  length=rng.uniform(0.2, 0.38), sweep=sgn * rng.uniform(0.6, 1.6),
                  flux=flux * 0.25 * ts)
        if st >= 2:
            _add_tail(cv, rng, x0=xb, y0=yb, angle=cpa + rng.uniform(-0.6, 0.6),
                      length=rng.uniform(0.15, 0.33), sweep=sgn * rng.uniform(0.6, 1.6),
                      flux=flux * 0.2 * ts)
    elif morph == "clumpy":
        xp, yp = cv.rotated(x0, y0, pa)
        cv.add(np.exp(-_ellipse_r(xp, yp, p["q"]) / (p["re"] / 1.678)), flux * 0.35, SED_YOUNG)
        nc = p["clumps"]
        rr = p["re"] * np.sqrt(rng.uniform(0, 1.6, nc))
        th = rng.uniform(0, 2 * np.pi, nc)
        clumps = np.zeros_like(cv.x)
        for j in range(nc):
            clumps += rng.uniform(0.3, 1.0) * _blob(cv, x0 + rr[j] * np.cos(th[j]), y0 + rr[j] * np.sin(th[j]),
                                                     rng.uniform(0.005, 0.012))
        cv.add(clumps, flux * 0.65, SED_HII)
    elif morph == "compact":
        _add_elliptical(cv, x0=x0, y0=y0, pa=pa, q=p["q"], re=p["re"], n=1.0, flux=flux, sed=SED_PEA)

    if anom == "lens":
        dx, dy = cv.x - x0, cv.y - y0
        R = np.sqrt(dx * dx + dy * dy)
        th = np.arctan2(dy, dx)
        ring = np.exp(-0.5 * ((R - p["einstein_r"]) / (0.007 + 0.3 * cv.pix)) ** 2)
        a = p["arc_angle"]
        d1 = np.angle(np.exp(1j * (th - a)))
        if p["arc_kind"] == 1:
            env = np.exp(-0.5 * (d1 / 0.55) ** 2)
        elif p["arc_kind"] == 2:
            d2 = np.angle(np.exp(1j * (th - a - np.pi)))
            env = np.exp(-0.5 * (d1 / 0.5) ** 2) + 0.5 * np.exp(-0.5 * (d2 / 0.3) ** 2)
        else:
            env = 0.6 + 0.4 * np.cos(th - a)
        cv.add(ring * env, flux * rng.uniform(0.25, 0.45), np.array([1.25, 1.0, 0.6]))
    elif anom == "polar_ring":
        rpa = pa + np.pi / 2 + rng.uniform(-0.2, 0.2)
        xr, yr = cv.rotated(x0, y0, rpa)
        qr = max(np.cos(p["ring_incl"]), 0.15)
        Rr = np.sqrt(xr * xr + (yr / qr) ** 2)
        ring = np.exp(-0.5 * ((Rr - p["ring_r"]) / 0.014) ** 2)
        cv.add(ring, flux * 0.35, 0.5 * (SED_YOUNG + SED_HII))
    elif anom == "collisional_ring":
        xp, yp = cv.rotated(x0, y0, pa)
        qr = rng.uniform(0.6, 1.0)
        Rr = np.sqrt(xp * xp + (yp / qr) ** 2)
        th = np.arctan2(yp, xp)
        knots = 0.5 + 0.5 * np.cos(rng.integers(6, 12) * th + rng.uniform(0, 6)) ** 2
        ring = np.exp(-0.5 * ((Rr - p["ring_r"]) / 0.012) ** 2) * knots
        cv.add(ring, flux * 0.55, SED_HII)
        cv.add(np.exp(-Rr / (0.35 * p["ring_r"])), flux * 0.12, SED_DISC)
        off = 0.35 * p["ring_r"]
        ang = rng.uniform(0, 2 * np.pi)
        _add_elliptical(cv, x0=x0 + off * np.cos(ang), y0=y0 + off * np.sin(ang), pa=pa, q=0.8,
                        re=0.02, n=2.5, flux=flux * 0.25)
        cpa = p["companion_pa"]
        _add_elliptical(cv, x0=x0 + p["companion_sep"] * np.cos(cpa), y0=y0 + p["companion_sep"] * np.sin(cpa),
                        pa=0.0, q=0.8, re=0.025, n=2.0, flux=flux * p["companion_flux"])


def _add_stars(cv: _Canvas, p: dict, psf_pix: float) -> None:
    srng = np.random.default_rng(p["star_seed"])
    for _ in range(p["n_stars"]):
        r = srng.uniform(0.18, 0.48)
        a = srng.uniform(0, 2 * np.pi)
        x, y = r * np.cos(a), r * np.sin(a)
        if abs(x) > 0.48 or abs(y) > 0.48:
            continue
        t = srng.uniform(0, 1)
        sed = np.array([0.75 - 0.3 * t, 1.0, 1.2 + 0.6 * t])
        star = np.zeros_like(cv.x)
        j, i = int((x + 0.5) * cv.size), int((y + 0.5) * cv.size)
        star[i, j] = 1.0
        cv.add(star, float(np.exp(srng.uniform(np.log(80), np.log(3000)))), sed)


def _add_artefact_before_psf(cv: _Canvas, p: dict, rng) -> None:
    anom = p["anomaly"]
    if anom == "satellite_trail":
        a, off = p["art_angle"], p["art_offset"]
        d = cv.x * np.sin(a) - cv.y * np.cos(a) - off
        trail = np.exp(-0.5 * (d / (0.002 + 0.2 * cv.pix)) ** 2)
        band = p["art_band"]
        sed = np.array([0.57, 1.0, 1.55]) if band == 3 else np.eye(3)[band] * np.array([0.8, 1.4, 2.1])[band]
        # surface brightness along the line, independent of the galaxy
        cv.bands += (trail * rng.uniform(10, 30))[None] * sed[:, None, None]
    elif anom == "diffraction_spikes":
        r = rng.uniform(0.15, 0.32)
        a = rng.uniform(0, 2 * np.pi)
        xs, ys = r * np.cos(a), r * np.sin(a)
        dx, dy = cv.x - xs, cv.y - ys
        R = np.sqrt(dx * dx + dy * dy) + cv.pix
        w = 0.3 * cv.pix + 0.002
        spikes = (np.exp(-0.5 * (dx / w) ** 2) + np.exp(-0.5 * (dy / w) ** 2)) * (0.02 / R) ** 1.2
        core = np.exp(-0.5 * (R / (2 * cv.pix)) ** 2)
        sed = np.array([0.6, 1.0, 1.5])
        cv.bands += (600.0 * spikes + 3000.0 * core)[None] * sed[:, None, None]


def _add_artefact_after_noise(img: np.ndarray, p: dict, rng) -> None:
    """Detector artefacts on the noisy (3, size, size) band image."""
    if p["anomaly"] != "bad_column":
        return
    size = img.shape[-1]
    col = int((0.5 + p["art_offset"]) * size)
    width = max(1, int(round(rng.uniform(1, 3) * size / 64)))
    band = p["art_band"] % 3
    if rng.uniform() < 0.5:  # hot (bleed trail) column from the top or bottom edge to beyond the centre
        length = int(rng.uniform(0.5, 1.0) * size)
        rows = slice(0, length) if rng.uniform() < 0.5 else slice(size - length, size)
        img[band, rows, col:col + width] += rng.uniform(40, 120)
    else:  # a masked stripe: one band missing, the others untouched (green/magenta streak)
        img[band, :, col:col + 2 * width] = 0.0


def to_rgb(bands: np.ndarray) -> np.ndarray:
    """Legacy-Survey-style asinh stretch of (3, H, W) g, r, z fluxes to (H, W, 3) RGB in [0, 1].

    Parameters
    ----------
    bands : ndarray of shape (3, H, W), float, bands g, r, z in units of the 64-px sky noise.

    Returns
    -------
    ndarray of shape (H, W, 3), float32, channels R=z, G=r, B=g, in [0, 1].

    >>> to_rgb(np.zeros((3, 2, 2))).shape
    (2, 2, 3)
    """
    scaled = np.asarray(bands, np.float32) * (_NANOMAGGY * _RGB_SCALE[:, None, None]).astype(np.float32)
    scaled = np.maximum(scaled + np.float32(_M), np.float32(0.0))
    intensity = scaled.mean(axis=0)
    intensity = np.where(intensity == 0, np.float32(1e-6), intensity)
    fac = np.arcsinh(np.float32(_Q) * intensity) / np.float32(np.sqrt(_Q)) / intensity
    rgb = scaled * fac[None]
    maxrgb = np.maximum(rgb.max(axis=0), np.float32(1.0))
    rgb = rgb / maxrgb[None]
    return np.ascontiguousarray(rgb[::-1].transpose(1, 2, 0), dtype=np.float32)


def _psf_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) matrix M with M @ row = the row blurred by a Gaussian (zero outside the image)."""
    radius = int(np.ceil(3.0 * sigma))
    d = np.arange(size)
    off = (d[:, None] - d[None, :]).astype(np.float32)
    k = np.exp(-0.5 * (off / np.float32(sigma)) ** 2) * (np.abs(off) <= radius)
    norm = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()
    return (k / np.float32(norm)).astype(np.float32)


def render_galaxy(params: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """Render one galaxy.

    Parameters
    ----------
    params : dict
        From :func:`astroexplore.demo.survey.sample_params`.
    size : int
        Image width and height in pixels.
    rng : numpy.random.Generator
        Source of the galaxy's random details (arm phases, clumps) and noise; pass the same
        generator state to get the same image.

    Returns
    -------
    ndarray of shape (size, size, 3), float32 in [0, 1], RGB.

    >>> from astroexplore.demo.survey import sample_params
    >>> rng = np.random.default_rng(0)
    >>> img = render_galaxy(sample_params("spiral", "none", rng), 32, rng)
    >>> img.shape, img.dtype, bool(0 <= img.min() and img.max() <= 1)
    ((32, 32, 3), dtype('float32'), True)
    """
    cv = _Canvas(int(size))
    # colour jitter (redshift, metallicity): a small random tilt of the whole SED
    _galaxy_light(cv, params, rng)
    tilt = np.exp(rng.normal(0, 0.08) * np.array([-1.0, 0.0, 1.0]))
    cv.bands *= tilt[:, None, None]
    # point-source fluxes are per pixel; stars and artefacts go in before the PSF
    psf_pix = params["psf"] * cv.size
    _add_stars(cv, params, psf_pix)
    _add_artefact_before_psf(cv, params, rng)
    # fluxes are per image: keep surface brightness per unit image area independent of size
    img = cv.bands * (64.0 / cv.size) ** 2
    k = _psf_matrix(cv.size, psf_pix)
    img = np.matmul(np.matmul(k, img), k.T)
    # noise per pixel scales so that the noise per unit image area is the same at every size
    sky = params["sky"] * (64.0 / cv.size)
    var = sky * sky + np.maximum(img, 0) * _GAIN
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.sqrt(var)
    _add_artefact_after_noise(img, params, rng)
    return to_rgb(img)
