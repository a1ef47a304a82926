"""Real noisy photos without references: residual noise and kept texture (issue 22 point 4).

    python lab/benchmarks/real_photos.py [--raws ../shared/data/raw] [--ev 0 2] [--jpeg 90]
        [--crop 1024] [--methods noisy,unet-m-srgb,tsdn,...] [--out lab/results/real_photos/NAME.json]

Each real CFA raw is rendered full size by the product's ISP (file's white balance and colour
matrix, demosaiced), pushed by ``2**EV`` in linear light first (a dark shot brightened: its real
noise grows with it), centre-cropped and saved as an 8-bit JPEG of quality ``--jpeg``: the photo
a camera writes. Each method runs on that file through the product's own stages (noise estimated
blind, raw presets through unprocessing; ``dncnn`` and ``ffdnet`` are the peers, FFDNet told the
product's blind estimate). Measures, on luma (Rec. 601 weights of the sRGB values):

* **residual noise**: the product's blind noise estimator on the output, as the std at mid grey,
  sqrt(S * 0.5 + O) averaged over channels (the input's is given too): how much noise is left;
* **texture kept**: high-pass energy (x - 3x3 box mean) of the output over that of the input in
  textured 16x16 blocks (input high-pass energy above 4x what its estimated noise alone gives, so
  that noise is under a quarter of it there): 1 = the scene's fine texture all kept (plus what
  noise is left), lower = smoothed away.

Neither is a fidelity figure: a method can score low noise by smoothing texture, or high texture
by keeping noise. Read them together, beside the synthetic camera-JPEG PSNR (``edgeden eval
--noise camera:SHOT:qQ``), which has a clean reference. One thread.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from real_pairs import RAW_EXTS, run_peer, run_product  # beside this file: the same methods, run the same way


def luma(a: np.ndarray) -> np.ndarray:
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def highpass(g: np.ndarray) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return g - uniform_filter(g, 3, mode="reflect")


def blocks(a: np.ndarray, b: int = 16) -> np.ndarray:
    h, w = a.shape[0] // b * b, a.shape[1] // b * b
    return a[:h, :w].reshape(h // b, b, w // b, b).transpose(0, 2, 1, 3).reshape(-1, b * b)


def noise_std(a_hwc: np.ndarray) -> float:
    """Blind estimate (the product's) of the noise std at mid grey of an (H, W, 3) image in [0, 1]."""
    from edgeden.core import noise as nm

    p = nm.estimate_noise_or_fallback(torch.from_numpy(np.ascontiguousarray(a_hwc)).permute(2, 0, 1).float())
    s, o = p.per_plane(3)
    return float(np.mean([math.sqrt(max(s[c] * 0.5 + o[c], 0.0)) for c in range(3)]))


def texture_kept(out: np.ndarray, noisy: np.ndarray, sigma: float) -> tuple[float, float]:
    """(high-pass energy ratio out / input over textured blocks, fraction of blocks used)."""
    hn, ho = blocks(highpass(luma(noisy))), blocks(highpass(luma(out)))
    e = (hn ** 2).mean(1)
    sel = e > 4 * (sigma ** 2) * (72 / 81)  # white noise's high-pass energy: (1 - 1/9)^2 + 8/81
    return float((ho[sel] ** 2).sum() / max((hn[sel] ** 2).sum(), 1e-20)), float(sel.mean())


def run(method: str, jpath: Path, photo: np.ndarray, cache: dict) -> tuple[np.ndarray, float]:
    """``method`` on the JPEG ``jpath`` (decoded: ``photo``): (output (H, W, 3) float32, seconds).
    Peers as in real_pairs (FFDNet told :func:`noise_std`), presets through the product's stages."""
    if method in ("dncnn", "ffdnet"):
        out, dt, _info = run_peer(method, photo, cache, sigma_of=noise_std)
    else:
        out, dt, _noise = run_product(method, jpath, cache)
    return out, dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raws", type=Path, default=Path("../shared/data/raw"))
    ap.add_argument("--ev", type=float, nargs="+", default=[0.0, 2.0])
    ap.add_argument("--jpeg", type=int, default=90)
    ap.add_argument("--crop", type=int, default=1024)
    ap.add_argument("--methods", default="noisy,unet-m-srgb,dnresnet-srgb,tsdn,fanet-nsma,dncnn,ffdnet")
    ap.add_argument("--out", type=Path, default=Path("lab/results/real_photos/real_photos.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    from PIL import Image

    from edgeden.core.precision import cpu_name, precision_name
    from edgeden.io import read_raw
    from edgeden.pipeline import raw_to_packed, render_packed

    tmp = Path(tempfile.mkdtemp(prefix="real_photos_"))
    rows, cache = [], {}
    for f in sorted(p for p in a.raws.iterdir() if p.suffix.lower() in RAW_EXTS):
        try:
            raw = read_raw(f)
        except Exception as e:
            print(f"{f.name}: skipped ({e})", flush=True)
            continue
        packed, pad = raw_to_packed(raw)
        for ev in a.ev:
            img = render_packed((packed * 2.0 ** ev).clamp(0, 1), raw, pad).astype(np.float32) / 65535.0
            h, w = img.shape[:2]
            c = min(a.crop, h, w) if a.crop else max(h, w)
            y0, x0 = (h - min(c, h)) // 2, (w - min(c, w)) // 2
            img = img[y0:y0 + c, x0:x0 + c]
            jpath = tmp / f"{f.stem}_ev{ev:g}.jpg"
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(jpath, quality=a.jpeg)
            with Image.open(jpath) as im:
                photo = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
            sigma_in = noise_std(photo)
            row = {"file": f.name, "camera": f"{raw.make} {raw.model}", "iso": raw.iso, "ev": ev, "jpeg": a.jpeg,
                   "size": list(photo.shape[:2]), "input_noise_std": round(sigma_in, 5), "results": {}}
            for m in [m for m in a.methods.split(",") if m]:
                try:
                    out, dt = (photo, 0.0) if m == "noisy" else run(m, jpath, photo, cache)
                except Exception as e:
                    print(f"{f.name} ev{ev:g} {m}: not run ({type(e).__name__}: {e})", flush=True)
                    continue
                tk, frac = texture_kept(out, photo, sigma_in)
                r = {"noise_std": round(noise_std(out), 5), "texture_kept": round(tk, 4),
                     "textured_blocks": round(frac, 3), "seconds": round(dt, 2)}
                row["results"][m] = r
                print(f"{f.name} ev{ev:g} {m}: noise {r['noise_std'] * 255:.2f}/255 (input {sigma_in * 255:.2f}), "
                      f"texture kept {tk:.3f} ({dt:.1f} s)", flush=True)
            rows.append(row)
    doc = {"what": "residual noise and texture kept on real raws rendered as camera JPEGs (module docstring)",
           "cpu": cpu_name(), "threads": 1, "precision": precision_name(), "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
