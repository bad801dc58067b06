"""Galleries: a grid of clickable galaxy cards (PNG thumbnails as data URIs).

One :class:`GalleryGrid` (a ``ReactiveHTML`` component) renders the whole grid in the browser, so
a gallery of 48 galaxies is one Bokeh model, not 96 widgets. Clicking a card sends its row index
back; :class:`Gallery` then opens that galaxy in the scoring view, where Forward and "Next after
scoring" go on through the gallery's galaxies (:meth:`AppState.go_through`).
"""
from __future__ import annotations

import base64
import html
import json

import numpy as np
import panel as pn
import param

from astroexplore.ui.state import AppState, placeholder_uri
from astroexplore.ui.notebook import ShownAsIpywidget


class GalleryGrid(pn.reactive.ReactiveHTML):
    """Grid of cards; :attr:`items` is a list of ``{"i", "id", "src", "caption"}`` dicts, sent to
    the browser as base64-encoded UTF-8 JSON (``items_json``). Not a synced list: Panel 1.9 took
    one that became empty for a list of Panel objects and failed (``unhashable type: 'dict'``),
    leaving the last cards up. Not plain JSON text: Panel runs every string of a ReactiveHTML
    component through its HTML cleaner, which turned ``M&M`` into ``M&amp;M``, broke URLs with
    ``&`` and cut the JSON at an id holding ``<``; base64 has no character the cleaner touches.

    ``clicked`` is set to ``"<row index>|<click counter>"`` on each click (so clicking the same
    card twice is two events).
    """

    items_json = param.String(default="W10=")  # base64 of "[]"
    clicked = param.String(default="")
    thumb_size = param.Integer(default=96)
    fallback = param.String(default="", doc="Image shown when a thumbnail URL fails to load.")

    _template = '<div id="grid" class="ae-grid" role="list"></div>'

    _css = """
    .ae-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(112px, 1fr));
               gap: 8px; width: 100%; }
    .ae-card { display: flex; flex-direction: column; align-items: center; gap: 2px;
               border: 1px solid #d0d7de; border-radius: 6px; padding: 4px; background: #fff;
               cursor: pointer; font: 11px/1.2 system-ui, sans-serif; color: #222; }
    .ae-card:hover { border-color: #0072b5; box-shadow: 0 0 0 2px #0072b533; }
    .ae-card img { width: 96px; height: 96px; object-fit: contain; background: #000;
                   border-radius: 4px; }
    .ae-card .ae-id { font-weight: 600; max-width: 104px; text-align: center; overflow-wrap: anywhere;
                      overflow: hidden; display: -webkit-box; -webkit-box-orient: vertical;
                      -webkit-line-clamp: 3; }
    .ae-card .ae-cap { color: #555; }
    .ae-empty { grid-column: 1 / -1; color: #666; font: 13px system-ui, sans-serif; padding: 8px; }
    """

    _scripts = {
        "render": "state.n = 0; self.items_json()",
        "items_json": """
        grid.innerHTML = '';
        const bytes = Uint8Array.from(atob(data.items_json), (c) => c.charCodeAt(0));
        const items = JSON.parse(new TextDecoder().decode(bytes));
        if (!items.length) {
          const p = document.createElement('div');
          p.className = 'ae-empty';
          p.textContent = 'No galaxies to show.';
          grid.appendChild(p);
          return;
        }
        for (const it of items) {
          const card = document.createElement('button');
          card.className = 'ae-card';
          card.type = 'button';
          card.setAttribute('role', 'listitem');
          card.setAttribute('aria-label', 'open galaxy ' + it.id);
          card.title = 'Open ' + it.id + ' in the scoring view';
          const img = document.createElement('img');
          img.alt = 'galaxy ' + it.id;
          img.onerror = () => { img.onerror = null; if (data.fallback) img.src = data.fallback; };
          img.src = it.src;
          const id = document.createElement('span'); id.className = 'ae-id'; id.textContent = it.id;
          const cap = document.createElement('span'); cap.className = 'ae-cap'; cap.textContent = it.caption || '';
          card.appendChild(img); card.appendChild(id); card.appendChild(cap);
          card.addEventListener('click', () => { state.n += 1; data.clicked = it.i + '|' + state.n; });
          grid.appendChild(card);
        }
        """,
    }

    def __init__(self, **params):
        params.setdefault("stylesheets", [self._css])
        super().__init__(**params)

    @property
    def items(self) -> list[dict]:
        return json.loads(base64.b64decode(self.items_json))

    @items.setter
    def items(self, items: list[dict]) -> None:
        self.items_json = base64.b64encode(json.dumps(items).encode()).decode("ascii")


class Gallery(ShownAsIpywidget, pn.viewable.Viewer):
    """A titled gallery of galaxies; clicking one opens it in the scoring view.

    Parameters
    ----------
    state : AppState
    indices : array of int
        Row indices to show (the first ``max_items``).
    captions : list of str, optional
        One short line under each thumbnail (distance, score, ...).
    """

    state = param.ClassSelector(class_=AppState)
    indices = param.Array(default=None)
    captions = param.List(default=None, allow_None=True)
    title = param.String(default="")
    through_rows = param.Array(default=None, doc=(
        "The galaxies gone through once a card is opened (all of a map box, best first), when "
        "more than the cards; default the cards shown."))
    through_title = param.String(default="", doc=(
        "What the scoring view's banner calls the gallery once a card is opened from it (\"Going "
        "through ...\"): the cards, not more; default the title, cut to the cards shown."))
    max_items = param.Integer(default=48, bounds=(1, 500))

    def __init__(self, **params):
        super().__init__(**params)
        self._grid = GalleryGrid(sizing_mode="stretch_width", min_height=130, fallback=placeholder_uri(96))
        self._grid.param.watch(self._on_click, "clicked")
        self._title = pn.pane.HTML(sizing_mode="stretch_width", margin=(0, 5))  # ids are not Markdown
        self._update()

    @param.depends("indices", "captions", "title", "max_items", watch=True)
    def _update(self):
        every = np.asarray([] if self.indices is None else self.indices, dtype=np.int64)
        idx = every[: self.max_items]
        res = self.state.resources
        ids = self.state.catalogue.ids
        caps = self.captions or []
        items = []
        for k, i in enumerate(idx):
            items.append({"i": int(i), "id": str(ids[i]), "src": res.thumbnail_uri(int(i)),
                          "caption": str(caps[k]) if k < len(caps) else ""})  # set as text in the page
        self._grid.items = items
        cut = (f" <span style='color:#666'>(the first {len(idx)} of {len(every)} shown)</span>"
               if len(idx) < len(every) else "")
        self._title.object = f"<b>{html.escape(self.title)}</b>{cut}" if self.title else ""

    def _on_click(self, event):
        if not event.new:
            return
        i = int(str(event.new).split("|", 1)[0])
        every = np.asarray([] if self.indices is None else self.indices, dtype=np.int64)
        shown = every[: self.max_items]
        title = self.through_title or self.title
        if not self.through_title and len(shown) < len(every):
            title = f"the first {len(shown)} of {title}"
        rows = shown if self.through_rows is None else np.asarray(self.through_rows, dtype=np.int64)
        self.state.go_through(rows, i, title)  # Forward / next after scoring: the next galaxy

    def __panel__(self):
        return pn.Column(self._title, self._grid, sizing_mode="stretch_width")
