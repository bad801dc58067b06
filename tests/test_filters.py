"""MorphologyFilter: tree-respecting enabling, masks (NaN never matches), counts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import Catalogue
from astroexplore.errors import SchemaError
from astroexplore.filters import Condition, MorphologyFilter
from astroexplore.schemas import GZ2, GZ_DECALS

FEATURED = Condition("smooth-or-featured", "featured-or-disk", 0.5)
FACE_ON = Condition("disk-edge-on", "no", 0.5)
SPIRAL = Condition("has-spiral-arms", "yes", 0.6)


@pytest.fixture()
def table():
    return pd.DataFrame({
        "smooth-or-featured_featured-or-disk_fraction": [0.9, 0.8, 0.7, 0.2, np.nan],
        "disk-edge-on_no_fraction": [0.9, 0.9, 0.3, 0.9, 0.9],
        "has-spiral-arms_yes_fraction": [0.95, 0.4, 0.9, 0.9, 0.9],
        "spiral-winding_tight_fraction": [0.7, 0.1, 0.1, 0.1, 0.1],
    })


def test_root_questions_always_enabled():
    f = MorphologyFilter(GZ_DECALS)
    assert f.enabled("smooth-or-featured") == (True, "")
    assert f.enabled("merging") == (True, "")


def test_child_disabled_until_parent_required_above_half():
    f = MorphologyFilter(GZ_DECALS)
    ok, why = f.enabled("disk-edge-on")
    assert not ok
    assert why == ('to use this filter, require "Smooth or featured?" = "Featured or disk" '
                   'at 0.5 or more')
    f = f.with_condition(FEATURED)
    assert f.enabled("disk-edge-on") == (True, "")
    # a parent required only above 0.4 does not enable the child
    weak = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "featured-or-disk", 0.4)])
    assert not weak.enabled("disk-edge-on")[0]
    # the wrong answer of the parent does not enable it either
    smooth = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "smooth", 0.9)])
    assert not smooth.enabled("disk-edge-on")[0]
    assert smooth.enabled("how-rounded")[0]


def test_message_names_every_missing_ancestor_with_labels():
    f = MorphologyFilter(GZ_DECALS, [FEATURED])
    ok, why = f.enabled("spiral-winding")
    assert not ok
    assert why == ('to use this filter, require "Edge-on disk?" = "No" and '
                   '"Has spiral arms?" = "Yes" at 0.5 or more')
    _, why = MorphologyFilter(GZ_DECALS).enabled("spiral-arm-count")
    assert why.startswith('to use this filter, require "Smooth or featured?" = "Featured or disk", '
                          '"Edge-on disk?" = "No" and "Has spiral arms?" = "Yes"')


def test_condition_on_disabled_question_raises():
    with pytest.raises(SchemaError, match='require "Has spiral arms\\?" = "Yes" at 0.5 or more'):
        MorphologyFilter(GZ_DECALS, [FEATURED, FACE_ON,
                                     Condition("spiral-winding", "tight", 0.5)])
    with pytest.raises(SchemaError, match="Featured or disk"):
        MorphologyFilter(GZ_DECALS).with_condition(FACE_ON)


def test_mask_and_count(table):
    f = MorphologyFilter(GZ_DECALS, [FEATURED, FACE_ON, SPIRAL])
    np.testing.assert_array_equal(f.mask(table), [True, False, False, False, False])
    assert f.count(table) == (1, 5)
    assert f.describe(table) == "1 of 5 galaxies match"
    deep = f.with_condition(Condition("spiral-winding", "tight", 0.0, 0.5))
    np.testing.assert_array_equal(deep.mask(table), [False, False, False, False, False])


def test_nan_never_matches(table):
    # row 4 has NaN featured fraction: it fails even the widest condition
    f = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "featured-or-disk", 0.0, 1.0)])
    np.testing.assert_array_equal(f.mask(table), [True, True, True, True, False])


def test_empty_filter_matches_all(table):
    m = MorphologyFilter(GZ_DECALS).mask(table)
    assert m.dtype == bool and m.shape == (5,) and m.all()


def test_high_bound_inclusive(table):
    f = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "featured-or-disk", 0.7, 0.8)])
    np.testing.assert_array_equal(f.mask(table), [False, True, True, False, False])


def test_with_condition_replaces_and_without_cascades(table):
    f = MorphologyFilter(GZ_DECALS, [FEATURED, FACE_ON, SPIRAL])
    g = f.with_condition(Condition("has-spiral-arms", "yes", 0.9))
    assert len(g) == 3
    assert g.condition("has-spiral-arms", "yes").low == 0.9
    assert f.condition("has-spiral-arms", "yes").low == 0.6  # immutable
    h = g.without("disk-edge-on")  # has-spiral-arms depends on it: dropped too
    assert [c.question for c in h.conditions] == ["smooth-or-featured"]
    assert h.without("smooth-or-featured").conditions == ()
    # dropping a leaf keeps the rest
    assert len(g.without("has-spiral-arms")) == 2


def test_bad_conditions():
    with pytest.raises(SchemaError, match="low <= high"):
        Condition("bar", "no", 0.8, 0.2)
    with pytest.raises(SchemaError, match="low <= high"):
        Condition("bar", "no", -0.1)
    with pytest.raises(SchemaError, match="Did you mean 'merging'"):
        MorphologyFilter(GZ_DECALS, [Condition("mergin", "none")])
    with pytest.raises(SchemaError, match="no answer 'maybe'"):
        MorphologyFilter(GZ_DECALS, [Condition("merging", "maybe")])


def test_missing_column_names_it():
    f = MorphologyFilter(GZ_DECALS, [Condition("merging", "merger", 0.5)])
    with pytest.raises(SchemaError, match="merging_merger_fraction"):
        f.mask(pd.DataFrame({"x": [1.0]}))


def test_mask_on_catalogue(table):
    cat = Catalogue.from_arrays(np.zeros((5, 2)), table=table)
    f = MorphologyFilter(GZ_DECALS, [FEATURED, FACE_ON, SPIRAL])
    np.testing.assert_array_equal(f.mask(cat), f.mask(table))


def test_round_trip_dict():
    f = MorphologyFilter(GZ_DECALS, [FEATURED, FACE_ON, SPIRAL])
    assert MorphologyFilter.from_dict(GZ_DECALS, f.to_dict()) == f


def test_gz2_filter_on_real_data(shared_data):
    t = pd.read_csv(shared_data / "gz2_stripe82" / "gz2_stripe82_table5.csv.gz")
    f = MorphologyFilter(GZ2, [Condition("t01_smooth_or_features", "a02_features_or_disk", 0.5),
                               Condition("t02_edgeon", "a05_no", 0.5),
                               Condition("t04_spiral", "a08_spiral", 0.5)])
    assert f.enabled("t11_arms_number") == (True, "")
    assert not f.enabled("t09_bulge_shape")[0]
    f2 = f.with_condition(Condition("t11_arms_number", "a32_2", 0.5))
    n1, total = f.count(t)
    n2, _ = f2.count(t)
    assert total == len(t) and 0 < n2 < n1 < total
    expected = ((t["t01_smooth_or_features_a02_features_or_disk_fraction"] >= 0.5)
                & (t["t02_edgeon_a05_no_fraction"] >= 0.5)
                & (t["t04_spiral_a08_spiral_fraction"] >= 0.5)).sum()
    assert n1 == expected


def test_partial_decals_real_data(shared_data):
    t = pd.read_csv(shared_data / "decals_rings" / "catalog.csv")
    f = MorphologyFilter(GZ_DECALS, [FEATURED, FACE_ON,
                                     Condition("has-spiral-arms", "no", 0.7)])
    n, total = f.count(t)
    expected = ((t["smooth-or-featured_featured-or-disk_fraction"] >= 0.5)
                & (t["disk-edge-on_no_fraction"] >= 0.5)
                & (t["has-spiral-arms_no_fraction"] >= 0.7)).sum()
    assert total == 470 and 0 < n == expected < total
