"""Morphology filters over Galaxy Zoo vote fractions that respect the decision tree.

A question deeper in the tree (e.g. "Spiral arm winding?") only means something for galaxies
where it was asked, so a :class:`MorphologyFilter` only allows a condition on it once its parent
answer (here ``has-spiral-arms = yes``) is itself required at 0.5 or more, recursively up to the root.
Nothing here imports Panel.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from astroexplore.errors import SchemaError
from astroexplore.schemas import Schema, _table_of

__all__ = ["Condition", "MorphologyFilter", "ENABLE_THRESHOLD"]

#: A parent answer must be required with ``low >= ENABLE_THRESHOLD`` to enable its child questions.
ENABLE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Condition:
    """Require the fraction of ``question = answer`` to lie in ``[low, high]``.

    Parameters
    ----------
    question, answer : str
        Names in the filter's schema.
    low, high : float
        Inclusive bounds on the vote fraction, ``0 <= low <= high <= 1``.

    Examples
    --------
    >>> Condition("has-spiral-arms", "yes", 0.6)
    Condition(question='has-spiral-arms', answer='yes', low=0.6, high=1.0)
    """

    question: str
    answer: str
    low: float = 0.5
    high: float = 1.0

    def __post_init__(self):
        low, high = float(self.low), float(self.high)
        if math.isnan(low) or math.isnan(high) or not 0.0 <= low <= high <= 1.0:
            raise SchemaError(
                f"condition on {self.question} = {self.answer} needs 0 <= low <= high <= 1, "
                f"got low={self.low}, high={self.high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def key(self) -> tuple[str, str]:
        """``(question, answer)``: a filter holds at most one condition per key."""
        return (self.question, self.answer)


class MorphologyFilter:
    """An immutable set of :class:`Condition` objects over one :class:`~astroexplore.schemas.Schema`.

    Galaxies match when every condition holds (AND); a NaN fraction never matches. A condition
    on a question that is not enabled (see :meth:`enabled`) raises :class:`SchemaError` with the
    explanation, at construction.

    Parameters
    ----------
    schema : Schema
        The decision tree the conditions refer to.
    conditions : iterable of Condition
        At most one per ``(question, answer)``; a later one replaces an earlier one.

    Examples
    --------
    >>> import pandas as pd
    >>> from astroexplore.schemas import GZ_DECALS
    >>> t = pd.DataFrame({"smooth-or-featured_featured-or-disk_fraction": [0.9, 0.8, 0.1],
    ...                   "disk-edge-on_no_fraction": [0.9, 0.7, float("nan")]})
    >>> f = MorphologyFilter(GZ_DECALS).with_condition(
    ...     Condition("smooth-or-featured", "featured-or-disk", 0.5))
    >>> f.enabled("has-spiral-arms")
    (False, 'to use this filter, require "Edge-on disk?" = "No" at 0.5 or more')
    >>> f = f.with_condition(Condition("disk-edge-on", "no", 0.75))
    >>> f.mask(t)
    array([ True, False, False])
    >>> f.describe(t)
    '1 of 3 galaxies match'
    """

    def __init__(self, schema: Schema, conditions: Iterable[Condition] = ()):
        if not isinstance(schema, Schema):
            raise TypeError(f"schema must be a Schema, got {type(schema).__name__}")
        self._schema = schema
        by_key: dict[tuple[str, str], Condition] = {}
        for c in conditions:
            if not isinstance(c, Condition):
                raise TypeError(f"conditions must be Condition objects, got {c!r}")
            schema.answer_column(c.question, c.answer)  # SchemaError if unknown
            by_key[c.key] = c
        self._conditions = tuple(by_key.values())
        for c in self._conditions:
            ok, why = self.enabled(c.question)
            if not ok:
                raise SchemaError(
                    f"cannot filter on {c.question} = {c.answer} "
                    f"(\"{schema.question(c.question).label}\"): {why}")

    # ------------------------------------------------------------------------------ state
    @property
    def schema(self) -> Schema:
        """The decision tree."""
        return self._schema

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """The conditions, in the order given."""
        return self._conditions

    def __len__(self) -> int:
        return len(self._conditions)

    def __bool__(self) -> bool:  # an empty filter is still a filter object
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MorphologyFilter):
            return NotImplemented
        return self._schema == other._schema and set(self._conditions) == set(other._conditions)

    def __hash__(self) -> int:
        return hash((self._schema.name, frozenset(self._conditions)))

    def __repr__(self) -> str:
        return f"MorphologyFilter({self._schema.name!r}, {list(self._conditions)!r})"

    def condition(self, question: str, answer: str) -> Condition | None:
        """The condition on ``question = answer``, or None."""
        for c in self._conditions:
            if c.key == (question, answer):
                return c
        return None

    def with_condition(self, condition: Condition) -> MorphologyFilter:
        """A new filter with ``condition`` added (replacing one on the same question and answer)."""
        return MorphologyFilter(self._schema, (*self._conditions, condition))

    def without(self, question: str, answer: str | None = None) -> MorphologyFilter:
        """A new filter without the conditions on ``question`` (only on ``answer`` if given).

        Conditions on questions that thereby stop being enabled (descendants in the tree) are
        dropped too, so the result is always valid.
        """
        self._schema.question(question)
        kept = [c for c in self._conditions
                if not (c.question == question and (answer is None or c.answer == answer))]
        while True:  # drop conditions whose questions are no longer enabled, up to a fixed point
            trial = _Unchecked(self._schema, kept)
            still = [c for c in kept if trial.enabled(c.question)[0]]
            if len(still) == len(kept):
                break
            kept = still
        return MorphologyFilter(self._schema, kept)

    def enabled(self, question: str) -> tuple[bool, str]:
        """Whether ``question`` may be filtered on, and if not, what to require first.

        A root question is always enabled; any other is enabled when each answer leading to it is
        required by a condition with ``low >= 0.5``.

        Returns
        -------
        (bool, str)
            ``(True, "")``, or ``(False, 'to use this filter, require "Has spiral arms?" = "Yes"
            at 0.5 or more')`` naming every missing ancestor answer, root first.
        """
        missing = []
        for pq, pa in self._schema.ancestors(question):
            c = self.condition(pq, pa)
            if c is None or c.low < ENABLE_THRESHOLD:
                q = self._schema.question(pq)
                missing.append(f"\"{q.label}\" = \"{q.answer(pa).label}\"")
        if not missing:
            return True, ""
        need = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        return False, f"to use this filter, require {need} at {ENABLE_THRESHOLD:g} or more"

    # ------------------------------------------------------------------------------ data
    def mask(self, table: Any) -> np.ndarray:
        """Which galaxies pass every condition.

        Parameters
        ----------
        table : DataFrame or Catalogue
            One row per galaxy, holding the fraction columns of the conditions.

        Returns
        -------
        ndarray of shape (n_galaxies,), bool
            True where every fraction lies in its ``[low, high]``; NaN never matches; all True
            for a filter without conditions.
        """
        df = _table_of(table)
        out = np.ones(len(df), dtype=bool)
        for c in self._conditions:
            f = self._schema.fraction(df, c.question, c.answer)
            with np.errstate(invalid="ignore"):
                out &= (f >= c.low) & (f <= c.high)
        return out

    def count(self, table: Any) -> tuple[int, int]:
        """``(n_match, n_total)`` for ``table`` (DataFrame or Catalogue)."""
        m = self.mask(table)
        return int(m.sum()), int(m.size)

    def describe(self, table: Any) -> str:
        """``"X of Y galaxies match"`` for ``table``."""
        n, total = self.count(table)
        return f"{n:,} of {total:,} galaxies match"

    def to_dict(self) -> dict:
        """JSON-able form: ``{"schema": name, "conditions": [{question, answer, low, high}]}``."""
        return {"schema": self._schema.name,
                "conditions": [{"question": c.question, "answer": c.answer, "low": c.low,
                                "high": c.high} for c in self._conditions]}

    @classmethod
    def from_dict(cls, schema: Schema, d: dict) -> MorphologyFilter:
        """Rebuild a filter from :meth:`to_dict` output over ``schema``."""
        return cls(schema, [Condition(**c) for c in d.get("conditions", ())])


class _Unchecked(MorphologyFilter):
    """A filter without the enabled-check, used while pruning in :meth:`MorphologyFilter.without`."""

    def __init__(self, schema: Schema, conditions: Iterable[Condition]):
        self._schema = schema
        self._conditions = tuple(conditions)
