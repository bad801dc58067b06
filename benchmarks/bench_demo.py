"""Time the demo survey's generation and check its embeddings are useful.

Usage: python benchmarks/bench_demo.py [--n 20000] [--seed 0] [--out /tmp/astroexplore-bench-demo]
                                      [--encoder-epochs 20]

Prints the wall time of ``make_demo_catalogue`` (target: under 2 minutes for 20,000 galaxies on
2 cores) and the CPU time it used (this process and its workers; on a busy machine CPU time / cores
estimates the wall time on an idle one), then embedding-quality figures against the truth columns:

* kNN purity: the share of each galaxy's 10 nearest neighbours (Euclidean, in the embedding) with
  the same ``truth_morphology``, against the share expected at random (sum of squared class shares);
* anomaly recall: the share of ``truth_anomaly != "none"`` galaxies an IsolationForest on the
  embeddings puts in its top 1 % and top 5 % (random: 1 % and 5 %), overall and per kind.

With ``--encoder-epochs E`` it also trains our CNN encoder (``astroexplore.encoder``, contrastive
+ distilled features, as ``astroexplore embed`` does) for E epochs on the survey's rendered images,
reduces it to the same number of dimensions by PCA, and prints the same figures for it beside
the demo's own embedding (pixel PCA + morphology features), with the training time: whether the
demo should switch encoders.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


def embedding_quality(embeddings: np.ndarray, table: pd.DataFrame, seed: int = 0) -> dict:
    """kNN purity and IsolationForest anomaly recall of ``embeddings`` against the truth columns."""
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import NearestNeighbors

    y = table["truth_morphology"].to_numpy()
    _, idx = NearestNeighbors(n_neighbors=11).fit(embeddings).kneighbors(embeddings)
    purity = float((y[idx[:, 1:]] == y[:, None]).mean())
    random_purity = float((pd.Series(y).value_counts(normalize=True) ** 2).sum())
    score = -IsolationForest(random_state=seed).fit(embeddings).score_samples(embeddings)
    rank = np.empty(len(score), int)
    rank[np.argsort(-score, kind="stable")] = np.arange(len(score))
    kind = table["truth_anomaly"].to_numpy()
    anom = kind != "none"
    out = {"knn10_purity": purity, "knn10_purity_random": random_purity, "n_anomalies": int(anom.sum())}
    for top in (0.01, 0.05):
        cut = rank < int(top * len(score))
        out[f"iforest_recall_top{int(top * 100)}pct"] = float(cut[anom].mean()) if anom.any() else float("nan")
    out["iforest_recall_top5pct_by_kind"] = {
        k: float((rank[kind == k] < int(0.05 * len(score))).mean()) for k in sorted(set(kind[anom]))
    }
    return out


def cnn_encoder_quality(path: Path, table: pd.DataFrame, n_components: int, epochs: int, seed: int) -> dict:
    """Train our distilled CNN encoder on the demo's images; the same figures for its PCA embedding."""
    from sklearn.decomposition import PCA

    from astroexplore.encoder import train_encoder

    images = np.load(Path(path).with_name(Path(path).stem + ".images.npy"), mmap_mode="r")
    t, c = time.perf_counter(), time.process_time()
    enc = train_encoder(np.asarray(images), targets="features", epochs=epochs, image_size=images.shape[1],
                        progress=False, seed=seed)
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    full = enc.embed(np.asarray(images), batch_size=512)
    embed_s = time.perf_counter() - t
    emb = PCA(n_components, random_state=seed).fit_transform(full).astype(np.float32)
    out = {"epochs": epochs, "train_seconds": round(train_s, 1), "train_cpu_seconds": round(train_cpu, 1),
           "embed_seconds": round(embed_s, 1)}
    out.update(embedding_quality(emb, table, seed))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/astroexplore-bench-demo")
    ap.add_argument("--encoder-epochs", type=int, default=0,
                    help="also train our CNN encoder this many epochs and compare (default 0: no)")
    args = ap.parse_args()

    from astroexplore.demo import make_demo_catalogue

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    path = make_demo_catalogue(args.out, n=args.n, seed=args.seed, progress=True)
    seconds, cpu_seconds = time.perf_counter() - t0, cpu() - c0
    table = pq.read_table(path).to_pandas()
    emb = np.stack(table.pop("embedding").to_numpy()).astype(np.float32)
    report = {"n": args.n, "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
              "load_average_1min": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(), "path": str(path),
              "catalogue_mb": round(Path(path).stat().st_size / 1e6, 1),
              "image_store_mb": round(Path(path).with_name(Path(path).stem + ".images.npy").stat().st_size / 1e6, 1)}
    report.update(embedding_quality(emb, table, args.seed))
    if args.encoder_epochs > 0:
        report["cnn_encoder"] = cnn_encoder_quality(path, table, emb.shape[1], args.encoder_epochs, args.seed)
    print(json.dumps(report, indent=2))
    print(f"generation of {args.n} galaxies: {seconds:.1f} s ({'OK' if seconds < 120 else 'OVER'} the 120 s target)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
