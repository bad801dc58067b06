"""Time our encoder on whatever device is present: one training epoch and embedding throughput.

Prints a table (device, threads, image size, batch, images/s for contrastive training, images/s
for embedding with and without 8-fold TTA). On CPU it measures each thread count in
``--threads`` (default 1 and 2; ``ASTROEXPLORE_TORCH_THREADS`` picks the library default); on a
GPU it uses CUDA and ignores thread counts. Uses random images, so it needs no data.

Usage::

    .venv/bin/python benchmarks/bench_encoder.py                 # 2,048 images, 64 px
    .venv/bin/python benchmarks/bench_encoder.py --n 20000 --batch-size 512   # on a GPU
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(n: int, image_size: int, batch_size: int, device: str, width: int) -> dict:
    import torch

    from astroexplore.encoder import train_encoder

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, image_size, image_size, generator=g) * 255).to(torch.uint8)
    if device.startswith("cuda"):  # CUDA context, lazily loaded kernels, cuDNN choices: ~8 s on an H200
        train_encoder(x[:2 * batch_size], epochs=1, batch_size=batch_size, image_size=image_size, device=device,
                      progress=False, width=width)
        _sync(device)
    cpu0, t0 = time.process_time(), time.perf_counter()
    enc = train_encoder(x, epochs=1, batch_size=batch_size, image_size=image_size, device=device,
                        progress=False, width=width)
    _sync(device)
    t_train, cpu_train = time.perf_counter() - t0, time.process_time() - cpu0
    enc.embed(x[:batch_size])  # warm-up
    res = {"train img/s": n / t_train, "train s/epoch": t_train, "train CPU s": cpu_train}
    for tta in (False, True):
        _sync(device)
        t0 = time.perf_counter()
        enc.embed(x, batch_size=max(batch_size, 512), tta=tta)
        _sync(device)
        res["embed img/s" + (" (TTA x8)" if tta else "")] = n / (time.perf_counter() - t0)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2048, help="random images per measurement")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=256)
    from astroexplore.encoder import DEFAULT_WIDTH

    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, help=f"encoder width (default {DEFAULT_WIDTH})")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts to try")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)

    import torch

    from astroexplore.torch_utils import default_device

    device = default_device(args.device)
    rows = []
    settings = args.threads if device == "cpu" else [None]
    for th in settings:
        if th is not None:
            torch.set_num_threads(th)
            os.environ["ASTROEXPLORE_TORCH_THREADS"] = str(th)
        r = measure(args.n, args.image_size, args.batch_size, device, args.width)
        name = torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu ({os.cpu_count()} cores)"
        rows.append({"device": name, "threads": th if th is not None else "-", **r})
        print(rows[-1], flush=True)
    cols = list(rows[0])
    print(f"\nn={args.n}, {args.image_size}x{args.image_size}, batch {args.batch_size}, width {args.width}, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for r in rows:
        print("| " + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
