"""``astroexplore embed``: train (or load) an encoder on a folder of cutouts and write a catalogue.

Usage::

    astroexplore embed cutouts/ --out galaxies.parquet                 # contrastive + distilled features
    astroexplore embed table.csv --out galaxies.parquet --mode hybrid  # vote columns -> hybrid
    astroexplore embed cutouts/ --out more.parquet --encoder galaxies.encoder.pt   # reuse, no training

``IMAGES`` is a folder of jpg/png/FITS cutouts or a catalogue (.csv/.parquet) with an image column
(``image``, ``file``, ``file_loc``, ``path``, ...; relative paths are relative to the catalogue)
whose other columns are copied to the output; its ``*_fraction`` columns that hold any vote (or a
detected Galaxy Zoo schema) feed ``--mode hybrid``/``supervised`` (a column without a single
value is left out of training, with a warning).

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
dimensions, what the app and detectors use), ``embedding_full`` (the full representation) and, for
encoders with a vote head, predicted ``*_pred`` fractions with their ``*_pred_std`` predictive spread
(Dirichlet and MC dropout: :meth:`Encoder.predict_posteriors`); where a galaxy has no vote at all,
the predicted fractions also fill its ``*_fraction`` columns (``fractions_predicted`` marks it; turn off
with ``--no-fill-fractions``), so that morphology filters reach every galaxy.
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

if TYPE_CHECKING:
    import numpy as np

IMAGE_COLUMNS = ("image", "file", "file_loc", "filename", "path", "image_path", "jpg", "png_loc")
ID_COLUMNS = ("id", "id_str", "objid", "iauname", "dr8_id", "galaxy_id", "name")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``embed`` arguments to ``parser`` (no heavy imports)."""
    parser.add_argument("images", help="folder of jpg/png/FITS cutouts (ids: file names without the "
                                       "image suffix), or a .csv/.parquet table with an image column")
    parser.add_argument("--out", required=True, help="output catalogue (.parquet)")
    parser.add_argument("--mode", choices=["auto", "contrastive", "supervised", "hybrid"], default="auto",
                        help="training objective (default auto: hybrid when vote columns exist, "
                             "else contrastive)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="training epochs (default 10; on 6,664 SDSS cutouts 40 epochs, 8 min on "
                             "2 cores, gave clearly better embeddings: benchmarks/README.md)")
    parser.add_argument("--distill", choices=["none", "morphology", "pixels", "features"],
                        default="features",
                        help="also train the embedding to predict features computed from the pixels: "
                             "Astronomaly-style morphology, pixel PCA, or both (default 'features'; "
                             "'none' for plain contrastive/vote training); no labels are used")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH,
                        help=f"channels of the encoder's first conv block (default {DEFAULT_WIDTH}; "
                             "training time grows about linearly with it on CPU)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file (default <out stem>.encoder.pt beside --out; not a folder)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from an existing checkpoint trained on the same data with the "
                             "same settings (default yes; --no-resume trains afresh over it)")
    parser.add_argument("--encoder", default=None,
                        help="use this trained encoder checkpoint instead of training")
    parser.add_argument("--pca", type=int, default=40,
                        help="dimensions of the main 'embedding' column (PCA; default 40, at most the number "
                             "of images minus 1; 0 = no reduction)")
    parser.add_argument("--image-size", type=int, default=64,
                        help="images are centre-cropped to square and resized to this (default 64)")
    parser.add_argument("--crop", type=float, default=1.0,
                        help="keep the central fraction of each cutout before resizing "
                             "(default 1; 0.5 suits SDSS GZ1-style cutouts with small galaxies)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=False,
                        help="average embeddings over the 8 rotations/flips by 90 degrees: exactly "
                             "invariant to them, 8x slower (default no: on GZ1 it changed nothing)")
    parser.add_argument("--train-max", type=int, default=50_000,
                        help="train on at most this many images, a random sample (--seed) of all of them; "
                             "every image is embedded, read 4,096 at a time, so memory does not grow "
                             "with the number of images (default 50,000)")
    parser.add_argument("--fill-fractions", action=argparse.BooleanOptionalAction, default=True,
                        help="with a vote head: where a galaxy has no vote at all, write the predicted "
                             "fractions into its '*_fraction' columns (marked in 'fractions_predicted'), "
                             "so that morphology filters reach every galaxy (default yes)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out unreadable images and table rows without an image path "
                             "(listed) instead of stopping")
    parser.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars")


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 1


def _rows_text(labels, noun: str = "row") -> str:
    """``"row 3"`` or ``"rows 3, 7, 9, 10, 12, ... (12 in all)"`` (0-based rows, or file names)."""
    labels = list(labels)
    shown = ", ".join(map(str, labels[:5])) + (f", ... ({len(labels)} in all)" if len(labels) > 5 else "")
    return f"{noun}{'s' if len(labels) > 1 else ''} {shown}"


def _find_column(columns, names) -> str | None:
    """The first of ``names`` (lower case) among ``columns``, matched case-insensitively."""
    lowered = {str(c).lower(): c for c in columns}
    return next((lowered[c] for c in names if c in lowered), None)


def _blank(values) -> np.ndarray:
    """bool mask of the cells of ``values`` (a Series) that are missing or blank strings."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    return (text == "").to_numpy()


def _check_ids(ids, source: Path, column: str, noun: str = "row") -> None:
    """Raise CatalogueError on blank or duplicate ``ids``, naming the first and where it is.

    ``ids`` is a Series indexed by what the message shows: 0-based rows of the input table
    (``noun="row"``, also the error's ``rows``), or file names (``noun="file"``).
    """
    import numpy as np

    from astroexplore.errors import CatalogueError

    def error(problem: str, mask: np.ndarray, shown: np.ndarray, rule: str) -> CatalogueError:
        rows = ids.index[mask].tolist() if noun == "row" else np.flatnonzero(mask).tolist()
        return CatalogueError(f"{problem} at {_rows_text(ids.index[shown], noun)}; {rule}.", file=str(source),
                              column=column, rows=rows)

    blank = _blank(ids)
    if blank.any():
        raise error(f"no id in '{column}'", blank, blank, "every galaxy needs one")
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup].iloc[0]
        raise error(f"id '{first}' in '{column}' is used more than once", dup, (ids == first).to_numpy(),
                    "ids must be unique")


def _folder_inputs(folder: Path):
    """(table with id and image, files) of the images directly in ``folder``."""
    import pandas as pd

    from astroexplore.encoder.data import image_id, list_image_files
    from astroexplore.errors import CatalogueError

    files = list_image_files(folder)
    if not files:
        subs = sum(p.is_dir() for p in folder.iterdir())
        note = f" (subfolders are not searched; found {subs} subfolder{'s' * (subs != 1)})" if subs else ""
        raise CatalogueError(f"no jpg/png/FITS images in this folder{note}.", file=str(folder))
    ids = pd.Series([image_id(f) for f in files], index=[f.name for f in files])
    _check_ids(ids, folder, "id (the file name without its image suffix)", noun="file")
    return pd.DataFrame({"id": ids.to_numpy(), "image": [str(f.resolve()) for f in files]}), files


def _read_table(source: Path):
    """Read a .csv (its id column as strings) or .parquet table."""
    import pandas as pd

    from astroexplore.errors import CatalogueError

    suffix = source.suffix.lower()
    if suffix == ".csv":
        id_col = _find_column(pd.read_csv(source, nrows=0).columns, ID_COLUMNS)
        return pd.read_csv(source, dtype=None if id_col is None else {id_col: str})
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(source)
    raise CatalogueError("expected a folder, a .csv or a .parquet table.", file=str(source))


def _drop_blank_images(table, img_col: str, source: Path, skip_bad: bool):
    """``table`` without its rows that have no image path (with ``skip_bad``; else CatalogueError).

    The rows keep their index labels (0-based rows of the input), for later messages.
    """
    from astroexplore.errors import CatalogueError

    blank = _blank(table[img_col])
    if not blank.any():
        return table
    what = f"no image path in column '{img_col}' at {_rows_text(table.index[blank])}"
    if not skip_bad:
        raise CatalogueError(f"{what}; fill in the paths, or pass --skip-bad to leave those rows out.",
                             file=str(source), column=img_col, rows=table.index[blank].tolist())
    print(f"warning: {source}: {what}: left out (--skip-bad)", file=sys.stderr)
    return table.drop(index=table.index[blank])


def _table_inputs(source: Path, skip_bad: bool):
    """(table with id, image and the other columns, files) of a .csv/.parquet table."""
    import pandas as pd

    from astroexplore.encoder.data import image_id
    from astroexplore.errors import CatalogueError, did_you_mean

    table = _read_table(source).reset_index(drop=True)
    img_col = _find_column(table.columns, IMAGE_COLUMNS)
    if img_col is None:
        hint = did_you_mean("image", list(table.columns))
        raise CatalogueError(f"no image column (one of {', '.join(IMAGE_COLUMNS)}).{hint}",
                             file=str(source))
    table = _drop_blank_images(table, img_col, source, skip_bad)
    files = [Path(p) if Path(p).is_absolute() else source.parent / p for p in table[img_col].astype(str)]
    id_col = _find_column(table.columns, ID_COLUMNS)
    if id_col is None:
        ids = pd.Series([image_id(f) for f in files], index=table.index, dtype=object)
    else:
        ids = table[id_col].astype(str).where(table[id_col].notna())
    _check_ids(ids, source, id_col or f"id (from the file names in '{img_col}')")
    out = table.drop(columns=[c for c in (id_col, "embedding") if c is not None and c in table.columns])
    out.insert(0, "id", ids.to_numpy())
    out[img_col] = [str(f.resolve()) for f in files]
    if img_col != "image" and "image" not in out.columns:
        out = out.rename(columns={img_col: "image"})
    out = out.reset_index(drop=True)
    _check_columns(out, source)
    return out, files


def _check_columns(table, source: Path) -> None:
    """Raise now the CatalogueError that saving ``table`` would (bad ra/dec, vote fractions outside [0, 1])."""
    import numpy as np

    from astroexplore.catalogue import Catalogue
    from astroexplore.errors import CatalogueError

    try:
        Catalogue.from_arrays(np.zeros((len(table), 1), np.float32), ids=table["id"].tolist(), table=table,
                              schema=None)
    except CatalogueError as err:
        raise CatalogueError(str(err), file=str(source), column=err.column, rows=err.rows) from None


def read_inputs(source: str | Path, *, skip_bad: bool = False):
    """Resolve ``IMAGES`` to (table with ``id``, ``image`` and any other columns, image paths).

    A folder gives one row per image file directly in it (:func:`~astroexplore.encoder.data.list_image_files`),
    its id the file name without the image suffix (:func:`~astroexplore.encoder.data.image_id`).
    A table keeps its rows; ids come from its id column (read as strings), else from the file names.
    Rows without an image path are an error, or left out with ``skip_bad``.

    Raises
    ------
    CatalogueError
        No images / no image column / blank image paths / blank or duplicate ids / values the
        output catalogue refuses (ra, dec, vote fractions outside [0, 1]), named with the file,
        column and first rows; checked before any image is read.
    """
    from astroexplore.errors import CatalogueError

    source = Path(source)
    if source.is_dir():
        return _folder_inputs(source)
    if not source.is_file():
        raise CatalogueError("not found: pass a folder of images or a .csv/.parquet table.", file=str(source))
    return _table_inputs(source, skip_bad)


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


def _train(args: argparse.Namespace, table, files: list, mode: str, vote_cols: list, ckpt: Path):
    """Train an encoder on every readable image, or on a seeded random ``--train-max`` of them.

    Raises ImageError (a bad file, without ``--skip-bad``) or ValueError.
    """
    import numpy as np

    from astroexplore.encoder.data import load_images
    from astroexplore.encoder.embed import load_size
    from astroexplore.encoder.train import train_encoder

    n = len(files)
    rows = np.arange(n)
    if n > args.train_max:
        rows = np.sort(np.random.default_rng(args.seed).choice(n, args.train_max, replace=False))
    # read at the size whose central crop is image_size; the encoder crops (and remembers it)
    images, good, _ = load_images([files[i] for i in rows], load_size(args.image_size, args.crop),
                                  skip_bad=args.skip_bad, progress=args.progress)
    if len(images) < 2:
        raise ValueError(f"{args.images}: need at least 2 readable images to train, found {len(images)}")
    rows = rows[good]
    targets = None if args.distill == "none" else args.distill
    what = f"{len(images):,} images" + (f" (a random sample of the {n:,}; --train-max)" if n > args.train_max else "")
    epochs = f"{args.epochs} epoch" + ("s" if args.epochs != 1 else "")
    print(f"training a {mode} encoder{f' (distilling {targets})' if targets else ''} on {what} "
          f"for {epochs} (checkpoint {ckpt})", file=sys.stderr)
    votes = table[vote_cols].iloc[rows].reset_index(drop=True) if mode != "contrastive" else None
    return train_encoder(images, mode=mode, votes=votes, targets=targets,
                         epochs=args.epochs, batch_size=args.batch_size, width=args.width,
                         image_size=args.image_size, crop=args.crop, device=args.device,
                         checkpoint=ckpt, resume=args.resume, progress=args.progress, seed=args.seed,
                         on_resume=lambda done: _say_resumed(done, args.epochs, ckpt))


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


def run(args: argparse.Namespace) -> int:
    """Run ``astroexplore embed``; returns the exit status."""
    import numpy as np

    from astroexplore.catalogue import Catalogue, save_catalogue
    from astroexplore.encoder.data import ImageError
    from astroexplore.errors import CatalogueError

    out = Path(args.out)
    if out.suffix.lower() != ".parquet":
        return _err(f"{out}: --out must end in .parquet")
    if not 0 < args.crop <= 1:
        return _err(f"--crop must be a fraction in (0, 1], got {args.crop}")
    if args.train_max < 2:
        return _err(f"--train-max must be at least 2, got {args.train_max}")

    from astroexplore.encoder.embed import load_encoder
    from astroexplore.encoder.train import check_checkpoint_path

    try:
        ckpt = check_checkpoint_path(args.checkpoint or out.with_name(out.stem + ".encoder.pt"))
        table, files = read_inputs(args.images, skip_bad=args.skip_bad)
        mode, vote_cols = _choose_mode(args, table)
    except ValueError as err:  # CatalogueError included
        return _err(str(err))
    try:
        if args.encoder:
            encoder = load_encoder(args.encoder, device=args.device)
            if (encoder.image_size, encoder.crop) != (args.image_size, args.crop):
                print(f"using the encoder's image size {encoder.image_size} and crop {encoder.crop}",
                      file=sys.stderr)
        else:
            encoder = _train(args, table, files, mode, vote_cols, ckpt)
    except ImageError as err:
        return _err(f"{err}\n(pass --skip-bad to leave unreadable images out)")
    except (ValueError, FileNotFoundError) as err:
        return _err(str(err))

    try:
        result = encoder.embed_files(files, skip_bad=args.skip_bad, tta=args.tta,
                                     posteriors=encoder.vote_head is not None, progress=args.progress)
    except ImageError as err:
        reuse = "" if args.encoder else f"; the trained encoder is saved in {ckpt} and a rerun reuses it"
        return _err(f"{err}\n(pass --skip-bad to leave unreadable images out{reuse})")
    if result.errors:
        print(f"warning: left out {len(result.errors)} unreadable image(s); first: {result.errors[0]}",
              file=sys.stderr)
    if len(result.good) < 2:
        return _err(f"{args.images}: need at least 2 readable images, found {len(result.good)}")
    table = table.iloc[result.good].reset_index(drop=True)
    full = result.embeddings
    emb = full
    info = {k: v for k, v in encoder.metadata.items() if k != "history"}
    info.update({"tta": bool(args.tta), "full_column": "embedding_full", "full_dims": int(full.shape[1]),
                 "n_components": int(full.shape[1])})
    if args.pca and 0 < args.pca < full.shape[1]:
        from sklearn.decomposition import PCA

        k = min(args.pca, len(full) - 1)
        pca = PCA(k, random_state=args.seed).fit(full)
        emb = pca.transform(full).astype(np.float32)
        info.update({"n_components": int(emb.shape[1]), "reduction": "pca",
                     "pca_explained_variance": round(float(pca.explained_variance_ratio_.sum()), 4)})
    meta = {"encoder": info}
    if result.posterior_mean is not None:
        for j, col in enumerate(encoder.vote_columns):
            table[f"{col}_pred"] = result.posterior_mean[:, j]
            table[f"{col}_pred_std"] = result.posterior_std[:, j]
        if args.fill_fractions:
            filled = fill_missing_fractions(table, encoder.vote_columns)
            info["fractions_filled"] = int(filled.sum())
            if filled.any():
                print(f"{int(filled.sum()):,} galaxies had no votes: predicted fractions fill their vote "
                      "columns (column 'fractions_predicted'; --no-fill-fractions keeps only the votes)",
                      file=sys.stderr)
    table["embedding_full"] = list(full)
    try:
        cat = Catalogue.from_arrays(emb, ids=table["id"].tolist(), table=table, schema=None, metadata=meta)
        save_catalogue(cat, out)
    except CatalogueError as err:
        return _err(f"{err}\n(the catalogue was not written)")
    print(f"wrote {out}: {len(emb)} galaxies, embedding {emb.shape[1]}-d "
          f"(full {full.shape[1]}-d in 'embedding_full')")
    return 0
