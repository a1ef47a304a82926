"""The latency lookup table (LUT) of DC-NAS search (:mod:`edgeden.training.search`) and the check
of the latency model it gives.

Protocol (the paper's, papers/000 Sec. 3: 100 warm-up passes, the mean of 1000, batch 32 on an
RTX 3090; scaled to a CPU and to what the product runs): batch 1 (one image or tile of the
stated size), the model in eval mode under ``torch.inference_mode``, channels_last tensors (as
:func:`edgeden.pipeline.model_fn` runs them), ``warmup`` untimed calls, then the **median** of
``repeats`` timed calls (a median, not a mean: a desktop CPU shares its cores, and one
descheduled call must not move an entry). CUDA devices are synchronised around each call.

Table: every candidate block at every searchable position (its input channels, output
channels, stride and input resolution at the stated image size; positions of the same shape
share one entry, as TF-NAS keys its table), plus the fixed parts measured once: ``stem``,
``decoder`` (transposed convs, convs, head and residual, from encoder features of the right
shapes) and, for joint models, ``cls_fc`` (pooling + linear). The predicted latency of an
architecture is the sum of its blocks' entries and the fixed parts (:func:`predict_ms`).
:func:`measure_arch_ms` times a whole network the same way; :func:`check_latency_model`
compares the two on random architectures (mean absolute percentage error).
"""
from __future__ import annotations

import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeden.core.precision import cpu_name
from edgeden.models import create_arch
from edgeden.models.dcnas import DCNAS, MBBlock, SearchSpace, parse_op

__all__ = [
    "build_lut",
    "check_latency_model",
    "fixed_ms",
    "load_lut",
    "lut_range",
    "machine",
    "measure_arch_ms",
    "measure_archs_ms",
    "position_latencies",
    "predict_ms",
    "save_lut",
    "scale",
    "time_many",
    "time_ms",
]

LUT_VERSION = 1


def machine(device: str = "cpu") -> dict[str, Any]:
    """What the table was measured on: CPU model, torch version and threads, the device, and the
    1-minute load average when it started (other work on the cores slows every figure)."""
    d = {"cpu": cpu_name(), "platform": platform.platform(), "torch": torch.__version__,
         "threads": torch.get_num_threads(), "device": str(device),
         "cpu_capability": torch.backends.cpu.get_cpu_capability(), "load_avg_1min": load_avg()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        d["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return d


def load_avg() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], Any], warmup: int = 10, repeats: int = 30, device: str | torch.device = "cpu") -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls after ``warmup`` calls."""
    return time_many([fn], warmup, repeats, device)[0]


def time_many(fns: Sequence[Callable[[], Any]], warmup: int = 10, repeats: int = 30,
              device: str | torch.device = "cpu") -> list[float]:
    """Median wall time (ms) of each of ``fns`` after ``warmup`` untimed calls of each, timed in
    ``repeats`` interleaved rounds (one call of every function per round), so that a change of
    the machine's load during the measurement shifts every entry alike instead of a few."""
    dev = torch.device(device)
    ts: list[list[float]] = [[] for _ in fns]
    with torch.inference_mode():
        for fn in fns:
            for _ in range(max(0, warmup)):
                fn()
        _sync(dev)
        for _ in range(max(1, repeats)):
            for i, fn in enumerate(fns):
                t0 = time.perf_counter()
                fn()
                _sync(dev)
                ts[i].append(time.perf_counter() - t0)
    return [1000.0 * statistics.median(t) for t in ts]


def _prep(module: nn.Module, device: str) -> nn.Module:
    m = module.eval().to(device)
    return m.to(memory_format=torch.channels_last) if torch.device(device).type == "cpu" else m


def _input(shape: Sequence[int], device: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g).to(device)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class _Decoder(nn.Module):
    def __init__(self, net: DCNAS):
        super().__init__()
        self.net = net

    def forward(self, feats: list[torch.Tensor], xp: torch.Tensor) -> torch.Tensor:
        return self.net.decode(feats, xp)


def build_lut(space: SearchSpace, size: tuple[int, int], in_channels: int, out_channels: int | None = None,
              device: str = "cpu", warmup: int = 10, repeats: int = 30, calibrate: int = 3,
              seed: int = 0) -> dict[str, Any]:
    """Measure the latency table of ``space`` for a (1, in_channels, *size) input on ``device``.

    Returns a JSON-able dict: ``machine``, ``protocol``, ``size`` (the stated (H, W)),
    ``padded`` (what the network runs on), ``in_channels``, ``out_channels``, ``space``,
    ``fixed`` ({part: ms}), ``entries`` ({key: ms}, see :meth:`Position.key`) and
    ``positions`` (forward order, as dicts), ``calibration``.

    ``calibrate`` > 0 also times that many whole networks (every block the cheapest op, every
    block the dearest, then random ones), in the same interleaved rounds as the entries, and
    stores ``calibration.scale``, the median of measured / additive prediction: :func:`predict_ms`
    multiplies by it (what a block costs inside a network, with its
    neighbours' data in the caches, differs a little from alone); 0 keeps scale 1.
    """
    h, w = int(size[0]), int(size[1])
    ph, pw = space.padded(h, w)
    out_channels = out_channels or in_channels
    positions = space.positions(h, w)
    todo: dict[str, tuple] = {}
    for p in positions:
        for op in space.ops:
            todo.setdefault(p.key(op), (p, op))
    fns: list[Callable[[], Any]] = []
    for p, op in todo.values():
        torch.manual_seed(0)
        blk = _prep(MBBlock(p.cin, p.cout, op, p.stride), device)
        x = _input((1, p.cin, p.h, p.w), device)
        fns.append(lambda blk=blk, x=x: blk(x))
    # fixed parts, on a network of this skeleton (the block choices do not change them)
    torch.manual_seed(0)
    net = _prep(create_arch("dcnas", in_channels, out_channels, **space.arch_args(
        [space.ops[0]] * space.n_positions())), device)
    xp = _input((1, in_channels, ph, pw), device)
    with torch.inference_mode():
        feats = [_input(f.shape, device, seed=i + 1) for i, f in enumerate(net.encode(xp))]
    dec = _Decoder(net)
    fixed_names = ["stem", "decoder"]
    fns += [lambda: net.stem(xp), lambda: dec(feats, xp)]
    if space.num_classes > 0:
        with torch.inference_mode():
            y = feats[-1]
            for stage in net.cls_enc:
                y = stage(y)
        y = _input(y.shape, device, seed=99)
        fixed_names.append("cls_fc")
        fns.append(lambda: net.cls_fc(y.mean((2, 3))))
    n_entries = len(fns)
    picks: list[list[str]] = []
    if calibrate > 0:  # whole networks, timed in the same rounds as the entries (under the same load)
        cheap = min(space.ops, key=lambda op: (parse_op(op)[1], parse_op(op)[0], parse_op(op)[2]))
        dear = max(space.ops, key=lambda op: (parse_op(op)[1], parse_op(op)[0], parse_op(op)[2]))
        n = space.n_positions()
        rng = random.Random(seed + 7919)
        picks = ([[cheap] * n, [dear] * n] + [space.random_choices(rng) for _ in range(max(0, calibrate - 2))])[:calibrate]
        xin = _input((1, in_channels, h, w), device)
        for c in picks:
            torch.manual_seed(seed)
            cnet = _prep(create_arch("dcnas", in_channels, out_channels, **space.arch_args(c)), device)
            fns.append(lambda cnet=cnet: cnet(xin))
    ms = time_many(fns, warmup, repeats, device)
    entries = dict(zip(todo, ms[: len(todo)]))
    fixed = dict(zip(fixed_names, ms[len(todo):n_entries]))
    lut = {"version": LUT_VERSION, "machine": machine(device),
           "protocol": {"batch": 1, "warmup": warmup, "repeats": repeats, "statistic": "median",
                        "rounds": "interleaved (one call of every entry per round)",
                        "mode": "eval, inference_mode" + (", channels_last" if torch.device(device).type == "cpu" else ""),
                        "measured": time.strftime("%Y-%m-%d %H:%M:%S")},
           "size": [h, w], "padded": [ph, pw], "in_channels": in_channels, "out_channels": out_channels,
           "space": space.to_dict(), "fixed": fixed, "entries": entries,
           "positions": [p.__dict__ for p in positions], "calibration": {"scale": 1.0, "archs": []}}
    if picks:
        rows = [{"choices": c, "additive_ms": round(predict_ms(lut, c, space), 4), "measured_ms": round(m, 4)}
                for c, m in zip(picks, ms[n_entries:])]
        lut["calibration"] = {"scale": statistics.median(r["measured_ms"] / r["additive_ms"] for r in rows),
                              "archs": rows}
    return lut


def position_latencies(lut: dict[str, Any], space: SearchSpace) -> list[list[float]]:
    """Per position (forward order), the LUT entry of each of ``space.ops`` (ms)."""
    h, w = lut["size"]
    return [[float(lut["entries"][p.key(op)]) for op in space.ops] for p in space.positions(h, w)]


def fixed_ms(lut: dict[str, Any]) -> float:
    """The fixed parts' latency (ms): stem, decoder (and the classifier's pooling + linear)."""
    return float(sum(lut["fixed"].values()))


def scale(lut: dict[str, Any]) -> float:
    """The table's calibration factor (1.0 when not calibrated)."""
    return float((lut.get("calibration") or {}).get("scale", 1.0))


def predict_ms(lut: dict[str, Any], choices: Sequence[str], space: SearchSpace | None = None,
               calibrated: bool = True) -> float:
    """Predicted latency (ms) of one op per position: the fixed parts + the blocks' entries
    (times the table's calibration factor unless ``calibrated`` is False)."""
    space = space or SearchSpace(**lut["space"])
    h, w = lut["size"]
    pos = space.positions(h, w)
    if len(choices) != len(pos):
        raise ValueError(f"{len(choices)} choices for {len(pos)} positions")
    add = fixed_ms(lut) + sum(float(lut["entries"][p.key(op)]) for p, op in zip(pos, choices))
    return add * (scale(lut) if calibrated else 1.0)


def lut_range(lut: dict[str, Any], space: SearchSpace | None = None) -> tuple[float, float]:
    """(fastest, slowest) predicted latency (ms) the space can give."""
    space = space or SearchSpace(**lut["space"])
    lats = position_latencies(lut, space)
    f, k = fixed_ms(lut), scale(lut)
    return k * (f + sum(min(r) for r in lats)), k * (f + sum(max(r) for r in lats))


def measure_arch_ms(arch_args: dict[str, Any], in_channels: int, size: tuple[int, int], out_channels: int | None = None,
                    device: str = "cpu", warmup: int = 10, repeats: int = 30, seed: int = 0) -> float:
    """Measured latency (ms) of the whole DC-NAS network ``arch_args`` on a (1, in_channels,
    *size) input, same protocol as the table (the full forward: image, and logits if joint)."""
    return measure_archs_ms([arch_args], in_channels, size, out_channels, device, warmup, repeats, seed)[0]


def measure_archs_ms(archs: Sequence[dict[str, Any]], in_channels: int, size: tuple[int, int],
                     out_channels: int | None = None, device: str = "cpu", warmup: int = 10, repeats: int = 30,
                     seed: int = 0, others: Sequence[tuple[str, dict[str, Any]]] = ()) -> list[float]:
    """:func:`measure_arch_ms` of several DC-NAS architectures, timed in interleaved rounds;
    ``others`` ((architecture name, its arguments), e.g. ``("unet-m", {"b": 24})``) are timed in
    the same rounds and their latencies follow the DC-NAS ones in the returned list."""
    x = _input((1, in_channels, int(size[0]), int(size[1])), device)
    fns = []
    for name, a in [*(("dcnas", a) for a in archs), *others]:
        torch.manual_seed(seed)
        net = _prep(create_arch(name, in_channels, out_channels, **a), device)
        fns.append(lambda net=net: net(x))
    return time_many(fns, warmup, repeats, device)


def parse_arch_spec(text: str) -> tuple[str, dict[str, Any]]:
    """A reference network named on the command line: an installed preset (``unet-m-srgb``: its
    architecture and arguments) or ``ARCH[:key=value,...]`` (``unet-m:b=24``; values read as
    YAML scalars). Raises ValueError naming what is wrong."""
    import yaml

    from edgeden.models.registry import list_archs

    name, _, rest = text.strip().partition(":")
    if not rest:
        from edgeden.presets import all_presets

        pre = all_presets().get(name)
        if pre is not None:
            if pre.array:
                raise ValueError(f"{name}: an array preset (one network per noise range) is not one reference network")
            return pre.arch, dict(pre.arch_args)
    if name not in list_archs():
        raise ValueError(f"{text!r}: neither an installed preset nor an architecture "
                         f"(architectures: {', '.join(list_archs())})")
    args: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{text!r}: arguments are key=value pairs separated by commas, got {item!r}")
        args[key.strip()] = yaml.safe_load(val)
    return name, args


def check_latency_model(lut: dict[str, Any], n: int = 20, seed: int = 0, warmup: int | None = None,
                        repeats: int | None = None, device: str | None = None) -> dict[str, Any]:
    """Predicted against measured latency of ``n`` random architectures of the table's space.

    Returns {"rows": [{"choices", "predicted_ms", "additive_ms", "measured_ms", "error_pct",
    "additive_error_pct"}], "mape_pct": mean |predicted - measured| / measured * 100 (the
    calibrated prediction), "additive_mape_pct" (the plain sum), "max_abs_error_pct",
    "mean_signed_error_pct", "machine", "size", "protocol"}. The architectures are drawn with
    their own seed, apart from the table's calibration networks.
    """
    space = SearchSpace(**lut["space"])
    rng = random.Random(seed)
    pr = lut["protocol"]
    warmup = pr["warmup"] if warmup is None else warmup
    repeats = pr["repeats"] if repeats is None else repeats
    device = device or lut["machine"]["device"]
    picks = [space.random_choices(rng) for _ in range(n)]
    meas = measure_archs_ms([space.arch_args(ch) for ch in picks], lut["in_channels"], lut["size"],
                            lut["out_channels"], device, warmup, repeats)
    rows = []
    for ch, m in zip(picks, meas):
        pred, add = predict_ms(lut, ch, space), predict_ms(lut, ch, space, calibrated=False)
        rows.append({"choices": ch, "predicted_ms": round(pred, 4), "additive_ms": round(add, 4),
                     "measured_ms": round(m, 4), "error_pct": round(100.0 * (pred - m) / m, 2),
                     "additive_error_pct": round(100.0 * (add - m) / m, 2)})
    errs = [abs(r["error_pct"]) for r in rows]
    return {"rows": rows, "mape_pct": round(statistics.mean(errs), 2), "max_abs_error_pct": round(max(errs), 2),
            "additive_mape_pct": round(statistics.mean(abs(r["additive_error_pct"]) for r in rows), 2),
            "calibration_scale": scale(lut),
            "mean_signed_error_pct": round(statistics.mean(r["error_pct"] for r in rows), 2),
            "machine": machine(device), "size": lut["size"], "protocol": {"warmup": warmup, "repeats": repeats}}


def save_lut(lut: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.write_text(json.dumps(lut, indent=1) + "\n")
    return p


def load_lut(path: str | Path) -> dict[str, Any]:
    lut = json.loads(Path(path).read_text())
    if lut.get("version") != LUT_VERSION:
        raise ValueError(f"{path}: latency table version {lut.get('version')}, expected {LUT_VERSION}")
    return lut
