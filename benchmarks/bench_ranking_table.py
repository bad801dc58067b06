"""The list's top N as a table (the sidebar's "Top N (CSV)", ``astroexplore rank``): what it
costs beyond the sort the app already makes on every change of method, filter or labels.

``Explorer.ranking_table`` sorts as ``Explorer.ranking`` does, then reads the first N galaxies'
positions, scores, the head's predictions, the label store (every user's mean) and the catalogue's
columns. The baseline is ``ranking(method, unlabelled_first=True)``, timed in the same process on
the same session (the machine is noisy: read the ratio). The CSV's bytes (``csv_buffer``) are timed
too, as the download writes them.

A catalogue of ``--n`` galaxies (a ``--dim``-d random embedding, ra/dec, a magnitude) gets
``--labels`` labels by two users and one retrain, then each step is timed (median of ``--repeat``).

Usage::

    python benchmarks/bench_ranking_table.py [--n 1000000] [--dim 16] [--labels 500] [--repeat 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from astroexplore.catalogue import Catalogue  # noqa: E402
from astroexplore.explorer import Explorer  # noqa: E402
from astroexplore.labels import LabelStore  # noqa: E402
from astroexplore.ui.widgets import csv_buffer  # noqa: E402
from bench_retrain import print_ratio_table  # noqa: E402  (median seconds of `repeat` calls, and ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="galaxies in the catalogue")
    ap.add_argument("--dim", type=int, default=16, help="embedding dimensions")
    ap.add_argument("--labels", type=int, default=500, help="labels in the store (two users)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ids = np.char.add("g", np.arange(args.n).astype(str))
    table = pd.DataFrame({"ra": rng.uniform(0, 360, args.n), "dec": rng.uniform(-30, 30, args.n),
                          "mag_r": rng.uniform(14, 18, args.n).astype(np.float32)})
    cat = Catalogue.from_arrays(rng.normal(size=(args.n, args.dim)).astype(np.float32), ids=ids.tolist(),
                                table=table)
    mask = table["mag_r"].to_numpy() < 17
    with tempfile.TemporaryDirectory() as tmp, LabelStore(Path(tmp) / "labels.sqlite") as store:
        ex = Explorer(cat, store, user="ana", cache=False)
        t0 = time.perf_counter()
        for k, row in enumerate(ex.ranking()[:args.labels]):
            store.add(ids[row], int(rng.integers(0, 6)), user=("ana", "ben")[k % 2])
        report = ex.retrain(predict_head=True)
        print(f"{args.n:,} galaxies x {args.dim}, {args.labels:,} labels: set-up (isolation forest, "
              f"labels, retrain on {report['n_labels']}) {time.perf_counter() - t0:.1f} s; median of {args.repeat}")
        steps = {
            "ranking('combined', unlabelled_first=True) (baseline: the app's sort)":
                lambda: ex.ranking("combined", unlabelled_first=True),
            "ranking_table(top=500)": lambda: ex.ranking_table(top=500),
            "ranking_table(top=500, mask: mag_r < 17)": lambda: ex.ranking_table(top=500, mask=mask),
            "ranking_table(top=50,000)": lambda: ex.ranking_table(top=50_000),
            "csv_buffer(ranking_table(top=500)) (the download's bytes)": lambda: csv_buffer(ex.ranking_table(top=500)),
            "csv_buffer(ranking_table(top=50,000))": lambda: csv_buffer(ex.ranking_table(top=50_000)),
        }
        print_ratio_table(steps, args.repeat, "the sort")


if __name__ == "__main__":
    main()
