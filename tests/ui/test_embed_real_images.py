"""Real survey cutouts -> ``astroexplore embed`` -> the served app shows and labels them.

Uses 60 DECaLS cutouts of ../shared/data/decals_rings by path (nothing is copied): the table's GZ
DECaLS fraction columns make ``embed`` train a hybrid encoder, with the default distillation of
pixel-computed features; the resulting catalogue is served and opened in Debian chromium.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.ui, pytest.mark.shared_data]
pn = pytest.importorskip("panel")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def embedded_rings(shared_data, tmp_path_factory):
    import pandas as pd

    from astroexplore.cli import main

    src = shared_data / "decals_rings"
    table = pd.read_csv(src / "catalog.csv").iloc[::7].head(60).copy()  # rings and non-rings
    table["file"] = [str((src / f).resolve()) for f in table["file"]]
    work = tmp_path_factory.mktemp("embed_rings")
    table.to_csv(work / "rings.csv", index=False)
    out = work / "rings.parquet"
    status = main(["embed", str(work / "rings.csv"), "--out", str(out), "--epochs", "2", "--pca", "8",
                   "--image-size", "32", "--crop", "0.75", "--batch-size", "30", "--no-progress",
                   "--device", "cpu"])
    assert status == 0
    return out, table


def test_embed_real_cutouts_catalogue(embedded_rings):
    from astroexplore.catalogue import load_catalogue

    out, table = embedded_rings
    cat = load_catalogue(out)
    assert cat.n_galaxies == 60 and cat.n_features == 8
    assert list(cat.ids) == table["iauname"].astype(str).tolist()
    info = cat.metadata["encoder"]
    assert info["mode"] == "hybrid" and info["targets"] == "features"
    pred = cat.table["has-spiral-arms_no_fraction_pred"].to_numpy()
    assert np.isfinite(pred).all() and ((pred > 0) & (pred < 1)).all()
    assert np.isfinite(np.asarray(cat.embeddings)).all()


def test_app_serves_the_embedded_real_cutouts(embedded_rings, ui_browser, free_port, listening, until,
                                              tmp_path):
    from astroexplore.ui.serve import serve

    out, table = embedded_rings
    port = free_port
    labels = tmp_path / "rings.labels.sqlite"
    server = serve(out, port=port, labels=labels, threaded=True, verbose=False)
    try:
        listening(port)
        context = ui_browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(90_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://localhost:{port}/")
        page.get_by_text("How interesting is this object?").wait_for()
        gid = page.locator(".ae-card-box h3").first.inner_text().strip()
        assert gid in set(table["iauname"].astype(str))
        img = page.locator(f"img[alt='galaxy {gid}']").first
        img.wait_for()
        until(lambda: img.evaluate("e => e.complete && e.naturalWidth > 0"), what="the cutout to load")
        # the real 128 px JPEG cutout, not the placeholder it falls back to
        assert img.evaluate("e => e.naturalWidth") == 128
        page.locator(".ae-card-box h3").first.click()
        page.keyboard.press("4")
        page.get_by_text(f"Stored {gid} = 4").wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "embedded_real_rings.png"))
        context.close()
        assert not errors, errors
    finally:
        server.stop()
        pn.state.clear_caches()
    with sqlite3.connect(labels) as con:
        assert con.execute("select count(*) from events").fetchone()[0] >= 1
