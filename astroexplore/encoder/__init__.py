"""Make your own galaxy embeddings: a small CNN trained on your cutouts (no downloads).

- :func:`train_encoder` trains contrastively (SimCLR, galaxy-symmetric augmentations), on Galaxy Zoo
  votes (Dirichlet-multinomial loss, as Zoobot) or both ("hybrid"), optionally distilling
  pixel-computed features (morphology, pixel PCA: :mod:`astroexplore.encoder.targets`) into the
  representation; resumable checkpoints.
- :class:`Encoder` embeds images (``embed``) and predicts vote posteriors with MC dropout;
  :meth:`Encoder.from_module` wraps your own torch encoder; :func:`load_encoder` reads our checkpoints
  (with the catalogue PCA that ``astroexplore embed`` stores in them: :class:`EmbeddingPCA`).
- ``astroexplore embed IMAGES --out CATALOGUE`` does it all from the command line
  (:mod:`astroexplore.encoder.cli`).

torch is imported by the submodules, not here, so ``import astroexplore.encoder.cli`` stays light.
"""
from __future__ import annotations

import importlib

#: Channels of the encoder's first conv block (later blocks 2x, 3x, 4x). 24 rather than 16: on the
#: real-data benchmark (3 seeds) it was higher on 11 of 17 figures (GZ1 spiral kNN purity 0.329 vs
#: 0.321, merger purity 0.122 vs 0.114) and lower on 5, all within noise, for 1.6x the training
#: time (benchmarks/README.md). Here, not in model.py, so that the CLI can show it without torch.
DEFAULT_WIDTH = 24

_EXPORTS = {
    "train_encoder": "astroexplore.encoder.train",
    "export_checkpoint": "astroexplore.encoder.train",
    "Encoder": "astroexplore.encoder.embed",
    "load_encoder": "astroexplore.encoder.embed",
    "GalaxyAugment": "astroexplore.encoder.augment",
    "ConvEncoder": "astroexplore.encoder.model",
    "dirichlet_multinomial_nll": "astroexplore.encoder.losses",
    "nt_xent": "astroexplore.encoder.losses",
    "ImageError": "astroexplore.encoder.data",
    "EmbeddingPCA": "astroexplore.encoder.pca",
}

__all__ = ["DEFAULT_WIDTH", "ConvEncoder", "EmbeddingPCA", "Encoder", "GalaxyAugment", "ImageError",
           "dirichlet_multinomial_nll", "export_checkpoint", "load_encoder", "nt_xent", "train_encoder"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'astroexplore.encoder' has no attribute {name!r}")


def __dir__():
    return __all__
