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
