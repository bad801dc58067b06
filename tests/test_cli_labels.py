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
    assert "an export written over it would lose its labels" in capsys.readouterr().err
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


def test_bad_import_exits_1_and_imports_nothing(tmp_path, capsys):
    bad = tmp_path / "ml_scores.csv"
    bad.write_text(ML_SCORES + "J0005,1.0,1.0,9\n")
    store = tmp_path / "s.sqlite"
    assert main(["labels", "import", str(store), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "ml_scores.csv: line 6" in err and "score 9" in err
    with LabelStore(store) as s:
        assert s.count() == 0 and s.history().empty


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
