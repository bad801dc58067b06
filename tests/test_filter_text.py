"""The filter as text: the syntax links and ``astroexplore rank`` share."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import Catalogue
from astroexplore.column_filter import ColumnRange
from astroexplore.filter_text import (decode_answers, decode_ranges, encode_answers, encode_ranges,
                                      selection_mask)
from astroexplore.filters import Condition, MorphologyFilter
from astroexplore.schemas import GZ_DECALS

N = 200


@pytest.fixture
def cat():
    rng = np.random.default_rng(2)
    table = pd.DataFrame({
        "mag_r": rng.uniform(14, 18, N), "g:r;x": rng.normal(0.6, 0.2, N),
        "smooth-or-featured_smooth_fraction": rng.uniform(0, 1, N),
        "smooth-or-featured_featured-or-disk_fraction": rng.uniform(0, 1, N),
    })
    table.loc[:9, "mag_r"] = np.nan  # no value: never in a range
    return Catalogue.from_arrays(rng.normal(size=(N, 3)).astype(np.float32), table=table, schema=GZ_DECALS)


def test_encodings_round_trip_with_the_separators_in_a_name(cat):
    flt = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "smooth", 0.125, 0.75)])
    assert encode_answers(flt) == "smooth-or-featured:smooth:0.125..0.75"
    assert decode_answers(encode_answers(flt), GZ_DECALS) == (flt, [])
    assert encode_answers(None) == "" and decode_answers("", GZ_DECALS) == (None, [])
    ranges = (ColumnRange("mag_r", -1.5, 2e-7), ColumnRange("g:r;x", high=0.5))
    assert encode_ranges(ranges) == "mag_r:-1.5..2e-07;g%3Ar%3Bx:..0.5"
    assert decode_ranges(encode_ranges(ranges), cat) == (ranges, [])
    assert decode_ranges("mag_r:..17.77", cat) == ((ColumnRange("mag_r", high=17.77),), [])  # as typed


def test_selection_mask_is_every_condition_and_range_at_once(cat):
    table = cat.table
    flt, _ = decode_answers("smooth-or-featured:smooth:0.5..", GZ_DECALS)
    ranges, _ = decode_ranges("mag_r:15..17", cat)
    expected = ((table["smooth-or-featured_smooth_fraction"] >= 0.5)
                & (table["mag_r"] >= 15) & (table["mag_r"] <= 17)).to_numpy()
    assert 0 < expected.sum() < N
    np.testing.assert_array_equal(selection_mask(cat, flt, ranges), expected)
    np.testing.assert_array_equal(selection_mask(cat, None, ranges), ((table["mag_r"] >= 15) & (table["mag_r"] <= 17)).to_numpy())
    np.testing.assert_array_equal(selection_mask(cat, flt), (table["smooth-or-featured_smooth_fraction"] >= 0.5).to_numpy())
    assert selection_mask(cat) is None and selection_mask(cat, MorphologyFilter(GZ_DECALS)) is None


def test_answers_are_one_set_in_any_order():
    """A child written before its parents was refused, with a message asking for the parents the
    text went on to give (the CLI's --answers and a link's answers=)."""
    ordered = ("smooth-or-featured:featured-or-disk:0.5..;disk-edge-on:no:0.5..;has-spiral-arms:yes:0.5..;"
               "spiral-arm-count:2:0.5..")
    parts = ordered.split(";")
    expected, problems = decode_answers(ordered, GZ_DECALS)
    assert not problems and len(expected.conditions) == 4
    for shuffled in (parts[::-1], [parts[2], parts[0], parts[3], parts[1]]):
        flt, problems = decode_answers(";".join(shuffled), GZ_DECALS)
        assert not problems and set(flt.conditions) == set(expected.conditions)
    # a child whose parent is not in the set at all is still refused, and said in the text's order
    flt, problems = decode_answers("has-spiral-arms:yes:0.5..;bar:x:..;smooth-or-featured:featured-or-disk:0.5..",
                                   GZ_DECALS)
    assert [c.question for c in flt.conditions] == ["smooth-or-featured"]
    assert len(problems) == 2 and problems[0].startswith("answers 'has-spiral-arms:yes:0.5..'")
    assert 'require "Edge-on disk?" = "No"' in problems[0] and problems[1].startswith("answers 'bar:x:..'")


def test_a_range_on_a_column_that_takes_none_says_why(cat):
    cat.table["survey"] = ["DECaLS"] * N
    problems = {t: decode_ranges(t, cat)[1][0] for t in
                ("survey:1..", "smooth-or-featured_smooth_fraction:0.5..", "id:1..", "mag_R:..17")}
    assert "column 'survey' holds text (names or classes), not numbers" in problems["survey:1.."]
    assert ("is a Galaxy Zoo vote fraction: filter it by its answer, which keeps to the decision tree "
            "(answers 'smooth-or-featured:smooth:low..high'") in problems["smooth-or-featured_smooth_fraction:0.5.."]
    assert "'id' is the galaxy id" in problems["id:1.."]
    assert problems["mag_R:..17"].endswith("the catalogue has no column 'mag_R'. Did you mean 'mag_r'?")


def test_a_flag_column_takes_true_and_false_as_bounds():
    """'is_agn:true..true' was refused ('true' is not a number): a flag's True is 1."""
    table = pd.DataFrame({"is_agn": [True, False, True], "flag": pd.array([True, None, False], dtype="boolean")})
    flags = Catalogue.from_arrays(np.zeros((3, 2), np.float32), table=table)
    for text, expected in (("is_agn:true..true", [True, False, True]), ("is_agn:..False", [False, True, False]),
                           ("flag:false..false", [False, False, True])):
        ranges, problems = decode_ranges(text, flags)
        assert not problems and selection_mask(flags, None, ranges).tolist() == expected, text
    assert decode_ranges("is_agn:yes..", flags)[1] == ["ranges 'is_agn:yes..': 'yes' is not a number"]
