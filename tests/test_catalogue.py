"""Loading, validating and saving catalogues (astroexplore.catalogue)."""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from astroexplore.catalogue import Catalogue, describe_catalogue, load_catalogue, save_catalogue
from astroexplore.errors import CatalogueError

N, D = 30, 40
FRACTIONS = ["smooth-or-featured_smooth", "smooth-or-featured_featured-or-disk",
             "smooth-or-featured_artifact", "has-spiral-arms_yes", "has-spiral-arms_no"]


def zoobot_frame(n=N, d=D, seed=0) -> pd.DataFrame:
    """A Zoobot-style catalogue: id_str, ra, dec, feat_pca_0..d-1, fractions with NaNs."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id_str": [f"{300000 + i}_{i}" for i in range(n)],
                       "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-90, 90, n)})
    feats = rng.normal(size=(n, d)).astype(np.float32)
    for j in range(d):
        df[f"feat_pca_{j}"] = feats[:, j]
    sf = rng.dirichlet([1, 1, 1], n)
    for j, c in enumerate(FRACTIONS[:3]):
        df[f"{c}_fraction"] = sf[:, j]
    arms = rng.uniform(0, 1, n)
    arms[::4] = np.nan  # question unlikely to be asked
    df["has-spiral-arms_yes_fraction"] = arms
    df["has-spiral-arms_no_fraction"] = 1 - arms
    return df


def feats_of(df: pd.DataFrame, prefix="feat_pca_") -> np.ndarray:
    cols = sorted((c for c in df.columns if c.startswith(prefix)),
                  key=lambda c: int(c[len(prefix):]))
    return df[cols].to_numpy(np.float32)


@pytest.fixture
def zoobot_parquet(tmp_path) -> Path:
    path = tmp_path / "zoobot_catalogue.parquet"
    zoobot_frame().to_parquet(path, index=False)
    return path


def write_csv(tmp_path, df, name="cat.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------- formats
def test_zoobot_catalogue_parquet(zoobot_parquet):
    cat = load_catalogue(zoobot_parquet)
    df = zoobot_frame()
    assert cat.n_galaxies == N and cat.n_features == D
    np.testing.assert_array_equal(cat.embeddings, feats_of(df))
    assert cat.embeddings.dtype == np.float32 and cat.embeddings.flags.c_contiguous
    assert not cat.embeddings.flags.writeable
    assert list(cat.table.columns[:3]) == ["id", "ra", "dec"]
    assert isinstance(cat.table.index, pd.RangeIndex)
    assert not any(c.startswith("feat_pca_") for c in cat.table.columns)
    assert cat.ids.tolist() == df["id_str"].tolist()
    assert cat.table["has-spiral-arms_yes_fraction"].isna().sum() == 8  # NaN kept
    np.testing.assert_allclose(cat.ra, df["ra"])
    assert cat.has_coordinates and cat.path == zoobot_parquet


def test_schema_detected(zoobot_parquet):
    pytest.importorskip("astroexplore.schemas")
    assert load_catalogue(zoobot_parquet).schema.name == "GZ DECaLS"
    assert load_catalogue(zoobot_parquet, schema=None).schema is None


def test_prefix_columns_sorted_numerically_csv(tmp_path):
    df = zoobot_frame(d=12).rename(columns=lambda c: c.replace("feat_pca_", "feat_"))
    shuffled = ["id_str"] + [f"feat_{j}" for j in (10, 2, 0, 11, 1, 3, 4, 5, 6, 7, 8, 9)]
    path = write_csv(tmp_path, df[shuffled + ["ra", "dec"]])
    cat = load_catalogue(path)
    np.testing.assert_allclose(cat.embeddings, feats_of(df, "feat_"), rtol=1e-6)


def test_int64_objids_keep_every_digit(tmp_path):
    objids = [1237648720693755918, 1237648720693755919, 9007199254740993]  # > 2**53
    df = pd.DataFrame({"objid": objids, "feat_0": [1.0, 2.0, 3.0], "feat_1": [0.0, 0.0, 1.0]})
    for path in (write_csv(tmp_path, df), tmp_path / "cat.parquet"):
        df.to_parquet(tmp_path / "cat.parquet", index=False)
        assert load_catalogue(path).ids.tolist() == [str(i) for i in objids]


def test_csv_ids_keep_leading_zeros(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"ID": ["007", "010"], "feat_0": [1, 2],
                                             "feat_1": [3, 4]}))
    assert load_catalogue(path).ids.tolist() == ["007", "010"]


def test_explicit_id_column_and_embedding_columns(tmp_path):
    df = zoobot_frame(d=3)
    path = write_csv(tmp_path, df.assign(name=[f"g{i}" for i in range(N)]))
    cat = load_catalogue(path, id_column="name", embedding_columns=["feat_pca_2", "feat_pca_0"])
    assert cat.ids[0] == "g0"
    np.testing.assert_allclose(cat.embeddings[:, 0], df["feat_pca_2"], rtol=1e-6)
    assert "id_str" in cat.table.columns  # the unused id candidate stays as metadata


def test_embedding_columns_by_pattern_in_table_order(tmp_path):
    df = zoobot_frame(d=3).assign(mag_g=1.0, mag_r=2.0)
    path = write_csv(tmp_path, df)
    cat = load_catalogue(path, embedding_columns=["mag_?", "feat_pca_[12]"])
    np.testing.assert_allclose(cat.embeddings[:, [0, 1]], df[["mag_g", "mag_r"]], rtol=1e-6)
    np.testing.assert_allclose(cat.embeddings[:, 2], df["feat_pca_1"], rtol=1e-6)
    assert cat.n_features == 4
    one = load_catalogue(path, embedding_columns="feat_pca_*")  # one str: one name or pattern
    assert one.n_features == 3


@pytest.mark.parametrize("columns, words", [
    (["mag_*"], r"no column matches the embedding pattern 'mag_\*'"),
    (["feat_pca_0", "feat_pca_*"], "'feat_pca_0' is given twice"),
    (["feat_pca_9"], "embedding column 'feat_pca_9' not found"),
    ([], "list of embedding columns is empty"),
])
def test_embedding_columns_errors_name_the_column_or_pattern(tmp_path, columns, words):
    path = write_csv(tmp_path, zoobot_frame(d=3))
    with pytest.raises(CatalogueError, match=words) as err:
        load_catalogue(path, embedding_columns=columns)
    assert "cat.csv" in str(err.value)


def test_vote_fractions_as_the_embedding_stay_posteriors_for_the_filter(tmp_path):
    df = zoobot_frame(d=2)
    fractions = [c for c in df if c.endswith("_fraction")]
    df[fractions] = df[fractions].fillna(0.0)  # an embedding has no NaN
    path = write_csv(tmp_path, df)
    cat = load_catalogue(path, embedding_columns=["*_fraction"])
    assert cat.n_features == len(fractions)
    np.testing.assert_allclose(cat.table[fractions[0]], df[fractions[0]], rtol=1e-6)
    assert cat.schema is not None  # the decision tree is still detected from them
    assert "feat_pca_0" in cat.table  # the usual embedding, not taken, is metadata


def test_fixed_size_list_parquet(tmp_path):
    feats = np.random.default_rng(1).normal(size=(N, 8)).astype(np.float32)
    table = pa.table({"id": [f"g{i}" for i in range(N)],
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(feats.ravel()), 8)})
    pq.write_table(table, tmp_path / "fsl.parquet")
    cat = load_catalogue(tmp_path / "fsl.parquet")
    np.testing.assert_array_equal(cat.embeddings, feats)
    assert list(cat.table.columns) == ["id"]


def test_variable_list_column_float64(tmp_path):
    feats = np.random.default_rng(2).normal(size=(N, 5))
    pd.DataFrame({"galaxy_id": range(N), "emb": list(feats)}).to_parquet(tmp_path / "l.parquet")
    cat = load_catalogue(tmp_path / "l.parquet")
    np.testing.assert_allclose(cat.embeddings, feats.astype(np.float32))
    assert cat.ids[:2].tolist() == ["0", "1"]


def test_many_row_groups(tmp_path):
    df = zoobot_frame(n=45, d=20)
    df.to_parquet(tmp_path / "groups.parquet", index=False, row_group_size=10)
    cat = load_catalogue(tmp_path / "groups.parquet")
    np.testing.assert_array_equal(cat.embeddings, feats_of(df))
    assert cat.embeddings.flags.c_contiguous
    save_catalogue(cat, tmp_path / "saved.parquet")
    feats = feats_of(df)
    table = pa.table({"id": df["id_str"],
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(feats.ravel()), 20)})
    pq.write_table(table, tmp_path / "fsl.parquet", row_group_size=7)
    np.testing.assert_array_equal(load_catalogue(tmp_path / "fsl.parquet").embeddings, feats)


def test_errors_in_later_row_groups_name_the_global_row(tmp_path):
    df = zoobot_frame(n=45, d=20)
    df.loc[23, "feat_pca_13"] = np.nan
    df.to_parquet(tmp_path / "nan.parquet", index=False, row_group_size=10)
    with pytest.raises(CatalogueError, match=r"'feat_pca_13' \(first: row 23, id '300023_23'") as err:
        load_catalogue(tmp_path / "nan.parquet")
    assert err.value.rows == [23]
    lists = [[1.0, 2.0, 3.0]] * 17 + [[1.0, 2.0]] + [[1.0, 2.0, 3.0]] * 5
    pq.write_table(pa.table({"id": [f"g{i}" for i in range(23)], "embedding": lists}),
                   tmp_path / "ragged.parquet", row_group_size=5)
    with pytest.raises(CatalogueError, match=r"length differs.*\(first: row 17, id 'g17', "
                       r"length 2\)") as err:
        load_catalogue(tmp_path / "ragged.parquet")
    assert err.value.rows == [17]


def test_ids_option_only_for_npy(zoobot_parquet):
    with pytest.raises(CatalogueError, match=r"ids= is only for \.npy"):
        load_catalogue(zoobot_parquet, ids=["a"])


def test_npy_with_ids_table(tmp_path):
    df = zoobot_frame()
    np.save(tmp_path / "emb.npy", feats_of(df))
    write_csv(tmp_path, df[["id_str", "ra", "dec"]], "ids.csv")
    cat = load_catalogue(tmp_path / "emb.npy", ids=tmp_path / "ids.csv")
    np.testing.assert_array_equal(cat.embeddings, feats_of(df))
    assert cat.ids.tolist() == df["id_str"].tolist() and cat.has_coordinates


def test_npy_with_id_list_or_none(tmp_path):
    np.save(tmp_path / "emb.npy", np.ones((3, 2), dtype=np.float64))
    assert load_catalogue(tmp_path / "emb.npy", ids=["a", "b", "c"]).ids.tolist() == ["a", "b", "c"]
    cat = load_catalogue(tmp_path / "emb.npy")
    assert cat.ids.tolist() == ["0", "1", "2"] and cat.embeddings.dtype == np.float32


def test_join_posteriors_parquet_in_other_order(tmp_path, zoobot_parquet):
    df = zoobot_frame()
    emb_only = df[["id_str", "ra", "dec"] + [c for c in df if c.startswith("feat_pca_")]]
    path = tmp_path / "emb.parquet"
    emb_only.to_parquet(path, index=False)
    post = df[["id_str", "ra"] + [c for c in df if c.endswith("_fraction")]].iloc[::-1]
    post.to_parquet(tmp_path / "post.parquet", index=False)
    cat = load_catalogue(path, posteriors=tmp_path / "post.parquet")
    np.testing.assert_allclose(cat.table["smooth-or-featured_smooth_fraction"],
                               df["smooth-or-featured_smooth_fraction"])
    assert list(cat.table.columns).count("ra") == 1


def test_join_zoobot_h5_posteriors(tmp_path, zoobot_parquet):
    df = zoobot_frame()
    alpha = np.random.default_rng(3).uniform(1, 10, size=(N, 2, 4)).astype(np.float32)
    with h5py.File(tmp_path / "preds.hdf5", "w") as f:
        f.create_dataset("predictions", data=alpha[::-1])
        f.create_dataset("id_str", data=[s.encode() for s in df["id_str"][::-1]])
        f.create_dataset("label_cols", data=[b"bar_yes", b"bar_no"])
    cat = load_catalogue(zoobot_parquet, posteriors=tmp_path / "preds.hdf5")
    frac = (alpha / alpha.sum(axis=1, keepdims=True)).mean(axis=2)
    np.testing.assert_allclose(cat.table["bar_yes_fraction"], frac[:, 0], rtol=1e-5)
    assert "bar_no_fraction_hi" in cat.table


def test_join_keeps_galaxies_without_votes_and_leaves_out_other_galaxies(tmp_path, zoobot_parquet):
    """A vote table covering part of the catalogue, and galaxies of the whole survey (the usual
    GZ table), joins: NaN where a galaxy has no row, the other rows left out, counts reported.
    (Both were refused: every id had to be on both sides.)"""
    from astroexplore.catalogue import describe_catalogue

    df = zoobot_frame()
    post = df[["id_str", "ra", "smooth-or-featured_smooth_fraction"]].rename(   # ra: a shared column
        columns={"smooth-or-featured_smooth_fraction": "bar_no_fraction"}).drop(index=[5, 9])
    post = pd.concat([post, pd.DataFrame({"id_str": ["stray", "other"], "ra": [1.0, 2.0],
                                          "bar_no_fraction": [0.1, 0.2]})])
    write_csv(tmp_path, post, "post.csv")
    cat = load_catalogue(zoobot_parquet, posteriors=tmp_path / "post.csv")
    assert cat.n_galaxies == len(df)
    got = cat.table["bar_no_fraction"].to_numpy()
    assert np.isnan(got[[5, 9]]).all()
    keep = np.setdiff1d(np.arange(len(df)), [5, 9])
    np.testing.assert_allclose(got[keep], df["smooth-or-featured_smooth_fraction"].to_numpy()[keep])
    assert cat.metadata["posteriors"]["matched"] == len(df) - 2
    assert cat.metadata["posteriors"]["without_row"] == 2 and cat.metadata["posteriors"]["other_rows"] == 2
    assert "2 without a row (NaN), 2 rows of other galaxies left out" in describe_catalogue(cat)


def test_join_with_no_id_in_common_is_an_error(tmp_path, zoobot_parquet):
    post = pd.DataFrame({"objid": ["a", "b"], "bar_no_fraction": [0.1, 0.2]})
    write_csv(tmp_path, post, "post.csv")
    with pytest.raises(CatalogueError, match=r"post\.csv.*no id of .*zoobot_catalogue\.parquet is in") as err:
        load_catalogue(zoobot_parquet, posteriors=tmp_path / "post.csv")
    assert err.value.column == "id"


def test_save_load_round_trip(tmp_path, zoobot_parquet):
    cat = load_catalogue(zoobot_parquet, image_template="https://x/cut?ra={ra}&dec={dec}")
    meta = dict(cat.metadata, encoder={"name": "zoobot", "dim": 40})
    cat = Catalogue(cat.table, cat.embeddings, cat.path, cat.schema, meta)
    out = save_catalogue(cat, tmp_path / "out" / "saved.parquet")
    assert pq.read_schema(out).field("embedding").type == pa.list_(pa.float32(), D)
    back = load_catalogue(out)
    np.testing.assert_array_equal(back.embeddings, cat.embeddings)
    pd.testing.assert_frame_equal(back.table, cat.table)
    assert back.metadata == meta
    assert back.image_reference(0).startswith("https://x/cut?ra=")


# ----------------------------------------------------------------------------- Catalogue API
@pytest.fixture
def small(tmp_path) -> Catalogue:
    df = pd.DataFrame({"id": ["a1", "b2", "c3"], "ra": [10.0, 20.0, 30.0],
                       "dec": [-1.0, 0.0, 1.0],
                       "image": ["imgs/a1.jpg", "https://e.org/b2.png", None]})
    path = tmp_path / "small.csv"
    df.assign(feat_0=[1.0, 2.0, 3.0], feat_1=[0.0, 1.0, 0.0]).to_csv(path, index=False)
    return load_catalogue(path, image_template="https://ls/cut?ra={ra}&dec={dec}&id={id}")


def test_index_of_and_hints(small):
    assert small.index_of("b2") == 1
    np.testing.assert_array_equal(small.indices_of(["c3", "a1"]), [2, 0])
    with pytest.raises(KeyError, match=r"'B2' is not in small\.csv\. Did you mean 'b2'"):
        small.index_of("B2")
    with pytest.raises(KeyError, match=r"1 of 2 ids are unknown.*'zz'"):
        small.indices_of(["a1", "zz"])


def test_a_typed_id_forgives_its_case_and_a_trailing_zero_together(small):
    """'B2' and 'b2.0' were found, 'B2.0' was not."""
    assert [small.row_of_typed_id(t) for t in ("b2", "B2", "b2.0", " B2.0 ", "B2.00", "B3.0")] == [1, 1, 1, 1, None, None]
    with pytest.raises(KeyError, match=r"'B2\.0' is not in small\.csv\. Did you mean 'b2'"):
        small.index_of("B2.0")


def test_an_exact_id_wins_over_a_forgiven_one():
    cat = Catalogue.from_arrays(np.ones((3, 2), np.float32), ids=["g1", "G1.0", "g1.0"])
    assert [cat.row_of_typed_id(t) for t in ("G1.0", "g1.0", "G1")] == [1, 2, 0]


def test_image_reference(small, tmp_path):
    assert small.image_reference(0) == str(tmp_path / "imgs" / "a1.jpg")
    assert small.image_reference(1) == "https://e.org/b2.png"
    assert small.image_reference(2) == "https://ls/cut?ra=30.0&dec=1.0&id=c3"
    no_template = Catalogue(small.table, small.embeddings, small.path, None, {})
    assert no_template.image_reference(2) is None


def test_relative_catalogue_path_survives_a_change_of_directory(small, tmp_path, monkeypatch):
    """A catalogue opened as 'small.csv' still finds its images (and caches) after os.chdir."""
    monkeypatch.chdir(tmp_path)
    cat = load_catalogue("small.csv")
    assert cat.path == tmp_path / "small.csv"
    monkeypatch.chdir(tmp_path.parent)
    assert cat.image_reference(0) == str(tmp_path / "imgs" / "a1.jpg")
    assert cat.cache_dir.is_absolute()


def test_relative_image_template_resolves_against_the_catalogue(small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)
    cat = load_catalogue(small.path, image_template="cutouts/{id}.png")
    assert cat.image_reference(2) == str(tmp_path / "cutouts" / "c3.png")


@pytest.mark.parametrize("template", ["https://x/cut?ra={ra}&dec={dec", "https://x/cut?ra={}&dec={}",
                                      "https://x/{id:.3f}.jpg", "https://x/{nosuchcolumn}.jpg"])
def test_bad_image_template_fails_at_load_naming_it(small, template):
    with pytest.raises(CatalogueError, match="image template") as err:
        load_catalogue(small.path, image_template=template)
    assert template in str(err.value) and "small.csv" in str(err.value)


def test_image_column_detected_and_renamed(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"iauname": ["J1", "J2"], "file_loc": ["x.jpg", "y.jpg"],
                                             "feat_0": [1, 2], "feat_1": [2, 1]}))
    cat = load_catalogue(path)
    assert "image" in cat.table and cat.metadata["image_column"] == "file_loc"
    assert cat.image_reference(1) == str(tmp_path / "y.jpg")


def test_fingerprint_cache_dir_subset(small, tmp_path):
    assert small.fingerprint == load_catalogue(small.path).fingerprint
    sub = small.subset(np.array([False, True, True]))
    assert sub.ids.tolist() == ["b2", "c3"] and sub.fingerprint != small.fingerprint
    assert sub.embeddings.flags.c_contiguous and not sub.embeddings.flags.writeable
    assert small.subset([2, 0]).ids.tolist() == ["c3", "a1"]
    assert small.cache_dir == tmp_path / "small.astroexplore" and small.cache_dir.is_dir()
    mem = Catalogue.from_arrays(np.ones((2, 2)))
    assert mem.cache_dir.is_dir() and mem.fingerprint in mem.cache_dir.name


def test_from_arrays_validates():
    cat = Catalogue.from_arrays(np.arange(6).reshape(3, 2), ids=[10, 11, 12])
    assert cat.ids.tolist() == ["10", "11", "12"] and cat.embeddings.dtype == np.float32
    with pytest.raises(CatalogueError, match="no galaxies"):
        Catalogue.from_arrays(np.ones((0, 3)))
    with pytest.raises(CatalogueError, match=r"1 row has NaN.*'embedding\[1\]'.*row 1, id '1'"):
        Catalogue.from_arrays([[1.0, 2.0], [3.0, np.nan]])
    with pytest.raises(CatalogueError, match="duplicate id"):
        Catalogue.from_arrays(np.ones((2, 2)), ids=["x", "x"])
    with pytest.raises(CatalogueError, match="dec outside"):
        Catalogue.from_arrays(np.ones((1, 2)), table=pd.DataFrame({"ra": [1.0], "dec": [91.0]}))


def test_describe(zoobot_parquet):
    text = describe_catalogue(load_catalogue(zoobot_parquet))
    assert "zoobot_catalogue.parquet" in text and "galaxies:     30" in text
    assert "features:     40 (float32)" in text and "5 fraction columns (8 galaxies with NaN" in text


# ----------------------------------------------------------------------------- errors
def bad_csv(tmp_path, **changes) -> Path:
    """A 6-galaxy CSV (id, ra, dec, feat_0..2, bar_no_fraction) with cells replaced."""
    df = pd.DataFrame({"id": [f"g{i}" for i in range(6)], "ra": np.linspace(1, 300, 6),
                       "dec": np.linspace(-80, 80, 6), "feat_0": np.arange(6.0),
                       "feat_1": np.ones(6), "feat_2": np.zeros(6), "bar_no_fraction": 0.5})
    df = df.astype(object)
    for key, value in changes.items():
        column, row = key.rsplit("__", 1)
        df.loc[int(row), column] = value
    return write_csv(tmp_path, df, "bad.csv")


BAD_VALUES = [  # (cells to change, message after "bad.csv: ", column, rows)
    ({"id__3": ""}, r"1 row has a missing \(null or empty\) id in 'id' \(first: row 3\)",
     "id", [3]),
    ({"id__4": "g1", "id__5": "g1"},
     r"2 rows have a duplicate id in 'id' \(first: row 4, id 'g1', same as row 1\)",
     "id", [4, 5]),
    ({"feat_1__2": "nan"},
     r"1 row has NaN or infinite embedding values in 'feat_1' \(first: row 2, id 'g2'",
     "feat_1", [2]),
    ({"feat_2__1": "inf", "feat_0__4": "-inf"},
     r"2 rows have NaN.*'feat_2' \(first: row 1, id 'g1'", "feat_2", [1, 4]),
    ({"feat_0__5": "abc"},
     r"1 row has a non-numeric value .*'feat_0' \(first: row 5, id 'g5', value 'abc'\)",
     "feat_0", [5]),
    ({"ra__2": 360.0},
     r"1 row has an ra outside \[0, 360\) degrees in 'ra' \(first: row 2, id 'g2', value 360.0\)",
     "ra", [2]),
    ({"dec__0": -90.5},
     r"1 row has a dec outside \[-90, 90\] degrees in 'dec' \(first: row 0, id 'g0'",
     "dec", [0]),
    ({"bar_no_fraction__1": 1.2, "bar_no_fraction__3": -0.1},
     (r"2 rows have a vote fraction outside \[0, 1\] in 'bar_no_fraction' "
      r"\(first: row 1, id 'g1', value 1.2\)"),
     "bar_no_fraction", [1, 3]),
]


@pytest.mark.parametrize(("changes", "pattern", "column", "rows"), BAD_VALUES)
def test_bad_values(tmp_path, changes, pattern, column, rows):
    with pytest.raises(CatalogueError, match=r"bad\.csv: " + pattern) as err:
        load_catalogue(bad_csv(tmp_path, **changes))
    assert err.value.column == column and err.value.rows == rows
    assert err.value.file.endswith("bad.csv")


def test_null_id_in_parquet(tmp_path):
    pq.write_table(pa.table({"id": ["a", None, "c"], "feat_0": [1.0, 2, 3], "feat_1": [1.0, 2, 3]}),
                   tmp_path / "n.parquet")
    with pytest.raises(CatalogueError, match=r"n\.parquet: 1 row has a missing.*row 1") as err:
        load_catalogue(tmp_path / "n.parquet")
    assert err.value.rows == [1]


def test_ragged_list_column(tmp_path):
    pq.write_table(pa.table({"id": ["a", "b", "c"], "embedding": [[1.0, 2.0], [1.0, 2.0], [3.0]]}),
                   tmp_path / "ragged.parquet")
    with pytest.raises(CatalogueError, match=r"ragged\.parquet: 1 row has an embedding whose "
                       r"length differs from row 0's \(2\) in 'embedding' \(first: row 2, id 'c', "
                       r"length 1\)") as err:
        load_catalogue(tmp_path / "ragged.parquet")
    assert err.value.column == "embedding" and err.value.rows == [2]


def test_nan_inside_list_column(tmp_path):
    pq.write_table(pa.table({"id": ["a", "b"], "embedding": [[1.0, 2.0], [1.0, None]]}),
                   tmp_path / "l.parquet")
    with pytest.raises(CatalogueError, match=r"NaN or infinite.*'embedding\[1\]'.*row 1, id 'b'"):
        load_catalogue(tmp_path / "l.parquet")


def test_npy_rows_mismatch(tmp_path):
    np.save(tmp_path / "emb.npy", np.ones((5, 3), np.float32))
    write_csv(tmp_path, pd.DataFrame({"id_str": ["a", "b", "c", "d"]}), "ids.csv")
    with pytest.raises(CatalogueError, match=r"emb\.npy: 5 embedding rows but 4 ids in .*ids\.csv "
                       r"\('id_str'\) \(first unmatched: row 4\)") as err:
        load_catalogue(tmp_path / "emb.npy", ids=tmp_path / "ids.csv")
    assert err.value.column == "id_str" and err.value.rows == [4]
    # ids as a list: said as given (not "4 ids in ids")
    with pytest.raises(CatalogueError, match=r"5 embedding rows but 6 ids given \(first unmatched: row 5\)"):
        load_catalogue(tmp_path / "emb.npy", ids=list("abcdef"))


def test_prefix_gap(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"id": ["a"], "feat_0": [1.0], "feat_2": [2.0]}))
    with pytest.raises(CatalogueError, match=r"cat\.csv: embedding columns 'feat_\*' are not "
                       r"consecutive from 0: 'feat_1' is missing") as err:
        load_catalogue(path)
    assert err.value.column == "feat_1"


def test_no_embedding_columns(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"id": ["a"], "ra": [1.0], "mag_r": [17.0]}))
    with pytest.raises(CatalogueError, match=r"cat\.csv: no embedding columns found\. Columns: "
                       r"'id', 'ra', 'mag_r'\. Pass --embedding-prefix"):
        load_catalogue(path)
    with pytest.raises(CatalogueError, match=r"no embedding columns 'emb_0'.*found") as err:
        load_catalogue(path, embedding_prefix="emb_")
    assert err.value.column == "emb_0"
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    assert "astroexplore embed" not in str(err.value)  # no images: nothing to embed


def test_a_table_of_images_without_embeddings_points_to_embed(tmp_path):
    """gz1_sdss/catalog.csv (objid, gz1_class, file) served as it is: the error said to pass an
    embedding prefix, not that `astroexplore embed` makes embeddings from the images it lists."""
    path = write_csv(tmp_path, pd.DataFrame({"objid": [1, 2], "gz1_class": ["merger", "elliptical"],
                                             "File": ["a.jpg", "b.jpg"]}))
    with pytest.raises(CatalogueError, match=r"image column \('File'\): `astroexplore embed \S*cat\.csv "
                       r"--out cat_embedded\.parquet` trains an encoder on its images"):
        load_catalogue(path)
    # only where `embed` would find the images: it reads 'path', not a catalogue's 'url' column
    for column, hinted in (("path", True), ("url", False)):
        path = write_csv(tmp_path, pd.DataFrame({"objid": [1], column: ["a.jpg"]}), f"{column}.csv")
        with pytest.raises(CatalogueError) as err:
            load_catalogue(path)
        assert ("`astroexplore embed" in str(err.value)) == hinted, (column, str(err.value))


def test_unknown_id_column(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"objid": [1], "feat_0": [1.0], "feat_1": [2.0]}))
    with pytest.raises(CatalogueError, match=r"cat\.csv: id column 'obj_id' not found\. Did you "
                       r"mean 'objid'\?") as err:
        load_catalogue(path, id_column="obj_id")
    assert err.value.column == "obj_id"
    nameless = write_csv(tmp_path, pd.DataFrame({"name": ["x"], "feat_0": [1.0]}), "noid.csv")
    with pytest.raises(CatalogueError, match=r"noid\.csv: no id column found.*--id-column"):
        load_catalogue(nameless)


def test_unreadable_files(tmp_path):
    with pytest.raises(CatalogueError, match=r"missing\.parquet: file not found"):
        load_catalogue(tmp_path / "missing.parquet")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CatalogueError, match=r"corrupt\.parquet: cannot read as Parquet"):
        load_catalogue(tmp_path / "corrupt.parquet")
    (tmp_path / "cat.fits").write_bytes(b"SIMPLE")  # FITS is read now; a broken one says so
    with pytest.raises(CatalogueError, match=r"cat\.fits: cannot read as FITS"):
        load_catalogue(tmp_path / "cat.fits")
    (tmp_path / "cat.votable").write_bytes(b"<VOTABLE/>")
    with pytest.raises(CatalogueError, match=r"cat\.votable: unsupported file type '\.votable'.*FITS table"):
        load_catalogue(tmp_path / "cat.votable")
    (tmp_path / "bad.npy").write_bytes(b"nope")
    with pytest.raises(CatalogueError, match=r"bad\.npy: cannot read as \.npy"):
        load_catalogue(tmp_path / "bad.npy")


def test_empty_table(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"id": [], "feat_0": [], "feat_1": []}))
    with pytest.raises(CatalogueError, match=r"cat\.csv: the catalogue has no galaxies"):
        load_catalogue(path)


def test_unknown_image_column(tmp_path):
    path = write_csv(tmp_path, pd.DataFrame({"id": ["a"], "file": ["x.jpg"], "feat_0": [1.0],
                                             "feat_1": [1.0]}))
    with pytest.raises(CatalogueError, match=r"image column 'files' not found\. Did you mean"):
        load_catalogue(path, image_column="files")


# ----------------------------------------------------------------------------- real data
@pytest.mark.shared_data
def test_real_desi_explorer(shared_data):
    path = shared_data / "desi_explorer_50k" / "desi_50k_pca2.parquet"
    cat = load_catalogue(path, embedding_prefix="pca_")
    assert cat.n_galaxies == 50_000 and cat.n_features == 2
    assert cat.ids[0] == "469505_1011" and cat.has_coordinates
    assert "est_dr5_pixscale" in cat.table and "pca_0" not in cat.table
    with pytest.raises(CatalogueError, match="--embedding-prefix"):
        load_catalogue(path)  # 2-D projection columns are never taken as embeddings silently


@pytest.mark.shared_data
def test_real_decals_rings_with_made_up_embeddings(shared_data, tmp_path):
    table = shared_data / "decals_rings" / "catalog.csv"
    n = len(pd.read_csv(table))
    np.save(tmp_path / "emb.npy", np.random.default_rng(0).normal(size=(n, 16)))
    cat = load_catalogue(tmp_path / "emb.npy", ids=table)
    assert cat.n_galaxies == n == 470 and cat.ids[0] == "J000411.19+020924.0"
    # images are listed relative to the ids table: resolved against its folder, not the .npy's
    assert cat.metadata["image_column"] == "file"
    assert cat.table["image"].iat[0] == "images/J000411.19+020924.0.jpg"
    assert Path(cat.image_reference(0)).is_file()
    saved = load_catalogue(save_catalogue(cat, tmp_path / "elsewhere" / "rings.parquet"))
    assert saved.image_reference(5) == cat.image_reference(5)
    pytest.importorskip("astroexplore.schemas")
    assert cat.schema is not None and cat.schema.name == "GZ DECaLS"


# ----------------------------------------------------------------------------- files as users write them
def _three(**extra) -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c"], "feat_0": [1.0, 2, 3], "feat_1": [3.0, 1, 2],
                         "feat_2": [0.0, 0, 1], **extra})


def test_unrelated_list_column_never_replaces_feat_columns(tmp_path):
    """A list column of magnitudes (or of band names) beside feat_0..2 is metadata, not the embedding."""
    path = tmp_path / "mags.parquet"
    _three(mag_ugriz=[[20.0, 19, 18, 17, 16]] * 3).to_parquet(path)
    cat = load_catalogue(path)
    assert cat.n_features == 3 and cat.embeddings[0].tolist() == [1.0, 3.0, 0.0]
    path = tmp_path / "bands.parquet"
    _three(bands=[["g", "r"], ["g", "r", "z"], ["r"]]).to_parquet(path)
    assert load_catalogue(path).n_features == 3
    only_list = tmp_path / "vectors.parquet"
    pd.DataFrame({"id": ["a", "b"], "zoobot": [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]}).to_parquet(only_list)
    assert load_catalogue(only_list).n_features == 3  # the only list of numbers is still found


def test_parquet_saved_with_the_id_as_pandas_index(tmp_path):
    """df.set_index("id").to_parquet(...), for the catalogue and for --posteriors."""
    main, post = tmp_path / "main.parquet", tmp_path / "post.parquet"
    _three().set_index("id").to_parquet(main)
    pd.DataFrame({"id": ["a", "b", "c"], "bar_no_fraction": [0.1, 0.2, 0.3]}).set_index("id").to_parquet(post)
    cat = load_catalogue(main, posteriors=post)
    assert cat.ids.tolist() == ["a", "b", "c"] and cat.n_features == 3
    assert cat.table["bar_no_fraction"].tolist() == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("header, column", [("id,ra,ra,feat_0,feat_1", "ra"),
                                            ("id,feat_0,feat_1,feat_1", "feat_1")])
def test_repeated_column_names_are_named(tmp_path, header, column):
    path = tmp_path / "dup.csv"
    n = header.count(",")
    path.write_text(header + "\n" + "a" + ",1" * n + "\n" + "b" + ",2" * n + "\n")
    with pytest.raises(CatalogueError, match=f"column '{column}' appears more than once") as err:
        load_catalogue(path)
    assert err.value.column == column


def test_semicolon_separated_csv_says_so(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("objid;feat_0;feat_1\n1;0.1;0.2\n2;0.3;0.4\n")
    with pytest.raises(CatalogueError, match="separated by ';'"):
        load_catalogue(path)


def test_float_ids_beyond_2_53_are_refused_not_rounded(tmp_path):
    """SDSS objids saved as float64 have lost their last digits: refuse, never load wrong ids."""
    path = tmp_path / "float_ids.parquet"
    pd.DataFrame({"objid": [1237648720693755918.0, 2.0], "feat_0": [1.0, 2.0], "feat_1": [0.0, 1.0]}).to_parquet(path)
    with pytest.raises(CatalogueError, match=r"beyond 2\*\*53.*store ids as int64 or text") as err:
        load_catalogue(path)
    assert err.value.rows == [0] and err.value.column == "objid"
    nan_id = tmp_path / "nan_id.parquet"
    pd.DataFrame({"objid": [1.0, np.nan], "feat_0": [1.0, 2.0], "feat_1": [0.0, 1.0]}).to_parquet(nan_id)
    with pytest.raises(CatalogueError, match="missing") as err:
        load_catalogue(nan_id)
    assert err.value.rows == [1]
    small = tmp_path / "small_float_ids.parquet"
    pd.DataFrame({"objid": [587722.0, 2.0], "feat_0": [1.0, 2.0], "feat_1": [0.0, 1.0]}).to_parquet(small)
    assert load_catalogue(small).ids.tolist() == ["587722", "2"]


def test_gz2_debiased_fractions_are_range_checked(tmp_path):
    path = tmp_path / "gz2.csv"
    _three(t01_smooth_or_features_a01_smooth_debiased=[0.2, 1.7, 0.5]).to_csv(path, index=False)
    with pytest.raises(CatalogueError, match=r"vote fraction outside \[0, 1\]") as err:
        load_catalogue(path)
    assert err.value.rows == [1]


def test_coordinate_messages(tmp_path):
    nan_ra = tmp_path / "nan_ra.csv"
    _three(ra=[10.0, np.nan, 30.0], dec=[0.0, 0.0, 0.0]).to_csv(nan_ra, index=False)
    with pytest.raises(CatalogueError, match=r"a missing \(NaN or empty\) ra"):
        load_catalogue(nan_ra)
    negative = tmp_path / "negative_ra.csv"
    _three(ra=[10.0, -5.0, 30.0], dec=[0.0, 0.0, 0.0]).to_csv(negative, index=False)
    with pytest.raises(CatalogueError, match=r"ra % 360"):
        load_catalogue(negative)


@pytest.mark.parametrize("ra, dec", [("RAJ2000", "DEJ2000"), ("ra_deg", "dec_deg"), ("RA_ICRS", "DE_ICRS")])
def test_vizier_and_other_usual_coordinate_names_are_the_catalogues_ra_dec(tmp_path, ra, dec):
    """A VizieR table's RAJ2000/DEJ2000 were ignored: the catalogue had no coordinates, and its
    position searches and Known objects were gone."""
    path = tmp_path / "vizier.csv"
    _three(ra=[10.0, 20.0, 30.0], dec=[0.0, 1.0, -2.0]).rename(columns={"ra": ra, "dec": dec}).to_csv(path, index=False)
    cat = load_catalogue(path)
    assert cat.has_coordinates and cat.ra.tolist() == [10.0, 20.0, 30.0] and cat.dec.tolist() == [0.0, 1.0, -2.0]


def test_coordinates_as_text_under_a_usual_name_are_named_in_the_summary(tmp_path):
    path = tmp_path / "sexagesimal.csv"
    _three(ra=["00 40 00", "01 20 00", "02 00 00"], dec=["+00 00 00", "+01 00 00", "-02 00 00"]).rename(
        columns={"ra": "RAJ2000", "dec": "DEJ2000"}).to_csv(path, index=False)
    cat = load_catalogue(path)
    assert not cat.has_coordinates
    assert "coordinates:  none: RAJ2000/DEJ2000 hold text, not degrees" in describe_catalogue(cat)
    alpha = tmp_path / "alpha.csv"  # too common a name elsewhere (a spectral index) to be taken
    _three(ra=[10.0, 20.0, 30.0], dec=[0.0, 1.0, -2.0]).rename(columns={"ra": "alpha", "dec": "delta"}).to_csv(
        alpha, index=False)
    assert not load_catalogue(alpha).has_coordinates


def test_folder_and_one_dimensional_npy_messages(tmp_path):
    folder = tmp_path / "a folder"
    folder.mkdir()
    with pytest.raises(CatalogueError, match="is a folder") as err:
        load_catalogue(folder)
    assert "astroexplore embed" not in str(err.value)
    # a folder of cutouts: the command that makes a catalogue of them (path quoted for the shell)
    (folder / "J1234+5678.FITS").write_bytes(b"")
    with pytest.raises(CatalogueError, match=r"is a folder, not a catalogue file\. It holds image "
                       r"cutouts: `astroexplore embed '.*a folder' --out 'a folder\.parquet'`"):
        load_catalogue(folder)
    vec = tmp_path / "vec.npy"
    np.save(vec, np.arange(5.0))
    with pytest.raises(CatalogueError) as err:
        load_catalogue(vec)
    assert "must be 2-D" in str(err.value) and str(err.value).count(str(vec)) == 1


def test_posteriors_dataframe_with_its_own_id_column_name(tmp_path):
    path = tmp_path / "cat.csv"
    _three().to_csv(path, index=False)
    post = pd.DataFrame({"objid": ["c", "a", "b"], "bar_no_fraction": [0.3, 0.1, 0.2]})
    cat = load_catalogue(path, posteriors=post)
    assert cat.table["bar_no_fraction"].tolist() == [0.1, 0.2, 0.3]


def test_a_folder_marked_read_only_gets_no_cache_even_for_root(tmp_path):
    """Running as root (CI containers), os.access said a 0555 data folder was writable and the
    cache folder was written into it (../shared/data here)."""
    folder = tmp_path / "release"
    folder.mkdir()
    path = folder / "cat.parquet"
    pd.DataFrame({"id": ["a", "b", "c"], "feat_0": [1.0, 2.0, 3.0], "feat_1": [0.0, 1.0, 0.5]}).to_parquet(path)
    folder.chmod(0o555)
    try:
        cat = load_catalogue(path)
        assert not cat.cache_dir.is_relative_to(folder) and cat.cache_dir.is_dir()
        assert sorted(p.name for p in folder.iterdir()) == ["cat.parquet"]
    finally:
        folder.chmod(0o755)


def test_posteriors_without_any_vote_fraction_column_are_refused(tmp_path):
    """They were joined silently: validate said 'posteriors: none' and exited 0."""
    path = tmp_path / "cat.csv"
    _three().to_csv(path, index=False)
    post = tmp_path / "votes.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "smooth": [0.1, 0.2, 0.3], "featured": [0.9, 0.8, 0.7]}).to_csv(post, index=False)
    with pytest.raises(CatalogueError, match=r"votes.csv has no Galaxy Zoo vote-fraction column "
                                             r"\(columns: .*smooth.*\).*_fraction"):
        load_catalogue(path, posteriors=post)


@pytest.mark.parametrize("written, named, says", [
    ("csv", "cat.parquet", "the file holds CSV, not Parquet: rename it to cat.csv"),
    ("parquet", "cat.csv", "the file holds Parquet, not CSV: rename it to cat.parquet"),
])
def test_a_table_named_for_another_format_says_which_it_is(tmp_path, written, named, says):
    """pyarrow's 'Parquet magic bytes not found in footer' named the file but not the fix."""
    df = _three()
    path = tmp_path / named
    df.to_csv(path, index=False) if written == "csv" else df.to_parquet(path)
    with pytest.raises(CatalogueError, match=re.escape(says)):
        load_catalogue(path)


@pytest.mark.parametrize("text", ["not a parquet at all", "not a parquet at all\nnor this\n", "hello world\n"])
def test_text_that_is_no_table_is_not_called_csv(tmp_path, text):
    """'not a parquet at all' in garbage.parquet was 'the file holds CSV: rename it to
    garbage.csv', after pyarrow's message cut with '...'."""
    path = tmp_path / "garbage.parquet"
    path.write_text(text)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    message = str(err.value)
    assert "garbage.parquet: cannot read as Parquet: it holds text, not a table" in message
    assert "magic bytes" not in message  # pyarrow's words only repeated it ("... not a parquet file")
    assert f"(its first line: {text.splitlines()[0]!r})" in message
    assert "CSV" not in message and "rename" not in message and "..." not in message


@pytest.mark.parametrize("text", ["id,ra,dec\na,1,2\n", "id;ra;dec\na;1;2\n", "id\ng1\ng2\n"])
def test_a_table_in_csv_text_is_still_called_csv(tmp_path, text):
    path = tmp_path / "cat.parquet"
    path.write_text(text)
    with pytest.raises(CatalogueError, match="the file holds CSV, not Parquet: rename it to cat.csv"):
        load_catalogue(path)


def test_save_catalogue_never_overwrites_a_label_store_and_asks_before_replacing(tmp_path):
    """save_catalogue wrote over anything: a label store given by mistake lost every label, a
    'sub.csv' got Parquet bytes, and the catalogue it was loaded from was replaced silently."""
    from astroexplore.catalogue import save_catalogue
    from astroexplore.labels import LabelStore

    cat = Catalogue.from_arrays(np.ones((4, 3), np.float32), ids=["a", "b", "c", "d"])
    store_path = tmp_path / "p.labels.sqlite"
    with LabelStore(store_path, valid_ids=cat.ids) as store:
        store.add("a", 5)
    with pytest.raises(CatalogueError, match="written as Parquet"):
        save_catalogue(cat, store_path)
    renamed = tmp_path / "labels.parquet"  # a label store under a catalogue's name
    renamed.write_bytes(store_path.read_bytes())
    with pytest.raises(CatalogueError, match="SQLite database .*left untouched"):
        save_catalogue(cat, renamed, overwrite=True)
    assert renamed.read_bytes() == store_path.read_bytes()
    with LabelStore(store_path) as store:
        assert store.count() == 1
    with pytest.raises(CatalogueError, match=r"name the file 'sub.parquet'"):
        save_catalogue(cat, tmp_path / "sub.csv")
    assert not (tmp_path / "sub.csv").exists()
    out = save_catalogue(cat, tmp_path / "cat.parquet")
    back = load_catalogue(out)
    with pytest.raises(CatalogueError, match=r"exists \(the catalogue this one was loaded from\); pass overwrite=True"):
        save_catalogue(back.subset(np.arange(2)), out)
    assert load_catalogue(out).n_galaxies == 4
    save_catalogue(back.subset(np.arange(2)), out, overwrite=True)
    assert load_catalogue(out).n_galaxies == 2


def test_from_arrays_takes_the_tables_id_column_and_schema_as_load_catalogue_does():
    """Catalogue.from_arrays(X, table=df) with an 'objid' column gave ids '0', '1', ... and no
    schema, so labels were keyed by row number and MorphologyFilter(cat.schema) failed."""
    from astroexplore.schemas import GZ_DECALS

    rng = np.random.default_rng(0)
    n = 6
    table = pd.DataFrame({"objid": np.arange(n, dtype=np.int64) + 1237648720693755918,
                          "ra": np.linspace(10, 11, n), "dec": np.zeros(n)})
    for q in GZ_DECALS.questions:
        fr = rng.dirichlet(np.ones(len(q.answers)), size=n)
        for j, a in enumerate(q.answers):
            table[a.column] = fr[:, j]
    cat = Catalogue.from_arrays(rng.normal(size=(n, 3)), table=table)
    assert cat.ids[0] == "1237648720693755918" and "objid" not in cat.table.columns
    assert cat.schema is not None and cat.schema.name == GZ_DECALS.name
    named = Catalogue.from_arrays(rng.normal(size=(n, 3)), table=table.rename(columns={"objid": "name"}),
                                  id_column="name")
    assert list(named.ids) == list(cat.ids)
    with pytest.raises(CatalogueError, match="id column 'nmae' not found.*Did you mean 'name'"):
        Catalogue.from_arrays(rng.normal(size=(n, 3)), table=table.rename(columns={"objid": "name"}),
                              id_column="nmae")
    bare = Catalogue.from_arrays(rng.normal(size=(n, 3)), table=table[["ra", "dec"]])
    assert list(bare.ids) == [str(i) for i in range(n)] and bare.schema is None


def test_a_fits_table_loads_as_its_parquet_twin(tmp_path):
    """FITS, the astronomers' default table format, was refused ('unsupported file type')."""
    from astropy.io import fits
    from astropy.table import Table

    rng = np.random.default_rng(3)
    n, d = 30, 8
    objid = np.arange(n, dtype=np.int64) + 1237648720693755918
    emb = rng.normal(size=(n, d)).astype(np.float32)
    t = Table({"objid": objid, "ra": np.linspace(150, 151, n), "dec": np.linspace(2, 3, n),
               "name": np.array([f"J{i:04d}" for i in range(n)], dtype="S5"), "embedding": emb})
    t["ra"].unit = "deg"
    t.write(tmp_path / "cat.fits")
    t.write(tmp_path / "cat.fits.gz")
    for name in ("cat.fits", "cat.fits.gz"):
        cat = load_catalogue(tmp_path / name)
        assert cat.ids[0] == "1237648720693755918" and cat.embeddings.shape == (n, d)
        np.testing.assert_array_equal(cat.embeddings, emb)
        np.testing.assert_allclose(cat.ra, np.linspace(150, 151, n))
        assert cat.table["name"].iloc[3] == "J0003"
    # prefix columns, as in a CSV export of the same table
    flat = Table({"objid": objid, **{f"feat_{j}": emb[:, j] for j in range(d)}})
    flat.write(tmp_path / "flat.fits")
    np.testing.assert_array_equal(load_catalogue(tmp_path / "flat.fits").embeddings, emb)
    # an image, not a table: an error naming the file
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(tmp_path / "image.fits")
    with pytest.raises(CatalogueError, match=r"image.fits.*cannot read as FITS"):
        load_catalogue(tmp_path / "image.fits")
    # a FITS table under a .csv name: the hint says what it is
    (tmp_path / "cat.csv").write_bytes((tmp_path / "cat.fits").read_bytes())
    with pytest.raises(CatalogueError, match=r"holds FITS, not CSV: rename it to cat.fits"):
        load_catalogue(tmp_path / "cat.csv")


def test_vote_fractions_given_in_percent_get_a_hint(tmp_path):
    df = pd.DataFrame({"id": ["a", "b", "c"], "feat_0": [0.1, 0.2, 0.3], "feat_1": [1.0, 2.0, 3.0],
                       "bar_no_fraction": [12.5, 80.0, 0.0]})
    df.to_csv(tmp_path / "pct.csv", index=False)
    with pytest.raises(CatalogueError, match=r"2 rows have a vote fraction outside .*percentages\? Divide the column by 100"):
        load_catalogue(tmp_path / "pct.csv")
    df["bar_no_fraction"] = [0.1, -3.0, 0.2]  # not percentages: no such hint
    df.to_csv(tmp_path / "neg.csv", index=False)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(tmp_path / "neg.csv")
    assert "percent" not in str(err.value)


def test_describe_shows_an_image_path_relative_to_the_table_without_dot_dots(tmp_path):
    """`embed --out proj/out.parquet` writes image paths relative to its table; `validate` showed
    its example as proj/../cutouts/a.jpg."""
    (tmp_path / "cutouts").mkdir()
    (tmp_path / "cutouts" / "a.jpg").write_bytes(b"")
    (tmp_path / "proj").mkdir()
    path = tmp_path / "proj" / "cat.parquet"
    pd.DataFrame({"id": ["a"], "feat_0": [1.0], "feat_1": [2.0], "image": ["../cutouts/a.jpg"]}).to_parquet(path)
    cat = load_catalogue(path)
    assert ".." in cat.image_reference(0)  # resolved against the table's folder, as written
    assert f"(e.g. {tmp_path / 'cutouts' / 'a.jpg'})" in describe_catalogue(cat)


@pytest.mark.parametrize("name", ["cat.csv", "cat.csv.gz"])
def test_a_ragged_csv_row_is_named_by_its_line(tmp_path, name):
    """pyarrow quotes the row ('Expected 2 columns, got 3: 5,6,7') but not where it is, and the
    message went on 'the file holds text, not CSV'. Lines count as an editor does: a quoted cell
    over two lines and a blank line included."""
    import gzip

    text = 'id,b\n"a\nb",2\n\n3,4\n5,6,7\n8,9\n'
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    message = str(err.value)
    assert f"{name}: cannot read as CSV: line 6 has 3 values where the header has 2" in message
    assert "holds text" not in message
