"""The discovery benchmark's harness and peer strategies (benchmarks/discovery.py, peers.py).

Small and fast: a 300-row synthetic set with planted anomalies, formulas against direct
computations, and a one-dataset CLI run.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import discovery, peers


class OracleStrategy(peers.Strategy):
    """Knows the truth: ranks true anomalies first (an upper bound for the harness)."""

    name = "oracle"

    def __init__(self, truth):
        self.truth = np.asarray(truth, dtype=np.float64)

    def fit_prior(self, X, seed=0):
        return self

    def update(self, labelled_idx, labels):
        self.calls = getattr(self, "calls", 0) + 1

    def scores(self):
        return self.truth


@pytest.fixture(scope="module")
def planted() -> discovery.Dataset:
    """300 rows: 290 Gaussian inliers in 4-D, 10 anomalies planted far away (rows 0, 30, ...)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    anomalies = np.arange(0, 300, 30)
    X[anomalies] += 8.0
    truth = np.zeros(300, dtype=bool)
    truth[anomalies] = True
    return discovery.binary_dataset("planted", X, truth, budget=30)


# ------------------------------------------------------------------ the harness
def test_oracle_finds_every_planted_anomaly_first(planted):
    for protocol in ("greedy", "batch"):
        res = discovery.simulate(OracleStrategy(planted.is_anomaly), planted, seed=0, budget=30,
                                 protocol=protocol)
        assert res.error is None
        assert res.found(10) == 10 and res.found(30) == 10
        assert len(res.queried) == 30 and len(set(res.queried)) == 30  # never re-queries
        assert res.rws(10) == 1.0
        # greedy: one update per label after the first; batch: one per batch of 10 after the start
        assert len(res.update_seconds) == (29 if protocol == "greedy" else 2)


def test_update_receives_all_labels_so_far_in_query_order(planted):
    seen = []

    class Recorder(OracleStrategy):
        def update(self, labelled_idx, labels):
            seen.append((np.array(labelled_idx), np.array(labels)))

    discovery.simulate(Recorder(planted.is_anomaly), planted, seed=0, budget=25, protocol="batch")
    assert [len(i) for i, _ in seen] == [10, 20]
    idx, labels = seen[-1]
    np.testing.assert_array_equal(labels, planted.oracle[idx])
    assert set(np.unique(labels)) <= {0.0, 5.0}


def test_isolation_forest_finds_far_planted_anomalies(planted):
    res = discovery.simulate(peers.IsolationForestStrategy(), planted, seed=0, budget=10)
    assert res.found(10) >= 9


def test_rank_weighted_score_known_case():
    # N = 4: weights 4, 3, 2, 1 over 10; hits at positions 0 and 2 -> (4 + 2) / 10
    assert discovery.rank_weighted_score([1, 0, 1, 0, 1], 4) == pytest.approx(0.6)
    assert discovery.rank_weighted_score([1, 1, 1], 3) == 1.0
    assert discovery.rank_weighted_score([], 5) == 0.0
    # fewer queries than N count as misses
    assert discovery.rank_weighted_score([1], 2) == pytest.approx(2 / 3)


def test_top_unlabelled_skips_labelled_and_breaks_ties_by_row():
    scores = np.array([3.0, 9.0, 9.0, 1.0, 9.0, np.nan])
    labelled = np.array([False, True, False, False, False, False])
    np.testing.assert_array_equal(peers.top_unlabelled(scores, labelled, 3), [2, 4, 0])
    np.testing.assert_array_equal(peers.top_unlabelled(scores, labelled, 99), [2, 4, 0, 3, 5])
    assert peers.top_unlabelled(scores, np.ones(6, bool), 2).size == 0


# ------------------------------------------------------------------ peer formulas
def test_neighbour_score_formula_against_direct_computation():
    rng = np.random.default_rng(1)
    s = rng.uniform(0, 5, 50)
    u = rng.uniform(-0.5, 5.5, 50)   # the regression can stray outside 0-5: clipped
    d = rng.uniform(0, 3, 50)
    got = peers.neighbour_score(s, u, d, alpha=1.0)
    mean_d = d.mean()
    for i in range(50):
        ui = min(max(u[i], 0.0), 5.0)
        f_u = 0.1 + 0.85 * ui / 5.0
        want = s[i] * math.tanh(math.exp(d[i] / mean_d) - 1.0 + math.atanh(f_u))
        assert got[i] == pytest.approx(want, rel=1e-12)
    # on a labelled point (d = 0) the score is s * f_u: a label of 0 keeps 10 % of s
    assert peers.neighbour_score(np.array([5.0, 1.0]), np.array([0.0, 1.0]),
                                 np.array([0.0, 1.0]))[0] == pytest.approx(0.5)


def test_neighbour_score_strategy_matches_astronomaly_steps(planted):
    from scipy.spatial.distance import cdist
    from sklearn.ensemble import IsolationForest, RandomForestRegressor

    X = planted.X
    strategy = peers.NeighbourScoreStrategy().fit_prior(X, seed=3)
    raw = -IsolationForest(random_state=3, n_jobs=1).fit(X).decision_function(X)
    s = 5 * (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(strategy.scores(), s)
    idx = np.array([0, 1, 2, 30, 60])
    y = planted.oracle[idx]
    strategy.update(idx, y)
    u = RandomForestRegressor(n_estimators=100, random_state=3, n_jobs=1).fit(X[idx], y).predict(X)
    d = cdist(X, X[idx]).min(axis=1)
    want = s * np.tanh(np.exp(d / d.mean()) - 1 + np.arctanh(0.1 + 0.85 * u / 5))
    np.testing.assert_allclose(strategy.scores(), want, rtol=1e-10)


def test_expected_improvement_formula():
    from scipy.stats import norm

    mu, sd, best, xi = np.array([1.0, 3.0]), np.array([0.5, 2.0]), 2.0, 0.5
    z = (mu - best - xi) / sd
    want = (mu - best - xi) * norm.cdf(z) + sd * norm.pdf(z)
    np.testing.assert_allclose(peers.expected_improvement(mu, sd, best, xi), want)


def test_scale_scores_is_astronomaly_score_converter():
    np.testing.assert_allclose(peers.scale_scores(np.array([2.0, 4.0, 3.0])), [0.0, 5.0, 2.5])
    assert (peers.scale_scores(np.ones(3)) == 0).all()


# ------------------------------------------------------------------ peers run end to end
@pytest.mark.parametrize("name", ["gp_ei", "gp_ei_matern", "neighbour_score"])
def test_learning_peers_run_and_learn(planted, name):
    res = discovery.simulate(peers.make_peer(name), planted, seed=0, budget=30, protocol="batch")
    assert res.error is None and len(res.queried) == 30
    assert res.found(30) >= 8


@pytest.mark.parametrize("name", ["aadforest", "pineforest"])
def test_coniferest_peers(planted, name):
    pytest.importorskip("coniferest", reason="coniferest not installed (pip install 'astroexplore[peers]')")
    from coniferest.label import Label

    np.testing.assert_array_equal(peers._coniferest_labels(np.array([0, 2, 3, 5]), 3.0),
                                  [Label.REGULAR, Label.REGULAR, Label.ANOMALY, Label.ANOMALY])
    res = discovery.simulate(peers.make_peer(name), planted, seed=0, budget=20)
    assert res.error is None
    assert res.found(20) >= 9   # far, isolated anomalies: any forest finds them


def test_make_peer_suggests_a_name():
    with pytest.raises(ValueError, match="Did you mean 'aadforest'"):
        peers.make_peer("aadforrest")


# ------------------------------------------------------------------ datasets and CLI
@pytest.mark.shared_data
def test_anomaly_benchmark_loader(shared_data):
    thyroid = discovery.load_anomaly_benchmark("ann_thyroid_1v3",
                                               folder=shared_data / "anomaly_benchmarks")
    assert thyroid.X.shape == (3251, 21) and thyroid.is_anomaly.sum() == 73
    assert thyroid.budget == 100
    np.testing.assert_allclose(thyroid.X.mean(axis=0), 0, atol=1e-9)
    mammo = discovery.load_anomaly_benchmark("mammography", folder=shared_data / "anomaly_benchmarks")
    assert mammo.X.shape == (11183, 6) and mammo.is_anomaly.sum() == 260   # "ground.truth" column


def test_non_anomalous_outliers_dataset():
    pytest.importorskip("coniferest", reason="coniferest not installed")
    ds = discovery.load_non_anomalous_outliers()
    assert ds.n == 1024 + 3 * 32 and ds.is_anomaly.sum() == 32
    assert set(np.unique(ds.oracle)) == {0.0, 5.0}


def test_catalogue_dataset_graded_oracle():
    import pandas as pd

    class FakeCatalogue:
        table = pd.DataFrame({"id": ["a", "b", "c"], "truth_interest": [0, 4, 5],
                              "truth_anomaly": ["none", "ring", "none"]})
        embeddings = np.arange(6, dtype=np.float32).reshape(3, 2)
        n_galaxies, n_features = 3, 2

    ds = discovery.catalogue_dataset(FakeCatalogue(), name="fake", truth_column="truth_interest",
                                     anomaly_column="truth_anomaly")
    np.testing.assert_array_equal(ds.oracle, [0, 4, 5])
    np.testing.assert_array_equal(ds.is_anomaly, [False, True, False])
    ds = discovery.catalogue_dataset(FakeCatalogue(), name="fake", truth_column="truth_anomaly",
                                     anomaly_values=["ring"])
    np.testing.assert_array_equal(ds.oracle, [0, 5, 0])


def test_cli_writes_markdown_tables(tmp_path):
    pytest.importorskip("coniferest", reason="coniferest not installed")
    out = tmp_path / "results.md"
    rc = discovery.main(["--datasets", "non_anomalous_outliers", "--methods", "iforest", "pineforest",
                         "--seeds", "2", "--budget", "20", "--jobs", "1", "--out", str(out),
                         "--json", str(tmp_path / "runs.json")])
    assert rc == 0
    text = out.read_text()
    assert "### non_anomalous_outliers (greedy, budget 20" in text
    assert "### non_anomalous_outliers (batch, budget 20" in text
    assert "| pineforest |" in text and "found@10" in text and "RWS(20)" in text
    # a second invocation re-runs one method; --merge-json tabulates both, the later run winning
    rc = discovery.main(["--datasets", "non_anomalous_outliers", "--methods", "iforest",
                         "--seeds", "1", "--budget", "10", "--protocol", "greedy", "--jobs", "1",
                         "--json", str(tmp_path / "again.json")])
    merged = tmp_path / "merged.md"
    assert discovery.main(["--merge-json", str(tmp_path / "runs.json"), str(tmp_path / "again.json"),
                           "--out", str(merged)]) == 0
    runs = discovery.load_runs([tmp_path / "runs.json", tmp_path / "again.json"])
    seed0 = [r for r in runs if (r.protocol, r.method, r.seed) == ("greedy", "iforest", 0)]
    assert len(runs) == 8 and len(seed0) == 1 and len(seed0[0].queried) == 10
    text = merged.read_text()
    assert "merged from 2 saved run file(s)" in text and "| pineforest |" in text
    assert "### non_anomalous_outliers (batch, budget 20" in text


# ------------------------------------------------------------------ ours, through the Explorer
def test_ours_runs_through_the_explorer(planted):
    pytest.importorskip("astroexplore.explorer", reason="astroexplore.explorer not written yet")
    pytest.importorskip("torch")
    strategy = discovery.AstroexploreStrategy("combined")
    res = discovery.simulate(strategy, planted, seed=0, budget=20, protocol="batch")
    assert res.error is None, res.error
    assert len(set(res.queried)) == 20
    assert res.found(20) >= 8
