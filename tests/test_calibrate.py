"""`edgeden calibrate`: (S, O) per ISO and CFA plane from dark / flat / burst frames, written as a
darktable profile that `--noise-profiles` reads."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeden import io
from edgeden.calibrate import calibrate, merge_into, profiles_json
from edgeden.cli import app
from edgeden.core.types import RawImage

pytestmark = pytest.mark.unit
S0, O0 = 2e-4, 3e-6
WB = (2.0, 1.0, 1.6)


def _frame(path, level, S, O, iso, exp, seed, black=512, white=16383, cfa="RGGB"):
    rng = np.random.default_rng(seed)
    noisy = level + rng.standard_normal(level.shape) * np.sqrt(S * np.clip(level, 0, None) + O)
    u16 = np.clip(np.round(noisy * (white - black) + black), 0, 65535).astype(np.uint16)
    raw = RawImage(mosaic_u16=u16, cfa=cfa, black_level=(float(black),) * 4, white_level=float(white),
                   wb_rgb=np.array(WB, np.float32), cam_to_srgb=np.eye(3, dtype=np.float32), make="TestCam",
                   model="T1", iso=float(iso),
                   exif={"Make": "TestCam", "Model": "T1", "ISOSpeedRatings": iso, "ExposureTime": (1, exp)})
    io.write_dng(path, raw.mosaic_u16, raw)
    return path


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    h, w = 192, 256
    yy, xx = np.mgrid[0:h, 0:w]
    flat = 0.05 + 0.8 * (xx / w) * (0.5 + 0.5 * yy / h)  # an unevenly lit flat: many levels in one frame
    out = {"400": [], "800": [], "1600": []}
    for i in range(4):
        out["400"].append(_frame(d / f"flat{i}.dng", flat, S0, O0, 400, 100, i))
    for i in range(2):
        out["400"].append(_frame(d / f"dark{i}.dng", np.zeros((h, w)), S0, O0, 400, 4000, 10 + i))
    for i in range(3):
        out["800"].append(_frame(d / f"b800_{i}.dng", flat, 2 * S0, 4 * O0, 800, 200, 20 + i, cfa="GRBG"))
    for i in range(2):
        out["800"].append(_frame(d / f"d800_{i}.dng", np.zeros((h, w)), 2 * S0, 4 * O0, 800, 4000, 40 + i, cfa="GRBG"))
    out["1600"].append(_frame(d / "single1600.dng", flat, 4 * S0, 16 * O0, 1600, 400, 30))
    return out


def test_fits_known_noise_within_10_percent(frames):
    fits, cam = calibrate([p for v in frames.values() for p in v])
    by = {f.iso: f for f in fits}
    assert sorted(by) == [400.0, 800.0, 1600.0] and cam["make"] == "TestCam"
    for iso, k, tol in ((400.0, 1, 0.1), (800.0, 2, 0.1), (1600.0, 4, 0.2)):  # single frame: looser
        f = by[iso]
        assert np.allclose(f.shot, k * S0, rtol=tol), (iso, f.shot)
        assert np.allclose(f.read, k * k * O0, rtol=tol if iso < 1600 else 0.35), (iso, f.read)
    assert "dark burst of 2" in by[400.0].methods and "light burst of 4" in by[400.0].methods
    assert by[1600.0].methods == ["single light frame (estimated)"]
    # without dark frames O comes from extrapolating the light levels (0.05..0.85) to 0: S holds,
    # O within 25% here (measured 0.97-1.16x), which is why the procedure asks for dark frames
    f = calibrate(frames["800"][:3])[0][0]
    assert np.allclose(f.shot, 2 * S0, rtol=0.1) and np.allclose(f.read, 4 * O0, rtol=0.25)


def test_written_profile_is_read_by_info_and_matches(frames, tmp_path):
    out = tmp_path / "np.json"
    r = CliRunner().invoke(app, ["calibrate", *map(str, frames["400"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    p = doc["noiseprofiles"][0]["models"][0]["profiles"][0]
    assert p["iso"] == 400 and np.isclose(p["a"][1], S0, rtol=0.1)
    assert np.isclose(p["a"][0], WB[0] * S0, rtol=0.1) and np.isclose(p["b"][2], WB[2] ** 2 * O0, rtol=0.15)
    r = CliRunner().invoke(app, ["info", str(frames["400"][0]), "--noise-profiles", str(out), "--json"])
    d = json.loads(r.output)
    assert d["noise_source"].startswith("camera-profile") and "TestCam T1 at ISO 400" in d["profile_matched"]
    assert np.isclose(d["noise_shot_S"][0], S0, rtol=0.1) and np.isclose(d["noise_read_O"][0], O0, rtol=0.1)
    # a second calibration updates the file: the ISO 400 profile is kept, ISO 800 added
    r = CliRunner().invoke(app, ["calibrate", *map(str, frames["800"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    isos = [q["iso"] for q in json.loads(out.read_text())["noiseprofiles"][0]["models"][0]["profiles"]]
    assert isos == [400, 800]


def test_refuses_mixed_cameras_missing_iso_and_a_file_that_is_not_a_profile(frames, tmp_path):
    other = tmp_path / "other.dng"
    raw, _ = __import__("edgeden.demo", fromlist=["make_noisy_raw"]).make_noisy_raw(
        np.zeros((64, 64, 3), np.uint8) + 100, shot=1e-3, seed=0)
    io.write_dng(other, raw.mosaic_u16, raw)
    r = CliRunner().invoke(app, ["calibrate", str(frames["400"][0]), str(other), "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 1 and ("more than one camera" in r.output or "no ISO" in r.output)
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    r = CliRunner().invoke(app, ["calibrate", str(frames["400"][0]), "-o", str(bad)])
    assert r.exit_code == 1 and bad.read_text() == '{"hello": 1}'
    r = CliRunner().invoke(app, ["calibrate", str(tmp_path / "nope.dng")])
    assert r.exit_code == 2


def test_merge_replaces_same_iso_only():
    a = profiles_json([], {"make": "M", "model": "X", "wb_rgb": [1, 1, 1]})
    a["noiseprofiles"][0]["models"][0]["profiles"] = [{"iso": 100, "a": [1, 1, 1], "b": [0, 0, 0]}]
    b = json.loads(json.dumps(a))
    b["noiseprofiles"][0]["models"][0]["profiles"] = [{"iso": 100, "a": [2, 2, 2], "b": [0, 0, 0]},
                                                       {"iso": 200, "a": [3, 3, 3], "b": [0, 0, 0]}]
    m = merge_into(b, a)
    assert [p["a"][0] for p in m["noiseprofiles"][0]["models"][0]["profiles"]] == [2, 3]


@pytest.mark.shared
def test_real_frame_single_estimate_near_its_dng_tag(shared_data, tmp_path):
    """One real frame (GoPro FUSION, ISO 100, a sky and walls to measure on): the single-frame fit
    against the camera's own NoiseProfile tag. Measured 2026-12-03: S 1.45e-4 vs tag 7.8e-5 (1.9x),
    O 1.1e-7 vs 2.4e-8: the file went through lossy VC-5 coding, and one frame cannot separate
    fixed-pattern from temporal noise, hence docs/calibrate.md asks for dark and flat bursts."""
    f = shared_data / "raw" / "gopro_FUSION_GPFR7066_from_gpr.dng"
    fits, cam = calibrate([f])
    tag = io.read_raw(f).noise_profile
    s_g = fits[0].green()[0]
    assert fits[0].iso == 100 and cam["make"] == "GoPro"
    assert 0.5 * tag.shot[0] < s_g < 2.5 * tag.shot[0], (s_g, tag.shot)
