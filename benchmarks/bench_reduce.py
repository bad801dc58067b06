"""`astroexplore reduce` on a wide, Zoobot-like catalogue: time, memory, and what 40 components keep.

Writes n x d float32 embeddings (default 500,000 x 1280, as Zoobot's EfficientNet representation)
as prefix-column Parquet (``feat_0 .. feat_1279`` plus id/ra/dec, row groups of 65,536 rows),
with a power-law spectrum (variance of the i-th of 256 directions ~ i^-power, plus isotropic noise;
``--power 1`` spreads the variance, ``--power 2`` concentrates it in the first directions: what 40
components keep depends on it, and no real Zoobot representation is at hand here to copy) and 0.2% outliers of two kinds, each its own
direction: half pushed 6 SD along one of the 10 strongest directions, half pushed as far (6 SD of
the strongest) along one of the 128 weakest, which 40 components do not keep. Then, each step in a fresh process (peak RSS is the
process's high-water mark, VmHWM):

- load the wide catalogue (``load_catalogue``), the baseline the ratios are taken against;
- ``reduce_catalogue`` to 40 components (fit on 100,000 random rows), and with ``--basis`` (no fit);
- load the reduced catalogue;
- isolation-forest anomaly scores (``compute_scores``) of each.

and, in this process, what the reduction keeps: the share of each galaxy's 10 nearest
neighbours (Euclidean, faiss, 2,000 random galaxies) that are still among its 10 nearest in 40
components, and how many of the outliers each isolation forest puts in its top 1%.

With ``--gz1-embeddings NPZ`` (the ``gz1_embeddings.npz`` that ``real_data.py`` leaves in its
work folder: our encoders' 128-d representations of the 6,664 real SDSS galaxies) it measures the
same on real CNN representations instead: the isolation forest's recall of the 115 mergers and kNN
purity on the whole representation (standardised) and on the reduction's plain 40-component PCA.

Usage::

    python benchmarks/bench_reduce.py [--n 500000] [--d 1280] [--power 1] [--components 40] [--dir DIR]
    python benchmarks/bench_reduce.py --gz1-embeddings /tmp/rd/gz1_embeddings.npz
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_load import _peak_rss_mb, _status_mb  # noqa: E402

RANK = 256
OUTLIER_SHARE = 0.002
QUERIES = 2_000


def write_wide(path: Path, n: int, d: int, power: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The wide catalogue, written a row group at a time; returns the outliers' rows and whether
    each was pushed along a weak direction."""
    rng = np.random.default_rng(seed)
    axes = np.linalg.qr(rng.normal(size=(d, RANK)))[0].T.astype(np.float32)  # (RANK, d) orthonormal
    scale = (np.arange(1, RANK + 1) ** (-power / 2)).astype(np.float32)
    outliers = np.sort(rng.choice(n, size=max(1, int(n * OUTLIER_SHARE)), replace=False))
    is_weak = np.arange(len(outliers)) % 2 == 1
    direction = np.where(is_weak, rng.integers(RANK // 2, RANK, size=len(outliers)),
                         rng.integers(0, 10, size=len(outliers)))
    push = np.where(is_weak, 6.0 * scale[0], 6.0 * scale[direction])
    writer, step = None, 1 << 16
    for start in range(0, n, step):
        m = min(step, n - start)
        Z = rng.standard_normal((m, RANK), dtype=np.float32) * scale
        hit = np.flatnonzero((outliers >= start) & (outliers < start + m))
        Z[outliers[hit] - start, direction[hit]] += push[hit]
        X = Z @ axes + 0.01 * rng.standard_normal((m, d), dtype=np.float32)
        cols = {"id": pa.array(np.char.add("J", np.arange(start, start + m).astype(str))),
                "ra": pa.array(rng.uniform(0, 360, m)), "dec": pa.array(rng.uniform(-20, 30, m)),
                **{f"feat_{j}": pa.array(X[:, j]) for j in range(d)}}
        table = pa.table(cols)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return outliers, is_weak


def child(step: str, path: str, out: str, components: int) -> dict:
    """One step in this (fresh) process: seconds and the peak RSS growth (MB)."""
    rss0 = _status_mb("VmRSS")
    t0 = time.perf_counter()
    extra = {}
    if step == "load":
        from astroexplore.catalogue import load_catalogue

        extra["shape"] = list(load_catalogue(path).embeddings.shape)
    elif step in ("reduce", "reduce with basis"):
        from astroexplore.reduce import basis_path_for, reduce_catalogue

        basis = basis_path_for(out) if step == "reduce with basis" else None
        target = out if basis is None else out.replace(".parquet", "_again.parquet")
        done = reduce_catalogue(path, target, components, basis=basis, overwrite=True)
        extra["variance_kept"] = done.variance_kept
    elif step == "scores":
        from astroexplore.catalogue import load_catalogue
        from astroexplore.detectors import compute_scores

        cat = load_catalogue(path)
        t0 = time.perf_counter()  # the scores alone
        np.save(out, compute_scores(cat, "isolation_forest", cache=False).raw)
    return {"seconds": time.perf_counter() - t0, "peak_growth_mb": _peak_rss_mb() - rss0, **extra}


def run_child(step: str, path: Path, out: Path, components: int) -> dict:
    cmd = [sys.executable, __file__, "--child", step, str(path), str(out), "--components", str(components)]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def neighbour_overlap(wide: np.ndarray, narrow: np.ndarray, k: int = 10, seed: int = 0) -> float:
    """Mean share of each query's k nearest (Euclidean) in ``wide`` still among its k nearest in ``narrow``."""
    import faiss

    queries = np.random.default_rng(seed).choice(len(wide), size=min(QUERIES, len(wide)), replace=False)
    found = []
    for X in (wide, narrow):
        index = faiss.IndexFlatL2(X.shape[1])
        index.add(np.ascontiguousarray(X))
        found.append(index.search(np.ascontiguousarray(X[queries]), k + 1)[1][:, 1:])  # not itself
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(*found)]))


def real_representations(npz: str, components: int) -> None:
    """Mergers found by an isolation forest, and kNN purity, before and after the reduction."""
    import pandas as pd

    from astroexplore.reduce import fit_basis
    from benchmarks import real_data as rd

    table = pd.read_csv(ROOT.parent / "shared" / "data" / "gz1_sdss" / "catalog.csv")
    classes = table["gz1_class"].to_numpy()
    is_merger = classes == "merger"
    print(f"gz1_sdss: {len(table):,} galaxies, {int(is_merger.sum())} mergers; isolation forest recall "
          "(mean of 5 forests) and kNN(10) purity\n")
    header = f"{'representation':<46}{'space':<26}{'recall@115':>11}{'recall@500':>11}{'purity':>8}{'merger purity':>15}"
    print(header + "\n" + "-" * len(header))
    with np.load(npz) as f:
        for name in (n for n in f.files if n.startswith("ours")):
            X = f[name]
            for space, Z in ((f"all {X.shape[1]}, standardised", (X - X.mean(0)) / X.std(0)),
                             (f"reduce: PCA {components}",
                              fit_basis(X, components).transform(X))):
                r, p = rd.iforest_recall(Z, is_merger), rd.knn_purity(Z, classes)
                print(f"{name.replace('_', ' '):<46}{space:<26}{r['iforest recall@115'].mean():>11.3f}"
                      f"{r['iforest recall@500'].mean():>11.3f}{np.mean(p['purity']):>8.3f}{np.mean(p['merger']):>15.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--d", type=int, default=1280)
    parser.add_argument("--components", type=int, default=40)
    parser.add_argument("--power", type=float, default=1.0, help="variance of direction i ~ i^-power")
    parser.add_argument("--dir", default=None, help="where to write the files (default: temp)")
    parser.add_argument("--gz1-embeddings", metavar="NPZ", help="real representations to check instead")
    parser.add_argument("--child", nargs=3, metavar=("STEP", "PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.components)))
        return 0
    if args.gz1_embeddings:
        real_representations(args.gz1_embeddings, args.components)
        return 0
    from astroexplore.catalogue import load_catalogue

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        wide, narrow = folder / "wide.parquet", folder / "narrow.parquet"
        t0 = time.perf_counter()
        outliers, is_weak = write_wide(wide, args.n, args.d, args.power)
        print(f"spectrum: variance ~ i^-{args.power:g}; wrote {args.n:,} x {args.d} float32 ({args.n * args.d * 4 / 1e9:.2f} GB as a matrix; "
              f"{wide.stat().st_size / 1e9:.2f} GB of Parquet) with {len(outliers)} outliers in "
              f"{time.perf_counter() - t0:.0f} s\n")
        steps = [("load", wide, "load the wide catalogue (baseline)"),
                 ("reduce", wide, f"reduce to {args.components} components (fit on 100,000 rows)"),
                 ("reduce with basis", wide, "reduce with the basis (no fit)"),
                 ("load", narrow, "load the reduced catalogue"),
                 ("scores", wide, "isolation-forest scores, wide"),
                 ("scores", narrow, "isolation-forest scores, reduced")]
        rows = []
        for step, path, what in steps:
            scores_out = folder / f"scores_{path.stem}.npy"
            r = run_child(step, path, scores_out if step == "scores" else narrow, args.components)
            rows.append((what, r))
        base = rows[0][1]["seconds"]
        header = f"{'step (a fresh process each)':<48}{'seconds':>9}{'x load':>8}{'peak RSS +MB':>14}"
        print(header + "\n" + "-" * len(header))
        for what, r in rows:
            print(f"{what:<48}{r['seconds']:>9.1f}{r['seconds'] / base:>8.2f}{r['peak_growth_mb']:>14.0f}")
        kept = rows[1][1]["variance_kept"]
        X = load_catalogue(wide).embeddings
        Z = load_catalogue(narrow).embeddings
        overlap = neighbour_overlap(X, Z)
        del X
        top = max(1, args.n // 100)
        caught = {s: np.isin(outliers, np.argsort(-np.load(folder / f"scores_{s}.npy"))[:top])
                  for s in ("wide", "narrow")}
        print(f"\nvariance kept by {args.components} components: {kept:.1%}")
        print(f"10 nearest neighbours still among the 10 nearest after the reduction: {overlap:.3f} "
              f"(mean of {QUERIES:,} galaxies)")
        for kind, rows_of in (("strong", ~is_weak), ("weak", is_weak)):
            print(f"outliers along a {kind} direction in the isolation forest's top 1% ({top:,}): wide "
                  f"{int(caught['wide'][rows_of].sum())} of {int(rows_of.sum())}, reduced "
                  f"{int(caught['narrow'][rows_of].sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
