"""End-to-end per-file pipeline with tiny test presets (mechanics, not quality)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgeden import io
from edgeden.pipeline import DenoiseOptions, denoise_array, denoise_file, raw_to_packed, packed_to_mosaic
from edgeden.core.types import NoiseParams, RgbImage, UnsupportedInputError
from edgeden.demo import make_noisy_raw, skimage_photo
from edgeden.presets import build_model, get_preset


@pytest.fixture()
def raw_model(tiny_presets):
    p = get_preset("tiny-raw")
    return p, build_model(p)


@pytest.fixture()
def srgb_model(tiny_presets):
    p = get_preset("tiny-srgb")
    return p, build_model(p)


def _write_raw(tmp_path, cfa="RGGB", size=(70, 94), name="in.dng"):
    raw, clean = make_noisy_raw(skimage_photo("chelsea")[: size[0], : size[1]], shot=4e-3, cfa=cfa, seed=1)
    p = tmp_path / name
    io.write_dng(p, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    return p, raw


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_packing_round_trip_is_exact_for_every_pattern(tmp_path, cfa):
    p, _ = _write_raw(tmp_path, cfa)
    raw = io.read_raw(p)
    assert raw.cfa == cfa
    packed, pad = raw_to_packed(raw)
    assert np.array_equal(packed_to_mosaic(packed, pad, raw), raw.mosaic_u16)


@pytest.mark.parametrize("cfa", ["RGGB", "GBRG"])
def test_dng_written_by_us_is_denoised_and_written_again(tmp_path, raw_model, cfa):
    """Our writer -> rawpy -> denoise -> our writer -> rawpy: same geometry, levels, colour."""
    import rawpy

    preset, net = raw_model
    src, raw = _write_raw(tmp_path, cfa)
    before = src.read_bytes()
    out = tmp_path / "out" / "in.dng"
    res = denoise_file(src, out, net, preset, DenoiseOptions(tiff=True))
    assert src.read_bytes() == before  # input untouched
    assert res.noise.source == "dng-noiseprofile"
    a, b = rawpy.imread(str(src)), rawpy.imread(str(out))
    assert b.raw_image_visible.shape == a.raw_image_visible.shape
    assert np.array_equal(b.raw_pattern, a.raw_pattern)
    assert list(b.black_level_per_channel) == list(a.black_level_per_channel)
    assert b.white_level == a.white_level
    assert np.allclose(b.camera_whitebalance[:3], a.camera_whitebalance[:3], rtol=1e-3)
    assert np.allclose(b.rgb_xyz_matrix[:3], a.rgb_xyz_matrix[:3], atol=1e-3)
    again = io.read_raw(out)
    assert again.cfa == cfa
    # the still-mosaiced data changed (denoised) but stays close to the input for a near-identity model
    d = np.abs(again.mosaic_u16.astype(float) - raw.mosaic_u16.astype(float))
    assert 0 < d.mean() < 0.05 * (raw.white_level - raw.black_level[0])
    import tifffile

    with tifffile.TiffFile(out) as tf:
        tags = {t.code: t.value for t in tf.pages[0].tags}
    assert 50935 in tags and tuple(np.ravel(tags[50935]))[:2] == (1, 1)  # NoiseReductionApplied
    # fresh preview in the DNG, the outputs and a complete sidecar
    for p in (res.outputs.preview, res.outputs.tiff, res.outputs.sidecar):
        assert p.exists()
    side = json.loads(res.outputs.sidecar.read_text())
    assert side["schema"] == "edgeden.sidecar/1"
    assert side["noise"]["source"] == "dng-noiseprofile"
    assert side["input"]["cfa"] == cfa and side["preset"]["name"] == "tiny-raw"
    assert {"read", "noise", "inference", "write", "total"} <= set(side["timings_s"])
    assert "classification" in side and side["classification"] is None
    render = io.read_rgb(res.outputs.tiff)
    assert render.bit_depth == 16 and render.data_hwc.shape[:2] == raw.shape


def test_noise_override_wins_and_is_recorded(tmp_path, raw_model):
    preset, net = raw_model
    src, _ = _write_raw(tmp_path)
    over = NoiseParams((1e-3,), (1e-6,), source="override", detail="--noise")
    res = denoise_file(src, tmp_path / "o.dng", net, preset, DenoiseOptions(noise=over, preview=False))
    assert res.noise.source == "override"
    assert json.loads(res.outputs.sidecar.read_text())["noise"]["shot"] == [1e-3]
    assert res.outputs.preview is None


def _rgb_file(tmp_path, fmt, depth, layout):
    rng = np.random.default_rng(0)
    img = skimage_photo("coffee")[:40, :52]
    data = img if layout != "grey" else img.mean(-1, keepdims=True)
    alpha = None
    if layout == "rgba":
        alpha = rng.integers(0, 2 ** depth, img.shape[:2]).astype(np.uint8 if depth == 8 else np.uint16)
    like = RgbImage(data_hwc=data, alpha=alpha, bit_depth=depth, format=fmt)
    p = tmp_path / f"in_{layout}_{depth}.{ 'tif' if fmt == 'tiff' else ('jpg' if fmt == 'jpeg' else 'png')}"
    io.write_rgb(p, data, like)
    return p


@pytest.mark.parametrize("fmt,depth,layout", [("png", 8, "rgb"), ("png", 16, "rgba"), ("png", 8, "grey"),
                                              ("tiff", 16, "rgb"), ("tiff", 8, "rgba"), ("jpeg", 8, "rgb")])
def test_rgb_keeps_format_depth_and_alpha(tmp_path, srgb_model, fmt, depth, layout):
    preset, net = srgb_model
    src = _rgb_file(tmp_path, fmt, depth, layout)
    a = io.read_rgb(src)
    res = denoise_file(src, tmp_path / "out" / src.name, net, preset, DenoiseOptions())
    b = io.read_rgb(res.outputs.image)
    assert (b.format, b.bit_depth, b.channels) == (a.format, a.bit_depth, a.channels)
    assert b.data_hwc.shape == a.data_hwc.shape
    if a.alpha is not None:
        assert np.array_equal(a.alpha, b.alpha)  # alpha passed through untouched
    assert res.noise.source in ("estimated", "override")


def test_raw_preset_on_rgb_input_goes_through_unprocessing(tmp_path, raw_model):
    preset, net = raw_model
    src = _rgb_file(tmp_path, "png", 8, "rgb")
    res = denoise_file(src, tmp_path / "o.png", net, preset, DenoiseOptions())
    a, b = io.read_rgb(src), io.read_rgb(res.outputs.image)
    # a near-identity raw model: unprocess -> model -> process returns (almost) the input
    psnr = -10 * np.log10(np.mean((a.data_hwc - b.data_hwc) ** 2))
    assert psnr > 30


def test_srgb_preset_refuses_raw_input(tmp_path, srgb_model):
    preset, net = srgb_model
    src, _ = _write_raw(tmp_path)
    with pytest.raises(UnsupportedInputError, match="raw preset"):
        denoise_file(src, tmp_path / "o.dng", net, preset, DenoiseOptions())
    assert not (tmp_path / "o.dng").exists()


def test_denoise_array_tiled_equals_whole_image(raw_model):
    preset, net = raw_model
    x = torch.rand(1, 4, 70, 90, generator=torch.Generator().manual_seed(0)) * 0.5
    p = NoiseParams((4e-3,), (2e-5,))
    whole = denoise_array(x, net, preset, p, tile=0, overlap=0)
    tiled = denoise_array(x, net, preset, p, tile=64, overlap=24)
    assert whole.shape == x.shape
    # UNet-S's receptive field exceeds 24 px, so allow a small blending difference
    assert (whole - tiled).abs().mean() < 2e-3


def test_exposure_gain_path_is_exactly_inverted(raw_model):
    """With the gain, an identity network still returns the input (gain applied and removed)."""
    import dataclasses

    from edgeden.core.ksigma import exposure_gain

    preset, _ = raw_model
    p = dataclasses.replace(preset, ksigma=False, noise_map=True, gain_target=0.4)

    class TakeImage(torch.nn.Module):
        def forward(self, t):
            assert t.shape[1] == 5 and abs(t[:, :4].mean().item() - 0.4) < 0.05  # brightened
            return t[:, :4]

    x = torch.rand(1, 4, 40, 50, generator=torch.Generator().manual_seed(0)) * 0.05
    out = denoise_array(x, TakeImage(), p, NoiseParams((4e-3,), (2e-5,)), tile=0, overlap=0)
    assert torch.allclose(out, x, atol=1e-6)
    g = exposure_gain(torch.stack([torch.full((4, 8, 8), 0.01), torch.full((4, 8, 8), 0.9)]), 0.4)
    assert g.flatten().tolist() == pytest.approx([40.0, 1.0])
