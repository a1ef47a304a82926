"""Tile overlap of a raw preset (default fanet-nsma): tiled against untiled output and against the clean image.

Three Kodak24 photos mirrored 2x2 then doubled in height (packed 1024 x 768), UPI raw noise at S 4e-3
and 1.2e-2 (seed 1), the shipped preset in its engine (ONNX Runtime for fanet-nsma); tile 512 and 256, overlap 32 and 16. Prints
the raw-domain PSNR against the clean mosaic and against the untiled output per image, then means.

    python lab/benchmarks/tile_overlap.py [PRESET] > lab/results/tile_overlap_fanet.txt
"""
import sys

import numpy as np
import torch
from PIL import Image
from edgeden.presets import get_preset, build_model
from edgeden.models.onnx_backend import to_onnxruntime
from edgeden.pipeline import denoise_array
from edgeden.core.types import NoiseParams
from edgeden.core.bayer import pack_rggb
from edgeden.core import noise as nm
from edgeden.demo import make_noisy_raw
from edgeden.paths import resolve_data
torch.set_num_threads(2)
pr = get_preset(sys.argv[1] if len(sys.argv) > 1 else 'fanet-nsma'); net = build_model(pr)
if pr.backend == "onnxruntime":
    net = to_onnxruntime(net, pr.spec.in_channels, f"{pr.name}-{pr.sha256[:16]}")
res = {}
for img in ("kodim01", "kodim13", "kodim23"):
    a = np.asarray(Image.open(resolve_data("test/Kodak24") / f"{img}.png").convert("RGB"), np.float32) / 255
    a = np.concatenate([np.concatenate([a, a[:, ::-1]], 1), np.concatenate([a[::-1], a[::-1, ::-1]], 1)], 0)  # 2x2 mirrored
    a = np.concatenate([a, a[::-1]], 0)  # then doubled in height: packed 1024 x 768
    for shot in (4e-3, 1.2e-2):
        raw, clean = make_noisy_raw(a, shot=shot, seed=1)
        m = torch.from_numpy((raw.mosaic_u16.astype(np.float32) - 256) / (4095 - 256))
        x = pack_rggb(m)
        x = x[None] if x.dim() == 3 else x
        c = pack_rggb(torch.from_numpy(clean))
        c = c[None] if c.dim() == 3 else c
        p = NoiseParams((shot,), (float(nm.upi_mean_read(shot)),))
        with torch.inference_mode():
            outs = {k: denoise_array(x, net, pr, p, t, o) for k, (t, o) in {"untiled": (0, 0), "t512o32": (512, 32), "t512o16": (512, 16), "t256o32": (256, 32), "t256o16": (256, 16)}.items()}
        def ps(a, b): return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))
        for k, v in outs.items():
            res.setdefault((k, shot), []).append((ps(v.clamp(0, 1), c), ps(v, outs["untiled"]) if k != "untiled" else float('inf')))
        print(img, shot, x.shape, {k: [round(u, 3) for u in res[(k, shot)][-1]] for k in outs})
for (k, s), v in sorted(res.items()):
    print(k, s, 'vs clean', round(np.mean([a for a, b in v]), 4), 'vs untiled', round(np.mean([b for a, b in v]), 2))
