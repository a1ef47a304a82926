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


def test_cached_graph_runs_a_raw_batch_without_torch(tmp_path, tiny_presets, monkeypatch):
    """After one run has exported the graph, a raw denoise with ONNX Runtime never imports PyTorch
    (numpy from decode to a binned preview; k-sigma too) and writes the same DNG as the run that
    exported it."""
    import os
    import subprocess
    import sys

    from edgeden import io
    from edgeden.cli import app
    from edgeden.demo import make_noisy_raw, skimage_photo

    monkeypatch.setenv("EDGEDEN_CACHE", str(tmp_path / "cache"))
    raw, _ = make_noisy_raw(skimage_photo("astronaut"), shot=4e-3, seed=0)  # 512 x 512
    src = tmp_path / "a.dng"
    io.write_dng(src, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    args = ["denoise", str(src), "-m", "tiny-raw", "--backend", "onnxruntime", "--threads", "1", "--tile", "128",
            "--overlap", "16", "--preview-size", "256"]  # a preview binned by 2: no demosaic
    r = CliRunner().invoke(app, args + ["-o", str(tmp_path / "first")])  # exports the graph (PyTorch)
    assert r.exit_code == 0, r.output
    code = ("import sys\nfrom edgeden.cli import main\nsys.argv = ['edgeden'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('TORCH', 'torch' in sys.modules)\n")
    env = {**os.environ, "EDGEDEN_CACHE": str(tmp_path / "cache"), "EDGEDEN_PRESET_PATH": str(tiny_presets)}
    p = subprocess.run([sys.executable, "-c", code, *args, "-o", str(tmp_path / "second")], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "TORCH False" in p.stdout
    side = json.loads((tmp_path / "second" / "a.dng.json").read_text())
    assert side["backend"] == "onnxruntime" and side["precision"] == "fp32"
    assert (tmp_path / "first" / "a.dng").read_bytes() == (tmp_path / "second" / "a.dng").read_bytes()
    # a raw too small to bin its preview renders in full, in numpy too (the Malvar demosaic)
    p = subprocess.run([sys.executable, "-c", code, *args[:-2], "-o", str(tmp_path / "third")], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert "TORCH False" in p.stdout and (tmp_path / "third" / "a.dng.preview.jpg").stat().st_size > 0


def test_numpy_and_tensor_paths_agree():
    """The inference helpers give the same numbers for numpy arrays (runs without PyTorch) and
    tensors: tiling, the model-input contract, the strength blend, packing."""
    from edgeden.core.modelspec import ModelSpec
    from edgeden.core.tiling import run_tiled
    from edgeden.core.types import NoiseParams
    from edgeden.pipeline import apply_strength

    rng = np.random.default_rng(0)
    x = rng.random((1, 4, 70, 90), dtype=np.float32)
    t = torch.from_numpy(x.copy())
    y = run_tiled(lambda a: a * 2 + 1, x, tile=32, overlap=8)
    yt = run_tiled(lambda a: a * 2 + 1, t, tile=32, overlap=8)
    assert isinstance(y, np.ndarray) and torch.is_tensor(yt)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_allclose(y, x * 2 + 1, rtol=1e-6)
    shot, read = np.float32([4e-3, 3e-3, 3e-3, 5e-3]), np.float32([1e-5] * 4)
    for spec in (ModelSpec(domain="raw", noise_map=True, gain_target=0.4),
                 ModelSpec(domain="raw", noise_map=True, ksigma=True, k_ref=2e-3)):
        g, gt = spec.gain(x), spec.gain(t)
        np.testing.assert_allclose(g, gt.numpy(), rtol=1e-6)
        a = spec.to_model(x, shot, read, float(g.reshape(-1)[0]))
        at = spec.to_model(t, torch.from_numpy(shot), torch.from_numpy(read), float(gt.reshape(-1)[0]))
        assert isinstance(a, np.ndarray) and a.shape == (1, 5, 70, 90)
        np.testing.assert_allclose(a, at.numpy(), rtol=1e-6, atol=1e-7)
        back = spec.from_model(a[:, :4], shot, read, 2.0)
        np.testing.assert_allclose(back, spec.from_model(at[:, :4], torch.from_numpy(shot), torch.from_numpy(read),
                                                         2.0).numpy(), rtol=1e-5, atol=1e-7)
    p = NoiseParams((4e-3,), (1e-5,))
    den = np.clip(x + 0.01, 0, 1)
    for method in ("vst", "linear"):
        s = apply_strength(x, den, p, 0.5, method)
        st = apply_strength(t, torch.from_numpy(den), p, 0.5, method)
        assert isinstance(s, np.ndarray) and torch.is_tensor(st)
        np.testing.assert_array_equal(s, st.numpy())
        assert np.all((s >= np.minimum(x, den) - 1e-6) & (s <= np.maximum(x, den) + 1e-6))


def test_cached_graphs_are_checked(tmp_path, tiny_presets, monkeypatch):
    """A corrupt cached graph is exported again; a cached graph never stands in for a weights
    file that is missing or replaced (its sha256 is checked, as build_model checks it)."""
    import shutil

    from edgeden.core.types import EdgedenError
    from edgeden.presets import get_preset
    from edgeden.runner import onnx_network

    monkeypatch.setenv("EDGEDEN_CACHE", str(tmp_path / "cache"))
    pr = get_preset("tiny-raw")
    net = onnx_network(pr)  # exports
    graph = net.graph
    good = graph.read_bytes()
    graph.write_bytes(b"not an onnx file")
    x = np.random.default_rng(0).random((1, pr.spec.in_channels, 32, 32), dtype=np.float32)
    y = onnx_network(pr)(x)  # exported again over the corrupt file
    assert y.shape == (1, 4, 32, 32) and graph.read_bytes() == good
    local = tmp_path / "presets"
    shutil.copytree(tiny_presets, local)
    (local / "weights" / pr.weights_path.name).write_bytes(b"replaced")
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(local))
    with pytest.raises(EdgedenError, match="sha256"):
        onnx_network(get_preset("tiny-raw"))


def test_array_members_are_exported_when_first_used(tmp_path):
    """An image needs one member of a model array: only that one is exported and loaded."""
    from edgeden.models import create_arch
    from edgeden.models.array import SubrangeArray
    from edgeden.models.onnx_backend import OnnxArray

    arr = SubrangeArray([create_arch("unet-s", in_channels=4, out_channels=4).eval() for _ in range(3)],
                        [1e-4, 1e-3, 1e-2, 1e-1])
    out = to_onnxruntime(arr, 4, "lazy", cache=tmp_path)
    assert isinstance(out, OnnxArray) and not list(tmp_path.glob("*.onnx"))
    out.select(5e-3)
    y = out(np.random.default_rng(0).random((1, 4, 16, 16), dtype=np.float32))
    assert y.shape == (1, 4, 16, 16) and [p.name.split("-")[1] for p in tmp_path.glob("*.onnx")] == ["m1"]
    with torch.no_grad():
        ref = arr.members[1](torch.from_numpy(np.ascontiguousarray(np.random.default_rng(0).random((1, 4, 16, 16), dtype=np.float32))))
    assert np.abs(y - ref.numpy()).max() < 1e-4
