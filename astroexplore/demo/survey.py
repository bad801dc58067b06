"""The demo survey's population: true morphologies, anomalies, and simulated volunteer votes.

Everything here is deterministic for a seed. Each galaxy's detailed parameters come from its own
random generator, seeded by ``(seed, i)``, so one galaxy can be re-drawn (and re-rendered) without
drawing the whole survey again.

Truth columns written by the demo (kept for benchmarks; ranking code never reads them):

``truth_morphology``
    One of :data:`MORPHOLOGIES` (the host galaxy's class; anomalies without a host have their own:
    ``"clumpy"``, ``"compact"``).
``truth_anomaly``
    ``"none"`` or one of :data:`ANOMALY_KINDS`.
``truth_interest``
    Graded 0-5 oracle, see :func:`interest_of`:

    ===== ==========================================================================
    score meaning
    ===== ==========================================================================
    5     rare astrophysical anomalies: ``lens``, ``polar_ring``, ``collisional_ring``
    4     other astrophysical anomalies: ``green_pea``, ``blue_clumpy``
    3     mergers (morphology ``merger``)
    2     ring galaxies (morphology ``ring``)
    1     ordinary featured galaxies (spirals, barred spirals, edge-on discs, lenticulars)
    0     smooth ellipticals, and image artefacts (``satellite_trail``,
          ``diffraction_spikes``, ``bad_column``) whatever lies beneath them
    ===== ==========================================================================

    Artefacts are deliberately *anomalous but uninteresting* (as in Astronomaly, Lochner & Bassett
    2021): an unsupervised detector ranks them high, and the human's labels must teach the ranking
    to push them down.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Ordinary morphologies and their share of the non-anomalous population.
MORPHOLOGY_SHARES = {
    "elliptical": 0.30,
    "lenticular": 0.08,
    "spiral": 0.24,
    "barred_spiral": 0.12,
    "edge_on": 0.13,
    "ring": 0.05,
    "merger": 0.08,
}
#: Every value ``truth_morphology`` can take.
MORPHOLOGIES = tuple(MORPHOLOGY_SHARES) + ("clumpy", "compact")

#: Anomaly kinds and their share of the whole survey (1.5 % in total).
ANOMALY_SHARES = {
    "lens": 0.0025,
    "polar_ring": 0.0015,
    "collisional_ring": 0.0015,
    "green_pea": 0.0015,
    "blue_clumpy": 0.0020,
    "satellite_trail": 0.0020,
    "diffraction_spikes": 0.0020,
    "bad_column": 0.0020,
}
ANOMALY_KINDS = tuple(ANOMALY_SHARES)
ARTEFACTS = ("satellite_trail", "diffraction_spikes", "bad_column")
ANOMALY_FRACTION = float(sum(ANOMALY_SHARES.values()))

#: Host morphology of each anomaly kind (artefacts lie over an ordinary galaxy: ``None``).
ANOMALY_HOST = {
    "lens": "elliptical",
    "polar_ring": "lenticular",
    "collisional_ring": "ring",
    "green_pea": "compact",
    "blue_clumpy": "clumpy",
    "satellite_trail": None,
    "diffraction_spikes": None,
    "bad_column": None,
}

#: GZ DECaLS questions and answers, in the order of the fraction columns the demo writes.
GZ_DECALS_QUESTIONS: dict[str, tuple[str, ...]] = {
    "smooth-or-featured": ("smooth", "featured-or-disk", "artifact"),
    "disk-edge-on": ("yes", "no"),
    "has-spiral-arms": ("yes", "no"),
    "bar": ("strong", "weak", "no"),
    "bulge-size": ("dominant", "large", "moderate", "small", "none"),
    "how-rounded": ("round", "in-between", "cigar-shaped"),
    "edge-on-bulge": ("boxy", "none", "rounded"),
    "spiral-winding": ("tight", "medium", "loose"),
    "spiral-arm-count": ("1", "2", "3", "4", "more-than-4", "cant-tell"),
    "merging": ("none", "minor-disturbance", "major-disturbance", "merger"),
}
#: The (question, answer) whose voters are asked each question (``None``: every volunteer who did
#: not call the image an artefact is asked, as for ``merging``; the root is asked of everyone).
GZ_DECALS_PARENTS: dict[str, tuple[str, str] | None] = {
    "smooth-or-featured": None,
    "disk-edge-on": ("smooth-or-featured", "featured-or-disk"),
    "has-spiral-arms": ("disk-edge-on", "no"),
    "bar": ("disk-edge-on", "no"),
    "bulge-size": ("disk-edge-on", "no"),
    "how-rounded": ("smooth-or-featured", "smooth"),
    "edge-on-bulge": ("disk-edge-on", "yes"),
    "spiral-winding": ("has-spiral-arms", "yes"),
    "spiral-arm-count": ("has-spiral-arms", "yes"),
    "merging": None,
}
#: A fraction is NaN where fewer volunteers than this were asked the question.
MIN_VOTES = 5

WINDINGS = ("tight", "medium", "loose")
#: Spiral pitch angle (degrees) for each winding class.
PITCH_DEG = {"tight": 12.0, "medium": 22.0, "loose": 36.0}


def fraction_column(question: str, answer: str) -> str:
    """Column name of a GZ DECaLS vote fraction.

    >>> fraction_column("bar", "strong")
    'bar_strong_fraction'
    """
    return f"{question}_{answer}_fraction"


def sample_population(n: int, seed: int = 0) -> pd.DataFrame:
    """Draw each galaxy's morphology class and anomaly kind.

    Exactly ``round(ANOMALY_FRACTION * n)`` galaxies are anomalies (1.5 %), the kinds drawn in
    proportion to :data:`ANOMALY_SHARES`.

    Parameters
    ----------
    n : int
        Number of galaxies.
    seed : int
        Survey seed.

    Returns
    -------
    DataFrame with columns ``morphology`` (str) and ``anomaly`` (str, ``"none"`` or a kind), n rows.

    >>> pop = sample_population(1000, seed=1)
    >>> int((pop["anomaly"] != "none").sum())
    15
    """
    rng = np.random.default_rng([seed, 7919])
    names = list(MORPHOLOGY_SHARES)
    p = np.array([MORPHOLOGY_SHARES[k] for k in names])
    morph = np.array(names, dtype=object)[rng.choice(len(names), size=n, p=p / p.sum())]
    anomaly = np.full(n, "none", dtype=object)
    n_anom = int(round(ANOMALY_FRACTION * n))
    if n_anom:
        kinds = np.array(ANOMALY_KINDS, dtype=object)
        pk = np.array([ANOMALY_SHARES[k] for k in ANOMALY_KINDS])
        # Deterministic allocation (largest remainder) so every kind appears once n is large enough.
        raw = pk / pk.sum() * n_anom
        counts = np.floor(raw).astype(int)
        extra = np.argsort(-(raw - counts), kind="stable")[: n_anom - counts.sum()]
        counts[extra] += 1
        where = rng.choice(n, size=n_anom, replace=False)
        anomaly[where] = np.repeat(kinds, counts)
        for kind, host in ANOMALY_HOST.items():
            if host is not None:
                morph[anomaly == kind] = host
    return pd.DataFrame({"morphology": morph, "anomaly": anomaly})


def interest_of(morphology, anomaly) -> np.ndarray:
    """Graded 0-5 oracle interest for each galaxy (see the module docstring).

    Parameters
    ----------
    morphology, anomaly : array-like of str, shape (n,)

    Returns
    -------
    ndarray of shape (n,), int8, values in 0..5.

    >>> interest_of(["elliptical", "spiral", "merger", "elliptical"], ["none", "none", "none", "lens"])
    array([0, 1, 3, 5], dtype=int8)
    """
    morphology = np.asarray(morphology, dtype=object)
    anomaly = np.asarray(anomaly, dtype=object)
    score = np.ones(len(morphology), dtype=np.int8)
    score[morphology == "elliptical"] = 0
    score[morphology == "ring"] = 2
    score[morphology == "merger"] = 3
    score[np.isin(anomaly, ["green_pea", "blue_clumpy"])] = 4
    score[np.isin(anomaly, ["lens", "polar_ring", "collisional_ring"])] = 5
    score[np.isin(anomaly, ARTEFACTS)] = 0
    return score


def galaxy_rng(seed: int, i: int) -> np.random.Generator:
    """The random generator for galaxy ``i`` of the survey with ``seed`` (its parameters and noise)."""
    return np.random.default_rng([int(seed), int(i), 31337])


def sample_params(morphology: str, anomaly: str, rng: np.random.Generator) -> dict:
    """Draw the physical parameters of one galaxy.

    Sizes are in units of the image width (so the same galaxy renders at any image size); angles
    in radians; ``flux`` is the total r-band flux in units of the sky noise at 64 pixels.

    Parameters
    ----------
    morphology : str
        One of :data:`MORPHOLOGIES`.
    anomaly : str
        ``"none"`` or one of :data:`ANOMALY_KINDS`.
    rng : numpy.random.Generator
        The galaxy's own generator (:func:`galaxy_rng`).

    Returns
    -------
    dict of plain Python values; keys used by :func:`astroexplore.demo.render.render_galaxy` and
    :func:`simulate_votes`.
    """
    u = rng.uniform
    p: dict = {
        "morphology": morphology,
        "anomaly": anomaly,
        "x0": float(u(-0.03, 0.03)),
        "y0": float(u(-0.03, 0.03)),
        "pa": float(u(0, np.pi)),
        "flux": float(np.exp(u(np.log(2500), np.log(12000)))),
        "psf": float(u(0.012, 0.02)),      # Gaussian sigma, image widths
        "sky": float(u(0.8, 1.3)),
        "n_stars": int(rng.choice([0, 0, 0, 1, 1, 2, 3])),
        "star_seed": int(rng.integers(2**31)),
        # morphology descriptors (defaults = none)
        "q": 1.0, "incl": 0.0, "bulge_frac": 0.0, "bulge_re": 0.04, "bulge_n": 4.0, "bulge_q": 1.0,
        "disc_re": 0.12, "n_arms": 0, "winding": "", "arm_strength": 0.0, "bar": 0.0,
        "bar_len": 0.0, "ring_r": 0.0, "ring_strength": 0.0, "boxy": 0.0, "dust": 0.0,
        "merge_state": 0, "companion_sep": 0.0, "companion_flux": 0.0, "tail_strength": 0.0,
        "clumps": 0, "re": 0.07, "sersic_n": 4.0, "flocculent": False,
    }
    if morphology == "elliptical":
        p["q"] = float(rng.choice([u(0.82, 1.0), u(0.5, 0.82), u(0.3, 0.5)], p=[0.45, 0.4, 0.15]))
        p["re"] = float(u(0.05, 0.13))
        p["sersic_n"] = float(u(2.5, 5.5))
        p["bulge_frac"] = 1.0
    elif morphology in ("spiral", "barred_spiral", "lenticular", "ring", "merger"):
        p["incl"] = float(np.arccos(u(0.35, 1.0)))
        p["disc_re"] = float(u(0.1, 0.2))
        p["bulge_frac"] = float(rng.choice([u(0.02, 0.1), u(0.1, 0.3), u(0.3, 0.55), u(0.55, 0.8)],
                                            p=[0.3, 0.35, 0.25, 0.1]))
        p["bulge_re"] = float(u(0.02, 0.045))
        p["bulge_n"] = float(u(1.5, 4.0))
        p["bulge_q"] = float(u(0.75, 1.0))
        if morphology in ("spiral", "barred_spiral", "ring"):
            p["n_arms"] = int(rng.choice([1, 2, 3, 4, 6], p=[0.08, 0.5, 0.2, 0.12, 0.1]))
            p["flocculent"] = bool(p["n_arms"] > 4)
            p["winding"] = str(rng.choice(WINDINGS, p=[0.3, 0.45, 0.25]))
            p["arm_strength"] = float(u(0.6, 1.0))
            p["clumps"] = int(rng.integers(3, 12))
        if morphology == "barred_spiral":
            p["bar"] = float(u(0.5, 1.0))
            p["bar_len"] = float(u(0.6, 1.1) * p["disc_re"])
        if morphology == "ring":
            p["ring_r"] = float(u(0.7, 1.3) * p["disc_re"])
            p["ring_strength"] = float(u(0.5, 1.0))
            p["arm_strength"] *= 0.3
            p["bar"] = float(rng.choice([0.0, u(0.4, 1.0)]))
            p["bar_len"] = 0.8 * p["ring_r"]
        if morphology == "lenticular":
            p["bulge_frac"] = float(u(0.3, 0.7))
        if morphology == "merger":
            p["merge_state"] = int(rng.choice([1, 2, 3], p=[0.3, 0.3, 0.4]))
            p["companion_sep"] = float(u(0.08, 0.28) if p["merge_state"] == 3 else u(0.18, 0.35))
            p["companion_flux"] = float(u(0.5, 1.0) if p["merge_state"] >= 2 else u(0.1, 0.3))
            p["tail_strength"] = float(u(0.5, 1.0) if p["merge_state"] >= 2 else u(0.2, 0.5))
            p["n_arms"] = int(rng.choice([0, 2]))
            p["winding"] = "loose" if p["n_arms"] else ""
            p["arm_strength"] = float(u(0.2, 0.6))
    elif morphology == "edge_on":
        p["incl"] = float(np.deg2rad(u(84, 90)))
        p["disc_re"] = float(u(0.13, 0.24))
        p["boxy"] = float(rng.choice([0.0, 1.0, 2.0], p=[0.3, 0.2, 0.5]))  # none, boxy, rounded
        p["bulge_frac"] = 0.0 if p["boxy"] == 0 else float(u(0.15, 0.5))
        p["bulge_re"] = float(u(0.035, 0.065))
        p["bulge_n"] = float(u(1.0, 3.0))
        p["dust"] = float(rng.choice([0.0, u(0.6, 1.0)], p=[0.35, 0.65]))
    elif morphology == "clumpy":
        p["clumps"] = int(rng.integers(4, 10))
        p["re"] = float(u(0.05, 0.1))
        p["q"] = float(u(0.5, 1.0))
    elif morphology == "compact":
        p["re"] = float(u(0.008, 0.015))
        p["q"] = float(u(0.8, 1.0))
        p["sersic_n"] = 1.0
    # anomaly-specific knobs
    if anomaly == "lens":
        p["q"] = float(u(0.75, 1.0))
        p["einstein_r"] = float(u(0.1, 0.2))
        p["arc_kind"] = int(rng.choice([1, 2, 3], p=[0.4, 0.3, 0.3]))  # 1 arc, 2 arcs, full ring
        p["arc_angle"] = float(u(0, 2 * np.pi))
    elif anomaly == "polar_ring":
        p["incl"] = float(np.deg2rad(u(75, 88)))
        p["ring_r"] = float(u(0.12, 0.2))
        p["ring_incl"] = float(np.deg2rad(u(60, 80)))
    elif anomaly == "collisional_ring":
        p["ring_r"] = float(u(0.14, 0.24))
        p["ring_strength"] = 1.0
        p["bulge_frac"] = 0.25
        p["n_arms"] = 0
        p["bar"] = 0.0
        p["companion_sep"] = float(u(0.3, 0.4))
        p["companion_flux"] = float(u(0.1, 0.25))
    elif anomaly in ARTEFACTS:
        p["art_angle"] = float(u(0, np.pi))
        p["art_offset"] = float(u(-0.35, 0.35))
        p["art_band"] = int(rng.integers(0, 4))  # 0-2 one band, 3 all
    elif anomaly == "green_pea":
        p["flux"] *= 0.6
    if morphology in ("merger",) or anomaly == "collisional_ring":
        p["companion_pa"] = float(u(0, 2 * np.pi))
    return p


# --------------------------------------------------------------------------------------------
# Votes
# --------------------------------------------------------------------------------------------
def _onehot(index, k, sharp=0.8):
    """Soft one-hot probabilities: ``sharp`` on the true answer, the rest spread evenly."""
    out = np.full((len(index), k), (1 - sharp) / (k - 1))
    out[np.arange(len(index)), index] = sharp
    return out


def _true_probabilities(params: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What a careful volunteer would answer to each question, as (n, n_answers) probabilities."""
    n = len(params)
    morph = params["morphology"].to_numpy(object)
    anom = params["anomaly"].to_numpy(object)
    featured = np.isin(morph, ["spiral", "barred_spiral", "edge_on", "ring", "merger", "clumpy"])
    featured |= np.isin(anom, ["polar_ring", "collisional_ring"])
    # visibility in 0-1: bright, big galaxies show their features; faint ones look smooth
    vis = np.clip((np.log(params["flux"].to_numpy(float)) - np.log(2000)) / np.log(8), 0.2, 1.0)
    p_feat = np.where(featured, 0.35 + 0.6 * vis, 0.08)
    p_feat = np.where(morph == "lenticular", 0.35, p_feat)
    artefact = np.isin(anom, ARTEFACTS)
    p_art = np.where(artefact, rng.uniform(0.35, 0.8, n), 0.02)
    out = {}
    sof = np.stack([(1 - p_feat), p_feat, np.zeros(n)], axis=1) * (1 - p_art)[:, None]
    sof[:, 2] = p_art
    out["smooth-or-featured"] = sof
    edge = morph == "edge_on"
    incl = params["incl"].to_numpy(float)
    p_edge = np.where(edge, 0.92, np.clip((np.rad2deg(incl) - 65) / 40, 0.02, 0.3))
    out["disk-edge-on"] = np.stack([p_edge, 1 - p_edge], axis=1)
    n_arms = params["n_arms"].to_numpy(int)
    arm_strength = params["arm_strength"].to_numpy(float)
    p_spiral = np.where(n_arms > 0, np.clip(0.3 + 0.7 * arm_strength * vis, 0, 0.97), 0.06)
    out["has-spiral-arms"] = np.stack([p_spiral, 1 - p_spiral], axis=1)
    bar = params["bar"].to_numpy(float)
    bar_idx = np.where(bar > 0.75, 0, np.where(bar > 0.3, 1, 2))
    out["bar"] = _onehot(bar_idx, 3, 0.7)
    bf = params["bulge_frac"].to_numpy(float)
    bulge_idx = np.digitize(bf, [0.6, 0.4, 0.2, 0.04][::-1])  # 0 none .. 4 dominant
    out["bulge-size"] = _onehot(4 - bulge_idx, 5, 0.6)
    q = params["q"].to_numpy(float)
    round_idx = np.where(q > 0.8, 0, np.where(q > 0.5, 1, 2))
    out["how-rounded"] = _onehot(round_idx, 3, 0.75)
    boxy = params["boxy"].to_numpy(float).astype(int)  # 0 none, 1 boxy, 2 rounded
    eob_idx = np.select([boxy == 1, boxy == 0], [0, 1], 2)
    out["edge-on-bulge"] = _onehot(eob_idx, 3, 0.7)
    wind = params["winding"].to_numpy(object)
    wind_idx = np.select([wind == "tight", wind == "loose"], [0, 2], 1)
    out["spiral-winding"] = _onehot(wind_idx, 3, 0.6)
    arm_idx = np.clip(n_arms - 1, 0, 4)
    arms = _onehot(arm_idx, 6, 0.6) * 0.85
    arms[:, 5] += 0.15
    out["spiral-arm-count"] = arms
    ms = params["merge_state"].to_numpy(int)
    ms = np.where(anom == "collisional_ring", 2, ms)
    ms = np.where(np.isin(anom, ["polar_ring", "blue_clumpy"]), 1, ms)
    out["merging"] = _onehot(ms, 4, 0.7)
    return out


def simulate_votes(params: pd.DataFrame, seed: int = 0, *, n_volunteers: int = 40,
                   concentration: float = 20.0) -> pd.DataFrame:
    """Simulate Galaxy Zoo DECaLS vote fractions from the true morphology.

    Each galaxy is classified by 35-45 volunteers. Each question's answer probabilities are drawn
    from a Dirichlet around the "true" probabilities (volunteers disagree), then the votes from a
    multinomial over the volunteers *asked* that question: the votes for the parent answer
    (:data:`GZ_DECALS_PARENTS`), so fewer volunteers answer each question down the tree. A fraction
    is NaN where fewer than :data:`MIN_VOTES` volunteers were asked (as in Zoobot catalogues).

    Parameters
    ----------
    params : DataFrame, n rows
        Columns from :func:`sample_params` (``morphology``, ``anomaly``, ``flux``, ``q``, ...).
    seed : int
        Seed of the vote simulation.
    n_volunteers : int
        Mean number of volunteers per galaxy.
    concentration : float
        Dirichlet concentration (higher = volunteers agree more).

    Returns
    -------
    DataFrame of shape (n, 34): ``"{question}_{answer}_fraction"`` float64 columns (vote fractions
    in [0, 1] summing to 1 within each question, or all NaN for that question), and nothing else.
    """
    rng = np.random.default_rng([seed, 4242])
    n = len(params)
    probs = _true_probabilities(params, rng)
    total = rng.integers(n_volunteers - 5, n_volunteers + 6, size=n)
    votes: dict[str, np.ndarray] = {}
    for question in GZ_DECALS_QUESTIONS:
        parent = GZ_DECALS_PARENTS[question]
        if question == "smooth-or-featured":
            asked = total
        elif parent is None:  # everyone who did not call it an artefact
            asked = total - votes["smooth-or-featured"][:, 2]
        else:
            pq, pa = parent
            asked = votes[pq][:, GZ_DECALS_QUESTIONS[pq].index(pa)]
        alpha = concentration * probs[question] + 0.05
        g = rng.gamma(alpha)
        pv = g / g.sum(axis=1, keepdims=True)
        votes[question] = rng.multinomial(asked, pv)
    cols = {}
    for question, answers in GZ_DECALS_QUESTIONS.items():
        v = votes[question].astype(float)
        asked = v.sum(axis=1, keepdims=True)
        frac = np.where(asked >= MIN_VOTES, v / np.maximum(asked, 1), np.nan)
        for j, a in enumerate(answers):
            cols[fraction_column(question, a)] = frac[:, j]
    return pd.DataFrame(cols)
