"""ONNX Runtime as an inference backend: the same network, exported once, run by ORT.

Measured on the 2-core AVX2 dev machine (2026-12-03, one thread, fp32): on one 512x512 tile
ONNX Runtime 1.32 beats PyTorch 2.13 for every shipped raw network (tsdn 1.56 s vs 1.80 s,
fanet-nsma 0.54 vs 0.96, scaoed-lite 2.37 vs 2.48), and on Kodak24 through the tiled path for
unet-m-srgb (46.5 s vs 48.9 s, identical PSNR). End to end on 24 / 50 MP raws (`edgeden bench`,
docs/benchmarks.md), with ORT's memory pattern off (border tiles change shape; with it on, tsdn
took 40.5 s of inference per 24 MP): tsdn 33.2 vs 32.1 s (slower), fanet-nsma 13.2 vs 17.7 s
(1.34x; 1.6x at 50 MP). So ``auto`` follows each preset's measured ``backend`` field: ONNX
Runtime for fanet-nsma, PyTorch for the others.

Outputs agree with PyTorch's to float rounding, except next to an image edge whose size is not
a multiple of 16: the graph pads to 16, a network in PyTorch to its own multiple (8 for UNet-M),
so the last few rows or columns can differ slightly (KDC test: mean 0.08, max 14 codes of 16383).

An exported graph is cached as ``<cache>/onnx/<preset>-<sha256[:16]>-m<i>-torch<v>.onnx``
(``$EDGEDEN_CACHE``, else ``$XDG_CACHE_HOME/edgeden``, else ``~/.cache/edgeden``), written
atomically, so only the first run pays the export (a few seconds). Only safetensors weights are
ever read; an ONNX file holds no code.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple

__all__ = ["BACKENDS", "resolve_backend", "OnnxNet", "to_onnxruntime", "cache_dir"]

BACKENDS = ("auto", "torch", "onnxruntime")
#: Input height and width of exported graphs are padded to a multiple of this.
MULTIPLE = 16


def resolve_backend(choice: str, bf16: bool, preferred: str | None = None) -> str:
    """"torch" or "onnxruntime" for a ``--backend`` choice. ``auto``: the preset's ``preferred``
    engine (its YAML ``backend``, set where measured faster end to end) when that is ONNX Runtime,
    it is installed and inference is fp32 (``bf16``: inference would use bf16, which only
    PyTorch does); else PyTorch. Raises ValueError for an unknown choice and EdgedenError when
    onnxruntime is asked for explicitly but not installed."""
    if choice not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {choice!r}")
    if choice == "torch":
        return "torch"
    if choice == "auto":
        if preferred != "onnxruntime" or bf16:
            return "torch"
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "torch"
        return "onnxruntime"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        from edgeden.core.types import EdgedenError

        raise EdgedenError("--backend onnxruntime needs onnxruntime: pip install 'edgeden[onnx]'") from None
    return "onnxruntime"


def cache_dir() -> Path:
    """Where exported graphs are kept (see the module docstring)."""
    base = os.environ.get("EDGEDEN_CACHE") or (
        Path(os.environ["XDG_CACHE_HOME"]) / "edgeden" if os.environ.get("XDG_CACHE_HOME") else
        Path.home() / ".cache" / "edgeden")
    return Path(base) / "onnx"


class _Primary(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from edgeden.models.registry import primary_output

        return primary_output(self.net(x))


def export_graph(net: nn.Module, in_channels: int, path: Path, opset: int = 17) -> Path:
    """Export ``net``'s denoised output as ONNX to ``path`` (atomically): input ``x`` (1,
    in_channels, H, W) float32, output ``y``, H and W dynamic (multiples of :data:`MULTIPLE`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        x = torch.rand(1, in_channels, 128, 128)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Primary(net).eval(), (x,), tmp, dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {2: "height", 3: "width"}, "y": {2: "height", 3: "width"}},
                              opset_version=opset)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class OnnxNet(nn.Module):
    """A network run by ONNX Runtime: forward((N, C_in, H, W) float32) -> (N, C_out, H, W)
    float32 on CPU, any H, W (reflect-padded to :data:`MULTIPLE` and cropped back)."""

    def __init__(self, graph: Path, threads: int | None = None):
        super().__init__()
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or torch.get_num_threads())
        so.inter_op_num_threads = 1
        # tiles differ in size at image borders; ORT's memory pattern is planned per shape and
        # re-planned at every change (measured: 6 tiles of 3 shapes 11.9 s with it, 8.1 s without)
        so.enable_mem_pattern = False
        self.graph = Path(graph)
        self.session = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, hw = pad_to_multiple(x.float(), MULTIPLE)
        outs = [torch.from_numpy(self.session.run(None, {"x": xp[i: i + 1].contiguous().numpy()})[0])
                for i in range(xp.shape[0])]
        return crop_to(torch.cat(outs), hw)


def to_onnxruntime(net: nn.Module, in_channels: int, key: str, cache: Path | None = None) -> nn.Module:
    """``net`` (or each member of a model array) replaced by :class:`OnnxNet`, exporting the
    graph to the cache under ``key`` unless it is there. Returns the module to call."""
    cache = cache or cache_dir()
    tag = f"torch{torch.__version__.split('+')[0]}"

    def one(member: nn.Module, i: int) -> OnnxNet:
        path = cache / f"{key}-m{i}-{tag}.onnx"
        try:
            if not path.is_file():
                export_graph(member, in_channels, path)
        except OSError:  # an unwritable cache: export into a temporary folder for this run
            path = export_graph(member, in_channels, Path(tempfile.mkdtemp(prefix="edgeden-onnx-")) / path.name)
        return OnnxNet(path)

    if hasattr(net, "members"):
        net.members = nn.ModuleList([one(m, i) for i, m in enumerate(net.members)])
        return net
    return one(net, 0)


def describe(net: Any) -> str:
    """"onnxruntime" when ``net`` (or its members) run by ONNX Runtime, else "torch"."""
    m = net.members[0] if hasattr(net, "members") else net
    return "onnxruntime" if isinstance(m, OnnxNet) else "torch"
