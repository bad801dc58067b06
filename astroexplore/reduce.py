"""Wide embeddings made narrow: a PCA of a catalogue's embedding, fitted on a sample of its rows
and applied a block of rows at a time.

Zoobot's representations have 640-1280 floats per galaxy. 8.7 million DESI galaxies x 1280 float32
is 44 GB, more than a workstation holds, and every step of the app (isolation forest, interest head,
faiss, map) slows with the width; Zoobot's own published catalogues carry 40 principal components
(``feat_pca_0..39``) instead. :func:`reduce_catalogue` does that for any catalogue: it fits a PCA to
a random sample of rows (100,000 by default), then writes every galaxy's first ``n_components``
coordinates as the ``embedding`` column of a new Parquet catalogue, the table's other columns
unchanged. The wide embedding is read a Parquet row group at a time, 64 of its columns at a time,
and projected a group of columns at a time (the projection is a sum over them), so memory is
about 64 columns of a row group, the fitting sample and the other columns, whatever the number of
galaxies and the width. The basis is
written beside the output (``<out stem>.pca.npz``): a later table (the next data release, a deeper
field) given ``basis=`` lands in the same coordinates.

Reads Parquet (streamed), CSV and FITS tables (read whole, as :func:`~astroexplore.catalogue.load_catalogue`
does) and ``.npy`` matrices (memory-mapped) with a table of ids. Every embedding value is checked
as it is read: a NaN, a string or a ragged list is an error naming the file, the column, the row and
the galaxy's id, raised before anything is written.

>>> import tempfile, os, numpy as np, pandas as pd
>>> d = tempfile.mkdtemp()
>>> X = np.random.default_rng(0).normal(size=(300, 50))
>>> pd.DataFrame({"id": [f"g{i}" for i in range(300)], "mag_r": 17.0,
...               **{f"feat_{j}": X[:, j] for j in range(50)}}).to_parquet(os.path.join(d, "wide.parquet"))
>>> done = reduce_catalogue(os.path.join(d, "wide.parquet"), os.path.join(d, "narrow.parquet"), 8)
>>> done.n_features, done.n_components, done.basis_path.name
(50, 8, 'narrow.pca.npz')
>>> from astroexplore.catalogue import load_catalogue
>>> cat = load_catalogue(done.path)
>>> cat.embeddings.shape, list(cat.table.columns)
((300, 8), ['id', 'mag_r'])
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from astroexplore.catalogue import (
    METADATA_KEY, ROW_GROUP_SIZE, _check_embeddings, _check_exists, _check_id_count, _check_ids,
    _check_save_target, _embedding_names, _file_kind, _from_list_column, _ids_from_sequence,
    _is_fraction_column, _is_list, _metadata_table, _reading, _release_arrow_memory, _stack_columns,
    _TableFile, _validate_columns,
)
from astroexplore.encoder.pca import EmbeddingPCA
from astroexplore.errors import CatalogueError

__all__ = ["Reduction", "reduce_catalogue", "basis_path_for", "fit_basis", "DEFAULT_COMPONENTS",
           "DEFAULT_FIT_ROWS"]

#: Components kept by default: as Zoobot's published catalogues (``feat_pca_0..39``).
DEFAULT_COMPONENTS = 40
#: Rows the PCA is fitted on by default (a seeded random sample; all rows of a smaller catalogue).
DEFAULT_FIT_ROWS = 100_000
#: Below this share of the variance kept, the summary warns that much of the embedding is left out.
LOW_VARIANCE = 0.8
#: Bytes of float32 embedding read at a time.
BLOCK_BYTES = 1 << 27
#: Scalar embedding columns decoded at a time (a row group's worth of rows each).
_COLUMN_GROUP = 64
#: Rows projected at a time (the projection works in float64).
_TRANSFORM_ROWS = 16_384
#: Suffix of the basis file written beside a reduced catalogue.
BASIS_SUFFIX = ".pca.npz"


def basis_path_for(out: str | Path) -> Path:
    """Where :func:`reduce_catalogue` writes the basis of the catalogue ``out``:
    ``narrow.parquet`` -> ``narrow.pca.npz``."""
    out = Path(out)
    return out.with_name(out.stem + BASIS_SUFFIX)


@dataclass
class Reduction:
    """What :func:`reduce_catalogue` wrote.

    Attributes
    ----------
    path, basis_path : Path
        The reduced catalogue (Parquet, ``embedding`` column of ``n_components`` float32) and its
        PCA basis (``.npz``: mean, components, explained variance).
    n_galaxies, n_features, n_components : int
        Rows, the input embedding's width and the output's.
    variance_kept : float
        Share of the variance of the rows the basis was fitted on that the components keep.
    fit_rows : int
        Rows the basis was fitted on (this run's sample, or the given basis's).
    fitted : bool
        False where an existing basis was applied (``basis=``).
    seconds : float
        Wall time of the whole reduction.
    basis_given : Path or None
        The basis applied, where one was given.
    """

    path: Path
    basis_path: Path
    n_galaxies: int
    n_features: int
    n_components: int
    variance_kept: float
    fit_rows: int
    fitted: bool
    seconds: float
    basis_given: Path | None = None

    def summary(self) -> str:
        """What was written, for the command line (and a warning when little variance is kept)."""
        how = (f"fitted on {self.fit_rows:,} random rows" if self.fitted
               else f"the basis {self.basis_given}, fitted on {self.fit_rows:,} rows")
        low = (f"\nwarning:   {self.n_components} components keep only {self.variance_kept:.0%} of the "
               "variance: neighbours and anomalies along the other directions are lost; more "
               "components (--components) keep more" if self.variance_kept < LOW_VARIANCE else "")
        return (f"{self.n_galaxies:,} galaxies: {self.n_features} features -> {self.n_components} principal "
                f"components ({self.variance_kept:.1%} of the variance; {how}) in {self.seconds:.1f} s\n"
                f"catalogue: {self.path}\nbasis:     {self.basis_path}{low}")


class _Source:
    """A catalogue file's embedding, a block of rows at a time and a few columns at a time, and
    its other columns (whole).

    Attributes: ``file`` (for errors), ``names`` (the embedding's columns), ``ids`` (validated
    str ids, all rows), ``other`` (the columns kept, with ``id`` first), ``metadata`` (stored
    :attr:`Catalogue.metadata`), ``image_root`` (where relative image paths start), ``dims``.
    """

    file: str
    names: list[str]
    ids: pa.Array
    other: pa.Table
    metadata: dict
    image_root: Path
    dims: int | None  # the embedding's width (None until read, for a list column of any length)
    columns: list[str] | None = None  # the embedding's scalar columns, in order (None: a list, a matrix)

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    def blocks(self) -> Iterator[tuple[int, int, Iterator[tuple[int, np.ndarray]]]]:
        """(first row, rows, parts) in row order; ``parts`` yields (first feature, (rows, w)
        float32 checked finite): the block's features, a group of columns at a time. Read the
        parts of a block before the next block."""
        raise NotImplementedError

    def _checked(self, X: np.ndarray, offset: int, names: Sequence[str]) -> np.ndarray:
        _check_embeddings(X, names, self.file, self.ids, offset)
        return X

    def _width(self, X: np.ndarray, offset: int) -> np.ndarray:
        """``X`` (a list column's block) after checking its length against the first block's."""
        if self.dims is None:
            self.dims = X.shape[1]
        elif X.shape[1] != self.dims:
            raise CatalogueError(f"row {offset} (id '{self.ids[offset].as_py()}') has an embedding of length "
                                 f"{X.shape[1]}, row 0's has {self.dims}.", file=self.file,
                                 column=self.names[0], rows=[offset])
        return X


def _rows_per_block(width: int) -> int:
    """Rows of ``width`` float32 features that make about :data:`BLOCK_BYTES`."""
    return max(1024, BLOCK_BYTES // (4 * max(width, 1)))


def _kept_columns(tf: _TableFile, table: pa.Table) -> tuple[pa.Array, pa.Table]:
    """The validated ids of ``table`` (read from ``tf``) and its columns as the output keeps
    them, "id" first; ra/dec and fractions checked before the long passes."""
    ids = tf.ids(table)
    other = _metadata_table(table, tf.id_column, ids)
    _validate_columns(other.to_pandas(), tf.file)
    return ids, other


class _TableSource(_Source):
    def __init__(self, path: Path, id_column, embedding_columns, embedding_prefix):
        self._tf = tf = _TableFile(path, id_column)
        self.file = tf.file
        self.names = _embedding_names(tf.schema, tf.file, embedding_columns, embedding_prefix)
        # as load_catalogue: vote fractions taken as the embedding stay columns too
        self.ids, self.other = _kept_columns(
            tf, tf.read([c for c in tf.schema.names if c not in self.names or _is_fraction_column(c)]))
        self.metadata = tf.stored_metadata()
        self.image_root = Path(self.metadata.get("image_root") or path.resolve().parent)
        field = tf.schema.field(self.names[0])
        self._list = len(self.names) == 1 and _is_list(field.type)
        fixed = pa.types.is_fixed_size_list(field.type)
        self.dims = (field.type.list_size if fixed else None) if self._list else len(self.names)
        self.columns = None if self._list else list(self.names)
        self._rows = _rows_per_block(self.dims or 1280)

    def blocks(self):
        """Parquet: a row group at a time, its scalar columns a group of ``_COLUMN_GROUP`` at a
        time (Arrow decodes a row group's column whole: memory follows the row groups' length,
        not the embedding's width); a list column's row group whole. CSV / FITS: slices of the
        table read whole."""
        tf = self._tf
        if tf.kind == "parquet":
            starts = np.cumsum([0] + [tf._parquet.metadata.row_group(i).num_rows for i in range(tf.num_blocks)])
            for i in range(tf.num_blocks):
                if starts[i + 1] == starts[i]:
                    continue  # an empty row group (a writer given an empty slice)
                yield int(starts[i]), int(starts[i + 1] - starts[i]), self._parts(
                    lambda cols, i=i: tf._parquet.read_row_group(i, columns=cols), int(starts[i]))
        else:
            for start in range(0, tf.num_rows, self._rows):
                block = tf._table.slice(start, self._rows)
                yield start, block.num_rows, self._parts(block.select, start)

    def _parts(self, read, offset: int):
        tf = self._tf

        def read_named(cols):  # a damaged page: an error naming the file, as load_catalogue's
            with _reading(tf.path, tf.kind):
                return read(cols)

        if self._list:
            X = _from_list_column(read_named(self.names).column(0), self.names[0], self.file, self.ids, offset)
            yield 0, self._width(self._checked(X, offset, self.names), offset)
            return
        for j in range(0, len(self.names), _COLUMN_GROUP):
            group = self.names[j:j + _COLUMN_GROUP]
            part = read_named(group)
            X = np.empty((part.num_rows, len(group)), dtype=np.float32)
            _stack_columns(part, group, self.file, self.ids, X, offset)
            yield j, self._checked(X, offset, group)


class _NpySource(_Source):
    def __init__(self, path: Path, ids, id_column):
        self.file = str(path)
        self.names = []
        if ids is None:
            raise CatalogueError("a .npy embedding needs its ids to be reduced: pass ids= (a table with "
                                 "an id column; CLI: --ids TABLE), so that labels meet the same galaxies",
                                 file=self.file)
        try:
            self._matrix = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CatalogueError(f"cannot read as .npy: {err}", file=self.file) from None
        dtype = self._matrix.dtype
        if self._matrix.ndim != 2 or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
            raise CatalogueError(f"expected a 2-D matrix of real numbers (n_galaxies, n_features), got shape "
                                 f"{self._matrix.shape} of {dtype}", file=self.file)
        if isinstance(ids, (str, Path)):
            tf = _TableFile(ids, id_column)
            self.ids, self.other = _kept_columns(tf, tf.read(tf.schema.names))
            self.image_root = Path(ids).resolve().parent  # images listed beside the ids
            where, column = f"in {tf.file} ('{tf.id_column}')", tf.id_column
        else:
            self.ids = _ids_from_sequence(ids)
            _check_ids(self.ids, "id", self.file)
            self.other = pa.table({"id": self.ids})
            self.image_root = path.resolve().parent
            where, column = "given", None
        _check_id_count(self._matrix.shape[0], len(self.ids), where, self.file, column)
        self.metadata = {}
        self.dims = self._matrix.shape[1]
        self._rows = _rows_per_block(self.dims)

    def blocks(self):
        for start in range(0, self._matrix.shape[0], self._rows):
            X = np.asarray(self._matrix[start:start + self._rows], dtype=np.float32)
            yield start, len(X), iter([(0, self._checked(X, start, []))])


def _open_source(path: Path, ids, id_column, embedding_columns, embedding_prefix) -> _Source:
    _check_exists(path)
    kind = _file_kind(path)
    if kind == "npy":
        return _NpySource(path, ids, id_column)
    if ids is not None:
        raise CatalogueError("ids= is only for .npy embeddings; this table has its own id column "
                             "(use id_column= to choose it).", file=str(path))
    if kind == "hdf5":
        raise CatalogueError("Zoobot's prediction file holds vote fractions (a few dozen columns), "
                             "nothing to reduce: load it as it is.", file=str(path))
    return _TableSource(path, id_column, embedding_columns, embedding_prefix)


def _fit(source: _Source, n_components: int, fit_rows: int, seed: int) -> EmbeddingPCA:
    """A PCA basis of a seeded random sample of ``fit_rows`` rows (every row is read and checked)."""
    n = source.n_rows
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(fit_rows, n), replace=False))
    sample = None
    for offset, length, parts in source.blocks():
        lo, hi = np.searchsorted(rows, [offset, offset + length])
        for j, X in parts:
            if sample is None:  # a list column's width is known once its first block is read
                sample = np.empty((len(rows), source.dims), dtype=np.float32)
            sample[lo:hi, j:j + X.shape[1]] = X[rows[lo:hi] - offset]
    pca = fit_basis(sample, n_components, seed=seed)
    pca.columns = None if source.columns is None else tuple(source.columns)
    return pca


def fit_basis(sample: np.ndarray, n_components: int, *, seed: int = 0) -> EmbeddingPCA:
    """The PCA :func:`reduce_catalogue` fits: on ``sample`` ``(n_rows, n_features)`` in float32
    (half the memory of float64, the same axes to ~1e-6), exactly (scikit-learn's
    "covariance_eigh" where there are many more rows than features, else "full": the
    randomized solver it would pick blurs the trailing components)."""
    solver = "covariance_eigh" if len(sample) > 2 * sample.shape[1] else "full"
    return EmbeddingPCA.fit(sample, n_components, seed=seed, dtype=np.float32, solver=solver)


def _check_width(source: _Source, n_components: int, n_rows: int) -> None:
    d = source.dims
    if n_components >= d:
        raise CatalogueError(f"the embedding has {d} features: nothing to reduce to {n_components} "
                             "components (the catalogue loads as it is; ask for fewer components)",
                             file=source.file)
    if n_components >= n_rows:
        raise CatalogueError(
            f"the catalogue has {n_rows} galaxies: at most {n_rows - 1} components" if n_rows == source.n_rows
            else f"{n_rows} rows to fit {n_components} components on: give at least {n_components + 1} "
                 "(fit_rows / --fit-rows)", file=source.file)


def reduce_catalogue(path: str | Path, out: str | Path, n_components: int | None = None, *,
                     fit_rows: int = DEFAULT_FIT_ROWS, seed: int = 0, basis: str | Path | None = None,
                     ids: Any = None, id_column: str | None = None,
                     embedding_columns: Sequence[str] | None = None, embedding_prefix: str | None = None,
                     overwrite: bool = False) -> Reduction:
    """Write ``path``'s catalogue with its embedding reduced to ``n_components`` principal components.

    Parameters
    ----------
    path : str or Path
        The wide catalogue: Parquet, CSV or FITS table (embedding as prefix columns or one list
        column, found as :func:`~astroexplore.catalogue.load_catalogue` finds it), or ``.npy``
        ``(n_galaxies, n_features)`` with ``ids=``.
    out : str or Path
        The reduced catalogue (``.parquet``): ``id``, the other columns as they were, and
        ``embedding`` (fixed-size list of ``n_components`` float32). Its basis goes to
        :func:`basis_path_for` ``(out)``. Written atomically; never the input itself.
    n_components : int, optional
        Principal components kept (fewer than the embedding's features). Default 40, or all of
        ``basis``'s.
    fit_rows : int, default 100,000
        Rows the PCA is fitted on: a random sample (``seed``), or every row of a smaller catalogue.
    basis : str or Path, optional
        A ``.pca.npz`` written by an earlier reduction: applied as it is (no fit), so this
        catalogue's coordinates are that one's (``n_components`` at most its number).
    ids, id_column, embedding_columns, embedding_prefix
        As :func:`~astroexplore.catalogue.load_catalogue`.
    overwrite : bool, default False
        Replace an existing output catalogue and basis.

    Returns
    -------
    Reduction

    Raises
    ------
    CatalogueError
        Bad input (named file, column, row and id), an output that exists (without
        ``overwrite``), is the input, or is a label store; as many components as features.
    ValueError
        ``basis`` is not a basis file, or was fitted on another width.
    """
    t0 = time.perf_counter()
    path, out = Path(path), Path(out)
    n_components, fit_rows, seed = _whole("n_components", n_components), _whole("fit_rows", fit_rows), _whole("seed", seed)
    given = None if basis is None else EmbeddingPCA.load_npz(basis)
    if n_components is None:
        n_components = DEFAULT_COMPONENTS if given is None else given.n_components
    if n_components < 1 or fit_rows < 2:
        raise ValueError(f"n_components must be at least 1 and fit_rows at least 2, got {n_components} "
                         f"and {fit_rows}")
    basis_out = basis_path_for(out)
    keep_basis = basis is not None and Path(basis).resolve() == basis_out.resolve()  # its own basis again
    inputs = [path] + ([Path(ids)] if isinstance(ids, (str, Path)) else [])
    _check_targets(out, basis_out, inputs, overwrite, keep_basis)
    source = _open_source(path, ids, id_column, embedding_columns, embedding_prefix)
    if "embedding" in source.other.column_names:
        raise CatalogueError("has a column 'embedding' that is not the embedding; rename it first",
                             file=source.file, column="embedding")
    if source.dims is None:  # a list column's width: from its first block
        next(next(source.blocks())[2])
    if given is None:
        _check_width(source, n_components, min(fit_rows, source.n_rows))
        pca = _fit(source, n_components, fit_rows, seed)
    else:
        pca = given
        _check_basis(pca, source, basis, n_components)
    _release_arrow_memory()
    _write(source, pca, n_components, out, _output_metadata(source, pca, n_components, path, out, seed),
           None if keep_basis else basis_out)
    return Reduction(out, basis_out, source.n_rows, int(pca.dims), n_components,
                     pca.variance_kept(n_components), int(pca.n_fit), basis is None,
                     time.perf_counter() - t0, None if basis is None else Path(basis))


def _whole(name: str, value):
    """``value`` as an int, or None; a ValueError for 2.5 (not silently 2)."""
    if value is None:
        return None
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _check_targets(out: Path, basis_out: Path, inputs: list[Path], overwrite: bool, keep_basis: bool) -> None:
    """Refuse, before any work, an output that would destroy an input, a label store, an existing
    file (without ``overwrite``) or that cannot be written; create the output's folder."""
    for target in (out, basis_out):
        if any(target.resolve() == p.resolve() for p in inputs):
            raise CatalogueError("is an input of this reduction: write the reduced catalogue under another "
                                 "name (the inputs stay as they are)", file=str(target))
    _check_save_target(out, True, None)  # a Parquet name, not a folder or a label store
    if basis_out.is_dir():
        raise CatalogueError(f"is a folder, where the basis of {out.name} goes: choose another output name",
                             file=str(basis_out))
    for target in (out, basis_out):
        if target.exists() and not overwrite and not (keep_basis and target == basis_out):
            raise CatalogueError("exists; pass overwrite=True (--overwrite) to replace it, or choose "
                                 "another output name", file=str(target))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CatalogueError(f"cannot create its folder: {err.strerror or err}", file=str(out)) from None
    if not os.access(out.parent, os.W_OK):
        raise CatalogueError("its folder is not writable: choose another output name", file=str(out))


def _check_basis(pca: EmbeddingPCA, source: _Source, basis, n_components: int) -> None:
    """A given basis applies only to the same features, in the same order."""
    if pca.dims != source.dims:
        raise ValueError(f"{basis}: this basis was fitted on {pca.dims} features; {source.file} has "
                         f"{source.dims}")
    columns = source.columns
    if pca.columns is not None and columns is not None and tuple(columns) != pca.columns:
        i = next(i for i, (a, b) in enumerate(zip(pca.columns, columns)) if a != b)
        raise ValueError(f"{basis}: this basis was fitted on other columns: feature {i} is "
                         f"'{pca.columns[i]}' there and '{columns[i]}' in {source.file} (same names, "
                         "same order: --embedding-columns)")
    if n_components > pca.n_components:
        raise ValueError(f"{basis}: this basis has {pca.n_components} components; ask for at most "
                         f"that many (or fit a new basis)")


def _output_metadata(source: _Source, pca: EmbeddingPCA, k: int, path: Path, out: Path, seed: int) -> dict:
    """The reduced catalogue's metadata: where it came from (the input's own metadata nested, as
    it describes the wide embedding), and where relative image paths start."""
    kept = {key: source.metadata[key] for key in ("image_root", "image_template") if key in source.metadata}
    rest = {key: v for key, v in source.metadata.items() if key not in kept}
    metadata = {**kept, "reduced_from": {
        "file": str(path.resolve()), "n_features": int(pca.dims), "n_components": k,
        "variance_kept": round(pca.variance_kept(k), 6), "fit_rows": int(pca.n_fit), "seed": seed,
        "basis": basis_path_for(out).name, **({"metadata": rest} if rest else {})}}
    if out.resolve().parent != source.image_root.resolve():  # relative image paths stay valid
        metadata["image_root"] = str(source.image_root.resolve())
    return metadata


def _write(source: _Source, pca: EmbeddingPCA, k: int, out: Path, metadata: dict,
           basis_out: Path | None) -> None:
    """The other columns and the reduced embedding, block by block, to ``out``, and the basis's
    first ``k`` components to ``basis_out`` (None: keep the one there): both to temporary files,
    renamed only once both are written, the catalogue last (never one without its basis)."""
    schema = source.other.schema.append(pa.field("embedding", pa.list_(pa.float32(), k)))
    schema = schema.with_metadata({METADATA_KEY: json.dumps(metadata).encode()})
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp_basis = None if basis_out is None else basis_out.with_name(f".{basis_out.name}.{os.getpid()}.tmp.npz")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for offset, length, parts in source.blocks():
                Z = np.zeros((length, k))
                for j, X in parts:  # the projection summed over column groups, in row chunks
                    for i in range(0, length, _TRANSFORM_ROWS):
                        Z[i:i + _TRANSFORM_ROWS] += pca.partial_transform(X[i:i + _TRANSFORM_ROWS], j, k)
                block = source.other.slice(offset, length).append_column(
                    "embedding", pa.FixedSizeListArray.from_arrays(pa.array(Z.astype(np.float32).reshape(-1)), k))
                writer.write_table(block.replace_schema_metadata(schema.metadata),
                                   row_group_size=ROW_GROUP_SIZE)
        if basis_out is not None:
            EmbeddingPCA(pca.mean, pca.components[:k], pca.explained_variance[:k],
                         pca.explained_variance_ratio[:k], n_fit=pca.n_fit, columns=pca.columns).save_npz(tmp_basis)
            os.replace(tmp_basis, basis_out)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        if tmp_basis is not None:
            tmp_basis.unlink(missing_ok=True)
