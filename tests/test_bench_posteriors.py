"""Fast checks of benchmarks/bench_posteriors.py's scoring (the benchmark itself takes minutes)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
pytest.importorskip("torch")

from benchmarks import bench_posteriors as bp  # noqa: E402
from benchmarks.real_data import markdown_table  # noqa: E402


def _votes(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    p = 1 / (1 + np.exp(-X[:, 0]))  # the fraction depends on the first feature
    table = pd.DataFrame({"q_yes_fraction": p, "q_no_fraction": 1 - p,
                          "rare_yes_fraction": np.where(np.arange(n) < 20, 0.5, np.nan)})
    return X, table, np.arange(300), np.arange(300, n)


def test_answer_table_scores_predictions_against_held_out_fractions():
    X, table, train, test = _votes()
    truth = table[["q_yes_fraction", "q_no_fraction"]].to_numpy()[test]
    cols = ["q_yes_fraction", "q_no_fraction", "q_yes_fraction_rest", "rare_yes_fraction"]
    mean = np.column_stack([truth, 1 - truth[:, 0], np.full(len(test), 0.5)])
    std = np.column_stack([np.abs(np.random.default_rng(1).normal(size=(len(test), 4)))])
    res = bp.answer_table(mean, std, cols, table, X, train, test).set_index("answer")
    # "_rest" columns are the schema's own complements, and answers with < 30 held-out fractions are left out
    assert list(res.index) == ["q_yes", "q_no"]
    assert np.allclose(res["mae"], 0) and np.allclose(res["corr"], 1)
    assert (res["n_held_out"] == len(test)).all()
    # ridge on X (which holds the signal) beats the training mean, and is scored on the same galaxies
    assert (res["mae_ridge"] < 0.5 * res["mae_constant"]).all()
    const = abs(table["q_yes_fraction"].to_numpy()[train].mean() - truth[:, 0]).mean()
    assert res.loc["q_yes", "mae_constant"] == pytest.approx(const)
    # a wrong prediction shows as error, and a spread that tracks the error as positive correlation
    bad = mean.copy()
    bad[:, 0] = np.clip(truth[:, 0] + np.linspace(-0.3, 0.3, len(test)), 0, 1)
    std[:, 0] = np.abs(bad[:, 0] - truth[:, 0])
    res = bp.answer_table(bad, std, cols, table, X, train, test).set_index("answer")
    assert res.loc["q_yes", "mae"] > 0.1 and res.loc["q_yes", "std_vs_error_corr"] > 0.99
    assert res.loc["q_yes", "within_1std"] == 1.0  # every error is within its std (std == |error|)
    std[:, 0] = 0.5 * np.abs(bad[:, 0] - truth[:, 0])
    res = bp.answer_table(bad, std, cols, table, X, train, test).set_index("answer")
    assert res.loc["q_yes", "within_1std"] < 0.05  # only the exact predictions (error 0) are within
    # the binomial scatter of N volunteers widens the interval: with N = 1 it holds most errors here
    res = bp.answer_table(bad, std, cols, table, X, train, test, volunteers=1).set_index("answer")
    assert res.loc["q_yes", "within_1std_votes"] > 0.8 and res.loc["q_yes", "within_1std"] < 0.05


def test_markdown_table_formats_floats_and_blanks_missing():
    text = markdown_table(pd.DataFrame({"a": ["x", "y"], "b": [0.12345, np.nan]}), digits=2)
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x | 0.12 |", "| y |  |"]
