"""A small convolutional galaxy encoder with a projection head and a vote head.

The encoder maps a batch of RGB cutouts ``(B, 3, H, W)`` float in ``[0, 1]`` to a
``(B, representation_dim)`` representation (global average pool after five strided conv
blocks). Two optional heads sit on top:

- ``projection``: a 2-layer MLP used only by the contrastive loss (SimCLR practice: the loss sees
  the projection, the user gets the representation before it);
- ``vote_head``: dropout + linear layer predicting Dirichlet concentrations ``alpha > 1`` for every
  answer of a Galaxy Zoo decision tree (Walmsley et al. 2022); dropout stays on at prediction time
  for MC-dropout posteriors.

Sizes are chosen for CPU: at the default width 24, 0.51 M parameters and 17 M multiply-adds per
64x64 image (width 16: 0.34 M and 8 M).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from astroexplore.encoder import DEFAULT_WIDTH

#: Largest Dirichlet concentration the vote head predicts (Zoobot uses 1 + 100 sigmoid).
MAX_CONCENTRATION = 100.0


def _block(c_in: int, c_out: int, stride: int, double: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
              nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if double:
        layers += [nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """Five strided conv blocks -> global average pool -> representation.

    Parameters
    ----------
    representation_dim : int
        Size of the output vector (channels of the last block).
    width : int
        Channels of the first block; later blocks use 2x, 3x, 4x, 4x (capped at
        ``representation_dim`` for the last).

    Examples
    --------
    >>> enc = ConvEncoder(representation_dim=32, width=8)
    >>> enc(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 32])
    """

    def __init__(self, representation_dim: int = 128, width: int = DEFAULT_WIDTH):
        super().__init__()
        self.representation_dim = int(representation_dim)
        self.width = int(width)
        chans = [width, 2 * width, 3 * width, 4 * width, representation_dim]
        # input standardisation learned from the data (sky backgrounds are dark, centres bright)
        self.input_norm = nn.BatchNorm2d(3)
        layers = []
        c_in = 3
        for i, c_out in enumerate(chans):
            # the first block works at half resolution and costs most: one conv only
            layers.append(_block(c_in, c_out, stride=2, double=i > 0))
            c_in = c_out
        self.blocks = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 3, H, W)`` float in ``[0, 1]`` to ``(B, representation_dim)``."""
        h = self.blocks(self.input_norm(x).contiguous(memory_format=torch.channels_last))
        return h.mean(dim=(2, 3))


class ProjectionHead(nn.Module):
    """MLP ``d -> hidden -> out`` for the contrastive loss (discarded at embedding time)."""

    def __init__(self, in_dim: int = 128, hidden: int = 256, out_dim: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class VoteHead(nn.Module):
    """Dropout + linear -> Dirichlet concentrations ``alpha`` in ``(1, 1 + MAX_CONCENTRATION)``.

    ``alpha = 1 + MAX_CONCENTRATION * sigmoid(z)``; a softplus variant diverged on CPU runs with
    fractions near 0 or 1, the bounded form keeps the loss finite (as Zoobot does).
    """

    def __init__(self, in_dim: int, n_answers: int, dropout: float = 0.2):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, n_answers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return 1.0 + MAX_CONCENTRATION * torch.sigmoid(self.linear(self.dropout(h)))


class GalaxyModel(nn.Module):
    """Encoder + projection head + optional vote head + optional target head (what we train).

    ``target_head`` is a linear map ``representation -> n_targets`` used to distil per-image
    features computed from the pixels (e.g. :func:`astroexplore.features.morphology_features`)
    into the representation: being linear, it forces that information to be linearly readable
    from the embedding itself, not hidden in a deeper head.
    """

    def __init__(self, *, representation_dim: int = 128, width: int = DEFAULT_WIDTH, projection_dim: int = 128,
                 n_answers: int = 0, dropout: float = 0.2, n_targets: int = 0):
        super().__init__()
        self.encoder = ConvEncoder(representation_dim, width)
        self.projection = ProjectionHead(representation_dim, 2 * representation_dim, projection_dim)
        self.vote_head = VoteHead(representation_dim, n_answers, dropout) if n_answers else None
        self.target_head = nn.Linear(representation_dim, n_targets) if n_targets else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


def normalise(z: torch.Tensor) -> torch.Tensor:
    """L2-normalise rows."""
    return F.normalize(z, dim=1)
