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
    draws = real_data.tag_query(X, answers, {"Ring"}, n_query=3, k=10, repeats=3)
    assert draws.shape == (3,) and draws == pytest.approx(0.1)
    # 4 tagged points make only 4 sets of 3: each is used once, not redrawn
    every = real_data.tag_query(X, answers, {"Ring"}, n_query=3, k=10, repeats=50)
    assert every.shape == (4,) and every == pytest.approx(0.1)


def test_scoreboard_names_the_leader_of_each_figure():
    df = pd.DataFrame({"representation": ["pixel PCA", "morphology", "ours (a)", "ours (b)"],
                       "purity": [0.6, 0.7, 0.65, 0.72], "recall": [0.3, 0.1, 0.2, 0.25],
                       "head": ["x"] * 4})
    board = real_data.scoreboard({"gz1": df}).set_index("figure")
    assert board.loc["purity", "ours is"] == "ahead" and board.loc["purity", "best of ours"] == "ours (b)"
    assert board.loc["recall", "ours is"] == "behind" and board.loc["recall", "baseline"] == 0.3
    assert board.loc["recall", "difference"] == pytest.approx(-0.05)
    assert "head" not in board.index


def test_scoreboard_calls_a_difference_within_two_standard_errors_level():
    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.1, 400)
    samples = {"s": {"pixel": {"small": base, "large": base},
                     "ours": {"small": base + rng.normal(0.002, 0.05, 400),   # SE ~0.0025
                              "large": base + rng.normal(0.03, 0.05, 400)}}}
    df = pd.DataFrame([{"representation": r, **{k: float(np.mean(v)) for k, v in f.items()}}
                       for r, f in samples["s"].items()])
    board = real_data.scoreboard({"s": df}, samples).set_index("figure")
    assert board.loc["small", "ours is"] == "level" and board.loc["large", "ours is"] == "ahead"
    assert board.loc["large", "SE"] == pytest.approx(0.05 / np.sqrt(400), rel=0.2)
    assert real_data.tally(board.reset_index()) == ("Ours is ahead on 1 of the 2 figures, level (within "
                                                    "2 SE) on 1, behind on 0.")


def test_the_committed_scoreboards_state_their_own_tally():
    """The sentence under each committed scoreboard is the count of its verdicts (a hand count
    said 8 / 8 / 1 of a table that holds 7 / 9 / 1)."""
    for name in ("real_data.md", "real_data_gpu.md"):
        text = (ROOT / "benchmarks" / "results" / name).read_text()
        rows = [line.split("|")[1:-1] for line in text.splitlines()
                if line.startswith(("| gz1 |", "| rings |", "| examples |"))]
        board = pd.DataFrame({"ours is": [r[-1].strip() for r in rows]})
        assert len(board) == 17 and f"**{real_data.tally(board)}**" in text, name


def test_purity_samples_average_to_the_class_figures():
    rng = np.random.default_rng(2)
    classes = np.array(["elliptical", "edge_on", "spiral_clockwise", "spiral_anticlockwise", "merger"])
    labels = rng.choice(classes, 300, p=[0.4, 0.2, 0.15, 0.15, 0.1])
    centre = {c: rng.normal(0, 1, 5) for c in classes}
    X = np.stack([centre[c] for c in labels]) + rng.normal(0, 1.5, (300, 5))
    s = real_data.knn_purity(X, labels, k=10)
    nn = real_data.knn_indices(X, 10)
    per = (labels[nn] == labels[:, None]).mean(1)
    assert s["purity"].mean() == pytest.approx(per.mean())
    assert s["macro"].mean() == pytest.approx(np.mean([per[labels == c].mean() for c in classes]))
    assert s["merger"].mean() == pytest.approx(per[labels == "merger"].mean())
    spiral = np.char.startswith(labels, "spiral")
    assert s["spiral_any"].mean() == pytest.approx(spiral[nn][spiral].mean())
    assert len(s["purity"]) == 300 and len(s["merger"]) == (labels == "merger").sum()


def test_iforest_recall_samples_are_per_anomaly():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0, 1, (500, 4)), rng.normal(6, 0.5, (10, 4))])
    is_anom = np.r_[np.zeros(500, bool), np.ones(10, bool)]
    s = real_data.iforest_recall(X, is_anom, ns=(10, 100), repeats=2)
    assert s["iforest recall@10"].shape == (10,)
    assert s["iforest recall@100"].mean() == pytest.approx(1.0) and s["iforest recall@10"].mean() > 0.5


def test_mean_samples_averages_seeds_element_by_element():
    runs = [{"a": np.array([0.0, 1.0])}, {"a": np.array([1.0, 1.0])}]
    assert real_data.mean_samples(runs)["a"].tolist() == [0.5, 1.0]
    assert real_data.figures(real_data.mean_samples(runs)) == {"a": 0.75}


def test_checkpoint_names_carry_every_setting_that_changes_the_encoder():
    """A cached encoder is only reused for the same width, views, weight, epochs and seed."""
    def names(*argv):
        args = real_data.build_parser().parse_args(list(argv))
        tags = [tag for sp in real_data.gz1_specs(args).values() for _, tag in sp["runs"]]
        return tags + [real_data._checkpoint_tag("rings", "distilled", "features", args, args.small_epochs)]

    default = names()
    assert len(set(default)) == len(default) == 1 + 3 + 1            # plain, 3 distilled seeds, small set
    assert all(f"_width{real_data.DEFAULT_WIDTH}_" in t for t in default)
    for other in (["--width", "16"], ["--epochs", "20"], ["--target-weight", "5"], ["--small-epochs", "50"]):
        changed = names(*other)
        assert set(changed) != set(default), other
    assert not set(names("--width", "16")) & set(default)


def test_the_training_jobs_are_the_checkpoints_main_reads():
    """train_real_data_encoders.py trains real_data.training_jobs on a GPU; main() must then find
    every one under the name it reads and train nothing (same settings as its own calls)."""
    args = real_data.build_parser().parse_args(["--epochs", "7", "--small-epochs", "9", "--seeds", "2"])
    jobs = real_data.training_jobs(args)
    gz1 = [tag for sp in real_data.gz1_specs(args).values() for _, tag in sp["runs"]]
    small = [sp["tag"] for prefix, votes in (("rings", True), ("examples", False))
             for sp in real_data.small_specs(prefix, args, votes=votes)]
    assert [j["tag"] for j in jobs] == gz1 + small and len(jobs) == 3 + 3 + 2
    by_tag = {j["tag"]: j for j in jobs}
    assert [t for t, j in by_tag.items() if j["votes"]] == [t for t in small if t.startswith("rings_hybrid")]
    assert all(by_tag[t]["settings"]["epochs"] == 7 and by_tag[t]["settings"]["crop"] == real_data.GZ1_CROP
               for t in gz1)
    assert all(by_tag[t]["settings"]["epochs"] == 9 and by_tag[t]["settings"]["batch_size"] == real_data.SMALL_BATCH
               for t in small)
    assert gz1[2].endswith("_e7_s1") and small[0] == "rings_contrastive_width24_e9"


def test_first_seed_names_new_checkpoints_and_the_seed_table_says_which():
    """--first-seed 3 trains seeds 3, 4, 5 under names of their own (a replication on seeds that
    chose nothing), and the per-seed table numbers them as trained."""
    args = real_data.build_parser().parse_args(["--first-seed", "3"])
    runs = real_data.gz1_specs(args)["ours (contrastive + distilled features)"]["runs"]
    default = real_data.gz1_specs(real_data.build_parser().parse_args([]))
    assert [s for s, _ in runs] == [3, 4, 5]
    assert all(tag.endswith(f"_s{s}") for s, tag in runs)
    assert not {t for _, t in runs} & {t for sp in default.values() for _, t in sp["runs"]}
    table = real_data.seed_table({"x": [{"a": 0.1}, {"a": 0.2}]}, first_seed=3)
    assert table["seed"].tolist() == [3, 4]


def test_transfer_variant_reads_its_variants_and_refuses_others():
    from benchmarks import transfer_variant

    assert transfer_variant.parse_variant("adabn") == ("adabn", None)
    assert transfer_variant.parse_variant("crop=1.0") == ("crop", 1.0)
    for bad in ("crop=0", "crop=1.5", "crop=x", "crop", "tta"):
        with pytest.raises(SystemExit, match="adabn' or 'crop=F"):
            transfer_variant.parse_variant(bad)
