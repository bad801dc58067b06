"""Similarity search: faiss against sklearn, masks, sky-position search, URLs, duplicates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from sklearn.neighbors import NearestNeighbors

from astroexplore.catalogue import Catalogue
from astroexplore.errors import CatalogueError
from astroexplore.search import (SearchResult, SimilarityIndex, drop_same_object,
                                 nearest_galaxy, parse_legacy_survey_url, parse_position,
                                 search_by_coords, search_by_ids, search_by_index)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3000, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def cat():
    rng = np.random.default_rng(1)
    n = 2000
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    ra = rng.uniform(150.0, 151.0, n)
    dec = rng.uniform(2.0, 3.0, n)
    table = pd.DataFrame({"id": [f"g{i}" for i in range(n)], "ra": ra, "dec": dec,
                          "score": rng.integers(0, 6, n).astype(float)})
    return Catalogue.from_arrays(emb, table=table)


@pytest.fixture(scope="module")
def hnsw(data):
    return SimilarityIndex(data, exact_below=1000)


def _sk(x, q, k):
    nn = NearestNeighbors(n_neighbors=k).fit(x)
    d, i = nn.kneighbors(q)
    return i, d


# ------------------------------------------------------------------------------ index
def test_exact_matches_sklearn(data):
    index = SimilarityIndex(data)
    assert index.exact
    q = data[:50] + 0.01
    idx, dist = index.query(q, k=10)
    ref_i, ref_d = _sk(data, q, 10)
    assert idx.shape == (50, 10) and idx.dtype == np.int64 and dist.dtype == np.float32
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-4, atol=1e-4)


def test_single_vector_gives_one_row(data):
    idx, dist = SimilarityIndex(data).query(data[7], k=3)
    assert idx.shape == (1, 3) and idx[0, 0] == 7 and dist[0, 0] == pytest.approx(0, abs=1e-3)


def test_normalise_is_cosine(data):
    index = SimilarityIndex(data, normalise=True)
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    q = data[:20] * 3.0  # scale must not matter
    ref_i, ref_d = _sk(unit, unit[:20], 5)
    idx, dist = index.query(q, k=5)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, atol=1e-3)


def test_hnsw_recall_against_sklearn(data, hnsw):
    index = hnsw
    assert not index.exact
    q = data[:100] + 0.01
    idx, _ = index.query(q, k=10)
    ref_i, _ = _sk(data, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, ref_i)])
    assert recall > 0.95


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("frac", [0.5, 0.05, 0.002])
def test_mask_respected(data, hnsw, exact, frac):
    rng = np.random.default_rng(2)
    mask = rng.random(len(data)) < frac
    mask[:3] = True
    index = SimilarityIndex(data) if exact else hnsw
    q = data[:20]
    idx, dist = index.query(q, k=10, mask=mask)
    rows = np.flatnonzero(mask)
    kk = min(10, rows.size)
    ref_i, ref_d = _sk(data[rows], q, kk)
    valid = idx >= 0
    assert mask[idx[valid]].all()
    assert (valid.sum(axis=1) == kk).all()
    if index.exact:
        np.testing.assert_array_equal(idx[:, :kk], rows[ref_i])
    else:
        recall = np.mean([len(set(a[:kk]) & set(rows[b])) / kk for a, b in zip(idx, ref_i)])
        assert recall > 0.9
    assert np.isinf(dist[~valid]).all()


@pytest.mark.parametrize("exact", [True, False])
def test_mask_overfetch_path(data, hnsw, exact, monkeypatch):
    """Masks above subset_below go through over-fetch + filter, with the exact fallback."""
    index = SimilarityIndex(data) if exact else hnsw
    monkeypatch.setattr(index, "subset_below", 0)
    monkeypatch.setattr(index, "max_fetch", 64)  # forces the growing factor and the fallback
    rng = np.random.default_rng(3)
    for frac in (0.6, 0.2, 0.05):
        mask = rng.random(len(data)) < frac
        q = data[rng.integers(0, len(data), 30)]
        idx, _ = index.query(q, k=10, mask=mask)
        rows = np.flatnonzero(mask)
        ref_i, _ = _sk(data[rows], q, 10)
        assert (idx >= 0).all() and mask[idx].all()
        if exact:
            np.testing.assert_array_equal(idx, rows[ref_i])
        else:
            recall = np.mean([len(set(a) & set(rows[b])) / 10 for a, b in zip(idx, ref_i)])
            assert recall > 0.9


def test_mask_none_allowed_and_exclude(data):
    index = SimilarityIndex(data)
    idx, dist = index.query(data[0], k=4, mask=np.zeros(len(data), bool))
    assert (idx == -1).all() and np.isinf(dist).all()
    idx, _ = index.query(data[0], k=4, exclude=[0])
    ref_i, _ = _sk(data, data[:1], 5)
    np.testing.assert_array_equal(idx[0], ref_i[0, 1:])
    with pytest.raises(ValueError, match="mask has 3 entries"):
        index.query(data[0], mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="16 features"):
        index.query(np.zeros(5))
    with pytest.raises(ValueError, match="k must be"):
        index.query(data[0], k=0)


def test_k_larger_than_catalogue():
    x = np.eye(3, dtype=np.float32)
    idx, dist = SimilarityIndex(x).query(x[0], k=5)
    assert idx[0, :3].tolist()[0] == 0 and (idx[0, 3:] == -1).all() and np.isinf(dist[0, 3:]).all()


def test_rejects_nan_embeddings():
    x = np.ones((4, 2), dtype=np.float32)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        SimilarityIndex(x)


# ------------------------------------------------------------------------------ searches
def test_search_by_index_excludes_self_and_matches_sklearn(cat):
    res = search_by_index(cat, None, 5, k=10, same_object_arcsec=None)
    ref_i, ref_d = _sk(cat.embeddings, cat.embeddings[5:6], 11)
    np.testing.assert_array_equal(res.indices, ref_i[0, 1:])
    np.testing.assert_allclose(res.distances, ref_d[0, 1:], rtol=1e-4)
    assert res.query_index == 5
    # the cached index is reused
    assert SimilarityIndex.for_catalogue(cat) is SimilarityIndex.for_catalogue(cat)


def test_search_by_index_with_mask(cat):
    mask = cat.table["score"].to_numpy() >= 4
    res = search_by_index(cat, SimilarityIndex(cat.embeddings), 0, k=7, mask=mask)
    assert len(res) == 7 and mask[res.indices].all()


def test_search_by_coords_exact_separation(cat):
    i = 123
    ra0, dec0 = cat.ra[i], cat.dec[i]
    ra, dec = ra0 + 2.0 / 3600 / np.cos(np.radians(dec0)), dec0 + 1.0 / 3600
    res = search_by_coords(cat, None, ra, dec, k=5)
    expected = SkyCoord(ra * u.deg, dec * u.deg).separation(SkyCoord(ra0 * u.deg, dec0 * u.deg))
    assert res.query_index == i
    assert res.separation_arcsec == pytest.approx(expected.arcsec, rel=1e-9)
    assert res.warning is None
    assert len(res) == 5 and i not in res.indices


def test_search_by_coords_warns_far_away(cat):
    res = search_by_coords(cat, None, 10.0, -40.0, k=3)
    assert res.separation_arcsec > 20
    assert res.warning is not None and "127.53 deg from RA" in res.warning and str(cat.ids[res.query_index]) \
        in res.warning
    i, sep = nearest_galaxy(cat, 10.0, -40.0)
    c = SkyCoord(cat.ra * u.deg, cat.dec * u.deg)
    seps = SkyCoord(10.0 * u.deg, -40.0 * u.deg).separation(c).arcsec
    assert i == int(np.argmin(seps)) and sep == pytest.approx(seps.min(), rel=1e-9)


def test_search_by_coords_needs_coordinates():
    cat = Catalogue.from_arrays(np.zeros((3, 2)))
    with pytest.raises(CatalogueError, match="ra"):
        search_by_coords(cat, None, 1.0, 2.0)
    with pytest.raises(ValueError, match="Dec"):
        nearest_galaxy(Catalogue.from_arrays(np.zeros((1, 2)), table=pd.DataFrame(
            {"ra": [1.0], "dec": [1.0]})), 1.0, 95.0)


def test_search_by_ids_mean_query_excludes_tagged(cat):
    ids = ["g1", "g2", "g3"]
    res = search_by_ids(cat, None, ids, k=8, same_object_arcsec=None)
    rows = np.array([1, 2, 3])
    assert not set(res.indices) & set(rows)
    emb = cat.embeddings[rows]
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    q = unit.mean(axis=0) * np.linalg.norm(emb, axis=1).mean()
    ref_i, _ = _sk(cat.embeddings, q[None], 11)
    expected = [j for j in ref_i[0] if j not in rows][:8]
    np.testing.assert_array_equal(res.indices, expected)
    with pytest.raises(KeyError, match="'nope'"):
        search_by_ids(cat, None, ["g1", "nope"])


def test_results_drop_duplicate_objects():
    # galaxy 1 is galaxy 0 catalogued twice (1" away); 3 duplicates 2
    emb = np.array([[0, 0], [0.01, 0], [1, 0], [1.01, 0], [5, 5]], dtype=np.float32)
    t = pd.DataFrame({"ra": [10.0, 10.0 + 1 / 3600, 20.0, 20.0, 30.0],
                      "dec": [0.0, 0.0, 0.0, 1 / 3600, 0.0]})
    c = Catalogue.from_arrays(emb, table=t)
    res = search_by_index(c, None, 0, k=3)
    assert res.indices.tolist() == [2, 4]
    res = search_by_index(c, None, 0, k=3, same_object_arcsec=None)
    assert res.indices.tolist() == [1, 2, 3]


def test_drop_same_object_both_forms():
    ra = np.array([10.0, 10.0 + 2 / 3600, 10.1, 10.1 + 1 / 3600, 10.2, np.nan])
    dec = np.zeros(6)
    kept = drop_same_object(ra, dec, [1, 2, 3, 4, 5], (10.0, 0.0))
    assert kept.tolist() == [2, 4, 5]
    assert drop_same_object(ra, dec, [1, 2, 3, 4], (10.0, 0.0), radius_arcsec=1).tolist() == \
        [1, 2, 4]
    assert drop_same_object(ra, dec, [0, 1, 2], None).tolist() == [0, 2]
    c = Catalogue.from_arrays(np.zeros((6, 1)), table=pd.DataFrame({"ra": ra[:5].tolist() + [1.0],
                                                                   "dec": dec}))
    assert drop_same_object(c, [1, 2, 3, 4], (10.0, 0.0)).tolist() == [2, 4]


def test_to_frame(cat):
    res = search_by_index(cat, None, 0, k=4)
    df = res.to_frame(cat, extra_columns=["score"])
    assert list(df.columns) == ["id", "ra", "dec", "distance", "score"]
    assert df["id"].tolist() == [cat.ids[i] for i in res.indices]
    np.testing.assert_allclose(df["ra"], cat.ra[res.indices])
    scores = np.arange(cat.n_galaxies, dtype=float)
    df = res.to_frame(cat, extra_columns={"anomaly": scores})
    np.testing.assert_array_equal(df["anomaly"], res.indices.astype(float))
    with pytest.raises(CatalogueError, match="Did you mean 'score'"):
        res.to_frame(cat, extra_columns=["scores"])
    csv = df.to_csv(index=False)
    assert csv.splitlines()[0] == "id,ra,dec,distance,anomaly"
    no_coords = Catalogue.from_arrays(np.eye(3))
    df = search_by_index(no_coords, None, 0, k=2).to_frame(no_coords)
    assert list(df.columns) == ["id", "distance"]


def test_search_result_is_small_dataclass():
    r = SearchResult(np.array([1]), np.array([0.5], np.float32))
    assert len(r) == 1 and r.separation_arcsec is None and r.warning is None


# ------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("url, expected", [
    ("https://www.legacysurvey.org/viewer?ra=150.1&dec=2.2&layer=ls-dr10&zoom=16", (150.1, 2.2)),
    ("https://www.legacysurvey.org/viewer/jpeg-cutout?ra=180.5&dec=-1.25&size=256&layer=ls-dr10",
     (180.5, -1.25)),
    ("http://legacysurvey.org/viewer/fits-cutout?RA=1&DEC=2&pixscale=0.262", (1.0, 2.0)),
    ("legacysurvey.org/viewer?ra=150.1&dec=2.2", (150.1, 2.2)),
    ("https://www.legacysurvey.org/viewer#ra=150.1&dec=2.2&zoom=14", (150.1, 2.2)),
    ("https://www.legacysurvey.org/viewer#150.1,2.2", (150.1, 2.2)),
    ("https://www.legacysurvey.org/viewer/?layer=ls-dr9&ra=0.5&dec=-89.9", (0.5, -89.9)),
    ("  https://viewer.legacysurvey.org/?ra=359.9&dec=45  ", (359.9, 45.0)),
])
def test_parse_legacy_survey_url(url, expected):
    assert parse_legacy_survey_url(url) == pytest.approx(expected)


@pytest.mark.parametrize("url, match", [
    ("https://www.legacysurvey.org/viewer?layer=ls-dr10", "no ra=/dec= values"),
    ("https://example.com/page", "does not look like a Legacy Survey"),
    ("", "empty"),
    ("https://www.legacysurvey.org/viewer?ra=150&dec=95", "out of range"),
    ("https://www.legacysurvey.org/viewer?ra=abc&dec=2", "no ra=/dec= values"),
])
def test_parse_legacy_survey_url_errors(url, match):
    with pytest.raises(ValueError, match=match):
        parse_legacy_survey_url(url)


def test_parse_position():
    assert parse_position("150.1 2.2") == (150.1, 2.2)
    assert parse_position("https://www.legacysurvey.org/viewer?ra=1&dec=2") == (1.0, 2.0)
    ra, dec = parse_position("10h00m24s +02d12m00s")
    assert (ra, dec) == pytest.approx((150.1, 2.2))
    with pytest.raises(ValueError, match="cannot read a sky position"):
        parse_position("M31 please")


@pytest.mark.parametrize("text", ["150.1\t2.2", "150.1\n2.2", "150.1\xa02.2", "150.1  ,  2.2", "150.1;2.2",
                                  " 150.1   2.2 "])
def test_parse_position_decimal_degrees_whatever_the_separator(text):
    """Decimal numbers pasted from a table (tab, newline, no-break space) are degrees, never hours."""
    assert parse_position(text) == (150.1, 2.2)


@pytest.mark.parametrize("text, match", [("400 10", "RA must be within"), ("150.1 95", "Dec must be within")])
def test_parse_position_out_of_range(text, match):
    with pytest.raises(ValueError, match=match):
        parse_position(text)


@pytest.mark.parametrize("text, ra, dec", [
    ("163.825932 +03 32 46.5", 163.825932, 3.54625),      # decimal RA, Dec in spaced fields
    ("312.80673 -0 0 1.9", 312.80673, -1.9 / 3600),        # Stripe 82: was read as 12.1 deg
    ("155.232841 -00 12 48.1", 155.232841, -(12 / 60 + 48.1 / 3600)),
    ("150 +02 12", 150.0, 2.2),
    ("155.232841 \u22120.213358", 155.232841, -0.213358),  # U+2212, copied from a PDF or arXiv
    ("30.5 \u201312.5", 30.5, -12.5),                      # an en dash
    ("10 20 55.88 \u221200 12 48.1", 155.2328333, -0.2133611),  # hours first: still hours
    ("10 55 18.22 +03 32 46.5", 163.8259167, 3.54625),
])
def test_a_decimal_ra_is_degrees_whatever_the_dec_and_any_minus_sign_is_one(text, ra, dec):
    """astropy read a lone RA before a spaced Dec (or a Dec with U+2212) as hours, wrapped at 24 h:
    the search ran from a galaxy 300 deg away, with a warning of a few arcmin."""
    assert parse_position(text) == pytest.approx((ra, dec), abs=1e-6)


def test_a_negative_ra_in_hours_is_refused():
    with pytest.raises(ValueError, match="an RA in hours is not negative"):
        parse_position("-00:00:30 -00:30")


def test_parse_position_negative_ra_wraps():
    assert parse_position("-10 5") == (350.0, 5.0)


def test_single_query_restores_faiss_threads(data):
    import faiss

    before = faiss.omp_get_max_threads()
    index = SimilarityIndex(data)
    index.query(data[0], k=3)
    assert faiss.omp_get_max_threads() == before
    index.query(data[:4], k=3)
    assert faiss.omp_get_max_threads() == before


def test_hnsw_index_persisted_in_cache_dir(tmp_path, data):
    from astroexplore.catalogue import load_catalogue, save_catalogue

    path = save_catalogue(Catalogue.from_arrays(data[:1500]), tmp_path / "big.parquet")
    cat = load_catalogue(path)
    first = SimilarityIndex.for_catalogue(cat, exact_below=1000)
    assert not first.exact
    saved = list(cat.cache_dir.glob("similarity_hnsw_*.faiss"))
    assert len(saved) == 1
    mtime = saved[0].stat().st_mtime_ns
    again = load_catalogue(path)  # a new object: not in the in-memory cache
    second = SimilarityIndex.for_catalogue(again, exact_below=1000)
    assert second is not first and not second.exact
    assert saved[0].stat().st_mtime_ns == mtime  # loaded, not rebuilt
    q = data[:20]
    np.testing.assert_array_equal(first.query(q, 5)[0], second.query(q, 5)[0])
    np.testing.assert_array_equal(second.vectors, data[:1500])
    # exact indexes are not written
    SimilarityIndex.for_catalogue(again)
    assert len(list(cat.cache_dir.glob("*.faiss"))) == 1


def test_search_by_index_refuses_an_id_string():
    """ids 1..100: cat.ids[5] == "6" was read as row 6, the results of another galaxy."""
    X = np.random.default_rng(1).normal(size=(100, 4)).astype(np.float32)
    cat = Catalogue.from_arrays(X, ids=np.arange(1, 101))
    with pytest.raises(TypeError, match="search_by_ids"):
        search_by_index(cat, None, cat.ids[5], k=3)
    np.testing.assert_array_equal(search_by_index(cat, None, np.int64(5), k=3).indices,
                                  search_by_ids(cat, None, [cat.ids[5]], k=3).indices)


@pytest.mark.parametrize("text", ["10:00:24, +02:12:00", "10h00m24s, +02d12m00s", "10 00 24, +02 12 00",
                                  "10:00:24; +02:12:00"])
def test_parse_position_sexagesimal_with_a_comma(text):
    """The box is labelled 'RA, Dec': sexagesimal with a comma was refused (astropy wants none)."""
    ra, dec = parse_position(text)
    assert ra == pytest.approx(150.1) and dec == pytest.approx(2.2)


@pytest.mark.parametrize("k", [0, -1, 2.7, True, "5"])
def test_every_search_checks_k(k):
    """k=-1 returned 2 results and k=2.7 a bare 'slice indices must be integers'."""
    X = np.random.default_rng(2).normal(size=(50, 4)).astype(np.float32)
    cat = Catalogue.from_arrays(X, table=pd.DataFrame({"ra": np.linspace(10, 11, 50), "dec": np.zeros(50)}))
    for call in (lambda: search_by_index(cat, None, 0, k=k),
                 lambda: search_by_coords(cat, None, 10.0, 0.0, k=k),
                 lambda: search_by_ids(cat, None, [cat.ids[0]], k=k),
                 lambda: SimilarityIndex(X).query(X[:1], k)):
        with pytest.raises(ValueError, match="k must be a whole number >= 1"):
            call()


def test_search_by_ids_takes_one_id_as_a_string():
    """A bare id was split into its characters: "11 id(s) not in the catalogue (first: 'd')"."""
    X = np.random.default_rng(3).normal(size=(30, 4)).astype(np.float32)
    cat = Catalogue.from_arrays(X, ids=[f"demo_{i:06d}" for i in range(30)])
    np.testing.assert_array_equal(search_by_ids(cat, None, "demo_000004", k=5).indices,
                                  search_by_ids(cat, None, ["demo_000004"], k=5).indices)


@pytest.mark.parametrize(("text", "expected"), [
    ("152.2 +3d", (152.2, 3.0)), ("152.2 +3d00m", (152.2, 3.0)), ("152.2, -3d30m", (152.2, -3.5)),
    ("152.2 +03:30:00", (152.2, 3.5)), ("10h00m24s +02d12m00s", (150.1, 2.2)),
    ("10 00 24 +02 12 00", (150.1, 2.2))])
def test_a_decimal_ra_with_a_sexagesimal_dec_is_read_in_degrees(text, expected):
    """'152.2 +3d' was read as RA 152.2 hours (123.0 deg): results from 27 deg away."""
    from astroexplore.search import parse_position
    np.testing.assert_allclose(parse_position(text), expected, atol=1e-9)
