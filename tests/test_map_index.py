"""Point and box queries on the 2-D map from a script (what the map tab does, without Panel)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import Catalogue
from astroexplore.map_index import MapIndex, map_table


def _islands(nan_row: int | None = None):
    """10,000 galaxies on a precomputed map: 9,500 around (0, 0), 500 around (20, 20)."""
    rng = np.random.default_rng(0)
    n = 10_000
    xy = np.vstack([rng.normal(0, 1, (n - 500, 2)), rng.normal(20, 1, (500, 2))])
    if nan_row is not None:
        xy[nan_row] = np.nan
    table = pd.DataFrame({"umap_0": xy[:, 0], "umap_1": xy[:, 1],
                          "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-60, 60, n)})
    cat = Catalogue.from_arrays(rng.normal(size=(n, 4)).astype(np.float32), table=table)
    return MapIndex.for_catalogue(cat), xy, cat


def test_the_catalogue_map_is_its_projection_columns():
    idx, xy, _ = _islands()
    assert np.allclose(idx.xy, xy.astype(np.float32))


def test_nearest_is_the_brute_force_answer():
    idx, xy, _ = _islands()
    got = idx.nearest(0.3, -0.2, 48)
    d = np.hypot(xy[:, 0] - 0.3, xy[:, 1] + 0.2)
    assert list(got) == list(np.argsort(d, kind="stable")[:48])


def test_nearest_finds_filtered_galaxies_far_from_the_point():
    """The filter keeps only the far island: the tap still lists its nearest members, not nothing."""
    idx, xy, _ = _islands()
    mask = np.zeros(len(xy), bool)
    mask[-500:] = True
    got = idx.nearest(0.0, 0.0, 24, mask=mask)
    d = np.where(mask, np.hypot(xy[:, 0], xy[:, 1]), np.inf)
    assert list(got) == list(np.argsort(d, kind="stable")[:24])


def test_nearest_skips_galaxies_without_a_map_position():
    idx, xy, _ = _islands(nan_row=5)
    got = idx.nearest(float(xy[4, 0]), float(xy[4, 1]), 50)
    assert len(got) == 50 and 5 not in got and got[0] == 4
    mask = np.zeros(len(xy), bool)
    mask[[4, 5]] = True
    assert list(idx.nearest(0.0, 0.0, 10, mask=mask)) == [4]
    assert len(idx.nearest(0.0, 0.0, 10, mask=np.zeros(len(xy), bool))) == 0


def test_box_holds_exactly_the_galaxies_inside_in_either_corner_order():
    idx, xy, _ = _islands(nan_row=7)
    inside = np.flatnonzero((xy[:, 0] >= 18) & (xy[:, 0] <= 21) & (xy[:, 1] >= 19) & (xy[:, 1] <= 22))
    assert list(idx.in_box(18, 21, 19, 22)) == list(inside) == list(idx.in_box(21, 18, 22, 19))
    mask = np.zeros(len(xy), bool)
    mask[inside[::2]] = True
    assert list(idx.in_box(18, 21, 19, 22, mask=mask)) == list(inside[::2])


def test_map_table_is_what_the_app_downloads():
    idx, xy, cat = _islands()
    rows = idx.nearest(20.0, 20.0, 5)
    scores = np.arange(len(xy), dtype=float)
    df = map_table(cat, idx.xy, rows, point=(20.0, 20.0), scores=scores, score_name="score_knn")
    assert list(df.columns) == ["id", "ra", "dec", "map_x", "map_y", "map_distance", "score_knn"]
    assert list(df["id"]) == [str(cat.ids[r]) for r in rows]
    assert np.all(np.diff(df["map_distance"]) >= 0)
    assert np.allclose(df["ra"], cat.ra[rows]) and np.allclose(df["score_knn"], rows)


@pytest.mark.parametrize("call, match", [
    (lambda m: m.nearest(0, 0, 0), "k must be a whole number >= 1"),
    (lambda m: m.nearest(0, 0, 2.5), "k must be a whole number >= 1"),
    (lambda m: m.nearest(0, np.nan, 3), "must be finite"),
    (lambda m: m.nearest("a", 0, 3), "needs two numbers"),
    (lambda m: m.nearest(0, 0, 3, mask=np.ones(4, bool)), r"mask must have shape \(10000,\)"),
    (lambda m: m.in_box(0, 1, 0, 1, mask=[True]), r"mask must have shape"),
])
def test_bad_queries_say_what_is_wrong(call, match):
    idx, _, _ = _islands()
    with pytest.raises(ValueError, match=match):
        call(idx)


def test_coordinates_must_be_two_columns():
    with pytest.raises(ValueError, match=r"shape \(n_galaxies, 2\)"):
        MapIndex(np.zeros((5, 3)))
