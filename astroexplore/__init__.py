"""astroexplore: find the few interesting galaxies among millions.

The public API is imported lazily so that ``import astroexplore`` stays fast and light.

>>> import astroexplore
>>> callable(astroexplore.load_catalogue)
True
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Catalogue": "astroexplore.catalogue",
    "load_catalogue": "astroexplore.catalogue",
    "save_catalogue": "astroexplore.catalogue",
    "reduce_catalogue": "astroexplore.reduce",
    "LabelStore": "astroexplore.labels",
    "LabelEvent": "astroexplore.labels",
    "Schema": "astroexplore.schemas",
    "GZ_DECALS": "astroexplore.schemas",
    "GZ2": "astroexplore.schemas",
    "MorphologyFilter": "astroexplore.filters",
    "Condition": "astroexplore.filters",
    "ColumnRange": "astroexplore.column_filter",
    "ranges_mask": "astroexplore.column_filter",
    "Explorer": "astroexplore.explorer",
    "SimilarityIndex": "astroexplore.search",
    "MapIndex": "astroexplore.map_index",
    "make_demo_catalogue": "astroexplore.demo",
    "CatalogueError": "astroexplore.errors",
    "LabelError": "astroexplore.errors",
    "SchemaError": "astroexplore.errors",
    "RankingMethod": "astroexplore.constants",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'astroexplore' has no attribute {name!r}")


def __dir__():
    return __all__
