"""``astroexplore embed``: what it writes and when it refuses (review of the embed command).

Relative image paths that survive moving a project folder; an unwritable --out or a missing image
found before any image is read; the encoder's PCA stored and reused; option values checked
up front; every skipped row listed; CSV file lines in messages; no progress-bar redraws in a log.
Real files through the real CLI; tiny 40 px cutouts, width-8 encoders, one epoch.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from test_embed_cli_inputs import FAST, _table, embed  # noqa: E402
from test_encoder import _write_pngs  # noqa: E402

from astroexplore.catalogue import load_catalogue  # noqa: E402
from astroexplore.cli import main  # noqa: E402
from astroexplore.encoder import load_encoder  # noqa: E402
from astroexplore.encoder.cli import stored_path  # noqa: E402
from astroexplore.images import image_for  # noqa: E402


def _rows_of(cat) -> dict:
    """id -> row of the main embedding."""
    return dict(zip(cat.ids.tolist(), cat.embeddings))


# ------------------------------------------------------------------ 1. relative image paths
def test_image_paths_are_relative_to_the_catalogue_and_survive_moving_the_project(tmp_path, monkeypatch, capsys):
    proj = tmp_path / "proj"
    src = _table(proj)  # proj/t.csv listing imgs/gal_*.png
    _write_pngs(tmp_path / "real", n=3)
    (proj / "linked").symlink_to(tmp_path / "real")  # a symlinked folder of cutouts
    t = pd.read_csv(src)
    t.loc[7, "file"] = "linked/gal_01.png"
    t.to_csv(src, index=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory is neither the table's nor the output's
    assert embed(src, proj / "out" / "cat.parquet") == 0, capsys.readouterr().err
    cat = load_catalogue(proj / "out" / "cat.parquet")
    images = cat.table["image"].tolist()
    assert images[0] == "../imgs/gal_00.png" and images[7] == "../linked/gal_01.png"  # symlink kept as named
    assert "image_root" not in cat.metadata  # relative to the catalogue itself, not to a working directory
    assert cat.metadata["encoder"]["checkpoint"] == "cat.encoder.pt"
    assert cat.metadata["encoder"]["pca_checkpoint"] == "cat.encoder.pt"

    # and with --encoder given relative to the working directory
    monkeypatch.chdir(proj)
    assert main(["embed", "t.csv", "--out", "more/m.parquet", "--encoder", "out/cat.encoder.pt", *FAST]) == 0
    more = load_catalogue(proj / "more" / "m.parquet")
    assert more.metadata["encoder"]["checkpoint"] == "../out/cat.encoder.pt"
    assert more.table["image"][0] == "../imgs/gal_00.png"

    # move the whole project: the catalogue still finds every image, from any working directory
    moved = tmp_path / "moved" / "project"
    moved.parent.mkdir()
    monkeypatch.chdir(tmp_path)
    shutil.move(str(proj), str(moved))
    monkeypatch.chdir(elsewhere)
    for path in (moved / "out" / "cat.parquet", moved / "more" / "m.parquet"):
        cat = load_catalogue(path)
        for i in range(cat.n_galaxies):
            assert Path(cat.image_reference(i)).is_file(), cat.image_reference(i)
            img = image_for(cat, i)
            assert img is not None and img.ndim == 3
    assert load_encoder(moved / "out" / "cat.encoder.pt").pca is not None


def test_a_relative_path_that_would_leave_a_symlinked_folder_stays_absolute(tmp_path):
    (tmp_path / "proj" / "imgs").mkdir(parents=True)
    (tmp_path / "proj" / "imgs" / "a.png").write_bytes(b"x")
    (tmp_path / "store").mkdir()
    (tmp_path / "proj" / "out").symlink_to(tmp_path / "store")  # ../ from out/ is tmp_path, not proj
    image = tmp_path / "proj" / "imgs" / "a.png"
    assert stored_path(image, tmp_path / "proj" / "out") == str(image)
    assert stored_path(image, tmp_path / "proj") == "imgs/a.png"
    assert stored_path("https://x.org/cut?ra=1", tmp_path) == "https://x.org/cut?ra=1"


# ------------------------------------------------------------------ 2. an unwritable --out
def test_an_unwritable_out_is_refused_before_any_image_is_read(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=5)
    (tmp_path / "a_file").write_text("x")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    is_dir = tmp_path / "dir.parquet"
    is_dir.mkdir()
    try:
        for out, says in ((is_dir, "is a folder"),
                          (tmp_path / "a_file" / "sub" / "c.parquet", "cannot be created"),
                          (readonly / "c.parquet", "read-only")):
            for extra in ((), ("--encoder", str(tmp_path / "none.pt"))):
                assert embed(folder, out, *extra) == 1
                err = capsys.readouterr().err
                assert f"error: {out}: " in err and says in err and "Traceback" not in err, err
                assert "training" not in err
        assert not list(tmp_path.rglob("*.encoder.pt")) and not list(readonly.iterdir())
        # a missing parent is created, as before
        assert embed(folder, tmp_path / "new" / "deeper" / "c.parquet") == 0
    finally:
        readonly.chmod(0o755)


# ------------------------------------------------------------------ 3. missing image files
def test_a_missing_image_outside_the_training_sample_is_found_before_training(tmp_path, capsys):
    src = _table(tmp_path)
    t = pd.read_csv(src)
    t.loc[6, "file"] = "imgs/gone.png"
    t.to_csv(src, index=False)
    assert embed(src, tmp_path / "c.parquet", "--train-max", "3") == 1
    err = capsys.readouterr().err
    assert "image file not found for 1 row" in err and "line 8 (id g6)" in err and "gone.png" in err
    assert "--skip-bad" in err and not (tmp_path / "c.encoder.pt").exists()  # nothing was trained
    assert embed(src, tmp_path / "c.parquet", "--train-max", "3", "--skip-bad") == 0
    err = capsys.readouterr().err
    assert "line 8 (id g6)" in err and "c.skipped.csv" in err
    cat = load_catalogue(tmp_path / "c.parquet")
    assert "g6" not in set(cat.ids) and cat.n_galaxies == 7
    assert cat.metadata["skipped"] == {"count": 1, "list": "c.skipped.csv"}
    skipped = pd.read_csv(tmp_path / "c.skipped.csv")
    assert skipped[["line", "id", "reason"]].values.tolist() == [[8, "g6", "image file not found"]]


# ------------------------------------------------------------------ 4. the encoder's PCA
def test_catalogues_from_one_encoder_share_the_pca_basis(tmp_path, capsys):
    _write_pngs(tmp_path / "a", n=10)
    (tmp_path / "b").mkdir()
    for name in ("gal_02.png", "gal_05.png", "gal_07.png", "grey_one.png"):
        shutil.copy(tmp_path / "a" / name, tmp_path / "b" / name)
    out, ckpt = tmp_path / "a.parquet", tmp_path / "a.encoder.pt"
    assert embed(tmp_path / "a", out) == 0
    state = torch.load(ckpt, weights_only=True)
    assert state["pca"]["components"].shape == (3, 128) and state["pca"]["epoch"] == 1
    a = _rows_of(load_catalogue(out))
    assert embed(tmp_path / "b", tmp_path / "b.parquet", "--encoder", str(ckpt)) == 0
    b_cat = load_catalogue(tmp_path / "b.parquet")
    assert b_cat.metadata["encoder"]["pca_reused"] is True
    for gid, row in _rows_of(b_cat).items():  # refitted on 4 images, these would differ
        np.testing.assert_allclose(row, a[gid], atol=1e-4)
    assert embed(tmp_path / "b", tmp_path / "b2.parquet", "--encoder", str(ckpt), "--pca", "2") == 0
    for gid, row in _rows_of(load_catalogue(tmp_path / "b2.parquet")).items():
        np.testing.assert_allclose(row, a[gid][:2], atol=1e-4)  # the first axes of the same basis
    capsys.readouterr()

    # an older checkpoint without a PCA: one is fitted, saved (said so) and reused from then on
    del state["pca"]
    torch.save(state, ckpt)
    assert load_encoder(ckpt).pca is None
    assert embed(tmp_path / "b", tmp_path / "b3.parquet", "--encoder", str(ckpt)) == 0
    assert "held no PCA" in capsys.readouterr().err
    first = _rows_of(load_catalogue(tmp_path / "b3.parquet"))
    assert load_encoder(ckpt).pca.n_components == 3
    assert embed(tmp_path / "a", tmp_path / "a3.parquet", "--encoder", str(ckpt)) == 0
    again = _rows_of(load_catalogue(tmp_path / "a3.parquet"))
    for gid, row in first.items():
        np.testing.assert_allclose(again[gid], row, atol=1e-4)

    # a PCA stored by a version whose embeddings were raw representations, not unit vectors: refitted
    state = torch.load(ckpt, weights_only=True)
    assert state["pca"]["unit_vectors"] is True
    del state["pca"]["unit_vectors"]
    torch.save(state, ckpt)
    assert load_encoder(ckpt).pca is None
    assert embed(tmp_path / "b", tmp_path / "b4.parquet", "--encoder", str(ckpt)) == 0
    assert "before embeddings were unit vectors" in capsys.readouterr().err
    assert load_encoder(ckpt).pca.unit_vectors is True


def test_an_encoder_embeds_another_surveys_cutouts_at_the_crop_given(tmp_path, capsys):
    """--crop with --encoder was ignored ("using the encoder's ... crop"): the central fraction it
    was trained on suits its own survey, not one whose galaxies fill more of the frame."""
    _write_pngs(tmp_path / "a", n=8)
    ckpt = tmp_path / "a.encoder.pt"
    assert embed(tmp_path / "a", tmp_path / "a.parquet", "--crop", "0.5") == 0
    capsys.readouterr()
    assert embed(tmp_path / "a", tmp_path / "same.parquet", "--encoder", str(ckpt)) == 0
    assert "embedding the central 0.5 of each cutout, as the encoder was trained" in capsys.readouterr().err
    same = load_catalogue(tmp_path / "same.parquet")
    assert same.metadata["encoder"]["crop"] == same.metadata["encoder"]["trained_crop"] == 0.5
    assert embed(tmp_path / "a", tmp_path / "whole.parquet", "--encoder", str(ckpt), "--crop", "1") == 0
    assert "embedding the whole of each cutout (the encoder was trained on the central 0.5 of each cutout)" \
        in capsys.readouterr().err
    whole = load_catalogue(tmp_path / "whole.parquet")
    assert (whole.metadata["encoder"]["crop"], whole.metadata["encoder"]["trained_crop"]) == (1.0, 0.5)
    enc = load_encoder(ckpt)
    enc.crop = 1.0
    files = sorted((tmp_path / "a").glob("*.png"))
    direct = dict(zip([f.stem for f in files], enc.embed_files(files).embeddings))
    got = np.stack(whole.table["embedding_full"])
    off = np.abs(got - np.stack([direct[g] for g in whole.ids.tolist()])).max()
    # a one-epoch width-8 encoder's embeddings barely vary, so "different" is against the match
    assert np.abs(got - np.stack(same.table["embedding_full"])).max() > 10 * off


# ------------------------------------------------------------------ 5. option values
@pytest.mark.parametrize("option, value, says", [
    ("--batch-size", "0", "must be at least 2"), ("--width", "0", "must be at least 1"),
    ("--image-size", "0", "must be at least 16 pixels"), ("--epochs", "-1", "must be at least 0"),
    ("--pca", "-3", "must be at least 0"), ("--device", "gpu", "torch calls the GPU 'cuda'"),
    ("--seed", "x", "expected a whole number"),
])
def test_bad_option_values_are_usage_errors(tmp_path, capsys, option, value, says):
    with pytest.raises(SystemExit) as exit_:
        main(["embed", str(tmp_path), "--out", str(tmp_path / "c.parquet"), option, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {option}: " in err and says in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_device_cuda_without_cuda_is_refused_before_reading(tmp_path, capsys):
    _write_pngs(tmp_path / "cutouts", n=5)
    assert main(["embed", str(tmp_path / "cutouts"), "--out", str(tmp_path / "c.parquet"), "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "--device cuda:" in err and "--device cpu" in err and "training" not in err


def test_epochs_0_embeds_with_an_existing_checkpoint_only(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=5)
    out = tmp_path / "c.parquet"
    assert embed(folder, out, "--epochs", "0") == 1
    err = capsys.readouterr().err
    assert "--epochs 0 trains nothing" in err and "--encoder" in err and not (tmp_path / "c.encoder.pt").exists()
    assert embed(folder, out) == 0
    assert embed(folder, out, "--epochs", "0", "--no-resume") == 1
    assert "--no-resume" in capsys.readouterr().err
    assert embed(folder, out, "--epochs", "0") == 0
    assert "--epochs 0: using" in capsys.readouterr().err
    assert load_catalogue(out).metadata["encoder"]["epochs_trained"] == 1
    assert embed(folder, tmp_path / "d.parquet", "--encoder", str(tmp_path / "c.encoder.pt"), "--epochs", "0",
                 "--width", "16") == 0
    note = capsys.readouterr().err.splitlines()[0]  # FAST sets --distill, --width and --batch-size too
    assert note.startswith("note: --encoder given: training options ignored (--epochs, ") and "--width" in note


# ------------------------------------------------------------------ 6. every bad file listed
def test_skip_bad_lists_every_bad_file(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=5)
    for i in range(23):
        (folder / f"zz_bad_{i:02d}.jpg").write_bytes(b"garbage")
    out = tmp_path / "c.parquet"
    assert embed(folder, out, "--skip-bad") == 0
    err = capsys.readouterr().err
    assert "left out 23 unreadable image(s)" in err and "zz_bad_19.jpg" in err and "... and 3 more" in err
    assert "zz_bad_20.jpg" not in err
    listed = pd.read_csv(tmp_path / "c.skipped.csv")
    assert listed["id"].tolist() == [f"zz_bad_{i:02d}" for i in range(23)] and listed["reason"].str.contains(
        "zz_bad").all()
    assert load_catalogue(out).metadata["skipped"]["count"] == 23
    for bad in folder.glob("zz_*"):
        bad.unlink()
    assert embed(folder, out, "--skip-bad") == 0
    assert not (tmp_path / "c.skipped.csv").exists()  # no stale list beside a clean catalogue
    assert load_catalogue(out).metadata["skipped"] == {"count": 0}


# ------------------------------------------------------------------ 7. messages and logs
def test_every_out_of_range_column_is_named_with_its_file_lines(tmp_path, capsys):
    src = _table(tmp_path, a_yes_fraction=[0.1] * 6 + [1.5, 0.2], b_no_fraction=[-0.2] + [0.5] * 7,
                 dec=[0.0] * 7 + [95.0])
    assert embed(src, tmp_path / "c.parquet") == 1
    err = capsys.readouterr().err
    assert "3 problems" in err and "Traceback" not in err
    assert "'a_yes_fraction': a vote fraction outside [0, 1] at line 8 (first value 1.5)" in err
    assert "'b_no_fraction': a vote fraction outside [0, 1] at line 2" in err
    assert "'dec': a dec outside [-90, 90] degrees at line 9" in err
    assert not (tmp_path / "c.encoder.pt").exists()


def test_a_redirected_log_has_epoch_lines_and_no_bar_redraws(tmp_path, capsys):
    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=6)
    argv = ["embed", str(folder), "--out", str(tmp_path / "c.parquet"), *FAST]
    with_bars = [a for a in argv if a != "--no-progress"]
    assert main(with_bars) == 0  # captured output is not a terminal: no bars
    captured = capsys.readouterr()
    assert "\r" not in captured.err + captured.out and "epoch 1/1: loss " in captured.err
    assert main(argv + ["--no-resume"]) == 0
    assert "epoch 1/1: loss " in capsys.readouterr().err  # kept with --no-progress


def test_help_explains_units_and_what_encoder_ignores(capsys):
    with pytest.raises(SystemExit):
        main(["embed", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "side in pixels" in text and "ignored with --encoder" in text
    assert "images per training step" in text and "random seed of the --train-max sample" in text
    assert "stored in its checkpoint" in text


@pytest.mark.skipif(os.name != "posix", reason="POSIX paths")
def test_stored_path_is_lexical():
    assert stored_path("/a/b/../c/x.png", "/a/out") == "../c/x.png"


def test_ctrl_c_says_the_finished_epochs_are_saved_and_a_rerun_resumes(tmp_path):
    """Ctrl-C during training printed only 'interrupted' (the checkpoint was kept, unsaid)."""
    import signal
    import subprocess
    import sys

    _write_pngs(tmp_path / "a", n=8)
    out = tmp_path / "a.parquet"
    cmd = [sys.executable, "-m", "astroexplore", "embed", str(tmp_path / "a"), "--out", str(out),
           *FAST[:FAST.index("--epochs")], "--epochs", "500", *FAST[FAST.index("--epochs") + 2:]]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # wait until an epoch is saved
        lines.append(line)
        if line.startswith("epoch 2/500"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, "".join(lines) + rest
    assert f"interrupted: the epochs finished so far are saved in {tmp_path / 'a.encoder.pt'}: run the same " \
           "command again to resume" in rest
    assert not out.exists()


def test_a_tables_absolute_image_paths_stay_absolute(tmp_path, capsys):
    """Absolute paths to a shared data area were written as '../../..' paths, which a catalogue
    copied to a folder at another depth lost; a table's relative paths stay relative."""
    src = _table(tmp_path / "proj")  # proj/t.csv listing imgs/gal_*.png (relative)
    t = pd.read_csv(src)
    shared = tmp_path / "shared" / "cutouts"
    shared.mkdir(parents=True)
    shutil.copy(tmp_path / "proj" / t.loc[0, "file"], shared / "far.png")
    t.loc[0, "file"] = str(shared / "far.png")
    t.to_csv(src, index=False)
    out = tmp_path / "proj" / "out" / "cat.parquet"
    assert embed(src, out) == 0, capsys.readouterr().err
    images = load_catalogue(out).table["image"].tolist()
    assert images[0] == str(shared / "far.png") and images[1] == "../imgs/gal_01.png"
    elsewhere = tmp_path / "a" / "b" / "c"
    elsewhere.mkdir(parents=True)
    shutil.copy(out, elsewhere / "cat.parquet")  # the catalogue moved alone
    moved = load_catalogue(elsewhere / "cat.parquet")
    assert image_for(moved, 0) is not None


def test_a_pca_as_wide_as_the_representation_says_it_reduces_nothing(tmp_path, capsys):
    _write_pngs(tmp_path / "a", n=6)
    assert embed(tmp_path / "a", tmp_path / "a.parquet", "--pca", "500") == 0
    assert "note: --pca 500 is not below the representation's 128 dimensions" in capsys.readouterr().err
    assert load_catalogue(tmp_path / "a.parquet").embeddings.shape[1] == 128
