"""Raw colours survive the trip to DNG: a DNG we write renders in LibRaw (rawpy, camera white
balance) with the colours the source raw renders with, including raws whose files carry no
colour matrix (LibRaw's own rendering of them is measured and written into the DNG)."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeden import io

pytestmark = pytest.mark.shared


def _render(path) -> np.ndarray:
    import rawpy

    with rawpy.imread(str(path)) as r:
        return r.postprocess(use_camera_wb=True, half_size=True, output_bps=8).astype(np.float64) / 255


def _mean_delta_e(a: np.ndarray, b: np.ndarray, f: int = 8) -> float:
    """Mean CIEDE2000 between two renders' f x f block means (colour, not the noise in it)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    assert a.shape == b.shape
    h, w = a.shape[0] // f * f, a.shape[1] // f * f

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[:h, :w].reshape(h // f, f, w // f, f, 3).mean((1, 3))

    return float(deltaE_ciede2000(rgb2lab(blocks(a)), rgb2lab(blocks(b))).mean())


@pytest.mark.parametrize("name", ["RAW_KODAK_DC50.KDC", "gopro_FUSION_GPFR7066_from_gpr.dng"])
def test_written_dng_renders_with_the_source_colours(shared_data, tmp_path, name):
    src = shared_data / "raw" / name
    raw = io.read_raw(src)
    out = tmp_path / "same.dng"
    io.write_dng(out, raw.mosaic_u16, raw)
    de = _mean_delta_e(_render(src), _render(out))
    assert de < 1.0, de  # measured 2026-12-03: KDC 0.02 (was 7.6 before the probe), GoPro below 0.5


def test_kdc_denoised_end_to_end_keeps_its_colours(shared_data, tmp_path):
    from edgeden.cli import app

    src = shared_data / "raw" / "RAW_KODAK_DC50.KDC"
    r = CliRunner().invoke(app, ["denoise", str(src), "-m", "fanet-nsma", "-o", str(tmp_path / "out"), "--no-preview"])
    assert r.exit_code == 0, r.output
    de = _mean_delta_e(_render(src), _render(tmp_path / "out" / "RAW_KODAK_DC50.dng"))
    assert de < 1.5, de  # measured 0.75 with fanet-nsma's groups-of-16 weights (sha 82f95dff and 7ad24702), 1.10 with groups of 8, 0.98 with the paper's groups of 4 (denoising itself moves chroma noise); 7.6 before the colour probe


def test_libraw_colour_probe_recovers_the_matrix_libraw_uses(shared_data):
    raw = io.read_raw(shared_data / "raw" / "RAW_KODAK_DC50.KDC")
    m = np.asarray(raw.cam_to_srgb, np.float64)
    assert np.allclose(m.sum(1), 1.0, atol=1e-3)          # white stays white
    assert not np.allclose(m, np.eye(3), atol=0.1)        # LibRaw's hidden matrix, not identity
    assert raw.xyz_to_cam is not None and np.allclose(raw.wb_rgb, 1.0, atol=1e-3)
