"""The filter as text: Galaxy Zoo conditions and catalogue-column ranges written as the app's page
address writes them, so a link and the command line (``astroexplore rank --answers ... --ranges
...``) say the same filter the same way.

- answers: ``question:answer:low..high``, ``;`` between conditions, parents before children
  (``smooth-or-featured:featured-or-disk:0.5..1;has-spiral-arms:yes:0.6..``);
- ranges: ``column:low..high``, ``;`` between columns (``mag_r:..17.77;redshift:0.02..0.1``).

Either bound may be left empty: an answer's open bound is 0 or 1, a column's is open. Names are
percent-encoded in links (``quote(name, safe="")``: a column called ``g:r`` or ``a;b`` round-trips);
a plain name decodes as itself.
"""
from __future__ import annotations

import math
import re

from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import numpy as np

from .errors import did_you_mean


def number_text(v: float) -> str:
    """``v`` to 12 significant digits, without trailing zeros (``0.5``, ``17.77``)."""
    return format(float(v), ".12g")


def parse_bound(text: str, where: str) -> float | None:
    """A bound of a range: '' -> None (open), else its float (ValueError naming ``where``)."""
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: '{text}' is not a number") from None


def parse_numbers(text: str, n: int, where: str) -> tuple[float, ...]:
    """``n`` finite numbers separated by commas (``'150.1,2.2'``; ValueError naming ``where``)."""
    bits = text.split(",")
    if len(bits) != n:
        raise ValueError(f"{where}: expected {n} numbers separated by commas")
    values = tuple(parse_bound(b.strip(), where) for b in bits)
    if not all(v is not None and math.isfinite(v) for v in values):
        raise ValueError(f"{where}: expected {n} finite numbers")
    return values


def _bool_bounds(text: str) -> str:
    """A boolean column's bounds with ``true``/``false`` (any case) as 1/0.

    >>> _bool_bounds("True..true"), _bool_bounds("false.."), _bool_bounds("0.5..1")
    ('1..1', '0..', '0.5..1')
    """
    return re.sub(r"(?i)\b(true|false)\b", lambda m: "1" if m.group(1).lower() == "true" else "0", text)


def _split_range(text: str, where: str) -> tuple[float | None, float | None]:
    if text.count("..") != 1:
        raise ValueError(f"{where}: the bounds should read low..high (either may be empty), got '{text}'")
    low, high = text.split("..")
    return parse_bound(low, where), parse_bound(high, where)


def problem_text(where: str, err: Exception) -> str:
    """``err``'s message, prefixed by the part it is about unless it already names it."""
    text = str(err)
    return text if text.startswith(where) else f"{where}: {text}"


def encode_answers(flt) -> str:
    """``question:answer:low..high;...`` of a :class:`~astroexplore.filters.MorphologyFilter` (or '')."""
    if flt is None:
        return ""
    return ";".join(f"{quote(c.question, safe='')}:{quote(c.answer, safe='')}:"
                    f"{number_text(c.low)}..{number_text(c.high)}" for c in flt.conditions)


def encode_ranges(ranges) -> str:
    """``column:low..high;...`` of :class:`~astroexplore.column_filter.ColumnRange` objects (or '')."""
    return ";".join(f"{quote(r.column, safe='')}:{'' if r.low is None else number_text(r.low)}.."
                    f"{'' if r.high is None else number_text(r.high)}" for r in ranges)


def decode_answers(text: str, schema) -> tuple[object | None, list[str]]:
    """The morphology filter an ``answers`` text asks for, over ``schema``, and the problems of the
    conditions left out (each named as the text wrote it)."""
    from .filters import Condition, MorphologyFilter

    parts = [p for p in text.split(";") if p]
    if not parts:
        return None, []
    if schema is None:
        return None, [f"answers '{text}': this catalogue has no Galaxy Zoo vote fractions"]
    problems: dict[int, str] = {}  # by the part's place in the text
    pending = []
    for k, part in enumerate(parts):
        where = f"answers '{unquote(part)}'"
        try:
            bits = part.split(":")
            if len(bits) != 3:
                raise ValueError(f"{where}: expected question:answer:low..high")
            question, answer, bounds = bits
            low, high = _split_range(bounds, where)
            pending.append((k, where, Condition(unquote(question), unquote(answer),
                                                0.0 if low is None else low, 1.0 if high is None else high)))
        except ValueError as err:
            problems[k] = problem_text(where, err)
    # the conditions are one set, in any order: each is added once its parents are (a child written
    # first was refused for want of the parents written after it)
    flt = MorphologyFilter(schema)
    while pending:
        left = []
        for k, where, condition in pending:
            try:
                flt = flt.with_condition(condition)  # SchemaError: unknown, or its parent not required
                problems.pop(k, None)  # refused in an earlier pass, before its parents were in
            except ValueError as err:  # SchemaError is a ValueError
                left.append((k, where, condition))
                problems[k] = problem_text(where, err)
        if len(left) == len(pending):
            break
        pending = left
    return (flt if flt.conditions else None), [problems[k] for k in sorted(problems)]


def decode_ranges(text: str, catalogue) -> tuple[tuple, list[str]]:
    """The column ranges a ``ranges`` text asks for, on ``catalogue``'s filterable columns, and the
    problems of those left out."""
    import pandas as pd

    from .column_filter import ColumnRange, filterable_columns, why_not_filterable

    columns = filterable_columns(catalogue)
    ranges, problems = [], []
    for part in (p for p in text.split(";") if p):
        column, sep, bounds = part.rpartition(":")
        column = unquote(column)
        where = f"ranges '{unquote(part)}'"
        try:
            if not sep:
                raise ValueError(f"{where}: expected column:low..high")
            if column not in columns:
                raise ValueError(f"{where}: {why_not_filterable(catalogue, column, columns)}")
            if pd.api.types.is_bool_dtype(catalogue.table[column].dtype):
                bounds = _bool_bounds(bounds)  # 'is_agn:true..true': a flag's True is 1
            ranges.append(ColumnRange(column, *_split_range(bounds, where)))
        except ValueError as err:
            problems.append(problem_text(where, err))
    return tuple(ranges), problems


#: the ``labelled`` value of a list where labelled galaxies keep their place (left out, or
#: ``first``: the galaxies nobody labelled come first)
IN_PLACE = "in-place"


def decode_labelled(text: str) -> bool | None:
    """Whether a link's ``labelled`` value puts the unlabelled galaxies first: '' -> None (not
    said), ``first`` -> True, ``in-place`` -> False; ValueError naming the value otherwise."""
    if text in ("", IN_PLACE, "first"):
        return None if text == "" else text == "first"
    raise ValueError(f"labelled '{text}': expected {IN_PLACE} (labelled galaxies keep their place in "
                     "the list) or first (unlabelled first)")


#: the query keys of the app's links (``astroexplore.ui.address`` reads and writes them; the
#: command line's ``--link`` reads some)
APP_LINK_KEYS = ("galaxy", "tab", "method", "labelled", "answers", "ranges", "search", "k", "colour", "classes",
                 "box", "point", "zoom", "finds")


def link_query(link: str) -> dict[str, str]:
    """The query of an app link (``http://host:5006/?method=lof&ranges=mag_r:..17``, or only the
    part after ``?``) as the server reads it: ``{"method": "lof", "ranges": "mag_r:..17"}``, names
    still percent-encoded as :func:`decode_ranges` and :func:`decode_answers` expect them.

    >>> link_query("http://localhost:5006/?ranges=g%253Ar:..0.5&tab=filter")
    {'ranges': 'g%3Ar:..0.5', 'tab': 'filter'}
    """
    text = link.strip()
    query = urlsplit(text).query if "?" in text or "://" in text else text
    return {k: v for k, v in parse_qsl(query, keep_blank_values=True)}


def selection_columns(flt=None, ranges=()) -> list[str]:
    """The catalogue columns a selection reads: each condition's vote fraction, then each range's
    column, for a download to carry (a morphology filter's list lacked the fractions it was cut on).

    >>> from astroexplore.column_filter import ColumnRange
    >>> from astroexplore.filters import Condition, MorphologyFilter
    >>> from astroexplore.schemas import GZ_DECALS
    >>> flt = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "featured-or-disk", 0.5)])
    >>> selection_columns(flt, (ColumnRange("mag_r", high=17.0),))
    ['smooth-or-featured_featured-or-disk_fraction', 'mag_r']
    """
    answers = [] if flt is None else [flt.schema.answer_column(c.question, c.answer) for c in flt.conditions]
    return list(dict.fromkeys([*answers, *(r.column for r in ranges)]))


def selection_mask(catalogue: Any, flt=None, ranges=()) -> np.ndarray | None:
    """(n_galaxies,) bool: the galaxies passing the morphology filter ``flt`` (or None) and every
    column range; None when nothing is asked (every galaxy passes)."""
    from .column_filter import ranges_mask

    mask = ranges_mask(catalogue, ranges)
    if flt is not None and getattr(flt, "conditions", ()):
        morphology = np.asarray(flt.mask(catalogue), dtype=bool)
        mask = morphology if mask is None else mask & morphology
    return mask
