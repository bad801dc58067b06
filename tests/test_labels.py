"""Unit tests for astroexplore.labels.LabelStore: every method and each error path."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import astroexplore
from astroexplore.catalogue import Catalogue
from astroexplore.errors import LabelError
from astroexplore.labels import (SCHEMA_VERSION, LabelEvent, LabelStore, default_store_path,
                                 normalise_tag)

IDS = ["g1", "g2", "g3", "g4"]


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / "project.labels.sqlite", valid_ids=IDS) as s:
        yield s


@pytest.fixture
def filled(store):
    store.add("g1", 5, user="ada", tags=["#ring"], note="clear ring")
    store.add("g2", 1, user="ada")
    store.add("g1", 2, user="bo", tags="#Merger #ring")
    return store


# --------------------------------------------------------------------------- add


def test_public_names_are_exported():
    assert astroexplore.LabelStore is LabelStore
    assert astroexplore.LabelEvent is LabelEvent


def test_add_returns_committed_event(store):
    event = store.add("g1", 4, user="ada", tags=("Ring",), note="  odd  ")
    assert isinstance(event, LabelEvent)
    assert (event.galaxy_id, event.score, event.user, event.kind) == ("g1", 4, "ada", "label")
    assert event.tags == ("#ring",) and event.note == "  odd  " and event.undoes is None
    assert event.timestamp.tzinfo is not None
    assert event.timestamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - event.timestamp).total_seconds()) < 60
    assert store.add("g2", 0).event_id > event.event_id


def test_add_default_user_is_anonymous(store):
    assert store.add("g1", 3).user == "anonymous"


@pytest.mark.parametrize("score, expected", [(0, 0), (5, 5), (2.0, 2), (np.int64(3), 3),
                                             (np.float32(4.0), 4)])
def test_add_accepts_whole_scores(store, score, expected):
    event = store.add("g1", score)
    assert event.score == expected and type(event.score) is int
    assert store.latest()["score"].tolist() == [expected]


@pytest.mark.parametrize("score, words", [(7, "7"), (-1, "-1"), (2.5, "2.5"), ("3", "'3'"),
                                          (True, "True"), (None, "None"),
                                          (float("nan"), "nan")])
def test_add_rejects_bad_scores_naming_score_and_id(store, score, words):
    with pytest.raises(LabelError) as info:
        store.add("g3", score)
    assert words in str(info.value) and "'g3'" in str(info.value)
    assert store.history().empty


def test_add_rejects_unknown_id_with_suggestion(store):
    with pytest.raises(LabelError, match=r"'G1' is not in the catalogue\. Did you mean 'g1'\?"):
        store.add("G1", 3)
    assert store.count() == 0


def test_any_id_accepted_without_valid_ids(tmp_path):
    with LabelStore(tmp_path / "s.sqlite") as s:
        assert s.add("anything", 1).galaxy_id == "anything"
        assert s.add(1234, 1).galaxy_id == "1234"


@pytest.mark.parametrize("galaxy_id", ["", "   ", None, 1.5])
def test_add_rejects_bad_ids(tmp_path, galaxy_id):
    with LabelStore(tmp_path / "s.sqlite") as s, pytest.raises(LabelError, match="galaxy id"):
        s.add(galaxy_id, 1)


@pytest.mark.parametrize("user", ["", "   ", None, 3])
def test_add_rejects_empty_user(store, user):
    with pytest.raises(LabelError, match="user name must be a non-empty string"):
        store.add("g1", 3, user=user)


def test_user_is_stripped(store):
    assert store.add("g1", 3, user="  ada ").user == "ada"


def test_tags_normalised_and_deduplicated(store):
    event = store.add("g1", 3, tags="Ring, #RING #tidal-tail; merger_2")
    assert event.tags == ("#ring", "#tidal-tail", "#merger_2")
    assert normalise_tag(" #Lens ") == "#lens"


@pytest.mark.parametrize("text, one, two", [("Polar Ring", "#polar-ring", "#polar #ring"),
                                            ("#ring merger", "#ring-merger", "#ring #merger")])
def test_words_without_hash_between_spaces_are_refused_as_ambiguous(store, text, one, two):
    """'Polar Ring' was stored as #polar and #ring: the polar rings joined every #ring query."""
    store.add("g2", 5, tags="#ring")
    with pytest.raises(LabelError, match=f"one tag or two.*'{one}' for one tag, or '{two}' for two"):
        store.add("g1", 5, tags=text)
    assert store.tagged("#ring") == ["g2"] and store.count() == 1  # nothing stored


@pytest.mark.parametrize("tag", ["ring galaxy!", "##ring", "#", "#é", "-ring", "x" * 65, 5])
def test_bad_tags_rejected(store, tag):
    with pytest.raises(LabelError, match="tag"):
        store.add("g1", 3, tags=[tag])


def test_note_must_be_text(store):
    with pytest.raises(LabelError, match="note"):
        store.add("g1", 3, note=42)
    assert store.add("g1", 3, note="   ").note is None


# --------------------------------------------------------------------------- add_many


def test_add_many_pairs_and_mappings(store):
    n = store.add_many([("g1", 1), {"id": "g2", "score": 4, "tags": ["lens"], "user": "bo"},
                        {"galaxy_id": "g3", "score": 2.0, "note": "n",
                         "timestamp": "2024-01-02T03:04:05+01:00"}], user="ada")
    assert n == 3
    latest = store.latest().set_index("id")
    assert latest.loc["g2", "user"] == "bo" and latest.loc["g2", "tags"] == ("#lens",)
    assert latest.loc["g1", "user"] == "ada"
    assert latest.loc["g3", "timestamp"] == pd.Timestamp("2024-01-02T02:04:05Z")


def test_add_many_is_all_or_nothing(store):
    with pytest.raises(LabelError, match=r"row 2: score 9 for galaxy 'g3' is outside 0-5.*"
                                         r"Nothing was added"):
        store.add_many([("g1", 1), ("g2", 2), ("g3", 9)])
    with pytest.raises(LabelError, match="row 0"):
        store.add_many([("g1",)])
    with pytest.raises(LabelError, match="timestamp"):
        store.add_many([{"id": "g1", "score": 1, "timestamp": "yesterday"}])
    assert store.history().empty
    assert store.add_many([]) == 0


# --------------------------------------------------------------------------- undo


def test_undo_with_nothing_to_undo_returns_none(store):
    assert store.undo("ada") is None
    store.add("g1", 3, user="bo")
    assert store.undo("ada") is None
    assert store.history()["kind"].tolist() == ["label"]


def test_undo_cancels_latest_label_and_falls_back(store):
    first = store.add("g1", 3, user="ada")
    second = store.add("g1", 5, user="ada")
    undo = store.undo("ada")
    assert (undo.kind, undo.undoes, undo.galaxy_id, undo.score) == ("undo", second.event_id,
                                                                     "g1", None)
    assert store.latest()["score"].tolist() == [3]
    assert store.undo("ada").undoes == first.event_id
    assert store.count() == 0
    assert store.undo("ada") is None


def test_undo_twice_undoes_two_labels_of_that_user_only(store):
    store.add("g1", 1, user="ada")
    store.add("g2", 2, user="ada")
    store.add("g3", 3, user="bo")
    store.add("g4", 4, user="ada")
    assert store.undo("ada").galaxy_id == "g4"
    assert store.undo("ada").galaxy_id == "g2"
    assert store.labelled_ids() == ["g1", "g3"]
    history = store.history()
    assert history["kind"].tolist() == ["label"] * 4 + ["undo"] * 2
    assert len(history) == 6  # the undone labels are kept


def test_undo_rejects_empty_user(store):
    with pytest.raises(LabelError):
        store.undo("")


# --------------------------------------------------------------------------- reading


def test_latest_columns_and_dtypes(filled):
    latest = filled.latest()
    assert list(latest.columns[:6]) == ["id", "score", "user", "timestamp", "tags", "note"]
    assert latest["score"].dtype == np.int64
    assert str(latest["timestamp"].dt.tz) == "UTC"
    assert latest["id"].tolist() == ["g1", "g2", "g1"]
    assert latest["tags"].tolist() == [("#ring",), (), ("#merger", "#ring")]
    assert latest["note"].tolist() == ["clear ring", None, None]


def test_latest_one_row_per_galaxy_and_user(filled):
    filled.add("g1", 4, user="ada")
    latest = filled.latest()
    assert len(latest) == 3
    assert latest.set_index(["id", "user"]).loc[("g1", "ada"), "score"] == 4
    assert filled.latest(user="bo")["id"].tolist() == ["g1"]
    assert filled.latest(user="nobody").empty


def test_empty_store_reads(store):
    assert store.latest().empty and list(store.latest().columns)[:2] == ["id", "score"]
    assert store.history().empty and store.scores().empty
    assert store.count() == 0 and store.labelled_ids() == [] and store.tags() == []


def test_scores_mean_max_and_one_user(filled):
    assert filled.scores().to_dict() == {"g1": 3.5, "g2": 1.0}
    assert filled.scores(how="max").to_dict() == {"g1": 5.0, "g2": 1.0}
    assert filled.scores(how="min").to_dict() == {"g1": 2.0, "g2": 1.0}
    assert filled.scores(user="bo").to_dict() == {"g1": 2.0}
    series = filled.scores()
    assert series.dtype == np.float64 and series.index.name == "id" and series.name == "score"
    with pytest.raises(ValueError, match="how"):
        filled.scores(how="sum")


def test_history_has_every_event(filled):
    filled.undo("bo")
    history = filled.history()
    assert list(history.columns) == ["event_id", "kind", "id", "score", "user", "timestamp",
                                     "tags", "note", "undoes"]
    assert history["event_id"].is_monotonic_increasing
    assert history["score"].isna().tolist() == [False, False, False, True]
    assert history["undoes"].iloc[-1] == history["event_id"].iloc[2]


def test_count_and_labelled_ids(filled):
    assert filled.count() == 2 and filled.count(user="bo") == 1 and filled.count("zed") == 0
    assert filled.labelled_ids() == ["g1", "g2"]
    assert filled.labelled_ids(user="bo") == ["g1"]


def test_tagged_and_tags_follow_current_labels(filled):
    assert filled.tags() == ["#merger", "#ring"]
    assert filled.tagged("Ring") == ["g1"] and filled.tagged("#merger") == ["g1"]
    assert filled.tagged("lens") == []
    filled.undo("bo")
    assert filled.tags() == ["#ring"] and filled.tagged("merger") == []
    filled.add("g1", 5, user="ada")  # ada's newest label on g1 has no tag
    assert filled.tagged("ring") == []
    with pytest.raises(LabelError):
        filled.tagged("bad tag!")


# --------------------------------------------------------------------------- the file


def test_schema_version_wal_and_index(store):
    store.add("g1", 1)
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        index_cols = [r[2] for r in conn.execute("PRAGMA index_info(events_galaxy_user)")]
        assert index_cols == ["galaxy_id", "user"]
        views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='view'")}
        assert "current_labels" in views
    finally:
        conn.close()


def test_store_connection_uses_synchronous_full(store):
    with store._connection() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_events_are_append_only(filled):
    conn = sqlite3.connect(filled.path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE events SET score = 0")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
    assert len(filled.history()) == 3


def test_labels_persist_after_reopen(tmp_path):
    path = tmp_path / "p.sqlite"
    with LabelStore(path) as s:
        s.add("g1", 4, user="ada", tags="#ring")
        expected = s.latest()
    with LabelStore(path) as s:
        pd.testing.assert_frame_equal(s.latest(), expected)


def test_creates_missing_folder(tmp_path):
    with LabelStore(tmp_path / "new" / "dir" / "s.sqlite") as s:
        s.add("g1", 1)
    assert (tmp_path / "new" / "dir" / "s.sqlite").is_file()


def test_zero_byte_file_becomes_a_store(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    with LabelStore(path) as s:
        assert s.add("g1", 1).event_id == 1


def _assert_refused_untouched(path: Path, match: str) -> None:
    before = path.read_bytes()
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(LabelError, match=match):
        LabelStore(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == siblings


def test_text_file_refused_untouched(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text("id,ra,dec\ng1,1.0,2.0\n")
    _assert_refused_untouched(path, "not an astroexplore label store")


def test_corrupt_sqlite_file_refused_untouched(tmp_path):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    _assert_refused_untouched(path, "not a readable label store")


def test_other_sqlite_database_refused_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (x)")
    conn.execute("INSERT INTO things VALUES (1)")
    conn.commit()
    conn.close()
    _assert_refused_untouched(path, "SQLite database but not an astroexplore label store")


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "future.sqlite"
    LabelStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LabelError, match="newer"):
        LabelStore(path)


def test_directory_refused(tmp_path):
    with pytest.raises(LabelError, match="not a file"):
        LabelStore(tmp_path)


def test_closed_store_raises_and_close_is_idempotent(tmp_path):
    store = LabelStore(tmp_path / "s.sqlite")
    with store:
        store.add("g1", 1)
    store.close()
    with pytest.raises(LabelError, match="closed"):
        store.add("g1", 2)
    with pytest.raises(LabelError, match="closed"):
        store.latest()
    assert "s.sqlite" in repr(store)


def test_default_store_path():
    assert default_store_path(Path("/data/decals.parquet")) == Path("/data/decals.labels.sqlite")
    assert default_store_path("cat.csv").name == "cat.labels.sqlite"


def test_threads_share_one_store(store):
    def work(k):
        for i in range(25):
            store.add(IDS[i % 4], i % 6, user=f"user{k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = store.history()
    assert len(history) == 100 and history["event_id"].is_unique
    assert history.groupby("user").size().tolist() == [25] * 4


# --------------------------------------------------------------------------- import / export


def test_export_csv_import_round_trip(filled, tmp_path):
    out = filled.export_csv(tmp_path / "labels.csv")
    text = out.read_text().splitlines()
    assert text[0] == "id,score,user,timestamp,tags,note"
    assert "#merger #ring" in text[3] and "T" in text[1].split(",")[3]
    with LabelStore(tmp_path / "copy.sqlite") as copy:
        assert copy.import_csv(out) == 3
        cols = ["id", "score", "user", "timestamp", "tags", "note"]
        pd.testing.assert_frame_equal(copy.latest()[cols], filled.latest()[cols])


def test_export_overwrites_atomically(filled, tmp_path):
    out = tmp_path / "labels.csv"
    filled.export_csv(out)  # an earlier export
    filled.add("g3", 1, user="new")
    filled.export_csv(out)
    assert out.read_text().startswith("id,score") and "g3,1,new" in out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_parquet(filled, tmp_path):
    out = filled.export_parquet(tmp_path / "labels.parquet")
    table = pq.read_table(out)
    assert table.column_names == ["id", "score", "user", "timestamp", "tags", "note"]
    assert str(table.schema.field("score").type) == "int8"
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert table.column("tags").to_pylist() == [["#ring"], [], ["#merger", "#ring"]]
    assert table.column("note").to_pylist() == ["clear ring", None, None]


def test_an_export_named_for_the_other_format_is_refused(filled, tmp_path):
    """export_parquet('labels.csv') wrote Parquet bytes over an earlier CSV export."""
    out = filled.export_csv(tmp_path / "labels.csv")
    before = out.read_bytes()
    with pytest.raises(LabelError, match=r"labels.csv: export_parquet writes Parquet, but the name says csv"):
        filled.export_parquet(out)
    with pytest.raises(LabelError, match=r"export_csv writes CSV, but the name says parquet; name it .csv"):
        filled.export_csv(tmp_path / "labels.parquet")
    assert out.read_bytes() == before and not (tmp_path / "labels.parquet").exists()


def test_export_empty_store(store, tmp_path):
    store.export_csv(tmp_path / "e.csv")
    store.export_parquet(tmp_path / "e.parquet")
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0
    assert (tmp_path / "e.csv").read_text().strip() == "id,score,user,timestamp,tags,note"


def test_import_our_format_minimal_columns_and_user_fallback(store, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("id,score,user\ng1,3,\ng2,4.0,bo\n\ng3,0,cy\n")
    assert store.import_csv(path, user="ada") == 3
    latest = store.latest().set_index("id")
    assert latest["user"].to_dict() == {"g1": "ada", "g2": "bo", "g3": "cy"}
    assert latest["score"].to_dict() == {"g1": 3, "g2": 4, "g3": 0}


def test_import_without_user_is_anonymous(store, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("\ufeffid,score\ng1,3\n")  # a BOM, as Excel writes
    store.import_csv(path)
    assert store.latest()["user"].tolist() == ["anonymous"]


def test_import_astronomaly_ml_scores(store, tmp_path):
    path = tmp_path / "ml_scores.csv"
    path.write_text(",score,trained_score,human_label,acquisition\n"
                    "g1,4.2,3.1,-1,0.5\n"
                    "g2,1.0,0.3,3,0.1\n"
                    "g3,2.5,2.2,-1.0,0.2\n"
                    "g4,0.1,0.2,5.0,0.3\n")
    assert store.import_csv(path, user="michelle") == 2
    assert store.scores().to_dict() == {"g2": 3.0, "g4": 5.0}
    assert set(store.latest()["user"]) == {"michelle"}


def test_import_astronomaly_with_named_index(store, tmp_path):
    path = tmp_path / "ml_scores.csv"
    path.write_text("objid,score,human_label\ng1,4.2,2\ng2,1.0,\n")
    assert store.import_csv(path) == 1
    assert store.labelled_ids() == ["g1"]


def test_import_astronomaly_without_index_column_refused(store, tmp_path):
    path = tmp_path / "ml_scores.csv"
    path.write_text("score,trained_score,human_label\n4.2,3.1,3\n")
    with pytest.raises(LabelError, match="without an id column"):
        store.import_csv(path)


def test_bad_import_row_imports_nothing(store, tmp_path):
    path = tmp_path / "ml_scores.csv"
    path.write_text(",score,human_label\ng1,1,3\ng2,1,7\ng9,1,2\n")
    with pytest.raises(LabelError) as info:
        store.import_csv(path)
    message = str(info.value)
    assert "ml_scores.csv: 2 bad rows; nothing was imported:\n  line 3: " in message
    assert "score 7" in message and "'g2'" in message and "\n  line 4: " in message and "'g9'" in message
    assert store.history().empty


@pytest.mark.parametrize("row, words", [("g1,2.5", "2.5"), ("g1,three", "'three'"),
                                        ("g1,", "''"), (",3", "galaxy id"), ("nope,3", "'nope'"),
                                        ("g1,3,#bad tag!", "tag")])
def test_import_reports_each_kind_of_bad_row(store, tmp_path, row, words):
    path = tmp_path / "mine.csv"
    path.write_text(f"id,score,tags\ng2,1,\n{row}\n")
    with pytest.raises(LabelError, match="line 3") as info:
        store.import_csv(path)
    assert words in str(info.value) and "mine.csv" in str(info.value)
    assert store.count() == 0


def test_import_unknown_format_names_missing_column(store, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("ID,Score\ng1,3\n")
    with pytest.raises(LabelError, match=r"odd.csv: no column 'id'.*Did you mean 'ID'\?"):
        store.import_csv(path)


def test_import_empty_or_missing_file(store, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(LabelError, match="empty"):
        store.import_csv(tmp_path / "empty.csv")
    with pytest.raises(LabelError, match="cannot read"):
        store.import_csv(tmp_path / "missing.csv")
    with pytest.raises(LabelError, match="user name"):
        store.import_csv(tmp_path / "empty.csv", user="")


# --------------------------------------------------------------------------- merging stores


def test_importing_an_older_export_keeps_the_newer_label(tmp_path):
    """Monday's export from the laptop, imported on Tuesday, does not override Tuesday's label."""
    with LabelStore(tmp_path / "laptop.sqlite") as laptop:
        laptop.add("g1", 5, user="ada", note="monday")
        monday = laptop.export_csv(tmp_path / "monday.csv")
    with LabelStore(tmp_path / "desktop.sqlite") as desktop:
        desktop.add("g1", 1, user="ada", note="tuesday")
        desktop.add("g2", 3, user="ada")
        assert desktop.import_csv(monday) == 1
        latest = desktop.latest().set_index("id")
        assert latest.loc["g1", "score"] == 1 and latest.loc["g1", "note"] == "tuesday"
        assert desktop.scores().to_dict() == {"g1": 1.0, "g2": 3.0}
        assert len(desktop.history()) == 3  # Monday's label is kept in the history


def test_importing_the_same_file_twice_adds_nothing(filled, tmp_path):
    out = filled.export_csv(tmp_path / "labels.csv")
    n_events = len(filled.history())
    assert filled.import_csv(out) == 0
    with LabelStore(tmp_path / "copy.sqlite") as copy:
        assert copy.import_csv(out) == 3 and copy.import_csv(out) == 0
        assert len(copy.history()) == 3
    assert len(filled.history()) == n_events


def test_version_1_store_is_upgraded_and_reads_current_labels_by_time(tmp_path):
    """A store written by schema version 1 (current = written last) opens as version 2."""
    from astroexplore.labels import _SCHEMA, _CURRENT_VIEW, _split_sql

    path = tmp_path / "v1.sqlite"
    v1_view = ("CREATE VIEW current_labels AS SELECT MAX(event_id) AS event_id, galaxy_id, score, "
               "user, timestamp, tags, note FROM effective_labels GROUP BY galaxy_id, user;")
    conn = sqlite3.connect(path)
    for statement in _split_sql(_SCHEMA.replace(_CURRENT_VIEW, v1_view).replace(
            f"user_version = {SCHEMA_VERSION}", "user_version = 1")):
        conn.execute(statement)
    for score, stamp in [(1, "2026-12-02T10:00:00.000000+00:00"), (5, "2026-12-01T10:00:00.000000+00:00")]:
        conn.execute("INSERT INTO events (kind, galaxy_id, score, user, timestamp) VALUES ('label', 'g1', ?, 'ada', ?)",
                     (score, stamp))
    conn.commit()
    assert conn.execute("SELECT score FROM current_labels").fetchall() == [(5,)]
    conn.close()
    with LabelStore(path) as store:
        assert store.scores().to_dict() == {"g1": 1.0}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert conn.execute("SELECT score FROM current_labels").fetchall() == [(1,)]
    conn.close()


def test_a_store_that_cannot_be_written_raises_label_error(store):
    """SQLite refusing the write (here: a query-only connection, as for a read-only file) is a
    LabelError naming the store, not a bare sqlite3 traceback; nothing is stored."""
    with store._connection() as conn:
        conn.execute("PRAGMA query_only = ON")
    with pytest.raises(LabelError, match=r"project\.labels\.sqlite: cannot write to the label store"):
        store.add("g1", 3)
    with store._connection() as conn:
        conn.execute("PRAGMA query_only = OFF")
    assert store.count() == 0


def test_undo_a_given_label(store):
    """undo(user, event_id) cancels that label only, and only while it is in effect and the user's."""
    first = store.add("g1", 5, user="ada")
    store.add("g2", 1, user="ada")
    assert store.undo("bo", first.event_id) is None  # not bo's label
    undone = store.undo("ada", first.event_id)
    assert undone.undoes == first.event_id and undone.galaxy_id == "g1"
    assert store.latest(user="ada")["id"].tolist() == ["g2"]
    assert store.undo("ada", first.event_id) is None  # already undone



def test_a_store_on_a_read_only_mount_is_read_with_read_only(read_only_folder):
    """A store on a read-only mount could not be opened at all ('is its folder writable?'), not
    even to export its labels. read_only=True reads it; writes are refused, nothing changes."""
    src, ro = read_only_folder
    with LabelStore(src / "l.sqlite") as store:
        store.add("g1", 4, user="ada", tags="#ring")
        store.add("g2", 1, user="bo")
    before = (src / "l.sqlite").read_bytes()
    with pytest.raises(LabelError, match="is its folder writable"):
        LabelStore(ro / "l.sqlite")
    with LabelStore(ro / "l.sqlite", read_only=True) as store:
        assert store.scores().to_dict() == {"g1": 4.0, "g2": 1.0}
        assert store.tagged("ring") == ["g1"] and store.count(user="bo") == 1
        with pytest.raises(LabelError, match="opened read-only; nothing was stored"):
            store.add("g3", 5)
        with pytest.raises(LabelError, match="opened read-only"):
            store.undo("ada")
    assert (src / "l.sqlite").read_bytes() == before
    assert sorted(p.name for p in src.iterdir()) == ["l.sqlite"]


def test_read_only_store_sees_other_writers_and_refuses_writes(tmp_path):
    """Where the folder is writable, a read-only store follows what another process writes."""
    path = tmp_path / "l.sqlite"
    writer = LabelStore(path)
    writer.add("g1", 2)
    with LabelStore(path, read_only=True) as reader:
        assert reader.read_only and reader.scores().to_dict() == {"g1": 2.0}
        seen = reader.revision
        writer.add("g2", 5)
        assert reader.revision != seen and reader.scores().to_dict() == {"g1": 2.0, "g2": 5.0}
        with pytest.raises(LabelError, match="opened read-only"):
            reader.add_many([("g3", 1)])
        assert writer.count() == 2
    writer.close()


@pytest.mark.parametrize("content", [None, b"", b"not a database at all"])
def test_read_only_never_creates_a_store(tmp_path, content):
    path = tmp_path / "l.sqlite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LabelError, match=r"l\.sqlite: (no label store here|an empty file|not an astroexplore)"):
        LabelStore(path, read_only=True)
    assert (path.read_bytes() if path.exists() else None) == content


def test_undo_of_an_event_id_that_is_not_an_int_says_so(filled):
    with pytest.raises(LabelError, match="event_id must be the int that add"):
        filled.undo("ada", "abc")


def test_valid_ids_given_as_one_string_is_one_id(tmp_path):
    with LabelStore(tmp_path / "one.sqlite", valid_ids="demo_000001") as one:
        one.add("demo_000001", 3)
        with pytest.raises(LabelError, match="demo_000002"):
            one.add("demo_000002", 3)


def test_label_columns_follow_the_ids_given_and_the_latest_label(store):
    store.add("g1", 5, user="ada", tags=["#ring", "#odd"])
    store.add("g1", 3, user="ada", tags=["#ring"])  # the later label is the one in effect
    store.add("g2", 1, user="bob")
    cols = store.label_columns(["g2", "g1", "g0"], "ada")
    assert list(cols["your_score"].astype(object).where(cols["your_score"].notna(), None)) == [None, 3, None]
    assert list(cols["tags"]) == ["", "#ring", ""]
    assert len(store.label_columns([], "ada")) == 0


def test_first_labelled_orders_galaxies_by_their_first_label_in_force(tmp_path):
    store = LabelStore(tmp_path / "order.labels.sqlite")
    store.add("a", 3, user="ada")
    store.add("b", 1, user="bob")
    store.add("c", 5, user="ada")
    store.undo("ada")  # c's only label: c is not labelled
    store.add("a", 5, user="ada")  # scored again: a keeps its first time
    store.add("d", 2, user="ada")
    # an import keeps its labels' own times: e was scored before any of them
    csv = tmp_path / "old.csv"
    pd.DataFrame({"id": ["e"], "score": [4], "user": ["cy"],
                  "timestamp": ["2020-01-01T00:00:00+00:00"]}).to_csv(csv, index=False)
    store.import_csv(csv)
    first = store.first_labelled()
    assert first["id"].tolist() == ["e", "a", "b", "d"]
    assert first["first"].iloc[0].startswith("2020-01-01")
    assert first["first_event"].is_unique
    assert store.first_labelled(user="ada")["id"].tolist() == ["a", "d"]
    assert store.first_labelled(user="nobody").empty


def test_add_events_and_undo_many_in_one_go(tmp_path):
    store = LabelStore(tmp_path / "s.sqlite")
    first = store.add("g1", 1, user="ada")
    events = store.add_events([("g1", 4), {"id": "g2", "score": 5, "tags": "#ring"}], user="ada")
    bob = store.add("g3", 2, user="bob")
    assert [e.galaxy_id for e in events] == ["g1", "g2"] and events[1].tags == ("#ring",)
    assert [e.event_id for e in events] == sorted(e.event_id for e in events) > [first.event_id]
    undone = store.undo_many("ada", [e.event_id for e in events] + [bob.event_id])
    assert [u.undoes for u in undone] == [events[1].event_id, events[0].event_id]  # newest first; bob's not ada's
    assert store.scores().to_dict() == {"g1": 1.0, "g3": 2.0}  # g1 back to its earlier label
    with pytest.raises(LabelError, match=r"row 1: .*outside 0-5\. Nothing was added"):
        store.add_events([("g4", 3), ("g5", 9)], user="ada")
    assert store.count() == 2


def test_an_import_lists_the_first_bad_rows_and_suggests_no_other_galaxy(store, tmp_path):
    """Only the first bad row was named (fix, rerun, once per row), and an unknown id got "Did
    you mean" a close id: another galaxy, which following it would mislabel."""
    path = tmp_path / "many.csv"
    path.write_text("id,score\n" + "".join(f"g{i}0,3\n" for i in range(1, 8)) + "g1,9\n")
    with pytest.raises(LabelError) as info:
        store.import_csv(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 8 bad rows; nothing was imported:"
    assert [line.split(":")[0] for line in lines[1:6]] == [f"  line {n}" for n in range(2, 7)]
    assert lines[6] == "  ... and 3 more" and "Did you mean" not in str(info.value)
    assert store.history().empty


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_import_refuses_labels_of_another_catalogue_that_uses_the_same_ids(tmp_path, suffix):
    """An export carries ra/dec (written with a catalogue); imported into a store of another
    catalogue whose ids name other galaxies, its labels went onto those galaxies, silently."""
    ids = ["g1", "g2", "g3"]
    here = Catalogue.from_arrays(np.eye(3, dtype=np.float32), ids=ids,
                                 table=pd.DataFrame({"id": ids, "ra": [150.0, 151.0, 152.0], "dec": [2.0, 2.0, 2.0]}))
    other = Catalogue.from_arrays(np.eye(3, dtype=np.float32), ids=ids,
                                  table=pd.DataFrame({"id": ids, "ra": [150.0, 160.0, 152.0 + 2 / 3600],
                                                      "dec": [2.0, 2.0, 2.0]}))
    src = LabelStore(tmp_path / "src.sqlite", valid_ids=ids)
    for gid, score in zip(ids, (5, 4, 3)):
        src.add(gid, score, user="ada")
    export = tmp_path / f"labels{suffix}"
    (src.export_parquet if suffix == ".parquet" else src.export_csv)(export, catalogue=here)
    read = "import_parquet" if suffix == ".parquet" else "import_csv"
    dst = LabelStore(tmp_path / "dst.sqlite")
    with pytest.raises(LabelError) as info:
        getattr(dst, read)(export, catalogue=other)
    message = str(info.value)
    assert "'g2' is 8.99 deg from where the file puts it" in message and "Nothing was imported" in message
    assert "'g1'" not in message and "'g3'" not in message  # same place; 2 arcsec off is the same object
    assert "where this id names another galaxy" in message and dst.history().empty
    assert getattr(dst, read)(export, catalogue=here) == 3  # its own catalogue
    assert getattr(LabelStore(tmp_path / "unchecked.sqlite"), read)(export) == 3  # no catalogue: no check


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_export_edited_by_hand_is_not_written_over(tmp_path, suffix):
    """Export, edit, export again lost the edits; and an export written with a catalogue (id, ra,
    dec, score, ...) was not recognised as one, so it could not be refreshed at all."""
    ids = ["g1", "g2", "g3"]
    cat = Catalogue.from_arrays(np.eye(3, dtype=np.float32), ids=ids,
                                table=pd.DataFrame({"id": ids, "ra": [150.0, 151.0, 152.0], "dec": [2.0] * 3}))
    store = LabelStore(tmp_path / "s.sqlite", valid_ids=ids)
    store.add("g1", 5, user="ada")
    out = tmp_path / f"labels{suffix}"
    write = store.export_parquet if suffix == ".parquet" else store.export_csv
    write(out, catalogue=cat)
    store.add("g2", 1, user="ada")
    write(out, catalogue=cat)  # an earlier export with positions is refreshed
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(frame.columns[:4]) == ["id", "ra", "dec", "score"] and len(frame) == 2
    frame.loc[frame["id"] == "g2", "score"] = 4  # the user's edit
    frame.to_parquet(out) if suffix == ".parquet" else frame.to_csv(out, index=False)
    with pytest.raises(LabelError, match=r"holds 1 label this store does not have \(edited by hand\? "
                                         r"e\.g\. 'g2' = 4\); writing over the file would lose that label"):
        write(out)
    kept = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert kept.loc[kept["id"] == "g2", "score"].item() == 4
    (store.import_parquet if suffix == ".parquet" else store.import_csv)(out, catalogue=cat)
    write(out)  # imported: nothing to lose
    assert store.label_of("g2", "ada").score == 4
