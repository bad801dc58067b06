"""Known objects by position: what reading a list and cross-matching it to a survey-sized catalogue
costs (the Similarity tab's "Known objects", ``astroexplore match``).

A catalogue of ``--n`` galaxies spread over the whole sky, and ``--positions`` positions: half of
them 1 arcsec from a catalogue galaxy, half anywhere. The baseline is astropy's
``match_coordinates_sky`` on the same positions, timed in the same process with its KD-tree kept on
the catalogue's SkyCoord (as ours keeps its tree per catalogue), so the ratio compares the two
matches, not tree building; the first match of a catalogue, which builds the tree, is timed apart.
Reading the list is timed from text, as pasted: decimal degrees and sexagesimal lines. Each step is
the median of ``--repeat`` calls after a warm-up call.

A second table times labelling the matched galaxies at once (the tab's "Label N galaxies",
``Explorer.label_many``: the user's labels read, the scored ones' tags merged, one transaction)
against the bare insert of the same labels (``LabelStore.add_many``), each into a new store that
already holds ``--labels`` of the user's labels (a fifth of them of matched galaxies).

Usage::

    python benchmarks/bench_crossmatch.py [--n 1000000] [--positions 10000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from astroexplore.catalogue import Catalogue  # noqa: E402
from astroexplore.crossmatch import crossmatch, read_positions  # noqa: E402
from bench_retrain import print_ratio_table  # noqa: E402  (median seconds of `repeat` calls, and ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="galaxies in the catalogue")
    ap.add_argument("--positions", type=int, default=10_000, help="positions in the list")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--labels", type=int, default=2_000, help="the user's earlier labels in the store")
    args = ap.parse_args()
    import scipy.spatial  # noqa: F401  (imported before the first match is timed, as astropy's is)
    from astropy import units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    rng = np.random.default_rng(0)
    ra = rng.uniform(0, 360, args.n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, args.n)))  # uniform on the sphere
    cat = Catalogue.from_arrays(np.zeros((args.n, 2), np.float32), table=pd.DataFrame({"ra": ra, "dec": dec}))
    near = rng.choice(args.n, args.positions // 2, replace=False)
    far = args.positions - near.size
    p_ra = np.r_[ra[near] + 1 / 3600 / np.cos(np.radians(dec[near])), rng.uniform(0, 360, far)] % 360
    p_dec = np.r_[dec[near], np.degrees(np.arcsin(rng.uniform(-1, 1, far)))]
    positions = SkyCoord(p_ra * u.deg, p_dec * u.deg)
    decimal_text = "\n".join(f"{a:.6f} {d:+.6f}  # object {i}" for i, (a, d) in enumerate(zip(p_ra, p_dec)))
    sexagesimal_text = "\n".join(positions.to_string("hmsdms", sep=":", precision=2))

    t0 = time.perf_counter()
    first = crossmatch(cat, p_ra, p_dec, radius_arcsec=5)
    cold = time.perf_counter() - t0
    catalogue_coords = SkyCoord(ra * u.deg, dec * u.deg)
    t0 = time.perf_counter()
    idx, sep, _ = match_coordinates_sky(positions, catalogue_coords)
    astropy_cold = time.perf_counter() - t0
    agree = bool(np.array_equal(first.nearest, idx)) and float(np.abs(first.separation_arcsec - sep.arcsec).max()) < 1e-6
    print(f"{args.n:,} galaxies, {args.positions:,} positions ({near.size:,} 1 arcsec from a galaxy): "
          f"{first.n_matched:,} matched within 5 arcsec; the same nearest galaxies and separations as "
          f"astropy: {agree}. First match of the catalogue (builds its sky tree): {cold:.2f} s; astropy's "
          f"first (builds its tree): {astropy_cold:.2f} s. Median of {args.repeat}:")
    steps = {
        "astropy match_coordinates_sky (baseline, its tree kept)":
            lambda: match_coordinates_sky(positions, catalogue_coords),
        "crossmatch (our tree kept)": lambda: crossmatch(cat, p_ra, p_dec, radius_arcsec=5),
        f"read_positions: {args.positions:,} lines in degrees, named": lambda: read_positions(decimal_text),
        f"read_positions: {args.positions:,} sexagesimal lines": lambda: read_positions(sexagesimal_text),
        "CrossMatch.to_frame (the written table)": lambda: first.to_frame(cat),
    }
    print_ratio_table(steps, args.repeat, "astropy's match")
    print()
    _time_labelling(cat, first, args, rng)


def _time_labelling(cat, match, args, rng) -> None:
    """Labelling the matched galaxies at once, against the bare insert (see the module's doc)."""
    from astroexplore.explorer import Explorer
    from astroexplore.labels import LabelStore

    ids = np.asarray(cat.ids)[match.galaxy_rows]
    earlier = np.r_[rng.choice(ids, args.labels // 5, replace=False),
                    rng.choice(np.asarray(cat.ids), args.labels - args.labels // 5, replace=False)]
    folder = Path(tempfile.mkdtemp(prefix="bench_crossmatch_"))
    made = iter(range(10_000))

    def store() -> LabelStore:
        s = LabelStore(folder / f"s{next(made)}.sqlite")
        s.add_many([(g, 3) for g in dict.fromkeys(earlier.tolist())], user="ada")
        return s

    def bare():
        s = store()
        s.add_many([{"id": g, "score": 5, "tags": "#polar-ring"} for g in ids], user="ada")

    def at_once():
        s = store()
        Explorer(cat, s, user="ada", cache=False).label_many(ids, 5, tags="#polar-ring")

    print(f"Labelling the {len(ids):,} matched galaxies at once, in a store holding {args.labels:,} of the "
          f"user's labels ({args.labels // 5:,} of them of matched galaxies). Median of {args.repeat}:")
    print_ratio_table({"store of the earlier labels, made (baseline)": store,
                       "+ LabelStore.add_many (bare insert)": bare,
                       "+ Explorer.label_many (the tab's Label N galaxies)": at_once}, args.repeat,
                      "making the store")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
