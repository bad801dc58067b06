"""The two ways to serve: ``astroexplore.ui.serve.serve`` and ``panel serve apps/explorer.py``."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, timeout: float = 120.0) -> str:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                return r.read().decode("utf-8", "replace")
        except OSError as err:  # not listening yet
            last = err
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s: {last}")


def test_serve_binds_localhost_and_builds_a_page(demo_catalogue_path, free_port, tmp_path):
    pn = pytest.importorskip("panel")
    from astroexplore.ui.serve import _websocket_origins, serve

    assert _websocket_origins("localhost", 5006) and "*" not in _websocket_origins("localhost", 5006)
    assert _websocket_origins("0.0.0.0", 5006) == ["*"]
    port = free_port
    server = serve(demo_catalogue_path, port=port, labels=tmp_path / "l.sqlite", threaded=True,
                   verbose=False)
    try:
        html = _get(f"http://localhost:{port}/")
        assert "astroexplore" in html
        assert (tmp_path / "l.sqlite").exists()
    finally:
        server.stop()
        pn.state.clear_caches()


@contextlib.contextmanager
def _panel_serve(port: int, log_path: Path, *args: str):
    """``panel serve apps/explorer.py`` on ``port`` (output to ``log_path``), stopped afterwards."""
    env = dict(os.environ, BOKEH_LOG_LEVEL="warn")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", str(ROOT / "apps" / "explorer.py"), "--port", str(port),
             "--address", "localhost", "--allow-websocket-origin", f"localhost:{port}", *args],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_panel_serve_script(demo_catalogue_path, free_port, tmp_path):
    port, log = free_port, tmp_path / "panel_serve.log"
    labels = tmp_path / "script.labels.sqlite"
    with _panel_serve(port, log, "--args", str(demo_catalogue_path), "--labels", str(labels)):
        try:
            html = _get(f"http://localhost:{port}/explorer", timeout=180)
            assert "astroexplore" in html
            assert labels.exists()
        except AssertionError:
            raise AssertionError(log.read_text())
    assert "Traceback" not in log.read_text(), log.read_text()


def test_panel_serve_script_with_wrong_args_shows_usage_and_keeps_serving(free_port, tmp_path, ui_browser):
    """`panel serve apps/explorer.py` without --args: each visit gets the usage, the server lives
    (argparse's exit used to stop the whole server at the first visit)."""
    port = free_port
    with _panel_serve(port, tmp_path / "panel_noargs.log") as proc:
        _get(f"http://localhost:{port}/explorer", timeout=120)
        for _ in range(2):
            page = ui_browser.new_page()
            page.goto(f"http://localhost:{port}/explorer", timeout=120_000)
            page.get_by_text("astroexplore could not start").wait_for(timeout=60_000)
            page.get_by_text("usage: panel serve apps/explorer.py --args").first.wait_for(timeout=10_000)
            page.close()
        assert proc.poll() is None, "the server stopped"


def test_serve_on_port_0_prints_the_port_it_serves(demo_catalogue_path, tmp_path, capsys):
    """--port 0 (which the port-in-use error recommends) printed http://localhost:0/."""
    import re

    pn = pytest.importorskip("panel")
    from astroexplore.ui.serve import serve

    server = serve(demo_catalogue_path, port=0, labels=tmp_path / "l.sqlite", threaded=True, verbose=False)
    try:
        url = re.search(r"at (http://localhost:(\d+)/)", capsys.readouterr().out)
        assert url and int(url.group(2)) > 0
        assert "astroexplore" in _get(url.group(1))
    finally:
        server.stop()
        pn.state.clear_caches()


def test_a_port_just_left_by_a_stopped_server_can_be_claimed_again_a_busy_one_cannot():
    """A restart on the same --port failed for ~60 s while the old server's connections sat in
    TIME_WAIT (the probe bound without SO_REUSEADDR, which Tornado itself sets)."""
    import socket
    import sys

    from astroexplore.ui.serve import _claim_port

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    with pytest.raises(OSError, match=f"cannot serve on 127.0.0.1:{port}.*--port"):
        _claim_port("127.0.0.1", port)  # still listening: refused, with what to do
    conn.close()  # the server side closes first: its end of the connection stays in TIME_WAIT
    server.close()
    client.close()
    if sys.platform != "win32":
        assert _claim_port("127.0.0.1", port) == port


def test_a_page_whose_server_stops_says_that_scores_are_no_longer_stored(demo_catalogue_path, free_port,
                                                                       tmp_path, ui_browser):
    """A tab whose server had gone (stopped, restarted) looked alive and dropped every score."""
    port, log = free_port, tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "astroexplore", "serve", str(demo_catalogue_path), "--port", str(port),
             "--labels", str(tmp_path / "l.sqlite")], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        _get(f"http://localhost:{port}/", timeout=180)
        page = ui_browser.new_page()
        page.goto(f"http://localhost:{port}/", timeout=120_000)
        page.get_by_text("How interesting is this object?").wait_for(timeout=120_000)
        notice = page.locator(".ae-connection-lost")
        assert not notice.is_visible()
        proc.terminate()  # as Ctrl-C: the server process ends, its sockets close
        proc.wait(timeout=30)
        notice.wait_for(state="visible", timeout=60_000)
        assert "NOT stored" in notice.inner_text()
        page.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_with_an_image_template_shows_each_galaxy_from_its_filled_url(free_port, tmp_path, ui_browser):
    """`serve --image-template`: the browser loads each galaxy's cutout from the filled URL (a
    survey's cutout service: answered here by Playwright, as the machine is offline)."""
    import io

    import numpy as np
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"id": [f"g{i:02d}" for i in range(n)], "ra": rng.uniform(0, 360, n),
                       "dec": rng.uniform(-20, 20, n), **{f"feat_{j}": rng.normal(size=n) for j in range(4)}})
    df.to_parquet(tmp_path / "t.parquet", index=False)
    buf = io.BytesIO()
    Image.new("RGB", (72, 72), (200, 40, 40)).save(buf, format="PNG")
    asked = []

    def cutout_service(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=buf.getvalue())

    port, log = free_port, tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "astroexplore", "serve", str(tmp_path / "t.parquet"), "--port", str(port),
             "--labels", str(tmp_path / "l.sqlite"),
             "--image-template", "https://cutouts.example.org/cut.png?id={id}&ra={ra}&dec={dec}"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        _get(f"http://localhost:{port}/", timeout=180)
        page = ui_browser.new_page()
        page.route("https://cutouts.example.org/**", cutout_service)
        page.goto(f"http://localhost:{port}/", timeout=120_000)
        page.get_by_text("How interesting is this object?").wait_for(timeout=120_000)
        shown = page.locator("img[src^='https://cutouts.example.org/']").first
        shown.wait_for(timeout=60_000)
        page.wait_for_function("img => img.complete && img.naturalWidth === 72", arg=shown.element_handle(),
                               timeout=60_000)
        src = shown.get_attribute("src")
        gid = src.split("id=")[1].split("&")[0]
        row = df.set_index("id").loc[gid]
        assert src == f"https://cutouts.example.org/cut.png?id={gid}&ra={row.ra}&dec={row.dec}"
        assert src in asked
        assert page.get_by_text(gid, exact=True).first.is_visible()  # the card names the galaxy shown
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
