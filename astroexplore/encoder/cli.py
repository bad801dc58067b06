"""``astroexplore embed``: train (or load) an encoder on a folder of cutouts and write a catalogue.

Usage::

    astroexplore embed cutouts/ --out galaxies.parquet                 # contrastive + distilled features
    astroexplore embed table.csv --out galaxies.parquet --mode hybrid  # vote columns -> hybrid
    astroexplore embed cutouts/ --out more.parquet --encoder galaxies.encoder.pt   # reuse, no training

``IMAGES`` is a folder of jpg/png/FITS cutouts (ids = file names without suffix) or a catalogue
(.csv/.parquet) with an image column (``image``, ``file``, ``file_loc``, ``path``, ...; relative
paths are relative to the catalogue) whose other columns are copied to the output; its
``*_fraction`` columns (or a detected Galaxy Zoo schema) feed ``--mode hybrid``/``supervised``.
By default (``--distill features``) the encoder also learns to predict the Astronomaly-style
morphology features and pixel-PCA components of each cutout (computed from the pixels; no labels),
which on real SDSS images gave better kNN purity and merger recall than contrastive training alone
(benchmarks/results/real_data.md); ``--distill none`` trains without them.

The output catalogue holds ``embedding`` (the representation reduced by PCA to ``--pca``
dimensions, what the app and detectors use), ``embedding_full`` (the full representation) and, for
encoders with a vote head, predicted ``*_pred`` fractions with their ``*_pred_std`` predictive spread
(Dirichlet and MC dropout: :meth:`Encoder.predict_posteriors`); where a galaxy has no vote, the
predicted fraction also fills its ``*_fraction`` column (``fractions_predicted`` marks it; turn off
with ``--no-fill-fractions``), so that morphology filters reach every galaxy.
Training checkpoints after every epoch (default ``<out stem>.encoder.pt`` beside the output) and
resumes from it unless ``--no-resume``.

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
    parser.add_argument("images", help="folder of jpg/png/FITS cutouts, or a .csv/.parquet table "
                                       "with an image column")
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
                        help="checkpoint path (default <out stem>.encoder.pt beside --out)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from an existing checkpoint (default yes)")
    parser.add_argument("--encoder", default=None,
                        help="use this trained encoder checkpoint instead of training")
    parser.add_argument("--pca", type=int, default=40,
                        help="dimensions of the main 'embedding' column (PCA; 0 = no reduction)")
    parser.add_argument("--image-size", type=int, default=64,
                        help="images are centre-cropped to square and resized to this (default 64)")
    parser.add_argument("--crop", type=float, default=1.0,
                        help="keep the central fraction of each cutout before resizing "
                             "(default 1; 0.5 suits SDSS GZ1-style cutouts with small galaxies)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=False,
                        help="average embeddings over the 8 rotations/flips by 90 degrees: exactly "
                             "invariant to them, 8x slower (default no: on GZ1 it changed nothing)")
    parser.add_argument("--train-max", type=int, default=50_000,
                        help="train on at most this many images, a random sample (--seed) of the rest; "
                             "every image is embedded, read 4,096 at a time, so memory does not grow "
                             "with the number of images (default 50,000)")
    parser.add_argument("--fill-fractions", action=argparse.BooleanOptionalAction, default=True,
                        help="with a vote head: where a galaxy has no vote fraction, write the predicted "
                             "one into the '*_fraction' column (marked in 'fractions_predicted'), so "
                             "that morphology filters reach every galaxy (default yes)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out unreadable images (listed) instead of stopping")
    parser.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars")


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 1


def read_inputs(source: str | Path):
    """Resolve ``IMAGES`` to (ids, image paths, table of extra columns).

    Raises
    ------
    CatalogueError
        No images / no image column / missing files are named with the file and column.
    """
    import pandas as pd

    from astroexplore.encoder.data import list_image_files
    from astroexplore.errors import CatalogueError, did_you_mean

    source = Path(source)
    if source.is_dir():
        files = list_image_files(source)
        if not files:
            raise CatalogueError("no jpg/png/FITS images in this folder.", file=str(source))
        ids = [f.name.split(".")[0] for f in files]
        if len(set(ids)) != len(ids):
            ids = [f.name for f in files]
        table = pd.DataFrame({"id": ids, "image": [str(f.resolve()) for f in files]})
        return table, files
    if not source.is_file():
        raise CatalogueError("not found: pass a folder of images or a .csv/.parquet table.", file=str(source))
    suffix = source.suffix.lower()
    if suffix == ".csv":
        table = pd.read_csv(source)
    elif suffix in (".parquet", ".pq"):
        table = pd.read_parquet(source)
    else:
        raise CatalogueError("expected a folder, a .csv or a .parquet table.", file=str(source))
    lowered = {c.lower(): c for c in table.columns}
    img_col = next((lowered[c] for c in IMAGE_COLUMNS if c in lowered), None)
    if img_col is None:
        hint = did_you_mean("image", list(table.columns))
        raise CatalogueError(f"no image column (one of {', '.join(IMAGE_COLUMNS)}).{hint}",
                             file=str(source))
    base = source.parent
    files = [Path(p) if Path(p).is_absolute() else base / p for p in table[img_col].astype(str)]
    id_col = next((lowered[c] for c in ID_COLUMNS if c in lowered), None)
    ids = table[id_col].astype(str) if id_col else pd.Series([f.name.split(".")[0] for f in files])
    out = table.drop(columns=[c for c in (id_col, "embedding") if c is not None and c in table.columns])
    out.insert(0, "id", ids.to_numpy())
    out[img_col] = [str(f.resolve()) for f in files]
    if img_col != "image" and "image" not in out.columns:
        out = out.rename(columns={img_col: "image"})
    return out.reset_index(drop=True), files


def fill_missing_fractions(table, vote_columns) -> np.ndarray:
    """Where a galaxy has no vote fraction, take the encoder's prediction (``{column}_pred``).

    Only Galaxy Zoo fraction columns (``*_fraction``) are filled, or added when the input had none;
    the complements the encoder adds to one-answer questions (``*_fraction_rest``) are not. Adds
    the bool column ``fractions_predicted`` (True where any fraction was filled) and returns it.
    The votes a galaxy has are never replaced.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"a_yes_fraction": [0.2, float("nan")], "a_yes_fraction_pred": [0.5, 0.6]})
    >>> fill_missing_fractions(t, ["a_yes_fraction"]).tolist(), t["a_yes_fraction"].tolist()
    ([False, True], [0.2, 0.6])
    """
    import numpy as np

    filled = np.zeros(len(table), dtype=bool)
    for col in vote_columns:
        if not str(col).endswith("_fraction"):
            continue
        pred = table[f"{col}_pred"].to_numpy(dtype=float)
        votes = table[col].to_numpy(dtype=float) if col in table.columns else np.full(len(table), np.nan)
        missing = np.isnan(votes)
        table[col] = np.where(missing, pred, votes)
        filled |= missing
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
                         checkpoint=ckpt, resume=args.resume, progress=args.progress, seed=args.seed)


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
    try:
        table, files = read_inputs(args.images)
    except CatalogueError as err:
        return _err(str(err))
    vote_cols = [c for c in table.columns if str(c).endswith("_fraction")]
    mode = args.mode
    if mode == "auto":
        mode = "hybrid" if vote_cols else "contrastive"
    if mode != "contrastive" and not vote_cols and args.encoder is None:
        return _err(f"{args.images}: --mode {mode} needs vote-fraction columns ('*_fraction'); "
                    "none found (use --mode contrastive)")

    from astroexplore.encoder.embed import load_encoder

    ckpt = Path(args.checkpoint) if args.checkpoint else out.with_name(out.stem + ".encoder.pt")
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
                print(f"{int(filled.sum()):,} galaxies lacked some vote fractions: predicted ones fill them "
                      "(column 'fractions_predicted'; --no-fill-fractions keeps only the votes)", file=sys.stderr)
    table["embedding_full"] = list(full)
    cat = Catalogue.from_arrays(emb, ids=table["id"].tolist(), table=table, schema=None, metadata=meta)
    save_catalogue(cat, out)
    print(f"wrote {out}: {len(emb)} galaxies, embedding {emb.shape[1]}-d "
          f"(full {full.shape[1]}-d in 'embedding_full')")
    return 0
