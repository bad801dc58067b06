"""Generate the demo survey: images, votes, truth, coordinates and embeddings, written to disk.

Files written in ``out_dir``:

``demo_catalogue.parquet``
    The catalogue (:func:`astroexplore.catalogue.save_catalogue` format): ``id``, ``ra``, ``dec``,
    ``image``, 34 GZ DECaLS vote-fraction columns, ``truth_morphology``, ``truth_anomaly``,
    ``truth_interest`` and the 40-d ``embedding``; metadata records the encoder, the image store and
    the demo's seed.
``demo_catalogue.images.npy``
    The image store: every rendered image, uint8, shape (n, size, size, 3), opened as a memory map
    by :func:`astroexplore.images.image_for`. A plain ``.npy`` gives O(1) random access with no
    decoding and is written in a second. Noisy 64 x 64 images hardly compress losslessly (PNG
    saves under 20 %); JPEG would save ~80 % but is lossy and needs a decode per thumbnail, and
    the embeddings must come from exactly the pixels shown. So the default survey's store is
    246 MB (kept outside git under ``data/``). If the file is deleted, images are re-rendered on
    demand from the seed, identically (about a millisecond each).

The ``image`` column holds ``"demo://<k>"``: galaxy ``k`` of the store (stable under
``Catalogue.subset``). The generating parameters are not stored in the table (so nothing can rank
on them by accident): galaxy ``k`` is re-drawn from ``(seed, k, truth_morphology, truth_anomaly)``
with its own random generator (:func:`render_one`), which gives back the same parameters and image.
"""
from __future__ import annotations

import contextlib

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from astroexplore.demo.render import render_galaxy
from astroexplore.demo.survey import galaxy_rng, interest_of, sample_params, sample_population, simulate_votes
from astroexplore.torch_utils import available_cores  # torch-free at import

CATALOGUE_NAME = "demo_catalogue.parquet"
IMAGE_STORE_SUFFIX = ".images.npy"
#: Bump when the rendering or the population changes, so old image stores are not reused.
DEMO_VERSION = 1
#: The survey footprint: a patch of sky (degrees).
FOOTPRINT = {"ra": (150.0, 165.0), "dec": (-2.0, 8.0)}
_CHUNK = 500


#: r-band magnitude of a demo galaxy of flux 1 (sky-noise units at 64 px): the survey's fluxes
#: (2,500-12,000) become r = 15.8-17.5, an SDSS-spectroscopic-like magnitude range
MAG_ZERO_POINT = 26.0


def r_magnitude(flux) -> np.ndarray:
    """Apparent r-band magnitude of rendered fluxes (``sample_params``' ``flux``), rounded to 0.01 mag.

    >>> r_magnitude([2500.0, 12000.0]).tolist()
    [17.51, 15.8]
    """
    return np.round(MAG_ZERO_POINT - 2.5 * np.log10(np.asarray(flux, dtype=np.float64)), 2)


def demo_catalogue_path(out_dir) -> Path:
    """Where :func:`make_demo_catalogue` writes its catalogue in ``out_dir``.

    >>> demo_catalogue_path("data/demo").name
    'demo_catalogue.parquet'
    """
    return Path(out_dir) / CATALOGUE_NAME


def image_store_path(catalogue_path) -> Path:
    """The image store beside a demo catalogue.

    >>> image_store_path("data/demo/demo_catalogue.parquet").name
    'demo_catalogue.images.npy'
    """
    p = Path(catalogue_path)
    return p.with_name(p.stem + IMAGE_STORE_SUFFIX)


def render_one(seed: int, i: int, morphology: str, anomaly: str, size: int) -> tuple[dict, np.ndarray]:
    """Draw galaxy ``i``'s parameters and render it; the same arguments give the same image.

    Returns
    -------
    params : dict
    image : ndarray of shape (size, size, 3), uint8
    """
    rng = galaxy_rng(seed, i)
    params = sample_params(morphology, anomaly, rng)
    img = render_galaxy(params, size, rng)
    return params, (img * 255.0 + 0.5).astype(np.uint8)


def _render_chunk(args):
    """Render a run of galaxies and compute their per-image features (in a worker process)."""
    from astroexplore.features import canonical_pixels, morphology_features

    seed, start, morph, anom, size = args
    params, images = [], np.empty((len(morph), size, size, 3), np.uint8)
    for j, (m, a) in enumerate(zip(morph, anom, strict=True)):
        p, images[j] = render_one(seed, start + j, m, a, size)
        params.append(p)
    return params, images, canonical_pixels(images), morphology_features(images)


def _coordinates(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions spread uniformly (on the sphere) over :data:`FOOTPRINT`, deterministic for a seed."""
    rng = np.random.default_rng([seed, 271828])
    ra = rng.uniform(*FOOTPRINT["ra"], n)
    s0, s1 = np.sin(np.deg2rad(FOOTPRINT["dec"]))
    dec = np.rad2deg(np.arcsin(rng.uniform(s0, s1, n)))
    return ra, dec


def _workers(n: int) -> int:
    """Worker processes for rendering: ``$ASTROEXPLORE_DEMO_WORKERS``, else one per CPU (at most 8)
    for surveys of 2,000 galaxies or more, else 1."""
    env = os.environ.get("ASTROEXPLORE_DEMO_WORKERS")
    if env:
        return max(1, int(env))
    if n < 2000:
        return 1
    return max(1, min(available_cores(), 8))


class _Progress:
    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total, self.t0 = enabled, total, time.perf_counter()

    def step(self, what: str, done: int | None = None) -> None:
        if not self.enabled:
            return
        if done is not None and done < self.total and done % max(_CHUNK, self.total // 10 // _CHUNK * _CHUNK):
            return  # about ten progress lines per stage
        dt = time.perf_counter() - self.t0
        extra = f" {done}/{self.total}" if done is not None else ""
        print(f"[demo {dt:6.1f}s] {what}{extra}", file=sys.stderr, flush=True)


def render_images(population: pd.DataFrame, seed: int, size: int, out: np.ndarray, *,
                  progress: _Progress | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Render every galaxy of ``population`` into ``out`` (n, size, size, 3) uint8.

    Returns the parameters (DataFrame, n rows) and the per-image feature blocks of
    :func:`astroexplore.features.combine_blocks` (canonical pixels, morphology features).
    Rendering runs in worker processes for large surveys; the result does not depend on how
    many (every galaxy has its own random generator).
    """
    n = len(population)
    morph = population["morphology"].tolist()
    anom = population["anomaly"].tolist()
    tasks = [(seed, s, morph[s:s + _CHUNK], anom[s:s + _CHUNK], size) for s in range(0, n, _CHUNK)]
    params: list[dict] = []
    pixels: list[np.ndarray] = []
    morph_feats: list[np.ndarray] = []
    workers = _workers(n)
    with contextlib.ExitStack() as stack:
        if workers > 1:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            results = stack.enter_context(ctx.Pool(workers)).imap(_render_chunk, tasks)
        else:
            results = map(_render_chunk, tasks)
        for task, (p, imgs, pix, mor) in zip(tasks, results, strict=True):
            s = task[1]
            out[s:s + len(imgs)] = imgs
            params += p
            pixels.append(pix)
            morph_feats.append(mor)
            if progress:
                progress.step("rendered", s + len(imgs))
    return pd.DataFrame(params), np.concatenate(pixels), np.concatenate(morph_feats)


def make_demo_catalogue(out_dir, *, n: int = 20000, seed: int = 0, image_size: int = 64,
                        progress: bool = True) -> Path:
    """Generate the synthetic demo survey and write it to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if missing).
    n : int
        Number of galaxies.
    seed : int
        Survey seed: the same seed gives the same catalogue, images and embeddings.
    image_size : int
        Image width and height in pixels.
    progress : bool
        Print progress to stderr.

    Returns
    -------
    Path of the catalogue (:func:`demo_catalogue_path`); the image store lies beside it
    (:func:`image_store_path`). Embeddings are computed from the rendered pixels by
    :func:`astroexplore.features.combined_features` (never from the generating parameters).
    """
    n, seed, image_size = int(n), int(seed), int(image_size)
    if n < 1:
        raise ValueError(f"The 'n' parameter of make_demo_catalogue must be an int in [1, inf). Got {n} instead.")
    if image_size < 16:
        raise ValueError(f"The 'image_size' parameter of make_demo_catalogue must be at least 16. Got {image_size}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = demo_catalogue_path(out_dir)
    store = image_store_path(path)
    prog = _Progress(progress, n)
    prog.step(f"generating {n} galaxies (seed {seed}, {image_size}px)")

    _set_old_labels_aside(path)
    population = sample_population(n, seed)
    tmp_store = store.with_name(store.name + ".tmp")
    try:
        path = _write_demo(path, store, tmp_store, population, n, seed, image_size, prog)
    finally:
        tmp_store.unlink(missing_ok=True)  # an interrupted run leaves no 250 MB partial file
    prog.step(f"wrote {path}")
    return path


def _set_old_labels_aside(path: Path) -> None:
    """Rename a label store left beside an earlier demo (its ids would name other galaxies now)."""
    from astroexplore.labels import default_store_path

    old = default_store_path(path)
    if old.exists():
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = old.with_name(f"{old.name}.before-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = old.with_name(old.name + suffix)
            if part.exists():
                os.replace(part, aside.with_name(aside.name + suffix))
        print(f"the labels of the earlier demo survey were moved to {aside} (its ids now name other "
              "galaxies)", file=sys.stderr)


def _write_demo(path: Path, store: Path, tmp_store: Path, population, n: int, seed: int, image_size: int,
                prog) -> Path:
    """Render, simulate and embed the demo survey; write its image store and catalogue."""
    from astroexplore.catalogue import Catalogue, save_catalogue
    from astroexplore.features import ENCODER_NAME, ENCODER_VERSION, combine_blocks

    images = np.lib.format.open_memmap(tmp_store, mode="w+", dtype=np.uint8,
                                       shape=(n, image_size, image_size, 3))
    params, pixels, morph_feats = render_images(population, seed, image_size, images, progress=prog)
    images.flush()

    votes = simulate_votes(params, seed)
    ra, dec = _coordinates(n, seed)
    width = max(6, len(str(n)))
    table = pd.DataFrame({
        "id": [f"demo_{i + 1:0{width}d}" for i in range(n)],
        "ra": ra,
        "dec": dec,
        "image": [f"demo://{i}" for i in range(n)],
    })
    table["mag_r"] = r_magnitude(params["flux"].to_numpy())
    table = pd.concat([table, votes], axis=1)
    table["truth_morphology"] = population["morphology"].astype(str).to_numpy()
    table["truth_anomaly"] = population["anomaly"].astype(str).to_numpy()
    table["truth_interest"] = interest_of(population["morphology"], population["anomaly"])
    prog.step("votes simulated; computing embeddings from pixels")

    # == combined_features(images, 40, seed); the per-image halves were computed by the workers
    embeddings = combine_blocks(pixels, morph_feats, n_components=40, seed=seed)
    prog.step(f"embeddings {embeddings.shape}")
    del images
    os.replace(tmp_store, store)

    metadata = {
        "encoder": {"name": ENCODER_NAME, "version": ENCODER_VERSION, "n_components": int(embeddings.shape[1]),
                    "input": f"rendered demo images, {image_size}x{image_size} RGB"},
        "image_store": {"kind": "demo_npy", "path": store.name, "shape": [n, image_size, image_size, 3],
                        "dtype": "uint8", "column": "image"},
        "demo": {"seed": seed, "n": n, "image_size": image_size, "version": DEMO_VERSION,
                 "generator": "astroexplore.demo.make_demo_catalogue",
                 "truth_columns": ["truth_morphology", "truth_anomaly", "truth_interest"]},
    }
    return save_catalogue(Catalogue.from_arrays(embeddings, table=table, metadata=metadata), path,
                          overwrite=True)  # regenerated: its old label store was moved aside
