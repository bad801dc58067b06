"""Training our encoder: contrastive (SimCLR), supervised (Zoobot vote loss) or both.

Modes
-----
``"contrastive"``
    NT-Xent between two galaxy-symmetric augmentations of each image (no labels needed).
``"supervised"``
    Dirichlet-multinomial loss on Galaxy Zoo votes (Walmsley et al. 2022), one augmented view.
``"hybrid"``
    Both: ``nt_xent + supervised_weight * mean DirMult NLL / n_questions``; galaxies without
    votes (all NaN / 0) only feed the contrastive part.

Any mode can also distil ``targets``: per-image features computed from the pixels (hand-made
morphology features, pixel PCA; :mod:`astroexplore.encoder.targets`) that a linear read-out of the
representation must predict from every augmented view (mean squared error on standardised
targets, weight ``target_weight``). No human label is involved.

Checkpoints are written atomically after every epoch (model, optimiser, epoch, loss history,
config). With ``resume=True`` an existing checkpoint continues from its last finished epoch; the
data order and augmentations of each epoch come from ``seed`` and the epoch number, so an
interrupted and resumed run follows the same trajectory as an uninterrupted one (on CPU). The
config records every training setting (:data:`RESUME_KEYS`) and a fingerprint of the training
images and votes, and a checkpoint resumes only a run that matches it (only ``epochs`` may change).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from astroexplore.encoder import DEFAULT_WIDTH
from astroexplore.encoder.augment import GalaxyAugment
from astroexplore.encoder.data import as_image_tensor, no_bar, vote_targets
from astroexplore.encoder.embed import CHECKPOINT_FORMAT, Encoder, encoder_metadata, read_checkpoint
from astroexplore.encoder.losses import dirichlet_multinomial_nll, nt_xent
from astroexplore.encoder.model import GalaxyModel
from astroexplore.encoder.targets import distillation_targets, standardise_targets

MODES = ("contrastive", "supervised", "hybrid")
#: Checkpoint config entries a resumed run must match (one missing from an older checkpoint is
#: unknown and not compared); ``images_sha`` and ``votes_sha`` fingerprint the training data.
RESUME_KEYS = ("mode", "targets", "target_weight", "image_size", "crop", "batch_size", "lr",
               "weight_decay", "temperature", "supervised_weight", "votes_per_galaxy", "seed", "model",
               "augment", "n_images", "vote_columns", "images_sha", "votes_sha")
_DATA_KEYS = {"images_sha": "the training images (as cropped and resized)", "votes_sha": "the votes"}
#: The ``astroexplore embed`` option behind each setting, named beside it in a refusal.
_OPTIONS = {"mode": "--mode", "targets": "--distill", "model.n_targets": "--distill", "image_size": "--image-size",
            "crop": "--crop", "batch_size": "--batch-size", "seed": "--seed", "model.width": "--width",
            "model.n_answers": "the vote columns", "n_images": "the images or --train-max"}


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _save_atomic(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_checkpoint_path(path: str | Path | None) -> Path | None:
    """``path`` as a Path (None stays None); a folder is refused before any training.

    Raises
    ------
    ValueError
        ``path`` is an existing folder or ends with a path separator: a checkpoint is one file.
    """
    if path is None:
        return None
    if Path(path).is_dir() or str(path).endswith(("/", os.sep)):
        raise ValueError(f"{path}: the checkpoint is a file, and this is a folder; name a file in it, "
                         f"e.g. {Path(path) / 'encoder.pt'}")
    return Path(path)


def _digest(t: torch.Tensor | None) -> str | None:
    """Fingerprint of a CPU tensor (its shape, dtype and bytes), or None."""
    if t is None:
        return None
    a = np.ascontiguousarray(t.numpy())
    h = hashlib.blake2b(f"{a.shape} {a.dtype}".encode(), digest_size=16)
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def _difference(key: str, old, new) -> str:
    """``"key=old (this run: new)"``; for dicts, one such entry per differing item."""
    if key in _DATA_KEYS:
        return f"{_DATA_KEYS[key]} differ"
    if isinstance(old, dict) and isinstance(new, dict):
        return "; ".join(_difference(f"{key}.{k}", old.get(k), new.get(k))
                         for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k))
    option = _OPTIONS.get(key) or ("--distill, which sets the augmentations" if key.startswith("augment.") else None)
    return f"{key}={old!r} (this run: {new!r}{f'; CLI: {option}' if option else ''})"


def _resume_mismatches(old: dict, new: dict) -> list[str]:
    """The :data:`RESUME_KEYS` on which a checkpoint's config ``old`` differs from ``new``, described."""
    old = {"targets": None, **old}  # checkpoints from before distillation had no targets
    old["model"] = {"n_targets": 0, **old.get("model", {})}
    return [_difference(k, old[k], new[k]) for k in RESUME_KEYS if k in old and old[k] != new[k]]


def _resume(ckpt: Path, config: dict, model: torch.nn.Module, opt, epochs: int) -> tuple[int, list]:
    """Load ``ckpt`` into ``model`` and ``opt``; returns (epochs done, history). A checkpoint
    without optimiser state (exported, :func:`export_checkpoint`) resumes only when it has all ``epochs``.

    Raises ValueError when the file is not a checkpoint or was trained with other data or settings.
    """
    state = read_checkpoint(ckpt)
    diffs = _resume_mismatches(dict(state["config"]), config)
    if diffs:
        raise ValueError(f"{ckpt}: this checkpoint was trained differently: {'; '.join(diffs)}. Delete it, "
                         "train afresh over it with resume=False (CLI: --no-resume), or use another "
                         "checkpoint path (CLI: --checkpoint, or another --out)")
    model.load_state_dict(state["model"])
    if "optimizer" in state:  # absent from a finished checkpoint exported for embedding only
        opt.load_state_dict(state["optimizer"])
    elif int(state["epoch"]) < int(epochs):
        raise ValueError(f"{ckpt}: this checkpoint holds no optimiser state (it was exported for embedding "
                         f"only), so it cannot be trained beyond its {state['epoch']} epochs; embed with it "
                         "(load_encoder, CLI: --encoder) or train afresh (resume=False, CLI: --no-resume)")
    if "rng" in state:  # dropout draws from torch's global generator: continue its sequence
        torch.set_rng_state(state["rng"]["cpu"])
        if torch.cuda.is_available() and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return int(state["epoch"]), list(state["history"])


def export_checkpoint(path: str | Path, out: str | Path) -> Path:
    """Write ``path``'s checkpoint to ``out`` without its optimiser and random states: a third of
    its size, for sharing or for embedding elsewhere. It embeds (:func:`load_encoder`, CLI
    ``--encoder``) and is reused by a run with the same settings and epochs, but cannot be trained
    further. Returns ``out``."""
    state = read_checkpoint(path)
    state = {k: v for k, v in state.items() if k not in ("optimizer", "rng")}
    _save_atomic(state, Path(out))
    return Path(out)


def _rng_state() -> dict:
    """torch's global random state (the vote head's dropout draws from it), for the checkpoint."""
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _resolve_targets(targets, x_all: torch.Tensor, seed: int) -> tuple[torch.Tensor | None, str | None]:
    """``targets`` (None, a kind name or an (n, k) array) -> standardised tensor and its name."""
    if targets is None:
        return None, None
    if isinstance(targets, str):
        return torch.from_numpy(distillation_targets(x_all, targets, seed=seed)), targets
    t = np.asarray(targets)
    if t.ndim != 2 or len(t) != len(x_all):
        raise ValueError(f"targets must be a kind name or an array of shape (n_images={len(x_all)}, "
                         f"n_targets); got shape {t.shape}")
    return torch.from_numpy(standardise_targets(t)), f"array ({t.shape[1]} columns)"


#: Below this many optimisation steps in all, the batch-norm running statistics are recomputed
#: over the training images when training ends ("precise BN"). PyTorch updates them by an average
#: with momentum 0.1, so after k steps their initial values (mean 0, variance 1) still weigh
#: 0.9^k: 59% after 5 steps, 0.5% after 50. A few hundred images at the default batch of 256
#: train one step an epoch, and their embeddings came out all but identical (mean cosine
#: 0.999999 between galaxies after 2 epochs; 0.68 with the statistics recomputed).
PRECISE_BN_STEPS = 50


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Optimisation steps of one training epoch (a last batch of one image is dropped).

    >>> steps_per_epoch(200, 256), steps_per_epoch(470, 128), steps_per_epoch(257, 256)
    (1, 4, 1)
    """
    bs = min(int(batch_size), int(n_images))
    return n_images // bs if n_images % bs < 2 else n_images // bs + 1


def _precise_batch_norm(model, x_all: torch.Tensor, batch_size: int, device: str) -> None:
    """The encoder's batch-norm statistics recomputed over ``x_all`` (the training images as
    embedding sees them: no augmentation)."""
    from astroexplore.encoder.embed import recompute_batch_norm

    batches = (x_all[i:i + batch_size].to(device).float().div_(255.0) for i in range(0, len(x_all), batch_size))
    recompute_batch_norm(model.encoder, batches)


def train_encoder(images_or_dataset, *, mode: str = "contrastive", votes=None, schema=None,
                  targets=None, target_weight: float = 20.0,
                  epochs: int = 10, batch_size: int = 256, image_size: int = 64, crop: float = 1.0, lr: float = 2e-3,
                  weight_decay: float = 1e-4, temperature: float = 0.2,
                  supervised_weight: float = 1.0, votes_per_galaxy: float = 40.0,
                  representation_dim: int = 128, width: int = DEFAULT_WIDTH, dropout: float = 0.2,
                  augment: GalaxyAugment | None = None, device: str | None = None,
                  checkpoint: str | Path | None = None, resume: bool = True,
                  progress: bool = True, log_epochs: bool | None = None, seed: int = 0,
                  threads: int | None = None,
                  on_epoch_end: Callable[[dict], None] | None = None,
                  on_resume: Callable[[int], None] | None = None) -> Encoder:
    """Train a small CNN encoder on galaxy cutouts and return it as an :class:`Encoder`.

    Parameters
    ----------
    images_or_dataset : array (n, H, W, 3) uint8 / float in [0, 1], tensor (n, 3, H, W), or list of paths
        Converted with the documented rules of :mod:`astroexplore.encoder.data`
        (grey -> 3 channels, centre-crop to square, resize to ``image_size``).
    crop : float
        Keep only the central ``crop`` fraction of each (square) image before resizing; the
        returned encoder applies the same crop when embedding.
    mode : {"contrastive", "supervised", "hybrid"}
    votes : DataFrame or ndarray (n, n_answers), optional
        Vote counts or fractions per galaxy (needed by "supervised" and "hybrid"); see
        :func:`astroexplore.encoder.data.vote_targets`.
    schema : Schema, dict or list of index lists, optional
        Question grouping of the vote columns (detected for DataFrames).
    targets : {"morphology", "pixels", "features"} or array (n, k), optional
        Features to distil into the representation (see :mod:`astroexplore.encoder.targets`);
        a kind name computes them from the training images as the encoder sees them, an array
        is standardised per column. Default: none (plain contrastive / vote training).
    target_weight : float
        Weight of the distillation loss (mean squared error per standardised target; NT-Xent
        is ~5 at the start). On GZ1, weights 1, 5 and 20 gave macro kNN purity 0.365, 0.370
        and 0.372 after 20 epochs, and the distilled features' R^2 rose from 0.55 to 0.64.
    epochs : int
        Total epochs (a resumed run trains only the missing ones).
    batch_size, image_size, lr, weight_decay, temperature : training settings
        (cosine learning-rate decay with a short warm-up).
    supervised_weight : float
        Weight of the vote loss in hybrid mode. The loss is averaged over every galaxy of a batch,
        those without votes contributing 0, so its weight scales with the share of voted
        galaxies (half the votes missing: half the weight).
    votes_per_galaxy : float
        Nominal volunteers per galaxy when ``votes`` are fractions.
    representation_dim, width, dropout : model size (see :class:`~astroexplore.encoder.model.ConvEncoder`).
    augment : GalaxyAugment, optional
        Default ``GalaxyAugment()``, or :meth:`GalaxyAugment.for_distillation` (shifts and zooms
        of a few per cent only) when ``targets`` are distilled. Recorded in the checkpoint.
    device : str, optional
        Default: CUDA when torch sees it, else CPU.
    checkpoint : path, optional
        A file, written after every epoch (a folder is a ValueError, raised before training).
    resume : bool
        Continue from ``checkpoint`` if it exists. Its settings (:data:`RESUME_KEYS`: all but
        ``epochs``) and its training images and votes (compared by fingerprint) must match this
        run's, else ValueError naming what differs.
    progress : bool
        tqdm bar per epoch (on a terminal or in a notebook only: none when the output is redirected).
    log_epochs : bool, optional
        Print one line per epoch (loss and seconds) to stdout; default: as ``progress``. (The
        command line prints its own lines through ``on_epoch_end``, with or without bars.)
    seed : int
    threads : int, optional
        CPU threads of the training (default: ``ASTROEXPLORE_TORCH_THREADS`` if set, else every
        core of the process; 2 threads trained 1.6x faster than 1 on a 2-core machine). Ignored on
        CUDA. The returned encoder embeds with the library's default (one thread).
    on_epoch_end : callable, optional
        Called with the epoch's record ``{"epoch", "loss", "seconds", "cpu_seconds"}`` (plus the mean
        of each loss term: ``"contrastive"``, ``"votes"``, ``"target_mse"``) after its checkpoint is
        written (progress reports; raising from it stops training, the checkpoint stays valid).
    on_resume : callable, optional
        Called with the number of epochs already trained when ``checkpoint`` is resumed.

    Notes
    -----
    The learning rate follows a cosine over ``epochs``; resuming with a larger ``epochs`` than
    the interrupted run stretches the remaining schedule (the finished epochs are kept).

    Returns
    -------
    Encoder
        ``encoder.metadata["history"]`` holds the per-epoch mean loss and seconds.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    >>> enc = train_encoder(imgs, epochs=1, batch_size=4, image_size=16, width=4,
    ...                     representation_dim=8, progress=False, device="cpu")
    >>> enc.embed(imgs).shape
    (8, 8)
    """
    from tqdm.auto import tqdm

    from astroexplore.torch_utils import available_cores, configure_threads, default_device

    if mode not in MODES:
        raise ValueError(f"The 'mode' parameter of train_encoder must be one of {MODES}. Got {mode!r} instead.")
    if int(epochs) < 0:
        raise ValueError(f"The 'epochs' parameter must be >= 0. Got {epochs} instead.")
    device = default_device(device)
    if device == "cpu":
        configure_threads(threads, default=available_cores())
    ckpt = check_checkpoint_path(checkpoint)
    x_all = as_image_tensor(images_or_dataset, image_size, progress=progress, crop=crop)
    n = len(x_all)
    if n < 2:
        raise ValueError(f"need at least 2 images to train, got {n}")

    counts = questions = vote_columns = None
    if mode in ("supervised", "hybrid"):
        if votes is None:
            raise ValueError(f"mode={mode!r} needs votes= (vote counts or fractions per galaxy)")
        counts, questions, vote_columns = vote_targets(votes, schema, votes_per_galaxy=votes_per_galaxy)
        if len(counts) != n:
            raise ValueError(f"votes has {len(counts)} rows but there are {n} images")
        counts = torch.from_numpy(counts)

    target_t, target_name = _resolve_targets(targets, x_all, seed)
    aug = augment or (GalaxyAugment() if target_t is None else GalaxyAugment.for_distillation())
    model_cfg = {"representation_dim": int(representation_dim), "width": int(width), "projection_dim": 128,
                 "n_answers": 0 if counts is None else int(counts.shape[1]), "dropout": float(dropout),
                 "n_targets": 0 if target_t is None else int(target_t.shape[1])}
    config = {"mode": mode, "targets": target_name, "target_weight": float(target_weight),
              "image_size": int(image_size), "crop": float(crop), "batch_size": int(batch_size),
              "lr": float(lr), "weight_decay": float(weight_decay), "temperature": float(temperature),
              "supervised_weight": float(supervised_weight), "votes_per_galaxy": float(votes_per_galaxy),
              "seed": int(seed), "model": model_cfg, "augment": dataclasses.asdict(aug), "n_images": int(n),
              "vote_columns": vote_columns, "images_sha": _digest(x_all), "votes_sha": _digest(counts)}
    torch.manual_seed(seed)
    model = GalaxyModel(**model_cfg).to(device)
    params = [p for name, p in model.named_parameters()
              if mode != "supervised" or not name.startswith("projection")]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    start_epoch, history = 0, []
    if ckpt is not None and resume and ckpt.exists():
        start_epoch, history = _resume(ckpt, config, model, opt, int(epochs))
        if on_resume is not None:
            on_resume(start_epoch)

    bs = min(int(batch_size), n)
    per_epoch = steps_per_epoch(n, bs)
    total_steps = max(1, per_epoch * int(epochs))
    warmup = min(per_epoch, max(1, total_steps // 10))
    n_q = len(questions) if questions else 1
    n_views = 1 if mode == "supervised" else 2  # augmented views per image and step

    def save() -> None:
        """The checkpoint of the epochs in ``history`` (after each, and after precise BN)."""
        if ckpt is not None:
            _save_atomic({"format": CHECKPOINT_FORMAT, "version": 1, "config": config,
                          "model": model.state_dict(), "optimizer": opt.state_dict(),
                          "epoch": len(history), "history": history, "questions": questions,
                          "vote_columns": vote_columns, "rng": _rng_state()}, ckpt)

    for epoch in range(start_epoch, int(epochs)):
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        perm = torch.randperm(n, generator=g)
        batches = [perm[i:i + bs] for i in range(0, n, bs)]
        if len(batches[-1]) < 2:
            batches = batches[:-1]
        losses, parts = [], {}
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", disable=no_bar(progress), unit="batch",
                   leave=False)
        for j, idx in enumerate(bar):
            step = epoch * per_epoch + j
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total_steps, lr, warmup)
            xb = x_all[idx].to(device, non_blocking=True).float().div_(255.0)
            b = len(idx)
            h = model.encoder(torch.cat([aug(xb, generator=g) for _ in range(n_views)]))
            loss = torch.zeros((), device=h.device)
            if mode != "supervised":
                z = model.projection(h)
                part = nt_xent(z[:b], z[b:], temperature)
                parts.setdefault("contrastive", []).append(float(part.detach()))
                loss = loss + part
            if mode != "contrastive":
                kb = counts[idx].to(device).repeat(n_views, 1)
                sup = dirichlet_multinomial_nll(kb, model.vote_head(h), questions).mean() / n_q
                parts.setdefault("votes", []).append(float(sup.detach()))
                loss = loss + (1.0 if mode == "supervised" else supervised_weight) * sup
            if target_t is not None:
                tb = target_t[idx].to(device).repeat(n_views, 1)
                mse = torch.mean((model.target_head(h) - tb) ** 2)
                parts.setdefault("target_mse", []).append(float(mse.detach()))
                loss = loss + target_weight * mse
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        **{k: float(np.mean(v)) for k, v in parts.items()},
                        "seconds": round(time.perf_counter() - t0, 2),
                        "cpu_seconds": round(time.process_time() - c0, 2)})
        save()
        if on_epoch_end is not None:
            on_epoch_end(dict(history[-1]))
        if progress if log_epochs is None else log_epochs:
            print(f"epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.4f} "
                  f"({history[-1]['seconds']:.1f} s)", flush=True)

    trained_here = len(history) > start_epoch  # epochs trained by this call, not only resumed
    if trained_here and per_epoch * len(history) < PRECISE_BN_STEPS:
        _precise_batch_norm(model, x_all, bs, device)
        save()
    model.eval()
    state = {"config": config, "epoch": max(start_epoch, int(epochs)) if history else 0,
             "history": history, "vote_columns": vote_columns}
    meta = encoder_metadata(state, ckpt)
    meta["history"] = history
    return Encoder(model.encoder, image_size, crop=crop, vote_head=model.vote_head, questions=questions,
                   vote_columns=vote_columns, metadata=meta, device=device, unit_vectors=True)
