"""Execute notebooks/quickstart.ipynb in a fresh kernel: no errors, and the app is displayed."""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("jupyter_bokeh")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    mimes = set()
    for o in outputs:
        mimes.update(o.get("data", {}).keys())
    # the inline app (Panel's notebook renderer) and the ipywidget
    assert "application/vnd.holoviews_exec.v0+json" in mimes, mimes
    assert "application/vnd.jupyter.widget-view+json" in mimes, mimes
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "bk-root" in html or "data-root-id" in html
    text = "".join(o.get("text", "") for o in outputs)
    assert "Stored demo_" in text and "labelled: 1" in text
    # the app shown at the top followed the script's labels and retrains (state.sync)
    assert "the app shows 31 labelled galaxies, ranking version 1" in text, text[-500:]
