"""Views as ipywidgets that are styled without the internet.

:func:`ipywidget` is ``pn.ipywidget`` whose stylesheets come from the Jupyter server itself. Panel
names the stylesheets of its widgets (``button.css``, its theme, ...) by their CDN address; the
inline app (``pn.extension(inline=True)``, :func:`astroexplore.ui.app.load_extensions`) has them
inlined, but an ipywidget's are not, so on a machine without the internet (a cluster's compute
node, a firewalled JupyterHub) its buttons lost their styles. Panel's Jupyter server extension,
installed with Panel, serves the same files under ``<base url>panel_dist/``.
"""
from __future__ import annotations

import os

import panel as pn

#: Set by jupyter_server for the kernels it starts (JupyterLab, Notebook 7, JupyterHub).
JUPYTER_SERVER_ENV = "JPY_SESSION_NAME"


def local_dist_url(environ=None) -> str | None:
    """The address of Panel's bundled files on the Jupyter server this kernel runs under
    (``"/panel_dist/"``, or ``"/user/ada/panel_dist/"`` on a JupyterHub), or None when the kernel
    was not started by a Jupyter server (VS Code, a script), where the CDN stays in use.

    >>> local_dist_url({"JPY_SESSION_NAME": "a.ipynb", "JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"})
    '/user/ada/panel_dist/'
    >>> local_dist_url({}) is None
    True
    """
    environ = os.environ if environ is None else environ
    if JUPYTER_SERVER_ENV not in environ:
        return None
    prefix = environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    return prefix.rstrip("/") + "/panel_dist/"


def ipywidget(viewable, **kwargs):
    """``pn.ipywidget(viewable)`` (an ipywidgets ``DOMWidget``; needs ``jupyter_bokeh``) whose
    stylesheets, also those of parts drawn later, are fetched from the Jupyter server
    (:func:`local_dist_url`) rather than the CDN, so that it is styled offline.

    >>> from astroexplore.ui.notebook import ipywidget     # doctest: +SKIP
    >>> ipywidget(app.view("scoring"))                     # doctest: +SKIP
    """
    from bokeh.document import Document

    doc = Document()
    dist_url = local_dist_url()
    if dist_url:
        # where Panel looks when it names a stylesheet of a model of this document
        doc._template_variables["dist_url"] = dist_url
    widget = pn.ipywidget(viewable, doc=doc, **kwargs)
    if dist_url:
        # Panel draws the models with ``doc`` but does not add them to it: jupyter_bokeh puts them
        # in a Document of its own, the one every later change is drawn in (a pane rebuilt by
        # param.depends named its stylesheets by their CDN address again)
        widget._document._template_variables["dist_url"] = dist_url
    return widget


class ShownAsIpywidget:
    """Mixin for a ``pn.viewable.Viewer``: Jupyter displays it as :func:`ipywidget`.

    Panel's own notebook display sends each change over its comm; in JupyterLab 4.6 (Panel 1.9)
    the view drawn that way showed each change only when the next one came (a score stored from
    code, or a click, was missing until the following one), while the same view as an ipywidget
    (jupyter_bokeh) showed every change as it was made. It also works where Panel's comm needs
    ``pn.extension(comms="vscode")``.
    """

    _shown = None  # the ipywidget this object was last displayed as

    def _repr_mimebundle_(self, include=None, exclude=None):
        shown = self._shown
        if shown is not None and (getattr(shown, "_view_count", 0) or 0) > 0:
            # two outputs of one object share its Bokeh models, which a second document may
            # not own: the next change failed in both ("Models must be owned by only a single
            # document")
            raise RuntimeError(
                f"This {type(self).__name__} is already shown in another output, and Panel cannot "
                "update one object drawn in two outputs. Clear that output, or re-run the cell that "
                "shows it.")
        widget = ipywidget(self)
        self._shown = widget
        return widget._repr_mimebundle_(include=include, exclude=exclude), {}
