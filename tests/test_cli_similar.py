"""`astroexplore similar`: the galaxies most like a galaxy, a position, a list of known objects or a
tag's galaxies, written with their catalogue columns; a link copied from the app's Similarity tab
gives the galaxies that tab shows."""
from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import load_catalogue
from astroexplore.cli import main
from astroexplore.labels import LabelStore, default_store_path
from astroexplore.search import search_by_coords, search_by_ids, search_by_index

N = 500


@pytest.fixture
def survey(tmp_path):
    """500 galaxies in a 10 x 10 deg field, three clusters in a 6-d embedding, a magnitude column."""
    rng = np.random.default_rng(11)
    centre = rng.integers(0, 3, N)
    emb = rng.normal(size=(N, 6)) + 4 * np.eye(3, 6)[centre]
    df = pd.DataFrame({"id": [f"gal{i:04d}" for i in range(N)], "ra": rng.uniform(150, 160, N),
                       "dec": rng.uniform(-5, 5, N), "mag_r": rng.uniform(14, 18, N).round(2)})
    for j in range(6):
        df[f"feat_{j}"] = emb[:, j]
    path = tmp_path / "survey.parquet"
    df.to_parquet(path, index=False)
    return path


def test_from_a_galaxy_it_writes_its_nearest_with_their_catalogue_columns(survey, tmp_path, capsys, read_table):
    cat = load_catalogue(survey)
    out = tmp_path / "near.csv"
    assert main(["similar", str(survey), str(out), "--galaxy", "GAL0007", "--k", "12"]) == 0  # case forgiven
    assert "wrote 12 galaxies similar to gal0007" in capsys.readouterr().out
    table = read_table(out)
    expected = search_by_index(cat, None, 7, 12)
    assert table["id"].tolist() == list(cat.ids[expected.indices])
    assert np.allclose(table["distance"], expected.distances, atol=1e-5)
    assert list(table.columns[:4]) == ["id", "ra", "dec", "distance"] and "mag_r" in table.columns
    rows = cat.indices_of(table["id"])
    assert np.allclose(table["mag_r"], cat.table["mag_r"].to_numpy()[rows])
    assert "gal0007" not in set(table["id"])
    # --user with no label store yet: nobody has scored them
    assert main(["similar", str(survey), str(out), "--galaxy", "gal0007", "--k", "3", "--user", "ada"]) == 0
    table = read_table(out)
    assert table["your_score"].isna().all() and len(table) == 3
    assert not default_store_path(survey).exists()  # read only: no store left beside the catalogue
    assert main(["similar", str(survey), str(out), "--galaxy", "gal0007", "--k", "1"]) == 0
    assert "wrote 1 galaxy similar to gal0007" in capsys.readouterr().out  # not "1 galaxies"
    from astroexplore.similar import from_galaxy

    with pytest.raises(TypeError, match=r"pass catalogue.index_of\('gal0007'\)"):
        from_galaxy(cat, None, "gal0007", 3)


def test_from_a_position_in_degrees_sexagesimal_or_a_viewer_link(survey, tmp_path, capsys, read_table):
    cat = load_catalogue(survey)
    expected = search_by_coords(cat, None, 155.0, 0.5, 24)
    for text in ["155 0.5", "10:20:00 +00:30:00",
                 "https://www.legacysurvey.org/viewer?ra=155.0&dec=0.5&layer=ls-dr10&zoom=14"]:
        out = tmp_path / "near.parquet"
        assert main(["similar", str(survey), str(out), "--position", text]) == 0
        said = capsys.readouterr().out
        assert "the nearest catalogue galaxy to RA 155.00000, Dec +0.50000" in said and "query: position:155,0.5" in said
        assert read_table(out)["id"].tolist() == list(cat.ids[expected.indices])
    # outside the survey: refused, nothing written
    out = tmp_path / "far.csv"
    assert main(["similar", str(survey), str(out), "--position", "10 -80"]) == 1
    assert "RA 10.00000, Dec -80.00000 is outside the survey: no catalogue galaxy within 5 deg" in capsys.readouterr().err
    assert not out.exists()


def test_from_a_tag_in_the_label_store(survey, tmp_path, capsys, read_table):
    cat = load_catalogue(survey)
    out = tmp_path / "rings.csv"
    assert main(["similar", str(survey), str(out), "--tag", "#ring"]) == 1
    err = capsys.readouterr().err
    assert "no galaxy carries the tag #ring" in err and "no label store at" in err
    with LabelStore(default_store_path(survey)) as store:
        store.add(cat.ids[3], 5, user="ada", tags=["#ring"])
        store.add(cat.ids[40], 4, user="bob", tags=["#ring", "#lens"])
        store.add(cat.ids[41], 2, user="bob", tags=["#lens"])
    assert main(["similar", str(survey), str(out), "--tag", "Ring", "--k", "10"]) == 0  # as the store writes it
    assert "similar to the 2 tagged #ring" in capsys.readouterr().out
    expected = search_by_ids(cat, None, [cat.ids[3], cat.ids[40]], 10)
    assert read_table(out)["id"].tolist() == list(cat.ids[expected.indices])
    assert "your_score" not in read_table(out).columns
    # --user: which of them that user scored already (bob labels one of the galaxies found)
    with LabelStore(default_store_path(survey)) as store:
        store.add(cat.ids[expected.indices[2]], 3, user="bob", tags=["#arc"])
    assert main(["similar", str(survey), str(out), "--tag", "#ring", "--k", "10", "--user", "bob"]) == 0
    table = read_table(out)
    assert table["your_score"].notna().sum() == 1 and table["your_score"].iloc[2] == 3
    assert table["tags"].iloc[2] == "#arc" and list(table.columns[4:6]) == ["your_score", "tags"]
    # another store, named
    other = tmp_path / "other.labels.sqlite"
    with LabelStore(other) as store:
        store.add(cat.ids[9], 5, user="ada", tags=["#ring"])
    assert main(["similar", str(survey), str(out), "--tag", "#ring", "--labels", str(other), "--k", "10"]) == 0
    assert read_table(out)["id"].tolist() == list(cat.ids[search_by_index(cat, None, 9, 10).indices])
    assert main(["similar", str(survey), str(out), "--tag", "#ring", "--labels", str(tmp_path / "no.sqlite")]) == 1
    assert "no label store here" in capsys.readouterr().err


def test_from_known_objects_the_unmatched_are_named(survey, tmp_path, capsys, read_table):
    cat = load_catalogue(survey)
    positions = tmp_path / "known.csv"
    pd.DataFrame({"name": ["NGC 1", "far away"], "ra": [cat.ra[5] + 1e-4, 10.0],
                  "dec": [cat.dec[5], -80.0]}).to_csv(positions, index=False)
    out = tmp_path / "near.csv"
    assert main(["similar", str(survey), str(out), "--positions", str(positions), "--k", "6"]) == 0
    said = capsys.readouterr()
    assert "similar to the 1 catalogue galaxy matched to 1 of 2 positions (within 5 arcsec)" in said.out
    assert "not matched: far away" in said.err
    assert read_table(out)["id"].tolist() == list(cat.ids[search_by_ids(cat, None, [cat.ids[5]], 6).indices])
    # a link's list has no names: its positions are numbered in the link's order
    link = f"http://h/?search={quote(f'positions:5;10,-80;{cat.ra[5]},{cat.dec[5]}')}&k=6"
    assert main(["similar", str(survey), str(out), "--link", link]) == 0
    assert "not matched: position 1 (RA 10.00000, Dec -80.00000" in capsys.readouterr().err
    assert read_table(out)["id"].tolist() == list(cat.ids[search_by_ids(cat, None, [cat.ids[5]], 6).indices])


def test_a_link_copied_from_the_similarity_tab_gives_the_galaxies_it_shows(survey, tmp_path, capsys, read_table):
    """The search, its number of results and the filter of an app window's address."""
    pytest.importorskip("panel")
    from astroexplore.column_filter import ColumnRange
    from astroexplore.explorer import Explorer
    from astroexplore.ui.address import query_string, state_query
    from astroexplore.ui.similarity import FROM_POSITION, FROM_TAG, SimilarityView
    from astroexplore.ui.state import AppState

    cat = load_catalogue(survey)
    with LabelStore(default_store_path(survey)) as store:
        store.add(cat.ids[12], 5, user="ada", tags=["#ring"])
        store.add(cat.ids[30], 4, user="ada", tags=["#ring"])
        state = AppState(explorer=Explorer(cat, store, user="ada"))
        state.column_ranges = (ColumnRange("mag_r", 15.0, 17.0),)
        view = SimilarityView(state=state)
        shown = {}
        for mode, setting in [(FROM_TAG, {"tag": "#ring"}), (FROM_POSITION, {"position": "156.2 -1.5"})]:
            view.param.update(mode=mode, k=9, **setting)
            view.search()
            link = f"http://localhost:5006/?{query_string(state_query(state))}"
            shown[link] = view.results["id"].tolist()
    for link, ids in shown.items():
        assert "search=" in link and "k=9" in link and "ranges=" in link
        out = tmp_path / "near.csv"
        assert main(["similar", str(survey), str(out), "--link", link]) == 0
        assert "that pass the filter" in capsys.readouterr().out
        table = read_table(out)
        assert table["id"].tolist() == ids and len(ids) == 9
        assert table["mag_r"].between(15.0, 17.0).all()
    # an option beside the link wins: no filter, 4 results
    assert main(["similar", str(survey), str(out), "--link", link, "--ranges", "", "--k", "4"]) == 0
    assert len(read_table(out)) == 4 and "pass the filter" not in capsys.readouterr().out
    assert main(["similar", str(survey), str(out), "--link", "http://h/?tab=similarity"]) == 1
    assert "this link holds no similarity search" in capsys.readouterr().err
    assert main(["similar", str(survey), str(out), "--link", f"http://h/?search={quote('galaxy:nope')}"]) == 1
    assert "search 'galaxy:nope': galaxy 'nope' is not in this catalogue" in capsys.readouterr().err


def test_one_query_and_a_table_suffix_are_required(survey, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["similar", str(survey), str(tmp_path / "a.csv")])
    assert "one of the arguments --galaxy --position --positions --tag --link is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["similar", str(survey), str(tmp_path / "a.csv"), "--galaxy", "gal0001", "--tag", "#x"])
    assert main(["similar", str(survey), str(tmp_path / "a.txt"), "--galaxy", "gal0001"]) == 1
    assert "write the similar galaxies to a .csv, .parquet or .fits file" in capsys.readouterr().err


def test_a_catalogue_without_positions_says_so_once(tmp_path, capsys, read_table):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"x{i}" for i in range(50)], **{f"feat_{j}": rng.normal(size=50) for j in range(4)}})
    path = tmp_path / "nosky.parquet"
    df.to_parquet(path)
    (tmp_path / "pos.txt").write_text("150.1 2.2\n")
    out = tmp_path / "a.csv"
    assert main(["similar", str(path), str(out), "--position", "10 10"]) == 1
    assert capsys.readouterr().err == f"error: {path}: search 'position:10,10': this catalogue has no RA / Dec\n"
    assert main(["similar", str(path), str(out), "--positions", str(tmp_path / "pos.txt")]) == 1
    err = capsys.readouterr().err
    assert err.count(str(path)) == 1 and "cannot be searched by sky position" in err
    assert main(["similar", str(path), str(out), "--galaxy", "x1", "--k", "100"]) == 0  # every other galaxy
    assert list(read_table(out).columns) == ["id", "distance"] and len(read_table(out)) == 49


@pytest.mark.parametrize("argv, said", [
    (["--link", "http://h/?search=galaxy:gal0001&k=5000"],
     "error: --link: k '5000': the number of results is a whole number from 1 to 1000"),  # as the tab says
    (["--link", "http://h/?search=galaxy:gal0001&k=%C2%B2"], "error: --link: k '²': the number of results"),
    (["--link", "http://h/?search=galaxy:gal0001&k=0"], "error: --link: k '0': the number of results is a whole number"),
    (["--link", "http://h/?serch=galaxy:gal0001"],
     "error: --link: 'serch' is not part of an app link. Did you mean 'search'? similar reads its search, k,"),
    (["--link", "http://h/?search=tag:#ring"], "error: --link: its search 'tag:' names no tag (a '#' in a link is written %23"),
    (["--link", "http://h/?search=positions:5;150,95"],
     "search 'positions:5;150,95': position 1 (RA 150.0, Dec 95.0) is not a sky position"),
    (["--position", "abc"], "error: --position: cannot read a sky position from 'abc'"),
    (["--tag", "#"], "error: --tag: tag '#' is not valid"),
    (["--galaxy", "gal0001", "--radius", "5"], "error: --radius goes with --positions"),
    (["--positions", "known.csv", "--radius", "5000"], "error: --radius: the match radius is 5000 arcsec: give 0.1 to 3600"),
    (["--galaxy", "gal0001", "--user", " "], "error: --user: give a user name"),
])
def test_an_option_that_does_not_fit_is_named(survey, tmp_path, capsys, monkeypatch, argv, said):
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"ra": [155.0], "dec": [0.0]}).to_csv("known.csv", index=False)
    assert main(["similar", str(survey), "out.csv", *argv]) == 1
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1
    assert not (tmp_path / "out.csv").exists()


def test_a_galaxy_typed_in_another_case_with_a_trailing_zero_is_found(survey, tmp_path, capsys, read_table):
    """Case alone and '.0' alone were forgiven, both together not."""
    out = tmp_path / "s.csv"
    assert main(["similar", str(survey), str(out), "--galaxy", "GAL0007.0", "--k", "3"]) == 0
    assert "similar to gal0007" in capsys.readouterr().out and len(read_table(out)) == 3


def test_a_link_part_similar_does_not_know_is_said_and_left_out(survey, tmp_path, capsys, read_table):
    out = tmp_path / "s.csv"
    assert main(["similar", str(survey), str(out), "--link", "http://h/?search=galaxy:gal0007&kk=4"]) == 0
    err = capsys.readouterr().err
    assert err == ("warning: --link: 'kk' is not part of an app link. Did you mean 'k'? similar reads its "
                   "search, k, answers and ranges; left out\n")
    assert len(read_table(out)) == 24


def test_k_is_at_most_every_other_galaxy_and_an_unknown_user_is_said(survey, tmp_path, capsys, read_table):
    out = tmp_path / "all.csv"
    assert main(["similar", str(survey), str(out), "--galaxy", "gal0001", "--k", "20000000"]) == 0
    assert len(read_table(out)) == N - 1  # not an array of 20 million rows
    with LabelStore(default_store_path(survey)) as store:
        store.add("gal0002", 4, user="ada")
    assert main(["similar", str(survey), str(out), "--galaxy", "gal0001", "--user", "Ada"]) == 0
    assert "warning: Ada has no labels in" in capsys.readouterr().err
    assert main(["similar", str(survey), str(out), "--galaxy", "gal0001", "--user", "ada"]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("command, victim", [
    (["similar", "{cat}", "{out}", "--galaxy", "gal0001"], "cat"),
    (["similar", "{cat}", "{out}", "--positions", "{pos}"], "pos"),
    (["rank", "{cat}", "{out}"], "cat"),
    (["match", "{cat}", "{pos}", "{out}"], "cat"),
    (["match", "{cat}", "{pos}", "{out}"], "pos"),
    (["labels", "finds", "{cat}", "{out}"], "cat"),
])
def test_a_table_is_never_written_over_a_file_the_command_reads(survey, tmp_path, capsys, command, victim):
    """`similar cat.parquet cat.parquet` replaced the catalogue with its 24 rows (so did rank, match
    and labels finds)."""
    pos = tmp_path / "known.csv"
    pd.DataFrame({"ra": [155.0], "dec": [0.0]}).to_csv(pos, index=False)
    LabelStore(default_store_path(survey)).close()  # labels finds needs a store
    target = {"cat": survey, "pos": pos}[victim]
    before = target.read_bytes()
    spelled = tmp_path / ".." / tmp_path.name / target.name  # another spelling of the same file
    argv = [a.format(cat=survey, pos=pos, out=spelled) for a in command]
    assert main(argv) == 1
    assert "this command reads; write" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_a_search_that_finds_nothing_writes_the_columns_all_the_same(survey, tmp_path, capsys, read_table):
    """A filter that only the query galaxy passes: no rows, but the file's columns are those of
    any other search (a script reading several such files concatenates them)."""
    cat = load_catalogue(survey)
    mags = cat.table["mag_r"]
    row = int(np.flatnonzero(~mags.duplicated(keep=False).to_numpy())[0])  # a magnitude no other galaxy has
    out = tmp_path / "none.parquet"
    assert main(["similar", str(survey), str(out), "--galaxy", cat.ids[row],
                 "--ranges", f"mag_r:{mags.iloc[row]}..{mags.iloc[row]}"]) == 0
    table = read_table(out)
    assert len(table) == 0 and list(table.columns) == ["id", "ra", "dec", "distance", "mag_r"]
    assert f"wrote 0 galaxies similar to {cat.ids[row]}" in capsys.readouterr().out
