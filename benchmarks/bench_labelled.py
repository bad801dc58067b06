"""The Labelled tab's list at scale: what it costs beyond reading the label store.

``Explorer.labelled_galaxies`` (the tab's list: one row per galaxy, the mean of every user's
scores, the union of their tags), ``Explorer.labelled_table`` (its CSV and
``astroexplore labels finds``) and ``Explorer.discovery_curve`` (the tab's curve, which also reads
the store's history) read ``LabelStore.latest`` and then group, filter and sort. The
baseline is that read itself, timed in the same process on the same store: the ratio says what
the grouping adds (the machine is noisy: read the ratio).

A catalogue of ``--n`` galaxies (ids only: a 4-d random embedding) gets ``--labels`` labels from
three users (one in 17 with a tag), scores 0-5 at random, imported in one transaction.

Usage::

    python benchmarks/bench_labelled.py [--n 1000000] [--labels 50000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from astroexplore.catalogue import Catalogue  # noqa: E402
from astroexplore.explorer import Explorer, finds_of  # noqa: E402
from astroexplore.labels import LabelStore  # noqa: E402
from bench_retrain import print_ratio_table  # noqa: E402  (median seconds of `repeat` calls, and ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="galaxies in the catalogue")
    ap.add_argument("--labels", type=int, default=50_000, help="labels in the store (all users)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ids = np.char.add("g", np.arange(args.n).astype(str))
    cat = Catalogue.from_arrays(rng.normal(size=(args.n, 4)).astype(np.float32), ids=ids.tolist())
    with tempfile.TemporaryDirectory() as tmp:
        rows = rng.choice(args.n, args.labels, replace=False)
        k = np.arange(args.labels)
        frame = pd.DataFrame({"id": ids[rows], "score": rng.integers(0, 6, args.labels),
                              "user": np.array(["ana", "ben", "cy"])[k % 3],
                              "tags": np.where(k % 17 == 0, "#ring", "")})
        frame.to_csv(Path(tmp) / "labels.csv", index=False)
        with LabelStore(Path(tmp) / "labels.sqlite") as store:
            store.import_csv(Path(tmp) / "labels.csv")
            ex = Explorer(cat, store, user="ana", cache=False)
            steps = {
                "LabelStore.latest() (baseline: the read)": store.latest,
                "labelled_galaxies(min_score=4, user='ana')": lambda: ex.labelled_galaxies(min_score=4, user="ana"),
                "labelled_galaxies(min_score=4) (everyone's mean)": lambda: ex.labelled_galaxies(min_score=4),
                "labelled_galaxies(min_score=0, tag='#ring')": lambda: ex.labelled_galaxies(tag="#ring"),
                "labelled_table(min_score=4) (the CSV's table)": lambda: ex.labelled_table(min_score=4),
                "discovery_curve(min_score=4) (everyone's)": lambda: ex.discovery_curve(min_score=4),
                "discovery_curve(min_score=4, user='ana')": lambda: ex.discovery_curve(min_score=4, user="ana"),
                "the tab's refresh, everyone's: list and curve from one read": lambda: (
                    finds_of(everything := ex.labelled_galaxies(), min_score=4),
                    ex.discovery_curve(min_score=4, labelled=everything)),
            }
            print(f"{args.labels:,} labels of {args.n:,} galaxies, median of {args.repeat}")
            print_ratio_table(steps, args.repeat, "the read")


if __name__ == "__main__":
    main()
