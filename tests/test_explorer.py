"""Explorer + run_loop over the real Catalogue and LabelStore."""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import Catalogue
from astroexplore.constants import RankingMethod
from astroexplore.errors import CatalogueError, LabelError
from astroexplore.explorer import Explorer, run_loop
from astroexplore.labels import LabelStore

ALL_METHODS = [m.value for m in RankingMethod]


@pytest.fixture(scope="module")
def blobs():
    """4 well separated blobs of 150 in 8-d + a few outliers; blob 0 is "interesting"."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5.0, size=(4, 8))
    which = np.repeat(np.arange(4), 150)
    X = centres[which] + rng.normal(size=(600, 8))
    X = np.vstack([X, rng.normal(scale=12.0, size=(10, 8))]).astype(np.float32)
    which = np.r_[which, np.full(10, -1)]
    return Catalogue.from_arrays(X, ids=[f"g{i:04d}" for i in range(len(X))]), which


@pytest.fixture
def explorer(blobs, tmp_path):
    cat, _ = blobs
    store = LabelStore(tmp_path / "labels.sqlite", valid_ids=cat.ids)
    return Explorer(cat, store, user="ada", detector="knn", seed=0, cache=False)


def test_labels_move_similar_galaxies_up(explorer, blobs):
    cat, which = blobs
    before = explorer.ranking("combined")
    pos_before = np.empty(len(before), int)
    pos_before[before] = np.arange(len(before))
    for i in range(0, 4):                    # 4 of blob 0 are interesting
        explorer.label(cat.ids[i], 5)
    for i in [150, 151, 300, 301, 450, 451, 600, 601]:  # others and two outliers are not
        explorer.label(cat.ids[i], 0)
    report = explorer.retrain()
    assert report["n_labels"] == 12 and report["device"] in ("cpu", "cuda")
    assert report["seconds"] > 0 and not report["skipped"]
    after = explorer.ranking("combined", unlabelled_first=True)
    pos_after = np.empty(len(after), int)
    pos_after[after] = np.arange(len(after))
    members = np.flatnonzero(which == 0)[4:]      # unlabelled members of blob 0
    assert np.median(pos_after[members]) < np.median(pos_before[members]) - 100
    # the 146 unlabelled members lead the unlabelled ranking (chance: 146 of 598 = 0.24);
    # unexplored outliers and the edges of blobs with only two 0 labels keep some places there:
    # the isolation-kernel correction leaves the prior alone where no label says otherwise
    assert np.isin(after[:50], members).mean() >= 0.9
    assert np.isin(after[:140], members).mean() > 0.7
    mean, std = explorer.predicted_interest
    assert mean[members].mean() > 3 and mean[which == 1].mean() < 1.5
    # next batch: unlabelled, from the interesting blob
    batch = explorer.next_batch(5, "ucb")
    assert not explorer.labelled_mask[batch].any()
    assert (which[batch] == 0).mean() >= 0.6


def test_before_training_head_methods_fall_back_to_prior(explorer):
    prior_order = explorer.ranking("knn")
    assert explorer.predicted_interest is None
    for m in ("combined", "ucb", "predicted_interest"):
        assert explorer.ranking(m)[:20].tolist() == prior_order[:20].tolist()
    assert explorer.retrain()["skipped"] is True


@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_method_gives_a_full_ranking(explorer, blobs, method):
    cat, _ = blobs
    explorer.label(cat.ids[0], 4)
    explorer.label(cat.ids[200], 1)
    explorer.retrain()
    scores = explorer.scores(method)
    order = explorer.ranking(method)
    assert scores.shape == (cat.n_galaxies,) and np.isfinite(scores).all()
    assert sorted(order.tolist()) == list(range(cat.n_galaxies))
    assert (np.diff(scores[order]) <= 1e-6).all()


def test_unlabelled_first_and_mask(explorer, blobs):
    cat, which = blobs
    for i in (0, 1, 160):
        explorer.label(cat.ids[i], 5)
    explorer.retrain()
    order = explorer.ranking("combined", unlabelled_first=True)
    lab = explorer.labelled_mask[order]
    assert lab.sum() == 3 and lab[-3:].all()
    mask = which == 1
    masked = explorer.ranking("combined", mask=mask)
    assert set(masked.tolist()) == set(np.flatnonzero(mask).tolist())
    batch = explorer.next_batch(10, "combined", mask=mask)
    assert mask[batch].all() and not explorer.labelled_mask[batch].any()
    assert 160 not in explorer.ranking("combined", mask=mask, unlabelled_first=True)[:-1]


def test_same_seed_same_ranking(blobs, tmp_path):
    cat, _ = blobs
    orders = []
    for k in range(2):
        store = LabelStore(tmp_path / f"s{k}.sqlite")
        ex = Explorer(cat, store, detector="knn", seed=7, cache=False)
        for i in (0, 1, 2, 200, 201, 400):
            ex.label(cat.ids[i], 5 if i < 3 else 0)
        ex.retrain()
        ex.label(cat.ids[450], 1)
        ex.retrain()                       # warm start too
        orders.append((ex.ranking("combined"), ex.next_batch(8), ex.ranking("random")))
    for a, b in zip(*orders):
        assert a.tolist() == b.tolist()


def test_warm_start_on_retrain_only_when_asked(explorer, blobs):
    cat, _ = blobs
    explorer.label(cat.ids[0], 5)
    first = explorer.retrain()
    explorer.label(cat.ids[200], 0)
    second = explorer.retrain(warm_start=True)
    assert first["warm_start"] is False and second["warm_start"] is True
    assert second["epochs"] < first["epochs"]
    assert explorer.retrain()["warm_start"] is False


def test_retrain_depends_only_on_the_labels(blobs, tmp_path):
    """Retrain twice, or label, retrain and undo: the same labels give the same head and rankings
    as a fresh session (the head was warm-started and bootstrapped by fit count before)."""
    cat, _ = blobs
    store = LabelStore(tmp_path / "l.sqlite")
    ex = Explorer(cat, store, user="ada", cache=False)
    for i, score in [(0, 5), (5, 4), (200, 0), (201, 1)]:
        ex.label(cat.ids[i], score)
    ex.retrain(predict_head=True)
    ucb_once = ex.ranking("ucb").copy()
    pred_once = ex.predicted_interest[0].copy()
    ex.retrain(predict_head=True)
    ex.label(cat.ids[300], 5)
    ex.retrain(predict_head=True)
    ex.undo()
    ex.retrain(predict_head=True)
    np.testing.assert_array_equal(ex.predicted_interest[0], pred_once)
    np.testing.assert_array_equal(ex.ranking("ucb"), ucb_once)
    fresh = Explorer(cat, store, user="ada", cache=False)
    fresh.retrain(predict_head=True)
    np.testing.assert_array_equal(fresh.ranking("ucb"), ucb_once)


def test_undo_and_score_users(blobs, tmp_path):
    cat, _ = blobs
    store = LabelStore(tmp_path / "l.sqlite")
    ada = Explorer(cat, store, user="ada", detector="knn", cache=False)
    bob = Explorer(cat, store, user="bob", detector="knn", cache=False)
    ada.label(cat.ids[0], 5)
    bob.label(cat.ids[0], 1)
    bob.label(cat.ids[1], 3)
    assert ada.labelled_mask.sum() == 2            # mean of all users by default
    ada.retrain()
    assert ada.scores("combined")[0] == pytest.approx(3.0)  # labelled rows show the mean label
    only_ada = Explorer(cat, store, user="ada", detector="knn", cache=False, score_users="ada")
    assert only_ada.retrain()["n_labels"] == 1
    only_bob = Explorer(cat, store, user="ada", detector="knn", cache=False, score_users="bob")
    assert only_bob.labelled_mask.sum() == 2       # bob's two + ada's own (same galaxy 0)
    assert bob.undo() is not None
    assert bob.labelled_mask.sum() == 1
    assert ada.undo() is not None and ada.undo() is None


def test_labelled_galaxies_are_what_was_found_best_first(blobs, tmp_path):
    cat, _ = blobs
    store = LabelStore(tmp_path / "l.sqlite")  # shared with another catalogue: unknown ids too
    ada = Explorer(cat, store, user="ada", cache=False)
    bob = Explorer(cat, store, user="bob", cache=False)
    ada.label(cat.ids[3], 4, tags=["ring"])
    ada.label(cat.ids[7], 5)
    bob.label(cat.ids[3], 5, tags=["#lens"], note="arc at 2 o'clock")
    bob.label(cat.ids[9], 2)
    store.add("elsewhere_1", 5, user="ada")
    ada.label(cat.ids[11], 4, note=" edge-on, a dust lane ")  # after galaxy 3's first label: newer first among the 4s
    everyone = ada.labelled_galaxies()
    assert everyone["id"].tolist() == [cat.ids[7], cat.ids[3], cat.ids[11], cat.ids[9]]
    assert everyone["score"].tolist() == [5.0, 4.5, 4.0, 2.0]
    assert everyone["n_labels"].tolist() == [1, 2, 1, 1]
    assert everyone["row"].tolist() == [7, 3, 11, 9]
    assert everyone["tags"].iloc[1] == ("#lens", "#ring")  # every user's
    assert everyone["notes"].tolist() == ["", "bob: arc at 2 o'clock", "ada: edge-on, a dust lane", ""]
    mine = ada.labelled_galaxies(user="ada", min_score=4)
    assert mine["id"].tolist() == [cat.ids[7], cat.ids[11], cat.ids[3]]  # 4s: newest first
    assert ada.labelled_galaxies(tag="Ring")["id"].tolist() == [cat.ids[3]]
    assert ada.labelled_galaxies(min_score=4.6)["id"].tolist() == [cat.ids[7]]
    assert ada.labelled_galaxies(user="carol").empty
    assert ada.labelled_galaxies(user="carol", tag="#ring").columns.tolist() == everyone.columns.tolist()
    # the same lists from one read (the Labelled tab's list and curve share it)
    from astroexplore.explorer import finds_of

    for choices in ({"min_score": 4}, {"tag": "Ring"}, {"min_score": 4.6}, {"min_score": 2, "tag": "#lens"}):
        pd.testing.assert_frame_equal(finds_of(everyone, **choices), ada.labelled_galaxies(**choices))


def test_run_loop_with_simulated_oracle(blobs, tmp_path):
    cat, which = blobs
    ex = Explorer(cat, LabelStore(tmp_path / "l.sqlite"), detector="knn", cache=False)
    oracle = {gid: (5 if w == 0 else 0) for gid, w in zip(cat.ids, which)}
    asked = []

    def ask(gid):
        asked.append(gid)
        return None if len(asked) == 2 else oracle[gid]   # the 2nd galaxy is skipped

    got = run_loop(ex, ask, 25, batch_size=5, method="ucb")
    assert len(got) == 25 and len(set(g for g, _ in got)) == 25
    assert asked[1] not in {g for g, _ in got}
    assert ex.store.count() == 25 and ex.predicted_interest is not None
    # it finds the interesting blob: most of the later labels are 5s
    assert sum(s == 5 for _, s in got[10:]) >= 8


def test_retrain_in_background_while_labelling(explorer, blobs):
    cat, _ = blobs
    for i in range(5):
        explorer.label(cat.ids[i], 5)
    errors = []

    def work():
        try:
            explorer.retrain()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(300, 310):                      # keep labelling and ranking meanwhile
        explorer.label(cat.ids[i], 0)
        assert len(explorer.ranking("combined")) == cat.n_galaxies
    for t in threads:
        t.join()
    assert not errors and explorer.predicted_interest is not None
    assert explorer.retrain()["n_labels"] == 15


@pytest.mark.parametrize("call, error, match", [
    (lambda ex: ex.label("nope", 3), LabelError, "galaxy id 'nope' is not in"),
    (lambda ex: ex.label("g0001", 7), LabelError, "outside 0-5"),
    (lambda ex: ex.label("g0001", 2.5), LabelError, "not a whole number"),
    (lambda ex: ex.label("g0001", "3"), LabelError, "not a number"),
    (lambda ex: ex.label("g0001", True), LabelError, "not a number"),
    (lambda ex: ex.ranking("combine"), ValueError, "Did you mean 'combined'"),
    (lambda ex: ex.scores("UCB"), ValueError, "Did you mean 'ucb'"),
    (lambda ex: ex.next_batch(5, "expected_improvment"), ValueError, "Did you mean 'expected_improvement'"),
    (lambda ex: ex.ranking("combined", mask=np.ones(3, bool)), ValueError, r"shape \(610,\)"),
    (lambda ex: ex.next_batch(-1), ValueError, "non-negative"),
    (lambda ex: run_loop(ex, lambda g: 0, 5, batch_size=0), ValueError, "batch_size"),
])
def test_clear_errors(explorer, call, error, match):
    with pytest.raises(error, match=match):
        call(explorer)
    assert explorer.store.count() == 0


def test_bad_constructor_arguments(blobs, tmp_path):
    cat, _ = blobs
    store = LabelStore(tmp_path / "l.sqlite")
    empty = Catalogue(pd.DataFrame({"id": pd.Series([], dtype=object)}), np.zeros((0, 4), np.float32))
    with pytest.raises(CatalogueError, match="no galaxies"):
        Explorer(empty, store)
    with pytest.raises(ValueError, match="Did you mean 'isolation_forest'"):
        Explorer(cat, store, detector="isolation-forest")
    with pytest.raises(LabelError, match="user name"):
        Explorer(cat, store, user="  ")
    with pytest.raises(ValueError, match="tree_features"):
        Explorer(cat, store, tree_features=-1)


@pytest.mark.parametrize("tree_features, prior_input", [(0, True), (8, True), (8, False), (0, False)])
def test_head_side_inputs(blobs, tmp_path, tree_features, prior_input):
    cat, which = blobs
    ex = Explorer(cat, LabelStore(tmp_path / "l.sqlite"), detector="knn", cache=False,
                  tree_features=tree_features, prior_input=prior_input)
    for i in [0, 1, 2, 150, 300, 450]:
        ex.label(cat.ids[i], 5 if which[i] == 0 else 0)
    ex.retrain()
    assert ex.head.n_side_ == tree_features + int(prior_input)
    assert (ex.head.n_members, ex.head.hidden) == (8, 20)   # the head defaults the Explorer uses
    mean, std = ex.predicted_interest
    assert mean.shape == (cat.n_galaxies,) and np.isfinite(mean).all()
    assert mean[which == 0].mean() > mean[which == 1].mean()


def test_next_batch_is_diverse_with_duplicates(tmp_path):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(100, 6)).astype(np.float32)
    base[:5] *= 6                                  # 5 strong anomalies ...
    X = np.vstack([base] + [base[:5]] * 4)         # ... each present 5 times (exact duplicates)
    cat = Catalogue.from_arrays(X, ids=[f"d{i}" for i in range(len(X))])
    ex = Explorer(cat, LabelStore(tmp_path / "l.sqlite"), detector="isolation_forest", cache=False)
    batch = ex.next_batch(8)
    picked = X[batch]
    d = np.sqrt(((picked[:, None] - picked[None]) ** 2).sum(-1))[np.triu_indices(8, 1)]
    assert d.min() > 0.5
    assert len({tuple(r) for r in picked}) == 8


def test_head_params_override_defaults(blobs, tmp_path):
    cat, _ = blobs
    ex = Explorer(cat, LabelStore(tmp_path / "l.sqlite"), detector="knn", cache=False,
                  head_params={"n_members": 3, "hidden": 8, "epochs": 50})
    ex.label(cat.ids[0], 5)
    ex.retrain()
    assert (ex.head.n_members, ex.head.hidden, ex.head.epochs) == (3, 8, 50)


def test_scores_and_cached_arrays_cannot_change_the_session(explorer, blobs):
    """A script editing what scores() returns changes no ranking; the cached arrays behind
    anomaly_scores() and predicted_interest are read-only (they were the session's own, so
    ``s = ex.scores("knn"); s[:5] = 99`` reordered every ranking)."""
    cat, _ = blobs
    methods = ["knn", "random", "combined", "predicted_interest", "ucb"]
    for method in ["knn", "random"]:
        before = explorer.ranking(method)[:10].copy()
        s = explorer.scores(method)
        s[:] = 0.0
        np.testing.assert_array_equal(explorer.ranking(method)[:10], before)
    explorer.label(cat.ids[0], 5)
    explorer.label(cat.ids[200], 0)
    explorer.retrain(predict_head=True)
    before = {m: explorer.ranking(m)[:10].copy() for m in methods}
    for m in methods:
        explorer.scores(m)[:] = 99.0
    mean, std = explorer.predicted_interest
    with pytest.raises(ValueError, match="read-only"):
        mean[:5] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        explorer.anomaly_scores().scaled[:5] = 99.0
    for m in methods:
        np.testing.assert_array_equal(explorer.ranking(m)[:10], before[m])


@pytest.mark.parametrize("name, value", [("prior_std", 0), ("n0", 0), ("prior_power", -1),
                                         ("kappa", -0.5), ("explore", float("nan")), ("xi", -1),
                                         ("n0", "5"), ("kernel_alpha", 0)])
def test_invalid_blend_parameters_are_refused_at_construction(blobs, tmp_path, name, value):
    """n0=0 made every expected-improvement score NaN (a NaN ranking sorts in row order),
    prior_power=-1 every ucb score, prior_std=0 a ZeroDivisionError at the first ranking."""
    cat, _ = blobs
    with pytest.raises(ValueError, match=name):
        Explorer(cat, LabelStore(tmp_path / "l.sqlite"), **{name: value})


@pytest.mark.parametrize("params, match", [({"n_member": 4}, "n_member.*n_members"),
                                           ({"max_balance": 0}, "max_balance"),
                                           ({"weight_decay": -1}, "weight_decay"),
                                           ({"hidden": 0}, "hidden")])
def test_bad_head_params_are_refused_at_construction(blobs, tmp_path, params, match):
    """A typo in head_params failed only at the first retrain (in the app: a background thread)."""
    cat, _ = blobs
    with pytest.raises(ValueError, match=match):
        Explorer(cat, LabelStore(tmp_path / "l.sqlite"), head_params=params)


def test_next_batch_agrees_with_ranking_when_scores_tie(tmp_path):
    """A one-member head has no spread: 'uncertainty' ties everywhere, and next_batch must pick
    the same first rows as the list (it picked arbitrary tied rows)."""
    cat = Catalogue.from_arrays(np.random.default_rng(0).normal(size=(2000, 4)).astype(np.float32))
    ex = Explorer(cat, LabelStore(tmp_path / "l.sqlite"), cache=False, head_params={"n_members": 1})
    ex.label(cat.ids[0], 5)
    ex.label(cat.ids[1], 0)
    ex.retrain(predict_head=True)
    assert np.ptp(ex.scores("uncertainty")[2:]) == 0
    np.testing.assert_array_equal(ex.next_batch(3, method="uncertainty"),
                                  ex.ranking("uncertainty", unlabelled_first=True)[:3])


def test_paths_instead_of_a_catalogue_or_store_say_what_to_pass(blobs, tmp_path):
    """A path as the catalogue read as 'no galaxies'; a path as the store was accepted, and
    label / retrain failed later with AttributeError: 'str' object has no attribute 'add'."""
    cat, _ = blobs
    store = LabelStore(tmp_path / "labels.sqlite", valid_ids=cat.ids)
    with pytest.raises(TypeError, match=r"not the path 'demo.parquet'.*load_catalogue"):
        Explorer("demo.parquet", store)
    with pytest.raises(TypeError, match=r"not the path .*labels.sqlite.*LabelStore\(path"):
        Explorer(cat, tmp_path / "labels.sqlite")
    with pytest.raises(TypeError, match="needs a LabelStore.*got dict"):
        Explorer(cat, {})
    with pytest.raises(TypeError, match="needs a Catalogue.*got ndarray"):
        Explorer(np.zeros((3, 2)), store)


def test_a_retrain_that_matches_no_stored_label_says_why(blobs, tmp_path):
    """Labels given under other ids (another id column) or a score_users typo left nothing to
    learn from, and the retrain only answered skipped=True."""
    cat, _ = blobs
    with LabelStore(tmp_path / "foreign.sqlite") as store:
        for i in range(5):
            store.add(f"{i:06d}", 5, user="Ada")
        with pytest.warns(UserWarning, match=r"none of the 5 stored labels .*'000000'.*'g0000'.*id_column"):
            assert Explorer(cat, store, cache=False).retrain()["skipped"]
    with LabelStore(tmp_path / "mine.sqlite", valid_ids=cat.ids) as store:
        store.add("g0001", 4, user="Ada")
        with pytest.warns(UserWarning, match=r"score_users='ada': no label by that user .*'Ada'.*Did you mean 'Ada'"):
            assert Explorer(cat, store, score_users="ada", cache=False).retrain()["skipped"]
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a store with nothing in it: nothing to explain
            with LabelStore(tmp_path / "empty.sqlite") as empty:
                assert Explorer(cat, empty, cache=False).retrain()["skipped"]
            assert not Explorer(cat, store, score_users="Ada", cache=False).retrain()["skipped"]


def test_labelled_mask_is_read_once_per_change_of_the_store(blobs, tmp_path):
    """The mask is kept while no label is committed, and seen anew after a commit by this
    Explorer, by another one on the same file, or after a change of score_users."""
    cat, _ = blobs
    path = tmp_path / "l.sqlite"
    ada = Explorer(cat, LabelStore(path), user="ada", detector="knn", cache=False)
    other = LabelStore(path)  # another connection, as another window or process
    first = ada.labelled_mask
    assert ada.labelled_mask is first and not first.flags.writeable
    ada.label(cat.ids[0], 4)
    assert ada.labelled_mask[0] and ada.labelled_mask.sum() == 1
    other.add(cat.ids[1], 2, user="bob")
    assert ada.labelled_mask[1] and ada.labelled_mask.sum() == 2
    ada.score_users = "ada"  # bob's label no longer counts; ada's own always does
    assert ada.labelled_mask.sum() == 1


def test_labels_table_gives_each_label_its_position_and_imports_back(tmp_path):
    """The sidebar's 'Download labels (CSV)': our export with ra/dec, read back by import_csv."""
    import numpy as np
    import pandas as pd

    from astroexplore.catalogue import Catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore

    cat = Catalogue.from_arrays(np.eye(4, 3, dtype=np.float32), ids=["a", "b", "c", "d"],
                                table=pd.DataFrame({"ra": [10.0, 20.0, 30.0, 40.0], "dec": [-1.0, 0.0, 1.0, 2.0]}))
    store = LabelStore(tmp_path / "l.sqlite", valid_ids=cat.ids)
    ex = Explorer(cat, store, user="ann")
    ex.label("c", 5, tags=["#ring"], note="follow up")
    ex.label("a", 1)
    Explorer(cat, store, user="bob").label("c", 3)
    table = ex.labels_table()
    assert list(table.columns) == ["id", "ra", "dec", "score", "user", "timestamp", "tags", "note"]
    assert table[["id", "ra", "dec", "score", "user"]].values.tolist() == [
        ["c", 30.0, 1.0, 5, "ann"], ["a", 10.0, -1.0, 1, "ann"], ["c", 30.0, 1.0, 3, "bob"]]
    assert table["tags"].iloc[0] == "#ring" and table["note"].iloc[0] == "follow up"
    assert ex.labels_table(user="bob")["id"].tolist() == ["c"]
    path = tmp_path / "labels.csv"
    table.to_csv(path, index=False)
    copy = LabelStore(tmp_path / "copy.sqlite", valid_ids=cat.ids)
    assert copy.import_csv(path) == 3
    assert copy.export_frame().values.tolist() == store.export_frame().values.tolist()
    copy.close()
    store.close()
    shared = LabelStore(tmp_path / "shared.sqlite")  # a store shared with another catalogue
    shared.add("zz", 2, user="eve")
    shared.add("b", 4, user="eve")
    table = Explorer(cat, shared, user="eve").labels_table()
    assert table["id"].tolist() == ["zz", "b"] and np.isnan(table["ra"].iloc[0]) and table["dec"].iloc[1] == 0.0
    shared.close()


def _with_sky(cat):
    """``cat`` with ra/dec and a magnitude column (the table's describing columns)."""
    n = cat.n_galaxies
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"ra": rng.uniform(0, 360, n), "dec": rng.uniform(-30, 30, n),
                          "mag_r": rng.uniform(14, 18, n)})
    return Catalogue.from_arrays(cat.embeddings, ids=list(cat.ids), table=table)


@pytest.mark.parametrize("method", ["combined", "knn", "ucb"])
def test_ranking_table_is_the_ranking_with_what_each_galaxy_is_ranked_by(blobs, tmp_path, method):
    cat = _with_sky(blobs[0])
    store = LabelStore(tmp_path / "l.sqlite")
    ada = Explorer(cat, store, user="ada", detector="knn", cache=False)
    bob = Explorer(cat, store, user="bob", detector="knn", cache=False)
    before = ada.ranking_table(method, top=5)
    assert before["predicted_interest"].isna().all() and (before["n_labels"] == 0).all()
    top = ada.ranking(method)[:3]
    ada.label(cat.ids[top[0]], 5)
    bob.label(cat.ids[top[0]], 2)
    ada.label(cat.ids[top[1]], 0)
    ada.retrain()
    mask = np.asarray(cat.table["mag_r"] < 17)
    table = ada.ranking_table(method, top=40, mask=mask)
    rows = ada.ranking(method, mask=mask, unlabelled_first=True)[:40]
    assert table["rank"].tolist() == list(range(1, 41))
    assert table["id"].tolist() == [cat.ids[r] for r in rows]
    np.testing.assert_allclose(table["ra"], cat.table["ra"].to_numpy()[rows])
    np.testing.assert_allclose(table["mag_r"], cat.table["mag_r"].to_numpy()[rows])
    np.testing.assert_allclose(table["ranking_score"], ada.scores(method)[rows], rtol=1e-6)
    np.testing.assert_allclose(table["anomaly_score"], ada.anomaly_scores().scaled[rows], rtol=1e-6)
    mean, std = ada.predicted_interest
    np.testing.assert_allclose(table["predicted_interest"], mean[rows], rtol=1e-6)
    np.testing.assert_allclose(table["predicted_interest_std"], std[rows], rtol=1e-6)
    assert (table["mag_r"] < 17).all()
    # in place (not unlabelled first), the labelled galaxies are in the table with their labels
    everything = ada.ranking_table(method, top=cat.n_galaxies, unlabelled_first=False)
    assert len(everything) == cat.n_galaxies
    assert everything["id"].tolist() == [cat.ids[r] for r in ada.ranking(method)]
    by_id = everything.set_index("id")
    assert by_id.loc[cat.ids[top[0]], ["labelled_score", "n_labels"]].tolist() == [3.5, 2]
    assert by_id.loc[cat.ids[top[1]], ["labelled_score", "n_labels"]].tolist() == [0.0, 1]
    assert by_id["labelled_score"].notna().sum() == 2 and by_id["n_labels"].sum() == 3
    assert (table["n_labels"] == 0).all() and table["labelled_score"].isna().all()  # unlabelled first


def test_ranking_table_checks_its_arguments_and_stops_at_the_galaxies_there_are(explorer, blobs):
    cat, _ = blobs
    assert len(explorer.ranking_table("knn", top=10_000)) == cat.n_galaxies
    few = np.zeros(cat.n_galaxies, bool)
    few[[5, 9]] = True
    assert sorted(explorer.ranking_table("knn", mask=few)["id"]) == [cat.ids[5], cat.ids[9]]
    assert "ra" not in explorer.ranking_table(top=1).columns  # no coordinates in this catalogue
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="top must be a whole number"):
            explorer.ranking_table(top=bad)
    with pytest.raises(ValueError, match="mask must be a boolean array"):
        explorer.ranking_table(mask=np.ones(3, bool))


def test_discovery_curve_counts_finds_in_the_order_galaxies_were_first_labelled(blobs, tmp_path):
    cat, _ = blobs
    store = LabelStore(tmp_path / "l.sqlite")
    ada = Explorer(cat, store, user="ada", cache=False)
    bob = Explorer(cat, store, user="bob", cache=False)
    g = cat.ids
    ada.label(g[10], 5, tags=["#ring"])
    ada.label(g[11], 1)
    bob.label(g[12], 4)
    ada.label(g[13], 5)
    ada.undo()  # g13's only label: not counted
    ada.label(g[11], 4)  # relabelled: keeps its place (first labelled second), now a find
    bob.label(g[10], 1)  # everyone's mean 3: no longer a find for everyone
    ada.label(g[14], 2)
    store.add("elsewhere", 5, user="ada")  # not this catalogue's
    everyone = ada.discovery_curve()
    assert everyone["id"].tolist() == [g[10], g[11], g[12], g[14]]
    assert everyone["found"].tolist() == [False, True, True, False]
    assert everyone["n_found"].tolist() == [0, 1, 2, 2] and everyone["n_labelled"].tolist() == [1, 2, 3, 4]
    assert everyone["score"].tolist() == [3.0, 4.0, 4.0, 2.0]
    mine = ada.discovery_curve(user="ada")
    assert mine["id"].tolist() == [g[10], g[11], g[14]] and mine["n_found"].tolist() == [1, 2, 2]
    assert ada.discovery_curve(user="ada", tag="#ring")["found"].tolist() == [True, False, False]
    assert ada.discovery_curve(min_score=0)["n_found"].iloc[-1] == 4
    assert ada.discovery_curve(user="carol").empty


def test_label_many_scores_new_galaxies_and_adds_tags_to_scored_ones(blobs, tmp_path):
    cat, _ = blobs
    path = tmp_path / "l.sqlite"
    ex = Explorer(cat, LabelStore(path, valid_ids=cat.ids), user="ada", detector="knn", cache=False)
    ex.label(cat.ids[1], 2, tags=["#bar"], note="looked at it")
    ex.label(cat.ids[2], 4, tags=["#ring"])
    Explorer(cat, ex.store, user="bob", detector="knn", cache=False).label(cat.ids[3], 1)
    ids = [cat.ids[i] for i in (0, 1, 2, 3, 0)]  # galaxy 0 twice
    done = ex.label_many(ids, 5, tags="#Ring", note="Whitmore 1990")
    assert done.new == (cat.ids[0], cat.ids[3]) and done.kept == (cat.ids[1],) and done.unchanged == (cat.ids[2],)
    assert [e.galaxy_id for e in done.events] == [cat.ids[0], cat.ids[1], cat.ids[3]]
    assert done.summary() == ("Stored 3 labels: 2 scored 5 #ring; 1 you had scored keep their score, "
                              "#ring added; 1 already labelled so.")
    # on disk: another connection reads them
    mine = LabelStore(path, read_only=True).latest(user="ada").set_index("id")
    assert mine.loc[cat.ids[0], "score"] == 5 and mine.loc[cat.ids[0], "note"] == "Whitmore 1990"
    assert mine.loc[cat.ids[1], "score"] == 2 and mine.loc[cat.ids[1], "tags"] == ("#bar", "#ring")
    assert mine.loc[cat.ids[1], "note"] == "looked at it"
    assert mine.loc[cat.ids[3], "score"] == 5  # bob's label is bob's: ada had not scored it
    assert sorted(ex.store.tagged("#ring")) == sorted(cat.ids[i] for i in (0, 1, 2, 3))

    undone = ex.undo_many(done.events)
    assert sorted(u.undoes for u in undone) == sorted(e.event_id for e in done.events)
    mine = ex.store.latest(user="ada").set_index("id")
    assert set(mine.index) == {cat.ids[1], cat.ids[2]} and mine.loc[cat.ids[1], "tags"] == ("#bar",)
    assert ex.undo_many(done.events) == []  # no longer in effect: passed over


def test_label_many_stores_nothing_when_an_id_or_the_score_is_bad(explorer, blobs):
    cat, _ = blobs
    with pytest.raises(LabelError, match=r"galaxy id 'nope' is not in the catalogue \(2 such ids\); nothing was stored"):
        explorer.label_many([cat.ids[0], "nope", "nada"], 5)
    with pytest.raises(LabelError, match="outside 0-5"):
        explorer.label_many([cat.ids[0]], 6)
    with pytest.raises(LabelError, match="no galaxies to label"):
        explorer.label_many([], 5)
    assert explorer.store.count() == 0
