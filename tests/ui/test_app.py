"""Real-browser tests of the served app (Playwright + Debian chromium)."""
from __future__ import annotations

import contextlib
import csv
import re

import numpy as np
import pytest

from conftest import page_of

pytestmark = pytest.mark.ui


def current_id(page, timeout_ms: int = 30_000) -> str:
    """The galaxy on screen: the card's id, once the image shows the same galaxy.

    The card can arrive before its image (on a loaded machine, more than 300 ms before), and a
    score key scores the galaxy whose image is shown (``KeyListener``): a test that read the
    card alone and pressed a key scored the previous galaxy and waited for a label that never came.
    """
    card = page.locator(".ae-card-box h3").first
    image = page.locator("[data-ae-galaxy]")
    for _ in range(timeout_ms // 50):
        gid = card.inner_text().strip()
        if image.count() == 0 or image.first.get_attribute("data-ae-galaxy") == gid:
            return gid
        page.wait_for_timeout(50)
    raise AssertionError(f"the card shows {gid} but the image {image.first.get_attribute('data-ae-galaxy')} "
                         f"after {timeout_ms / 1000:g} s")


def wait_shown(page, gid: str) -> None:
    """Wait until galaxy ``gid``'s card and its image are on screen (a key scores the image's galaxy)."""
    page.locator(".ae-card-box h3", has_text=gid).first.wait_for()
    page.locator(f"[data-ae-galaxy='{gid}']").first.wait_for()


def latest_score(store, galaxy_id, user):
    df = store.latest(user=user)
    row = df[df["id"] == galaxy_id]
    return None if row.empty else int(row["score"].iloc[0])


def set_user(page, name):
    box = page.get_by_role("textbox", name="Your name (stored with labels)")
    box.fill(name)
    box.press("Enter")


def test_label_by_button_and_by_key(ui_page, served, until, shot):
    page, state = ui_page, ui_page.app_state
    set_user(page, "button-tester")
    until(lambda: state.user == "button-tester", what="user name to reach the session")
    gid = current_id(page)
    page.get_by_role("button", name="3", exact=True).click()
    until(lambda: latest_score(served.store, gid, "button-tester") == 3, what="button label on disk")
    page.get_by_text(f"Stored {gid} = 3").wait_for()
    # stored, then the next galaxy of the list
    page.locator(".ae-card-box h3", has_not_text=gid).first.wait_for()
    nxt = current_id(page)
    assert state.position == 1 and nxt == str(served.catalogue.ids[state.order[1]])
    shot(page, "scoring")

    # keys: ← goes back, 5 relabels it (and moves on), 1 labels the next one
    page.locator(".ae-card-box h3").first.click()  # focus the page, not a text box
    page.keyboard.press("ArrowLeft")
    wait_shown(page, gid)
    page.keyboard.press("5")
    until(lambda: latest_score(served.store, gid, "button-tester") == 5, what="key label on disk")
    page.get_by_text(f"Stored {gid} = 5").wait_for()
    wait_shown(page, nxt)
    page.keyboard.press("1")
    until(lambda: latest_score(served.store, nxt, "button-tester") == 1, what="second key label")
    page.locator(".ae-card-box h3", has_not_text=nxt).first.wait_for()
    third = current_id(page)
    # typing a digit into the tags box must not label anything
    tags = page.get_by_role("textbox", name="Tags")
    tags.fill("#ring2")
    assert latest_score(served.store, third, "button-tester") is None
    # Undo cancels the last label and shows its galaxy again
    page.get_by_role("button", name="Undo last label").click()
    page.get_by_text("Undid the last label").wait_for()
    wait_shown(page, nxt)
    assert latest_score(served.store, nxt, "button-tester") is None


def test_the_sidebar_downloads_every_label_with_its_position(ui_page, served, until, tmp_path):
    """'Download labels (CSV)': what was scored, by whom, where on the sky (a follow-up list), in
    the format `labels import` reads back."""
    import pandas as pd

    page, state = ui_page, ui_page.app_state
    set_user(page, "download-tester")
    until(lambda: state.user == "download-tester", what="user name to reach the session")
    gid = current_id(page)
    page.get_by_role("textbox", name="Tags").fill("#lens")
    page.get_by_role("button", name="4", exact=True).click()
    until(lambda: latest_score(served.store, gid, "download-tester") == 4, what="label on disk")
    with page.expect_download() as dl:
        page.get_by_text("Download labels (CSV)").click()
    assert dl.value.suggested_filename == f"{served.catalogue.path.stem}_labels.csv"
    path = tmp_path / "labels.csv"
    dl.value.save_as(path)
    table = pd.read_csv(path, dtype={"id": str})
    assert list(table.columns) == ["id", "ra", "dec", "score", "user", "timestamp", "tags", "note"]
    mine = table[(table["user"] == "download-tester") & (table["id"] == gid)]
    assert len(mine) == 1 and mine["score"].iloc[0] == 4 and mine["tags"].iloc[0] == "#lens"
    row = served.catalogue.index_of(gid)
    assert mine["ra"].iloc[0] == pytest.approx(served.catalogue.ra[row], abs=1e-9)
    assert mine["dec"].iloc[0] == pytest.approx(served.catalogue.dec[row], abs=1e-9)
    assert len(table) == len(served.store.latest())  # every user's labels


def test_a_double_click_scores_only_the_galaxy_seen(ui_page, served, until):
    """A score moves on to the next galaxy: the second click of a double click, sent before the
    next image arrived, must score the galaxy the user saw again, not the unseen next one."""
    page, state = ui_page, ui_page.app_state
    set_user(page, "double-clicker")
    until(lambda: state.user == "double-clicker", what="user name")
    gid = current_id(page)
    after = str(served.catalogue.ids[state.order[state.position + 1]])
    page.get_by_role("button", name="2", exact=True).dblclick()

    def n_events():
        h = served.store.history()
        return int(((h["id"] == gid) & (h["user"] == "double-clicker")).sum())
    until(lambda: n_events() == 2, what="both clicks on disk")
    wait_shown(page, after)
    assert latest_score(served.store, gid, "double-clicker") == 2
    assert latest_score(served.store, after, "double-clicker") is None


def test_retrain_reorders_while_labelling_continues(ui_page, served, until, shot):
    page, state = ui_page, ui_page.app_state
    # earlier tests left labels in the store: the window learnt from them on opening
    until(lambda: not state.retraining, what="the retrain on the labels stored earlier", timeout=180)
    version = state.model_version
    set_user(page, "retrain-tester")
    until(lambda: state.user == "retrain-tester", what="user name")
    truth = served.catalogue.table["truth_interest"].to_numpy()
    page.locator(".ae-card-box h3").first.click()
    for _ in range(8):  # label the first eight with the oracle's score, by key
        gid = current_id(page)
        score = int(truth[served.catalogue.index_of(gid)])
        page.keyboard.press(str(score))
        until(lambda: latest_score(served.store, gid, "retrain-tester") == score, what=f"label of {gid}")
        page.locator(".ae-card-box h3", has_not_text=gid).first.wait_for()  # the next one
    before = state.order.copy()
    page.get_by_role("button", name="Retrain").click()
    # the UI stays responsive: label one more galaxy while it trains
    gid = current_id(page)
    page.get_by_role("button", name="4", exact=True).click()
    until(lambda: latest_score(served.store, gid, "retrain-tester") == 4, what="label during retrain")
    until(lambda: state.model_version == version + 1, what="the retrain", timeout=180)
    page.get_by_text(f"Retrained on {state.explorer.last_report['n_labels']} labels").wait_for()
    page.mouse.move(5, 5)  # no tooltip over the buttons in the screenshot
    shot(page, "scoring_after_retrain")
    assert not np.array_equal(before, state.order), "retraining did not change the order"
    # the score during the retrain moved on to an unscored galaxy: it stays on screen (a score
    # typed as the retrain lands is for it), and after it comes the re-sorted list's top
    kept = current_id(page)
    assert latest_score(served.store, kept, "retrain-tester") is None
    page.get_by_text(re.compile("this galaxy stays on screen")).wait_for()
    assert kept == state.current_id
    top = str(served.catalogue.ids[state.order[0 if state.order[0] != state.current else 1]])
    page.locator(".ae-card-box h3").first.click()
    page.keyboard.press("ArrowRight")
    wait_shown(page, top)
    page.keyboard.press("ArrowRight")
    until(lambda: state.position in (1, 2), what="next")
    page.get_by_role("button", name="▲ Top").click()
    until(lambda: state.position == 0, what="Top button")


def test_score_key_then_arrow_at_once_keeps_the_score(ui_page, served, until, shot):
    """'3' then → with no pause: the score was lost (one synced property kept only the latest key
    within Panel's 50 ms debounce). Every key is its own message now."""
    page, state = ui_page, ui_page.app_state
    set_user(page, "fast-keys")
    until(lambda: state.user == "fast-keys", what="user name")
    page.locator(".ae-advance input").uncheck()  # "Next after scoring": → moves on, not the score
    until(lambda: not state.advance, what="'Next after scoring' off")
    page.locator(".ae-card-box h3").first.click()
    for _ in range(4):
        gid = current_id(page)
        page.keyboard.press("3")
        page.keyboard.press("ArrowRight")
        until(lambda: latest_score(served.store, gid, "fast-keys") == 3, what=f"score of {gid}")
        page.locator(".ae-card-box h3", has_not_text=gid).first.wait_for()
    assert state.position == 4


def test_rank_box_counts_from_one(ui_page, served, until, shot):
    """The rank box reads "1 of N" on the first galaxy, follows ← →, and typing a rank (or one past
    the end, or 0) shows the galaxy of that rank (clamped to the list)."""
    page, state = ui_page, ui_page.app_state
    box = page.get_by_role("textbox", name="Rank in list")
    until(lambda: box.input_value() == "1", what="rank box at 1")
    page.locator(".ae-card-box h3").first.click()
    page.keyboard.press("ArrowRight")
    until(lambda: state.position == 1 and box.input_value() == "2", what="rank box follows the arrow")
    box.fill("5")
    box.press("Enter")
    target = str(served.catalogue.ids[state.order[4]])
    wait_shown(page, target)
    assert state.position == 4
    n = len(state.order)
    box.fill(str(n + 50))
    box.press("Enter")
    until(lambda: state.position == n - 1 and box.input_value() == str(n), what="rank clamped to the list")
    box.fill("0")
    box.press("Enter")
    until(lambda: state.position == 0 and box.input_value() == "1", what="rank 0 goes to the first")


def test_filter_reduces_count(ui_page, served, until, shot):
    page, state = ui_page, ui_page.app_state
    n = served.catalogue.n_galaxies
    page.get_by_text("Filter", exact=True).click()
    page.get_by_text(f"{n:,} of {n:,} galaxies match").wait_for()
    # a child question is disabled with the explanation until its parent answer is required
    page.get_by_text(re.compile(r"to use this filter, require .*Smooth or featured")).first.wait_for()
    page.get_by_role("combobox", name="Smooth or featured?").select_option(label="Featured or disk")
    until(lambda: state.n_match < n and len(state.order) == state.n_match, what="filter to reach the state")
    page.get_by_text(f"{state.n_match:,} of {n:,} galaxies match").wait_for()
    assert 0 < state.n_match < n
    assert len(state.order) == state.n_match
    shot(page, "morphology_filter")


def test_a_column_range_filters_the_ranking_and_an_empty_one_says_why(ui_page, served, until, shot):
    """The Filter tab's catalogue columns: "mag_r to 16.5" keeps the brighter galaxies, in the
    ranking and the count; from 3 to 1 is refused on its row, not applied."""
    from astroexplore.column_filter import ColumnRange

    page, state = ui_page, ui_page.app_state
    cat = served.catalogue
    n = cat.n_galaxies
    page.get_by_text("Filter", exact=True).click()
    page.get_by_text("Catalogue columns").wait_for()
    page.get_by_role("combobox", name="Column").first.select_option("mag_r")
    page.get_by_text(re.compile(r"^15\.\d+ \.\. 1\d\.\d+ \(median 1\d\.\d+\)$")).wait_for()
    to = page.get_by_placeholder("no bound").nth(1)
    to.fill("16.5")
    to.press("Enter")
    expected = ColumnRange("mag_r", high=16.5).mask(cat)
    until(lambda: state.n_match == expected.sum(), what="the range to reach the state")
    assert 0 < expected.sum() < n
    page.get_by_text(f"{int(expected.sum()):,} of {n:,} galaxies match").wait_for()
    page.get_by_text("Conditions: mag_r ≤ 16.5").wait_for()
    assert set(state.order.tolist()) <= set(np.flatnonzero(expected).tolist())
    page.get_by_role("combobox", name="Column").nth(1).select_option("dec")
    page.get_by_placeholder("no bound").nth(2).fill("3")
    page.get_by_placeholder("no bound").nth(2).press("Enter")
    bound = page.get_by_placeholder("no bound").nth(3)  # 'to' of the dec row: from, to per row
    bound.fill("1")
    bound.press("Enter")
    page.get_by_text("not applied: the range on column 'dec' is empty: from 3 to 1").wait_for()
    assert state.n_match == expected.sum()
    shot(page, "column_filter")
    page.get_by_role("button", name="Clear filter").click()
    until(lambda: state.n_match == n and state.column_ranges == (), what="the filter to clear")
    # the boxes show their "no bound" again (a number box set back to None read "NaN")
    until(lambda: set(page.get_by_placeholder("no bound").evaluate_all("els => els.map(e => e.value)")) == {""},
          what="the range boxes to empty")
    # the new rows filter as the first ones did
    page.get_by_role("combobox", name="Column").first.select_option("mag_r")
    page.get_by_placeholder("no bound").nth(1).fill("16.5")
    page.get_by_placeholder("no bound").nth(1).press("Enter")
    until(lambda: state.n_match == expected.sum(), what="a range on a row made by Clear to reach the state")


def test_map_tap_gallery_download_and_open(ui_page, served, until, shot, tmp_path):
    page, state = ui_page, ui_page.app_state
    page.get_by_text("Latent map", exact=True).click()
    canvas = page.locator(".bk-Canvas canvas, canvas").first
    canvas.wait_for()
    page.get_by_text("Tap anywhere for the nearest galaxies").wait_for()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    page.get_by_text(re.compile(r"\d+ galaxies nearest to")).first.wait_for()
    cards = page.get_by_role("listitem")
    cards.first.wait_for()
    assert cards.count() == 48
    shot(page, "latent_map")
    with page.expect_download() as dl:
        page.get_by_text("Download CSV of the 1,000 galaxies closest to this point").click()
    path = tmp_path / "nearest.csv"
    dl.value.save_as(path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 1000
    assert {"id", "ra", "dec", "map_distance"} <= set(rows[0])
    dist = [float(r["map_distance"]) for r in rows]
    assert dist == sorted(dist)
    # clicking a thumbnail opens it in the scoring view
    first_id = rows[0]["id"]
    page.get_by_role("listitem", name=f"open galaxy {first_id}").click()
    page.get_by_text("How interesting is this object?").wait_for()
    wait_shown(page, first_id)
    assert state.tab == 0 and state.current_id == first_id


def test_map_box_select_gallery(ui_page, served, until, shot):
    page, state = ui_page, ui_page.app_state
    page.get_by_text("Latent map", exact=True).click()
    canvas = page.locator("canvas").first
    canvas.wait_for()
    page.get_by_text("Tap anywhere for the nearest galaxies").wait_for()
    page.locator("[title='Box Select']").first.click()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + box["width"] * 0.5, y0 + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.get_by_text(re.compile(r"[\d,]+ galaxies in the box")).first.wait_for()
    assert state.selection is not None and len(state.selection) > 0
    page.get_by_role("listitem").first.wait_for()

    def drag(fx0, fy0, fx1, fy1):
        page.mouse.move(box["x"] + box["width"] * fx0, box["y"] + box["height"] * fy0)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * fx1, box["y"] + box["height"] * fy1, steps=8)
        page.mouse.up()

    # an empty corner: the gallery empties (it raised in Panel's update, leaving the old cards,
    # title and count on screen, and box select dead for the session)
    first = len(state.selection)
    drag(0.13, 0.03, 0.16, 0.06)  # right of the y axis (the canvas holds the axes)
    until(lambda: len(state.selection) != first, what="the corner box")
    n = len(state.selection)
    assert n == 0, f"the corner box of this test map holds {n} galaxies; move it"
    page.get_by_text("0 galaxies in the box", exact=False).first.wait_for()
    page.get_by_text("No galaxies to show.").wait_for()
    drag(0.3, 0.3, 0.7, 0.7)  # box select still works
    until(lambda: len(state.selection) > 0, what="a box after the empty one")
    page.get_by_role("listitem").first.wait_for()

    # a tap replaces the box as the gallery's source, even at the pixel of an earlier tap (HoloViews
    # dropped the repeated message, so the box's gallery stayed)
    tap_at = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5
    for i in range(2):
        page.mouse.click(*tap_at)
        until(lambda: "nearest" in state.selection_title, what="the tap's gallery")
        drag(0.3, 0.3, 0.7, 0.7)
        try:
            until(lambda: "in the box" in state.selection_title, what="the box's gallery")
        except AssertionError as err:  # seen once in a full local run, never alone: keep the evidence
            shot(page, "map_box_after_tap_failure")
            raise AssertionError(f"{err} (round {i}; title {state.selection_title!r}, "
                                 f"canvas then {box}, now {canvas.bounding_box()}; "
                                 "screenshot test-artifacts/map_box_after_tap_failure.png)") from None
    page.mouse.click(*tap_at)
    until(lambda: "nearest" in state.selection_title, what="a tap at the earlier tap's pixel")


def test_similarity_search_by_radec(ui_page, served, until, shot):
    page = ui_page
    cat = served.catalogue
    page.get_by_text("Similarity search", exact=True).click()
    page.get_by_role("button", name="RA / Dec").click()
    box = page.get_by_role("textbox", name=re.compile("RA, Dec"))
    box.fill(f"{cat.ra[11]:.6f} {cat.dec[11]:.6f}")
    box.press("Enter")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text(re.compile(rf"24 galaxies similar to {cat.ids[11]}")).first.wait_for()
    page.get_by_role("listitem").first.wait_for()
    assert page.get_by_role("listitem").count() == 24
    page.get_by_text("dist.", exact=True).first.wait_for()  # the results table
    shot(page, "similarity_search")
    # far from every galaxy: a visible warning
    box.fill(f"{(cat.ra[11] + 2) % 360:.6f} {cat.dec[11]:.6f}")
    box.press("Enter")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text(re.compile(r"(arcsec|arcmin|deg) from RA")).first.wait_for()


def test_known_objects_pasted_as_positions(ui_page, served, until, shot):
    """A list of known objects (a name after #, one far from the survey) pasted into the Known
    objects box: the matched galaxies are the query, the unmatched one is named, the address holds
    the list."""
    page = ui_page
    cat = served.catalogue
    lines = [f"{cat.ra[i]:.6f} {cat.dec[i]:.6f}  # known {i}" for i in (5, 17, 29)]
    lines.append(f"{(cat.ra[5] + 180) % 360:.4f} {-cat.dec[5]:.4f}  # far away")
    page.get_by_text("Similarity search", exact=True).click()
    page.get_by_role("button", name="Known objects").click()
    page.get_by_role("textbox", name="Positions of known objects, one a line").fill("\n".join(lines))
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text(re.compile(r"^24 galaxies similar to the 3 catalogue galaxies matched to 3 of 4 "
                                r"positions \(within 5 arcsec\)")).first.wait_for()
    page.get_by_text(re.compile(r"not matched: far away \(RA ")).wait_for()
    assert page.get_by_role("listitem").count() == 24
    query = page.get_by_role("group", name="Query")
    for i in (5, 17, 29):
        assert query.get_by_role("img", name=f"galaxy {cat.ids[i]}").count() == 1
    until(lambda: "search=positions:5;" in page.evaluate("location.search"), what="the list in the address")
    shot(page, "similarity_known_objects")
    # the latent map marks the search: the known objects as stars, the galaxies found as rings
    page.get_by_text("Latent map", exact=True).click()
    page.get_by_text("Tap anywhere for the nearest galaxies").wait_for()
    until(lambda: sorted(_scatter_ids(page).get("star", [])) == sorted(str(cat.ids[i]) for i in (5, 17, 29)),
          what="the map's stars at the known objects")
    rings = [ids for marker, ids in _scatter_ids(page, every=True) if marker == "circle" and len(ids) == 24]
    assert len(rings) == 1, "the 24 galaxies found are one set of rings on the map"
    shot(page, "map_known_objects")
    # the known objects labelled at once, on disk before the page says so; then undone
    page.get_by_text("Similarity search", exact=True).click()
    page.get_by_text("Label the 3 matched galaxies").wait_for()
    page.get_by_placeholder("#polar-ring").fill("#polar-ring")
    page.get_by_role("button", name="Label 3 galaxies").click()
    page.get_by_text(re.compile(r"^Stored 3 labels: 3 scored 5 #polar-ring. Retrain to learn from them. "
                                r"Stored as anonymous: type your name")).wait_for()
    assert sorted(served.store.tagged("#polar-ring")) == sorted(str(cat.ids[i]) for i in (5, 17, 29))
    shot(page, "similarity_known_objects_labelled")
    page.get_by_role("button", name="Undo these labels").click()
    page.get_by_text("Undid 3 labels of the matched galaxies.").wait_for()
    assert served.store.tagged("#polar-ring") == []


_SCATTER_JS = """() => { const out = [];
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.glyph && m.glyph.constructor.__name__ === 'Scatter') {
      const d = m.data_source.data;
      out.push([String(m.glyph.marker?.value ?? m.glyph.marker), Array.from((d instanceof Map ? d.get('id') : d.id) ?? [])]);
    } }
  return out; }"""


def _scatter_ids(page, every=False):
    """The ids of the map's Scatter glyphs, by marker (``every``: a list of (marker, ids) pairs)."""
    pairs = [(marker, [str(i) for i in ids]) for marker, ids in page.evaluate(_SCATTER_JS)]
    return pairs if every else dict(pairs)


def test_tag_a_galaxy_then_find_similar_by_tag(ui_page, served, until, shot):
    """The astronomer's flow: tag a galaxy #ring while scoring, then query by that tag."""
    page, state = ui_page, ui_page.app_state
    set_user(page, "ring-tagger")
    until(lambda: state.user == "ring-tagger", what="user name to reach the session")
    gid = current_id(page)
    tags = page.get_by_role("textbox", name="Tags")
    tags.fill("#ring")
    tags.press("Enter")
    until(lambda: "#ring" in state.tags, what="tags box to reach the session")
    page.get_by_role("button", name="4", exact=True).click()
    until(lambda: gid in served.store.tagged("#ring"), what="tagged label on disk")

    page.get_by_text("Similarity search", exact=True).click()
    page.get_by_role("button", name="Tag", exact=True).click()
    page.get_by_role("combobox", name="Tag").select_option(label="#ring")
    page.get_by_role("button", name="Search", exact=True).click()
    n_tagged = len(served.store.tagged("#ring"))
    page.get_by_text(re.compile(rf"galaxies similar to the {n_tagged} tagged #ring")).first.wait_for()
    page.get_by_role("listitem").first.wait_for()
    assert page.get_by_role("listitem").count() >= 1
    shot(page, "similarity_by_tag")


def test_filter_barred_spirals(ui_page, served, until, shot):
    """Spirals with bars: each child question unlocks once its parent answer is required."""
    page, state = ui_page, ui_page.app_state
    n = served.catalogue.n_galaxies
    page.get_by_text("Filter", exact=True).click()
    page.get_by_text(f"{n:,} of {n:,} galaxies match").wait_for()
    steps = [("Smooth or featured?", "Featured or disk"), ("Edge-on disk?", "No"),
             ("Has spiral arms?", "Yes"), ("Bar?", "Strong")]
    counts = []
    for step, (question, answer) in enumerate(steps, start=1):
        box = page.get_by_role("combobox", name=question)
        until(box.is_enabled, what=f"{question} to be enabled")
        box.select_option(label=answer)
        until(lambda: state.filter is not None and len(state.filter) == step
              and state.n_match == state.filter.count(served.catalogue.table)[0]
              and len(state.order) == state.n_match, what=f"filter {question} = {answer} in the ranking")
        counts.append(state.n_match)
    assert counts == sorted(counts, reverse=True)  # each condition can only narrow the selection
    assert 0 < counts[-1] < counts[0] < n
    page.get_by_text(f"{counts[-1]:,} of {n:,} galaxies match").wait_for()
    shot(page, "filter_barred_spirals")


def _covering_element_is(locator) -> bool:
    """True when the topmost element at the centre of ``locator`` is inside it (nothing covers it)."""
    return locator.evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " const x = r.x + r.width / 2, y = r.y + r.height / 2;"
        " let top = document.elementFromPoint(x, y);"  # Panel renders into shadow roots: descend
        " while (top && top.shadowRoot) { const inner = top.shadowRoot.elementFromPoint(x, y);"
        "   if (!inner || inner === top) break; top = inner; }"
        " return top !== null && (el === top || el.contains(top)); }")


@pytest.mark.parametrize("width", [1024, 1280, 1400, 1920])
def test_scoring_controls_are_not_covered_at_laptop_widths(ui_page, served, width, shot):
    """Every control of the scoring view can be reached on a laptop screen: nothing overlaps the
    navigation row, and "Search by id" + Go moves to the galaxy typed. At 1024 px (a laptop at
    125% zoom) the score buttons 3-5 were cut off at the window's right edge, out of reach."""
    page, state = ui_page, ui_page.app_state
    page.set_viewport_size({"width": width, "height": 900})
    go = page.get_by_role("button", name="Go", exact=True)
    go.wait_for()
    card = page.locator(".ae-card-box").first
    for name in ["◀ Back", "Forward ▶", "Go", "Retrain", "Undo last label", "0", "5"]:
        button = page.get_by_role("button", name=name, exact=True)
        b = button.bounding_box()  # before any scrolling: sideways scrolling would hide a clipped one
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, f"'{name}' {b} leaves the {width} px window"
        button.scroll_into_view_if_needed()
        if not _covering_element_is(button):
            shot(page, f"covered_{width}px")
        assert _covering_element_is(button), f"'{name}' is covered by another element at {width} px"
    gbox, cbox = go.bounding_box(), card.bounding_box()
    apart = (gbox["x"] + gbox["width"] <= cbox["x"] or gbox["y"] >= cbox["y"] + cbox["height"]
             or gbox["y"] + gbox["height"] <= cbox["y"])  # beside, below or (a narrow window) above
    assert apart, f"Go {gbox} overlaps the galaxy card {cbox} at {width} px"
    target = str(served.catalogue.ids[17])
    page.get_by_role("textbox", name="Search by id").fill(target)
    go.click(timeout=10_000)
    wait_shown(page, target)
    assert state.current_id == target
    shot(page, f"scoring_{width}px")


# every visible control, as "tag 'text' right-edge", whose right edge passes the window's
_OFF_THE_RIGHT_EDGE = (
    "els => els.map(e => [e, e.getBoundingClientRect()])"
    " .filter(([e, r]) => r.width > 0 && r.height > 0 && r.right > window.innerWidth + 1)"
    " .map(([e, r]) => `${e.tagName.toLowerCase()} '${(e.textContent || e.placeholder || '').trim()"
    ".slice(0, 30)}' ${Math.round(r.right)}`)")


def test_an_800px_window_opens_with_the_sidebar_closed_and_nothing_off_its_edge(served, ui_browser, shot):
    """At 800 px the open sidebar left the tabs 480 px: the Filter tab's 'to' boxes and sliders ran
    off the right edge and the Similarity tab's 'Search from' buttons overlapped. A window
    narrower than 1000 px now opens with it closed (its menu button opens it); a wide one with it open."""
    context = ui_browser.new_context(viewport={"width": 800, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{served.url}?tab=filter")
        page.get_by_text(re.compile(r"galaxies match")).first.wait_for()
        page.wait_for_timeout(300)
        assert page.evaluate("document.getElementById('sidebar').classList.contains('hidden')")
        controls = page.locator("button, input, select, textarea, .bk-panel-models-markup-HTML")
        for tab in ("Filter", "Similarity search"):
            page.get_by_text(tab, exact=True).first.click()
            page.wait_for_timeout(500)
            off = controls.evaluate_all(_OFF_THE_RIGHT_EDGE)
            if off:
                shot(page, f"off_edge_800px_{tab.split()[0].lower()}")
            assert not off, f"{tab} at 800 px: controls past the right edge: {off}"
        page.locator("#sidebar-button").click()  # the menu opens it again
        page.get_by_text("Download labels (CSV)").wait_for()
        assert not page.evaluate("document.getElementById('sidebar').classList.contains('hidden')")
    finally:
        context.close()
    with opened(ui_browser, served.url) as wide:  # 1400 px
        wide.get_by_text("Download labels (CSV)").wait_for()
        assert not wide.evaluate("document.getElementById('sidebar').classList.contains('hidden')")


def test_no_control_leaves_a_1024px_window(ui_page, served, shot):
    """A laptop at 125% zoom is 1024 CSS px wide: the score buttons 3-5, the morphology filter's
    hints, the similarity search's number of results and CSV button were cut off at the right
    edge (the main area does not scroll sideways) until the rows wrapped; the map's toolbar was cut
    off unless the sidebar was hidden (the map now narrows to fit, and widens without the sidebar)."""
    page = ui_page
    page.set_viewport_size({"width": 1024, "height": 800})
    controls = page.locator("button, input, select, textarea, .bk-panel-models-markup-HTML")

    def off_edge(tab: str) -> None:
        page.wait_for_timeout(300)  # the layout settled
        off = controls.evaluate_all(_OFF_THE_RIGHT_EDGE)
        if off:
            shot(page, f"off_edge_1024px_{tab.split()[0].lower()}")
        assert not off, f"{tab} at 1024 px: controls past the right edge: {off}"

    page.get_by_role("button", name="5", exact=True).wait_for()
    off_edge("Scoring")
    page.get_by_text("Filter", exact=True).click()
    page.get_by_text(re.compile(r"galaxies match")).first.wait_for()
    off_edge("Filter")
    page.get_by_text("Similarity search", exact=True).click()
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_text("dist.", exact=True).first.wait_for()
    off_edge("Similarity search")
    page.get_by_text("Labelled", exact=True).click()
    page.get_by_text(re.compile(r"galax(y|ies) you scored 4 or more")).first.wait_for()
    off_edge("Labelled")
    # the map (600 px, its colour bar and toolbar) narrows to the room beside the sidebar: its toolbar, with
    # the box-select tool, was cut off at the card's edge
    page.get_by_text("Latent map", exact=True).click()
    canvas = page.locator("canvas").first
    canvas.wait_for()
    off_edge("Latent map")
    tool = page.locator(".bk-tool-icon-box-select").first
    tool.wait_for()
    t, c = tool.bounding_box(), canvas.bounding_box()
    if t["x"] + t["width"] > 1024 or not _covering_element_is(tool):
        shot(page, "map_toolbar_1024px")
    assert t["x"] + t["width"] <= 1024 and _covering_element_is(tool), f"box-select tool {t} cut off at 1024 px"
    assert c["x"] + c["width"] <= 1024 and c["width"] >= 400, f"map canvas {c} at 1024 px"
    page.mouse.click(c["x"] + c["width"] * 0.45, c["y"] + c["height"] * 0.5)  # the narrowed map taps
    page.get_by_text(re.compile(r"\d+ galaxies nearest to")).first.wait_for()
    # hidden sidebar: the map widens again
    page.locator("#sidebar-button").click()
    for _ in range(50):
        page.wait_for_timeout(200)
        wide = canvas.bounding_box()
        if wide["width"] > c["width"] + 50:
            break
    assert wide["width"] > c["width"] + 50, f"the map stayed {c['width']} px wide without the sidebar ({wide})"
    off_edge("Latent map, sidebar hidden")


@pytest.mark.parametrize("width", [1280, 1920])
def test_map_gallery_and_download_fit_the_window(ui_page, served, width, shot):
    """On a laptop the gallery wraps under the map instead of being cut off at the right edge."""
    page = ui_page
    page.set_viewport_size({"width": width, "height": 900})
    page.get_by_text("Latent map", exact=True).click()
    canvas = page.locator("canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    page.get_by_text(re.compile(r"\d+ galaxies nearest to")).first.wait_for()
    download = page.get_by_role("button", name=re.compile("Download CSV of the"))
    thumb = page.get_by_role("listitem").first
    for what, loc in (("download button", download), ("first thumbnail", thumb)):
        b = loc.bounding_box()  # before any scrolling: scrolling could move a clipped one into view
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, f"the {what} {b} leaves the {width} px window"
        loc.scroll_into_view_if_needed()
        assert _covering_element_is(loc), f"the {what} is covered at {width} px"
    shot(page, f"latent_map_{width}px")


def test_two_scoring_views_on_one_page_act_once_per_key(served, ui_browser, free_port, until):
    """The notebook shows the app and the scoring view again: every rendering listens to the page's
    keys, and each sent its own message, so one '3' stored two labels and one → moved two places."""
    import panel as pn

    from astroexplore.explorer import Explorer
    from astroexplore.ui.app import build_app

    states = []

    def make():
        app = build_app(Explorer(served.catalogue, served.store, user="two-views"), template=False)
        states.append(app.state)
        pn.panel(app.view("scoring")).server_doc(pn.state.curdoc)  # a second root, as in a notebook
        return app

    with page_of(make, free_port, ui_browser) as page:
        page.get_by_text("How interesting is this object?").first.wait_for()
        assert page.get_by_text("How interesting is this object?").count() == 2
        state = states[-1]
        gid = state.current_id
        n_events = len(served.store.history())
        page.locator(".ae-card-box h3").first.click()
        page.keyboard.press("3")
        until(lambda: state.my_score(gid) == 3, what="the score")
        until(lambda: state.position == 1, what="the move after the score")
        page.keyboard.press("ArrowRight")
        until(lambda: state.position >= 2, what="the move")
        page.wait_for_timeout(1500)  # a second message would have landed by now
        assert len(served.store.history()) == n_events + 1 and state.position == 2
        # a click on a score button, rendered twice, is one label too
        page.get_by_role("button", name="4", exact=True).first.click()
        until(lambda: len(served.store.history()) >= n_events + 2, what="the button's label")
        page.wait_for_timeout(1500)
        assert len(served.store.history()) == n_events + 2 and state.position == 3


def test_an_idle_page_shows_no_busy_spinner(ui_page, until):
    """The live sync (every 2 s) ran as a foreground periodic callback, so Panel turned its busy
    spinner on for each run: an idle page spun every 2 s, and a real stall looked the same."""
    import time

    spinner = ui_page.locator(".loader.spin")  # the template's busy indicator while busy
    state = ui_page.app_state
    # earlier tests left labels: the window learns from them on opening, and its re-sort is work
    # (done in the retrain poller, a foreground callback: it spins, rightly)
    until(lambda: not state.retraining and state._poller is None, what="the retrain on the stored labels",
          timeout=180)
    last_on = [time.time()]

    def quiet_for_a_second():
        if spinner.count() > 0:
            last_on[0] = time.time()
        return time.time() - last_on[0] > 1.0

    until(quiet_for_a_second, what="the new page to settle (no spinner for 1 s)")
    spun, end = 0, time.time() + 6.5  # three sync periods
    while time.time() < end:
        spun += spinner.count() > 0
        time.sleep(0.05)
    assert spun == 0, f"the busy spinner was on in {spun} samples of an idle page"


def test_a_checkbox_toggles_from_its_text(ui_page, until):
    """Panel's Checkbox ignored a click on its text (holoviz/panel#7106)."""
    page, state = ui_page, ui_page.app_state
    assert state.advance and state.unlabelled_first
    page.get_by_text("Next after scoring", exact=True).click()
    until(lambda: not state.advance, what="'Next after scoring' off from its text")
    assert not page.locator(".ae-advance input").is_checked()
    page.get_by_text("Show unlabelled first", exact=True).click()
    until(lambda: not state.unlabelled_first, what="'Show unlabelled first' off from its text")
    state.advance = True  # and the page follows the state
    until(lambda: page.locator(".ae-advance input").is_checked(), what="the box follows the state")


def test_the_browser_remembers_the_name_for_the_next_window(ui_page, served, until):
    """Each new window started as "anonymous": labels of a user who forgot to retype their name
    were stored under nobody's name."""
    page, state = ui_page, ui_page.app_state
    assert state.user == "anonymous"
    set_user(page, "remembered-rita")
    until(lambda: state.user == "remembered-rita", what="user name")
    until(lambda: page.evaluate("() => localStorage.getItem('astroexplore.user')") == "remembered-rita",
          what="the name in the browser's storage")
    n_before = len(served.states)
    second = page.context.new_page()  # same browser profile: same storage
    second.goto(served.url)
    second.get_by_text("How interesting is this object?").wait_for()
    other = served.states[n_before]
    until(lambda: other.user == "remembered-rita", what="the next window's name")
    box = second.get_by_role("textbox", name="Your name (stored with labels)")
    until(lambda: box.input_value() == "remembered-rita", what="the name in the box")
    second.get_by_text("the name this browser used last").wait_for()
    gid = str(served.catalogue.ids[other.current])
    second.locator(".ae-card-box h3").first.click()
    second.keyboard.press("2")
    until(lambda: latest_score(served.store, gid, "remembered-rita") == 2, what="a label under that name")
    second.close()


def test_the_name_survives_a_restart_of_the_server_on_another_port(ui_page, served, until, listening,
                                                                    free_port):
    """localStorage is per origin, port included: after ``serve --port 0`` restarted on a new
    port the name was forgotten and the next labels went to "anonymous" without a word."""
    import panel as pn

    from astroexplore.ui.serve import session_app

    page = ui_page
    set_user(page, "cookie-carla")
    until(lambda: "cookie-carla" in page.evaluate("() => document.cookie"), what="the name in a cookie")
    states = []

    def make():
        app = session_app(served.catalogue, served.store)
        states.append(app.state)
        return app

    port = free_port  # the restarted server: another origin for the browser
    server = pn.serve(make, port=port, address="localhost", show=False, threaded=True,
                      websocket_origin=[f"localhost:{port}"], verbose=False)
    try:
        listening(port)
        other = page.context.new_page()
        other.goto(f"http://localhost:{port}/")
        other.get_by_text("How interesting is this object?").wait_for()
        until(lambda: states and states[-1].user == "cookie-carla", what="the name on the new port")
        other.close()
    finally:
        server.stop()


def test_a_label_stored_without_a_name_says_so(ui_page, served, until):
    page, state = ui_page, ui_page.app_state
    page.context.clear_cookies()  # no name from an earlier test
    page.evaluate("() => localStorage.removeItem('astroexplore.user')")
    state.user = ""
    gid = current_id(page)
    page.get_by_role("button", name="1", exact=True).click()
    until(lambda: latest_score(served.store, gid, "anonymous") == 1, what="an anonymous label")
    page.get_by_text("as anonymous: type your name in the sidebar").wait_for()


def test_forward_stays_in_place_when_the_list_changes_length(ui_page, until):
    """ "of 1,200" and "of 3" took their own width: Forward jumped sideways under the pointer."""
    page, state = ui_page, ui_page.app_state
    forward = page.get_by_role("button", name="Forward ▶")
    x = forward.bounding_box()["x"]
    page.get_by_text(f"of {len(state.order):,}", exact=True).wait_for()
    rows = state.order[:3].copy()
    state.go_through(rows, int(rows[0]), "3 galaxies")
    page.get_by_text("of 3", exact=True).wait_for()
    assert abs(forward.bounding_box()["x"] - x) < 1


def test_enter_in_a_box_hands_the_keys_back_and_a_held_key_scores_once(ui_page, served, until):
    """After Enter in the tags box the next score key was typed into it ('#merger5', nothing
    stored); holding a score key stored 25 labels over 4 galaxies in 0.8 s."""
    page, state = ui_page, ui_page.app_state
    # earlier tests left labels in the store: the window learns from them on opening (its
    # re-sort would move the rank asked for below)
    until(lambda: not state.retraining, what="the retrain on the labels stored earlier", timeout=180)
    set_user(page, "keys-back")
    until(lambda: state.user == "keys-back", what="user name")
    gid = current_id(page)
    box = page.get_by_placeholder("#ring #merger")
    box.fill("#merger")
    box.press("Enter")
    until(lambda: state.tags == "#merger", what="the tag reaching the session")
    page.wait_for_timeout(200)
    page.keyboard.press("5")  # no click elsewhere first
    until(lambda: latest_score(served.store, gid, "keys-back") == 5, what="the score after Enter")
    assert served.store.label_of(gid, "keys-back").tags == ("#merger",)
    assert box.input_value() != "#merger5"
    # the rank box: Enter, then a score key scores the galaxy at that rank
    rank = page.get_by_role("textbox", name="Rank in list")
    # the score moved on: "the galaxy changed" below must be the rank box's doing (a CI run read
    # the scored galaxy here, took the next one for rank 40, and the key scored the next one)
    until(lambda: current_id(page) != gid, what="the galaxy after the scored one")
    rank.fill("40")
    rank.press("Enter")
    # (another window's retrain landing may re-sort the list meanwhile: the galaxy shown counts)
    until(lambda: state.position == 39 and current_id(page) == state.current_id,
          what="the galaxy at rank 40 on screen")
    at40 = current_id(page)
    page.keyboard.press("3")
    until(lambda: latest_score(served.store, at40, "keys-back") == 3, what="the score after the rank box")
    assert rank.input_value() != "403"
    # a held key: auto-repeated keydowns score once
    until(lambda: current_id(page) != at40, what="the next galaxy on screen")
    page.wait_for_timeout(300)

    def mine():
        h = served.store.history()
        return h[h["user"] == "keys-back"]
    n_before = len(mine())
    page.keyboard.down("2")
    for _ in range(8):
        page.keyboard.down("2")  # Playwright sends these with repeat=true, as a held key does
    page.keyboard.up("2")
    until(lambda: len(mine()) > n_before, what="the held key's score")
    page.wait_for_timeout(1500)
    assert len(mine()) == n_before + 1 and int(mine()["score"].iloc[-1]) == 2


@contextlib.contextmanager
def opened(ui_browser, url: str):
    """A fresh window (its own Panel session) on ``url``; no JavaScript error on it."""
    context = ui_browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        yield page
    finally:
        context.close()
    assert not errors, errors


def test_the_address_follows_the_window_and_a_link_opens_it_again(served, ui_browser, until, shot):
    """The page's address holds the galaxy, the tab and the filter: a link opens them (the Filter
    tab's rows showing its ranges), a score moves the address to the next galaxy, a reload opens
    the same view, and a link part that does not fit is named in a warning."""
    from astroexplore.column_filter import ColumnRange

    cat = served.catalogue
    n = cat.n_galaxies
    keep = (ColumnRange("mag_r", high=16.5).mask(cat)
            & (cat.table["smooth-or-featured_featured-or-disk_fraction"].to_numpy() >= 0.5))
    gid = cat.ids[np.flatnonzero(keep)[3]]
    with opened(ui_browser, f"{served.url}?galaxy={gid}&tab=filter&ranges=mag_r:..16.5"
                "&answers=smooth-or-featured:featured-or-disk:0.5..1") as page:
        page.get_by_text("Conditions: mag_r ≤ 16.5; Smooth or featured? Featured or disk ≥ 0.50").wait_for()
        page.get_by_text(f"{int(keep.sum()):,} of {n:,} galaxies match").wait_for()
        state = served.states[-1]
        assert page.get_by_role("combobox", name="Column").first.input_value() == "mag_r"
        assert page.get_by_placeholder("no bound").nth(1).input_value() == "16.5"
        assert state.current_id == gid and not state.off_list
        shot(page, "link_filter")
        page.get_by_text("Scoring", exact=True).click()
        page.get_by_text("How interesting is this object?").wait_for()
        until(lambda: "tab=" not in page.evaluate("location.search"), what="the tab to leave the address")
        set_user(page, "link-test")
        until(lambda: state.user == "link-test", what="the name")
        assert current_id(page) == gid
        page.locator(".ae-card-box h3").first.click()
        page.keyboard.press("3")
        until(lambda: state.my_score(gid) == 3 and state.current_id != gid, what="the score and the move on")
        nxt = state.current_id
        until(lambda: f"galaxy={nxt}" in page.evaluate("location.search"), what="the address to follow")
        page.reload()
        page.get_by_text("How interesting is this object?").wait_for()
        again = served.states[-1]
        assert again is not state
        assert again.current_id == nxt == current_id(page)
        assert again.column_ranges == (ColumnRange("mag_r", high=16.5),) and again.n_match == keep.sum()
        page.goto(f"{served.url}?galaxy=nosuch&ranges=mag_x:..3")
        warning = page.locator(".alert-warning").get_by_text("Left out of the link")  # above the tabs
        warning.wait_for()
        assert warning.inner_text() == ("Left out of the link: ranges 'mag_x:..3': the catalogue has no "
                                        "column 'mag_x'. Did you mean 'mag_r'?; galaxy 'nosuch' is not in this "
                                        "catalogue.")
        assert served.states[-1].column_ranges == ()


def test_a_link_opens_its_similarity_search_and_a_search_goes_into_the_address(served, ui_browser, until):
    with opened(ui_browser, f"{served.url}?tab=similarity&search=position:151.5,2.5&k=12") as page:
        page.get_by_text(re.compile(r"^12 galaxies similar to demo_\d+, the nearest catalogue galaxy to "
                                    r"RA 151\.50000, Dec \+2\.50000")).wait_for()
        state = served.states[-1]
        assert page.get_by_role("textbox", name="RA, Dec").input_value() == "151.5 2.5"
        assert state.similarity_query == "position:151.5,2.5" and state.similarity_k == 12
        page.get_by_role("button", name="Current galaxy").click()
        page.get_by_role("button", name="Search", exact=True).click()
        gid = state.current_id
        page.get_by_text(f"12 galaxies similar to {gid}").first.wait_for()
        until(lambda: f"search=galaxy:{gid}&k=12" in page.evaluate("location.search"),
              what="the address to follow the search")


def test_a_link_opens_the_map_coloured_with_its_tap(served, ui_browser, until):
    with opened(ui_browser, f"{served.url}?tab=map&colour=mag_r&point=0.5,-0.25") as page:
        page.get_by_text("48 galaxies nearest to (0.50, -0.25) on the map").first.wait_for()
        assert page.get_by_role("combobox", name="Colour by").input_value() == "mag_r"
        page.get_by_role("button", name=re.compile(r"Download CSV of the [\d,]+ galaxies closest")).wait_for()
        state = served.states[-1]
        assert state.selection is not None and len(state.selection) == 48
        page.get_by_role("combobox", name="Colour by").select_option("density")
        until(lambda: "colour=" not in page.evaluate("location.search"), what="the colour to leave the address")
        assert "point=0.5,-0.25" in page.evaluate("location.search")


def test_the_labelled_tab_shows_the_finds_and_a_card_goes_through_them(served, ui_browser, until):
    with opened(ui_browser, served.url) as page:
        page.get_by_text("How interesting is this object?").wait_for()
        state = served.states[-1]
        set_user(page, "finder")
        until(lambda: state.user == "finder", what="the name")
        scored = []
        for key in "535":
            until(lambda: current_id(page) == state.current_id, what="the card to show the galaxy")
            gid = state.current_id
            page.locator(".ae-card-box h3").first.click()
            page.keyboard.press(key)
            until(lambda: state.my_score(gid) == int(key) and state.current_id != gid, what="the score")
            scored.append(gid)
        page.get_by_text("Labelled", exact=True).click()
        page.get_by_text("2 galaxies you scored 4 or more, best first").wait_for()
        # the discovery curve: finds against galaxies labelled, drawn, and said in words
        page.get_by_text("2 finds (scored 4 or more) among 3 galaxies you labelled.").wait_for()
        assert page.get_by_text("Discovery curve").is_visible()
        page.locator(".ae-discovery-curve canvas").first.wait_for()  # drawn once the first label is in
        cards = page.get_by_role("listitem")
        assert [c.get_attribute("aria-label") for c in cards.all()] == [
            f"open galaxy {scored[2]}", f"open galaxy {scored[0]}"]  # both 5s: the newer first
        assert "tab=labelled" in page.evaluate("location.search")
        cards.nth(1).click()
        page.get_by_text("How interesting is this object?").wait_for()
        until(lambda: current_id(page) == scored[0], what="the card's galaxy in the scoring view")
        page.get_by_text(re.compile("Going through 2 galaxies you scored 4 or more")).wait_for()


def test_copy_link_puts_the_address_on_the_clipboard(served, ui_browser):
    context = ui_browser.new_context(viewport={"width": 1400, "height": 950})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        page.goto(f"{served.url}?tab=filter&ranges=mag_r:..16.5")
        page.get_by_text("Conditions: mag_r ≤ 16.5").wait_for()
        page.get_by_role("button", name="Copy link to this view").click()
        page.get_by_text("Copied: paste it in a message or a bookmark.").wait_for()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.evaluate("window.location.href")
        assert copied.startswith(served.url) and "tab=filter&ranges=mag_r:..16.5" in copied
        assert "galaxy=" in copied
    finally:
        context.close()


def test_copy_link_refused_by_the_browser_shows_the_link_to_copy_by_hand(served, ui_browser):
    with opened(ui_browser, f"{served.url}?tab=map") as page:  # no clipboard permission granted
        page.get_by_text("Colour by").first.wait_for()
        page.evaluate("Object.defineProperty(window, 'isSecureContext', {value: false})")  # as over http
        page.get_by_role("button", name="Copy link to this view").click()
        box = page.get_by_role("textbox", name="link to this view")
        box.wait_for()
        assert box.input_value() == page.evaluate("window.location.href") and "tab=map" in box.input_value()


def test_a_links_text_is_shown_as_text_never_as_markup(served, ui_browser):
    from urllib.parse import urlencode

    bad = "<img src=x onerror=alert(1)>"
    query = urlencode({"galaxy": bad, "ranges": f"{bad}:..1", "search": f"tag:{bad}", "colour": f"*{bad}*"})
    dialogs = []
    with opened(ui_browser, f"{served.url}?{query}") as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        warning = page.locator(".alert-warning").get_by_text("Left out of the link")
        warning.wait_for()
        text = warning.inner_text()
        assert f"galaxy '{bad}' is not in this catalogue" in text and f"colour '*{bad}*'" in text
        assert page.locator(".alert-warning img").count() == 0
    assert dialogs == []


def test_a_link_opens_the_map_zoomed_and_reset_shows_the_whole_map(served, ui_browser, until):
    with opened(ui_browser, f"{served.url}?tab=map&zoom=-1,1,-0.5,0.5") as page:
        canvas = page.locator("canvas").first
        canvas.wait_for()
        state = served.states[-1]
        page.wait_for_timeout(1500)  # the figure has reported the range it opened on
        assert state.map_zoom == (-1.0, 1.0, -0.5, 0.5)
        assert "zoom=-1,1,-0.5,0.5" in page.evaluate("location.search")
        page.locator(".bk-tool-icon-reset").first.click()
        until(lambda: state.map_zoom is None, what="Reset to show the whole map")
        until(lambda: "zoom=" not in page.evaluate("location.search"), what="the zoom to leave the address")
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.mouse.wheel(0, -300)  # the wheel zooms in: the address follows
        until(lambda: state.map_zoom is not None and "zoom=" in page.evaluate("location.search"),
              what="a zoom to reach the address")
        x0, x1, y0, y1 = state.map_zoom
        whole = served.states[-1].resources.projection
        assert x1 - x0 < np.ptp(whole[:, 0]) and y1 - y0 < np.ptp(whole[:, 1])


def test_the_sidebar_downloads_the_top_of_the_list_as_it_is_sorted_and_filtered(served, ui_browser, tmp_path):
    """'Top N (CSV)': the first N galaxies of the Scoring tab's list (a link's method and range
    here), unlabelled first, with their scores and catalogue columns."""
    import pandas as pd

    from astroexplore.column_filter import ColumnRange
    from astroexplore.explorer import Explorer

    cat = served.catalogue
    # isolation_forest: the app's detector, ready at once (a method still computing leaves the list,
    # and so the download, sorted by the previous one until it is ready)
    with opened(ui_browser, f"{served.url}?method=isolation_forest&ranges=mag_r:..16.8") as page:
        page.get_by_text("How interesting is this object?").wait_for()
        box = page.locator(".ae-top-n input")
        box.fill("7")
        box.press("Enter")
        button = page.get_by_role("button", name="Top 7 (CSV)")
        button.wait_for()
        with page.expect_download() as dl:
            button.click()
        assert dl.value.suggested_filename == "top7_isolation_forest.csv"
        path = tmp_path / "top.csv"
        dl.value.save_as(path)
        mask = ColumnRange("mag_r", high=16.8).mask(cat)
        box.fill("")  # an emptied box: the default, as the button says, or as many as the filter passes
        box.press("Enter")
        page.get_by_role("button", name=f"Top {min(500, int(mask.sum())):,} (CSV)").wait_for()
        box.fill(str(int(mask.sum()) + 50))  # more than pass: the button and the file say how many come
        box.press("Enter")
        button = page.get_by_role("button", name=f"Top {int(mask.sum()):,} (CSV)")
        button.wait_for()
        with page.expect_download() as dl:
            button.click()
        assert dl.value.suggested_filename == f"top{int(mask.sum())}_isolation_forest.csv"
    table = pd.read_csv(path, dtype={"id": str})
    expected = Explorer(cat, served.store).ranking("isolation_forest", mask=mask, unlabelled_first=True)[:7]
    assert table["id"].tolist() == [cat.ids[r] for r in expected]
    assert table["rank"].tolist() == list(range(1, 8)) and (table["mag_r"] <= 16.8).all()
    assert {"ra", "dec", "ranking_score", "anomaly_score", "predicted_interest", "your_score"} <= set(table.columns)


def test_gallery_cards_show_long_survey_ids_whole(ui_browser, free_port):
    """SDSS objids (19 digits) and IAU names were cut to '1237648720693…' under each thumbnail:
    the id is what an astronomer copies into SIMBAD or a query, so the card wraps it instead."""
    from astroexplore.ui.gallery import GalleryGrid
    from astroexplore.ui.state import placeholder_uri

    ids = ["1237648720693755918", "J123049.42+122328.0", "demo_0001", "DESI-39627835576420141-x"]

    def make():
        grid = GalleryGrid(width=600, min_height=130)
        grid.items = [{"i": k, "id": gid, "src": placeholder_uri(96), "caption": "0.12"}
                      for k, gid in enumerate(ids)]
        return grid

    with page_of(make, free_port, ui_browser) as page:
        shown = page.locator(".ae-id")
        shown.nth(len(ids) - 1).wait_for()
        for k, gid in enumerate(ids):
            box = shown.nth(k).evaluate(
                "e => [e.textContent, e.scrollWidth - e.clientWidth, e.scrollHeight - e.clientHeight]")
            assert box[0] == gid and box[1] <= 1 and box[2] <= 1, (gid, box)  # nothing cut off


def test_a_score_buttons_hint_leaves_the_other_buttons_clear(ui_page):
    """The hint of the button under the pointer (Panel puts a text description at its right)
    covered the next button after a click: score 3's 'interesting' hid button 4."""
    from astroexplore.ui.scoring import SCORE_HINTS

    page = ui_page
    buttons = [page.get_by_role("button", name=str(k), exact=True) for k in range(6)]
    buttons[3].hover()
    hint = page.get_by_text(SCORE_HINTS[3], exact=True)
    hint.wait_for()
    tip = hint.bounding_box()

    def overlaps(a, b):
        return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
                and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])

    for k in (2, 4):
        assert not overlaps(tip, buttons[k].bounding_box()), k
