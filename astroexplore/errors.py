"""Error types that say where the problem is, so a user can act on them."""
from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Sequence


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return " Did you mean 'X'?" for the closest of ``choices`` to ``name``, or "".

    >>> did_you_mean("RA", ["ra", "dec"])
    " Did you mean 'ra'?"
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return f" Did you mean '{lowered[name.lower()]}'?"
    close = difflib.get_close_matches(name, choices, n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int, or ValueError naming ``name`` unless a whole number >= ``minimum``
    (numpy integers count; bools and floats such as 2.0 do not).

    >>> check_count("k", 3)
    3
    >>> check_count("k", 2.5)
    Traceback (most recent call last):
    ...
    ValueError: k must be a whole number >= 1, got 2.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


class CatalogueError(ValueError):
    """A catalogue file is unreadable or holds bad values.

    Parameters
    ----------
    message : str
        What is wrong and, where possible, what to do.
    file : str or None
        The file the problem is in.
    column : str or None
        The column the problem is in.
    rows : sequence of int or None
        0-based row numbers of the offending rows (all of them; the message shows the first).
    """

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None,
                 rows: Sequence[int] | None = None):
        self.file = None if file is None else str(file)
        self.column = column
        self.rows = None if rows is None else list(rows)
        prefix = f"{self.file}: " if self.file else ""
        super().__init__(prefix + message)


class LabelError(ValueError):
    """A label cannot be stored: unknown galaxy id, a score outside 0-5, a bad import row."""


class SchemaError(ValueError):
    """A decision-tree schema is malformed or does not match a catalogue."""
