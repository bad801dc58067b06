"""``panel serve apps/explorer.py --args PATH [--labels STORE] [--user NAME] [--ids ...]``

Each browser session gets a fresh app; the catalogue and label store are loaded once per process.
"""
import argparse
import sys

import panel as pn

from astroexplore.cli import add_catalogue_arguments, load_options
from astroexplore.ui.serve import load_shared, session_app, warm_up

parser = argparse.ArgumentParser(prog="panel serve apps/explorer.py --args")
add_catalogue_arguments(parser)
parser.add_argument("--labels", default=None, help="label store (default: beside the catalogue)")
parser.add_argument("--user", default=None, help="default label author")


def _usage_page(problem: str):
    """The page a session gets when the --args are wrong (argparse would stop the whole server)."""
    text = f"**astroexplore could not start:** {problem}\n\n```\n{parser.format_usage()}```"
    return pn.pane.Alert(text, alert_type="danger").servable(title="astroexplore")


try:
    args = parser.parse_args(sys.argv[1:])
except SystemExit:
    _usage_page("the arguments after --args are missing or wrong.")
else:
    try:
        catalogue, store = load_shared(args.path, args.labels, load_options(args))
    except (ValueError, OSError) as err:  # CatalogueError / LabelError are ValueErrors
        _usage_page(str(err))
    else:
        pn.state.as_cached("astroexplore-warm-" + str(args.path), lambda: warm_up(catalogue, store, everything=False))
        session_app(catalogue, store, user=args.user).servable(title="astroexplore")
