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

Per browser session (``--sessions 1 2 4 8``): memory each additional session of a served
catalogue adds. The catalogue, label store and warm-up are loaded as ``astroexplore serve`` does
(``ui.serve.load_shared``, ``warm_up``, the isolation paths of the background warm-up); then,
session after session, what ``ui.serve.session_app`` builds: a fresh Explorer and the app
(``build_app``, its Bokeh models built into a document as a browser's connection does; ``--no-views``:
an ``AppState`` alone), sorted by "combined", 20 labels by that session's user and one retrain.
After the 1st, 2nd, 4th, 8th ... session it prints RSS and PSS (proportional set size: a file page
mapped twice counts once); "per extra session" is ``(mem(k) - mem(1)) / (k - 1)``. ``--unshared``
gives each Explorer its own copy of the per-catalogue arrays (anomaly scores, prior, random ranking,
side columns, isolation paths), as before they were shared, for a before/after in one process.

Usage::

    .venv/bin/python benchmarks/bench_memory.py [--n 10000000] [--d 40] [--dir DIR] [--fresh]
        [--stages isolation_forest knn lof paths retrain]
    .venv/bin/python benchmarks/bench_memory.py --n 1000000 --sessions 1 2 4 8 [--unshared] [--no-views]
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


def _pss_mb() -> float:
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def run_sessions(npy: Path, folder: Path, counts: list[int], *, unshared: bool, views: bool,
                 n_labels: int = 20) -> list[tuple]:
    """Open sessions one by one as a server does; rows (sessions, RSS MB, PSS MB, seconds)."""
    import gc

    from astroexplore import explorer as explorer_module
    from astroexplore.ui.serve import load_shared, make_explorer, warm_up
    from astroexplore.ui.state import AppState

    if unshared:  # every Explorer its own store of per-catalogue arrays: the behaviour before sharing
        explorer_module.shared_arrays = lambda catalogue: explorer_module.SharedArrays()
    labels = folder / "sessions.labels.sqlite"
    for p in (labels, Path(str(labels) + "-wal"), Path(str(labels) + "-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    cat, store = load_shared(npy, labels)
    warm_up(cat, store, everything=False)  # projection + anomaly scores, as serve() does first
    make_explorer(cat, store).isolation_paths()  # the background warm-up of the first page
    print(f"loaded and warmed up in {time.perf_counter() - t0:.1f} s (caches beside the catalogue)")
    if views:
        from bokeh.document import Document

        from astroexplore.ui.app import build_app
    rng = np.random.default_rng(0)
    top = make_explorer(cat, store).ranking("isolation_forest")[:5_000]
    gc.collect()
    rows = [(0, _status_mb("VmRSS"), _pss_mb(), 0.0)]
    print(f"  0 sessions: RSS {rows[0][1]:.0f} MB, PSS {rows[0][2]:.0f} MB", flush=True)
    held = []
    for k in range(1, max(counts) + 1):
        t0 = time.perf_counter()
        ex = make_explorer(cat, store, user=f"astronomer{k}")
        if views:
            page = build_app(ex, template=True, user=f"astronomer{k}")
            page.server_doc(Document())  # the Bokeh models a browser connection gets
            state = page.state
        else:
            page, state = None, AppState(ex)
        if state.retraining:  # learn_on_open: the labels already stored (or another's retrain)
            state.wait_retrain(600)
        state.method = "combined"
        picks = np.r_[rng.choice(top, n_labels // 2, replace=False),
                      rng.choice(cat.n_galaxies, n_labels - n_labels // 2, replace=False)]
        for i, row in enumerate(picks):
            state.label(5 if i < n_labels // 4 else int(rng.integers(0, 2)), galaxy=int(row))
        state.start_retrain(poll=False)
        state.wait_retrain(600)
        held.append((ex, state, page))
        gc.collect()
        if k in counts:
            rows.append((k, _status_mb("VmRSS"), _pss_mb(), time.perf_counter() - t0))
            print(f"  {k} sessions: RSS {rows[-1][1]:.0f} MB, PSS {rows[-1][2]:.0f} MB", flush=True)
    store.close()
    return rows


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
    p.add_argument("--sessions", nargs="+", type=int, default=None,
                   help="measure memory per browser session instead, after this many sessions")
    p.add_argument("--unshared", action="store_true",
                   help="with --sessions: per-Explorer copies of the catalogue's arrays (before)")
    p.add_argument("--no-views", action="store_true",
                   help="with --sessions: an AppState per session, without the app's views")
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
    if args.sessions:
        counts = sorted(set(args.sessions))
        print(f"Sessions of {args.n:,} x {args.d}: {'unshared (before)' if args.unshared else 'shared'}"
              f" per-catalogue arrays, {'AppState only' if args.no_views else 'app with its Bokeh models'};"
              f" each session ranks, stores 20 labels and retrains once.\n")
        rows = run_sessions(npy, folder, counts, unshared=args.unshared, views=not args.no_views)
        base = rows[1]
        print("\n| sessions | RSS (MB) | PSS (MB) | RSS per extra session (MB) | PSS per extra session (MB) |")
        print("|---:|---:|---:|---:|---:|")
        for k, rss, pss, _ in rows:
            extra = (f"{(rss - base[1]) / (k - 1):.0f} | {(pss - base[2]) / (k - 1):.0f}" if k > 1
                     else ("(first session: +%.0f | +%.0f)" % (rss - rows[0][1], pss - rows[0][2])
                           if k == 1 else " | "))
            print(f"| {k} | {rss:.0f} | {pss:.0f} | {extra} |")
        print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.")
        return 0

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
