"""``astroexplore validate``: summary on a good catalogue, an actionable error on a bad one."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from astroexplore.cli import main


def write_catalogue(tmp_path: Path, *, bad: bool = False) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id_str": [f"g{i}" for i in range(20)], "ra": rng.uniform(0, 360, 20),
                       "dec": rng.uniform(-90, 90, 20)})
    for j in range(4):
        df[f"feat_pca_{j}"] = rng.normal(size=20)
    if bad:
        df.loc[7, "feat_pca_2"] = np.nan
    path = tmp_path / ("bad.parquet" if bad else "good.parquet")
    df.to_parquet(path, index=False)
    return path


def test_validate_good(tmp_path, capsys):
    assert main(["validate", str(write_catalogue(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "good.parquet" in out and "galaxies:     20" in out and "features:     4" in out


def test_validate_bad(tmp_path, capsys):
    assert main(["validate", str(write_catalogue(tmp_path, bad=True))]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.parquet" in err
    assert "'feat_pca_2'" in err and "row 7, id 'g7'" in err


def test_validate_options(tmp_path, capsys):
    np.save(tmp_path / "emb.npy", np.ones((3, 2), np.float32))
    pd.DataFrame({"name": ["a", "b", "c"]}).to_csv(tmp_path / "ids.csv", index=False)
    args = ["validate", str(tmp_path / "emb.npy"), "--ids", str(tmp_path / "ids.csv")]
    assert main(args + ["--id-column", "name"]) == 0
    assert main(args + ["--id-column", "nmae"]) == 1
    assert "Did you mean 'name'?" in capsys.readouterr().err


def test_validate_subprocess(tmp_path):
    exe = Path(sys.executable).with_name("astroexplore")
    if not exe.exists():
        pytest.skip(f"console script not installed beside {sys.executable}")
    good = subprocess.run([str(exe), "validate", str(write_catalogue(tmp_path))],
                          capture_output=True, text=True, timeout=120, check=False)
    assert good.returncode == 0, good.stderr
    assert "galaxies:     20" in good.stdout
    bad = subprocess.run([str(exe), "validate", str(write_catalogue(tmp_path, bad=True))],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode != 0 and "feat_pca_2" in bad.stderr and bad.stdout == ""


def test_validate_warns_of_image_files_that_are_not_there(tmp_path, capsys):
    """A catalogue moved without its cutouts validated clean; the app then showed placeholders."""
    from PIL import Image

    (tmp_path / "cutouts").mkdir()
    df = pd.DataFrame({"id": ["a", "b", "c", "d"], "feat_0": [1.0, 2, 3, 4], "feat_1": [4.0, 3, 2, 1],
                       "image": ["cutouts/a.png", "cutouts/b.png", "cutouts/gone.png",
                                 "https://example.org/d.jpg"]})
    for name in ("a", "b"):
        Image.new("RGB", (8, 8)).save(tmp_path / "cutouts" / f"{name}.png")
    path = tmp_path / "cat.parquet"
    df.to_parquet(path, index=False)
    assert main(["validate", str(path)]) == 0  # a warning, not an error: the catalogue loads
    out = capsys.readouterr().out
    assert "WARNING: 1 of 3 image files checked are not found" in out
    assert str(tmp_path / "cutouts" / "gone.png") in out
    (tmp_path / "cutouts" / "gone.png").write_bytes((tmp_path / "cutouts" / "a.png").read_bytes())
    assert main(["validate", str(path)]) == 0 and "WARNING" not in capsys.readouterr().out


def test_npy_without_ids_warns_that_ids_are_row_numbers(tmp_path, capsys):
    np.save(tmp_path / "emb.npy", np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    assert main(["validate", str(tmp_path / "emb.npy")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "numbered 0..49 in file order" in err and "--ids" in err
    assert "UserWarning" not in err
    from astroexplore.catalogue import load_catalogue
    with pytest.warns(UserWarning, match="no ids given"):
        load_catalogue(tmp_path / "emb.npy")


@pytest.mark.shared_data
def test_gz2_fractions_chooses_the_flavour_the_filter_reads(shared_data, tmp_path, capsys):
    """GZ2's debiased fractions (Willett et al. 2013's advice for morphology samples) could be
    chosen in Python only: the CLI and the app always filtered on the raw ones."""
    table = shared_data / "gz2_stripe82" / "gz2_stripe82_table5.csv.gz"
    base = [str(table), "--embedding-columns", "*_debiased"]
    assert main(["validate", *base, "--gz2-fractions", "debiased"]) == 0
    assert "schema:       GZ2 (debiased)" in capsys.readouterr().out
    out = tmp_path / "featured.csv"
    counts = {}
    for flavour in ("fraction", "debiased"):
        assert main(["rank", *base, str(out), "--gz2-fractions", flavour, "--top", "20000",
                     "--answers", "t01_smooth_or_features:a02_features_or_disk:0.5.."]) == 0
        counts[flavour] = len(pd.read_csv(out))
    raw = pd.read_csv(table, usecols=["t01_smooth_or_features_a02_features_or_disk_fraction",
                                      "t01_smooth_or_features_a02_features_or_disk_debiased"])
    assert counts == {"fraction": int((raw.iloc[:, 0] >= 0.5).sum()), "debiased": int((raw.iloc[:, 1] >= 0.5).sum())}
    assert counts["fraction"] != counts["debiased"]
    demo = tmp_path / "demo.csv"
    pd.DataFrame({"id": ["a", "b"], "f_0": [1.0, 2.0], "f_1": [0.0, 1.0]}).to_csv(demo, index=False)
    assert main(["validate", str(demo), "--gz2-fractions", "debiased"]) == 1
    assert "schema 'GZ2 (debiased)': none of its vote columns" in capsys.readouterr().err
