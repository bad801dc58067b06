"""Similarity searches as a person asks for them: from a galaxy, from a sky position, from a list
of known objects' positions, or from the galaxies carrying a tag.

Each ``from_*`` function runs one kind of search (:mod:`astroexplore.search` does the nearest
neighbours) and returns a :class:`Similar`: the galaxies found, the galaxies the query was made
of, what the query was in words, and the query written as an app link writes it (its ``search=``
value: ``galaxy:ID``, ``position:RA,Dec``, ``positions:RADIUS;RA,Dec;...``, ``tag:#ring``).
:func:`parse_search` checks such a written query against a catalogue and :func:`run_search` runs
it, so that a link copied from the app's Similarity tab gives a script (``astroexplore similar
--link``) the same galaxies. The app's Similarity tab calls the same functions.

Problems a person can fix (an unknown galaxy, a position outside the survey, a tag no galaxy
carries, no position matched) are ``ValueError`` with a message that says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from astroexplore.filter_text import number_text, parse_bound, parse_numbers, problem_text
from astroexplore.search import (OUTSIDE_SURVEY_DEG, SearchResult, angle_text, parse_position, search_by_coords,
                                 search_by_ids, search_by_index)
from astroexplore.wording import counted

__all__ = ["Similar", "checked_tag", "from_galaxy", "from_position", "from_known_objects", "from_tag", "parse_search",
           "run_search", "position_query", "positions_query", "check_match_radius", "parse_k", "DEFAULT_K",
           "MAX_RESULTS", "MAX_LINK_POSITIONS",
           "MIN_MATCH_ARCSEC", "MAX_MATCH_ARCSEC"]

#: results of a search unless asked otherwise (the app's Similarity tab), and the most a link asks for
DEFAULT_K, MAX_RESULTS = 24, 1000
#: a "Known objects" search is written in a link with at most this many positions
MAX_LINK_POSITIONS = 100
#: the match radii a known-objects search takes (arcsec)
MIN_MATCH_ARCSEC, MAX_MATCH_ARCSEC = 0.1, 3600.0
_KINDS = "galaxy:ID, position:RA,Dec, positions:RADIUS;RA,Dec;... or tag:#name"


@dataclass(frozen=True)
class Similar:
    """A similarity search's galaxies and its query.

    Attributes
    ----------
    result : SearchResult
        The galaxies found, nearest first (``result.to_frame(catalogue)`` is the table).
    query_rows : ndarray of shape (n_query,), int64
        Catalogue rows of the galaxies the query is made of (excluded from the results).
    what : str
        The results in words, without their number: ``"galaxies similar to demo_000123"``.
    query_text : str
        The query galaxies in words: ``"the 3 galaxies tagged #ring"``.
    search : str
        The query as an app link's ``search=`` writes it (empty for a list of more than
        :data:`MAX_LINK_POSITIONS` positions).
    warning : str or None
        Something to say beside the results (positions left unmatched, a far nearest galaxy).
    matches : DataFrame or None
        A Known objects search's positions, one row each, with the galaxy each matched
        (:meth:`astroexplore.crossmatch.CrossMatch.to_frame`: what ``astroexplore match`` writes).
    """

    result: SearchResult
    query_rows: np.ndarray
    what: str
    query_text: str
    search: str
    warning: str | None = None
    matches: Any = None


def position_query(ra: float, dec: float) -> str:
    """The ``search`` value of a search from a sky position (degrees).

    >>> position_query(151.5, 2.5)
    'position:151.5,2.5'
    """
    return f"position:{number_text(ra)},{number_text(dec)}"


def positions_query(ra, dec, radius_arcsec: float) -> str:
    """The ``search`` value of a search from a list of known objects' positions (degrees), match
    radius in arcsec first; coordinates to 1e-6 degrees (0.004 arcsec).

    >>> positions_query([150.1, 151], [2.2, -1], 5)
    'positions:5;150.1,2.2;151,-1'
    """
    pairs = ";".join(f"{number_text(round(float(r), 6))},{number_text(round(float(d), 6))}" for r, d in zip(ra, dec))
    return f"positions:{number_text(radius_arcsec)};{pairs}"


def check_match_radius(radius_arcsec: float | None) -> float:
    """``radius_arcsec`` when it is a match radius a known-objects search takes, else ValueError."""
    if radius_arcsec is None or not MIN_MATCH_ARCSEC <= radius_arcsec <= MAX_MATCH_ARCSEC:
        raise ValueError(f"the match radius is {'empty' if radius_arcsec is None else f'{radius_arcsec:g} arcsec'}: "
                         f"give {MIN_MATCH_ARCSEC:g} to {MAX_MATCH_ARCSEC:g} arcsec")
    return float(radius_arcsec)


def parse_k(text: str) -> int:
    """A link's ``k``, the number of results: a whole number from 1 to :data:`MAX_RESULTS`
    (ValueError naming it otherwise).

    >>> parse_k("48")
    48
    """
    text = str(text).strip()
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_RESULTS):
        raise ValueError(f"k '{text}': the number of results is a whole number from 1 to {MAX_RESULTS}")
    return int(text)


def from_galaxy(catalogue: Any, index: Any, row: int, k: int, *, mask: Any = None) -> Similar:
    """The ``k`` galaxies most like catalogue row ``row`` (``index``: a
    :class:`~astroexplore.search.SimilarityIndex`, or None to build and cache one). ``row`` is a
    row number: a galaxy's id goes through ``catalogue.index_of(id)`` first."""
    if isinstance(row, str):
        raise TypeError(f"from_galaxy takes a row number, got the text {row!r}: for a galaxy id, "
                        f"pass catalogue.index_of({row!r}) (or run_search(..., 'galaxy:{row}', ...))")
    res = search_by_index(catalogue, index, int(row), k, mask=mask)
    gid = catalogue.ids[int(row)]
    return Similar(res, np.array([int(row)], dtype=np.int64), f"galaxies similar to {gid}", str(gid),
                   f"galaxy:{gid}", res.warning)


def from_position(catalogue: Any, index: Any, ra: float, dec: float, k: int, *, mask: Any = None) -> Similar:
    """The ``k`` galaxies most like the catalogue galaxy nearest to (``ra``, ``dec``) degrees;
    ValueError when that galaxy is more than :data:`~astroexplore.search.OUTSIDE_SURVEY_DEG`
    away (the position is outside the survey)."""
    res = search_by_coords(catalogue, index, ra, dec, k, mask=mask)
    qid, away = catalogue.ids[res.query_index], angle_text(res.separation_arcsec)
    if res.separation_arcsec > OUTSIDE_SURVEY_DEG * 3600:
        raise ValueError(f"RA {ra:.5f}, Dec {dec:+.5f} is outside the survey: no catalogue galaxy within "
                         f"{OUTSIDE_SURVEY_DEG:g} deg (the nearest, {qid}, is {away} away). Check the "
                         "position (RA in degrees, or hh:mm:ss)")
    return Similar(res, np.array([res.query_index], dtype=np.int64),
                   f"galaxies similar to {qid}, the nearest catalogue galaxy to RA {ra:.5f}, Dec {dec:+.5f} "
                   f"({away} away)",
                   f"the nearest catalogue galaxy to RA {ra:.5f}, Dec {dec:+.5f}: {away} away",
                   position_query(ra, dec), res.warning)


def from_known_objects(catalogue: Any, index: Any, positions: Any, radius_arcsec: float, k: int, *,
                       mask: Any = None) -> Similar:
    """The ``k`` galaxies most like the catalogue galaxies matched to a list of known objects.

    Parameters
    ----------
    positions : DataFrame
        With ``ra`` and ``dec`` in degrees, and maybe names
        (:func:`astroexplore.crossmatch.read_positions` reads a table, a file or pasted text).
    radius_arcsec : float
        Largest separation of a match, :data:`MIN_MATCH_ARCSEC` to :data:`MAX_MATCH_ARCSEC`.

    The positions left unmatched are named in :attr:`Similar.warning`; ValueError when none matched.
    """
    from astroexplore.crossmatch import crossmatch, position_names

    radius_arcsec = check_match_radius(radius_arcsec)
    match = crossmatch(catalogue, positions["ra"], positions["dec"], radius_arcsec=radius_arcsec)
    said = match.summary(position_names(positions))
    rows = np.asarray(match.galaxy_rows, dtype=np.int64)
    if not rows.size:
        raise ValueError(f"{said}: no galaxy to search from (a larger match radius? positions "
                         "in degrees or hh:mm:ss?)")
    res = search_by_ids(catalogue, index, catalogue.ids[rows], k, mask=mask)
    note = (f"the {counted(len(rows), 'catalogue galaxy', 'catalogue galaxies')} matched to "
            f"{match.n_matched} of {len(match)} positions (within {radius_arcsec:g} arcsec)")
    search = positions_query(match.ra, match.dec, radius_arcsec) if len(match) <= MAX_LINK_POSITIONS else ""
    doubtful = match.n_matched < len(match) or bool((match.n_within > 1).any())
    return Similar(res, rows, f"galaxies similar to {note}", note, search,
                   said if doubtful else res.warning, match.to_frame(catalogue, positions))


def checked_tag(text: str, tags: list[str]) -> str:
    """``text`` as a tag (``"Ring"`` -> ``"#ring"``, as the label store writes it), if it is one of
    ``tags``; ValueError otherwise, naming the tags there are.

    >>> checked_tag("Ring", ["#merger", "#ring"])
    '#ring'
    >>> checked_tag("#lens", ["#merger", "#ring"])
    Traceback (most recent call last):
    ...
    ValueError: no galaxy carries the tag #lens (the tags in the label store: #merger, #ring)
    """
    from astroexplore.labels import normalise_tag

    tag = normalise_tag(text)
    if tag not in tags:
        there = f"the tags in the label store: {', '.join(tags)}" if tags else "no galaxy carries a tag yet"
        raise ValueError(f"no galaxy carries the tag {tag} ({there})")
    return tag


def from_tag(catalogue: Any, index: Any, store: Any, tag: str, k: int, *, mask: Any = None) -> Similar:
    """The ``k`` galaxies most like those whose current label (by anyone) in ``store`` (a
    :class:`~astroexplore.labels.LabelStore`) carries ``tag`` (``"Ring"`` or ``"#ring"``);
    ValueError when none of them is in this catalogue."""
    tag = checked_tag(tag, store.tags())
    tagged = store.tagged(tag)
    rows, known = catalogue.known_rows(tagged)
    if not rows.size:
        raise ValueError(f"none of the {len(tagged)} galaxies tagged {tag} is in this catalogue (the "
                         "label store is shared with another one)")
    ids = [gid for gid, ok in zip(tagged, known) if ok]
    res = search_by_ids(catalogue, index, ids, k, mask=mask)
    return Similar(res, np.asarray(rows, dtype=np.int64), f"galaxies similar to the {len(ids)} tagged {tag}",
                   f"the {counted(len(ids), 'galaxy', 'galaxies')} tagged {tag}", f"tag:{tag}", res.warning)


def _decode_positions(value: str, where: str) -> str:
    """A ``positions:`` value, checked and written as :func:`positions_query` writes it
    (ValueError naming ``where``)."""
    from astroexplore.crossmatch import check_positions

    radius_text, _, pairs = value.partition(";")
    radius = parse_bound(radius_text.strip(), where)
    if radius is None or not (math.isfinite(radius) and MIN_MATCH_ARCSEC <= radius <= MAX_MATCH_ARCSEC):
        raise ValueError(f"{where}: the match radius '{radius_text}' is not a number of arcsec from "
                         f"{MIN_MATCH_ARCSEC:g} to {MAX_MATCH_ARCSEC:g}")
    parts = [p for p in pairs.split(";") if p.strip()]
    if not parts or len(parts) > MAX_LINK_POSITIONS:
        raise ValueError(f"{where}: expected 1 to {MAX_LINK_POSITIONS} positions 'RA,Dec' after the radius")
    coords = [parse_numbers(p, 2, where) for p in parts]
    try:
        ra, dec = check_positions([c[0] for c in coords], [c[1] for c in coords])
    except ValueError as err:
        raise ValueError(problem_text(where, err)) from None
    return positions_query(ra, dec, radius)


def parse_search(text: str, catalogue: Any, store: Any = None) -> str:
    """A written query checked against ``catalogue`` (and ``store`` for a tag), as :func:`run_search`
    takes it: the galaxy's id as the catalogue writes it (a typed id forgives case), positions in
    degrees. ValueError naming the query otherwise.

    >>> from types import SimpleNamespace
    >>> cat = SimpleNamespace(has_coordinates=True)
    >>> parse_search("position:10:00:24 +02:12:00", cat)
    'position:150.1,2.2'
    """
    text = str(text).strip()
    kind, _, value = text.partition(":")
    where = f"search '{text}'"
    if kind == "galaxy":
        row = catalogue.row_of_typed_id(value)
        if row is None:
            raise ValueError(f"{where}: galaxy '{value}' is not in this catalogue")
        return f"galaxy:{catalogue.ids[row]}"
    if kind in ("position", "positions") and not catalogue.has_coordinates:
        raise ValueError(f"{where}: this catalogue has no RA / Dec")
    if kind == "position":
        try:
            return position_query(*parse_position(value))
        except ValueError as err:
            raise ValueError(problem_text(where, err)) from None
    if kind == "positions":
        return _decode_positions(value, where)
    if kind == "tag":
        try:
            return f"tag:{checked_tag(value, [] if store is None else store.tags())}"
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    raise ValueError(f"{where}: expected {_KINDS}")


def run_search(catalogue: Any, index: Any, search: str, k: int, *, mask: Any = None, store: Any = None) -> Similar:
    """Run a query written as an app link writes it (checked by :func:`parse_search` first):
    ``galaxy:ID``, ``position:RA,Dec``, ``positions:RADIUS;RA,Dec;...`` or ``tag:#name`` (with
    ``store``)."""
    import pandas as pd

    search = parse_search(search, catalogue, store)
    kind, _, value = search.partition(":")
    if kind == "galaxy":
        return from_galaxy(catalogue, index, catalogue.index_of(value), k, mask=mask)
    if kind == "position":
        ra, dec = (float(v) for v in value.split(","))
        return from_position(catalogue, index, ra, dec, k, mask=mask)
    if kind == "positions":
        radius, *pairs = value.split(";")
        coords = np.array([[float(v) for v in p.split(",")] for p in pairs])
        named = pd.DataFrame({"name": [f"position {i + 1}" for i in range(len(coords))],  # as the link orders them
                              "ra": coords[:, 0], "dec": coords[:, 1]})
        return from_known_objects(catalogue, index, named, float(radius), k, mask=mask)
    return from_tag(catalogue, index, store, value, k, mask=mask)
