"""Real-data benchmark of our own encoder against pixel baselines (issue: make embeddings here).

Datasets (``../shared/data``, see its README):

* ``gz1_sdss`` -- 6,664 SDSS galaxies with a GZ1 majority class. Our encoder is trained on them
  without labels, contrastively (SimCLR) and contrastively with distilled features (a linear
  read-out of the representation also predicts the pixel-computed morphology and pixel-PCA
  features of each augmented view; ``astroexplore embed``'s default), then: kNN purity (share of the 10 nearest with the same
  ``gz1_class``; overall, macro over the 5 real classes, mergers only) and anomaly discovery of the
  115 mergers (isolation forest top-N recall on the embeddings; plus the batch protocol of
  ``benchmarks/discovery.py`` with its ``iforest`` and ``ours:combined`` strategies).
* ``decals_rings`` -- 470 DECaLS galaxies, 235 rings: ring precision@10 of similarity search from
  each ring, and a head trained on 10 or 20 rings + as many non-rings (100 random draws) ranking
  the rest (ROC AUC, precision@50). Encoders: the gz1-trained ones (transfer, SDSS -> DECaLS),
  ones trained on these 470 images (contrastive, distilled), and a "hybrid" (distilled +
  Dirichlet-multinomial loss on the 3 GZ DECaLS predicted-fraction columns; the ring label is
  never used).
* ``gz_answer_examples`` -- 739 Galaxy Zoo example images: tag queries (mean embedding of 3
  random examples of Ring / Merger / Lens, cosine nearest 10 among the rest; 200 draws, or all
  20 sets of 3 of the 6 lenses), on one
  copy of each image: 113 are near-duplicates of another (the same cutout filed under several
  surveys), which a query would otherwise "find" (before this, pixel PCA's Lens precision of 0.21
  came entirely from the copies of the query images).

Every representation goes through the same pipeline a catalogue does: standardise the columns,
PCA to at most 40 dimensions (what ``astroexplore embed --pca 40`` stores as "embedding"); nearest
neighbours by cosine similarity (as ``SimilarityIndex(normalise=True)``); isolation forest on the
standardised PCA space. Baselines: ``astroexplore.features.pixel_pca_features`` (orientation-
normalised 32x32 pixels, PCA 40) and ``morphology_features`` (Astronomaly-style), both computed on
the original 128x128 images.

The distilled gz1 encoder is trained with 3 seeds (``--seeds``) and reported as their mean, with
each seed's figures beside it. The scoreboard compares the best of ours with the best baseline on
every figure, with the standard error of the paired difference (same galaxies, draws or seeds),
and calls the two level when they differ by less than 2 standard errors.

Usage (repository root). From scratch on an idle 2-core machine: each gz1 encoder ~14 s an
epoch with two trained side by side (40 epochs ~10 min; four encoders: plain + 3 distilled
seeds), the small-set encoders ~1-2 min each, baselines and metrics ~8 min. ``--jobs 2`` trains
the gz1 encoders two at a time (one torch thread each)::

    .venv/bin/python benchmarks/real_data.py --out benchmarks/results/real_data.md
    .venv/bin/python benchmarks/real_data.py --quick          # 2 / 5 epochs, smoke test
    .venv/bin/python benchmarks/real_data.py --jobs 2 --out benchmarks/results/real_data.md

Checkpoints and embeddings are cached in ``--work-dir`` (default ``/tmp/astroexplore_real_data``):
a rerun resumes training where it stopped and reuses finished encoders.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from astroexplore.encoder import DEFAULT_WIDTH  # noqa: E402  (torch-free; after the path set-up)

DATA = ROOT.parent / "shared" / "data"
DUPLICATE_CORRELATION = 0.98  # gz_answer_examples holds the same cutouts under several surveys' names
TAG_QUERY_SIZE = 3  # tagged examples per query (Lens has 6 distinct images)
TARGET_WEIGHT = 20.0  # distillation loss weight of the distilled encoders (see --target-weight)
GZ1_CROP = 0.5     # SDSS GZ1 galaxies are small in their 128 px cutouts: central 64 px at full resolution
SMALL_CROP = 0.75  # DECaLS rings / GZ examples fill more of the frame
SMALL_BATCH = 128  # training batch on the 470 / 739-image sets


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- representations
def catalogue_space(X: np.ndarray, n_components: int = 40, seed: int = 0) -> np.ndarray:
    """Standardise -> PCA(<= n_components): the 'embedding' column a catalogue would hold."""
    from sklearn.decomposition import PCA

    X = np.asarray(X, np.float64)
    sd = X.std(0)
    sd[sd == 0] = 1
    Z = (X - X.mean(0)) / sd
    k = min(n_components, Z.shape[1], Z.shape[0] - 1)
    return PCA(k, random_state=seed).fit_transform(Z)


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def knn_indices(X: np.ndarray, k: int = 10) -> np.ndarray:
    """Indices of the k nearest (cosine) neighbours of each row, itself excluded."""
    U = _unit(X)
    out = np.empty((len(U), k), np.int64)
    for s in range(0, len(U), 1024):
        S = U[s:s + 1024] @ U.T
        S[np.arange(len(S)), np.arange(s, s + len(S))] = -np.inf
        part = np.argpartition(-S, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(S, part, 1), axis=1)
        out[s:s + len(S)] = np.take_along_axis(part, order, 1)
    return out


# --------------------------------------------------------------------------- metrics
# Every metric returns *samples*: a 1-D array per figure whose mean is the figure, paired across
# representations (the same galaxies, draws or seeds in the same order), so that the scoreboard
# can put a standard error on the difference between two representations.
def figures(samples: dict) -> dict:
    """The figures (sample means) of a dict of samples."""
    return {k: float(np.mean(v)) for k, v in samples.items()}


def mean_samples(runs: list[dict]) -> dict:
    """Element-wise mean of the samples of several runs (e.g. encoder seeds) of one representation."""
    return {k: np.mean([r[k] for r in runs], axis=0) for k in runs[0]}


def knn_purity(X, labels, k=10) -> dict:
    """Per-galaxy samples of kNN purity figures (share of the k nearest with the same class).

    ``purity``: every galaxy. ``macro``: weighted so the mean is the mean over the 5 classes of
    their purity; ``macro4``: the same with the two spiral classes merged. ``merger``: mergers
    only. ``spiral_any``: spirals, counting spirals of either handedness (a mirror flip, to which
    every representation here is nearly invariant).
    """
    nn = knn_indices(X, k)
    labels = np.asarray(labels).astype(str)
    per = (labels[nn] == labels[:, None]).mean(1)
    merged = np.where(np.char.startswith(labels, "spiral"), "spiral", labels)
    per_m = (merged[nn] == merged[:, None]).mean(1)

    def macro(values, lab, classes):
        w = np.zeros(len(lab))
        for c in classes:
            w[lab == c] = len(lab) / (len(classes) * max((lab == c).sum(), 1))
        return values * w

    spirals = np.isin(labels, ["spiral_anticlockwise", "spiral_clockwise"])
    return {"purity": per,
            "macro4 (spirals merged)": macro(per_m, merged, ("elliptical", "edge_on", "spiral", "merger")),
            "macro": macro(per, labels, ("elliptical", "edge_on", "spiral_anticlockwise",
                                         "spiral_clockwise", "merger")),
            "merger": per[labels == "merger"],
            "spiral_any": spirals[nn][spirals].mean(1)}


def iforest_recall(X, is_anom, ns=(115, 500), seed=0, repeats=5) -> dict:
    """Per-anomaly samples: the share of ``repeats`` forests that rank it in their top N."""
    from sklearn.ensemble import IsolationForest

    hits = {n: np.zeros(int(is_anom.sum())) for n in ns}
    for r in range(repeats):
        s = -IsolationForest(n_estimators=200, random_state=seed + r).fit(X).score_samples(X)
        rank = np.empty(len(s), np.int64)
        rank[np.argsort(-s)] = np.arange(len(s))
        for n in ns:
            hits[n] += (rank[is_anom] < n) / repeats
    return {f"iforest recall@{n}": v for n, v in hits.items()}


def discovery_protocol(X, is_anom, budget=200, seeds=(0,), methods=("iforest", "ours:combined")) -> dict:
    """Per-seed samples: true anomalies found within ``budget`` labels (benchmarks/discovery.py's
    batch protocol), as ``found@<budget> <method>``."""
    try:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import discovery
    except ImportError as err:  # pragma: no cover
        raise RuntimeError(f"benchmarks/discovery.py unavailable ({err})") from err
    data = discovery.binary_dataset("gz1_mergers", X, is_anom, budget)
    out = {}
    for m in methods:
        found = []
        for s in seeds:
            res = discovery.simulate(discovery.make_strategy(m), data, seed=s, budget=budget,
                                     protocol="batch", method=m)
            if res.error:
                raise RuntimeError(f"discovery {m}, seed {s}: {res.error}")
            found.append(sum(res.hits))
        out[f"found@{budget} {m}"] = np.asarray(found, float)
    return out


def scoreboard(tables: dict[str, pd.DataFrame], samples: dict | None = None, z: float = 2.0) -> pd.DataFrame:
    """For every figure of every table: the best baseline, the best of ours, and who leads.

    Baselines are the rows not starting with "ours"; higher is better for every figure here.
    ``samples[set][representation][figure]`` (paired samples whose means are the table's figures)
    give the standard error of the difference; the verdict is "ahead" / "behind" when the
    difference exceeds ``z`` standard errors, "level" otherwise. Without samples, the sign decides.
    """
    rows = []
    for set_name, df in tables.items():
        is_ours = df["representation"].str.startswith("ours")
        for col in df.columns:
            if col in ("representation", "dims", "head") or not np.issubdtype(df[col].dtype, np.number):
                continue
            b, o = df.loc[~is_ours, col], df.loc[is_ours, col]
            if b.isna().all() or o.isna().all():
                continue
            bi, oi = b.idxmax(), o.idxmax()
            rb, ro = df.at[bi, "representation"], df.at[oi, "representation"]
            diff = float(o[oi] - b[bi])
            se = _paired_se(samples, set_name, ro, rb, col)
            if se is None:
                verdict = "ahead" if diff > 0 else ("behind" if diff < 0 else "level")
            else:
                verdict = "ahead" if diff > z * se else ("behind" if diff < -z * se else "level")
            rows.append({"set": set_name, "figure": col, "best baseline": rb, "baseline": float(b[bi]),
                         "best of ours": ro, "ours": float(o[oi]), "difference": diff,
                         "SE": np.nan if se is None else se, "ours is": verdict})
    return pd.DataFrame(rows)


def tally(board: pd.DataFrame) -> str:
    """The scoreboard's verdicts counted, as a sentence: "Ours is ahead on 7 of the 17 figures,
    level (within 2 SE) on 9, behind on 1." (counted here, so the text cannot drift from the table)."""
    n = board["ours is"].value_counts()
    return (f"Ours is ahead on {n.get('ahead', 0)} of the {len(board)} figures, level (within 2 SE) "
            f"on {n.get('level', 0)}, behind on {n.get('behind', 0)}.")


def _paired_se(samples, set_name, rep_a, rep_b, col) -> float | None:
    """Standard error of the mean of paired differences, or None where there are no samples."""
    try:
        a, b = samples[set_name][rep_a][col], samples[set_name][rep_b][col]
    except (KeyError, TypeError):
        return None
    if len(a) != len(b) or len(a) < 2:
        return None
    d = np.asarray(a, float) - np.asarray(b, float)
    return float(d.std(ddof=1) / np.sqrt(len(d)))


def ring_precision(X, is_ring, k=10) -> dict:
    """Per-ring samples: the share of rings among each ring's k nearest."""
    nn = knn_indices(X, k)
    return {"ring precision@10": is_ring[nn][is_ring].mean(1)}


def head_ranking(X, is_ring, n_pos, repeats=100, seed=0) -> dict:
    """Train on n_pos rings + n_pos non-rings, rank the rest: per-draw ROC AUC and precision@50.

    The draws depend only on ``seed``, so they are paired across representations.
    """
    from sklearn.metrics import roc_auc_score

    from astroexplore.head import InterestHead

    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(is_ring), np.flatnonzero(~is_ring)
    aucs, p50 = [], []
    for r in range(repeats):
        tr = np.concatenate([rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_pos, replace=False)])
        rest = np.setdiff1d(np.arange(len(X)), tr)
        y = is_ring[tr].astype(float) * 5
        head = InterestHead(seed=r, device="cpu", input_mean=X.mean(0), input_scale=X.std(0) + 1e-9)
        head.fit(X[tr].astype(np.float32), y)
        s = head.predict(X[rest].astype(np.float32))[0]
        aucs.append(roc_auc_score(is_ring[rest], s))
        p50.append(is_ring[rest][np.argsort(-s)[:50]].mean())
    return {f"head {n_pos}+{n_pos} AUC": np.asarray(aucs), f"head {n_pos}+{n_pos} p@50": np.asarray(p50)}


TAGS = {"Ring": {"Ring"}, "Merger": {"Merger", "Merging", "Both"}, "Lens": {"Lens or arc"}}


def unique_images(x128, threshold: float = DUPLICATE_CORRELATION) -> np.ndarray:
    """Mask keeping the first of each group of near-identical images.

    Two images are duplicates when their 32x32 block-mean pixels, mean-subtracted, correlate above
    ``threshold`` (the same cutout saved twice, possibly re-compressed). ``x128``: (n, 3, H, W).
    """
    import torch
    from torch.nn import functional as F

    x = F.adaptive_avg_pool2d(torch.as_tensor(x128).float(), 32).reshape(len(x128), -1).numpy()
    x = x - x.mean(1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
    keep = np.ones(len(x), bool)
    for i in range(len(x)):
        if keep[i]:
            later = x[i + 1:] @ x[i]
            keep[np.flatnonzero(later > threshold) + i + 1] = False
    return keep


def tag_query(X, answers, tag_answers, n_query=TAG_QUERY_SIZE, k=10, repeats=200, seed=0) -> np.ndarray:
    """Per-query precision@k of tag queries: the mean embedding of ``n_query`` tagged examples,
    cosine nearest ``k`` among the rest.

    ``repeats`` random example sets (they depend only on ``seed``, so are paired across
    representations), or every set once where there are no more than ``repeats`` of them (6
    lenses make only 20 sets of 3: drawing 200 would repeat them and understate the standard error).
    """
    from itertools import combinations
    from math import comb

    U = _unit(X)
    tagged = np.flatnonzero(np.isin(answers, list(tag_answers)))
    if comb(len(tagged), n_query) <= repeats:
        queries = [np.asarray(q) for q in combinations(tagged, n_query)]
    else:
        rng = np.random.default_rng(seed)
        queries = [rng.choice(tagged, n_query, replace=False) for _ in range(repeats)]
    prec = []
    for q in queries:
        rest = np.setdiff1d(np.arange(len(X)), q)
        s = U[rest] @ U[q].mean(0)
        top = rest[np.argsort(-s)[:k]]
        prec.append(np.isin(top, tagged).mean())
    return np.asarray(prec)


# --------------------------------------------------------------------------- data
def load_folder(name: str, file_column: str = "file"):
    from astroexplore.encoder.data import load_images

    cat = pd.read_csv(DATA / name / "catalog.csv")
    paths = [DATA / name / f for f in cat[file_column]]
    x128, good, _ = load_images(paths, 128, progress=False)
    assert len(good) == len(cat)
    return cat, x128


def to_hwc(x) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def baselines(x128, crop: float) -> dict:
    """Both baselines on the whole 128x128 cutout and on the same central crop our encoder sees."""
    from astroexplore.encoder.data import as_image_tensor
    from astroexplore.features import morphology_features, pixel_pca_features

    out = {}
    variants = {"full": x128}
    if crop < 1:
        variants[f"crop {crop:g}"] = as_image_tensor(x128, None, crop=crop)
    for label, x in variants.items():
        imgs = to_hwc(x)
        t = time.perf_counter()
        out[f"pixel PCA ({label})"] = (pixel_pca_features(imgs, 40), time.perf_counter() - t)
        t = time.perf_counter()
        out[f"morphology ({label})"] = (morphology_features(imgs), time.perf_counter() - t)
    return out


def train_and_embed(tag, x128, work, *, mode="contrastive", votes=None, epochs, batch_size=256,
                    image_size=64, crop=1.0, encoder=None, tta=True, seed=0, targets=None,
                    target_weight=1.0, width=DEFAULT_WIDTH):
    """Train (or resume / reuse) an encoder; return (embeddings, train seconds, embed seconds, encoder).

    ``encoder`` given: no training; it embeds with ``crop`` (transfer to another data set).
    Train seconds are wall-clock; the CPU seconds of the process are logged too.
    """
    from astroexplore.encoder import train_encoder
    from astroexplore.torch_utils import configure_threads

    t, c = time.perf_counter(), time.process_time()
    if encoder is None:
        encoder = train_encoder(x128, mode=mode, votes=votes, epochs=epochs, batch_size=batch_size,
                                image_size=image_size, crop=crop, checkpoint=work / f"{tag}.pt",
                                progress=False, seed=seed, targets=targets, target_weight=target_weight,
                                width=width, threads=configure_threads())  # the run's thread count, as logged
        log(f"{tag}: trained in {time.perf_counter() - t:.0f} s wall, {time.process_time() - c:.0f} s CPU")
    else:
        encoder.crop = crop
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    emb = encoder.embed(x128, batch_size=512, tta=tta)
    t_embed = time.perf_counter() - t
    return emb, t_train, t_embed, encoder


# --------------------------------------------------------------------------- main
def _views_tag() -> str:
    """The distillation views in a checkpoint name (resuming with other views is refused)."""
    from astroexplore.encoder.augment import GalaxyAugment

    a = GalaxyAugment.for_distillation()
    return f"_v{a.max_shift:g}z{a.zoom[0]:g}-{a.zoom[1]:g}"


def gz1_specs(args) -> dict[str, dict]:
    """The gz1 encoders of this run: name -> train_encoder settings and its (seed, checkpoint tag)
    runs. The distilled encoder is trained with seeds ``args.first_seed`` to ``args.first_seed +
    args.seeds - 1`` (the checkpoint name says every setting; seed 0's has no seed suffix)."""
    e = args.epochs
    specs = {"ours (contrastive)": {"runs": [(0, _checkpoint_tag("gz1", "contrastive", None, args, e))],
                                    "targets": None, "target_weight": 1.0}}
    if args.distill != "none":
        tag = _checkpoint_tag("gz1", "distilled", args.distill, args, e)
        specs[f"ours (contrastive + distilled {args.distill})"] = {
            "runs": [(s, tag if s == 0 else f"{tag}_s{s}")
                     for s in range(args.first_seed, args.first_seed + args.seeds)],
            "targets": args.distill, "target_weight": args.target_weight}
    return specs


def gz1_settings(args, spec: dict, seed: int) -> dict:
    """``train_encoder`` settings of one run of a gz1 encoder (main() and training_jobs alike)."""
    return {"epochs": args.epochs, "crop": GZ1_CROP, "seed": seed, "targets": spec["targets"],
            "target_weight": spec["target_weight"], "width": args.width}


def training_jobs(args) -> list[dict]:
    """Every encoder this run trains: its set's folder, checkpoint tag and ``train_encoder``
    settings (``votes``: train on the set's GZ fraction columns)."""
    jobs = [{"set": "gz1_sdss", "tag": tag, "votes": False, "settings": gz1_settings(args, sp, seed)}
            for sp in gz1_specs(args).values() for seed, tag in sp["runs"]]
    for prefix, folder, votes in (("rings", "decals_rings", True), ("examples", "gz_answer_examples", False)):
        jobs += [{"set": folder, "tag": sp["tag"], "votes": sp["settings"]["mode"] == "hybrid",
                  "settings": sp["settings"]} for sp in small_specs(prefix, args, votes=votes)]
    return jobs


def train_job(job: dict, work: str) -> str:
    """Worker: read the job's set and train its encoder into ``work/tag.pt`` (resumes; on CPU one
    torch thread, so that several train side by side); returns the tag."""
    from astroexplore.encoder import train_encoder
    from astroexplore.torch_utils import configure_threads

    threads = configure_threads()
    cat, x128 = load_folder(job["set"])
    votes = cat[fraction_columns(cat)] if job["votes"] else None
    train_encoder(x128, votes=votes, checkpoint=Path(work) / f"{job['tag']}.pt", progress=False,
                  threads=threads, **job["settings"])
    return job["tag"]


def train_parallel(jobs: list[dict], processes: int, work: Path) -> None:
    """Train ``jobs`` side by side in ``processes`` processes (main() then reuses the checkpoints)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    t = time.perf_counter()
    # spawned, not forked: a forked child cannot use CUDA once the parent has touched it
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        for f in [pool.submit(train_job, job, str(work)) for job in jobs]:
            log(f"encoder {f.result()} trained ({time.perf_counter() - t:.0f} s wall so far)")


def evaluate(reps: dict[str, list], metric, what: str) -> tuple[dict, dict]:
    """Run ``metric`` (catalogue space -> samples) on every representation.

    ``reps``: name -> list of (n, d) arrays, one per encoder seed (one for a baseline). Returns the
    samples of each representation (averaged over its seeds, element by element: still paired)
    and, for those with several seeds, the figures of each seed.
    """
    samples, per_seed = {}, {}
    for name, Xs in reps.items():
        runs = [metric(catalogue_space(X)) for X in Xs]
        samples[name] = mean_samples(runs)
        if len(runs) > 1:
            per_seed[name] = [figures(r) for r in runs]
        log(f"{what} {name}: { {k: round(v, 3) for k, v in figures(samples[name]).items()} }")
    return samples, per_seed


def table(reps: dict[str, list], samples: dict) -> pd.DataFrame:
    return pd.DataFrame([{"representation": n, "dims": reps[n][0].shape[1], **figures(samples[n])}
                         for n in reps])


def seed_table(per_seed: dict, first_seed: int = 0) -> pd.DataFrame:
    """One row per encoder seed of each multi-seed representation (its runs are seeds
    ``first_seed``, ``first_seed + 1``, ...)."""
    return pd.DataFrame([{"representation": n, "seed": first_seed + i, **f}
                         for n, runs in per_seed.items() for i, f in enumerate(runs)])


def _checkpoint_tag(prefix: str, label: str, targets, args, epochs: int) -> str:
    """Checkpoint name of one of our encoders: every setting that would make resuming it refuse."""
    distilled = f"_{targets}_w{args.target_weight:g}{_views_tag()}" if targets else ""
    return f"{prefix}_{label}{distilled}_width{args.width}_e{epochs}"


def small_specs(prefix: str, args, *, votes: bool) -> list[dict]:
    """The encoders trained on a small set itself (plain contrastive, distilled, and a hybrid on the
    set's GZ fraction columns where ``votes``): checkpoint tag, table name and ``train_encoder``
    settings of each (main() and training_jobs alike)."""
    distill = None if args.distill == "none" else args.distill
    runs = [("contrastive", "contrastive", None, "contrastive")]
    if distill:
        runs.append(("distilled", f"contrastive + distilled {distill}", distill, "contrastive"))
    if votes:
        runs.append(("hybrid", "hybrid: {n_votes} GZ fraction columns" + (f" + distilled {distill}" if distill else ""),
                     distill, "hybrid"))
    return [{"tag": _checkpoint_tag(prefix, label, targets, args, args.small_epochs), "name": name,
             "settings": {"mode": mode, "epochs": args.small_epochs, "batch_size": SMALL_BATCH, "crop": SMALL_CROP,
                          "targets": targets, "target_weight": args.target_weight, "width": args.width}}
            for label, name, targets, mode in runs]


def fraction_columns(cat: pd.DataFrame) -> list[str]:
    """The GZ predicted-fraction columns of a set's catalogue (the hybrid encoder's votes)."""
    return [c for c in cat.columns if c.endswith("_fraction")]


def small_set_encoders(prefix: str, x128, work, args, gz1_encoders: dict, *, votes=None) -> tuple[dict, dict]:
    """Representations of a small set from our encoders: gz1 transfer (one per gz1 seed), and
    trained on the set itself; name -> list of embeddings."""
    reps, timings = {}, {}
    for name, encs in gz1_encoders.items():
        reps[name.replace("ours (", "ours (gz1-trained transfer, ")] = [
            train_and_embed("x", x128, work, epochs=0, encoder=enc, crop=SMALL_CROP)[0] for enc in encs]
    for sp in small_specs(prefix, args, votes=votes is not None):
        hybrid = sp["settings"]["mode"] == "hybrid"
        e, t_r, _, _ = train_and_embed(sp["tag"], x128, work, votes=votes if hybrid else None, **sp["settings"])
        name = sp["name"].format(n_votes=0 if votes is None else votes.shape[1])
        reps[f"ours ({prefix}, {name})"] = [e]
        timings[f"{prefix}: train {'hybrid' if hybrid else name} ({len(x128)} imgs)"] = t_r
    return reps, timings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40, help="gz1 training epochs (default 40)")
    p.add_argument("--small-epochs", type=int, default=100, help="epochs on the 470/739-image sets (default 100)")
    p.add_argument("--distill", choices=["none", "morphology", "pixels", "features"], default="features",
                   help="features distilled into the second set of encoders (default features)")
    p.add_argument("--target-weight", type=float, default=TARGET_WEIGHT,
                   help=f"weight of the distillation loss (default {TARGET_WEIGHT:g})")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH,
                   help=f"channels of our encoders' first conv block (default {DEFAULT_WIDTH})")
    p.add_argument("--jobs", type=int, default=1, help="train the gz1 encoders in this many processes")
    p.add_argument("--quick", action="store_true", help="2 / 5 epochs, fewer repeats: smoke test")
    p.add_argument("--work-dir", default="/tmp/astroexplore_real_data")
    p.add_argument("--out", default=None, help="write the markdown report here")
    p.add_argument("--no-discovery", action="store_true", help="skip the discovery.py protocol")
    p.add_argument("--discovery-seeds", type=int, default=5, help="seeds of the discovery protocol (default 5)")
    p.add_argument("--seeds", type=int, default=3,
                   help="training seeds of the distilled gz1 encoder; its figures are the mean (default 3)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="the distilled gz1 encoder's first training seed (default 0: seeds 0, 1, 2)")
    p.add_argument("--head-draws", type=int, default=100, help="label draws of each ring head figure (default 100)")
    p.add_argument("--tag-draws", type=int, default=200, help="example draws of each tag query (default 200)")
    return p


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """``df`` as a Markdown table, floats to ``digits`` decimals (no tabulate dependency)."""
    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def quick_settings(args):
    """``args`` with ``--quick``'s epochs, seeds and draws where it is set (smoke test); the
    training script applies the same, so that its checkpoints are the ones a quick run reads."""
    if args.quick:
        args.epochs, args.small_epochs, args.discovery_seeds = 2, 5, 2
        args.seeds, args.head_draws, args.tag_draws = 2, 5, 20
    return args


def main(argv=None) -> int:
    args = quick_settings(build_parser().parse_args(argv))
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)

    from astroexplore.torch_utils import configure_threads, default_device

    threads = configure_threads()
    device = default_device()
    log(f"device {device}, torch threads {threads}, cores {os.cpu_count()}")
    lines: list[str] = []
    timings: dict[str, float] = {}
    run_t0 = time.perf_counter()

    # ---------------- gz1
    specs = gz1_specs(args)
    if args.jobs > 1:
        train_parallel([j for j in training_jobs(args) if j["set"] == "gz1_sdss"], args.jobs, work)
    t0 = time.perf_counter()
    cat, x128 = load_folder("gz1_sdss")
    timings["gz1: read 6,664 jpgs"] = time.perf_counter() - t0
    labels = cat["gz1_class"].to_numpy()
    is_merger = labels == "merger"
    log(f"gz1 loaded {len(cat)} in {timings['gz1: read 6,664 jpgs']:.0f} s")
    reps = {}
    for name, (X, secs) in baselines(x128, GZ1_CROP).items():
        reps[name] = [X]
        timings[f"gz1: {name} features"] = secs
    log("gz1 baselines done")
    gz1_encoders = {}
    for name, sp in specs.items():
        reps[name], gz1_encoders[name] = [], []
        for seed, tag in sp["runs"]:
            emb, t_tr, t_em, enc = train_and_embed(tag, x128, work, tta=False, **gz1_settings(args, sp, seed))
            reps[name].append(emb)
            gz1_encoders[name].append(enc)
            hist = enc.metadata.get("history", [])
            timings[f"gz1 {tag}: train wall, sum of epoch times in the checkpoint"] = sum(h["seconds"] for h in hist)
            timings[f"gz1 {tag}: train CPU, sum over epochs"] = sum(h.get("cpu_seconds", np.nan) for h in hist)
            timings[f"gz1 {tag}: embed 6,664"] = t_em
            log(f"gz1 {tag}: embed {t_em:.1f} s")
    np.savez(work / "gz1_embeddings.npz", **{f"{k}_{i}".replace(" ", "_"): v
                                             for k, Xs in reps.items() for i, v in enumerate(Xs)})

    budget = 100 if args.quick else 200

    def gz1_metric(Z):
        out = {**knn_purity(Z, labels), **iforest_recall(Z, is_merger)}
        if not args.no_discovery:
            out.update(discovery_protocol(Z, is_merger, budget=budget, methods=("iforest", "ours:combined"),
                                          seeds=tuple(range(args.discovery_seeds))))
        return out

    samples, per_seed = {}, {}
    samples["gz1"], per_seed["gz1"] = evaluate(reps, gz1_metric, "gz1")
    gz1 = table(reps, samples["gz1"])

    # ---------------- rings
    rcat, r128 = load_folder("decals_rings")
    is_ring = rcat["ring"].to_numpy().astype(bool)
    rreps = {name: [X] for name, (X, secs) in baselines(r128, SMALL_CROP).items()}
    ours, t_small = small_set_encoders("rings", r128, work, args, gz1_encoders, votes=rcat[fraction_columns(rcat)])
    rreps.update(ours)
    timings.update(t_small)
    log("rings encoders done")

    def ring_metric(Z):
        return {**ring_precision(Z, is_ring), **head_ranking(Z, is_ring, 10, repeats=args.head_draws),
                **head_ranking(Z, is_ring, 20, repeats=args.head_draws)}

    samples["rings"], per_seed["rings"] = evaluate(rreps, ring_metric, "rings")
    rings = table(rreps, samples["rings"])

    # ---------------- answer examples
    acat, a128 = load_folder("gz_answer_examples")
    answers = acat["answer"].to_numpy()
    areps = {name: [X] for name, (X, secs) in baselines(a128, SMALL_CROP).items()}
    ours, t_small = small_set_encoders("examples", a128, work, args, gz1_encoders)
    areps.update(ours)
    timings.update(t_small)
    # the same cutout often appears under several surveys' names: a query would "find" its own
    # copies, so the queries run on one copy of each image (encoders still train on all of them)
    unique = unique_images(a128)
    n_dupes = int((~unique).sum())
    answers = answers[unique]
    log(f"examples: {n_dupes} near-duplicate images left out of the tag queries")
    areps = {name: [X[unique] for X in Xs] for name, Xs in areps.items()}

    def tag_metric(Z):
        return {f"{tag} p@10": tag_query(Z, answers, ans, repeats=args.tag_draws) for tag, ans in TAGS.items()}

    samples["examples"], per_seed["examples"] = evaluate(areps, tag_metric, "examples")
    tags = table(areps, samples["examples"]).drop(columns="dims")
    prevalence = {t: np.isin(answers, list(a)).sum() for t, a in TAGS.items()}
    timings["whole run, wall"] = time.perf_counter() - run_t0

    # ---------------- report

    command = " ".join(["benchmarks/real_data.py", *(argv or sys.argv[1:])])
    tagged = ", ".join(f"{t} {n} ({'/'.join(sorted(TAGS[t]))})" for t, n in prevalence.items())
    board = scoreboard({"gz1": gz1, "rings": rings, "examples": tags}, samples)
    lines += [
        "# Real-data benchmark: our encoder vs pixel baselines", "",
        (f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
         f"({os.cpu_count()} cores, device {device}, torch threads {threads}; load average at the end "
         f"{os.getloadavg()[0]:.1f}). Command: `{command}`."),
        (f"Encoder: `astroexplore.encoder` ConvEncoder (width {args.width}, 128-d), 64x64 input (central {GZ1_CROP:g} of "
         f"gz1 cutouts, {SMALL_CROP:g} of the others), SimCLR NT-Xent, "
         f"{args.epochs} epochs on gz1, {args.small_epochs} on the small sets. 'distilled "
         f"{args.distill}': a linear read-out of the representation also predicts the standardised "
         f"pixel-computed features of every augmented view (`astroexplore.encoder.targets`, weight "
         f"{args.target_weight:g}); no labels. The distilled gz1 encoder is trained with "
         f"{args.seeds} seeds: its rows, and its transfer rows on the other sets, are the mean over "
         "the seeds (each seed's figures are in the last table); the other encoders use seed 0. "
         "Our embeddings are what `Encoder.embed` returns: the representation scaled to unit length "
         "(`Encoder.unit_vectors`)."), "",
        "All representations: standardise -> PCA(<=40) -> cosine kNN / isolation forest (as a catalogue).", "",
        "## gz1_sdss (6,664; 115 mergers)", "",
        ("kNN purity = share of the 10 nearest with the same gz1_class (macro: mean over elliptical, "
         "edge_on, two spiral classes, merger; macro4: the same with the spirals merged; spiral_any: "
         "spirals of either handedness). Isolation-forest recall@N: share of the 115 mergers in the "
         "top N (mean of 5 forests). found@B: mergers among the first B labels of "
         f"benchmarks/discovery.py's batch protocol (mean of {args.discovery_seeds} seeds)."), "",
        markdown_table(gz1), "",
        "## decals_rings (470; 235 rings)", "",
        ("ring precision@10: share of rings among the 10 nearest of each ring (chance 0.5). Head: "
         f"trained on n rings + n non-rings (`astroexplore.head.InterestHead`, as the app's Retrain), "
         f"ranking the other galaxies; mean of {args.head_draws} draws of the labels."), "",
        markdown_table(rings), "",
        "## gz_answer_examples (739): tag queries", "",
        (f"{n_dupes} of the 739 images are near-duplicates of another (the same cutout under several "
         f"surveys' names; pixel correlation > {DUPLICATE_CORRELATION}); the queries run on the "
         f"{len(answers)} distinct images, so that no query finds its own copies. Mean embedding of "
         f"{TAG_QUERY_SIZE} tagged examples, precision of the 10 nearest among the rest: mean of "
         f"{args.tag_draws} random example sets, or of every set where there are fewer (Lens: "
         f"all 20). Tagged (distinct): {tagged}."), "",
        markdown_table(tags), "",
        "## Scoreboard: best of ours vs best baseline, figure by figure", "",
        ("The difference is paired: both representations are scored on the same units, and SE is "
         "the standard error of the mean of the unit-by-unit differences. The units are the galaxies "
         "of each purity figure (the 115 mergers for the isolation-forest recalls), the discovery "
         "seeds for found@B, the label draws of the heads and the example sets of the tag queries "
         "(each of them counted once). 'ahead' or "
         "'behind' means the difference exceeds 2 SE; otherwise the two are 'level'. SE does not "
         "include how much the encoder's training seed moves a figure: the last table shows that."), "",
        markdown_table(board), "", f"**{tally(board)}**", "",
        "## Figures of each training seed of the distilled gz1 encoder", "",
        *[x for name, df in (("gz1", gz1), ("rings", rings), ("examples", tags)) if per_seed[name]
          for x in (f"{name}:", "", markdown_table(seed_table(per_seed[name], args.first_seed)), "")],
        "## Timings (seconds)", "",
        markdown_table(pd.DataFrame([{"step": k, "seconds": v} for k, v in timings.items()])), ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
