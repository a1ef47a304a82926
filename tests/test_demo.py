"""The README's demo inputs: made by the project itself, readable by its own pipeline."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from edgeden.cli import app
from edgeden.demo import make_samples


def test_demo_inputs_are_made_and_readable(tmp_path):
    paths = make_samples(tmp_path / "inputs")
    assert [p.name for p in paths] == ["astronaut_night.dng", "chelsea_noisy.png", "coffee_awgn25.png"]
    r = CliRunner().invoke(app, ["info", str(paths[0]), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["cfa"] == "RGGB" and d["noise_source"].startswith("dng-noiseprofile")
    assert d["noise_shot_S"] == [0.012]
    for p in paths[1:]:
        d = json.loads(CliRunner().invoke(app, ["info", str(p), "--json", "--estimate"]).output)
        assert d["format"] == "png" and d["noise_read_O"][0] > 0


def test_makefile_demo_and_test_targets_match_readme():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    mk = (root / "Makefile").read_text()
    readme = (root / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "-m edgeden.demo demo/inputs" in mk and "edgeden denoise demo/inputs" in mk
    assert "torch==2.13.0" in mk
    assert (root / ".ci" / "run").read_text().strip().endswith("make test")


def test_synthetic_raw_saturates_at_the_white_level():
    """A bright synthetic raw clips at its white level, as a sensor does, never above it; read
    noise below black stays (the pipeline's black subtraction handles it)."""
    import numpy as np

    from edgeden.demo import make_noisy_raw

    img = np.full((16, 16, 3), 0.9, np.float32)
    img[:, :8] = 0.0
    raw, _ = make_noisy_raw(img, 4e-3, brightness=4.0, black=256, white=4095, seed=1)
    u16 = raw.mosaic_u16
    assert u16.max() == 4095 and (u16[:, 8:] == 4095).mean() > 0.5
    assert u16[:, :8].min() < 256
