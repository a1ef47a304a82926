"""ONNX export parity: the same preset through PyTorch and ONNX Runtime on Kodak24 (seeded
noise), mean PSNR of each and their difference, and the time of each.

Usage: python lab/benchmarks/onnx_parity.py [--preset unet-m-srgb] [--noise awgn:25] [--threads 1]
Writes lab/results/onnx_parity_<preset>.json.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    import onnxruntime as ort

    from edgeden.evaluate import NoiseSpec, load_clean_set, make_noisy, psnr
    from edgeden.presets import build_model, get_preset
    from edgeden.training.export import export_onnx

    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="unet-m-srgb")
    ap.add_argument("--noise", default="awgn:25")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    preset = get_preset(a.preset)
    net = build_model(preset).eval()
    spec = preset.spec
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "m.onnx"
        c = export_onnx(a.preset, f)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        sess = ort.InferenceSession(str(Path(d) / c["files"][0]), so, providers=["CPUExecutionProvider"])
        ns = NoiseSpec.parse(a.noise)
        p_t, p_o, t_t, t_o = [], [], 0.0, 0.0
        for i, (_, clean) in enumerate(load_clean_set("kodak24")):
            dd = make_noisy(clean, ns, 1234 + i)
            x = dd["noisy"]
            s, o = dd["params"].per_plane(x.shape[1])
            inp = spec.to_model(x, torch.tensor(s), torch.tensor(o), 1.0)
            t0 = time.perf_counter()
            with torch.no_grad():
                y_t = spec.from_model(net(inp), torch.tensor(s), torch.tensor(o), 1.0)
            t_t += time.perf_counter() - t0
            t0 = time.perf_counter()
            y_o = spec.from_model(torch.from_numpy(sess.run(None, {"x": inp.numpy()})[0]), torch.tensor(s),
                                  torch.tensor(o), 1.0)
            t_o += time.perf_counter() - t0
            ref = dd["clean"][0].permute(1, 2, 0).numpy()
            p_t.append(psnr(y_t[0].clamp(0, 1).permute(1, 2, 0).numpy(), ref))
            p_o.append(psnr(y_o[0].clamp(0, 1).permute(1, 2, 0).numpy(), ref))
    r = {"preset": a.preset, "noise": a.noise, "images": len(p_t), "threads": a.threads,
         "psnr_pytorch": round(float(np.mean(p_t)), 4), "psnr_onnxruntime": round(float(np.mean(p_o)), 4),
         "max_abs_psnr_diff_per_image": round(float(np.max(np.abs(np.array(p_t) - np.array(p_o)))), 5),
         "seconds_pytorch": round(t_t, 2), "seconds_onnxruntime": round(t_o, 2),
         "onnxruntime": ort.__version__, "export_check_max_abs_diff": c["onnxruntime_max_abs_diff"]}
    Path(f"lab/results/onnx_parity_{a.preset}.json").write_text(json.dumps(r, indent=2) + "\n")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
