"""`edgeden bench`: a case runs in a fresh process and reports every stage, MP/s and RSS."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgeden import io
from edgeden.bench import format_report, run_case
from edgeden.cli import app
from edgeden.demo import make_noisy_raw, skimage_photo

pytestmark = pytest.mark.unit


def test_case_reports_stages_startup_and_rss(tmp_path, tiny_presets):
    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:96, :128], shot=4e-3, seed=0)
    files = []
    for i in range(2):
        f = tmp_path / f"a{i}.dng"
        io.write_dng(f, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
        files.append(f)
    c = run_case("two", files, "tiny-raw", 1, tmp_path / "work")
    assert c["images"] == 2 and c["preset"] == "tiny-raw" and c["megapixels_each"] == pytest.approx(0.01, abs=0.01)
    for k in ("read", "pack", "noise", "inference", "unpack", "render", "dng_encode", "preview", "sidecar", "total"):
        assert c["stages_s"][k] >= 0, k
    assert 0 < c["startup_s"] < c["wall_s"] and c["peak_rss_mb"] > 50 and 0 <= c["not_inference_share"] <= 1
    assert c["startup_s"] < c["first_tile_s"] < c["first_tile_done_s"] < c["wall_s"]
    assert c["torch_imported"] is True  # a PyTorch network
    rep = {"machine": {"cpu": "x", "threads": 1, "torch": "t"}, "conv_peak_gflops": {"fp32": 10.0}, "cases": [c]}
    text = format_report(rep)
    assert "two" in text and "dng_encod" in text and "1st tile" in text
    assert not (tmp_path / "work" / "out-two").exists()  # outputs are cleaned up
    assert c["tiling"] == {"tile": 64, "overlap": 16}  # tiny-raw preset's own
    t = run_case("tiled", files[:1], "tiny-raw", 1, tmp_path / "work", tile=40, overlap=8)
    assert t["tiling"] == {"tile": 40, "overlap": 8} and "tile 40 overlap 8" in format_report({**rep, "cases": [t]})


def test_bad_options_are_usage_errors():
    r = CliRunner().invoke(app, ["bench", "--synthetic", "7"])
    assert r.exit_code == 2 and "no synthetic size 7 MP" in r.output
    r = CliRunner().invoke(app, ["bench", "nosuch.dng"])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["bench", "--tile", "40", "--overlap", "32"])
    assert r.exit_code == 2 and "more than twice the overlap" in r.output


@pytest.mark.parametrize("args, sizes", [([], (24, 50)), (["--synthetic", "24", "--synthetic", "50"], (24, 50)),
                                         (["--synthetic", "50,24", "--synthetic", "24"], (50, 24)),
                                         (["--synthetic", ""], ())])
def test_synthetic_sizes_comma_separated_or_repeated(monkeypatch, args, sizes):
    import edgeden.bench as B

    seen = {}

    def fake(files, synthetic, *a, **kw):  # no timing here: only what the command passes on
        seen["sizes"] = synthetic
        return {"machine": {"cpu": "x", "threads": 1, "torch": "t"}, "conv_peak_gflops": {"fp32": 1.0}, "cases": []}

    monkeypatch.setattr(B, "bench", fake)
    r = CliRunner().invoke(app, ["bench", "--folder", "0", "--json", *args])
    assert r.exit_code == 0, r.output
    assert tuple(seen["sizes"]) == sizes
