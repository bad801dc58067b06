"""Counts in messages: a number and its noun, singular or plural."""
from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` with thousands separators and its noun: ``singular`` for 1, else ``plural``
    (default ``singular + "s"``).

    >>> counted(1, "galaxy", "galaxies"), counted(12345, "galaxy", "galaxies"), counted(0, "label")
    ('1 galaxy', '12,345 galaxies', '0 labels')
    """
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"
