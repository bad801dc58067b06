"""Where and how torch runs: device choice and CPU thread count.

On small 2-core machines a tiny MLP trains many times faster with one intra-op thread
than with two (thread hand-off dominates); see ../shared/PLATFORM.md. Users can override
with the ``ASTROEXPLORE_TORCH_THREADS`` environment variable.
"""
from __future__ import annotations

import os


def configure_threads() -> int:
    """Set torch's intra-op CPU threads (1 unless ``ASTROEXPLORE_TORCH_THREADS`` says otherwise).

    Returns the number of threads set.
    """
    import torch

    n = int(os.environ.get("ASTROEXPLORE_TORCH_THREADS", "1"))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def default_device(device: str | None = None) -> str:
    """Return ``device`` if given, else ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    >>> default_device("cpu")
    'cpu'
    """
    if device is not None:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
