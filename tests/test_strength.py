"""`--strength`: the model's output mixed with its input (see edgeden.pipeline.apply_strength)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edgeden.core.types import NoiseParams
from edgeden.pipeline import _residual_noise, apply_strength, strength_params

pytestmark = pytest.mark.unit


def _pair(S=4e-3, O=1e-5, seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(1, 4, 32, 32, generator=g) * 0.8 + 0.05
    noisy = clean + torch.randn(clean.shape, generator=g) * torch.sqrt(S * clean + O)
    return clean, noisy, NoiseParams((S,), (O,), source="synthetic")


def test_ends_are_the_output_and_the_input():
    clean, noisy, p = _pair()
    for m in ("vst", "linear"):
        assert torch.equal(apply_strength(noisy, clean, p, 1.0, m), clean)
        assert torch.equal(apply_strength(noisy, clean, p, 0.0, m), noisy)
    with pytest.raises(ValueError):
        apply_strength(noisy, clean, p, 0.5, "sideways")


def test_vst_keeps_the_same_share_of_noise_at_every_level():
    """In the stabilised domain the kept noise is (1 - s) of the input's at every brightness: the
    residual's std relative to the input noise's std is the same in shadows and highlights."""
    clean, noisy, p = _pair(S=1e-2, O=1e-6)
    out = apply_strength(noisy, clean, p, 0.5, "vst")
    res, noise = (out - clean), (noisy - clean)
    dark, bright = clean < 0.2, clean > 0.6
    r_dark = float(res[dark].std() / noise[dark].std())
    r_bright = float(res[bright].std() / noise[bright].std())
    assert abs(r_dark - 0.5) < 0.05 and abs(r_bright - 0.5) < 0.05


def test_vst_is_the_linear_mix_for_gaussian_noise():
    clean, noisy, _ = _pair()
    p = NoiseParams((0.0,), (1e-4,), source="synthetic")
    assert torch.allclose(apply_strength(noisy, clean, p, 0.3, "vst"), apply_strength(noisy, clean, p, 0.3, "linear"))


def test_map_method_scales_the_noise_the_network_is_told():
    p = strength_params(NoiseParams((4e-3,), (1e-5,), source="x"), 0.5)
    assert p.shot == pytest.approx((1e-3,)) and p.read == pytest.approx((2.5e-6,))


def test_residual_profile_in_the_dng_grows_as_strength_falls():
    p = NoiseParams((4e-3,), (1e-5,), source="x")
    full, half, none = (_residual_noise(p, strength=s).shot[0] for s in (1.0, 0.5, 0.0))
    assert full == pytest.approx(4e-4) and none == pytest.approx(4e-3) and full < half < none


def test_cli_strength_is_recorded_and_changes_the_output(tmp_path, tiny_presets):
    from edgeden.cli import app
    from edgeden import io
    from edgeden.demo import make_noisy_raw, skimage_photo

    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:96, :128], shot=4e-3, seed=0)
    src = tmp_path / "a.dng"
    io.write_dng(src, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    outs = {}
    for s in ("1", "0.5", "0"):
        out = tmp_path / f"o{s}"
        r = CliRunner().invoke(app, ["denoise", str(src), "-m", "tiny-raw", "-o", str(out), "--strength", s])
        assert r.exit_code == 0, r.output
        side = json.loads((out / "a.dng.json").read_text())
        assert side["strength"]["value"] == float(s)
        outs[s] = io.read_raw(out / "a.dng")
    assert np.array_equal(outs["0"].mosaic_u16, raw.mosaic_u16)  # strength 0: the input's values
    d1 = np.abs(outs["1"].mosaic_u16.astype(int) - raw.mosaic_u16).mean()
    d5 = np.abs(outs["0.5"].mosaic_u16.astype(int) - raw.mosaic_u16).mean()
    assert 0 < d5 < d1
    assert outs["0.5"].noise_profile.shot[0] > outs["1"].noise_profile.shot[0]
    r = CliRunner().invoke(app, ["denoise", str(src), "-m", "tiny-raw", "-o", str(tmp_path / "x"), "--strength", "1.5"])
    assert r.exit_code == 2
