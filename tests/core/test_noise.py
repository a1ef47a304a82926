"""Tests for edgeden.core.noise: sampling moments, conversions, profiles, estimation."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeden.core.noise import (
    add_poisson_gaussian,
    estimate_noise,
    noise_from_camera_profile,
    noise_std_map,
    sample_upi_noise,
    upi_mean_read,
)
from edgeden.core.types import NoiseParams
from edgeden.io.noiseprofiles import default_profile_paths, load_camera_profiles

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
PROFILES = DATA / "noiseprofiles" / "noiseprofiles.json"


# --------------------------------------------------------------------------- sampling


def test_add_poisson_gaussian_moments_per_plane():
    levels = torch.tensor([0.05, 0.3, 0.6, 0.9])
    x = levels.reshape(1, 4, 1, 1).expand(2, 4, 128, 128).contiguous()
    shot = torch.tensor([1e-2, 5e-3, 2e-3, 1e-3])
    read = torch.tensor([1e-4, 0.0, 1e-5, 2e-4])
    y = add_poisson_gaussian(x, shot, read, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == torch.float32
    var = (y - x).var(dim=(0, 2, 3))
    expected = shot * levels + read
    assert torch.allclose(var, expected, rtol=0.03)
    assert torch.allclose((y - x).mean(dim=(0, 2, 3)), torch.zeros(4), atol=3 * (expected / 32768).sqrt().max())


def test_add_poisson_gaussian_per_sample_params_and_seed():
    x = torch.full((3, 2, 64, 64), 0.5)
    shot = torch.tensor([[1e-2, 1e-2], [1e-3, 1e-3], [1e-4, 1e-4]])
    read = torch.zeros(3, 2)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    y1 = add_poisson_gaussian(x, shot, read, g1)
    y2 = add_poisson_gaussian(x, shot, read, g2)
    assert torch.equal(y1, y2)
    var = (y1 - x).var(dim=(1, 2, 3))
    assert torch.allclose(var, shot[:, 0] * 0.5, rtol=0.08)
    # negative clean values get only the read variance (clip(x, 0))
    z = add_poisson_gaussian(torch.full((1, 1, 64, 64), -0.1), 1e-2, 1e-4, torch.Generator().manual_seed(1))
    assert float((z + 0.1).var()) == pytest.approx(1e-4, rel=0.1)


def test_noise_std_map():
    x = torch.tensor([0.0, 0.25, 1.0, -0.5]).reshape(1, 1, 2, 2).expand(1, 3, 2, 2)
    p = NoiseParams(shot=(1e-2, 2e-2, 4e-2), read=(1e-4,))
    sd = noise_std_map(x, p)
    assert sd.shape == (1, 3, 2, 2)
    assert float(sd[0, 1, 0, 1]) == pytest.approx(math.sqrt(2e-2 * 0.25 + 1e-4), rel=1e-6)
    assert float(sd[0, 2, 1, 1]) == pytest.approx(math.sqrt(1e-4), rel=1e-6)  # clipped at 0


def test_sample_upi_noise_distribution():
    shot, read = sample_upi_noise(torch.Generator().manual_seed(0), 20000)
    assert shot.shape == read.shape == (20000,)
    assert float(shot.min()) >= 1e-4 * (1 - 1e-6) and float(shot.max()) <= 0.012 * (1 + 1e-6)
    ls, lr = shot.double().log().numpy(), read.double().log().numpy()
    slope, intercept = np.polyfit(ls, lr, 1)
    assert slope == pytest.approx(2.18, abs=0.02)
    assert intercept == pytest.approx(1.20, abs=0.12)
    assert np.std(lr - (2.18 * ls + 1.20)) == pytest.approx(0.26, rel=0.03)
    # log-uniform: the median of log S is the middle of the range
    assert np.median(ls) == pytest.approx((math.log(1e-4) + math.log(0.012)) / 2, abs=0.05)
    s2, r2 = sample_upi_noise(torch.Generator().manual_seed(0), 20000)
    assert torch.equal(shot, s2) and torch.equal(read, r2)


def test_upi_mean_read_types():
    assert upi_mean_read(1e-3) == pytest.approx(math.exp(2.18 * math.log(1e-3) + 1.2))
    t = upi_mean_read(torch.tensor([1e-4, 1e-2]))
    a = upi_mean_read(np.array([1e-4, 1e-2]))
    assert isinstance(t, torch.Tensor) and isinstance(a, np.ndarray)
    assert np.allclose(t.numpy(), a, rtol=1e-5)


# --------------------------------------------------------------------------- darktable


def _fixture_profiles(tmp_path: Path) -> Path:
    data = {"version": 0, "noiseprofiles": [
        {"maker": "Nikon", "models": [{"model": "D750", "comment": "", "profiles": [
            {"name": "D750 iso 100", "iso": 100, "a": [2e-6, 1e-6, 1.8e-6], "b": [2e-9, 1e-9, 1.5e-9]},
            {"name": "D750 iso 200", "iso": 200, "a": [4e-6, 2e-6, 3.6e-6], "b": [5e-9, 3e-9, 4e-9]},
            {"name": "D750 iso 400", "iso": 400, "a": [8e-6, 4e-6, 7e-6], "b": [2e-8, 1.2e-8, 1.5e-8]},
            {"skip": True, "name": "D750 iso 800 bad", "iso": 800, "a": [1, 1, 1], "b": [1, 1, 1]},
        ]}]},
        {"maker": "Olympus", "models": [{"model": "E-M5 Mark II", "comment": "", "profiles": [
            {"name": "E-M5 Mark II iso 200", "iso": 200, "a": [5e-6, 3e-6, 4e-6], "b": [-1e-9, -2e-9, 1e-9]},
        ]}]},
    ]}
    p = tmp_path / "np.json"
    p.write_text(json.dumps(data))
    return p


def test_camera_profile_matching_and_interpolation(tmp_path):
    prof = load_camera_profiles(_fixture_profiles(tmp_path))
    assert len(prof) == 4  # the skipped profile is dropped
    exact = noise_from_camera_profile(prof, "NIKON CORPORATION", "NIKON D750", 200)
    assert exact.source == "camera-profile" and len(exact.shot) == 4
    assert exact.shot == (2e-6,) * 4 and exact.read == (3e-9,) * 4  # green channel
    assert "D750" in exact.detail
    mid = noise_from_camera_profile(prof, "Nikon", "D750", 300)
    assert mid.shot[0] == pytest.approx(3e-6) and mid.read[0] == pytest.approx(7.5e-9)
    low = noise_from_camera_profile(prof, "Nikon", "D750", 50)
    assert low.shot[0] == pytest.approx(1e-6)  # clamped to the lowest
    high = noise_from_camera_profile(prof, "nikon", "d750", 1600)
    assert high.shot[0] == pytest.approx(4e-6 * 4)  # S proportional to ISO
    # O grows with ISO^p, p in [1, 2] fitted on the top profiles
    assert 1.2e-8 * 4 <= high.read[0] <= 1.2e-8 * 16
    # vendor prefix / spacing variants, negative b clamped to 0
    oly = noise_from_camera_profile(prof, "OLYMPUS IMAGING CORP.", "E-M5MarkII", 200)
    assert oly is not None and oly.shot[0] == pytest.approx(3e-6) and oly.read[0] == 0.0
    # unknown maker but unique model -> accepted; unknown model / no ISO -> None
    assert noise_from_camera_profile(prof, "", "D750", 100) is not None
    assert noise_from_camera_profile(prof, "Nikon", "D7500", 100) is None
    assert noise_from_camera_profile(prof, "Nikon", "D750", None) is None
    assert noise_from_camera_profile(prof, "Nikon", "D750", 100, planes=3).shot == (1e-6,) * 3


def test_default_profile_paths_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEDEN_NOISEPROFILES", str(tmp_path / "mine.json"))
    paths = default_profile_paths()
    assert paths[0] == tmp_path / "mine.json"
    assert Path("/usr/share/darktable/noiseprofiles.json") in paths


@pytest.mark.skipif(not PROFILES.is_file(), reason="shared noise profiles not available")
def test_real_darktable_file():
    prof = load_camera_profiles(PROFILES)
    assert len(prof) > 3000
    p = noise_from_camera_profile(prof, "Canon", "Canon PowerShot S100", 100)
    assert p.shot[0] == pytest.approx(1.66825759743609e-05)  # a_G at ISO 100
    assert p.read[0] == pytest.approx(2.13680441193672e-08)
    # a larger ISO gives more noise, for a few common bodies
    for make, model in [("NIKON CORPORATION", "NIKON D750"), ("SONY", "ILCE-7M2"), ("PENTAX", "PENTAX K-5 II s")]:
        lo = noise_from_camera_profile(prof, make, model, 200)
        hi = noise_from_camera_profile(prof, make, model, 3200)
        assert lo is not None and hi is not None, model
        assert hi.shot[0] > 4 * lo.shot[0]  # 16x the ISO


# --------------------------------------------------------------------------- estimation


def _smooth_natural(name: str) -> torch.Tensor:
    """Linear (3, H, W) float32 from a skimage photo, Gaussian-blurred (sigma 2) so that its
    own grain and 8-bit quantisation are far below the noise added (smooth natural content)."""
    skd = pytest.importorskip("skimage.data")
    from skimage.filters import gaussian

    im = getattr(skd, name)().astype(np.float64) / 255.0
    if im.ndim == 2:
        im = np.repeat(im[..., None], 3, axis=2)
    im = gaussian(im, 2.0, channel_axis=-1) ** 2.2
    return torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).float()


IMAGES = ["astronaut", "chelsea", "coffee", "rocket", "camera"]
SHOTS = [1e-4, 1e-3, 1e-2]


@pytest.mark.parametrize("name", IMAGES)
def test_estimate_noise_rgb_within_20_percent(name):
    lin = _smooth_natural(name)
    for i, s in enumerate(SHOTS):
        o = upi_mean_read(s)
        y = add_poisson_gaussian(lin, s, o, torch.Generator().manual_seed(i))
        p = estimate_noise(y)
        assert p.source == "estimated" and len(p.shot) == 3
        for est in p.shot:
            assert abs(est / s - 1) < 0.2, (name, s, p.shot)
        assert all(r >= 0 for r in p.read)


@pytest.mark.parametrize("name", IMAGES)
def test_estimate_noise_packed_raw_joint(name):
    lin = _smooth_natural(name)
    h, w = lin.shape[1] // 2 * 2, lin.shape[2] // 2 * 2
    lin = lin[:, :h, :w]
    packed = torch.stack([lin[0, 0::2, 0::2], lin[1, 0::2, 1::2], lin[1, 1::2, 0::2], lin[2, 1::2, 1::2]])
    for i, s in enumerate(SHOTS):
        y = add_poisson_gaussian(packed, s, upi_mean_read(s), torch.Generator().manual_seed(10 + i))
        p = estimate_noise(y, planes="joint")
        assert len(p.shot) == 4 and len(set(p.shot)) == 1
        assert abs(p.shot[0] / s - 1) < 0.2, (name, s, p.shot)


def test_estimate_noise_read_term_and_clipping():
    # a ramp covering [0, 1] with a dominant read term: both S and O are recovered
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 256), torch.linspace(0, 1, 256), indexing="ij")
    lin = torch.stack([xx * 0.98 + 0.01, (xx + yy) / 2, yy]).float()
    s, o = 2e-3, 1e-4
    y = add_poisson_gaussian(lin, s, o, torch.Generator().manual_seed(0))
    p = estimate_noise(y)
    for es, eo in zip(p.shot, p.read):
        assert es == pytest.approx(s, rel=0.1) and eo == pytest.approx(o, rel=0.3)
    # clipped output (values saturated at 0 and 1): clipped blocks are ignored
    bright = torch.stack([xx * 1.4 - 0.1, (xx + yy) * 0.7, yy * 1.3]).float()
    yc = add_poisson_gaussian(bright, 1e-2, 1e-4, torch.Generator().manual_seed(1)).clamp(0, 1)
    pc = estimate_noise(yc)
    for es in pc.shot:
        assert es == pytest.approx(1e-2, rel=0.15)


def test_estimate_noise_errors():
    with pytest.raises(ValueError):
        estimate_noise(torch.rand(32, 32))
    with pytest.raises(ValueError):
        estimate_noise(torch.rand(3, 40, 40))  # too few blocks
    with pytest.raises(ValueError):
        estimate_noise(torch.rand(1, 128, 128), planes="some")


def test_estimate_noise_or_fallback_answers_for_small_images():
    from edgeden.core.noise import estimate_noise_or_fallback

    g = torch.Generator().manual_seed(3)
    flat = torch.full((3, 24, 30), 0.4) + torch.randn(3, 24, 30, generator=g) * 0.05
    p = estimate_noise_or_fallback(flat)
    assert p.source == "estimated" and "median absolute deviation" in p.detail
    assert p.shot == (0.0,) * 3 and math.sqrt(p.read[0]) == pytest.approx(0.05, rel=0.2)
    big = torch.full((3, 128, 128), 0.4) + torch.randn(3, 128, 128, generator=g) * 0.05
    assert "Haar wavelet fit" in estimate_noise_or_fallback(big).detail


def test_gat_inverse_is_unbiased_where_the_algebraic_inverse_is_not():
    """The BM3D+VST baseline's inverse: applied to E[GAT(y)] (what an ideal denoiser of the
    stabilised image returns) it gives back x, where the algebraic inverse is biased low."""
    from edgeden.core.noise import gat_forward, gat_inverse

    rng = np.random.default_rng(0)
    s, o = 0.012, 1e-5  # UPI's highest shot level and about its mean read noise there
    x = np.array([0.02, 0.05, 0.1, 0.3])  # 1.7 to 25 photo-electron counts
    y = s * rng.poisson(x / s, size=(200000, 4)) + rng.normal(0, math.sqrt(o), size=(200000, 4))
    ez = gat_forward(y, s, o).mean(0)
    got = gat_inverse(ez, s, o)
    algebraic = ((ez / 2) ** 2 - 0.375 - o / s ** 2) * s
    assert np.all(np.abs(got - x) < 0.02 * x + 2e-4), (got, x)
    assert np.all(np.abs(got - x) < np.abs(algebraic - x))
    assert np.all(algebraic < x - 0.15 * s)  # the bias that gat_inverse removes: about S/4
    # no blow-up where the expansion diverges (d -> 0: dark pixels after denoising), monotone
    d = np.linspace(0.0, 30.0, 3001)
    inv = gat_inverse(d, s, o)
    assert inv.min() == 0.0 and np.all(np.diff(inv) >= 0) and inv[d < 1.2].max() == 0.0
    # the stabilised noise is ~unit std once counts are a few
    assert abs(gat_forward(y[:, 3], s, o).std() - 1.0) < 0.05


def test_large_images_are_estimated_on_a_tile_sample():
    """Above SAMPLE_PIXELS the estimator sees an evenly spaced tile grid: bounded size, the
    same noise level (within 10 % of the truth on a 5 MP image with known noise)."""
    from edgeden.core.noise_estimate import SAMPLE_PIXELS, SAMPLE_TILE, tile_sample

    small = torch.rand(3, 300, 200)
    assert tile_sample(small) is small
    g = torch.Generator().manual_seed(0)
    base = torch.rand(3, 2000 // 16 + 1, 2500 // 16 + 1, generator=g)
    clean = base.repeat_interleave(16, 1).repeat_interleave(16, 2)[:, :2000, :2500] * 0.8 + 0.1
    noisy = clean + torch.randn(clean.shape, generator=g) * (8 / 255)
    s = tile_sample(noisy)
    assert s.shape[1] % SAMPLE_TILE == 0 and s.shape[2] % SAMPLE_TILE == 0
    assert s.shape[1] * s.shape[2] <= SAMPLE_PIXELS
    from edgeden.core.noise import estimate_noise_or_fallback

    p = estimate_noise_or_fallback(noisy)
    for s_, o in zip(p.shot, p.read):
        assert s_ * 0.5 + o == pytest.approx((8 / 255) ** 2, rel=0.1)
