"""AdaBN for the transfer of the gz1-trained encoders to the other real sets: with and without.

``Encoder.adapt_batch_norm`` re-estimates every batch-norm layer's statistics on the target
survey's images before embedding them (Li et al. 2016, "Revisiting batch normalization for
practical domain adaptation"): no labels, no gradient. This script takes the gz1 checkpoints that
``real_data.py`` trained (same ``--work-dir``, ``--epochs``, ``--seeds``, ``--width``), embeds
decals_rings and gz_answer_examples as ``real_data.py`` does (central 0.75, 8-fold test-time
augmentation), once as trained and once adapted, and scores both with ``real_data.py``'s metrics
on the same draws: the per-figure difference and its paired SE. The rule for adopting it was
written before the first run (benchmarks/README.md, "AdaBN").

Usage::

    .venv/bin/python benchmarks/adabn_transfer.py --work-dir /tmp/rd [--head-draws 100] [--tag-draws 200]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import real_data as rd  # noqa: E402  (the sets, metrics and checkpoint names of the real-data benchmark)


def _embed(path: Path, x128, adapt: bool) -> np.ndarray:
    from astroexplore.encoder import load_encoder

    enc = load_encoder(path, device="cpu")  # a fresh copy: adapting changes the encoder in place
    enc.crop = rd.SMALL_CROP
    if adapt:
        enc.adapt_batch_norm(x128)
    return enc.embed(x128, batch_size=512, tta=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work-dir", default="/tmp/astroexplore_real_data")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--width", type=int, default=rd.DEFAULT_WIDTH)
    ap.add_argument("--head-draws", type=int, default=100)
    ap.add_argument("--tag-draws", type=int, default=200)
    args = ap.parse_args()
    rd_args = rd.build_parser().parse_args(["--work-dir", args.work_dir, "--epochs", str(args.epochs),
                                           "--seeds", str(args.seeds), "--width", str(args.width)])
    work = Path(args.work_dir)
    rcat, r128 = rd.load_folder("decals_rings")
    is_ring = rcat["ring"].to_numpy().astype(bool)
    acat, a128 = rd.load_folder("gz_answer_examples")
    unique = rd.unique_images(a128)
    answers = acat["answer"].to_numpy()[unique]

    def metrics(Zr, Za):
        Zr, Za = rd.catalogue_space(Zr), rd.catalogue_space(Za[unique])
        return {**rd.ring_precision(Zr, is_ring), **rd.head_ranking(Zr, is_ring, 10, repeats=args.head_draws),
                **rd.head_ranking(Zr, is_ring, 20, repeats=args.head_draws),
                **{f"{tag} p@10": rd.tag_query(Za, answers, a, repeats=args.tag_draws) for tag, a in rd.TAGS.items()}}

    rows = []
    for name, spec in rd.gz1_specs(rd_args).items():
        runs = {False: [], True: []}
        for seed, tag in spec["runs"]:
            path = work / f"{tag}.pt"
            for adapt in (False, True):
                t0 = time.perf_counter()
                runs[adapt].append(metrics(_embed(path, r128, adapt), _embed(path, a128, adapt)))
                rd.log(f"{tag} {'adapted' if adapt else 'as trained'}: {time.perf_counter() - t0:.0f} s")
        before, after = rd.mean_samples(runs[False]), rd.mean_samples(runs[True])
        for fig in before:
            d = np.asarray(after[fig]) - np.asarray(before[fig])
            se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
            rows.append({"encoder": name, "figure": fig, "as trained": float(np.mean(before[fig])),
                         "AdaBN": float(np.mean(after[fig])), "difference": float(d.mean()), "SE": se,
                         "in SE": float(d.mean() / se) if se > 0 else float("nan")})
    table = pd.DataFrame(rows)
    print(rd.markdown_table(table))


if __name__ == "__main__":
    main()
