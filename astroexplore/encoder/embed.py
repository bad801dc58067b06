"""Embedding images with a trained encoder (ours or the user's own torch model).

Protocol for your own encoder
-----------------------------
Any ``torch.nn.Module`` that maps a batch ``(B, 3, H, W)`` of float32 RGB images scaled to
``[0, 1]`` (H = W = ``image_size``) to ``(B, d)`` features works::

    enc = Encoder.from_module(my_module, image_size=224)
    X = enc.embed(images)          # (n, d) float32

Normalisation (ImageNet means, arcsinh stretches, ...) belongs inside your module. The module is
put in ``eval()`` mode and run under ``torch.no_grad()`` on ``device`` (CUDA when available).
"""
from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from astroexplore.encoder.augment import dihedral_views
from astroexplore.encoder.data import as_image_tensor, load_images, no_bar

CHECKPOINT_FORMAT = "astroexplore-encoder"
#: Image files read and embedded at a time by :meth:`Encoder.embed_files`: 4,096 images read at
#: 128 px (64 px of the central 0.5) hold 200 MB, whatever the number of files.
FILE_CHUNK = 4096


def load_size(image_size: int, crop: float) -> int:
    """Side (pixels) to read files at so that their central ``crop`` is ``image_size`` pixels.

    >>> load_size(64, 0.5)
    128
    """
    return round(int(image_size) / float(crop))


@dataclass
class FileEmbedding:
    """What :meth:`Encoder.embed_files` returns.

    Attributes
    ----------
    embeddings : ndarray (n_good, d) float32
        Representation of each readable file, in the order of ``good``.
    good : ndarray (n_good,) int64
        Indices into the given paths of the files embedded.
    errors : list of str
        One message per unreadable file left out (``skip_bad=True`` only), naming the file.
    posterior_mean, posterior_std : ndarray (n_good, n_answers) float32, or None
        MC-dropout vote posteriors (``posteriors=True``, encoders with a vote head).
    """

    embeddings: np.ndarray
    good: np.ndarray
    errors: list
    posterior_mean: np.ndarray | None = None
    posterior_std: np.ndarray | None = None


@torch.no_grad()
def recompute_batch_norm(module: nn.Module, batches) -> int:
    """Replace the running mean and variance of every batch-norm layer of ``module`` with exact
    averages over ``batches`` (iterable of ``(B, 3, S, S)`` float tensors in [0, 1], on the
    module's device): one forward pass, no gradient, weights unchanged; the module is left in
    eval mode. Returns the number of layers (0: none, nothing changes)."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    module.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches, not an exponential one
        m.train()
    try:
        for xb in batches:
            if len(xb) > 1:  # one image has no variance to learn from
                module(xb)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.eval()
    return len(norms)


class Encoder:
    """An image -> vector map with batching, device handling and optional vote posteriors.

    Parameters
    ----------
    module : nn.Module
        ``(B, 3, S, S)`` float in ``[0, 1]`` -> ``(B, d)``.
    image_size : int
        ``S``: images of another size are centre-cropped to square and resized (see
        :mod:`astroexplore.encoder.data`).
    crop : float
        Central fraction of each image kept before resizing (1 = whole image). It may be set
        after loading (``encoder.crop = 1.0``) for another survey's cutouts, which frame their
        galaxies differently (``astroexplore embed --encoder ... --crop``).
    vote_head : nn.Module or None
        ``(B, d)`` -> ``(B, n_answers)`` Dirichlet concentrations (our hybrid/supervised models).
    questions : list of list of int, optional
        Answer indices of each question (for posteriors).
    vote_columns : list of str, optional
        Names of the vote-head outputs.
    metadata : dict, optional
        JSON-able description (training mode, epochs, ...), copied into catalogues; the encoder
        adds ``unit_vectors``.
    device : str, optional
        Default: CUDA when torch sees it, else CPU.
    pca : EmbeddingPCA, optional
        The basis that reduces the representation to a catalogue's ``embedding`` column
        (:mod:`astroexplore.encoder.pca`): stored in checkpoints by ``astroexplore embed`` and
        read back by :func:`load_encoder`, so ``enc.pca.transform(enc.embed(images))`` gives the
        coordinates of every catalogue made with this encoder. None when there is none.
    unit_vectors : bool
        Scale each embedding to unit length (the representation's direction; default False).
        Checkpoints of our encoder load with True: its contrastive loss compares directions
        only, and the length varies with things such as brightness. On the 6,664 SDSS gz1
        galaxies an isolation forest on unit vectors ranked more of the 115 mergers near the
        top: 12.4-16.0 found in the first 200 labels against 9.2-12.0 on the raw
        representations (benchmarks/results/real_data_gpu.md), with kNN purity unchanged.
        The posteriors of a vote head are computed from the raw representation either way.

    Examples
    --------
    >>> enc = Encoder.from_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), image_size=8)
    >>> enc.embed(np.zeros((5, 8, 8, 3), np.uint8)).shape
    (5, 4)
    """

    def __init__(self, module: nn.Module, image_size: int, *, crop: float = 1.0, vote_head: nn.Module | None = None,
                 questions: Sequence[Sequence[int]] | None = None,
                 vote_columns: Sequence[str] | None = None, metadata: dict | None = None,
                 device: str | None = None, pca=None, unit_vectors: bool = False):
        from astroexplore.torch_utils import configure_threads, default_device

        self.device = default_device(device)
        if self.device == "cpu":
            configure_threads()
        self.module = module.to(self.device).eval()
        self.image_size = int(image_size)
        self.crop = float(crop)
        self.vote_head = None if vote_head is None else vote_head.to(self.device).eval()
        self.questions = [list(q) for q in questions] if questions else []
        self.vote_columns = list(vote_columns) if vote_columns else []
        self.pca = pca
        self.unit_vectors = bool(unit_vectors)
        self.metadata = {**dict(metadata or {}), "unit_vectors": self.unit_vectors}

    @classmethod
    def from_module(cls, module: nn.Module, image_size: int, *, crop: float = 1.0,
                    device: str | None = None, name: str | None = None, unit_vectors: bool = False) -> Encoder:
        """Wrap a user's encoder (see the module docstring for the protocol). ``unit_vectors``:
        scale its outputs to unit length (say True for an encoder trained with a cosine loss)."""
        return cls(module, image_size, crop=crop, device=device, unit_vectors=unit_vectors,
                   metadata={"name": name or type(module).__name__, "image_size": int(image_size),
                             "crop": float(crop)})

    # ------------------------------------------------------------------ embedding
    def _batches(self, images, batch_size: int, progress: bool, desc: str):
        from tqdm.auto import tqdm

        x = as_image_tensor(images, self.image_size, progress=progress, crop=self.crop)
        for start in tqdm(range(0, len(x), batch_size), desc=desc, disable=no_bar(progress), unit="batch"):
            yield x[start:start + batch_size].to(self.device).float().div_(255.0)

    def embed(self, images, batch_size: int = 256, *, tta: bool = False,
              progress: bool = False) -> np.ndarray:
        """Embedding vectors for ``images``: the representation, of unit length when
        :attr:`unit_vectors`.

        Parameters
        ----------
        images : array (n, H, W, 3) uint8 / float in [0, 1], tensor (n, 3, H, W), or list of paths
        batch_size : int
        tta : bool
            Average the representation over the 8 exact square symmetries (4 rotations x flip):
            exactly invariant to those, 8x slower.
        progress : bool
            tqdm bar over batches.

        Returns
        -------
        ndarray of shape (n, d), float32
        """
        return self._finish(self._raw_embeddings(images, batch_size, tta=tta, progress=progress))

    @torch.no_grad()
    def adapt_batch_norm(self, images, batch_size: int = 256, *, progress: bool = False) -> int:
        """Re-estimate every batch-norm layer's statistics on ``images`` (AdaBN, Li et al. 2016).

        An encoder trained on one survey normalises each layer's activations with that survey's
        means and variances; another survey's images (other bands, depth, pixel scale) give other
        activations. One pass over ``images`` (no labels, no gradient, weights unchanged) replaces
        the running means and variances with these images' own (exact averages over the batches),
        before :meth:`embed`. The encoder changes in place: load it again to undo.

        Measure before relying on it: on the real-data benchmark's transfer from SDSS (gz1) to
        DECaLS cutouts it lowered the distilled encoder's ring-head AUC by 0.02-0.03 and raised
        the plain contrastive encoder's by 0.008 (benchmarks/results/adabn_transfer.md).

        Parameters
        ----------
        images : as :meth:`embed`
            The images to be embedded (or a sample of them: a few thousand are plenty).
        batch_size : int
            Images per forward pass; each batch's statistics are averaged with equal weight.

        Returns
        -------
        int
            The number of batch-norm layers re-estimated (0: the module has none; nothing changes).
        """
        if len(images) < 2:
            raise ValueError(f"adapting batch norm needs at least 2 images (got {len(images)}): one image "
                             "has no spread to estimate")
        n = recompute_batch_norm(self.module, self._batches(images, batch_size, progress, "adapting batch norm"))
        if n:
            self.metadata["batch_norm_adapted_to"] = int(len(images))
        return n

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        """Raw representations -> embeddings (unit length when :attr:`unit_vectors`)."""
        if self.unit_vectors and len(raw):
            raw = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), np.float32(1e-12))
        return np.ascontiguousarray(raw, dtype=np.float32)

    @torch.no_grad()
    def _raw_embeddings(self, images, batch_size: int, *, tta: bool, progress: bool = False) -> np.ndarray:
        """``(n, d)`` float32 representations (averaged over the 8 symmetries with ``tta``)."""
        self.module.eval()
        outs = []
        for xb in self._batches(images, batch_size, progress, "embedding"):
            if tta:
                h = torch.stack([self.module(v) for v in dihedral_views(xb)]).mean(0)
            else:
                h = self.module(xb)
            outs.append(h.float().cpu())
        if not outs:
            return np.zeros((0, self.representation_dim), np.float32)
        return torch.cat(outs).numpy()

    def embed_files(self, paths: Sequence[str | Path], *, chunk_size: int = FILE_CHUNK, skip_bad: bool = False,
                    tta: bool = False, posteriors: bool = False, batch_size: int = 256,
                    progress: bool = False) -> FileEmbedding:
        """Embed image files a chunk at a time, so memory holds ``chunk_size`` images, not all.

        Each file is read at :func:`load_size` and goes through the same crop and resize as
        :meth:`embed` (the result does not depend on ``chunk_size``, except the MC-dropout noise of
        the posteriors). A survey of a million 128 px cutouts would need 49 GB as one array.

        Parameters
        ----------
        paths : sequence of str or Path
            jpg/png/FITS files (:func:`astroexplore.encoder.data.read_image`).
        chunk_size : int
            Files read and embedded at a time.
        skip_bad : bool
            Leave unreadable files out (listed in ``errors``) instead of raising
            :class:`~astroexplore.encoder.data.ImageError`, which names the file.
        tta, batch_size : as in :meth:`embed`
        posteriors : bool
            Also predict vote posteriors (:meth:`predict_posteriors`; needs a vote head).
        progress : bool
            tqdm bar over the files.

        Returns
        -------
        FileEmbedding
        """
        from tqdm.auto import tqdm

        if posteriors and self.vote_head is None:
            raise ValueError("posteriors=True needs an encoder with a vote head")
        chunk_size = max(1, int(chunk_size))
        paths = list(paths)
        size = load_size(self.image_size, self.crop)
        parts, goods, errors, means, stds = [], [], [], [], []
        with tqdm(total=len(paths), desc="embedding files", disable=no_bar(progress), unit="img") as bar:
            for start in range(0, len(paths), chunk_size):
                x, good, errs = load_images(paths[start:start + chunk_size], size, skip_bad=skip_bad)
                errors += errs
                if len(good):
                    raw = self._raw_embeddings(x, batch_size, tta=tta)
                    parts.append(self._finish(raw))
                    goods.append(np.asarray(good, dtype=np.int64) + start)
                    if posteriors:
                        # the vote head sees one raw view: reuse the representation unless tta averaged it
                        reps = self._representations(x, batch_size) if tta else torch.from_numpy(raw)
                        mean, std = self._posteriors_from(reps.split(batch_size))
                        means.append(mean)
                        stds.append(std)
                bar.update(min(chunk_size, len(paths) - start))
        good = np.concatenate(goods) if goods else np.zeros(0, np.int64)
        out = FileEmbedding(_rows(parts, self.representation_dim), good, errors)
        if posteriors:
            k = len(self.vote_columns)
            out.posterior_mean, out.posterior_std = _rows(means, k), _rows(stds, k)
        return out

    @property
    def representation_dim(self) -> int:
        """``d``, found with one dummy forward pass (cached)."""
        if not hasattr(self, "_dim"):
            with torch.no_grad():
                self.module.eval()
                x = torch.zeros(2, 3, self.image_size, self.image_size, device=self.device)
                self._dim = int(self.module(x).shape[1])
        return self._dim

    @torch.no_grad()
    def predict_posteriors(self, images, *, n_samples: int = 10, batch_size: int = 256,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Expected vote fractions and their predictive spread (hybrid / supervised encoders).

        Each of ``n_samples`` passes keeps the vote head's dropout on and predicts Dirichlet
        concentrations ``alpha`` per question (Walmsley et al. 2022): a distribution over the
        question's vote fractions, with mean ``f_i = alpha_i / A`` and variance
        ``f_i (1 - f_i) / (A + 1)``, ``A = sum(alpha)``. ``std`` combines both sources (law of
        total variance): the Dirichlet variance averaged over the passes plus the variance of the
        passes' means (MC dropout). It is the spread of the volunteers' vote probability: an
        observed fraction of N votes also scatters by ``f (1 - f) / N`` around it. On 1,000
        held-out demo galaxies its correlation with the absolute error was 0.25-0.27 (the
        dropout spread alone: -0.01 to 0.08). With the scatter of the demo's 40 votes added,
        0.52-0.57 of the smooth/featured errors were within one std (0.68 if calibrated): still
        somewhat narrow (benchmarks/bench_posteriors.py).

        Returns
        -------
        mean, std : ndarrays of shape (n, n_answers), float32
            Expected fraction and its predictive standard deviation; columns as :attr:`vote_columns`.
        """
        if self.vote_head is None:
            raise ValueError("this encoder has no vote head: train it with mode='hybrid' or "
                             "'supervised' and votes= to predict posteriors")
        return self._posteriors_from(self._representations(images, batch_size).split(batch_size),
                                     n_samples=n_samples, seed=seed)

    def _representations(self, images, batch_size: int) -> torch.Tensor:
        """``(n, d)`` raw representations of one view of each image (no tta), on the CPU."""
        return torch.from_numpy(self._raw_embeddings(images, batch_size, tta=False))

    @torch.no_grad()
    def _posteriors_from(self, batches, *, n_samples: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Mean and predictive std of the vote fractions from batches of ``(B, d)`` representations.

        The dropout masks are seeded by ``seed`` on a forked random state: the caller's global
        torch generator is left as it was."""
        devices = [torch.device(self.device).index or 0] if str(self.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self._sample_posteriors(batches, n_samples)

    def _sample_posteriors(self, batches, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        self.vote_head.train()  # dropout on (the head has no batch norm)
        means, stds = [], []
        try:
            for h in batches:
                h = h.to(self.device)
                fracs, variances = zip(*(self._dirichlet_moments(self.vote_head(h)) for _ in range(n_samples)))
                f = torch.stack(fracs)
                means.append(f.mean(0).cpu())
                stds.append((torch.stack(variances).mean(0) + f.var(0, unbiased=False)).sqrt().cpu())
        finally:
            self.vote_head.eval()
        k = len(self.vote_columns)
        if not means:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.float32)
        return torch.cat(means).numpy().astype(np.float32), torch.cat(stds).numpy().astype(np.float32)

    def _dirichlet_moments(self, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of each answer's fraction under the Dirichlet of its question.

        alpha: (B, n_answers) concentrations -> two (B, n_answers) tensors.
        """
        frac, var = torch.empty_like(alpha), torch.empty_like(alpha)
        for q in self.questions:
            a = alpha[:, q]
            total = a.sum(1, keepdim=True)
            frac[:, q] = a / total
            var[:, q] = frac[:, q] * (1 - frac[:, q]) / (total + 1)
        return frac, var


def _rows(parts: list, width: int) -> np.ndarray:
    """Stack per-chunk ``(m, width)`` float32 arrays (``(0, width)`` when there are none)."""
    return np.concatenate(parts) if parts else np.zeros((0, width), np.float32)


def read_checkpoint(path: str | Path) -> dict:
    """The contents of a checkpoint written by :func:`train_encoder` (tensors on the CPU).

    Read with ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only,
    so a checkpoint cannot run code when it is read (a file holding other objects is refused).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not an astroexplore encoder checkpoint (another file, a truncated one); the
        message names it and says why.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise FileNotFoundError(f"{path}: encoder checkpoint {what}")
    not_ours = f"{path}: not an astroexplore encoder checkpoint"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{not_ours} (not a file torch.save writes: another kind of file, or truncated)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{not_ours} (it holds Python objects besides tensors, numbers and strings; "
                         "they are not read, as reading them could run code)") from err
    except Exception as err:  # RuntimeError, EOFError, ... on a damaged archive
        first = (str(err).splitlines() or [""])[0]
        raise ValueError(f"{not_ours} (torch cannot read it: {type(err).__name__}: {first})") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{not_ours} (no '{CHECKPOINT_FORMAT}' mark; "
                         "for your own torch encoder use Encoder.from_module(module, image_size))")
    missing = [k for k in ("config", "model", "epoch") if k not in state]
    if missing:
        raise ValueError(f"{not_ours} (no {', '.join(missing)})")
    return state


def load_encoder(path: str | Path, *, device: str | None = None) -> Encoder:
    """Load an :class:`Encoder` from a checkpoint written by :func:`train_encoder`.

    Its :attr:`Encoder.pca` is the catalogue PCA stored in the checkpoint by
    ``astroexplore embed`` (None in checkpoints without one: older ones load all the same), and
    its embeddings are unit vectors (:attr:`Encoder.unit_vectors`).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_checkpoint`.
    """
    from astroexplore.encoder.model import GalaxyModel
    from astroexplore.encoder.pca import pca_from_checkpoint

    state = read_checkpoint(path)
    cfg = state["config"]
    model = GalaxyModel(**cfg["model"])
    model.load_state_dict(state["model"])
    return Encoder(model.encoder, cfg["image_size"], crop=cfg.get("crop", 1.0), vote_head=model.vote_head,
                   questions=state.get("questions"), vote_columns=state.get("vote_columns"),
                   metadata=encoder_metadata(state, path), device=device, pca=pca_from_checkpoint(state),
                   unit_vectors=True)


def encoder_metadata(state: dict, path: str | Path | None = None) -> dict:
    """JSON-able summary of a checkpoint (for catalogue metadata)."""
    cfg = state["config"]
    return {"name": "astroexplore.encoder.ConvEncoder", "mode": cfg["mode"],
            "targets": cfg.get("targets"), "image_size": cfg["image_size"],
            "crop": cfg.get("crop", 1.0),
            "epochs_trained": int(state["epoch"]), "representation_dim": cfg["model"]["representation_dim"],
            "width": cfg["model"]["width"], "seed": cfg["seed"], "batch_size": cfg["batch_size"],
            "vote_columns": list(state.get("vote_columns") or []),
            "checkpoint": None if path is None else str(path),
            "final_loss": (state["history"][-1]["loss"] if state.get("history") else None)}
