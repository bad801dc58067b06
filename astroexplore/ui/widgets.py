"""Small widgets the views share, where Panel's own fall short."""
from __future__ import annotations

import panel as pn
import param
from panel.custom import JSComponent


def labelled_checkbox(obj: param.Parameterized, name: str, **kwargs) -> pn.widgets.CheckBoxGroup:
    """A checkbox for the boolean parameter ``name`` of ``obj`` that its text toggles too.

    Panel's ``Checkbox`` toggles only on the little box, not on its text (holoviz/panel#7106);
    a one-option ``CheckBoxGroup`` renders a real ``<label>``. The two stay in step both ways.

    Parameters
    ----------
    obj : param.Parameterized
    name : str
        A ``param.Boolean`` of ``obj``; its ``label`` is the text shown.
    **kwargs
        Passed to ``CheckBoxGroup`` (margin, css_classes, ...).
    """
    text = obj.param[name].label
    box = pn.widgets.CheckBoxGroup(options=[text], value=[text] if getattr(obj, name) else [], **kwargs)
    box.param.watch(lambda e: setattr(obj, name, text in e.new), "value")
    obj.param.watch(lambda e: setattr(box, "value", [text] if e.new else []), name)
    return box


class HintAboveButton(pn.widgets.Button):
    """A button whose text ``description`` shows above it, not at its right (Panel's default),
    where a row of buttons' hint covered the next button. A new Bokeh tooltip for each rendering:
    one model shared by two (a notebook's second output) is refused by Bokeh."""

    def _process_param_change(self, params):
        from bokeh.models import Tooltip

        if isinstance(params.get("description"), str):
            params["description"] = Tooltip(content=params["description"], position="top")
        return super()._process_param_change(params)


def csv_buffer(frame) -> "io.BytesIO":
    """A table as CSV bytes for a ``FileDownload`` callback. pyarrow's writer: a box over half of
    1M galaxies took 6.9 s through pandas, in the event loop every window shares (~8x faster)."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    buf = io.BytesIO()
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buf,
                     pa_csv.WriteOptions(quoting_style="needed"))
    buf.seek(0)
    return buf


def flex_column(*objects, min_width: int, **kwargs) -> pn.Column:
    """A ``pn.Column`` for a wrapping ``pn.FlexBox`` (``flex_wrap="wrap"``): it grows from
    ``min_width`` pixels to share the row's width, and goes to the next line when the row has less
    room than that, instead of running off the right edge.

    >>> flex_column(pn.pane.Markdown("x"), min_width=360).styles
    {'flex': '1 1 360px'}
    """
    return pn.Column(*objects, sizing_mode="stretch_width", min_width=min_width,
                     styles={"flex": f"1 1 {min_width}px"}, **kwargs)


class RememberedName(JSComponent):
    """Invisible: remembers the label author's name in the browser, so that a new window, or the
    page of a server restarted on another port (``--port 0``), stores labels under the name typed
    last instead of "anonymous".

    The name goes to a cookie (cookies are per host, whatever the port: the name survives a
    restart on a new port) and to ``localStorage`` (per origin, kept where cookies are blocked);
    the cookie, written by whichever window changed the name last, wins. :attr:`value` is
    written whenever it changes; on first render a stored name that differs is sent back to
    ``on_stored(name)``, which decides whether to use it.
    """

    value = param.String(default="", doc="The name to remember (synced to the browser).")
    key = param.String(default="astroexplore.user", doc="localStorage key (the cookie's name "
                       "is the key with characters other than letters, digits, - and _ as _).")

    _esm = """
    export function render({ model }) {
      const cookie = model.key.replace(/[^A-Za-z0-9_-]/g, '_');
      const fromCookie = () => {
        const item = document.cookie.split('; ').find((c) => c.startsWith(cookie + '='));
        return item ? decodeURIComponent(item.slice(cookie.length + 1)) : null;
      };
      let stored = null;
      try { stored = fromCookie(); } catch (e) {}  // cookies blocked
      if (!stored) { try { stored = window.localStorage.getItem(model.key); } catch (e) {} }
      if (stored && stored !== model.value) model.send_msg({stored});
      model.on('value', () => {
        if (!model.value) return;
        try { window.localStorage.setItem(model.key, model.value); } catch (e) {}
        try {
          document.cookie = cookie + '=' + encodeURIComponent(model.value) +
                            '; path=/; max-age=31536000; SameSite=Lax';
        } catch (e) {}
      });
      const span = document.createElement('span');
      span.style.display = 'none';
      return span;
    }
    """

    def __init__(self, on_stored=None, **params):
        super().__init__(**params)
        self._on_stored = on_stored

    def _handle_msg(self, data):
        if self._on_stored is not None and isinstance(data, dict) and data.get("stored"):
            self._on_stored(str(data["stored"]))


class ConnectionNotice(JSComponent):
    """Invisible until the page loses its server: then a red bar across the top of the page says
    that nothing done now is stored (a stopped or restarted server, a dropped network), until
    the connection comes back.

    Without it a tab whose server had gone looked as alive as ever, and scores typed into it
    were lost without a word. Panel's own ``disconnect_notification`` needs its notification
    area, which loads its script and icon font from a CDN (this page fetches nothing off its
    own server); this listens to the same Bokeh document events (``connection_lost``,
    ``client_reconnected``).
    """

    message = param.String(default=(
        "Lost the connection to the astroexplore server: scores given now are NOT stored. "
        "Reload the page once the server runs again."))

    _esm = """
    export function render({ model, view }) {
      const bar = document.createElement('div');
      bar.className = 'ae-connection-lost';
      bar.setAttribute('role', 'alert');
      bar.style.cssText = 'display:none;position:fixed;top:0;left:0;right:0;z-index:10000;' +
        'padding:10px 16px;background:#b00020;color:#fff;font:600 15px system-ui,sans-serif;' +
        'text-align:center;box-shadow:0 2px 6px #0006';
      document.body.appendChild(bar);
      const doc = view.model.document;
      if (doc != null) {
        doc.on_event('connection_lost', () => { bar.textContent = model.message; bar.style.display = 'block'; });
        doc.on_event('client_reconnected', () => { bar.style.display = 'none'; });
      }
      model.on('remove', () => bar.remove());
      const span = document.createElement('span');
      span.style.display = 'none';
      return span;
    }
    """


class PageScroll(JSComponent):
    """Invisible: scrolls the page each time :attr:`moves` changes: to the first element matching
    :attr:`selector` (found through Panel's shadow roots), or with no selector to the top of the
    template's main area (``#main``). A gallery card clicked far down the map tab opened the
    Scoring tab at that depth (its image and score buttons off the top); the map's thumbnails
    appear below the fold of a laptop's window."""

    moves = param.Integer(default=0, doc="Bump to scroll.")
    selector = param.String(default="", doc="CSS selector of the element to bring into view.")
    margin = param.Integer(default=0, doc="px left above that element (for its title).")

    _esm = """
    export function render({ model }) {
      const find = (selector) => {
        const roots = [document];
        while (roots.length) {
          const root = roots.pop();
          const el = root.querySelector(selector);
          if (el) return el;
          for (const e of root.querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
        }
        return null;
      };
      model.on('moves', () => {
        const el = model.selector ? find(model.selector) : null;
        const main = document.querySelector('#main');
        if (el && main) {  // the element near the top of the main area (its title above it shows)
          main.scrollTop += el.getBoundingClientRect().top - main.getBoundingClientRect().top - model.margin;
        } else if (el) {
          el.scrollIntoView({block: 'start'});
        } else {
          if (main) main.scrollTop = 0;
          window.scrollTo(0, 0);
        }
      });
      const span = document.createElement('span');
      span.style.display = 'none';
      return span;
    }
    """

    def scroll(self) -> None:
        self.moves += 1


class FoldSidebar(JSComponent):
    """Invisible: closes the page template's sidebar when the window opens narrower than
    :attr:`below` px (its menu button opens it again). At 800 px the open sidebar left the tabs
    480 px, and the Filter tab's boxes and sliders ran off the right edge."""

    below = param.Integer(default=1000, doc="Window width (px) under which the sidebar starts closed.")

    _esm = """
    export function render({ model }) {
      if (window.innerWidth < model.below && typeof window.closeNav === 'function') window.closeNav();
      const span = document.createElement('span');
      span.style.display = 'none';
      return span;
    }
    """
