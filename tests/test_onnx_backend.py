"""ONNX Runtime backend: the same network, the same outputs within float rounding."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edgeden.models.onnx_backend import OnnxNet, export_graph, resolve_backend, to_onnxruntime

pytestmark = pytest.mark.unit
pytest.importorskip("onnxruntime")


def test_onnx_net_matches_torch_at_any_size(tmp_path):
    from edgeden.models import create_arch

    torch.manual_seed(0)
    net = create_arch("unet-s", in_channels=4, out_channels=3).eval()
    o = OnnxNet(export_graph(net, 4, tmp_path / "g.onnx"))
    x = torch.rand(2, 4, 64, 96)  # a multiple of 16: both pad nothing, outputs agree to rounding
    with torch.no_grad():
        assert torch.allclose(o(x), net(x), atol=1e-4)
    # other sizes: the graph pads to 16, the network to its own multiple (8 here), so only the
    # last rows/columns near the padded edge can differ
    x = torch.rand(1, 4, 37, 53)
    with torch.no_grad():
        y, ref = o(x), net(x)
    assert y.shape == ref.shape and torch.allclose(y[..., :16, :32], ref[..., :16, :32], atol=1e-4)
    assert o(torch.rand(1, 4, 1, 17)).shape == (1, 3, 1, 17)


def test_array_members_are_wrapped_and_cached(tmp_path):
    from edgeden.models.array import SubrangeArray
    from edgeden.models import create_arch

    arr = SubrangeArray([create_arch("unet-s", in_channels=4, out_channels=4).eval() for _ in range(2)], [1e-4, 1e-3, 1e-2])
    out = to_onnxruntime(arr, 4, "test-key", cache=tmp_path)
    assert all(isinstance(m, OnnxNet) for m in out.members)
    files = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert len(files) == 2 and files[0].startswith("test-key-m0-")
    out.select(5e-3)
    assert out(torch.rand(1, 4, 20, 24)).shape == (1, 4, 20, 24)


def test_resolve_backend():
    assert resolve_backend("torch", False) == "torch"
    assert resolve_backend("auto", False) == "torch"  # no measured preference: PyTorch
    assert resolve_backend("auto", False, "onnxruntime") == "onnxruntime"  # e.g. fanet-nsma
    assert resolve_backend("auto", True, "onnxruntime") == "torch"  # bf16 inference: PyTorch
    assert resolve_backend("onnxruntime", True) == "onnxruntime"
    with pytest.raises(ValueError):
        resolve_backend("tensorrt", False)


def test_denoise_backends_agree_and_are_recorded(tmp_path, tiny_presets, monkeypatch):
    from edgeden import io
    from edgeden.cli import app
    from edgeden.demo import make_noisy_raw, skimage_photo

    monkeypatch.setenv("EDGEDEN_CACHE", str(tmp_path / "cache"))
    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:96, :128], shot=4e-3, seed=0)
    src = tmp_path / "a.dng"
    io.write_dng(src, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    got = {}
    for b in ("torch", "onnxruntime"):
        r = CliRunner().invoke(app, ["denoise", str(src), "-m", "tiny-raw", "-o", str(tmp_path / b), "--backend", b,
                                     "--precision", "fp32"])
        assert r.exit_code == 0, r.output
        assert json.loads((tmp_path / b / "a.dng.json").read_text())["backend"] == b
        got[b] = io.read_raw(tmp_path / b / "a.dng").mosaic_u16.astype(int)
    d = np.abs(got["torch"] - got["onnxruntime"])
    assert d.mean() < 0.5 and d.max() <= 64  # rounding, and padding at image edges (see onnx_backend)
    assert list((tmp_path / "cache" / "onnx").glob("tiny-raw-*.onnx"))
    r = CliRunner().invoke(app, ["denoise", str(src), "-o", str(tmp_path / "x"), "--backend", "tpu"])
    assert r.exit_code == 2
