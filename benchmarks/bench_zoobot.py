"""Reading a Zoobot predictions HDF5: time per galaxy, with and without the 90% interval, by
thread count, extrapolated to DESI's 8.7 million galaxies.

Writes n galaxies x the 34 GZ DECaLS answers x ``--passes`` forward passes of Dirichlet
concentrations (float32, as Zoobot saves them) and times ``read_zoobot_predictions`` on it:
without the interval, then with it on 1, 2, ... threads (each thread count once per repeat; the
table keeps the fastest repeat, these machines being noisy). The interval's numbers are the
same whatever the thread count (tests/test_zoobot.py).

Usage::

    python benchmarks/bench_zoobot.py [--n 200000] [--passes 5] [--threads 1 2] [--repeat 2]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from astroexplore.schemas import gz_decals_schema
from astroexplore.torch_utils import available_cores
from astroexplore.zoobot import read_zoobot_predictions

DESI = 8_700_000


def write_predictions(path: Path, n: int, passes: int, seed: int = 0) -> Path:
    labels = [c.removesuffix("_fraction") for c in gz_decals_schema().columns]
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        pred = f.create_dataset("predictions", (n, len(labels), passes), dtype=np.float32)
        for start in range(0, n, 100_000):
            rows = min(100_000, n - start)
            base = rng.gamma(2.0, 8.0, (rows, len(labels), 1)) + 0.5
            pred[start:start + rows] = base * rng.uniform(0.8, 1.25, (rows, len(labels), passes))
        text = h5py.string_dtype(encoding="utf-8")
        f.create_dataset("id_str", data=[f"dr8_{i}" for i in range(n)], dtype=text)
        f.create_dataset("label_cols", data=labels, dtype=text)
    return path


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=sorted({1, available_cores()}))
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_predictions(Path(tmp) / "predictions.h5", args.n, args.passes)
        rows = [("no interval", best_time(lambda: read_zoobot_predictions(path, interval=False), args.repeat))]
        for t in args.threads:
            rows.append((f"interval, {t} thread{'s' * (t > 1)}",
                         best_time(lambda t=t: read_zoobot_predictions(path, threads=t), args.repeat)))
    base = rows[1][1]
    print(f"{args.n:,} galaxies x 34 answers x {args.passes} passes; {available_cores()} cores; "
          f"fastest of {args.repeat}")
    print("| read | seconds | us per galaxy | 8.7M galaxies (min) | vs 1 thread |")
    print("|---|---|---|---|---|")
    for name, sec in rows:
        speedup = f"{base / sec:.2f}x" if name.startswith("interval") else "-"
        print(f"| {name} | {sec:.2f} | {sec / args.n * 1e6:.1f} | {sec / args.n * DESI / 60:.1f} | {speedup} |")


if __name__ == "__main__":
    main()
