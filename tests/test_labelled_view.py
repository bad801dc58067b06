"""The Labelled tab: the galaxies scored so far, best first, to look through again."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from astroexplore.catalogue import Catalogue


@pytest.fixture
def state(tmp_path):
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore
    from astroexplore.ui.state import AppState

    rng = np.random.default_rng(3)
    n = 120
    table = pd.DataFrame({"ra": rng.uniform(150, 160, n), "dec": rng.uniform(0, 5, n),
                          "redshift": rng.uniform(0, 0.2, n)})
    cat = Catalogue.from_arrays(rng.normal(size=(n, 4)).astype(np.float32),
                                ids=[f"g{i:03d}" for i in range(n)], table=table)
    store = LabelStore(tmp_path / "l.sqlite", valid_ids=cat.ids)
    st = AppState(explorer=Explorer(cat, store, user="ada", cache=False))
    yield st
    store.close()


def test_the_tab_lists_the_finds_best_first_and_follows_new_labels_when_shown(state):
    from astroexplore.explorer import Explorer
    from astroexplore.ui.labelled import ANY_TAG, EVERYONE, LabelledView

    cat = state.catalogue
    ex = state.explorer
    ex.label(cat.ids[4], 5, tags=["#ring"])
    ex.label(cat.ids[8], 3)
    Explorer(cat, state.store, user="bob", cache=False).label(cat.ids[4], 4)
    Explorer(cat, state.store, user="bob", cache=False).label(cat.ids[9], 5)
    state.sync()
    view = LabelledView(state=state)
    assert view.found["id"].tolist() == [cat.ids[4]]  # yours, 4 or more
    assert view._gallery.title == "1 galaxy you scored 4 or more, best first"
    assert view._gallery._grid.items[0]["caption"] == "5 #ring"
    assert view.param.tag.objects == [ANY_TAG, "#ring"]
    view.whose = EVERYONE
    assert view.found["id"].tolist() == [cat.ids[9], cat.ids[4]]
    assert [i["caption"] for i in view._gallery._grid.items] == ["5", "4.5 #ring"]
    view.min_score = 0
    assert view.found["id"].tolist() == [cat.ids[9], cat.ids[4], cat.ids[8]]
    view.tag = "#ring"
    assert view.found["id"].tolist() == [cat.ids[4]]
    assert view.describe(1) == "1 galaxy scored 0 to 5 (the mean of everyone's scores), tagged #ring, best first"
    # a label in the Scoring tab: the hidden tab is brought up to date when it is opened
    view.tag = ANY_TAG
    state.goto(20)
    state.label(5)
    assert cat.ids[20] not in view.found["id"].tolist()
    state.tab = state.TABS.index("Labelled")
    assert view.found["id"].iloc[0] == cat.ids[20]
    state.goto(21, switch_tab=False)
    state.label(4)  # the tab shown: at once
    assert cat.ids[21] in view.found["id"].tolist()


def test_a_card_goes_through_the_whole_list_and_the_csv_has_the_catalogue_columns(state):
    from astroexplore.ui.labelled import LabelledView

    cat = state.catalogue
    for i, s in [(10, 4), (11, 5), (12, 5), (13, 4)]:
        state.explorer.label(cat.ids[i], s)
    view = LabelledView(state=state)
    rows = view.found["row"].tolist()
    assert rows == [12, 11, 13, 10]
    view._gallery._grid.clicked = "11|1"
    assert state.tab == 0 and state.current == 11
    assert state.list_title.startswith("4 galaxies you scored 4 or more")
    state.next()
    assert state.current == 13
    table = pd.read_csv(view._csv())
    assert table.columns.tolist() == ["id", "ra", "dec", "score", "n_labels", "tags", "notes", "last_labelled", "redshift"]
    assert table["id"].tolist() == [cat.ids[r] for r in rows]
    np.testing.assert_allclose(table["redshift"], cat.table["redshift"].to_numpy()[rows])
    assert pd.to_datetime(table["last_labelled"]).dt.tz is not None


def test_nothing_labelled_yet_gives_an_empty_list_and_a_disabled_download(state):
    from astroexplore.ui.labelled import LabelledView

    view = LabelledView(state=state)
    assert view.found.empty and view._download.disabled
    assert view._gallery.title == "0 galaxies you scored 4 or more, best first"
    from astroexplore.catalogue import describing_columns

    empty = pd.read_csv(view._csv())  # the header still says what a row would hold, catalogue columns too
    assert empty.empty and empty.columns.tolist() == ["id", "ra", "dec", "score", "n_labels", "tags", "notes",
                                                      "last_labelled", *describing_columns(state.catalogue)]
    assert "redshift" in empty.columns


def test_a_card_goes_on_through_more_galaxies_than_the_cards_shown(state):
    from astroexplore.ui.labelled import LabelledView

    cat = state.catalogue
    for i in range(30, 35):
        state.explorer.label(cat.ids[i], 5)
    view = LabelledView(state=state)
    view._gallery.max_items = 2  # as 96 cards of a longer list
    assert len(view._gallery._grid.items) == 2
    view._gallery._grid.clicked = f"{view.found['row'].iloc[1]}|1"
    assert state.order.tolist() == view.found["row"].tolist() and len(state.order) == 5
    assert state.list_title == "5 galaxies you scored 4 or more, best first"


def test_the_discovery_curve_follows_the_choices_and_says_how_the_finds_came(state):
    from astroexplore.ui.labelled import EVERYONE, LabelledView

    cat, ex = state.catalogue, state.explorer
    view = LabelledView(state=state)
    assert view._curve_text.object.startswith("No galaxies you labelled yet")
    assert not view._curve_plot.visible and view._download.disabled
    scores = [0, 1, 0, 5, 1, 0, 4, 5, 0, 5, 4, 5]  # 1 find in the first 6, 5 in the last 6
    for i, k in enumerate(scores):
        ex.label(cat.ids[i], k)
    state.labels_version += 1  # as the app does after a label
    view.refresh()
    assert view._curve_plot.visible and not view._download.disabled
    assert list(view._curve_source.data["n_found"]) == [0, *np.cumsum(np.array(scores) >= 4)]
    assert list(view._curve_source.data["n_labelled"]) == list(range(13))
    assert view._curve_text.object == ("6 finds (scored 4 or more) among 12 galaxies you labelled: "
                                       "1 in the first 6 (17%), 5 in the last 6 (83%).")
    view.param.update(whose=EVERYONE, min_score=5)
    assert view._curve_text.object.startswith("4 finds (scored 5 or more) among 12 galaxies labelled:")
    view.param.update(min_score=0)  # every label: not "scored 0 or more"
    assert view._curve_text.object.startswith("12 finds (scored 0 to 5) among 12 galaxies labelled:")
