"""`astroexplore match`: a list of known objects' positions found in the catalogue, written with the
list's own columns (so that a score / tags column imports as labels)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from astroexplore.catalogue import load_catalogue
from astroexplore.cli import main
from astroexplore.labels import LabelStore

N = 300


@pytest.fixture
def survey(tmp_path):
    rng = np.random.default_rng(8)
    df = pd.DataFrame({"id": [f"obj{i:04d}" for i in range(N)], "ra": rng.uniform(149, 151, N),
                       "dec": rng.uniform(1, 3, N), "mag_r": rng.uniform(14, 18, N)})
    for j in range(4):
        df[f"feat_{j}"] = rng.normal(size=N)
    path = tmp_path / "survey.parquet"
    df.to_parquet(path, index=False)
    return path


def test_a_paper_table_matches_and_imports_as_labels(survey, tmp_path, capsys):
    cat = load_catalogue(survey)
    arcsec = 1 / 3600
    known = pd.DataFrame({"Name": ["Ring A", "Ring B", "Elsewhere"],
                          "RAJ2000": [cat.ra[10] + 1.5 * arcsec, cat.ra[20], 200.0],
                          "DEJ2000": [cat.dec[10], cat.dec[20] - 2 * arcsec, -30.0],
                          "score": [5, 4, 5], "tags": ["#polar_ring", "#polar_ring", "#polar_ring"]})
    positions = tmp_path / "known.csv"
    known.to_csv(positions, index=False)
    out = tmp_path / "matched" / "known_matched.csv"  # its folder is made
    assert main(["match", str(survey), str(positions), str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("2 of 3 positions matched a catalogue galaxy within 5 arcsec; not matched: "
                           "Elsewhere (RA 200.00000, Dec -30.00000: nearest ")
    table = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)
    assert table["id"].tolist() == ["obj0010", "obj0020", ""]
    assert table["Name"].tolist() == known["Name"].tolist() and table["matched"].tolist() == [True, True, False]
    sep = pd.to_numeric(table["separation_arcsec"])
    assert sep[0] == pytest.approx(1.5 * np.cos(np.radians(cat.dec[10])), rel=1e-3)
    assert sep[1] == pytest.approx(2.0, rel=1e-3) and sep[2] > 3600
    # the matched rows are a label file: the list's own score and tags go into the store
    matched = tmp_path / "to_import.csv"
    table[table["matched"]][["id", "score", "tags"]].to_csv(matched, index=False)
    store = tmp_path / "labels.sqlite"
    assert main(["labels", "import", str(store), str(matched), "--user", "ada", "--catalogue", str(survey)]) == 0
    with LabelStore(store) as s:
        assert sorted(s.tagged("#polar_ring")) == ["obj0010", "obj0020"]


def test_text_list_to_fits(survey, tmp_path, capsys):
    cat = load_catalogue(survey)
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(cat.ra[7] * u.deg, cat.dec[7] * u.deg).to_string("hmsdms", sep=":", precision=3)
    positions = tmp_path / "known.txt"
    positions.write_text(f"# from a paper\n{c}  # the one\n{cat.ra[8]:.6f} {cat.dec[8]:.6f}\n")
    out = tmp_path / "known.fits"
    assert main(["match", str(survey), str(positions), str(out), "--radius", "1"]) == 0
    fits = Table.read(out)
    assert list(fits["id"]) == ["obj0007", "obj0008"] and fits["name"][0] == "the one"
    assert list(fits["line"]) == [2, 3] and str(fits["galaxy_ra"].unit) == "deg"
    assert "2 of 2 positions matched a catalogue galaxy within 1 arcsec." in capsys.readouterr().out


def test_a_lists_own_ra_dec_columns_do_not_clash_with_ours_in_fits(survey, tmp_path):
    """FITS compares column names without regard to case: the list's 'RA' beside our 'ra' made
    astropy's readers fail ("Ambiguous key name"); the separation had no unit."""
    from astropy.io import fits as pyfits

    cat = load_catalogue(survey)
    positions = tmp_path / "known.csv"
    pd.DataFrame({"Name": ["a"], "RA": [cat.ra[3]], "Dec": [cat.dec[3]]}).to_csv(positions, index=False)
    out = tmp_path / "known.fits"
    assert main(["match", str(survey), str(positions), str(out)]) == 0
    with pyfits.open(out) as hdus:
        data, columns = hdus[1].data, hdus[1].columns
        assert data.field("ra")[0] == pytest.approx(cat.ra[3]) and float(data.field("RA_2")[0]) == pytest.approx(cat.ra[3])
        assert columns["separation_arcsec"].unit == "arcsec" and columns["ra"].unit == "deg"
        names = [n.lower() for n in columns.names]
        assert len(names) == len(set(names))


@pytest.mark.parametrize("content, argv_extra, message", [
    ("a,b\n1,2\n", [], "no RA column"),
    ("ra,dec\n150,2\nnot,here\n", [], "line 3: cannot read 'not here' as a position"),
    ("ra,dec\n150,2\n", ["--out-suffix"], None),
])
def test_bad_lists_are_one_error_line(survey, tmp_path, capsys, content, argv_extra, message):
    positions = tmp_path / "known.csv"
    positions.write_text(content)
    if message is None:  # a wrong output suffix is refused before any work
        assert main(["match", str(survey), str(positions), str(tmp_path / "out.txt")]) == 1
        assert "write the matches to a .csv, .parquet or .fits file" in capsys.readouterr().err
        return
    assert main(["match", str(survey), str(positions), str(tmp_path / "out.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {positions}: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


def test_radius_must_be_positive(survey, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["match", str(survey), "x.csv", "y.csv", "--radius", "0"])
    assert "must be a number > 0" in capsys.readouterr().err


def test_match_label_scores_the_matched_galaxies_in_the_store_beside_the_catalogue(survey, tmp_path, capsys):
    from astroexplore.labels import default_store_path

    cat = load_catalogue(survey)
    positions = tmp_path / "known.txt"
    positions.write_text("".join(f"{cat.ra[i]:.6f} {cat.dec[i]:.6f}  # ring {i}\n" for i in (3, 9, 3)) + "200 -30\n")
    with LabelStore(default_store_path(survey), valid_ids=cat.ids) as s:
        s.add("obj0009", 2, user="ada", tags="#bar")
    out = tmp_path / "m.csv"
    argv = ["match", str(survey), str(positions), str(out), "--label", "5", "--tags", "#polar-ring", "--user", "ada"]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert said.splitlines()[-1] == (f"Stored 2 labels: 1 scored 5 #polar-ring; 1 you had scored keep their score, "
                                     f"#polar-ring added. (in {default_store_path(survey)}, as ada)")
    with LabelStore(default_store_path(survey), read_only=True) as s:
        mine = s.latest(user="ada").set_index("id")
        assert mine.loc["obj0003", "score"] == 5 and mine.loc["obj0009", "score"] == 2
        assert sorted(s.tagged("#polar-ring")) == ["obj0003", "obj0009"]
    # the options of --label without it are an error, before anything is written
    other = tmp_path / "other.csv"
    assert main(["match", str(survey), str(positions), str(other), "--tags", "#x"]) == 1
    assert "--tags goes with --label SCORE" in capsys.readouterr().err and not other.exists()
    with pytest.raises(SystemExit):  # argparse: 0-5
        main(["match", str(survey), str(positions), str(other), "--label", "7"])
    assert "invalid choice: 7 (choose from 0, 1, 2, 3, 4, 5)" in capsys.readouterr().err
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("200 -30\n")
    assert main(["match", str(survey), str(elsewhere), str(other), "--label", "4"]) == 1
    assert "no position matched a galaxy: nothing to label" in capsys.readouterr().err
    assert main(["match", str(survey), str(positions), str(other), "--label", "4", "--tags", "#a#b",
                 "--labels", str(tmp_path / "new.sqlite")]) == 1
    assert "tag" in capsys.readouterr().err and not (tmp_path / "new.sqlite").exists()
