"""Distilling pixel-computed features into the encoder's representation (astroexplore.encoder.targets)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astroexplore.encoder import load_encoder, train_encoder  # noqa: E402
from astroexplore.encoder.data import as_image_tensor  # noqa: E402
from astroexplore.encoder.targets import distillation_targets, standardise_targets  # noqa: E402
from astroexplore.features import MORPHOLOGY_FEATURE_NAMES, morphology_features  # noqa: E402
from test_encoder import TINY, fake_galaxies  # noqa: E402


def _linear_r2(emb: np.ndarray, targets: np.ndarray) -> float:
    """Mean over target columns of the 4-fold cross-validated R^2 of a ridge fit from ``emb``."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_predict

    emb = (emb - emb.mean(0)) / (emb.std(0) + 1e-6)
    pred = cross_val_predict(Ridge(alpha=1.0), emb, targets, cv=4)
    var = targets.var(0)
    keep = var > 1e-6
    return float(np.mean(1 - ((pred - targets) ** 2).mean(0)[keep] / var[keep]))


def test_standardise_targets_is_robust_and_finite():
    t = np.array([[1.0, 5.0, np.inf], [2.0, 5.0, 1.0], [3.0, 5.0, np.nan], [1e6, 5.0, 2.0]])
    z = standardise_targets(t)
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert np.abs(z).max() <= 5.0                      # the outlier is clipped
    assert (z[:, 1] == 0).all()                        # constant column -> 0, not NaN
    assert z[2, 2] == 0 and z[0, 2] == 0               # non-finite -> the median
    with pytest.raises(ValueError, match="n_images, n_targets"):
        standardise_targets(np.zeros(4))


def test_distillation_targets_match_the_features_of_what_the_encoder_sees():
    imgs = fake_galaxies(24, size=40, seed=7)
    seen = as_image_tensor(imgs, 32, crop=0.75)      # crop and resize as the encoder would
    t = distillation_targets(seen, "morphology")
    assert t.shape == (24, len(MORPHOLOGY_FEATURE_NAMES))
    direct = standardise_targets(morphology_features(seen.permute(0, 2, 3, 1).numpy()))
    assert np.allclose(t, direct)
    assert distillation_targets(seen, "pixels").shape == (24, 16)
    assert distillation_targets(seen, "features").shape == (24, len(MORPHOLOGY_FEATURE_NAMES) + 16)
    with pytest.raises(ValueError, match="morphology"):
        distillation_targets(seen, "colour")


def test_distillation_loss_falls_and_the_embedding_holds_the_targets():
    """The read-out learns the features; a linear fit from the embedding predicts them at least as
    well as from a plain contrastive embedding of the same images, seed and epochs."""
    imgs = fake_galaxies(160, seed=11)
    cols = [MORPHOLOGY_FEATURE_NAMES.index(c)
            for c in ("size", "ellipticity", "concentration", "asymmetry", "core_z_g", "r50")]
    raw = morphology_features(imgs)[:, cols]
    targets = standardise_targets(raw)
    kw = dict(epochs=10, batch_size=40, lr=3e-3, seed=0, **TINY)
    plain = train_encoder(imgs, **kw)
    distilled = train_encoder(imgs, targets=raw, target_weight=5.0, **kw)
    hist = distilled.metadata["history"]
    assert {"contrastive", "target_mse"} <= set(hist[0]) and "target_mse" not in plain.metadata["history"][0]
    assert hist[-1]["target_mse"] < 0.5 * hist[0]["target_mse"], [h["target_mse"] for h in hist]
    assert hist[-1]["target_mse"] < 0.5  # 1 = predicting the mean of a standardised column
    r2_plain = _linear_r2(plain.embed(imgs), targets)
    r2_distilled = _linear_r2(distilled.embed(imgs), targets)
    assert r2_distilled > r2_plain + 0.01, (r2_plain, r2_distilled)
    assert distilled.metadata["targets"] == "array (6 columns)" and plain.metadata["targets"] is None


def test_distillation_with_an_array_and_with_votes(tmp_path):
    import pandas as pd

    imgs = fake_galaxies(30, seed=12)
    ckpt = tmp_path / "d.pt"
    own = np.random.default_rng(0).normal(size=(30, 3))
    enc = train_encoder(imgs, targets=own, epochs=1, batch_size=15, checkpoint=ckpt, **TINY)
    assert enc.metadata["targets"] == "array (3 columns)"
    loaded = load_encoder(ckpt, device="cpu")
    assert np.allclose(loaded.embed(imgs), enc.embed(imgs), atol=1e-5)
    # resuming with other targets is refused, naming the setting
    with pytest.raises(ValueError, match="targets"):
        train_encoder(imgs, targets="morphology", epochs=2, batch_size=15, checkpoint=ckpt, **TINY)
    with pytest.raises(ValueError, match=r"n_images=30"):
        train_encoder(imgs, targets=own[:10], epochs=1, **TINY)
    votes = pd.DataFrame({"has-spiral-arms_no_fraction": np.linspace(0, 1, 30)})
    for mode in ("hybrid", "supervised"):
        enc = train_encoder(imgs, mode=mode, votes=votes, targets="pixels", epochs=1, batch_size=15, **TINY)
        assert enc.vote_head is not None and np.isfinite(enc.metadata["history"][-1]["loss"])


def test_checkpoints_from_before_distillation_still_resume(tmp_path):
    imgs = fake_galaxies(20, seed=13)
    ckpt = tmp_path / "old.pt"
    train_encoder(imgs, epochs=1, batch_size=10, checkpoint=ckpt, **TINY)
    state = torch.load(ckpt, weights_only=False)
    # what an earlier version wrote: no 'targets' setting, no 'n_targets' in the model config
    state["config"].pop("targets")
    state["config"].pop("target_weight")
    state["config"]["model"].pop("n_targets")
    torch.save(state, ckpt)
    enc = train_encoder(imgs, epochs=2, batch_size=10, checkpoint=ckpt, **TINY)
    assert [h["epoch"] for h in enc.metadata["history"]] == [1, 2]
    assert load_encoder(ckpt, device="cpu").metadata["epochs_trained"] == 2


def test_augmentations_default_to_target_preserving_views_and_are_recorded(tmp_path):
    from astroexplore.encoder.augment import GalaxyAugment

    imgs = fake_galaxies(20, seed=14)
    ckpt = tmp_path / "aug.pt"
    train_encoder(imgs, targets="pixels", epochs=1, batch_size=10, checkpoint=ckpt, **TINY)
    cfg = torch.load(ckpt, weights_only=False)["config"]
    weak = GalaxyAugment.for_distillation()
    assert cfg["augment"]["max_shift"] == weak.max_shift < GalaxyAugment().max_shift
    assert tuple(cfg["augment"]["zoom"]) == weak.zoom
    plain = tmp_path / "plain.pt"
    train_encoder(imgs, epochs=1, batch_size=10, checkpoint=plain, **TINY)
    assert torch.load(plain, weights_only=False)["config"]["augment"]["max_shift"] == GalaxyAugment().max_shift
    # resuming with other augmentations would silently mix two trainings: refused
    with pytest.raises(ValueError, match="augment"):
        train_encoder(imgs, targets="pixels", epochs=2, batch_size=10, checkpoint=ckpt,
                      augment=GalaxyAugment(), **TINY)
