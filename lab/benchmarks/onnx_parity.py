"""ONNX Runtime against PyTorch through the product's own inference path (``denoise_array``:
tiling, gain, k-sigma, noise map, model-array member choice) on Kodak24 with seeded noise.

Usage: python lab/benchmarks/onnx_parity.py [--preset fanet-nsma] [--noise raw:0.004] [--threads 1]
Writes lab/results/onnx_parity_<preset>.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from edgeden.evaluate import NoiseSpec, load_clean_set, make_noisy, psnr
    from edgeden.models.onnx_backend import to_onnxruntime
    from edgeden.pipeline import denoise_array
    from edgeden.presets import build_model, get_preset

    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="fanet-nsma")
    ap.add_argument("--noise", default="raw:0.004")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    preset = get_preset(a.preset)
    net_t = build_model(preset).eval()
    net_o = to_onnxruntime(copy.deepcopy(net_t), preset.spec.in_channels, f"{preset.name}-{preset.sha256[:16]}")
    ns = NoiseSpec.parse(a.noise)
    res = {"torch": [], "onnxruntime": []}
    secs = {"torch": 0.0, "onnxruntime": 0.0}
    for i, (_, clean) in enumerate(load_clean_set("kodak24")):
        d = make_noisy(clean, ns, 1234 + i)
        for name, net in (("torch", net_t), ("onnxruntime", net_o)):
            t0 = time.perf_counter()
            out = denoise_array(d["noisy"], net, preset, d["params"], preset.tile, preset.overlap)
            secs[name] += time.perf_counter() - t0
            res[name].append(psnr(out.clamp(0, 1).numpy(), d["clean"].numpy()))
    diff = np.abs(np.array(res["torch"]) - np.array(res["onnxruntime"]))
    r = {"preset": a.preset, "noise": a.noise, "images": len(diff), "threads": a.threads,
         "psnr_torch": round(float(np.mean(res["torch"])), 4), "psnr_onnxruntime": round(float(np.mean(res["onnxruntime"])), 4),
         "mean_abs_diff_db": round(float(diff.mean()), 5), "max_abs_diff_db": round(float(diff.max()), 5),
         "seconds": {k: round(v, 2) for k, v in secs.items()},
         "domain": "raw-domain PSNR of the packed mosaic" if preset.domain == "raw" else "sRGB PSNR"}
    Path(f"lab/results/onnx_parity_{a.preset}.json").write_text(json.dumps(r, indent=2) + "\n")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
