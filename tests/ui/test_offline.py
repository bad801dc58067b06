"""The served app loads everything from its own server: no web fonts, no CDN.

Observatory and cluster machines often have no internet access; a page that links a resource
elsewhere then waits on it (a stylesheet in <head> blocks the page's scripts until it loads or
fails: with a firewall that drops packets, tens of seconds) and loses what it provided.
"""
from __future__ import annotations

import re
import urllib.request
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.ui

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
TIMEOUT_MS = 60_000


def _external(url: str) -> bool:
    """True for a URL off this machine (relative URLs, data: and blob: are local)."""
    parsed = urlparse("http:" + url if url.startswith("//") else url)
    return bool(parsed.hostname) and parsed.hostname not in LOCAL_HOSTS


def test_page_html_links_nothing_outside(served):
    with urllib.request.urlopen(served.url, timeout=120) as r:
        html = r.read().decode("utf-8", "replace")
    # what the browser fetches by itself (not <a href> links, which a user follows)
    urls = re.findall(r"""<(?:link|script|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)""",
                      html, flags=re.I)
    urls += re.findall(r"""url\(\s*["']?([^"')]+)""", html)
    urls += re.findall(r"""@import\s+["']([^"']+)""", html)
    assert urls, "no resource links found: the regexes no longer match the page"
    external = sorted({u for u in urls if _external(u)})
    assert not external, f"the page links resources off its server: {external}"


def test_no_request_leaves_the_server(served, ui_browser, shot):
    """Every request of the page (load, then each tab) goes to the app's own server."""
    context = ui_browser.new_context(viewport={"width": 1500, "height": 1050})
    context.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    # offline, whatever this machine's network: a request elsewhere fails at once (and is recorded)
    context.route(_external, lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    errors: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(served.url)
        page.get_by_text("How interesting is this object?").wait_for()
        page.get_by_role("button", name="5", exact=True).wait_for()

        page.get_by_text("Latent map", exact=True).click()
        page.locator(".bk-Canvas canvas, canvas").first.wait_for()
        page.get_by_text("Tap anywhere for the nearest galaxies").wait_for()

        page.get_by_text("Filter", exact=True).click()
        page.get_by_text(re.compile("galaxies match")).first.wait_for()

        page.get_by_text("Similarity search", exact=True).click()
        page.get_by_role("button", name="Search", exact=True).click()
        page.get_by_text(re.compile(r"\d+ galaxies similar to")).first.wait_for()
        page.get_by_text("dist.", exact=True).first.wait_for()  # the results table (Tabulator)

        page.get_by_text("Scoring", exact=True).click()
        page.get_by_role("button", name="5", exact=True).wait_for()
        shot(page, "offline_scoring")
    finally:
        context.close()
        pn = pytest.importorskip("panel")
        pn.state.clear_caches()
    assert requested, "no request recorded"
    external = sorted({u for u in requested if _external(u)})
    assert not external, f"requests off the app's server: {external}"
    assert not errors, f"JavaScript errors on the page: {errors}"
