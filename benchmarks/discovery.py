"""Discovery benchmark: how many true anomalies each method shows an oracle astronomer.

An oracle that knows the truth plays the astronomer. Two protocols:

``greedy``
    One label at a time with a refit after each (Das et al. 2017; coniferest): the method
    shows its top-ranked unlabelled item, the oracle scores it, the method refits.
``batch``
    Astronomaly / Walmsley et al.: 10 start labels (the method's top 10 before any label,
    i.e. its unsupervised score), then batches of 10 with a refit after each batch, up to
    ``--batch-budget`` (200) labels.

Per dataset and method the tables give the true anomalies found after 10/30/50/100/200/300
labels (those within the budget; mean +- sd over seeds, and the median at the budget), the
rank-weighted score ``RWS(N) = sum_{i<N} (N - i) I_i / (N (N + 1) / 2)`` of the first ``N``
queries (``--rws-n``, default 100, capped at the budget), and the median and 95th
percentile seconds per update (refit + re-rank: labels sent, model refitted, next pick made).

Usage (from the repository root)::

    .venv/bin/python benchmarks/discovery.py --quick                    # smoke test, ~1 min
    .venv/bin/python benchmarks/discovery.py --out benchmarks/results/discovery.md
    .venv/bin/python benchmarks/discovery.py --datasets ann_thyroid_1v3 mammography \\
        --methods iforest aadforest ours:combined --protocol greedy --seeds 5
    .venv/bin/python benchmarks/discovery.py --catalogue my.parquet --truth-column truth_interest

Methods: the peers of ``benchmarks/peers.py`` (``iforest``, ``neighbour_score``, ``gp_ei``,
``aadforest``, ``pineforest``) and ours, ``ours:<ranking method>`` for any of
``astroexplore.constants.RankingMethod`` that learns from labels (``predicted_interest``,
``combined``, ``ucb``, ``expected_improvement``, ``uncertainty``), run through
``astroexplore.explorer.Explorer`` -- the session object the app uses -- with a temporary
``LabelStore``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` and ``astroexplore`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import Strategy, make_peer, top_unlabelled

SHARED_DATA = ROOT.parent / "shared" / "data"
ANOMALY_BENCHMARKS = SHARED_DATA / "anomaly_benchmarks"

#: labels after which discoveries are reported (those <= the run's budget)
CHECKPOINTS = (10, 30, 50, 100, 200, 300)

#: oracle interest score for a true anomaly / a nominal item of a binary set
ANOMALY_SCORE, NOMINAL_SCORE = 5, 0

#: tabular sets (file stem -> greedy budget). The thyroid and mammography budgets are the
#: ones the published reference figures use; the 2,000-row subsets and the controls get 100.
BENCHMARK_BUDGETS = {
    "ann_thyroid_1v3": 100,
    "mammography": 300,
    "kddcup_sub": 100,
    "covtype_sub": 100,
    "abalone": 100,
    "yeast": 100,
}
DEFAULT_DATASETS = (*BENCHMARK_BUDGETS, "non_anomalous_outliers", "demo")

#: our ranking methods that learn from labels (RankingMethod values)
OURS = ("predicted_interest", "combined", "ucb", "expected_improvement", "uncertainty")
#: the default run leaves out gp_ei_matern (Protege's kernel) and ours:uncertainty (pure
#: exploration, not a discovery strategy) to stay affordable; name them to run them.
DEFAULT_METHODS = ("iforest", "neighbour_score", "gp_ei", "aadforest", "pineforest",
                   *(f"ours:{m}" for m in OURS if m != "uncertainty"))

#: published greedy figures (true anomalies among the first B queries; ../shared/data/README.md)
REFERENCE = {
    ("ann_thyroid_1v3", 100): {"iforest": 15, "aadforest": 69, "pineforest": 67},
    ("mammography", 300): {"iforest": 63, "aadforest": 178, "pineforest": 145},
}


# ---------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """One benchmark set: features, the oracle's answers and the truth.

    Attributes
    ----------
    X : ndarray of shape (n, d), float64
        Standardised features (zero mean, unit variance per column; constant columns 0).
        Isolation-forest-type methods are invariant to this per-column affine map; the
        distance- and kernel-based methods (NeighbourScore, GP, our head) need it.
    oracle : ndarray of shape (n,), float64
        The interest score (0-5) the simulated astronomer gives each row.
    is_anomaly : ndarray of shape (n,), bool
        Ground truth counted as a discovery.
    budget : int
        Greedy label budget.
    """

    name: str
    X: np.ndarray
    oracle: np.ndarray
    is_anomaly: np.ndarray
    budget: int
    description: str = ""

    @property
    def graded(self) -> bool:
        """True when the oracle uses more than two scores (then ``high@B`` is also reported)."""
        return np.unique(self.oracle).size > 2

    @property
    def n(self) -> int:
        return len(self.X)


def standardise(X: np.ndarray) -> np.ndarray:
    """Per-column z-score, float64; constant columns become 0.

    >>> standardise(np.array([[1.0, 2.0], [3.0, 2.0]])).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return np.ascontiguousarray((X - mean) / std)


def binary_dataset(name: str, X: np.ndarray, is_anomaly: np.ndarray, budget: int,
                   description: str = "") -> Dataset:
    """A dataset whose oracle answers 5 for an anomaly and 0 otherwise."""
    is_anomaly = np.asarray(is_anomaly, dtype=bool)
    oracle = np.where(is_anomaly, ANOMALY_SCORE, NOMINAL_SCORE).astype(np.float64)
    return Dataset(name, standardise(X), oracle, is_anomaly, budget, description)


def load_anomaly_benchmark(name: str, budget: int | None = None, folder: Path = ANOMALY_BENCHMARKS) -> Dataset:
    """One of Das et al.'s sets from ``../shared/data/anomaly_benchmarks/<name>.csv``.

    The first column holds "anomaly"/"nominal" (named ``label``, or ``ground.truth`` in
    mammography); the other columns are the features.
    """
    import pandas as pd

    path = Path(folder) / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (the shared data sit beside the checkout: "
                                f"../shared/data/anomaly_benchmarks)")
    table = pd.read_csv(path)
    label_col = "label" if "label" in table.columns else table.columns[0]
    truth = table[label_col].astype(str).str.strip().str.lower()
    unknown = sorted(set(truth) - {"anomaly", "nominal"})
    if unknown:
        raise ValueError(f"{path}: column {label_col!r} has values {unknown[:3]}; expected anomaly/nominal")
    X = table.drop(columns=[label_col]).to_numpy(dtype=np.float64)
    budget = BENCHMARK_BUDGETS.get(name, 100) if budget is None else budget
    is_anomaly = (truth == "anomaly").to_numpy()
    return binary_dataset(name, X, is_anomaly, budget,
                          f"{path.name}: {len(X)} x {X.shape[1]}, {is_anomaly.sum()} anomalies")


def load_non_anomalous_outliers(budget: int = 100, seed: int = 0) -> Dataset:
    """coniferest's ``datasets.non_anomalous_outliers``: 1024 inliers + 3 x 32 outliers.

    Two outlier clusters are *regular* (outliers nobody wants) and one is anomalous: a
    detector that only finds outliers wastes labels; learning from labels should not.
    Label.ANOMALY (-1) rows are the true anomalies.
    """
    from coniferest.datasets import non_anomalous_outliers
    from coniferest.label import Label

    X, labels = non_anomalous_outliers(seed=seed)
    is_anomaly = np.asarray(labels) == Label.ANOMALY
    return binary_dataset("non_anomalous_outliers", X, is_anomaly, budget,
                          f"coniferest non_anomalous_outliers(seed={seed}): {len(X)} x {X.shape[1]}, "
                          f"{is_anomaly.sum()} anomalies, {2 * 32} non-anomalous outliers")


def catalogue_dataset(catalogue, *, name: str, truth_column: str, anomaly_values=None,
                      anomaly_column: str | None = None, budget: int = 300) -> Dataset:
    """Turn an astroexplore ``Catalogue`` with a truth column into a :class:`Dataset`.

    ``truth_column`` numeric: the oracle's 0-5 score (clipped); else 5 where the value is
    in ``anomaly_values``, 0 elsewhere. A true anomaly: ``anomaly_column`` (if given) not
    equal to "none"; else ``truth_column`` in ``anomaly_values`` (if given); else a
    numeric truth >= 3.
    """
    import pandas as pd

    table = catalogue.table
    if truth_column not in table.columns:
        raise KeyError(f"truth column {truth_column!r} not in the catalogue "
                       f"(columns: {', '.join(map(str, table.columns[:20]))})")
    truth = table[truth_column]
    numeric = pd.api.types.is_numeric_dtype(truth)
    values = None if anomaly_values is None else {str(v) for v in anomaly_values}
    in_values = truth.astype(str).isin(values).to_numpy() if values is not None else None
    if numeric:
        oracle = np.clip(truth.to_numpy(dtype=np.float64), 0, 5)
    elif in_values is not None:
        oracle = np.where(in_values, ANOMALY_SCORE, NOMINAL_SCORE).astype(np.float64)
    else:
        raise ValueError(f"truth column {truth_column!r} is not numeric: give --anomaly-values")
    if anomaly_column is not None:
        is_anomaly = table[anomaly_column].astype(str).str.lower().ne("none").to_numpy()
    elif in_values is not None:
        is_anomaly = in_values
    else:
        is_anomaly = oracle >= 3
    X = np.asarray(catalogue.embeddings, dtype=np.float64)
    return Dataset(name, standardise(X), oracle, np.asarray(is_anomaly, bool), budget,
                   f"{catalogue.n_galaxies} x {catalogue.n_features}, {int(is_anomaly.sum())} anomalies "
                   f"(truth: {anomaly_column or truth_column})")


def load_demo(n: int = 20_000, seed: int = 0, budget: int = 100, out_dir: Path | None = None) -> Dataset:
    """The generated demo survey (``astroexplore.demo.make_demo_catalogue``).

    Oracle: ``truth_interest`` (0-5, graded); a true anomaly: ``truth_anomaly != "none"``.
    """
    from astroexplore.catalogue import load_catalogue
    from astroexplore.demo import demo_catalogue_path, make_demo_catalogue

    # generated once per (n, seed) into the temp folder and reused (rendering takes minutes)
    out_dir = (Path(out_dir) if out_dir is not None
               else Path(tempfile.gettempdir()) / f"astroexplore-demo-n{n}-seed{seed}")
    path = demo_catalogue_path(out_dir)
    if not path.is_file():
        path = make_demo_catalogue(out_dir, n=n, seed=seed, progress=False)
    cat = load_catalogue(path)
    ds = catalogue_dataset(cat, name="demo", truth_column="truth_interest",
                           anomaly_column="truth_anomaly", budget=budget)
    ds.description = f"make_demo_catalogue(n={n}, seed={seed}): " + ds.description
    return ds


def load_dataset(name: str, args: argparse.Namespace | None = None) -> Dataset:
    """Build a dataset by name (see ``DEFAULT_DATASETS``; ``catalogue`` needs --catalogue)."""
    a = args if args is not None else build_parser().parse_args([])
    budget = a.budget
    if name in BENCHMARK_BUDGETS or (ANOMALY_BENCHMARKS / f"{name}.csv").is_file():
        ds = load_anomaly_benchmark(name)
        if budget is not None:
            ds.budget = budget
        return ds
    if name == "non_anomalous_outliers":
        return load_non_anomalous_outliers(budget or 100)
    if name == "demo":
        return load_demo(n=a.demo_n, seed=a.demo_seed, budget=budget or a.demo_budget, out_dir=a.demo_dir)
    if name == "catalogue":
        from astroexplore.catalogue import load_catalogue

        if a.catalogue is None:
            raise ValueError("dataset 'catalogue' needs --catalogue PATH --truth-column COL")
        cat = load_catalogue(a.catalogue)
        return catalogue_dataset(cat, name=Path(a.catalogue).stem, truth_column=a.truth_column,
                                 anomaly_values=a.anomaly_values, anomaly_column=a.anomaly_column,
                                 budget=budget or 300)
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DEFAULT_DATASETS)}, catalogue")


# ---------------------------------------------------------------------------------------
# Ours: astroexplore's Explorer behind the Strategy interface
# ---------------------------------------------------------------------------------------
class AstroexploreStrategy(Strategy):
    """astroexplore's own ranking methods, through ``Explorer`` (the app's session object).

    ``fit_prior`` builds ``Catalogue.from_arrays(X)``, a temporary ``LabelStore`` and an
    ``Explorer(catalogue, store, user="oracle", seed=seed, detector=detector)``.
    ``update`` writes the new labels with ``Explorer.label`` and calls ``Explorer.retrain``;
    ``scores`` is ``Explorer.scores(method)``; ``select`` is ``Explorer.next_batch(k, method)``
    (the diverse batch the app shows) unless ``select="top"``, then the top unlabelled of
    ``scores``. Nothing here re-implements a model: it is the code the app runs.
    """

    def __init__(self, method: str = "combined", *, select: str = "next_batch",
                 detector: str = "isolation_forest", explorer_kwargs: dict | None = None):
        self.method = method
        self.select_mode = select
        self.detector = detector
        # cache=False: no anomaly-score cache files for these throw-away in-memory catalogues
        self.explorer_kwargs = {"cache": False, **(explorer_kwargs or {})}
        self.name = f"ours:{method}"

    def fit_prior(self, X, seed=0):
        from astroexplore.catalogue import Catalogue
        from astroexplore.explorer import Explorer
        from astroexplore.labels import LabelStore

        self.close()
        self._tmp = tempfile.TemporaryDirectory(prefix="astroexplore-bench-")
        X = np.ascontiguousarray(X, dtype=np.float32)
        self.ids_ = np.array([f"g{i:07d}" for i in range(len(X))], dtype=object)
        catalogue = Catalogue.from_arrays(X, ids=self.ids_)
        self.store_ = LabelStore(Path(self._tmp.name) / "labels.sqlite", valid_ids=self.ids_)
        self.explorer_ = Explorer(catalogue, self.store_, user="oracle", detector=self.detector,
                                  seed=seed, **self.explorer_kwargs)
        self.n_sent_ = 0
        return self

    def update(self, labelled_idx, labels):
        idx = np.asarray(labelled_idx, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.float64)
        for i, y in zip(idx[self.n_sent_:], labels[self.n_sent_:]):
            self.explorer_.label(self.ids_[i], round(float(y)))
        self.n_sent_ = len(idx)
        self.explorer_.retrain()

    def scores(self):
        return np.asarray(self.explorer_.scores(self.method), dtype=np.float64)

    def select(self, k, labelled):
        if self.select_mode == "top":
            return top_unlabelled(self.scores(), labelled, k)
        picks = np.asarray(self.explorer_.next_batch(k, self.method), dtype=np.int64)
        if picks.size and np.asarray(labelled)[picks].any():
            raise RuntimeError(f"Explorer.next_batch({k}, {self.method!r}) returned labelled rows")
        return picks

    def close(self):
        store = getattr(self, "store_", None)
        if store is not None and hasattr(store, "close"):
            store.close()
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.cleanup()
            self._tmp = None


def make_strategy(name: str, args: argparse.Namespace | None = None) -> Strategy:
    """``iforest``/``neighbour_score``/``gp_ei``/``aadforest``/``pineforest`` or ``ours:<method>``."""
    if name.startswith("ours:"):
        select = getattr(args, "ours_select", "next_batch") if args is not None else "next_batch"
        return AstroexploreStrategy(name.split(":", 1)[1], select=select)
    params = {}
    if name in ("gp_ei", "gp_ei_matern") and args is not None:
        if args.gp_max_train:
            params["max_train"] = args.gp_max_train
        params["optimise_every"] = args.gp_optimise_every
    return make_peer(name, **params)


def ours_available() -> tuple[bool, str]:
    """Whether the engine's modules exist yet (explorer, head, catalogue, labels)."""
    missing = [m for m in ("explorer", "head", "catalogue", "labels")
               if not (ROOT / "astroexplore" / f"{m}.py").is_file()]
    return (not missing, "missing astroexplore/" + ", ".join(f"{m}.py" for m in missing) if missing else "")


# ---------------------------------------------------------------------------------------
# The simulated astronomer
# ---------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """One (protocol, dataset, method, seed) run."""

    protocol: str
    dataset: str
    method: str
    seed: int
    queried: list[int] = field(default_factory=list)   # rows in the order the oracle saw them
    hits: list[bool] = field(default_factory=list)      # was each a true anomaly
    update_seconds: list[float] = field(default_factory=list)  # refit + re-rank, per update
    prior_seconds: float = 0.0                          # fit_prior + first pick
    wall_seconds: float = 0.0
    error: str | None = None

    high: list[bool] = field(default_factory=list)      # oracle score >= 4 ("interesting")

    def found(self, n: int) -> int:
        """True anomalies among the first ``n`` queries."""
        return int(np.sum(self.hits[:n]))

    def rws(self, n: int) -> float:
        return rank_weighted_score(self.hits, n)


def rank_weighted_score(hits, n: int) -> float:
    """RWS(N) = sum_{i<N} (N - i) * I_i / (N (N + 1) / 2), i = 0 the first query.

    1.0 when the first N queries are all anomalies; earlier finds weigh more.

    >>> rank_weighted_score([1, 0, 0], 3)   # 3 / 6
    0.5
    >>> rank_weighted_score([0, 0, 1], 3)   # 1 / 6
    0.16666666666666666
    """
    h = np.zeros(n, dtype=np.float64)
    got = np.asarray(hits, dtype=np.float64)[:n]
    h[: got.size] = got
    weights = n - np.arange(n)
    return float(np.sum(weights * h) / (n * (n + 1) / 2))


def simulate(strategy: Strategy, data: Dataset, *, seed: int, budget: int, protocol: str = "greedy",
             batch_size: int = 10, n_start: int = 10, method: str | None = None) -> RunResult:
    """Run one simulated labelling session and record what the oracle saw.

    ``greedy``: pick 1, label, refit, repeat. ``batch``: pick ``n_start`` before any label
    (the unsupervised ranking), then ``batch_size`` per refit. Every update gets all labels
    so far. The time of an update is that of ``update`` plus the next ``select``.
    """
    if protocol == "greedy":
        first, step = 1, 1
    elif protocol == "batch":
        first, step = n_start, batch_size
    else:
        raise ValueError(f"protocol must be 'greedy' or 'batch', not {protocol!r}")
    budget = min(int(budget), data.n)
    res = RunResult(protocol, data.name, method or strategy.name, seed)
    labelled = np.zeros(data.n, dtype=bool)
    order: list[int] = []
    t_start = time.perf_counter()
    try:
        strategy.fit_prior(data.X, seed)
        picks = strategy.select(min(first, budget), labelled)
        res.prior_seconds = time.perf_counter() - t_start
        while True:
            if len(picks) == 0:
                break
            for i in picks:
                labelled[i] = True
                order.append(int(i))
            if len(order) >= budget:
                break
            idx = np.asarray(order, dtype=np.int64)
            t0 = time.perf_counter()
            strategy.update(idx, data.oracle[idx])
            picks = strategy.select(min(step, budget - len(order)), labelled)
            res.update_seconds.append(time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 -- report it, do not kill the whole benchmark
        import traceback

        res.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    finally:
        strategy.close()
    res.queried = order
    res.hits = [bool(data.is_anomaly[i]) for i in order]
    res.high = [bool(data.oracle[i] >= 4) for i in order]
    res.wall_seconds = time.perf_counter() - t_start
    return res


# ---------------------------------------------------------------------------------------
# Running many, in parallel processes
# ---------------------------------------------------------------------------------------
_DATASETS: dict[str, Dataset] = {}
_ARGS: argparse.Namespace | None = None


def _limit_threads() -> None:
    """One BLAS/OpenMP/torch thread per worker: workers are the parallelism."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules or _ARGS is None or any(m.startswith("ours:") for m in _ARGS.methods):
        try:
            from astroexplore.torch_utils import configure_threads

            configure_threads()
        except ImportError:  # pragma: no cover
            pass


def warm_imports(methods) -> None:
    """Import what the methods need once, before timing (and before forking the workers).

    Importing torch and sklearn takes seconds (tens of seconds on a busy machine); without
    this the first update of a run would carry it.
    """
    import scipy.spatial  # noqa: F401
    import sklearn.ensemble
    import sklearn.gaussian_process  # noqa: F401

    if any(m in ("aadforest", "pineforest") for m in methods):
        try:
            import coniferest.aadforest
            import coniferest.pineforest  # noqa: F401
        except ImportError:
            pass
    if any(m.startswith("ours:") for m in methods):
        try:
            import torch  # noqa: F401

            import astroexplore.detectors
            import astroexplore.explorer
            import astroexplore.head
            import astroexplore.ranking  # noqa: F401
        except ImportError:
            pass


def _run_task(task: tuple[str, str, str, int]) -> RunResult:
    protocol, dataset, method, seed = task
    _limit_threads()
    warm_imports([method])
    data = _DATASETS[dataset]
    budget = data.budget if protocol == "greedy" else min(data.budget, _ARGS.batch_budget)
    strategy = make_strategy(method, _ARGS)
    res = simulate(strategy, data, seed=seed, budget=budget, protocol=protocol, method=method)
    status = "ERROR " + res.error if res.error else f"found@{len(res.hits)}={sum(res.hits)}"
    print(f"[{time.strftime('%H:%M:%S')}] {protocol:6s} {dataset:22s} {method:28s} seed={seed} "
          f"{status} ({res.wall_seconds:.1f} s)", file=sys.stderr, flush=True)
    return res


def run_all(tasks, jobs: int = 1) -> list[RunResult]:
    """Run the tasks (longest first) in ``jobs`` forked worker processes."""
    if jobs <= 1:
        return [_run_task(t) for t in tasks]
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    with ctx.Pool(jobs) as pool:
        return list(pool.imap_unordered(_run_task, tasks))


def _task_cost(task) -> float:
    protocol, dataset, method, _ = task
    data = _DATASETS[dataset]
    per = {"iforest": 0.01, "aadforest": 1.0, "pineforest": 1.0, "neighbour_score": 2.0, "gp_ei": 2.0}
    steps = data.budget if protocol == "greedy" else data.budget / 10
    return steps * data.n * per.get(method, 3.0)


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------
def _fmt_mean_sd(values) -> str:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return "-"
    if v.size == 1:
        return f"{v[0]:.0f}"
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}"


def summarise(results: list[RunResult], datasets: dict[str, Dataset], args) -> str:
    """Markdown: one table per (protocol, dataset), rows = methods in the order asked."""
    lines: list[str] = []
    method_order = list(args.methods)
    for protocol in args.protocol:
        lines.append(f"## Protocol: {protocol}")
        lines.append("")
        if protocol == "greedy":
            lines.append("One label at a time, refit after each (Das et al.; coniferest).")
        else:
            lines.append(f"10 start labels (top 10 before any label), then batches of 10 with a refit "
                         f"after each, up to {args.batch_budget} labels (Astronomaly; Walmsley et al.).")
        lines.append("")
        for name, data in datasets.items():
            runs = [r for r in results if r.protocol == protocol and r.dataset == name]
            if not runs:
                continue
            budget = data.budget if protocol == "greedy" else min(data.budget, args.batch_budget)
            budget = min(budget, data.n)
            cps = [c for c in CHECKPOINTS if c <= budget]
            if budget not in cps:
                cps.append(budget)
            rws_n = min(args.rws_n, budget)
            n_anom = int(data.is_anomaly.sum())
            lines.append(f"### {name} ({protocol}, budget {budget}; {data.description})")
            lines.append("")
            graded = data.graded
            head = (["method"] + [f"found@{c}" for c in cps] + [f"median@{budget}"]
                    + ([f"score>=4 @{budget}"] if graded else []) + [f"RWS({rws_n})",
                                                                "s/update median", "s/update p95",
                                                                "total s"])
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
            for method in method_order:
                mruns = sorted((r for r in runs if r.method == method), key=lambda r: r.seed)
                if not mruns:
                    continue
                ok = [r for r in mruns if r.error is None]
                if not ok:
                    lines.append(f"| {method} | " + " | ".join(["error"] * (len(head) - 1))
                                 + " |")
                    continue
                cells = [method + ("" if len(ok) == len(mruns) else f" ({len(mruns) - len(ok)} failed)")]
                cells += [_fmt_mean_sd([r.found(c) for r in ok]) for c in cps]
                cells.append(f"{np.median([r.found(budget) for r in ok]):.0f}")
                if graded:
                    cells.append(_fmt_mean_sd([sum(r.high[:budget]) for r in ok]))
                rws = [r.rws(rws_n) for r in ok]
                cells.append(f"{np.mean(rws):.3f}")
                ups = np.concatenate([np.asarray(r.update_seconds) for r in ok]) if ok else np.empty(0)
                cells.append(f"{np.median(ups):.3f}" if ups.size else "-")
                cells.append(f"{np.percentile(ups, 95):.3f}" if ups.size else "-")
                cells.append(f"{np.sum([r.wall_seconds for r in ok]):.0f}")
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
            lines.append(f"{n_anom} true anomalies in {data.n} rows; random picking would find "
                         f"{budget * n_anom / data.n:.1f} in {budget}.")
            if graded:
                n_high = int((data.oracle >= 4).sum())
                lines.append(f"Graded oracle: `score>=4` counts queries the oracle scored 4-5 "
                             f"({n_high} such rows; random: {budget * n_high / data.n:.1f}).")
            ref = REFERENCE.get((name, budget)) if protocol == "greedy" else None
            if ref:
                lines.append("Published reference (greedy, median): "
                             + ", ".join(f"{k} ~{v}" for k, v in ref.items()) + ".")
            errors = [r for r in runs if r.error]
            for r in errors[:3]:
                lines.append(f"- error: {r.method} seed {r.seed}: {r.error}")
            lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="discovery.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=None,
                   help=f"default: {' '.join(DEFAULT_DATASETS)} (+ catalogue with --catalogue)")
    p.add_argument("--methods", nargs="+", default=None,
                   help=f"default: {' '.join(DEFAULT_METHODS)} (ours:* only once astroexplore/explorer.py "
                        f"exists)")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds 0..N-1 (default 5)")
    p.add_argument("--budget", type=int, default=None,
                   help="greedy label budget for every dataset (default: per dataset, 100 or 300)")
    p.add_argument("--batch-budget", type=int, default=200, help="batch-protocol labels (default 200)")
    p.add_argument("--protocol", nargs="+", choices=("greedy", "batch"), default=["greedy", "batch"])
    p.add_argument("--rws-n", type=int, default=100, help="N of RWS(N), capped at the budget (default 100)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2, one per core here)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 seeds, budget 30, batch budget 30, demo n=2000, small sets only")
    p.add_argument("--out", type=Path, default=None, help="write the markdown tables here too")
    p.add_argument("--json", type=Path, default=None, help="write every run (queried rows, hits, timings)")
    p.add_argument("--merge-json", type=Path, nargs="+", default=None, metavar="JSON",
                   help="run nothing: tabulate the runs saved by earlier --json invocations (a later "
                        "file's run replaces an earlier one of the same protocol, dataset, method "
                        "and seed); with --out, write the merged tables there")
    p.add_argument("--demo-n", type=int, default=20_000, help="demo survey size (default 20000)")
    p.add_argument("--demo-seed", type=int, default=0)
    p.add_argument("--demo-dir", type=Path, default=None,
                   help="where the demo survey is generated / reused (default: "
                        "$TMPDIR/astroexplore-demo-n<N>-seed<S>)")
    p.add_argument("--demo-budget", type=int, default=100, help="label budget on the demo (default 100)")
    p.add_argument("--catalogue", type=Path, default=None, help="any catalogue load_catalogue reads")
    p.add_argument("--truth-column", default="truth_interest",
                   help="oracle column of --catalogue: numeric 0-5 score, or categorical with --anomaly-values")
    p.add_argument("--anomaly-values", nargs="+", default=None,
                   help="values of --truth-column that count as true anomalies")
    p.add_argument("--anomaly-column", default=None,
                   help="column whose value != 'none' marks a true anomaly (e.g. truth_anomaly)")
    p.add_argument("--ours-select", choices=("next_batch", "top"), default="next_batch",
                   help="how ours picks: Explorer.next_batch (the app) or the top of Explorer.scores")
    p.add_argument("--gp-optimise-every", type=int, default=10,
                   help="re-optimise the GP kernel's hyper-parameters when this many labels arrived "
                        "since the last optimisation (exact refit on all labels with the kernel fixed "
                        "in between; always while < 2x this many labels). Default 10; 1 = every update")
    p.add_argument("--gp-max-train", type=int, default=None,
                   help="cap the GP's training set to the most recent N labels (default: all)")
    return p


def main(argv=None) -> int:
    global _ARGS
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seeds = min(args.seeds, 2)
        args.budget = args.budget or 30
        args.batch_budget = min(args.batch_budget, 30)
        args.demo_n = min(args.demo_n, 2000)
        if args.datasets is None:
            args.datasets = ["ann_thyroid_1v3", "yeast", "non_anomalous_outliers", "demo"]
    if args.datasets is None:
        args.datasets = list(DEFAULT_DATASETS) + (["catalogue"] if args.catalogue else [])
    available, why = ours_available()
    if args.methods is None:
        args.methods = [m for m in DEFAULT_METHODS if available or not m.startswith("ours:")]
        if not available:
            print(f"note: skipping ours ({why})", file=sys.stderr)
    if args.merge_json:
        return merge_runs(args)
    _ARGS = args
    _DATASETS.clear()
    _limit_threads()
    warm_imports(args.methods)

    t0 = time.perf_counter()
    for name in args.datasets:
        t = time.perf_counter()
        try:
            ds = load_dataset(name, args)
        except (ImportError, FileNotFoundError, ModuleNotFoundError) as exc:
            print(f"note: skipping dataset {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        _DATASETS[ds.name] = ds  # keyed by the dataset's own name (a --catalogue file's stem)
        print(f"loaded {ds.name}: {ds.description} ({time.perf_counter() - t:.1f} s)", file=sys.stderr)
    command = shlex.join(argv if argv is not None else sys.argv[1:])
    results: list[RunResult] = []
    done: dict[str, float] = {}
    # dataset by dataset (cheapest first), rewriting --out after each: partial tables survive
    for name in list(_DATASETS):  # in the order asked
        tasks = [(p, name, m, s) for p in args.protocol for m in args.methods for s in range(args.seeds)]
        tasks.sort(key=_task_cost, reverse=True)
        t = time.perf_counter()
        print(f"{name}: {len(tasks)} runs on {args.jobs} worker(s)", file=sys.stderr)
        results += run_all(tasks, args.jobs)
        done[name] = time.perf_counter() - t
        text = _report(results, args, command, time.perf_counter() - t0, done)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps([r.__dict__ for r in results]))
    print(text)
    if args.out is not None:
        print(f"wrote {args.out}", file=sys.stderr)
    return 1 if any(r.error for r in results) else 0


def load_runs(paths) -> list[RunResult]:
    """RunResults saved with ``--json`` (plain or gzipped, ``.json.gz``); a later file's run
    replaces one with the same key."""
    runs: dict[tuple, RunResult] = {}
    import gzip

    for path in paths:
        path = Path(path)
        text = (gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz"
                else path.read_text())
        for d in json.loads(text):
            r = RunResult(**d)
            runs[(r.protocol, r.dataset, r.method, r.seed)] = r
    return list(runs.values())


def merge_runs(args) -> int:
    """``--merge-json``: tables of saved runs, in the order of ``--datasets``/``--methods``."""
    results = load_runs(args.merge_json)
    names = list(dict.fromkeys(r.dataset for r in results))
    if args.datasets is not None:
        names = [n for n in args.datasets if n in names] + [n for n in names if n not in args.datasets]
    methods = list(dict.fromkeys(r.method for r in results))
    args.methods = [m for m in args.methods if m in methods] + [m for m in methods if m not in args.methods]
    args.protocol = [p for p in args.protocol if any(r.protocol == p for r in results)]
    args.seeds = max(r.seed for r in results) + 1
    _DATASETS.clear()
    for name in names:  # budgets as run: the longest run of each protocol
        ds = load_dataset(name, args)
        greedy = [len(r.queried) for r in results if r.dataset == name and r.protocol == "greedy"]
        ds.budget = max(greedy) if greedy else ds.budget
        _DATASETS[ds.name] = ds
    batch = [len(r.queried) for r in results if r.protocol == "batch"]
    args.batch_budget = max(batch) if batch else args.batch_budget
    files = " ".join(str(p) for p in args.merge_json)
    text = _report(results, args, f"--merge-json {files}", 0.0, {n: 0.0 for n in names})
    text = text.replace("; total 0 s wall (" + ", ".join(f"{n} 0 s" for n in names) + ")",
                        f"; merged from {len(args.merge_json)} saved run file(s)")
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return 1 if any(r.error for r in results) else 0


def _report(results, args, command: str, elapsed: float, done: dict[str, float]) -> str:
    datasets = {k: v for k, v in _DATASETS.items() if k in done}
    header = [
        "# Discovery benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/discovery.py {command}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.node() or 'host'}, "
        f"{os.cpu_count()} cores, {args.jobs} worker(s), seeds 0..{args.seeds - 1}; total {elapsed:.0f} s "
        f"wall (" + ", ".join(f"{k} {v:.0f} s" for k, v in done.items()) + ").  ",
        ("Cells: true anomalies found after k labels, mean ± sd over seeds; median at the budget; "
         "RWS(N) mean over seeds; seconds per update (refit + re-rank) over all updates of all seeds; "
         "total s = wall time summed over seeds. Timings are wall-clock on a shared machine: compare "
         "within one table."),
        "",
    ]
    return "\n".join(header) + summarise(results, datasets, args)


if __name__ == "__main__":
    sys.exit(main())
