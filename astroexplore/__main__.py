import sys

from astroexplore.cli import main

sys.exit(main())
