"""The quickstart notebook in a real JupyterLab, in Debian chromium, with no internet.

The executed-notebook test (tests/test_notebook.py) checks the outputs; this one checks what an
astronomer sees and clicks in JupyterLab: the inline app is drawn (before, Panel fetched BokehJS
from its CDN and the cell showed a JavaScript error offline), it follows the labels a script
stores (before, Panel's comm view showed each change one change late), a click on a score
button stores a label in the SQLite file, the map and the similarity search are drawn, and no
request leaves the machine.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CHROMIUM_ARGS, ROOT, _chromium, _free_port, screenshot, wait_until

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("jupyterlab")
pytest.importorskip("jupyter_bokeh")
pytest.importorskip("playwright")

NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
LABELLED = re.compile(r"Labelled so far: (\d+) galaxies")


def _settings(config_dir: Path) -> None:
    """JupyterLab settings for a test: every cell in the page (no windowing, which detaches
    cells scrolled out of view), no news or update checks (no internet)."""
    lab = config_dir / "lab" / "user-settings" / "@jupyterlab"
    (lab / "notebook-extension").mkdir(parents=True)
    (lab / "apputils-extension").mkdir(parents=True)
    (lab / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    (lab / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving tmp_path (a copy of the quickstart in it); yields (url, folder)."""
    if _chromium() is None:
        pytest.skip("no chromium on this machine (scripts/install_chromium.sh installs Debian's)")
    shutil.copy(NOTEBOOK, tmp_path / "quickstart.ipynb")
    _settings(tmp_path / ".jupyter")
    port = _free_port()
    env = dict(os.environ, TMPDIR=str(tmp_path),  # the notebook's mkdtemp (its label store) lands here
               JUPYTER_CONFIG_DIR=str(tmp_path / ".jupyter"), JUPYTER_DATA_DIR=str(tmp_path / ".jdata"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / ".jrun"))
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=localhost",
         "--IdentityProvider.token=t", f"--ServerApp.root_dir={tmp_path}", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while True:
            assert server.poll() is None, (tmp_path / "jupyterlab.log").read_text()[-2000:]
            assert time.time() < deadline, "JupyterLab did not start in 90 s"
            try:
                socket.create_connection(("localhost", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://localhost:{port}/lab/tree/quickstart.ipynb?token=t", tmp_path
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_quickstart_app_is_drawn_live_and_stores_a_click_in_jupyterlab(jupyterlab, ui_browser):
    url, folder = jupyterlab
    context = ui_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(120_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{e} || {getattr(e, 'stack', '')[:1000]}"))
    # nothing is asked of the internet: before, the panes rebuilt after a label asked Panel's CDN
    # for 4 stylesheets, and offline they lost their styles
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(("http://localhost", "data:", "blob:"))
            else outside.append(r.url))
    try:
        page.goto(url)
        page.locator(".jp-Notebook").wait_for()
        done = page.locator(".jp-OutputArea-output").filter(  # the last cell's output: all ran
            has_text=re.compile(r"rings among the 10 most like the known ones: \d"))
        for attempt in range(2):
            # the kernel connected and idle. Once, from a fresh clone, JupyterLab replaced the
            # first kernel it started as the notebook opened, and the Run All sent then ran
            # nothing: the run is then asked for again
            page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for()
            page.get_by_role("menuitem", name="Run").click()
            page.get_by_text("Run All Cells", exact=True).click()
            try:
                done.wait_for(timeout=150_000)
                break
            except Exception:
                if attempt:
                    raise
        app = page.locator(".jp-Cell").filter(has_text="app = build_app").first
        app.scroll_into_view_if_needed()
        page.get_by_text("How interesting is this object?").wait_for()
        # the notebook's own folder (the newest: a second Run All makes another)
        store = max(folder.glob("astroexplore-quickstart-*/labels.sqlite"), key=lambda p: p.stat().st_mtime)

        def shown() -> int:
            m = LABELLED.search(" ".join(app.get_by_text(LABELLED).all_inner_texts()))
            return int(m.group(1)) if m else -1

        from astroexplore.labels import LabelStore

        def stored() -> int:
            with LabelStore(store, read_only=True) as s:
                return s.count()

        # 1 from the app's state, 30 from run_loop, 3 tagged rings, 5 known rings labelled at once:
        # the app followed the script
        assert stored() == 39
        wait_until(lambda: shown() == 39, timeout=30, what="the app to show the script's 39 labels")
        app.get_by_role("button", name="4", exact=True).click()
        wait_until(lambda: stored() == 40, timeout=30, what="the click's label in the SQLite file")
        wait_until(lambda: shown() == 40, timeout=30, what="the app to show the clicked label")
        screenshot(page, "jupyterlab_quickstart")
        # the sidebar's items above the tabs wrap in the cell: the counts stay a readable line
        # (in a Row, the "Top N" download squeezed them into a column one letter wide)
        counts = app.get_by_text(re.compile(r"galaxies\s*Labelled:")).first.bounding_box()
        assert counts["width"] > 120 and counts["height"] < 80, counts
        # the other tabs are drawn when first opened, offline too
        app.get_by_text("Latent map", exact=True).click()
        canvas = app.locator("canvas").first
        canvas.wait_for()
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        screenshot(page, "jupyterlab_map")
        # the map fits the output's width (it narrows, toolbar in view) and is not squeezed to nothing
        box, tool = canvas.bounding_box(), app.locator(".bk-tool-icon-box-select").first.bounding_box()
        assert box["width"] >= 400 and tool["x"] + tool["width"] <= page.viewport_size["width"], (box, tool)
        app.get_by_text("Similarity search", exact=True).click()
        app.get_by_role("button", name="Search", exact=True).click()
        titles = app.get_by_text("dist.", exact=True).first  # the results table
        titles.scroll_into_view_if_needed()
        screenshot(page, "jupyterlab_similarity")
        # in the output's width the table's titles are read whole (they were cut to "di...",
        # "sc..." when the table shared a Row with the gallery)
        cut = app.locator(".tabulator-col-title").evaluate_all(
            "els => els.filter(e => e.textContent.trim() && e.scrollWidth > e.clientWidth)"
            ".map(e => e.textContent)")
        assert not cut, f"column titles cut short: {cut}"
    except Exception:
        screenshot(page, "jupyterlab_quickstart_failed")  # what JupyterLab showed
        raise
    finally:
        context.close()
    assert not errors, f"JavaScript errors in JupyterLab: {errors}"
    assert not outside, f"requests that leave this machine: {sorted(set(outside))}"
