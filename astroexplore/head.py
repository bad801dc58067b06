"""The retrainable interest head: a small ensemble of MLPs that learns the user's 0-5 scores.

One hidden layer per member, all members trained together in one pass: the first layers are one
``(n_features, n_members * hidden)`` matrix and the output layers one block-diagonal
``(n_members * hidden, n_members)`` matrix, so a forward pass is two matrix products whatever the
ensemble size. Members differ by their initial weights and by Bayesian-bootstrap sample weights
(exponential(1) per label and member, so every member still sees every label, which matters with a
single label). The ensemble mean is the predicted interest, the ensemble standard deviation its
uncertainty (both in score units, 0-5).

Imbalance: most scores are 0-1. With ``balance=True`` each label is weighted by the inverse
frequency of its (rounded) score, normalised to mean 1 and capped at ``max_balance``, so a handful of
4s and 5s are not drowned by hundreds of 0s.

Warm start: a second ``fit`` keeps the weights and runs ``warm_epochs`` (default 200) instead of
``epochs`` (default 300) full-batch Adam steps (``Explorer.retrain`` fits afresh unless asked to
warm-start, so that its model depends only on the labels; on 200 labels 0.12 s against 0.10 s). Fixed ``seed`` + the same sequence of fits give the
same weights (seeded ``torch.Generator`` for initialisation and bootstrap; full-batch training, no
shuffling; CPU runs with one thread via :func:`astroexplore.torch_utils.configure_threads`).

Speed (shared 2-core CPU, load average 7-8 from other jobs; ``benchmarks/bench_retrain.py``):
a warm retrain on 200 labels 0.12-0.23 s; predicting 1M x 40 0.30-0.47 s in bfloat16 (input
standardisation folded into the first layer, so no standardised copy of the catalogue; chunks of
16,384 rows keep the hidden activations in cache).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .constants import MAX_SCORE, MIN_SCORE
from .torch_utils import check_device, configure_threads, default_device

__all__ = ["InterestHead", "balanced_weights"]

_MID = (MAX_SCORE + MIN_SCORE) / 2.0
_HALF = (MAX_SCORE - MIN_SCORE) / 2.0


def _check_finite_chunk(block, start: int, name: str) -> None:
    """ValueError naming the first row of ``block`` (rows from ``start``) with NaN or inf."""
    bad = ~np.isfinite(np.asarray(block, dtype=np.float32)).reshape(len(block), -1).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} row {start + int(np.argmax(bad))} holds NaN or inf; the head "
                         "predicts only finite rows.")


def balanced_weights(y, *, max_weight: float = 10.0) -> np.ndarray:
    """Inverse-frequency weights of the rounded scores, mean 1, each at most ``max_weight`` x the smallest.

    Parameters
    ----------
    y : array-like of shape (n,), float
        Scores 0-5 (means over users allowed; rounded to classes).
    max_weight : float, default 10
        Cap on the ratio between the largest and smallest weight.

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> balanced_weights([0, 0, 0, 5]).round(2).tolist()
    [0.67, 0.67, 0.67, 2.0]
    """
    y = np.rint(np.asarray(y, dtype=np.float64)).astype(int)
    if y.size == 0:
        return np.ones(0)
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    w = np.minimum(w, w.min() * max_weight)
    return w / w.mean()


def _as_tensor(chunk):
    """A float32 torch view of a (possibly read-only) numpy chunk; torch never writes to it."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))


class _AdamW:
    """Plain AdamW (Loshchilov & Hutter 2019) over a few tensors.

    ``torch.optim`` imports torch._dynamo on first use (3-5 s on the 2-core machines), which an
    app would pay at its first retrain; this is the same update in a dozen tensor ops.
    """

    def __init__(self, params, *, lr: float, weight_decay: float, betas=(0.9, 0.999),
                 eps: float = 1e-8):
        import torch

        self.params = list(params)
        self.lr, self.wd, self.betas, self.eps = lr, weight_decay, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self):
        import torch

        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                g = p.grad
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.mul_(1 - self.lr * self.wd)
                p.addcdiv_(m, v.div(c2).sqrt_().add_(self.eps), value=-self.lr / c1)
                p.grad = None


class InterestHead:
    """Ensemble of small MLPs predicting interest (0-5) from embeddings, with an uncertainty.

    Higher = more interesting. Trained on the GPU when torch sees one, else on CPU.

    Parameters
    ----------
    n_members : int, default 8
        Ensemble size. 8 x 20 found more anomalies than 5 x 32 on the discovery benchmark
        (mammography@300: 173 against 158, 3 seeds) at the same cost (160 hidden units in all).
    hidden : int, default 20
        Hidden units per member.
    epochs : int, default 300
        Full-batch Adam steps for a cold start.
    warm_epochs : int, default 200
        Steps when warm-starting from the previous weights.
    lr : float, default 0.02
    weight_decay : float, default 1e-3
        AdamW decoupled weight decay (keeps predictions far from the labels modest).
    balance : bool, default True
        Reweight labels by inverse score frequency (see :func:`balanced_weights`).
    max_balance : float, default 10
    bootstrap : bool, default True
        Bayesian-bootstrap weights per member (else members differ only by initialisation).
    input_mean, input_scale : array-like of shape (n_features,) or None
        Standardisation ``(X - input_mean) / input_scale``; pass catalogue-wide statistics (the
        Explorer does); None estimates them from the first ``fit``'s ``X``.
    precision : {"auto", "float32", "bfloat16"}, default "auto"
        Arithmetic of ``predict`` (training is always float32). "auto" = bfloat16 matrix products
        (float32 accumulation) on CPUs with native bfloat16 (AVX512-BF16 / AMX), about 4x faster
        than float32 there, with errors below ~0.05 score units; float32 elsewhere and on GPUs.
    seed : int, default 0
    device : str or None
        "cuda" / "cpu"; None picks :func:`astroexplore.torch_utils.default_device`.

    Attributes
    ----------
    n_features_in_ : int
    n_fits_ : int
        Number of ``fit`` calls so far (warm or cold).
    device_ : str
    last_fit_ : dict
        ``n_labels``, ``epochs``, ``warm_start``, ``final_loss`` of the latest fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4)).astype("float32")
    >>> y = np.where(X[:, 0] > 1, 5.0, 0.0)
    >>> head = InterestHead(seed=0, device="cpu").fit(X, y)
    >>> mean, std = head.predict(X)
    >>> mean.shape, mean.dtype, bool(mean[y == 5].mean() > mean[y == 0].mean() + 2)
    ((100,), dtype('float32'), True)
    """

    def __init__(self, *, n_members: int = 8, hidden: int = 20, epochs: int = 300,
                 warm_epochs: int = 200, lr: float = 0.02, weight_decay: float = 1e-3,
                 balance: bool = True, max_balance: float = 10.0, bootstrap: bool = True,
                 input_mean=None, input_scale=None, precision: str = "auto", seed: int = 0,
                 device: str | None = None):
        self.n_members = n_members
        self.hidden = hidden
        self.epochs = epochs
        self.warm_epochs = warm_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.balance = balance
        self.max_balance = max_balance
        self.bootstrap = bootstrap
        self.input_mean = input_mean
        self.input_scale = input_scale
        self.precision = precision
        self.seed = seed
        self.device = device

    # ------------------------------------------------------------------ helpers
    def _check_params(self):
        for name, low in (("n_members", 1), ("hidden", 1), ("epochs", 1), ("warm_epochs", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"The {name!r} parameter of InterestHead must be an int in "
                                 f"[{low}, inf). Got {v!r} instead.")
        for name, low, strict in (("lr", 0.0, True), ("weight_decay", 0.0, False), ("max_balance", 1.0, False)):
            v = getattr(self, name)
            ok = (not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
                  and np.isfinite(v) and (v > low if strict else v >= low))
            if not ok:
                raise ValueError(f"The {name!r} parameter of InterestHead must be a finite number "
                                 f"{'>' if strict else '>='} {low:g}. Got {v!r} instead.")
        check_device(self.device)

    @property
    def is_fitted(self) -> bool:
        """True once ``fit`` has run."""
        return hasattr(self, "n_features_in_")

    def _init_params(self, d: int, gen):
        import torch

        M, h = self.n_members, self.hidden
        bound1 = 1.0 / np.sqrt(d)
        bound2 = 1.0 / np.sqrt(h)
        W1 = (torch.rand(d, M * h, generator=gen) * 2 - 1) * bound1
        b1 = (torch.rand(M * h, generator=gen) * 2 - 1) * bound1
        W2 = (torch.rand(M, h, generator=gen) * 2 - 1) * bound2
        b2 = torch.zeros(M)
        dev = self.device_
        self._params = [p.to(dev).requires_grad_(True) for p in (W1, b1, W2, b2)]

    def _forward(self, Xs):
        """Xs (n, d) standardised -> outputs (n, M) in normalised units."""
        import torch

        W1, b1, W2, b2 = self._params
        H = torch.relu(torch.addmm(b1, Xs, W1))
        return (H.view(Xs.shape[0], self.n_members, self.hidden) * W2).sum(-1) + b2

    # ------------------------------------------------------------------ API
    def fit(self, X, y, sample_weight=None, *, side=None, warm_start: bool = True,
            progress: Callable[[float], None] | None = None) -> "InterestHead":
        """Train on labelled embeddings; returns ``self``.

        Parameters
        ----------
        X : array-like of shape (n_labels, n_features), float32
        y : array-like of shape (n_labels,), float
            Interest scores in [0, 5] (means over users allowed).
        sample_weight : array-like of shape (n_labels,), optional
            Multiplies the balance weights.
        side : array-like of shape (n_labels,) or (n_labels, n_side), optional
            Extra input columns appended to ``X`` (the Explorer passes the anomaly prior, so the
            head can learn how far to trust it); ``predict`` then needs them too. ``input_mean``
            and ``input_scale`` then cover ``n_features + n_side`` columns.
        warm_start : bool, default True
            Keep the current weights (when fitted on the same number of features) and train for
            ``warm_epochs``; otherwise re-initialise and train for ``epochs``.
        progress : callable(float), optional
            Called with the fraction of steps done (every ~10%).
        """
        import torch

        self._check_params()
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        n_side = 0
        if side is not None and X.ndim == 2:
            side = np.asarray(side, dtype=np.float32).reshape(X.shape[0], -1)
            n_side = side.shape[1]
            X = np.concatenate([X, side], axis=1)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_labels, n_features); got shape {X.shape}.")
        if X.shape[0] == 0:
            raise ValueError("Cannot train the interest head without labels (got 0).")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} scores.")
        if not np.isfinite(X).all() or not np.isfinite(y).all():
            raise ValueError("X and y must be finite (no NaN or inf).")
        if y.min() < MIN_SCORE or y.max() > MAX_SCORE:
            raise ValueError(f"Scores must lie in [{MIN_SCORE}, {MAX_SCORE}]; got values from "
                             f"{y.min()} to {y.max()}.")
        n, d = X.shape
        w = balanced_weights(y, max_weight=self.max_balance) if self.balance else np.ones(n)
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if sw.shape[0] != n or not np.isfinite(sw).all() or (sw < 0).any() or not sw.sum() > 0:
                raise ValueError("sample_weight must hold one finite, non-negative weight per label, "
                                 "not all zero.")
            w = w * sw

        configure_threads()
        warm = bool(warm_start and self.is_fitted and self.n_features_in_ == d
                    and self.n_side_ == n_side)
        if not warm:
            self.device_ = default_device(self.device)
            self.n_features_in_ = d
            self.n_side_ = n_side
            self.n_fits_ = 0
            mean = (X.mean(axis=0) if self.input_mean is None
                    else np.asarray(self.input_mean, dtype=np.float64))
            scale = (X.std(axis=0) if self.input_scale is None
                     else np.asarray(self.input_scale, dtype=np.float64))
            if mean.shape != (d,) or scale.shape != (d,):
                raise ValueError(f"input_mean/input_scale must have shape ({d},).")
            scale = np.where(scale > 1e-6, scale, 1.0)
            self.x_mean_ = mean.astype(np.float32)
            self.x_scale_ = scale.astype(np.float32)
        gen = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + self.n_fits_)
        if not warm:
            self._init_params(d, gen)
        dev = self.device_
        M = self.n_members
        Xs = torch.from_numpy((X - self.x_mean_) / self.x_scale_).to(dev)
        t = torch.from_numpy(((y - _MID) / _HALF).astype(np.float32)).to(dev)
        base = torch.from_numpy(w.astype(np.float32))
        boot = (torch.empty(M, n).exponential_(1.0, generator=gen) if self.bootstrap and M > 1
                else torch.ones(M, n))
        W = (boot * base).T.contiguous().to(dev)  # (n, M)
        W = W / W.sum(dim=0, keepdim=True)
        if not warm:  # start every member's output at the weighted mean score
            with torch.no_grad():
                self._params[3].copy_((W * t[:, None]).sum(0))
        steps = int(self.warm_epochs if warm else self.epochs)
        opt = _AdamW(self._params, lr=self.lr, weight_decay=self.weight_decay)
        every = max(1, steps // 10)
        for step in range(steps):
            out = self._forward(Xs)
            loss = (W * (out - t[:, None]) ** 2).sum() / M
            loss.backward()
            opt.step()
            if progress is not None and ((step + 1) % every == 0 or step + 1 == steps):
                progress((step + 1) / steps)
        self.n_fits_ += 1
        self.last_fit_ = {"n_labels": n, "epochs": steps, "warm_start": warm,
                          "final_loss": float(loss.detach()) * _HALF**2, "device": dev}
        self._folded = None
        return self

    def _fold(self):
        """First layer with the standardisation folded in; block-diagonal output layer."""
        import torch

        if self._folded is None:
            with torch.no_grad():
                W1, b1, W2, b2 = (p.detach() for p in self._params)
                mean = torch.from_numpy(self.x_mean_).to(W1.device)
                inv = torch.from_numpy(1.0 / self.x_scale_).to(W1.device)
                W1f = (W1 * inv[:, None]).contiguous()
                b1f = b1 - (mean * inv) @ W1
                M, h = self.n_members, self.hidden
                W2b = torch.zeros(M * h, M, device=W1.device)
                for m in range(M):
                    W2b[m * h:(m + 1) * h, m] = W2[m]
                dtype = self._predict_dtype()
                self._folded = tuple(t.to(dtype) for t in (W1f, b1f, W2b, b2))
        return self._folded

    def _predict_dtype(self):
        import torch

        prec = self.precision
        if prec not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"The 'precision' parameter of InterestHead must be 'auto', 'float32' "
                             f"or 'bfloat16'. Got {prec!r} instead.")
        if prec == "auto":
            native = False
            if self.device_ == "cpu":
                for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
                    fn = getattr(torch.cpu, probe, None)
                    try:
                        native = native or bool(fn and fn())
                    except Exception:  # noqa: BLE001 - private probes may change
                        pass
            prec = "bfloat16" if native else "float32"
        return torch.bfloat16 if prec == "bfloat16" else torch.float32

    def predict(self, X, *, side=None, chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted interest and its uncertainty for every row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, n_features), float32
            Raw embeddings (standardised internally), scored in chunks of ``chunk_size``.
        side : array-like of shape (n,) or (n, n_side), optional
            The extra columns, when ``fit`` had them.
        chunk_size : int, optional
            Rows per chunk; default 16,384 on CPU (the hidden activations of a chunk then stay
            in cache: 1.7x faster than 131,072 on the 2-core machines) and 262,144 on a GPU.

        Returns
        -------
        mean : ndarray of shape (n,), float32
            Ensemble mean of the members' predictions, each clipped to [0, 5] (score units).
        std : ndarray of shape (n,), float32
            Ensemble standard deviation (score units; 0 for a single member).
        """
        import torch

        if not self.is_fitted:
            raise RuntimeError("This InterestHead is not fitted yet; call fit(X, y) first.")
        X = np.asarray(X)
        n_side = self.n_side_
        d = self.n_features_in_ - n_side
        if X.ndim != 2 or X.shape[1] != d:
            got = X.shape[1] if X.ndim == 2 else f"shape {X.shape}"
            raise ValueError(f"embeddings has {got} features, but the head was trained on {d}.")
        if (side is None) != (n_side == 0):
            raise ValueError(f"the head was trained with {n_side} side columns; pass side= "
                             f"with that many columns to predict" if n_side else
                             "the head was trained without side columns; do not pass side=")
        if side is not None:
            side = np.asarray(side, dtype=np.float32).reshape(X.shape[0], -1)
            if side.shape[1] != n_side:
                raise ValueError(f"side has {side.shape[1]} columns, but the head was trained "
                                 f"with {n_side}.")
        configure_threads()
        W1f, b1f, W2b, b2 = self._fold()
        if chunk_size is None:
            chunk_size = 16_384 if W1f.device.type == "cpu" else 262_144
        n = X.shape[0]
        mean = np.empty(n, dtype=np.float32)
        std = np.empty(n, dtype=np.float32)
        M = self.n_members
        with torch.inference_mode():
            for s in range(0, n, chunk_size):
                _check_finite_chunk(X[s:s + chunk_size], s, "embeddings")
                if n_side:
                    _check_finite_chunk(side[s:s + chunk_size], s, "side")
                c = _as_tensor(X[s:s + chunk_size])
                c = c.to(W1f.device, non_blocking=True).to(W1f.dtype)
                if n_side:
                    H = torch.addmm(b1f, c, W1f[:d])
                    sc = _as_tensor(side[s:s + chunk_size]).to(W1f.device).to(W1f.dtype)
                    H.addmm_(sc, W1f[d:]).clamp_(min=0)
                else:
                    H = torch.addmm(b1f, c, W1f).clamp_(min=0)
                out = torch.addmm(b2, H, W2b).float().mul_(_HALF).add_(_MID)
                out.clamp_(MIN_SCORE, MAX_SCORE)
                mu = out.mean(dim=1)
                mean[s:s + chunk_size] = mu.cpu().numpy()
                if M > 1:  # manual std: torch.std_mean over 5 columns is slow on CPU
                    sd = out.sub_(mu[:, None]).square_().sum(dim=1).div_(M - 1).sqrt_()
                    std[s:s + chunk_size] = sd.cpu().numpy()
                else:
                    std[s:s + chunk_size] = 0.0
        return mean, std
