"""Fast checks of benchmarks/real_data.py's helpers (the benchmark itself takes minutes)."""
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

from benchmarks import real_data  # noqa: E402


def test_unique_images_drops_copies_not_lookalikes():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (6, 3, 64, 64)).astype(np.uint8)
    x[3] = x[0]                                                     # exact copy
    x[4] = np.clip(x[1] + rng.normal(0, 3, x[1].shape), 0, 255)     # re-compressed copy
    x[5] = np.clip(0.5 * x[2] + 0.5 * x[0], 0, 255)                 # a blend: alike, not a copy
    keep = real_data.unique_images(x)
    assert keep.tolist() == [True, True, True, False, False, True]


def test_tag_query_counts_tagged_neighbours():
    # two tight clusters: 4 tagged points near (1, 0), 20 others near (0, 1)
    rng = np.random.default_rng(1)
    X = np.vstack([[1, 0] + rng.normal(0, 0.01, (4, 2)), [0, 1] + rng.normal(0, 0.01, (20, 2))])
    answers = np.array(["Ring"] * 4 + ["Smooth"] * 20)
    # 3 tagged query points leave 1 tagged among the 10 nearest of the rest
    assert real_data.tag_query(X, answers, {"Ring"}, n_query=3, k=10, repeats=5) == pytest.approx(0.1)


def test_scoreboard_names_the_leader_of_each_figure():
    df = pd.DataFrame({"representation": ["pixel PCA", "morphology", "ours (a)", "ours (b)"],
                       "purity": [0.6, 0.7, 0.65, 0.72], "recall": [0.3, 0.1, 0.2, 0.25],
                       "head": ["x"] * 4})
    board = real_data.scoreboard({"gz1": df}).set_index("figure")
    assert board.loc["purity", "ours leads"] == "yes" and board.loc["purity", "best of ours"] == "ours (b)"
    assert board.loc["recall", "ours leads"] == "no" and board.loc["recall", "baseline"] == 0.3
    assert "head" not in board.index
