"""Panel components over an :class:`astroexplore.explorer.Explorer`.

Everything here imports Panel/HoloViews; the core (``astroexplore.*`` outside ``ui``) never does.

- :mod:`astroexplore.ui.state` -- :class:`AppState`, one ``param.Parameterized`` per browser session.
- :mod:`astroexplore.ui.scoring`, :mod:`~astroexplore.ui.latent_map`, :mod:`~astroexplore.ui.morphology`,
  :mod:`~astroexplore.ui.similarity`, :mod:`~astroexplore.ui.gallery` -- small ``pn.viewable.Viewer`` views.
- :func:`astroexplore.ui.app.build_app` -- the whole app; :func:`astroexplore.ui.serve.serve` -- serve it.

Submodules are imported lazily so ``import astroexplore.ui`` stays cheap.
"""
from __future__ import annotations

__all__ = ["AppState", "build_app", "serve"]


def __getattr__(name):  # PEP 562 lazy attributes
    if name == "AppState":
        from astroexplore.ui.state import AppState
        return AppState
    if name == "build_app":
        from astroexplore.ui.app import build_app
        return build_app
    if name == "serve":
        from astroexplore.ui.serve import serve
        return serve
    raise AttributeError(name)
