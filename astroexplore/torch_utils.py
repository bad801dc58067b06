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


def check_device(device: str | None, name: str = "device=") -> None:
    """ValueError, naming the option (``name``: "device=" in Python, "--device " on the command
    line), when ``device`` names an accelerator torch does not see here (asking for "cuda" on a
    machine without a GPU failed later, at the first fit, with torch's bare AssertionError)."""
    if device is None or device == "cpu":
        return
    import torch

    device = str(device)
    cpu = f"use {name}cpu, or leave it out to use a GPU when there is one"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "torch sees no CUDA GPU here"
            raise ValueError(f"{name}{device}: {why}; {cpu}")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"{name}{device}: there is no GPU {index} here "
                             f"(torch sees {torch.cuda.device_count()}: cuda:0 .. "
                             f"cuda:{torch.cuda.device_count() - 1})")
    elif device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{name}mps: torch sees no Apple GPU here; {cpu}")
    else:
        try:
            torch.device(device)
        except (RuntimeError, ValueError):
            raise ValueError(f"{name}{device}: not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from None


def default_device(device: str | None = None) -> str:
    """Return ``device`` if given, else ``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    >>> default_device("cpu")
    'cpu'
    """
    if device is not None:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
