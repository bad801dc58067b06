"""Speed of the interest head (the app's Retrain) on each device present: CPU, and CUDA where torch sees it.

The same data as benchmarks/bench_retrain.py (1,000,000 x 40 float32 embeddings, 200 labels), in
one process: a cold fit (300 epochs, as ``Explorer.retrain``), a warm refit (200 epochs) and
``predict`` over every row, each the median of ``--repeat`` runs after one warm-up. The ratio
column is CPU time / this device's time. Prints a markdown table; not a timed test.

Usage::

    python3 benchmarks/bench_head_device.py [--n 1000000] [--d 40] [--labels 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_retrain import make_data, timed  # noqa: E402


def measure(X, rows, y, device: str, repeat: int) -> dict:
    import torch

    from astroexplore.head import InterestHead

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def cold():
        h = InterestHead(seed=0, device=device).fit(X[rows], y, warm_start=False)
        sync()
        return h

    head = cold()  # warm-up (CUDA context, kernels)
    t_cold, head = timed(cold, repeat)
    t_warm, _ = timed(lambda: (head.fit(X[rows], y), sync()), repeat)
    head.predict(X[:1000])
    t_pred, (mean, _) = timed(lambda: head.predict(X), repeat)
    return {"fit (cold, 300 epochs) s": t_cold, "refit (warm, 200 epochs) s": t_warm,
            f"predict {len(X):,} rows s": t_pred, "mean": mean}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=40)
    p.add_argument("--labels", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    import torch
    from scipy.stats import spearmanr

    from astroexplore.torch_utils import configure_threads

    threads = configure_threads()
    X, rows, y = make_data(args.n, args.d, args.labels)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {d: measure(X, rows, y, d, args.repeat) for d in devices}
    keys = [k for k in results["cpu"] if k != "mean"]
    print(f"# Interest head by device ({args.n:,} x {args.d}, {args.labels} labels; CPU: {os.cpu_count()} cores, "
          f"{threads} torch threads{'; GPU: ' + torch.cuda.get_device_name() if 'cuda' in results else ''})\n")
    print("| device | " + " | ".join(keys) + " | total ratio (CPU / device) | rank correlation with CPU | largest difference from CPU |")
    print("|---|" + "---|" * (len(keys) + 3))
    total_cpu = sum(results["cpu"][k] for k in keys)
    for d, r in results.items():
        total = sum(r[k] for k in keys)
        rho = spearmanr(r["mean"], results["cpu"]["mean"]).statistic  # (top-k: ties at the plateau)
        diff = float(np.abs(r["mean"] - results["cpu"]["mean"]).max())
        print(f"| {d} | " + " | ".join(f"{r[k]:.3f}" for k in keys)
              + f" | {total_cpu / total:.1f} | {rho:.4f} | {diff:.3f} |")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    rc = main()
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    sys.exit(rc)
