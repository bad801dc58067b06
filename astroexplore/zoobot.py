"""Zoobot's posterior outputs turned into expected vote fractions.

Zoobot (Walmsley et al.) saves predictions as HDF5 with three datasets:

- ``predictions``: float, shape (n_galaxies, n_answers, n_passes) or
  (n_galaxies, n_answers, n_passes, n_models): Dirichlet concentrations alpha;
- ``id_str``: (n_galaxies,) strings;
- ``label_cols``: (n_answers,) strings such as ``"smooth-or-featured_smooth"``.

Within each question the expected vote fraction of an answer, for one forward pass, is
alpha / sum(alpha over the question's answers); :func:`read_zoobot_predictions` averages it over
passes (and models) and gives a 90% interval of the answer's vote probability: the 5th and 95th
percentiles of the Beta distribution with the mean and variance of the mixture over passes of the
Dirichlet marginals Beta(alpha, A - alpha) (each pass's Dirichlet spread plus the spread between
passes; with one pass, that pass's Dirichlet alone). A fraction observed from N volunteers
scatters further, by f (1 - f) / N.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from astroexplore.errors import CatalogueError

#: Percentiles of the vote probability reported as ``_fraction_lo`` / ``_fraction_hi``.
INTERVAL = (5.0, 95.0)
_GZ2_ANSWER = re.compile(r"(t\d\d_.+?)_a\d\d_.+")  # t01_smooth_or_features_a01_smooth
_ROWS_PER_BLOCK = 50_000  # galaxies read from the HDF5 at a time (bounded memory)


def group_label_columns(label_cols: Sequence[str], schema: Any = None) -> dict[str, list[int]]:
    """Group answer columns by question.

    Each label column is looked up in the schema (given, or detected from the
    ``"{label}_fraction"`` names with :func:`astroexplore.schemas.detect_schema` when that module
    is available); columns the schema does not know are grouped by their text before the last
    ``"_"`` (``"smooth-or-featured_smooth"`` -> ``"smooth-or-featured"``), or GZ2's
    ``tNN_<question>_aNN_<answer>`` pattern.

    Raises
    ------
    CatalogueError
        A question of the schema with only some of its answers among the columns, or a question
        with a single answer column: the fractions are normalised within a question, so either
        would give wrong fractions (1.0 for a lone answer).

    Parameters
    ----------
    label_cols : sequence of str
        Zoobot's ``label_cols``, one per answer.
    schema : Schema, optional

    Returns
    -------
    dict
        Question name -> indices into ``label_cols`` (in order of first appearance).

    Examples
    --------
    >>> group_label_columns(["bar_strong", "bar_weak", "bar_no", "t09_bulge_a25_rounded",
    ...                      "t09_bulge_a26_boxy", "t09_bulge_a27_none"], schema=None)
    {'bar': [0, 1, 2], 't09_bulge': [3, 4, 5]}
    """
    schemas = [schema] if schema is not None else _known_schemas(label_cols)
    questions = [q for sch in schemas for q in getattr(sch, "questions", ())]
    by_column: dict[str, str] = {}
    for q in questions:
        for a in q.answers:
            by_column.setdefault(a.column, q.name)
    groups: dict[str, list[int]] = {}
    for i, col in enumerate(label_cols):
        question = by_column.get(f"{col}_fraction") or _question_of(col)
        groups.setdefault(question, []).append(i)
    _check_whole_questions(groups, label_cols, questions)
    return groups


def _known_schemas(label_cols: Sequence[str]) -> list:
    """The schema detected from the columns, then every built-in one (none without the module)."""
    try:
        from astroexplore.schemas import builtin_schemas, detect_schema
    except ImportError:
        return []
    detected = detect_schema([f"{c}_fraction" for c in label_cols])
    return ([detected] if detected is not None else []) + builtin_schemas()


def _question_of(column: str) -> str:
    """The question of a label column the schema does not know, from its name."""
    gz2 = _GZ2_ANSWER.fullmatch(column)
    if gz2:
        return gz2.group(1)
    if "_" not in column:
        raise CatalogueError(f"cannot tell which question label column '{column}' belongs "
                             "to (expected '<question>_<answer>').", column=column)
    return column.rsplit("_", 1)[0]


def _check_whole_questions(groups: dict[str, list[int]], label_cols: Sequence[str], questions) -> None:
    """CatalogueError for a question with some answers missing, or with a single answer."""
    for q in questions:  # a group made only of this question's answers must hold all of them
        group = {f"{label_cols[i]}_fraction" for i in groups.get(q.name, ())}
        answers = [a.column for a in q.answers]
        missing = [c.removesuffix("_fraction") for c in answers if c not in group]
        if group and group <= set(answers) and missing:
            raise CatalogueError(f"question '{q.name}' has only some of its answers in 'label_cols' "
                                 f"(missing: {', '.join(missing)}); its fractions would be normalised "
                                 "over the wrong answers.", column="label_cols")
    for name, idx in groups.items():
        if len(idx) < 2:
            raise CatalogueError(f"question '{name}' has a single answer column ('{label_cols[idx[0]]}'), "
                                 "so its fraction would always be 1; give every answer of the question, "
                                 "or a schema that groups the columns.", column=str(label_cols[idx[0]]))


def vote_fractions(concentrations: np.ndarray, groups: dict[str, list[int]], *, interval: bool = True,
                   threads: int | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Expected vote fractions from Dirichlet concentrations.

    Parameters
    ----------
    concentrations : ndarray of shape (n, n_answers, n_samples), float
        Positive concentrations; samples = forward passes x models.
    groups : dict
        Question -> answer indices (:func:`group_label_columns`).
    interval : bool, default True
        Also the 90% interval. It costs most of the time (scipy's Beta quantile), spread over
        every core by threads: ``benchmarks/bench_zoobot.py`` measures it.
    threads : int, optional
        Threads for the interval (default: every core this process may use).

    Returns
    -------
    mean, lo, hi : ndarray of shape (n, n_answers), float32
        Mean over samples of alpha / sum(alpha within the question), and the 5th/95th
        percentiles of the vote probability (see the module docstring: a Beta with the mean and
        variance of the mixture over samples of the Dirichlet marginals); lo and hi are None
        without ``interval``.

    Examples
    --------
    >>> a = np.array([[[1.0, 3.0], [3.0, 1.0]]])  # 1 galaxy, 2 answers, 2 passes
    >>> mean, lo, hi = vote_fractions(a, {"q": [0, 1]})
    >>> mean.tolist()
    [[0.5, 0.5]]
    """
    n, n_answers, _ = concentrations.shape
    m_all, var_all = (np.zeros((n, n_answers)) for _ in range(2))
    for idx in groups.values():
        alpha = concentrations[:, idx, :]
        total = alpha.sum(axis=1, keepdims=True)
        frac = alpha / total
        m_all[:, idx] = frac.mean(axis=2)
        # law of total variance: each sample's Beta variance + the spread of the samples' means
        var_all[:, idx] = (frac * (1 - frac) / (total + 1)).mean(axis=2) + frac.var(axis=2)
    mean = m_all.astype(np.float32)
    if not interval:
        return mean, None, None
    lo, hi = _beta_quantiles(m_all, var_all, INTERVAL, threads)
    return mean, lo.astype(np.float32), hi.astype(np.float32)


#: Fewest rows a thread of :func:`_beta_quantiles` gets (smaller parts cost more than they save).
_ROWS_PER_THREAD = 2_000


def _beta_quantiles(m: np.ndarray, var: np.ndarray, percentiles: tuple[float, float],
                    threads: int | None = None) -> list[np.ndarray]:
    """Percentiles of the Beta distributions with means ``m`` and variances ``var`` (moment match),
    arrays of shape (n, n_answers), computed in row blocks by ``threads`` threads (scipy's ufunc
    releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from astroexplore.torch_utils import available_cores

    threads = min(threads or available_cores(), max(1, len(m) // _ROWS_PER_THREAD))
    if threads <= 1:
        return _beta_quantiles_block(m, var, percentiles)
    bounds = np.linspace(0, len(m), threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda i: _beta_quantiles_block(m[bounds[i]:bounds[i + 1]],
                                                              var[bounds[i]:bounds[i + 1]], percentiles),
                              range(threads)))
    return [np.concatenate([p[k] for p in parts]) for k in range(len(percentiles))]


def _beta_quantiles_block(m: np.ndarray, var: np.ndarray, percentiles: tuple[float, float]):
    """:func:`_beta_quantiles` in the calling thread."""
    from scipy.special import betaincinv

    spread = m * (1 - m)
    k = np.where(var > 0, spread / np.maximum(var, 1e-300) - 1.0, np.inf)
    k = np.maximum(k, 1e-6)  # a mixture's variance is below m (1 - m): k > 0 but for rounding
    with np.errstate(invalid="ignore"):  # inf * 0 where an answer is certain: replaced below
        a, b = (m * k).astype(np.float32), ((1 - m) * k).astype(np.float32)  # float32: 2.6x faster
        out = [betaincinv(a, b, np.float32(p / 100.0)) for p in percentiles]
    # no spread (one answer certain, or var 0): the interval is the mean itself
    return [np.where(np.isfinite(q) & (spread > 0) & np.isfinite(k), q, m) for q in out]


def _strings(values: np.ndarray) -> np.ndarray:
    """HDF5 string data (bytes, str or numbers) as an object array of str."""
    out = np.empty(len(values), dtype=object)
    for i, x in enumerate(values.tolist()):
        out[i] = x.decode("utf-8") if isinstance(x, bytes) else str(x)
    return out


def _dataset(f: Any, name: str, file: str) -> Any:
    if name not in f:
        raise CatalogueError(f"not a Zoobot predictions file: no dataset '{name}' (found "
                             f"{', '.join(map(repr, f.keys())) or 'none'}).", file=file,
                             column=name)
    return f[name]


def _check_concentrations(block: np.ndarray, start: int, labels: np.ndarray, ids: np.ndarray,
                          file: str) -> None:
    bad = ~(np.isfinite(block) & (block > 0))
    rows = np.flatnonzero(bad.any(axis=(1, 2)))
    if len(rows):
        from astroexplore.catalogue import _rows_error

        answer = int(np.flatnonzero(bad[rows[0]].any(axis=1))[0])
        raise _rows_error("a Dirichlet concentration that is not finite and > 0", rows + start,
                          file=file, column=str(labels[answer]), ids=ids)


def read_zoobot_predictions(path: str | Path, schema: Any = None, *, interval: bool = True,
                            threads: int | None = None) -> pd.DataFrame:
    """Read a Zoobot predictions HDF5 as expected vote fractions with a 90% interval.

    Parameters
    ----------
    path : str or Path
        HDF5 file with ``predictions`` (n, answers, passes[, models]), ``id_str``, ``label_cols``.
    schema : Schema, optional
        Groups answers into questions (default: detected; else text before the last ``_``).
    interval : bool, default True
        Add the ``_lo`` / ``_hi`` columns (most of the reading time: :func:`vote_fractions`).
    threads : int, optional
        Threads for the interval (default: every core this process may use).

    Returns
    -------
    DataFrame
        ``id`` (str), then ``"{label}_fraction"`` (float32 in [0, 1]: mean over passes and models of
        alpha / sum(alpha) within the question) for every label, then ``"{label}_fraction_lo"`` and
        ``"{label}_fraction_hi"`` (5th and 95th percentiles of the answer's vote probability: the
        Dirichlet spread of every pass and model and the spread between them; module docstring).

    Raises
    ------
    CatalogueError
        Missing/corrupt file, missing datasets, mismatched shapes, non-positive concentrations,
        missing or duplicate ids.
    Examples
    --------
    >>> import h5py, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "preds.hdf5")
    >>> with h5py.File(path, "w") as f:  # 1 galaxy, 2 answers, 2 forward passes
    ...     _ = f.create_dataset("predictions", data=[[[1.0, 3.0], [3.0, 1.0]]])
    ...     _ = f.create_dataset("id_str", data=[b"g1"])
    ...     _ = f.create_dataset("label_cols", data=[b"bar_yes", b"bar_no"])
    >>> df = read_zoobot_predictions(path)
    >>> [round(float(df[c].iat[0]), 3) for c in ("bar_yes_fraction", "bar_yes_fraction_hi")]
    [0.5, 0.975]
    """
    import h5py

    from astroexplore.catalogue import _check_exists, _check_ids, _ids_from_sequence

    path = Path(path)
    file = str(path)
    _check_exists(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise CatalogueError(f"cannot read as HDF5: {err}", file=file) from None
    with f:
        pred = _dataset(f, "predictions", file)
        ids = _ids_from_sequence(_dataset(f, "id_str", file)[()])
        labels = _strings(_dataset(f, "label_cols", file)[()])
        if pred.ndim not in (2, 3, 4) or pred.shape[0] != len(ids) or pred.shape[1] != len(labels):
            raise CatalogueError(f"'predictions' has shape {pred.shape}; expected ({len(ids)} "
                                 f"galaxies, {len(labels)} answers, passes[, models]) to match "
                                 "'id_str' and 'label_cols'.", file=file, column="predictions")
        _check_ids(ids, "id_str", file)
        groups = group_label_columns(list(labels), schema)
        parts = []
        for start in range(0, len(ids), _ROWS_PER_BLOCK):
            block = np.asarray(pred[start:start + _ROWS_PER_BLOCK], dtype=np.float64)
            block = block.reshape(block.shape[0], block.shape[1], -1)
            _check_concentrations(block, start, labels, ids, file)
            parts.append(vote_fractions(block, groups, interval=interval, threads=threads))
    suffixes = ("_fraction", "_fraction_lo", "_fraction_hi") if interval else ("_fraction",)
    columns = {"id": ids.to_pandas()}
    for k, suffix in enumerate(suffixes):
        values = (np.concatenate([p[k] for p in parts]) if parts
                  else np.empty((0, len(labels)), np.float32))
        columns.update({f"{label}{suffix}": values[:, j] for j, label in enumerate(labels)})
    return pd.DataFrame(columns)
