"""Real-browser fixtures: a generated demo survey served with ``pn.serve(threaded=True)`` and
Debian chromium driven by Playwright (``playwright install`` cannot download browsers here).

Each test gets a fresh browser page, hence a fresh Panel session (its own AppState); the tests
reach the session's state through ``served.states`` to check what the browser showed.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pn = pytest.importorskip("panel")

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
N_DEMO = 1200
TIMEOUT_MS = 60_000  # 2 shared cores: generous, but every wait is on a condition, not a sleep


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    catalogue: object
    store: object
    states: list = field(default_factory=list)
    server: object = None

    def latest_state(self):
        return self.states[-1]


@pytest.fixture(scope="session")
def demo_catalogue_path(tmp_path_factory) -> Path:
    from astroexplore.demo import make_demo_catalogue
    return make_demo_catalogue(tmp_path_factory.mktemp("ui_demo"), n=N_DEMO, seed=7, progress=False)


@pytest.fixture(scope="session")
def served(demo_catalogue_path, tmp_path_factory):
    """The app served on a free localhost port in a background thread."""
    if _chromium() is None:
        pytest.skip("no chromium on this machine (scripts/install_chromium.sh installs Debian's)")
    from astroexplore.ui.latent_map import warm_datashader
    from astroexplore.ui.serve import load_shared, session_app, warm_up

    labels = tmp_path_factory.mktemp("ui_labels") / "labels.sqlite"
    cat, store = load_shared(demo_catalogue_path, labels)
    warm_up(cat, store)
    warm_datashader()
    out = Served(url="", catalogue=cat, store=store)

    def make():
        page = session_app(cat, store)
        out.states.append(page.state)
        return page

    port = _free_port()
    out.server = pn.serve(make, port=port, address="localhost", show=False, threaded=True,
                          websocket_origin=[f"localhost:{port}"], verbose=False)
    out.url = f"http://localhost:{port}/"
    wait_listening(port)
    yield out
    out.server.stop()
    store.close()


@pytest.fixture(scope="session")
def ui_browser():
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on this machine (scripts/install_chromium.sh installs Debian's)")
    pytest.importorskip("playwright", reason="playwright (Python) is not installed")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def ui_page(served, ui_browser):
    """A fresh page (= a fresh Panel session) on the app, ready on the scoring view."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = ui_browser.new_context(viewport={"width": 1500, "height": 1050}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{e} || {getattr(e, 'stack', '')[:1500]}"))
    n_before = len(served.states)
    page.goto(served.url)
    page.get_by_text("How interesting is this object?").wait_for()
    assert len(served.states) == n_before + 1
    page.app_state = served.states[-1]
    yield page
    context.close()
    pn.state.clear_caches()  # nothing cached by one test leaks into the next
    assert not errors, f"JavaScript errors on the page: {errors}"


@contextlib.contextmanager
def page_of(make, port: int, browser):
    """A page open in ``browser`` on ``make`` (a Panel app factory) served on ``port`` in a
    thread; the page is closed and the server stopped afterwards."""
    import panel as pn

    server = pn.serve(make, port=port, address="localhost", show=False, threaded=True,
                      websocket_origin=[f"localhost:{port}"], verbose=False)
    try:
        wait_listening(port)
        page = browser.new_page()
        page.goto(f"http://localhost:{port}/")
        yield page
        page.close()
    finally:
        server.stop()


def wait_listening(port: int, timeout: float = 60.0) -> None:
    """Wait until something listens on localhost:``port``, or fail."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on localhost:{port} after {timeout} s")


@pytest.fixture
def listening():
    """``listening(port)``: see :func:`wait_listening`."""
    return wait_listening


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll a server-side condition (label on disk, state changed) until true or fail."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def screenshot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture
def free_port() -> int:
    """A free localhost port."""
    return _free_port()


@pytest.fixture
def until():
    """``until(predicate, timeout=60, what=...)``: see :func:`wait_until`."""
    return wait_until


@pytest.fixture
def shot():
    """``shot(page, name)``: save a screenshot into test-artifacts/<name>.png."""
    return screenshot
