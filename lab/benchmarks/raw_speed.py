"""Inference speed of raw denoiser architectures on this CPU, beside PMRID and the dense-conv peak.

Each network runs on a packed raw of SIZE (default 1 x C x 512 x 512 = 1 full-resolution
megapixel, the product's tile; 256x384 is a Kodak24 image), fp32, untrained weights (speed does
not depend on them), in PyTorch (channels_last) and, with --ort, in ONNX Runtime (the engine
`--backend auto` picks for fanet-nsma); best of --reps interleaved repeats. MACs are counted by
torch's FlopCounterMode, the conv peak by edgeden.evaluate.conv_peak_gflops in the same run.

    python lab/benchmarks/raw_speed.py [--threads 1] [--size 512x512] [--ort] [--fanet-only]
        [--preset fanet-nsma] [--json lab/results/raw_speed.json]

The architecture rows take 8 input channels; ``--preset`` adds a shipped network with its real
input (fanet-nsma's members: 4 packed planes + 1 noise map) and trained weights.

Used to choose the unet-ps-raw recipe's network (dense convs that vectorise) and fanet-nsma's
ARNet group width: FA-Net's 3x3 group convs with 4 channels per group (the paper's reading) ran
at a third of the dense-conv rate; groups of 8 (one AVX2 register of fp32) with expansion 4
cost 10% more MACs and run faster (lab/results/raw_speed_fanet.json).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeden.evaluate import conv_peak_gflops
from edgeden.core.precision import cpu_name
from edgeden.models import create_arch
from edgeden.peers import PMRID


def engines(net: torch.nn.Module, cin: int, hw: tuple[int, int], ort: bool) -> dict:
    """{engine: (callable, input)} for ``net`` on (1, cin, H, W): PyTorch channels_last, and the
    same network exported to ONNX Runtime (one thread) with ``ort``."""
    net = net.eval()
    x = torch.rand(1, cin, *hw)
    out = {}
    if ort:
        from edgeden.models.onnx_backend import OnnxNet, export_graph
        d = Path(tempfile.mkdtemp())
        out["onnxruntime"] = (OnnxNet(export_graph(net, cin, d / "m.onnx"), threads=torch.get_num_threads()), x)
    out["torch"] = (net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last))
    return out


def macs_of(net: torch.nn.Module, cin: int, hw: tuple[int, int]) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        net.eval()(torch.rand(1, cin, *hw))
    return fc.get_total_flops() / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", default="512x512", help="packed raw H x W")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ort", action="store_true", help="also time ONNX Runtime")
    ap.add_argument("--fanet-only", action="store_true", help="PMRID and the FA-Net variants only")
    ap.add_argument("--preset", action="append", default=[],
                    help="also time an installed raw preset's network as the product builds it (one member of an "
                         "array, its real input channels: 4 packed + 1 noise map for fanet-nsma); repeatable")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    hw = tuple(int(v) for v in a.size.lower().split("x"))
    mp = 4 * hw[0] * hw[1] / 1e6  # full-resolution megapixels of the Bayer image
    cands = {"pmrid (peer)": (PMRID(), 4),
             "fanet e5 g4 (paper)": (create_arch("fanet", in_channels=8, out_channels=4), 8)}
    for e, g in [(4, 8), (5, 8), (6, 8), (4, 16)]:
        cands[f"fanet e{e} g{g}"] = (create_arch("fanet", in_channels=8, out_channels=4, expansion=e,
                                                 group_channels=g), 8)
    for name in a.preset:
        from edgeden.presets import build_model, get_preset

        net = build_model(get_preset(name))
        net = (net.members[-1] if hasattr(net, "members") else net).float()
        cands[f"{name} (shipped)"] = (net, next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d)).in_channels)
    if not a.fanet_only:
        cands["tsdn"] = (create_arch("tsdn", in_channels=8, out_channels=4), 8)
        for d, b, c in [(4, 16, 2), (5, 16, 2), (4, 24, 2), (4, 32, 2), (5, 24, 2), (4, 32, 1)]:
            cands[f"unet-ps d{d} b{b} c{c}"] = (create_arch("unet-ps", in_channels=8, out_channels=4, d=d, b=b, c=c), 8)
    peak0 = conv_peak_gflops(2.0)
    runs, info = {}, {}
    for name, (net, cin) in cands.items():
        info[name] = (macs_of(net, cin, hw) / 1e9 / mp, sum(p.numel() for p in net.parameters()))
        for eng, (f, x) in engines(net, cin, hw, a.ort).items():
            runs[(name, eng)] = (f, x)
    best = dict.fromkeys(runs, float("inf"))
    with torch.inference_mode():
        for f, x in runs.values():
            f(x)  # warm-up
        for _ in range(a.reps):  # interleaved, so a slow spell of this shared CPU hits every net alike
            for k, (f, x) in runs.items():
                t0 = time.perf_counter()
                f(x)
                best[k] = min(best[k], time.perf_counter() - t0)
    peak = max(peak0, conv_peak_gflops(2.0))
    rows = []
    for (name, eng), t in best.items():
        g, params = info[name]
        s = t / mp
        rows.append({"net": name, "engine": eng, "gmacs_per_mp": round(g, 2), "s_per_mp": round(s, 3),
                     "gflops": round(2 * g / s, 1), "pct_peak": round(100 * 2 * g / s / peak), "params": params})
    print(f"{cpu_name()}, threads {a.threads}, packed {hw[0]}x{hw[1]} ({mp:.2f} MP), "
          f"dense 3x3 conv peak {peak} GFLOP/s (fp32)")
    print(f"{'net':22s} {'engine':12s} {'GMACs/MP':>9s} {'s/MP':>7s} {'MP/s':>6s} {'GFLOP/s':>8s} {'% peak':>7s} "
          f"{'params':>9s}")
    for r in rows:
        print(f"{r['net']:22s} {r['engine']:12s} {r['gmacs_per_mp']:9.2f} {r['s_per_mp']:7.3f} "
              f"{1 / r['s_per_mp']:6.2f} {r['gflops']:8.1f} {r['pct_peak']:6d}% {r['params']:9d}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu_name(), "threads": a.threads, "packed_size": list(hw), "reps": a.reps,
                       "conv_peak_gflops": peak, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
