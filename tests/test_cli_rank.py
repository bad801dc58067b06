"""`astroexplore rank`: the top N of a ranking, learnt from the stored labels, filtered as a link
says, written as the app's "Top N (CSV)" writes it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import load_catalogue
from astroexplore.cli import main
from astroexplore.explorer import Explorer
from astroexplore.filter_text import decode_answers, decode_ranges, selection_mask
from astroexplore.labels import LabelStore, default_store_path

N = 400


@pytest.fixture
def survey(tmp_path):
    rng = np.random.default_rng(5)
    smooth = rng.uniform(0, 1, N)
    df = pd.DataFrame({"id": [f"obj{i:04d}" for i in range(N)], "ra": rng.uniform(0, 360, N),
                       "dec": rng.uniform(-20, 20, N), "mag_r": rng.uniform(14, 18, N),
                       "smooth-or-featured_smooth_fraction": smooth,
                       "smooth-or-featured_featured-or-disk_fraction": 0.9 * (1 - smooth),
                       "smooth-or-featured_artifact_fraction": 0.1 * (1 - smooth)})
    emb = rng.normal(size=(N, 6))
    emb[:8] += 6  # a few outliers
    for j in range(6):
        df[f"feat_{j}"] = emb[:, j]
    path = tmp_path / "survey.parquet"
    df.to_parquet(path, index=False)
    return path


def test_without_labels_it_writes_the_anomaly_ranking_and_leaves_no_store(survey, tmp_path, capsys, read_table):
    out = tmp_path / "top.csv"
    assert main(["rank", str(survey), str(out), "--top", "25"]) == 0
    said = capsys.readouterr().out
    assert "wrote the top 25 galaxies by combined, no labels to learn from" in said
    table = read_table(out)
    assert table["rank"].tolist() == list(range(1, 26)) and table["predicted_interest"].isna().all()
    assert set(table["id"][:8]) == {f"obj{i:04d}" for i in range(8)}  # the outliers first
    assert not default_store_path(survey).exists()


def test_it_learns_from_the_stored_labels_and_applies_the_filter(survey, tmp_path, capsys, read_table):
    cat = load_catalogue(survey)
    with LabelStore(default_store_path(survey)) as store:
        for i in range(12):
            store.add(cat.ids[i], 5 if i % 2 else 0, user="ada")
    out = tmp_path / "top.parquet"
    answers, ranges = "smooth-or-featured:featured-or-disk:0.4..", "mag_r:..17.5"
    argv = ["rank", str(survey), str(out), "--top", "30", "--answers", answers, "--ranges", ranges]
    assert main(argv) == 0
    said = capsys.readouterr().out
    mask = selection_mask(cat, decode_answers(answers, cat.schema)[0], decode_ranges(ranges, cat)[0])
    assert f"({mask.sum():,} of {N} pass the filter), learnt from 12 labels" in said
    table = read_table(out)
    assert len(table) == 30 and (table["mag_r"] <= 17.5).all()
    rows = cat.indices_of(table["id"])
    assert (cat.table["smooth-or-featured_featured-or-disk_fraction"].to_numpy()[rows] >= 0.4).all()
    # the list carries the vote fraction it was cut on (a follow-up list lacked it)
    assert (table["smooth-or-featured_featured-or-disk_fraction"] >= 0.4).all()
    assert "smooth-or-featured_smooth_fraction" not in table.columns  # only what the filter read
    assert table["predicted_interest"].notna().all() and (table["n_labels"] == 0).all()  # unlabelled first
    with LabelStore(default_store_path(survey), read_only=True) as store:
        ex = Explorer(cat, store, cache=False)
        ex.retrain()
        assert table["id"].tolist() == ex.ranking_table(top=30, mask=mask)["id"].tolist()
        # in place, the labelled galaxies take their place in the ranking, with their labels
        assert main(["rank", str(survey), str(out), "--labelled-in-place", "--top", str(N)]) == 0
        everything = read_table(out)
        assert everything["id"].tolist() == [cat.ids[r] for r in ex.ranking("combined")]
        assert everything["n_labels"].sum() == 12


def test_a_detector_ranking_still_gives_the_predicted_interest(survey, tmp_path, capsys, read_table):
    cat = load_catalogue(survey)
    labels = tmp_path / "elsewhere.sqlite"
    with LabelStore(labels) as store:
        store.add(cat.ids[0], 5, user="ada")
        store.add(cat.ids[1], 1, user="ada")
    out = tmp_path / "top.csv"
    assert main(["rank", str(survey), str(out), "--method", "lof", "--labels", str(labels), "--top", "5"]) == 0
    assert "by lof, learnt from 2 labels" in capsys.readouterr().out
    assert read_table(out)["predicted_interest"].notna().all()


@pytest.mark.parametrize("extra, words", [
    (["--ranges", "mag:..17"], "ranges 'mag:..17': the catalogue has no column 'mag'. Did you mean 'mag_r'?"),
    (["--ranges", "mag_r:a..17"], "'a' is not a number"),
    (["--answers", "has-spiral-arms:yes:0.5.."], "cannot filter on has-spiral-arms = yes"),
    (["--ranges", "mag_r:..3"], "no galaxy passes the filter"),
    (["--labels", "nowhere.sqlite"], "nowhere.sqlite: no label store here"),
])
def test_bad_filters_and_paths_are_one_error_line_naming_them(survey, tmp_path, capsys, extra, words, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["rank", str(survey), "top.csv", *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert not (tmp_path / "top.csv").exists()


def test_the_output_must_be_a_table_and_top_a_positive_count(survey, tmp_path, capsys):
    assert main(["rank", str(survey), str(tmp_path / "top.txt")]) == 1
    assert "write the ranking to a .csv, .parquet or .fits file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["rank", str(survey), str(tmp_path / "top.csv"), "--top", "0"])
    assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_the_output_folder_is_made_and_a_folder_is_not_a_file(survey, tmp_path, capsys, read_table):
    out = tmp_path / "follow-up" / "night1" / "top.csv"
    assert main(["rank", str(survey), str(out), "--top", "3"]) == 0
    assert len(read_table(out)) == 3
    (tmp_path / "list.csv").mkdir()
    assert main(["rank", str(survey), str(tmp_path / "list.csv")]) == 1
    assert "list.csv: a folder; give the file to write the ranking to" in capsys.readouterr().err
    (tmp_path / "plain").write_text("not a folder")
    assert main(["labels", "finds", str(survey), str(tmp_path / "plain" / "finds.csv")]) == 1
    assert "cannot make its folder" in capsys.readouterr().err


def test_a_link_copied_from_the_app_gives_the_list_that_window_shows(survey, tmp_path, capsys, read_table):
    """--link: the method, filter and labelled=in-place of an app window's address, so the list
    a window shows can be written whole (the app's download stops at 100,000)."""
    pytest.importorskip("panel")
    from astroexplore.column_filter import ColumnRange
    from astroexplore.filters import Condition, MorphologyFilter
    from astroexplore.ui.address import query_string, state_query
    from astroexplore.ui.state import AppState

    cat = load_catalogue(survey)
    with LabelStore(default_store_path(survey)) as store:
        state = AppState(explorer=Explorer(cat, store, user="ada"))
        for _ in range(6):
            state.label(5)
        state.param.update(method="ucb", unlabelled_first=False,
                           column_ranges=(ColumnRange("mag_r", 14.5, 17.5),),
                           filter=MorphologyFilter(cat.schema, [Condition("smooth-or-featured", "smooth", 0.3)]))
        state.start_retrain(poll=False).result()
        link = f"http://localhost:5006/?{query_string(state_query(state))}"
        assert "labelled=in-place" in link and "method=ucb" in link
        shown = state.ranking_table(50)
    out = tmp_path / "top.csv"
    assert main(["rank", str(survey), str(out), "--link", link, "--top", "50"]) == 0
    assert "by ucb (" in capsys.readouterr().out
    assert read_table(out)["id"].tolist() == shown["id"].tolist()
    # an option given beside the link wins over the link's part
    assert main(["rank", str(survey), str(out), "--link", link, "--ranges", "", "--top", "5"]) == 0
    assert "pass the filter" in capsys.readouterr().out and len(read_table(out)) == 5
    assert main(["rank", str(survey), str(out), "--link", "http://h/?method=magic"]) == 1
    assert "--link: method 'magic' is not one of" in capsys.readouterr().err
    assert main(["rank", str(survey), str(out), "--link", "http://h/?labelled=sometimes"]) == 1
    assert "--link: labelled 'sometimes': expected in-place" in capsys.readouterr().err


@pytest.mark.parametrize("link, said", [
    ("garbage", "error: --link: 'garbage' is not a link of the app (no '?key=value' part)"),
    ("http://h/?mehtod=lof", "error: --link: 'mehtod' is not part of an app link. Did you mean 'method'? rank reads "
                             "its method, answers, ranges and labelled: copy the link"),
    ("?Ranges=mag_r:..15&x=1", "error: --link: 'Ranges', 'x' are not part of an app link. Did you mean 'ranges'?"),
])
def test_a_link_holding_nothing_rank_reads_is_refused(survey, tmp_path, capsys, link, said):
    """'--link garbage' or a mistyped '?mehtod=lof' wrote the default ranking without a word."""
    out = tmp_path / "top.csv"
    assert main(["rank", str(survey), str(out), "--link", link]) == 1
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == 1 and not out.exists()


def test_a_link_part_rank_does_not_know_is_said_and_the_rest_used(survey, tmp_path, capsys, read_table):
    out = tmp_path / "top.csv"
    link = "http://h/?galaxy=obj0001&method=lof&mehtod=knn"
    assert main(["rank", str(survey), str(out), "--link", link, "--top", "5"]) == 0
    captured = capsys.readouterr()
    assert "by lof" in captured.out and captured.err == (
        "warning: --link: 'mehtod' is not part of an app link. Did you mean 'method'? rank reads its method, answers, "
        "ranges and labelled; left out\n")
    # the app's links, of any view, hold only its keys: no warning
    assert main(["rank", str(survey), str(out), "--link", "http://h/?galaxy=obj0001&tab=map&zoom=0,1,0,1",
                 "--top", "5"]) == 0
    assert capsys.readouterr().err == "" and len(read_table(out)) == 5


def test_the_link_keys_the_command_line_reads_are_the_apps():
    from astroexplore.cli import LINK_KEYS_READ
    from astroexplore.filter_text import APP_LINK_KEYS

    assert all(set(reads) <= set(APP_LINK_KEYS) for reads in LINK_KEYS_READ.values())


def test_rank_and_finds_write_fits_tables_for_topcat(survey, tmp_path, capsys, read_table):
    from astropy.table import Table

    cat = load_catalogue(survey)
    with LabelStore(default_store_path(survey)) as store:
        store.add(cat.ids[3], 5, user="ada", tags=["#ring"], note="a ring, 'faint'")
        store.add(cat.ids[4], 1, user="ada")
    out = tmp_path / "top.fits"
    assert main(["rank", str(survey), str(out), "--top", "12"]) == 0
    fits = Table.read(out)
    csv = tmp_path / "top.csv"
    assert main(["rank", str(survey), str(csv), "--top", "12"]) == 0
    assert list(fits["id"]) == read_table(csv)["id"].tolist()
    assert str(fits["ra"].unit) == "deg" and fits["ra"][0] == pytest.approx(read_table(csv)["ra"][0])
    finds = tmp_path / "finds.fits"
    assert main(["labels", "finds", str(survey), str(finds)]) == 0
    table = Table.read(finds)
    assert list(table["id"]) == [cat.ids[3]] and table["tags"][0] == "#ring"
    assert table["notes"][0] == "ada: a ring, 'faint'"
