"""Previews look as other viewers show the file: crop, orientation, size, EXIF, sRGB ICC."""
from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from edgeden import io
from edgeden.demo import make_noisy_raw, skimage_photo
from edgeden.io.preview import compare_pixels, orientation_of, preview_pixels

pytestmark = pytest.mark.unit


def _grey(a: np.ndarray) -> np.ndarray:
    g = a.astype(np.float64).mean(2)
    return (g - g.mean()) / (g.std() + 1e-9)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape[:2] == b.shape[:2], (a.shape, b.shape)
    return float((_grey(a) * _grey(b)).mean())


@pytest.fixture()
def rotated_cropped_dng(tmp_path):
    """A 128x192 DNG with Orientation 6 (rotate 90 CW) and DefaultCrop origin (8, 4), size 160x112."""
    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:128, :192], shot=1e-4, seed=0)
    raw.exif = {"_dng_raw": [(50719, 4, 2, (8, 4)), (50720, 4, 2, (160, 112))], "Orientation": 6, "Make": "Cam"}
    f = tmp_path / "rot.dng"
    io.write_dng(f, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    return f


def test_orientation_and_crop_match_rawpy(rotated_cropped_dng, tmp_path):
    import rawpy

    from edgeden.pipeline import raw_to_packed, render_packed

    raw = io.read_raw(rotated_cropped_dng)
    with rawpy.imread(str(rotated_cropped_dng)) as r:
        ref = r.postprocess(use_camera_wb=True)  # oriented, full frame
        s = r.sizes
        assert raw.default_crop == (s.crop_top_margin, s.crop_left_margin, s.crop_height, s.crop_width) == (4, 8, 112, 160)
    render = render_packed(*raw_to_packed(raw)[:1], raw, raw_to_packed(raw)[1])
    full = preview_pixels(render, orientation=orientation_of(raw.exif), size=0)
    assert full.shape == ref.shape == (192, 128, 3)
    assert _corr(full, ref) > 0.95
    assert _corr(np.ascontiguousarray(full[::-1, ::-1]), ref) < 0.5  # the check tells orientations apart
    # crop then rotate 90 CW: raw rows 4..116, cols 8..168 -> oriented rows 8..168, cols 128-116..128-4
    crop = preview_pixels(render, crop=raw.default_crop, orientation=6, size=0)
    assert crop.shape == (160, 112, 3)
    np.testing.assert_array_equal(crop, full[8:168, 12:124])
    assert _corr(crop, ref[8:168, 12:124]) > 0.95
    # the command writes exactly that, upright, with the source's EXIF and an sRGB profile
    out = tmp_path / "p.jpg"
    io.write_preview(out, render, exif=raw.exif, crop=raw.default_crop, size=0)
    with Image.open(out) as im:
        assert im.size == (112, 160) and im.getexif().get(274) == 1 and im.getexif().get(271) == raw.exif["Make"]
        from PIL import ImageCms

        icc = ImageCms.ImageCmsProfile(BytesIO(im.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(icc)
        assert _corr(np.asarray(im), crop) > 0.99


def test_preview_size_default_long_edge_and_full_size():
    a = np.random.default_rng(0).random((3000, 1000, 3)).astype(np.float32)
    assert preview_pixels(a).shape == (2048, 683, 3)
    assert preview_pixels(a, size=0).shape == (3000, 1000, 3)
    assert preview_pixels(a[:100, :50]).shape == (100, 50, 3)  # never upscaled
    assert preview_pixels(a, size=600, orientation=8).shape == (200, 600, 3)


def test_compare_side_and_split():
    b = np.zeros((10, 20, 3), np.uint8)
    a = np.full((10, 20, 3), 200, np.uint8)
    side = compare_pixels(b, a, "side")
    assert side.shape == (10, 48, 3) and side[:, :20].max() == 0 and side[:, 28:].min() == 200
    split = compare_pixels(b, a, "split")
    assert split.shape == (10, 20, 3) and split[:, :9].max() == 0 and split[:, 11:].min() == 200
    assert (split[:, 9:11] == 255).all()
    with pytest.raises(ValueError):
        compare_pixels(b, a, "diagonal")


def test_denoise_preview_compare_from_the_cli(rotated_cropped_dng, tmp_path, tiny_presets):
    from typer.testing import CliRunner

    from edgeden.cli import app

    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["denoise", str(rotated_cropped_dng), "-m", "tiny-raw", "-o", str(out),
                                 "--preview-compare", "side"])
    assert r.exit_code == 0, r.output
    with Image.open(out / "rot.dng.preview.jpg") as im:
        assert im.size == (2 * 112 + 8, 160) and im.getexif().get(274) == 1
    r = CliRunner().invoke(app, ["denoise", str(rotated_cropped_dng), "-m", "tiny-raw", "-o", str(out),
                                 "--preview-compare", "diagonal"])
    assert r.exit_code == 2 and "--preview-compare" in r.output


def test_real_dng_preview_is_mirrored_as_rawpy_shows_it(shared_data, tmp_path):
    import rawpy

    from edgeden.info import render_file

    f = shared_data / "raw" / "gopro_FUSION_GPFR7066_from_gpr.dng"  # Orientation 2 (mirrored)
    out = tmp_path / "p.jpg"
    render_file(f, out, size=512)
    with rawpy.imread(str(f)) as r:
        ref = r.postprocess(use_camera_wb=True, half_size=True)
    with Image.open(out) as im:
        ours = np.asarray(im)
        assert max(im.size) == 512 and im.getexif().get(274) == 1 and im.getexif().get(271) == "GoPro"
    ref_s = np.asarray(Image.fromarray(ref).resize((ours.shape[1], ours.shape[0]), Image.Resampling.BOX))
    assert _corr(ours, ref_s) > 0.95
    assert _corr(ours, np.ascontiguousarray(ref_s[:, ::-1])) < _corr(ours, ref_s) - 0.05


def test_binned_render_gives_the_same_preview(tmp_path, tiny_presets):
    """Without a TIFF, classifier or full-size preview the raw is rendered binned (cheaper); the
    preview must look the same as one from the full render."""
    from edgeden.pipeline import DenoiseOptions, denoise_file, raw_to_packed, render_packed
    from edgeden.presets import build_model, get_preset

    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:480, :720], shot=1e-4, seed=0)
    raw.exif = {"Orientation": 6}
    src = tmp_path / "big.dng"
    io.write_dng(src, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    preset = get_preset("tiny-raw")
    res = denoise_file(src, tmp_path / "o" / "big.dng", build_model(preset), preset, DenoiseOptions(preview_size=256))
    with Image.open(res.outputs.preview) as im:
        binned = np.asarray(im.convert("RGB"))
    out = io.read_raw(tmp_path / "o" / "big.dng")
    full = preview_pixels(render_packed(*raw_to_packed(out)[:1], out, raw_to_packed(out)[1]), orientation=6, size=256)
    assert binned.shape == full.shape == (256, 240, 3)  # 480x512, turned, long edge 256
    assert _corr(binned, full) > 0.98


def test_even_binning_renders_quads_without_demosaic():
    """An RGGB raw binned by an even factor is rendered from its quads (no demosaic): the same size
    as the full render scaled down, a flat field its colour, and a photo as close to the full
    render box-averaged as the demosaic of the binned planes at factor 2 (measured 28.2 against
    28.3 dB) and closer at factor 4 (31.9 against 24.3 dB). Other CFAs, whose quads sit a
    sensor row or column off the image's grid, keep the binned demosaic."""
    import torch

    from edgeden.pipeline import raw_to_packed, render_packed, render_packed_binned

    def psnr(a, b):
        return 10 * np.log10(65535.0 ** 2 / ((a - b) ** 2).mean())

    def old_way(x, raw, pad, f):  # the planes binned by f, then demosaiced
        o = render_packed(torch.nn.functional.avg_pool2d(x, f, ceil_mode=True), raw, None)
        top, left = pad[0] // f, pad[2] // f
        return o[top: top + raw.shape[0] // f, left: left + raw.shape[1] // f]

    photo = skimage_photo("astronaut")[:256, :384]
    raw, _ = make_noisy_raw(photo, shot=1e-8, read=1e-10, cfa="RGGB", seed=0)
    x, pad = raw_to_packed(raw)
    full = render_packed(x, raw, pad).astype(np.float64)
    for f in (2, 4):
        got = render_packed_binned(x, raw, pad, f).astype(np.float64)
        h, w = full.shape[0] // f, full.shape[1] // f
        assert got.shape == (h, w, 3)
        ref = full[: h * f, : w * f].reshape(h, f, w, f, 3).mean((1, 3))
        new, old = psnr(got, ref), psnr(old_way(x, raw, pad, f).astype(np.float64), ref)
        assert new > old - 0.5 if f == 2 else new > old + 3.0, (f, new, old)
    flat = torch.full_like(x, 0.3)
    a = render_packed_binned(flat, raw, pad, 2).astype(np.int64)
    b = render_packed(flat, raw, pad).astype(np.int64)
    inner = b[8:-8, 8:-8].reshape(-1, 3)  # the full render's outer rows see its mirrored CFA
    assert (inner == inner[0]).all()
    assert np.abs(a - inner[0]).max() <= 8  # the preview's tone table: within 8 of 65535
    raw_g, _ = make_noisy_raw(photo, shot=1e-8, read=1e-10, cfa="GBRG", seed=0)
    xg, padg = raw_to_packed(raw_g)
    assert any(padg)
    assert np.array_equal(render_packed_binned(xg, raw_g, padg, 2), old_way(xg, raw_g, padg, 2))


def test_preview_tone_table_matches_the_isp_curves():
    import torch

    from edgeden.core import isp
    from edgeden.pipeline import _tone_lut16

    x = torch.rand(200_000, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) ** 4  # dense near black
    exact = isp.smoothstep(isp.gamma_compress(x)).numpy() * 255
    table = _tone_lut16()[(x.numpy() * 65535 + 0.5).astype(np.int64)] / 65535 * 255
    assert _tone_lut16().dtype == np.uint16 and _tone_lut16().shape == (65536,)
    assert np.abs(exact - table).max() < 0.05  # measured 0.017 of an 8-bit code
