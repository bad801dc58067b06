"""Cross-matching a list of known objects' positions to the catalogue (astroexplore.crossmatch)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky
from astropy.table import Table

from astroexplore.catalogue import Catalogue
from astroexplore.crossmatch import DEFAULT_MATCH_ARCSEC, crossmatch, position_names, read_positions
from astroexplore.errors import CatalogueError
from astroexplore.search import search_by_ids


@pytest.fixture(scope="module")
def cat():
    rng = np.random.default_rng(3)
    n = 5000
    table = pd.DataFrame({"id": [f"g{i}" for i in range(n)], "ra": rng.uniform(359.0, 361.0, n) % 360,
                          "dec": rng.uniform(-1.0, 1.0, n)})
    return Catalogue.from_arrays(rng.normal(size=(n, 8)).astype(np.float32), table=table)


def _offset(ra, dec, east_arcsec, north_arcsec):
    c = SkyCoord(ra * u.deg, dec * u.deg).spherical_offsets_by(east_arcsec * u.arcsec, north_arcsec * u.arcsec)
    return c.ra.deg, c.dec.deg


def test_crossmatch_agrees_with_astropy(cat):
    """Every position, near a galaxy or not, across RA = 0: the same nearest galaxy and separation
    as astropy's match_coordinates_sky, and a match exactly where that separation <= the radius."""
    rng = np.random.default_rng(0)
    rows = rng.choice(cat.n_galaxies, 300, replace=False)
    ra, dec = _offset(cat.ra[rows], cat.dec[rows], rng.normal(0, 4, 300), rng.normal(0, 4, 300))
    m = crossmatch(cat, ra, dec, radius_arcsec=5)
    idx, sep, _ = match_coordinates_sky(SkyCoord(ra * u.deg, dec * u.deg), SkyCoord(cat.ra * u.deg, cat.dec * u.deg))
    np.testing.assert_array_equal(m.nearest, idx)
    np.testing.assert_allclose(m.separation_arcsec, sep.arcsec, rtol=1e-7, atol=1e-6)
    np.testing.assert_array_equal(m.rows, np.where(sep.arcsec <= 5, idx, -1))
    assert 0 < m.n_matched < 300  # the offsets put some positions outside 5 arcsec
    assert (m.ra >= 0).all() and (m.ra < 360).all()


def test_galaxy_rows_count_a_galaxy_once_in_list_order(cat):
    ra = cat.ra[[7, 3, 7, 9]]
    dec = cat.dec[[7, 3, 7, 9]]
    m = crossmatch(cat, np.r_[ra, 10.0], np.r_[dec, 0.0])
    assert m.rows.tolist() == [7, 3, 7, 9, -1]
    assert m.galaxy_rows.tolist() == [7, 3, 9]
    text = m.summary(["A", "B", "C", "D", "far one"])
    assert text.startswith(f"4 of 5 positions matched a catalogue galaxy within {DEFAULT_MATCH_ARCSEC:g} arcsec "
                           "(3 distinct galaxies); not matched: far one (RA 10.00000, Dec +0.00000: nearest ")
    assert "deg)" in text


def test_matched_galaxies_search_like_their_ids(cat):
    rows = np.array([11, 22, 33])
    ra, dec = _offset(cat.ra[rows], cat.dec[rows], 1.0, -1.0)
    m = crossmatch(cat, ra, dec)
    by_position = search_by_ids(cat, None, cat.ids[m.galaxy_rows], k=10)
    by_id = search_by_ids(cat, None, cat.ids[rows], k=10)
    np.testing.assert_array_equal(by_position.indices, by_id.indices)


def test_to_frame_keeps_the_list_columns(cat):
    positions = pd.DataFrame({"name": ["x", "y"], "id": ["L1", "L2"], "score": [5, 4],
                              "ra": [cat.ra[5], 10.0], "dec": [cat.dec[5], 0.0]})
    m = crossmatch(cat, positions["ra"], positions["dec"])
    out = m.to_frame(cat, positions)
    assert list(out.columns) == ["name", "id_list", "score", "ra", "dec", "id", "galaxy_ra", "galaxy_dec",
                                 "separation_arcsec", "n_within_radius", "matched"]
    assert out["id"].tolist() == ["g5", ""] and out["matched"].tolist() == [True, False]
    assert out["separation_arcsec"][0] == pytest.approx(0.0, abs=1e-6)
    assert out["galaxy_ra"][0] == cat.ra[5] and np.isnan(out["galaxy_dec"][1])


@pytest.mark.parametrize("ra, dec, message", [
    ([1.0, np.nan], [0.0, 0.0], "position 2"),
    ([1.0], [95.0], "position 1"),
    ([1.0, 2.0], [0.0], "one length"),
    ([], [], "no positions"),
])
def test_bad_positions_are_named(cat, ra, dec, message):
    with pytest.raises(ValueError, match=message):
        crossmatch(cat, ra, dec)


def test_bad_radius_and_no_coordinates(cat):
    with pytest.raises(ValueError, match="radius"):
        crossmatch(cat, [1.0], [0.0], radius_arcsec=0)
    with pytest.raises(CatalogueError, match="ra"):
        crossmatch(Catalogue.from_arrays(np.zeros((3, 2))), [1.0], [0.0])


# ------------------------------------------------------------------------------- read_positions
def test_text_lines_in_any_form_with_names():
    text = ("# known rings\n150.1 2.2  # NGC A\n\n10:00:24 +02:12:00\n"
            "10h00m24s, +02d12m00s # B\n150.1,-2.2\n")
    p = read_positions(text)
    assert p["line"].tolist() == [2, 4, 5, 6]
    assert p["name"].tolist() == ["NGC A", "", "B", ""]
    np.testing.assert_allclose(p["ra"], [150.1] * 4, atol=1e-9)
    np.testing.assert_allclose(p["dec"], [2.2, 2.2, 2.2, -2.2], atol=1e-9)


def test_text_line_that_is_no_position_names_its_line():
    with pytest.raises(CatalogueError, match=r"the positions: line 3: cannot read a sky position from 'abc'"):
        read_positions("150.1 2.2\n\nabc\n")
    with pytest.raises(CatalogueError, match="no positions"):
        read_positions("# only a comment\n\n")


def test_colon_lines_read_at_once_equal_line_by_line_and_a_bad_one_is_named():
    from astroexplore.search import parse_position

    rng = np.random.default_rng(4)
    c = SkyCoord(rng.uniform(0, 360, 300) * u.deg, rng.uniform(-85, 85, 300) * u.deg)
    lines = [f"{t}  # g{i}" for i, t in enumerate(c.to_string("hmsdms", sep=":", precision=3))]
    p = read_positions("\n".join(lines))
    expected = np.array([parse_position(t.partition("#")[0].strip()) for t in lines])
    np.testing.assert_array_equal(p[["ra", "dec"]].to_numpy(), expected)
    assert p["name"].tolist() == [f"g{i}" for i in range(300)]
    lines[123] = "12:61:00 +10:00:00"
    with pytest.raises(CatalogueError, match="line 124: cannot read a sky position from '12:61:00 "):
        read_positions("\n".join(lines))


def test_text_with_a_header_is_a_table():
    p = read_positions("name\tRAJ2000\tDEJ2000\nA\t150.1\t2.2\nB\t10:00:24\t-02:12:00\n")
    assert p.columns.tolist()[:2] == ["ra", "dec"] and p["name"].tolist() == ["A", "B"]
    np.testing.assert_allclose(p["ra"], [150.1, 150.1], atol=1e-9)
    np.testing.assert_allclose(p["dec"], [2.2, -2.2], atol=1e-9)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".fits"])
def test_table_files(tmp_path, suffix):
    table = pd.DataFrame({"Name": ["A", "B", "C"], "RA_ICRS": [150.1, 359.9, 0.5],
                          "DE_ICRS": [2.2, -0.5, 0.25], "score": [5, 4, 3]})
    path = tmp_path / f"known{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".parquet":
        table.to_parquet(path)
    else:
        Table.from_pandas(table).write(path)
    p = read_positions(path)
    np.testing.assert_allclose(p["ra"], [150.1, 359.9, 0.5])
    np.testing.assert_allclose(p["dec"], [2.2, -0.5, 0.25])
    assert p["Name"].tolist() == ["A", "B", "C"] and "RA_ICRS" in p.columns
    assert read_positions(str(path))["ra"].tolist() == p["ra"].tolist()  # a path given as text


def test_table_errors_name_file_column_and_row(tmp_path):
    path = tmp_path / "known.csv"
    pd.DataFrame({"name": ["A"], "x": [1.0], "y": [2.0]}).to_csv(path, index=False)
    with pytest.raises(CatalogueError, match=r"known.csv: no RA column: looked for ra, raj2000.*the columns are name, x, y"):
        read_positions(path)
    # a CSV is named by its lines as an editor counts them (a note, the header, a blank line above)
    path.write_text("# polar rings, Whitmore et al. 1990\nra,dec\n150.1,2.2\n\noops,1\n3,95\n")
    with pytest.raises(CatalogueError, match=r"known.csv: line 5: cannot read 'oops 1' as a position") as err:
        read_positions(path)
    assert err.value.column == "ra" and err.value.rows == [1]
    path.write_text("ra,dec\n150.1,2.2\n\n3.0,95.0\n")
    with pytest.raises(CatalogueError, match=r"known.csv: line 4: RA 3.0, Dec 95.0 is not a sky position") as err:
        read_positions(path)
    assert err.value.rows == [1]
    # a Parquet table by its 0-based row, as pandas and pyarrow count
    pq = tmp_path / "known.parquet"
    pd.DataFrame({"RAJ2000": [150.1, 3.0, 4.0], "DEJ2000": [2.2, 95.0, 91.0]}).to_parquet(pq)
    with pytest.raises(CatalogueError, match=r"known.parquet: row 1 \(0-based\): RA 3.0, Dec 95.0 .*; 2 such rows") as err:
        read_positions(pq)
    assert err.value.column == "RAJ2000" and err.value.rows == [1]
    with pytest.raises(CatalogueError, match="missing.csv: file not found"):
        read_positions(str(tmp_path / "missing.csv"))


def test_a_position_with_two_galaxies_within_the_radius_is_flagged():
    """Halfway between two galaxies 12 arcsec apart, a position was matched to one of them and
    nothing said the other was as near."""
    table = pd.DataFrame({"id": ["a", "b", "c"], "ra": [150.0, 150.0, 151.0],
                          "dec": [2.0, 2.0 + 12 / 3600, 2.0]})
    two = Catalogue.from_arrays(np.zeros((3, 2), dtype=np.float32), table=table)
    m = crossmatch(two, [150.0, 150.0, 151.0], [2.0 + 6.1 / 3600, 2.0 + 1 / 3600, 2.0], radius_arcsec=12)
    assert m.n_within.tolist() == [2, 2, 1] and m.rows.tolist() == [1, 0, 2]
    assert m.to_frame(two)["n_within_radius"].tolist() == [2, 2, 1]
    said = m.summary(["mid", "near a", "c"])
    assert "2 positions have more than one galaxy within the radius, matched to the nearest" in said
    assert said.endswith("check before labelling): mid, near a")
    assert crossmatch(two, [150.0], [2.0], radius_arcsec=5).n_within.tolist() == [1]


def test_simbad_and_ned_rows_with_bars_keep_the_ras_hours():
    """'A1|10 55 18.22 +03 32 46.5' named the galaxy 'A1|10 55' and searched RA 273.3 deg."""
    text = "A1|10 55 18.22 +03 32 46.5\n1|NGC 4650A |G |12 44 49.0 -40 42 52 |\n"
    got = read_positions(text)
    assert got["ra"].tolist() == pytest.approx([163.8259167, 191.2041667])
    assert got["dec"].tolist() == pytest.approx([3.54625, -40.7144444])
    assert got["name"].tolist() == ["A1", "1 NGC 4650A G"]
    ned = read_positions("Object Name|RA|DEC|Type\nNGC 4650A|195.3|-40.7|G\nA1|10:55:18.22|+03:32:46.5|G\n")
    assert ned["ra"].tolist() == pytest.approx([195.3, 163.8259167]) and ned["Object Name"].tolist() == ["NGC 4650A", "A1"]


def test_a_table_with_ra_in_degrees_and_dec_as_text_keeps_the_degrees():
    """A numeric RA beside a sexagesimal (or U+2212) Dec went to astropy as hours."""
    got = read_positions("RA,Dec\n155.232841,\u221200 12 48.1\n163.8259,+03:32:46.5\n150.1,\u22122.2\n")
    assert got["ra"].tolist() == pytest.approx([155.232841, 163.8259, 150.1])
    assert got["dec"].tolist() == pytest.approx([-0.2133611, 3.54625, -2.2])
    with pytest.raises(CatalogueError, match="line 3: cannot read the Dec 'abc'"):
        read_positions("RA,Dec\n155.2,-00 12 48.1\n163.8,abc\n")


def test_names_before_or_after_a_position_without_a_hash():
    p = read_positions("NGC 4650A 12:44:49 -40:42:52\n12:44:49 -40:42:52 NGC 4650A\n"
                       "2MASX J12445000-4042000 191.2 -40.7\n191.2 -40.7\n")
    assert p["name"].tolist() == ["NGC 4650A", "NGC 4650A", "2MASX J12445000-4042000", ""]
    np.testing.assert_allclose(p["ra"][:2], [191.204167] * 2, atol=1e-6)
    with pytest.raises(CatalogueError, match="line 1: cannot read a sky position from '150.1 2.2 3.3'"):
        read_positions("150.1 2.2 3.3\n")  # three numbers: no word is taken as a name


def test_a_vizier_table_pasted_with_notes_units_and_dashes():
    text = ("#RESOURCE=yCat_J_MNRAS_418_244\n#Name: J/MNRAS/418/244\n\n_RAJ2000\t_DEJ2000\tName\n"
            '"h:m:s"\t"d:m:s"\t\n------------\t------------\t----\n'
            "12 44 49.0\t-40 42 52\tNGC 4650A\n00 36 36.2\t+00 40 51\tUGC 00353\n")
    p = read_positions(text)
    assert p["Name"].tolist() == ["NGC 4650A", "UGC 00353"]
    c = SkyCoord(["12 44 49.0 -40 42 52", "00 36 36.2 +00 40 51"], unit=(u.hourangle, u.deg))
    np.testing.assert_allclose(p["ra"], c.ra.deg, atol=1e-9)
    np.testing.assert_allclose(p["dec"], c.dec.deg, atol=1e-9)
    assert p["line"].tolist() == [7, 8]  # as an editor counts them, after the notes, units and dashes


def test_a_tables_unnamed_positions_are_named_by_their_line_as_its_errors_are(cat):
    """A pasted table's unmatched position was "row 1" where a bad value on it was "line 2"."""
    p = read_positions(f"ra,dec\n\n{cat.ra[3]},{cat.dec[3]}\n10,-50\n")
    assert position_names(p) == ["line 3", "line 4"]
    said = crossmatch(cat, p["ra"], p["dec"]).summary(position_names(p))
    assert "not matched: line 4 (RA 10.00000, Dec -50.00000" in said
    with pytest.raises(CatalogueError, match="line 4: "):
        read_positions("ra,dec\n\n1,2\nx,y\n")


def test_sexagesimal_columns_read_at_once_and_a_bad_row_named(tmp_path):
    rng = np.random.default_rng(2)
    c = SkyCoord(rng.uniform(0, 360, 500) * u.deg, rng.uniform(-80, 80, 500) * u.deg)
    ra_text = c.ra.to_string(u.hourangle, sep=":", precision=3)
    dec_text = c.dec.to_string(sep=":", precision=2, alwayssign=True)
    path = tmp_path / "sx.csv"
    pd.DataFrame({"RAJ2000": ra_text, "DEJ2000": dec_text}).to_csv(path, index=False)
    p = read_positions(path)
    assert np.abs(p["ra"] - c.ra.deg).max() * 3600 < 0.01 and np.abs(p["dec"] - c.dec.deg).max() * 3600 < 0.01
    ra_text[321] = "25:99:00"
    pd.DataFrame({"RAJ2000": ra_text, "DEJ2000": dec_text}).to_csv(path, index=False)
    with pytest.raises(CatalogueError, match=r"line 323: cannot read '25:99:00 ") as err:
        read_positions(path)
    assert err.value.rows == [321]


# ------------------------------------------------------------------------------- real data
def test_decals_rings_found_in_gz2_stripe82_by_their_iau_names(shared_data, tmp_path, capsys):
    """The DECaLS ring set's galaxies are named by position (J000411.19+020924.0); those in Stripe 82
    are found in the GZ2 Stripe 82 catalogue (Willett et al. 2013) through a positions list, as
    astropy matches them, and GZ2's volunteers saw rings in the matched rings far more than in the
    matched non-rings, which says the matches are the same galaxies."""
    import re

    from astroexplore.catalogue import load_catalogue
    from astroexplore.cli import main
    from astroexplore.crossmatch import position_names

    rings = pd.read_csv(shared_data / "decals_rings" / "catalog.csv")
    parts = rings["iauname"].str.extract(r"J(\d\d)(\d\d)(\d\d\.\d+)([+-]\d\d)(\d\d)(\d\d\.\d+)")
    lines = [f"{a}:{b}:{c} {d}:{e}:{f}  # {name}" for (a, b, c, d, e, f), name
             in zip(parts.itertuples(index=False), rings["iauname"])]
    positions = read_positions("\n".join(lines))
    assert position_names(positions) == rings["iauname"].tolist()
    gz2_path = shared_data / "gz2_stripe82" / "gz2_stripe82_table5.csv.gz"
    gz2 = load_catalogue(gz2_path, embedding_columns="*_debiased")
    m = crossmatch(gz2, positions["ra"], positions["dec"], radius_arcsec=5)
    reference = match_coordinates_sky(SkyCoord(positions["ra"].to_numpy() * u.deg, positions["dec"].to_numpy() * u.deg),
                                      SkyCoord(gz2.ra * u.deg, gz2.dec * u.deg))
    np.testing.assert_array_equal(m.rows, np.where(reference[1].arcsec <= 5, reference[0], -1))
    assert m.n_matched >= 30  # the Stripe 82 strip holds a few dozen of the 470
    ring_fraction = gz2.table["t08_odd_feature_a19_ring_debiased"].to_numpy()
    is_ring = rings["ring"].to_numpy() == 1
    in_rings = ring_fraction[m.rows[m.matched & is_ring]]
    in_others = ring_fraction[m.rows[m.matched & ~is_ring]]
    assert len(in_rings) >= 10 and len(in_others) >= 5
    assert np.nanmean(in_rings) > np.nanmean(in_others) + 0.2 > np.nanmean(ring_fraction) + 0.2
    # the command line gives the same matches
    text = tmp_path / "rings.txt"
    text.write_text("\n".join(lines))
    out = tmp_path / "rings_in_gz2.csv"
    assert main(["match", str(gz2_path), str(text), str(out), "--embedding-columns", "*_debiased"]) == 0
    said = capsys.readouterr().out
    assert re.match(rf"{m.n_matched} of 470 positions matched a catalogue galaxy within 5 arcsec", said)
    table = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)
    assert table.loc[table["matched"], "id"].tolist() == [str(gz2.ids[r]) for r in m.rows[m.matched]]


def test_a_csv_without_a_header_is_one_position_a_line(tmp_path):
    path = tmp_path / "known.csv"
    path.write_text("150.1,2.2\n10:00:24,+02:12:00\n")
    p = read_positions(path)
    np.testing.assert_allclose(p["ra"], [150.1, 150.1], atol=1e-9)
    assert p["line"].tolist() == [1, 2]
    gz = tmp_path / "known.csv.gz"
    pd.DataFrame({"ra": [150.1], "dec": [2.2]}).to_csv(gz, index=False)
    assert read_positions(gz)["dec"].tolist() == [2.2]
