"""Distillation targets: features computed from the pixels that the representation learns to predict.

Contrastive training on a few thousand cutouts and a few CPU minutes learns what stays the same
under rotation, flips, shifts and noise, but not necessarily the measured quantities an astronomer
ranks by (concentration, colour, asymmetry, arm strength, a companion). Training the encoder to
also predict such features from each augmented view (a linear read-out, so the information sits in
the embedding itself) puts them into the representation at no labelling cost: they are computed
from the same images, no human label is used.

Kinds
-----
``"morphology"``
    :func:`astroexplore.features.morphology_features` (Astronomaly-style: ellipse fits, Hu moments,
    colours, concentration, asymmetry, Fourier modes, artefact detectors), 54 columns.
``"pixels"``
    The first 16 components of :func:`astroexplore.features.pixel_pca_features`
    (orientation-normalised pixels).
``"features"``
    Both.

Every column is median-centred, scaled to unit standard deviation and clipped to +-5 so that a
few extreme images (saturated stars, artefacts) do not dominate the squared-error loss.
"""
from __future__ import annotations

import numpy as np

from astroexplore.features import robust_standardise

KINDS = ("morphology", "pixels", "features")
PIXEL_COMPONENTS = 16
CLIP = 5.0


def standardise_targets(targets) -> np.ndarray:
    """:func:`~astroexplore.features.robust_standardise` with ``clip=CLIP``, as float32.

    Parameters
    ----------
    targets : array of shape (n, k), float

    Returns
    -------
    ndarray of shape (n, k), float32

    >>> t = standardise_targets(np.array([[0.0, 1.0], [2.0, 1.0], [4.0, np.nan]]))
    >>> [round(float(v), 3) for v in t[:, 0]], t[:, 1].tolist()
    ([-1.225, 0.0, 1.225], [0.0, 0.0, 0.0])
    """
    t = np.asarray(targets, np.float64)
    if t.ndim != 2:
        raise ValueError(f"targets must have shape (n_images, n_targets); got {t.shape}")
    return robust_standardise(t, CLIP).astype(np.float32)


def distillation_targets(images, kind: str = "morphology", *, seed: int = 0) -> np.ndarray:
    """Standardised per-image targets of ``kind`` for ``images``.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, 3) uint8 / float in [0, 1], or tensor (n, 3, H, W) uint8
        The images exactly as the encoder sees them (after its crop and resize).
    kind : {"morphology", "pixels", "features"}
    seed : int
        Seed of the pixel PCA.

    Returns
    -------
    ndarray of shape (n, k), float32

    >>> rng = np.random.default_rng(0)
    >>> distillation_targets(rng.integers(0, 255, (30, 32, 32, 3), dtype=np.uint8), "features").shape
    (30, 70)
    """
    from astroexplore.features import morphology_features, pixel_pca_features

    if kind not in KINDS:
        raise ValueError(f"The 'targets' kind must be one of {KINDS} or an array of shape "
                         f"(n_images, n_targets). Got {kind!r} instead.")
    if hasattr(images, "permute"):  # torch (n, 3, H, W) -> numpy (n, H, W, 3)
        images = images.permute(0, 2, 3, 1).cpu().numpy()
    images = np.asarray(images)
    blocks = []
    if kind in ("morphology", "features"):
        blocks.append(morphology_features(images))
    if kind in ("pixels", "features"):
        k = int(min(PIXEL_COMPONENTS, max(1, len(images) - 1)))
        blocks.append(pixel_pca_features(images, k, seed))
    return standardise_targets(np.concatenate(blocks, axis=1))
