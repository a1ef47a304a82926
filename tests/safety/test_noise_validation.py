"""Issue 19, point 3: noise parameters are validated wherever they come from. A bad --noise is a
one-line usage error (exit 2) before any work; a bad DNG NoiseProfile or camera-profile entry
falls back to the next source with the reason in the sidecar's noise.detail."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from safety_util import run_cli, write_png

from edgeden.core import camera_profiles
from edgeden.core.types import NOISE_PARAM_MAX, InvalidNoiseError, NoiseParams

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("shot, read, ok", [
    ((0.002,), (1e-5,), True), ((0.0,), (0.0,), True), ((1.0,), (1.0,), True), ((1e-4,) * 4, (2e-6,) * 4, True),
    ((NAN,), (0.0,), False), ((0.0,), (NAN,), False), ((INF,), (0.0,), False), ((0.0,), (-INF,), False),
    ((1e300,), (0.0,), False), ((-1e-9,), (0.0,), False), ((0.001,), (1.5,), False), ((), (0.0,), False),
    ((1e-4, NAN, 1e-4, 1e-4), (1e-6,) * 4, False), (("x",), (0.0,), False),
])
def test_noise_params_validation(shot, read, ok):
    p = NoiseParams(shot, read, source="override")
    assert (p.problem() is None) == ok
    if ok:
        assert p.validate() is p
    else:
        with pytest.raises(InvalidNoiseError, match="invalid noise parameters"):
            p.validate()
        assert "\n" not in p.problem()
    assert NOISE_PARAM_MAX == 1.0


@pytest.mark.reliability(case="--noise nan,nan / inf,0 / 1e300,0 / sigma=nan / sigma=-1 / 2,0",
                         expected="usage error: one line, exit 2, nothing written")
@pytest.mark.parametrize("spec", ["nan,nan", "inf,0", "1e300,0", "sigma=nan", "sigma=-1", "2,0", "-inf,0",
                                  "sigma=inf", "sigma=1e300", "0,nan"])
def test_bad_noise_option_is_a_usage_error_before_any_work(spec, tmp_path, tiny_presets):
    src = write_png(tmp_path / "b.png")
    out = tmp_path / "out"
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, f"--noise={spec}")
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeden: error: --noise") and spec in lines[0], r.output
    assert not out.exists()


def test_good_noise_option_still_works(tmp_path, tiny_presets):
    src = write_png(tmp_path / "b.png")
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", tmp_path / "out", "--noise", "0.001,1e-5")
    assert r.exit_code == 0, r.output
    side = json.loads((tmp_path / "out" / "b.png.json").read_text())
    assert side["noise"]["shot"] == [0.001] and side["noise"]["source"] == "override"


def test_bad_dng_noise_profile_and_camera_profile_fall_back_to_the_estimate(synthetic_raw, monkeypatch):
    import torch

    from edgeden import pipeline

    raw = synthetic_raw(noise_profile=NoiseParams((NAN,), (1e-6,), source="dng-noiseprofile"))
    packed, _ = pipeline.raw_to_packed(raw)
    p = pipeline.raw_noise(raw, packed, pipeline.DenoiseOptions())
    assert p.source == "estimated" and p.problem() is None
    assert p.detail.startswith("DNG NoiseProfile rejected (S = nan is not finite)")

    bad_cam = NoiseParams((1e-4,) * 4, (INF,) * 4, source="camera-profile", detail="SynthMake Synth 1 ISO 800")
    monkeypatch.setattr(camera_profiles, "noise_from_camera_profile", lambda *a, **k: bad_cam)
    raw = synthetic_raw(noise_profile=NoiseParams((5.0,), (0.0,), source="dng-noiseprofile"))
    p = pipeline.raw_noise(raw, packed, pipeline.DenoiseOptions(noise_profiles=[]))
    assert p.source == "estimated" and p.problem() is None
    assert "DNG NoiseProfile rejected (S = 5 is above 1" in p.detail
    assert "camera profile rejected (O = inf is not finite)" in p.detail

    good_cam = NoiseParams((1e-4,) * 4, (1e-6,) * 4, source="camera-profile", detail="matched")
    monkeypatch.setattr(camera_profiles, "noise_from_camera_profile", lambda *a, **k: good_cam)
    p = pipeline.raw_noise(raw, packed, pipeline.DenoiseOptions(noise_profiles=[]))
    assert p.source == "camera-profile" and p.detail.startswith("DNG NoiseProfile rejected") and "matched" in p.detail

    # an estimate gone wrong (an image holding NaN) is clamped to something usable
    x = torch.full((4, 16, 16), float("nan"))
    reasons: list[str] = []
    q = pipeline._estimate(x, reasons)
    assert q.problem() is None

    # a library caller's invalid override is an error, not black output
    with pytest.raises(InvalidNoiseError):
        pipeline.raw_noise(raw, packed, pipeline.DenoiseOptions(noise=NoiseParams((NAN,), (0.0,))))


@pytest.mark.reliability(case="DNG whose NoiseProfile tag is out of range (S = 5)",
                         expected="falls back to the estimate; the reason in the sidecar's noise.detail; exit 0")
def test_bad_noise_profile_tag_end_to_end(tmp_path, tiny_presets, reference_dng):
    rng = np.random.default_rng(0)
    mosaic = rng.integers(64, 4000, (48, 64)).astype(np.uint16)
    src = reference_dng(tmp_path / "bad-profile.dng", mosaic, "RGGB", (64, 64, 64, 64), 4095, noise_profile=(5.0, 0.0))
    out = tmp_path / "out"
    r = run_cli("denoise", src, "-m", "tiny-raw", "-o", out)
    assert r.exit_code == 0, r.output
    noise = json.loads((out / "bad-profile.dng.json").read_text())["noise"]
    assert noise["source"] == "estimated" and "DNG NoiseProfile rejected" in noise["detail"]
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in noise["shot"] + noise["read"])
    from edgeden import io

    den = io.read_raw(out / "bad-profile.dng").mosaic_u16
    assert den.max() > 0  # not the all-black output of non-finite noise
