"""The Similarity search tab without a browser: the chosen mode and only its input are shown, the
galaxy a 'Current galaxy' search would start from is named, and the query of the results (its
galaxy with its id and separation, or the tagged galaxies with their count) is shown above them."""
from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pytest

pn = pytest.importorskip("panel")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from astroexplore.catalogue import load_catalogue
    from astroexplore.demo import make_demo_catalogue

    path = make_demo_catalogue(tmp_path_factory.mktemp("sim_view_demo"), n=300, seed=5, progress=False)
    return load_catalogue(path)


@pytest.fixture
def state(demo, tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    store = LabelStore(tmp_path / "labels.sqlite", valid_ids=demo.ids)
    yield AppState(Explorer(demo, store, user="ada"))
    store.close()


@pytest.fixture
def view(state):
    from astroexplore.ui.similarity import SimilarityView
    return SimilarityView(state=state)


def text_inputs(layout) -> set[str]:
    """Names of the text boxes and selects the rendered tab shows now."""
    return {w.name for w in layout.select(pn.widgets.Widget)
            if isinstance(w, (pn.widgets.TextInput, pn.widgets.TextAreaInput, pn.widgets.Select))}


def query_html(view) -> str:
    return view._query().object


def alts(markup: str) -> list[str]:
    return re.findall(r"alt='galaxy ([^']*)'", markup)


def nearest_is(cat, i, ra, dec) -> bool:
    """Row ``i`` is the catalogue galaxy nearest to (ra, dec) (small-angle distance is enough)."""
    d = np.hypot((cat.ra - ra) * np.cos(np.radians(dec)), cat.dec - dec)
    return int(np.argmin(d)) == i


# the mode and its input ----------------------------------------------------------------------------
def tag_galaxies(state, rows, tag: str, score: int = 4) -> None:
    """Score the galaxies at catalogue ``rows`` with ``tag``, as a user in the Scoring tab."""
    state.advance = False
    for i in rows:
        state.goto(int(i))
        state.tags = tag
        state.label(score)


def test_the_chosen_mode_is_a_filled_button(view):
    from astroexplore.ui.similarity import FROM_TAG

    group = view.__panel__().select(pn.widgets.RadioButtonGroup)[0]
    # outline buttons: the selected one is the only filled one
    assert group.color == "primary" and group.variant == "outline"
    assert group.value == view.mode
    view.mode = FROM_TAG
    assert group.value == FROM_TAG


def test_only_the_chosen_modes_input_is_shown(view):
    from astroexplore.ui.similarity import FROM_CURRENT, FROM_LIST, FROM_POSITION, FROM_TAG, FROM_URL

    layout = view.__panel__()
    position, url, tag = (view.param.position.label, view.param.url.label, view.param.tag.label)
    expected = {FROM_CURRENT: set(), FROM_POSITION: {position}, FROM_URL: {url}, FROM_TAG: {tag},
                FROM_LIST: {view.param.positions_text.label}}
    for mode in [FROM_POSITION, FROM_URL, FROM_LIST, FROM_TAG, FROM_CURRENT, FROM_URL]:
        view.mode = mode
        assert text_inputs(layout) == expected[mode], mode
    # the boxes are built once: what was typed is still there when the mode comes back
    view.param.update(mode=FROM_POSITION, position="150.1 2.2")
    view.mode = FROM_URL
    view.mode = FROM_POSITION
    box = [w for w in layout.select(pn.widgets.TextInput) if w.name == position]
    assert len(box) == 1 and box[0].value == "150.1 2.2"


def test_enter_in_a_box_searches(view):
    from astroexplore.ui.similarity import FROM_POSITION

    cat = view.state.catalogue
    view.param.update(mode=FROM_POSITION, position=f"{cat.ra[9]:.6f} {cat.dec[9]:.6f}")
    box = view._inputs()
    box.param.trigger("enter_pressed")
    assert view.results is not None and list(view.query_indices) == [9]


def test_current_galaxy_is_named_before_searching_and_follows_the_scoring_view(view, state):
    from astroexplore.ui.similarity import FROM_CURRENT, FROM_TAG

    layout = view.__panel__()
    assert view.mode == FROM_CURRENT and view.results is None
    for i in (state.current, state.order[7]):
        state.goto(int(i))
        gid = str(state.catalogue.ids[i])
        line = view._inputs().object
        line = line() if callable(line) else str(line)
        assert f"<b>{html.escape(gid)}</b>" in line
        thumbs = [p.object for p in layout.select(pn.pane.HTML) if "alt='galaxy" in str(p.object)]
        assert [alts(t) for t in thumbs] == [[gid]]  # its thumbnail beside it
    view.mode = FROM_TAG
    assert not [p for p in layout.select(pn.pane.HTML) if "alt='galaxy" in str(p.object)]


# the query above the results -------------------------------------------------------------------
def test_no_query_is_shown_before_a_search(view):
    assert view.query_indices is None and query_html(view) == ""


def test_current_galaxy_query_shows_its_thumbnail_and_id(view, state):
    state.goto(int(state.order[4]))
    gid = state.current_id
    view.search()
    markup = query_html(view)
    assert list(view.query_indices) == [state.current]
    assert alts(markup) == [gid] and f">{gid}<" in markup
    assert state.resources.thumbnail_uri(state.current, 112) in markup
    # browsing on does not change what the shown results were searched from
    state.next()
    assert alts(query_html(view)) == [gid]


def test_radec_query_names_the_nearest_galaxy_and_its_separation(view):
    from astroexplore.ui.similarity import FROM_POSITION

    cat = view.state.catalogue
    view.param.update(mode=FROM_POSITION, position=f"{cat.ra[9]:.6f} {cat.dec[9]:.6f}")
    view.search()
    markup = query_html(view)
    assert alts(markup) == [str(cat.ids[9])] and "0.0 arcsec away" in markup
    # 20 arcsec north of galaxy 9 (and still nearest to it): the separation is said
    dec = cat.dec[9] + 20 / 3600
    assert nearest_is(cat, 9, cat.ra[9], dec)
    view.position = f"{cat.ra[9]:.7f} {dec:.7f}"
    view.search()
    markup = query_html(view)
    assert alts(markup) == [str(cat.ids[9])]
    assert re.search(r"RA [\d.]+, Dec [-+][\d.]+: 20\.0 arcsec away", markup)


def test_link_query_names_the_nearest_galaxy(view):
    from astroexplore.ui.similarity import FROM_URL

    cat = view.state.catalogue
    i = 21
    view.param.update(mode=FROM_URL, url="https://www.legacysurvey.org/viewer?"
                      + urlencode({"ra": f"{cat.ra[i]:.6f}", "dec": f"{cat.dec[i]:.6f}", "zoom": 16}))
    view.search()
    assert not view.warning
    markup = query_html(view)
    assert alts(markup) == [str(cat.ids[i])] and "arcsec away" in markup


def test_tag_query_shows_the_count_and_the_first_tagged_galaxies(view, state):
    from astroexplore.ui.similarity import FROM_TAG, QUERY_THUMBS

    rows = [int(i) for i in state.order[:QUERY_THUMBS + 3]]
    tag_galaxies(state, rows, "#ring")
    view.param.update(mode=FROM_TAG, tag="#ring")
    view.search()
    markup = query_html(view)
    assert f"the {len(rows)} galaxies tagged #ring" in markup
    assert f"(the first {QUERY_THUMBS} shown)" in markup
    shown = alts(markup)
    assert len(shown) == QUERY_THUMBS and set(shown) <= {str(state.catalogue.ids[i]) for i in rows}
    assert sorted(view.query_indices.tolist()) == sorted(rows)
    # one tagged galaxy: said in the singular, no "first ... shown"
    state.goto(rows[0])
    state.tags = "#lens"
    state.label(5)
    view.tag = "#lens"
    view.search()
    markup = query_html(view)
    assert "the 1 galaxy tagged #lens" in markup and "shown)" not in markup
    assert alts(markup) == [str(state.catalogue.ids[rows[0]])]


def test_a_tag_in_a_link_or_a_written_search_is_read_as_the_store_writes_it(view, state):
    """'tag:#Ring' in a link, or run_search('tag:ring'), found no galaxy although #ring had some."""
    from astroexplore.similar import parse_search, run_search

    rows = [int(i) for i in state.order[:4]]
    tag_galaxies(state, rows, "#ring")
    assert view.run_query("tag:#Ring") is not None and view.tag == "#ring" and not view.warning
    assert sorted(view.query_indices.tolist()) == sorted(rows)
    cat, store = state.catalogue, state.store
    assert parse_search("tag:Ring", cat, store) == "tag:#ring"
    found = run_search(cat, None, "tag:ring", 5, store=store)
    assert found.search == "tag:#ring" and sorted(found.query_rows.tolist()) == sorted(rows)
    with pytest.raises(ValueError, match=r"no galaxy carries the tag #lens \(the tags in the label store: #ring"):
        run_search(cat, None, "tag:lens", 5, store=store)
    assert view.run_query("tag:lens") is None and "the tags in the label store: #ring" in view.warning


def test_a_failed_search_takes_the_query_away(view):
    from astroexplore.ui.similarity import FROM_POSITION

    cat = view.state.catalogue
    view.param.update(mode=FROM_POSITION, position=f"{cat.ra[9]:.6f} {cat.dec[9]:.6f}")
    view.search()
    assert alts(query_html(view)) == [str(cat.ids[9])]
    view.position = "somewhere nice"
    assert view.search() is None and view.warning
    assert view.query_indices is None and view.query_text == "" and query_html(view) == ""


def test_query_ids_and_tags_are_text_not_markup(tmp_path):
    from astroexplore.catalogue import Catalogue
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.similarity import FROM_TAG, SimilarityView
    from astroexplore.ui.state import AppState

    ids = ["<img src=x onerror=alert(1)>", "a'b"] + [f"g{i}" for i in range(38)]
    X = np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32)
    cat = Catalogue.from_arrays(X, ids=ids)
    with LabelStore(tmp_path / "l.sqlite") as store:
        st = AppState(Explorer(cat, store, cache=False))
        view = SimilarityView(state=st)
        assert view.param.mode.objects == ["Current galaxy", "Tag"]  # no coordinates
        for gid in ids[:2]:
            st.goto_id(gid)
            view.search()
            markup = query_html(view)
            assert "<img src=x" not in markup and html.escape(gid) in markup
            assert html.escape(f"galaxy {gid}", quote=True) in markup  # the alt attribute, quoted
        tag_galaxies(st, [st.catalogue.index_of(gid) for gid in ids[:2]], "#odd", 3)
        view.param.update(mode=FROM_TAG, tag="#odd")
        view.search()
        markup = query_html(view)
        assert "the 2 galaxies tagged #odd" in markup and "<img src=x" not in markup
        assert markup.count("<img ") == 2


def test_results_say_when_the_morphology_filter_left_galaxies_out(view, state, demo):
    """The search applied the filter of the Morphology tab without a word in this tab."""
    from astroexplore.filters import Condition, MorphologyFilter

    view.search()
    assert "filter" not in view.summary
    state.filter = MorphologyFilter(demo.schema, [Condition("smooth-or-featured", "smooth", 0.5)])
    assert 0 < state.n_match < demo.n_galaxies
    view.search()
    assert f"among the {state.n_match:,} of {demo.n_galaxies:,} that pass the filter" in view.summary
    assert state.mask[view.result_indices].all()
    assert "pass the filter" in view._gallery._title.object


def test_results_table_fits_its_width_and_rounds_for_display_only(view):
    """The score column ran off a 1280 px window: columns sized to their 9-digit floats."""
    view.search()
    table = view._table()
    assert isinstance(table, pn.widgets.Tabulator) and table.layout == "fit_columns"
    floats = [c for c in view.results.columns if view.results[c].dtype.kind == "f"]
    assert {"ra", "dec", "distance"} <= set(floats) and set(table.formatters) == set(floats)
    assert table.formatters["ra"].format == "0.00000" and table.formatters["distance"].format == "0.000"
    csv = view._csv().getvalue().decode().splitlines()[1].split(",")  # the CSV keeps every digit
    ra = csv[list(view.results.columns).index("ra")]
    assert len(ra.split(".")[1]) > 5


def test_a_position_search_states_the_separation_in_fitting_units(view, state, demo):
    """The title said '(491279.7 arcsec away)' where the warning said 136.5 deg."""
    from astroexplore.ui.similarity import FROM_POSITION

    i = int(np.argmin(demo.ra))
    ra, dec = float(demo.ra[i]) - 2.0, float(demo.dec[i])  # 2 deg west of the survey's edge
    view.mode = FROM_POSITION
    view.position = f"{ra} {dec}"
    view.search()
    assert re.search(r"\(1\d\d\.\d arcmin away\)", view.summary) and "arcsec away" not in view.summary


def test_a_position_far_outside_the_survey_gives_no_results(view, demo):
    """RA/Dec 10 -60 gave 24 'similar' galaxies, from one 110.8 deg away, under a warning."""
    from astroexplore.ui.similarity import FROM_POSITION

    view.mode = FROM_POSITION
    view.position = f"{(float(demo.ra[0]) + 180) % 360} {-float(demo.dec[0])}"
    assert view.search() is None and view.results is None
    assert "is outside the survey: no catalogue galaxy within 5 deg" in view.warning
    assert "deg away" in view.warning


def test_results_table_titles_are_short_and_the_full_names_are_tooltips(view):
    view.search()
    table = view._table()
    assert table.titles["distance"] == "dist." and table.titles["id"] == "id"
    score = [c for c in view.results.columns if c.startswith("score_")]
    assert score and table.titles[score[0]] == "score"
    assert table.header_tooltips == {c: c for c in view.results.columns}
    assert table.hidden_columns == ["ra", "dec"] and {"ra", "dec"} <= set(view.results.columns)  # CSV


def test_the_results_follow_labels_given_after_the_search(view, state):
    """A result scored from the gallery kept '-' in the table's 'yours' column."""
    view.search()
    row = int(view.result_indices[2])
    state.tags = ""
    state.label(4, row)
    frame = view.results.set_index("id")
    gid = str(state.catalogue.ids[row])
    assert frame.loc[gid, "your_score"] == 4
    assert int(frame["your_score"].notna().sum()) == 1


# ------------------------------------------------------------------ known objects (a positions list)
def test_known_objects_search_from_the_matched_galaxies(view, state):
    """Pasted positions (degrees, sexagesimal, one far from any galaxy, one named) are matched to
    the catalogue; the results are the tag-style search from the matched galaxies, the query shows
    them, the unmatched position is named in the warning, and the address holds the list."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    from astroexplore.search import search_by_ids
    from astroexplore.ui.similarity import FROM_LIST

    cat = state.catalogue
    sexagesimal = SkyCoord(cat.ra[4] * u.deg, cat.dec[4] * u.deg).to_string("hmsdms", sep=":", precision=2)
    text = (f"{cat.ra[7]:.6f} {cat.dec[7] + 2 / 3600:.6f}  # NGC one\n{sexagesimal}\n"
            f"{(cat.ra[7] + 180) % 360:.4f} {-cat.dec[7]:.4f}  # far away\n")
    view.param.update(mode=FROM_LIST, positions_text=text, k=10)
    res = view.search()
    assert res is not None and view.query_indices.tolist() == [7, 4]
    expected = search_by_ids(cat, state.resources.index, cat.ids[[7, 4]], 10, mask=state.mask)
    assert view.result_indices.tolist() == expected.indices.tolist()
    assert "the 2 catalogue galaxies matched to 2 of 3 positions (within 5 arcsec)" in query_html(view)
    assert sorted(alts(query_html(view))) == sorted(str(cat.ids[i]) for i in (7, 4))
    assert view.warning.startswith("2 of 3 positions matched a catalogue galaxy within 5 arcsec; "
                                   "not matched: far away (RA ")
    assert state.similarity_query.startswith("positions:5;") and state.similarity_query.count(";") == 3
    # the list's positions with the galaxy each matched, as `astroexplore match` writes them
    matches = pd.read_csv(view._matches_download.callback(), dtype={"id": str}, keep_default_na=False)
    assert matches["id"].tolist() == [str(cat.ids[7]), str(cat.ids[4]), ""]
    assert matches["name"].tolist() == ["NGC one", "", "far away"] and matches["matched"].tolist() == [True, True, False]
    assert {"separation_arcsec", "n_within_radius", "line"} <= set(matches.columns)
    # the link's search gives the same results in a new view (names are not in the link)
    from astroexplore.ui.similarity import SimilarityView
    other = SimilarityView(state=state)
    assert other.mode == FROM_LIST and other.result_indices.tolist() == view.result_indices.tolist()


def test_known_objects_problems_are_warnings(view, state):
    from astroexplore.ui.similarity import FROM_LIST

    cat = state.catalogue
    view.mode = FROM_LIST
    assert view.search() is None and "paste the positions of known objects first" in view.warning
    view.positions_text = f"{cat.ra[3]} {cat.dec[3]}\nnot a position\n"
    assert view.search() is None
    assert view.warning.startswith("the positions: line 2: cannot read a sky position from 'not a position'")
    view.param.update(positions_text=f"{cat.ra[3]:.5f} {cat.dec[3] + 30 / 3600:.5f}", match_arcsec=10)
    assert view.search() is None and view.results is None
    assert view.warning.startswith("0 of 1 positions matched a catalogue galaxy within 10 arcsec; not matched: "
                                   "line 1 (RA ") and "no galaxy to search from" in view.warning
    view.match_arcsec = 40  # a larger radius takes it
    assert view.search() is not None and view.query_indices.tolist() == [3] and not view.warning
    for bad, said in [("positions:abc;1,2", "the match radius 'abc' is not a number"),
                      ("positions:0;1,2", "the match radius is 0 arcsec: give 0.1 to 3600 arcsec")]:
        assert view.run_query(bad) is None and said in view.warning and view.results is None  # a script's query
    view.param.update(positions_text=f"{cat.ra[3]} {cat.dec[3]}", match_arcsec=None)  # an emptied box
    assert view.search() is None and view.warning == "the match radius is empty: give 0.1 to 3600 arcsec"
    # the radius is said first, as before the searches moved to astroexplore.similar
    view.param.update(positions_text="foo bar", match_arcsec=99999)
    assert view.search() is None and view.warning == "the match radius is 99999 arcsec: give 0.1 to 3600 arcsec"


def test_known_objects_links_are_checked(state):
    from astroexplore.ui.address import decode_search

    cat = state.catalogue
    good = f"positions:3;{cat.ra[1]},{cat.dec[1]};{cat.ra[2]},{cat.dec[2]}"
    (query, k), problems = decode_search({"search": good, "k": "5"}, state)
    assert not problems and k == 5 and query.startswith("positions:3;") and query.count(";") == 2
    for bad, said in [("positions:0;1,2", "the match radius '0' is not a number of arcsec"),
                      ("positions:5;", "expected 1 to 100 positions"),
                      ("positions:5;1,95", "search 'positions:5;1,95': position 1 (RA 1.0, Dec 95.0) is not a sky position"),
                      ("positions:5;1,2,3", "expected 2 numbers")]:
        result, problems = decode_search({"search": bad}, state)
        assert result is None and len(problems) == 1 and said in problems[0], (bad, problems)
    # a k that is not a whole number 1..1000 is a problem, the search still runs with 24 ('²' is a
    # digit to str.isdigit, and int() refused it: the decoder raised)
    for k_text in ["²", "0", "5000", "abc"]:
        (query, k), problems = decode_search({"search": good, "k": k_text}, state)
        assert k == 24 and problems == [f"k '{k_text}': the number of results is a whole number from 1 to 1000"]


def test_the_matched_known_objects_are_labelled_at_once_and_undone(view, state):
    """'Label N galaxies' stores the score and tags for every matched galaxy (one scored before
    keeps its score and gets the tags), says so after the store has them, refreshes the counts,
    the tag list and the results' labels; 'Undo these labels' takes them all back; the row is
    only there for a Known objects search."""
    from astroexplore.labels import LabelStore
    from astroexplore.ui.similarity import FROM_CURRENT, FROM_LIST, FROM_POSITION, FROM_TAG

    cat = state.catalogue
    assert view._label_row().objects == []  # no search yet
    state.goto(7)
    state.tags = "#bar"
    state.label(2)  # galaxy 7 scored before, in the Scoring tab
    state.goto(0)
    text = "\n".join(f"{cat.ra[i]:.6f} {cat.dec[i]:.6f}" for i in (7, 4, 12))
    view.param.update(mode=FROM_LIST, positions_text=text, k=10)
    view.search()
    row = view._label_row()
    assert "Label the 3 matched galaxies" in row.objects[0].objects[0].object
    assert view._label_button.label == "Label 3 galaxies" and view._undo_button.disabled
    n_before = state.n_labelled
    view.param.update(label_score=5, label_tags="polar-ring")
    done = view.label_matched()
    assert view.label_message == ("Stored 3 labels: 2 scored 5 #polar-ring; 1 you had scored keep their "
                                  "score, #polar-ring added. Retrain to learn from them.")
    on_disk = LabelStore(state.store.path, read_only=True).latest(user="ada").set_index("id")
    assert on_disk.loc[cat.ids[4], "score"] == 5 and on_disk.loc[cat.ids[12], "tags"] == ("#polar-ring",)
    assert on_disk.loc[cat.ids[7], "score"] == 2 and on_disk.loc[cat.ids[7], "tags"] == ("#bar", "#polar-ring")
    assert state.n_labelled == n_before + 2 and "#polar-ring" in view.param.tag.objects
    assert "4 labels stored" in state.retrain_message  # galaxy 7's first label, and these 3
    found = view.results.set_index("id")
    for i in view.result_indices[:3]:  # the results show the labels as stored
        if int(i) in (4, 12):
            assert found.loc[cat.ids[i], "your_score"] == 5
    assert len(done.events) == 3 and not view._undo_button.disabled

    assert view.undo_labelled() == 3
    assert view.label_message == "Undid 3 labels of the matched galaxies." and view._undo_button.disabled
    mine = state.store.latest(user="ada").set_index("id")
    assert list(mine.index) == [cat.ids[7]] and mine.loc[cat.ids[7], "tags"] == ("#bar",)
    assert state.n_labelled == n_before and "#polar-ring" not in view.param.tag.objects

    view.param.update(label_score=5, label_tags="#a b#")  # a bad tag: nothing stored, said why
    assert view.label_matched() is None and view.label_message.startswith("Not stored: ")
    assert state.store.count() == 1
    view.label_tags = "#polar-ring"
    assert view.label_matched().events and not view._undo_button.disabled
    view.mode = FROM_CURRENT
    view.search()  # another search: its Undo is not this one's, and the row goes
    assert view._label_row().objects == [] and not view.known_matched
    assert view.labelled is None and view._undo_button.disabled and not view._download.disabled
    assert view.undo_labelled() == 0 and "#polar-ring" in view.param.tag.objects
    view.position = "nowhere"
    view.mode = FROM_POSITION
    view.search()  # a failed search: nothing to download
    assert view.results is None and view._download.disabled
    view.mode = FROM_TAG
