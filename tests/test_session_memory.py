"""Sessions of one catalogue share its read-only arrays; what belongs to a session stays its own.

Each browser session of a served catalogue builds its own Explorer (``ui.serve.session_app``).
The arrays that depend only on the catalogue and the settings (anomaly scores, prior, random
ranking, input statistics, side columns, isolation paths) are built once per process and shared,
read-only; the user, the labels, the retrained model and the ranking order stay per session.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from astroexplore.catalogue import Catalogue, load_catalogue, save_catalogue
from astroexplore.explorer import Explorer, shared_arrays
from astroexplore.labels import LabelStore


def _saved(X, folder):
    """A catalogue read from a file in ``folder`` (its disk cache goes beside it, not to /tmp)."""
    save_catalogue(Catalogue.from_arrays(X), folder / "cat.parquet")
    return load_catalogue(folder / "cat.parquet")


@pytest.fixture()
def cat(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 5)).astype(np.float32)
    X[:6] += 5.0
    return _saved(X, tmp_path)


@pytest.fixture()
def store(tmp_path, cat):
    s = LabelStore(tmp_path / "labels.sqlite", valid_ids=cat.ids)
    yield s
    s.close()


def _explorer(cat, store, user, **kw):
    kw.setdefault("kernel_trees", 10)
    return Explorer(cat, store, user=user, **kw)


def test_two_sessions_share_the_catalogue_arrays(cat, store):
    a, b = _explorer(cat, store, "ada"), _explorer(cat, store, "bob")
    assert a.anomaly_scores() is b.anomaly_scores()
    assert a.anomaly_scores("knn").raw is b.anomaly_scores("knn").raw
    assert a._prior() is b._prior()
    assert a._random_scores() is b._random_scores()
    assert a._input_stats() is b._input_stats()
    assert a._side_columns() is b._side_columns()
    pa, pb = a.isolation_paths(), b.isolation_paths()
    assert pa is pb and pa.leaves is pb.leaves
    # an Explorer made later (another browser tab) finds them built
    c = _explorer(cat, store, "cy")
    assert c.isolation_paths() is pa and c.anomaly_scores() is a.anomaly_scores()


def test_shared_arrays_are_read_only(cat, store):
    ex = _explorer(cat, store, "ada", tree_features=4)
    scores = ex.anomaly_scores()
    side, mean, std = ex._side_columns()
    paths = ex.isolation_paths()
    paths.path_matrix([0, 1])  # builds the ancestor table too
    arrays = [scores.raw, scores.scaled, ex._prior(), ex._random_scores(), *ex._input_stats(),
              side, mean, std, paths.leaves, paths.offsets, paths.parent, paths.depth,
              paths.row_scale, paths._ancestors()]
    for arr in arrays:
        assert not arr.flags.writeable
    with pytest.raises(ValueError):
        ex._prior()[0] = 99.0
    # what a caller gets from scores() is its own copy
    out = ex.scores("random")
    out[:] = -1
    assert (ex.scores("random") >= 0).all()


def test_different_settings_are_not_shared(cat, store, tmp_path):
    a = _explorer(cat, store, "ada", seed=0)
    b = _explorer(cat, store, "bob", seed=1)
    c = _explorer(cat, store, "cy", seed=0, kernel_trees=12)
    d = _explorer(cat, store, "di", seed=0, detector="knn")
    assert a.anomaly_scores() is not b.anomaly_scores()
    assert not np.array_equal(a.scores("random"), b.scores("random"))
    assert a.isolation_paths() is not b.isolation_paths()
    assert a.isolation_paths() is not c.isolation_paths() and c.isolation_paths().n_trees == 12
    assert a._prior() is not d._prior()
    assert a._side_columns() is not d._side_columns()
    assert a._input_stats() is b._input_stats()  # depends on the catalogue alone
    (tmp_path / "other").mkdir()
    other = _saved(np.asarray(cat.embeddings) + 1.0, tmp_path / "other")
    e = _explorer(other, store, "ed")
    assert e.anomaly_scores() is not a.anomaly_scores()
    assert shared_arrays(other) is not shared_arrays(cat)


def test_user_labels_and_model_stay_per_session(cat, store):
    a = _explorer(cat, store, "ada", score_users="ada")
    b = _explorer(cat, store, "bob", score_users="bob")
    for i in range(5):
        a.label(cat.ids[i], 5)
    b.label(cat.ids[100], 5)
    a.retrain(predict_head=True)
    b.retrain(predict_head=True)
    assert a.user == "ada" and b.user == "bob"
    assert a.labelled_mask.sum() == 5 and b.labelled_mask.sum() == 1
    assert a.head is not b.head
    assert a.predicted_interest[0] is not b.predicted_interest[0]
    sa, sb = a.scores("combined"), b.scores("combined")
    assert not np.array_equal(sa, sb)
    assert sa[0] == 5.0 and sb[100] == 5.0
    # the prior both corrected is the same object
    assert a._prior() is b._prior()
    # a fresh session with the same settings ranks as a separate Explorer would
    c = _explorer(cat, store, "ada", score_users="ada")
    c.retrain(predict_head=True)
    np.testing.assert_array_equal(c.ranking("combined"), a.ranking("combined"))


def test_shared_scores_equal_unshared_ones(cat, store, tmp_path):
    """Sharing changes no number: a catalogue object of its own gives the same scores."""
    a = _explorer(cat, store, "ada")
    for i in range(4):
        a.label(cat.ids[i], 5 if i < 2 else 0)
    (tmp_path / "alone").mkdir()
    alone_cat = _saved(np.array(cat.embeddings), tmp_path / "alone")
    alone_store = LabelStore(tmp_path / "alone.sqlite", valid_ids=alone_cat.ids)
    alone = _explorer(alone_cat, alone_store, "ada")
    for i in range(4):
        alone.label(alone_cat.ids[i], 5 if i < 2 else 0)
    _explorer(cat, store, "bob").isolation_paths()  # built by another session first
    a.retrain(predict_head=True)
    alone.retrain(predict_head=True)
    for method in ("isolation_forest", "random", "combined", "ucb", "knn"):
        np.testing.assert_array_equal(a.scores(method), alone.scores(method))
    alone_store.close()


def test_an_explorer_without_cache_keeps_its_arrays_to_itself(cat, store):
    """cache=False: computed for that Explorer alone (a test or script that wants a fresh
    computation gets one), and it takes nothing from the sessions that share."""
    shared = _explorer(cat, store, "ada")
    shared.anomaly_scores("knn")
    private = _explorer(cat, store, "bob", cache=False)
    assert not private.scores_ready("knn")
    assert private.anomaly_scores("knn") is not shared.anomaly_scores("knn")
    np.testing.assert_array_equal(private.anomaly_scores("knn").raw, shared.anomaly_scores("knn").raw)
    assert private.isolation_paths() is not shared.isolation_paths()
    assert _explorer(cat, store, "cy").anomaly_scores("knn") is shared.anomaly_scores("knn")


def test_concurrent_sessions_compute_each_array_once(cat, store, monkeypatch):
    import astroexplore.isolation_kernel as ik

    calls = []
    real = ik.isolation_paths

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(ik, "isolation_paths", counted)
    explorers = [_explorer(cat, store, f"u{i}", seed=7) for i in range(6)]
    got = [None] * len(explorers)
    barrier = threading.Barrier(len(explorers))

    def work(i):
        barrier.wait()
        got[i] = (explorers[i].isolation_paths(), explorers[i].anomaly_scores())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(explorers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(calls) == 1
    assert all(g[0] is got[0][0] and g[1] is got[0][1] for g in got)


def test_app_sessions_share_arrays_but_not_state(cat, store):
    """Two served sessions (serve.make_explorer + AppState, as session_app builds them)."""
    pytest.importorskip("panel")
    from astroexplore.ui.serve import make_explorer
    from astroexplore.ui.state import AppState

    s1 = AppState(make_explorer(cat, store, user="ada"), learn_on_open=False)
    s2 = AppState(make_explorer(cat, store, user="bob"), learn_on_open=False)
    assert s1.explorer is not s2.explorer
    assert s1.explorer.anomaly_scores() is s2.explorer.anomaly_scores()
    s1.label(5)
    assert s1.n_labelled_user == 1 and s2.user_name == "bob"
    s2._update_counts()
    assert s2.n_labelled_user == 0
    assert s1.order is not s2.order
