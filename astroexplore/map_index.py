"""Point and box queries on the 2-D latent-space map, without any UI.

The app's map answers "which galaxies are near where I clicked?" and "which are in this box?";
:class:`MapIndex` answers the same from a script, on the same coordinates
(:func:`astroexplore.projection.projection`), and :func:`map_table` makes the table the app
downloads as CSV.

>>> import numpy as np
>>> idx = MapIndex(np.array([[0, 0], [1, 0], [5, 5], [np.nan, 0]], dtype=np.float32))
>>> idx.nearest(0.9, 0.1, k=2).tolist()
[1, 0]
>>> idx.in_box(-1, 2, -1, 1).tolist()
[0, 1]
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import pandas as pd

from astroexplore.errors import check_count

log = logging.getLogger(__name__)

# above this many candidates a filtered query searches the matching galaxies directly
_TREE_ASK_LIMIT = 200_000


class MapIndex:
    """KD-tree over the map positions of a catalogue's galaxies.

    Parameters
    ----------
    xy : array (n_galaxies, 2)
        Map coordinates, float32; a row with a NaN is not on the map and is never returned.
    """

    def __init__(self, xy: Any):
        xy = np.ascontiguousarray(xy, dtype=np.float32)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"map coordinates must have shape (n_galaxies, 2), got {xy.shape}")
        self.xy = xy
        self._tree = None
        self._rows: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_catalogue(cls, catalogue: Any, method: str = "auto") -> MapIndex:
        """The map the app shows for ``catalogue`` (see :func:`astroexplore.projection.projection`)."""
        from astroexplore.projection import projection
        return cls(projection(catalogue, method))

    def __len__(self) -> int:
        return len(self.xy)

    def build(self) -> MapIndex:
        """Build the KD-tree now (it is otherwise built by the first query); returns self."""
        with self._lock:
            if self._tree is None:
                from scipy.spatial import cKDTree
                rows = np.flatnonzero(np.isfinite(self.xy).all(axis=1))
                if rows.size < len(self.xy):
                    log.warning("%d galaxies have no finite map position (NaN in the projection "
                                "columns); they are left off the map", len(self.xy) - rows.size)
                self._tree, self._rows = cKDTree(self.xy[rows]), rows
        return self

    @property
    def mapped_rows(self) -> np.ndarray:
        """Catalogue rows with a finite map position, int64."""
        self.build()
        return self._rows

    def nearest(self, x: float, y: float, k: int, mask: Any = None) -> np.ndarray:
        """Row indices (int64) of the ``k`` galaxies closest to map point (x, y), nearest first.

        Only rows where ``mask`` ((n_galaxies,) bool) is True count (None = all); fewer than
        ``k`` come back when fewer match.
        """
        k = check_count("k", k)
        x, y = _check_point(x, y)
        rows = self.mapped_rows
        if mask is None:
            return self._tree_nearest(x, y, min(k, len(rows)))
        mask = self._check_mask(mask)
        n_ok = int(mask[rows].sum())
        if n_ok == 0:
            return np.zeros(0, dtype=np.int64)
        k = min(k, n_ok)
        # over-ask the tree in proportion to how much the filter removes; where the matching
        # galaxies lie away from the point that is not enough, so search them directly
        ask = min(len(rows), int(k * len(rows) / n_ok * 1.5) + 16)
        if ask <= _TREE_ASK_LIMIT:
            found = self._tree_nearest(x, y, ask)
            found = found[mask[found]]
            if len(found) >= k:
                return found[:k]
        return self._brute_nearest(x, y, k, rows[mask[rows]])

    def in_box(self, x0: float, x1: float, y0: float, y1: float, mask: Any = None) -> np.ndarray:
        """Row indices (int64, ascending) of the galaxies with x0 <= x <= x1 and y0 <= y <= y1
        (the bounds in either order) where ``mask`` is True (None = all)."""
        (x0, y0), (x1, y1) = _check_point(x0, y0), _check_point(x1, y1)
        xs, ys = self.xy[:, 0], self.xy[:, 1]
        inside = (xs >= min(x0, x1)) & (xs <= max(x0, x1)) & (ys >= min(y0, y1)) & (ys <= max(y0, y1))
        if mask is not None:
            inside &= self._check_mask(mask)
        return np.flatnonzero(inside).astype(np.int64)

    def _check_mask(self, mask: Any) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self.xy),):
            raise ValueError(f"mask must have shape ({len(self.xy)},) (one bool per galaxy), "
                             f"got {mask.shape}")
        return mask

    def _tree_nearest(self, x: float, y: float, k: int) -> np.ndarray:
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        _, idx = self._tree.query([x, y], k=k)
        idx = np.atleast_1d(idx).astype(np.int64)
        return self._rows[idx[idx < len(self._rows)]]

    def _brute_nearest(self, x: float, y: float, k: int, candidates: np.ndarray) -> np.ndarray:
        d = np.hypot(self.xy[candidates, 0] - x, self.xy[candidates, 1] - y)
        top = np.argpartition(d, k - 1)[:k] if k < len(d) else np.arange(len(d))
        return candidates[top[np.argsort(d[top], kind="stable")]].astype(np.int64)


def map_table(catalogue: Any, xy: np.ndarray, rows: Any, *, point: tuple[float, float] | None = None,
              scores: np.ndarray | None = None, score_name: str = "score") -> pd.DataFrame:
    """The table the app downloads for map galaxies ``rows``: ``id``, ``ra``/``dec`` (degrees,
    when the catalogue has them), ``map_x``, ``map_y``, ``map_distance`` from ``point`` (when
    given) and ``score_name`` from ``scores`` ((n_galaxies,), when given), one row per galaxy in
    the order of ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    df = pd.DataFrame({"id": np.asarray(catalogue.ids)[rows].astype(str)})
    if getattr(catalogue, "has_coordinates", False):
        df["ra"], df["dec"] = catalogue.ra[rows], catalogue.dec[rows]
    df["map_x"], df["map_y"] = xy[rows, 0], xy[rows, 1]
    if point is not None:
        df["map_distance"] = np.hypot(xy[rows, 0] - point[0], xy[rows, 1] - point[1])
    if scores is not None:
        df[score_name] = np.asarray(scores)[rows]
    return df


def _check_point(x: Any, y: Any) -> tuple[float, float]:
    try:
        xf, yf = float(x), float(y)
    except (TypeError, ValueError):
        raise ValueError(f"a map point needs two numbers, got ({x!r}, {y!r})") from None
    if not (np.isfinite(xf) and np.isfinite(yf)):
        raise ValueError(f"a map point must be finite, got ({x!r}, {y!r})")
    return xf, yf
