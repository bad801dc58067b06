"""Interest labels: an append-only, crash-safe SQLite store, one file per project.

Every label an astronomer gives is an *event* appended to the ``events`` table and never changed
or deleted (triggers forbid it). Undo appends an ``"undo"`` event that cancels the user's latest
still-effective label. The current label of each (galaxy, user) pair is derived from the history
by the ``current_labels`` view: the effective label with the latest timestamp, so that importing
an older export never overrides a newer label. A call that adds a label returns only after the transaction is
committed with ``synchronous=FULL`` in WAL mode, so an acknowledged label survives a crash, and
several processes can write to one store at once (``BEGIN IMMEDIATE``, a busy timeout, retries).

Scores are ints 0-5 (:data:`astroexplore.constants.SCORES`); **higher = more interesting**.

>>> import tempfile, pathlib
>>> from astroexplore.labels import LabelStore
>>> with tempfile.TemporaryDirectory() as folder:
...     with LabelStore(pathlib.Path(folder) / "survey.labels.sqlite") as store:
...         event = store.add("J1200+0100", 4, user="ada", tags=["Ring"])
>>> event.score, event.tags
(4, ('#ring',))
"""
from __future__ import annotations

import csv
import functools
import json
import math
import numbers
import os
import random
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astroexplore.constants import ANONYMOUS, ID_COLUMN, MAX_SCORE, MIN_SCORE
from astroexplore.errors import LabelError, did_you_mean
from astroexplore.wording import counted

if TYPE_CHECKING:  # pandas is imported lazily: writers (and the CLI) start faster without it
    import pandas as pd

__all__ = ["LabelEvent", "LabelStore", "default_store_path", "normalise_tag", "with_user_labels", "SCHEMA_VERSION"]

#: Schema version kept in ``PRAGMA user_version``. 2: the current label of a (galaxy, user) is
#: the one with the latest timestamp (version 1 took the one written last, so importing an older
#: export overrode newer labels); stores of version 1 are upgraded when opened for writing.
SCHEMA_VERSION = 2
#: ``PRAGMA application_id`` marking an astroexplore label store (ASCII "AXLB").
APPLICATION_ID = 0x41584C42
#: Seconds a write waits for other writers before giving up.
WRITE_TIMEOUT_S = 60.0
# SQLite's own busy handler sleeps ever longer (up to 100 ms), so a writer in a tight loop keeps
# the lock while the others sleep; a short busy timeout plus our jittered retries (_retry) is
# fairer and about twice as fast with 4 writers.
_BUSY_TIMEOUT_MS = 2

_SQLITE_MAGIC = b"SQLite format 3\x00"
_TAG_RE = re.compile(r"#[a-z0-9][a-z0-9_-]{0,63}")
_LATEST_COLUMNS = [ID_COLUMN, "score", "user", "timestamp", "tags", "note"]
#: Bad rows of an import named in its error (the count says how many in all).
SHOW_BAD_ROWS = 5
_HISTORY_COLUMNS = ["event_id", "kind", ID_COLUMN, "score", "user", "timestamp", "tags", "note",
                    "undoes"]
_HOW = ("mean", "max", "min", "median")
_ASTRONOMALY_VALUE_COLUMNS = {"score", "trained_score", "human_label", "acquisition"}

# A label event ``e`` in force: not undone (the view effective_labels; queries that must scan the
# table in its own order rather than through an index use it inline)
_IN_FORCE = """e.kind = 'label'
      AND NOT EXISTS (SELECT 1 FROM events AS u WHERE u.undoes = e.event_id)"""

# The current label of each (galaxy, user): the effective label with the latest timestamp (ISO
# 8601 UTC strings of one format sort as text), the one written last among equal timestamps.
# (NOT EXISTS uses the (galaxy_id, user) index: as fast as version 1's GROUP BY, twice as fast as
# a ROW_NUMBER() window on 100,000 labels)
_CURRENT_SELECT = """SELECT e.event_id, e.galaxy_id, e.score, e.user, e.timestamp, e.tags, e.note
    FROM effective_labels AS e
    WHERE NOT EXISTS (SELECT 1 FROM effective_labels AS f
                      WHERE f.galaxy_id = e.galaxy_id AND f.user = e.user
                        AND (f.timestamp > e.timestamp
                             OR (f.timestamp = e.timestamp AND f.event_id > e.event_id)))"""
_CURRENT_VIEW = f"CREATE VIEW current_labels AS\n    {_CURRENT_SELECT};"
# what the queries read from: the same as the view, inline, so that a version-1 store opened
# read-only (not upgraded) reads the same current labels
_CURRENT = f"({_CURRENT_SELECT})"

_SCHEMA = f"""
CREATE TABLE events (
    event_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL CHECK (kind IN ('label', 'undo')),
    galaxy_id TEXT NOT NULL,
    score     INTEGER CHECK (score BETWEEN {MIN_SCORE} AND {MAX_SCORE}),
    user      TEXT NOT NULL CHECK (length(user) > 0),
    timestamp TEXT NOT NULL,
    tags      TEXT NOT NULL DEFAULT '[]',
    note      TEXT,
    undoes    INTEGER REFERENCES events (event_id),
    CHECK ((kind = 'label' AND score IS NOT NULL AND undoes IS NULL)
        OR (kind = 'undo' AND score IS NULL AND undoes IS NOT NULL))
);
CREATE INDEX events_galaxy_user ON events (galaxy_id, user);
CREATE INDEX events_user ON events (user, event_id);
CREATE UNIQUE INDEX events_undoes ON events (undoes) WHERE undoes IS NOT NULL;
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'label events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'label events are append-only'); END;
CREATE VIEW effective_labels AS
    SELECT * FROM events AS e
    WHERE {_IN_FORCE};
{_CURRENT_VIEW}
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
"""


@dataclass(frozen=True)
class LabelEvent:
    """One row of a store's history.

    Parameters
    ----------
    event_id : int
        Position in the history (increasing, never reused).
    galaxy_id : str
        The galaxy labelled (for an undo: the galaxy whose label was cancelled).
    score : int or None
        Interest 0-5, higher = more interesting; None for an undo.
    user : str
        Who gave (or undid) the label.
    timestamp : datetime
        When, timezone-aware UTC.
    tags : tuple of str
        Normalised tags such as ``"#ring"``.
    note : str or None
        Free text.
    kind : str
        ``"label"`` or ``"undo"``.
    undoes : int or None
        For an undo, the ``event_id`` of the label it cancels.
    """

    event_id: int
    galaxy_id: str
    score: int | None
    user: str
    timestamp: datetime
    tags: tuple[str, ...] = ()
    note: str | None = None
    kind: str = "label"
    undoes: int | None = None


@dataclass(frozen=True)
class _Record:
    """A validated label, ready to insert."""

    galaxy_id: str
    score: int
    user: str
    timestamp: str
    tags: tuple[str, ...]
    note: str | None
    timed: bool = True  # False: no time was given (stamped now); an import matches it at any time


# --------------------------------------------------------------------------- validation


def with_user_labels(table, store: LabelStore | None, user: str):
    """``table`` (one row per galaxy, column ``id``) followed by ``user``'s ``your_score`` and
    ``tags`` of each galaxy (:meth:`LabelStore.label_columns`; missing and empty where there is no
    ``store`` yet): a download says which galaxies were scored already."""
    import pandas as pd

    mine = store.label_columns(table["id"], user) if store is not None else \
        pd.DataFrame({"your_score": pd.array([None] * len(table), dtype="Int64"), "tags": [""] * len(table)})
    return pd.concat([table.reset_index(drop=True), mine], axis=1)


def default_store_path(catalogue_path: str | os.PathLike) -> Path:
    """Return the default label store of a catalogue: ``<stem>.labels.sqlite`` beside it.

    Parameters
    ----------
    catalogue_path : str or path-like
        The catalogue's main table.

    Returns
    -------
    Path

    Examples
    --------
    >>> default_store_path("surveys/decals.parquet").as_posix()
    'surveys/decals.labels.sqlite'
    """
    path = Path(catalogue_path)
    return path.with_name(f"{path.stem}.labels.sqlite")


def normalise_tag(tag: str) -> str:
    """Return ``tag`` lower-cased with one leading ``#``; LabelError if it has other characters.

    Tags are ``#`` followed by 1-64 of ``a-z``, ``0-9``, ``_`` and ``-`` (starting with a letter
    or digit).

    Examples
    --------
    >>> normalise_tag(" Merger ")
    '#merger'
    >>> normalise_tag("#tidal-tail")
    '#tidal-tail'
    """
    if not isinstance(tag, str):
        raise LabelError(f"tag {tag!r} is not a string")
    text = tag.strip().lower()
    text = text if text.startswith("#") else "#" + text
    if not _TAG_RE.fullmatch(text):
        raise LabelError(f"tag {tag!r} is not valid: use '#' then letters, digits, '_' or '-' "
                         "(at most 64), e.g. '#ring'")
    return text


def _normalise_tags(tags: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a tag list (or one string of tags split on commas, or on spaces between words
    that each start with ``#``), dropping repeats.

    Words without ``#`` between spaces are refused: ``"Polar Ring"`` may be one tag or two, and
    read as two it put those galaxies among the #ring ones.

    >>> _normalise_tags("#ring #Merger, lens")
    ('#ring', '#merger', '#lens')
    """
    if tags is None:
        return ()
    if isinstance(tags, str):
        pieces = [p.split() for p in re.split(r"[,;]", tags)]
        for words in pieces:
            if len(words) > 1 and not all(w.startswith("#") for w in words):
                n = {2: "two", 3: "three"}.get(len(words), str(len(words)))
                raise LabelError(f"tags {' '.join(words)!r}: one tag or {n}? A tag has no spaces: write "
                                 f"'#{'-'.join(w.lstrip('#') for w in words).lower()}' for one tag, or "
                                 f"'{' '.join('#' + w.lstrip('#').lower() for w in words)}' for {n}")
        tags = [w for words in pieces for w in words]
    return tuple(dict.fromkeys(normalise_tag(t) for t in tags))


def _check_score(score: Any, galaxy_id: str) -> int:
    """Return ``score`` as an int 0-5 (integral floats accepted); LabelError otherwise."""
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        raise LabelError(f"score {score!r} for galaxy {galaxy_id!r} is not a number: "
                         f"give an int {MIN_SCORE}-{MAX_SCORE}")
    if not isinstance(score, numbers.Integral):
        if not float(score).is_integer():
            raise LabelError(f"score {score!r} for galaxy {galaxy_id!r} is not a whole number: "
                             f"give an int {MIN_SCORE}-{MAX_SCORE}")
    value = int(score)
    if not MIN_SCORE <= value <= MAX_SCORE:
        raise LabelError(f"score {value} for galaxy {galaxy_id!r} is outside "
                         f"{MIN_SCORE}-{MAX_SCORE}")
    return value


def _check_user(user: Any) -> str:
    """Return the stripped user name; LabelError if it is not a non-empty string."""
    if not isinstance(user, str) or not user.strip():
        raise LabelError(f"user name must be a non-empty string, got {user!r}")
    return user.strip()


def _check_note(note: Any) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise LabelError(f"note must be a string or None, got {type(note).__name__}")
    return note if note.strip() else None


def _sentence(err: Exception) -> str:
    """The message of ``err`` ending with a full stop (or its own ? or !)."""
    text = str(err)
    return text if text.endswith((".", "?", "!")) else text + "."


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _parse_timestamp(value: Any) -> str:
    """Return an ISO 8601 UTC string for a datetime or ISO string (naive = UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise LabelError(f"timestamp {value!r} is not ISO 8601 "
                             "(e.g. 2026-11-26T21:03:17+00:00)") from None
    if not isinstance(value, datetime):
        raise LabelError(f"timestamp {value!r} is not a datetime or ISO 8601 string")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------- the store


class LabelStore:
    """Every interest label of a project, in one SQLite file that never loses a committed label.

    Parameters
    ----------
    path : str or path-like
        The store file; created (with its folder) if missing. An existing file that is not an
        astroexplore label store raises :class:`~astroexplore.errors.LabelError` and is left
        untouched.
    valid_ids : iterable of str, optional
        Galaxy ids that may be labelled (usually ``catalogue.ids``); None accepts any id.
    read_only : bool
        Open an existing store for reading only, where its file or folder cannot be written (a
        read-only mount, a colleague's archive): every write raises LabelError. A store whose
        folder is read-only is read as it is at opening (SQLite's ``immutable``); the others see
        later writes of other processes as usual.

    Notes
    -----
    Safe to share between threads (one connection behind a lock) and between processes (WAL,
    ``BEGIN IMMEDIATE``, busy timeout and retries). Scores: ints 0-5, higher = more interesting.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "demo.labels.sqlite"
    >>> store = LabelStore(path, valid_ids=["a", "b", "c"])
    >>> _ = store.add("a", 5, user="ada", tags="#merger")
    >>> _ = store.add("b", 2, user="ada")
    >>> _ = store.add("a", 3, user="bo")
    >>> store.scores().to_dict()
    {'a': 4.0, 'b': 2.0}
    >>> store.undo("ada").galaxy_id
    'b'
    >>> store.labelled_ids(), store.tagged("merger")
    (['a'], ['a'])
    >>> store.close(); folder.cleanup()
    """

    def __init__(self, path: str | os.PathLike, *, valid_ids: Iterable[str] | None = None,
                 read_only: bool = False):
        self.path = Path(path)
        if isinstance(valid_ids, str):  # one id, not its characters
            valid_ids = [valid_ids]
        self.valid_ids = None if valid_ids is None else frozenset(str(i) for i in valid_ids)
        self.read_only = bool(read_only)
        self._lock = threading.RLock()
        self._commits = 0
        self._conn: sqlite3.Connection | None = (_open_read_only if self.read_only else _open)(self.path)

    # -- lifecycle

    def close(self) -> None:
        """Close the connection (idempotent); committed labels are already on disk."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._conn is None

    def close_if_empty(self) -> bool:
        """Close the store; True if it holds no event at all (a file that can be removed)."""
        try:
            return not self._query("SELECT 1 FROM events LIMIT 1")
        finally:
            self.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r})"

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise LabelError(f"{self.path}: the label store is closed")
            yield self._conn

    def _write(self, work):
        """Run ``work(conn)`` in one ``BEGIN IMMEDIATE`` transaction, retrying while busy."""
        if self.read_only:
            raise LabelError(f"{self.path}: the label store was opened read-only; nothing was stored. "
                             "Open it with LabelStore(path) to write to it")
        with self._connection() as conn:
            deadline = time.monotonic() + WRITE_TIMEOUT_S
            try:
                _retry(lambda: conn.execute("BEGIN IMMEDIATE"), deadline, self.path)
                try:
                    result = work(conn)
                    _retry(lambda: conn.execute("COMMIT"), deadline, self.path)
                    self._commits += 1
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as err:  # read-only file or folder, disk full, ...
                raise LabelError(f"{self.path}: cannot write to the label store ({err}); nothing "
                                 "was stored. Check that the file and its folder are writable "
                                 "and the disk has room") from err
            return result

    # -- writing

    def add(self, galaxy_id: str, score: int, *, user: str = "anonymous",
            tags: str | Iterable[str] = (), note: str | None = None) -> LabelEvent:
        """Append a label and return it once it is committed to disk.

        Parameters
        ----------
        galaxy_id : str
            Galaxy id (must be in ``valid_ids`` when the store has them).
        score : int
            Interest 0-5, higher = more interesting. Integral floats (``2.0``) are accepted;
            ``2.5``, strings and bools raise :class:`~astroexplore.errors.LabelError`.
        user : str, default "anonymous"
            Non-empty user name.
        tags : str or iterable of str, optional
            Free tags such as ``"#ring"``; lower-cased, ``#`` added. A string is split on commas, and
            on spaces between words that each start with ``#`` ("#ring #merger"); words without
            ``#`` between spaces ("polar ring") are refused as ambiguous.
        note : str, optional
            Free text.

        Returns
        -------
        LabelEvent

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = tempfile.TemporaryDirectory()
        >>> store = LabelStore(pathlib.Path(folder.name) / "s.sqlite")
        >>> store.add("g1", 2.0, tags=["Ring", "#ring"]).tags
        ('#ring',)
        >>> store.add("g1", 7)
        Traceback (most recent call last):
        ...
        astroexplore.errors.LabelError: score 7 for galaxy 'g1' is outside 0-5
        >>> store.close(); folder.cleanup()
        """
        record = self._record(galaxy_id, score, user=user, tags=tags, note=note)
        event_id = self._write(lambda conn: _insert(conn, [record])[0])
        return _event_from_record(event_id, record)

    def add_many(self, rows: Iterable[Mapping[str, Any] | tuple], *,
                 user: str = "anonymous") -> int:
        """Append many labels in one transaction: all of them, or none if any row is bad.

        Parameters
        ----------
        rows : iterable of mapping or tuple
            Mappings with ``"id"`` (or ``"galaxy_id"``) and ``"score"``, optionally ``"user"``,
            ``"tags"``, ``"note"`` and ``"timestamp"`` (ISO 8601 or datetime; default now); or
            ``(galaxy_id, score)`` pairs.
        user : str, default "anonymous"
            User for rows that name none.

        Returns
        -------
        int
            Number of labels added.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = tempfile.TemporaryDirectory()
        >>> store = LabelStore(pathlib.Path(folder.name) / "s.sqlite")
        >>> store.add_many([("g1", 1), {"id": "g2", "score": 4, "tags": "#lens"}], user="ada")
        2
        >>> store.close(); folder.cleanup()
        """
        return len(self.add_events(rows, user=user))

    def add_events(self, rows: Iterable[Mapping[str, Any] | tuple], *,
                   user: str = "anonymous") -> list[LabelEvent]:
        """:meth:`add_many`, returning the label events as committed (their ``event_id`` for
        :meth:`undo_many`): all of them on disk when this returns, or none if any row is bad."""
        records = []
        for i, row in enumerate(rows):
            try:
                records.append(self._record_from_row(row, user))
            except LabelError as err:
                raise LabelError(f"row {i}: {_sentence(err)} Nothing was added.") from None
        return [_event_from_record(i, r) for i, r in self._insert_records(records)]

    def undo(self, user: str, event_id: int | None = None) -> LabelEvent | None:
        """Cancel ``user``'s latest still-effective label (or label ``event_id``) by appending an
        undo event.

        Calling it twice cancels the two latest labels. The cancelled label stays in
        :meth:`history`; a galaxy's current label falls back to the user's previous one.

        Parameters
        ----------
        user : str
            Whose label to undo.
        event_id : int, optional
            Undo this label of ``user`` (the ``event_id`` :meth:`add` returned), not the latest:
            what one window wrote, when several share a user name.

        Returns
        -------
        LabelEvent or None
            The undo event (``kind="undo"``, ``undoes`` = the cancelled ``event_id``), or None
            when the user has no label left to undo (or label ``event_id`` is no longer in effect).
        """
        user = _check_user(user)
        if event_id is None:
            sql, params = ("SELECT event_id, galaxy_id FROM effective_labels WHERE user = ? "
                           "ORDER BY event_id DESC LIMIT 1"), (user,)
        else:
            sql, params = ("SELECT event_id, galaxy_id FROM effective_labels WHERE user = ? "
                           "AND event_id = ?"), (user, _check_event_id(event_id))
        return self._write(lambda conn: _undo_row(conn, conn.execute(sql, params).fetchone(), user))

    def undo_many(self, user: str, event_ids: Iterable[int]) -> list[LabelEvent]:
        """Cancel ``user``'s labels ``event_ids`` (those :meth:`add_events` returned) in one
        transaction, newest first; a label no longer in effect (undone already, or not
        ``user``'s) is passed over. Returns the undo events appended."""
        user = _check_user(user)
        wanted = sorted({_check_event_id(e) for e in event_ids}, reverse=True)
        sql = "SELECT event_id, galaxy_id FROM effective_labels WHERE user = ? AND event_id = ?"

        def work(conn: sqlite3.Connection) -> list[LabelEvent]:
            done = [_undo_row(conn, conn.execute(sql, (user, e)).fetchone(), user) for e in wanted]
            return [d for d in done if d is not None]

        return self._write(work) if wanted else []

    def _record(self, galaxy_id: Any, score: Any, *, user: Any, tags: Any = (),
                note: Any = None, timestamp: Any = None, hint: bool = True) -> _Record:
        """Validate one label (id, score, user, tags, note, timestamp)."""
        galaxy_id = self._check_id(galaxy_id, hint=hint)
        return _Record(galaxy_id, _check_score(score, galaxy_id), _check_user(user),
                       _now() if timestamp is None else _parse_timestamp(timestamp),
                       _normalise_tags(tags), _check_note(note), timed=timestamp is not None)

    def _record_from_row(self, row: Mapping[str, Any] | tuple, user: str) -> _Record:
        if isinstance(row, Mapping):
            galaxy_id = row.get(ID_COLUMN, row.get("galaxy_id"))
            return self._record(galaxy_id, row.get("score"), user=row.get("user") or user,
                                tags=row.get("tags") or (), note=row.get("note"),
                                timestamp=row.get("timestamp"))
        if isinstance(row, tuple) and len(row) == 2:
            return self._record(row[0], row[1], user=user)
        raise LabelError(f"expected a mapping or a (galaxy_id, score) pair, got {row!r}")

    def _check_id(self, galaxy_id: Any, *, hint: bool = True) -> str:
        if isinstance(galaxy_id, numbers.Integral) and not isinstance(galaxy_id, bool):
            galaxy_id = str(galaxy_id)
        if not isinstance(galaxy_id, str) or not galaxy_id.strip():
            raise LabelError(f"galaxy id must be a non-empty string, got {galaxy_id!r}")
        if self.valid_ids is not None and galaxy_id not in self.valid_ids:
            close = (did_you_mean(galaxy_id, self.valid_ids)
                     if hint and len(self.valid_ids) <= 20_000 else "")
            raise LabelError(f"galaxy id {galaxy_id!r} is not in the catalogue.{close}")
        return galaxy_id

    def _insert_records(self, records: list[_Record], *, skip_stored: bool = False) -> list[tuple[int, _Record]]:
        """Insert ``records`` in one transaction; return the (event_id, record) pairs inserted.

        ``skip_stored``: leave out records identical to a label event already in the store
        (same galaxy, user, timestamp, score, tags and note), so that an import is idempotent.
        """
        def work(conn: sqlite3.Connection) -> list[tuple[int, _Record]]:
            todo = [r for r in records if not (skip_stored and _is_stored(conn, r))]
            return list(zip(_insert(conn, todo), todo))

        return self._write(work) if records else []

    # -- reading

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._connection() as conn:
            deadline = time.monotonic() + WRITE_TIMEOUT_S
            return _retry(lambda: conn.execute(sql, params).fetchall(), deadline, self.path)

    def _current(self, user: str | None = None) -> list[tuple]:
        where, params = self._user_filter(user)
        return self._query("SELECT galaxy_id, score, user, timestamp, tags, note, event_id "
                           f"FROM {_CURRENT} {where} ORDER BY event_id", params)

    @property
    def revision(self) -> tuple[int, int]:
        """A token that changes whenever labels are committed: by this object (any thread) or by
        another connection or process (SQLite's ``data_version``). Cheap: reads no table, so a
        view can poll it to see whether its counts are stale."""
        with self._connection() as conn:
            return int(conn.execute("PRAGMA data_version").fetchone()[0]), self._commits

    def label_of(self, galaxy_id: str, user: str) -> LabelEvent | None:
        """``user``'s current label of ``galaxy_id`` (latest timestamp), or None; one indexed query."""
        rows = self._query(
            "SELECT event_id, galaxy_id, score, user, timestamp, tags, note FROM effective_labels "
            "WHERE galaxy_id = ? AND user = ? ORDER BY timestamp DESC, event_id DESC LIMIT 1",
            (str(galaxy_id), _check_user(user)))
        if not rows:
            return None
        event_id, gid, score, who, stamp, tags, note = rows[0]
        return LabelEvent(event_id, gid, score, who, datetime.fromisoformat(stamp), _tags_from_json(tags), note)

    def labels_of(self, galaxy_id: str) -> list[LabelEvent]:
        """Every user's current label of ``galaxy_id`` (each user's latest), by user name; one
        indexed query."""
        rows = self._query(
            "SELECT event_id, galaxy_id, score, user, timestamp, tags, note FROM effective_labels "
            "WHERE galaxy_id = ? ORDER BY user, timestamp DESC, event_id DESC", (str(galaxy_id),))
        latest: dict[str, LabelEvent] = {}
        for event_id, gid, score, who, stamp, tags, note in rows:
            if who not in latest:
                latest[who] = LabelEvent(event_id, gid, score, who, datetime.fromisoformat(stamp),
                                         _tags_from_json(tags), note)
        return list(latest.values())

    def latest(self, user: str | None = None) -> pd.DataFrame:
        """Return the current label of each (galaxy, user) pair.

        Parameters
        ----------
        user : str, optional
            Only this user's labels.

        Returns
        -------
        DataFrame
            Columns ``id`` (str), ``score`` (int64, 0-5, higher = more interesting), ``user``
            (str), ``timestamp`` (datetime64, UTC), ``tags`` (tuple of str), ``note`` (str or
            None) and ``event_id`` (int64); one row per (galaxy, user), oldest label first.
        """
        rows = self._current(user)
        frame = _frame(rows, [*_LATEST_COLUMNS, "event_id"])
        return frame.astype({"score": "int64", "event_id": "int64"})

    def label_columns(self, ids, user: str) -> pd.DataFrame:
        """``user``'s current labels of the galaxies ``ids``, as columns to join to a table of
        them (the app's CSV downloads).

        Parameters
        ----------
        ids : sequence of str, length n
        user : str

        Returns
        -------
        DataFrame
            ``your_score`` (nullable Int64, missing where unlabelled) and ``tags`` (str, space
            separated, "" where none); n rows in the order of ``ids``, a RangeIndex.
        """
        import numpy as np
        import pandas as pd

        mine = self.latest(user=user)
        where = pd.Index(mine["id"].astype(str)).get_indexer(np.asarray(ids).astype(str))
        found = where >= 0
        score = pd.array(np.zeros(len(where), dtype=np.int64), dtype="Int64")
        score[~found] = pd.NA
        tags = np.full(len(where), "", dtype=object)
        if found.any():
            score[found] = mine["score"].to_numpy()[where[found]]
            tags[found] = [" ".join(t) for t in mine["tags"].to_numpy()[where[found]]]
        return pd.DataFrame({"your_score": score, "tags": tags})

    def history(self) -> pd.DataFrame:
        """Return every event, labels and undos, in the order they were written.

        Returns
        -------
        DataFrame
            Columns ``event_id``, ``kind`` ("label" or "undo"), ``id``, ``score`` (nullable
            Int64; missing for undos), ``user``, ``timestamp`` (datetime64, UTC), ``tags``,
            ``note`` and ``undoes`` (nullable Int64: the event an undo cancels).
        """
        rows = self._query("SELECT event_id, kind, galaxy_id, score, user, timestamp, tags, "
                           "note, undoes FROM events ORDER BY event_id")
        frame = _frame(rows, _HISTORY_COLUMNS)
        return frame.astype({"event_id": "int64", "score": "Int64", "undoes": "Int64"})

    def scores(self, user: str | None = None, how: str = "mean") -> pd.Series:
        """Return one interest score per labelled galaxy.

        Parameters
        ----------
        user : str, optional
            Only this user's current labels; by default every user's.
        how : {"mean", "max", "min", "median"}, default "mean"
            How to combine the users' current scores of one galaxy.

        Returns
        -------
        Series
            float64 score 0-5 (higher = more interesting), index ``id`` (galaxy ids, sorted).
        """
        if how not in _HOW:
            raise ValueError(f"how must be one of {_HOW}, got {how!r}")
        import pandas as pd

        rows = self._current(user)
        frame = pd.DataFrame([r[:2] for r in rows], columns=[ID_COLUMN, "score"])
        series = frame.groupby(ID_COLUMN)["score"].agg(how).astype("float64")
        return series.rename("score")

    def labelled_ids(self, user: str | None = None) -> list[str]:
        """Return the sorted ids of galaxies with a current label (by ``user``, or by anyone)."""
        where, params = self._user_filter(user)
        rows = self._query(f"SELECT DISTINCT galaxy_id FROM effective_labels {where} "
                           "ORDER BY galaxy_id", params)
        return [r[0] for r in rows]

    def first_labelled(self, user: str | None = None) -> pd.DataFrame:
        """When each galaxy with a label in force (by ``user``, or by anyone) was first scored:
        the order of a discovery curve.

        Returns
        -------
        DataFrame
            ``id``, ``first`` (the earliest timestamp among its labels not undone, ISO 8601 UTC
            text) and ``first_event`` (the earliest of their event ids); sorted by both, earliest
            first. A label undone does not count; a galaxy scored again keeps its first time.
        """
        import pandas as pd

        by_user, params = ("", ()) if user is None else ("AND e.user = ?", (_check_user(user),))
        # read in the table's order and grouped here: a GROUP BY through the (galaxy, user) index
        # fetched each row out of order (50,000 labels: 0.27 s against 0.06 s + 0.03 s)
        rows = self._query(f"SELECT galaxy_id, timestamp, event_id FROM events AS e NOT INDEXED "
                           f"WHERE {_IN_FORCE} {by_user}", params)
        frame = pd.DataFrame(rows, columns=[ID_COLUMN, "first", "first_event"])
        first = frame.groupby(ID_COLUMN, sort=False).agg(first=("first", "min"),
                                                          first_event=("first_event", "min"))
        return first.reset_index().sort_values(["first", "first_event"], kind="stable").reset_index(drop=True)

    def count(self, user: str | None = None) -> int:
        """Return how many galaxies have a current label (by ``user``, or by anyone)."""
        where, params = self._user_filter(user)
        rows = self._query(f"SELECT COUNT(DISTINCT galaxy_id) FROM effective_labels {where}",
                           params)
        return int(rows[0][0])

    def tagged(self, tag: str) -> list[str]:
        """Return the sorted ids whose current label (by any user) carries ``tag``.

        ``tag`` is normalised like the tags of :meth:`add` (``"Ring"`` finds ``"#ring"``).
        """
        quoted = json.dumps(normalise_tag(tag))  # tags are stored as a JSON list of strings
        rows = self._query(f"SELECT DISTINCT galaxy_id FROM {_CURRENT} "
                           "WHERE instr(tags, ?) > 0 ORDER BY galaxy_id", (quoted,))
        return [r[0] for r in rows]

    def users(self) -> list[str]:
        """Return the sorted names of the users with a current label."""
        return sorted(r[0] for r in self._query(f"SELECT DISTINCT user FROM {_CURRENT}"))

    def tags(self) -> list[str]:
        """Return the sorted tags carried by current labels."""
        rows = self._query(f"SELECT DISTINCT tags FROM {_CURRENT} WHERE tags != '[]'")
        return sorted({t for r in rows for t in json.loads(r[0])})

    @staticmethod
    def _user_filter(user: str | None) -> tuple[str, tuple]:
        return ("", ()) if user is None else ("WHERE user = ?", (_check_user(user),))

    # -- import and export

    def import_csv(self, path: str | os.PathLike, *, user: str | None = None, catalogue=None) -> int:
        """Import labels from a CSV file in one transaction: every row, or nothing.

        Two formats are recognised by their header:

        - ours (:meth:`export_csv`): ``id``, ``score`` and optionally ``user``, ``timestamp``,
          ``tags`` (space-separated) and ``note``;
        - Astronomaly's ``ml_scores.csv``: the first column holds the ids (its index), and
          ``human_label`` the score, where -1 (or empty) means unlabelled and is skipped; other
          columns (``score``, ``trained_score``, ...) are ignored.

        Parameters
        ----------
        path : str or path-like
            The CSV file.
        user : str, optional
            User for rows that name none (default "anonymous").
        catalogue : Catalogue, optional
            Where given, every id must be one of its galaxies, and a row that has ``ra`` and
            ``dec`` (an export written with a catalogue) must lie within
            :data:`~astroexplore.search.SAME_OBJECT_ARCSEC` of the galaxy with that id: labels
            made on another catalogue whose ids name other galaxies are refused, not put on them.

        Returns
        -------
        int
            Number of labels imported. Rows identical to a label already stored (same galaxy,
            user, timestamp, score, tags and note: a file imported twice, or an export of this
            store) are skipped and not counted; a row without a timestamp (Astronomaly's file) is
            skipped when that label was ever stored, at any time (the file imported again, even
            rewritten with more rows), and otherwise stamped now. An imported label becomes a
            galaxy's current label only if it is newer than that user's label of it in the store.

        Raises
        ------
        LabelError
            Naming the file and the lines of the bad rows (unknown id, bad score, another
            galaxy's position, ...; the first few, and how many in all); nothing is imported.
        """
        return self._import(self._read_csv, path, user, catalogue)

    def import_parquet(self, path: str | os.PathLike, *, user: str | None = None, catalogue=None) -> int:
        """Import labels from a Parquet file written by :meth:`export_parquet` (columns ``id``,
        ``score`` and optionally ``user``, ``timestamp``, ``tags`` as a list or a space-separated
        string, ``note``), with the rules of :meth:`import_csv`: every row or nothing, a row
        already stored is skipped. Errors name the file and the row, 0-based
        (as pandas and pyarrow count, and as catalogue errors name table rows)."""
        return self._import(self._read_parquet, path, user, catalogue)

    def _import(self, read, path, user: str | None, catalogue) -> int:
        """``read(path, user, check)`` -> records, inserted in one transaction (import_csv /
        import_parquet); ``check`` validates each row against ``catalogue`` (None: no check)."""
        check = None if catalogue is None else _CatalogueCheck(catalogue)
        records = read(Path(path), "anonymous" if user is None else _check_user(user), check)
        return len(self._insert_records(records, skip_stored=True))

    def _read_parquet(self, path: Path, user: str, check=None) -> list[_Record]:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise LabelError(f"{path}: cannot read labels as Parquet ({err})") from None
        header = list(table.column_names)
        columns = [table.column(c).to_pylist() for c in header]

        def text(value) -> str:
            if value is None:
                return ""
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, (list, tuple)):
                return " ".join(map(str, value))
            return str(value)

        class Rows:  # what _parse_rows reads from csv.reader: rows of text, and where it is
            line_num = 0

            def __iter__(self):
                for i, row in enumerate(zip(*columns)):
                    self.line_num = i  # 0-based, as catalogue and embed errors name table rows
                    yield [text(v) for v in row]

        return self._parse_rows(path, Rows(), _csv_parser(path, header), user, check, unit="row")

    def _read_csv(self, path: Path, user: str, check=None) -> list[_Record]:
        """Comma-separated, or ';' or tab-separated when the header has no comma but them (a
        spreadsheet's export); UTF-8 (LabelError naming the first line that is not)."""
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header is None:
                    raise LabelError(f"{path}: the file is empty")
                sep = next((s for s in (";", "\t") if len(header) == 1 and s in header[0]), None)
                if sep is not None:
                    fh.seek(0)
                    reader = csv.reader(fh, delimiter=sep)
                    header = next(reader)
                parse = _csv_parser(path, header)
                return self._parse_rows(path, reader, parse, user, check)
        except UnicodeDecodeError as err:
            raise LabelError(f"{path}: {_not_utf8(path, err)}") from None
        except (OSError, csv.Error) as err:
            raise LabelError(f"{path}: cannot read labels ({err})") from None

    def _parse_rows(self, path: Path, reader, parse, user: str, check=None, unit: str = "line") -> list[_Record]:
        """The file's rows as records; LabelError naming the first :data:`SHOW_BAD_ROWS` bad ones
        (and how many in all) where any is bad. No "did you mean" for an unknown id: a close id
        is another galaxy."""
        records, bad = [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            try:
                fields = parse(row)
                if fields is not None:
                    position = fields.pop("ra", None), fields.pop("dec", None)
                    fields.setdefault("user", user)
                    record = self._record(**fields, hint=False)
                    if check is not None:
                        check(record.galaxy_id, *position)
                    records.append(record)
            except LabelError as err:
                bad.append((reader.line_num, err))
        if bad:
            raise _bad_rows_error(path, bad, "row {} (0-based)" if unit == "row" else unit + " {}")
        return records

    def export_csv(self, path: str | os.PathLike, *, catalogue=None) -> Path:
        """Write every current label to CSV (the format :meth:`import_csv` reads back).

        Columns ``id, score, user, timestamp`` (ISO 8601 UTC), ``tags`` (space-separated) and
        ``note``; one row per (galaxy, user); with a ``catalogue``, each galaxy's ``ra``/``dec``
        after its id (a follow-up list; an import with a catalogue checks them). The file is
        replaced atomically; an earlier export there is replaced only if every label it holds is
        in this store (one edited by hand would lose its edits: LabelError).

        Returns
        -------
        Path
            ``path``.
        """
        path = _check_export_suffix(Path(path), "csv")
        self._check_replaceable(path)
        frame = self.export_frame(catalogue=catalogue)
        with _atomic_output(path, self.path) as tmp:
            frame.to_csv(tmp, index=False)
        return path

    def _check_replaceable(self, path: Path) -> None:
        """Refuse to replace an earlier export that holds labels this store lacks (edited by hand:
        a changed score, added rows), which writing over it would lose."""
        if not path.is_file() or path.stat().st_size == 0 or not _is_label_export(path):
            return  # nothing there, or not an export (refused by _atomic_output)
        read = self._read_parquet if path.suffix.lower() in (".parquet", ".pq") else self._read_csv
        fix = (f"import it first (astroexplore labels import {self.path} {path}) or give another path")
        try:
            records = read(path, ANONYMOUS)
        except LabelError as err:
            raise LabelError(f"{path}: the export there has rows that are not labels of this store "
                             f"(edited by hand?), and writing over it would lose them: {err}. Give "
                             "another path, or fix the file and import it first") from None
        with self._connection() as conn:
            new = [r for r in records if not _is_stored(conn, r)]
        if new:
            raise LabelError(f"{path}: the export there holds {counted(len(new), 'label')} this store does not "
                             f"have (edited by hand? e.g. {new[0].galaxy_id!r} = {new[0].score}); writing over "
                             f"the file would lose {'that label' if len(new) == 1 else 'them'}: {fix}")

    def export_frame(self, user: str | None = None, *, catalogue=None) -> pd.DataFrame:
        """The rows :meth:`export_csv` writes, as text-ready columns: ``id``, ``ra``, ``dec``
        (degrees: only with a ``catalogue`` that has coordinates; NaN for a galaxy it lacks),
        ``score, user, timestamp`` (ISO 8601 UTC), ``tags`` (space-separated), ``note``; one row
        per (galaxy, user), oldest first (``user``: only theirs)."""
        frame = self.latest(user)[_LATEST_COLUMNS].copy()
        frame["timestamp"] = [t.isoformat() for t in frame["timestamp"]]
        frame["tags"] = [" ".join(t) for t in frame["tags"]]
        from astroexplore.catalogue import position_columns

        for at, (name, values) in enumerate(position_columns(catalogue, frame[ID_COLUMN]), start=1):
            frame.insert(at, name, values)
        return frame

    def export_parquet(self, path: str | os.PathLike, *, catalogue=None) -> Path:
        """Write every current label to Parquet, one row per (galaxy, user).

        Columns ``id`` (string), ``score`` (int8), ``user`` (string), ``timestamp``
        (timestamp[us, UTC]), ``tags`` (list<string>) and ``note`` (string, nullable); with a
        ``catalogue``, ``ra``/``dec`` (float64) after the id. The file is replaced atomically.

        Returns
        -------
        Path
            ``path``.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = _check_export_suffix(Path(path), "parquet")
        self._check_replaceable(path)
        rows = self._current()
        schema = pa.schema([(ID_COLUMN, pa.string()), ("score", pa.int8()), ("user", pa.string()),
                            ("timestamp", pa.timestamp("us", tz="UTC")),
                            ("tags", pa.list_(pa.string())), ("note", pa.string())])
        columns = [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                   [datetime.fromisoformat(r[3]) for r in rows],
                   [list(_tags_from_json(r[4])) for r in rows], [r[5] for r in rows]]
        table = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, schema)],
                                     schema=schema)
        from astroexplore.catalogue import position_columns

        for at, (name, values) in enumerate(position_columns(catalogue, columns[0]), start=1):
            table = table.add_column(at, pa.field(name, pa.float64()), pa.array(values, pa.float64()))
        with _atomic_output(path, self.path) as tmp:
            pq.write_table(table, tmp)
        return path


# --------------------------------------------------------------------------- helpers

_EVENT_COLUMNS = "event_id, kind, galaxy_id, score, user, timestamp, tags, note, undoes"


def recover_store(damaged: str | os.PathLike, out: str | os.PathLike) -> dict:
    """Copy every label event still readable in a damaged label store into a new store.

    The damaged file is only read. Events are read in ranges of ``event_id``; a range SQLite
    cannot read is split until the unreadable events are isolated and left out. Event ids,
    users, timestamps, tags, notes and undos are kept; an undo whose label was lost, and a row
    whose values were garbled (failing the store's checks), are left out.

    Parameters
    ----------
    damaged : path
        The damaged store (refused at open with "the label store is damaged").
    out : path
        The new store; must not exist.

    Returns
    -------
    dict
        ``recovered`` (events written), ``lost`` (event ids not readable or not valid),
        ``highest_event_id`` (of the damaged store, as far as it is known).
    """
    damaged, out = Path(damaged), Path(out)
    if out.exists():
        raise LabelError(f"{out}: exists; recover into a new file")
    if not damaged.is_file():
        raise LabelError(f"{damaged}: no label store here (check the path)")
    _check_file_kind(damaged)
    src = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        top = _highest_event_id(src, damaged)
        rows = _readable_events(src, 1, top)
    finally:
        src.close()
    kept = {r[0] for r in rows if r[1] == "label"}
    rows = [r for r in rows if r[1] == "label" or r[8] in kept]  # an undo of a lost label: out
    with LabelStore(out) as store:
        def work(conn):
            before = conn.total_changes
            conn.executemany(f"INSERT OR IGNORE INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            return conn.total_changes - before
        written = store._write(work)
    return {"recovered": int(written), "lost": int(top - written), "highest_event_id": int(top)}


def _highest_event_id(conn: sqlite3.Connection, path: Path) -> int:
    for query in ("SELECT seq FROM sqlite_sequence WHERE name = 'events'", "SELECT MAX(event_id) FROM events"):
        try:
            row = conn.execute(query).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row and row[0]:
            return int(row[0])
    raise LabelError(f"{path}: cannot read how many label events the store held; nothing can "
                     "be recovered from it")


def _readable_events(conn: sqlite3.Connection, lo: int, hi: int) -> list[tuple]:
    """Events ``lo <= event_id <= hi`` that SQLite can read, splitting unreadable ranges."""
    try:
        return conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id BETWEEN ? AND ? "
                            "ORDER BY event_id", (lo, hi)).fetchall()
    except sqlite3.DatabaseError:
        if lo >= hi:
            return []
        mid = (lo + hi) // 2
        return _readable_events(conn, lo, mid) + _readable_events(conn, mid + 1, hi)


def _open(path: Path) -> sqlite3.Connection:
    """Open (creating if new) a label store, refusing, untouched, any other file."""
    _check_file_kind(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except (OSError, sqlite3.OperationalError) as err:
        raise _cannot_open(path, err) from None
    try:
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        new, version = _identify(conn, path, deadline)
        if not new:
            _check_intact(conn, path, deadline)
        _retry(lambda: conn.execute("PRAGMA journal_mode = WAL"), deadline, path)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if new:
            _initialise(conn, path, deadline)
        elif version < SCHEMA_VERSION:
            _upgrade(conn, path, deadline)
    except BaseException:
        conn.close()
        raise
    return conn


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open an existing label store for reading only. Where SQLite cannot create the WAL index
    beside it (a read-only folder), it is opened ``immutable``: read without locks."""
    if not path.is_file():
        raise LabelError(f"{path}: no label store here (check the path)")
    _check_file_kind(path)
    uri = path.resolve().as_uri()
    deadline = time.monotonic() + WRITE_TIMEOUT_S
    for query in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=_BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        try:
            new, _ = _identify(conn, path, deadline)
        except LabelError as err:
            conn.close()
            if "cannot open" in str(err) and "immutable" not in query:
                continue
            raise
        if new:
            conn.close()
            raise LabelError(f"{path}: an empty file, not a label store")
        try:
            _check_intact(conn, path, deadline)
        except LabelError:
            conn.close()
            raise
        return conn
    raise AssertionError("unreachable")  # pragma: no cover


def _cannot_open(path: Path, err: Exception) -> LabelError:
    return LabelError(f"{path}: cannot open or create the label store here ({err}); is its folder "
                      "writable? Put the store elsewhere (astroexplore serve --labels PATH)")


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _check_file_kind(path: Path) -> None:
    """LabelError if ``path`` exists and is not a (possibly empty) SQLite file."""
    if not path.exists():
        return
    if not path.is_file():
        raise LabelError(f"{path}: not a file; give the path of a label store (.sqlite)")
    with path.open("rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise LabelError(f"{path}: not an astroexplore label store (not a SQLite database); "
                         "the file was left untouched")


def _identify(conn: sqlite3.Connection, path: Path, deadline: float) -> tuple[bool, int]:
    """(True, 0) for a new (empty) database, (False, schema version) for one of ours; LabelError
    otherwise."""
    try:
        app_id, version, n_objects = _retry(lambda: _header(conn), deadline, path)
    except sqlite3.DatabaseError as err:
        if "unable to open" in str(err):  # a read-only folder: no -wal / -shm files can be made
            raise _cannot_open(path, err) from None
        raise LabelError(f"{path}: not a readable label store ({err}); "
                         "the file was left untouched") from None
    if app_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise LabelError(f"{path}: label store schema version {version} is newer than this "
                             f"astroexplore supports ({SCHEMA_VERSION}); upgrade astroexplore")
        return False, version
    if app_id == 0 and version == 0 and n_objects == 0:
        return True, 0
    raise LabelError(f"{path}: a SQLite database but not an astroexplore label store; "
                     "the file was left untouched")


def _check_intact(conn: sqlite3.Connection, path: Path, deadline: float) -> None:
    """LabelError, before anything is written, if SQLite finds the store damaged (a disk error,
    a file overwritten in part): a damaged store opened fine, took new labels, then failed every
    read with a bare "database disk image is malformed". ``quick_check``: ~60 ms for 200k labels."""
    try:
        problems = [r[0] for r in _retry(lambda: conn.execute("PRAGMA quick_check(3)").fetchall(),
                                         deadline, path)]
    except sqlite3.DatabaseError as err:
        problems = [str(err)]
    if problems and problems != ["ok"]:
        raise LabelError(
            f"{path}: the label store is damaged ({' '.join(' '.join(problems).split())}); it was left untouched. "
            f"Copy the labels it still holds into a new store with: astroexplore labels recover "
            f"'{path}' recovered.labels.sqlite")


def _header(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of schema objects), read in one snapshot."""
    return conn.execute(
        "SELECT a.application_id, v.user_version, (SELECT COUNT(*) FROM sqlite_master) "
        "FROM pragma_application_id() AS a, pragma_user_version() AS v").fetchone()


def _initialise(conn: sqlite3.Connection, path: Path, deadline: float) -> None:
    """Create the schema, unless another process did so first."""
    _retry(lambda: conn.execute("BEGIN IMMEDIATE"), deadline, path)
    try:
        app_id, _, n_objects = _header(conn)
        if app_id != APPLICATION_ID:
            if n_objects:
                raise LabelError(f"{path}: another program wrote to the new file while it was "
                                 "being made a label store; it was left untouched")
            for statement in _split_sql(_SCHEMA):
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _upgrade(conn: sqlite3.Connection, path: Path, deadline: float) -> None:
    """Bring a store of an older schema version to :data:`SCHEMA_VERSION` (events untouched).

    Version 1 -> 2 only redefines the ``current_labels`` view. A store that cannot be written
    (read-only file or folder) is left as it is: the queries do not depend on the stored view.
    """
    try:
        _retry(lambda: conn.execute("BEGIN IMMEDIATE"), deadline, path)
    except (sqlite3.OperationalError, LabelError):
        return
    try:
        if _header(conn)[1] < SCHEMA_VERSION:  # another process may have upgraded it meanwhile
            conn.execute("DROP VIEW IF EXISTS current_labels")
            conn.execute(_CURRENT_VIEW)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.OperationalError:
        conn.execute("ROLLBACK")


def _split_sql(script: str) -> list[str]:
    """Split a script into statements (sqlite3.complete_statement keeps triggers whole)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _is_busy(err: sqlite3.OperationalError) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


def _retry(action, deadline: float, path: Path):
    """Run ``action`` until it does not fail with "database is locked/busy" or time runs out."""
    delay = 0.001
    while True:
        try:
            return action()
        except sqlite3.OperationalError as err:
            if not _is_busy(err) or time.monotonic() > deadline:
                if _is_busy(err):
                    raise LabelError(f"{path}: the store stayed locked by other writers for "
                                     f"{WRITE_TIMEOUT_S:.0f} s") from err
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 1.5, 0.02)


def _check_event_id(event_id: Any) -> int:
    if isinstance(event_id, bool) or not isinstance(event_id, numbers.Integral):
        raise LabelError(f"event_id must be the int that add() returned in "
                         f"LabelEvent.event_id, got {event_id!r}")
    return int(event_id)


def _undo_row(conn: sqlite3.Connection, row: tuple | None, user: str) -> LabelEvent | None:
    """Append the undo of label ``row`` (event_id, galaxy_id), inside the caller's transaction;
    None where there is no such label in effect."""
    if row is None:
        return None
    stamp = _now()
    cur = conn.execute("INSERT INTO events (kind, galaxy_id, user, timestamp, undoes) "
                       "VALUES ('undo', ?, ?, ?, ?)", (row[1], user, stamp, row[0]))
    return LabelEvent(cur.lastrowid, row[1], None, user, datetime.fromisoformat(stamp),
                      kind="undo", undoes=row[0])


def _insert(conn: sqlite3.Connection, records: list[_Record]) -> list[int]:
    """Insert label records inside the caller's transaction; return their event ids."""
    sql = ("INSERT INTO events (kind, galaxy_id, score, user, timestamp, tags, note) "
           "VALUES ('label', ?, ?, ?, ?, ?, ?)")
    ids = []
    for r in records:
        cur = conn.execute(sql, (r.galaxy_id, r.score, r.user, r.timestamp,
                                 json.dumps(list(r.tags)), r.note))
        ids.append(cur.lastrowid)
    return ids


def _is_stored(conn: sqlite3.Connection, r: _Record) -> bool:
    """Whether a label event identical to ``r`` is already in the store (at any time when ``r``
    came without one)."""
    when = "AND timestamp = ? " if r.timed else ""
    return conn.execute(
        f"SELECT 1 FROM events WHERE kind = 'label' AND galaxy_id = ? AND user = ? {when}"
        "AND score = ? AND tags = ? AND note IS ? LIMIT 1",
        (r.galaxy_id, r.user, *((r.timestamp,) if r.timed else ()), r.score,
         json.dumps(list(r.tags)), r.note)).fetchone() is not None


def _event_from_record(event_id: int, r: _Record) -> LabelEvent:
    return LabelEvent(event_id, r.galaxy_id, r.score, r.user, datetime.fromisoformat(r.timestamp),
                      r.tags, r.note)


@functools.lru_cache(maxsize=4096)
def _tags_from_json(text: str) -> tuple[str, ...]:
    """Stored tags (a JSON list) as a tuple; cached, as a few tag sets repeat over many rows."""
    return tuple(json.loads(text))


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """Build a DataFrame from store rows: UTC timestamps, tags as tuples, notes None if absent."""
    import pandas as pd

    data = dict(zip(columns, map(list, zip(*rows)))) if rows else {c: [] for c in columns}
    data["tags"] = pd.Series([_tags_from_json(t) for t in data["tags"]], dtype=object)
    data["note"] = pd.Series(data["note"], dtype=object)
    data["timestamp"] = pd.to_datetime(pd.Series(data["timestamp"], dtype=object), utc=True,
                                       format="ISO8601").astype("datetime64[us, UTC]")
    for name in (ID_COLUMN, "user", "kind"):
        if name in data:
            data[name] = pd.Series(data[name], dtype="str")
    return pd.DataFrame(data, columns=columns)


def _csv_parser(path: Path, header: list[str]):
    """Return a function turning one CSV row into ``LabelStore._record`` keyword arguments."""
    names = [h.strip() for h in header]
    if "human_label" in names:
        id_at = names.index(ID_COLUMN) if ID_COLUMN in names else 0
        if names[id_at] in _ASTRONOMALY_VALUE_COLUMNS:
            raise LabelError(f"{path}: Astronomaly-style file without an id column: its first "
                             f"column is {names[id_at]!r}, not the index of object ids")
        return _astronomaly_row(id_at, names.index("human_label"))
    for required in (ID_COLUMN, "score"):
        if required not in names:
            raise LabelError(f"{path}: no column {required!r} (expected our export format with "
                             f"id, score[, user, timestamp, tags, note] or Astronomaly's "
                             f"ml_scores.csv with human_label).{did_you_mean(required, names)}")
    at = {name: names.index(name) for name in [*_LATEST_COLUMNS, "ra", "dec"] if name in names}
    return _own_row(at)


def _cell(row: list[str], i: int) -> str:
    return row[i].strip() if i < len(row) else ""


def _csv_score(text: str) -> float | str:
    """A CSV score cell as a number (validated later), or the text if it is not one."""
    try:
        return float(text)
    except ValueError:
        return text


def _astronomaly_row(id_at: int, label_at: int):
    def parse(row: list[str]) -> dict | None:
        label = _cell(row, label_at)
        if label == "" or _csv_score(label) == -1:
            return None
        return {"galaxy_id": _cell(row, id_at), "score": _csv_score(label)}
    return parse


def _own_row(at: dict[str, int]):
    def parse(row: list[str]) -> dict:
        cells = {name: _cell(row, i) for name, i in at.items()}
        fields = {"galaxy_id": cells[ID_COLUMN], "score": _csv_score(cells["score"]),
                  "tags": cells.get("tags", ""), "note": cells.get("note") or None}
        if cells.get("user"):
            fields["user"] = cells["user"]
        if cells.get("timestamp"):
            fields["timestamp"] = cells["timestamp"]
        for name in ("ra", "dec"):
            if cells.get(name):
                fields[name] = _csv_score(cells[name])  # a number, or the text (refused by the check)
        return fields
    return parse


class _ElsewhereError(LabelError):
    """An imported row's ra/dec are not where the galaxy of its id is."""


def _bad_rows_error(path: Path, bad: list[tuple[int, LabelError]], where: str) -> LabelError:
    """One error for an import's bad rows ((line or row, error) pairs): one line for one, else
    the first :data:`SHOW_BAD_ROWS` on lines of their own and how many in all."""
    n_elsewhere = sum(isinstance(e, _ElsewhereError) for _, e in bad)
    elsewhere = "" if not n_elsewhere else (
        "\nThe labels were given on another catalogue, where "
        + ("this id names another galaxy" if n_elsewhere == 1 else "these ids name other galaxies")
        + ": import them into that catalogue's store.")
    if len(bad) == 1:
        line, err = bad[0]
        return LabelError(f"{path}: {where.format(line)}: {_sentence(err)} Nothing was imported.{elsewhere}")
    shown = "".join(f"\n  {where.format(line)}: {_sentence(err)}" for line, err in bad[:SHOW_BAD_ROWS])
    more = f"\n  ... and {len(bad) - SHOW_BAD_ROWS:,} more" if len(bad) > SHOW_BAD_ROWS else ""
    return LabelError(f"{path}: {len(bad):,} bad rows; nothing was imported:{shown}{more}{elsewhere}")


class _CatalogueCheck:
    """An imported row against a catalogue: its id must be a galaxy of it and, where the row has
    ``ra`` and ``dec`` (an export written with a catalogue), that galaxy must be within
    :data:`~astroexplore.search.SAME_OBJECT_ARCSEC` of them."""

    def __init__(self, catalogue):
        self.catalogue = catalogue

    def __call__(self, galaxy_id: str, ra: Any = None, dec: Any = None) -> None:
        try:
            row = self.catalogue.index_of(galaxy_id)
        except KeyError:
            raise LabelError(f"galaxy id {galaxy_id!r} is not in the catalogue") from None
        if ra is None or dec is None or not self.catalogue.has_coordinates:
            return
        from astroexplore.search import SAME_OBJECT_ARCSEC, angle_text, separation_deg

        if not all(isinstance(v, float) and math.isfinite(v) for v in (ra, dec)):
            raise LabelError(f"ra/dec of galaxy {galaxy_id!r} are not numbers ({ra!r}, {dec!r})")
        cat_ra, cat_dec = float(self.catalogue.ra[row]), float(self.catalogue.dec[row])
        sep = float(separation_deg(ra, dec, cat_ra, cat_dec)) * 3600.0
        if sep > SAME_OBJECT_ARCSEC:
            raise _ElsewhereError(
                f"galaxy {galaxy_id!r} is {angle_text(sep)} from where the file puts it (file: RA "
                f"{ra:.5f}, Dec {dec:+.5f}; catalogue: RA {cat_ra:.5f}, Dec {cat_dec:+.5f})")


def _new_private_name(path: Path) -> str:
    """Create an empty file beside ``path`` with the mode an ordinary new file gets (0666 less the
    umask, applied by the kernel: reading the umask would mean setting it, which races with other
    threads) and return its name."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return str(tmp)
        except FileExistsError:
            continue


def _not_utf8(path: Path, err: UnicodeDecodeError) -> str:
    """What to say of a CSV file that is not UTF-8: its first such line and byte."""
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError:
        lines = []
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            byte, text = line[bad.start], line.decode("utf-8", errors="replace").strip()
            return (f"line {number} is not UTF-8 text (byte 0x{byte:02x} in {text[:60]!r}; Latin-1 or "
                    "Windows text?): save the file as UTF-8 (a spreadsheet's 'CSV UTF-8') and import it again")
    return f"the file is not UTF-8 text ({err.reason}): save it as UTF-8 and import it again"


def _is_label_export(path: Path) -> bool:
    """Whether ``path`` (an existing file) is an earlier export: its columns start with ``id, score``
    or, written with a catalogue, ``id, ra, dec, score`` (CSV header or Parquet schema), or it is
    empty."""
    try:
        if path.stat().st_size == 0:
            return True
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
        else:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                names = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, ImportError):
        return False
    names = [str(n).strip() for n in names[:4]]
    return names[:2] == [ID_COLUMN, "score"] or names == [ID_COLUMN, "ra", "dec", "score"]


_EXPORT_SUFFIXES = {"csv": (".csv", ".csv.gz", ".tsv", ".txt"), "parquet": (".parquet", ".pq")}


def _check_export_suffix(path: Path, fmt: str) -> Path:
    """Refuse a path whose suffix names the other export format (Parquet bytes in labels.csv)."""
    name = path.name.lower()
    other = "parquet" if fmt == "csv" else "csv"
    if name.endswith(_EXPORT_SUFFIXES[other]):
        raise LabelError(f"{path}: export_{fmt} writes {fmt.upper() if fmt == 'csv' else 'Parquet'}, "
                         f"but the name says {other}; name it {_EXPORT_SUFFIXES[fmt][0]} or use "
                         f"export_{other}")
    return path


@contextmanager
def _atomic_output(path: Path, store_path: Path) -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it over ``path`` only on success.

    Refuses (LabelError) to replace the store itself, any SQLite file, or any existing file that
    is not an earlier label export (a catalogue named by a slip of the tab key): an export
    written over it would lose what it holds. The file gets the permissions an ordinary new
    file gets (the umask), or those of the export it replaces.
    """
    same = path.exists() and path.resolve() == store_path.resolve()
    if same or _is_sqlite(path):
        what = "the label store being exported" if same else "a SQLite database (a label store?)"
        raise LabelError(f"{path}: this is {what}; an export written over it would lose its labels. "
                         "Give a new .csv or .parquet path")
    if path.exists() and not _is_label_export(path):
        raise LabelError(f"{path}: the file exists and is not a label export (a catalogue?); an export "
                         "written over it would lose it. Give a new path, or remove the file first")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_private_name(path)
    try:
        yield tmp
        if path.exists():  # after writing: the mode of a read-only earlier export would stop the writer
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
