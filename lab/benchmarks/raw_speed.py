"""Inference speed of raw denoiser architectures on this CPU, beside PMRID and the dense-conv peak.

Each network runs on a 1-full-resolution-megapixel packed raw (1 x C x 512 x 512, channels_last,
fp32, untrained weights: speed does not depend on them); MACs are counted by torch's
FlopCounterMode, the conv peak by edgeden.evaluate.conv_peak_gflops in the same run.

    python lab/benchmarks/raw_speed.py [--threads 1] [--json lab/results/raw_speed.json]

Used to choose the unet-ps-raw recipe's network (dense convs that vectorise).
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeden.evaluate import conv_peak_gflops
from edgeden.models import create_arch
from edgeden.peers import PMRID


def bench(net: torch.nn.Module, cin: int, reps: int = 4, size: int = 512) -> tuple[float, float]:
    """(GMACs per full-res MP, seconds per full-res MP) of ``net`` on (1, cin, size, size)."""
    net = net.eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, cin, size, size).contiguous(memory_format=torch.channels_last)
    mp = 4 * size * size / 1e6
    with torch.inference_mode():
        with FlopCounterMode(display=False) as fc:
            net(x)
        macs = fc.get_total_flops() / 2
        net(x)
        t0 = time.perf_counter()
        for _ in range(reps):
            net(x)
        dt = (time.perf_counter() - t0) / reps
    return macs / 1e9 / mp, dt / mp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cands = {"pmrid (peer)": (PMRID(), 4),
             "fanet": (create_arch("fanet", in_channels=8, out_channels=4), 8),
             "tsdn": (create_arch("tsdn", in_channels=8, out_channels=4), 8)}
    for d, b, c in [(4, 16, 2), (5, 16, 2), (4, 24, 2), (4, 32, 2), (5, 24, 2), (4, 32, 1)]:
        cands[f"unet-ps d{d} b{b} c{c}"] = (create_arch("unet-ps", in_channels=8, out_channels=4, d=d, b=b, c=c), 8)
    peak0 = conv_peak_gflops(2.0)
    rows = []
    for name, (net, cin) in cands.items():
        g, s = bench(net, cin)
        rows.append({"net": name, "gmacs_per_mp": round(g, 2), "s_per_mp": round(s, 3),
                     "gflops": round(2 * g / s, 1), "params": sum(p.numel() for p in net.parameters())})
    peak = max(peak0, conv_peak_gflops(2.0))
    print(f"threads {a.threads}, dense 3x3 conv peak {peak} GFLOP/s (fp32)")
    print(f"{'net':22s} {'GMACs/MP':>9s} {'s/MP':>7s} {'MP/s':>6s} {'GFLOP/s':>8s} {'% peak':>7s} {'params':>9s}")
    for r in rows:
        r["pct_peak"] = round(100 * r["gflops"] / peak)
        print(f"{r['net']:22s} {r['gmacs_per_mp']:9.2f} {r['s_per_mp']:7.3f} {1 / r['s_per_mp']:6.2f} "
              f"{r['gflops']:8.1f} {r['pct_peak']:6d}% {r['params']:9d}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "conv_peak_gflops": peak, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
