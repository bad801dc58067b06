"""Scoring flow across sessions and re-sorts: labels stored before a window opened, ▲ Top, the
status line after a change of method, Forward after a re-sort that kept the galaxy on screen."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    from astroexplore.catalogue import load_catalogue
    from astroexplore.demo import make_demo_catalogue

    out = tmp_path_factory.mktemp("scoring_flow_demo")
    return load_catalogue(make_demo_catalogue(out, n=300, seed=5, progress=False))


@pytest.fixture
def open_window(catalogue, tmp_path):
    """open_window(**params) -> a new AppState (own Explorer) over one label store per test,
    as a served window or a notebook builds it."""
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    store = LabelStore(tmp_path / "labels.sqlite", valid_ids=catalogue.ids)

    def make(user="ada", **params):
        return AppState(Explorer(catalogue, store, user=user), **params)

    yield make
    store.close()


def test_a_window_opened_on_stored_labels_learns_from_them(open_window):
    """After a server restart the stored labels were ignored until someone pressed Retrain, and
    nothing said so: the list was the bare anomaly ranking."""
    first = open_window(learn_on_open=False)  # a store that starts empty: nothing to learn
    assert first.explorer.last_retrain is None and first.retrain_message == ""
    for rank, score in enumerate((5, 5, 0, 1, 4)):
        first.label(score, int(first.order[rank]))
    # the server restarts: a new process, so no retrain to take over from another window
    from astroexplore.ui import state as state_module
    state_module.resources_for(first.catalogue)._retrains.clear()
    window = open_window()
    assert "Learning from the 5 labels stored earlier" in window.retrain_message
    assert window.retraining
    assert window.wait_retrain(timeout=120)
    assert window.explorer.last_retrain is not None and window.explorer.last_report["n_labels"] == 5
    assert "Retrained on 5 labels" in window.retrain_message
    expected = window.explorer.ranking(window.method, unlabelled_first=True)
    # nothing was done in the window meanwhile: it shows the new rank 1, not the galaxy it opened
    # on (the old rank 1, which had gone to rank 59 in a restarted demo)
    np.testing.assert_array_equal(window.order, expected)
    assert window.position == 0 and window.current == expected[0]
    assert "from the top" in window.retrain_message
    # a window where the user moved on before the retrain landed keeps the galaxy they look at
    state_module.resources_for(first.catalogue)._retrains.clear()
    moved = open_window(user="cy")
    assert moved.retraining
    moved.next()
    looked_at = moved.current
    assert moved.wait_retrain(timeout=120)
    assert moved.current == looked_at and moved.order[moved.position] == looked_at
    np.testing.assert_array_equal(moved.order, expected)
    # a window opened later takes that retrain over instead of training again
    later = open_window(user="bob")
    assert not later.retraining and later.explorer.last_retrain is moved.explorer.last_retrain
    # and a window that is told not to learn on open does not
    assert not open_window(learn_on_open=False).retraining


def test_sync_pulls_in_a_finished_retrain_where_no_callback_polls(open_window):
    window = open_window()
    window.label(5, int(window.order[3]))
    fut = window.start_retrain(poll=False)
    fut.result(timeout=120)
    assert window.retraining  # nothing polled yet
    assert window.sync() and not window.retraining and "Retrained on 1 label" in window.retrain_message


def test_top_shows_the_first_galaxy_not_scored_yet(open_window):
    """The list is not re-sorted after each label, so its rank 1 may be scored already: ▲ Top
    showed it again instead of the next galaxy to score."""
    window = open_window()
    window.label(3)  # rank 1, then 2 and 3
    window.label(1)
    window.label(0)
    window.show_rank(10)
    window.show_top()
    assert window.position == 3 and window.current_score is None
    window.unlabelled_first = False  # rank 1 literally (re-sorted: its labels no longer first)
    window.show_rank(10)
    window.show_top()
    assert window.position == 0


def test_a_change_of_method_replaces_the_earlier_methods_message(open_window):
    window = open_window()
    window.method = "lof"
    window.wait_for_scores(timeout=120)
    assert "lof scores are ready" in window.message
    window.method = "combined"  # that line stayed, under a list sorted by another method
    assert window.message == "Sorted by combined."


def test_forward_after_an_off_list_galaxy_and_a_re_sort_starts_the_new_list(open_window):
    """Two galaxies opened off the list after a re-sort: Forward still starts from the new rank 1
    (not rank 2, from the place the re-sort left)."""
    window = open_window()
    full = window.order.copy()
    others = np.setdiff1d(np.arange(window.catalogue.n_galaxies), full[:60])
    mask = np.zeros(window.catalogue.n_galaxies, bool)
    mask[full[:50]] = True
    window.mask = mask
    window.show_rank(7)
    window.goto(int(others[0]))
    assert window.off_list and window.position == 7
    mask = mask.copy()
    mask[full[50:60]] = True
    window.mask = mask  # re-sorted while the off-list galaxy is on screen
    assert window.off_list and window.position == 0 and window.current == others[0]
    window.goto(int(others[1]))
    window.next()
    assert window.current == window.order[0] and not window.off_list
    # a listed galaxy opened after the re-sort: Forward goes on from its place
    window.goto(int(others[2]))
    window.mask = None
    window.goto(int(window.order[20]))
    window.next()
    assert window.position == 21


def test_scoring_from_a_gallery_goes_through_the_gallery(open_window):
    """A galaxy opened from similarity results was followed, after its score, by the next galaxy
    of the global ranking: the user lost the results they were going through."""
    from astroexplore.ui.gallery import Gallery
    from astroexplore.ui.scoring import ScoringView

    window = open_window()
    ranking = window.order.copy()
    view = ScoringView(state=window)
    rows = np.array([int(r) for r in ranking[100:106][::-1]])  # not the ranking's order
    gallery = Gallery(state=window, indices=rows, title="6 galaxies similar to X")
    window.tab = 3
    gallery._grid.clicked = f"{rows[1]}|1"  # a card clicked in the browser
    assert window.tab == 0 and window.current == rows[1] and window.list_title == "6 galaxies similar to X"
    assert view._gallery_banner().visible and view._position.value == 2
    window.label(4)  # next after scoring: the gallery's next card, not the ranking's
    assert window.current == rows[2]
    window.next()
    window.label(2)
    assert window.current == rows[4]
    window.previous()
    assert window.current == rows[3] and window.current_score == 2
    window.back_to_ranking()  # back where the ranking was left: its rank 1, not scored yet
    assert window.list_title == "" and window.current == ranking[0] and window.position == 0
    np.testing.assert_array_equal(window.order, window.explorer.ranking(window.method, unlabelled_first=True))
    # left at a galaxy scored meanwhile (here, from the gallery): the first one not scored
    window.show_rank(0)
    gallery._grid.clicked = f"{rows[5]}|3"
    window.label(5, int(ranking[0]))
    window.back_to_ranking()
    assert window.current_score is None and window.position == 0 and window.current != ranking[0]
    # a change of method also leaves the gallery for the ranking
    gallery._grid.clicked = f"{rows[0]}|2"
    assert window.list_title
    window.method = "random"
    assert window.list_title == "" and len(window.order) == window.catalogue.n_galaxies


def test_search_by_id_forgives_case_and_suggests_a_close_id(open_window):
    window = open_window()
    gid = str(window.catalogue.ids[17])  # demo ids: "demo_000017"
    assert window.goto_id(f"  {gid.upper()} ") and window.current == 17
    assert window.message == f"Showing {gid}."
    assert not window.goto_id(gid[:-1] + "x")
    assert window.current == 17 and "is not in" in window.message and "Did you mean" in window.message


def test_search_by_position_opens_the_nearest_galaxy(open_window):
    """The box takes a sky position too (an astronomer has coordinates more often than our ids)."""
    window = open_window()
    cat = window.catalogue
    ra, dec = float(cat.ra[23]), float(cat.dec[23]) + 2 / 3600
    d = np.hypot((cat.ra - ra) * np.cos(np.radians(dec)), cat.dec - dec)
    assert int(np.argmin(d)) == 23
    assert window.goto_id(f"{ra:.6f} {dec:+.6f}") and window.current == 23
    assert window.message == (f"Showing {cat.ids[23]}, the nearest galaxy to RA {ra:.5f}, Dec {dec:+.5f}: "
                              "2.0 arcsec away.")
    far = dec + 30 / 3600  # 32 arcsec north: still opened, with a word of caution
    assert int(np.argmin(np.hypot((cat.ra - ra) * np.cos(np.radians(far)), cat.dec - far))) == 23
    assert window.goto_id(f"{ra:.6f} {far:+.6f}") and window.current == 23
    assert "32.0 arcsec away (further than the position's galaxy would be: check it)." in window.message
    window.goto(0)
    assert not window.goto_id(f"{(ra + 180) % 360:.4f} {-dec:.4f}")  # the other side of the sky
    assert window.current == 0 and "is outside the survey: the nearest galaxy" in window.message
    assert not window.goto_id("not an id 1 2")
    assert "is not in" in window.message  # neither an id nor a position: the id's message
    # numbers out of range are a position: what is wrong with it, as the Similarity tab says
    assert not window.goto_id("500 100") and window.message.startswith("Dec must be within [-90, 90] degrees")
    assert not window.goto_id("10:30:00 +95:00:00") and window.message.startswith("Cannot read a sky position")
    assert not window.goto_id("587722981741363294")  # one number is an id
    assert "is not in" in window.message


def test_going_through_a_box_goes_through_all_of_it_and_says_what(open_window):
    """The banner said "Going through 300 galaxies in the box" while Forward went through the 48
    cards shown ("of 48"); a box of 1,242 could only be gone through 48 at a time."""
    from astroexplore.ui.gallery import Gallery
    from astroexplore.ui.latent_map import N_GALLERY, MapView

    window = open_window()
    view = MapView(state=window)
    xy = window.resources.projection
    lo, hi = xy.min(axis=0) - 1, xy.max(axis=0) + 1
    view._boxed((lo[0], lo[1], hi[0], hi[1]))  # every galaxy in the box
    n = window.catalogue.n_galaxies
    assert len(window.selection) == n > N_GALLERY
    cards = view._gallery.indices
    view._gallery._grid.clicked = f"{cards[2]}|1"
    # the whole box is gone through, best first (it was 48 at a time)
    assert window.current == cards[2] and len(window.order) == n and window.position == 2
    np.testing.assert_array_equal(window.order, window.selection)
    assert window.list_title.startswith(f"the {n:,} galaxies in the box")
    window.show_rank(N_GALLERY + 5)  # past the cards
    assert window.current == window.selection[N_GALLERY + 5]
    # any gallery holding more than it shows says so too; one that shows all keeps its title
    more = Gallery(state=window, indices=window.order[:10], title="10 galaxies similar to X", max_items=4)
    more._grid.clicked = f"{window.order[1]}|1"
    assert window.list_title == "the first 4 of 10 galaxies similar to X" and len(window.order) == 4
    every = Gallery(state=window, indices=window.order[:3], title="3 galaxies similar to Y")
    every._grid.clicked = f"{window.order[0]}|1"
    assert window.list_title == "3 galaxies similar to Y"


def test_the_retrain_line_counts_the_labels_it_has_not_learnt(open_window):
    """"Retrained on 5 labels" stayed up however many galaxies were scored after it."""
    window = open_window(learn_on_open=False)
    window.label(4)
    assert window.retrain_message == "1 label stored: press Retrain to re-sort the list by your scores."
    window.label(0)
    window.start_retrain(poll=False)
    assert window.wait_retrain(timeout=120) and "Retrained on 2 labels" in window.retrain_message
    window.label(5)
    window.label(3)
    assert window.retrain_message == ("2 labels stored since the last retrain: press Retrain to re-sort "
                                      "the list by them.")
    window.start_retrain(poll=False)
    assert window.wait_retrain(timeout=120)
    window.label(1)
    assert window.retrain_message.startswith("1 label stored since the last retrain")
    # an undo takes a new label back: nothing left to learn (it asked for a retrain before)
    window.undo()
    assert window.retrain_message == "No label stored since the last retrain: the list is sorted as it learnt."
    window.undo()  # a label the ranking learnt: now it needs a retrain
    assert window.retrain_message == ("1 label the ranking learnt undone: press Retrain to re-sort the list "
                                      "without it.")
    window.label(2)
    assert window.retrain_message.startswith("1 label stored since the last retrain")


def test_a_galaxy_scored_after_the_list_was_sorted_does_not_come_round_again(open_window):
    """A galaxy on screen when a retrain re-sorted the list was scored, Forward went to the new
    rank 1, and a few galaxies on it came up again (scored twice: 1, then 4)."""
    window = open_window(learn_on_open=False)
    window.label(5, int(window.order[40]))
    window.show_rank(12)
    window.start_retrain(poll=False)
    kept = window.current  # not scored: kept on screen when the retrain lands
    assert window.wait_retrain(timeout=120)
    assert window.current == kept and window._from_top
    new_rank = int(np.flatnonzero(window.order == kept)[0])
    assert new_rank > 0
    window.label(1)  # the kept galaxy; next: the new rank 1 ...
    seen = [window.current]
    for _ in range(new_rank + 3):
        window.label(2)
        seen.append(window.current)
    assert kept not in seen  # ... and the kept galaxy is skipped where the new list has it
    assert len(set(seen)) == len(seen)
    # another window's label counts as well; stepping back still shows every place
    other = open_window(user="bob", learn_on_open=False)
    ahead = int(window.order[window.position + 1])
    other.label(3, ahead)
    window.next()
    assert window.current != ahead
    window.previous()
    assert window.current == ahead


def test_tags_typed_for_a_scored_galaxy_are_stored_with_its_score(open_window):
    """Going Back to add '#ring #edgeon' and a note, then Forward, stored nothing and said
    nothing."""
    window = open_window()
    gid = window.current_id
    window.label(3)
    window.previous()
    assert window.current_id == gid and window.tags == ""
    window.tags = "#ring #edgeon"
    event = window.store.label_of(gid, "ada")
    assert event.score == 3 and event.tags == ("#ring", "#edgeon")
    assert window.message == f"Updated {gid}: #ring #edgeon; its score 3 kept."
    window.note = "added later"
    assert window.store.label_of(gid, "ada").note == "added later"
    window.next()
    window.previous()  # shown again as stored: no new event
    n = len(window.store.history())
    assert window.tags == "#ring #edgeon" and window.note == "added later"
    assert len(window.store.history()) == n
    window.undo()  # the note's event undone: the tags stay
    assert window.store.label_of(gid, "ada").note is None
    assert window.store.label_of(gid, "ada").tags == ("#ring", "#edgeon")
    # an unscored galaxy: nothing stored, the status line says how
    window.next()
    other = window.current_id
    assert window.store.label_of(other, "ada") is None
    window.tags = "#merger"
    assert window.store.label_of(other, "ada") is None
    assert window.message.startswith("Tags and notes are stored with a score: press 0-5")
    window.label(4)
    assert window.store.label_of(other, "ada").tags == ("#merger",)


def test_a_name_that_differs_only_by_case_is_pointed_out(open_window):
    first = open_window(user="Alice", learn_on_open=False)
    first.label(3)
    first.label(4)
    window = open_window(user="bob", learn_on_open=False)
    window.user = "alice"
    assert window.n_labelled_user == 0
    assert window.message == ("No labels under 'alice' yet; 'Alice' has 2. Names are exact: type 'Alice' "
                              "to go on with those.")
    window.user = "Alice"
    assert window.n_labelled_user == 2


def test_a_view_failing_after_the_commit_does_not_say_the_label_was_lost(open_window, monkeypatch):
    """In JupyterLab a redraw failed after the label was committed ("Models must be owned by
    only a single document") and the status line said "Could not store the label"."""
    from astroexplore.ui.scoring import ScoringView

    window = open_window()
    view = ScoringView(state=window)
    gid = window.current_id

    def redraw_fails():
        raise RuntimeError("Models must be owned by only a single document")

    monkeypatch.setattr(window, "next", redraw_fails)  # what runs after the commit
    view._label(3)
    assert window.store.label_of(gid, "ada").score == 3
    assert window.message.startswith("Stored, but the view could not be updated: Models must")
    view._label(9)  # refused before anything is stored
    assert window.message.startswith("Could not store the label: score must be one of")


def test_an_object_shown_in_a_live_output_is_not_drawn_in_a_second(open_window):
    """Panel cannot update one object drawn in two outputs: the second display says so."""
    pytest.importorskip("jupyter_bokeh")
    from astroexplore.ui.scoring import ScoringView

    view = ScoringView(state=open_window())
    data, _ = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    view._shown._view_count = 1  # what JupyterLab reports while the output is on the page
    with pytest.raises(RuntimeError, match="already shown in another output"):
        view._repr_mimebundle_()
    view._shown._view_count = 0  # the output cleared (the cell re-run): shown again
    assert "application/vnd.jupyter.widget-view+json" in view._repr_mimebundle_()[0]


def test_a_view_redrawn_in_jupyter_names_its_stylesheets_on_the_jupyter_server(open_window, monkeypatch):
    """Offline JupyterLab: the panes param.depends rebuilds after a label (image, card, counts)
    named 4 stylesheets by their CDN address, because jupyter_bokeh draws later changes in a
    Document of its own, without the Jupyter server's ``dist_url``."""
    pytest.importorskip("jupyter_bokeh")
    from bokeh.models import ImportedStyleSheet
    from panel.io.resources import CDN_DIST

    from astroexplore.ui.notebook import JUPYTER_SERVER_ENV
    from astroexplore.ui.scoring import ScoringView

    monkeypatch.setenv(JUPYTER_SERVER_ENV, "quickstart.ipynb")
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    window = open_window()
    view = ScoringView(state=window)
    view._repr_mimebundle_()

    def urls() -> list[str]:
        return [s.url for m in view._shown._document.models for s in (getattr(m, "stylesheets", None) or [])
                if isinstance(s, ImportedStyleSheet)]

    before = urls()
    view._label(3)
    view._label(1)  # two redraws: the image, card and counts are rebuilt
    after = urls()
    assert len(after) > len(before) // 2 and any(u.startswith("/panel_dist/") for u in after)
    assert not [u for u in before + after if u.startswith(CDN_DIST)]
