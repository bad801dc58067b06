"""``astroexplore embed``: train (or load) an encoder on a folder of cutouts and write a catalogue.

Usage::

    astroexplore embed cutouts/ --out galaxies.parquet                 # contrastive + distilled features
    astroexplore embed table.csv --out galaxies.parquet --mode hybrid  # vote columns -> hybrid
    astroexplore embed cutouts/ --out more.parquet --encoder galaxies.encoder.pt   # reuse, no training

``IMAGES`` is a folder of jpg/png/FITS cutouts or a catalogue (.csv/.parquet) with an image column
(``image``, ``file``, ``file_loc``, ``path``, ...; relative paths are relative to the catalogue)
whose other columns are copied to the output; its ``*_fraction`` columns that hold any vote (or a
detected Galaxy Zoo schema) feed ``--mode hybrid``/``supervised`` (a column without a single
value is left out of training, with a warning). Every local image path is checked to exist
before any image is read (URLs are not); rows are named by their CSV file line (the header is
line 1) or, in a Parquet table, their 0-based row.

Ids: a catalogue's id column (``id``, ``objid``, ``iauname``, ...; read as text, so long SDSS
objids stay exact), else, as for a folder, each file's name without its image suffix
(``.jpg``, ``.jpeg``, ``.png``, ``.fits``, ``.fit``, ``.fts``, the FITS ones also with ``.gz`` or
``.fz``; any case): ``J000411.19+020924.0.jpg`` -> ``J000411.19+020924.0``. Ids must be unique
and filled in (checked before training). A folder is read without its subfolders and hidden files.

By default (``--distill features``) the encoder also learns to predict the Astronomaly-style
morphology features and pixel-PCA components of each cutout (computed from the pixels; no labels),
which on real SDSS images gave better kNN purity and merger recall than contrastive training alone
(benchmarks/results/real_data.md); ``--distill none`` trains without them.

The output catalogue holds ``embedding`` (the representation reduced by PCA to ``--pca``
dimensions, what the app and detectors use), ``embedding_full`` (the full representation, scaled to
unit length: :attr:`Encoder.unit_vectors`) and, for
encoders with a vote head, predicted ``*_pred`` fractions with their ``*_pred_std`` predictive spread
(Dirichlet and MC dropout: :meth:`Encoder.predict_posteriors`); where a galaxy has no vote at all,
the predicted fractions also fill its ``*_fraction`` columns (``fractions_predicted`` marks it; turn off
with ``--no-fill-fractions``), so that morphology filters reach every galaxy. Its ``image`` paths
are relative to its own folder (symlinks are not resolved; absolute only where no relative path
reaches the file), so a project folder holding the catalogue and its cutouts can be moved.

The PCA of ``embedding`` is fitted once per encoder, by the run that trains it, and stored in its
checkpoint (:mod:`astroexplore.encoder.pca`); ``--encoder`` runs project on it (its first ``--pca``
axes), so catalogues from one encoder share their coordinates. A checkpoint without one (trained
with ``--pca 0``, or whose PCA an earlier version fitted on raw representations rather than unit
vectors) gets one fitted on that run's images and saved in it (said so).

Before any image is read: option values, the device, that ``--out`` (and the checkpoint) can be
written (their folder is created if missing), and the input table. ``--skip-bad`` lists every
row or image it leaves out (the first 20 on screen, all in ``<out stem>.skipped.csv``; the
count in the catalogue's metadata ``skipped``). ``--epochs 0`` embeds with the existing
checkpoint as it is (refused when there is none).
Training checkpoints after every epoch to a file (default ``<out stem>.encoder.pt`` beside the
output; a folder is refused) and resumes from it unless ``--no-resume``, provided it was trained on
the same images and votes with the same settings (only ``--epochs`` may change); otherwise it stops
and says what differs.

Any number of cutouts: training reads at most ``--train-max`` of them (a random sample seeded by
``--seed``), and embedding reads every one a chunk at a time (:meth:`Encoder.embed_files`), so
memory does not grow with the number of cutouts.

This module imports torch only inside :func:`run` (the CLI builds its parser on every call).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from astroexplore.encoder import DEFAULT_WIDTH
from astroexplore.images import EMBED_IMAGE_COLUMNS as IMAGE_COLUMNS
from astroexplore.images import is_url
from astroexplore.wording import counted

if TYPE_CHECKING:
    import numpy as np

ID_COLUMNS = ("id", "id_str", "objid", "iauname", "dr8_id", "galaxy_id", "name")


#: Training options ``--encoder`` ignores, with their defaults (a note lists those given otherwise).
TRAINING_DEFAULTS = {"mode": "auto", "epochs": 10, "distill": "features", "width": DEFAULT_WIDTH,
                     "batch_size": 256, "checkpoint": None, "resume": True, "train_max": 50_000}
#: Bad rows and files listed one per line on the terminal (all of them go to ``<out stem>.skipped.csv``).
SHOW_SKIPPED = 20
#: Smallest ``--image-size``: the encoder's five stride-2 blocks need a few pixels to work on.
MIN_IMAGE_SIZE = 16
_DEVICE_HELP = "cuda, cuda:N (GPU number N) or cpu"


# ----------------------------------------------------------------------------- argument types
def _int_at_least(low: int, unit: str = ""):
    """argparse type: a whole number >= ``low`` (``unit`` is said in the message)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}{unit}, got {value}")
        return value
    parse.__name__ = f"int >= {low}"
    return parse


def _device_name(text: str) -> str:
    """argparse type: ``cuda``, ``cuda:N``, ``cpu`` or ``mps`` (whether the machine has it is
    checked in :func:`run`, so that ``--help`` does not import torch)."""
    name = text.strip().lower()
    if name in ("cpu", "cuda", "mps") or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    hint = " (torch calls the GPU 'cuda')" if name in ("gpu", "nvidia") or name.startswith("gpu:") else ""
    raise argparse.ArgumentTypeError(f"unknown device {text!r}{hint}: use {_DEVICE_HELP}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``embed`` arguments to ``parser`` (no heavy imports)."""
    parser.add_argument("images", help="folder of jpg/png/FITS cutouts (ids: file names without the "
                                       "image suffix), or a .csv/.parquet table with an image column")
    parser.add_argument("--out", required=True,
                        help="output catalogue (.parquet; its folder is created if missing, and checked "
                             "writable before any image is read). Its 'image' paths are relative to its "
                             "folder, so a project folder holding both can be moved")
    train = parser.add_argument_group(
        "training (ignored with --encoder, which embeds with a trained encoder as it is)")
    train.add_argument("--mode", choices=["auto", "contrastive", "supervised", "hybrid"], default="auto",
                       help="training objective (default auto: hybrid when vote columns exist, "
                            "else contrastive)")
    train.add_argument("--epochs", type=_int_at_least(0), default=10,
                       help="training epochs (default 10; on 6,664 SDSS cutouts 40 epochs, 8 min on "
                            "2 cores, gave clearly better embeddings: benchmarks/README.md). 0: train "
                            "nothing, embed with the existing checkpoint as it is (refused when there "
                            "is none)")
    train.add_argument("--distill", choices=["none", "morphology", "pixels", "features"],
                       default="features",
                       help="also train the embedding to predict features computed from the pixels: "
                            "Astronomaly-style morphology, pixel PCA, or both (default 'features'; "
                            "'none' for plain contrastive/vote training); no labels are used")
    train.add_argument("--width", type=_int_at_least(1), default=DEFAULT_WIDTH,
                       help=f"channels of the encoder's first conv block (default {DEFAULT_WIDTH}; "
                            "training time grows about linearly with it on CPU)")
    train.add_argument("--batch-size", type=_int_at_least(2), default=256,
                       help="images per training step (default 256; at least 2: each image's augmented "
                            "views are contrasted with the other images' in its batch)")
    train.add_argument("--checkpoint", default=None,
                       help="checkpoint file (default <out stem>.encoder.pt beside --out; not a folder)")
    train.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="continue from an existing checkpoint trained on the same data with the "
                            "same settings (default yes; --no-resume trains afresh over it)")
    train.add_argument("--train-max", type=int, default=50_000,
                       help="train on at most this many images, a random sample (--seed) of all of them; "
                            "every image is embedded, read 4,096 at a time, so memory does not grow "
                            "with the number of images (default 50,000)")
    parser.add_argument("--encoder", default=None,
                        help="embed with this trained encoder checkpoint instead of training (the "
                             "training options below are ignored; its image size and crop are used). "
                             "The 'embedding' column is projected on the PCA stored in it by the run "
                             "that trained it, so catalogues from one encoder share its axes; a "
                             "checkpoint without one gets one fitted on these images and saved in it")
    parser.add_argument("--pca", type=_int_at_least(0), default=40,
                        help="dimensions of the main 'embedding' column (PCA; default 40, at most the number "
                             "of images minus 1; 0 = no reduction). The PCA is fitted once per encoder "
                             "and stored in its checkpoint; later runs with that encoder reuse it (its first "
                             "--pca axes)")
    parser.add_argument("--image-size", type=_int_at_least(MIN_IMAGE_SIZE, " pixels"), default=64,
                        help="side in pixels of the square the encoder sees: images are centre-cropped to "
                             f"square and resized to it (default 64; at least {MIN_IMAGE_SIZE})")
    parser.add_argument("--crop", type=float, default=None,
                        help="keep the central fraction of each cutout before resizing "
                             "(default 1; 0.5 suits SDSS GZ1-style cutouts with small galaxies). With "
                             "--encoder, default the crop it was trained with; give one for another "
                             "survey's cutouts, where galaxies fill more or less of the frame")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=False,
                        help="average embeddings over the 8 rotations/flips by 90 degrees: exactly "
                             "invariant to them, 8x slower (default no: on GZ1 it changed nothing)")
    parser.add_argument("--fill-fractions", action=argparse.BooleanOptionalAction, default=True,
                        help="with a vote head: where a galaxy has no vote at all, write the predicted "
                             "fractions into its '*_fraction' columns (marked in 'fractions_predicted'), "
                             "so that morphology filters reach every galaxy (default yes)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out table rows without an image path or whose image file does not "
                             "exist, and unreadable images, instead of stopping; all are listed in "
                             "<out stem>.skipped.csv beside --out (the first 20 on screen)")
    parser.add_argument("--device", type=_device_name, default=None,
                        help=f"{_DEVICE_HELP} (default: cuda when torch sees a GPU, else cpu)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0,
                        help="random seed of the --train-max sample, the network's initial weights, the "
                             "batch order and augmentations, and the PCA (default 0; the same seed, data "
                             "and settings give the same encoder on CPU)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars (bars are only drawn on a terminal; one line per "
                             "training epoch is printed either way)")


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 1


# ----------------------------------------------------------------------------- where rows are
def _at(kind: str, labels) -> str:
    """Where rows are, in the input's terms: ``"line 3"`` / ``"lines 3, 5, 7, 9, 10, ... (12 in
    all)"`` (CSV file lines, the header is line 1), ``"rows 2, 4 (0-based)"`` (Parquet), or
    ``"files a.jpg, a.png"`` (a folder).

    >>> _at("line", [3]), _at("row", [2, 4]), _at("file", ["a.jpg", "a.png"])
    ('line 3', 'rows 2, 4 (0-based)', 'files a.jpg, a.png')
    """
    labels = list(labels)
    shown = ", ".join(map(str, labels[:5])) + (f", ... ({len(labels)} in all)" if len(labels) > 5 else "")
    text = f"{kind}{'s' if len(labels) > 1 else ''} {shown}"
    return text + " (0-based)" if kind == "row" else text


def _csv_line_numbers(source: Path, n_rows: int) -> list[int] | None:
    """The file line on which each of the ``n_rows`` data rows pandas reads from ``source`` starts
    (the header is line 1; quoted cells may span lines, blank lines are skipped as pandas does),
    or None when the file cannot be matched row for row."""
    import csv

    starts: list[int] = []
    try:
        with open(source, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            end = 0
            for record in reader:
                start, end = end + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # a blank line: pandas skips it
                starts.append(start)
    except (OSError, csv.Error):
        return None
    return starts[1:] if len(starts) == n_rows + 1 else None


# ----------------------------------------------------------------------------- reading the inputs
class Inputs:
    """What ``IMAGES`` resolves to (:func:`read_inputs`).

    Attributes
    ----------
    table : DataFrame
        ``id`` first, the image column (``image``), the input's other columns; one row per image.
    files : list of Path (or str, for URLs)
        The image each row of ``table`` is read from.
    kind : {"line", "row", "file"}
        How rows are named in messages: CSV file lines, 0-based Parquet rows, or file names.
    places : list
        Each row's line number, row number or file name in the input.
    skipped : list of dict
        Rows left out (``skip_bad``): ``where``, ``id``, ``image``, ``reason``.
    absolute : list of bool
        Whether each row's image was given as an absolute path (a table's cell; False for a
        folder's cutouts): the output keeps those absolute.
    """

    def __init__(self, table, files, kind: str, places, skipped=None, absolute=None):
        self.table, self.files, self.kind, self.places = table, list(files), kind, list(places)
        self.skipped = list(skipped or [])
        self.absolute = list(absolute) if absolute is not None else [False] * len(self.files)

    def keep(self, rows) -> None:
        """Keep only ``rows`` (positions), in that order."""
        self.table = self.table.iloc[list(rows)].reset_index(drop=True)
        self.files = [self.files[i] for i in rows]
        self.places = [self.places[i] for i in rows]
        self.absolute = [self.absolute[i] for i in rows]

    def skip(self, rows, reasons) -> None:
        """Record ``rows`` (positions) as left out with ``reasons``; :meth:`keep` drops them."""
        for i, reason in zip(rows, reasons):
            self.skipped.append({self.kind: self.places[i], "id": self.table["id"].iat[i],
                                 "image": str(self.files[i]), "reason": reason})


def _blank(values) -> np.ndarray:
    """bool mask of the cells of ``values`` (a Series) that are missing or blank strings."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    return (text == "").to_numpy()


def _check_ids(ids, source: Path, column: str, kind: str, places) -> None:
    """Raise CatalogueError on blank or duplicate ``ids`` (a Series aligned with ``places``),
    naming the first and where it is (:func:`_at`); the error's ``rows`` are 0-based positions."""
    import numpy as np

    from astroexplore.errors import CatalogueError

    where = np.asarray(places, dtype=object)

    def error(problem: str, mask: np.ndarray, shown: np.ndarray, rule: str) -> CatalogueError:
        return CatalogueError(f"{problem} at {_at(kind, where[shown])}; {rule}.", file=str(source),
                              column=column, rows=np.flatnonzero(mask).tolist())

    blank = _blank(ids)
    if blank.any():
        raise error(f"no id in '{column}'", blank, blank, "every galaxy needs one")
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup].iloc[0]
        raise error(f"id '{first}' in '{column}' is used more than once", dup, (ids == first).to_numpy(),
                    "ids must be unique")


def _folder_inputs(folder: Path) -> Inputs:
    """The images directly in ``folder``, one row each (id: the file name without its suffix)."""
    import pandas as pd

    from astroexplore.encoder.data import image_id, list_image_files
    from astroexplore.errors import CatalogueError

    files = list_image_files(folder)
    if not files:
        subs = sum(p.is_dir() for p in folder.iterdir())
        note = f" (subfolders are not searched; found {subs} subfolder{'s' * (subs != 1)})" if subs else ""
        raise CatalogueError(f"no jpg/png/FITS images in this folder{note}.", file=str(folder))
    _note_left_out(folder, len(files))
    names = [f.name for f in files]
    ids = pd.Series([image_id(f) for f in files], dtype=object)
    _check_ids(ids, folder, "id (the file name without its image suffix)", "file", names)
    table = pd.DataFrame({"id": ids.to_numpy(), "image": [str(f) for f in files]})
    return Inputs(table, files, "file", names)


def _note_left_out(folder: Path, n_images: int) -> None:
    """Say what in ``folder`` is not read besides its ``n_images`` cutouts: other files (a .tif)
    and subfolders (not searched); hidden files are not counted."""
    import os

    from astroexplore.encoder.data import image_suffix

    others, subs = [], 0
    with os.scandir(folder) as entries:  # each entry's kind from the listing: no stat of every cutout
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                subs += 1
            elif not image_suffix(entry.name):
                others.append(entry.name)
    parts = ([f"{counted(len(others), 'file')} that {'is' if len(others) == 1 else 'are'} not jpg/png/FITS "
              f"(e.g. {sorted(others)[0]})"] if others else []) + \
        ([f"{counted(subs, 'subfolder')} (not searched)"] if subs else [])
    if parts:
        print(f"note: {folder}: {n_images:,} images read; left out " + " and ".join(parts), file=sys.stderr)


def _read_table(source: Path):
    """Read a .csv (its id column as strings) or .parquet table."""
    import pandas as pd

    from astroexplore.catalogue import find_column
    from astroexplore.errors import CatalogueError

    suffix = source.suffix.lower()
    if suffix == ".csv":
        id_col = find_column(pd.read_csv(source, nrows=0).columns, ID_COLUMNS)
        return pd.read_csv(source, dtype=None if id_col is None else {id_col: str})
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(source)
    raise CatalogueError("expected a folder, a .csv or a .parquet table.", file=str(source))


def _table_image_root(source: Path) -> Path:
    """Folder a table's relative image paths are relative to: an astroexplore catalogue's stored
    ``image_root`` (as :attr:`Catalogue.image_root` reads it), else the table's folder."""
    import json

    if source.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        from astroexplore.catalogue import METADATA_KEY

        try:
            raw = (pq.read_schema(source).metadata or {}).get(METADATA_KEY)
            root = json.loads(raw).get("image_root") if raw else None
        except (OSError, ValueError, AttributeError):
            root = None
        if root:
            return Path(root)
    return source.parent


def _show_rows(inputs: Inputs, rows, limit: int = 5) -> str:
    """``"line 4 (id g2): imgs/gal_02.png; ..."`` for the first ``limit`` of ``rows`` (positions)."""
    parts = [f"{inputs.kind} {inputs.places[i]} (id {inputs.table['id'].iat[i]}): {inputs.files[i]}"
             for i in rows[:limit]]
    more = f"; ... ({len(rows)} in all)" if len(rows) > limit else ""
    return "; ".join(parts) + more


def _warn_skipped(source, what: str, lines: list[str]) -> None:
    """One warning: ``what`` and the first :data:`SHOW_SKIPPED` of ``lines``, one per line."""
    more = [f"  ... and {len(lines) - SHOW_SKIPPED} more"] if len(lines) > SHOW_SKIPPED else []
    print("\n".join([f"warning: {source}: {what} (--skip-bad):"] + [f"  {x}" for x in lines[:SHOW_SKIPPED]]
                    + more), file=sys.stderr)


def _table_inputs(source: Path, skip_bad: bool) -> Inputs:
    """The rows of a .csv/.parquet table with an image column (see :func:`read_inputs`)."""
    import os

    import numpy as np
    import pandas as pd

    from astroexplore.catalogue import find_column
    from astroexplore.encoder.data import image_id
    from astroexplore.errors import CatalogueError, did_you_mean

    table = _read_table(source).reset_index(drop=True)
    img_col = find_column(table.columns, IMAGE_COLUMNS)
    if img_col is None:
        hint = did_you_mean("image", list(table.columns))
        raise CatalogueError(f"no image column (one of {', '.join(IMAGE_COLUMNS)}); its columns: "
                             f"{', '.join(map(str, list(table.columns)[:20]))}"
                             f"{' ...' if len(table.columns) > 20 else ''}. Rename the one that holds the "
                             f"image paths.{hint}", file=str(source))
    lines = _csv_line_numbers(source, len(table)) if source.suffix.lower() == ".csv" else None
    kind, places = ("line", lines) if lines is not None else ("row", list(range(len(table))))

    root = _table_image_root(source)
    refs = table[img_col].astype(object).where(table[img_col].notna(), "").astype(str).str.strip()
    files = [ref if is_url(ref) else Path(ref).expanduser() for ref in refs]
    absolute = [not is_url(f) and f.is_absolute() for f in files]
    files = [f if is_url(f) or f.is_absolute() else root / f for f in files]
    id_col = find_column(table.columns, ID_COLUMNS)
    if id_col is None:
        print(f"note: {source}: no id column (one of {', '.join(ID_COLUMNS)}): the ids are the image file "
              "names without their suffix", file=sys.stderr)
        ids = pd.Series([image_id(f) for f in files], dtype=object)
    else:
        ids = table[id_col].astype(str).where(table[id_col].notna())
    out = table.drop(columns=[c for c in (id_col, "embedding") if c is not None and c in table.columns])
    out.insert(0, "id", ids.to_numpy())
    if img_col != "image" and "image" not in out.columns:
        out = out.rename(columns={img_col: "image"})
    inputs = Inputs(out, files, kind, places, absolute=absolute)

    # rows without an image path, then local files that do not exist (a stat each; URLs are not
    # fetched here), bad ids and values: all found now, before any image is read or trained on,
    # and reported together (one run names every kind of problem)
    problems: list[CatalogueError] = []
    blank = np.flatnonzero(_blank(table[img_col]))
    if len(blank):
        what = f"no image path in column '{img_col}' at {_at(kind, [places[i] for i in blank])}"
        if not skip_bad:
            problems.append(CatalogueError(f"{what}; fill in the paths, or pass --skip-bad to leave those "
                                           "rows out.", file=str(source), column=img_col, rows=blank.tolist()))
        else:
            inputs.skip(blank, ["no image path"] * len(blank))
            print(f"warning: {source}: {what}: left out (--skip-bad)", file=sys.stderr)
    blank_set = set(blank.tolist())
    missing = [i for i, f in enumerate(files)
               if i not in blank_set and not is_url(f) and not os.path.isfile(f)]
    if missing:
        if not skip_bad:
            problems.append(CatalogueError(
                f"image file not found for {len(missing)} row{'s' * (len(missing) > 1)} of column "
                f"'{img_col}' (relative paths are relative to {root.absolute()}): {_show_rows(inputs, missing)}. "
                "Fix the paths, or pass --skip-bad to leave those rows out.",
                file=str(source), column=img_col, rows=missing))
        else:
            inputs.skip(missing, ["image file not found"] * len(missing))
            _warn_skipped(source, f"left out {len(missing)} row(s) whose image file does not exist",
                          [_show_rows(inputs, [i], 1) for i in missing])
    drop = blank_set | set(missing) if skip_bad else set()
    if drop:
        inputs.keep([i for i in range(len(files)) if i not in drop])

    id_name = id_col or f"id (from the file names in '{img_col}')"
    for check, args in ((_check_ids, (inputs.table["id"], source, id_name, kind, inputs.places)),
                        (_check_values, (inputs, source))):
        try:
            check(*args)
        except CatalogueError as err:
            problems.append(err)
    if problems:
        raise _together(problems, source)
    _check_columns(inputs.table, source)
    return inputs


def _together(problems: list, source: Path):
    """One CatalogueError for ``problems`` (CatalogueErrors about ``source``): the only one, or
    one that lists each (its column the first's, its rows all of theirs)."""
    from astroexplore.errors import CatalogueError

    if len(problems) == 1:
        return problems[0]
    prefix = f"{source}: "
    texts = [str(p)[len(prefix):] if str(p).startswith(prefix) else str(p) for p in problems]
    rows = sorted({r for p in problems for r in (p.rows or [])})
    return CatalogueError(f"{len(problems)} kinds of problem in this input (nothing was read or trained):\n  - "
                          + "\n  - ".join(t.replace("\n", "\n    ") for t in texts),
                          file=str(source), column=problems[0].column, rows=rows)


#: Columns whose values must lie in [0, 1] (as the catalogue checks them).
_FRACTION_SUFFIXES = ("_fraction", "_debiased", "_fraction_lo", "_fraction_hi")


def _check_values(inputs: Inputs, source: Path) -> None:
    """Raise one CatalogueError listing every column with values the catalogue refuses (missing,
    non-numeric or out-of-range ra/dec, vote fractions outside [0, 1] or not numbers), each with
    where its bad rows are."""
    import numpy as np
    import pandas as pd

    from astroexplore.catalogue import FRACTION_TOLERANCE
    from astroexplore.errors import CatalogueError

    table, tol = inputs.table, FRACTION_TOLERANCE
    lowered = {str(c).lower(): c for c in table.columns}
    checks = []  # (column, required, what is out of range, in-range test)
    if "ra" in lowered:
        checks.append((lowered["ra"], True, "an ra outside [0, 360) degrees (negative RAs: take ra % 360; "
                                            "RA in hours: multiply by 15)", lambda v: (v >= 0) & (v < 360)))
    if "dec" in lowered:
        checks.append((lowered["dec"], True, "a dec outside [-90, 90] degrees", lambda v: (v >= -90) & (v <= 90)))
    checks += [(c, False, "a vote fraction outside [0, 1]", lambda v: (v >= -tol) & (v <= 1 + tol))
               for c in table.columns if str(c).endswith(_FRACTION_SUFFIXES)]
    problems, rows, first_col = [], set(), None

    def report(col, what: str, mask: np.ndarray) -> None:
        nonlocal first_col
        bad = np.flatnonzero(mask)
        if len(bad):
            first_col = first_col or col
            rows.update(bad.tolist())
            value = table[col].iat[bad[0]]
            value = value.item() if isinstance(value, np.generic) else value
            problems.append(f"'{col}': {what} at {_at(inputs.kind, [inputs.places[i] for i in bad])} "
                            f"(first value {value!r})")

    for col, required, what, in_range in checks:
        missing = _blank(table[col])
        numbers = pd.to_numeric(table[col].where(~missing), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        report(col, "a value that is not a number", ~missing & np.isnan(numbers))
        if required:
            report(col, f"a missing (NaN or empty) {str(col).lower()}", missing)
        with np.errstate(invalid="ignore"):
            report(col, what, ~np.isnan(numbers) & ~in_range(numbers))
    if problems:
        raise CatalogueError(f"{len(problems)} problem{'s' * (len(problems) > 1)} with values the catalogue "
                             "refuses (nothing was trained):\n  " + "\n  ".join(problems),
                             file=str(source), column=first_col, rows=sorted(rows))


def _check_columns(table, source: Path) -> None:
    """Raise now the CatalogueError that saving ``table`` would (what :func:`_check_values` does not
    cover, e.g. a non-numeric ra)."""
    import numpy as np

    from astroexplore.catalogue import Catalogue
    from astroexplore.errors import CatalogueError

    try:
        Catalogue.from_arrays(np.zeros((len(table), 1), np.float32), ids=table["id"].tolist(), table=table,
                              schema=None)
    except CatalogueError as err:
        raise CatalogueError(f"{err} (row numbers 0-based)", file=str(source), column=err.column,
                             rows=err.rows) from None


def read_inputs(source: str | Path, *, skip_bad: bool = False) -> Inputs:
    """Resolve ``IMAGES`` to an :class:`Inputs` (table with ``id``, ``image`` and any other columns,
    the image files, where each row is, the rows left out).

    A folder gives one row per image file directly in it (:func:`~astroexplore.encoder.data.list_image_files`),
    its id the file name without the image suffix (:func:`~astroexplore.encoder.data.image_id`).
    A table keeps its rows; ids come from its id column (read as strings), else from the file names;
    relative image paths are relative to the table's folder (an astroexplore catalogue's: its
    ``image_root``). Rows without an image path, or whose local image file does not exist, are an
    error, or left out with ``skip_bad`` (recorded in ``skipped``).

    Raises
    ------
    CatalogueError
        No images / no image column / blank image paths / missing image files / blank or duplicate
        ids / values the output catalogue refuses (ra, dec, vote fractions outside [0, 1]; every
        such column), named with the file, column and rows (CSV: file lines); checked before any
        image is read.
    """
    from astroexplore.errors import CatalogueError

    source = Path(source)
    if source.is_dir():
        return _folder_inputs(source)
    if not source.is_file():
        raise CatalogueError("not found: pass a folder of images or a .csv/.parquet table.", file=str(source))
    return _table_inputs(source, skip_bad)


# ----------------------------------------------------------------------------- output paths
def stored_path(path, folder: str | Path, cache: dict | None = None) -> str:
    """How the output catalogue in ``folder`` records ``path``: relative to ``folder`` (without
    resolving symlinks, so it names what the user named), or absolute where no relative path
    reaches the same file (another drive; a symlinked folder that ``..`` would leave by another
    way). URLs are kept as they are. ``cache`` (a dict) saves the folder comparisons between calls.

    >>> stored_path("/data/proj/imgs/a.png", "/data/proj/out")
    '../imgs/a.png'
    >>> stored_path("https://x.org/a.jpg", "/data/proj")
    'https://x.org/a.jpg'
    """
    import os

    if is_url(path):
        return path
    absolute = os.path.abspath(path)
    folder = os.path.abspath(folder)
    try:
        rel = os.path.relpath(absolute, folder)
    except ValueError:  # another drive (Windows)
        return absolute
    if rel.split(os.sep, 1)[0] == os.pardir and not _same_place(
            os.path.dirname(rel), folder, os.path.dirname(absolute), {} if cache is None else cache):
        return absolute
    return Path(rel).as_posix()


def _same_place(rel_dir: str, folder: str, abs_dir: str, cache: dict) -> bool:
    """Whether ``folder/rel_dir`` is the folder ``abs_dir`` (``..`` out of a symlinked folder goes
    to the link target's parent); a stat or two per pair of folders (``cache``)."""
    import os

    key = (rel_dir, folder, abs_dir)
    if key not in cache:
        try:
            cache[key] = os.path.samefile(os.path.join(folder, rel_dir), abs_dir)
        except OSError:
            cache[key] = not os.path.exists(abs_dir)  # nothing to compare: keep the relative path
    return cache[key]


def check_writable(path: Path, what: str = "--out") -> None:
    """Make sure a file can be written at ``path``: not a folder, its folder created if missing
    and writable (probed with a temporary file there). Raises ValueError naming ``path``."""
    import os
    import tempfile

    from astroexplore.catalogue import marked_writable

    if path.is_dir():
        raise ValueError(f"{path}: {what} is a folder; name a file in it, e.g. {path / 'galaxies.parquet'}")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{path}: cannot write {what} here: its folder {folder} cannot be created "
                         f"({err.strerror or err})") from None
    if not marked_writable(folder):
        raise ValueError(f"{path}: cannot write {what} here: the folder {folder} is read-only")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{path}: cannot write {what} here: {folder} is not writable "
                         f"({err.strerror or err})") from None


def skipped_path(out: Path) -> Path:
    """``<out stem>.skipped.csv`` beside ``out``."""
    return out.with_name(out.stem + ".skipped.csv")


# ----------------------------------------------------------------------------- votes
def _finite_votes(table, columns) -> np.ndarray:
    """``(n, len(columns))`` bool: where each vote column holds a finite number."""
    import numpy as np
    import pandas as pd

    if not columns:
        return np.zeros((len(table), 0), dtype=bool)
    values = table[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.isfinite(values)


def usable_vote_columns(table) -> tuple[list[str], list[str]]:
    """The ``*_fraction`` columns of ``table`` that hold a vote (a finite value), and those that do not."""
    cols = [c for c in table.columns if str(c).endswith("_fraction")]
    has = _finite_votes(table, cols).any(axis=0)
    return [c for c, h in zip(cols, has) if h], [c for c, h in zip(cols, has) if not h]


def prediction_fit(table, vote_columns) -> tuple[float, float] | None:
    """(mean absolute error of the predicted fractions ``{column}_pred``, that of each column's
    mean vote) over the finite votes of the ``*_fraction`` columns among ``vote_columns``; None
    where there is no vote. The predictions were fitted to these votes, so they should do much
    better than the mean: an encoder that does not has not learnt them (too few steps).

    >>> import pandas as pd
    >>> t = pd.DataFrame({"a_yes_fraction": [0.2, 0.8, float("nan")],
    ...                   "a_yes_fraction_pred": [0.3, 0.7, 0.5]})
    >>> prediction_fit(t, ["a_yes_fraction"])
    (0.1, 0.3)
    """
    import numpy as np

    errors, baseline = [], []
    for col in (c for c in vote_columns if str(c).endswith("_fraction") and c in table.columns):
        votes = table[col].to_numpy(dtype=float)
        ok = np.isfinite(votes)
        if ok.any():
            errors.append(np.abs(table[f"{col}_pred"].to_numpy(dtype=float)[ok] - votes[ok]))
            baseline.append(np.abs(votes[ok].mean() - votes[ok]))
    if not errors:
        return None
    return round(float(np.concatenate(errors).mean()), 4), round(float(np.concatenate(baseline).mean()), 4)


def fill_missing_fractions(table, vote_columns) -> np.ndarray:
    """Give galaxies without any vote the encoder's predicted fractions (``{column}_pred``).

    A galaxy without votes has no finite value in any ``*_fraction`` column of ``table``. Its
    Galaxy Zoo fraction columns among ``vote_columns`` (``*_fraction``; added when the input had
    none) take the predictions; the complements the encoder adds to one-answer questions
    (``*_fraction_rest``) are not written. A galaxy with votes keeps them as they are, NaN (a
    question not asked) included. Adds the bool column ``fractions_predicted`` (True where the
    predictions were written) and returns it.

    >>> import pandas as pd
    >>> nan = float("nan")
    >>> t = pd.DataFrame({"a_yes_fraction": [0.2, nan], "b_no_fraction": [nan, nan],
    ...                   "a_yes_fraction_pred": [0.5, 0.6], "b_no_fraction_pred": [0.7, 0.8]})
    >>> fill_missing_fractions(t, ["a_yes_fraction", "b_no_fraction"]).tolist()
    [False, True]
    >>> t["a_yes_fraction"].tolist(), t["b_no_fraction"].tolist()
    ([0.2, 0.6], [nan, 0.8])
    """
    import numpy as np

    unvoted = ~_finite_votes(table, [c for c in table.columns if str(c).endswith("_fraction")]).any(axis=1)
    targets = [c for c in vote_columns if str(c).endswith("_fraction")]
    for col in targets:
        votes = table[col].to_numpy(dtype=float) if col in table.columns else np.full(len(table), np.nan)
        table[col] = np.where(unvoted, table[f"{col}_pred"].to_numpy(dtype=float), votes)
    filled = unvoted if targets else np.zeros(len(table), dtype=bool)
    table["fractions_predicted"] = filled
    return filled


# ----------------------------------------------------------------------------- training
def _train(args: argparse.Namespace, inputs: Inputs, mode: str, vote_cols: list, ckpt: Path):
    """Train an encoder on every readable image, or on a seeded random ``--train-max`` of them.

    Raises ImageError (a bad file, without ``--skip-bad``) or ValueError.
    """
    import numpy as np

    from astroexplore.encoder.data import load_images
    from astroexplore.encoder.embed import load_size
    from astroexplore.encoder.train import train_encoder

    files, table = inputs.files, inputs.table
    n = len(files)
    rows = np.arange(n)
    if n > args.train_max:
        rows = np.sort(np.random.default_rng(args.seed).choice(n, args.train_max, replace=False))
    # read at the size whose central crop is image_size; the encoder crops (and remembers it)
    images, good, _ = load_images([files[i] for i in rows], load_size(args.image_size, args.crop),
                                  skip_bad=args.skip_bad, progress=args.progress, warn_small=True)
    if len(images) < 2:
        raise ValueError(f"{args.images}: need at least 2 readable images to train, found {len(images)}")
    rows = rows[good]
    targets = None if args.distill == "none" else args.distill
    what = f"{len(images):,} images" + (f" (a random sample of the {n:,}; --train-max)" if n > args.train_max else "")
    if args.epochs and _epochs_done(ckpt, args.resume) < args.epochs:  # (a finished one: "reusing it")
        print(f"training a {mode} encoder{f' (distilling {targets})' if targets else ''} on {what} "
              f"for {counted(args.epochs, 'epoch')} (checkpoint {ckpt})", file=sys.stderr)
        _note_few_steps(len(images), args.batch_size, args.epochs)
    else:
        print(f"--epochs 0: using {ckpt} as trained, after checking it was trained on these {what} "
              "with these settings", file=sys.stderr)
    votes = table[vote_cols].iloc[rows].reset_index(drop=True) if mode != "contrastive" else None

    def log(record: dict) -> None:  # one line per epoch, with or without bars, on a terminal or not
        print(f"epoch {record['epoch']}/{args.epochs}: loss {record['loss']:.4f} ({record['seconds']:.1f} s)",
              file=sys.stderr, flush=True)

    return train_encoder(images, mode=mode, votes=votes, targets=targets,
                         epochs=args.epochs, batch_size=args.batch_size, width=args.width,
                         image_size=args.image_size, crop=args.crop, device=args.device,
                         checkpoint=ckpt, resume=args.resume, progress=args.progress, log_epochs=False,
                         seed=args.seed, on_epoch_end=log,
                         on_resume=lambda done: _say_resumed(done, args.epochs, ckpt))


#: Fewer optimisation steps than this in all get a note: an encoder trained so little has learnt
#: little (the benchmark's encoders train 800-1,000 steps).
FEW_STEPS = 100


def _note_few_steps(n_images: int, batch_size: int, epochs: int) -> None:
    """Say so when the images, batch size and epochs make fewer than :data:`FEW_STEPS` steps."""
    from astroexplore.encoder.train import steps_per_epoch

    per_epoch = steps_per_epoch(n_images, batch_size)
    if per_epoch * epochs >= FEW_STEPS:
        return
    smaller = max(8, 1 << max(3, (n_images // 10).bit_length() - 1))  # ~10 steps an epoch
    hint = (f"a smaller --batch-size (e.g. {smaller}: {steps_per_epoch(n_images, smaller)} steps an epoch) or "
            if smaller < batch_size else "")
    print(f"note: {n_images:,} images at --batch-size {batch_size} make {counted(per_epoch, 'training step')} "
          f"an epoch, {per_epoch * epochs:,} in all: too few for the encoder to learn much (it needs a few "
          f"hundred); {hint}more --epochs give it more", file=sys.stderr)


def _epochs_done(ckpt: Path, resume: bool) -> int:
    """Epochs the checkpoint a run would resume holds (0: none, or unreadable: training says why)."""
    if not resume or not ckpt.is_file():
        return 0
    from astroexplore.encoder.embed import read_checkpoint

    try:
        return int(read_checkpoint(ckpt).get("epoch", 0))
    except (OSError, ValueError, RuntimeError):
        return 0


def _say_resumed(done: int, epochs: int, ckpt: Path) -> None:
    """Tell the user that ``ckpt`` (``done`` epochs trained) is resumed or reused."""
    if done < epochs:
        print(f"resuming at epoch {done + 1} of {epochs} from {ckpt}", file=sys.stderr)
    else:
        print(f"{ckpt} already trained {done} epoch{'s' * (done != 1)}: reusing it", file=sys.stderr)


def _choose_mode(args: argparse.Namespace, table) -> tuple[str, list[str]]:
    """(training mode, vote columns) for ``--mode``; ValueError when the mode needs votes there are not."""
    votes, empty = usable_vote_columns(table)
    if empty:
        print(f"warning: left out vote column(s) without any value: {', '.join(map(str, empty))}",
              file=sys.stderr)
    mode = args.mode
    if mode == "auto":
        mode = "hybrid" if votes else "contrastive"
    if mode != "contrastive" and not votes and args.encoder is None:
        found = f"only empty ones ({', '.join(map(str, empty))})" if empty else "none"
        raise ValueError(f"{args.images}: --mode {mode} needs vote-fraction columns ('*_fraction') with "
                         f"votes; found {found} (use --mode contrastive)")
    return mode, votes


def _ignored_training_options(args: argparse.Namespace) -> list[str]:
    """The training options given other than their defaults (``--encoder`` ignores them)."""
    return [f"--{k.replace('_', '-')}" for k, v in TRAINING_DEFAULTS.items()
            if getattr(args, k, v) != v]


def _set_crop(encoder, crop: float | None) -> None:
    """Embed with ``crop`` (the central fraction of each cutout) where given, else with the crop
    the encoder was trained with; says which, and the catalogue's metadata records both."""
    trained = encoder.crop
    encoder.metadata["trained_crop"] = trained
    if crop is None or crop == trained:
        print(f"embedding {_crop_text(trained)}, as the encoder was trained (--crop to change it)", file=sys.stderr)
        return
    encoder.crop = crop
    encoder.metadata["crop"] = crop
    print(f"embedding {_crop_text(crop)} (the encoder was trained on {_crop_text(trained)})", file=sys.stderr)


def _crop_text(crop: float) -> str:
    return "the whole of each cutout" if crop == 1 else f"the central {crop:g} of each cutout"


# ----------------------------------------------------------------------------- the PCA
def _reduce(args: argparse.Namespace, encoder, full: np.ndarray, pca_path: Path, out_dir: Path):
    """(``embedding`` column, metadata) for the representations ``full``: projected on the PCA
    stored in the checkpoint ``pca_path`` when it has one for these weights, else on one fitted to
    ``full`` and stored there (a warning when it cannot be)."""
    from astroexplore.encoder.pca import EmbeddingPCA, read_pca, save_pca

    if not args.pca or args.pca >= full.shape[1]:
        if args.pca:
            print(f"note: --pca {args.pca} is not below the representation's {full.shape[1]} dimensions: "
                  "'embedding' is the whole representation, not reduced", file=sys.stderr)
        return full, {}
    pca = encoder.pca if args.encoder else (read_pca(pca_path) if pca_path.is_file() else None)
    if pca is not None and pca.dims != full.shape[1]:
        pca = None
    where = stored_path(pca_path, out_dir)
    if pca is not None:
        k = min(args.pca, pca.n_components)
        if args.pca > pca.n_components:
            print(f"note: the PCA stored in {pca_path} has {pca.n_components} axes: 'embedding' has "
                  f"{k} dimensions, not --pca {args.pca} (the encoder's axes are kept, so catalogues "
                  "from this encoder stay comparable)", file=sys.stderr)
        elif args.encoder:
            print(f"'embedding': the first {k} axes of the PCA stored in {pca_path} "
                  f"(fitted on {pca.n_fit:,} images when it was trained)", file=sys.stderr)
        reused = True
    else:
        epoch = encoder.metadata.get("epochs_trained")
        pca = EmbeddingPCA.fit(full, args.pca, seed=args.seed, epoch=epoch, unit_vectors=encoder.unit_vectors)
        k = pca.n_components
        reused = False
        try:
            save_pca(pca_path, pca)
        except (OSError, ValueError) as err:
            print(f"warning: could not store the PCA in {pca_path} ({err}); catalogues embedded later "
                  "with this encoder will have their 'embedding' in another basis", file=sys.stderr)
            where = None
        else:
            if args.encoder:
                print(f"note: {pca_path} held no PCA for the 'embedding' column (trained with --pca 0, or "
                      "embedded by a version before embeddings were unit vectors): fitted one "
                      f"({k} axes) on these {len(full):,} images and stored it there; later runs with "
                      "this encoder reuse it", file=sys.stderr)
    emb = pca.transform(full, k)
    info = {"n_components": int(k), "reduction": "pca", "pca_explained_variance": round(pca.variance_kept(k), 4),
            "pca_fitted_on": int(pca.n_fit), "pca_reused": reused, "pca_checkpoint": where}
    return emb, info


# ----------------------------------------------------------------------------- the command
def _report_skipped(inputs: Inputs, out: Path, source) -> Path | None:
    """Write every left-out row to ``<out stem>.skipped.csv`` (removing a stale one when there are
    none) and say how many were left out; returns the list's path, or None."""
    import pandas as pd

    path = skipped_path(out)
    if not inputs.skipped:
        path.unlink(missing_ok=True)
        return None
    pd.DataFrame(inputs.skipped).to_csv(path, index=False)
    print(f"warning: {source}: left out {len(inputs.skipped):,} row(s)/image(s) in all (--skip-bad); "
          f"every one is listed in {path}", file=sys.stderr)
    return path


def run(args: argparse.Namespace) -> int:
    """Run ``astroexplore embed``; returns the exit status."""
    import dataclasses

    from astroexplore.catalogue import Catalogue, save_catalogue
    from astroexplore.encoder.data import ImageError
    from astroexplore.errors import CatalogueError

    out = Path(args.out)
    if out.suffix.lower() != ".parquet":
        return _err(f"{out}: --out must end in .parquet")
    crop_given, args.crop = args.crop, 1.0 if args.crop is None else args.crop
    if not 0 < args.crop <= 1:
        return _err(f"--crop must be a fraction in (0, 1], got {args.crop}")
    if args.train_max < 2:
        return _err(f"--train-max must be at least 2, got {args.train_max}")

    from astroexplore.encoder.embed import load_encoder
    from astroexplore.encoder.train import check_checkpoint_path
    from astroexplore.torch_utils import check_device

    # everything that can be checked without reading an image: options, the output, the inputs
    encoder = ckpt = None
    try:
        check_device(args.device, "--device ")
        check_writable(out, "--out")
        if args.encoder:
            ignored = _ignored_training_options(args)
            if ignored:
                print(f"note: --encoder given: training options ignored ({', '.join(ignored)})", file=sys.stderr)
            encoder = load_encoder(args.encoder, device=args.device)
        else:
            ckpt = check_checkpoint_path(args.checkpoint or out.with_name(out.stem + ".encoder.pt"))
            check_writable(ckpt, "the checkpoint")
            if args.epochs == 0 and not (args.resume and ckpt.is_file()):
                why = "--no-resume" if ckpt.is_file() else f"there is no checkpoint {ckpt}"
                return _err(f"--epochs 0 trains nothing, and {why}: train at least one epoch, or embed "
                            "with a trained encoder (--encoder CHECKPOINT)")
        inputs = read_inputs(args.images, skip_bad=args.skip_bad)
        mode, vote_cols = _choose_mode(args, inputs.table)
    except (ValueError, FileNotFoundError) as err:  # CatalogueError included
        return _err(str(err))
    try:
        if encoder is not None:
            _set_crop(encoder, crop_given)
            if encoder.image_size != args.image_size:
                print(f"using the encoder's image size, {encoder.image_size} pixels", file=sys.stderr)
        else:
            try:
                encoder = _train(args, inputs, mode, vote_cols, ckpt)
            except KeyboardInterrupt:
                saved = (f"the epochs finished so far are saved in {ckpt}: run the same command again to "
                         "resume" if ckpt.is_file() else "no epoch had finished, so nothing was saved")
                print(f"interrupted: {saved}", file=sys.stderr)
                return 130
    except ImageError as err:
        return _err(f"{err}\n(pass --skip-bad to leave unreadable images out)")
    except (ValueError, FileNotFoundError) as err:
        return _err(str(err))

    try:
        result = encoder.embed_files(inputs.files, skip_bad=args.skip_bad, tta=args.tta,
                                     posteriors=encoder.vote_head is not None, progress=args.progress)
    except ImageError as err:
        reuse = "" if args.encoder else f"; the trained encoder is saved in {ckpt} and a rerun reuses it"
        return _err(f"{err}\n(pass --skip-bad to leave unreadable images out{reuse})")
    if result.errors:
        bad = sorted(set(range(len(inputs.files))) - set(result.good.tolist()))
        inputs.skip(bad, result.errors)
        _warn_skipped(args.images, f"left out {len(result.errors)} unreadable image(s)",
                      [f"{inputs.kind} {inputs.places[i]} (id {inputs.table['id'].iat[i]}): {msg}"
                       for i, msg in zip(bad, result.errors)])
    if len(result.good) < 2:
        return _err(f"{args.images}: need at least 2 readable images, found {len(result.good)}")
    inputs.keep(result.good.tolist())
    table = inputs.table
    out_dir = out.absolute().parent
    cache: dict = {}
    # a table's absolute paths stay absolute (cutouts in a shared data area: the catalogue can be
    # moved alone); its relative ones and a folder's cutouts are written relative to the catalogue
    table["image"] = [str(f) if absolute else stored_path(f, out_dir, cache)
                      for f, absolute in zip(inputs.files, inputs.absolute)]
    full = result.embeddings
    info = {k: v for k, v in encoder.metadata.items() if k != "history"}
    info.update({"tta": bool(args.tta), "full_column": "embedding_full", "full_dims": int(full.shape[1]),
                 "n_components": int(full.shape[1])})
    if info.get("checkpoint"):
        info["checkpoint"] = stored_path(info["checkpoint"], out_dir)  # relative to the catalogue
    emb, pca_info = _reduce(args, encoder, full, Path(args.encoder) if args.encoder else ckpt, out_dir)
    info.update(pca_info)
    meta = {"encoder": info}
    if args.skip_bad:
        meta["skipped"] = {"count": len(inputs.skipped)}
        if inputs.skipped:
            meta["skipped"]["list"] = skipped_path(out).name
    if result.posterior_mean is not None:
        for j, col in enumerate(encoder.vote_columns):
            table[f"{col}_pred"] = result.posterior_mean[:, j]
            table[f"{col}_pred_std"] = result.posterior_std[:, j]
        fit = prediction_fit(table, encoder.vote_columns)
        if fit is not None:
            info["fractions_fit"] = {"mae_predicted": fit[0], "mae_mean_vote": fit[1]}
        if args.fill_fractions and fit is not None and fit[0] >= fit[1]:
            table["fractions_predicted"] = False
            info["fractions_filled"] = 0
            print(f"warning: the predicted fractions fit the votes worse than each answer's mean vote does "
                  f"(mean absolute error {fit[0]:.3f} against {fit[1]:.3f}, on the galaxies with votes): they "
                  "are not written into the vote columns of galaxies without votes (the '*_pred' columns "
                  "keep them). Train longer (--epochs) or with a smaller --batch-size", file=sys.stderr)
        elif args.fill_fractions:
            filled = fill_missing_fractions(table, encoder.vote_columns)
            info["fractions_filled"] = int(filled.sum())
            if filled.any():
                print(f"{int(filled.sum()):,} galaxies had no votes: predicted fractions fill their vote "
                      "columns (column 'fractions_predicted'; --no-fill-fractions keeps only the votes). "
                      + ("" if fit is None else f"On the galaxies with votes they are off by {fit[0]:.3f} on "
                         f"average, against {fit[1]:.3f} for each answer's mean vote."), file=sys.stderr)
    table["embedding_full"] = list(full)
    try:
        cat = Catalogue.from_arrays(emb, ids=table["id"].tolist(), table=table, schema=None, metadata=meta)
        # the catalogue's own path: its relative image paths resolve against its folder, so no
        # absolute image_root is stored (moving the folder with its images keeps them valid)
        save_catalogue(dataclasses.replace(cat, path=out), out, overwrite=True)  # a re-run replaces it
    except CatalogueError as err:
        return _err(f"{err}\n(the catalogue was not written)")
    except OSError as err:
        return _err(f"{out}: the catalogue could not be written ({err})")
    _report_skipped(inputs, out, args.images)
    print(f"wrote {out}: {len(emb)} galaxies, embedding {emb.shape[1]}-d "
          f"(full {full.shape[1]}-d in 'embedding_full')")
    return 0
