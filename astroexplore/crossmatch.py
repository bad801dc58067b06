"""Find a list of known objects in the catalogue by their sky positions.

An astronomer often starts from objects that are not in the catalogue's id system: 40 polar-ring
galaxies from a paper's table, a NED or SIMBAD query, positions copied from a viewer. This module
reads such a list (:func:`read_positions`: a CSV / Parquet / FITS table with RA and Dec columns, or
text with one position per line) and matches each position to the nearest catalogue galaxy within a
radius (:func:`crossmatch` -> :class:`CrossMatch`). The matched galaxies' ids then go wherever ids
go: :func:`astroexplore.search.search_by_ids` ("more like these"), a label import (the matched
table keeps the list's own columns, so a ``score`` or ``tags`` column there imports as labels).

Positions are ICRS degrees (J2000 tables are read as ICRS: the two differ by far less than a match
radius). Nothing here imports Panel.
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from astroexplore.constants import DEC_NAMES, RA_NAMES
from astroexplore.errors import CatalogueError
from astroexplore.search import MINUS_SIGNS, angle_text, galaxies_within, nearest_galaxies, parse_position
from astroexplore.wording import counted

__all__ = ["CrossMatch", "crossmatch", "read_positions", "position_names", "check_positions",
           "DEFAULT_MATCH_ARCSEC", "RA_NAMES", "DEC_NAMES"]

#: default match radius (arcsec): a literature position and a survey's centroid of the same
#: galaxy differ by 0.1-2 arcsec; two distinct galaxies are rarely closer than 5 arcsec
DEFAULT_MATCH_ARCSEC = 5.0
#: files read as tables; any other file is text (a CSV with a header naming RA and Dec is read as
#: a table from there, a headerless one as one position a line)
_BINARY_SUFFIXES = (".parquet", ".pq", ".fits", ".fits.gz", ".fit", ".gz")


@dataclass(frozen=True)
class CrossMatch:
    """The catalogue galaxy matched to each of ``n`` positions.

    Attributes
    ----------
    rows : ndarray of shape (n,), int64
        Catalogue row of each position's match; -1 where no galaxy lies within the radius.
    nearest : ndarray of shape (n,), int64
        The nearest catalogue galaxy's row, however far (-1 for a catalogue without positions).
    separation_arcsec : ndarray of shape (n,), float64
        Great-circle distance from each position to its nearest catalogue galaxy (arcsec).
    radius_arcsec : float
        The match radius used.
    ra, dec : ndarray of shape (n,), float64
        The positions (degrees).
    n_within : ndarray of shape (n,), int64
        How many catalogue galaxies lie within the radius of each position: above 1, the match
        (the nearest) is worth a look before it is labelled.
    """

    rows: np.ndarray
    nearest: np.ndarray
    separation_arcsec: np.ndarray
    radius_arcsec: float
    ra: np.ndarray
    dec: np.ndarray
    n_within: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def matched(self) -> np.ndarray:
        """(n,) bool: positions with a galaxy within the radius."""
        return self.rows >= 0

    @property
    def n_matched(self) -> int:
        return int(self.matched.sum())

    @property
    def galaxy_rows(self) -> np.ndarray:
        """The distinct matched catalogue rows, in the list's order (two positions of one galaxy
        count once)."""
        rows = self.rows[self.rows >= 0]
        _, first = np.unique(rows, return_index=True)
        return rows[np.sort(first)]

    def summary(self, names: Sequence[str] | None = None, *, shown: int = 5) -> str:
        """One sentence: how many positions matched, and the first unmatched ones with their
        nearest galaxy's distance (``names``: how to call each position, default "line i")."""
        n, m = len(self), self.n_matched
        text = f"{m:,} of {n:,} positions matched a catalogue galaxy within {self.radius_arcsec:g} arcsec"
        g = len(self.galaxy_rows)
        if g < m:
            text += f" ({counted(g, 'distinct galaxy', 'distinct galaxies')})"
        crowded = np.flatnonzero(self.n_within > 1)
        if crowded.size:
            name = (lambda i: f"line {i + 1}") if names is None else (lambda i: str(names[i]))
            text += (f"; {counted(crowded.size, 'position has', 'positions have')} more than one galaxy within "
                     f"the radius, matched to the nearest (n_within_radius; check before labelling): "
                     + ", ".join(name(i) for i in crowded[:shown]) + (", ..." if crowded.size > shown else ""))
        missing = np.flatnonzero(~self.matched)
        if missing.size:
            def where(i):
                name = f"line {i + 1}" if names is None else str(names[i])
                near = ("no galaxy" if self.nearest[i] < 0 else
                        f"nearest {angle_text(float(self.separation_arcsec[i]))}")
                return f"{name} (RA {self.ra[i]:.5f}, Dec {self.dec[i]:+.5f}: {near})"
            more = f", and {missing.size - shown:,} more" if missing.size > shown else ""
            text += f"; not matched: {', '.join(where(i) for i in missing[:shown])}{more}"
        return text

    def to_frame(self, catalogue: Any, positions: pd.DataFrame | None = None) -> pd.DataFrame:
        """The positions' own columns (``positions``, one row per position, e.g. from
        :func:`read_positions`), then ``id`` (the matched galaxy's, empty where none), its
        ``galaxy_ra`` / ``galaxy_dec`` (degrees, NaN where none), ``separation_arcsec`` (to the
        nearest galaxy), ``n_within_radius`` (the galaxies within the radius: above 1, a doubtful
        match) and ``matched``. An ``id`` column of the
        list itself is kept as ``id_list``."""
        out = pd.DataFrame(index=range(len(self))) if positions is None else positions.reset_index(drop=True).copy()
        if len(out) != len(self):
            raise ValueError(f"positions has {len(out)} rows but the match holds {len(self)}")
        if "id" in out.columns:
            out = out.rename(columns={"id": "id_list"})
        ids = np.asarray(catalogue.ids).astype(str)
        at = np.maximum(self.rows, 0)
        out["id"] = np.where(self.matched, ids[at], "")
        for name, values in (("galaxy_ra", catalogue.ra), ("galaxy_dec", catalogue.dec)):
            out[name] = np.where(self.matched, np.asarray(values, dtype=np.float64)[at], np.nan)
        out["separation_arcsec"] = self.separation_arcsec
        out["n_within_radius"] = self.n_within
        out["matched"] = self.matched
        return out


def position_names(positions: pd.DataFrame) -> list[str]:
    """How to call each row of a :func:`read_positions` table in a message: its ``name`` (or
    ``Name``, ``NAME``) where it has one, else "line N" (text) or "row N" (a table, 1-based)."""
    col = _find_column(positions.columns, ("name", "object", "id"))
    names = [""] * len(positions) if col is None else positions[col].fillna("").astype(str).str.strip().tolist()
    lines = positions["line"].tolist() if "line" in positions.columns else None
    return [n or (f"line {lines[i]}" if lines is not None else f"row {i + 1}") for i, n in enumerate(names)]


def crossmatch(catalogue: Any, ra: Any, dec: Any, radius_arcsec: float = DEFAULT_MATCH_ARCSEC) -> CrossMatch:
    """Match each position to the nearest catalogue galaxy within ``radius_arcsec``.

    Parameters
    ----------
    catalogue : Catalogue
        With ``ra``/``dec`` columns (degrees); CatalogueError otherwise.
    ra, dec : array-like of shape (n,)
        Positions, ICRS degrees. A non-finite or out-of-range value is a ValueError naming its row.
    radius_arcsec : float, default 5
        Largest separation of a match (arcsec), > 0.

    Returns
    -------
    CrossMatch

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cat = SimpleNamespace(ids=np.array(["a", "b"]), ra=np.array([10.0, 20.0]), dec=np.array([0.0, 0.0]))
    >>> m = crossmatch(cat, [20.0005, 30.0], [0.0, 0.0], radius_arcsec=5)
    >>> m.rows.tolist(), m.separation_arcsec.round(1).tolist()
    ([1, -1], [1.8, 36000.0])
    """
    radius = float(radius_arcsec)
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"the match radius must be a positive number of arcsec, got {radius_arcsec!r}")
    ra, dec = check_positions(ra, dec)
    nearest, sep = nearest_galaxies(catalogue, ra, dec)
    rows = np.where(sep <= radius, nearest, -1).astype(np.int64)
    return CrossMatch(rows, nearest.astype(np.int64), sep, radius, ra, dec,
                      galaxies_within(catalogue, ra, dec, radius))


def check_positions(ra: Any, dec: Any) -> tuple[np.ndarray, np.ndarray]:
    """``ra``, ``dec`` as 1-D float64 degrees, RA wrapped into [0, 360); ValueError naming the
    first position (1-based) that is not a sky position."""
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    if ra.shape != dec.shape or ra.ndim != 1:
        raise ValueError(f"ra and dec must be 1-D and of one length; got shapes {ra.shape} and {dec.shape}")
    if ra.size == 0:
        raise ValueError("no positions to match")
    bad = np.flatnonzero(_not_sky(ra, dec))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"position {i + 1} (RA {ra[i]}, Dec {dec[i]}) is not a sky position in degrees "
                         f"(RA 0..360, Dec -90..90)" + (f"; {bad.size} such positions" if bad.size > 1 else ""))
    return ra % 360.0, dec


def _not_sky(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """(n,) bool: positions that are not sky positions in degrees (non-finite, |Dec| > 90, |RA| > 360)."""
    return ~(np.isfinite(ra) & np.isfinite(dec)) | (np.abs(dec) > 90) | (np.abs(ra) > 360)


# ------------------------------------------------------------------------------- reading a list
def read_positions(source: str | Path) -> pd.DataFrame:
    """A list of positions as a table with ``ra`` and ``dec`` in degrees (float64), one row per
    position, the list's other columns kept.

    Parameters
    ----------
    source : str or path
        A file: a CSV (``.csv``, ``.csv.gz``, ``.tsv``), Parquet or FITS table with RA and Dec
        columns (named as in :data:`RA_NAMES` / :data:`DEC_NAMES`, any case; numbers in degrees,
        or sexagesimal text such as ``10:00:24``), or any other text file; or text itself (a
        ``str`` with a line break, or that is not an existing file). Text is read as a table
        when its first line names RA and Dec columns (separated by commas, tabs or spaces), and
        otherwise as one position per line in any form the app's RA / Dec box reads
        (``150.1 2.2``, ``10:00:24 +02:12:00``); ``# name`` after a position names it, and empty
        lines and lines starting with ``#`` are skipped.

    Returns
    -------
    DataFrame
        ``ra``, ``dec`` (degrees; the list's own RA/Dec columns, if they had other names, are
        kept beside them) and the list's other columns; text lines give ``line`` (1-based) and
        ``name`` (empty where none).

    Raises
    ------
    CatalogueError
        Naming the file (or "the positions"), the column and where the first unreadable position
        is: the line of text or CSV as an editor counts it (the header is line 1), the 0-based row
        of a Parquet / FITS table (``rows``: its 0-based row among the positions); or saying
        which columns were looked for.
    """
    path, text = _as_path_or_text(source)
    where = str(path) if path is not None else None
    if path is not None and path.name.lower().endswith(_BINARY_SUFFIXES):
        return _positions_of_table(_read_table(path), where, _table_row)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CatalogueError(f"cannot read the positions: {err}", file=where) from None
    return _positions_of_text(text, where)


def _as_path_or_text(source: str | Path) -> tuple[Path | None, str]:
    if isinstance(source, Path):
        if not source.exists():
            raise CatalogueError("file not found.", file=str(source))
        return source, ""
    text = str(source)
    if "\n" not in text and text.strip() and len(text) < 4096:
        p = Path(text.strip()).expanduser()
        if p.is_file():
            return p, ""
        if p.suffix.lower() in (".csv", ".parquet", ".fits", ".txt", ".gz", ".tsv"):
            raise CatalogueError("file not found.", file=str(p))
    return None, text


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".fits", ".fits.gz", ".fit")):
            from astroexplore.catalogue import _read_fits_table
            return _read_fits_table(path).to_pandas()
        return pd.read_csv(path, sep=None, engine="python", dtype=str)  # .csv.gz: sniffs , ; tab
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise CatalogueError(f"cannot read the positions table: {err}", file=str(path)) from None


def _find_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _table_row(label: int) -> str:
    """A Parquet / FITS table's row in an error: 0-based, as pandas and pyarrow count."""
    return f"row {label} (0-based)"


def _positions_of_table(table: pd.DataFrame, where: str | None, row_name) -> pd.DataFrame:
    """``table``'s positions in degrees (see :func:`read_positions`). ``row_name``: how an error
    names the row of a label of ``table``'s index (a text table's line as an editor counts it, a
    binary table's 0-based row); rows dropped before (VizieR's unit rows, blank lines) keep the
    others' labels."""
    ra_col, dec_col = _find_column(table.columns, RA_NAMES), _find_column(table.columns, DEC_NAMES)
    if ra_col is None or dec_col is None:
        missing = "RA" if ra_col is None else "Dec"
        names = RA_NAMES if ra_col is None else DEC_NAMES
        raise CatalogueError(f"no {missing} column: looked for {', '.join(names)} (any case); the "
                             f"columns are {', '.join(map(str, table.columns[:20]))}", file=where)
    table = _without_unit_rows(table, ra_col, dec_col)
    if len(table) == 0:
        raise CatalogueError("the positions table has no rows", file=where)
    ra, dec = _column_degrees(table[ra_col], table[dec_col], where, ra_col, row_name)
    out = table.reset_index(drop=True)
    out["ra"], out["dec"] = ra, dec
    return out[["ra", "dec", *[c for c in table.columns if c not in ("ra", "dec")]]]


def _column_degrees(ra_col: pd.Series, dec_col: pd.Series, where, ra_name, row_name) -> tuple[np.ndarray, np.ndarray]:
    """Degrees from two columns: numbers as they are; sexagesimal text (RA in hours) read by
    astropy, all rows at once (a row it cannot read is then found and named by
    :func:`parse_position`). A row whose RA is a number and whose Dec is text (``-00 12 48.1``)
    keeps its RA in degrees. Minus signs copied from a PDF or a web page (U+2212) are read as '-'."""
    ra_col, dec_col = _plain_minus(ra_col), _plain_minus(dec_col)
    ra_num = pd.to_numeric(ra_col, errors="coerce").to_numpy(np.float64)
    dec_num = pd.to_numeric(dec_col, errors="coerce").to_numpy(np.float64)
    ra, dec = ra_num.copy(), dec_num.copy()

    def fail(label, message: str):
        raise CatalogueError(f"{row_name(label)}: {message}", file=where, column=str(ra_name),
                             rows=[int(ra_col.index.get_loc(label))])

    dec_text = np.flatnonzero(np.isfinite(ra_num) & ~np.isfinite(dec_num))
    if dec_text.size:
        dec[dec_text] = _dec_degrees(dec_col.iloc[dec_text], fail)
    text_rows = np.flatnonzero(~np.isfinite(ra_num))
    if text_rows.size:
        ra[text_rows], dec[text_rows] = _sexagesimal(ra_col.iloc[text_rows], dec_col.iloc[text_rows], fail)
    bad = np.flatnonzero(_not_sky(ra, dec))
    if bad.size:
        fail(ra_col.index[bad[0]], f"RA {ra[bad[0]]}, Dec {dec[bad[0]]} is not a sky position in degrees "
                                   f"(RA 0..360, Dec -90..90)" + (f"; {bad.size} such rows" if bad.size > 1 else ""))
    return ra % 360.0, dec


def _plain_minus(column: pd.Series) -> pd.Series:
    """A text column with every minus sign written '-' (a number column as it is)."""
    if column.dtype.kind in "biuf":
        return column
    return column.map(lambda v: v.translate(MINUS_SIGNS) if isinstance(v, str) else v)


def _dec_degrees(dec_text: pd.Series, fail) -> np.ndarray:
    """Degrees of Dec text (``-00 12 48.1``, ``+03:32:46.5``, ``3d32m``), all rows in one astropy
    call; where astropy refuses, the first row it cannot read goes to ``fail(label, message)``."""
    from astropy import units as u
    from astropy.coordinates import Angle

    try:
        return Angle(dec_text.astype(str).str.strip().to_numpy(), unit=u.deg).deg
    except Exception:  # noqa: BLE001  (astropy raises several types) -- find the row that fails
        pass
    for label, text in dec_text.items():
        try:
            Angle(str(text).strip(), unit=u.deg)
        except Exception as err:  # noqa: BLE001
            fail(label, f"cannot read the Dec '{text}' ({err})")
    raise AssertionError("unreachable: astropy refused the column but no row")


def _other_header(line: str) -> bool:
    """A first line of column names without RA and Dec (``name,x,y``): read as a table, whose
    error then lists the columns looked for (not "line 1 is no position")."""
    if not (re.search(r"[,;\t|]", line) and re.search(r"[a-zA-Z]", line.partition("#")[0])):
        return False
    try:
        _named_position(line.partition("#")[0].strip())
    except ValueError:
        return True
    return False


def _colon_positions(lines: Sequence[str]) -> dict[int, tuple[float, float]]:
    """The lines written ``hh:mm:ss.s +dd:mm:ss.s`` (before any ``#``), read by astropy in one call
    (a line at a time costs ~1 ms): {line index: (ra, dec) degrees}; {} where astropy refuses any
    of them (they are then read line by line, which names the bad one)."""
    at, ras, decs = [], [], []
    for i, raw in enumerate(lines):
        words = raw.partition("#")[0].split()
        if len(words) == 2 and words[0].count(":") == 2 and words[1].count(":") == 2:
            at.append(i)
            ras.append(words[0])
            decs.append(words[1])
    if len(at) < 2:
        return {}
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    try:
        c = SkyCoord(ras, decs, unit=(u.hourangle, u.deg))
    except Exception:  # noqa: BLE001  (astropy raises several types)
        return {}
    return dict(zip(at, zip(c.ra.deg.tolist(), c.dec.deg.tolist())))


def _named_position(text: str) -> tuple[tuple[float, float], str]:
    """A line's position, and the name written before or after it without a ``#``
    (``NGC 4650A 12:44:49 -40:42:52``): words holding a letter, taken off the line's start or end
    until the rest is a position. Only words with a letter are taken, so three numbers never lose
    one to a "name"."""
    try:
        return parse_position(text), ""
    except ValueError as err:
        first_error = err
    words = text.split()
    for k in range(1, len(words) - 1):
        for name, rest in ((words[:k], words[k:]), (words[-k:], words[:-k])):
            if any(re.search(r"[a-zA-Z]", w) for w in name):
                try:
                    return parse_position(" ".join(rest)), " ".join(name)
                except ValueError:
                    pass
    raise first_error


def _sexagesimal(ra_text: pd.Series, dec_text: pd.Series, fail) -> tuple[np.ndarray, np.ndarray]:
    """Degrees of sexagesimal text (RA in hours), all rows in one astropy call; where astropy
    refuses, the first row :func:`parse_position` cannot read goes to ``fail(label, message)``."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    try:
        c = SkyCoord(ra_text.astype(str).str.strip().to_numpy(), dec_text.astype(str).str.strip().to_numpy(),
                     unit=(u.hourangle, u.deg))
        return c.ra.deg, c.dec.deg
    except Exception:  # noqa: BLE001  (astropy raises several types) -- find the row that fails
        pass
    out = np.empty((2, len(ra_text)))
    for j, (i, r, d) in enumerate(zip(ra_text.index, ra_text, dec_text)):
        text = f"{r} {d}"
        try:
            out[:, j] = parse_position(text)
        except ValueError as err:
            fail(i, f"cannot read '{text}' as a position ({err})")
    return out[0], out[1]


def _without_unit_rows(table: pd.DataFrame, ra_col, dec_col) -> pd.DataFrame:
    """A VizieR table as saved or pasted (tab-separated values): the header is followed by a
    row of units (``deg``, ``"h:m:s"``) and a row of dashes; those rows are not positions."""
    def unit_like(v) -> bool:
        v = str(v).strip().strip('"').lower()
        return v == "" or set(v) <= {"-"} or v in _UNIT_WORDS
    drop = [i for i in table.index[:2] if unit_like(table.at[i, ra_col]) and unit_like(table.at[i, dec_col])]
    return table.drop(index=drop) if drop else table


_UNIT_WORDS = {"deg", "degree", "degrees", "h:m:s", "d:m:s", "hms", "dms", "hh:mm:ss", "dd:mm:ss", "[deg]"}


def _positions_of_text(text: str, where: str | None) -> pd.DataFrame:
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    header = [h.strip().lower() for h in re.split(r"[,;\t|]+|(?<![,;\t|]) (?![,;\t|])", first.strip().strip("|"))]
    if (any(h in RA_NAMES for h in header) and any(h in DEC_NAMES for h in header)) or _other_header(first):
        try:
            sep = next((c for c in ("\t", ",", ";", "|") if c in first), r"\s+")
            header_line = lines.index(first)  # 0-based: '#' lines above the header are notes
            # rows labelled by their line as an editor counts it (blank lines left out here:
            # pandas skips one after the header whatever it is told)
            numbered = [(n, ln) for n, ln in enumerate(lines[header_line + 1:], start=header_line + 2) if ln.strip()]
            table = pd.read_csv(io.StringIO("\n".join([first, *(ln for _, ln in numbered)])), sep=sep,
                                engine="python", dtype=str)
        except (ValueError, pd.errors.ParserError) as err:
            raise CatalogueError(f"cannot read the positions as a table: {err}", file=where) from None
        if len(table) == len(numbered):  # else a quoted field spans lines: rows counted from the header
            table.index = [n for n, _ in numbered]
        else:
            table.index = table.index + header_line + 2
        if "line" not in table.columns:  # unmatched positions are named by line, as errors are
            table["line"] = table.index
        return _positions_of_table(table, where, lambda label: f"line {label}")
    # SIMBAD's and NED's ASCII output separate a row's fields with '|': spaces here, so that a
    # name's last field never takes the RA's hours with it ('A1|10 55 18.22 +03 32 46.5')
    lines = [ln.replace("|", " ") for ln in lines]
    rows = []
    known = _colon_positions(lines)
    for n, raw in enumerate(lines, start=1):
        body, _, name = raw.partition("#")
        if not body.strip():
            continue
        try:
            (ra, dec), named = (known[n - 1], "") if n - 1 in known else _named_position(body.strip())
        except ValueError as err:
            raise CatalogueError(f"line {n}: {err}", file=where or "the positions", rows=[n - 1]) from None
        rows.append({"ra": ra % 360.0, "dec": dec, "line": n, "name": name.strip() or named})
    if not rows:
        raise CatalogueError("no positions: give one per line, e.g. '150.1 2.2' or "
                             "'10:00:24 +02:12:00'", file=where or "the positions")
    return pd.DataFrame(rows)
