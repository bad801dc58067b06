"""Serve the app: ``astroexplore serve PATH`` / ``astroexplore demo`` / ``panel serve apps/explorer.py``.

The catalogue, the label store and the shared read-only resources (projection, KD-tree,
similarity index) are loaded once per process; each browser session gets its own
:class:`~astroexplore.explorer.Explorer` view state and its own app (built in a function per
session), writing to the shared label store under the user's name. The Explorers of one catalogue
share its read-only arrays (anomaly scores, prior, isolation paths:
:func:`astroexplore.explorer.shared_arrays`), so a session adds ~20 MB for 1M galaxies, not ~230
(``benchmarks/results/memory.md``).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

_LOADED: dict[tuple, tuple] = {}
_LOADED_LOCK = threading.Lock()


def load_shared(path, labels=None, load_options: dict | None = None):
    """``(catalogue, store)`` for ``path``, loaded once per process and label-store path.

    Parameters
    ----------
    path : str or Path
        The catalogue (anything :func:`astroexplore.catalogue.load_catalogue` reads).
    labels : str or Path, optional
        SQLite label store; default :func:`astroexplore.labels.default_store_path` (beside the
        catalogue).
    load_options : dict, optional
        Keywords of :func:`~astroexplore.catalogue.load_catalogue` (``ids``, ``id_column``,
        ``embedding_prefix``, ``posteriors``).
    """
    import json

    from astroexplore.catalogue import load_catalogue
    from astroexplore.labels import LabelStore, default_store_path

    path = Path(path)
    labels = Path(labels) if labels else default_store_path(path)
    options = {k: v for k, v in (load_options or {}).items() if v is not None}
    key = (str(path.resolve()), str(labels.resolve()), json.dumps(options, sort_keys=True, default=str))
    with _LOADED_LOCK:
        if key not in _LOADED:
            cat = load_catalogue(path, **options)
            store = LabelStore(labels, valid_ids=cat.ids)
            _LOADED[key] = (cat, store)
        return _LOADED[key]


def make_explorer(catalogue, store, user: str | None = None):
    """A fresh :class:`~astroexplore.explorer.Explorer` for one session."""
    from astroexplore.explorer import Explorer
    return Explorer(catalogue, store, user=user or "anonymous")


def warm_up(catalogue, store, *, everything: bool = True) -> dict:
    """Build what every session shares; returns timings (s).

    ``everything=False`` builds only what the first page needs (the map projection, the anomaly
    scores); the rest (KD-tree, similarity index, datashader kernels) then comes from
    :func:`warm_in_background` once the first page is up.
    """
    from astroexplore.ui.state import resources_for
    t = {}
    res = resources_for(catalogue)
    t0 = time.perf_counter()
    res.projection
    t["projection"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        make_explorer(catalogue, store).anomaly_scores()
    except Exception as err:  # the app still works with the other methods
        log.warning("anomaly scores failed: %s", err)
    t["anomaly_scores"] = time.perf_counter() - t0
    if everything:
        t0 = time.perf_counter()
        res.map_index.build()
        t["kdtree"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        res.index
        t["similarity_index"] = time.perf_counter() - t0
    return t


_BACKGROUND: dict[int, threading.Thread] = {}


def warm_in_background(catalogue=None, explorer=None) -> threading.Thread:
    """In a daemon thread: the KD-tree and similarity index of ``catalogue`` (if given), the leaf
    ids of ``explorer``'s isolation-kernel forest (built with its own ``kernel_trees`` and ``seed``
    and cached beside the catalogue, so the first Retrain does not wait for them: ~20 s for 1M
    galaxies), then the datashader kernels. Started once per catalogue; later calls return the
    same thread."""
    key = id(catalogue)
    th = _BACKGROUND.get(key)
    if th is not None:
        return th

    def work():
        from astroexplore.ui.latent_map import warm_datashader
        from astroexplore.ui.state import resources_for
        try:
            if catalogue is not None:
                res = resources_for(catalogue)
                res.map_index.build()
                res.index
            if explorer is not None:
                explorer.isolation_paths()
            warm_datashader()
        except Exception as err:  # only a warm-up: the views build these on demand anyway
            log.warning("background warm-up failed: %s", err)

    th = _BACKGROUND[key] = threading.Thread(target=work, name="astroexplore-warm", daemon=True)
    th.start()
    return th


def warm_map_in_background() -> threading.Thread:
    """Compile the datashader kernels in a daemon thread (the first map then opens quickly)."""
    return warm_in_background(None)


def session_app(catalogue, store, *, user: str | None = None, template: bool = True):
    """Build a fresh app (its own Explorer and AppState) for the current browser session."""
    import panel as pn

    from astroexplore.ui.app import build_app
    name = user
    if pn.state.user and pn.state.user_info:  # authenticated (panel serve --oauth/--basic-auth)
        name = pn.state.user
    explorer = make_explorer(catalogue, store, user=name)
    app = build_app(explorer, template=template, user=name)
    # compile the map's datashader kernels once the first page is up (not before: on 2 cores the
    # compile would slow the first page down); later calls return at once.
    pn.state.onload(lambda: warm_in_background(catalogue, explorer))
    return app


def app_factory(path, *, labels=None, user: str | None = None, warm: bool = True,
                load_options: dict | None = None):
    """A zero-argument function building one app per session (for ``pn.serve``)."""
    cat, store = load_shared(path, labels, load_options)
    if warm:
        warm_up(cat, store, everything=False)

    def make():
        return session_app(cat, store, user=user)

    return make


def _claim_port(address: str, port: int) -> int:
    """The port to serve on: ``port`` when it can be bound on ``address`` (OSError saying so,
    before minutes of loading, when it is taken), or a free one for 0 (so that the printed URL
    and the allowed websocket origins name it)."""
    import errno
    import socket
    import sys

    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        if sys.platform != "win32":  # as Tornado binds: a port left in TIME_WAIT by a server just
            # stopped is free again at once (a live listener still refuses the bind)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OverflowError:  # the command line refuses it already; a script's port
            raise ValueError(f"port {port}: a port is from 0 to 65535 (0 picks a free one)") from None
        except socket.gaierror as err:
            raise OSError(f"cannot serve on {address}: the address cannot be resolved ({err.strerror}); "
                          "pass another --address (localhost, 0.0.0.0 for every network, or one of "
                          "this machine's names or IP addresses)") from None
        except OSError as err:
            if err.errno == errno.EADDRNOTAVAIL:
                raise OSError(f"cannot serve on {address}: the address cannot be bound ({err.strerror}: "
                              "not one of this machine's); pass another --address (localhost, 0.0.0.0 "
                              "for every network)") from None
            raise OSError(f"cannot serve on {address}:{port} ({err.strerror}); pass another --port "
                          "(0 picks a free one)") from None
        return int(sock.getsockname()[1])


def _websocket_origins(address: str, port: int) -> list[str]:
    if address in ("0.0.0.0", "::", ""):
        return ["*"]
    return [f"{h}:{port}" for h in {address, "localhost", "127.0.0.1"}]


def serve(path, *, port: int = 5006, address: str = "localhost", show: bool = False,
          labels=None, user: str | None = None, threaded: bool = False, load_options: dict | None = None,
          **kwargs):
    """Serve the app on ``path`` (blocking unless ``threaded``).

    Parameters
    ----------
    path : str or Path
        Catalogue file.
    port : int, default 5006
        0 picks a free port.
    address : str, default "localhost"
        Interface to bind; localhost keeps the app private to this machine. Use "0.0.0.0" to
        share on a network.
    show : bool, default False
        Open a browser tab.
    labels : str or Path, optional
        Label store (default: ``<catalogue stem>.labels.sqlite`` beside the catalogue).
    user : str, optional
        Default label author for every session (each session can still change it), unless the
        server authenticates users.
    threaded : bool, default False
        Run the server in a background thread and return it (tests, notebooks).
    load_options : dict, optional
        How to read the catalogue (:func:`load_shared`).
    **kwargs
        Passed to ``pn.serve``.
    """
    import panel as pn

    port = _claim_port(address, port)
    factory = app_factory(path, labels=labels, user=user, load_options=load_options)
    print(f"astroexplore: serving {path} at http://{address}:{port}/", flush=True)
    return pn.serve(factory, port=port, address=address, show=show, threaded=threaded,
                    websocket_origin=_websocket_origins(address, port), title="astroexplore",
                    **kwargs)
