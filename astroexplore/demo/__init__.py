"""The synthetic demo survey: galaxies rendered from physical parameters, with simulated votes.

* :mod:`astroexplore.demo.survey` — who is in the survey (morphologies, anomalies), their
  parameters, the volunteers' votes and the truth columns.
* :mod:`astroexplore.demo.render` — one galaxy image from its parameters.
* :mod:`astroexplore.demo.make` — the whole survey written to disk, with embeddings.

>>> from astroexplore.demo import demo_catalogue_path
>>> demo_catalogue_path("data/demo").name
'demo_catalogue.parquet'
"""
from __future__ import annotations

from astroexplore.demo.make import demo_catalogue_path, image_store_path, make_demo_catalogue, render_one
from astroexplore.demo.render import render_galaxy
from astroexplore.demo.survey import ANOMALY_KINDS, ARTEFACTS, MORPHOLOGIES, interest_of

__all__ = ["ANOMALY_KINDS", "ARTEFACTS", "MORPHOLOGIES", "demo_catalogue_path", "image_store_path",
           "interest_of", "make_demo_catalogue", "render_galaxy", "render_one"]
