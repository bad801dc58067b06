"""Training losses: NT-Xent (SimCLR) and the Dirichlet-multinomial vote loss (Zoobot).

Dirichlet-multinomial (Walmsley et al. 2022, MNRAS 509, 3966): for one question with answers
``i = 1..m``, ``k_i`` volunteers chose answer ``i`` out of ``N = sum k_i`` asked, and the network
predicts concentrations ``alpha_i > 0``. With ``A = sum alpha_i``::

    log p(k | N, alpha) = lgamma(N + 1) + lgamma(A) - lgamma(N + A)
                          + sum_i [lgamma(k_i + alpha_i) - lgamma(k_i + 1) - lgamma(alpha_i)]

The loss is ``-log p`` summed over questions. A question nobody was asked (``N = 0``) gives exactly
``log p = 0``, so missing questions drop out without masking; NaN counts are treated as 0.
Non-integer counts (fractions times a nominal number of votes) are allowed: the formula is smooth.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F


def dirichlet_multinomial_nll(counts: torch.Tensor, alpha: torch.Tensor,
                              questions: Sequence[Sequence[int]]) -> torch.Tensor:
    """Negative log Dirichlet-multinomial likelihood per galaxy, summed over questions.

    Parameters
    ----------
    counts : Tensor of shape (B, n_answers), float
        Votes per answer (NaN = not asked, treated as 0).
    alpha : Tensor of shape (B, n_answers), float, > 0
        Predicted concentrations.
    questions : sequence of sequences of int
        Column indices of the answers of each question.

    Returns
    -------
    Tensor of shape (B,)

    Examples
    --------
    >>> k = torch.tensor([[3.0, 1.0, 0.0, 0.0]])
    >>> a = torch.ones(1, 4)
    >>> nll = dirichlet_multinomial_nll(k, a, [[0, 1], [2, 3]])
    >>> round(float(nll[0]), 4)  # uniform alpha: every split of N=4 votes has probability 1/5
    1.6094
    """
    counts = torch.nan_to_num(counts, nan=0.0).clamp_min(0.0)
    total = torch.zeros(counts.shape[0], dtype=alpha.dtype, device=alpha.device)
    for q in questions:
        idx = torch.as_tensor(list(q), device=alpha.device)
        k = counts.index_select(1, idx)
        a = alpha.index_select(1, idx)
        n = k.sum(1)
        big_a = a.sum(1)
        logp = (torch.lgamma(n + 1) + torch.lgamma(big_a) - torch.lgamma(n + big_a)
                + (torch.lgamma(k + a) - torch.lgamma(k + 1) - torch.lgamma(a)).sum(1))
        total = total - logp
    return total


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's normalised-temperature cross entropy for two views of the same batch.

    Each of the ``2B`` projections must pick out its partner among the other ``2B - 1``.

    Parameters
    ----------
    z1, z2 : Tensor of shape (B, d)
        Projections of the two views (normalised here).
    temperature : float

    Returns
    -------
    Tensor, scalar: mean loss over the 2B anchors (``log(2B - 1)`` for random inputs, 0 at best).

    Examples
    --------
    >>> z = torch.randn(8, 16)
    >>> float(nt_xent(z, z, temperature=0.05)) < 0.01
    True
    """
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, target)


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL regression loss ``2 - 2 cos(p, z)`` (mean over the batch; ``z`` is not differentiated).

    Provided for users who prefer a negative-free objective; :func:`train_encoder` uses NT-Xent.

    >>> x = torch.randn(4, 8)
    >>> float(byol_loss(x, x)) < 1e-6
    True
    """
    p = F.normalize(p, dim=1)
    z = F.normalize(z.detach(), dim=1)
    return (2 - 2 * (p * z).sum(1)).mean()
