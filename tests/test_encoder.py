"""Tests of astroexplore.encoder: losses, augmentations, training, embedding, checkpoints, CLI.

Fast (tiny generated galaxies, 32 px, width-8 networks): the whole file runs in well under 60 s
on 2 cores.
"""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astroexplore.encoder import Encoder, load_encoder, train_encoder
from astroexplore.encoder.augment import GalaxyAugment, dihedral_views, rotate
from astroexplore.encoder.data import (
    ImageError,
    as_image_tensor,
    read_image,
    to_chw_uint8,
    vote_targets,
)
from astroexplore.encoder.losses import byol_loss, dirichlet_multinomial_nll, nt_xent

ROOT = Path(__file__).resolve().parents[1]
TINY = {"width": 8, "representation_dim": 32, "image_size": 32, "progress": False, "device": "cpu"}


def fake_galaxies(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 elliptical blobs (random axis ratio, angle, colour), some with a ring/arms."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        q, ang, r0 = rng.uniform(0.3, 1), rng.uniform(0, np.pi), rng.uniform(2, size / 5)
        c, s = np.cos(ang), np.sin(ang)
        u, v = c * xx + s * yy, (-s * xx + c * yy) / q
        r = np.hypot(u, v)
        img = np.exp(-r / r0)
        kind = i % 3
        if kind == 1:
            img += 0.6 * np.exp(-((r - 2.5 * r0) ** 2) / 2)
        elif kind == 2:
            theta = np.arctan2(v, u)
            img += 0.4 * np.exp(-r / (2 * r0)) * (1 + np.cos(2 * theta - 3 * np.log1p(r)))
        colour = np.array([1.0, 0.8, 0.6]) if rng.random() < 0.5 else np.array([0.6, 0.8, 1.0])
        out[i] = img[..., None] * colour
    out = out / out.max(axis=(1, 2, 3), keepdims=True)
    out += rng.normal(0, 0.02, out.shape)
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


# ------------------------------------------------------------------ losses
def _dirmult_logp_direct(k, a):
    from scipy.special import gammaln

    n, big_a = k.sum(), a.sum()
    return (gammaln(n + 1) + gammaln(big_a) - gammaln(n + big_a)
            + np.sum(gammaln(k + a) - gammaln(k + 1) - gammaln(a)))


def test_dirichlet_multinomial_matches_gammaln_formula():
    rng = np.random.default_rng(0)
    questions = [[0, 1, 2], [3, 4], [5, 6, 7, 8]]
    counts = rng.integers(0, 15, size=(6, 9)).astype(np.float64)
    counts[2, 3:5] = 0  # question 2 not asked for galaxy 2
    counts[4, :] = np.nan  # no votes at all
    alpha = rng.uniform(0.5, 30, size=(6, 9))
    got = dirichlet_multinomial_nll(torch.tensor(counts), torch.tensor(alpha), questions).numpy()
    for i in range(6):
        k = np.nan_to_num(counts[i])
        want = -sum(_dirmult_logp_direct(k[q], alpha[i, q]) for q in questions)
        assert got[i] == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert got[4] == 0.0  # missing votes contribute nothing
    scipy_stats = pytest.importorskip("scipy.stats")
    if hasattr(scipy_stats, "dirichlet_multinomial"):
        k = counts[0, :3]
        ref = scipy_stats.dirichlet_multinomial.logpmf(k, alpha[0, :3], k.sum())
        assert _dirmult_logp_direct(k, alpha[0, :3]) == pytest.approx(ref)


def test_dirichlet_multinomial_prefers_right_alpha_and_has_gradients():
    k = torch.tensor([[18.0, 2.0]])
    good = torch.tensor([[9.0, 1.0]], requires_grad=True)
    bad = torch.tensor([[1.0, 9.0]])
    loss = dirichlet_multinomial_nll(k, good, [[0, 1]])
    assert loss.item() < dirichlet_multinomial_nll(k, bad, [[0, 1]]).item()
    loss.sum().backward()
    assert torch.isfinite(good.grad).all()


def test_nt_xent_sanity():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    # identical projections everywhere: every candidate equally likely -> log(2B - 1)
    same = torch.ones(16, 8)
    assert nt_xent(same, same).item() == pytest.approx(math.log(31), rel=1e-5)
    aligned = nt_xent(z, z + 0.01 * torch.randn(16, 8)).item()
    random = nt_xent(z, torch.randn(16, 8)).item()
    assert aligned < 0.5 < random
    assert byol_loss(z, z).item() == pytest.approx(0.0, abs=1e-6)
    assert byol_loss(z, -z).item() == pytest.approx(4.0, abs=1e-5)


# ------------------------------------------------------------------ augmentations
def test_augmentations_preserve_shape_and_range():
    x = torch.from_numpy(fake_galaxies(8)).permute(0, 3, 1, 2).float() / 255
    g = torch.Generator().manual_seed(0)
    v1, v2 = GalaxyAugment()(x, generator=g), GalaxyAugment()(x, generator=g)
    assert v1.shape == x.shape and v1.dtype == x.dtype
    assert 0.0 <= v1.min().item() and v1.max().item() <= 1.0
    assert not torch.allclose(v1, v2)
    assert len(dihedral_views(x)) == 8


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotation_by_90_equals_rot90(k):
    x = torch.rand(3, 3, 16, 16)
    assert torch.allclose(rotate(x, 90.0 * k), torch.rot90(x, k, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(rotate(x, 0.0), x, atol=1e-6)


# ------------------------------------------------------------------ training and embedding
def _invariance(enc: Encoder, imgs: np.ndarray) -> float:
    """Mean cosine to the own rotated copies minus mean cosine to other galaxies (centred embeddings)."""
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    base = enc.embed(x)
    mu = base.mean(0)
    b = base - mu
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    own, other = [], []
    for deg in (30.0, 75.0, 140.0, 210.0):
        r = enc.embed(rotate(x, deg).clamp(0, 1)) - mu
        r /= np.linalg.norm(r, axis=1, keepdims=True)
        s = b @ r.T
        own.append(np.diag(s).mean())
        other.append((s.sum() - np.trace(s)) / (len(s) * (len(s) - 1)))
    return float(np.mean(own) - np.mean(other))


def test_rotation_invariance_improves_with_training():
    imgs = fake_galaxies(96, seed=1)
    init = train_encoder(imgs, epochs=0, seed=0, **TINY)
    trained = train_encoder(imgs, epochs=6, batch_size=48, lr=3e-3, seed=0, **TINY)
    before, after = _invariance(init, imgs), _invariance(trained, imgs)
    assert after > before + 0.05, (before, after)
    assert [h["epoch"] for h in trained.metadata["history"]] == list(range(1, 7))
    emb = trained.embed(imgs, batch_size=40)
    assert emb.shape == (96, 32) and emb.dtype == np.float32
    tta = trained.embed(imgs, tta=True)
    # exact square symmetries leave the TTA embedding unchanged
    rot = trained.embed(np.ascontiguousarray(np.rot90(imgs, 1, axes=(1, 2))), tta=True)
    assert np.allclose(tta, rot, atol=1e-4)


def test_hybrid_training_and_mc_dropout_posteriors():
    import pandas as pd

    imgs = fake_galaxies(40, seed=2)
    rng = np.random.default_rng(0)
    f = rng.uniform(0, 1, 40)
    votes = pd.DataFrame({"smooth-or-featured_featured-or-disk_fraction": f,
                          "has-spiral-arms_no_fraction": np.where(f > 0.5, rng.uniform(0, 1, 40), np.nan)})
    enc = train_encoder(imgs, mode="hybrid", votes=votes, epochs=1, batch_size=20, **TINY)
    mean, std = enc.predict_posteriors(imgs, n_samples=4)
    assert mean.shape == std.shape == (40, 4)
    for q in enc.questions:
        assert np.allclose(mean[:, q].sum(1), 1.0, atol=1e-5)
    assert (std >= 0).all() and std.max() > 0  # dropout on: passes differ
    sup = train_encoder(imgs, mode="supervised", votes=votes, epochs=1, batch_size=20, **TINY)
    assert sup.vote_head is not None
    with pytest.raises(ValueError, match="needs votes"):
        train_encoder(imgs, mode="hybrid", epochs=1, **TINY)
    with pytest.raises(ValueError, match="mode"):
        train_encoder(imgs, mode="byol", epochs=1, **TINY)


def test_posterior_std_is_the_dirichlet_spread_plus_the_dropout_spread():
    from torch import nn

    from astroexplore.encoder.model import MAX_CONCENTRATION, VoteHead

    head = VoteHead(4, 5, dropout=0.0)
    bias = torch.tensor([0.0, 1.0, -1.0, 2.0, 0.5])
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(bias)
    module = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    enc = Encoder(module, 8, vote_head=head, questions=[[0, 1, 2], [3, 4]], device="cpu")
    mean, std = enc.predict_posteriors(np.zeros((3, 8, 8, 3), np.uint8), n_samples=4)
    alpha = (1 + MAX_CONCENTRATION * torch.sigmoid(bias)).numpy()
    for q in ([0, 1, 2], [3, 4]):  # direct Dirichlet moments: a_i / A and a_i (A - a_i) / (A^2 (A + 1))
        total = alpha[q].sum()
        np.testing.assert_allclose(mean[:, q], np.broadcast_to(alpha[q] / total, (3, len(q))), rtol=1e-5)
        direct = np.sqrt(alpha[q] * (total - alpha[q]) / (total ** 2 * (total + 1)))
        np.testing.assert_allclose(std[:, q], np.broadcast_to(direct, (3, len(q))), rtol=1e-5)
    # with dropout the passes differ, and the spread between them adds to the Dirichlet variance
    head.dropout.p = 0.5
    with torch.no_grad():
        head.linear.weight.normal_(0, 2.0)
    x = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    mean, std = enc.predict_posteriors(x, n_samples=32)
    head.dropout.p = 0.0
    _, dirichlet_only = enc.predict_posteriors(x, n_samples=1)
    assert np.isfinite(std).all() and (std > 0).all()
    assert std.mean() > dirichlet_only.mean()


def test_vote_targets_completes_partial_questions():
    import pandas as pd

    k, q, _ = vote_targets(pd.DataFrame({"has-spiral-arms_no_fraction": [0.25, np.nan]}),
                              votes_per_galaxy=8)
    assert k.tolist() == [[2.0, 6.0], [0.0, 0.0]] and q == [[0, 1]]


def test_checkpoint_resume_continues_from_saved_epoch(tmp_path):
    imgs = fake_galaxies(32, seed=3)
    ckpt = tmp_path / "enc.pt"

    def interrupt(record):  # the run dies after epoch 2 of 3
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_encoder(imgs, epochs=3, batch_size=16, checkpoint=ckpt, seed=5, on_epoch_end=interrupt, **TINY)
    assert torch.load(ckpt, weights_only=False)["epoch"] == 2
    resumed = train_encoder(imgs, epochs=3, batch_size=16, checkpoint=ckpt, seed=5, **TINY)
    hist = resumed.metadata["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    straight = train_encoder(imgs, epochs=3, batch_size=16, seed=5, **TINY)
    assert [h["loss"] for h in straight.metadata["history"]] == pytest.approx([h["loss"] for h in hist], rel=1e-4)
    assert np.allclose(resumed.embed(imgs), straight.embed(imgs), atol=1e-4)
    # a finished checkpoint: nothing more to train, same encoder back
    again = train_encoder(imgs, epochs=3, batch_size=16, checkpoint=ckpt, seed=5, **TINY)
    assert again.metadata["history"] == hist
    loaded = load_encoder(ckpt, device="cpu")
    assert loaded.metadata["epochs_trained"] == 3
    assert np.allclose(loaded.embed(imgs), resumed.embed(imgs), atol=1e-5)
    with pytest.raises(ValueError, match="resume=False"):
        train_encoder(imgs, epochs=3, batch_size=16, checkpoint=ckpt, **{**TINY, "image_size": 24})
    with pytest.raises(ValueError, match="not an astroexplore encoder"):
        torch.save({"x": 1}, tmp_path / "other.pt")
        load_encoder(tmp_path / "other.pt")


def test_user_module_protocol():
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    enc = Encoder.from_module(module, image_size=16, device="cpu")
    imgs = fake_galaxies(5, size=20)
    out = enc.embed(imgs)
    assert out.shape == (5, 12) and out.dtype == np.float32
    assert enc.representation_dim == 12
    assert enc.metadata["name"] == "Sequential"
    with pytest.raises(ValueError, match="no vote head"):
        enc.predict_posteriors(imgs)


def test_our_encoders_embed_unit_vectors_and_their_vote_head_sees_the_raw_representation(tmp_path):
    """Our checkpoints embed unit vectors (the contrastive loss sees only directions); the vote
    head was trained on raw representations, so the posteriors of ``embed_files`` must not be
    computed from the unit vectors it returns."""
    import pandas as pd

    from astroexplore.encoder.data import load_images
    from astroexplore.encoder.embed import load_size

    imgs = fake_galaxies(30, seed=5)
    votes = pd.DataFrame({"smooth-or-featured_featured-or-disk_fraction": np.linspace(0.05, 0.95, 30)})
    ckpt = tmp_path / "hybrid.pt"
    enc = train_encoder(imgs, mode="hybrid", votes=votes, epochs=1, batch_size=10, checkpoint=ckpt, **TINY)
    for e in (enc, load_encoder(ckpt, device="cpu")):
        assert e.unit_vectors and e.metadata["unit_vectors"] is True
        emb = e.embed(imgs)
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
        raw = e.module(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255).detach().numpy()
        assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, rtol=1e-2)  # so the test can fail
        np.testing.assert_allclose(emb, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(e.embed(imgs, tta=True), axis=1), 1.0, rtol=1e-5)
    _write_pngs(tmp_path / "cutouts", n=6)
    paths = sorted((tmp_path / "cutouts").glob("gal_*.png"))
    res = enc.embed_files(paths, posteriors=True, chunk_size=4)
    x = load_images(paths, load_size(enc.image_size, enc.crop))[0]
    np.testing.assert_allclose(res.embeddings, enc.embed(x), atol=1e-5)
    direct = enc.predict_posteriors(x[:4])[0]  # the first chunk, with the same dropout seed
    np.testing.assert_allclose(res.posterior_mean[:4], direct, atol=1e-5)


def test_a_user_module_keeps_its_output_unless_told_to_scale_it():
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    imgs = fake_galaxies(4, size=16)
    raw = Encoder.from_module(module, image_size=16, device="cpu").embed(imgs)
    direct = module(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255).numpy()
    np.testing.assert_allclose(raw, direct, atol=1e-6)
    unit = Encoder.from_module(module, image_size=16, device="cpu", unit_vectors=True)
    assert unit.metadata["unit_vectors"] is True
    np.testing.assert_allclose(unit.embed(imgs), direct / np.linalg.norm(direct, axis=1, keepdims=True), atol=1e-6)


# ------------------------------------------------------------------ bad images
def test_image_conversion_rules(tmp_path):
    from PIL import Image

    grey = (np.arange(40 * 60).reshape(40, 60) % 255).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    t = to_chw_uint8(read_image(tmp_path / "grey.png"), 32, source="grey.png")
    assert t.shape == (3, 32, 32) and t.dtype == torch.uint8
    assert torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])  # greyscale -> 3 equal channels
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200
    assert to_chw_uint8(rgba, 32)[0].max() == 200
    # non-square: centre crop to the shorter side, then resize
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 255  # exactly the centre square is white
    assert to_chw_uint8(wide, 16).min() == 255
    # crop: the central fraction of the square is kept before resizing
    centre = np.zeros((2, 64, 64, 3), np.uint8)
    centre[:, 16:48, 16:48] = 255
    assert as_image_tensor(centre, 16, crop=0.5).min() == 255
    assert as_image_tensor(centre, 16).min() == 0
    with pytest.raises(ValueError, match="crop"):
        as_image_tensor(centre, 16, crop=1.5)
    with pytest.raises(ImageError, match="channels"):
        to_chw_uint8(np.zeros((8, 8, 5), np.uint8), 8)
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        as_image_tensor(np.full((2, 8, 8, 3), 3.0), 8)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ImageError, match="broken.jpg"):
        read_image(tmp_path / "broken.jpg")
    with pytest.raises(ImageError, match="not found"):
        read_image(tmp_path / "missing.png")


# ------------------------------------------------------------------ CLI
def _write_pngs(folder: Path, n: int = 12) -> None:
    from PIL import Image

    folder.mkdir()
    for i, img in enumerate(fake_galaxies(n, size=40, seed=4)):
        Image.fromarray(img).save(folder / f"gal_{i:02d}.png")
    Image.fromarray(img[:, :, 0]).save(folder / "grey_one.png")  # greyscale: converted


def test_cli_embed_writes_a_loadable_catalogue(tmp_path, capsys):
    from astroexplore.catalogue import load_catalogue
    from astroexplore.cli import main

    folder = tmp_path / "cutouts"
    _write_pngs(folder)
    out = tmp_path / "cat.parquet"
    argv = ["embed", str(folder), "--out", str(out), "--epochs", "1", "--pca", "4",
            "--image-size", "32", "--batch-size", "8", "--no-progress", "--device", "cpu", "--width", "8"]
    assert main(argv) == 0
    cat = load_catalogue(out)
    assert cat.n_galaxies == 13 and cat.n_features == 4
    assert cat.metadata["encoder"]["width"] == 8  # --width reaches the model (the default is 24)
    assert "gal_00" in set(cat.ids) and "grey_one" in set(cat.ids)
    info = cat.metadata["encoder"]
    assert info["name"] == "astroexplore.encoder.ConvEncoder" and info["mode"] == "contrastive"
    assert info["n_components"] == 4 and info["full_column"] == "embedding_full"
    full = np.stack(cat.table["embedding_full"].to_numpy())
    assert full.shape == (13, 128)
    assert Path(cat.image_reference(0)).is_file()  # stored relative to the catalogue
    assert (tmp_path / "cat.encoder.pt").is_file()
    # corrupt file: a clear error naming it, or left out with --skip-bad
    (folder / "zz_broken.jpg").write_bytes(b"garbage")
    assert main(argv + ["--encoder", str(tmp_path / "cat.encoder.pt")]) == 1
    assert "zz_broken.jpg" in capsys.readouterr().err
    assert main(argv + ["--encoder", str(tmp_path / "cat.encoder.pt"), "--skip-bad"]) == 0
    assert load_catalogue(out).n_galaxies == 13


def test_embed_files_reads_in_chunks_like_embed_and_names_bad_files(tmp_path):
    from astroexplore.encoder.data import load_images
    from astroexplore.encoder.embed import load_size
    from astroexplore.encoder.model import ConvEncoder

    folder = tmp_path / "cutouts"
    _write_pngs(folder, n=7)
    (folder / "gal_03b.jpg").write_bytes(b"not a jpeg")  # sorts between gal_03 and gal_04
    paths = sorted(folder.iterdir())
    bad = paths.index(folder / "gal_03b.jpg")
    torch.manual_seed(0)
    enc = Encoder(ConvEncoder(32, 8), 32, crop=0.75, device="cpu")
    good_paths = [p for i, p in enumerate(paths) if i != bad]
    whole = enc.embed(load_images(good_paths, load_size(32, 0.75))[0])
    res = enc.embed_files(good_paths, chunk_size=3)
    np.testing.assert_allclose(res.embeddings, whole, atol=1e-5)
    assert res.good.tolist() == list(range(len(good_paths))) and res.errors == []
    with pytest.raises(ImageError, match="gal_03b.jpg"):
        enc.embed_files(paths, chunk_size=3)
    res = enc.embed_files(paths, chunk_size=3, skip_bad=True)
    assert bad not in res.good and len(res.good) == len(paths) - 1
    assert len(res.errors) == 1 and "gal_03b.jpg" in res.errors[0]
    np.testing.assert_allclose(res.embeddings, whole, atol=1e-5)
    assert res.posterior_mean is None
    with pytest.raises(ValueError, match="vote head"):
        enc.embed_files(good_paths, posteriors=True)


def test_cli_train_max_trains_on_a_sample_and_embeds_every_image(tmp_path, capsys):
    from astroexplore.catalogue import load_catalogue
    from astroexplore.cli import main

    folder = tmp_path / "cutouts"
    _write_pngs(folder)  # 13 images
    (folder / "zz_broken.jpg").write_bytes(b"garbage")  # the 14th, last in file order
    out = tmp_path / "cat.parquet"
    argv = ["embed", str(folder), "--out", str(out), "--epochs", "1", "--pca", "4", "--image-size", "32",
            "--batch-size", "4", "--no-progress", "--device", "cpu", "--width", "8", "--train-max", "5"]
    assert 13 not in np.random.default_rng(0).choice(14, 5, replace=False)  # the sample misses the bad file
    assert main(argv) == 1  # found while embedding, after training: the checkpoint is kept
    err = capsys.readouterr().err
    assert "random sample of the 14" in err and "zz_broken.jpg" in err and "rerun reuses it" in err
    state = torch.load(tmp_path / "cat.encoder.pt", map_location="cpu", weights_only=False)
    assert state["config"]["n_images"] == 5 and state["epoch"] == 1
    assert main(argv + ["--skip-bad"]) == 0
    assert "left out 1 unreadable" in capsys.readouterr().err
    cat = load_catalogue(out)
    assert cat.n_galaxies == 13 and "zz_broken" not in set(cat.ids)
    assert np.isfinite(np.stack(cat.table["embedding_full"].to_numpy())).all()
    assert main(argv[:-1] + ["1"]) == 1 and "--train-max must be at least 2" in capsys.readouterr().err


def test_cli_table_input_hybrid(tmp_path):
    import pandas as pd

    from astroexplore.catalogue import load_catalogue
    from astroexplore.cli import main

    folder = tmp_path / "imgs"
    _write_pngs(folder, n=10)
    table = pd.DataFrame({"objid": [f"g{i}" for i in range(10)],
                          "file": [f"imgs/gal_{i:02d}.png" for i in range(10)],
                          "has-spiral-arms_no_fraction": np.linspace(0, 1, 10)})
    table.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "h.parquet"
    assert main(["embed", str(tmp_path / "t.csv"), "--out", str(out), "--epochs", "1", "--pca", "3",
                 "--image-size", "32", "--no-progress", "--device", "cpu", "--no-tta"]) == 0
    cat = load_catalogue(out)
    assert list(cat.ids[:2]) == ["g0", "g1"] and cat.metadata["encoder"]["mode"] == "hybrid"
    assert "has-spiral-arms_no_fraction_pred" in cat.table.columns


def test_cli_fills_missing_vote_fractions_with_predictions(tmp_path, capsys):
    import pandas as pd

    from astroexplore.catalogue import load_catalogue
    from astroexplore.cli import main

    folder = tmp_path / "imgs"
    _write_pngs(folder, n=10)
    votes = np.linspace(0.1, 0.9, 10)
    votes[7:] = np.nan  # three galaxies without votes
    pd.DataFrame({"objid": [f"g{i}" for i in range(10)], "file": [f"imgs/gal_{i:02d}.png" for i in range(10)],
                  "has-spiral-arms_no_fraction": votes}).to_csv(tmp_path / "t.csv", index=False)
    argv = ["embed", str(tmp_path / "t.csv"), "--out", str(tmp_path / "h.parquet"), "--epochs", "1", "--pca", "3",
            "--image-size", "32", "--no-progress", "--device", "cpu", "--width", "8"]
    assert main(argv) == 0
    assert "3 galaxies had no votes" in capsys.readouterr().err
    cat = load_catalogue(tmp_path / "h.parquet")
    t = cat.table
    col = "has-spiral-arms_no_fraction"
    np.testing.assert_allclose(t[col][:7], votes[:7])  # votes are kept
    np.testing.assert_allclose(t[col][7:], t[col + "_pred"][7:])  # predictions fill the gaps
    assert t["fractions_predicted"].tolist() == [False] * 7 + [True] * 3
    assert "has-spiral-arms_no_fraction_rest" not in t.columns  # the encoder's complement is not a GZ column
    assert cat.metadata["encoder"]["fractions_filled"] == 3
    assert main(argv + ["--no-fill-fractions"]) == 0
    t = load_catalogue(tmp_path / "h.parquet").table
    assert t[col].isna().sum() == 3 and "fractions_predicted" not in t.columns


def test_cli_arguments_do_not_import_torch():
    code = ("import sys, argparse; from astroexplore.encoder.cli import add_arguments; "
            "p = argparse.ArgumentParser(); add_arguments(p); "
            "a = p.parse_args(['x', '--out', 'y.parquet', '--mode', 'hybrid', '--pca', '40']); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(a.mode, a.resume)")
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["hybrid", "True"]


def test_training_uses_every_core_unless_told(monkeypatch):
    """A CNN trains faster on every core (unlike the app's tiny MLPs, kept at one thread); the
    thread count is the argument's, else ASTROEXPLORE_TORCH_THREADS, else every core."""
    import torch

    from astroexplore.torch_utils import available_cores

    imgs = fake_galaxies(12, seed=2)
    seen = []

    def record(_):
        seen.append(torch.get_num_threads())

    monkeypatch.delenv("ASTROEXPLORE_TORCH_THREADS", raising=False)
    enc = train_encoder(imgs, epochs=1, batch_size=6, on_epoch_end=record, **TINY)
    train_encoder(imgs, epochs=1, batch_size=6, threads=1, on_epoch_end=record, **TINY)
    monkeypatch.setenv("ASTROEXPLORE_TORCH_THREADS", "1")
    train_encoder(imgs, epochs=1, batch_size=6, on_epoch_end=record, **TINY)
    assert seen == [available_cores(), 1, 1]
    assert torch.get_num_threads() == 1 and enc.device == "cpu"  # embedding and the app: one thread


def test_hybrid_resume_continues_the_dropout_sequence(tmp_path):
    """The vote head's dropout draws from torch's global generator: its state is in the checkpoint,
    so an interrupted hybrid run resumed in a fresh process ends as the uninterrupted one."""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (24, 32, 32, 3), dtype=np.uint8)
    f = rng.uniform(0, 1, (24, 1))
    votes = np.concatenate([f, 1 - f], 1).astype(np.float32)
    kw = dict(mode="hybrid", votes=votes, schema=[[0, 1]], epochs=2, batch_size=8, image_size=32, width=4,
              representation_dim=16, progress=False, device="cpu", threads=1, seed=3)
    straight = train_encoder(imgs, **kw)

    def stop(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_encoder(imgs, checkpoint=tmp_path / "c.pt", on_epoch_end=stop, **kw)
    torch.manual_seed(12345)  # a new process starts from another global random state
    resumed = train_encoder(imgs, checkpoint=tmp_path / "c.pt", **kw)
    np.testing.assert_allclose(resumed.embed(imgs), straight.embed(imgs), atol=1e-6)


def test_counts_table_is_not_read_as_fractions_question_by_question():
    import pandas as pd

    votes = pd.DataFrame({"smooth_fraction": [30.0], "featured_fraction": [10.0],
                          "bar_yes_fraction": [1.0], "bar_no_fraction": [0.0]})
    k, q, _ = vote_targets(votes, schema={"sf": ["smooth_fraction", "featured_fraction"],
                                          "bar": ["bar_yes_fraction", "bar_no_fraction"]}, votes_per_galaxy=40)
    assert k.tolist() == [[30.0, 10.0, 1.0, 0.0]]


def test_posteriors_leave_the_callers_random_state_alone():
    head = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(4, 2))
    enc = Encoder.from_module(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                                  torch.nn.Linear(3, 4)), image_size=8, device="cpu")
    enc.vote_head, enc.questions, enc.vote_columns = head, [[0, 1]], ["a", "b"]
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    enc.predict_posteriors(np.zeros((2, 8, 8, 3), np.uint8), n_samples=3)
    assert torch.equal(torch.rand(3), expected)


def test_an_exported_checkpoint_embeds_and_is_reused_but_cannot_train_further(tmp_path):
    """export_checkpoint drops the optimiser (a lent GPU trains; the files come back smaller)."""
    from astroexplore.encoder import export_checkpoint, load_encoder, train_encoder

    imgs = fake_galaxies(24, seed=6)
    kw = {"batch_size": 8, "image_size": 16, "width": 4, "representation_dim": 8, "progress": False,
          "device": "cpu", "checkpoint": tmp_path / "full.pt"}
    enc = train_encoder(imgs, epochs=2, **kw)
    out = export_checkpoint(tmp_path / "full.pt", tmp_path / "lean.pt")
    assert out.stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    np.testing.assert_allclose(load_encoder(out, device="cpu").embed(imgs), enc.embed(imgs), rtol=1e-5, atol=1e-6)
    resumed = []
    again = train_encoder(imgs, epochs=2, on_resume=resumed.append, **{**kw, "checkpoint": out})
    assert resumed == [2] and len(again.metadata["history"]) == 2  # finished: nothing to train, reused
    with pytest.raises(ValueError, match=r"lean.pt: this checkpoint holds no optimiser state.*2 epochs"):
        train_encoder(imgs, epochs=3, **{**kw, "checkpoint": out})


def test_adapt_batch_norm_takes_the_new_images_statistics_and_nothing_else():
    """AdaBN: after a pass over other images, each batch-norm layer's running mean is those images'
    mean activation (the input layer's: their mean pixel per channel), the weights are unchanged,
    the encoder is back in eval mode with its momentum, and the embeddings change."""
    from astroexplore.encoder.model import ConvEncoder

    torch.manual_seed(0)
    enc = Encoder.from_module(ConvEncoder(representation_dim=16, width=4), image_size=32, device="cpu")
    rng = np.random.default_rng(0)
    first = rng.uniform(0, 0.5, size=(40, 32, 32, 3)).astype(np.float32)
    enc.adapt_batch_norm(first)
    other = np.clip(rng.normal(0.6, 0.2, size=(50, 32, 32, 3)), 0, 1).astype(np.float32)  # a brighter survey
    weights = {k: v.clone() for k, v in enc.module.state_dict().items() if "running" not in k and "num_batches" not in k}
    before = enc.embed(other)
    assert enc.adapt_batch_norm(other, batch_size=16) == sum(
        isinstance(m, torch.nn.BatchNorm2d) for m in enc.module.modules())
    bn = enc.module.input_norm
    # batches of 16, 16, 16, 2: the running mean is the mean of the four batch means
    batch_means = [other[i:i + 16].mean(axis=(0, 1, 2)) for i in range(0, 50, 16)]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(batch_means, axis=0), atol=1e-5)
    assert not enc.module.training and all(m.momentum == 0.1 for m in enc.module.modules()
                                           if isinstance(m, torch.nn.BatchNorm2d))
    after_state = enc.module.state_dict()
    assert all(torch.equal(after_state[k], v) for k, v in weights.items())
    assert np.abs(enc.embed(other) - before).max() > 1e-3
    assert enc.metadata["batch_norm_adapted_to"] == 50
    with pytest.raises(ValueError, match="at least 2 images"):
        enc.adapt_batch_norm(other[:1])
    plain = Encoder.from_module(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32 * 3, 4)),
                                image_size=32, device="cpu")
    assert plain.adapt_batch_norm(other) == 0


def test_an_encoder_trained_for_a_few_steps_still_tells_galaxies_apart(tmp_path):
    """A few hundred cutouts at the default batch of 256 train one step an epoch: the batch-norm
    running statistics (momentum 0.1) kept their initial values, and every galaxy got all but the
    same embedding (mean cosine 0.999999 on 200 real cutouts after 2 epochs). Below
    PRECISE_BN_STEPS steps they are recomputed over the training images, in the checkpoint too."""
    from astroexplore.encoder import load_encoder
    from astroexplore.encoder.train import PRECISE_BN_STEPS

    rng = np.random.default_rng(0)
    scale = rng.uniform(0.1, 1.0, (64, 1, 1, 1))  # images of different brightness and texture
    imgs = (rng.uniform(0, 255, (64, 32, 32, 3)) * scale).astype(np.uint8)
    ckpt = tmp_path / "few.pt"
    enc = train_encoder(imgs, epochs=2, image_size=32, width=4, checkpoint=ckpt, progress=False)
    assert 2 < PRECISE_BN_STEPS
    emb = enc.embed(imgs)
    cos = (emb @ emb.T)[np.triu_indices(len(emb), 1)]
    assert cos.mean() < 0.99, cos.mean()
    np.testing.assert_allclose(load_encoder(ckpt).embed(imgs), emb, atol=1e-6)
