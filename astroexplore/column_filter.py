"""Ranges on a catalogue's own numeric columns (redshift, magnitudes, a flag): "z < 0.05".

The morphology filter (:mod:`astroexplore.filters`) restricts by Galaxy Zoo vote fractions, with
the decision tree's rules; a :class:`ColumnRange` restricts by any other numeric column. The app
ANDs both into one mask, which the ranking, the map and the similarity search take (``mask=``
everywhere in the Python API). A galaxy without a value in the column never matches. Nothing here
imports Panel.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import SchemaError, did_you_mean

__all__ = ["ColumnRange", "filterable_columns", "is_numeric_column", "numeric_values", "ranges_mask",
           "value_summary"]


def is_numeric_column(column: pd.Series) -> bool:
    """Numbers or booleans (a boolean column with missing values is read from Parquet as objects)."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "boolean"


def numeric_values(column: pd.Series) -> np.ndarray:
    """float64 values of a numeric or boolean column (True = 1), NaN where missing."""
    return pd.to_numeric(column, errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def value_summary(column: pd.Series) -> str:
    """What a numeric column holds, to choose bounds from.

    >>> value_summary(pd.Series([0.1, None, 0.3, 0.2]))
    '0.1 .. 0.3 (median 0.2); 1 without a value'
    """
    v = numeric_values(column)
    finite = v[np.isfinite(v)]
    if not len(finite):
        return "no values"
    text = f"{finite.min():.4g} .. {finite.max():.4g} (median {np.median(finite):.4g})"
    missing = len(v) - len(finite)
    return text + (f"; {missing:,} without a value" if missing else "")


def filterable_columns(catalogue: Any) -> list[str]:
    """The catalogue's numeric columns a :class:`ColumnRange` may use, in table order: not the
    id, not the map's own coordinates, not the Galaxy Zoo vote fractions of its decision tree
    (the morphology filter takes those, with the tree's rules)."""
    from .projection import projection_columns

    table = catalogue.table
    schema = getattr(catalogue, "schema", None)
    skip = {"id", *(projection_columns(catalogue) or ()), *(schema.columns if schema is not None else ())}
    return [c for c in table.columns if isinstance(c, str) and c not in skip and is_numeric_column(table[c])]


def why_not_filterable(catalogue: Any, column: str, columns: list[str] | None = None) -> str:
    """Why ``column`` is not among :func:`filterable_columns` (``columns``, if already known): a
    sentence for an error that names what to do instead."""
    from .errors import did_you_mean
    from .projection import projection_columns

    table = catalogue.table
    columns = filterable_columns(catalogue) if columns is None else columns
    if column not in table.columns:
        return f"the catalogue has no column '{column}'.{did_you_mean(column, columns)}"
    schema = getattr(catalogue, "schema", None)
    if schema is not None and (found := schema.answer_at(column)) is not None:
        question, answer = found
        return (f"'{column}' is a Galaxy Zoo vote fraction: filter it by its answer, which keeps to the "
                f"decision tree (answers '{question.name}:{answer.name}:low..high'; CLI --answers; the Filter "
                "tab's morphology questions)")
    if column == "id":
        return "'id' is the galaxy id, not a property to filter on"
    if column in (projection_columns(catalogue) or ()):
        return f"'{column}' is one of the map's coordinates, not a property to filter on"
    dtype = table[column].dtype
    textual = pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype) \
        or isinstance(dtype, pd.CategoricalDtype)
    kind = "text (names or classes)" if textual else f"values of type {dtype}"
    return f"column '{column}' holds {kind}, not numbers: only numeric columns take a range"


@dataclass(frozen=True)
class ColumnRange:
    """Require ``low <= catalogue[column] <= high``; None leaves that side open.

    Parameters
    ----------
    column : str
        A numeric (or boolean: 0/1) column of the catalogue's table.
    low, high : float or None
        Inclusive bounds, in the column's own units.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"redshift": [0.02, 0.08, float("nan"), 0.04]})
    >>> r = ColumnRange("redshift", high=0.05)
    >>> r.mask(t).tolist(), r.text()
    ([True, False, False, True], 'redshift ≤ 0.05')
    """

    column: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        bounds = []
        for side in ("low", "high"):
            v = getattr(self, side)
            if v is not None:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise SchemaError(f"the {side} bound on column '{self.column}' must be a number, "
                                      f"got {v!r}") from None
                if math.isnan(v):
                    raise SchemaError(f"the {side} bound on column '{self.column}' is NaN; leave it "
                                      "empty (None) for no bound")
                object.__setattr__(self, side, v)
            bounds.append(v)
        low, high = bounds
        if low is not None and high is not None and low > high:
            raise SchemaError(f"the range on column '{self.column}' is empty: from {low:g} to {high:g}")

    def mask(self, catalogue_or_table: Any) -> np.ndarray:
        """(n_galaxies,) bool: the galaxies whose value lies in the range (a missing one never does).

        Raises
        ------
        SchemaError
            The column is not in the table, or holds neither numbers nor booleans.
        """
        table = getattr(catalogue_or_table, "table", catalogue_or_table)
        if self.column not in table.columns:
            raise SchemaError(f"the catalogue has no column '{self.column}'."
                              f"{did_you_mean(self.column, map(str, table.columns))}")
        if not is_numeric_column(table[self.column]):
            raise SchemaError(f"column '{self.column}' holds {table[self.column].dtype} values, not "
                              "numbers: a range cannot apply to it")
        v = numeric_values(table[self.column])
        keep = ~np.isnan(v)
        if self.low is not None:
            keep &= v >= self.low
        if self.high is not None:
            keep &= v <= self.high
        return keep

    def text(self) -> str:
        """One line: ``'redshift 0.01 – 0.05'``, ``'r_mag ≤ 17.77'``, ``'z ≥ 0.1'``."""
        if self.low is not None and self.high is not None:
            return f"{self.column} {self.low:g} – {self.high:g}"
        if self.low is not None:
            return f"{self.column} ≥ {self.low:g}"
        if self.high is not None:
            return f"{self.column} ≤ {self.high:g}"
        return f"{self.column}: any value"


def ranges_mask(catalogue: Any, ranges: Iterable[ColumnRange]) -> np.ndarray | None:
    """AND of the ranges' masks, or None when there is no range (every galaxy).

    >>> import pandas as pd
    >>> t = pd.DataFrame({"z": [0.02, 0.08, 0.04], "r": [17.0, 16.0, 18.5]})
    >>> ranges_mask(t, [ColumnRange("z", high=0.05), ColumnRange("r", high=18)]).tolist()
    [True, False, False]
    """
    mask = None
    for r in ranges:
        m = r.mask(catalogue)
        mask = m if mask is None else mask & m
    return mask
