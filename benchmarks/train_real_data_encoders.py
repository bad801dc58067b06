"""Train every encoder of benchmarks/real_data.py side by side, on the GPU where there is one.

real_data.py trains its encoders itself, one after the other (on 2 CPU cores a 40-epoch gz1
encoder takes ~15 min). This script trains the same checkpoints (same names, settings and
training data: real_data.py's ``training_jobs``) in parallel processes, so that longer training
fits into a lent GPU's minutes. Afterwards real_data.py, run with the same ``--epochs``,
``--small-epochs``, ``--width``, ``--seeds`` and ``--work-dir``, finds them finished and only
embeds and evaluates (on any device). ``--export DIR`` also writes each finished checkpoint there
without its optimiser state (``astroexplore.encoder.export_checkpoint``: a third of the size).

Usage (repository root, ``../shared/data`` beside it)::

    python3 benchmarks/train_real_data_encoders.py --epochs 200 --small-epochs 500 --processes 9 \\
        --work-dir /tmp/rd --export /tmp/rd_export
    .venv/bin/python benchmarks/real_data.py --epochs 200 --small-epochs 500 --work-dir /tmp/rd
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import real_data  # noqa: E402  (benchmarks/real_data.py: the jobs and their worker)


def export_finished(jobs: list[dict], work: Path, export: Path | None) -> dict:
    """Summary of each job's checkpoint in ``work`` (epochs done, training seconds, final loss,
    training-image fingerprint); the finished ones are also exported to ``export`` without
    optimiser state (an interrupted one stays in ``work`` only)."""
    from astroexplore.encoder import export_checkpoint
    from astroexplore.encoder.embed import read_checkpoint

    summary = {}
    for job in jobs:
        path = work / f"{job['tag']}.pt"
        if not path.exists():
            summary[job["tag"]] = {"epochs": 0, "of": job["settings"]["epochs"]}
            continue
        state = read_checkpoint(path)
        hist = state["history"]
        summary[job["tag"]] = {"epochs": state["epoch"], "of": job["settings"]["epochs"],
                               "train_seconds": round(sum(h["seconds"] for h in hist), 1),
                               "final_loss": hist[-1]["loss"] if hist else None,
                               "images_sha": state["config"]["images_sha"]}
        if export is not None and state["epoch"] >= job["settings"]["epochs"]:
            export_checkpoint(path, export / path.name)
    return summary


def main(argv=None) -> int:
    p = real_data.build_parser()
    p.description = __doc__.splitlines()[0]
    p.add_argument("--processes", type=int, default=4, help="encoders trained at once (default 4)")
    p.add_argument("--export", default=None, help="also write finished checkpoints here, without optimiser state")
    p.add_argument("--export-only", action="store_true",
                   help="train nothing: summarise --work-dir and export its finished checkpoints (after a run was cut short)")
    args = real_data.quick_settings(p.parse_args(argv))
    import torch

    from astroexplore.torch_utils import default_device

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    export = Path(args.export) if args.export else None
    if export is not None:
        export.mkdir(parents=True, exist_ok=True)
    jobs = real_data.training_jobs(args)
    device = default_device()
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    t0 = time.perf_counter()
    if not args.export_only:
        real_data.log(f"{len(jobs)} encoders, {args.processes} at a time, on {device} ({name})")
        real_data.train_parallel(jobs, args.processes, work)
    wall = time.perf_counter() - t0
    summary = {"device": name, "processes": args.processes, "wall_seconds": round(wall, 1),
               "encoders": export_finished(jobs, work, export)}
    text = json.dumps(summary, indent=1)
    print(text)
    if export is not None:
        (export / "summary.json").write_text(text)
    real_data.log(f"{sum(e['epochs'] >= e['of'] for e in summary['encoders'].values())} of {len(jobs)} "
                  f"encoders finished ({wall:.0f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
