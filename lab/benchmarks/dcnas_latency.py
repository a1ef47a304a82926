"""Check the DC-NAS latency model (issue 23 point 2): the lookup table's prediction against the
measured latency of random architectures of the search space, on this machine.

    python lab/benchmarks/dcnas_latency.py [--size 256x256] [--n 20] [--threads 1] [--task denoise]
        [--ops 4] [--warmup 10] [--repeats 30] [--lut search/lut.json] [--out lab/results/dcnas_latency.json]

Measures the table (or reuses ``--lut``), draws ``--n`` architectures with their own seed, times
each whole network in interleaved rounds (edgeden.training.latency) and reports the mean
absolute percentage error of the calibrated prediction and of the plain sum of the entries.
Run it on an idle machine: a shared CPU's load moves every figure.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from edgeden.models.dcnas import OP_SETS, SearchSpace
from edgeden.training import latency as L


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256x256")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--task", choices=("denoise", "joint"), default="denoise")
    ap.add_argument("--ops", type=int, choices=sorted(OP_SETS), default=4)
    ap.add_argument("--in-channels", type=int, default=None, help="default: 4 (sRGB + noise map) / 3 for joint")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--calibrate", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lut", default=None)
    ap.add_argument("--out", default="lab/results/dcnas_latency.json")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    h, w = (int(v) for v in a.size.lower().split("x"))
    t0 = time.time()
    if a.lut:
        lut = L.load_lut(a.lut)
    else:
        space = SearchSpace(ops=list(OP_SETS[a.ops]), num_classes=10 if a.task == "joint" else 0)
        cin = a.in_channels or (3 if a.task == "joint" else 4)
        lut = L.build_lut(space, (h, w), cin, 3, "cpu", a.warmup, a.repeats, a.calibrate)
    t_lut = time.time() - t0
    res = L.check_latency_model(lut, n=a.n, seed=a.seed)
    res["lut_seconds"], res["check_seconds"] = round(t_lut, 1), round(time.time() - t0 - t_lut, 1)
    res["lut_range_ms"] = L.lut_range(lut)
    res["calibration"] = lut["calibration"]
    res["task"], res["ops"] = a.task, len(lut["space"]["ops"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"{res['machine']['cpu']}, {res['machine']['threads']} threads, {h}x{w}: {a.n} architectures, "
          f"MAPE {res['mape_pct']}% (plain sum {res['additive_mape_pct']}%, scale {L.scale(lut):.3f}), "
          f"max {res['max_abs_error_pct']}%, mean signed {res['mean_signed_error_pct']}%; "
          f"table {res['lut_seconds']} s, check {res['check_seconds']} s -> {a.out}")


if __name__ == "__main__":
    main()
