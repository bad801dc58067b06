"""App state and views without a browser: labels, navigation, filter, retrain, map, search."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

pn = pytest.importorskip("panel")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from astroexplore.catalogue import load_catalogue
    from astroexplore.demo import make_demo_catalogue

    out = tmp_path_factory.mktemp("ui_state_demo")
    path = make_demo_catalogue(out, n=300, seed=3, progress=False)
    cat = load_catalogue(path)
    return cat, out


@pytest.fixture
def state(demo, tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    cat, _ = demo
    store = LabelStore(tmp_path / "labels.sqlite", valid_ids=cat.ids)
    st = AppState(Explorer(cat, store, user="ada"))
    yield st
    store.close()


def test_initial_state_shows_top_of_ranking(state):
    assert state.order is not None and len(state.order) == state.catalogue.n_galaxies
    assert state.position == 0
    assert state.current == state.order[0]
    assert state.current_score is None
    assert state.user == "ada"


def test_label_is_stored_before_state_changes(state):
    gid = state.current_id
    state.tags = "ring, #Merger"
    event = state.label(4)
    latest = state.store.latest(user="ada")
    row = latest[latest["id"] == gid].iloc[0]
    assert int(row["score"]) == 4
    assert set(row["tags"]) == {"#ring", "#merger"}
    assert event.galaxy_id == gid
    assert state.n_labelled == 1 and state.n_labelled_user == 1
    assert state.labels_version == 1
    assert gid in state.message
    # then the next galaxy of the list, with its own (empty) boxes; Back shows the score
    assert state.position == 1 and state.current == state.order[1]
    assert state.current_score is None and state.tags == ""
    state.previous()
    assert state.current_id == gid and state.current_score == 4 and state.tags == "#ring #merger"


def test_without_advance_a_score_keeps_the_galaxy_on_screen(state):
    state.advance = False
    gid = state.current_id
    state.label(4)
    assert state.current_id == gid and state.position == 0 and state.current_score == 4


def test_advance_stops_at_the_end_of_the_list_and_not_off_the_list(state):
    from astroexplore.filters import Condition, MorphologyFilter

    last = len(state.order) - 1
    state.show_rank(last)
    state.label(3)
    assert state.position == last and state.current_score == 3  # nothing after the last one
    state.filter = MorphologyFilter(state.catalogue.schema).with_condition(
        Condition("smooth-or-featured", "featured-or-disk", 0.5))
    state.show_rank(4)
    hidden = int(np.flatnonzero(~state.mask)[0])
    state.goto(hidden)
    state.label(2)  # opened outside the list (map, search): it stays, where it was scored
    assert state.current == hidden and state.off_list and state.current_score == 2


def test_undo_shows_the_galaxy_again(state):
    gid = state.current_id
    state.label(5)
    assert state.current_id != gid
    state.undo()
    assert state.current_id == gid and state.current_score is None and state.position == 0
    assert "showing it again" in state.message and state.store.count(user="ada") == 0


def test_label_rejects_bad_score(state):
    with pytest.raises(ValueError, match="score must be one of"):
        state.label(7)


def test_navigation_and_goto(state):
    first = state.current
    state.next()
    assert state.position == 1 and state.current == state.order[1]
    state.previous()
    assert state.current == first
    state.previous()  # stays at 0
    assert state.position == 0
    state.tab = 2
    target = int(state.order[10])
    state.goto(target)
    assert state.current == target and state.position == 10 and state.tab == 0
    assert state.goto_id(state.catalogue.ids[5])
    assert state.current == 5
    assert not state.goto_id("no-such-galaxy")
    assert "Galaxy id 'no-such-galaxy' is not in" in state.message


def test_undo_restores_previous_label(state):
    gid = state.current_id
    state.label(2)
    state.previous()
    state.label(5)
    state.previous()
    assert state.current_score == 5
    state.undo()
    assert state.store.count(user="ada") == 1
    assert state.my_score(gid) == 2
    assert state.current_score == 2


def test_user_change_relabels_under_new_name(state):
    state.label(3)
    state.previous()
    state.user = "grace"
    assert state.explorer.user == "grace"
    assert state.current_score is None  # grace has not scored it
    state.label(1)
    assert state.store.count(user="grace") == 1 and state.store.count(user="ada") == 1
    assert state.n_labelled == 1  # one galaxy, two users


def test_method_change_reorders(state):
    before = state.order.copy()
    state.method = "random"
    assert not np.array_equal(before, state.order)
    assert sorted(state.order) == sorted(before)


def test_filter_mask_applies_to_ranking(state):
    from astroexplore.filters import Condition, MorphologyFilter

    flt = MorphologyFilter(state.catalogue.schema).with_condition(
        Condition("smooth-or-featured", "featured-or-disk", 0.5))
    state.filter = flt
    expected = flt.mask(state.catalogue)
    assert state.n_match == int(expected.sum()) < state.catalogue.n_galaxies
    assert np.array_equal(state.mask, expected)
    assert len(state.order) == state.n_match
    assert expected[state.order].all()
    state.filter = None
    assert state.mask is None and state.n_match == state.catalogue.n_galaxies


def test_retrain_in_background_then_resorts(state):
    state.advance = False  # the galaxy on screen is the last one scored
    order = state.order.copy()
    for j in range(8):
        state.goto(int(order[j]))
        state.label(5 if j % 2 else 0)
    fut = state.start_retrain(poll=False)
    assert state.retraining
    # the session stays usable while it runs: label another galaxy meanwhile
    state.goto(int(order[20]))
    state.label(3)
    assert state.wait_retrain(timeout=300)
    assert fut.done() and not state.retraining
    assert state.retrain_progress == 1.0
    assert state.model_version == 1
    assert "Retrained on" in state.retrain_message
    assert state.explorer.predicted_interest is not None
    assert not np.array_equal(order, state.order)
    # the galaxy on screen had been scored: the list starts again from its new top
    assert state.position == 0 and state.current == int(state.order[0])


@pytest.mark.parametrize("kept_first", [False, True])
def test_after_a_retrain_the_galaxy_kept_on_screen_is_followed_by_the_new_top(state, kept_first):
    """Scoring moves on, so the galaxy on screen at a retrain is unscored and stays (a score
    typed as the retrain lands goes to it); after it comes the re-sorted list's rank 1, not the
    galaxy below it in the new order."""
    if kept_first:  # a random order, unlabelled first: the kept galaxy becomes rank 1 itself
        state.method = "random"
        state.show_rank(0)
    for j in range(8):
        state.label(5 if j % 2 else 0)
    kept = state.current
    state.start_retrain(poll=False)
    state.wait_retrain()
    assert state.current == kept and "stays on screen" in state.retrain_message
    assert (state.position == 0) == kept_first
    state.label(4)
    assert state.my_score(state.catalogue.ids[kept]) == 4
    assert state.position == (1 if kept_first else 0)
    assert state.current == int(state.order[state.position]) != kept


def test_a_showing_message_goes_when_another_galaxy_is_shown_and_a_stored_one_stays(state):
    """'Showing demo_000657.' stayed up over whatever galaxy a filter or the Labelled tab opened."""
    first, other = int(state.order[5]), int(state.order[9])
    assert state.goto_id(state.catalogue.ids[first]) and state.message == f"Showing {state.catalogue.ids[first]}."
    state.goto(other)
    assert state.message == ""
    assert state.goto_id(state.catalogue.ids[first])
    state.label(3)  # a label's message is about the galaxy scored: it stays over the next one
    assert state.current != first and state.message.startswith(f"Stored {state.catalogue.ids[first]} = 3")
    for _ in range(7):
        state.label(5)
    state.start_retrain(poll=False)
    assert state.wait_retrain() and "(this galaxy stays on screen" in state.retrain_message
    state.goto(int(state.order[20]))  # the retrain line no longer says it of the next galaxy
    assert state.retrain_message.startswith("Retrained on 8 labels") and "stays" not in state.retrain_message
    assert state.retrain_message.endswith("list re-sorted.")


def test_morphology_view_disables_child_questions(state):
    from astroexplore.ui.morphology import ANY, MorphologyView

    view = MorphologyView(state=state)
    assert not view._enabled(None, "has-spiral-arms")[0]
    view._controls["smooth-or-featured"].answer = "featured-or-disk"
    view._controls["disk-edge-on"].answer = "no"
    assert view._enabled(state.filter, "has-spiral-arms")[0]
    n_two = state.n_match
    view._controls["has-spiral-arms"].answer = "yes"
    assert state.n_match <= n_two
    # removing the root condition takes the descendants out of force too (kept on their rows)
    view._controls["smooth-or-featured"].answer = ANY
    assert view._controls["has-spiral-arms"].answer == "yes"
    assert state.filter is None and state.n_match == state.catalogue.n_galaxies
    assert view.suspended(state.filter) == ["Edge-on disk? No", "Has spiral arms? Yes"]
    view.clear()
    assert view._controls["has-spiral-arms"].answer == ANY and view.suspended(state.filter) == []


def test_a_question_row_at_any_answer_has_its_slider_greyed(state):
    """Rows at "(any)" showed the same live slider as rows in force: the slider did not say which
    conditions applied."""
    from astroexplore.ui.morphology import ANY, MorphologyView

    view = MorphologyView(state=state)
    rows = dict(zip(view._controls, view._question_rows()))
    slider = rows["smooth-or-featured"][1]
    assert slider.disabled  # (any): nothing asked
    view._controls["smooth-or-featured"].answer = "featured-or-disk"
    assert not slider.disabled
    view._controls["smooth-or-featured"].answer = ANY
    assert slider.disabled


def test_a_parent_nudged_below_half_and_back_keeps_the_conditions_below_it(state):
    """One step of 'Smooth or featured?' to 0.45 set every row below it to (any): 202 galaxies
    became 1,570, and moving back to 0.50 brought only the parent back."""
    from astroexplore.ui.morphology import MorphologyView

    view = MorphologyView(state=state)
    root = view._controls["smooth-or-featured"]
    for name, answer in (("smooth-or-featured", "featured-or-disk"), ("disk-edge-on", "no"),
                         ("has-spiral-arms", "yes")):
        view._controls[name].answer = answer
    chain, n_chain = state.filter, state.n_match
    assert len(chain.conditions) == 3 and view.suspended(chain) == []
    root.fraction = (0.45, 1.0)
    assert [c.question for c in state.filter.conditions] == ["smooth-or-featured"]  # the rest out of force
    assert view.suspended(state.filter) == ["Edge-on disk? No", "Has spiral arms? Yes"]
    assert "Not in force until their parent answer is back at 0.5 or more: Edge-on disk? No; Has spiral arms? Yes" \
        in view._conditions_html(state.filter, ())
    root.fraction = (0.5, 1.0)
    assert state.filter.conditions == chain.conditions and state.n_match == n_chain


def test_the_map_draws_galaxies_without_a_value_and_those_filtered_out_in_grey(state):
    """Coloured by has-spiral-arms_yes_fraction, the third of the galaxies never asked the question
    were not drawn at all (the mean of no value is an empty pixel), and the hover said "no galaxies"."""
    from astroexplore.ui.latent_map import MapView

    col = "has-spiral-arms_yes_fraction"
    missing = state.catalogue.table[col].isna().to_numpy()
    assert 0 < missing.sum() < len(missing)
    view = MapView(state=state)
    # offered in the tree's words, as the Filter tab names the answer (the column name was cut off)
    assert view.param.color_by.names["Has spiral arms? Yes (vote fraction)"] == col
    view.color_by = col
    grey = view._missing_points(col, None, 0)
    assert len(grey) == missing.sum()
    assert np.allclose(grey.data[["x", "y"]].to_numpy(), state.resources.projection[missing])
    mask = np.zeros(len(missing), dtype=bool)
    mask[::2] = True  # a filter: only the galaxies it keeps
    assert len(view._missing_points(col, mask, 0)) == (missing & mask).sum()
    view._build_plot()  # with its grey layer
    # with a filter, the galaxies it leaves out are a faint layer under those that pass (they were
    # not drawn at all, and the map framed the others alone)
    assert len(view._filtered_out_points(None)) == 0
    out = view._filtered_out_points(mask)
    assert np.allclose(out.data[["x", "y"]].to_numpy(), state.resources.projection[~mask])
    # a layer is in the figure only where it has something to draw (each costs a rasterization)
    shown = MapView(state=state)
    shown.color_by = "density"
    pn.panel(shown).get_root()
    assert shown.n_under == 0  # density, no filter
    state.mask = mask
    assert shown.n_under == 1  # the filter came: the figure is built again with its layer
    state.map_zoom = (-1.0, 1.0, -1.0, 1.0)  # zoomed in, the filter going still rebuilds it
    state.mask = None
    assert shown.n_under == 0
    state.map_zoom = None
    hover = MapView._hover_opts(col, missing=True)["hover_tooltips"]
    assert hover[1][0] == f"{col} (mean) of its galaxies"
    assert view._has_missing(col) and not view._has_missing("isolation_forest")


def test_map_tap_nearest_and_csv(state):
    from astroexplore.ui.latent_map import MapView

    view = MapView(state=state)
    xy = state.resources.projection
    x, y = map(float, xy[17])
    view._tapped(x=x, y=y)
    assert state.map_point == (x, y)
    assert state.selection[0] == 17
    assert "nearest" in state.selection_title
    table = pd.read_csv(view._selection_csv())
    assert len(table) == min(1000, state.catalogue.n_galaxies)
    assert not any(c.endswith("_fraction") for c in table.columns)  # no filter: no vote columns
    # with a filter, the download carries the fractions and columns it was cut on
    from astroexplore.column_filter import ColumnRange
    from astroexplore.filters import Condition, MorphologyFilter

    featured = "smooth-or-featured_featured-or-disk_fraction"
    state.filter = MorphologyFilter(state.catalogue.schema, [Condition("smooth-or-featured", "featured-or-disk", 0.5)])
    state.column_ranges = (ColumnRange("mag_r", high=17.5),)
    view._tapped(x=x, y=y)
    cut = pd.read_csv(view._selection_csv())
    assert (cut[featured] >= 0.5).all() and (cut["mag_r"] <= 17.5).all()
    assert featured in state.ranking_table(5).columns
    state.param.update(filter=None, column_ranges=())
    assert table["id"].iloc[0] == state.catalogue.ids[17]
    assert table["map_distance"].is_monotonic_increasing
    view._boxed(bounds=(x - 0.5, y - 0.5, x + 0.5, y + 0.5))
    inside = ((np.abs(xy[:, 0] - x) <= 0.5) & (np.abs(xy[:, 1] - y) <= 0.5)).sum()
    assert len(state.selection) == inside
    assert f"{inside:,} galaxies in the box" in state.selection_title


def test_map_coloured_by_labels_follows_new_labels_without_reaggregating(state):
    """Coloured by labels, the map showed only the labelled galaxies (the rest black) on a colour
    bar that disagreed with the dots' colours, and each new label, from any window, re-aggregated
    every galaxy. The galaxies are now the grey density, and the dots carry the colour bar."""
    import datashader as ds

    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import LABELS, MapView

    load_extensions()
    view = MapView(state=state)
    view.color_by = LABELS
    assert view._column(LABELS) is None and isinstance(view._aggregator(LABELS), ds.count)
    gid = state.current_id
    state.label(5)
    points = view._labelled(state.labels_version, None)
    assert list(points.data["id"]) == [gid] and points.data["score"].tolist() == [5]
    plot_opts = points.opts.get("plot").kwargs
    assert plot_opts["colorbar"] and plot_opts["clabel"] == "mean score (0-5)"
    view.color_by = "isolation_forest"  # otherwise the value map has the colour bar
    assert not view._labelled(state.labels_version, None).opts.get("plot").kwargs["colorbar"]


def test_map_nearest_respects_filter(state):
    mask = np.zeros(state.catalogue.n_galaxies, bool)
    mask[::3] = True
    idx = state.resources.map_index.nearest(0.0, 0.0, 10, mask=mask)
    assert len(idx) == 10 and mask[idx].all()
    xy = state.resources.projection
    d = np.hypot(xy[:, 0], xy[:, 1])
    d[~mask] = np.inf
    assert set(idx) == set(np.argsort(d)[:10])


def test_gallery_click_opens_galaxy(state):
    from astroexplore.ui.gallery import Gallery

    g = Gallery(state=state, indices=np.array([42, 7]), captions=["a", "b"], title="t")
    assert [it["i"] for it in g._grid.items] == [42, 7]
    assert g._grid.items[0]["src"].startswith("data:image/png;base64,")
    state.tab = 1
    g._grid.clicked = "7|1"
    assert state.current == 7 and state.tab == 0


def test_similarity_by_position_and_tag(state):
    from astroexplore.ui.similarity import FROM_POSITION, FROM_TAG, SimilarityView

    view = SimilarityView(state=state)
    cat = state.catalogue
    view.mode = FROM_POSITION
    view.position = f"{cat.ra[9]:.6f} {cat.dec[9]:.6f}"
    res = view.search()
    assert res.query_index == 9
    assert cat.ids[9] in view.summary and 9 not in set(view.result_indices)
    assert len(view.results) == view.k and view.warning == ""
    assert list(view.results.columns[:4]) == ["id", "ra", "dec", "distance"]
    csv = pd.read_csv(view._csv())
    assert len(csv) == view.k
    # far from any galaxy: a warning, still results
    view.position = f"{(cat.ra[9] + 1.0) % 360:.6f} {cat.dec[9]:.6f}"
    view.search()
    assert re.search(r"\d (arcsec|arcmin|deg) from RA", view.warning)
    # a tag as the query
    state.goto(3)
    state.tags = "#ring"  # after goto: the tags box shows the shown galaxy's tags
    state.label(5)
    view._refresh_tags()
    view.mode = FROM_TAG
    view.tag = "#ring"
    view.search()
    assert "#ring" in view.summary and 3 not in set(view.result_indices)


def test_similarity_bad_input_is_a_warning(state):
    from astroexplore.ui.similarity import FROM_URL, SimilarityView

    view = SimilarityView(state=state, mode=FROM_URL, url="https://example.org/nothing")
    assert view.search() is None
    assert view.warning


def test_image_failure_shows_placeholder(state, monkeypatch):
    from astroexplore import images
    from astroexplore.ui.state import galaxy_image

    def boom(cat, i):
        raise OSError("disk on fire")

    monkeypatch.setattr(images, "image_for", boom)
    img = galaxy_image(state.catalogue, 0)
    assert img.shape == images.placeholder().shape


def test_build_app_inline_and_template(state):
    from astroexplore.ui.app import ExplorerApp, build_app

    app = build_app(state, template=False)
    assert isinstance(app, ExplorerApp) and app.state is state
    root = app.tabs.get_root()
    assert root is not None
    page = build_app(state)
    assert page.state is state
    app.tabs.active = 2
    assert state.tab == 2
    state.tab = 0
    assert app.tabs.active == 0


def test_link_helpers():
    from astroexplore.ui.scoring import legacy_survey_url, simbad_url, vizier_url

    assert "ra=10.000000&dec=-5.000000&layer=ls-dr10&zoom=16" in legacy_survey_url(10, -5)
    assert "Coord=10.000000+-5.000000&Radius=10&Radius.unit=arcsec" in simbad_url(10, -5)
    assert vizier_url(10, 5).startswith("https://vizier.cds.unistra.fr/viz-bin/VizieR?-c=")


def test_image_src_local_remote_and_broken(state, monkeypatch):
    from astroexplore import images
    from astroexplore.catalogue import Catalogue
    from astroexplore.ui.state import image_src, placeholder_uri

    assert image_src(state.catalogue, 0).startswith("data:image/png;base64,")
    remote = Catalogue.from_arrays(
        np.ones((2, 3)), table=pd.DataFrame({"id": ["a", "b"], "ra": [10.0, 11.0], "dec": [1.0, 2.0]}),
        metadata={"image_template": "https://example.org/cutout?ra={ra}&dec={dec}"})
    assert image_src(remote, 1).startswith("https://example.org/cutout?ra=11")
    monkeypatch.setattr(images, "image_for", lambda cat, i: (_ for _ in ()).throw(OSError("bad file")))
    assert image_src(state.catalogue, 0) == placeholder_uri()


def test_background_warm_up_builds_the_sessions_own_isolation_forest(demo, tmp_path):
    """The warm-up thread grows the kernel forest with the session Explorer's settings (not
    defaults that only happen to match), fills that Explorer, and leaves the leaf ids on disk."""
    from astroexplore.catalogue import load_catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.serve import warm_in_background

    _, out = demo
    cat = load_catalogue(next(out.glob("*.parquet")))  # a fresh object: one warm-up thread per catalogue
    store = LabelStore(tmp_path / "labels.sqlite", valid_ids=cat.ids)
    ex = Explorer(cat, store, user="ada", kernel_trees=7, seed=5)
    before = set(out.rglob("isolation_leaves_*.npy"))
    warm_in_background(cat, ex).join(timeout=300)
    assert ex._paths is not None and ex._paths.n_trees == 7
    new = set(out.rglob("isolation_leaves_*.npy")) - before
    assert len(new) == 1 and np.load(next(iter(new))).shape == (cat.n_galaxies, 7)
    again = Explorer(cat, store, user="bob", kernel_trees=7, seed=5).isolation_paths()
    np.testing.assert_array_equal(again.leaves, ex._paths.leaves)
    store.close()


def test_posterior_bars_say_when_fractions_were_predicted():
    from types import SimpleNamespace

    import pandas as pd

    from astroexplore.schemas import GZ_DECALS
    from astroexplore.ui.scoring import posterior_bars_html

    table = pd.DataFrame({"smooth-or-featured_featured-or-disk_fraction": [0.8, 0.3],
                          "smooth-or-featured_smooth_fraction": [0.2, 0.7],
                          "fractions_predicted": [False, True]})
    cat = SimpleNamespace(schema=GZ_DECALS, table=table)
    voted, predicted = posterior_bars_html(cat, 0), posterior_bars_html(cat, 1)
    assert "Predicted by the encoder" not in voted and "0.80" in voted
    assert "Predicted by the encoder" in predicted and "0.70" in predicted
    assert " ±0" not in predicted  # no *_pred_std columns: no spread to show


def test_posterior_bars_give_the_spread_of_predicted_fractions():
    """Where ``embed`` filled a galaxy's fractions in, the card gives each one's MC-dropout spread."""
    from types import SimpleNamespace

    import pandas as pd

    from astroexplore.schemas import GZ_DECALS
    from astroexplore.ui.scoring import posterior_bars_html

    featured, smooth = ("smooth-or-featured_featured-or-disk_fraction", "smooth-or-featured_smooth_fraction")
    table = pd.DataFrame({featured: [0.8, 0.3], smooth: [0.2, 0.7],
                          f"{featured}_pred": [0.6, 0.3], f"{smooth}_pred": [0.4, 0.7],
                          f"{featured}_pred_std": [0.05, 0.12], f"{smooth}_pred_std": [0.05, float("nan")],
                          "fractions_predicted": [False, True]})
    cat = SimpleNamespace(schema=GZ_DECALS, table=table)
    voted, predicted = posterior_bars_html(cat, 0), posterior_bars_html(cat, 1)
    assert "±" not in voted  # the volunteers' own fractions carry no model spread
    assert "0.30<span class='ae-muted'> ±0.12</span>" in predicted
    assert predicted.count("±") == 2  # the one spread, and the sentence that explains it


def test_posterior_bars_name_answers_as_the_morphology_filter_does():
    """GZ2's answers are 'a02_features_or_disk' in its columns: the card says 'Features or disk'."""
    from types import SimpleNamespace

    import pandas as pd

    from astroexplore.schemas import GZ2
    from astroexplore.ui.scoring import posterior_bars_html

    q = GZ2.questions[0]
    table = pd.DataFrame({a.column: [v] for a, v in zip(q.answers, (0.3, 0.6, 0.1))})
    bars = posterior_bars_html(SimpleNamespace(schema=GZ2, table=table), 0)
    assert ">Smooth<" in bars and ">Features or disk<" in bars and "0.60" in bars
    assert "a02_" not in bars
    # the other questions have no column here: absent from the catalogue, not "not asked"
    assert "not asked" not in bars
    q2 = GZ2.questions[1]
    table[q2.answers[0].column] = [float("nan")]  # a question in the catalogue, unanswered for this galaxy
    assert "1 follow-up question(s) not asked" in posterior_bars_html(SimpleNamespace(schema=GZ2, table=table), 0)


# ----------------------------------------------------------------------------- review fixes (2026-12-02)
def test_finishing_retrain_keeps_the_galaxy_and_tags_being_typed(state):
    """A score pressed as the retrain lands goes to the galaxy on screen, with the typed tags."""
    order = state.order.copy()
    for j in range(6):
        state.goto(int(order[j]))
        state.label(5 if j % 2 else 0)
    state.next(3)
    seen = state.current
    state.start_retrain(poll=False)
    state.tags = "#lens"
    assert state.wait_retrain(timeout=300)
    assert state.current == seen and state.tags == "#lens"
    state.label(5)
    event = state.store.label_of(state.catalogue.ids[seen], "ada")
    assert event.score == 5 and event.tags == ("#lens",)
    state.param.update(position=0)  # the Top button
    assert state.current == int(state.order[0])


def test_two_sessions_on_one_store_see_each_others_labels(demo, tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    cat, _ = demo
    a_store = LabelStore(tmp_path / "shared.sqlite", valid_ids=cat.ids)
    b_store = LabelStore(tmp_path / "shared.sqlite", valid_ids=cat.ids)  # another process's connection
    a, b = AppState(Explorer(cat, a_store, user="ada")), AppState(Explorer(cat, b_store, user="ada"))
    a.goto(7)
    a.label(4)
    assert (b.n_labelled, b.n_labelled_user) == (0, 0)
    b.goto(7)  # navigating reads the store: the label given in session A is shown
    assert b.current_score == 4 and (b.n_labelled, b.n_labelled_user) == (1, 1)
    a.goto(8)
    a.label(1)
    assert b.refresh_counts() and b.n_labelled == 2
    assert not b.refresh_counts()  # nothing new: no re-read
    a_store.close()
    b_store.close()


def test_a_filter_matching_nothing_stops_scoring(state):
    state.mask = np.zeros(state.catalogue.n_galaxies, bool)
    assert state.nothing_listed and len(state.order) == 0
    with pytest.raises(ValueError, match="no galaxy matches the filter"):
        state.label(4)
    assert state.store.count() == 0
    state.goto_id(state.catalogue.ids[5])  # explicitly asked for: may be scored
    state.label(4)
    assert state.store.label_of(state.catalogue.ids[5], "ada").score == 4
    state.mask = None
    assert not state.nothing_listed


def test_labels_of_another_catalogue_in_the_store_do_not_break_map_or_tag_search(state):
    from astroexplore.ui.latent_map import LABELS, MapView
    from astroexplore.ui.similarity import FROM_TAG, SimilarityView

    LabelStore = type(state.store)
    with LabelStore(state.store.path) as other:  # the same file, written for another catalogue
        other.add("other_survey_42", 5, user="bo", tags="#ring")
    state.goto(3)
    from astroexplore.ui.app import load_extensions

    load_extensions()  # _labelled sets plot options (the order of tests must not matter)
    state.tags = "#ring"
    state.label(5)
    view = MapView(state=state)
    view.color_by = LABELS
    points = view._labelled(state.labels_version, None)
    assert list(points.data["id"]) == [state.catalogue.ids[3]]
    sim = SimilarityView(state=state)
    sim.param.update(mode=FROM_TAG, tag="#ring")
    sim.search()
    assert not sim.warning and sim.results is not None and len(sim.results)
    assert "the 1 tagged #ring" in sim.summary


def test_map_gallery_and_csv_follow_the_filter(state):
    from astroexplore.ui.latent_map import MapView

    view = MapView(state=state)
    x, y = map(float, state.resources.projection[17])
    view._tapped(x=x, y=y)
    mask = np.zeros(state.catalogue.n_galaxies, bool)
    mask[::4] = True
    state.mask = mask
    shown = list(state.selection)
    assert mask[shown].all()
    table = pd.read_csv(view._selection_csv())
    assert list(table["id"].iloc[:len(shown)]) == [state.catalogue.ids[i] for i in shown]


def test_tags_box_splits_on_semicolons_too():
    from astroexplore.ui.state import parse_tags

    assert parse_tags("ring; Merger,#lens  ") == ("#ring", "#merger", "#lens")


def test_retrain_started_again_before_the_poll_keeps_one_poller(state):
    """Retrain from code twice in a row: one periodic poller, stopped once the result is pulled."""
    order = state.order.copy()
    for j in range(4):
        state.goto(int(order[j]))
        state.label(5 if j % 2 else 0)
    first = state.start_retrain()
    first.result(timeout=300)
    poller = state._poller
    second = state.start_retrain()  # the first finished but was not polled yet
    assert state._poller is poller
    second.result(timeout=300)
    assert state.wait_retrain(timeout=300) and state._poller is None


def _state_for(table, tmp_path, schema="auto"):
    from astroexplore.catalogue import load_catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    path = tmp_path / "custom.parquet"
    table.to_parquet(path)
    cat = load_catalogue(path, schema=schema)
    return AppState(Explorer(cat, LabelStore(tmp_path / "l.sqlite", valid_ids=cat.ids), user="x"))


def test_filter_tab_offers_the_answers_a_partial_catalogue_has(demo, tmp_path):
    """decals_rings-like: only featured-or-disk, edge-on no and spiral-arms no are present."""
    from astroexplore.ui.morphology import MorphologyView

    cat, _ = demo
    keep = ["smooth-or-featured_featured-or-disk_fraction", "disk-edge-on_no_fraction",
            "has-spiral-arms_no_fraction"]
    drop = [c for c in cat.table.columns if str(c).endswith("_fraction") and c not in keep]
    table = cat.table.drop(columns=drop).assign(embedding=list(cat.embeddings))
    st = _state_for(table, tmp_path)
    view = MorphologyView(state=st)
    assert list(view._controls) == ["smooth-or-featured", "disk-edge-on", "has-spiral-arms"]
    sf = view._controls["smooth-or-featured"]
    assert list(sf.param.answer.objects.values()) == ["(any)", "featured-or-disk"]
    sf.answer = "featured-or-disk"
    expected = (table["smooth-or-featured_featured-or-disk_fraction"] >= 0.5).sum()
    assert st.n_match == expected < len(table)


def test_filter_tab_with_a_schema_listing_a_child_before_its_parent(demo, tmp_path):
    from astroexplore.schemas import Schema
    from astroexplore.ui.morphology import MorphologyView

    cat, _ = demo
    schema = Schema.from_dict({"name": "mine", "questions": [
        {"name": "arcs", "answers": ["one", "many"], "parent": "lens=yes"},
        {"name": "lens", "answers": ["yes", "no"]}]})
    r = np.random.default_rng(0).random(cat.n_galaxies)
    table = cat.table.assign(lens_yes_fraction=r, lens_no_fraction=1 - r, arcs_one_fraction=1 - r,
                             arcs_many_fraction=r, embedding=list(cat.embeddings))
    st = _state_for(table, tmp_path, schema=schema)
    view = MorphologyView(state=st)
    view._controls["lens"].answer = "yes"
    view._controls["arcs"].answer = "many"
    assert view._controls["arcs"].answer == "many"
    assert [c.question for c in st.filter.conditions] == ["lens", "arcs"]


def test_undo_cancels_this_sessions_label_not_another_windows(state):
    """Two windows under one name: Undo in the first removed the second's newer label."""
    from astroexplore.explorer import Explorer
    from astroexplore.ui.state import AppState

    other = AppState(Explorer(state.catalogue, state.store, user="ada"))
    mine, theirs = state.order[0], state.order[1]
    state.label(3, mine)
    other.label(4, theirs)
    event = state.undo()
    assert event.galaxy_id == state.catalogue.ids[mine]
    assert state.my_score(state.catalogue.ids[theirs]) == 4
    assert state.my_score(state.catalogue.ids[mine]) is None
    assert state.undo() is None and "Nothing to undo" in state.message
    assert other.undo().galaxy_id == state.catalogue.ids[theirs]


def test_galaxy_outside_the_list_leaves_the_rank_blank_and_top_returns(state):
    """A galaxy opened by id while the filter hides it: the rank box said "1" and ▲ Top did nothing
    (position was already 0)."""
    from astroexplore.filters import Condition, MorphologyFilter
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    state.filter = MorphologyFilter(state.catalogue.schema).with_condition(
        Condition("smooth-or-featured", "featured-or-disk", 0.5))
    hidden = np.flatnonzero(~state.mask)[0]
    state.goto_id(state.catalogue.ids[hidden])
    assert state.current == hidden and state.off_list and view._position.value is None
    assert "not in the list" in state.message
    state.show_rank(0)  # the Top button
    assert state.current == state.order[0] and not state.off_list and view._position.value == 1
    state.goto_id(state.catalogue.ids[hidden])
    state.next()  # Forward goes on from the place left
    assert state.current == state.order[1] and view._position.value == 2


def test_a_score_key_labels_the_galaxy_on_screen(state):
    """The browser shows galaxy A while the server already moved to B (a retrain finished): the key
    carries A's id and A gets the score, not B."""
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    shown = state.current_id
    assert view._keys.shown == shown
    state.show_rank(3)
    assert view._keys.shown == state.current_id != shown
    view._on_key("4", shown)
    assert state.my_score(shown) == 4 and state.my_score(state.current_id) is None
    b = state.current_id
    view._on_key("2", b)  # the galaxy on screen: stored, then the next one
    assert state.my_score(b) == 2 and state.position == 4
    view._on_key("2", b)  # a second press before the next image arrived: b again, not the next
    assert state.my_score(state.current_id) is None and state.position == 4
    view._on_key("ArrowRight", state.current_id)
    assert state.position == 5


def test_similarity_failed_search_clears_the_previous_results(state):
    """A failed query left the last query's title, gallery and CSV under its warning."""
    from astroexplore.ui.similarity import FROM_POSITION, SimilarityView

    view = SimilarityView(state=state, mode=FROM_POSITION)
    cat = state.catalogue
    view.position = f"{cat.ra[9]:.6f} {cat.dec[9]:.6f}"
    assert view.search() is not None and len(view.results) and not view._download.disabled
    view.position = "somewhere nice"
    assert view.search() is None and view.warning
    assert view.results is None and view.result_indices is None and view.summary == ""
    assert view._download.disabled and view._gallery._grid.items == []
    assert view._csv().getvalue().decode().strip() == ""


def test_similarity_tag_untagged_elsewhere_says_so(state):
    """Another window removed the only #ring: the message blamed another catalogue."""
    from astroexplore.ui.similarity import FROM_TAG, SimilarityView

    state.goto(3)
    state.tags = "#ring"
    state.label(5)
    view = SimilarityView(state=state)
    view.param.update(mode=FROM_TAG, tag="#ring")
    LabelStore = type(state.store)
    with LabelStore(state.store.path) as other:  # another window: the same galaxy without the tag
        other.add(state.catalogue.ids[3], 5, user="ada")
    assert view.search() is None
    assert "no galaxy carries #ring any more" in view.warning
    assert "#ring" not in view.param.tag.objects


def test_ids_are_text_not_markup(tmp_path):
    """'<img src=x onerror=alert(1)>' as an id ran as HTML in the Similarity tab's 'Current galaxy'
    line, and Markdown ate '*star*' and '_under_score_' in the status line."""
    import html

    from astroexplore.catalogue import Catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.scoring import ScoringView
    from astroexplore.ui.similarity import SimilarityView
    from astroexplore.ui.state import AppState

    ids = ["<img src=x onerror=alert(1)>", "*star*", "_under_score_"] + [f"g{i}" for i in range(37)]
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    cat = Catalogue.from_arrays(X, ids=ids)
    with LabelStore(tmp_path / "l.sqlite") as store:
        st = AppState(Explorer(cat, store, cache=False))
        sim, scoring = SimilarityView(state=st), ScoringView(state=st)
        for gid in ids[:3]:
            st.goto_id(gid)
            line = sim._inputs().object
            line = line() if callable(line) else str(line)
            assert html.escape(gid) in line and "<img" not in line
            st.label(3)
            status = scoring._status().object
            assert isinstance(scoring._status(), pn.pane.HTML) and html.escape(gid) in status


def test_similarity_results_are_clamped_and_the_gallery_says_it_is_cut(state):
    """5000 results reverted silently to the previous number; 100 results showed 48 cards under a
    title claiming 100."""
    from astroexplore.ui.similarity import MAX_RESULTS, SimilarityView

    view = SimilarityView(state=state)
    view.k = 5000
    view.search()
    assert view.k == MAX_RESULTS and len(view.results) == min(MAX_RESULTS, state.catalogue.n_galaxies - 1)
    assert "shown)" in view._gallery._title.object  # the gallery says it shows the first 48


def test_retrain_without_labels_says_nothing_was_learnt(state):
    state.start_retrain(poll=False)
    state.wait_retrain()
    assert "Nothing to learn from yet" in state.retrain_message


def test_a_key_for_the_galaxy_on_screen_keeps_its_own_tags(state):
    """The tag and note boxes already showed the server's new galaxy: a late key for the galaxy
    still on screen gave it the other galaxy's tags and note (or wiped its own)."""
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    a = state.current_id
    state.param.update(tags="#ring", note="arc at NE")
    state.label(3)
    state.show_rank(2)  # the server moves on (a retrain landed); the screen still shows a
    state.param.update(tags="#merger", note="B's note")
    view._on_key("4", a)
    event = state.store.label_of(a, state.user_name)
    assert (event.score, event.tags, event.note) == (4, ("#ring",), "arc at NE")


def test_an_off_list_galaxy_stays_after_a_retrain_and_forward_starts_the_list(state):
    from astroexplore.filters import Condition, MorphologyFilter

    state.filter = MorphologyFilter(state.catalogue.schema).with_condition(
        Condition("smooth-or-featured", "featured-or-disk", 0.5))
    state.label(4, state.order[0])
    state.label(0, state.order[1])
    hidden = int(np.flatnonzero(~state.mask)[0])
    assert state.position == 2  # not 0: position 0 set by the re-sort must not replace it
    state.goto(hidden)
    state.start_retrain(poll=False)
    state.wait_retrain()
    assert state.current == hidden and state.off_list and "stays on screen" in state.retrain_message
    state.next()
    assert state.current == state.order[0] and state.position == 0 and not state.off_list


def test_rank_box_is_blank_when_the_filter_matches_nothing(state):
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    state.mask = np.zeros(state.catalogue.n_galaxies, bool)  # what a filter matching nothing sets
    assert state.nothing_listed and view._position.value is None


def test_similarity_warning_keeps_ids_as_written(tmp_path):
    """Warnings were a Markdown Alert: '*star*' came out as an italic 'star'."""
    from astroexplore.catalogue import Catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.similarity import FROM_POSITION, SimilarityView
    from astroexplore.ui.state import AppState

    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    ids = ["*star*"] + [f"g{i}" for i in range(19)]
    cat = Catalogue.from_arrays(X, ids=ids, table=pd.DataFrame({"ra": np.linspace(10, 20, 20), "dec": np.zeros(20)}))
    with LabelStore(tmp_path / "l.sqlite") as store:
        view = SimilarityView(state=AppState(Explorer(cat, store, cache=False)), mode=FROM_POSITION,
                              position="10.0 1.0")  # a degree from *star*: a warning naming it
        view.search()
        assert "*star*" in view.warning
        pane = view._messages().objects[0]
        assert isinstance(pane, pn.pane.HTML) and "*star*" in pane.object


def test_gallery_emptied_in_a_live_document_updates_it(state):
    """A gallery going from cards to none (an empty box, a filter matching nothing) raised
    'unhashable type: dict' in Panel's model update: the old cards and title stayed on screen."""
    from astroexplore.ui.gallery import Gallery

    g = Gallery(state=state, indices=np.array([42, 7]), title="two")
    root = pn.panel(g).get_root()  # the Bokeh models a served page or a notebook holds
    g.param.update(indices=np.zeros(0, dtype=np.int64), title="none")
    assert _gallery_items_in(root) == [] and "none" in g._title.object


def _gallery_items_in(root) -> list[dict]:
    """The gallery cards as the browser receives them (after Panel's HTML cleaning)."""
    import base64
    import json

    sent = [m.items_json for m in root.references() if hasattr(m, "items_json")]
    assert len(sent) == 1, sent
    return json.loads(base64.b64decode(sent[0]))


def test_gallery_ids_and_urls_reach_the_browser_as_written(tmp_path):
    """Sent as JSON text, the cards went through Panel's HTML cleaner: 'M&M' became 'M&amp;M', a
    thumbnail URL's '&' broke, and an id holding '<' cut the JSON (an empty gallery)."""
    from astroexplore.catalogue import Catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.gallery import Gallery
    from astroexplore.ui.state import AppState

    ids = ["M&M", "J1<J2", "</script>", "x > y", 'quote"d', "ünï"]
    urls = [f"https://cutouts.example/img?ra={i}.5&dec=2.5&layer=ls-dr10" for i in range(len(ids))]
    cat = Catalogue.from_arrays(np.eye(len(ids), dtype=np.float32), ids=ids,
                                table=pd.DataFrame({"image": urls}))
    with LabelStore(tmp_path / "l.sqlite") as store:
        st = AppState(Explorer(cat, store, cache=False))
        g = Gallery(state=st, indices=np.arange(len(ids)), captions=["a<b"] * len(ids), title="odd")
        root = pn.panel(g).get_root()
        g.param.update(indices=np.arange(len(ids))[::-1])
        cards = _gallery_items_in(root)
    assert [c["id"] for c in cards] == ids[::-1] and {c["caption"] for c in cards} == {"a<b"}
    assert all("&dec=2.5&layer" in c["src"] for c in cards if c["src"].startswith("http"))


def test_box_selection_follows_the_filter_and_is_what_the_csv_holds(state):
    """A box gallery kept galaxies the filter then hid, and the CSV still held the old tap's."""
    from astroexplore.ui.latent_map import MapView

    view = MapView(state=state)
    xy = state.resources.projection
    view._tapped(x=float(xy[3, 0]), y=float(xy[3, 1]))
    lo, hi = np.percentile(xy, 20, axis=0), np.percentile(xy, 80, axis=0)
    view._boxed((lo[0], lo[1], hi[0], hi[1]))
    inside = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
    assert set(state.selection) == set(inside[:len(state.selection)]) | set(state.selection)
    assert sorted(state.selection) == sorted(inside) or len(inside) > 48
    table = pd.read_csv(view._selection_csv(), dtype={"id": str, "your_score": "Int64", "tags": str},
                        keep_default_na=False, na_values={"your_score": [""]})
    assert sorted(table["id"]) == sorted(state.catalogue.ids[inside])
    expected = view.selection_table()  # the CSV (written by pyarrow) holds exactly the table
    assert list(table.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False, rtol=1e-6)
    assert "box" in view._download.filename and f"{len(inside):,} galaxies in the box" in view._download.label
    mask = np.zeros(state.catalogue.n_galaxies, bool)
    mask[::3] = True
    state.mask = mask
    assert len(state.selection) and mask[list(state.selection)].all()
    table = pd.read_csv(view._selection_csv())
    assert sorted(table["id"]) == sorted(state.catalogue.ids[inside[mask[inside]]])
    view._boxed((xy[:, 0].max() + 1, xy[:, 1].max() + 1, xy[:, 0].max() + 2, xy[:, 1].max() + 2))
    assert len(state.selection) == 0 and view._download.disabled


def test_the_map_and_search_downloads_carry_the_galaxies_catalogue_columns(state):
    """A CSV of the map's or the search's galaxies is a follow-up list: with their magnitudes (any
    describing column), never the demo's hidden truth."""
    from astroexplore.ui.latent_map import MapView
    from astroexplore.ui.similarity import SimilarityView

    cat = state.catalogue
    mags = dict(zip(cat.ids, cat.table["mag_r"]))
    view = MapView(state=state)
    xy = state.resources.projection
    view._tapped(x=float(xy[5, 0]), y=float(xy[5, 1]))
    sim = SimilarityView(state=state)
    sim.search()
    for frame in (pd.read_csv(view._selection_csv(), dtype={"id": str}), pd.read_csv(sim._csv(), dtype={"id": str})):
        assert len(frame) and "mag_r" in frame.columns
        assert not any(c.startswith("truth_") for c in frame.columns)
        np.testing.assert_allclose(frame["mag_r"], [mags[g] for g in frame["id"]])


def test_filter_tab_works_on_a_catalogue_without_the_root_questions(tmp_path):
    """Only has-spiral-arms_* and bar_* columns: both controls stayed disabled, asking for
    'Smooth or featured?' and 'Edge-on disk?', which the page did not show."""
    from astroexplore.catalogue import Catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.morphology import MorphologyView
    from astroexplore.ui.state import AppState

    rng = np.random.default_rng(0)
    n = 60
    yes = rng.random(n)
    strong = rng.random(n) * 0.5
    table = pd.DataFrame({"has-spiral-arms_yes_fraction": yes, "has-spiral-arms_no_fraction": 1 - yes,
                          "bar_strong_fraction": strong, "bar_weak_fraction": 0.5 - strong,
                          "bar_no_fraction": np.full(n, 0.5)})
    from astroexplore.schemas import GZ_DECALS

    cat = Catalogue.from_arrays(rng.normal(size=(n, 3)).astype(np.float32), table=table, schema=GZ_DECALS)
    with LabelStore(tmp_path / "l.sqlite") as store:
        st = AppState(Explorer(cat, store, cache=False))
        view = MorphologyView(state=st)
        assert set(view._controls) == {"has-spiral-arms", "bar"}
        assert all(view._enabled(None, q)[0] for q in view._controls)
        view._controls["has-spiral-arms"].param.update(answer="yes", fraction=(0.5, 1.0))
        view._controls["bar"].param.update(answer="strong", fraction=(0.2, 1.0))
        assert st.n_match == int(((yes >= 0.5) & (strong >= 0.2)).sum()) > 0


def test_sync_catches_up_with_labels_and_retrains_made_elsewhere(state):
    """The notebook's run_loop labelled 30 galaxies and retrained through the Explorer: the app
    shown above it kept 'Labelled 1' and the old order until reloaded."""
    from astroexplore.explorer import Explorer, run_loop
    from astroexplore.ui.state import AppState

    assert state.sync() is False  # nothing changed: nothing done
    other = AppState(Explorer(state.catalogue, state.store, user="ada"))  # another window
    other.label(5, state.current)
    version = state.labels_version
    assert state.sync() and state.n_labelled == 1 and state.current_score == 5
    assert state.labels_version == version + 1
    truth = state.catalogue.table["truth_interest"].to_numpy()
    before = state.order.copy()
    run_loop(state.explorer, lambda gid: int(truth[state.catalogue.index_of(gid)]), 20, batch_size=10)
    assert state.sync()
    assert state.n_labelled == 21 and state.model_version == 1
    assert not np.array_equal(before, state.order)
    assert state.sync() is False


def test_a_retrain_in_another_window_re_sorts_this_one(state):
    """Each served window has its own Explorer: a Retrain in one never re-ranked the others, though
    the README said retrains made elsewhere show up. The other windows (and a new one) now take
    that retrain's model, without retraining, when their model settings are the same."""
    from astroexplore.explorer import Explorer
    from astroexplore.ui.state import AppState

    other = AppState(Explorer(state.catalogue, state.store, user="ada"))  # another window
    truth = state.catalogue.table["truth_interest"].to_numpy()
    for i in other.order[:12]:
        other.label(int(truth[i]), int(i))
    other.start_retrain(poll=False).result()
    assert other.poll_retrain() and other.model_version == 1
    state.sync()
    assert state.model_version == 1 and "retrain in another window" in state.retrain_message
    assert state.explorer.head is other.explorer.head  # taken, not trained again
    np.testing.assert_array_equal(state.explorer.scores("combined"), other.explorer.scores("combined"))
    np.testing.assert_array_equal(state.order, other.order)
    assert state.sync() is False  # taken once
    late = AppState(Explorer(state.catalogue, state.store, user="bo"))  # a window opened later
    np.testing.assert_array_equal(late.order, other.order)
    # this window retrains in turn (a newer model): the first window follows it, not the reverse
    state.label(5, int(state.order[20]))
    state.start_retrain(poll=False).result()
    state.poll_retrain()
    other.sync()
    assert other.explorer.head is state.explorer.head and other.explorer.last_retrain.number > 0
    # different model settings: nothing is taken
    seeded = AppState(Explorer(state.catalogue, state.store, user="cy", seed=7))
    assert seeded.explorer.head is None and seeded.sync() is False


def test_explorer_adopts_only_a_newer_retrain_with_its_own_model_key(state):
    from astroexplore.explorer import Explorer

    a, b = state.explorer, Explorer(state.catalogue, state.store, user="ada")
    assert a.model_key == b.model_key and b.adopt(None) is False
    state.label(4, 0)
    a.retrain()
    first = a.last_retrain
    assert b.adopt(first) and b.head is a.head and b.model_version == 1
    assert b.adopt(first) is False  # not twice
    b.retrain()
    assert a.adopt(b.last_retrain) and a.adopt(first) is False  # an older one is refused
    c = Explorer(state.catalogue, state.store, kernel_trees=10)
    assert c.model_key != a.model_key and c.adopt(b.last_retrain) is False and c.head is None


def test_map_colour_scale_is_linear_for_values_and_equalised_for_density(state):
    """Switching 'Colour by' to a score kept the density's histogram-equalised colour mapper (Bokeh
    keeps a figure's mapper type), and the colour bar said 'Count' for every option."""
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    view = MapView(state=state)
    root = pn.panel(view).get_root()

    def mappers():
        return {type(m).__name__ for m in root.references() if type(m).__name__.endswith("ColorMapper")}

    def colour_bar_titles():
        return {m.title for m in root.references() if type(m).__name__ == "ColorBar"}

    assert "EqHistColorMapper" in mappers() and "galaxies per pixel" in colour_bar_titles()
    view.color_by = "isolation_forest"
    assert "EqHistColorMapper" not in mappers() and "LinearColorMapper" in mappers()
    assert "isolation_forest (mean)" in colour_bar_titles()
    fraction = next(c for c in view.param.color_by.objects if c.endswith("_fraction"))
    view.color_by = fraction  # value to value: the title follows too (it stayed on the first)
    assert colour_bar_titles() == {"vote fraction (mean)"}
    hv = pytest.importorskip("holoviews")
    ranges = next(s for s in view._rasterized.streams if isinstance(s, hv.streams.RangeXY))
    ranges.event(x_range=(-1.0, 1.5), y_range=(-2.0, 0.5))  # the user zoomed in
    view.color_by = "density"
    assert "EqHistColorMapper" in mappers()
    x_ranges = [(m.start, m.end) for m in root.references() if type(m).__name__ == "Range1d"]
    assert (-1.0, 1.5) in x_ranges, x_ranges  # the rebuilt figure keeps the zoom


def test_sync_after_a_retrain_elsewhere_restarts_from_the_top_after_a_scored_galaxy(state):
    """sync() kept a scored galaxy in place after run_loop retrained, which with 'unlabelled
    first' put the user in the labelled tail of the list."""
    from astroexplore.explorer import run_loop

    truth = state.catalogue.table["truth_interest"].to_numpy()
    state.show_rank(2)
    state.label(5)
    run_loop(state.explorer, lambda gid: int(truth[state.catalogue.index_of(gid)]), 10, batch_size=10)
    assert state.sync()
    assert state.position == 0 and state.current == state.order[0] and state.my_score(state.current_id) is None


def test_browsing_shows_other_windows_labels_in_the_label_views(state):
    """Moving to another galaxy re-read the counts but not the label views: a tag added in another
    window never reached this window's tag list while the user only browsed."""
    from astroexplore.explorer import Explorer
    from astroexplore.ui.similarity import SimilarityView
    from astroexplore.ui.state import AppState

    view = SimilarityView(state=state)
    other = AppState(Explorer(state.catalogue, state.store, user="bo"))
    other.goto(state.order[5])
    other.tags = "#ring"
    other.label(4)
    version = state.labels_version
    state.next()  # browsing, before any periodic sync
    assert state.labels_version == version + 1 and "#ring" in view.param.tag.objects
    assert state.sync() is False


def map_image(view):
    """The map's own image, rendered: the layer above the grey ones under it."""
    return view._overlay()[()].get(view.n_under)


def test_map_of_a_fraction_stays_within_zero_and_one(state):
    """Spreading sparse pixels added neighbouring means: a vote-fraction map reached 2.7-3.8 on
    its (linear) colour bar."""
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    view = MapView(state=state)
    view.color_by = next(c for c in view.param.color_by.objects if c.endswith("_fraction"))
    image = map_image(view)
    values = image.dimension_values(2)
    assert np.nanmax(values) <= 1.0 + 1e-6 and np.isfinite(values).any()


def test_building_the_app_again_stops_the_older_sync(state):
    """Each notebook run of build_app started a 2 s sync that never stopped."""
    import astroexplore.ui.state as st_mod
    from astroexplore.ui.state import AppState

    assert state.start_sync()
    first = state._syncer
    again = AppState(state.explorer)  # the cell run again over the same Explorer
    assert again.start_sync()
    assert state._syncer is None and not first.running
    assert st_mod._SYNCING[state.explorer] is again
    again.stop_sync()
    assert again._syncer is None and state.explorer not in st_mod._SYNCING


def test_the_sync_of_a_session_outliving_its_label_store_stops_instead_of_raising(state):
    """A server being stopped closed the label store while its sessions' 2 s sync still ran:
    each run raised 'the label store is closed' into the log until the process ended."""
    from astroexplore.errors import LabelError

    assert state.start_sync()
    syncer = state._syncer
    state._sync_tick()  # an open store: an ordinary sync
    assert state._syncer is syncer and syncer.running
    state.store.close()
    assert state.store.closed
    with pytest.raises(LabelError, match="closed"):
        state.sync()  # what the callback used to run
    state._sync_tick()
    assert state._syncer is None and not syncer.running


def test_a_retrain_finishing_after_its_label_store_closed_ends_quietly(state):
    """A retrain that finished while the server was being stopped re-rendered the galaxy card,
    which read the closed label store and raised into the log."""
    order = state.order.copy()
    for j in range(4):
        state.goto(int(order[j]))
        state.label(5 if j % 2 else 0)
    fut = state.start_retrain()
    poller = state._poller
    assert poller is not None
    fut.result(timeout=300)
    version = state.model_version
    state.store.close()
    assert state.poll_retrain()
    assert state._poller is None and not poller.running and state._future is None
    assert state.model_version == version  # nothing re-rendered from the closed store


def test_box_gallery_follows_the_ranking_method(state):
    from astroexplore.ui.latent_map import MapView

    view = MapView(state=state)
    xy = state.resources.projection
    lo, hi = np.percentile(xy, 10, axis=0), np.percentile(xy, 90, axis=0)
    view._boxed((lo[0], lo[1], hi[0], hi[1]))
    state.method = "random"
    sc = state.scores("random")
    shown = np.asarray(state.selection)
    assert len(shown) > 2 and (np.diff(sc[shown]) <= 0).all()
    assert "by random" in state.selection_title or len(shown) <= 48


@pytest.fixture
def uncached_state(demo, tmp_path):
    """A session whose Explorer keeps no disk cache: kNN and LOF must be computed."""
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    cat, _ = demo
    store = LabelStore(tmp_path / "labels.sqlite", valid_ids=cat.ids)
    st = AppState(Explorer(cat, store, user="ada", cache=False))
    yield st
    store.close()


@pytest.fixture
def gated_scores(uncached_state, monkeypatch):
    """An Event: background score computations of ``uncached_state`` finish only once it is set."""
    import threading

    release = threading.Event()
    compute = uncached_state.explorer.prepare_scores

    def slow(method):
        assert release.wait(60)
        compute(method)

    monkeypatch.setattr(uncached_state.explorer, "prepare_scores", slow)
    yield release
    release.set()


def test_a_detector_not_yet_computed_is_computed_in_the_background(uncached_state, gated_scores):
    """Sorting or colouring the map by kNN the first time computed it in the server's event loop:
    at 1M galaxies every window of the server froze for 19 s. It is now computed in a worker
    thread; meanwhile the list keeps the previous order (the filter still applies)."""
    state = uncached_state
    explorer = state.explorer
    release = gated_scores
    before = state.order.copy()
    state.method = "knn"  # returns at once, or this test hangs
    assert "Computing the knn scores of 300 galaxies" in state.message
    np.testing.assert_array_equal(state.order, before)
    assert state.scores("knn") is None and not state.sync()
    mask = np.zeros(state.catalogue.n_galaxies, bool)
    mask[::2] = True
    state.mask = mask  # the filter applies meanwhile, to the previous method's order
    assert mask[state.order].all() and len(state.order) == mask.sum()
    release.set()
    assert state.wait_for_scores(timeout=60)
    np.testing.assert_array_equal(
        state.order, explorer.ranking("knn", mask=mask, unlabelled_first=state.unlabelled_first))
    assert "knn scores are ready" in state.message and state.scores("knn") is not None


def test_the_map_shows_density_while_its_colour_is_computed(uncached_state, gated_scores):
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    view = MapView(state=uncached_state)
    root = pn.panel(view).get_root()

    def colour_bar_titles():
        return {m.title for m in root.references() if type(m).__name__ == "ColorBar"}

    view.color_by = "lof"
    assert "Computing the lof scores" in view.notice and view._column("lof") is None
    assert colour_bar_titles() == {"galaxies per pixel"}
    gated_scores.set()
    assert uncached_state.wait_for_scores(timeout=60)
    assert view.notice == "" and colour_bar_titles() == {"lof (mean)"}
    assert view._column("lof") == "s_lof"


def test_explorer_scores_ready_reads_the_disk_cache(demo, tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore

    cat, _ = demo
    with LabelStore(tmp_path / "l.sqlite") as store:
        first = Explorer(cat, store, cache=False)
        assert not first.scores_ready("lof") and first.scores_ready("random")
        first.prepare_scores("lof")
        assert first.scores_ready("lof")
        cached = Explorer(cat, store)
        cached.anomaly_scores("lof")  # computed once, into the disk cache
        again = Explorer(cat, store)
        assert again.scores_ready("lof")  # read from the disk, not computed
        np.testing.assert_array_equal(again.scores("lof"), cached.scores("lof"))


def test_the_state_prints_in_one_short_line(state):
    """A notebook cell ending in the app printed param's repr: every parameter, the whole order."""
    text = repr(state)
    assert len(text) < 200 and "\n" not in text
    assert repr(state.current_id) in text and f"of {len(state.order):,}" in text


def test_zoom_keeps_the_centre_of_the_cutout_in_view(state):
    """At 200% the view showed the top-left quarter of the cutout (and no scroll bar to pan)."""
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    view.zoom = 200
    html_text = view._image().object
    size = view.image_size
    assert f"width:{2 * size}px" in html_text and "overflow:hidden" in html_text
    shift = re.search(r"margin:-(\d+)px 0 0 -(\d+)px", html_text)
    assert shift and int(shift.group(1)) == int(shift.group(2)) == size // 2


def test_a_new_method_shows_its_own_rank_1(state):
    """Choosing lof kept the galaxy on screen, at rank 1,075 of lof's list."""
    state.show_rank(5)
    state.method = "random"
    assert state.position == 0 and state.current == int(state.order[0])
    state.show_rank(3)
    before = state.current
    state.unlabelled_first = False  # the same method: the galaxy stays on screen
    assert state.current == before == int(state.order[state.position])


def test_the_galaxy_card_shows_scores_computed_in_the_background(uncached_state, gated_scores):
    """The card kept its rows from before: no 'score (knn)' until another galaxy was opened."""
    from astroexplore.ui.scoring import ScoringView

    state = uncached_state
    view = ScoringView(state=state)
    state.method = "knn"
    card = pn.panel(view._card)  # re-rendered on its dependencies, as on a page
    card.get_root()
    assert "score (knn)" not in card._inner_layout[0].object
    gated_scores.set()
    assert state.wait_for_scores(timeout=60)
    assert "score (knn)" in card._inner_layout[0].object


def _map_layers(view, overlay):
    """The elements the map draws now: (rectangles of the box, points of the tap marker)."""
    import holoviews as hv

    frame = overlay[()]
    rects = [el for el in frame if isinstance(el, hv.Rectangles)]
    marker = [el for el in frame if isinstance(el, hv.Points) and el.vdims == []]
    assert len(rects) == 1 and len(marker) == 1, frame
    return rects[0], marker[0]


def test_map_box_stays_drawn_until_a_tap_and_the_tap_is_marked(state):
    """From a UX review: once the box was drawn, nothing on the map said which region the gallery
    showed (Bokeh's box-select overlay goes when the drag ends). The box is now drawn from the box
    stream in data coordinates, replaced by the next box and cleared by a tap, whose cross is
    shown instead (one cross, not one per tap)."""
    import holoviews as hv

    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    view = MapView(state=state)
    overlay = view._overlay()
    rects, marker = _map_layers(view, overlay)
    assert len(rects) == 0 and len(marker) == 0  # nothing selected yet
    xy = state.resources.projection
    lo, hi = np.percentile(xy, 20, axis=0), np.percentile(xy, 70, axis=0)
    bounds = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    view._bounds.event(bounds=bounds)  # what Bokeh sends when the drag ends
    rects, marker = _map_layers(view, overlay)
    np.testing.assert_allclose(rects.array(), [bounds])
    # a zoom re-aggregates the datashaded layer: the box is still there
    zoom = [s for s in view._rasterized.streams if isinstance(s, hv.streams.RangeXY)]
    assert zoom
    zoom[0].event(x_range=(bounds[0], bounds[2]), y_range=(bounds[1], bounds[3]))
    assert view._zoom() == {"xlim": (bounds[0], bounds[2]), "ylim": (bounds[1], bounds[3])}
    np.testing.assert_allclose(_map_layers(view, overlay)[0].array(), [bounds])
    # the next box replaces it
    second = (bounds[0] - 0.5, bounds[1] - 0.5, bounds[0] + 0.5, bounds[1] + 0.5)
    view._bounds.event(bounds=second)
    np.testing.assert_allclose(_map_layers(view, overlay)[0].array(), [second])
    # a tap clears it and puts a single cross where it landed, moved (not added to) by a next tap
    view._tapped(x=float(xy[5, 0]), y=float(xy[5, 1]))
    rects, marker = _map_layers(view, overlay)
    assert len(rects) == 0 and view.box is None
    np.testing.assert_allclose(marker.array(), [xy[5]], rtol=1e-6)
    view._tapped(x=float(xy[9, 0]), y=float(xy[9, 1]))
    np.testing.assert_allclose(_map_layers(view, overlay)[1].array(), [xy[9]], rtol=1e-6)
    # a box hides the cross (the gallery shows the box, not the tap's neighbours)
    view._bounds.event(bounds=bounds)
    rects, marker = _map_layers(view, overlay)
    assert len(rects) == 1 and len(marker) == 0
    # a new figure (Colour by changed) draws the box too
    view.color_by = list(view.param.color_by.objects)[1]
    np.testing.assert_allclose(_map_layers(view, view._overlay(keep_zoom=True))[0].array(), [bounds])


def test_map_box_caption_says_the_count_once(state):
    """The box gallery read "1,234 galaxies in the box (top 48 by combined) (the first 48 of 1234
    shown)". It now says the count, the box and how many are shown once."""
    from astroexplore.ui.latent_map import N_GALLERY, MapView

    view = MapView(state=state)
    xy = state.resources.projection
    lo, hi = xy.min(axis=0) - 1, xy.max(axis=0) + 1
    view._boxed((lo[0], lo[1], hi[0], hi[1]))  # every galaxy
    n = state.catalogue.n_galaxies
    assert n > N_GALLERY
    title = view._gallery._title.object
    assert title.count(f"{n:,}") == 1 and title.count(str(N_GALLERY)) == 1, title
    assert f"{n:,} galaxies in the box x {lo[0]:.2f}..{hi[0]:.2f}, y {lo[1]:.2f}..{hi[1]:.2f}" in title
    assert f"(showing the first {N_GALLERY} by {state.method})" in title
    assert len(state.selection) == n and len(view._gallery._grid.items) == N_GALLERY
    # a small box: no "showing the first" at all
    x, y = map(float, xy[3])
    view._boxed((x - 1e-3, y - 1e-3, x + 1e-3, y + 1e-3))
    assert "showing" not in view._gallery._title.object and "shown" not in view._gallery._title.object


def _map_bokeh(root, name):
    return [m for m in root.references() if type(m).__name__ == name]


def test_map_pixel_tooltip_names_what_it_shows_and_never_says_nan(state):
    """The map's hover said "Count: NaN" over every empty pixel and named a score's pixel
    "x_y s_isolation_forest". Its tooltip now names the quantity (galaxies in the pixel, or the
    mean of what "Colour by" shows) and reads the pixel through a formatter that says "none"
    where the pixel is empty (Bokeh prints "NaN" itself before any formatter of ``@image``)."""
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    view = MapView(state=state)
    root = pn.panel(view).get_root()

    def pixel_hover():
        (hover,) = [h for h in _map_bokeh(root, "HoverTool")
                    if any(type(r.glyph).__name__ == "Image" for r in h.renderers)]
        return hover

    for color_by, label, empty in (("density", "galaxies in this pixel", "none"),
                                   ("isolation_forest", "isolation_forest (mean) of its galaxies",
                                    "no galaxies in this pixel")):
        view.color_by = color_by
        hover = pixel_hover()
        tips = dict(hover.tooltips)
        assert tips.get(label) == "$index{pixel}", hover.tooltips
        assert not any("@image" in v or "Count" in k or "x_y" in k for k, v in hover.tooltips)
        fmt = hover.formatters["$index"]
        assert fmt.args["empty"] == empty and fmt.args["count"] == (color_by == "density")
        # it reads the pixel from the image the renderer draws, skipping NaN (empty) pixels
        (image_source,) = [r.data_source for r in hover.renderers]
        assert fmt.args["source"] is image_source
        assert "Number.isFinite" in fmt.code and "return empty" in fmt.code


def test_map_density_colour_bar_ticks_are_whole_counts_of_unspread_pixels(state):
    """The density colour bar of a 5,000-galaxy map read 1, 1.119, ..., 1.987 (Bokeh ticks an
    equalised scale at its colour bins' edges), and spreading sparse pixels added up their
    neighbours' counts, so the bar and the hover counted isolated galaxies several times. Ticks
    are now whole counts, and a spread pixel shows the largest count near it, never a sum."""
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    view = MapView(state=state)
    root = pn.panel(view).get_root()
    (bar,) = _map_bokeh(root, "ColorBar")
    assert type(bar.ticker).__name__ == "FixedTicker" and bar.title == "galaxies per pixel"
    ticks = list(bar.ticker.ticks)
    assert ticks[:6] == [1, 2, 3, 5, 10, 20] and all(float(t).is_integer() for t in ticks)
    assert type(bar.formatter).__name__ == "NumeralTickFormatter"
    # the image the bar colours holds true per-pixel counts: those of the aggregate before
    # spreading (adding spread pixels made new, larger counts)
    image = map_image(view)
    shown = image.dimension_values(2, flat=False)
    unspread = view._rasterized[()].dimension_values(2, flat=False)
    assert np.isfinite(shown).sum() > np.isfinite(unspread).sum()  # sparse pixels were spread
    assert np.nanmax(shown) == np.nanmax(unspread)
    assert set(np.unique(shown[np.isfinite(shown)])) <= set(np.unique(unspread[np.isfinite(unspread)]))
    # values keep Bokeh's ticks (linear scale)
    view.color_by = "isolation_forest"
    (bar,) = _map_bokeh(root, "ColorBar")
    assert type(bar.ticker).__name__ != "FixedTicker"


def test_map_recolour_aggregates_once(state, monkeypatch):
    """A new "Colour by" aggregated every galaxy twice: the new figure's range stream started
    empty (one pass for the data's range, another when the figure reported that range), and the
    first switch also re-aggregated the old figure for the new colour."""
    import datashader as ds

    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    calls = []
    points = ds.Canvas.points
    monkeypatch.setattr(ds.Canvas, "points", lambda self, *a, **k: calls.append(1) or points(self, *a, **k))
    view = MapView(state=state)
    pn.panel(view).get_root()
    assert len(calls) == 1
    for color_by in ("isolation_forest", "density", "isolation_forest"):
        calls.clear()
        view.color_by = color_by
        assert len(calls) == 1, color_by
    # a filter that leaves one galaxy, or none: the new figure still opens
    for keep in ([7], []):
        mask = np.zeros(state.catalogue.n_galaxies, bool)
        mask[keep] = True
        state.mask = mask
        view.color_by = "density"
        view.color_by = "isolation_forest"
        assert map_image(view) is not None


def test_a_different_score_before_the_next_galaxy_shows_does_not_replace_the_first(state):
    """During a retrain the next image came late: 3 on A, then 4 meant for the next galaxy
    (still unseen, A still on screen) replaced A's 3."""
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    a = state.current_id
    view._on_key("3", a)
    b = state.current_id
    assert b != a and state.my_score(a) == 3
    view._on_key("4", a)  # the screen still shows a
    assert state.my_score(a) == 3 and state.my_score(b) is None and state.current_id == b
    assert state.message.startswith(f"Not stored: {a} was scored 3")
    view._on_key("3", a)  # the same score again (a double click): harmless, stored again
    assert state.my_score(a) == 3 and state.current_id == b
    view._on_key("4", b)  # once b shows, keys score it
    assert state.my_score(b) == 4
    state.previous()
    state.previous()  # back on a, on purpose: a new score replaces the old one
    view._on_key("1", a)
    assert state.my_score(a) == 1


def test_a_rank_past_the_end_of_the_list_says_what_it_shows(state):
    """Rank 99999 of 1,000 showed the last galaxy without a word."""
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    n = len(state.order)
    view._position.value = 99999
    assert state.position == n - 1 and view._position.value == n
    assert state.message == f"The list has {n:,} galaxies: showing rank {n:,} instead of 99,999."
    view._position.value = 5
    assert state.position == 4


def test_downloads_say_which_galaxies_the_user_scored_and_tagged(state):
    """The map and similarity CSVs had no score or tag of the user: a box downloaded to follow up
    did not say which galaxies were judged already."""
    from astroexplore.ui.latent_map import MapView
    from astroexplore.ui.similarity import SimilarityView

    view = MapView(state=state)
    xy = state.resources.projection
    x, y = map(float, xy[17])
    view._tapped(x=x, y=y)
    near = state.selection[:3]
    state.goto(int(near[1]))
    state.tags = "#ring #odd"
    state.label(5, int(near[0]))  # another galaxy than the one on screen: its own (no) tags
    state.label(2)
    state.store.add(str(state.catalogue.ids[near[2]]), 4, user="someone-else")
    table = pd.read_csv(view._selection_csv(), keep_default_na=False)
    by_id = table.set_index("id")
    ids = state.catalogue.ids
    assert by_id.loc[ids[near[0]], "your_score"] == "5" and by_id.loc[ids[near[0]], "tags"] == ""
    assert by_id.loc[ids[near[1]], "your_score"] == "2" and by_id.loc[ids[near[1]], "tags"] == "#ring #odd"
    assert by_id.loc[ids[near[2]], "your_score"] == ""  # another user's label is not yours
    assert (table["your_score"] != "").sum() == 2
    sim = SimilarityView(state=state)
    sim.search()  # from the galaxy on screen, near[1]: not among its own results
    frame = pd.read_csv(sim._csv(), keep_default_na=False)
    assert {"your_score", "tags"} <= set(frame.columns) and len(frame) == len(sim.result_indices)
    scored = frame[frame["your_score"] != ""]
    assert set(scored["id"]) <= {ids[near[0]]}


def test_the_card_shows_the_galaxys_catalogue_columns_not_the_demos_truth(state):
    """An astronomer scoring a galaxy sees its magnitude (redshift, class...) beside its scores;
    the demo's hidden truth is never shown to the person playing the astronomer."""
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    card = view._card().object
    mag = state.catalogue.table["mag_r"].iat[state.current]
    assert f"<td class='ae-muted'>mag_r</td><td>{mag:.4g}</td>" in card
    assert "truth_" not in card and "merging_merger_fraction" not in card


def test_the_card_shows_at_most_eight_catalogue_columns_and_says_how_many_more(tmp_path):
    from astroexplore.catalogue import Catalogue, describing_columns
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.scoring import ScoringView
    from astroexplore.ui.state import AppState

    table = pd.DataFrame({"ra": [1.0, 2.0], "dec": [0.0, 1.0], "note_text": ["<i>odd</i>", None],
                          **{f"c{k}": [float(k), np.nan] for k in range(9)},
                          "bar_yes_fraction": [0.2, 0.3], "bar_yes_count": [4, 5], "bar_yes_pred": [0.1, 0.2]})
    cat = Catalogue.from_arrays(np.eye(2, 3, dtype=np.float32), ids=["a", "b"], table=table)
    assert describing_columns(cat) == ["note_text", *(f"c{k}" for k in range(9))]
    store = LabelStore(tmp_path / "l.sqlite", valid_ids=cat.ids)
    try:
        state = AppState(explorer=Explorer(cat, store, user="t"))
        state.goto(0)
        card = ScoringView(state=state)._card().object
        assert "&lt;i&gt;odd&lt;/i&gt;" in card and "<td class='ae-muted'>c6</td><td>6</td>" in card
        assert ">c7<" not in card and "+2 more columns" in card
        state.goto(1)
        assert "<td class='ae-muted'>c0</td><td>–</td>" in ScoringView(state=state)._card().object
    finally:
        store.close()


def test_the_card_places_the_score_among_all_galaxies(state):
    """'score (combined) -0.656' meant nothing without the scale: each method has its own."""
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=state)
    n = state.catalogue.n_galaxies
    sc = state.scores(state.method)
    state.unlabelled_first = False
    state.show_rank(0)
    assert f"(#1 of all {n:,} by this score)" in view._card().object
    state.show_rank(9)
    rank = int((sc > sc[state.current]).sum()) + 1
    assert rank >= 2 and f"(#{rank:,} of all {n:,} by this score)" in view._card().object


def test_the_morphology_tab_lists_every_condition_at_its_top(state):
    """A condition set at the bottom of the list (below a laptop's fold) explained '0 of 20,000
    galaxies match' out of sight."""
    from astroexplore.ui.morphology import MorphologyView

    view = MorphologyView(state=state)
    view._controls["merging"].answer = "merger"
    view._controls["smooth-or-featured"].answer = "featured-or-disk"
    text = view.conditions_text(state.filter)
    # answers named as in their menus ('Featured or disk', not the column's 'featured-or-disk')
    assert "Merger ≥ 0.50" in text and "Featured or disk ≥ 0.50" in text and text.count(";") == 1
    assert view.conditions_text(None) == ""


def test_the_retrain_progress_is_drawn_while_it_runs_and_gone_after():
    from astroexplore.ui.scoring import _progress_html

    assert _progress_html(False, 0.7) == ""
    bar = _progress_html(True, 0.456)
    assert "aria-valuenow='46'" in bar and "width:46%" in bar
    assert "width:100%;height" in _progress_html(True, 1.7)  # clamped


def test_the_map_aggregates_one_pixel_per_drawn_pixel_when_a_narrow_window_narrows_it(state, monkeypatch):
    """The map narrows to fit a narrow window (its toolbar was cut off at 1024 px): the galaxies are
    counted again at the width the browser draws, not at the widest map's, squeezed."""
    import datashader as ds
    import holoviews as hv

    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    load_extensions()
    view = MapView(state=state)
    pn.panel(view).get_root()
    image = view._rasterized[()]
    assert image.dimension_values(2, flat=False).shape == (view.height, view.width)
    (size,) = [s for s in view._rasterized.streams if isinstance(s, hv.streams.PlotSize)]
    size.event(width=431, height=377)  # what the browser reports of a narrowed map
    assert view._rasterized[()].dimension_values(2, flat=False).shape == (377, 431)
    # a new colour builds a new figure: it aggregates once, at the size the browser drew last
    calls = []
    points = ds.Canvas.points
    monkeypatch.setattr(ds.Canvas, "points", lambda self, *a, **k: calls.append(
        (self.plot_width, self.plot_height)) or points(self, *a, **k))
    view.color_by = "isolation_forest"
    assert calls == [(431, 377)]


def test_the_map_is_coloured_by_any_numeric_column_of_the_catalogue(demo, tmp_path):
    """"Colour by" offered only the Galaxy Zoo vote fractions: a redshift, a magnitude or a 0/1
    flag of the catalogue could not be seen on the map. Numeric columns are offered now (the
    mean per pixel; a missing value is left out of it), not the map's own coordinates or the id."""
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView

    cat, _ = demo
    n = cat.n_galaxies
    rng = np.random.default_rng(0)
    redshift = rng.uniform(0.01, 0.3, n)
    redshift[::3] = np.nan  # no redshift for a third of them
    flag = pd.array(rng.random(n) < 0.2, dtype="boolean")
    flag[5] = pd.NA
    xy = rng.normal(size=(n, 2))
    table = pd.DataFrame({"id": cat.ids, "embedding": list(cat.embeddings), "redshift": redshift,
                          "is_ring": flag, "n_stars": pd.array(rng.integers(0, 5, n), dtype="Int64"),
                          "survey": "DECaLS", "umap_0": xy[:, 0], "umap_1": xy[:, 1]})
    st = _state_for(table, tmp_path)
    load_extensions()
    view = MapView(state=st)
    options = view.param.color_by.objects
    assert {"redshift", "is_ring", "n_stars"} <= set(options)
    assert not {"umap_0", "umap_1", "id", "survey", "embedding"} & set(options)
    pn.panel(view).get_root()
    for column, lo, hi in (("redshift", 0.01, 0.3), ("is_ring", 0.0, 1.0), ("n_stars", 0, 4)):
        view.color_by = column
        shown = view._rasterized[()].dimension_values(2, flat=False)
        finite = shown[np.isfinite(shown)]
        assert len(finite) > 100 and lo <= finite.min() and finite.max() <= hi, column
    # every galaxy without a redshift is left out of its pixel's mean, not counted as 0 or NaN
    view.color_by = "redshift"
    assert np.nanmin(view._rasterized[()].dimension_values(2)) >= 0.01


def test_the_map_is_coloured_by_class_with_a_legend_of_the_classes_counts(demo, tmp_path):
    """An astronomer colours the latent map by gz1_class to see where the mergers sit: text
    columns of a few classes are offered, each class gets its colour (a pixel mixes its galaxies'
    classes), and a legend names them with their counts among the galaxies the filter keeps."""
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MAX_CLASSES, MapView, class_codes, class_colours

    cat, _ = demo
    n = cat.n_galaxies
    rng = np.random.default_rng(1)
    gz1_class = rng.choice(["elliptical", "spiral", "merger"], n, p=[0.5, 0.4, 0.1]).astype(object)
    gz1_class[:7] = None  # not classified
    table = pd.DataFrame({"id": cat.ids, "embedding": list(cat.embeddings), "gz1_class": gz1_class,
                          "field": [f"field {i % 25}" for i in range(n)],  # 25 classes: 8 shown + other
                          "note": [f"free text {i}" for i in range(n)]})  # not a class column
    st = _state_for(table, tmp_path)
    load_extensions()
    view = MapView(state=st)
    options = view.param.color_by.objects
    assert {"gz1_class", "field"} <= set(options) and "note" not in options and "id" not in options
    root = pn.panel(view).get_root()
    view.color_by = "gz1_class"
    image = view._rasterized[()]
    assert type(image).__name__ == "ImageStack"
    assert [d.name for d in image.vdims] == ["elliptical", "spiral", "merger", "(none)"]  # most frequent first
    stack = np.stack([image.dimension_values(d, flat=False) for d in image.vdims])  # (classes, h, w)
    assert np.nansum(stack) == n  # every galaxy counted once, in its class
    mappers = [m for m in root.references() if type(m).__name__ == "WeightedStackColorMapper"]
    assert mappers and list(mappers[0].palette) == class_colours(["elliptical", "spiral", "merger", "(none)"])
    legend = view._legend_html("gz1_class")
    counts = pd.Series(gz1_class).value_counts()
    assert f"merger <span class='ae-muted' style='color:#777'>({counts['merger']:,})" in legend
    assert "(none) <span class='ae-muted' style='color:#777'>(7)" in legend
    # the legend counts the galaxies the filter keeps
    mask = np.zeros(n, bool)
    mask[:100] = True
    st.mask = mask
    kept = pd.Series(gz1_class[:100]).value_counts()
    assert f"elliptical <span class='ae-muted' style='color:#777'>({kept['elliptical']:,})" in view._legend_html("gz1_class")
    # many classes: the most frequent and "other"
    codes = class_codes(table["field"])
    assert len(codes.categories) == MAX_CLASSES and codes.categories[-1] == "other"
    assert len(set(class_colours(codes.categories))) == MAX_CLASSES
    # the classes in colour are chosen: any of them, the others "other" (in this window only)
    st.mask = None
    view.color_by = "field"
    assert len(view.param.classes.objects) == 25 and view.classes == list(codes.categories[:-1])
    view.classes = ["field 17", "field 3"]
    image = view._rasterized[()]
    assert [d.name for d in image.vdims] == ["field 17", "field 3", "other"]
    stack = np.stack([image.dimension_values(d, flat=False) for d in image.vdims])
    assert np.nansum(stack[:2]) == 2 * n // 25 and np.nansum(stack) == n
    assert "other <span class='ae-muted' style='color:#777'>(" in view._legend_html("field")
    assert "k_field" in st.resources.frame.columns  # the shared default column is left as it was
    assert list(st.resources.frame["k_field"].cat.categories) == list(codes.categories)
    view.classes = [f"field {i}" for i in range(12)]  # at most MAX_CLASSES
    assert view.classes == [f"field {i}" for i in range(MAX_CLASSES)]
    view.color_by = "gz1_class"  # another column: its own classes, the default ones
    assert view.classes == ["elliptical", "spiral", "merger"]
    # a value map again: a colour bar, no legend
    view.color_by = "isolation_forest"
    assert type(view._rasterized[()]).__name__ == "Image" and view._legend_html("isolation_forest") == ""


def test_ranking_download_is_the_list_as_it_is_sorted_and_filtered(state):
    """The sidebar's 'Top N (CSV)': the Scoring tab's list (method, filter, unlabelled first),
    with this user's score and tags, as the other downloads carry them."""
    from astroexplore.column_filter import ColumnRange

    first = state.current_id
    state.tags = "#odd"
    state.label(5)
    state.method = "lof"
    state.column_ranges = (ColumnRange("mag_r", high=float(np.median(state.catalogue.table["mag_r"]))),)
    table = state.ranking_table(20)
    assert table["id"].tolist() == [state.catalogue.ids[r] for r in state.order[:20]]
    assert (table["mag_r"] <= state.column_ranges[0].high).all() and first not in set(table["id"])
    assert table.columns[-2:].tolist() == ["your_score", "tags"]
    state.column_ranges = ()
    state.unlabelled_first = False
    whole = state.ranking_table(state.catalogue.n_galaxies)
    assert whole["id"].tolist() == [state.catalogue.ids[r] for r in state.order]
    mine = whole.set_index("id").loc[first]
    assert (mine["your_score"], mine["tags"], mine["labelled_score"], mine["n_labels"]) == (5, "#odd", 5.0, 1)


def test_filter_tab_keeps_a_second_answer_of_a_question_it_cannot_show(state):
    """A link or a script may ask for two answers of one question; the row shows the first, and
    editing another row no longer drops the second (it did: the tab rebuilt the filter from its
    rows). The question's row set to any answer removes both."""
    from astroexplore.filters import Condition, MorphologyFilter
    from astroexplore.ui.morphology import ANY, MorphologyView

    view = MorphologyView(state=state)
    smooth_low = Condition("smooth-or-featured", "smooth", 0.0, 0.3)
    featured = Condition("smooth-or-featured", "featured-or-disk", 0.6, 1.0)
    state.filter = MorphologyFilter(state.catalogue.schema, [smooth_low, featured])
    row = view._controls["smooth-or-featured"]
    assert (row.answer, row.fraction) == ("smooth", (0.0, 0.3))  # the first shown
    view._controls["disk-edge-on"].answer = "no"  # another row edited
    assert set(state.filter.conditions) >= {smooth_low, featured}
    assert len(state.filter.conditions) == 3
    row.fraction = (0.0, 0.2)  # the shown condition edited: the other answer still kept
    assert set(state.filter.conditions) >= {Condition("smooth-or-featured", "smooth", 0.0, 0.2), featured}
    row.answer = ANY
    assert state.filter is None


def test_the_map_marks_the_similarity_search_shown(state):
    """A search in the Similarity tab puts its query galaxies (stars) and results (rings) on the
    latent map, at their map coordinates; a failed search takes them away."""
    from astroexplore.ui.app import load_extensions
    from astroexplore.ui.latent_map import MapView
    from astroexplore.ui.similarity import FROM_LIST, SimilarityView

    load_extensions()
    view, search = MapView(state=state), SimilarityView(state=state)
    cat, xy = state.catalogue, state.resources.projection
    search.param.update(mode=FROM_LIST, positions_text=f"{cat.ra[3]} {cat.dec[3]}\n{cat.ra[8]} {cat.dec[8]}", k=7)
    assert search.search() is not None
    found, query = view._search_marks(state.search_rows, state.found_rows)
    assert query.data["id"].tolist() == [str(cat.ids[3]), str(cat.ids[8])]
    np.testing.assert_array_equal(query.data[["x", "y"]].to_numpy(), xy[[3, 8]])
    assert found.data["id"].tolist() == [str(cat.ids[i]) for i in search.result_indices] and len(found.data) == 7
    assert query.opts.get("style").kwargs["marker"] == "star"
    search.positions_text = "no position here"
    assert search.search() is None and state.search_rows is None and state.found_rows is None
    found, query = view._search_marks(state.search_rows, state.found_rows)
    assert len(found.data) == len(query.data) == 0


def test_an_unzoomed_map_frames_what_the_filter_passes_and_a_users_zoom_is_kept(state, monkeypatch):
    """The map opened under a filter kept that filter's frame after the filter was cleared: most
    galaxies off screen, and a colour change then wrote the old frame into the link as a zoom."""
    from astroexplore.ui.latent_map import MapView

    hv = pytest.importorskip("holoviews")
    drawn = []  # each aggregation of the galaxies: once per filter change, zoomed or not
    points = MapView._points
    monkeypatch.setattr(MapView, "_points", lambda self, *a: drawn.append(a[1]) or points(self, *a))
    view = MapView(state=state)
    pn.panel(view).get_root()
    drawn.clear()
    x = state.resources.frame["x"].to_numpy()
    part = x < np.quantile(x, 0.3)
    state.mask = part  # a filter before the map was looked at
    assert len(drawn) == 1 and drawn[0] is part  # the new frame only (the old figure was redrawn too)
    view.color_by = "density"
    framed = view._data_range(part)
    assert view._whole == framed
    assert view._zoom() == {"xlim": framed["x_range"], "ylim": framed["y_range"]}
    state.mask = None  # the filter cleared: the whole map again
    whole = view._data_range(None)
    assert whole["x_range"][1] > framed["x_range"][1]
    assert view._zoom() == {"xlim": whole["x_range"], "ylim": whole["y_range"]}
    view.color_by = "isolation_forest"
    assert view._zoom() == {"xlim": whole["x_range"], "ylim": whole["y_range"]} and state.map_zoom is None
    ranges = next(s for s in view._rasterized.streams if isinstance(s, hv.streams.RangeXY))
    ranges.event(x_range=(-1.0, 1.5), y_range=(-2.0, 0.5))  # the user zoomed in
    assert state.map_zoom == (-1.0, 1.5, -2.0, 0.5)
    drawn.clear()
    state.mask = part  # a filter keeps the user's zoom, as a colour change does
    assert len(drawn) == 1 and drawn[0] is part  # in place
    view.color_by = "density"
    assert view._zoom() == {"xlim": (-1.0, 1.5), "ylim": (-2.0, 0.5)} and state.map_zoom == (-1.0, 1.5, -2.0, 0.5)


def test_the_colour_map_is_disabled_where_the_map_uses_its_own_colours(state):
    """Coloured by labels (0-5, their own scale), the Colour map choice changed nothing and was not disabled."""
    from astroexplore.ui.latent_map import LABELS, MapView

    view = MapView(state=state)
    layout = view.__panel__()
    cmap = next(w for w in layout.select(pn.widgets.Select) if w.name == view.param.cmap.label)
    assert not cmap.disabled
    view.color_by = LABELS
    assert cmap.disabled
    view.color_by = "density"
    assert not cmap.disabled


def test_a_linked_search_runs_before_its_tab_is_opened_so_the_map_marks_it(state):
    """After a reload the map showed no query stars or result rings until the Similarity tab was opened."""
    from astroexplore.ui.app import ExplorerApp

    app = ExplorerApp(state=state)
    assert "similarity" not in app._views and state.search_rows is None
    state.similarity_query = f"galaxy:{state.catalogue.ids[7]}"  # as a link's search= sets it
    assert state.search_rows.tolist() == [7] and len(state.found_rows) == state.similarity_k
    assert state.tab == 0  # the Scoring tab stays in front


def test_the_retrain_line_counts_labels_stored_elsewhere_and_the_sidebar_those_of_other_galaxies(demo, tmp_path):
    """The retrain line counted only the window's own labels ("1 label stored since the last
    retrain" after a script stored 150), and a window that took another window's retrain said
    nothing of the labels stored since; labels of galaxies this catalogue lacks were counted as
    "Labelled" with no word on why a retrain learnt fewer."""
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.app import ExplorerApp
    from astroexplore.ui.state import AppState

    cat, _ = demo
    path = tmp_path / "shared.sqlite"
    a = AppState(Explorer(cat, LabelStore(path, valid_ids=cat.ids), user="ada"))
    a.goto(7)
    a.label(4)
    a.start_retrain(poll=False)
    assert a.wait_retrain()
    with LabelStore(path) as script:  # a script (another connection) stores 5 labels, 1 of another survey
        script.add_many([(gid, 3) for gid in cat.ids[20:24]] + [("other_survey_1", 5)], user="bot")
    a.goto(8)
    a.label(2)  # this window's own, after the script's (its count update reads theirs too)
    assert a.retrain_message.startswith("5 labels stored since the last retrain")  # 4 + 1, not 1
    assert a.n_labelled == 7 and a.n_labelled_elsewhere == 1
    summary = ExplorerApp(state=a)._summary().object
    assert "Labelled: **7**" in summary and "1 of them not in this catalogue: kept, not learnt" in summary
    with pytest.warns(UserWarning, match=r"1 of the 7 labelled galaxies are not in this catalogue "
                                          r"\(e.g. 'other_survey_1'\).*retrained on the other 6"):
        a.explorer.retrain()
    assert a.explorer.unlearnt_labels() == 0
    # a new window takes that retrain; a label stored after it is counted there at once
    with LabelStore(path) as script:
        script.add(cat.ids[30], 5, user="bot")
    b = AppState(Explorer(cat, LabelStore(path, valid_ids=cat.ids), user="bo"))
    b.resources.publish_retrain(a.explorer.last_retrain)
    c = AppState(Explorer(cat, LabelStore(path, valid_ids=cat.ids), user="cy"))
    assert c.explorer.last_retrain is a.explorer.last_retrain
    assert c.retrain_message.startswith("1 label stored since the last retrain")
    # a window that only watches: the script's labels reach its retrain line at the next sync
    with LabelStore(path) as script:
        script.add_many([(gid, 1) for gid in cat.ids[40:42]], user="bot")
    assert c.sync() and c.retrain_message.startswith("3 labels stored since the last retrain")
    for s in (a, b, c):
        s.store.close()


def test_explorer_counts_unlearnt_labels_and_warns_a_script_that_ranks_before_retraining(demo, tmp_path):
    """A day-2 script ranked by 'combined' on a store of 29 labels and got the anomaly prior,
    with no word (the app and `astroexplore rank` retrain first)."""
    import warnings

    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore

    cat, _ = demo
    store = LabelStore(tmp_path / "day1.sqlite", valid_ids=cat.ids)
    store.add_many([(gid, s) for gid, s in zip(cat.ids[:6], [5, 4, 0, 1, 5, 3])], user="ada")
    ex = Explorer(cat, store, user="ada")
    assert ex.unlearnt_labels() == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.ranking("isolation_forest")  # learns nothing from labels: no warning
    with pytest.warns(UserWarning, match=r"6 stored labels are not learnt yet: call retrain\(\) first") as rec:
        ex.ranking_table("combined", top=5)
    assert rec[0].filename == __file__  # points at the script's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.ranking("ucb")  # once per Explorer
        ex.retrain()
    assert ex.unlearnt_labels() == 0
    ex.label(cat.ids[0], 2)   # a changed score
    ex.label(cat.ids[10], 4)  # a new galaxy
    store.undo("ada", store.label_of(cat.ids[1], "ada").event_id)  # an undone label
    assert ex.unlearnt_labels() == 3
    # the stored scores are read once per commit (the app asks on every change, in every window)
    assert ex._stored_scores() is ex._stored_scores()
    with LabelStore(store.path) as other:  # another connection's commit is seen
        other.add(cat.ids[11], 5, user="bo")
    assert ex.unlearnt_labels() == 4
    store.close()


def test_the_card_shows_others_scores_of_the_galaxy(state):
    """A galaxy a colleague (or a script) had scored showed only 'your score –': scored again unseen."""
    from astroexplore.labels import LabelStore
    from astroexplore.ui.scoring import ScoringView

    gid = state.current_id
    view = ScoringView(state=state)
    assert "others' scores" not in view._card().object
    with LabelStore(state.store.path) as other:
        for user, score in (("bo", 5), ("cy", 2), ("di", 4), ("ed", 1)):
            other.add(gid, score, user=user)
        other.add(gid, 3, user="bo")  # bo changed their mind: the latest counts
    state.sync()
    card = view._card().object
    assert "<td class='ae-muted'>others&#x27; scores</td><td>3 (bo), 2 (cy), 4 (di) +1 more</td>" in card
    state.label(0)  # this user's own score is not among the others'
    state.previous()
    assert "your score</td><td>0</td>" in view._card().object
    assert [e.user for e in state.store.labels_of(gid)] == ["ada", "bo", "cy", "di", "ed"]
