"""The page's address says what a window shows, so a reload, a bookmark or a link sent to a
colleague opens the same view: the galaxy on the card, the tab, the ranking method, the filter, the
latent map's colour and selection, and the similarity search.

``/explorer?galaxy=demo_000123&tab=map&method=lof&answers=smooth-or-featured:featured-or-disk:0.5..1&ranges=mag_r:..16.5;redshift:0.02..0.1&colour=mag_r&point=0.5,-0.25``

- ``galaxy``: the id of the galaxy on the scoring card (opened as by its id);
- ``tab``: ``scoring``, ``map``, ``filter``, ``similarity`` or ``labelled`` (left out: scoring);
- ``method``: the ranking method (left out: the default, combined);
- ``labelled``: ``in-place`` when labelled galaxies keep their place in the list ("Show unlabelled
  first" unticked; left out: unlabelled first, as ``astroexplore rank --labelled-in-place``);
- ``answers``: Galaxy Zoo conditions ``question:answer:low..high``, ``;`` between them, parents
  before children as the Filter tab builds them;
- ``ranges``: catalogue-column ranges ``column:low..high``, either bound left empty for an open
  side (``mag_r:..16.5``);
- ``colour``: what the latent map is coloured by (left out: density), and for a class column
  ``classes``: the classes in colour, comma-separated (left out: the most frequent); ``box``: its box selection
  ``x0,y0,x1,y1``, or ``point``: its last tap ``x,y`` (map coordinates), whose galaxies its
  gallery shows; ``zoom``: the part of the map in view, ``x0,x1,y0,y1`` (left out: the whole map;
  the map's Reset still shows the whole map);
- ``finds``: the Labelled tab's choices, ``min_score[,everyone][,#tag]`` (left out: 4, yours,
  any tag);
- ``search``: the similarity search shown, ``galaxy:ID``, ``position:RA,Dec`` (degrees),
  ``positions:RADIUS;RA,Dec;RA,Dec;...`` (known objects, the match radius in arcsec; lists of up
  to 100 positions, their names left out) or ``tag:#ring``, and ``k`` its number of results
  (left out: 24).

Names are percent-encoded (``quote(name, safe="")``), so a column called ``g:r`` or ``a;b`` still
round-trips. A link part that does not fit this catalogue (an unknown galaxy, a column it lacks, a
condition the tree does not allow) is left out, named with the reason in a warning above the tabs
(and the scoring view's message line); the rest still applies. The address follows the window with ``history.replaceState``: one history
entry for the page, not one per galaxy scored (Back leaves the app, as before).
"""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote, urlencode

import param
from panel.custom import JSComponent

from astroexplore.errors import did_you_mean
from astroexplore.filter_text import (APP_LINK_KEYS, IN_PLACE, decode_answers, decode_labelled, decode_ranges,
                                       encode_answers, encode_ranges, parse_numbers)
from astroexplore.similar import parse_k, parse_search

#: the ``tab`` value of each of the app's tabs, in :attr:`AppState.TABS` order
TAB_NAMES = ("scoring", "map", "filter", "similarity", "labelled")
#: the query keys this module reads and writes (others in the address are kept as they are)
KEYS = APP_LINK_KEYS


def decode_search(query: Mapping[str, str], state) -> tuple[tuple[str, int] | None, list[str]]:
    """``(similarity_query, k)`` of a link's ``search`` and ``k`` (the galaxy's id as the catalogue
    writes it, the position in degrees), or None, and the problems."""
    text = str(query.get("search", "") or "").strip()
    k_text = str(query.get("k", "") or "").strip()
    if not text:
        return None, []
    k, problems = state.param.similarity_k.default, []
    if k_text:
        try:
            k = parse_k(k_text)
        except ValueError as err:
            problems.append(str(err))
    try:
        return (parse_search(text, state.catalogue, state.store), k), problems
    except ValueError as err:
        return None, [*problems, str(err)]


def _map_coordinates(values) -> str:
    """``'0.125,-1.5'``: map coordinates to 6 digits (a screen pixel is far coarser)."""
    return ",".join(format(float(v), ".6g") for v in values)


def decode_classes(text: str, colour: str, state) -> tuple[list[str], list[str]]:
    """The classes a link's ``classes`` asks the map to colour (of class column ``colour``), and
    the problems of those left out."""
    from astroexplore.ui.latent_map import MAX_CLASSES, colour_options

    names = [unquote(n) for n in text.split(",") if n]
    if not names:
        return [], []
    if colour not in colour_options(state.catalogue)[1]:
        return [], [f"classes '{unquote(text)}': the map is not coloured by a class column (colour=)"]
    known = set(state.catalogue.table[colour].dropna().astype(str))
    kept = [n for n in names if n in known][:MAX_CLASSES]
    problems = [f"classes '{n}': {colour} has no such class" for n in names if n not in known]
    if len([n for n in names if n in known]) > MAX_CLASSES:
        problems.append(f"classes: at most {MAX_CLASSES} in colour; the first {MAX_CLASSES} kept")
    return kept, problems


def decode_map(query: Mapping[str, str], state) -> tuple[dict, list[str]]:
    """The ``map_colour``, ``map_classes``, ``map_box``, ``map_point`` and ``map_zoom`` a link asks
    for (state parameter -> value), and the problems."""
    from astroexplore.ui.latent_map import DENSITY, colour_options

    updates, problems = {}, []
    colour = str(query.get("colour", "") or "")
    if colour:
        options = colour_options(state.catalogue)[0]
        if colour in options:
            updates["map_colour"] = "" if colour == DENSITY else colour
        else:
            problems.append(f"colour '{colour}': the map is not coloured by that.{did_you_mean(colour, options)}")
    classes, bad = decode_classes(str(query.get("classes", "") or ""), updates.get("map_colour", ""), state)
    problems += bad
    if classes:
        updates["map_classes"] = classes
    for key, n in (("point", 2), ("box", 4), ("zoom", 4)):
        text = str(query.get(key, "") or "")
        if not text:
            continue
        try:
            values = parse_numbers(text, n, f"{key} '{text}'")
        except ValueError as err:
            problems.append(str(err))
            continue
        if key == "box":  # corners in any order
            x0, y0, x1, y1 = values
            values = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        elif key == "zoom":
            x0, x1, y0, y1 = values
            if x0 == x1 or y0 == y1:
                problems.append(f"zoom '{text}': an empty part of the map")
                continue
            values = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
        updates[f"map_{key}"] = values
    return updates, problems


def state_query(state) -> dict[str, str]:
    """What ``state`` shows, as query values (defaults left out)."""
    query = {"galaxy": "" if state.nothing_listed and not state.off_list else state.current_id}
    tab = min(max(int(state.tab), 0), len(TAB_NAMES) - 1)
    query["tab"] = TAB_NAMES[tab] if tab else ""
    query["method"] = state.method if state.method != state.param.method.default else ""
    query["labelled"] = "" if state.unlabelled_first else IN_PLACE
    query["answers"] = encode_answers(state.filter)
    query["ranges"] = encode_ranges(state.column_ranges)
    query["colour"] = state.map_colour
    if state.map_colour and state.map_classes:
        query["classes"] = ",".join(quote(n, safe="") for n in state.map_classes)
    if state.map_zoom is not None:
        query["zoom"] = _map_coordinates(state.map_zoom)
    if state.map_box is not None:
        query["box"] = _map_coordinates(state.map_box)
    elif state.map_point is not None:
        query["point"] = _map_coordinates(state.map_point)
    query["finds"] = state.finds
    query["search"] = state.similarity_query
    if state.similarity_query and state.similarity_k != state.param.similarity_k.default:
        query["k"] = str(state.similarity_k)
    return {k: v for k, v in query.items() if v}


def query_string(query: Mapping[str, str], others: Mapping[str, str] | None = None) -> str:
    """``a=1&b=2`` of ``others`` (keys of the address this module does not own) and ``query``;
    ``:``, ``;``, ``.`` and ``,`` are left readable (they are legal in a query)."""
    merged = {k: v for k, v in (others or {}).items() if k not in KEYS}
    merged.update(query)
    return urlencode(merged, safe=":;.,")


def apply_query(state, query: Mapping[str, str]) -> list[str]:
    """Show what ``query`` (a link's ``{key: value}``) asks for in ``state``: the method, the
    filter, the map's colour and selection and the similarity search first (the first two sort the
    list), then the galaxy, then the tab.

    Returns
    -------
    list of str
        One line per part left out, naming it and why (an empty list: all applied).
    """
    problems = []
    method = str(query.get("method", "") or "")
    updates = {}
    if method:
        if method in state.param.method.objects:
            updates["method"] = method
        else:
            problems.append(f"method '{method}' is not one of {', '.join(state.param.method.objects)}")
    try:
        unlabelled_first = decode_labelled(str(query.get("labelled", "") or ""))
        if unlabelled_first is not None:
            updates["unlabelled_first"] = unlabelled_first
    except ValueError as err:
        problems.append(str(err))
    flt, bad = decode_answers(str(query.get("answers", "") or ""), getattr(state.catalogue, "schema", None))
    problems += bad
    ranges, bad = decode_ranges(str(query.get("ranges", "") or ""), state.catalogue)
    problems += bad
    on_map, bad = decode_map(query, state)
    problems += bad
    if "map_point" in on_map:  # before the box: a tap replaces a box on the map (a box then wins)
        state.map_point = on_map.pop("map_point")
    updates.update(on_map)
    finds = str(query.get("finds", "") or "")
    if finds:
        from astroexplore.ui.labelled import parse_finds

        try:
            parse_finds(finds)
            updates["finds"] = finds
        except ValueError as err:
            problems.append(f"finds '{finds}': {err}")
    search, bad = decode_search(query, state)
    problems += bad
    if search:
        updates.update(similarity_query=search[0], similarity_k=search[1])
    if flt is not None:
        updates["filter"] = flt
    if ranges:
        updates["column_ranges"] = ranges
    if updates:
        state.param.update(**updates)
    galaxy = str(query.get("galaxy", "") or "").strip()
    if galaxy:
        row = state.catalogue.row_of_typed_id(galaxy)
        if row is None:
            problems.append(f"galaxy '{galaxy}' is not in this catalogue")
        else:
            state.goto(row, switch_tab=False)
    tab = str(query.get("tab", "") or "")
    if tab:
        if tab in TAB_NAMES:
            state.tab = TAB_NAMES.index(tab)
        else:
            problems.append(f"tab '{tab}' is not one of {', '.join(TAB_NAMES)}")
    if problems:
        state.message = left_out_text(problems)
    return problems


def left_out_text(problems) -> str:
    """One line for the parts of a link left out: ``"Left out of the link: a; b."``."""
    return "Left out of the link: " + "; ".join(p.rstrip(".") for p in problems) + "."


def request_query() -> dict[str, str]:
    """The query of the request that opened this served session, as sent (ids stay strings: no
    number conversion, unlike ``pn.state.location.query_params``); {} outside a server."""
    import panel as pn

    args = pn.state.session_args or {}
    return {k: (v[-1].decode("utf-8", "replace") if isinstance(v[-1], bytes) else str(v[-1]))
            for k, v in args.items() if v}


class AddressBar(JSComponent):
    """Invisible: puts :attr:`query` into the page's address (``history.replaceState``, keeping
    the path and any ``#fragment``)."""

    query = param.String(default="", doc="The address's query, without '?'.")

    _esm = """
    export function render({ model }) {
      const put = () => {
        const q = model.query ? '?' + model.query : '';
        if (window.location.search === q) return;
        try { window.history.replaceState(window.history.state, '', window.location.pathname + q + window.location.hash); } catch (e) {}
      };
      model.on('query', put);
      put();
      const span = document.createElement('span');
      span.style.display = 'none';
      return span;
    }
    """


class CopyLink(JSComponent):
    """A button that copies the page's address (the link to what the window shows) to the
    clipboard, and says so; where the browser refuses (a page served over plain http from another
    machine is not a secure context), it selects the link in a box to copy by hand."""

    label = param.String(default="Copy link to this view")

    _esm = """
    export function render({ model }) {
      const wrap = document.createElement('div');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'ae-copy-link';
      button.textContent = model.label;
      button.title = 'The address holds the galaxy, tab, method, filter, map and search shown: '
                   + 'a reload or this link opens the same view';
      button.style.cssText = 'width:100%;padding:6px 8px;border:1px solid #c8d0d8;border-radius:4px;'
                           + 'background:#f6f8fa;cursor:pointer;font:13px system-ui,sans-serif;';
      const note = document.createElement('div');
      note.setAttribute('role', 'status');
      note.style.cssText = 'font:12px system-ui,sans-serif;color:#555;margin-top:3px;min-height:15px;';
      const manual = (href) => {
        const box = document.createElement('input');
        box.value = href;
        box.setAttribute('aria-label', 'link to this view');
        box.style.cssText = 'width:100%;font:12px monospace;';
        note.replaceChildren(box);
        box.select();
      };
      button.addEventListener('click', () => {
        const href = window.location.href;
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(href).then(
            () => { note.textContent = 'Copied: paste it in a message or a bookmark.'; },
            () => manual(href));
        } else {
          manual(href);
        }
      });
      wrap.append(button, note);
      return wrap;
    }
    """


def follow_address(state, query: Mapping[str, str] | None = None) -> tuple[AddressBar, list[str]]:
    """Open ``state`` on a link's ``query`` (default: the served request's), then keep the page's
    address up to date with what the window shows.

    Returns
    -------
    bar : AddressBar
        Invisible; put it in the page.
    problems : list of str
        The link's parts left out, and why (see :func:`apply_query`).
    """
    query = request_query() if query is None else dict(query)
    problems = apply_query(state, query)
    bar = AddressBar(query=query_string(state_query(state), query))

    def update(*events):
        bar.query = query_string(state_query(state), query)

    state.param.watch(update, ["current", "tab", "method", "unlabelled_first", "filter", "column_ranges",
                               "nothing_listed", "off_list", "similarity_query", "similarity_k", "map_colour",
                               "map_classes", "map_box", "map_point", "map_zoom", "finds"])
    return bar, problems
