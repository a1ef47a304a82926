"""fp32 against bf16 autocast inference for every shipped denoising preset, in one run.

    python lab/benchmarks/precision.py [--data kodak24] [--limit 4] [--threads 1] [--out lab/benchmarks/precision.json]

Same seeded noisy images for both precisions (edgeden.evaluate), mean PSNR and MP/s, this
machine's conv peak measured in the same run; bf16 is only worth it on CPUs with native bf16
(AVX512-BF16 / AMX), see edgeden/core/precision.py.
"""
from __future__ import annotations

import argparse
import json

import torch

from edgeden.core.precision import native_bf16, set_precision
from edgeden.evaluate import NoiseSpec, evaluate

CASES = {"tsdn": "raw:0.004", "fanet-nsma": "raw:0.004", "unet-m-srgb": "awgn:25", "dnresnet-srgb": "awgn:25"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="kodak24")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="lab/benchmarks/precision.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    for name, spec in CASES.items():
        row = {"preset": name, "noise": spec}
        for prec in ("fp32", "bf16"):
            set_precision(prec)
            r = evaluate(name, a.data, [NoiseSpec.parse(spec)], limit=a.limit)
            res = r["results"][0]
            row[prec] = {"psnr": res["psnr"], "raw_psnr": res.get("raw_psnr"), "mp_per_s": res["mp_per_s"],
                         "conv_peak_gflops": r["conv_peak_gflops"]}
        row["speedup"] = round(row["bf16"]["mp_per_s"] / row["fp32"]["mp_per_s"], 2)
        row["delta_psnr"] = round(row["bf16"]["psnr"] - row["fp32"]["psnr"], 3)
        rows.append(row)
        print(json.dumps(row))
    out = {"data": a.data, "images": a.limit, "threads": a.threads, "native_bf16": native_bf16(), "rows": rows}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
