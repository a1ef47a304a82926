"""ONNX Runtime as an inference backend: the same network, exported once, run by ORT.

Measured on the 2-core AVX2 dev machine (2026-12-03, one thread, fp32): on one 512x512 tile
ONNX Runtime 1.32 beats PyTorch 2.13 for every shipped raw network (tsdn 1.56 s vs 1.80 s,
fanet-nsma 0.54 vs 0.96, scaoed-lite 2.37 vs 2.48), and on Kodak24 through the tiled path for
unet-m-srgb (46.5 s vs 48.9 s, identical PSNR). End to end on 24 / 50 MP raws (`edgeden bench`,
docs/benchmarks.md), with ORT's memory pattern off (border tiles change shape; with it on, tsdn
took 40.5 s of inference per 24 MP): fanet-nsma 13.2 vs 17.7 s (1.34x; 1.6x at 50 MP); tsdn
33.2 vs 32.1 s then (2026-12-03, tile overlap 32), and since the pipeline around the network is
numpy (2026-12-07, overlap 16) 19.2-20.0 vs 22.0-24.6 s at one thread, 10.6-11.7 vs 12.0-12.7 s
at two, plus 2 s less start-up; scaoed-lite 36.3-39.2 vs 45.0-45.5 s at one thread. So
``auto`` follows each preset's measured ``backend`` field: ONNX Runtime for the raw presets,
PyTorch for the others.

Outputs agree with PyTorch's to float rounding, except next to an image edge whose size is not
a multiple of 16: the graph pads to 16, a network in PyTorch to its own multiple (8 for UNet-M),
so the last few rows or columns can differ slightly (KDC test: mean 0.08, max 14 codes of 16383).

An exported graph is cached as ``<cache>/onnx/<preset>-<sha256[:16]>-m<i>-torch<v>.onnx``
(``$EDGEDEN_CACHE``, else ``$XDG_CACHE_HOME/edgeden``, else ``~/.cache/edgeden``), written
atomically, so only the first run pays the export (a few seconds, with PyTorch). Later runs load
the cached graphs without importing PyTorch at all (:func:`cached_or_exported`; a model array
exports and loads only the members its images use): with the numpy
pipeline around the network (``edgeden.pipeline``) a raw run never imports it, which saves
the 2-3 s ``import torch`` takes here. Only safetensors weights are ever read; an ONNX file
holds no code.
"""
from __future__ import annotations

import functools
import os
import tempfile
import threading
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgeden.core.lazy import is_tensor, torch

__all__ = ["BACKENDS", "resolve_backend", "OnnxNet", "OnnxArray", "cached_network", "to_onnxruntime",
           "cached_or_exported", "cache_dir", "is_onnx", "describe"]

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


def _torch_tag() -> str:
    """The installed PyTorch's version, for cache names, read without importing it."""
    try:
        v = metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover - torch is a dependency
        v = torch.__version__
    return f"torch{v.split('+')[0]}"


def export_graph(net: Any, in_channels: int, path: Path, opset: int = 17) -> Path:
    """Export ``net``'s (a torch module) denoised output as ONNX to ``path`` (atomically): input
    ``x`` (1, in_channels, H, W) float32, output ``y``, H and W dynamic (multiples of
    :data:`MULTIPLE`)."""
    from edgeden.models.registry import primary_output

    class Primary(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.net = inner

        def forward(self, x):
            return primary_output(self.net(x))

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        x = torch.rand(1, in_channels, 128, 128)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Primary(net).eval(), (x,), tmp, dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {2: "height", 3: "width"}, "y": {2: "height", 3: "width"}},
                              opset_version=opset)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def default_threads() -> int:
    """Threads for a new ONNX Runtime session: :func:`edgeden.core.precision.threads` (the CLI's
    ``--threads``, else PyTorch's setting when it is loaded), else 0: ONNX Runtime's default."""
    from edgeden.core.precision import threads

    return threads() or 0


class OnnxNet:
    """A network run by ONNX Runtime: ``net(x)`` for x (N, C_in, H, W) float32, a numpy array or
    a CPU torch tensor, returns (N, C_out, H, W) float32 of the same kind; any H, W
    (reflect-padded to :data:`MULTIPLE` as ``edgeden.models.common.pad_to_multiple`` pads,
    and cropped back). Needs no PyTorch for numpy inputs."""

    def __init__(self, graph: Path, threads: int | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or default_threads())
        so.inter_op_num_threads = 1
        # tiles differ in size at image borders; ORT's memory pattern is planned per shape and
        # re-planned at every change (measured: 6 tiles of 3 shapes 11.9 s with it, 8.1 s without)
        so.enable_mem_pattern = False
        self.graph = Path(graph)
        self.session = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])

    def run(self, x: np.ndarray) -> np.ndarray:
        """(N, C_in, H, W) float32 numpy -> (N, C_out, H, W) float32 numpy."""
        x = np.asarray(x, dtype=np.float32)
        h, w = x.shape[-2:]
        ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
        if ph or pw:  # as pad_to_multiple: reflect, replicate where the image is too small to reflect
            x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect" if ph < h and pw < w else "edge")
        outs = [self.session.run(None, {"x": np.ascontiguousarray(x[i: i + 1])})[0] for i in range(x.shape[0])]
        return np.concatenate(outs)[..., :h, :w]

    def __call__(self, x: Any) -> Any:
        if is_tensor(x):
            return torch.from_numpy(np.ascontiguousarray(self.run(x.detach().float().cpu().numpy())))
        return self.run(x)


class OnnxArray:
    """A noise subrange model array (``edgeden.models.array.SubrangeArray``) run by ONNX Runtime:
    ``select(shot, read)`` picks the member ``net(x)`` runs (shapes as :class:`OnnxNet`).
    members: one :class:`OnnxNet` each, or a callable making it, called when the member is first
    used (an image only ever needs one: the others are neither exported nor loaded)."""

    def __init__(self, members: Sequence[OnnxNet | Callable[[], OnnxNet]], shot_bounds: Sequence[float]):
        self._members = list(members)
        self.shot_bounds = [float(b) for b in shot_bounds]
        self.index = 0
        self._lock = threading.Lock()

    def member(self, i: int) -> OnnxNet:
        """Member ``i``, made now if it was not yet (once, whichever thread asks first)."""
        with self._lock:
            if not isinstance(self._members[i], OnnxNet):
                self._members[i] = self._members[i]()
            return self._members[i]

    @property
    def members(self) -> list[OnnxNet]:
        """Every member (makes those not yet made)."""
        return [self.member(i) for i in range(len(self._members))]

    def member_for(self, shot: float, read: float = 0.0) -> int:
        from edgeden.core.noise import subrange_index

        return subrange_index(self.shot_bounds, shot, read)

    def select(self, shot: float, read: float = 0.0) -> int:
        self.index = self.member_for(shot, read)
        return self.index

    def __call__(self, x: Any) -> Any:
        return self.member(self.index)(x)


def _graph_path(cache: Path, key: str, i: int) -> Path:
    return cache / f"{key}-m{i}-{_torch_tag()}.onnx"


def cached_or_exported(key: str, i: int, in_channels: int, build: Callable[[int], Any],
                       cache: Path | None = None) -> OnnxNet:
    """Graph ``i`` under ``key`` from the cache (no PyTorch needed), else ``build(i)`` (the torch
    module of member i) exported into it first; into a temporary folder when the cache is not
    writable; exported again over a cached file ONNX Runtime cannot read."""
    path = _graph_path(cache or cache_dir(), key, i)
    if path.is_file():
        try:
            return OnnxNet(path)
        except ImportError:
            raise
        except Exception:  # noqa: BLE001 - ONNX Runtime cannot read the cached graph: export it again
            pass
    member = build(i)
    try:
        export_graph(member, in_channels, path)
    except OSError:  # an unwritable cache: export into a temporary folder for this run
        path = export_graph(member, in_channels, Path(tempfile.mkdtemp(prefix="edgeden-onnx-")) / path.name)
    return OnnxNet(path)


def cached_network(key: str, in_channels: int, build: Callable[[int], Any],
                 shot_bounds: Sequence[float] | None = None, cache: Path | None = None) -> OnnxNet | OnnxArray:
    """The network cached under ``key`` run by ONNX Runtime: an :class:`OnnxNet`, or with
    ``shot_bounds`` (n + 1 values) an :class:`OnnxArray` of n members, each made by
    :func:`cached_or_exported` when an image first needs it (``build(i)``: member i's torch
    module, called only when its graph is not cached)."""
    if shot_bounds is None:
        return cached_or_exported(key, 0, in_channels, build, cache)
    return OnnxArray([functools.partial(cached_or_exported, key, i, in_channels, build, cache)
                      for i in range(len(shot_bounds) - 1)], shot_bounds)


def to_onnxruntime(net: Any, in_channels: int, key: str, cache: Path | None = None) -> OnnxNet | OnnxArray:
    """``net`` (a torch module, or a model array's members) run by ONNX Runtime: an
    :class:`OnnxNet`, or an :class:`OnnxArray` with ``net``'s ``shot_bounds`` whose members are
    exported (to the cache under ``key``, unless there) when first used."""
    array = hasattr(net, "members")
    return cached_network(key, in_channels, (lambda i: net.members[i]) if array else (lambda i: net),
                        net.shot_bounds if array else None, cache)


def is_onnx(net: Any) -> bool:
    """Whether ``net`` is run by ONNX Runtime (:class:`OnnxNet` or :class:`OnnxArray`)."""
    return isinstance(net, (OnnxNet, OnnxArray))


def describe(net: Any) -> str:
    """"onnxruntime" when ``net`` (or its members) run by ONNX Runtime, else "torch"."""
    return "onnxruntime" if is_onnx(net) else "torch"
