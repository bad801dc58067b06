"""The page's address: what a window shows goes into it, and a link opens the same view."""
from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import Catalogue
from astroexplore.column_filter import ColumnRange
from astroexplore.filters import Condition, MorphologyFilter
from astroexplore.schemas import GZ_DECALS
from astroexplore.filter_text import decode_answers
from astroexplore.ui.address import apply_query, query_string, state_query

N = 300


@pytest.fixture
def cat():
    rng = np.random.default_rng(1)
    table = pd.DataFrame({
        "ra": rng.uniform(150, 160, N), "dec": rng.uniform(0, 5, N),
        "mag_r": rng.uniform(14, 18, N),
        "g:r;x": rng.normal(0.6, 0.2, N),  # a name with the link's separators in it
        "smooth-or-featured_smooth_fraction": rng.uniform(0, 1, N),
        "smooth-or-featured_featured-or-disk_fraction": rng.uniform(0, 1, N),
        "disk-edge-on_yes_fraction": rng.uniform(0, 1, N),
        "disk-edge-on_no_fraction": rng.uniform(0, 1, N),
    })
    ids = [f"{i:05d}" for i in range(N)]  # leading zeros: an id must stay a string
    return Catalogue.from_arrays(rng.normal(size=(N, 4)).astype(np.float32), ids=ids, table=table,
                                 schema=GZ_DECALS)


@pytest.fixture
def make_state(cat, tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    stores = []

    def make():
        store = LabelStore(tmp_path / f"l{len(stores)}.sqlite", valid_ids=cat.ids)
        stores.append(store)
        # no score cache: each test computes its detectors (one reads LOF's arriving late)
        return AppState(explorer=Explorer(cat, store, user="t", cache=False))

    yield make
    for s in stores:
        s.close()


def _link(state) -> dict[str, str]:
    """What a browser sends back: the query string, parsed as a server parses it."""
    return dict(parse_qsl(query_string(state_query(state))))


def test_a_new_window_puts_only_its_galaxy_in_the_address(make_state):
    state = make_state()
    assert _link(state) == {"galaxy": state.current_id}


def test_a_link_opens_the_same_galaxy_tab_method_and_filter(make_state, cat):
    a = make_state()
    flt = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "featured-or-disk", 0.6),
                                       Condition("disk-edge-on", "no", 0.25, 0.9)])
    ranges = (ColumnRange("mag_r", high=16.5), ColumnRange("g:r;x", 0.4, 0.8), ColumnRange("dec", low=1))
    a.param.update(method="isolation_forest", filter=flt, column_ranges=ranges)
    a.goto(int(np.flatnonzero(a.mask)[7]))
    a.tab = 2
    link = _link(a)
    assert link["tab"] == "filter" and link["method"] == "isolation_forest"
    assert link["galaxy"] == a.current_id and link["galaxy"].startswith("0")
    assert link["ranges"] == "mag_r:..16.5;g%3Ar%3Bx:0.4..0.8;dec:1.."
    b = make_state()
    assert apply_query(b, link) == []
    assert (b.method, b.filter, b.column_ranges, b.tab) == ("isolation_forest", flt, ranges, 2)
    assert b.current_id == a.current_id and not b.off_list
    np.testing.assert_array_equal(b.order, a.order)
    assert _link(b) == link


def test_the_address_says_when_labelled_galaxies_keep_their_place(make_state):
    a = make_state()
    assert "labelled" not in _link(a)  # unlabelled first: the default
    a.unlabelled_first = False
    link = _link(a)
    assert link["labelled"] == "in-place"
    b = make_state()
    assert apply_query(b, link) == [] and b.unlabelled_first is False
    assert apply_query(b, {"labelled": "first"}) == [] and b.unlabelled_first is True
    assert apply_query(b, {"labelled": "sometimes"}) == [
        "labelled 'sometimes': expected in-place (labelled galaxies keep their place in the list) or "
        "first (unlabelled first)"]
    assert b.unlabelled_first is True  # the part left out changed nothing


def test_the_address_keeps_what_it_does_not_own():
    assert query_string({"galaxy": "x"}, {"galaxy": "old", "theme": "dark"}) == "theme=dark&galaxy=x"


def test_parts_that_do_not_fit_are_left_out_naming_them_and_the_rest_applies(make_state, cat):
    state = make_state()
    problems = apply_query(state, {
        "galaxy": "nosuch", "tab": "plots", "method": "magic",
        "answers": "disk-edge-on:no:0.5..1;smooth-or-featured:smooth:0.2..1;smooth-or-featured:smooth:x..1;bad",
        "ranges": "mag_x:..3;dec:3..1;mag_r:..16;ra:1-2;ra"})
    text = "\n".join(problems)
    for part in ("galaxy 'nosuch' is not in this catalogue", "tab 'plots' is not one of scoring, map",
                 "method 'magic' is not one of", "answers 'disk-edge-on:no:0.5..1': cannot filter on disk-edge-on",
                 "answers 'smooth-or-featured:smooth:x..1': 'x' is not a number",
                 "answers 'bad': expected question:answer:low..high",
                 "ranges 'mag_x:..3': the catalogue has no column 'mag_x'. Did you mean 'mag_r'?",
                 "ranges 'dec:3..1': the range on column 'dec' is empty: from 3 to 1",
                 "ranges 'ra:1-2': the bounds should read low..high", "ranges 'ra': expected column:low..high"):
        assert part in text, part
    assert len(problems) == 10
    assert state.filter == MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "smooth", 0.2)])
    assert state.column_ranges == (ColumnRange("mag_r", high=16),)
    assert state.method == "combined" and state.tab == 0
    assert state.message.startswith("Left out of the link: method 'magic'")
    assert state.message.endswith("similarity, labelled.") and ".;" not in state.message  # one full stop each


def test_a_link_without_votes_in_the_catalogue_says_so(tmp_path):
    c = Catalogue.from_arrays(np.eye(4, 3, dtype=np.float32), ids=list("abcd"))
    assert decode_answers("smooth-or-featured:smooth:0.5..1", c.schema)[1] == [
        "answers 'smooth-or-featured:smooth:0.5..1': this catalogue has no Galaxy Zoo vote fractions"]


def test_an_id_is_read_as_typed(make_state):
    state = make_state()
    assert apply_query(state, {"galaxy": " 00042 "}) == [] and state.current_id == "00042"


def test_a_linked_galaxy_stays_when_its_methods_scores_land_later(make_state, cat):
    """The link's method is computed in the background (kNN, LOF on millions); the galaxy the link
    names must not give way to that method's rank 1 when they land."""
    state = make_state()
    target = state.order[50]
    assert not state.scores_ready("lof")
    assert apply_query(state, {"method": "lof", "galaxy": cat.ids[target]}) == []
    assert state.wait_for_scores(timeout=60)
    assert state.current == target and not state.off_list
    assert state.order[state.position] == target
    state.method = "knn"  # a change of method afterwards still shows its rank 1
    state.wait_for_scores(timeout=60)
    assert state.position == 0 and state.current == state.order[0]


def test_the_filter_tab_shows_a_filter_given_elsewhere_and_keeps_it_when_edited(make_state, cat):
    from astroexplore.ui.morphology import ANY, N_COLUMN_RANGES, NO_COLUMN, MorphologyView

    state = make_state()
    view = MorphologyView(state=state)
    ranges = (ColumnRange("mag_r", high=16.5), ColumnRange("g:r;x", 0.4, 0.8), ColumnRange("dec", low=1),
              ColumnRange("ra", 151, 159))
    assert len(ranges) > N_COLUMN_RANGES
    flt = MorphologyFilter(GZ_DECALS, [Condition("smooth-or-featured", "featured-or-disk", 0.6),
                                       Condition("disk-edge-on", "no", 0.25, 0.9)])
    state.param.update(column_ranges=ranges, filter=flt)
    rows = view._column_controls
    assert [(c.column, c.low, c.high) for c in rows] == [(r.column, r.low, r.high) for r in ranges]
    assert (view._controls["disk-edge-on"].answer, view._controls["disk-edge-on"].fraction) == ("no", (0.25, 0.9))
    rows[0].high = 17.0  # an edit in the tab keeps the other rows' ranges, the fourth included
    assert state.column_ranges == (ColumnRange("mag_r", high=17.0), *ranges[1:])
    assert state.filter == flt
    state.param.update(column_ranges=(), filter=None)  # cleared elsewhere: the rows follow
    assert all(c.column == NO_COLUMN and c.low is None and c.high is None for c in rows)
    assert all(c.answer == ANY for c in view._controls.values())


def test_another_column_adds_a_row_up_to_the_number_of_columns(make_state):
    import panel as pn

    from astroexplore.ui.morphology import MorphologyView

    state = make_state()
    view = MorphologyView(state=state)
    page = view.__panel__()
    more = next(b for b in page.select(pn.widgets.Button) if b.name == "+ Another column")
    box = view._column_box
    assert len(box.objects) == 3 and not more.disabled
    more.clicks += 1
    assert len(box.objects) == 4 and len(view._column_controls) == 4 and more.disabled  # ra, dec, mag_r, g:r;x
    view._column_controls[3].column = "ra"
    view._column_controls[3].low = 155.0
    assert state.column_ranges == (ColumnRange("ra", low=155.0),)


def test_a_link_runs_its_similarity_search_and_a_search_goes_into_the_address(make_state, cat):
    from astroexplore.ui.similarity import FROM_POSITION, FROM_TAG, SimilarityView

    a = make_state()
    view = SimilarityView(state=a)
    assert view.results is None and "search" not in _link(a)
    view.k = 30
    view.search()  # from the galaxy on screen
    link = _link(a)
    assert link["search"] == f"galaxy:{a.current_id}" and link["k"] == "30"
    b = make_state()
    b.explorer.label(cat.ids[5], 4, tags=["#ring"])
    b.explorer.label(cat.ids[9], 3, tags=["#ring"])
    assert apply_query(b, {**link, "galaxy": cat.ids[7], "tab": "similarity"}) == []
    other = SimilarityView(state=b)  # the tab, built when the link opens it
    assert b.current_id == cat.ids[7]  # the card shows another galaxy than the one searched from
    assert other.result_indices.tolist() == view.result_indices.tolist() and len(other.results) == 30
    assert other.query_text == "the galaxy the link names"
    # a position, and a tag: the view's own inputs show the link's query
    assert apply_query(b, {"search": "position:10h06m00s +02d30m00s"}) == []
    assert b.similarity_query == "position:151.5,2.5" and other.mode == FROM_POSITION
    assert other.position == "151.5 2.5" and "RA 151.50000, Dec +2.50000" in other.summary
    assert apply_query(b, {"search": "tag:#ring", "k": "5"}) == []
    assert other.mode == FROM_TAG and other.tag == "#ring" and len(other.results) == 5
    assert _link(b)["search"] == "tag:#ring" and _link(b)["k"] == "5"
    other.param.update(mode=FROM_POSITION, position="no such place")
    other.search()  # a search that fails leaves the address
    assert other.warning and other.results is None and "search" not in _link(b)


def test_similarity_link_parts_that_do_not_fit_are_named(make_state):
    state = make_state()
    for query, problem in [
            ({"search": "galaxy:nosuch"}, "search 'galaxy:nosuch': galaxy 'nosuch' is not in this catalogue"),
            ({"search": "position:abc"}, "search 'position:abc': "),
            ({"search": "tag:#none"}, "search 'tag:#none': no galaxy carries the tag #none"),
            ({"search": "colour:red"}, "search 'colour:red': expected galaxy:ID, position:RA,Dec, positions:RADIUS;RA,Dec;... or tag:#name"),
            ({"search": "galaxy:00003", "k": "0"}, "k '0': the number of results is a whole number from 1 to 1000")]:
        problems = apply_query(state, query)
        assert len(problems) == 1 and problems[0].startswith(problem), (query, problems)
    assert state.similarity_query == "galaxy:00003" and state.similarity_k == 24  # k left out, search kept


def test_a_link_opens_the_maps_colour_and_box_or_tap_and_the_map_goes_into_the_address(make_state, cat):
    from astroexplore.ui.latent_map import MapView

    a = make_state()
    view = MapView(state=a)
    xy = a.resources.projection
    x, y = map(float, xy[17])
    view._tapped(x=x, y=y)
    view.color_by = "mag_r"
    link = _link(a)
    assert link["colour"] == "mag_r" and link["point"] == f"{x:.6g},{y:.6g}" and "box" not in link
    b = make_state()
    assert apply_query(b, link) == []
    other = MapView(state=b)  # the tab, built when the link opens it
    assert other.color_by == "mag_r" and b.selection[0] == 17 and "nearest" in b.selection_title
    view._boxed(bounds=(x + 0.5, y + 0.5, x - 0.5, y - 0.5))  # corners as a drag gives them
    link = _link(a)
    assert "point" not in link and link["box"].count(",") == 3
    c = make_state()
    assert apply_query(c, {**link, "box": f"{x + 0.5},{y + 0.5},{x - 0.5},{y - 0.5}"}) == []
    assert c.map_box == (x - 0.5, y - 0.5, x + 0.5, y + 0.5)  # any corners: x0 <= x1, y0 <= y1
    third = MapView(state=c)
    inside = ((np.abs(xy[:, 0] - x) <= 0.5) & (np.abs(xy[:, 1] - y) <= 0.5)).sum()
    assert third.box == c.map_box and len(c.selection) == inside and "in the box" in c.selection_title
    c.map_colour = ""  # set elsewhere (a script): the map follows
    assert third.color_by == "density"


def test_map_link_parts_that_do_not_fit_are_named(make_state):
    state = make_state()
    problems = apply_query(state, {"colour": "mag_rr", "point": "1,x", "box": "1,2,3"})
    assert problems == ["colour 'mag_rr': the map is not coloured by that. Did you mean 'mag_r'?",
                        "point '1,x': 'x' is not a number", "box '1,2,3': expected 4 numbers separated by commas"]
    assert state.map_colour == "" and state.map_point is None and state.map_box is None
    assert apply_query(state, {"point": "nan,1"}) == ["point 'nan,1': expected 2 finite numbers"]


def test_a_link_opens_the_labelled_tabs_choices_and_they_go_into_the_address(make_state, cat):
    from astroexplore.ui.labelled import EVERYONE, YOURS, LabelledView

    a = make_state()
    a.explorer.label(cat.ids[3], 3, tags=["#ring"])
    view = LabelledView(state=a)
    assert "finds" not in _link(a)  # the defaults: 4, yours, any tag
    view.param.update(min_score=3, whose=EVERYONE, tag="#ring")
    link = _link(a)
    assert link["finds"] == "3,everyone,#ring"
    b = make_state()
    assert apply_query(b, {"finds": "2,everyone,ring", "tab": "labelled"}) == []
    other = LabelledView(state=b)
    assert (other.min_score, other.whose, other.tag) == (2, EVERYONE, "#ring")
    assert b.finds == "2,everyone,#ring"  # as the view writes it
    b.finds = ""  # set elsewhere: the view follows
    assert (other.min_score, other.whose) == (4, YOURS)
    assert apply_query(b, {"finds": "7"}) == ["finds '7': the score 7 is not 0 to 5"]
    assert apply_query(b, {"finds": "4,#a,#b"}) == ["finds '4,#a,#b': '#b': expected min_score[,everyone][,#tag]"]


def test_a_links_zoom_opens_the_map_there_and_the_whole_map_is_no_zoom(make_state):
    from astroexplore.ui.latent_map import MapView

    state = make_state()
    assert apply_query(state, {"zoom": "1,-1,0.5,-0.5"}) == []  # either order
    assert state.map_zoom == (-1.0, 1.0, -0.5, 0.5)
    view = MapView(state=state)
    view._overlay()
    assert view._zoom() == {"xlim": (-1.0, 1.0), "ylim": (-0.5, 0.5)}  # the figure opens there
    whole = view._whole
    view._zoomed(x_range=whole["x_range"], y_range=whole["y_range"])  # Reset: the whole map
    assert state.map_zoom is None and "zoom" not in _link(state)
    view._zoomed(x_range=(0.0, 0.5), y_range=(0.0, 0.25))
    assert _link(state)["zoom"] == "0,0.5,0,0.25"
    assert apply_query(state, {"zoom": "1,1,0,2"}) == ["zoom '1,1,0,2': an empty part of the map"]


def test_the_maps_classes_in_colour_go_into_the_address_and_a_link_opens_them(tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.latent_map import MapView
    from astroexplore.ui.state import AppState

    rng = np.random.default_rng(4)
    n = 240
    kinds = np.array(["spiral", "elliptical", "ring", "merger", "lens", "edge-on", "bar", "clumpy", "pea",
                      "arc, faint"])  # 10 classes: the default shows 8 and "other"
    table = pd.DataFrame({"ra": rng.uniform(150, 160, n), "dec": rng.uniform(0, 5, n),
                          "kind": kinds[np.minimum(rng.geometric(0.3, n) - 1, 9)]})
    cat = Catalogue.from_arrays(rng.normal(size=(n, 4)).astype(np.float32), table=table)

    def window():
        st = AppState(explorer=Explorer(cat, LabelStore(tmp_path / f"l{rng.integers(1e9)}.sqlite"),
                                        user="t", cache=False))
        return st, MapView(state=st)

    a, view = window()
    view.color_by = "kind"
    assert "classes" not in _link(a)  # the default ones
    view.classes = ["ring", "arc, faint"]
    link = _link(a)
    assert link["colour"] == "kind" and link["classes"] == "ring,arc%2C%20faint"
    b, other = window()
    assert apply_query(b, link) == []
    assert other.color_by == "kind" and other.classes == ["ring", "arc, faint"]
    assert other._class_names("kind") == ["ring", "arc, faint", "other"]
    view.color_by = "mag_r" if "mag_r" in view.param.color_by.objects else "isolation_forest"
    assert "classes" not in _link(a)  # a value map has no classes
    c, _ = window()
    assert apply_query(c, {"colour": "kind", "classes": "ring,comet"}) == ["classes 'comet': kind has no such class"]
    assert c.map_classes == ["ring"]
    assert apply_query(c, {"classes": "ring"}) == [
        "classes 'ring': the map is not coloured by a class column (colour=)"]
