"""Decision trees as data: structure, fractions, p_asked, detection, user schemas (JSON)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from astroexplore.errors import SchemaError
from astroexplore.schemas import (GZ2, GZ2_FLAVOURS, GZ_DECALS, Answer, Question, Schema,
                                  detect_schema, gz2_schema, gz_decals_schema, load_schema)


@pytest.fixture(scope="module")
def gz2_table(shared_data):
    return pd.read_csv(shared_data / "gz2_stripe82" / "gz2_stripe82_table5.csv.gz")


@pytest.fixture(scope="module")
def rings_table(shared_data):
    return pd.read_csv(shared_data / "decals_rings" / "catalog.csv")


# ------------------------------------------------------------------------------ structure
def test_gz_decals_structure():
    assert GZ_DECALS.n_questions == 10
    assert GZ_DECALS.n_answers == 34
    assert [len(q.answers) for q in GZ_DECALS.questions] == [3, 2, 2, 3, 5, 3, 3, 3, 6, 4]
    assert len(set(GZ_DECALS.columns)) == 34
    for q in GZ_DECALS.questions:
        for a in q.answers:
            assert a.column == f"{q.name}_{a.name}_fraction"
    assert GZ_DECALS.question("has-spiral-arms").label == "Has spiral arms?"
    assert GZ_DECALS.question("disk-edge-on").parent == ("smooth-or-featured", "featured-or-disk")
    assert GZ_DECALS.question("merging").parent is None
    assert GZ_DECALS.question("spiral-arm-count").answer_names == (
        "1", "2", "3", "4", "more-than-4", "cant-tell")
    assert GZ_DECALS.question("spiral-arm-count").answer("cant-tell").label == "Can't tell"
    assert GZ_DECALS.children("disk-edge-on", "no") == ["has-spiral-arms", "bar", "bulge-size"]
    assert set(GZ_DECALS.descendants("disk-edge-on")) == {
        "has-spiral-arms", "bar", "bulge-size", "edge-on-bulge", "spiral-winding",
        "spiral-arm-count"}


def test_gz2_structure_matches_table_header(gz2_table):
    assert GZ2.n_questions == 11
    assert GZ2.n_answers == 37
    assert GZ2.missing_columns(gz2_table) == []
    assert GZ2.present_in(gz2_table)
    # every "tNN_..._aNN_..._fraction" column of the table is in the schema, and nothing else
    header = {c for c in gz2_table.columns if c.startswith("t") and c.endswith("_fraction")
              and not c.endswith("_weighted_fraction")}
    assert header == set(GZ2.columns)
    parents = {q.name: q.parent for q in GZ2.questions}
    assert parents["t02_edgeon"] == ("t01_smooth_or_features", "a02_features_or_disk")
    assert parents["t03_bar"] == parents["t04_spiral"] == parents["t05_bulge_prominence"] == (
        "t02_edgeon", "a05_no")
    assert parents["t06_odd"] is None
    assert parents["t07_rounded"] == ("t01_smooth_or_features", "a01_smooth")
    assert parents["t08_odd_feature"] == ("t06_odd", "a14_yes")
    assert parents["t09_bulge_shape"] == ("t02_edgeon", "a04_yes")
    assert parents["t10_arms_winding"] == parents["t11_arms_number"] == ("t04_spiral", "a08_spiral")


@pytest.mark.parametrize("flavour", GZ2_FLAVOURS)
def test_gz2_flavours_all_present(gz2_table, flavour):
    schema = gz2_schema(flavour)
    assert schema.present_in(gz2_table)
    assert all(c.endswith("_" + flavour) for c in schema.columns)


def test_gz2_unknown_flavour():
    with pytest.raises(SchemaError, match="debiased"):
        gz2_schema("debiassed")


# ------------------------------------------------------------------------------ data
def test_gz2_fractions_sum_to_one_where_votes_exist(gz2_table):
    for q in GZ2.questions:
        counts = sum(gz2_table[a.column.replace("_fraction", "_count")].to_numpy()
                     for a in q.answers)
        total = sum(GZ2.fraction(gz2_table, q.name, a.name) for a in q.answers)
        voted = total > 0
        assert voted.sum() > 100, q.name
        # the table rounds fractions to 3 decimals
        np.testing.assert_allclose(total[voted], 1.0, atol=0.01, err_msg=q.name)
        assert (total[counts == 0] == 0).all(), q.name
        # a few published rows (< 3%: single votes) have counts but zero fractions
        assert ((counts > 0) & ~voted).mean() < 0.03, q.name


def test_gz2_p_asked_is_product_down_the_tree(gz2_table):
    t = gz2_table
    expected = (t["t01_smooth_or_features_a02_features_or_disk_fraction"]
                * t["t02_edgeon_a05_no_fraction"] * t["t04_spiral_a08_spiral_fraction"]).to_numpy()
    np.testing.assert_allclose(GZ2.p_asked(t, "t11_arms_number"), expected)
    np.testing.assert_array_equal(GZ2.p_asked(t, "t01_smooth_or_features"), 1.0)
    np.testing.assert_array_equal(GZ2.p_asked(t, "t06_odd"), 1.0)
    np.testing.assert_allclose(GZ2.p_asked(t, "t08_odd_feature"), t["t06_odd_a14_yes_fraction"])


def test_decals_rings_detected_as_partial_gz_decals(rings_table):
    schema = detect_schema(rings_table.columns)
    assert schema is not None and schema.name == "GZ DECaLS"
    assert schema == GZ_DECALS
    assert schema.available(rings_table) == []  # no question has all its columns
    assert schema.available_answers(rings_table) == [
        ("smooth-or-featured", "featured-or-disk"), ("disk-edge-on", "no"),
        ("has-spiral-arms", "no")]
    assert len(schema.missing_columns(rings_table)) == 31
    p = schema.p_asked(rings_table, "has-spiral-arms")
    expected = (rings_table["smooth-or-featured_featured-or-disk_fraction"]
                * rings_table["disk-edge-on_no_fraction"]).to_numpy()
    np.testing.assert_allclose(p, expected)
    assert ((p >= 0) & (p <= 1)).all()


def test_gz2_detected(gz2_table):
    assert detect_schema(gz2_table.columns) == GZ2
    debiased_only = [c for c in gz2_table.columns if c.endswith("_debiased")]
    assert detect_schema(debiased_only) == gz2_schema("debiased")


def test_detect_schema_none_and_suffixes():
    assert detect_schema(["id", "ra", "dec", "feat_0"]) is None
    assert detect_schema(["bar_no_fraction"]) is None  # a single column is not enough
    # Zoobot label columns with a campaign suffix
    dr8 = [c + "" for c in gz_decals_schema("-dr8").columns]
    assert detect_schema(dr8).answer_column("bar", "no") == "bar-dr8_no_fraction"
    # a complete root question is enough
    assert detect_schema(["merging_none_fraction", "merging_minor-disturbance_fraction",
                          "merging_major-disturbance_fraction",
                          "merging_merger_fraction"][:4]) == GZ_DECALS


def test_fraction_keeps_nan_and_names_missing_column():
    t = pd.DataFrame({"bar_strong_fraction": [0.1, np.nan]})
    f = GZ_DECALS.fraction(t, "bar", "strong")
    assert f.dtype == np.float64 and np.isnan(f[1])
    with pytest.raises(SchemaError, match="bar_weak_fraction"):
        GZ_DECALS.fraction(t, "bar", "weak")
    with pytest.raises(SchemaError, match="Did you mean 'bar'"):
        GZ_DECALS.question("bars")
    with pytest.raises(SchemaError, match="no answer 'strongg'.*Did you mean 'strong'"):
        GZ_DECALS.answer_column("bar", "strongg")


def test_accepts_catalogue():
    from astroexplore.catalogue import Catalogue

    t = pd.DataFrame({"bar_strong_fraction": [0.1, 0.7], "bar_weak_fraction": [0.2, 0.2],
                      "bar_no_fraction": [0.7, 0.1]})
    cat = Catalogue.from_arrays(np.zeros((2, 3)), table=t, schema="auto")
    assert cat.schema == GZ_DECALS
    np.testing.assert_allclose(GZ_DECALS.fraction(cat, "bar", "strong"), [0.1, 0.7])
    assert GZ_DECALS.available(cat) == ["bar"]


# ------------------------------------------------------------------------------ user schemas
def test_round_trip_json(tmp_path):
    for schema in (GZ_DECALS, GZ2, gz2_schema("debiased")):
        d = json.loads(json.dumps(schema.to_dict()))
        assert Schema.from_dict(d) == schema
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(GZ2.to_dict()))
    assert load_schema(path) == GZ2


def test_from_dict_short_forms():
    s = Schema.from_dict({"name": "lenses", "questions": [
        {"name": "lens", "label": "Is it a lens?", "answers": ["yes", "no"]},
        {"name": "arc", "answers": [{"name": "one"}, {"name": "many", "column": "n_arcs_many"}],
         "parent": {"question": "lens", "answer": "yes"}},
        {"name": "colour", "answers": ["blue", "red"], "parent": ["arc", "one"]},
    ]})
    assert s.answer_column("arc", "many") == "n_arcs_many"
    assert s.answer_column("arc", "one") == "arc_one_fraction"
    assert s.ancestors("colour") == [("lens", "yes"), ("arc", "one")]
    assert s.question("lens").label == "Is it a lens?"


@pytest.mark.parametrize("questions, match", [
    ([{"name": "a", "answers": ["x"]}, {"name": "a", "answers": ["y"]}],
     "duplicate question name 'a'"),
    ([{"name": "a", "answers": ["x", "x"]}], "duplicate answer 'x' in question 'a'"),
    ([{"name": "a", "answers": ["x"]}, {"name": "b", "answers": ["y"], "parent": "c=x"}],
     "unknown parent question 'c'"),
    ([{"name": "a", "answers": ["x"]}, {"name": "b", "answers": ["y"], "parent": "a=z"}],
     "unknown parent answer 'z' of question 'a'"),
    ([{"name": "a", "answers": ["x"], "parent": "b=y"}, {"name": "b", "answers": ["y"],
                                                           "parent": "a=x"}], "cycle"),
    ([{"name": "a", "answers": []}], "question 'a' has no answers"),
    ([{"name": "a", "answers": [{"name": "x", "column": "c"}, {"name": "y", "column": "c"}]}],
     "column 'c' is used by both"),
    ([{"name": "a", "answers": ["x"], "colour": 1}], "unknown key"),
    ([{"answers": ["x"]}], "needs a 'name'"),
])
def test_from_dict_validation(questions, match):
    with pytest.raises(SchemaError, match=match):
        Schema.from_dict({"name": "bad", "questions": questions})


def test_load_schema_names_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SchemaError, match="bad.json"):
        load_schema(bad)
    bad.write_text(json.dumps({"name": "x", "questions": [{"name": "q", "answers": ["a"],
                                                          "parent": "nope=a"}]}))
    with pytest.raises(SchemaError, match=r"bad\.json.*unknown parent question 'nope'"):
        load_schema(bad)


def test_dataclasses_are_frozen():
    a = Answer("yes", "q_yes_fraction")
    with pytest.raises(AttributeError):
        a.name = "no"
    q = Question("q", (a,))
    assert q.label == "Q?" and a.label == "Yes"
    assert hash(GZ_DECALS) == hash(gz_decals_schema())


def test_gz2_questions_nobody_answered_are_nan_not_zero(gz2_table, shared_data):
    """GZ2 writes 0.0 for every answer of a question no volunteer reached: 2,195 Stripe 82
    galaxies were read as 'no bar 0.0', and passed a filter on a low no-bar fraction."""
    from astroexplore.catalogue import load_catalogue
    from astroexplore.filters import Condition, MorphologyFilter

    table = gz2_table.copy()
    bar_votes = table["t03_bar_a06_bar_count"] + table["t03_bar_a07_no_bar_count"]
    unasked = (bar_votes == 0).to_numpy()
    assert unasked.sum() == 2195 and (table.loc[unasked, "t03_bar_a07_no_bar_fraction"] == 0).all()
    assert GZ2.blank_not_asked(table) == {}  # no vote totals yet: nothing to tell by
    added = GZ2.add_vote_totals(table)
    assert len(added) == len(GZ2.questions) and "t03_bar_total-votes" in added
    assert table["t03_bar_total-votes"].tolist() == bar_votes.tolist()
    blanked = GZ2.blank_not_asked(table)
    assert blanked["t03_bar"] == 2195
    for column in ("t03_bar_a07_no_bar_fraction", "t03_bar_a07_no_bar_weighted_fraction", "t03_bar_a07_no_bar_debiased"):
        assert table[column].isna().to_numpy().tolist() == unasked.tolist()
    assert GZ2.blank_not_asked(table) == {}  # once is enough
    # a catalogue loaded from the file reads them so, and a filter no longer takes them
    cat = load_catalogue(shared_data / "gz2_stripe82" / "gz2_stripe82_table5.csv.gz", embedding_columns="*_debiased")
    assert np.isnan(cat.table["t03_bar_a07_no_bar_fraction"].to_numpy()[unasked]).all()
    few_no_bar = MorphologyFilter(cat.schema, [Condition("t01_smooth_or_features", "a02_features_or_disk", 0.5, 1),
                                               Condition("t02_edgeon", "a05_no", 0.5, 1),
                                               Condition("t03_bar", "a07_no_bar", 0.0, 0.2)]).mask(cat.table)
    assert not (few_no_bar & unasked).any()
    # a question's vote total is a column a range takes: Galaxy Zoo's "enough votes" cut
    from astroexplore.column_filter import filterable_columns
    from astroexplore.filter_text import decode_ranges, selection_mask

    assert "t03_bar_total-votes" in filterable_columns(cat)
    ranges, problems = decode_ranges("t03_bar_total-votes:20..", cat)
    assert not problems
    enough = selection_mask(cat, None, ranges)
    assert enough.tolist() == (bar_votes >= 20).tolist()
