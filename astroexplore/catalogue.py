"""Galaxy catalogues: one row per galaxy, an id, an embedding vector and optional metadata.

:func:`load_catalogue` reads Parquet, CSV, ``.npy`` (+ a table of ids) and Zoobot prediction
HDF5 files into a validated, read-only :class:`Catalogue`; :func:`save_catalogue` writes one back
as Parquet (embedding as a ``fixed_size_list<float32>`` column). Every problem in the input raises
:class:`~astroexplore.errors.CatalogueError` naming the file, the column and the first offending
row; rows are never dropped silently.

Examples
--------
>>> import numpy as np
>>> cat = Catalogue.from_arrays(np.eye(3, 2), ids=["a", "b", "c"])
>>> cat.n_galaxies, cat.n_features, cat.index_of("b")
(3, 2, 1)
"""
from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import logging
import os
import re
import shlex
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from astroexplore.constants import DEC_NAMES, RA_NAMES
from astroexplore.errors import CatalogueError, did_you_mean
from astroexplore.images import EMBED_IMAGE_COLUMNS, IMAGE_SUFFIXES, is_url

log = logging.getLogger(__name__)

#: Id column names tried in order (case-insensitive) when ``id_column`` is not given.
ID_CANDIDATES = ("id", "id_str", "objid", "dr8_id", "iauname", "galaxy_id")
#: Image column names tried in order (case-insensitive) when ``image_column`` is not given.
IMAGE_CANDIDATES = ("image", "image_path", "image_url", "file_loc", "file", "filename",
                    "local_path", "jpg_loc", "png_loc", "url")
#: Column prefixes that hold 2-D map projections, never taken as embeddings by auto-detection.
PROJECTION_PREFIXES = ("umap_", "pca_", "tsne_", "proj_")
_NUMBERED_COLUMN = re.compile(r"(.*\D)(\d+)")  # <prefix><n>: feat_pca_12 -> (feat_pca_, 12)
#: Names preferred for a list-typed embedding column.
LIST_CANDIDATES = ("embedding", "embeddings", "features", "representation")
#: Embeddings wider than this get ``astroexplore reduce`` suggested by ``validate`` (Zoobot: 640-1280).
WIDE_FEATURES = 256
#: Parquet schema-metadata key holding :attr:`Catalogue.metadata` as JSON.
METADATA_KEY = b"astroexplore"
#: Rows per Parquet row group written by save_catalogue (bounds memory when reading back).
ROW_GROUP_SIZE = 1 << 17
#: Tolerance on vote fractions (float round-off just outside [0, 1] is accepted).
FRACTION_TOLERANCE = 1e-6

_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv",
             ".npy": "npy", ".h5": "hdf5", ".hdf5": "hdf5", ".fits": "fits", ".fit": "fits",
             ".fts": "fits", ".fits.gz": "fits"}
_KIND_NAMES = {"parquet": "Parquet", "csv": "CSV", "npy": ".npy", "hdf5": "HDF5", "fits": "FITS"}
_CHECK_BLOCK = 1 << 17  # rows per block when scanning embeddings for NaN/inf
_STACK_BLOCK = 1 << 13  # rows per block when stacking scalar columns (fits in cache)
_COLUMN_GROUP = 8  # scalar embedding columns decoded from Parquet at a time
_SHOWN = 8  # names shown in messages listing ids or columns


# ----------------------------------------------------------------------------- messages
def _short_list(items: Sequence[Any], n: int = _SHOWN) -> str:
    shown = ", ".join(repr(str(x)) for x in list(items)[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _rows_error(problem: str, rows: Sequence[int] | np.ndarray, *, file: str | None,
                column: str | None, ids: Sequence[Any] | None = None,
                detail: str = "", hint: str = "") -> CatalogueError:
    """A CatalogueError "k rows have <problem> in '<column>' (first: row r, id 'x'<detail>). <hint>"."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    first = int(rows[0])
    where = f"row {first}"
    if ids is not None and first < len(ids):
        where += f", id '{_id_at(ids, first)}'"
    noun = "1 row has" if len(rows) == 1 else f"{len(rows)} rows have"
    place = f" in '{column}'" if column else ""
    return CatalogueError(f"{noun} {problem}{place} (first: {where}{detail})." + (f" {hint}" if hint else ""),
                          file=file, column=column, rows=rows.tolist())


def _show(value: Any) -> str:
    """repr of a cell value as plain Python (``1.2``, not ``np.float64(1.2)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _empty_error(file: str | None) -> CatalogueError:
    return CatalogueError("the catalogue has no galaxies (0 rows).", file=file)


def marked_writable(folder: Path) -> bool:
    """Whether ``folder``'s permission bits let anyone write to it (not only root's override: a
    folder marked read-only is not a place for our files, even for root)."""
    try:
        return bool(folder.stat().st_mode & 0o222)
    except OSError:
        return False


# ----------------------------------------------------------------------------- the dataclass
@dataclass(frozen=True, eq=False)
class Catalogue:
    """A validated galaxy catalogue: a metadata table and an embedding matrix, row-aligned.

    Build one with :func:`load_catalogue` or :meth:`from_arrays` (both validate); the plain
    constructor only checks shapes and makes the embeddings a read-only float32 view.

    Parameters
    ----------
    table : DataFrame
        One row per galaxy with a RangeIndex; column ``"id"`` (str, unique) first; optional
        ``"ra"``/``"dec"`` (float64, degrees ICRS), ``"image"`` (str: path relative to the
        catalogue's folder, absolute path or URL), posterior columns (``*_fraction``, float in
        [0, 1], NaN where the question was unlikely to be asked) and any other metadata.
    embeddings : ndarray of shape (n_galaxies, n_features), float32
        C-contiguous; stored as a read-only view.
    path : Path or None
        The file the main table came from (for caches and relative image paths).
    schema : Schema or None
        Galaxy Zoo decision tree matching the posterior columns.
    metadata : dict
        Free JSON-able dict (encoder name/params, ``"image_template"``, ...).

    Examples
    --------
    >>> cat = Catalogue.from_arrays(np.zeros((2, 3)), table=pd.DataFrame({"ra": [1.0, 2.0],
    ...                             "dec": [0.0, 5.0]}))
    >>> cat.ids.tolist(), cat.has_coordinates, cat.embeddings.flags.writeable
    (['0', '1'], True, False)
    """

    table: pd.DataFrame
    embeddings: np.ndarray
    path: Path | None = None
    schema: Any = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        emb = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        if emb.ndim != 2:
            raise CatalogueError(f"embeddings must be 2-D (n_galaxies, n_features), got shape "
                                 f"{emb.shape}.", file=self._file)
        view = emb.view()
        view.flags.writeable = False
        object.__setattr__(self, "embeddings", view)
        table = self.table
        if not isinstance(table.index, pd.RangeIndex) or table.index.start != 0:
            table = table.reset_index(drop=True)
            object.__setattr__(self, "table", table)
        if len(table.columns) == 0 or table.columns[0] != "id":
            raise CatalogueError("the table's first column must be 'id'.", file=self._file,
                                 column="id")
        if len(table) != emb.shape[0]:
            raise CatalogueError(f"the table has {len(table)} rows but the embeddings have "
                                 f"{emb.shape[0]}.", file=self._file)
        if self.path is not None:  # absolute: relative images and caches survive a later chdir
            object.__setattr__(self, "path", Path(self.path).expanduser().absolute())
        object.__setattr__(self, "metadata", dict(self.metadata or {}))

    # ------------------------------------------------------------------ basic properties
    @property
    def _file(self) -> str | None:
        return None if self.path is None else str(self.path)

    @cached_property
    def ids(self) -> np.ndarray:
        """ndarray of shape (n_galaxies,), object (str): the galaxy ids, in row order."""
        return self.table["id"].to_numpy(dtype=object)

    @property
    def n_galaxies(self) -> int:
        """Number of galaxies (rows)."""
        return int(self.embeddings.shape[0])

    @property
    def n_features(self) -> int:
        """Embedding dimension."""
        return int(self.embeddings.shape[1])

    @property
    def ra(self) -> np.ndarray | None:
        """ndarray of shape (n_galaxies,), float64, degrees; None without coordinates."""
        return self.table["ra"].to_numpy(dtype=np.float64) if "ra" in self.table else None

    @property
    def dec(self) -> np.ndarray | None:
        """ndarray of shape (n_galaxies,), float64, degrees; None without coordinates."""
        return self.table["dec"].to_numpy(dtype=np.float64) if "dec" in self.table else None

    @property
    def has_coordinates(self) -> bool:
        """True when the table has both ``ra`` and ``dec``."""
        return "ra" in self.table and "dec" in self.table

    def __len__(self) -> int:
        return self.n_galaxies

    def __repr__(self) -> str:
        return (f"Catalogue({self.n_galaxies} galaxies x {self.n_features} features, "
                f"path={self._file!r})")

    # ------------------------------------------------------------------ id look-ups
    @cached_property
    def _id_index(self) -> pd.Index:
        return pd.Index(self.ids)

    @staticmethod
    def _id_variants(text: str) -> list[str]:
        """Ways one id is mistyped: spaces around it, its case, a float's '.0', or both."""
        bare = text.strip()
        return list(dict.fromkeys(variant for base in (bare, bare.removesuffix(".0"))
                                  for variant in (base, base.lower(), base.upper())))

    def row_of_typed_id(self, text: str) -> int | None:
        """Row of an id as a person typed it: exact, else ignoring surrounding spaces, case
        (all lower or all upper) or a trailing '.0'; None when no such id exists."""
        for variant in [str(text), *self._id_variants(str(text))]:
            if variant in self._id_index:
                return self.index_of(variant)
        return None

    def _unknown_id(self, galaxy_id: Any) -> KeyError:
        text = str(galaxy_id)
        hint = next((f" Did you mean '{v}'?" for v in self._id_variants(text)
                     if v != text and v in self._id_index), "")
        if not hint and self.n_galaxies <= 20000:
            hint = did_you_mean(text, self.ids)
        where = self.path.name if self.path is not None else "the catalogue"
        return KeyError(f"galaxy id '{text}' is not in {where}.{hint}")

    def index_of(self, galaxy_id: str) -> int:
        """Row number of one galaxy (O(1) after the first call).

        Raises
        ------
        KeyError
            If the id is unknown; the message suggests a close id where there is one.

        Examples
        --------
        >>> Catalogue.from_arrays(np.ones((2, 1)), ids=["x", "y"]).index_of("y")
        1
        """
        try:
            loc = self._id_index.get_loc(str(galaxy_id))
        except KeyError:
            raise self._unknown_id(galaxy_id) from None
        return int(loc)

    def indices_of(self, ids: Iterable[str]) -> np.ndarray:
        """Row numbers of several galaxies, ndarray of shape (len(ids),), int64.

        Raises
        ------
        KeyError
            Naming the first unknown id and how many are unknown.
        """
        wanted = [str(i) for i in ids]
        rows, known = self.known_rows(wanted)
        if not known.all():
            missing = np.flatnonzero(~known)
            err = self._unknown_id(wanted[missing[0]])
            raise KeyError(f"{len(missing)} of {len(wanted)} ids are unknown; "
                           f"first: {err.args[0]}")
        return rows

    def known_rows(self, ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers of those ``ids`` that are in this catalogue, skipping the others (labels
        given in another catalogue share a store with this one).

        Returns
        -------
        rows : ndarray (m,) int64
            Rows of the known ids, in the order given.
        known : ndarray (len(ids),) bool
            Which of ``ids`` are in the catalogue.

        Examples
        --------
        >>> cat = Catalogue.from_arrays(np.ones((2, 2)), ids=["a", "b"])
        >>> rows, known = cat.known_rows(["b", "zz", "a"])
        >>> rows.tolist(), known.tolist()
        ([1, 0], [True, False, True])
        """
        found = self._id_index.get_indexer(np.asarray([str(i) for i in ids], dtype=object))
        known = found >= 0
        return found[known].astype(np.int64), known

    # ------------------------------------------------------------------ images
    def image_reference(self, i: int) -> str | None:
        """Where galaxy ``i``'s image is: an absolute path or a URL, or None.

        The ``image`` column wins (relative paths resolve against the catalogue's folder); else
        ``metadata["image_template"]`` is filled with ``{ra}``, ``{dec}``, ``{id}`` or any other
        column of the row, e.g.
        ``"https://www.legacysurvey.org/viewer/jpeg-cutout?ra={ra}&dec={dec}&layer=ls-dr10"``.

        Parameters
        ----------
        i : int
            Row number.

        Examples
        --------
        >>> cat = Catalogue.from_arrays(np.ones((1, 2)), ids=["g1"],
        ...     table=pd.DataFrame({"ra": [10.5], "dec": [-2.25]}),
        ...     metadata={"image_template": "https://x.org/cut?ra={ra}&dec={dec}&id={id}"})
        >>> cat.image_reference(0)
        'https://x.org/cut?ra=10.5&dec=-2.25&id=g1'
        """
        ref = self.table["image"].iat[i] if "image" in self.table else None
        if isinstance(ref, str) and ref.strip():
            return self._resolve_image(ref.strip(), i)
        template = self.metadata.get("image_template")
        return self._as_location(self._fill_template(template, i)) if template else None

    def missing_images(self, max_checked: int = 20_000) -> tuple[int, int, list[str]]:
        """Look for the local image files of the ``image`` column (URLs are not fetched).

        Every row is checked up to ``max_checked`` rows, else an evenly spaced sample of that
        many. Returns (rows checked, files not found among them, the first few not found).
        """
        if "image" not in self.table or self.n_galaxies == 0:
            return 0, 0, []
        rows = np.unique(np.linspace(0, self.n_galaxies - 1, min(self.n_galaxies, max_checked)).astype(np.int64))
        checked, missing = 0, []
        for i in rows:
            ref = self.image_reference(int(i))
            if ref is None or is_url(ref):
                continue
            checked += 1
            if not os.path.exists(ref):
                missing.append(ref)
        return checked, len(missing), missing[:3]

    def _resolve_image(self, ref: str, i: int) -> str:
        if is_url(ref) and "{" in ref:
            return self._fill_template(ref, i)
        return self._as_location(ref)

    def _as_location(self, ref: str) -> str:
        """A URL as it is; a path made absolute against :attr:`image_root`."""
        if is_url(ref):
            return ref
        p = Path(ref).expanduser()
        return str(p if p.is_absolute() else self.image_root / p)

    @property
    def image_root(self) -> Path:
        """Folder relative image paths resolve against: ``metadata["image_root"]`` if set (e.g.
        the folder of the ids table of a ``.npy`` catalogue), else the catalogue's folder."""
        if self.metadata.get("image_root"):
            return Path(self.metadata["image_root"])
        return self.path.parent if self.path is not None else Path.cwd()

    def _fill_template(self, template: str, i: int) -> str:
        try:
            return template.format_map(_RowValues(self.table, i))
        except KeyError as err:
            raise CatalogueError(f"image template {template!r} needs column {err.args[0]!r}, "
                                 "which the catalogue lacks.", file=self._file,
                                 column=str(err.args[0])) from None
        except (ValueError, IndexError, AttributeError, TypeError) as err:
            raise CatalogueError(f"image template {template!r} cannot be filled for row {i} ({err}); "
                                 "name columns in braces, e.g. 'https://host/cut?ra={ra}&dec={dec}' "
                                 "or 'cutouts/{id}.png'.", file=self._file, rows=[i]) from None

    # ------------------------------------------------------------------ caching
    @cached_property
    def fingerprint(self) -> str:
        """Cheap stable hash, a cache key of 16 hex: n, d, path, mtime and a sample of ids and rows;
        for an in-memory catalogue (no path) also every id and each block's column sums."""
        h = hashlib.sha1()
        mtime = self.path.stat().st_mtime_ns if self.path is not None and self.path.exists() else 0
        h.update(f"{self.n_galaxies}x{self.n_features}|{self.path}|{mtime}".encode())
        if self.n_galaxies:
            sample = np.unique(np.linspace(0, self.n_galaxies - 1, 64).astype(np.int64))
            h.update("\0".join(self.ids[sample]).encode())
            h.update(np.ascontiguousarray(self.embeddings[sample]).tobytes())
            if self.path is None:  # no file and mtime to tell two in-memory catalogues apart
                h.update("\0".join(self.ids).encode())
                for block in range(0, self.n_galaxies, 65_536):
                    rows = np.asarray(self.embeddings[block:block + 65_536], np.float64)
                    h.update(rows.sum(0).tobytes() + (rows ** 2).sum(0).tobytes())
        return h.hexdigest()[:16]

    @cached_property
    def cache_dir(self) -> Path:
        """Folder for derived data: ``<stem>.astroexplore/`` beside the file (created lazily);
        ``<tmp>/astroexplore-<fingerprint>/`` for in-memory catalogues, and for a catalogue in a
        folder that cannot be written (a read-only survey mount)."""
        scratch = Path(tempfile.gettempdir()) / f"astroexplore-{self.fingerprint}"
        if self.path is not None:
            name = self.path.name.removesuffix(".gz")
            d = self.path.parent / f"{Path(name).stem}.astroexplore"
            # the folder's own mode bits too: root may write anywhere, but a folder marked
            # read-only (a shared data release) is not a place for our files
            if marked_writable(d if d.exists() else self.path.parent):
                try:
                    d.mkdir(parents=True, exist_ok=True)
                    if os.access(d, os.W_OK):
                        return d
                except OSError:
                    pass
            log.info("%s is not writable; caching derived data in %s", d, scratch)
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    # ------------------------------------------------------------------ derived catalogues
    def subset(self, mask_or_indices: np.ndarray | Sequence[int]) -> Catalogue:
        """A new catalogue with the selected rows (same path, schema and metadata).

        Parameters
        ----------
        mask_or_indices : ndarray of bool, shape (n_galaxies,), or sequence of int
            Rows to keep, in the order given. An empty selection gives an empty catalogue.

        Examples
        --------
        >>> cat = Catalogue.from_arrays(np.arange(6.0).reshape(3, 2))
        >>> cat.subset([2, 0]).ids.tolist()
        ['2', '0']
        """
        sel = np.asarray(mask_or_indices)
        if sel.dtype == bool:
            if sel.shape != (self.n_galaxies,):
                raise ValueError(f"mask has shape {sel.shape}, expected ({self.n_galaxies},).")
            sel = np.flatnonzero(sel)
        sel = sel.astype(np.int64, copy=False).ravel()
        return Catalogue(self.table.iloc[sel].reset_index(drop=True),
                         np.ascontiguousarray(self.embeddings[sel]), self.path, self.schema,
                         dict(self.metadata))

    @classmethod
    def from_arrays(cls, embeddings: Any, ids: Sequence[Any] | None = None,
                    table: pd.DataFrame | None = None, schema: Any = "auto",
                    metadata: dict | None = None, *, id_column: str | None = None) -> Catalogue:
        """Validating constructor for in-memory data (tests, scripts).

        Parameters
        ----------
        embeddings : array-like of shape (n_galaxies, n_features)
            Numeric, finite; converted to float32.
        ids : sequence, optional
            Galaxy ids (converted to str); default the table's id column (``id_column``, else
            the first of :data:`ID_CANDIDATES` it has, as :func:`load_catalogue`), or, where
            there is none, ``"0" .. "n-1"``.
        table : DataFrame, optional
            Extra columns (``ra``, ``dec``, ``image``, posteriors, ...), row-aligned. Its id
            column becomes ``id``.
        schema : Schema, "auto" (default) or None
            ``"auto"`` detects the Galaxy Zoo schema from the columns (None where none fits).
        metadata : dict, optional
        id_column : str, optional
            The table's id column (default: detected).

        Raises
        ------
        CatalogueError
            Empty catalogue, bad ids, NaN/inf embeddings, coordinates or fractions out of range.
        """
        emb = _as_float32_matrix(np.asarray(embeddings), None)
        n = emb.shape[0]
        df = pd.DataFrame(index=pd.RangeIndex(n)) if table is None else \
            table.reset_index(drop=True).copy()
        names = list(map(str, df.columns))
        if ids is None and (id_column is not None or any(c.lower() in ID_CANDIDATES for c in names)):
            column = _find_id_column(names, id_column, None)  # objid, dr8_id, ... as load_catalogue
            ids = df[column].to_numpy()
            df = df.drop(columns=column)
        elif ids is None:  # no id anywhere: row numbers
            ids = np.arange(n)
        ids = _ids_from_sequence(ids)
        if len(df) != n or len(ids) != n:
            raise CatalogueError(f"{n} embedding rows but {len(df)} table rows and {len(ids)} "
                                 "ids.", column="id")
        _check_ids(ids, "id", None)
        _check_embeddings(emb, None, None, ids)
        df = df.drop(columns="id", errors="ignore")
        df.insert(0, "id", ids.to_pandas())
        df = _validate_columns(df, None)
        return cls(df, emb, None, _schema_of(schema, df), dict(metadata or {}))


class _RowValues(dict):
    """Mapping for ``str.format_map``: id/ra/dec and every other column of one row."""

    def __init__(self, table: pd.DataFrame, i: int):
        super().__init__()
        self._table, self._i = table, i

    def __missing__(self, key: str) -> Any:
        if key not in self._table.columns:
            raise KeyError(key)
        value = self._table[key].iat[self._i]
        return value.item() if hasattr(value, "item") else value


# ----------------------------------------------------------------------------- ids
def _id_text(x: Any) -> str | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def _ids_from_sequence(ids: Any) -> pa.Array:
    """Ids from any sequence as an Arrow string array (ints keep exact digits; nulls stay null)."""
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        return _ids_from_arrow(ids)
    arr = np.asarray(ids)
    if arr.dtype.kind in "iuf":
        return _ids_from_arrow(pa.array(arr, from_pandas=True))
    return pa.array([_id_text(x) for x in arr.tolist()], type=pa.string())


def _ids_from_arrow(col: pa.Array | pa.ChunkedArray, *, file: str | None = None,
                    column: str | None = None) -> pa.Array:
    """An Arrow id column as one string array; nulls stay null (caught by :func:`_check_ids`).

    Integers are cast exactly (int64 objids keep every digit, never via float); integral floats
    go via int64, NaN counts as missing, and floats beyond 2**53 (whose last digits were lost
    when they were stored) are an error.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], col.type)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_floating(col.type):
        values = col.to_numpy(zero_copy_only=False)  # nulls as NaN
        col = pa.array(values, from_pandas=True)  # NaN -> null: a missing id
        inexact = np.flatnonzero(np.abs(np.nan_to_num(values)) >= 2.0 ** 53)
        if len(inexact):
            raise _rows_error("an id stored as a floating-point number beyond 2**53, whose last "
                              "digits were lost when it was saved; store ids as int64 or text",
                              inexact, file=file, column=column,
                              detail=f", value {_show(values[inexact[0]])}")
        filled = np.nan_to_num(values)
        if np.all(np.isfinite(filled) & (filled == np.round(filled))):
            col = pc.cast(col, pa.int64())
    if not pa.types.is_string(col.type):
        col = pc.cast(col, pa.string())
    return col


def _id_at(ids: Any, row: int) -> Any:
    value = ids[row]
    return value.as_py() if isinstance(value, pa.Scalar) else value


def _check_ids(ids: pa.Array, column: str, file: str | None) -> None:
    """Raise on missing (null, empty or blank) or duplicate ids (vectorised in Arrow)."""
    blank = pc.or_kleene(pc.equal(ids, ""), pc.utf8_is_space(ids))  # bit masks, no string copy
    missing = pc.fill_null(pc.or_kleene(ids.is_null(), blank), False)
    if pc.any(missing).as_py():
        rows = np.flatnonzero(missing.to_numpy(zero_copy_only=False))
        raise _rows_error("a missing (null or empty) id", rows, file=file, column=column)
    if len(pc.unique(ids)) != len(ids):
        values = ids.to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(pd.Index(values).duplicated())
        first = int(np.flatnonzero(values == values[rows[0]])[0])
        raise _rows_error("a duplicate id", rows, file=file, column=column, ids=values,
                          detail=f", same as row {first}")


def _find_id_column(names: Sequence[str], id_column: str | None, file: str) -> str:
    """The id column among ``names``: ``id_column`` if given, else the first of ID_CANDIDATES."""
    if id_column is not None:
        if id_column not in names:
            raise CatalogueError(f"id column '{id_column}' not found.{did_you_mean(id_column, names)}"
                                 f" Columns: {_short_list(names, 20)}.", file=file,
                                 column=id_column)
        return id_column
    lowered = {n.lower(): n for n in reversed(list(names))}
    for cand in ID_CANDIDATES:
        if cand in lowered:
            return lowered[cand]
    raise CatalogueError(f"no id column found (looked for {', '.join(ID_CANDIDATES)}). Columns: "
                         f"{_short_list(names, 20)}. Pass id_column= (--id-column).", file=file)


# ----------------------------------------------------------------------------- reading files
def _file_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    raise CatalogueError(f"unsupported file type '{path.suffix or path.name}'; use .parquet, "
                         ".csv, .csv.gz, a FITS table (.fits, .fits.gz), .npy (with ids=) or a Zoobot "
                         ".h5/.hdf5.", file=str(path))


def _check_column_names(names: Sequence[str], file: str) -> None:
    """Raise on repeated column names, or a CSV header that is one ';'/tab-separated cell."""
    seen = set()
    for name in names:
        if name in seen:
            raise CatalogueError(f"column '{name}' appears more than once in the header; rename or "
                                 "drop the repeats.", file=file, column=name)
        seen.add(name)
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        sep = "';'" if ";" in names[0] else "tabs"
        raise CatalogueError(f"the header is one column, {names[0][:60]!r}: the file seems to be "
                             f"separated by {sep}, but CSV catalogues are read with commas. "
                             "Convert it (e.g. pandas.read_csv(path, sep=None).to_csv(...)) or "
                             "save it as Parquet.", file=file)


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise CatalogueError("file not found.", file=str(path))
    if path.is_dir():
        raise CatalogueError(f"is a folder, not a catalogue file.{_embed_hint_for_folder(path)}", file=str(path))


def _embed_hint_for_folder(path: Path) -> str:
    """Where ``path`` holds image cutouts (among its first 1,000 entries: a survey's folder can
    hold millions), the command that makes a catalogue of them."""
    try:
        names = [p.name.lower() for p in itertools.islice(path.iterdir(), 1000)]
    except OSError:
        return ""
    if not any(n.endswith(IMAGE_SUFFIXES) for n in names):
        return ""
    return (f" It holds image cutouts: `astroexplore embed {shlex.quote(str(path))} --out "
            f"{shlex.quote((path.resolve().name or 'images') + '.parquet')}` trains an encoder on them and "
            "writes a catalogue with embeddings that this command reads.")


@contextmanager
def _reading(path: Path, kind: str) -> Iterator[None]:
    """Turn pyarrow/OS read failures into CatalogueError naming the file."""
    try:
        yield
    except (pa.ArrowException, OSError) as err:
        hint = _content_hint(path, kind)
        reason = str(err).rstrip(".")
        if hint and kind != "csv":  # what the bytes are says it: the parser's words on them
            # ("Parquet magic bytes not found in footer. Either the file is corrupted or ...") only repeat it
            raise CatalogueError(f"cannot read as {_KIND_NAMES[kind]}: {hint}", file=str(path)) from None
        if hint:  # the CSV parser's own words on another format's bytes: their first line, without
            # the row it quotes ("Expected 1 columns, got 2: <the bytes>")
            reason = re.sub(r"(got \d+):.*", r"\1", reason.split("\n")[0]).rstrip(".: ")
        elif kind == "csv" and "columns, got" in reason and (ragged := _ragged_csv_line(path)):
            line, n, n_header = ragged  # pyarrow quotes the row but does not say where it is
            reason = f"line {line} has {n} values where the header has {n_header} ({reason})"
        raise CatalogueError(f"cannot read as {_KIND_NAMES[kind]}: {reason}{'; ' + hint if hint else '.'}",
                             file=str(path)) from None


def _ragged_csv_line(path: Path) -> tuple[int, int, int] | None:
    """(line, values, header's values) of the first row of a CSV whose number of values differs
    from its header's (blank lines skipped, as pyarrow does), or None."""
    import csv
    import gzip

    try:
        with (gzip.open if path.name.lower().endswith(".gz") else open)(path, "rt", newline="",
                                                                       errors="replace") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            for row in reader:
                if row and len(row) != len(header):
                    return reader.line_num, len(row), len(header)
    except (OSError, csv.Error):
        pass
    return None


_MAGIC = ((b"PAR1", "parquet", ".parquet"), (b"\x89HDF", "hdf5", ".h5"), (b"\x93NUMPY", "npy", ".npy"),
          (b"SIMPLE  =", "fits", ".fits"),
          (b"SQLite format 3", "a SQLite database (a label store?)", None),
          (b"\x1f\x8b", "gzip-compressed data", None), (b"PK\x03\x04", "a zip archive (Excel?)", None))


def _content_hint(path: Path, kind: str) -> str:
    """'the file holds X, not Y: rename it to name.z.' when the bytes say another format, else ''."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return ""
    found = next(((what, suffix) for magic, what, suffix in _MAGIC if head.startswith(magic)), None)
    if found is None and head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            return ""
        if kind == "csv":
            return ""  # text read as CSV: the CSV parser's own error (a ragged row) says what is wrong
        if _looks_like_csv(text, len(head) == 4096):
            found = ("CSV", ".csv")
        else:
            first = text.lstrip("\ufeff").split("\n")[0].strip()[:60]
            return ("it holds text, not a table"
                    + (f" (its first line: {first!r})" if first else "") + ".")
    if found is None or found[0] == kind or (kind == "csv" and found[0] == "gzip-compressed data"):
        return ""
    what, suffix = found
    what = _KIND_NAMES.get(what, what)
    return (f"the file holds {what}, not {_KIND_NAMES[kind]}"
            + (f": rename it to {path.stem}{suffix}" if suffix else "") + ".")


def _looks_like_csv(text: str, cut: bool) -> bool:
    """Whether the start of a file (``cut``: its last line may be cut short) reads as a table:
    a header of two or more cells (separated by commas, ';' or tabs) and rows of as many, or a
    header of one column name (no spaces) over rows."""
    import csv

    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if cut:
        lines = lines[:-1]
    if not lines:
        return False
    for sep in (",", ";", "\t"):
        rows = list(csv.reader(lines[:50], delimiter=sep))
        if len(rows[0]) > 1 and all(c.strip() for c in rows[0]) and all(len(r) == len(rows[0]) for r in rows):
            return True
    return len(lines) > 1 and re.fullmatch(r"[A-Za-z_][\w.\-]*", lines[0].strip()) is not None


def _read_fits_table(path: Path) -> pa.Table:
    """The first table HDU of a FITS file (astropy) as Arrow: a vector column (``TFORM`` ``40E``)
    becomes a fixed-size list (an ``embedding`` column, as in Parquet), byte strings become text,
    masked values nulls, big-endian numbers native."""
    import warnings

    from astropy.table import Table
    from astropy.units import UnitsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnitsWarning)  # a unit astropy does not know is no error here
        try:
            table = Table.read(path, format="fits")
        except (ValueError, TypeError, KeyError) as err:  # no table HDU, a broken header
            raise OSError(str(err)) from None
    columns = {}
    for name in table.colnames:
        col = table[name]
        mask = np.asarray(col.mask) if getattr(col, "mask", None) is not None else None
        values = np.asarray(col)
        if values.dtype.kind == "S":
            values = np.char.decode(values, "ascii", errors="replace")
        if values.dtype.kind in "iufb" and values.dtype.byteorder not in ("=", "|"):
            values = values.astype(values.dtype.newbyteorder("="))
        if values.ndim == 2:
            flat = pa.array(np.ascontiguousarray(values).reshape(-1))
            columns[name] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
        elif values.ndim > 2:
            raise OSError(f"column '{name}' has {values.ndim - 1}-d cells; a catalogue column holds "
                          "a number, a text or a vector")
        else:
            columns[name] = pa.array(values, mask=None if mask is None or mask.ndim != 1 else mask)
    return pa.table(columns)


class _TableFile:
    """An open Parquet, CSV or FITS table: its Arrow schema, id column and column-wise reads.

    Parquet is read lazily (footer first; embedding columns row group by row group so memory
    stays near one copy of the matrix); CSV is read whole, its id column as text (exact ids);
    FITS is read whole by astropy (its first table HDU).
    """

    def __init__(self, path: str | Path, id_column: str | None, *, strict: bool = True):
        self.path = Path(path)
        self.file = str(self.path)
        _check_exists(self.path)
        self.kind = _file_kind(self.path)
        if self.kind not in ("parquet", "csv", "fits"):
            raise CatalogueError(f"expected a .parquet, .csv or FITS table here, not "
                                 f"'{self.path.suffix}'.", file=self.file)
        with _reading(self.path, self.kind):
            if self.kind == "parquet":
                self._parquet = pq.ParquetFile(self.path, pre_buffer=False)
                self.schema = self._parquet.schema_arrow
                names = self.schema.names
            elif self.kind == "fits":
                self._table = _read_fits_table(self.path)
                self.schema = self._table.schema
                names = self.schema.names
            else:
                with pacsv.open_csv(self.path) as reader:
                    names = reader.schema.names
            _check_column_names(names, self.file)
            if not strict and id_column not in names:
                id_column = None
            self.id_column = _find_id_column(names, id_column, self.file)
            if self.kind == "csv":
                convert = pacsv.ConvertOptions(column_types={self.id_column: pa.string()})
                self._table = pacsv.read_csv(self.path, convert_options=convert)
                self.schema = self._table.schema
        if self.num_rows == 0:
            raise _empty_error(self.file)

    @property
    def num_rows(self) -> int:
        return self._parquet.metadata.num_rows if self.kind == "parquet" else self._table.num_rows

    @property
    def num_blocks(self) -> int:
        return self._parquet.num_row_groups if self.kind == "parquet" else 1

    def read(self, columns: Sequence[str]) -> pa.Table:
        """The given columns, whole."""
        with _reading(self.path, self.kind):
            if self.kind == "parquet":
                return self._parquet.read(columns=list(columns))
            return self._table.select(list(columns))

    def blocks(self, columns: Sequence[str]) -> Iterator[pa.Table]:
        """The given columns, one Parquet row group (or the whole CSV) at a time."""
        for i in range(self.num_blocks):
            with _reading(self.path, self.kind):
                block = (self._parquet.read_row_group(i, columns=list(columns))
                         if self.kind == "parquet" else self._table.select(list(columns)))
            yield block

    def ids(self, table: pa.Table) -> pa.Array:
        """The validated str ids of ``table`` (read from this file)."""
        ids = _ids_from_arrow(table.column(self.id_column), file=self.file, column=self.id_column)
        _check_ids(ids, self.id_column, self.file)
        return ids

    def stored_metadata(self) -> dict:
        """``Catalogue.metadata`` saved by :func:`save_catalogue` ({} if none)."""
        raw = (self.schema.metadata or {}).get(METADATA_KEY)
        return json.loads(raw) if raw else {}


def _metadata_table(table: pa.Table, id_col: str, ids: pa.Array) -> pa.Table:
    """The non-embedding columns with "id" (str) first, as Arrow."""
    rest = table.drop_columns([id_col]) if id_col in table.column_names else table
    if "id" in rest.column_names:  # a different column was chosen as the id: keep the old one
        names = itertools.chain(["id_original"], (f"id_original_{i}" for i in itertools.count(2)))
        kept = next(name for name in names if name not in rest.column_names)
        rest = rest.rename_columns([kept if c == "id" else c for c in rest.column_names])
    # pandas' own metadata (a DataFrame saved with its index) would make a column the index
    rest = rest.drop_columns([c for c in rest.column_names if c.startswith("__index_level_")])
    return rest.add_column(0, "id", ids).replace_schema_metadata(None)


def _metadata_frame(table: pa.Table, id_col: str, ids: pa.Array) -> pd.DataFrame:
    """The non-embedding columns as pandas, with "id" (str) first."""
    return _metadata_table(table, id_col, ids).to_pandas()


def _read_id_table(path: str | Path, id_column: str | None, *,
                   strict: bool = True) -> tuple[pd.DataFrame, str]:
    """A whole Parquet/CSV table as pandas with validated "id" first: (table, source id column).

    With ``strict=False`` an ``id_column`` the table lacks is ignored (auto-detection instead).
    """
    tf = _TableFile(path, id_column, strict=strict)
    table = tf.read(tf.schema.names)
    return _metadata_frame(table, tf.id_column, tf.ids(table)), tf.id_column


# ----------------------------------------------------------------------------- embeddings
def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _prefix_columns(names: Sequence[str], prefix: str, file: str) -> list[str]:
    """Columns ``<prefix><int>`` sorted numerically; raise on gaps or a missing ``<prefix>0``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)")
    found = sorted((int(m.group(1)), n) for n in names if (m := pattern.fullmatch(n)))
    if not found:
        raise CatalogueError(f"no embedding columns '{prefix}0', '{prefix}1', ... found. Columns: "
                             f"{_short_list(names, 20)}.", file=file, column=f"{prefix}0")
    numbers = [k for k, _ in found]
    if numbers != list(range(len(numbers))):
        missing = next(k for k in range(numbers[-1] + 1) if k not in set(numbers))
        raise CatalogueError(f"embedding columns '{prefix}*' are not consecutive from 0: "
                             f"'{prefix}{missing}' is missing (found {len(found)} columns up to "
                             f"'{found[-1][1]}').", file=file, column=f"{prefix}{missing}")
    return [n for _, n in found]


def _detect_prefix(names: Sequence[str], file: str) -> str | None:
    """The prefix of the largest group of ``<prefix><int>`` columns that starts at 0 (None if
    there is no such group)."""
    groups: dict[str, set[int]] = {}
    for n in names:
        m = _NUMBERED_COLUMN.fullmatch(n)
        if m and m.group(1) not in PROJECTION_PREFIXES:
            groups.setdefault(m.group(1), set()).add(int(m.group(2)))
    groups = {p: ks for p, ks in groups.items() if 0 in ks and len(ks) >= 2}
    if not groups:
        return None
    ranked = sorted(groups, key=lambda p: len(groups[p]), reverse=True)
    if len(ranked) > 1 and len(groups[ranked[0]]) == len(groups[ranked[1]]):
        raise CatalogueError(f"several column groups could be the embedding ({_short_list(ranked)}"
                             "); pass --embedding-prefix (embedding_prefix=).", file=file)
    return ranked[0]


def _named_list_column(schema: pa.Schema) -> str | None:
    """A list-typed column named like LIST_CANDIDATES (``embedding``, ...), or None."""
    lists = [f.name for f in schema if _is_list(f.type)]
    for cand in LIST_CANDIDATES:
        named = [n for n in lists if n.lower() == cand]
        if named:
            return named[0]
    return None


def _only_numeric_list_column(schema: pa.Schema) -> str | None:
    """The one list-of-numbers column, when there is exactly one (else None)."""
    lists = [f.name for f in schema if _is_list(f.type) and _is_numeric(f.type.value_type)]
    return lists[0] if len(lists) == 1 else None


def _expand_columns(columns: str | Sequence[str], names: Sequence[str], file: str) -> list[str]:
    """Explicit embedding columns: names, and shell-style patterns (``*_debiased``, ``mag_?``)
    that stand for every matching column in the table's order. Raises naming a column or a
    pattern that matches nothing, or a column given twice."""
    out: list[str] = []
    for c in [columns] if isinstance(columns, str) else list(columns):
        if any(ch in c for ch in "*?[") and c not in names:
            matched = fnmatch.filter(names, c)
            if not matched:
                raise CatalogueError(f"no column matches the embedding pattern '{c}'. Columns: "
                                     f"{_short_list(names, 20)}.", file=file, column=c)
            out += matched
        elif c in names:
            out.append(c)
        else:
            raise CatalogueError(f"embedding column '{c}' not found.{did_you_mean(c, names)}",
                                 file=file, column=c)
    twice = next((c for i, c in enumerate(out) if c in out[:i]), None)
    if twice is not None:
        raise CatalogueError(f"embedding column '{twice}' is given twice (by name or by a pattern).",
                             file=file, column=twice)
    if not out:
        raise CatalogueError("the list of embedding columns is empty.", file=file)
    return out


def _embedding_names(schema: pa.Schema, file: str, columns: Sequence[str] | None,
                     prefix: str | None) -> list[str]:
    """Which columns hold the embedding (one list column, or several scalar columns)."""
    names = schema.names
    if columns is not None:
        return _expand_columns(columns, names, file)
    if prefix is not None:
        return _prefix_columns(names, prefix, file)
    # a list column named 'embedding' (or alike) first, then <prefix><n> columns, then the only
    # list of numbers: an unnamed list (magnitudes in 5 bands, ...) never beats feat_0..feat_n
    listed = _named_list_column(schema)
    if listed:
        return [listed]
    detected = _detect_prefix(names, file)
    if detected is not None:
        return _prefix_columns(names, detected, file)
    listed = _only_numeric_list_column(schema)
    if listed:
        return [listed]
    raise CatalogueError(
        f"no embedding columns found. Columns: {_short_list(names, 20)}. Pass "
        "--embedding-prefix (embedding_prefix=, e.g. 'feat_pca_' for feat_pca_0, "
        "feat_pca_1, ...), --embedding-columns (embedding_columns=: names or patterns such as "
        "'mag_*'), or store a list column named "
        f"'embedding'.{_why_no_embedding(names, file)}", file=file)


def _why_no_embedding(names: Sequence[str], file: str | None = None) -> str:
    """The likely reason for a table without embedding: map projections only, vote fractions, or
    images not embedded yet (``file``: the table's path, for the command that embeds them)."""
    projections = sorted({m.group(1) for n in names
                          if (m := _NUMBERED_COLUMN.fullmatch(n)) and m.group(1) in PROJECTION_PREFIXES})
    hints = []
    if projections:
        hints.append(f" Columns {', '.join(p + '0, ' + p + '1, ...' for p in projections)} look like a "
                     "2-D map projection, which is never taken as the embedding by itself; to use "
                     f"it as one, pass --embedding-prefix {projections[0]}.")
    if sum(map(_is_posterior_column, names)) >= 2:
        pattern = "*_debiased" if any(str(n).endswith("_debiased") for n in names) else "*_fraction"
        hints.append(" The table holds Galaxy Zoo vote fractions: give it as --posteriors (posteriors=) "
                     "beside a catalogue of embeddings, or use the fractions as the embedding with "
                     f"--embedding-columns '{pattern}' (embedding_columns=).")
    image = find_column(names, EMBED_IMAGE_COLUMNS)  # the column `embed` would read
    if image is not None:
        table = shlex.quote(str(file)) if file else "TABLE"
        out = shlex.quote(f"{Path(file).stem}_embedded.parquet") if file else "OUT.parquet"
        hints.append(f" The table has an image column ('{image}'): `astroexplore embed {table} --out "
                     f"{out}` trains an encoder on its images and writes a catalogue with embeddings "
                     "(`astroexplore embed --help`: epochs, crop, a trained encoder).")
    return "".join(hints)


def _non_numeric_error(col: pa.ChunkedArray, name: str, file: str | None, ids: Any,
                       offset: int) -> CatalogueError:
    values = pd.Series(col.to_numpy(zero_copy_only=False), dtype=object)
    bad = np.flatnonzero(pd.to_numeric(values, errors="coerce").isna() & values.notna())
    if not len(bad):
        return CatalogueError(f"column '{name}' has type {col.type}, not a number.", file=file,
                              column=name)
    return _rows_error(f"a non-numeric value ({col.type})", bad + offset, file=file, column=name,
                       ids=ids, detail=f", value {_show(values.iat[bad[0]])}")


def _stack_columns(table: pa.Table, names: Sequence[str], file: str, ids: Any,
                   out: np.ndarray, offset: int = 0) -> None:
    """Write scalar columns into ``out`` (view of shape (table.num_rows, len(names)), float32).

    Filled in row blocks that fit in cache (10x faster than writing whole strided columns);
    nulls become NaN (caught by :func:`_check_embeddings`).
    """
    columns = []
    for name in names:
        col = table.column(name)
        if not _is_numeric(col.type):
            raise _non_numeric_error(col, name, file, ids, offset)
        columns.append(col.to_numpy())
    for start in range(0, table.num_rows, _STACK_BLOCK):
        block = out[start:start + _STACK_BLOCK]
        for j, values in enumerate(columns):
            block[:, j] = values[start:start + _STACK_BLOCK]


def _from_list_column(col: pa.ChunkedArray, name: str, file: str, ids: Any,
                      offset: int = 0) -> np.ndarray:
    """A list / fixed-size-list column as (n, d) float32 (zero-copy when float32 and one chunk)."""
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    if len(arr) == 0:  # an empty row group: no rows, the width of a fixed-size list if it says
        width = arr.type.list_size if pa.types.is_fixed_size_list(arr.type) else 0
        return np.empty((0, width), dtype=np.float32)
    if arr.null_count:
        rows = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        raise _rows_error("a null embedding", rows + offset, file=file, column=name, ids=ids)
    if pa.types.is_fixed_size_list(arr.type):
        d = arr.type.list_size
    else:
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        d = int(lengths[0])
        ragged = np.flatnonzero(lengths != d)
        if len(ragged):
            raise _rows_error(f"an embedding whose length differs from row {offset}'s ({d})",
                              ragged + offset, file=file, column=name, ids=ids,
                              detail=f", length {lengths[ragged[0]]}")
    values = arr.flatten()
    if not _is_numeric(values.type):
        raise CatalogueError(f"list column '{name}' holds {values.type}, not numbers.",
                             file=file, column=name)
    flat = values.to_numpy(zero_copy_only=False)  # nulls -> NaN, caught by _check_embeddings
    return _as_float32_matrix(flat.reshape(len(arr), d), file)


def _read_list_embeddings(tf: _TableFile, name: str, ids: pa.Array) -> np.ndarray:
    """A list column as (n, d) float32, row group by row group.

    A single row group is returned as is (zero-copy from Arrow for float32 values); several are
    copied once into a preallocated matrix, so peak memory is about one matrix plus a row group.
    """
    field = tf.schema.field(name).type
    if pa.types.is_fixed_size_list(field):  # the width is known before anything is read
        _check_room(tf.num_rows, field.list_size, tf.path)
    out, row = None, 0
    for block in tf.blocks([name]):
        part = _from_list_column(block.column(0), name, tf.file, ids, row)
        if tf.num_blocks == 1:
            return part
        if not len(part):  # an empty row group (a writer given an empty slice)
            continue
        if out is None:
            _check_room(tf.num_rows, part.shape[1], tf.path)
            out = np.empty((tf.num_rows, part.shape[1]), dtype=np.float32)
        elif part.shape[1] != out.shape[1]:
            raise _rows_error(f"an embedding whose length differs from row 0's ({out.shape[1]})",
                              [row], file=tf.file, column=name, ids=ids,
                              detail=f", length {part.shape[1]}")
        out[row:row + len(part)] = part
        row += len(part)
    return out


def _available_memory() -> int | None:
    """Bytes of memory the system can still give (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_room(n_rows: int, width: int, path: Path) -> None:
    """A CatalogueError, before the matrix is allocated, when ``n_rows x width`` float32 cannot
    fit in the memory left (the kernel would kill the process later, with no message)."""
    need, have = 4 * n_rows * width, _available_memory()
    if have is not None and need > have:
        raise CatalogueError(
            f"the embedding is {need / 1e9:.1f} GB ({n_rows:,} x {width} float32) and {have / 1e9:.1f} GB "
            f"of memory is available. `{_reduce_command(path)}` writes its principal components "
            "reading a few columns at a time (it needs a fraction of that); serve the result.",
            file=str(path))


def _read_embeddings(tf: _TableFile, names: Sequence[str], ids: pa.Array) -> np.ndarray:
    """The embedding as one (n, d) float32 C-contiguous matrix.

    Scalar columns are decoded a few at a time (per row group) straight into the preallocated
    matrix, so peak memory is about one matrix plus a few decoded columns.
    """
    if len(names) == 1 and _is_list(tf.schema.field(names[0]).type):
        return _read_list_embeddings(tf, names[0], ids)
    _check_room(tf.num_rows, len(names), tf.path)
    out = np.empty((tf.num_rows, len(names)), dtype=np.float32)
    for j in range(0, len(names), _COLUMN_GROUP):
        group = names[j:j + _COLUMN_GROUP]
        row = 0
        for block in tf.blocks(group):
            rows = block.num_rows
            _stack_columns(block, group, tf.file, ids, out[row:row + rows, j:j + len(group)], row)
            row += rows
    return out


def _as_float32_matrix(x: np.ndarray, file: str | None) -> np.ndarray:
    """``x`` as 2-D C-contiguous float32 (no copy when it already is)."""
    if x.dtype.kind not in "iuf":
        raise CatalogueError(f"embeddings must be numbers, got dtype {x.dtype}.", file=file)
    if x.ndim != 2:
        raise CatalogueError(f"embeddings must be 2-D (n_galaxies, n_features), got shape "
                             f"{x.shape}.", file=file)
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_embeddings(emb: np.ndarray, names: Sequence[str] | None, file: str | None,
                      ids: Any, offset: int = 0) -> None:
    """Raise on an empty matrix, no features or any NaN/inf (scanned in blocks: little memory).
    ``emb`` may be a block of the table's rows starting at row ``offset`` (``ids``: all of them)."""
    if emb.shape[0] == 0:
        raise _empty_error(file)
    if emb.shape[1] == 0:
        raise CatalogueError("the embeddings have 0 features.", file=file)
    bad = [start + np.flatnonzero(~np.isfinite(emb[start:start + _CHECK_BLOCK]).all(axis=1))
           for start in range(0, emb.shape[0], _CHECK_BLOCK)]
    bad = np.concatenate(bad)
    if len(bad):
        j = int(np.flatnonzero(~np.isfinite(emb[bad[0]]))[0])
        value = emb[bad[0], j]
        bad = bad + offset
        if names is None or len(names) == 0:
            column = f"embedding[{j}]"
        elif len(names) == emb.shape[1]:
            column = names[j]
        else:
            column = f"{names[0]}[{j}]"
        raise _rows_error("NaN or infinite embedding values", bad, file=file, column=column,
                          ids=ids, detail=f", value {value}")


# ----------------------------------------------------------------------------- other columns
def _numeric_column(df: pd.DataFrame, name: str, file: str | None) -> np.ndarray:
    values = df[name]
    numeric = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(numeric.isna().to_numpy() & values.notna().to_numpy())
    if len(bad):
        raise _rows_error("a non-numeric value", bad, file=file, column=name,
                          ids=df["id"].to_numpy(), detail=f", value {_show(values.iat[bad[0]])}")
    return numeric.to_numpy(dtype=np.float64)


def _rename_case_insensitive(df: pd.DataFrame, name: str) -> pd.DataFrame:
    if name in df.columns:
        return df
    match = [c for c in df.columns if str(c).lower() == name]
    return df.rename(columns={match[0]: name}) if len(match) == 1 else df


def _check_range(df: pd.DataFrame, name: str, file: str | None, ok: np.ndarray,
                 what: str, hint: str = "") -> None:
    if not ok.all():
        bad = np.flatnonzero(~ok)
        raise _rows_error(what, bad, file=file, column=name, ids=df["id"].to_numpy(),
                          detail=f", value {_show(df[name].iat[bad[0]])}", hint=hint)


def _coordinate_aliases(columns) -> tuple[Any, Any] | None:
    """The RA and Dec columns of a table without ``ra``/``dec`` under another usual name
    (VizieR's ``RAJ2000``/``DEJ2000``, ``RA_ICRS``, ``ra_deg``, ...; not the bare alpha/delta),
    both or neither."""
    ra = find_column(columns, [n for n in RA_NAMES if n not in ("ra", "alpha")])
    dec = find_column(columns, [n for n in DEC_NAMES if n not in ("dec", "delta")])
    return (ra, dec) if ra is not None and dec is not None else None


def _validate_coordinates(df: pd.DataFrame, file: str | None) -> pd.DataFrame:
    """Rename RA/Dec columns to ``ra``/``dec`` (float64: a catalogue with neither, under another
    usual name that holds numbers, too) and check their ranges."""
    for name in ("ra", "dec"):
        df = _rename_case_insensitive(df, name)
    aliases = None if "ra" in df or "dec" in df else _coordinate_aliases(df.columns)
    if aliases is not None and all(pd.api.types.is_numeric_dtype(df[c]) for c in aliases):
        df = df.rename(columns=dict(zip(aliases, ("ra", "dec"))))
    if "ra" in df:
        ra = _numeric_column(df, "ra", file)
        _check_range(df, "ra", file, ~np.isnan(ra), "a missing (NaN or empty) ra")
        _check_range(df, "ra", file, (ra >= 0) & (ra < 360), "an ra outside [0, 360) degrees",
                     hint="Negative RAs: take ra % 360; RA in hours: multiply by 15.")
        df["ra"] = ra
    if "dec" in df:
        dec = _numeric_column(df, "dec", file)
        _check_range(df, "dec", file, ~np.isnan(dec), "a missing (NaN or empty) dec")
        _check_range(df, "dec", file, (dec >= -90) & (dec <= 90),
                     "a dec outside [-90, 90] degrees")
        df["dec"] = dec
    return df


def _is_posterior_column(name: Any) -> bool:
    """A vote fraction: ``*_fraction`` (GZ DECaLS, GZ2 raw and weighted) or GZ2's ``*_debiased``."""
    return str(name).endswith(("_fraction", "_debiased"))


def _is_fraction_column(name: Any) -> bool:
    """A vote fraction or one end of its interval (``*_fraction_lo/_hi``)."""
    return _is_posterior_column(name) or str(name).endswith(("_fraction_lo", "_fraction_hi"))


#: suffixes of a vote answer's bookkeeping beside its fraction (GZ2: counts, weights, flags) and
#: of the encoder's predicted fractions (``astroexplore embed``)
_VOTE_SIDE_SUFFIXES = ("_count", "_weight", "_flag")
_PREDICTED_SUFFIXES = ("_pred", "_pred_std")


def describing_columns(catalogue: Any) -> list[str]:
    """The table's columns that describe a galaxy to a person scoring it (redshift, magnitudes, a
    class, a survey name), in table order: one value per galaxy (not a list), and not the id, the
    image, ra/dec (shown apart), a map projection, a vote fraction or its bookkeeping (GZ2's
    ``*_count/_weight/_flag`` beside a ``*_fraction``), a predicted fraction, nor a demo survey's
    hidden truth (``metadata["demo"]["truth_columns"]``).

    >>> cat = Catalogue.from_arrays(np.ones((1, 2)), ids=["g"], table=pd.DataFrame({
    ...     "ra": [1.0], "dec": [2.0], "redshift": [0.05], "bar_yes_fraction": [0.4],
    ...     "bar_yes_count": [12], "survey": ["sdss"]}))
    >>> describing_columns(cat)
    ['redshift', 'survey']
    """
    from .projection import projection_columns

    table = catalogue.table
    names = [c for c in table.columns if isinstance(c, str)]
    fractions = {c for c in names if _is_fraction_column(c)}
    truth = ((getattr(catalogue, "metadata", None) or {}).get("demo") or {}).get("truth_columns") or ()
    skip = {"id", "image", "ra", "dec", "fractions_predicted", *truth, *(projection_columns(catalogue) or ())}

    def vote_side(name: str) -> bool:
        if name.endswith(_PREDICTED_SUFFIXES) or name.endswith("_total-votes"):
            return True
        stem = next((name[:-len(s)] for s in _VOTE_SIDE_SUFFIXES if name.endswith(s)), None)
        return stem is not None and f"{stem}_fraction" in fractions

    out = []
    for c in names:
        if c in skip or c in fractions or vote_side(c):
            continue
        first = table[c].iloc[0] if len(table) else None
        if isinstance(first, (list, tuple, np.ndarray, dict)):
            continue
        out.append(c)
    return out


def position_columns(catalogue, ids, rows=None) -> list:
    """``[("ra", ndarray), ("dec", ndarray)]`` of the galaxies ``ids`` (float64 degrees, NaN for
    one the catalogue lacks: a store shared with another catalogue), or ``[]`` without a catalogue
    with coordinates. ``rows``: their row indices, where the caller has them (no lookup by id)."""
    if catalogue is None or not getattr(catalogue, "has_coordinates", False):
        return []
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        known = np.ones(rows.size, dtype=bool)
    else:
        rows, known = catalogue.known_rows([str(i) for i in ids])
    out = []
    for name, values in (("ra", catalogue.ra), ("dec", catalogue.dec)):
        column = np.full(len(known), np.nan)
        column[known] = np.asarray(values, np.float64)[rows]
        out.append((name, column))
    return out


def with_catalogue_columns(table: pd.DataFrame, catalogue, rows=None, also: Sequence[str] = ()) -> pd.DataFrame:
    """``table`` (one row per galaxy, column ``id``) followed by the galaxies' own catalogue
    columns (:func:`~astroexplore.catalogue.describing_columns`: redshift, magnitudes, a class): a
    download is a follow-up list without a join. ``rows``: the galaxies' row indices, where the
    caller has them (no lookup by id). ``also``: more columns of the catalogue to add after them
    (the vote fractions and columns a filter selected on:
    :func:`~astroexplore.filter_text.selection_columns`)."""
    columns = [c for c in dict.fromkeys([*describing_columns(catalogue), *also])
               if c not in table.columns and c in catalogue.table.columns]
    if not columns:
        return table
    # (an empty table gets the columns too: a file of no galaxies reads like the others)
    rows = catalogue.indices_of(table["id"]) if rows is None else rows
    extra = catalogue.table[columns].iloc[rows].reset_index(drop=True)
    return pd.concat([table.reset_index(drop=True), extra], axis=1)


def _validate_fractions(df: pd.DataFrame, file: str | None) -> None:
    """Posterior columns (``*_fraction``, ``*_debiased``, ``*_fraction_lo/_hi``) in [0, 1]; NaN allowed."""
    tol = FRACTION_TOLERANCE
    for name in filter(_is_fraction_column, df.columns):
        v = _numeric_column(df, name, file)
        ok = np.isnan(v) | ((v >= -tol) & (v <= 1 + tol))
        finite = v[~np.isnan(v)]
        percent = bool(len(finite)) and finite.min() >= 0 and 1 < finite.max() <= 100
        _check_range(df, name, file, ok, "a vote fraction outside [0, 1]",
                     hint="Its values lie in 0-100: percentages? Divide the column by 100." if percent else "")


def _validate_columns(df: pd.DataFrame, file: str | None) -> pd.DataFrame:
    """Check coordinates and fractions; return the table with ``ra``/``dec`` normalised."""
    df = _validate_coordinates(df, file)
    _validate_fractions(df, file)
    return df


def find_column(columns: Iterable, names: Sequence[str]) -> Any:
    """The first of ``names`` (lower case) among ``columns``, matched case-insensitively; or None.

    >>> find_column(["objid", "File"], ("image", "file"))
    'File'
    """
    lowered = {str(c).lower(): c for c in columns}
    return next((lowered[c] for c in names if c in lowered), None)


def _normalise_image(df: pd.DataFrame, image_column: str | None, file: str,
                     metadata: dict) -> pd.DataFrame:
    """Rename the image column (given, or the first of IMAGE_CANDIDATES) to ``image``."""
    if image_column is None:
        if "image" in df.columns:
            return df
        image_column = find_column(df.columns, IMAGE_CANDIDATES)
        if image_column is None:
            return df
    elif image_column not in df.columns:
        raise CatalogueError(f"image column '{image_column}' not found."
                             f"{did_you_mean(image_column, map(str, df.columns))}", file=file,
                             column=image_column)
    if image_column != "image":
        df = df.drop(columns="image", errors="ignore").rename(columns={image_column: "image"})
        metadata.setdefault("image_column", image_column)
    return df


def _resolve_schema(schema: Any, columns: Iterable[str]) -> Any:
    """``"auto"`` -> astroexplore.schemas.detect_schema(columns) (None if unavailable)."""
    if isinstance(schema, str) and schema == "auto":
        try:
            from astroexplore.schemas import detect_schema
        except ImportError:
            return None
        return detect_schema(list(map(str, columns)))
    return schema


def _schema_of(schema: Any, df: pd.DataFrame) -> Any:
    """The catalogue's schema (:func:`_resolve_schema`), with the fractions of questions nobody
    answered for a galaxy (GZ2: 0.0, with 0 votes) made NaN in ``df``, in place."""
    given = not (isinstance(schema, str) and schema == "auto")
    schema = _resolve_schema(schema, df.columns)
    if given and schema is not None and not any(c in df.columns for c in schema.columns):
        raise CatalogueError(f"schema '{schema.name}': none of its vote columns (e.g. "
                             f"'{schema.columns[0]}') is in the catalogue.{did_you_mean(schema.columns[0], map(str, df.columns))}")
    if schema is not None:
        schema.add_vote_totals(df)
        schema.blank_not_asked(df)
    return schema


# ----------------------------------------------------------------------------- loaders
def _load_table(path: Path, id_column: str | None, embedding_columns: Sequence[str] | None,
                embedding_prefix: str | None) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """A Parquet/CSV catalogue: (metadata table, embeddings, stored metadata)."""
    tf = _TableFile(path, id_column)
    names = _embedding_names(tf.schema, tf.file, embedding_columns, embedding_prefix)
    # vote fractions taken as the embedding stay columns too: the morphology filter reads them
    table = tf.read([c for c in tf.schema.names if c not in names or _is_fraction_column(c)])
    ids = tf.ids(table)
    _release_arrow_memory()  # decode buffers go back to the OS before the matrix is allocated
    emb = _read_embeddings(tf, names, ids)
    _check_embeddings(emb, names, tf.file, ids)
    return _metadata_frame(table, tf.id_column, ids), emb, tf.stored_metadata()


def _release_arrow_memory() -> None:
    """Ask Arrow's allocator to return freed buffers to the OS (it keeps them by default)."""
    pa.default_memory_pool().release_unused()


def _check_id_count(n_rows: int, n_ids: int, where: str, file: str, column: str | None) -> None:
    """CatalogueError unless a ``.npy`` embedding's ``n_rows`` rows have as many ids, naming the
    first row without a partner; ``where`` says where the ids came from ("in ids.csv ('id')",
    "given")."""
    if n_ids != n_rows:
        first = min(n_ids, n_rows)
        raise CatalogueError(f"{n_rows} embedding rows but {n_ids} ids {where} (first unmatched: "
                             f"row {first}).", file=file, column=column, rows=[first])


def _load_npy(path: Path, ids: Any, id_column: str | None,
              ) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """A ``.npy`` matrix plus ids: a table path (its other columns become metadata) or a list."""
    file = str(path)
    try:
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except (OSError, ValueError):
        shape = ()  # np.load below says what is wrong
    if len(shape) == 2:
        _check_room(shape[0], shape[1], path)
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise CatalogueError(f"cannot read as .npy: {err}", file=file) from None
    emb = _as_float32_matrix(matrix, file)
    meta = {}
    if isinstance(ids, (str, Path)):
        df, id_col = _read_id_table(ids, id_column)
        where = f"in {ids} ('{id_col}')"
        meta["image_root"] = str(Path(ids).resolve().parent)  # images listed beside the ids
    else:
        if ids is None:  # allowed (a quick look), but said: labels would be keyed by row number
            import warnings
            warnings.warn(f"{file}: no ids given, so the galaxies are numbered 0..{emb.shape[0] - 1} "
                          "in file order, and labels stored now only mean something with this very "
                          "file; pass ids= (a table with an id column, or a list; CLI: --ids)",
                          UserWarning, stacklevel=3)
        values = _ids_from_sequence(np.arange(emb.shape[0]) if ids is None else ids)
        _check_ids(values, "id", file)
        df, where, id_col = pd.DataFrame({"id": values.to_pandas()}), "given", None
    _check_id_count(emb.shape[0], len(df), where, file, id_col)
    _check_embeddings(emb, None, file, df["id"].to_numpy())
    return df, emb, meta


def _load_zoobot_h5(path: Path) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Zoobot predictions: the expected vote fractions serve as the embedding."""
    from astroexplore.zoobot import read_zoobot_predictions

    df = read_zoobot_predictions(path)
    cols = [c for c in df.columns if str(c).endswith("_fraction")]
    emb = np.ascontiguousarray(df[cols].to_numpy(dtype=np.float32))
    _check_embeddings(emb, cols, str(path), df["id"].to_numpy())
    return df, emb, {"embedding": "zoobot_vote_fractions"}


def _read_posteriors(posteriors: str | Path | pd.DataFrame,
                     id_column: str | None) -> tuple[pd.DataFrame, str]:
    """A posteriors table as pandas with "id" first, validated: (table, file name)."""
    if isinstance(posteriors, pd.DataFrame):
        df = posteriors.reset_index(drop=True).copy()
        id_col = _find_id_column([str(c) for c in df.columns], id_column, "posteriors")
        ids = _ids_from_sequence(df.pop(id_col).to_numpy())
        _check_ids(ids, "id", "posteriors")
        df.insert(0, "id", ids.to_pandas())
        return _validate_columns(df, "posteriors"), "posteriors"
    path = Path(posteriors)
    file = str(path)
    _check_exists(path)
    if _file_kind(path) == "hdf5":
        from astroexplore.zoobot import read_zoobot_predictions

        df = read_zoobot_predictions(path)
    else:
        df, _ = _read_id_table(path, id_column, strict=False)
    return _validate_columns(df, file), file


def _check_vote_columns(post: pd.DataFrame, post_file: str, schema: Any) -> None:
    """A posteriors table must hold at least one answer column of a Galaxy Zoo schema (a
    built-in one, or ``schema`` when it is a Schema): otherwise it joined nothing usable."""
    from astroexplore.schemas import Schema, builtin_schemas

    schemas = [schema] if isinstance(schema, Schema) else builtin_schemas()
    known = {c for sch in schemas for c in sch.columns}
    if any(str(c) in known for c in post.columns):
        return
    found = [str(c) for c in post.columns if c != "id"]
    raise CatalogueError(
        f"{post_file} has no Galaxy Zoo vote-fraction column (columns: {_short_list(found)}). "
        "Posteriors are columns named '{question}_{answer}_fraction' as GZ DECaLS "
        "(smooth-or-featured_smooth_fraction) or GZ2's (t01_smooth_or_features_a01_smooth_fraction); "
        "for your own decision tree pass schema= (astroexplore.schemas.load_schema).",
        file=post_file)


def _join_posteriors(df: pd.DataFrame, posteriors: Any, id_column: str | None,
                     file: str, meta: dict, schema: Any = "auto") -> pd.DataFrame:
    """Join a posteriors table on "id", keeping every catalogue row: a galaxy without a row in
    the table gets NaN (no votes), rows of other galaxies are left out (a survey-wide table);
    the counts go to ``meta["posteriors"]``. No id in common is an error (a wrong id column)."""
    post, post_file = _read_posteriors(posteriors, id_column)
    _check_vote_columns(post, post_file, schema)
    order = pd.Index(post["id"]).get_indexer(df["id"])
    n_matched = int((order >= 0).sum())
    if n_matched == 0 and len(df):
        raise CatalogueError(
            f"no id of {file} is in {post_file} (ids such as {_short_list(df['id'].head(3).tolist())} "
            f"there, {_short_list(post['id'].head(3).tolist())} here). Check that both tables use "
            "the same ids (--id-column / id_column= names the column).", file=post_file, column="id")
    meta["posteriors"] = {"file": post_file, "matched": n_matched, "without_row": len(df) - n_matched,
                          "other_rows": len(post) - n_matched}
    post = post.set_index("id").reindex(df["id"]).reset_index(drop=True)
    matched = order >= 0  # a shared column (ra, dec) is compared where the table has the galaxy
    for name in [c for c in post.columns if c in df.columns]:
        if not _same_values(df[name][matched], post[name][matched]):
            raise CatalogueError(f"column '{name}' is in both {file} and {post_file} with "
                                 "different values; rename one.", file=post_file, column=name)
        post = post.drop(columns=name)
    return pd.concat([df, post], axis=1)


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return bool(np.allclose(a.to_numpy(float), b.to_numpy(float), equal_nan=True))
    return bool((a.astype(str).to_numpy() == b.astype(str).to_numpy()).all())


def load_catalogue(path: str | Path, *, ids: Any = None, id_column: str | None = None,
                   embedding_columns: Sequence[str] | None = None,
                   embedding_prefix: str | None = None, posteriors: Any = None,
                   schema: Any = "auto", image_column: str | None = None,
                   image_template: str | None = None) -> Catalogue:
    """Read and validate a galaxy catalogue.

    Parameters
    ----------
    path : str or Path
        ``.parquet``/``.csv``/``.csv.gz``/FITS (``.fits``, ``.fits.gz``: its first table HDU)
        table with an id column and the embedding as prefix columns (``feat_pca_0 ..
        feat_pca_39``: detected) or one list / vector column (``embedding``);
        ``.npy`` matrix (n_galaxies, n_features) with ``ids=``; or a Zoobot predictions
        ``.h5``/``.hdf5`` (its expected vote fractions become the embedding).
    ids : str, Path or sequence, optional
        For ``.npy``: a table holding the ids (its other columns, e.g. ra/dec, are kept) or the
        ids themselves; default ``"0" .. "n-1"``.
    id_column : str, optional
        Id column name; default the first of :data:`ID_CANDIDATES` (case-insensitive).
        Ids become str with every digit kept.
    embedding_columns : str or sequence of str, optional
        Explicit embedding columns, in order: names, or shell-style patterns standing for every
        matching column in the table's order (``"*_debiased"``: GZ2's 37 debiased vote
        fractions as the embedding).
    embedding_prefix : str, optional
        Use the columns ``<prefix>0, <prefix>1, ...`` (sorted numerically, no gaps).
    posteriors : str, Path or DataFrame, optional
        Table of morphology posteriors (Parquet, CSV or Zoobot ``.h5``) joined on the id. Galaxies
        without a row get NaN (no votes); rows of galaxies not in the catalogue are left out
        (a survey-wide vote table); ``metadata["posteriors"]`` holds the counts. At least one id
        must be in common.
    schema : "auto", Schema or None
        Decision tree; ``"auto"`` uses :func:`astroexplore.schemas.detect_schema`.
    image_column : str, optional
        Column of image paths/URLs (renamed ``image``); default detected
        (:data:`IMAGE_CANDIDATES`).
    image_template : str, optional
        URL template filled from ``{ra}``, ``{dec}``, ``{id}``; stored in
        ``metadata["image_template"]``.

    Returns
    -------
    Catalogue

    Raises
    ------
    CatalogueError
        Unreadable/missing/unsupported file, missing or duplicate ids, NaN/inf or non-numeric
        embedding values, ragged lengths, ra/dec or fractions out of range, no id in common with
        the posteriors, no embedding columns found.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> _ = pd.DataFrame({"objid": [1237648720693755918, 2], "feat_0": [0.1, 0.2],
    ...                   "feat_1": [1.0, 2.0]}).to_csv(os.path.join(d, "c.csv"), index=False)
    >>> cat = load_catalogue(os.path.join(d, "c.csv"))
    >>> cat.ids.tolist(), cat.embeddings.shape, cat.embeddings.dtype
    (['1237648720693755918', '2'], (2, 2), dtype('float32'))
    """
    path = Path(path)
    file = str(path)
    _check_exists(path)
    kind = _file_kind(path)
    if ids is not None and kind != "npy":
        raise CatalogueError("ids= is only for .npy embeddings; this table has its own id "
                             "column (use id_column= to choose it).", file=file)
    if kind == "npy":
        df, emb, meta = _load_npy(path, ids, id_column)
    elif kind == "hdf5":
        df, emb, meta = _load_zoobot_h5(path)
    else:
        df, emb, meta = _load_table(path, id_column, embedding_columns, embedding_prefix)
    df = _validate_columns(df, file)
    if posteriors is not None:
        df = _join_posteriors(df, posteriors, id_column, file, meta, schema)
    df = _normalise_image(df, image_column, file, meta)
    if image_template is not None:
        meta["image_template"] = image_template
    _release_arrow_memory()
    cat = Catalogue(df, emb, path, _schema_of(schema, df), meta)
    if meta.get("image_template") and cat.n_galaxies:
        cat._fill_template(meta["image_template"], 0)  # one that cannot be filled fails here, naming itself
    return cat


#: suffixes :func:`save_catalogue` writes (Parquet, whatever the name says, so the name must say so)
PARQUET_SUFFIXES = (".parquet", ".pq")


def _check_save_target(path: Path, overwrite: bool, source: Path | None) -> None:
    """Refuse a write that would destroy what it should not: a label store (its labels would be
    lost), a file of another kind, an existing catalogue without ``overwrite`` (as astropy's
    ``Table.write``)."""
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        raise CatalogueError(f"catalogues are written as Parquet: name the file '{path.stem}.parquet' "
                             f"(a '{path.suffix or 'suffixless'}' name would hold Parquet bytes)", file=str(path))
    if path.is_dir():
        raise CatalogueError("is a folder; give a file name ending in .parquet", file=str(path))
    if not path.exists():
        return
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"SQLite format 3"):
        raise CatalogueError("is a SQLite database (a label store?), not a catalogue: it was left "
                             "untouched; choose another name", file=str(path))
    if not overwrite:
        what = " (the catalogue this one was loaded from)" if source is not None and \
            source.resolve() == path.resolve() else ""
        raise CatalogueError(f"exists{what}; pass overwrite=True to replace it, or choose another name",
                             file=str(path))


def save_catalogue(catalogue: Catalogue, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a catalogue as Parquet: table columns + ``embedding`` fixed_size_list<float32>[d].

    ``catalogue.metadata`` is stored as JSON under the schema-metadata key ``b"astroexplore"``;
    :func:`load_catalogue` restores it.

    Parameters
    ----------
    catalogue : Catalogue
    path : str or Path
        Output ``.parquet`` (or ``.pq``) file (parent folders are created). A label store or
        another SQLite file under that name is never overwritten.
    overwrite : bool, default False
        Replace an existing catalogue file (as astropy's ``Table.write``); otherwise an existing
        file is an error. The write is atomic either way.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, os
    >>> cat = Catalogue.from_arrays(np.ones((2, 3)), metadata={"encoder": "demo"})
    >>> out = save_catalogue(cat, os.path.join(tempfile.mkdtemp(), "cat.parquet"))
    >>> back = load_catalogue(out)
    >>> back.metadata, back.embeddings.shape
    ({'encoder': 'demo'}, (2, 3))
    """
    path = Path(path)
    _check_save_target(path, overwrite, getattr(catalogue, "path", None))
    if "embedding" in catalogue.table.columns:
        raise CatalogueError("the table already has a column 'embedding'; rename it before "
                             "saving.", file=str(path), column="embedding")
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = dict(catalogue.metadata)
    if "image" in catalogue.table and path.resolve().parent != catalogue.image_root.resolve():
        metadata["image_root"] = str(catalogue.image_root.resolve())  # keep relative images valid
    table = pa.Table.from_pandas(catalogue.table, preserve_index=False)
    emb = np.ascontiguousarray(catalogue.embeddings, dtype=np.float32)
    values = pa.array(emb.reshape(-1))
    table = table.append_column(
        "embedding", pa.FixedSizeListArray.from_arrays(values, emb.shape[1]))
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # atomic: an interrupted write never leaves a truncated catalogue under the real name
        pq.write_table(table.replace_schema_metadata(meta), tmp, row_group_size=ROW_GROUP_SIZE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ----------------------------------------------------------------------------- summary
def _range_text(values: np.ndarray) -> str:
    return f"{np.nanmin(values):.3f} .. {np.nanmax(values):.3f}"


def _reduce_command(path: str | Path | None) -> str:
    """``astroexplore reduce`` of the catalogue ``path`` to ``<name>_pca40.parquet`` beside it."""
    if path is None:
        return "astroexplore reduce CATALOGUE OUT.parquet"
    path = Path(path)
    name = path.name
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):  # w.csv.gz -> w, J0004.1+02.parquet -> J0004.1+02
        if name.lower().endswith(suffix):
            name = name[:-len(suffix)]
            break
    ids = " --ids IDS_TABLE" if _file_kind(path) == "npy" else ""
    return f"astroexplore reduce {shlex.quote(str(path))} {shlex.quote(str(path.with_name(name + '_pca40.parquet')))}{ids}"


def describe_catalogue(cat: Catalogue) -> str:
    """Multi-line summary for ``astroexplore validate``.

    Parameters
    ----------
    cat : Catalogue

    Returns
    -------
    str
        File, galaxy and feature counts, the id/ra/dec/image columns found, the schema, how many
        posterior columns, other columns and metadata keys, one per line.

    Examples
    --------
    >>> print(describe_catalogue(Catalogue.from_arrays(np.ones((2, 3)))).splitlines()[1])
    galaxies:     2
    """
    t = cat.table
    fractions = [c for c in t.columns if _is_posterior_column(c)]
    known = {"id", "ra", "dec", "image", *fractions} | {
        c for c in t.columns if _is_fraction_column(c)}
    other = [str(c) for c in t.columns if c not in known]
    lines = [
        f"catalogue:    {cat.path if cat.path is not None else '(in memory)'}",
        f"galaxies:     {cat.n_galaxies:,}",
        f"features:     {cat.n_features} ({cat.embeddings.dtype})",
        "ids:          'id' (unique, e.g. " + _short_list(cat.ids[:3], 3) + ")",
    ]
    if cat.n_features > WIDE_FEATURES:
        lines.append(f"              a wide embedding ({cat.n_features} x {cat.n_galaxies:,} float32: "
                     f"{cat.embeddings.nbytes / 1e9:.1f} GB in memory). Too slow or too large? "
                     f"`{_reduce_command(cat.path)}` keeps its 40 principal components, read a few columns at "
                     "a time (with the --id-column / --embedding-* options this catalogue needed; it says "
                     "how much of the variance they keep)")
    if cat.has_coordinates:
        lines.append(f"coordinates:  ra {_range_text(cat.ra)} deg, dec {_range_text(cat.dec)} deg")
    elif (aliases := _coordinate_aliases(t.columns)) is not None:
        lines.append(f"coordinates:  none: {aliases[0]}/{aliases[1]} hold text, not degrees (convert them to "
                     "degrees in columns ra/dec, e.g. with astropy's SkyCoord(..., unit=(u.hourangle, u.deg)))")
    else:
        lines.append("coordinates:  none (no ra/dec columns)")
    if "image" in t:
        example = cat.image_reference(0)
        if example and not is_url(example):
            example = os.path.normpath(example)  # 'out/../../data/x.jpg' (embed writes paths relative to its table)
        lines.append(f"images:       column 'image' (e.g. {example})")
        checked, n_missing, first = cat.missing_images()
        if n_missing:
            lines.append(f"              WARNING: {n_missing:,} of {checked:,} image files checked are not "
                         f"found (first: {first[0]}); relative paths resolve against {cat.image_root}. "
                         "The app shows a placeholder for them.")
    elif cat.metadata.get("image_template"):
        lines.append(f"images:       template {cat.metadata['image_template']}"
                     + (f" (first galaxy: {cat.image_reference(0)})" if cat.n_galaxies else ""))
    else:
        lines.append("images:       none")
    schema_name = getattr(cat.schema, "name", None)
    lines.append(f"schema:       {schema_name or 'none detected'}")
    if fractions:
        n_nan = int(t[fractions].isna().to_numpy().any(axis=1).sum())
        lines.append(f"posteriors:   {len(fractions)} fraction columns ({n_nan:,} galaxies with "
                     "NaN: question not asked, or no votes)")
        totals = [f"{q.name}_total-votes" for q in cat.schema.questions
                  if f"{q.name}_total-votes" in t.columns] if cat.schema is not None else []
        if totals:
            lines.append(f"              votes per question in {len(totals)} '{{question}}_total-votes' columns: "
                         f"a range keeps the galaxies with enough, e.g. --ranges '{totals[min(2, len(totals) - 1)]}:20..'")
        joined = cat.metadata.get("posteriors")
        if isinstance(joined, dict):
            lines.append(f"              joined from {joined['file']}: {joined['matched']:,} galaxies "
                         f"matched, {joined['without_row']:,} without a row (NaN), "
                         f"{joined['other_rows']:,} rows of other galaxies left out")
    else:
        lines.append("posteriors:   none")
    lines.append(f"other columns: {_short_list(other, 12) if other else 'none'}")
    meta_keys = sorted(cat.metadata)
    lines.append(f"metadata:     {', '.join(meta_keys) if meta_keys else 'none'}")
    return "\n".join(lines)
