"""`edgeden export PRESET --onnx FILE`: the network(s) as ONNX, checked with ONNX Runtime."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edgeden.cli import app

pytestmark = pytest.mark.unit
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("name", ["unet-m-srgb", "fanet-nsma"])
def test_onnx_matches_pytorch_on_a_tile_of_another_size(tmp_path, name):
    from edgeden.models import primary_output
    from edgeden.presets import build_model, get_preset

    out = tmp_path / f"{name}.onnx"
    r = CliRunner().invoke(app, ["export", name, "--onnx", str(out)])
    assert r.exit_code == 0, r.output
    c = json.loads(out.with_suffix(".json").read_text())
    assert c["preset"] == name and all(d is not None and d < 1e-3 for d in c["onnxruntime_max_abs_diff"])
    model = build_model(get_preset(name)).eval()
    members = list(model.members) if hasattr(model, "members") else [model]
    assert len(c["files"]) == len(members) and (c["members_shot_bounds"] is None) == (len(members) == 1)
    x = torch.rand(1, c["input"]["shape"][1], 96, 160)  # another size, a multiple of c["input"]["multiple"]
    for f, net in zip(c["files"], members):
        y = ort.InferenceSession(str(tmp_path / f), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
        with torch.no_grad():
            ref = primary_output(net(x)).numpy()
        assert y.shape == ref.shape and float(np.abs(y - ref).max()) < 1e-3


def test_export_needs_a_name_without_onnx(tmp_path):
    r = CliRunner().invoke(app, ["export", str(tmp_path)])
    assert r.exit_code == 2 and "--name" in r.output
