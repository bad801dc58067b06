"""Anomaly scoring view (after Astronomaly's): one large galaxy, scores 0-5, keys, retrain.

Keys (when no text box has the focus): ``0``-``5`` store that score, left/right arrows move back and
forward in the list.
"""
from __future__ import annotations

import html
import math
import numbers
import uuid

import numpy as np
import pandas as pd
import panel as pn
import param
from panel.custom import JSComponent

from astroexplore.catalogue import describing_columns
from astroexplore.constants import SCORES, RankingMethod
from astroexplore.ui.state import AppState, image_src, placeholder_uri
from astroexplore.ui.widgets import HintAboveButton, labelled_checkbox
from astroexplore.ui.notebook import ShownAsIpywidget

SCORE_HINTS = {0: "artefact / nothing", 1: "boring", 2: "a little", 3: "interesting",
               4: "very interesting", 5: "must follow up"}


def legacy_survey_url(ra: float, dec: float, layer: str = "ls-dr10", zoom: int = 16) -> str:
    """Legacy Survey sky viewer centred on (ra, dec) degrees.

    >>> legacy_survey_url(150.1, 2.2)
    'https://www.legacysurvey.org/viewer?ra=150.100000&dec=2.200000&layer=ls-dr10&zoom=16'
    """
    return f"https://www.legacysurvey.org/viewer?ra={ra:.6f}&dec={dec:.6f}&layer={layer}&zoom={zoom}"


def simbad_url(ra: float, dec: float, radius_arcsec: float = 10) -> str:
    """SIMBAD cone search around (ra, dec) degrees.

    >>> simbad_url(150.1, -2.2)
    'https://simbad.cds.unistra.fr/simbad/sim-coo?Coord=150.100000+-2.200000&Radius=10&Radius.unit=arcsec'
    """
    return (f"https://simbad.cds.unistra.fr/simbad/sim-coo?Coord={ra:.6f}+{dec:.6f}"
            f"&Radius={radius_arcsec:g}&Radius.unit=arcsec")


def vizier_url(ra: float, dec: float, radius_arcsec: float = 10) -> str:
    """VizieR search of all catalogues around (ra, dec) degrees.

    >>> vizier_url(150.1, 2.2)
    'https://vizier.cds.unistra.fr/viz-bin/VizieR?-c=150.100000%20%2B2.200000&-c.rs=10'
    """
    from urllib.parse import quote
    return f"https://vizier.cds.unistra.fr/viz-bin/VizieR?-c={quote(f'{ra:.6f} {dec:+.6f}')}&-c.rs={radius_arcsec:g}"


class KeyListener(JSComponent):
    """Invisible component forwarding key presses (0-5, arrows) and clicks of the score buttons
    on the page to Python.

    Keys typed into a text box, select or editable cell are ignored; Enter in a text box hands
    the keys back to scoring (the box loses the focus), and a held key scores once (auto-repeat
    is ignored). A score button is any
    element with the CSS classes ``ae-score-<k>`` and ``ae-view-<view>`` (this listener's
    :attr:`view`): its click is sent like the key ``k``. Each press is its own message
    (``model.send_msg``), so a score key followed at once by an arrow is not lost: a synced
    property keeps only its latest value within Panel's 50 ms debounce. A message carries the id
    of the galaxy the browser shows when the key is pressed (the ``data-ae-galaxy`` attribute
    of the image on the page; :attr:`shown` if there is none), which can differ from the
    server's current galaxy while the server is busy (a retrain) or the image is on its way,
    or has just moved on after a score (so a double click scores only the galaxy seen, twice).
    One press is sent once, however many scoring views the page holds (a notebook showing
    the app and the view).
    """

    keys = param.List(default=[str(s) for s in SCORES] + ["ArrowLeft", "ArrowRight"])
    shown = param.String(default="", doc="Id of the galaxy on screen (set by the view).")
    view = param.String(default="", doc="Token in the CSS class ae-view-<view> of this view's score buttons.")

    _esm = """
    export function render({ model }) {
      const onScreen = () => {  // the galaxy whose image is displayed, through Panel's shadow roots
        const roots = [document];
        while (roots.length) {
          const root = roots.pop();
          const img = root.querySelector('[data-ae-galaxy]');
          if (img) return img.getAttribute('data-ae-galaxy');
          for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
        }
        return model.shown;
      };
      // boxes that take typed text: a key there is text, not a score (a checkbox or button
      // keeps the focus after a click, and a score key must still score)
      const TEXT = ['text', 'search', 'number', 'email', 'password', 'url', 'tel', ''];
      const typing = (el) => {
        const tag = el.tagName.toUpperCase();
        return (tag === 'INPUT' && TEXT.includes((el.getAttribute('type') || '').toLowerCase()))
               || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
      };
      const handler = (e) => {
        if (e.ctrlKey || e.metaKey || e.altKey || e._aeSent) return;
        const path = e.composedPath ? e.composedPath() : [e.target];
        for (const el of path) {
          if (el && el.tagName && typing(el)) return;
        }
        if (!model.keys.includes(e.key)) return;
        e.preventDefault();
        if (e.repeat) return;  // a key held down: one score, not one per auto-repeat (25 in 0.8 s)
        e._aeSent = true;
        model.send_msg({key: e.key, shown: onScreen()});
      };
      const onClick = (e) => {  // a score button of this view, found through the shadow roots
        if (e._aeSent) return;
        const path = e.composedPath ? e.composedPath() : [e.target];
        for (const el of path) {
          if (!el || !el.classList || !el.classList.contains('ae-view-' + model.view)) continue;
          for (const c of el.classList) {
            const m = /^ae-score-([0-9])$/.exec(c);
            if (m && model.keys.includes(m[1])) {
              e._aeSent = true;
              model.send_msg({key: m[1], shown: onScreen()});
              return;
            }
          }
        }
      };
      // Enter in a box (a name, a rank, an id, tags) commits it and hands the keys back to
      // scoring: a score key pressed next went into the box ("#merger5", rank "503"). On keyup,
      // after the box's own Enter handling (Bokeh submits the value on keyup).
      const release = (e) => {
        if (e.key !== 'Enter' || e.shiftKey) return;
        const path = e.composedPath ? e.composedPath() : [e.target];
        const box = path.find((el) => el && el.tagName && el.tagName.toUpperCase() === 'INPUT' && typing(el));
        if (box) setTimeout(() => box.blur(), 0);
      };
      document.addEventListener('keydown', handler);
      document.addEventListener('keyup', release);
      document.addEventListener('click', onClick, true);
      model.on('remove', () => {
        document.removeEventListener('keydown', handler);
        document.removeEventListener('keyup', release);
        document.removeEventListener('click', onClick, true);
      });
      const span = document.createElement('span');
      span.style.display = 'none';
      return span;
    }
    """

    def __init__(self, on_key=None, **params):
        super().__init__(**params)
        self._callback = on_key  # called with (key, shown id) for each press; not synced

    def _handle_msg(self, data):
        if self._callback is not None and isinstance(data, dict):
            self._callback(str(data.get("key", "")), str(data.get("shown") or ""))


def _value_text(value) -> str:
    """A catalogue cell for the card, as HTML: a number to 4 significant digits, text escaped and
    cut at 40 characters, a missing value as '–'."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Number):
        return f"{float(value):.4g}" if isinstance(value, (float, np.floating)) else f"{value:,}"
    text = str(value)
    return html.escape(text if len(text) <= 40 else text[:39] + "…")


def _fmt(x, digits=3) -> str:
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return html.escape(str(x))
    if math.isnan(xf):
        return "–"
    return f"{xf:.{digits}f}"


def _spread_html(table, column: str, i: int) -> str:
    """' ±0.08': the predictive spread (``{column}_pred_std``, the standard deviation of the encoder's
    MC-dropout passes) of a predicted fraction, or '' where the catalogue has none."""
    std_column = f"{column}_pred_std"
    if std_column not in table.columns or pd.isna(table[std_column].iat[i]):
        return ""
    return f"<span class='ae-muted'> ±{_fmt(table[std_column].iat[i], 2)}</span>"


def posterior_bars_html(catalogue, i: int, max_questions: int = 12) -> str:
    """HTML horizontal bars of the morphology posteriors of row ``i`` (like the Zoobot demo)."""
    schema = getattr(catalogue, "schema", None)
    table = catalogue.table
    if schema is None:
        return "<p class='ae-muted'>No morphology posteriors in this catalogue.</p>"
    parts = []
    not_asked = 0
    predicted = "fractions_predicted" in table.columns and bool(table["fractions_predicted"].iat[i])
    for q in list(schema.questions)[:max_questions]:
        if not any(a.column in table.columns for a in q.answers):
            continue  # a question the catalogue has no column for: absent, not "not asked"
        rows = []
        values = [float(table[a.column].iat[i]) if a.column in table.columns else math.nan
                  for a in q.answers]
        if all(math.isnan(v) for v in values):
            not_asked += 1  # volunteers never reached this question for this galaxy
            continue
        for a, v in zip(q.answers, values):
            if a.column not in table.columns:
                continue
            w = 0 if math.isnan(v) else max(0.0, min(1.0, v)) * 100
            rows.append(
                f"<div class='ae-bar-row'><span class='ae-bar-label'>{html.escape(a.label or a.name)}</span>"
                f"<span class='ae-bar'><span style='width:{w:.0f}%'></span></span>"
                f"<span class='ae-bar-val'>{_fmt(v, 2)}{_spread_html(table, a.column, i) if predicted else ''}"
                f"</span></div>")
        if rows:
            label = getattr(q, "label", None) or q.name
            parts.append(f"<div class='ae-q'><div class='ae-q-label'>{html.escape(label)}</div>{''.join(rows)}</div>")
    if not_asked and parts:
        parts.append(f"<p class='ae-muted'>{not_asked} follow-up question(s) not asked for this galaxy.</p>")
    if parts and predicted:
        parts.insert(0, "<p class='ae-muted'>Predicted by the encoder where this galaxy had no votes "
                        "(<code>astroexplore embed</code>; ± the spread of its MC-dropout passes).</p>")
    return "".join(parts) or "<p class='ae-muted'>No morphology posteriors for this galaxy.</p>"


STATUS_HEIGHT = 56  # px: three lines of the status above the image (counts, a message of two)
RETRAIN_MESSAGE_WIDTH = 330  # px: beside the Retrain button, within a 1280 px wide window
OF_N_WIDTH = 100  # px: "of 8,700,000" in the navigation row
CARD_COLUMNS = 8  # catalogue columns the card shows (redshift, magnitudes, a class), the first in the table
OTHERS_SHOWN = 3  # other users' scores the card names (then "+N more")
CARD_WIDTH = 420  # px: the column of score buttons and galaxy card beside the image

CARD_CSS = """
.ae-card-box { font: 13px/1.35 system-ui, sans-serif; }
.ae-card-box h3 { margin: 0 0 4px 0; font-size: 16px; }
.ae-card-box table { border-collapse: collapse; margin: 4px 0 8px 0; }
.ae-card-box td { padding: 1px 8px 1px 0; }
.ae-card-box a { margin-right: 10px; }
.ae-muted { color: #666; }
.ae-q { margin: 6px 0; }
.ae-q-label { font-weight: 600; margin-bottom: 2px; }
.ae-bar-row { display: flex; align-items: center; gap: 6px; }
.ae-bar-label { width: 130px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ae-bar { flex: 1; height: 10px; background: #eef1f4; border-radius: 3px; max-width: 180px; }
.ae-bar > span { display: block; height: 100%; background: #3b7dd8; border-radius: 3px; }
.ae-bar-val { min-width: 34px; white-space: nowrap; text-align: right; color: #444; }
"""


def _progress_html(running: bool, fraction: float) -> str:
    """A progress bar (150 px) at ``fraction`` (0-1) while ``running``, else nothing."""
    if not running:
        return ""
    pct = max(0.0, min(1.0, float(fraction))) * 100
    return ("<div role='progressbar' aria-label='retrain progress' aria-valuenow='%d' "
            "style='width:150px;height:10px;background:#e9ecef;border-radius:5px;overflow:hidden'>"
            "<div style='width:%d%%;height:100%%;background:#2e8540'></div></div>" % (round(pct), round(pct)))


class ScoringView(ShownAsIpywidget, pn.viewable.Viewer):
    """Score one galaxy at a time: image, 0-5 buttons and keys, list navigation, retrain."""

    state = param.ClassSelector(class_=AppState)
    zoom = param.Integer(default=100, bounds=(100, 400), step=25, label="Zoom (%)")
    image_size = param.Integer(default=400, doc="Displayed image width in px at 100 %.")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.state
        self._status_pane: pn.pane.HTML | None = None
        self._describing = describing_columns(s.catalogue)  # the card's catalogue columns
        self._advanced_from: tuple[str, int] | None = None  # (id, score) scored by a key, then left
        view = uuid.uuid4().hex[:12]
        self._keys = KeyListener(on_key=self._on_key, shown=s.current_id, view=view)
        s.param.watch(lambda e: setattr(self._keys, "shown", s.current_id), "current")
        # a score button's click reaches Python through the KeyListener, with the id of the galaxy
        # on screen (not through on_click: after a score the server shows the next galaxy, and a
        # second click before its image arrived would score a galaxy the user has not seen)
        self._buttons = [
            HintAboveButton(  # the hint at the right covered the next button after a click
                label=str(k), width=56, height=40, description=SCORE_HINTS[k],
                css_classes=[f"ae-score-{k}", f"ae-view-{view}"],
                # outlined, filled when it is the galaxy's score: visible on a notebook's white too
                color="primary",
                variant=pn.bind(lambda cur, k=k: "solid" if cur == k else "outline", s.param.current_score),
            ) for k in SCORES]
        self._back = pn.widgets.Button(label="◀ Back", width=90, on_click=lambda e: s.previous())
        self._forward = pn.widgets.Button(label="Forward ▶", width=90, on_click=lambda e: s.next())
        self._top = pn.widgets.Button(label="▲ Top", width=70, align="end",
                                      description="Top of the list: its first galaxy not scored yet "
                                                  "when unlabelled ones come first",
                                      on_click=lambda e: s.show_top())
        # the box counts from 1 ("1 of 1,000"), the state from 0 like the order array it indexes;
        # it is blank while the galaxy shown is not in the list
        self._position = pn.widgets.IntInput(label="Rank in list", value=self._rank(), width=110)
        # the state's value, not the event's: an out-of-range rank is clamped by a nested update, after
        # which this watcher still receives the stale event of the unclamped one
        s.param.watch(lambda *e: setattr(self._position, "value", self._rank()),
                      ["position", "off_list", "nothing_listed"])
        self._position.param.watch(self._on_rank, "value")
        self._search = pn.widgets.TextInput(placeholder="galaxy id, or RA Dec", width=160, label="Search by id or RA, Dec")
        self._go = pn.widgets.Button(label="Go", width=50, align="end")
        self._go.on_click(lambda e: s.goto_id(self._search.value))
        # Enter, also on the same id again (a value watcher fires only when the text changes)
        self._search.param.watch(lambda e: s.goto_id(self._search.value) if self._search.value.strip()
                                 else None, "enter_pressed")
        self._to_ranking = pn.widgets.Button(label="Back to the ranking", width=160, align="center",
                                             on_click=lambda e: s.back_to_ranking())
        self._undo = pn.widgets.Button(label="Undo last label", color="warning", width=140,
                                       on_click=lambda e: s.undo())
        # not disabled while retraining (a click then is a no-op: start_retrain returns the running
        # one): a learn-on-open retrain toggled it while the page was still being drawn, and
        # Bokeh's ControlView set the attribute on a button not rendered yet ("Cannot read
        # properties of undefined (reading 'removeAttribute')" in toggle_attribute, 3 CI runs)
        self._retrain = pn.widgets.Button(label="Retrain", color="success", width=120,
                                          on_click=lambda e: s.start_retrain())

    # actions ------------------------------------------------------------------------------------
    def _label(self, k: int, galaxy: int | None = None):
        s = self.state
        before = s.n_written
        try:
            s.label(k, galaxy)
        except Exception as err:  # show, never crash the session
            # a failure after the commit (redrawing a view) must not say the label was lost
            s.message = (f"Stored, but the view could not be updated: {err}" if s.n_written > before
                         else f"Could not store the label: {err}")

    def _rank(self) -> int | None:
        s = self.state
        return None if s.off_list or s.nothing_listed else s.position + 1

    def _on_rank(self, event):
        s = self.state
        if event.new is not None:  # the state clamps to the list
            n = 0 if s.order is None else len(s.order)
            if n and not 1 <= int(event.new) <= n:
                s.message = (f"The list has {n:,} galaxies: showing rank {1 if int(event.new) < 1 else n:,} "
                             f"instead of {int(event.new):,}.")
            s.show_rank(int(event.new) - 1)
        self._position.value = self._rank()  # a cleared box shows the rank again

    def _on_key(self, key: str, shown: str):
        """A key pressed in the browser while galaxy ``shown`` was on screen."""
        s = self.state
        if s.tab != 0 or not key:
            return
        if key == "ArrowLeft":
            s.previous()
        elif key == "ArrowRight":
            s.next()
        elif key.isdigit() and int(key) in SCORES:
            score = int(key)
            if shown and shown != s.current_id:  # the server moved on before the screen did
                if self._advanced_from is not None and self._advanced_from[0] == shown \
                        and self._advanced_from[1] != score:
                    # A scored, the server on B, the screen still on A: another score was meant
                    # for B, which the user has not seen; A's score stays
                    s.message = (f"Not stored: {shown} was scored {self._advanced_from[1]} a moment "
                                 f"ago and the next galaxy was not on screen yet. Score it now that it "
                                 f"shows (◀ Back to change {shown}).")
                    return
                try:
                    row = int(s.catalogue.index_of(shown))
                except KeyError:
                    s.message = f"Not stored: the galaxy on screen ({shown}) is not in this catalogue."
                    return
                self._label(score, row)
            else:
                before = s.current_id
                self._label(score)
                self._advanced_from = (before, score) if s.current_id != before else None

    # renderers ----------------------------------------------------------------------------------
    @param.depends("state.current", "state.nothing_listed", "zoom")
    def _image(self):
        s = self.state
        if s.nothing_listed:
            return pn.pane.HTML(
                f"<div style='width:{self.image_size}px;height:{self.image_size}px;display:flex;"
                "align-items:center;justify-content:center;background:#eee;border-radius:6px;"
                "color:#555;text-align:center'>No galaxy matches the filter (Filter tab).<br>"
                "Loosen or clear it to go on scoring.</div>",
                width=self.image_size + 10, height=self.image_size + 10, margin=(5, 5))
        uri = image_src(s.catalogue, s.current)
        fallback = placeholder_uri()
        w = int(self.image_size * self.zoom / 100)
        shift = (w - self.image_size) // 2  # zoom about the centre, where the galaxy is
        gid = html.escape(s.current_id)
        return pn.pane.HTML(
            f"<div style='width:{self.image_size}px;height:{self.image_size}px;overflow:hidden;"
            f"background:#000;border-radius:6px'>"
            f"<img src='{html.escape(uri, quote=True)}' alt='galaxy {gid}' data-ae-galaxy='{gid}' "
            f"onerror=\"this.onerror=null;this.src='{fallback}'\" "
            f"style='width:{w}px;height:{w}px;display:block;image-rendering:auto;"
            f"margin:-{shift}px 0 0 -{shift}px'></div>", width=self.image_size + 10,
            height=self.image_size + 10, margin=(5, 5))

    def _of_n(self) -> pn.pane.HTML:
        """ "of 1,000" after the rank box; a fixed width, so that Forward stays in place when the
        list changes length (a gallery of 48, a filter, the full list)."""
        return pn.pane.HTML(
            pn.bind(lambda order: f"of <b>{0 if order is None else len(order):,}</b>", self.state.param.order),
            align="center", margin=(18, 5, 0, 5), width=OF_N_WIDTH)

    @param.depends("state.current", "state.labels_version", "state.model_version", "state.method",
                   "state.scores_version")  # a method's scores computed in the background
    def _card(self):
        s = self.state
        cat, i = s.catalogue, s.current
        gid = s.current_id
        rows = []
        ra = cat.ra[i] if cat.has_coordinates else None
        dec = cat.dec[i] if cat.has_coordinates else None
        links = ""
        if ra is not None and not (math.isnan(ra) or math.isnan(dec)):
            rows.append(("RA, Dec (deg)", f"{ra:.5f}, {dec:+.5f}"))
            links = (f"<a href='{legacy_survey_url(ra, dec)}' target='_blank' rel='noopener'>Legacy Survey</a>"
                     f"<a href='{simbad_url(ra, dec)}' target='_blank' rel='noopener'>SIMBAD</a>"
                     f"<a href='{vizier_url(ra, dec)}' target='_blank' rel='noopener'>VizieR</a>")
        sc = s.scores(s.method)
        if sc is not None:  # its place among all galaxies: each method has its own scale
            rank = int(np.count_nonzero(sc > sc[i])) + 1
            # of all galaxies, not the list's rank (filtered, unlabelled first) in the box above
            rows.append((f"score ({s.method})", f"{_fmt(sc[i])} <span class='ae-muted'>(#{rank:,} of all "
                                                f"{len(sc):,} by this score)</span>"))
        if s.method != RankingMethod.ISOLATION_FOREST.value:
            try:
                an = s.explorer.anomaly_scores()
                rows.append((f"anomaly ({an.method}, 0-5)", _fmt(an.scaled[i], 2)))
            except Exception:
                pass
        pred = getattr(s.explorer, "predicted_interest", None)
        if pred is not None:
            mean, std = pred
            rows.append(("predicted interest", f"{_fmt(mean[i], 2)} ± {_fmt(std[i], 2)}"))
        mine = s.my_score(gid)
        rows.append(("your score", "–" if mine is None else str(mine)))
        others = [e for e in s.store.labels_of(gid) if e.user != s.user_name]
        if others:  # a colleague's or a script's label: no need to score it again unseen
            shown = ", ".join(f"{e.score} ({html.escape(e.user)})" for e in others[:OTHERS_SHOWN])
            more = f" +{len(others) - OTHERS_SHOWN} more" if len(others) > OTHERS_SHOWN else ""
            rows.append(("others' scores", shown + more))
        rows += [(c, _value_text(cat.table[c].iat[i])) for c in self._describing[:CARD_COLUMNS]]
        if len(self._describing) > CARD_COLUMNS:
            rows.append(("", f"<span class='ae-muted'>+{len(self._describing) - CARD_COLUMNS} more columns "
                             "(in the CSV downloads: map, search)</span>"))
        table = "".join(f"<tr><td class='ae-muted'>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in rows)
        body = (f"<div class='ae-card-box'><h3>{html.escape(gid)}</h3><table>{table}</table>"
                f"<div>{links}</div><h4 style='margin:10px 0 2px 0'>Morphology (vote fractions)</h4>"
                f"{posterior_bars_html(cat, i)}</div>")
        return pn.pane.HTML(body, stylesheets=[CARD_CSS], width=CARD_WIDTH)

    @staticmethod
    def _status_html(n_labelled: int, n_user: int, message: str) -> str:
        # HTML, not Markdown: an id such as *star* or a_b_c stays as written
        return (f"Labelled so far: <b>{n_labelled:,}</b> galaxies (you: {n_user:,})"
                + (f"<br>{html.escape(message)}" if message else ""))

    def _status(self) -> pn.pane.HTML:
        """The label counts and the last message, above the image, where a search or Undo is done
        (below the buttons it was off screen). One pane bound to the state (a function view wrapped
        it in a Column Bokeh warned about, W-1005); a fixed height of three lines, so that a longer
        message ("did you mean", a stored tag list) is read whole and does not move the image."""
        if self._status_pane is None:
            s = self.state
            self._status_pane = pn.pane.HTML(
                pn.bind(self._status_html, s.param.n_labelled, s.param.n_labelled_user, s.param.message),
                width=self.image_size + 20, height=STATUS_HEIGHT, margin=(2, 5),
                styles={"overflow-y": "auto", "font-size": "13px", "line-height": "1.3"})
        return self._status_pane

    def _gallery_banner(self) -> pn.Row:
        """While a gallery is gone through (``state.list_title``): what it is, and the way back."""
        s = self.state
        text = pn.pane.HTML(pn.bind(lambda t: f"Going through <b>{html.escape(t)}</b>", s.param.list_title),
                            width=self.image_size - 160, margin=(5, 5),
                            styles={"font-size": "13px", "color": "#0b3d62"})
        return pn.Row(text, self._to_ranking, visible=pn.bind(bool, s.param.list_title),
                      styles={"background": "#eef5fb", "border-radius": "6px"},
                      width=self.image_size + 20)

    def _retrain_status(self) -> pn.Row:
        """Progress bar and message of the retrain: fixed widgets bound to the state (re-rendering
        the row on every progress step replaced its models while the page was still loading)."""
        s = self.state
        # one HTML pane drawing the bar, not a Progress widget shown and hidden: updates of a
        # Progress hidden (or not drawn yet) while a page loads raised "Cannot set properties of
        # undefined (setting 'value')" in the browser when a learn-on-open retrain ran
        bar = pn.pane.HTML(pn.bind(_progress_html, s.param.retraining, s.param.retrain_progress),
                           width=160, height=14, align="center", margin=(4, 5))
        # a fixed width: a long message wraps instead of widening the row (and the page under it)
        # and a fixed height (three lines): a message that wraps must not push the Retrain button down
        message = pn.pane.Markdown(pn.bind(html.escape, s.param.retrain_message), margin=(0, 5),
                                   width=RETRAIN_MESSAGE_WIDTH, height=60)
        # the bar above the message, not beside it: side by side they ran off a laptop's screen
        return pn.Column(bar, message, align="center")

    def __panel__(self):
        s = self.state
        controls = pn.FlexBox(  # wraps: in a narrow window the retrain message goes under the rest
            pn.widgets.Select.from_param(s.param.method, width=200),
            pn.Column(labelled_checkbox(s, "unlabelled_first", margin=(2, 10), css_classes=["ae-unlabelled-first"]),
                      labelled_checkbox(s, "advance", margin=(2, 10), css_classes=["ae-advance"]),
                      align="end"),
            pn.Column(self._retrain, align="end"),
            self._retrain_status(),
            flex_wrap="wrap", sizing_mode="stretch_width",
        )
        nav = pn.Column(self._gallery_banner(),
                        pn.Row(self._back, self._position, self._of_n(), self._forward),
                        pn.Row(self._search, self._go, self._top),  # two rows: fits beside the card on a laptop
                        self._status())
        # the scores head the column beside the image: under the image they were below the fold
        # of a 1280x800 laptop screen (the card, below them, can scroll)
        scores = pn.Column(
            pn.pane.Markdown("### How interesting is this object?", margin=(0, 5)),
            pn.Row(*self._buttons),
            pn.Row(pn.widgets.TextInput.from_param(
                s.param.tags, placeholder="#ring #merger", width=195,
                description="Tags for the next score: '#ring #merger' or 'ring, merger' for two tags; "
                            "join words with a hyphen for one tag, #polar-ring"),
                   pn.widgets.TextInput.from_param(s.param.note, placeholder="optional note", width=195)),
            pn.Row(self._undo, pn.pane.Markdown("Keys: **0-5** score, **← →** previous / next.",
                                                styles={"color": "#666"}, margin=(8, 10), width=250)),
        )
        # the image's own size on its wrapper too (Bokeh warned W-1005 of a fixed size without one)
        image = pn.panel(self._image, width=self.image_size + 20, height=self.image_size + 20)
        left = pn.Column(nav, image, pn.widgets.IntSlider.from_param(self.param.zoom, width=300), self._keys)
        # a FlexBox, not a Row: in a narrow window (1024 px, a laptop at 125% zoom) the scores and
        # the card go under the image instead of being cut off at the right edge, out of reach
        return pn.Column(controls, pn.FlexBox(left, pn.Column(scores, self._card), flex_wrap="wrap",
                                              sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
