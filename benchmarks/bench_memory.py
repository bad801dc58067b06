"""Memory (and time) of a whole session on a very large catalogue: 10,000,000 x 40 by default.

Writes an ``.npy`` of n x d float32 embeddings (a Gaussian mixture, in chunks, once), then in
one process does what the app does on first start and first retrain, in order:

1. ``load_catalogue(X.npy)`` (ids "0".."n-1" as strings, as a catalogue without an id table);
2. each anomaly detector through ``Explorer.anomaly_scores`` (isolation forest, kNN, LOF:
   chunked, neighbour methods against a 10,000-galaxy reference set);
3. ``Explorer.isolation_paths()`` (leaf ids of the kernel forest, n x 100 int16);
4. 200 labels, ``Explorer.retrain(predict_head=True)`` (head fit + predictions over all rows,
   isolation-kernel fit + prediction) and ``Explorer.ranking("combined")``.

After each step it prints the wall time, the resident set size and its high-water mark
(``VmRSS``/``VmHWM`` of /proc/self/status): the figure to compare with the machine's memory.
Everything is cached beside the catalogue as in the app (a second run reads the caches: use a
fresh ``--dir``, or ``--fresh``, to measure the computation).

Usage::

    .venv/bin/python benchmarks/bench_memory.py [--n 10000000] [--d 40] [--dir DIR] [--fresh]
        [--stages isolation_forest knn lof paths retrain]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

STAGES = ("isolation_forest", "knn", "lof", "paths", "retrain")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def write_embeddings(path: Path, n: int, d: int, seed: int = 0, chunk: int = 500_000) -> None:
    """A 20-component Gaussian mixture, n x d float32, written chunk by chunk (never all in RAM)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(20, d)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        out[s:s + m] = centres[rng.integers(0, 20, size=m)] + rng.standard_normal((m, d),
                                                                                  dtype=np.float32)
    out.flush()
    del out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000_000)
    p.add_argument("--d", type=int, default=40)
    p.add_argument("--dir", type=Path, default=None)
    p.add_argument("--fresh", action="store_true", help="delete caches beside the catalogue first")
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    args = p.parse_args(argv)

    import torch

    from astroexplore.catalogue import load_catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.torch_utils import configure_threads

    configure_threads()
    folder = args.dir or Path(tempfile.gettempdir()) / f"astroexplore-mem-{args.n}x{args.d}"
    folder.mkdir(parents=True, exist_ok=True)
    npy = folder / "embeddings.npy"
    print(f"# Memory of a session on {args.n:,} x {args.d} float32\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at start.\n")
    if not npy.exists():
        t = time.perf_counter()
        write_embeddings(npy, args.n, args.d)
        print(f"wrote {npy} ({npy.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f} s\n")
    if args.fresh:
        for f in folder.iterdir():
            if f.name != npy.name:
                shutil.rmtree(f) if f.is_dir() else f.unlink()

    rows = []

    def record(stage, t0):
        rows.append((stage, time.perf_counter() - t0, _status_mb("VmRSS"), _status_mb("VmHWM")))
        print(f"  {stage}: {rows[-1][1]:.1f} s, RSS {rows[-1][2]:.0f} MB, peak {rows[-1][3]:.0f} MB",
              flush=True)

    record("start (imports)", time.perf_counter())
    t0 = time.perf_counter()
    cat = load_catalogue(npy)
    record("load_catalogue (.npy)", t0)
    store = LabelStore(folder / "labels.sqlite")
    ex = Explorer(cat, store, user="bench", seed=0)
    for det in ("isolation_forest", "knn", "lof"):
        if det in args.stages:
            t0 = time.perf_counter()
            ex.anomaly_scores(det)
            record(f"anomaly scores: {det}", t0)
    if "paths" in args.stages:
        t0 = time.perf_counter()
        ex.isolation_paths()
        record("isolation paths (100 trees)", t0)
    if "retrain" in args.stages:
        rng = np.random.default_rng(0)
        top = ex.ranking("isolation_forest")[:2_000]
        picks = np.r_[rng.choice(top, 100, replace=False), rng.choice(args.n, 100, replace=False)]
        for i, row in enumerate(picks):
            ex.label(cat.ids[row], 5 if i < 20 else int(rng.integers(0, 2)))
        t0 = time.perf_counter()
        report = ex.retrain(predict_head=True)
        ex.ranking("combined")
        record(f"200 labels: retrain + rank (head {report['fit_seconds'] + report['predict_seconds']:.1f} s, "
               f"kernel {report['kernel_seconds']:.1f} s)", t0)
    print("\n| step | wall (s) | RSS after (MB) | peak RSS so far (MB) |")
    print("|---|---:|---:|---:|")
    for stage, sec, rss, hwm in rows:
        print(f"| {stage} | {sec:.1f} | {rss:.0f} | {hwm:.0f} |")
    emb_mb = args.n * args.d * 4 / 2**20
    print(f"\nEmbeddings alone: {emb_mb:.0f} MB. Peak: {rows[-1][3]:.0f} MB "
          f"({rows[-1][3] / emb_mb:.2f}x the embeddings). Load average at the end: "
          f"{os.getloadavg()[0]:.1f}.")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
