"""Zoobot's posterior outputs turned into expected vote fractions.

Zoobot (Walmsley et al.) saves predictions as HDF5 with three datasets:

- ``predictions``: float, shape (n_galaxies, n_answers, n_passes) or
  (n_galaxies, n_answers, n_passes, n_models): Dirichlet concentrations alpha;
- ``id_str``: (n_galaxies,) strings;
- ``label_cols``: (n_answers,) strings such as ``"smooth-or-featured_smooth"``.

Within each question the expected vote fraction of an answer, for one forward pass, is
alpha / sum(alpha over the question's answers); :func:`read_zoobot_predictions` averages it over
passes (and models) and gives the 5th/95th percentiles as a 90% interval.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from astroexplore.errors import CatalogueError

#: Percentiles of the per-pass fractions reported as ``_fraction_lo`` / ``_fraction_hi``.
INTERVAL = (5.0, 95.0)
_ROWS_PER_BLOCK = 50_000  # galaxies read from the HDF5 at a time (bounded memory)


def group_label_columns(label_cols: Sequence[str], schema: Any = None) -> dict[str, list[int]]:
    """Group answer columns by question.

    Each label column is looked up in the schema (given, or detected from the
    ``"{label}_fraction"`` names with :func:`astroexplore.schemas.detect_schema` when that module
    is available); columns the schema does not know are grouped by their text before the last
    ``"_"`` (``"smooth-or-featured_smooth"`` -> ``"smooth-or-featured"``).

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
    >>> group_label_columns(["smooth-or-featured_smooth", "smooth-or-featured_featured-or-disk",
    ...                      "disk-edge-on_yes", "disk-edge-on_no"], schema=None)
    {'smooth-or-featured': [0, 1], 'disk-edge-on': [2, 3]}
    """
    if schema is None:
        from astroexplore.catalogue import _resolve_schema

        schema = _resolve_schema("auto", [f"{c}_fraction" for c in label_cols])
    by_column = {a.column: q.name for q in getattr(schema, "questions", ()) for a in q.answers}
    groups: dict[str, list[int]] = {}
    for i, col in enumerate(label_cols):
        question = by_column.get(f"{col}_fraction")
        if question is None:
            if "_" not in col:
                raise CatalogueError(f"cannot tell which question label column '{col}' belongs "
                                     "to (expected '<question>_<answer>').", column=col)
            question = col.rsplit("_", 1)[0]
        groups.setdefault(question, []).append(i)
    return groups


def vote_fractions(concentrations: np.ndarray, groups: dict[str, list[int]],
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected vote fractions from Dirichlet concentrations.

    Parameters
    ----------
    concentrations : ndarray of shape (n, n_answers, n_samples), float
        Positive concentrations; samples = forward passes x models.
    groups : dict
        Question -> answer indices (:func:`group_label_columns`).

    Returns
    -------
    mean, lo, hi : ndarray of shape (n, n_answers), float32
        Mean over samples of alpha / sum(alpha within the question), and its 5th/95th
        percentiles over samples.

    Examples
    --------
    >>> a = np.array([[[1.0, 3.0], [3.0, 1.0]]])  # 1 galaxy, 2 answers, 2 passes
    >>> mean, lo, hi = vote_fractions(a, {"q": [0, 1]})
    >>> mean.tolist()
    [[0.5, 0.5]]
    """
    n, n_answers, _ = concentrations.shape
    mean, lo, hi = (np.empty((n, n_answers), dtype=np.float32) for _ in range(3))
    for idx in groups.values():
        alpha = concentrations[:, idx, :]
        frac = alpha / alpha.sum(axis=1, keepdims=True)
        mean[:, idx] = frac.mean(axis=2)
        lo[:, idx], hi[:, idx] = np.percentile(frac, INTERVAL, axis=2)
    return mean, lo, hi


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


def read_zoobot_predictions(path: str | Path, schema: Any = None) -> pd.DataFrame:
    """Read a Zoobot predictions HDF5 as expected vote fractions with a 90% interval.

    Parameters
    ----------
    path : str or Path
        HDF5 file with ``predictions`` (n, answers, passes[, models]), ``id_str``, ``label_cols``.
    schema : Schema, optional
        Groups answers into questions (default: detected; else text before the last ``_``).

    Returns
    -------
    DataFrame
        ``id`` (str), then ``"{label}_fraction"`` (float32 in [0, 1]: mean over passes and models of
        alpha / sum(alpha) within the question) for every label, then ``"{label}_fraction_lo"`` and
        ``"{label}_fraction_hi"`` (5th and 95th percentiles over passes and models).

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
    [0.5, 0.725]
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
            parts.append(vote_fractions(block, groups))
    mean, lo, hi = (np.concatenate([p[k] for p in parts]) if parts else
                    np.empty((0, len(labels)), np.float32) for k in range(3))
    columns = {"id": ids.to_pandas()}
    for suffix, values in (("_fraction", mean), ("_fraction_lo", lo), ("_fraction_hi", hi)):
        columns.update({f"{label}{suffix}": values[:, j] for j, label in enumerate(labels)})
    return pd.DataFrame(columns)
