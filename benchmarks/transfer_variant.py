"""A change to the transfer of the gz1-trained encoders to the other real sets, paired against it.

The gz1 encoders (trained by ``real_data.py``, or here with ``--train``) embed decals_rings and
gz_answer_examples as ``real_data.py`` does (central 0.75, 8-fold test-time augmentation), once
as usual and once with the variant, and both are scored with ``real_data.py``'s metrics on the
same draws: the per-figure difference and its paired SE. Each variant's rule for adopting it was
written in benchmarks/README.md before its first run.

Variants:

- ``adabn``: ``Encoder.adapt_batch_norm`` re-estimates every batch-norm layer's statistics on the
  target survey's images before embedding them (Li et al. 2016, "Revisiting batch normalization
  for practical domain adaptation"): no labels, no gradient.
- ``crop=F``: embed the central fraction F of the cutouts instead of 0.75 (``crop=1.0``: the whole
  cutout, where a ring's outer light is).

``--first-seed`` / ``--seeds`` choose the distilled encoder's training seeds and ``--draw-seed``
the label draws and example sets (``real_data.py`` uses 0), so that a variant found on one set of
seeds and draws can be checked on others.

Usage::

    .venv/bin/python benchmarks/transfer_variant.py --variant adabn --work-dir /tmp/rd
    .venv/bin/python benchmarks/transfer_variant.py --variant crop=1.0 --train --first-seed 3 \\
        --draw-seed 1 --work-dir /tmp/rd
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import real_data as rd  # noqa: E402  (the sets, metrics and checkpoint names of the real-data benchmark)


def parse_variant(text: str) -> tuple[str, float | None]:
    """``adabn`` or ``crop=F`` (0 < F <= 1) -> (kind, crop)."""
    if text == "adabn":
        return "adabn", None
    kind, _, value = text.partition("=")
    if kind == "crop":
        try:
            crop = float(value)
        except ValueError:
            crop = float("nan")
        if 0 < crop <= 1:
            return "crop", crop
    raise SystemExit(f"--variant {text!r}: give 'adabn' or 'crop=F' with 0 < F <= 1 (e.g. crop=1.0)")


def embed(path: Path, x128, variant: tuple[str, float | None] | None) -> np.ndarray:
    """Embeddings of ``x128`` by the checkpoint at ``path``, as usual (``variant`` None) or with it."""
    from astroexplore.encoder import load_encoder

    enc = load_encoder(path, device="cpu")  # a fresh copy: adapting changes the encoder in place
    enc.crop = variant[1] if variant and variant[0] == "crop" else rd.SMALL_CROP
    if variant and variant[0] == "adabn":
        enc.adapt_batch_norm(x128)
    return enc.embed(x128, batch_size=512, tta=True)


def build_parser():
    ap = rd.build_parser()
    ap.description = __doc__.split("\n\n")[0]
    ap.add_argument("--variant", required=True, help="adabn, or crop=F (the central fraction F of each cutout)")
    ap.add_argument("--draw-seed", type=int, default=0,
                    help="seed of the head label draws and tag example sets (real_data.py: 0)")
    ap.add_argument("--train", action="store_true",
                    help="first train the gz1 encoders missing from --work-dir (--jobs at a time)")
    ap.add_argument("--only-distilled", action="store_true",
                    help="leave out the plain contrastive gz1 encoder (train and score only the distilled one)")
    return ap


def main(argv=None) -> None:
    args = rd.quick_settings(build_parser().parse_args(argv))
    variant = parse_variant(args.variant)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    specs = {name: sp for name, sp in rd.gz1_specs(args).items()
             if not (args.only_distilled and sp["targets"] is None)}
    if args.train:
        tags = {tag for sp in specs.values() for _, tag in sp["runs"]}
        rd.train_parallel([j for j in rd.training_jobs(args) if j["tag"] in tags], args.jobs, work)
    rcat, r128 = rd.load_folder("decals_rings")
    is_ring = rcat["ring"].to_numpy().astype(bool)
    acat, a128 = rd.load_folder("gz_answer_examples")
    unique = rd.unique_images(a128)
    answers = acat["answer"].to_numpy()[unique]
    d = args.draw_seed

    def metrics(Zr, Za):
        Zr, Za = rd.catalogue_space(Zr), rd.catalogue_space(Za[unique])
        return {**rd.ring_precision(Zr, is_ring),
                **rd.head_ranking(Zr, is_ring, 10, repeats=args.head_draws, seed=d),
                **rd.head_ranking(Zr, is_ring, 20, repeats=args.head_draws, seed=d),
                **{f"{tag} p@10": rd.tag_query(Za, answers, a, repeats=args.tag_draws, seed=d)
                   for tag, a in rd.TAGS.items()}}

    rows = []
    for name, spec in specs.items():
        runs = {False: [], True: []}
        for seed, tag in spec["runs"]:
            path = work / f"{tag}.pt"
            for changed in (False, True):
                t0 = time.perf_counter()
                v = variant if changed else None
                runs[changed].append(metrics(embed(path, r128, v), embed(path, a128, v)))
                rd.log(f"{tag} {args.variant if changed else 'as usual'}: {time.perf_counter() - t0:.0f} s")
        before, after = rd.mean_samples(runs[False]), rd.mean_samples(runs[True])
        for fig in before:
            diff = np.asarray(after[fig]) - np.asarray(before[fig])
            se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
            rows.append({"encoder": name, "figure": fig, "as usual": float(np.mean(before[fig])),
                         args.variant: float(np.mean(after[fig])), "difference": float(diff.mean()), "SE": se,
                         "in SE": float(diff.mean() / se) if se > 0 else float("nan")})
    text = rd.markdown_table(pd.DataFrame(rows))
    print(text)
    if args.out:  # real_data.py's --out: here the table alone
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
