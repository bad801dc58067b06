"""Row-chunked work over a catalogue's arrays, on every core where the work releases the GIL.

Scoring a survey with an isolation forest is a loop over row chunks whose inner work
(scikit-learn's ``Tree.apply``, numpy arithmetic) runs in compiled code without the GIL, so
chunks run in parallel threads with no copy of the catalogue and no change to the result: each
chunk writes its own rows of an array the caller owns. Measured on the shared 2-core machine,
1M x 40, 100 trees: the isolation-forest scores took 3.7 s in one thread, 2.0 s in two
(``benchmarks/bench_chunks.py``).

Work that already runs on every core (faiss searches) should keep ``threads=1``.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from .torch_utils import available_cores

#: environment variable that caps the threads of chunked catalogue work (default: every core)
THREADS_ENV = "ASTROEXPLORE_THREADS"


def chunk_threads(threads: int | None = None) -> int:
    """Threads for chunked work: ``threads`` if given, else ``ASTROEXPLORE_THREADS``, else the
    cores this process may run on.

    >>> chunk_threads(3)
    3
    """
    if threads is None:
        text = os.environ.get(THREADS_ENV, "").strip()
        try:
            threads = int(text) if text else available_cores()
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a whole number of threads; got {text!r}") from None
    if threads < 1:
        raise ValueError(f"threads must be at least 1; got {threads}")
    return threads


def for_each_chunk(work: Callable[[int, int], None], n: int, chunk_size: int, *,
                   threads: int | None = None,
                   progress: Callable[[float], None] | None = None) -> None:
    """Call ``work(start, stop)`` for the consecutive row ranges of ``chunk_size`` rows that cover
    ``0 .. n``, in up to ``threads`` threads (see :func:`chunk_threads`).

    ``work`` writes its results into rows ``start:stop`` of arrays the caller owns, so the result
    does not depend on the thread count. ``progress(fraction_done)`` is called in the calling
    thread after each chunk. The first exception a chunk raises is raised here, once the chunks
    already started have finished; the chunks not yet started are cancelled.

    >>> import numpy as np
    >>> out = np.zeros(10)
    >>> def square(start, stop):
    ...     out[start:stop] = np.arange(start, stop) ** 2
    >>> for_each_chunk(square, 10, 3, threads=2)
    >>> out.astype(int).tolist()
    [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1; got {chunk_size}")
    bounds = [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]
    threads = min(chunk_threads(threads), len(bounds))
    if threads <= 1:
        for start, stop in bounds:
            work(start, stop)
            if progress is not None:
                progress(stop / n)
        return
    done = 0
    with ThreadPoolExecutor(threads, thread_name_prefix="astroexplore-chunks") as pool:
        futures = {pool.submit(work, start, stop): stop - start for start, stop in bounds}
        try:
            for future in as_completed(futures):
                future.result()
                done += futures[future]
                if progress is not None:
                    progress(done / n)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
