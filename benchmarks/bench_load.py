"""Time and memory of ``load_catalogue`` on a large catalogue in three layouts.

Writes n x d float32 embeddings (default 1,000,000 x 40) with id/ra/dec as

- prefix-column Parquet (``feat_pca_0 .. feat_pca_{d-1}``, as Zoobot writes),
- fixed-size-list Parquet (one ``embedding`` column, written by ``save_catalogue``),
- ``.npy`` + an ids Parquet (id/ra/dec),

then loads each in fresh processes and prints a table: wall and CPU time (all threads; on a
busy machine wall time overstates the cost), peak RSS growth during the
load (high-water mark VmHWM minus the RSS before it), and, in a second process
(tracemalloc slows Python allocations down, so it is not timed), the tracemalloc peak
(NumPy/Python allocations; Arrow's own buffers are not traced, RSS covers them).

Usage::

    python benchmarks/bench_load.py [--n 1000000] [--d 40] [--dir DIR]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

LAYOUTS = ("prefix columns (parquet)", "fixed-size list (parquet)", "npy + ids (parquet)")


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _peak_rss_mb() -> float:
    """High-water RSS of this process. VmHWM rather than getrusage's ru_maxrss, which Linux
    carries over from the parent across fork+exec (it would report the writer's peak)."""
    try:
        return _status_mb("VmHWM")
    except (OSError, KeyError):  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_files(out: Path, n: int, d: int, seed: int = 0) -> dict[str, tuple[Path, Path | None]]:
    """Write the three layouts into ``out``; return layout -> (path, ids path or None)."""
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((n, d), dtype=np.float32)
    base = {"id": pa.array(np.char.add("gal_", np.arange(n).astype(str))),
            "ra": pa.array(rng.uniform(0, 360, n)), "dec": pa.array(rng.uniform(-90, 90, n))}
    prefix = pa.table({**base, **{f"feat_pca_{j}": pa.array(emb[:, j]) for j in range(d)}})
    pq.write_table(prefix, out / "prefix.parquet")
    from astroexplore.catalogue import Catalogue, save_catalogue

    save_catalogue(Catalogue(pa.table(base).to_pandas(), emb), out / "fsl.parquet", overwrite=True)
    np.save(out / "emb.npy", emb)
    pq.write_table(pa.table(base), out / "ids.parquet")
    return {LAYOUTS[0]: (out / "prefix.parquet", None), LAYOUTS[1]: (out / "fsl.parquet", None),
            LAYOUTS[2]: (out / "emb.npy", out / "ids.parquet")}


def measure(path: str, ids: str | None, trace: bool) -> dict:
    """Load once in this process; return seconds and RSS growth, or the tracemalloc peak (MB)."""
    from astroexplore.catalogue import load_catalogue

    if trace:
        tracemalloc.start()
        load_catalogue(path, ids=ids)
        return {"tracemalloc_peak_mb": tracemalloc.get_traced_memory()[1] / 2**20}
    rss_before = _status_mb("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    cat = load_catalogue(path, ids=ids)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak_rss_mb()
    return {"seconds": seconds, "cpu_seconds": cpu, "rss_peak_growth_mb": peak - rss_before,
            "rss_after_mb": _status_mb("VmRSS"), "shape": list(cat.embeddings.shape)}


def run_child(path: Path, ids: Path | None, trace: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), str(ids) if ids else "-"]
    run = subprocess.run(cmd + (["--trace"] if trace else []), capture_output=True, text=True,
                         check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=40)
    parser.add_argument("--dir", default=None, help="where to write the files (default: temp)")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "IDS"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        path, ids = args.child
        print(json.dumps(measure(path, None if ids == "-" else ids, args.trace)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.dir or tmp)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        files = write_files(out, args.n, args.d)
        print(f"wrote {args.n:,} x {args.d} in 3 layouts to {out} "
              f"({time.perf_counter() - t0:.1f} s); embedding matrix = "
              f"{args.n * args.d * 4 / 2**20:.0f} MB float32\n")
        header = (f"{'layout':<28}{'file MB':>9}{'load s':>9}{'CPU s':>8}{'peak RSS +MB':>14}"
                  f"{'tracemalloc MB':>16}")
        print(header)
        print("-" * len(header))
        for layout, (path, ids) in files.items():
            size = (path.stat().st_size + (ids.stat().st_size if ids else 0)) / 2**20
            r = {**run_child(path, ids, False), **run_child(path, ids, True)}
            print(f"{layout:<28}{size:>9.0f}{r['seconds']:>9.2f}{r['cpu_seconds']:>8.2f}"
                  f"{r['rss_peak_growth_mb']:>14.0f}"
                  f"{r['tracemalloc_peak_mb']:>16.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
