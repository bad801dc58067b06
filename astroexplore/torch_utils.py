"""Where and how torch runs: device choice and CPU thread count.

On small 2-core machines a tiny MLP trains many times faster with one intra-op thread
than with two (thread hand-off dominates); see ../shared/PLATFORM.md. A CNN is the opposite:
training the encoder on 6,664 GZ1 cutouts took 14 s per epoch with 2 threads against 22 s with
one, so :func:`astroexplore.encoder.train_encoder` asks for every core. Users can override both
with the ``ASTROEXPLORE_TORCH_THREADS`` environment variable.
"""
from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def configure_threads(n: int | None = None, *, default: int = 1) -> int:
    """Set torch's intra-op CPU threads: ``n`` if given, else ``ASTROEXPLORE_TORCH_THREADS``,
    else ``default`` (1: right for the small MLPs of the app).

    Returns the number of threads set.
    """
    import torch

    if n is None:
        n = int(os.environ.get("ASTROEXPLORE_TORCH_THREADS", default))
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
