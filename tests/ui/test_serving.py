"""The two ways to serve: ``astroexplore.ui.serve.serve`` and ``panel serve apps/explorer.py``."""
from __future__ import annotations

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


def test_panel_serve_script(demo_catalogue_path, free_port, tmp_path):
    port = free_port
    labels = tmp_path / "script.labels.sqlite"
    env = dict(os.environ, BOKEH_LOG_LEVEL="warn")
    log = (tmp_path / "panel_serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(ROOT / "apps" / "explorer.py"), "--port", str(port),
         "--address", "localhost", "--allow-websocket-origin", f"localhost:{port}",
         "--args", str(demo_catalogue_path), "--labels", str(labels)],
        stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        html = _get(f"http://localhost:{port}/explorer", timeout=180)
        assert "astroexplore" in html
        assert labels.exists()
    except AssertionError:
        raise AssertionError((tmp_path / "panel_serve.log").read_text())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    out = (tmp_path / "panel_serve.log").read_text()
    assert "Traceback" not in out, out
