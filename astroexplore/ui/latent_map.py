"""Latent-space map: every galaxy in 2-D, rendered with datashader so millions stay interactive.

The pipeline is built once per view: a ``DynamicMap`` of ``hv.Points`` (depends on the colour-by
column and the filter mask) -> ``rasterize`` (re-aggregates only on zoom / pan / data change) with
the colour map passed as a parameter reference, so changing it re-shades in the browser. The
labelled galaxies are overlaid as ordinary points. A tap shows the nearest galaxies (KD-tree on
the projection, shared by all sessions) and offers them as CSV, marked by a cross on the map; a box
selection shows its galaxies, its box staying drawn on the map (until the next box or a tap).
"""
from __future__ import annotations

import functools
import html
import operator
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import panel as pn
import param

from astroexplore.catalogue import with_catalogue_columns
from astroexplore.column_filter import filterable_columns, numeric_values
from astroexplore.constants import DETECTORS, RankingMethod
from astroexplore.map_index import map_table
from astroexplore.ui.gallery import Gallery
from astroexplore.ui.state import AppState, with_labels
from astroexplore.ui.widgets import PageScroll, csv_buffer, flex_column
from astroexplore.ui.notebook import ShownAsIpywidget

DENSITY = "density"
LABELS = "your labels + others' (mean score)"
N_NEAREST_CSV = 1000
N_GALLERY = 48
#: Classes the map colours apart (Bokeh's Category10 without its grey, kept for "other"): a
#: column with more shows its 8 most frequent and "other".
MAX_CLASSES = 9
#: the similarity search shown, on the map: its query galaxies (stars) and the galaxies found (rings)
QUERY_COLOUR, FOUND_COLOUR = "#ffd400", "#ff4fd8"
def value_colours(name: str) -> str | list[str]:
    """The colour map ``name`` for a value map: colorcet's that start near black (fire, gray,
    kbc) without their darkest fifth, as a list; the others by name. A value of 0 (a vote
    fraction nobody gave) was black on the map's #111 background.

    >>> value_colours("fire")[0], len(value_colours("fire")), value_colours("viridis")
    ('#680100', 205, 'viridis')
    """
    import colorcet as cc

    if name not in ("fire", "gray", "kbc"):
        return name
    colours = list(cc.palette[name])
    return colours[len(colours) // 5:]


MISSING_GREY = "#5a5a5a"  # galaxies without a value of the quantity the map is coloured by
FILTERED_OUT_GREY = "#2c2c2c"  # galaxies the filter leaves out, faint on the map's #111
_CHROME_PX = 121  # the colour bar (with its ticks and title) and the toolbar right of the map (measured)
_PANE_MARGIN_PX = 20  # the plot pane's margins inside the map column
#: the aggregated column's name, whatever "Colour by" shows: datashader compiles its kernels per
#: column name, so naming each colour's column ("s_knn", ...) JIT-compiled for ~0.6 s on the
#: first switch to every colour at 1M galaxies (warm_datashader compiles this one name once)
_VALUE = "value"
#: colour-bar ticks of the density: whole galaxy counts, placed on the equalised scale
_COUNT_TICKS = sorted({m * 10 ** k for k in range(9) for m in (1, 2, 3, 5)})
#: a map pixel's value for its tooltip (Bokeh CustomJSHover code; args source, empty, count)
_PIXEL_JS = """
const at = special_vars.image_index;
const data = source.data;
const images = data instanceof Map ? data.get('image') : data['image'];
const img = at == null || images == null ? null : images[at.index];
if (classes.length) {  // an image stack: (rows, columns, classes), the counts of each class
  const n = classes.length, parts = [];
  for (let k = 0; img != null && k < n; k++) {
    const c = Number(img[at.flat_index * n + k]);
    if (c > 0) parts.push(classes[k] + ' ' + Math.round(c).toLocaleString('en-US'));
  }
  return parts.length ? parts.join(', ') : empty;
}
const v = img == null ? NaN : Number(img[at.flat_index]);
if (!Number.isFinite(v)) return empty;
return count ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3);
"""


def _hv():
    import holoviews as hv
    return hv


def colour_options(cat) -> tuple[list[str], set[str]]:
    """What "Colour by" offers: the density, the anomaly and interest scores, the labels, then the
    catalogue's Galaxy Zoo vote fractions (decision-tree order), its other numeric columns
    (redshift, magnitudes, a 0/1 flag: the mean per pixel), except the map's own coordinates, and
    its class columns (a pixel mixes the colours of its galaxies' classes); and which are classes."""
    options = [DENSITY] + [m.value for m in DETECTORS] + [RankingMethod.PREDICTED_INTEREST.value, LABELS]
    schema = getattr(cat, "schema", None)
    if schema is not None:
        options += [c for c in schema.columns if c in cat.table.columns]
    # the numeric columns the filter takes (never the id or the map's own coordinates)
    options += [c for c in filterable_columns(cat) if c not in options]
    classes = _class_columns(cat, set(options) | {"id"})
    return options + classes, set(classes)


def colour_name(cat, option: str) -> str:
    """How "Colour by" names an option: a vote fraction in the tree's words, as the Filter tab
    does ("Has spiral arms? Yes (vote fraction)"; the column name was cut off in the menu), others
    as they are."""
    schema = getattr(cat, "schema", None)
    found = None if schema is None else schema.answer_at(option)
    if found is None:
        return option
    q, a = found
    return f"{q.label or q.name} {a.label or a.name} (vote fraction)"


def _class_columns(cat, skip) -> list[str]:
    """Text columns of the catalogue that hold classes (gz1_class, a survey name): at most
    ``MAX_CLASSES * 5`` distinct values among the first 10,000 rows (not ids, paths or notes).
    ``skip``: the columns already offered (the numeric ones among them) or never offered."""
    table = cat.table
    out = []
    for c in table.columns:
        if not isinstance(c, str) or c in skip or c == "image":
            continue
        head = table[c].iloc[:10_000]
        if not (isinstance(head.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(head)
                or pd.api.types.infer_dtype(head, skipna=True) == "string"):
            continue
        if 2 <= head.nunique(dropna=True) <= MAX_CLASSES * 5:
            out.append(c)
    return out


def class_colours(names) -> list[str]:
    """A colour per class (Bokeh's Category10); "other" and "(none)" are greys."""
    from bokeh.palettes import Category10_10

    palette = iter([c for c in Category10_10 if c != "#7f7f7f"])
    return [{"other": "#8c8c8c", "(none)": "#4d4d4d"}.get(n) or next(palette) for n in names]


def default_classes(values: pd.Series) -> list[str]:
    """The classes the map colours unless told others: every class where there are at most
    :data:`MAX_CLASSES`, else the ``MAX_CLASSES - 1`` most frequent (the rest share "other")."""
    counts = values.value_counts(dropna=True)
    keep = counts.index[:MAX_CLASSES] if len(counts) <= MAX_CLASSES else counts.index[:MAX_CLASSES - 1]
    return [str(k) for k in keep]


def class_codes(values: pd.Series, keep: Sequence[str] | None = None) -> pd.Categorical:
    """``values`` as at most :data:`MAX_CLASSES` classes for the map: ``keep`` (in that order;
    default :func:`default_classes`, largest first), the rest as "other", a missing value as
    "(none)"."""
    keep = default_classes(values) if keep is None else [str(k) for k in keep]
    labels = values.astype(object).where(values.astype(str).isin(keep), "other")
    labels = labels.where(values.notna(), "(none)")
    order = [str(k) for k in keep] + [c for c in ("other", "(none)") if (labels == c).any()]
    return pd.Categorical(labels.astype(str), categories=order)


class MapView(ShownAsIpywidget, pn.viewable.Viewer):
    """Datashaded 2-D map of the catalogue with tap / box-select galleries."""

    state = param.ClassSelector(class_=AppState)
    color_by = param.Selector(default=DENSITY, objects=[DENSITY], label="Colour by")
    cmap = param.Selector(default="fire", objects=["fire", "kbc", "viridis", "plasma", "gray"],
                          label="Colour map")
    value_cmap = param.Parameter(default=None, precedence=-1, doc=(
        ":func:`value_colours` of ``cmap``, what a value map is drawn in (a parameter, not a bound "
        "function: HoloViews re-aggregated the map for a bound one, 0.45 s at 1M against 0.04 s)"))
    width = param.Integer(default=600, doc="Largest width of the map's galaxies, in screen pixels (its "
                          "colour bar and toolbar come beside it); it narrows, down to min_width, to fit a "
                          "narrower window.")
    min_width = param.Integer(default=320, doc="Narrowest the map gets, in screen pixels.")
    height = param.Integer(default=520, doc="Height of the map, in screen pixels.")
    notice = param.String(default="", doc="Shown above the map while its colour is being computed.")
    box = param.NumericTuple(default=None, allow_None=True, length=4,
                             doc="(x0, y0, x1, y1): the last box selection while it is the gallery's "
                                 "source (drawn on the map); None after a tap.")
    classes = param.ListSelector(default=[], objects=[], label="Classes in colour", doc=(
        "Coloured by a class column: the classes drawn in their own colours (at most MAX_CLASSES; "
        "the others share 'other'). Offered most frequent first; default default_classes()."))
    drawn_mask = param.Array(default=None, precedence=-1, doc=(
        "The filter the map's figure draws (state.mask): redrawn in place when the user has zoomed, "
        "else in a new figure framing what passes (so the galaxies are aggregated once, not twice)."))

    def __init__(self, **params):
        super().__init__(**params)
        cat = self.state.catalogue
        self.drawn_mask = self.state.mask
        self.state.param.watch(self._reframe, "mask")  # the map follows the filter
        self._value_colours()
        options, self._classes = colour_options(cat)
        self.param.color_by.objects = {colour_name(cat, c): c for c in options}  # the tree's words
        self._gallery = Gallery(state=self.state, title="Tap the map or box-select to see galaxies here.")
        self._download = pn.widgets.FileDownload(
            callback=self._selection_csv, filename="nearest.csv", color="primary",
            label="Download CSV", disabled=True, sizing_mode="stretch_width")
        self._plot = None
        self._classes_of: str | None = None  # the class column `classes` was offered for
        self._default_classes: list[str] = []  # its default ones (default_classes)
        self._offer_classes()
        self.param.watch(lambda e: self._offer_classes(), "color_by")
        self.param.watch(self._on_classes, "classes")
        self.state.param.watch(self._on_point, "map_point")
        # the gallery and the CSV follow the filter (same galaxies in both), for a tap or a box
        self.state.param.watch(self._on_mask, "mask")
        # a box gallery is ordered by the scoring method: re-sorted when it changes (as its CSV is)
        self.state.param.watch(lambda e: self._boxed(self.box) if self.box is not None else None, "method")
        self.state.param.watch(self._on_selection, ["selection", "selection_title"])
        self.state.param.watch(self._on_scores_ready, "scores_version")
        self._pending = None  # a colour-by whose scores are computed in the background
        # the colour and the box the page's address holds (state.map_colour / map_box): shown now,
        # followed both ways; a tap of a link (state.map_point) shows its nearest galaxies now
        self.param.watch(lambda e: setattr(self.state, "map_box", e.new), "box")
        self.param.watch(lambda e: setattr(self.state, "map_colour", "" if e.new == DENSITY else e.new),
                         "color_by")
        self.param.watch(lambda e: setattr(self.state, "map_classes", self._chosen_classes(self.color_by) or []),
                         "classes")
        self.state.param.watch(lambda *e: self._follow_state(), ["map_box", "map_colour", "map_classes"])
        self._follow_state()
        if self.box is None and self.state.map_point is not None:
            self._show_nearest(self.state.map_point)

    def _follow_state(self):
        """Show ``state.map_colour`` and ``state.map_box`` when set elsewhere (a link, a script)."""
        colour, asked = self.state.map_colour or DENSITY, list(self.state.map_classes)
        if colour != self.color_by and colour in self.param.color_by.objects:
            self.color_by = colour  # (offers its classes, the default ones: state.map_classes emptied)
        wanted = [c for c in asked if c in self.param.classes.objects]
        if wanted and wanted != list(self.classes):
            self.classes = wanted
        box = self.state.map_box
        if box is not None and box != self.box:
            self._boxed(box)
        elif box is None and self.box is not None:
            self.box = None
            self._show_nearest(self.state.map_point)

    def _offer_classes(self) -> None:
        """Offer the classes of the class column shown (most frequent first), the default ones
        chosen; nothing for another colour."""
        column = self.color_by if self.color_by in self._classes else None
        if column == self._classes_of:
            return
        values = self.state.catalogue.table[column] if column else None
        offered = [str(v) for v in values.value_counts(dropna=True).index] if column else []
        self._classes_of = column
        # kept: _chosen_classes runs on every re-aggregation (zoom, pan), a value count each time was not
        self._default_classes = default_classes(values) if column else []
        self.param.classes.objects = offered
        with param.discard_events(self):  # the figure for the new colour is built by _on_colour
            self.classes = list(self._default_classes)
        self.state.map_classes = []  # the default ones, in the page's address too

    def _on_classes(self, event) -> None:
        """Other classes chosen: at most MAX_CLASSES (the first ones kept), then a new figure."""
        if len(event.new) > MAX_CLASSES:
            self.classes = list(event.new[:MAX_CLASSES])
            return
        if self.color_by in self._classes:
            self._on_colour(None)

    def _chosen_classes(self, color_by: str) -> list[str] | None:
        """The classes chosen for class column ``color_by``; None for its default ones."""
        if color_by != self._classes_of or not self.classes:
            return None
        chosen = list(self.classes)[:MAX_CLASSES]  # (a longer choice is cut by _on_classes, maybe later)
        return None if chosen == self._default_classes else chosen

    # data ---------------------------------------------------------------------------------------
    def _column(self, color_by: str) -> str | None:
        """Name of the frame column to aggregate for ``color_by`` (None = density)."""
        res = self.state.resources
        if color_by in (DENSITY, LABELS):  # labels: the labelled dots carry the colour
            return None
        if color_by in self._classes:
            chosen = self._chosen_classes(color_by)  # the default classes' column is shared by every window
            col = "k_" + color_by + ("" if chosen is None else "\x1f" + "\x1f".join(chosen))
            if col not in res.frame.columns:
                res.ensure_column(col, class_codes(self.state.catalogue.table[color_by], chosen))
            return col
        if color_by in self.state.catalogue.table.columns:
            col = "c_" + color_by
            if col not in res.frame.columns:  # nullable ints / booleans: a missing value is NaN
                res.ensure_column(col, numeric_values(self.state.catalogue.table[color_by]))
            return col
        col = "s_" + color_by
        if color_by == RankingMethod.PREDICTED_INTEREST.value or col not in res.frame.columns:
            sc = self.state.scores(color_by)
            if sc is None:
                return None
            res.ensure_column(col, sc)
        return col

    def _points(self, color_by, mask, model_version):
        """The galaxies to aggregate: x, y and, for a value map, its column renamed ``value``."""
        hv = _hv()
        col = None if color_by == DENSITY else self._column(color_by)
        frame = self.state.resources.frame
        cols = ["x", "y"] + ([col] if col else [])
        data = frame[cols] if mask is None else frame.loc[mask, cols]
        if col:
            data = data.rename(columns={col: _VALUE})
        return hv.Points(data, kdims=["x", "y"], vdims=[_VALUE] if col else [])

    @param.depends("cmap", watch=True)
    def _value_colours(self):
        self.value_cmap = value_colours(self.cmap)

    def _has_missing(self, color_by) -> bool:
        """Whether some galaxy has no value of ``color_by`` (a value map's column)."""
        return color_by not in (DENSITY, LABELS) and bool(self.state.resources.frame[self._column(color_by)].isna().any())

    def _missing_points(self, color_by, mask, model_version):
        """The galaxies (passing ``mask``) without a value of ``color_by``: x, y."""
        frame = self.state.resources.frame
        missing = frame[self._column(color_by)].isna().to_numpy()
        keep = missing if mask is None else missing & np.asarray(mask, dtype=bool)
        return _hv().Points(frame.loc[keep, ["x", "y"]], kdims=["x", "y"])

    def _filtered_out_points(self, mask):
        """The galaxies the filter leaves out (none without a filter): x, y."""
        frame = self.state.resources.frame
        out = np.zeros(len(frame), dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
        return _hv().Points(frame.loc[out, ["x", "y"]], kdims=["x", "y"])

    def _without_value(self, color_by, ranges):
        """Grey pixels where the galaxies have no value of ``color_by`` (rasterized on the map's
        own range stream, so they follow its zoom)."""
        points = functools.partial(self._missing_points, color_by)
        return self._one_colour(pn.bind(points, self.param.drawn_mask, self.state.param.model_version),
                                MISSING_GREY, ranges)

    def _filtered_out(self, ranges):
        """Faint pixels where the galaxies are that the filter leaves out: the population around
        the galaxies that pass (a filtered map drew those alone, in an empty frame)."""
        return self._one_colour(pn.bind(self._filtered_out_points, self.param.drawn_mask), FILTERED_OUT_GREY, ranges)

    def _one_colour(self, points, colour: str, ranges):
        import datashader as ds
        from holoviews.operation.datashader import dynspread, rasterize

        hv = _hv()
        layer = rasterize(hv.DynamicMap(points, cache_size=1), aggregator=ds.count(),
                          streams=[ranges, hv.streams.PlotSize(**self._drawn_size())])
        return dynspread(layer, threshold=0.6, max_px=3, how="max").opts(
            cmap=[colour, colour], colorbar=False, responsive=True, height=self.height, tools=[],
            default_tools=[])

    def _aggregator(self, color_by):
        import datashader as ds
        col = None if color_by == DENSITY else self._column(color_by)
        if col is None:
            return ds.count()
        return ds.by(_VALUE, ds.count()) if color_by in self._classes else ds.mean(_VALUE)

    def _legend_html(self, color_by: str) -> str:
        """The classes' colours and counts (among the galaxies the filter keeps), above the map."""
        if color_by not in self._classes:
            return ""
        codes = self.state.resources.frame[self._column(color_by)]
        mask = self.state.mask
        counts = (codes if mask is None else codes[mask]).value_counts()
        names = self._class_names(color_by)
        items = "".join(
            f"<span style='white-space:nowrap;margin-right:14px'><span style='display:inline-block;"
            f"width:11px;height:11px;border-radius:2px;background:{c};margin-right:4px'></span>"
            f"{html.escape(n)} <span class='ae-muted' style='color:#777'>({counts.get(n, 0):,})</span></span>"
            for n, c in zip(names, class_colours(names)))
        return (f"<div style='font-size:13px;line-height:1.8'><b>{html.escape(color_by)}</b>: {items}"
                "<br><span style='color:#777'>a pixel mixes the colours of its galaxies' classes, "
                "brighter where there are more of them</span></div>")

    def _class_names(self, color_by: str) -> list[str]:
        """The classes the map shows for class column ``color_by``, in its colours' order."""
        return list(self.state.resources.frame[self._column(color_by)].cat.categories)

    def _data_range(self, mask) -> dict:
        """``x_range``/``y_range`` of the galaxies passing ``mask``: the view a new figure opens
        on (empty when none pass)."""
        frame = self.state.resources.frame
        x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
        if mask is not None:
            x, y = x[mask], y[mask]
        if not len(x):
            return {}

        def span(v):  # a single galaxy (or a line of them): half a unit around it
            lo, hi = float(v.min()), float(v.max())
            pad = 0.02 * (hi - lo)  # the outermost galaxies, often the odd ones, not cut by the frame
            return (lo - pad, hi + pad) if hi > lo else (lo - 0.5, hi + 0.5)
        return {"x_range": span(x), "y_range": span(y)}

    def _labelled(self, labels_version, mask):
        hv = _hv()
        st = self.state
        scores = st.store.scores()
        xy = st.resources.projection
        if len(scores):  # ids of other catalogues sharing the store are skipped
            idx, known = st.catalogue.known_rows(scores.index)
            sc = scores.to_numpy(dtype=float)[known]
            keep = np.ones(len(idx), bool) if mask is None else mask[idx]
            idx, sc = idx[keep], sc[keep]
        else:
            idx, sc = np.zeros(0, int), np.zeros(0)
        df = pd.DataFrame({"x": xy[idx, 0], "y": xy[idx, 1], "score": sc,
                           "id": np.asarray(st.catalogue.ids)[idx].astype(str)})
        # coloured by labels: the dots carry the colour bar (the galaxies underneath are grey)
        return hv.Points(df, kdims=["x", "y"], vdims=["score", "id"]).opts(
            color="score", cmap="RdYlBu_r", clim=(0, 5), size=7, line_color="white", line_width=0.8,
            tools=["hover"], colorbar=self.color_by == LABELS, clabel=self._colour_label(LABELS))

    def _build_plot(self):
        """The map pane; its figure is rebuilt, at the same zoom, when Colour by changes: Bokeh
        keeps a figure's colour mapper type and colour bar title, so switching ``cnorm`` or
        ``clabel`` in place left every value map equalised and the first title up."""
        pane = pn.pane.HoloViews(self._overlay(), sizing_mode="stretch_width", max_width=self._pane_width,
                                 height=self.height + 20, linked_axes=False)
        self.param.watch(self._on_colour, "color_by")
        return pane

    def _on_colour(self, _event):
        if self._plot is not None:
            self._plot.object = self._overlay(keep_zoom=True)

    def _reframe(self, event):
        """A new filter: a map the user has not zoomed frames the galaxies now passing (the
        figure's range is fixed when it is built, so it is built again, the figure before not
        redrawn first); a zoom is kept, the figure redrawn in place, unless the filter comes or
        goes (the layer of the galaxies it leaves out with it: built again, at the zoom)."""
        zoomed = self.state.map_zoom is not None
        if self._plot is None or (zoomed and (event.new is None) == (self.drawn_mask is None)):
            self.drawn_mask = event.new  # no figure yet, or redrawn in place at the user's zoom
            return
        with param.discard_events(self):
            self.drawn_mask = event.new
        self._plot.object = self._overlay(keep_zoom=zoomed)

    def _colour_ready(self, color_by: str) -> bool:
        """False while the scores ``color_by`` shows are computed in the background (the map shows
        the density meanwhile)."""
        if color_by in (DENSITY, LABELS) or color_by in self.state.catalogue.table.columns:
            return True
        return self.state.scores_ready(color_by)

    def _on_scores_ready(self, _event=None):
        if self._pending is not None and self._pending == self.color_by and self.state.scores_ready(self._pending):
            self._on_colour(None)

    def _stream(self, kind):
        """The current figure's stream of class ``kind`` (``hv.streams.RangeXY``, ``PlotSize``), or None."""
        streams = getattr(getattr(self, "_rasterized", None), "streams", [])
        return next((s for s in streams if isinstance(s, kind)), None)

    def _zoom(self) -> dict:
        """``xlim``/``ylim`` of the map's current view (empty before any zoom or pan)."""
        stream = self._stream(_hv().streams.RangeXY)
        if stream is not None and stream.x_range and stream.y_range:
            return {"xlim": tuple(stream.x_range), "ylim": tuple(stream.y_range)}
        return {}

    def _zoomed(self, x_range=None, y_range=None, **_):
        """The part of the map in view, to ``state.map_zoom`` (and so to the page's address): None
        while it is the whole map (the figure reports that range when it opens, and after Reset)."""
        if not x_range or not y_range:
            return
        whole = getattr(self, "_whole", {})
        view = (float(x_range[0]), float(x_range[1]), float(y_range[0]), float(y_range[1]))
        if whole and np.allclose(view, (*whole["x_range"], *whole["y_range"]), rtol=1e-9, atol=1e-12):
            view = None
        if view != self.state.map_zoom:
            self.state.map_zoom = view

    @staticmethod
    def _with_reset_to(whole: dict, opts: dict) -> dict:
        """``opts`` with a hook that makes the figure's Reset show ``whole`` (``x_range`` /
        ``y_range``: the whole map), also when it opened on a link's zoom (Bokeh resets a range to
        where it started, else)."""

        def hook(plot, element):
            if whole:
                for rng, (lo, hi) in ((plot.state.x_range, whole["x_range"]), (plot.state.y_range, whole["y_range"])):
                    if hasattr(rng, "reset_start"):
                        rng.reset_start, rng.reset_end = lo, hi

        return {**opts, "hooks": [*opts.get("hooks", []), hook]}

    def _drawn_size(self) -> dict:
        """``width``/``height`` in pixels of the map as the browser last drew it (the widest map
        before it reported any): a new figure aggregates at that size once, not twice."""
        stream = self._stream(_hv().streams.PlotSize)
        if stream is not None and stream.width and stream.height:
            return {"width": stream.width, "height": stream.height}
        return {"width": self.width, "height": self.height}

    def _overlay(self, *, keep_zoom: bool = False):
        """Datashaded points (counts or mean value) * labelled galaxies * the tap marker * the
        selected box, with fresh tap / box streams on the new figure."""
        hv = _hv()
        from holoviews.operation.datashader import dynspread, rasterize
        st = self.state
        # only the user's zoom is kept: an unzoomed figure shows the whole of what passes the filter
        zoom = self._zoom() if keep_zoom and st.map_zoom is not None else {}
        if not zoom and st.map_zoom is not None:  # a link's zoom
            x0, x1, y0, y1 = st.map_zoom
            zoom = {"xlim": (x0, x1), "ylim": (y0, y1)}
        whole = self._data_range(self.drawn_mask)
        labels = self.color_by == LABELS
        ready = self._colour_ready(self.color_by)
        self._pending = None if ready else self.color_by
        self.notice = "" if ready else (
            f"Computing the {self.color_by} scores of {st.catalogue.n_galaxies:,} galaxies in the "
            "background (once: they are cached); the map shows the density until they are ready.")
        density = labels or self.color_by == DENSITY or not ready
        shown = DENSITY if density else self.color_by
        # the colour is bound as a constant: a new "Colour by" builds a new figure (_on_colour), and
        # binding the parameter made the old figure re-aggregate for the new colour first.
        # cache_size=1: each cached frame of 1M points kept ~10 MB per colour change
        points = hv.DynamicMap(pn.bind(functools.partial(self._points, shown), self.param.drawn_mask,
                                       st.param.model_version), cache_size=1)
        # the range stream starts at the range the figure opens on (the zoom kept, or the data's):
        # starting empty, the first render aggregated the 1M points twice (once for the data's
        # range, again when the figure reported that same range)
        view_range = {"x_range": zoom["xlim"], "y_range": zoom["ylim"]} if zoom else whole
        self._whole = whole  # what the figure's reset shows, and what is not a zoom
        # one aggregate pixel per screen pixel: PlotSize reports the map's drawn size (it narrows
        # in a narrow window); it starts at the size last drawn, or at the widest map
        ranges = hv.streams.RangeXY(**view_range)
        ranges.add_subscriber(self._zoomed)  # the part in view, to the page's address
        shaded = rasterize(points, aggregator=self._aggregator(shown), streams=[
            ranges, hv.streams.PlotSize(**self._drawn_size())])
        self._rasterized = shaded  # holds the RangeXY and PlotSize streams (zoom, pan, resize re-aggregate)
        # sparse pixels are spread to stay visible: each takes the largest nearby value, which
        # stays a true pixel's value (adding made vote fractions reach 2.7 and counted an
        # isolated galaxy up to 9 times)
        classes = shown in self._classes
        class_names = self._class_names(shown) if classes else []
        shaded = dynspread(shaded, threshold=0.6, max_px=3, how="max")
        if classes:  # one colour per class, blended by the counts of each pixel's galaxies
            shaded = shaded.opts(cmap=class_colours(class_names))
        else:
            shaded = shaded.apply.opts(cmap=["#1c1c1c", "#9a9a9a"] if labels else
                                       self.param.cmap if density else self.param.value_cmap)
        shaded = shaded.opts(
            responsive=True, height=self.height, min_width=self.min_width + _CHROME_PX,
            max_width=self._pane_width, tools=["tap", "box_select", "hover"],
            active_tools=["wheel_zoom"], colorbar=not (labels or classes),
            xlabel=st.resources.map_axes[0], ylabel=st.resources.map_axes[1],
            bgcolor="#111", title="", default_tools=["pan", "wheel_zoom", "reset", "save"],
            cnorm="eq_hist" if density or classes else "linear",
            **self._with_reset_to(whole, self._hover_opts(shown, class_names) if classes else {
                "clabel": self._colour_label(shown), **self._hover_opts(shown, missing=self._has_missing(shown)),
                **self._colorbar_opts(density)}),
            **zoom)
        # under the map, faint: the galaxies the filter leaves out; grey: those without a value
        # (a vote fraction of a question they were not asked), which the mean left off the map
        # (only where there is something to draw: each layer costs a rasterization per zoom, and
        # the first render of 1M galaxies took 0.68 s with them empty against 0.37 s)
        under = []
        if self.drawn_mask is not None:
            under.append(self._filtered_out(ranges))
        if not (density or classes) and self._has_missing(shown):
            under.append(self._without_value(shown, ranges))
        self.n_under = len(under)  # the layers under the map's own image (its place in the overlay)
        labelled = hv.DynamicMap(pn.bind(self._labelled, st.param.labels_version, self.param.drawn_mask),
                                 cache_size=1)
        marker = hv.DynamicMap(pn.bind(self._marker, st.param.map_point, self.param.box), cache_size=1)
        search = hv.DynamicMap(pn.bind(self._search_marks, st.param.search_rows, st.param.found_rows),
                               cache_size=1)
        # Bokeh's box-select overlay vanishes when the drag ends: the box is drawn from ``box``, in
        # data coordinates, so it stays over the region the gallery shows through zoom and pan
        outline = hv.DynamicMap(pn.bind(self._outline, self.param.box), cache_size=1)
        # transient: HoloViews drops a message equal to the previous one, so a tap at the pixel
        # of the last tap (to come back from a box) or the same box again did nothing
        self._tap = hv.streams.Tap(source=shaded, x=None, y=None, transient=True)
        self._bounds = hv.streams.BoundsXY(source=shaded, bounds=None, transient=True)
        self._tap.add_subscriber(self._tapped)
        self._bounds.add_subscriber(self._boxed)
        return functools.reduce(operator.mul, [*under, shaded, labelled, search, marker, outline])

    @staticmethod
    def _hover_opts(color_by: str, classes: Sequence[str] = (), missing: bool = False) -> dict:
        """Tooltips of the map's pixels: how many galaxies (density), the mean of the quantity
        shown, by name, or how many of each of ``classes`` (a class column), and "none" over an
        empty pixel. The defaults said "Count: NaN" there, "x_y s_isolation_forest" for a score,
        and ran every class's count into one line; Bokeh prints "NaN" before calling any formatter
        of the value, so the pixel is read by a formatter of ``$index`` (never NaN) instead.
        ``missing``: some galaxies have no value, drawn grey under the map (said over an empty pixel)."""
        if color_by == DENSITY:
            name, empty, count = "galaxies in this pixel", "none", True
        elif classes:
            name, empty, count = f"{color_by} of its galaxies", "none", True
        else:
            name = MapView._colour_label(color_by)
            if name == "vote fraction (mean)":
                name = f"{color_by} (mean)"
            empty = "none here (grey: galaxies without a value)" if missing else "no galaxies in this pixel"
            name, count = f"{name} of its galaxies", False

        def hook(plot, element):
            from bokeh.models import CustomJSHover

            hover, source = plot.handles.get("hover"), plot.handles.get("source")
            if hover is not None and source is not None and "$index" not in hover.formatters:  # once
                # this image's pixels only: the grey layers under it have their own (their $index
                # read this image's values, "1" over a pixel with no galaxy of its own)
                hover.renderers = [plot.handles["glyph_renderer"]]
                hover.formatters = {"$index": CustomJSHover(
                    code=_PIXEL_JS, args={"source": source, "empty": empty, "count": count,
                                          "classes": list(classes)})}
                # off until chosen in the toolbar: always on, it followed the pointer with "none"
                # over most of a sparse map and covered the dots the user was aiming at
                plot.state.toolbar.active_inspect = None

        return {"hover_tooltips": [("map x, y", "($x{0.00}, $y{0.00})"), (name, "$index{pixel}")],
                "hooks": [hook]}

    @staticmethod
    def _colorbar_opts(density: bool) -> dict:
        """Density: ticks at whole counts (1, 2, 3, 5, 10, ...) placed on the equalised scale;
        Bokeh's own ticks for it are the colour bins' edges, fractions such as 1.119 ... 1.987
        for pixels holding 1-5 galaxies. Labels that would overlap are dropped."""
        from bokeh.models import FixedTicker, NoOverlap, NumeralTickFormatter

        if not density:
            return {"colorbar_opts": {"major_label_policy": NoOverlap()}}
        return {"colorbar_opts": {"ticker": FixedTicker(ticks=_COUNT_TICKS),
                                  "formatter": NumeralTickFormatter(format="0,0"),
                                  "major_label_policy": NoOverlap()}}

    @staticmethod
    def _colour_label(color_by: str) -> str:
        if color_by == DENSITY:
            return "galaxies per pixel"
        if color_by == LABELS:
            return "mean score (0-5)"
        if color_by.endswith("_fraction") or color_by.endswith("_debiased"):
            return "vote fraction (mean)"
        return f"{color_by} (mean)"

    @property
    def _pane_width(self) -> int:
        """Largest width of the plot pane, in pixels: the map (``width``), its colour bar and toolbar."""
        return self.width + _CHROME_PX

    def _search_marks(self, query_rows, found_rows):
        """The similarity search shown (Similarity tab): the galaxies found as pink rings, its query
        galaxies (the one searched from, a tag's, the known objects') as yellow stars; their ids on
        hover. Where do my known objects, and what looks like them, lie on the map?"""
        hv = _hv()
        xy, ids = self.state.resources.projection, np.asarray(self.state.catalogue.ids)

        def points(rows):
            rows = np.zeros(0, np.int64) if rows is None else np.asarray(rows, np.int64)
            return hv.Points(pd.DataFrame({"x": xy[rows, 0], "y": xy[rows, 1], "id": ids[rows].astype(str)}),
                             kdims=["x", "y"], vdims=["id"])
        found = points(found_rows).opts(marker="circle", size=11, fill_alpha=0, line_color=FOUND_COLOUR,
                                        line_width=2, tools=["hover"])
        query = points(query_rows).opts(marker="star", size=18, color=QUERY_COLOUR, line_color="black",
                                        line_width=1, tools=["hover"])
        return found * query

    def _marker(self, point, box=None):
        """A cross at the last tap, while the gallery shows its nearest galaxies (not a box's)."""
        hv = _hv()
        pts = [] if point is None or box is not None else [tuple(point)]
        return hv.Points(pts, kdims=["x", "y"]).opts(marker="x", size=16, color="cyan", line_width=3)

    def _outline(self, box):
        """The box selection whose galaxies the gallery shows: outlined, lightly filled."""
        hv = _hv()
        return hv.Rectangles([] if box is None else [tuple(box)], kdims=["x0", "y0", "x1", "y1"]).opts(
            fill_color="cyan", fill_alpha=0.08, line_color="cyan", line_width=2)

    # stream subscribers: feed the state ---------------------------------------------------------------
    def _tapped(self, x=None, y=None):
        if x is None or y is None:
            return
        point = (float(x), float(y))
        if point == self.state.map_point:  # the same pixel again: param sees no change
            self.state.param.trigger("map_point")
        else:
            self.state.map_point = point

    def _boxed(self, bounds=None):
        if bounds is None:
            return
        self.box = tuple(float(b) for b in bounds)
        idx = self.in_box()
        with param.parameterized.batch_call_watchers(self.state):
            self.state.selection = idx
            self.state.selection_title = self._box_title(len(idx))
        self._set_download(f"box_{len(idx)}.csv", f"Download CSV of the {len(idx):,} galaxies in the box",
                           disabled=not len(idx))

    def _box_title(self, n: int) -> str:
        """The box gallery's title: how many galaxies, the box, and how many are shown, once each
        ("1,234 galaxies in the box x 0.10..0.50, y -1.20..0.30 (showing the first 48 by knn)")."""
        x0, y0, x1, y1 = self.box
        shown = f" (showing the first {N_GALLERY} by {self.state.method})" if n > N_GALLERY else ""
        return f"{n:,} galaxies in the box x {x0:.2f}..{x1:.2f}, y {y0:.2f}..{y1:.2f}{shown}"

    def in_box(self) -> np.ndarray:
        """Row indices of the galaxies in the last box selection that pass the filter, best
        first by the scoring view's method (empty without a box)."""
        if self.box is None:
            return np.zeros(0, dtype=np.int64)
        x0, y0, x1, y1 = self.box
        idx = self.state.resources.map_index.in_box(x0, x1, y0, y1, mask=self.state.mask)
        sc = self.state.scores()
        if sc is not None and len(idx):
            idx = idx[np.argsort(-sc[idx], kind="stable")]
        return idx

    def _set_download(self, filename: str, label: str, *, disabled: bool) -> None:
        self._download.param.update(filename=filename, label=label, disabled=disabled)

    def _on_mask(self, _event=None):
        if self.box is not None:
            self._boxed(self.box)
        else:
            self._show_nearest(self.state.map_point)

    def nearest(self, k: int = N_GALLERY) -> np.ndarray:
        """Row indices of the ``k`` galaxies nearest the last tap (after the filter)."""
        if self.state.map_point is None:
            return np.zeros(0, dtype=np.int64)
        x, y = self.state.map_point
        return self.state.resources.map_index.nearest(x, y, k, mask=self.state.mask)

    def _on_point(self, event):
        self.box = None  # a tap replaces the box as the gallery's source (and on the map)
        self._show_nearest(event.new)

    def _show_nearest(self, point):
        """Fill the gallery with the galaxies nearest ``point`` (x, y) that pass the filter."""
        if point is None:
            return
        x, y = point
        idx = self.nearest(N_GALLERY)
        with param.parameterized.batch_call_watchers(self.state):
            self.state.selection = idx
            self.state.selection_title = f"{len(idx)} galaxies nearest to ({x:.2f}, {y:.2f}) on the map"
        n = len(self.nearest(N_NEAREST_CSV))
        self._set_download(f"nearest_{n}.csv", f"Download CSV of the {n:,} galaxies closest to this point",
                           disabled=not n)

    def _on_selection(self, *events):
        # only the cards shown: the box title says how many of how many (the gallery's own note
        # "(the first 48 of 1234 shown)" repeated it)
        sel = self.state.selection
        n = 0 if sel is None else len(sel)
        whole_box = self.box is not None and n > N_GALLERY
        # a card opened from a box goes on through the whole box, best first (not only its 48 cards)
        through = f"the {n:,} galaxies in the box (by {self.state.method})" if whole_box else ""
        self._gallery.param.update(indices=None if sel is None else sel[:N_GALLERY],
                                   title=self.state.selection_title, through_title=through,
                                   through_rows=sel if whole_box else None)

    def nearest_table(self, k: int = N_NEAREST_CSV) -> pd.DataFrame:
        """Table (id, ra, dec, map x, y, map distance, scores) of the k galaxies nearest the tap."""
        return self._table(self.nearest(k), distances=True)

    def selection_table(self) -> pd.DataFrame:
        """The download: every galaxy of the last box selection, or the galaxies nearest the tap,
        with their catalogue columns."""
        table = self._table(self.in_box(), distances=False) if self.box is not None else self.nearest_table()
        return with_catalogue_columns(table, self.state.catalogue, also=self.state.selection_columns())

    def _table(self, idx: np.ndarray, *, distances: bool) -> pd.DataFrame:
        st = self.state
        table = map_table(st.catalogue, st.resources.projection, idx,
                          point=st.map_point if distances else None,
                          scores=st.scores(), score_name=f"score_{st.method}")
        return with_labels(table, st)

    def _selection_csv(self):
        """The download's bytes."""
        return csv_buffer(self.selection_table())

    def _found_line(self) -> pn.Row:
        """Above the map, what a tap or a box found and a button to its thumbnails: on a laptop
        they sit below the map, off screen, and the wheel over the map zooms, so a tap seemed
        to do nothing but draw a cross."""
        st = self.state
        scroller = PageScroll(selector=".ae-grid", margin=90)  # the CSV button and title above
        show = pn.widgets.Button(label="Show them ↓", width=120, align="center",
                                 on_click=lambda e: scroller.scroll(),
                                 visible=pn.bind(lambda sel: sel is not None and len(sel) > 0, st.param.selection))
        caption = pn.pane.HTML(pn.bind(lambda t, sel: (
            f"<b>{html.escape(re.sub(r' [(]showing .*[)]$', '', t))}</b>" if sel is not None else
            "<span style='color:#666'>Tap the map for the galaxies nearest a point, or box-select a region.</span>"),
            st.param.selection_title, st.param.selection),
            styles={"font-size": "13px"}, width=300, align="center", margin=(0, 5, 0, 10))
        return pn.Row(caption, show, scroller, height=40)

    def __panel__(self):
        if self._plot is None:
            self._plot = self._build_plot()
        showing_classes = pn.bind(lambda c: c in self._classes, self.param.color_by)
        own_colours = pn.bind(lambda c: c in self._classes or c == LABELS, self.param.color_by)
        # what a tap found on a line of its own, there from the start: beside the selects, its
        # "Show them" button was cut off at the edge of a 900 px window, and a line that appeared
        # with the first tap would push the map down under the pointer
        controls = pn.Column(pn.Row(pn.widgets.Select.from_param(self.param.color_by, width=260),
                                    pn.widgets.Select.from_param(self.param.cmap, width=120,  # classes and labels:
                                                                 disabled=own_colours)),  # their own colours
                             self._found_line(), sizing_mode="stretch_width")
        notice = pn.pane.Markdown(self.param.notice, styles={"color": "#9a6700"}, sizing_mode="stretch_width",
                                  visible=self.param.notice.rx.bool())
        legend = pn.pane.HTML(pn.bind(lambda c, _k: self._legend_html(c), self.param.color_by, self.param.classes),
                              sizing_mode="stretch_width", visible=showing_classes, margin=(0, 10))
        chooser = pn.widgets.MultiChoice.from_param(
            self.param.classes, max_items=MAX_CLASSES, visible=showing_classes, sizing_mode="stretch_width",
            description=f"The classes drawn in their own colours (at most {MAX_CLASSES}); the others "
                        "share 'other'")
        help_ = pn.pane.Markdown(
            f"{self.state.resources.map_axes[2]} Tap anywhere for the nearest galaxies on the map (for those "
            "most alike in the whole embedding, use Similarity search); use the box-select tool for a region; the "
            "hover tool (toolbar) reads a pixel: how many galaxies, their mean value or their classes. "
            "Coloured by a value, the galaxies without one (a question they were not asked) are grey; "
            "with a filter, those it leaves out are faint grey. "
            "Labelled galaxies are the outlined dots (blue = 0 ... red = 5; coloured by labels, the "
            "other galaxies are grey). The similarity search shown in its tab is marked too: its "
            "query as yellow stars, the galaxies it found as pink rings. Click a thumbnail to score it.", styles={"color": "#555"}, sizing_mode="stretch_width")
        # a FlexBox, not a Row: on a laptop screen the gallery wraps under the map instead of
        # being cut off at the right edge; the map keeps its width while the gallery fits beside
        # it, and narrows (its toolbar in view) where the window has less room than the map
        widest = self._pane_width + _PANE_MARGIN_PX
        map_column = pn.Column(controls, notice, chooser, legend, self._plot, help_, sizing_mode="stretch_width",
                               min_width=self.min_width + _CHROME_PX + _PANE_MARGIN_PX, max_width=widest,
                               styles={"flex": f"0 1 {widest}px"})
        return pn.FlexBox(map_column,
                          flex_column(self._download, self._gallery, min_width=360),
                          flex_wrap="wrap", sizing_mode="stretch_width")


_WARM_LOCK = __import__("threading").Lock()
_WARMED = False


def warm_datashader() -> float:
    """Compile datashader's numba kernels (count, mean, spreading) on a tiny map; seconds taken.

    The first aggregation in a process JIT-compiles for several seconds; doing it once at server
    start keeps the first map a user opens quick. Safe to call from a background thread.
    """
    global _WARMED
    import time

    with _WARM_LOCK:
        if _WARMED:
            return 0.0
        t0 = time.perf_counter()
        import datashader as ds
        import holoviews as hv
        from holoviews.operation.datashader import dynspread, rasterize
        rng = np.random.default_rng(0)
        df = pd.DataFrame({"x": rng.random(64, dtype=np.float32), "y": rng.random(64, dtype=np.float32),
                           _VALUE: rng.random(64, dtype=np.float32)})
        # numba specialises on the view's range too: the data's own (float32) and one from the
        # browser (a zoom) or from MapView._data_range (Python floats); unwarmed, the first map
        # of a real catalogue compiled for ~0.5 s
        for agg, vd in ((ds.count(), []), (ds.mean(_VALUE), [_VALUE])):
            for view in ({}, {"x_range": (0.0, 1.0), "y_range": (0.0, 1.0)}):
                el = rasterize(hv.Points(df, ["x", "y"], vd), aggregator=agg, dynamic=False, width=64,
                               height=64, **view)
                dynspread(el, threshold=0.6, max_px=3, how="max", dynamic=False)
        # the spreading kernels, one per width (dynspread picks 1-3 px by the map's density):
        # unwarmed, the first map of a real catalogue compiled one for ~0.2 s
        import datashader.transfer_functions as tf
        import xarray as xr
        img = np.full((16, 16), np.nan)
        img[8, 8] = 1.0
        for px in (1, 2, 3):
            tf.spread(xr.DataArray(img, dims=["y", "x"]), px=px, how="max")
        _WARMED = True
        return time.perf_counter() - t0
