"""The latent map keeps the drawn box on screen (a UX review: once the drag ended nothing showed
which region the gallery listed)."""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.ui

# the boxes (and the tap marker) the map draws in data coordinates, as the browser holds them
_QUADS_JS = """() => {
  const col = (d, k) => Array.from((d instanceof Map ? d.get(k) : d[k]) ?? []);
  const out = [];
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.glyph && m.glyph.constructor.__name__ === 'Quad') {
      const d = m.data_source.data;
      const [l, b, r, t] = ['left', 'bottom', 'right', 'top'].map((k) => col(d, k));
      l.forEach((_, i) => out.push([l[i], b[i], r[i], t[i]]));
    }
  }
  return out;
}"""


def _cyan(page, box) -> np.ndarray:
    """(h, w) bool: the map's pixels in the box outline's colour (cyan)."""
    from PIL import Image

    png = page.screenshot(clip=box)
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return (rgb[..., 0] < 80) & (rgb[..., 1] > 200) & (rgb[..., 2] > 200)


def _edge_drawn(cyan: np.ndarray, row: float, c0: float, c1: float) -> float:
    """Fraction of the columns c0..c1 with a cyan pixel within 3 px of ``row``."""
    r = int(round(row))
    band = cyan[max(r - 3, 0): r + 4, int(c0) + 8: int(c1) - 8]
    return float(band.any(axis=0).mean())


def _open_map(page) -> dict:
    """Open the Latent map tab; the bounding box of its canvas."""
    page.get_by_text("Latent map", exact=True).click()
    page.get_by_text("Tap anywhere for the nearest galaxies").wait_for()
    canvas = page.locator("canvas").first
    canvas.wait_for()
    return canvas.bounding_box()


def test_map_box_stays_drawn_through_zoom_until_a_tap(ui_page, served, until, shot):
    page = ui_page
    box = _open_map(page)
    area = {"x": box["x"], "y": box["y"], "width": box["width"] * 0.7, "height": box["height"]}  # no colour bar
    page.mouse.move(1, 1)  # no hover tooltip over the map
    assert not _cyan(page, area).any(), "something cyan on the map before any box"
    page.locator("[title='Box Select']").first.click()  # pan is the active drag tool at first
    fx0, fy0, fx1, fy1 = 0.2, 0.25, 0.45, 0.6
    page.mouse.move(box["x"] + box["width"] * fx0, box["y"] + box["height"] * fy0)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fx1, box["y"] + box["height"] * fy1, steps=8)
    page.mouse.up()
    title = page.get_by_text(re.compile(r"[\d,]+ galaxies in the box x"))
    title.first.wait_for()
    m = re.search(r"box x (\S+)\.\.(\S+), y (\S+)\.\.(\S+?)(?: |$)", title.first.inner_text())
    x0, x1, y0, y1 = map(float, m.groups())
    quads = until(lambda: page.evaluate(_QUADS_JS), what="the box drawn on the map")
    assert len(quads) == 1
    np.testing.assert_allclose(quads[0], [x0, y0, x1, y1], atol=0.006)  # the caption's box, drawn
    page.mouse.move(1, 1)
    cyan = _cyan(page, area)
    top, bottom = box["height"] * fy0, box["height"] * fy1
    left, right = box["width"] * fx0, box["width"] * fx1
    assert _edge_drawn(cyan, top, left, right) > 0.9, "no box outline where the box was drawn"
    assert _edge_drawn(cyan, bottom, left, right) > 0.9
    assert _edge_drawn(cyan.T, left, top, bottom) > 0.9
    shot(page, "latent_map_box")

    # zoom out about the box's centre: the map re-renders, the box stays (smaller) around the centre
    cx, cy = box["x"] + box["width"] * (fx0 + fx1) / 2, box["y"] + box["height"] * (fy0 + fy1) / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, 200)
    page.mouse.move(1, 1)

    def shrunk():
        c = _cyan(page, area)
        rows, cols = np.nonzero(c)
        return len(rows) and cols.min() > left + 4 and cols.max() < right - 4 and rows.min() > top + 4
    until(shrunk, what="the box redrawn, smaller, after zooming out")
    assert page.evaluate(_QUADS_JS) == quads
    shot(page, "latent_map_box_zoomed_out")

    # a tap clears the box (the gallery shows the tap's neighbours, marked by a cross)
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.8)
    page.get_by_text(re.compile(r"\d+ galaxies nearest to")).first.wait_for()
    until(lambda: page.evaluate(_QUADS_JS) == [], what="the box cleared by a tap")


def _pixel_tooltip(page, x: float, y: float) -> str:
    """The map's tooltip line for the pixel under (x, y) (page coordinates), e.g. "2" or "none"."""
    page.mouse.move(float(x), float(y))
    line = page.get_by_text("galaxies in this pixel").first.locator("xpath=..")
    return line.inner_text(timeout=10_000).split(":", 1)[-1].strip()


def test_map_pixel_tooltip_counts_galaxies_and_says_none_over_empty_pixels(ui_page, shot):
    """The map's hover said "Count: NaN" over every empty pixel (and nothing useful elsewhere)."""
    from PIL import Image
    from scipy.ndimage import maximum_filter, uniform_filter

    page = ui_page
    box = _open_map(page)
    # the tooltip is off until chosen in the toolbar (always on, it covered the dots aimed at)
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.41, box["y"] + box["height"] * 0.5)
    page.wait_for_timeout(500)
    assert not page.get_by_text("galaxies in this pixel").first.is_visible()
    page.locator(".bk-tool-icon-hover").first.click()  # the toolbar's hover button
    page.mouse.move(1, 1)
    # galaxies on screen: coloured pixels inside the map's frame (not its white border, not the
    # colour bar on the right)
    png = page.screenshot(clip={**box, "width": box["width"] * 0.8})
    lum = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int).sum(axis=2)
    lit = (lum > 120) & (lum < 700)
    lit[:20], lit[-20:], lit[:, :20], lit[:, -20:] = False, False, False, False
    assert lit.any(), "no galaxies drawn on the map"
    crowd = uniform_filter(lit.astype(float), 5) * lit
    r, c = np.unravel_index(np.argmax(crowd), crowd.shape)
    seen = []
    for dr in (0, 1, -1, 2, -2):
        for dc in (0, 1, -1, 2, -2):
            seen.append(_pixel_tooltip(page, box["x"] + c + dc, box["y"] + r + dr))
            if seen[-1].isdigit():
                break
        if seen[-1].isdigit():
            break
    assert seen[-1].isdigit() and int(seen[-1]) >= 1, seen  # a whole number of galaxies
    shot(page, "latent_map_hover_galaxies")
    assert not any("NaN" in s for s in seen), seen
    # far from every drawn galaxy: "none", not NaN
    # on the map's own #111 background, 25 px from anything drawn on it (a dim one-galaxy pixel
    # is not 'lit' above), and not on its axes
    background = np.abs(lum - 3 * 0x11) <= 6
    far = (maximum_filter(~background, 25) == 0) & background
    far[:30], far[-30:], far[:, :30], far[:, -30:] = False, False, False, False
    rows, cols = np.nonzero(far)
    assert len(rows), "no empty area on the map"
    i = len(rows) // 2
    assert _pixel_tooltip(page, box["x"] + cols[i], box["y"] + rows[i]) == "none"
    shot(page, "latent_map_hover_empty")


def test_a_card_clicked_far_down_the_map_opens_scoring_at_its_top(ui_page, until):
    """At 1280x800 the Scoring tab opened at the depth of the card clicked: the image, the
    score buttons and the gallery banner were off the top of the window."""
    page = ui_page
    page.set_viewport_size({"width": 1280, "height": 800})
    box = _open_map(page)
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
    page.get_by_text(re.compile(r"\d+ galaxies nearest to")).first.wait_for()
    page.locator(".ae-card").nth(2).wait_for()  # the gallery drawn: the page is long enough to scroll

    def scrolled():
        return page.evaluate("() => { const m = document.querySelector('#main'); m.scrollTop = 900; "
                             "return m.scrollTop; }") > 300
    until(scrolled, what="scrolled down")
    page.locator(".ae-card").nth(2).click()
    page.get_by_text("Back to the ranking").wait_for()
    until(lambda: page.evaluate("() => document.querySelector('#main').scrollTop") == 0, what="the top of Scoring")
    assert page.get_by_role("button", name="3", exact=True).is_visible()


def test_what_a_tap_found_is_said_above_the_map_with_a_way_to_its_thumbnails(ui_page, until):
    """At 1280x800 a tap's 48 thumbnails and CSV button started at y=930, below the fold, and
    the wheel over the map zooms: the tap seemed to do nothing but draw a cross."""
    page = ui_page
    page.set_viewport_size({"width": 1280, "height": 800})
    box = _open_map(page)
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
    line = page.get_by_text(re.compile(r"^\d+ galaxies nearest to \(.*\) on the map$")).first
    line.wait_for()
    assert line.bounding_box()["y"] < box["y"]  # above the map, where the user looks
    grid = page.locator(".ae-grid").first
    assert grid.bounding_box()["y"] > 800
    page.get_by_role("button", name="Show them ↓").click()
    until(lambda: 0 < grid.bounding_box()["y"] < 400, what="the thumbnails brought into view")
    page.get_by_role("button", name=re.compile("Download CSV of the")).wait_for()
    assert page.get_by_role("button", name=re.compile("Download CSV of the")).bounding_box()["y"] > 60


def test_the_map_coloured_by_class_draws_each_class_in_its_colour_with_a_legend(ui_page, served, shot):
    """Colour by a class column (the demo's truth_morphology): the map's pixels take the classes'
    colours, a legend names them with their counts, the colour-map menu (which they do not use) is
    disabled, and a tap still finds the nearest galaxies."""
    from PIL import Image

    from astroexplore.ui.latent_map import class_codes, class_colours

    page = ui_page
    box = _open_map(page)
    page.get_by_role("combobox", name="Colour by").select_option("truth_morphology")
    legend = page.get_by_text("a pixel mixes the colours of its galaxies' classes")
    legend.wait_for()
    codes = class_codes(served.catalogue.table["truth_morphology"])
    counts = pd.Series(codes).value_counts()
    for name in codes.categories[:3]:
        page.get_by_text(f"{name} ({counts[name]:,})").first.wait_for()
    assert page.get_by_role("combobox", name="Colour map").is_disabled()
    box = page.locator("canvas").first.bounding_box()
    # the most frequent class's colour (Category10 blue, #1f77b4) is on the map, and a second one
    colours = class_colours(list(codes.categories))

    def pixels_of_the_first_two_classes():
        png = page.screenshot(clip=box)
        rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
        seen = []
        for hexc in colours[:2]:
            target = np.array([int(hexc[i:i + 2], 16) for i in (1, 3, 5)])
            # blended by count over a dark background: a pixel of that hue, not exactly that colour
            direction = target / np.linalg.norm(target)
            norms = np.linalg.norm(rgb, axis=-1)
            cos = (rgb @ direction) / np.maximum(norms, 1)
            seen.append(int(((cos > 0.995) & (norms > 80)).sum()))
        return rgb, seen

    # the new figure drawn: polled, not a fixed wait (1.5 s was too short on a loaded CI machine,
    # whose screenshot still held the density map's fire colours: [17, 2127])
    for _ in range(40):
        rgb, seen = pixels_of_the_first_two_classes()
        if all(s > 20 for s in seen):
            break
        page.wait_for_timeout(250)
    shot(page, "latent_map_by_class")
    assert all(s > 20 for s in seen), f"pixels of the first two classes' colours: {seen}"
    # the tooltip names each class of a pixel with its count ("elliptical 2, merger 1"), not a
    # line of every class's count; over a pixel of the first class's colour
    page.locator(".bk-tool-icon-hover").first.click()
    target = np.array([int(colours[0][i:i + 2], 16) for i in (1, 3, 5)])
    norms = np.linalg.norm(rgb, axis=-1)
    hue = ((rgb @ (target / np.linalg.norm(target))) / np.maximum(norms, 1) > 0.995) & (norms > 80)
    rows, cols = np.nonzero(hue[20:-20, 20:-20])
    line = page.get_by_text("truth_morphology of its galaxies").first.locator("xpath=..")
    texts = []
    for k in range(min(len(rows), 8)):
        page.mouse.move(box["x"] + 20 + cols[k] + 0.5, box["y"] + 20 + rows[k] + 0.5)
        texts.append(line.inner_text(timeout=10_000).split(":", 1)[-1].strip())
        if re.fullmatch(rf"(.*, )?{codes.categories[0]} [1-9]\d*(, .*)?", texts[-1]):
            break
    assert re.fullmatch(rf"(.*, )?{codes.categories[0]} [1-9]\d*(, .*)?", texts[-1]), texts
    assert not any("NaN" in t or "," in t and ":" in t for t in texts), texts
    shot(page, "latent_map_by_class_hover")
    page.locator(".bk-tool-icon-hover").first.click()  # off again: a tap, not a tooltip
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45)
    page.get_by_text(re.compile(r"\d+ galaxies nearest to")).first.wait_for()
