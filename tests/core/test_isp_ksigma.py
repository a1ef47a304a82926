"""ISP and k-sigma: tested by round trips and against reference implementations."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from edgeden.core import isp
from edgeden.core.bayer import unpack_rggb
from edgeden.core.ksigma import ksigma_forward, ksigma_inverse
from edgeden.core.modelspec import ModelSpec
from edgeden.demo import skimage_photo


def _photo(name="astronaut", size=128):
    x = torch.from_numpy(skimage_photo(name)).permute(2, 0, 1)[None]
    return x[..., :size, :size].contiguous()


# --------------------------------------------------------------------------- k-sigma
@pytest.mark.parametrize("shot,read", [(1e-4, 1e-7), (4e-3, 2e-5), (1.2e-2, 3e-4), ([1e-3, 2e-3, 3e-3, 4e-3], 0.0)])
def test_ksigma_exact_round_trip(shot, read):
    x = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * 1.1 - 0.05
    y = ksigma_forward(x, shot, read, 2e-3)
    back = ksigma_inverse(y, shot, read, 2e-3)
    assert torch.allclose(back.double(), x.double(), atol=1e-6, rtol=1e-5)


def test_ksigma_maps_noise_to_reference_level():
    """After the transform, variance = k_ref * mean whatever the input (S, O)."""
    from edgeden.core.noise import add_poisson_gaussian

    g = torch.Generator().manual_seed(1)
    k_ref = 2e-3
    for s, o in [(1e-3, 1e-6), (8e-3, 1e-4)]:
        x = torch.full((1, 4, 256, 256), 0.3)
        y = add_poisson_gaussian(x, torch.full((4,), s), torch.full((4,), o), g)
        t = ksigma_forward(y, s, o, k_ref)
        assert t.var().item() == pytest.approx(k_ref * t.mean().item(), rel=0.05)


def test_modelspec_round_trip_through_identity_network_is_exact():
    spec = ModelSpec(domain="raw", ksigma=True, k_ref=4e-3, gain_target=0.4, noise_map=True)
    x = torch.rand(1, 4, 8, 8) * 0.2
    shot, read = torch.full((4,), 5e-3), torch.full((4,), 1e-5)
    gain = spec.gain(x)
    inp = spec.to_model(x, shot, read, gain)
    assert inp.shape == (1, 5, 8, 8) and float(gain) > 1
    assert torch.allclose(spec.from_model(inp[:, :4], shot, read, gain), x, atol=1e-6)


def test_ksigma_per_sample_params_broadcast():
    x = torch.rand(3, 4, 4, 4)
    shot = torch.tensor([[1e-3] * 4, [2e-3] * 4, [4e-3] * 4])
    y = ksigma_forward(x, shot, torch.zeros(3, 4), 1e-3)
    assert torch.allclose(y[1], x[1] / 2)


# --------------------------------------------------------------------------- ISP
def test_demosaic_matches_colour_demosaicing_malvar():
    warnings.filterwarnings("ignore")
    from colour_demosaicing import demosaicing_CFA_Bayer_Malvar2004

    p = torch.rand(1, 4, 11, 14, generator=torch.Generator().manual_seed(2))
    ours = isp.demosaic_rggb(p)[0].permute(1, 2, 0).numpy()
    ref = demosaicing_CFA_Bayer_Malvar2004(unpack_rggb(p[0]).numpy().astype(np.float64), "RGGB")
    assert np.abs(ours - ref).max() < 1e-5
    mine = isp.demosaic_rggb(p.numpy())  # numpy in (runs without PyTorch): numpy out, the same
    assert isinstance(mine, np.ndarray) and mine.dtype == np.float32
    assert np.abs(mine[0].transpose(1, 2, 0) - ref).max() < 1e-5


def test_process_numpy_equals_tensor():
    p = torch.rand(1, 4, 12, 10, generator=torch.Generator().manual_seed(3))
    wb, ccm = [2.0, 1.0, 1.6], [[1.5, -0.4, -0.1], [-0.2, 1.4, -0.2], [0.0, -0.5, 1.5]]
    for tone in (True, False):
        a = isp.process(p.numpy(), np.float32(wb), np.float32(ccm), tone=tone)
        b = isp.process(p, wb, ccm, tone=tone).numpy()
        assert isinstance(a, np.ndarray) and a.dtype == np.float32 and np.abs(a - b).max() < 1e-6


def test_demosaic_recovers_smooth_image():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    rgb = torch.stack([0.2 + 0.5 * xx, 0.3 + 0.4 * yy, 0.6 - 0.3 * xx * yy])[None]
    out = isp.demosaic_rggb(isp.mosaic_rggb(rgb))
    assert (out - rgb)[..., 4:-4, 4:-4].abs().max() < 2e-3


def test_unprocess_then_process_recovers_srgb_within_one_level():
    """The issue's round trip: within 1/255 away from clipped (near-white) highlights."""
    g = torch.Generator().manual_seed(3)
    x = torch.cat([_photo("astronaut"), _photo("chelsea"), _photo("coffee")])
    wb, ccm = isp.random_camera(g, 3)
    lin = isp.unprocess_rgb(x, wb, ccm, tone=True)
    back = isp.process_rgb(lin, wb, ccm, tone=True)
    keep = (x.mean(1, keepdim=True) <= 0.9).expand_as(x).clone()
    # pixels whose camera values the inverse matrix pushed outside [0, 1] are clipped too
    cam = isp.apply_ccm(isp.gamma_expand(isp.inverse_smoothstep(x)), torch.linalg.inv(ccm))
    keep &= ((cam >= 0) & (cam <= 1)).all(1, keepdim=True).expand_as(x)
    assert keep.float().mean() > 0.8
    assert (back - x)[keep].abs().max() * 255 < 1.0


def test_full_raw_round_trip_through_mosaic_is_close():
    x = _photo("chelsea", 128)
    packed, meta = isp.unprocess(x, torch.Generator().manual_seed(4))
    assert packed.shape == (1, 4, 64, 64) and 0 <= packed.min() and packed.max() <= 1
    back = isp.process(packed, meta["wb"], meta["ccm"])
    assert back.shape == x.shape
    psnr = -10 * torch.log10(((back - x)[..., 4:-4, 4:-4] ** 2).mean())
    assert psnr > 30  # only demosaicing loses detail


def test_random_camera_rows_and_ranges():
    wb, ccm = isp.random_camera(torch.Generator().manual_seed(5), 64)
    assert torch.allclose(ccm.sum(-1), torch.ones(64, 3), atol=1e-4)  # white stays white
    assert (wb[:, 1] > 0.8).all() and (wb[:, 0] > wb[:, 1]).all() and (wb[:, 2] > wb[:, 1]).all()


def test_smoothstep_and_gamma_inverses():
    y = torch.linspace(0, 1, 101)
    assert torch.allclose(isp.smoothstep(isp.inverse_smoothstep(y)), y, atol=1e-5)
    assert torch.allclose(isp.gamma_compress(isp.gamma_expand(y[1:])), y[1:], atol=1e-5)


def test_synthetic_camera_noise_is_signal_dependent_and_correlated():
    g = torch.Generator().manual_seed(6)
    grey = torch.full((2, 3, 64, 64), 0.5)
    noisy, clean = isp.synthetic_camera_noise_srgb(grey, g, shot=torch.tensor([1e-3, 1e-2]))
    r = (noisy - clean)[:, 1, 8:-8, 8:-8]
    assert 2 < r[1].std() / r[0].std() < 4.5  # ~sqrt(10) from the shot noise
    # demosaicing correlates neighbours: lag-1 correlation clearly positive
    c = torch.corrcoef(torch.stack([r[1, :, :-1].flatten(), r[1, :, 1:].flatten()]))[0, 1]
    assert c > 0.1
