"""``python -m astroexplore``: the same as the ``astroexplore`` command."""
import sys

from astroexplore.cli import main

if __name__ == "__main__":
    sys.exit(main())
