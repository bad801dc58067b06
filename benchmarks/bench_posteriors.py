"""How good are the encoder's vote posteriors? A held-out check on the demo survey's simulated votes.

Usage: python benchmarks/bench_posteriors.py [--n 6000] [--test 1000] [--epochs 20] [--seed 0]
                                             [--modes hybrid supervised] [--out DIR]

Generates the demo survey (``make_demo_catalogue``: rendered 64 px images and simulated GZ DECaLS
votes, 34 answers of 10 questions), trains our encoder on the first ``n - test`` galaxies in each
mode that learns votes (``hybrid``: contrastive + votes + distilled features, what
``astroexplore embed`` does on a table with vote columns; ``supervised``: votes only) and, on the
``test`` held-out galaxies, for every answer with at least 30 held-out fractions, compares the
predicted expected fraction (mean of 10 MC-dropout passes) with the simulated vote fraction:

* MAE, beside two baselines fitted on the same training galaxies: the training mean (a constant)
  and ridge regression from the demo's own 40-d embedding (pixel PCA + morphology features,
  ``features.combined_features``) to that fraction;
* Pearson correlation of predicted and simulated fractions;
* whether the predicted standard deviation (Dirichlet spread plus MC-dropout spread,
  ``Encoder.predict_posteriors``) says which predictions are wrong: its correlation, over
  galaxies, with the absolute error, and the share of errors within one standard deviation
  (0.68 for a calibrated Gaussian error). That spread is of the volunteers' vote probability; an
  observed fraction also scatters around it by f (1 - f) / N for N volunteers, so the table also
  gives the share within the two combined (N = 40, the demo's volunteers per galaxy: right for the
  first question, which all of them answer; later questions have fewer).

The simulated fractions are noisy by design (35-45 volunteers, fewer down the tree, who disagree:
Dirichlet concentration 20), so even the true answer probabilities would not reach MAE 0.
Real Galaxy Zoo votes with images are not in ../shared/data (decals_rings has three predicted
fractions with a spread of 0.05-0.10), hence the demo.
"""
from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.real_data import markdown_table  # noqa: E402  (after the path set-up)

MIN_HELD_OUT = 30


def ridge_predictions(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Ridge (alpha by leave-one-out CV) from standardised ``X`` to ``y`` on finite training rows.

    Returns predictions for ``test`` rows, clipped to [0, 1].
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ok = train[np.isfinite(y[train])]
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12))).fit(X[ok], y[ok])
    return np.clip(model.predict(X[test]), 0.0, 1.0)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, NaN where either side is constant (an untrained head, exact predictions)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def answer_table(pred_mean: np.ndarray, pred_std: np.ndarray, pred_columns: list[str], table: pd.DataFrame,
                 X: np.ndarray, train: np.ndarray, test: np.ndarray, volunteers: float | None = None) -> pd.DataFrame:
    """One row per answer with >= MIN_HELD_OUT finite held-out fractions (see the module docstring).

    With ``volunteers`` (N), also the share of errors within ``sqrt(std^2 + f (1 - f) / N)``: the
    predicted spread of the vote probability plus the binomial scatter of N volunteers' fraction
    around it, which an observed fraction has and the probability has not.
    """
    rows = []
    for j, col in enumerate(pred_columns):
        if col not in table.columns:  # the "_rest" complement the schema adds to one-answer questions
            continue
        y = table[col].to_numpy(float)
        ok = np.isfinite(y[test])
        if ok.sum() < MIN_HELD_OUT:
            continue
        truth, pred = y[test][ok], pred_mean[ok, j]
        err = np.abs(pred - truth)
        ridge = ridge_predictions(X, y, train, test)[ok]
        rows.append({"answer": col.removesuffix("_fraction"), "n_held_out": int(ok.sum()),
                     "mae": err.mean(), "mae_constant": np.abs(np.nanmean(y[train]) - truth).mean(),
                     "mae_ridge": np.abs(ridge - truth).mean(),
                     "corr": _corr(pred, truth), "corr_ridge": _corr(ridge, truth),
                     "std_vs_error_corr": _corr(pred_std[ok, j], err),
                     "within_1std": float((err <= pred_std[ok, j]).mean())})
        if volunteers:
            with_votes = np.sqrt(pred_std[ok, j] ** 2 + pred * (1 - pred) / volunteers)
            rows[-1]["within_1std_votes"] = float((err <= with_votes).mean())
    return pd.DataFrame(rows)


def first_question(res: pd.DataFrame, column: str) -> float:
    """Mean of ``column`` over the answers of the tree's first question (asked of every volunteer)."""
    first = res["answer"].str.startswith("smooth-or-featured_")
    return float(res.loc[first, column].mean()) if first.any() and column in res else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000, help="demo galaxies (default 6000)")
    parser.add_argument("--test", type=int, default=1000, help="held-out galaxies, the last ones (default 1000)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="demo survey and training seed")
    parser.add_argument("--modes", nargs="+", default=["hybrid", "supervised"], choices=["hybrid", "supervised"])
    parser.add_argument("--out", default=None, help="folder for the demo survey (default: a temporary one)")
    args = parser.parse_args(argv)

    from astroexplore.catalogue import load_catalogue
    from astroexplore.demo.make import image_store_path, make_demo_catalogue
    from astroexplore.demo.survey import simulate_votes
    from astroexplore.encoder import train_encoder

    # the demo's mean number of volunteers per galaxy (all of them answer the first question)
    volunteers = inspect.signature(simulate_votes).parameters["n_volunteers"].default
    out = Path(args.out or tempfile.mkdtemp(prefix="astroexplore-bench-posteriors-"))
    path = make_demo_catalogue(out, n=args.n, seed=args.seed, progress=False)
    cat = load_catalogue(path)
    images = np.load(image_store_path(path), mmap_mode="r")
    table = cat.table
    vote_cols = [c for c in table.columns if str(c).endswith("_fraction")]
    train, test = np.arange(args.n - args.test), np.arange(args.n - args.test, args.n)
    print(f"demo survey: {args.n} galaxies ({path}); training on {len(train)}, held out {len(test)}; "
          f"{args.epochs} epochs", flush=True)
    summary = []
    for mode in args.modes:
        t0, c0 = time.perf_counter(), time.process_time()
        enc = train_encoder(np.asarray(images[train]), mode=mode, votes=table[vote_cols].iloc[train].reset_index(drop=True),
                            targets="features" if mode == "hybrid" else None, epochs=args.epochs,
                            progress=False, seed=args.seed)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        mean, std = enc.predict_posteriors(np.asarray(images[test]), n_samples=10)
        res = answer_table(mean, std, enc.vote_columns, table, cat.embeddings, train, test, volunteers=volunteers)
        print(f"\n## {mode} ({wall:.0f} s wall, {cpu:.0f} s CPU)\n")
        print(markdown_table(res), flush=True)
        summary.append({"model": f"our encoder, {mode}", "answers": len(res), "MAE": res["mae"].mean(),
                        "corr": res["corr"].mean(), "std vs abs error corr": res["std_vs_error_corr"].mean(),
                        "abs error within 1 std": res["within_1std"].mean(),
                        "within 1 std + vote scatter, first question": first_question(res, "within_1std_votes"),
                        "train wall s": wall})
    summary += [{"model": "ridge on the demo's embedding", "answers": len(res), "MAE": res["mae_ridge"].mean(),
                 "corr": res["corr_ridge"].mean()},
                {"model": "training mean (constant)", "answers": len(res), "MAE": res["mae_constant"].mean()}]
    print("\n## Mean over answers\n")
    print(markdown_table(pd.DataFrame(summary), digits=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
