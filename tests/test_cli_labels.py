"""`astroexplore labels import/export` through astroexplore.cli.main."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from astroexplore.cli import main
from astroexplore.errors import LabelError
from astroexplore.labels import LabelStore

ML_SCORES = (",score,trained_score,human_label\n"
             "J0001,4.1,3.9,-1\n"
             "J0002,0.5,1.2,4\n"
             "J0003,2.0,2.2,0\n"
             "J0004,1.5,1.1,-1\n")


@pytest.fixture
def ml_scores(tmp_path):
    path = tmp_path / "ml_scores.csv"
    path.write_text(ML_SCORES)
    return path


def test_import_astronomaly_then_export_csv_and_parquet(tmp_path, ml_scores, capsys):
    store = tmp_path / "survey.labels.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores), "--user", "michelle"]) == 0
    assert "imported 2 labels" in capsys.readouterr().out
    with LabelStore(store) as s:
        assert s.scores().to_dict() == {"J0002": 4.0, "J0003": 0.0}
        assert s.labelled_ids(user="michelle") == ["J0002", "J0003"]

    out_csv, out_parquet = tmp_path / "labels.csv", tmp_path / "labels.parquet"
    assert main(["labels", "export", str(store), str(out_csv)]) == 0
    assert "exported 2 labels (2 galaxies)" in capsys.readouterr().out
    assert main(["labels", "export", str(store), str(out_parquet)]) == 0
    table = pd.read_csv(out_csv)
    assert table[["id", "score", "user"]].values.tolist() == [["J0002", 4, "michelle"],
                                                              ["J0003", 0, "michelle"]]
    assert pq.read_table(out_parquet).column("id").to_pylist() == ["J0002", "J0003"]


def test_export_then_import_our_format(tmp_path, capsys):
    source = tmp_path / "a.labels.sqlite"
    with LabelStore(source) as s:
        s.add("g1", 5, user="ada", tags="#ring", note="a, quoted \"note\"")
        s.add("g2", 2, user="bo")
    out = tmp_path / "a.csv"
    assert main(["labels", "export", str(source), str(out)]) == 0
    target = tmp_path / "b.labels.sqlite"
    assert main(["labels", "import", str(target), str(out)]) == 0
    with LabelStore(target) as s:
        latest = s.latest().set_index("id")
    assert latest.loc["g1", "note"] == 'a, quoted "note"' and latest.loc["g1", "user"] == "ada"
    assert latest.loc["g1", "tags"] == ("#ring",) and latest.loc["g2", "user"] == "bo"


def test_export_with_swapped_or_mistyped_paths_loses_nothing(tmp_path, capsys):
    """`labels export OUT STORE` (swapped) or a mistyped store neither replaces the store nor
    leaves a new empty one behind."""
    store = tmp_path / "project.labels.sqlite"
    with LabelStore(store) as s:
        s.add("g1", 5, user="ada")
        s.add("g2", 1, user="ada")
    before = store.read_bytes()
    backup = tmp_path / "backup.csv"
    assert main(["labels", "export", str(backup), str(store)]) == 1
    assert "no label store here" in capsys.readouterr().err
    assert store.read_bytes() == before and not backup.exists()
    assert main(["labels", "export", str(tmp_path / "projet.labels.sqlite"), str(backup)]) == 1
    assert not (tmp_path / "projet.labels.sqlite").exists()
    other = tmp_path / "other.labels.sqlite"
    LabelStore(other).close()
    assert main(["labels", "export", str(other), str(store)]) == 1
    assert "project.labels.sqlite: write the labels to a .csv or .parquet file" in capsys.readouterr().err
    with LabelStore(store) as s:
        assert s.scores().to_dict() == {"g1": 5.0, "g2": 1.0}
        with pytest.raises(LabelError, match="the label store being exported"):
            s.export_csv(store)


def test_import_into_a_new_store_says_so(tmp_path, ml_scores, capsys):
    assert main(["labels", "import", str(tmp_path / "new.sqlite"), str(ml_scores)]) == 0
    assert "into the new label store" in capsys.readouterr().out


def test_import_without_user_uses_anonymous(tmp_path, ml_scores):
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores)]) == 0
    with LabelStore(store) as s:
        assert s.labelled_ids(user="anonymous") == ["J0002", "J0003"]


def test_bad_import_exits_1_and_imports_nothing(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "ml_scores.csv"
    bad.write_text(ML_SCORES + "J0005,1.0,1.0,9\n")
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "ml_scores.csv: line 6" in err and "score 9" in err
    # no empty store is left behind: a later export of a mistyped path says there is none
    assert not store.exists() and not list(tmp_path.glob("s.sqlite*"))
    # another process (the app) wrote to the new store while the import ran: it stays
    import argparse

    from astroexplore.cli import _cmd_labels

    raced = tmp_path / "raced.sqlite"

    class Interrupted(Exception):
        pass

    def import_then_race(self, *a, **k):
        with LabelStore(raced) as app:
            app.add("J0002", 4, user="app")
        raise Interrupted

    with monkeypatch.context() as m:  # the race, made certain: the app writes during the import
        m.setattr(LabelStore, "import_csv", import_then_race)
        with pytest.raises(Interrupted):
            _cmd_labels(argparse.Namespace(labels_command="import", store=str(raced), csv=str(bad),
                                           user=None, catalogue=None))
    with LabelStore(raced) as s:
        assert s.count() == 1
    existing = tmp_path / "kept.sqlite"
    with LabelStore(existing) as s:
        s.add("J0002", 1)
    assert main(["labels", "import", str(existing), str(bad)]) == 1
    with LabelStore(existing) as s:  # a store that was there stays, with its labels
        assert s.count() == 1


def test_import_with_catalogue_rejects_unknown_ids(tmp_path, ml_scores, capsys):
    catalogue = pytest.importorskip("astroexplore.catalogue",
                                    reason="astroexplore.catalogue is not written yet")
    ids = ["J0001", "J0002", "J0004"]  # J0003 (labelled 0) is not in the catalogue
    cat = catalogue.Catalogue.from_arrays(np.zeros((3, 4), dtype=np.float32), ids=ids)
    path = catalogue.save_catalogue(cat, tmp_path / "cat.parquet")
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores), "--catalogue", str(path)]) == 1
    assert "'J0003' is not in the catalogue" in capsys.readouterr().err
    ok = tmp_path / "ok.csv"
    ok.write_text("id,score\nJ0001,3\n")
    assert main(["labels", "import", str(store), str(ok), "--catalogue", str(path)]) == 0


def test_import_missing_csv_exits_1(tmp_path, capsys):
    assert main(["labels", "import", str(tmp_path / "s.sqlite"), str(tmp_path / "no.csv")]) == 1
    assert "cannot read labels" in capsys.readouterr().err


def test_export_from_a_file_that_is_not_a_store_exits_1(tmp_path, capsys):
    not_a_store = tmp_path / "catalogue.csv"
    not_a_store.write_text("id,ra,dec\n")
    assert main(["labels", "export", str(not_a_store), str(tmp_path / "out.csv")]) == 1
    assert "not an astroexplore label store" in capsys.readouterr().err
    assert not_a_store.read_text() == "id,ra,dec\n"


def test_reimporting_astronomaly_scores_changes_nothing(tmp_path, ml_scores, capsys):
    """Astronomaly's file has no times: each import stamped its rows 'now', so a second import
    added them again and replaced a label given in between."""
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores), "--user", "me"]) == 0
    with LabelStore(store) as s:
        s.add("J0002", 1, user="me")  # a newer opinion
    assert main(["labels", "import", str(store), str(ml_scores), "--user", "me"]) == 0
    assert "imported 0 labels" in capsys.readouterr().out
    with LabelStore(store) as s:
        assert s.scores(user="me").to_dict() == {"J0002": 1.0, "J0003": 0.0}
        assert len(s.history()) == 3
    # Astronomaly rewrites its file: one new label, one changed; the rest were imported before
    ml_scores.write_text(ML_SCORES.replace("J0003,2.0,2.2,0", "J0003,2.0,2.2,2").replace(
        "J0004,1.5,1.1,-1", "J0004,1.5,1.1,5"))
    assert main(["labels", "import", str(store), str(ml_scores), "--user", "me"]) == 0
    assert "imported 2 labels" in capsys.readouterr().out
    with LabelStore(store) as s:
        assert s.scores(user="me").to_dict() == {"J0002": 1.0, "J0003": 2.0, "J0004": 5.0}


def test_export_refuses_to_overwrite_a_catalogue_and_keeps_permissions(tmp_path, ml_scores, capsys):
    """'labels export galaxies.labels.sqlite galaxies.parquet' replaced the catalogue; exports were
    readable by their owner only (mkstemp's 0600)."""
    import os
    import stat

    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores)]) == 0
    catalogue = tmp_path / "galaxies.parquet"
    pd.DataFrame({"id": ["J0001"], "feat_0": [1.0]}).to_parquet(catalogue)
    before = catalogue.read_bytes()
    assert main(["labels", "export", str(store), str(catalogue)]) == 1
    assert "is not a label export" in capsys.readouterr().err and catalogue.read_bytes() == before
    old = os.umask(0o027)
    try:
        for out in (tmp_path / "out.csv", tmp_path / "out.parquet"):
            assert main(["labels", "export", str(store), str(out)]) == 0
            assert stat.S_IMODE(out.stat().st_mode) == 0o640
            for mode in (0o664, 0o444):  # an earlier export (even read-only) is replaced, its mode kept
                out.chmod(mode)
                assert main(["labels", "export", str(store), str(out)]) == 0
                assert stat.S_IMODE(out.stat().st_mode) == mode
    finally:
        os.umask(old)


def test_export_leaves_the_process_umask_alone(tmp_path, ml_scores, monkeypatch):
    """Export read the umask by setting it and putting it back: a file another thread created in
    between got the wrong mode. The kernel now applies the umask to the new file itself."""
    import os

    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores)]) == 0

    def no_umask(mask):
        raise AssertionError(f"os.umask({mask:o}) called during export")

    monkeypatch.setattr(os, "umask", no_umask)
    for out in (tmp_path / "out.csv", tmp_path / "out.parquet"):
        assert main(["labels", "export", str(store), str(out)]) == 0
        assert out.stat().st_size > 0
    assert not list(tmp_path.glob(".out.*"))


def test_import_checks_ids_against_a_catalogue_read_with_options(tmp_path, ml_scores, capsys):
    """--catalogue could not read a catalogue that needs --embedding-prefix (the error told the
    user to pass an option the command did not have)."""
    pd.DataFrame({"id": ["J0002", "J0003"], "pca_0": [0.1, 0.2], "pca_1": [0.3, 0.4]}).to_parquet(
        tmp_path / "proj.parquet")
    store = tmp_path / "s.sqlite"
    args = ["labels", "import", str(store), str(ml_scores), "--catalogue", str(tmp_path / "proj.parquet")]
    assert main(args) == 1
    assert "--embedding-prefix" in capsys.readouterr().err
    assert main(args + ["--embedding-prefix", "pca_"]) == 0


def test_export_from_a_store_on_a_read_only_mount(read_only_folder, ml_scores, tmp_path, capsys):
    """'labels export' only reads: it works on a colleague's store on a read-only mount."""
    src, ro = read_only_folder
    assert main(["labels", "import", str(src / "l.sqlite"), str(ml_scores)]) == 0
    out = tmp_path / "out.csv"
    assert main(["labels", "export", str(ro / "l.sqlite"), str(out)]) == 0, capsys.readouterr().err
    assert "exported 2 labels" in capsys.readouterr().out
    assert pd.read_csv(out)["id"].tolist() == ["J0002", "J0003"]


def test_a_parquet_export_imports_back(tmp_path, capsys):
    """`labels export s.sqlite out.parquet` worked, `labels import s2.sqlite out.parquet` failed
    decoding the Parquet bytes as UTF-8 text."""
    src = tmp_path / "a.sqlite"
    with LabelStore(src) as store:
        store.add("g1", 5, user="ada", tags=["#ring", "#odd"], note="two arcs, one faint")
        store.add("g2", 0, user="bob")
    out = tmp_path / "labels.parquet"
    assert main(["labels", "export", str(src), str(out)]) == 0
    dst = tmp_path / "b.sqlite"
    assert main(["labels", "import", str(dst), str(out)]) == 0
    assert "imported 2 labels" in capsys.readouterr().out
    cols = ["id", "score", "user", "timestamp", "tags", "note"]
    with LabelStore(src) as a, LabelStore(dst) as b:
        pd.testing.assert_frame_equal(a.latest()[cols], b.latest()[cols])
    assert main(["labels", "import", str(dst), str(out)]) == 0  # again: nothing new
    assert "imported 0 labels" in capsys.readouterr().out
    bad = tmp_path / "bad.parquet"
    table = pq.read_table(out).to_pandas()
    table.loc[1, "score"] = 9
    table.to_parquet(bad)
    assert main(["labels", "import", str(dst), str(bad)]) == 1
    assert "bad.parquet: row 1 (0-based):" in capsys.readouterr().err  # as pandas counts


def test_export_with_a_catalogue_adds_each_galaxys_position_and_imports_back(tmp_path, ml_scores, capsys):
    store = tmp_path / "survey.labels.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores), "--user", "michelle"]) == 0
    cat = tmp_path / "cat.parquet"
    pd.DataFrame({"id": ["J0001", "J0002"], "ra": [150.25, 151.5], "dec": [2.0, -1.25],
                  "feat_0": [0.0, 1.0], "feat_1": [1.0, 0.0]}).to_parquet(cat, index=False)
    out_csv, out_parquet = tmp_path / "follow_up.csv", tmp_path / "follow_up.parquet"
    for out in (out_csv, out_parquet):
        assert main(["labels", "export", str(store), str(out), "--catalogue", str(cat)]) == 0
    capsys.readouterr()
    for table in (pd.read_csv(out_csv), pq.read_table(out_parquet).to_pandas()):
        assert list(table.columns)[:5] == ["id", "ra", "dec", "score", "user"]
        assert table.loc[table["id"] == "J0002", ["ra", "dec"]].values.tolist() == [[151.5, -1.25]]
        assert np.isnan(table.loc[table["id"] == "J0003", "ra"]).all()  # not in this catalogue
    for out in (out_csv, out_parquet):  # still the files `labels import` reads
        copy = tmp_path / f"copy_{out.suffix[1:]}.sqlite"
        assert main(["labels", "import", str(copy), str(out)]) == 0
        with LabelStore(copy) as c, LabelStore(store) as s:
            assert c.export_frame().values.tolist() == s.export_frame().values.tolist()


def test_finds_writes_the_labelled_tabs_list_from_a_catalogues_store(tmp_path, capsys):
    from astroexplore.catalogue import Catalogue

    table = pd.DataFrame({"id": [f"g{i}" for i in range(6)], "ra": np.linspace(150, 151, 6),
                          "dec": np.linspace(1, 2, 6), "redshift": np.linspace(0.01, 0.06, 6)})
    table["feat_0"], table["feat_1"] = np.arange(6.0), np.arange(6.0) ** 2
    path = tmp_path / "cat.parquet"
    table.to_parquet(path)
    with LabelStore(tmp_path / "cat.labels.sqlite") as store:  # the default store beside it
        store.add("g1", 5, user="ana", tags=["#ring"])
        store.add("g1", 4, user="ben")
        store.add("g3", 2, user="ana")
        store.add("g4", 5, user="ben")
    out = tmp_path / "finds.csv"
    assert main(["labels", "finds", str(path), str(out)]) == 0
    assert "wrote 2 galaxies scored 4 or more (everyone's mean)" in capsys.readouterr().out
    finds = pd.read_csv(out)
    assert finds["id"].tolist() == ["g4", "g1"] and finds["score"].tolist() == [5.0, 4.5]
    assert finds.columns.tolist() == ["id", "ra", "dec", "score", "n_labels", "tags", "notes", "last_labelled", "redshift"]
    assert finds["redshift"].tolist() == pytest.approx([0.05, 0.02])
    out_pq = tmp_path / "finds.parquet"
    assert main(["labels", "finds", str(path), str(out_pq), "--user", "ana", "--min-score", "0", "--tag", "ring"]) == 0
    assert pq.read_table(out_pq).to_pandas()["id"].tolist() == ["g1"]


@pytest.mark.parametrize("args, error", [
    (["out.txt"], "write the finds to a .csv, .parquet or .fits file"),
    (["out.csv", "--labels", "nowhere.sqlite"], "nowhere.sqlite: no label store here (give it with --labels)")])
def test_finds_refuses_a_wrong_output_or_a_missing_store(tmp_path, capsys, monkeypatch, args, error):
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"id": ["a", "b"], "feat_0": [0.0, 1.0]}).to_parquet(tmp_path / "c.parquet")
    assert main(["labels", "finds", "c.parquet", *args]) == 1
    assert error in capsys.readouterr().err


def test_export_refuses_an_output_it_cannot_write(tmp_path, ml_scores, capsys):
    """`labels export STORE out.xlsx` wrote CSV into out.xlsx."""
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(ml_scores)]) == 0
    assert capsys.readouterr().err.startswith("note: no --catalogue: the ids were not checked")
    for name in ("out.xlsx", "out.fits", "out"):
        assert main(["labels", "export", str(store), str(tmp_path / name)]) == 1
        assert capsys.readouterr().err == f"error: {tmp_path / name}: write the labels to a .csv or .parquet file\n"
        assert not (tmp_path / name).exists()
    assert main(["labels", "export", str(store), str(tmp_path / "new" / "labels.pq")]) == 0
    assert pq.read_table(tmp_path / "new" / "labels.pq").num_rows == 2


@pytest.mark.parametrize("score", ["9", "-9", "5.5", "nan"])
def test_finds_refuses_a_min_score_outside_the_scores(score, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["labels", "finds", "c.parquet", "out.csv", "--min-score", score])
    assert exit_.value.code == 2 and f"--min-score: must be from 0 to 5, got {score}" in capsys.readouterr().err


def test_recover_of_a_file_that_is_not_a_store_says_so(tmp_path, capsys):
    """It said 'cannot read how many label events the store held'."""
    not_a_store = tmp_path / "some.csv"
    not_a_store.write_text("id,score\ng1,4\n")
    out = tmp_path / "out.sqlite"
    assert main(["labels", "recover", str(not_a_store), str(out)]) == 1
    assert capsys.readouterr().err == (f"error: {not_a_store}: not an astroexplore label store (not a SQLite "
                                       "database); the file was left untouched\n")
    assert not out.exists()


def test_import_of_latin1_text_names_its_line_and_what_to_do(tmp_path, capsys):
    """It said "cannot read labels ('utf-8' codec can't decode byte 0xe9 in position 19...)"."""
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,score,note\ng1,4,ok\ng2,3,André\n".encode("latin-1"))
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: line 3 is not UTF-8 text (byte 0xe9 in 'g2,3,Andr")
    assert err.endswith("save the file as UTF-8 (a spreadsheet's 'CSV UTF-8') and import it again\n")
    assert err.count("\n") == 1 and not store.exists()


@pytest.mark.parametrize("sep", [";", "\t"])
def test_import_reads_a_semicolon_or_tab_separated_file(tmp_path, sep, capsys):
    """A spreadsheet's ';'-separated export got "no column 'id'"."""
    path = tmp_path / "labels.csv"
    path.write_text(sep.join(["id", "score", "note"]) + "\n" + sep.join(["g1", "4", "a, b"]) + "\n"
                    + sep.join(["g2", "1", ""]) + "\n")
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(path)]) == 0
    with LabelStore(store) as s:
        assert s.scores().to_dict() == {"g1": 4.0, "g2": 1.0}
        assert s.latest().set_index("id")["note"]["g1"] == "a, b"
