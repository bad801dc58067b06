"""Ranges on a catalogue's own columns: the core ColumnRange and the Filter tab's rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import Catalogue
from astroexplore.column_filter import ColumnRange, filterable_columns, ranges_mask
from astroexplore.errors import SchemaError
from astroexplore.schemas import GZ_DECALS


@pytest.fixture
def cat():
    rng = np.random.default_rng(0)
    n = 200
    table = pd.DataFrame({
        "ra": rng.uniform(150, 160, n), "dec": rng.uniform(0, 5, n),
        "redshift": np.where(np.arange(n) % 10 == 0, np.nan, rng.uniform(0.0, 0.2, n)),
        "mag_r": rng.uniform(14, 18, n),
        "is_agn": pd.array(np.where(np.arange(n) % 7 == 0, None, np.arange(n) % 3 == 0), dtype="boolean"),
        "survey": np.where(np.arange(n) % 2, "sdss", "decals"),
        "umap_0": rng.normal(size=n), "umap_1": rng.normal(size=n),
        "smooth-or-featured_smooth_fraction": rng.uniform(0, 1, n),
        "smooth-or-featured_featured-or-disk_fraction": rng.uniform(0, 1, n),
    })
    return Catalogue.from_arrays(rng.normal(size=(n, 4)).astype(np.float32),
                                 ids=[f"g{i}" for i in range(n)], table=table, schema=GZ_DECALS)


def test_filterable_columns_are_the_numeric_ones_outside_the_tree_and_the_map(cat):
    assert filterable_columns(cat) == ["ra", "dec", "redshift", "mag_r", "is_agn"]


def test_a_range_keeps_values_inside_its_inclusive_bounds_never_a_missing_one(cat):
    z = cat.table["redshift"].to_numpy()
    m = ColumnRange("redshift", 0.05, 0.1).mask(cat)
    np.testing.assert_array_equal(m, (z >= 0.05) & (z <= 0.1))
    assert not m[np.isnan(z)].any()
    assert ColumnRange("redshift", high=float(np.nanmin(z))).mask(cat).sum() == 1  # inclusive
    assert ColumnRange("redshift").mask(cat).sum() == np.isfinite(z).sum()  # no bound: has a value
    flag = ColumnRange("is_agn", 1, 1).mask(cat)  # a nullable boolean as 0/1
    assert flag.sum() == (cat.table["is_agn"] == True).sum()  # noqa: E712
    parquet_bools = pd.DataFrame({"f": pd.Series([True, None, False], dtype=object)})  # as Parquet gives them
    assert ColumnRange("f", 1, 1).mask(parquet_bools).tolist() == [True, False, False]


def test_ranges_and_together(cat):
    ranges = [ColumnRange("redshift", high=0.1), ColumnRange("mag_r", low=16)]
    expected = ranges[0].mask(cat) & ranges[1].mask(cat)
    np.testing.assert_array_equal(ranges_mask(cat, ranges), expected)
    assert 0 < expected.sum() < cat.n_galaxies
    assert ranges_mask(cat, []) is None


@pytest.mark.parametrize("make, words", [
    (lambda: ColumnRange("mag_r", 18, 14), "range on column 'mag_r' is empty: from 18 to 14"),
    (lambda: ColumnRange("mag_r", "bright"), "low bound on column 'mag_r' must be a number"),
    (lambda: ColumnRange("mag_r", high=float("nan")), "leave it empty"),
])
def test_bad_bounds_are_refused_naming_the_column(make, words):
    with pytest.raises(SchemaError, match=words):
        make()


def test_an_unknown_or_text_column_is_refused_naming_it(cat):
    with pytest.raises(SchemaError, match="no column 'redshfit'.*redshift"):
        ColumnRange("redshfit", 0, 1).mask(cat)
    with pytest.raises(SchemaError, match="'survey' holds .* values, not numbers"):
        ColumnRange("survey", 0, 1).mask(cat)


def test_text_of_a_range():
    assert ColumnRange("z", 0.01, 0.05).text() == "z 0.01 – 0.05"
    assert ColumnRange("r", high=17.77).text() == "r ≤ 17.77"
    assert ColumnRange("z", low=0.1).text() == "z ≥ 0.1"


# ----------------------------------------------------------------------------- the Filter tab
pn = pytest.importorskip("panel")


@pytest.fixture
def state(cat, tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    store = LabelStore(tmp_path / "l.sqlite", valid_ids=cat.ids)
    st = AppState(explorer=Explorer(cat, store, user="t"))
    yield st
    store.close()


def test_column_rows_filter_the_ranking_with_the_morphology_conditions(state, cat):
    from astroexplore.filters import Condition
    from astroexplore.ui.morphology import NO_COLUMN, MorphologyView

    view = MorphologyView(state=state)
    row = view._column_controls[0]
    assert row.param.column.objects == [NO_COLUMN, "ra", "dec", "redshift", "mag_r", "is_agn"]
    row.column = "redshift"
    assert state.column_ranges == (ColumnRange("redshift"),)  # chosen, no bound yet: has a value
    row.high = 0.1
    expected = ColumnRange("redshift", high=0.1).mask(cat)
    assert state.n_match == expected.sum()
    assert set(state.order.tolist()) <= set(np.flatnonzero(expected).tolist())
    view._controls["smooth-or-featured"].answer = "smooth"  # ANDed with the morphology filter
    both = expected & state.filter.mask(cat)
    assert state.filter.conditions == (Condition("smooth-or-featured", "smooth", 0.5, 1.0),)
    assert state.n_match == both.sum() < expected.sum()
    assert view.conditions_text(state.filter, state.column_ranges).startswith("redshift ≤ 0.1; Smooth or")
    view._column_controls[1].column = "mag_r"
    view._column_controls[1].param.update(low=17.0, high=15.0)  # empty: not applied
    assert "not applied" in view._column_controls[1].problem and "from 17 to 15" in view._column_controls[1].problem
    assert state.n_match == both.sum()
    view._column_controls[1].high = 18.0
    assert state.n_match == (both & ColumnRange("mag_r", 17, 18).mask(cat)).sum()
    row.column = "mag_r"  # another column: its bounds start empty
    assert (row.low, row.high) == (None, None)
    old_rows = list(view._column_controls)
    view.clear()
    assert state.column_ranges == () and state.filter is None and state.n_match == cat.n_galaxies
    assert all(c.column == NO_COLUMN for c in view._column_controls)
    # Clear gives new, empty rows (as many), which drive the filter; the old ones are let go
    assert len(view._column_controls) == len(old_rows)
    assert not {id(c) for c in old_rows} & {id(c) for c in view._column_controls}
    view._column_controls[0].column = "mag_r"
    view._column_controls[0].high = 16.0
    assert state.column_ranges == (ColumnRange("mag_r", high=16.0),)


def test_column_summary_gives_the_range_and_the_missing():
    from astroexplore.ui.morphology import column_summary

    t = pd.DataFrame({"z": [0.1, np.nan, 0.3, 0.2]})
    assert column_summary(t, "z") == "0.1 .. 0.3 (median 0.2); 1 without a value"


def test_a_catalogue_with_columns_but_no_votes_still_has_a_filter(tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.morphology import MorphologyView
    from astroexplore.ui.state import AppState

    c = Catalogue.from_arrays(np.eye(5, 3, dtype=np.float32), ids=list("abcde"),
                              table=pd.DataFrame({"mag_r": [15.0, 16, 17, 18, 19]}))
    store = LabelStore(tmp_path / "l.sqlite", valid_ids=c.ids)
    try:
        view = MorphologyView(state=AppState(explorer=Explorer(c, store, user="t")))
        texts = [str(getattr(o, "object", "")) for o in view.__panel__().objects]
        assert any("Catalogue columns" in t for t in texts)
        assert any("No Galaxy Zoo vote fractions" in t for t in texts)
        view._column_controls[0].column = "mag_r"
        view._column_controls[0].high = 16.5
        assert view.state.n_match == 2
    finally:
        store.close()


def test_a_catalogue_with_nothing_to_filter_says_so(tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.morphology import MorphologyView
    from astroexplore.ui.state import AppState

    c = Catalogue.from_arrays(np.eye(4, 3, dtype=np.float32), ids=list("abcd"),
                              table=pd.DataFrame({"survey": ["x", "y", "x", "y"]}))
    store = LabelStore(tmp_path / "l.sqlite", valid_ids=c.ids)
    try:
        view = MorphologyView(state=AppState(explorer=Explorer(c, store, user="t")))
        assert view._column_controls == []
        assert "nothing to filter on" in view.__panel__().object
    finally:
        store.close()
