"""``astroexplore embed`` on awkward inputs: resuming, vote columns, ids, tables, checkpoints.

Real files through the real CLI (``astroexplore.cli.main``); tiny 40 px cutouts, width-8 encoders,
one or two epochs, no distillation.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from test_encoder import TINY, _write_pngs, fake_galaxies  # noqa: E402

from astroexplore.catalogue import load_catalogue  # noqa: E402
from astroexplore.cli import main  # noqa: E402
from astroexplore.encoder import train_encoder  # noqa: E402

FAST = ["--epochs", "1", "--pca", "3", "--image-size", "32", "--batch-size", "4", "--no-progress",
        "--device", "cpu", "--width", "8", "--distill", "none"]


def embed(source, out, *extra) -> int:
    return main(["embed", str(source), "--out", str(out), *FAST, *extra])


def _table(tmp_path: Path, n: int = 8, **columns) -> Path:
    """``t.csv`` beside ``imgs/`` (n png cutouts) with objid, file and the given columns."""
    tmp_path.mkdir(exist_ok=True)
    _write_pngs(tmp_path / "imgs", n=n)
    data = {"objid": [f"g{i}" for i in range(n)], "file": [f"imgs/gal_{i:02d}.png" for i in range(n)], **columns}
    pd.DataFrame(data).to_csv(tmp_path / "t.csv", index=False)
    return tmp_path / "t.csv"


# ------------------------------------------------------------------ 1. resuming
def test_resume_refuses_other_images_or_settings_and_says_what_it_reuses(tmp_path, capsys):
    _write_pngs(tmp_path / "a", n=6)
    from PIL import Image

    (tmp_path / "b").mkdir()  # the same file names and count, other galaxies
    for i, img in enumerate(fake_galaxies(7, size=40, seed=9)):
        Image.fromarray(img).save(tmp_path / "b" / (f"gal_{i:02d}.png" if i < 6 else "grey_one.png"))
    out, ckpt = tmp_path / "cat.parquet", tmp_path / "cat.encoder.pt"
    assert embed(tmp_path / "a", out) == 0
    assert embed(tmp_path / "b", out, "--epochs", "2") == 1  # other images: not silently reused
    err = capsys.readouterr().err
    assert "the training images (as cropped and resized) differ" in err and str(ckpt) in err
    assert "Delete it" in err and "--no-resume" in err and "--checkpoint" in err
    assert embed(tmp_path / "a", out, "--epochs", "2") == 0
    assert f"resuming at epoch 2 of 2 from {ckpt}" in capsys.readouterr().err
    assert embed(tmp_path / "a", out, "--epochs", "2") == 0
    err = capsys.readouterr().err
    assert f"{ckpt} already trained 2 epochs: reusing it" in err
    assert "training a " not in err  # it does not say it trains first
    assert embed(tmp_path / "a", out, "--epochs", "3", "--batch-size", "2", "--seed", "7") == 1
    err = capsys.readouterr().err
    assert "batch_size=4 (this run: 2; CLI: --batch-size)" in err and "seed=0 (this run: 7; CLI: --seed)" in err
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2  # the refused runs left it alone

    # a checkpoint written before the fingerprints existed still resumes
    state = torch.load(ckpt, weights_only=True)
    for key in ("images_sha", "votes_sha", "vote_columns", "votes_per_galaxy"):
        del state["config"][key]
    torch.save(state, ckpt)
    assert embed(tmp_path / "a", out, "--epochs", "3") == 0
    assert "resuming at epoch 3 of 3" in capsys.readouterr().err
    assert embed(tmp_path / "b", out, "--epochs", "1", "--no-resume") == 0
    assert load_catalogue(out).metadata["encoder"]["epochs_trained"] == 1


def test_resume_refuses_other_votes(tmp_path):
    imgs = fake_galaxies(12, seed=3)
    votes = pd.DataFrame({"a_yes_fraction": np.linspace(0, 1, 12)})
    ckpt = tmp_path / "v.pt"
    train_encoder(imgs, mode="hybrid", votes=votes, epochs=1, batch_size=6, checkpoint=ckpt, **TINY)
    with pytest.raises(ValueError, match="the votes differ"):
        train_encoder(imgs, mode="hybrid", votes=votes[::-1].reset_index(drop=True), epochs=2, batch_size=6,
                      checkpoint=ckpt, **TINY)
    renamed = votes.rename(columns={"a_yes_fraction": "b_no_fraction"})
    with pytest.raises(ValueError, match="vote_columns="):
        train_encoder(imgs, mode="hybrid", votes=renamed, epochs=2, batch_size=6, checkpoint=ckpt, **TINY)


# ------------------------------------------------------------------ 2. empty vote columns
def test_a_vote_column_without_any_value_is_left_out(tmp_path, capsys):
    src = _table(tmp_path, smooth_fraction=np.nan)
    out = tmp_path / "c.parquet"
    assert embed(src, out, "--mode", "hybrid") == 1  # asked for votes, and there are none
    err = capsys.readouterr().err
    assert "smooth_fraction" in err and "--mode contrastive" in err
    assert not (tmp_path / "c.encoder.pt").exists()
    assert embed(src, out) == 0
    assert "left out vote column(s) without any value: smooth_fraction" in capsys.readouterr().err
    cat = load_catalogue(out)
    assert cat.metadata["encoder"]["mode"] == "contrastive"
    assert "smooth_fraction_pred" not in cat.table.columns and cat.table["smooth_fraction"].isna().all()

    # beside a column with votes: hybrid on that one only
    _table(tmp_path / "mixed", smooth_fraction=np.nan, a_yes_fraction=np.linspace(0, 1, 8))
    assert embed(tmp_path / "mixed" / "t.csv", tmp_path / "mixed.parquet") == 0
    cat = load_catalogue(tmp_path / "mixed.parquet")
    assert cat.metadata["encoder"]["mode"] == "hybrid"
    assert "smooth_fraction" not in cat.metadata["encoder"]["vote_columns"]
    assert cat.table["smooth_fraction"].isna().all() and "a_yes_fraction_pred" in cat.table.columns


# ------------------------------------------------------------------ 3, 8, 9, 10. folders
def _write_fits_variants(folder: Path, img: np.ndarray) -> None:
    from astropy.io import fits

    grey = img.mean(axis=2).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(grey)]).writeto(folder / "J1.5+2.fits.fz")
    buf = folder / "plain.fit"
    fits.PrimaryHDU(grey).writeto(buf)
    for name in ("h1.fit.gz", "H2.FTS.GZ"):
        with gzip.open(folder / name, "wb") as fh:
            fh.write(buf.read_bytes())
    buf.unlink()


def test_folder_ids_keep_dots_and_every_readable_fits_is_listed(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "cutouts"
    folder.mkdir()
    imgs = fake_galaxies(4, size=40, seed=6)
    Image.fromarray(imgs[0]).save(folder / "J000411.19+020924.0.jpg")
    Image.fromarray(imgs[1]).save(folder / "J000411.19+020925.7.PNG")
    _write_fits_variants(folder, imgs[2])
    (folder / "._J000411.19+020924.0.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(200))  # macOS fork
    (folder / ".DS_Store").write_bytes(bytes(100))
    (folder / "sub").mkdir()
    Image.fromarray(imgs[3]).save(folder / "sub" / "nested.jpg")
    out = tmp_path / "c.parquet"
    assert embed(folder, out) == 0, capsys.readouterr().err
    assert sorted(load_catalogue(out).ids) == sorted(
        ["J000411.19+020924.0", "J000411.19+020925.7", "J1.5+2", "h1", "H2"])


def test_folder_ids_that_collide_and_folders_of_subfolders_are_explained(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "cutouts"
    folder.mkdir()
    img = fake_galaxies(1, size=40)[0]
    for name in ("a.jpg", "a.png", "b.png"):
        Image.fromarray(img).save(folder / name)
    assert embed(folder, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert "id 'a'" in err and "a.jpg, a.png" in err and "Traceback" not in err
    nest = tmp_path / "nest"
    (nest / "x").mkdir(parents=True)
    (nest / "y").mkdir()
    assert embed(nest, tmp_path / "c.parquet") == 1
    assert "subfolders are not searched; found 2 subfolders" in capsys.readouterr().err


# ------------------------------------------------------------------ 4, 5, 11. tables
def test_table_ids_must_be_unique_and_filled_in_before_training(tmp_path, capsys):
    src = _table(tmp_path)
    t = pd.read_csv(src)
    t.loc[3, "objid"] = "g1"
    t.to_csv(src, index=False)
    assert embed(src, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert "id 'g1' in 'objid' is used more than once" in err and "lines 3, 5" in err  # file lines: header = 1
    assert not (tmp_path / "c.encoder.pt").exists()  # found before training
    t.loc[3, "objid"] = np.nan
    t.to_csv(src, index=False)
    assert embed(src, tmp_path / "c.parquet") == 1
    assert "no id in 'objid'" in capsys.readouterr().err


def test_table_values_the_catalogue_refuses_stop_before_training(tmp_path, capsys):
    src = _table(tmp_path, ra=[10.0] * 7 + [400.0], dec=0.0)
    assert embed(src, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert "ra outside [0, 360)" in err and str(src) in err
    assert not (tmp_path / "c.encoder.pt").exists()


def test_every_kind_of_bad_row_is_named_in_one_run(tmp_path, capsys):
    """A table with a blank image path, a missing file, a repeated id and a dec of 95: one run
    names all four, so the user fixes the table once, not four times."""
    src = _table(tmp_path, ra=10.0, dec=[0.0] * 7 + [95.0])
    t = pd.read_csv(src)
    t.loc[1, "file"] = np.nan
    t.loc[2, "file"] = "imgs/nowhere.png"
    t.loc[4, "objid"] = "g3"
    t.to_csv(src, index=False)
    from astroexplore.encoder.cli import read_inputs
    from astroexplore.errors import CatalogueError

    with pytest.raises(CatalogueError) as info:
        read_inputs(src)
    assert info.value.rows == [1, 2, 3, 4, 7] and info.value.column == "file"
    assert embed(src, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert "4 kinds of problem" in err
    for part in ("no image path in column 'file' at line 3", "image file not found for 1 row",
                 "id 'g3' in 'objid' is used more than once", "dec outside [-90, 90]"):
        assert part in err, part
    assert not (tmp_path / "c.encoder.pt").exists()
    # --skip-bad leaves out the two rows without an image; the id and the dec still stop it
    assert embed(src, tmp_path / "c.parquet", "--skip-bad") == 1
    err = capsys.readouterr().err
    assert "2 kinds of problem" in err and "used more than once" in err and "dec outside" in err


def test_csv_ids_are_read_as_text(tmp_path):
    src = _table(tmp_path)
    t = pd.read_csv(src)
    t["objid"] = [f"{587722952767439450 + i}" for i in range(7)] + ["007"]
    t.to_csv(src, index=False)
    assert embed(src, tmp_path / "c.parquet") == 0
    ids = load_catalogue(tmp_path / "c.parquet").ids.tolist()
    assert ids[:2] == ["587722952767439450", "587722952767439451"] and ids[-1] == "007"


def test_rows_without_an_image_path_are_named_or_left_out(tmp_path, capsys):
    src = _table(tmp_path)
    t = pd.read_csv(src)
    t.loc[[2, 5], "file"] = np.nan
    t.to_csv(src, index=False)
    assert embed(src, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert "no image path in column 'file' at lines 4, 7" in err and "--skip-bad" in err
    assert embed(src, tmp_path / "c.parquet", "--skip-bad") == 0
    assert "left out (--skip-bad)" in capsys.readouterr().err
    assert load_catalogue(tmp_path / "c.parquet").ids.tolist() == ["g0", "g1", "g3", "g4", "g6", "g7"]


# ------------------------------------------------------------------ 6, 7. checkpoint files
def test_files_that_are_not_checkpoints_are_named(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=5)
    out = tmp_path / "c.parquet"
    assert embed(folder, out) == 0
    ckpt = tmp_path / "c.encoder.pt"
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(ckpt.read_bytes()[:2000])
    for bad in (out, truncated):  # a catalogue, a half-written checkpoint
        assert embed(folder, tmp_path / "d.parquet", "--encoder", str(bad)) == 1
        err = capsys.readouterr().err
        assert f"{bad}: not an astroexplore encoder checkpoint" in err and "Traceback" not in err
    ckpt.write_bytes(truncated.read_bytes())  # resuming a corrupt default checkpoint
    assert embed(folder, out) == 1
    assert f"{ckpt}: not an astroexplore encoder checkpoint" in capsys.readouterr().err


def test_a_checkpoint_folder_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=5)
    ckdir = tmp_path / "ckdir"
    ckdir.mkdir()
    assert embed(folder, tmp_path / "c.parquet", "--checkpoint", str(ckdir)) == 1
    err = capsys.readouterr().err
    assert f"{ckdir}: the checkpoint is a file, and this is a folder" in err and "training a " not in err
    assert list(tmp_path.glob("*.tmp")) == [] and list(ckdir.iterdir()) == []


# ------------------------------------------------------------------ 12. filling vote fractions
def test_only_galaxies_without_any_vote_get_predicted_fractions(tmp_path, capsys):
    a = [0.2, 0.4, 0.6, 0.8, np.nan, np.nan, np.nan, np.nan]
    b = [0.5, np.nan, 0.1, 0.3, 0.9, np.nan, np.nan, np.nan]  # galaxy 1: b not asked; galaxy 4: a not asked
    src = _table(tmp_path, a_yes_fraction=a, b_no_fraction=b)
    assert embed(src, tmp_path / "c.parquet") == 0
    cat = load_catalogue(tmp_path / "c.parquet")
    t = cat.table
    assert np.isnan(t["b_no_fraction"][1]) and np.isnan(t["a_yes_fraction"][4])  # voted: kept as they are
    np.testing.assert_allclose(t["a_yes_fraction"][:4], a[:4])
    np.testing.assert_allclose(t["a_yes_fraction"][5:], t["a_yes_fraction_pred"][5:])
    np.testing.assert_allclose(t["b_no_fraction"][5:], t["b_no_fraction_pred"][5:])
    assert t["fractions_predicted"].tolist() == [False] * 5 + [True] * 3
    assert cat.metadata["encoder"]["fractions_filled"] == int(t["fractions_predicted"].sum()) == 3
    assert "3 galaxies had no votes" in capsys.readouterr().err


def test_predictions_no_better_than_the_mean_vote_are_not_filled_in(tmp_path, capsys):
    """After 2 training steps every predicted fraction was ~0.5 and went into the vote columns of
    the galaxies without votes, with no word on how good they were. Votes all equal to their
    mean: no prediction can beat it, so nothing is filled in, and the run says why."""
    a = [0.5] * 5 + [np.nan] * 3
    src = _table(tmp_path, a_yes_fraction=a)
    assert embed(src, tmp_path / "c.parquet") == 0
    err = capsys.readouterr().err
    assert "note: 8 images at --batch-size 4 make 2 training steps an epoch, 2 in all: too few" in err
    assert "warning: the predicted fractions fit the votes worse than each answer's mean vote does " \
           "(mean absolute error " in err and "against 0.000" in err
    cat = load_catalogue(tmp_path / "c.parquet")
    assert not cat.table["fractions_predicted"].any() and np.isnan(cat.table["a_yes_fraction"][5:]).all()
    fit = cat.metadata["encoder"]["fractions_fit"]
    assert fit["mae_mean_vote"] == 0 and fit["mae_predicted"] > 0 and cat.metadata["encoder"]["fractions_filled"] == 0


def test_a_folder_names_a_broken_link_and_what_it_does_not_read(tmp_path, capsys):
    """A link to a missing file (an unmounted disk) was dropped without a word, as were a .tif
    and a subfolder: the catalogue silently held fewer galaxies."""
    from test_encoder import _write_pngs

    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=6)
    (folder / "gone.png").symlink_to(tmp_path / "unmounted" / "gone.png")
    (folder / "scan.tif").write_bytes(b"II*\x00")
    (folder / "more").mkdir()
    assert embed(folder, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert f"note: {folder}: " in err and "left out 1 file that is not jpg/png/FITS (e.g. scan.tif) and " \
                                          "1 subfolder (not searched)" in err
    assert f"error: {folder / 'gone.png'}: image file not found" in err
    assert embed(folder, tmp_path / "c.parquet", "--skip-bad") == 0
    assert "file gone.png (id gone): " in capsys.readouterr().err
    assert "gone" not in load_catalogue(tmp_path / "c.parquet").ids.tolist()


def test_a_table_without_an_image_column_names_its_columns(tmp_path, capsys):
    src = tmp_path / "t.csv"
    pd.DataFrame({"objid": ["a", "b"], "jpeg_path": ["a.jpg", "b.jpg"]}).to_csv(src, index=False)
    assert embed(src, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert "no image column (one of image, " in err and "its columns: objid, jpeg_path. Rename the one" in err


def test_a_cutout_enlarged_more_than_twice_is_said(tmp_path, capsys):
    """An 8x8 file was blown up to the encoder's size without a word (a thumbnail, a wrong file)."""
    from PIL import Image
    from test_encoder import _write_pngs

    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=6)  # 40 px, read at 32: no note
    assert embed(folder, tmp_path / "c.parquet") == 0
    assert "enlarged more than twice" not in capsys.readouterr().err
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(folder / "thumb.png")
    assert embed(folder, tmp_path / "d.parquet") == 0
    err = capsys.readouterr().err
    assert f"warning: 1 image enlarged more than twice to 32 px (e.g. {folder / 'thumb.png'}: 8x8 px)" in err
    assert err.count("enlarged more than twice") == 1
