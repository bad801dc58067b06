"""Constants shared by the store, the head, the ranking, the UI and the CLI.

Convention for the whole project: **higher = more anomalous / more interesting**.
"""
from __future__ import annotations

from enum import Enum

#: Interest scores a user can give ("How interesting is this object?"), as in Astronomaly.
MIN_SCORE = 0
MAX_SCORE = 5
SCORES = tuple(range(MIN_SCORE, MAX_SCORE + 1))
ANONYMOUS = "anonymous"  # the label author of a window nobody has named


class RankingMethod(str, Enum):
    """Names of the ranking strategies ("Scoring method to sort by")."""

    ISOLATION_FOREST = "isolation_forest"
    LOF = "lof"
    KNN = "knn"
    RANDOM = "random"
    PREDICTED_INTEREST = "predicted_interest"
    COMBINED = "combined"
    UCB = "ucb"
    EXPECTED_IMPROVEMENT = "expected_improvement"
    UNCERTAINTY = "uncertainty"

    def __str__(self) -> str:  # so f-strings and widgets show the plain name
        return self.value


#: Detector names (a subset of RankingMethod): unsupervised anomaly scores.
DETECTORS = (RankingMethod.ISOLATION_FOREST, RankingMethod.LOF, RankingMethod.KNN)

#: Column name for the galaxy id in every table astroexplore writes.
ID_COLUMN = "id"

#: column names read as RA / Dec, case-insensitive (VizieR's, NED's, SDSS's and plain ones): a
#: list of positions may use any of them; a catalogue without 'ra'/'dec' any but alpha/delta
RA_NAMES = ("ra", "raj2000", "_raj2000", "ra_icrs", "ra_deg", "radeg", "ra_j2000", "ra2000", "alpha")
DEC_NAMES = ("dec", "dej2000", "_dej2000", "decj2000", "de_icrs", "dec_icrs", "dec_deg", "decdeg",
             "dedeg", "dec_j2000", "dec2000", "delta")
