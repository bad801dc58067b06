"""``panel serve apps/explorer.py --args PATH [--labels STORE] [--user NAME]``

Each browser session gets a fresh app; the catalogue and label store are loaded once per process.
"""
import argparse
import sys

import panel as pn

from astroexplore.ui.serve import load_shared, session_app, warm_up

parser = argparse.ArgumentParser(prog="apps/explorer.py")
parser.add_argument("path", help="catalogue file (parquet / csv / ...)")
parser.add_argument("--labels", default=None, help="label store (default: beside the catalogue)")
parser.add_argument("--user", default=None, help="default label author")
args = parser.parse_args(sys.argv[1:])

catalogue, store = load_shared(args.path, args.labels)
pn.state.as_cached("astroexplore-warm-" + str(args.path), lambda: warm_up(catalogue, store, everything=False))
session_app(catalogue, store, user=args.user).servable(title="astroexplore")
