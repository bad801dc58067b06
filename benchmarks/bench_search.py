"""Similarity-search benchmark: faiss exact vs HNSW (through SimilarityIndex) vs sklearn.

Prints a table of build time, single-query latency (median and 95th percentile, one query at a
time as the app issues them), batch throughput and recall@k against exact search, on
``--n`` x ``--d`` synthetic embeddings (default 1,000,000 x 40, like Zoobot's 40 PCA features),
plus sklearn ``NearestNeighbors`` on a ``--sklearn-n`` subset (its single-query latency is what a
pure-sklearn app would see).

The synthetic embeddings are clustered and low-rank (a mixture of Gaussians in a 12-dimensional
latent space mapped linearly to ``d`` dimensions, plus noise), which is closer to real embeddings
than isotropic noise; ``--isotropic`` gives the hard isotropic case.

Usage::

    .venv/bin/python benchmarks/bench_search.py                 # 1M x 40 (HNSW build ~2-4 min)
    .venv/bin/python benchmarks/bench_search.py --n 200000      # quicker
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def make_embeddings(n: int, d: int, seed: int, isotropic: bool = False) -> np.ndarray:
    """(n, d) float32 synthetic embeddings: clustered low-rank, or isotropic Gaussian."""
    rng = np.random.default_rng(seed)
    if isotropic:
        return rng.standard_normal((n, d), dtype=np.float32)
    latent, n_clusters = 12, 50
    centres = rng.normal(scale=3.0, size=(n_clusters, latent))
    widths = rng.uniform(0.5, 1.5, size=n_clusters)
    which = rng.integers(0, n_clusters, n)
    z = centres[which] + rng.standard_normal((n, latent)) * widths[which, None]
    mixing = rng.normal(size=(latent, d)) / np.sqrt(latent)
    x = z @ mixing + 0.1 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a[a >= 0]) & set(b)) / k for a, b in zip(found, truth)]))


def time_single(fn, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Run fn(q) one query at a time; return stacked indices, median and p95 latency (ms)."""
    fn(queries[0])  # warm-up
    times, rows = [], []
    for q in queries:
        t0 = time.perf_counter()
        idx = fn(q)
        times.append((time.perf_counter() - t0) * 1e3)
        rows.append(np.asarray(idx).reshape(-1))
    return np.stack(rows), float(np.median(times)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--d", type=int, default=40, help="features (default 40)")
    parser.add_argument("--k", type=int, default=10, help="neighbours (default 10)")
    parser.add_argument("--queries", type=int, default=200, help="single queries timed")
    parser.add_argument("--batch", type=int, default=1000, help="queries in the batch test")
    parser.add_argument("--sklearn-n", type=int, default=100_000, help="sklearn subset rows")
    parser.add_argument("--mask-frac", type=float, default=0.1, help="share allowed by the mask")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--isotropic", action="store_true", help="isotropic Gaussian data")
    args = parser.parse_args(argv)

    import faiss
    from sklearn.neighbors import NearestNeighbors

    from astroexplore.search import SimilarityIndex

    k = args.k
    rng = np.random.default_rng(args.seed + 1)
    t0 = time.perf_counter()
    x = make_embeddings(args.n, args.d, args.seed, args.isotropic)
    print(f"data: {args.n:,} x {args.d} float32 ({'isotropic' if args.isotropic else 'clustered'})"
          f", made in {time.perf_counter() - t0:.1f} s; faiss {faiss.__version__}, "
          f"{faiss.omp_get_max_threads()} OpenMP threads", flush=True)
    qi = rng.integers(0, args.n, args.queries)
    queries = x[qi] + 0.05 * rng.standard_normal((args.queries, args.d)).astype(np.float32)
    batch = x[rng.integers(0, args.n, args.batch)]
    mask = rng.random(args.n) < args.mask_frac

    rows = []

    def bench(name, index, sub_n):
        _, med, p95 = time_single(lambda q: index.query(q, k)[0], queries)
        t0 = time.perf_counter()
        index.query(batch, k)
        qps = len(batch) / (time.perf_counter() - t0)
        found = index.query(queries, k)[0]
        _, mmed, _ = time_single(lambda q: index.query(q, k, mask=mask)[0], queries[:50])
        mfound = index.query(queries[:50], k, mask=mask)[0]
        return found, med, p95, qps, mfound, mmed

    # exact
    t0 = time.perf_counter()
    exact = SimilarityIndex(x, exact_below=args.n + 1)
    build = time.perf_counter() - t0
    truth, med, p95, qps, mtruth, mmed = bench("exact", exact, args.n)
    rows.append(("faiss IndexFlatL2 (exact)", args.n, build, med, p95, qps, 1.0, mmed, 1.0))

    # HNSW
    print(f"exact done; building HNSW over {args.n:,} rows ...", flush=True)
    t0 = time.perf_counter()
    hnsw = SimilarityIndex(x, exact_below=0)
    build = time.perf_counter() - t0
    found, med, p95, qps, mfound, mmed = bench("hnsw", hnsw, args.n)
    rows.append(("faiss IndexHNSWFlat (M=32)", args.n, build, med, p95, qps,
                 recall_at_k(found, truth), mmed, recall_at_k(mfound, mtruth)))
    del hnsw

    # sklearn on a subset; recall measured against faiss exact on the same subset
    print("HNSW done; sklearn on the subset ...", flush=True)
    sub = x[: args.sklearn_n]
    sub_exact = SimilarityIndex(sub)
    sub_truth = sub_exact.query(queries, k)[0]
    for algorithm in ("brute", "ball_tree"):
        t0 = time.perf_counter()
        nn = NearestNeighbors(n_neighbors=k, algorithm=algorithm).fit(sub)
        build = time.perf_counter() - t0
        q_few = queries[:50]
        found, med, p95 = time_single(lambda q: nn.kneighbors(q[None], return_distance=False),
                                      q_few)
        t0 = time.perf_counter()
        nn.kneighbors(batch, return_distance=False)
        qps = len(batch) / (time.perf_counter() - t0)
        rows.append((f"sklearn NearestNeighbors ({algorithm})", len(sub),
                     build, med, p95, qps, recall_at_k(found, sub_truth[:50]), float("nan"),
                     float("nan")))
    _, med, p95 = time_single(lambda q: sub_exact.query(q, k)[0], queries)
    rows.append(("faiss IndexFlatL2 (same subset)", len(sub), 0.0, med, p95, float("nan"), 1.0,
                 float("nan"), float("nan")))

    header = (f"{'method':<44} {'rows':>9} {'build s':>8} {'1-query ms':>10} {'p95 ms':>7} "
              f"{'batch q/s':>10} {'recall@' + str(k):>9} {'masked ms':>9} {'m.recall':>8}")
    print()
    print(header)
    print("-" * len(header))
    for name, n, build, med, p95, qps, rec, mmed, mrec in rows:
        def fmt(v, spec):  # NaN -> "-", right-aligned to the spec's width
            width = int("".join(ch for ch in spec.split(",")[0].split(".")[0] if ch.isdigit()))
            return f"{'-':>{width}}" if v != v else format(v, spec)

        print(f"{name:<44} {n:>9,} {build:>8.1f} {med:>10.2f} {p95:>7.2f} {fmt(qps, '>10,.0f')} "
              f"{rec:>9.3f} {fmt(mmed, '>9.2f')} {fmt(mrec, '>8.3f')}")
    print(f"\nsingle queries use 1 OpenMP thread (SimilarityIndex sets it); batch uses all. "
          f"Masked: {args.mask_frac:.0%} of rows allowed, 50 queries; recall vs exact masked search.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
