"""`astroexplore reduce`: a wide embedding (Zoobot's 640-1280 floats) written as its principal
components, read a block of rows at a time; bad input named before anything is written."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from astroexplore.catalogue import load_catalogue
from astroexplore.cli import main
from astroexplore.encoder.pca import EmbeddingPCA
from astroexplore.errors import CatalogueError
from astroexplore.reduce import basis_path_for, reduce_catalogue

N, D = 3000, 64


def _wide(seed=0, n=N, d=D):
    """Low-rank galaxies-like embedding: 6 strong directions plus noise; (ids, X float32, table)."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 6)) * [9, 7, 5, 4, 3, 2]) @ rng.normal(size=(6, d)) + rng.normal(size=(n, d))
    X = X.astype(np.float32)
    ids = [f"J{seed}{i:06d}" for i in range(n)]
    table = pd.DataFrame({"id_str": ids, "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-20, 20, n),
                          "mag_r": rng.uniform(15, 18, n), "survey": "DECaLS"})
    return ids, X, table


def _write_columns(path, table, X, row_group_size=700):
    """Parquet with feat_0..feat_{d-1} columns in several row groups."""
    t = pa.Table.from_pandas(table, preserve_index=False)
    for j in range(X.shape[1]):
        t = t.append_column(f"feat_{j}", pa.array(X[:, j]))
    pq.write_table(t, path, row_group_size=row_group_size)
    return path


def _aligned(Z, ref):
    """``Z`` with each column's sign flipped to agree with ``ref`` (PCA axes have no sign)."""
    return Z * np.sign(np.sum(Z * ref, axis=0))


@pytest.fixture(params=[64, 7], ids=["one column group", "columns 7 at a time"])
def column_group(request, monkeypatch):
    """The embedding read in one group of columns, or in groups of 7 (64 = 9 x 7 + 1)."""
    from astroexplore import reduce

    monkeypatch.setattr(reduce, "_COLUMN_GROUP", request.param)
    return request.param


def test_the_reduced_catalogue_holds_the_principal_components_and_every_other_column(tmp_path, column_group):
    from sklearn.decomposition import PCA

    ids, X, table = _wide()
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    done = reduce_catalogue(src, tmp_path / "out" / "narrow.parquet", 8, fit_rows=10 * N)
    assert (done.n_galaxies, done.n_features, done.n_components, done.fit_rows) == (N, D, 8, N)
    cat = load_catalogue(done.path)
    assert cat.ids.tolist() == ids and cat.embeddings.shape == (N, 8) and cat.embeddings.dtype == np.float32
    ref = PCA(8).fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(_aligned(cat.embeddings, ref), ref, atol=2e-3 * np.abs(ref).max())
    assert list(cat.table.columns) == ["id", "ra", "dec", "mag_r", "survey"]
    np.testing.assert_array_equal(cat.table["mag_r"], table["mag_r"])
    assert (cat.table["survey"] == "DECaLS").all()
    said = cat.metadata["reduced_from"]
    assert said["n_features"] == D and said["n_components"] == 8 and said["fit_rows"] == N
    assert said["variance_kept"] == pytest.approx(PCA(8).fit(X).explained_variance_ratio_.sum(), abs=1e-4)
    assert done.variance_kept == pytest.approx(said["variance_kept"], abs=1e-6)
    basis = EmbeddingPCA.load_npz(basis_path_for(done.path))
    assert basis.n_components == 8 and basis.dims == D
    np.testing.assert_allclose(basis.transform(X[:5]), cat.embeddings[:5], atol=1e-4)
    assert "8 principal components" in done.summary() and "3,000 galaxies: 64 features" in done.summary()
    assert "warning" not in done.summary()
    two = reduce_catalogue(src, tmp_path / "two.parquet", 2)  # 2 of the 6 strong directions
    assert two.variance_kept < 0.8 and f"warning:   2 components keep only {two.variance_kept:.0%}" in two.summary()


def test_a_sampled_fit_keeps_the_same_subspace(tmp_path):
    """Fitted on 500 random rows of 3,000: the same 6 strong axes (the rest is noise)."""
    _, X, table = _wide(1)
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    full = reduce_catalogue(src, tmp_path / "full.parquet", 6, fit_rows=N)
    part = reduce_catalogue(src, tmp_path / "part.parquet", 6, fit_rows=500, seed=3)
    assert part.fit_rows == 500 and part.fitted
    a = EmbeddingPCA.load_npz(full.basis_path).components
    b = EmbeddingPCA.load_npz(part.basis_path).components
    cosines = np.linalg.svd(a @ b.T, compute_uv=False)  # cosines of the principal angles
    assert cosines.min() > 0.99
    assert part.variance_kept == pytest.approx(full.variance_kept, abs=0.02)


def test_a_later_table_lands_in_the_same_coordinates_with_the_basis(tmp_path):
    _, X, table = _wide(2)
    first = reduce_catalogue(_write_columns(tmp_path / "dr1.parquet", table, X), tmp_path / "dr1_pca.parquet", 5)
    _, X2, table2 = _wide(3, n=400)
    later = tmp_path / "dr2.parquet"
    _write_columns(later, table2, X2)
    second = reduce_catalogue(later, tmp_path / "dr2_pca.parquet", basis=first.basis_path)
    assert not second.fitted and second.n_components == 5 and second.basis_given == first.basis_path
    np.testing.assert_allclose(load_catalogue(second.path).embeddings,
                               EmbeddingPCA.load_npz(first.basis_path).transform(X2), atol=1e-4)
    np.testing.assert_array_equal(np.load(second.basis_path)["components"], np.load(first.basis_path)["components"])
    assert "the basis" in second.summary()
    with pytest.raises(ValueError, match="has 5 components; ask for at most"):
        reduce_catalogue(later, tmp_path / "dr2_more.parquet", 6, basis=first.basis_path)
    narrow = tmp_path / "other_width.parquet"
    _write_columns(narrow, table2, X2[:, :30])
    with pytest.raises(ValueError, match="fitted on 64 features.*has 30"):
        reduce_catalogue(narrow, tmp_path / "x.parquet", basis=first.basis_path)
    with pytest.raises(ValueError, match="not a PCA basis"):
        reduce_catalogue(later, tmp_path / "y.parquet", basis=later)


@pytest.mark.parametrize("layout", ["list", "fixed_size_list", "npy", "csv", "fits"])
def test_every_layout_of_the_embedding_gives_the_same_catalogue(tmp_path, layout, column_group):
    ids, X, table = _wide(4, n=900)
    reference = reduce_catalogue(_write_columns(tmp_path / "cols.parquet", table, X), tmp_path / "ref.parquet", 4)
    if layout in ("list", "fixed_size_list"):
        values = pa.array(X.reshape(-1))
        column = (pa.FixedSizeListArray.from_arrays(values, D) if layout == "fixed_size_list"
                  else pa.ListArray.from_arrays(pa.array(np.arange(0, X.size + 1, D, dtype=np.int32)), values))
        src = tmp_path / "listed.parquet"
        t = pa.Table.from_pandas(table, preserve_index=False).append_column("embedding", column)
        pq.write_table(t, src, row_group_size=250)
        done = reduce_catalogue(src, tmp_path / "out.parquet", 4)
    elif layout == "npy":
        np.save(tmp_path / "emb.npy", X)
        table.to_csv(tmp_path / "ids.csv", index=False)
        done = reduce_catalogue(tmp_path / "emb.npy", tmp_path / "out.parquet", 4, ids=tmp_path / "ids.csv")
    else:
        frame = pd.concat([table, pd.DataFrame(X, columns=[f"feat_{j}" for j in range(D)])], axis=1)
        src = tmp_path / f"wide.{layout}"
        if layout == "csv":
            frame.to_csv(src, index=False)
        else:
            from astropy.table import Table
            Table.from_pandas(frame).write(src)
        done = reduce_catalogue(src, tmp_path / "out.parquet", 4)
    got, want = load_catalogue(done.path), load_catalogue(reference.path)
    assert got.ids.tolist() == ids
    np.testing.assert_allclose(got.embeddings, want.embeddings, atol=1e-3)
    np.testing.assert_allclose(got.table["dec"], table["dec"])


def test_a_bad_value_is_named_before_anything_is_written(tmp_path, column_group):
    ids, X, table = _wide(5)
    X[2500, 17] = np.nan  # in the fourth row group of 700
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    out = tmp_path / "out" / "narrow.parquet"
    with pytest.raises(CatalogueError) as err:
        reduce_catalogue(src, out, 8)
    assert err.value.rows == [2500] and err.value.column == "feat_17"
    assert "row 2500" in str(err.value) and ids[2500] in str(err.value) and str(src) in str(err.value)
    assert not out.exists() and not basis_path_for(out).exists()
    assert not list(tmp_path.glob("**/.*tmp*"))

    _, X, table = _wide(6, n=50)
    frame = pd.concat([table, pd.DataFrame(X, columns=[f"feat_{j}" for j in range(D)])], axis=1).astype({"feat_3": object})
    frame.loc[41, "feat_3"] = "bad"
    frame.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(CatalogueError, match=r"non-numeric value .* in 'feat_3' \(first: row 41"):
        reduce_catalogue(tmp_path / "text.csv", tmp_path / "t.parquet", 4)

    table.loc[7, "dec"] = 95.0  # checked before the embedding is read
    _write_columns(tmp_path / "dec.parquet", table, X)
    with pytest.raises(CatalogueError, match=r"dec.*row 7"):
        reduce_catalogue(tmp_path / "dec.parquet", tmp_path / "d.parquet", 4)

    ragged = pa.array([[1.0, 2.0, 3.0]] * 20 + [[1.0, 2.0]] + [[1.0, 2.0, 3.0]] * 9, pa.list_(pa.float32()))
    pq.write_table(pa.table({"id": [f"g{i}" for i in range(30)], "embedding": ragged}), tmp_path / "r.parquet",
                   row_group_size=10)
    with pytest.raises(CatalogueError, match="row 20"):
        reduce_catalogue(tmp_path / "r.parquet", tmp_path / "r_out.parquet", 2)


def test_what_is_refused_is_left_untouched(tmp_path):
    _, X, table = _wide(7, n=300)
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    before = src.read_bytes()
    with pytest.raises(CatalogueError, match="is an input of this reduction"):
        reduce_catalogue(src, src, 4, overwrite=True)
    store = tmp_path / "wide.labels.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("create table t (x)")
    store_parquet = tmp_path / "store.parquet"
    store_parquet.write_bytes(store.read_bytes())
    with pytest.raises(CatalogueError, match="SQLite"):
        reduce_catalogue(src, store_parquet, 4, overwrite=True)
    assert store_parquet.read_bytes() == store.read_bytes() and src.read_bytes() == before
    out = tmp_path / "narrow.parquet"
    reduce_catalogue(src, out, 4)
    with pytest.raises(CatalogueError, match="exists; pass overwrite=True"):
        reduce_catalogue(src, out, 3)
    assert reduce_catalogue(src, out, 3, overwrite=True).n_components == 3
    with pytest.raises(CatalogueError, match="has 64 features: nothing to reduce to 64"):
        reduce_catalogue(src, tmp_path / "same.parquet", 64)
    with pytest.raises(CatalogueError, match="give at least 11"):
        reduce_catalogue(src, tmp_path / "few.parquet", 10, fit_rows=5)
    _, X30, table30 = _wide(7, n=30)
    with pytest.raises(CatalogueError, match="has 30 galaxies: at most 29 components"):
        reduce_catalogue(_write_columns(tmp_path / "thirty.parquet", table30, X30), tmp_path / "few.parquet", 40)
    with pytest.raises(ValueError, match="n_components must be a whole number, got 2.5"):
        reduce_catalogue(src, tmp_path / "few.parquet", 2.5)
    np.save(tmp_path / "e.npy", X)
    with pytest.raises(CatalogueError, match="needs its ids"):
        reduce_catalogue(tmp_path / "e.npy", tmp_path / "e.parquet", 4)
    ids_table = tmp_path / "ids.parquet"  # an input too: --overwrite does not make it an output
    table.to_parquet(ids_table)
    kept = ids_table.read_bytes()
    with pytest.raises(CatalogueError, match="is an input of this reduction"):
        reduce_catalogue(tmp_path / "e.npy", ids_table, 4, ids=ids_table, overwrite=True)
    with pytest.raises(CatalogueError, match=r"300 embedding rows but 299 ids in .*ids\.csv \('id_str'\)"):
        table.iloc[:299].to_csv(tmp_path / "ids.csv", index=False)
        reduce_catalogue(tmp_path / "e.npy", tmp_path / "e.parquet", 4, ids=tmp_path / "ids.csv")
    np.save(tmp_path / "c.npy", X.astype(np.complex64))
    with pytest.raises(CatalogueError, match="2-D matrix of real numbers"):
        reduce_catalogue(tmp_path / "c.npy", tmp_path / "c.parquet", 4, ids=ids_table)
    assert ids_table.read_bytes() == kept
    (tmp_path / "blocked.pca.npz").mkdir()  # where the basis would go: refused before any work
    with pytest.raises(CatalogueError, match="is a folder, where the basis of blocked.parquet goes"):
        reduce_catalogue(src, tmp_path / "blocked.parquet", 4, overwrite=True)
    assert not (tmp_path / "blocked.parquet").exists()


def test_a_failure_while_saving_leaves_the_earlier_catalogue_and_its_basis(tmp_path, monkeypatch):
    _, X, table = _wide(10, n=300)
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    out = tmp_path / "narrow.parquet"
    reduce_catalogue(src, out, 4)
    before = out.read_bytes(), basis_path_for(out).read_bytes()

    def broken(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(EmbeddingPCA, "save_npz", broken)
    with pytest.raises(OSError, match="No space left"):
        reduce_catalogue(src, out, 6, overwrite=True)
    assert (out.read_bytes(), basis_path_for(out).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["narrow.parquet", "narrow.pca.npz", "wide.parquet"]


def test_empty_row_groups_are_no_rows(tmp_path):
    """Writers given an empty slice leave row groups of 0 rows; they hold no galaxies, not an error."""
    from astroexplore.catalogue import load_catalogue

    ids, X, table = _wide(11, n=200)
    t = pa.Table.from_pandas(table, preserve_index=False)
    listed = t.append_column("embedding", pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), D))
    cols = t
    for j in range(D):
        cols = cols.append_column(f"feat_{j}", pa.array(X[:, j]))
    for name, whole in (("listed", listed), ("cols", cols)):
        path = tmp_path / f"{name}.parquet"
        with pq.ParquetWriter(path, whole.schema) as writer:
            for part in (whole.slice(0, 0), whole.slice(0, 120), whole.slice(120, 0), whole.slice(120)):
                writer.write_table(part)
        assert pq.ParquetFile(path).metadata.row_group(0).num_rows == 0
        done = reduce_catalogue(path, tmp_path / f"{name}_pca.parquet", 3)
        assert load_catalogue(done.path).ids.tolist() == ids and load_catalogue(path).n_galaxies == 200


def test_a_basis_applies_only_to_the_same_columns_in_the_same_order(tmp_path):
    _, X, table = _wide(12, n=300)
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    first = reduce_catalogue(src, tmp_path / "first.parquet", 4)
    assert EmbeddingPCA.load_npz(first.basis_path).columns == tuple(f"feat_{j}" for j in range(D))
    backwards = tmp_path / "backwards.parquet"
    t = pa.Table.from_pandas(table, preserve_index=False)
    for j in reversed(range(D)):
        t = t.append_column(f"feat_{j}", pa.array(X[:, j]))
    pq.write_table(t, backwards)
    with pytest.raises(ValueError, match="fitted on other columns: feature 0 is 'feat_0' there and 'feat_63'"):
        reduce_catalogue(backwards, tmp_path / "b.parquet", basis=first.basis_path,
                         embedding_columns=[f"feat_{j}" for j in reversed(range(D))])
    np.save(tmp_path / "array.npy", X)
    with pytest.raises(ValueError, match="an array, not its .pca.npz archive"):
        reduce_catalogue(src, tmp_path / "c.parquet", basis=tmp_path / "array.npy")


def test_an_id_original_column_already_there_is_kept_apart(tmp_path):
    """--id-column objid with columns 'id' and 'id_original' too: the old 'id' becomes 'id_original_2'."""
    _, X, table = _wide(13, n=100)
    table = table.assign(objid=np.arange(100) + 10**17, id=[f"x{i}" for i in range(100)], id_original="y")
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    done = reduce_catalogue(src, tmp_path / "out.parquet", 3, id_column="objid")
    cat = load_catalogue(done.path)
    assert cat.ids[0] == str(10**17) and cat.table["id_original_2"].iloc[1] == "x1"
    assert (cat.table["id_original"] == "y").all()


def test_relative_images_stay_reachable_from_another_folder(tmp_path):
    _, X, table = _wide(8, n=200)
    (tmp_path / "survey" / "cutouts").mkdir(parents=True)
    (tmp_path / "survey" / "cutouts" / "a.png").write_bytes(b"\x89PNG")
    table["image"] = "cutouts/a.png"
    src = _write_columns(tmp_path / "survey" / "wide.parquet", table, X)
    done = reduce_catalogue(src, tmp_path / "elsewhere" / "narrow.parquet", 4)
    cat = load_catalogue(done.path)
    assert (tmp_path / "survey" / "cutouts" / "a.png").samefile(cat.image_reference(0))


def test_the_command_reduces_says_what_to_serve_and_validate_suggests_it(tmp_path, capsys):
    _, X, table = _wide(9, n=400, d=300)
    src = _write_columns(tmp_path / "wide.parquet", table, X)
    assert main(["validate", str(src)]) == 0
    said = capsys.readouterr().out
    assert f"astroexplore reduce {src} {tmp_path / 'wide_pca40.parquet'}`" in said and "(300 x 400 float32: 0.0 GB" in said
    (tmp_path / "wide.labels.sqlite").touch()  # labels given on the wide catalogue
    out = tmp_path / "wide_pca40.parquet"
    assert main(["reduce", str(src), str(out), "--components", "12", "--fit-rows", "300"]) == 0
    said = capsys.readouterr().out
    assert "400 galaxies: 300 features -> 12 principal components" in said and "fitted on 300 random rows" in said
    assert f"astroexplore serve {out} --labels {tmp_path / 'wide.labels.sqlite'}" in said
    assert load_catalogue(out).n_features == 12
    assert main(["validate", str(out)]) == 0 and "a wide embedding" not in capsys.readouterr().out
    assert main(["reduce", str(src), str(out)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {out}: exists; pass overwrite=True (--overwrite)")


@pytest.mark.parametrize("layout", ["columns", "list", "npy"])
def test_an_embedding_larger_than_the_memory_left_is_refused_with_the_reduce_command(tmp_path, monkeypatch, capsys, layout):
    """Allocating it would get the process killed later with no message: said before, with the
    command that makes a catalogue that fits (which itself reads a few columns at a time)."""
    from astroexplore import catalogue

    ids, X, table = _wide(14, n=500)
    if layout == "columns":
        src = _write_columns(tmp_path / "wide.parquet", table, X)
    elif layout == "list":
        src = tmp_path / "wide.parquet"
        t = pa.Table.from_pandas(table, preserve_index=False)
        pq.write_table(t.append_column("embedding", pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), D)), src)
    else:
        src = tmp_path / "wide.npy"
        np.save(src, X)
        table.to_csv(tmp_path / "ids.csv", index=False)
    monkeypatch.setattr(catalogue, "_available_memory", lambda: 100_000)  # 0.1 MB left; the matrix is 0.128 MB
    argv = ["validate", str(src)] + (["--ids", str(tmp_path / "ids.csv")] if layout == "npy" else [])
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {src}: the embedding is 0.0 GB (500 x 64 float32) and 0.0 GB of memory is available")
    assert f"`astroexplore reduce {src} {tmp_path / 'wide_pca40.parquet'}" in err
    done = reduce_catalogue(src, tmp_path / "wide_pca40.parquet", 8,
                            ids=tmp_path / "ids.csv" if layout == "npy" else None)
    assert load_catalogue(done.path).n_features == 8  # 500 x 8 fits
