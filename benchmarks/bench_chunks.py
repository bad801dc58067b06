"""Isolation-forest work over a whole catalogue: one thread against every core, same process.

Times the three passes of every galaxy through isolation trees that an app start-up and the
first Retrain make (each then cached beside the catalogue):

- the isolation-forest anomaly scores (``compute_scores``, 100 trees): the cold start's biggest step;
- the per-tree depths the interest head takes as inputs (``tree_depth_features``, 32 trees);
- the leaf ids of the isolation-kernel correction (``isolation_paths``, 100 trees);

each with ``ASTROEXPLORE_THREADS=1`` (the old single loop) and with every core
(:func:`astroexplore.chunks.for_each_chunk`), alternated ``--repeat`` times on the same
standard-normal n x d float32 matrix, checking that both give identical arrays. Prints the
median seconds and the ratio (the machine is noisy: read the ratio).

Usage::

    python benchmarks/bench_chunks.py [--n 1000000] [--d 40] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from astroexplore.chunks import THREADS_ENV, chunk_threads
from astroexplore.detectors import compute_scores, tree_depth_features
from astroexplore.isolation_kernel import isolation_paths

PASSES = {
    "isolation-forest scores (100 trees)": lambda X: compute_scores(X, "isolation_forest").raw,
    "tree depths for the head (32 trees)": lambda X: tree_depth_features(X),
    "isolation-kernel leaves (100 trees)": lambda X: isolation_paths(X).leaves,
}


def timed(compute, X, threads: int) -> tuple[float, np.ndarray]:
    os.environ[THREADS_ENV] = str(threads)
    t0 = time.perf_counter()
    out = compute(X)
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    cores = chunk_threads()
    X = np.random.default_rng(0).standard_normal((args.n, args.d), dtype=np.float32)
    print(f"{args.n:,} x {args.d} float32; {cores} cores; load average "
          f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    header = f"{'pass':<38}{'1 thread s':>12}{f'{cores} threads s':>14}{'speed-up':>10}  identical"
    print(header)
    print("-" * len(header))
    for name, compute in PASSES.items():
        one, many, same = [], [], True
        for _ in range(args.repeat):
            t1, a = timed(compute, X, 1)
            tn, b = timed(compute, X, cores)
            one.append(t1)
            many.append(tn)
            same &= bool(np.array_equal(a, b))
        m1, mn = statistics.median(one), statistics.median(many)
        print(f"{name:<38}{m1:>12.2f}{mn:>14.2f}{m1 / mn:>9.2f}x  {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
