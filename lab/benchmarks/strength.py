"""`--strength`: PSNR and kept detail at strengths 1 / 0.75 / 0.5, by method, on Kodak24 raw
mosaics (synthetic noise, clean references) and on the real DNGs of ../shared/data/raw.

Usage: python lab/benchmarks/strength.py [--limit 24] [--threads 1] [--out lab/results/strength.json]
       [--crops lab/results/strength]

Methods (edgeden.pipeline): ``vst`` blends the network's output with the input in the
generalised Anscombe domain of the noise; ``map`` tells the network strength^2 x the noise
variance; ``linear`` mixes plainly.

Detail measures, both on the packed green planes (mean of G1, G2), high-pass = x - 3x3 box blur,
16x16 blocks:
* synthetic (clean known): **kept detail** = sum(hp(out) * hp(clean)) / sum(hp(clean)^2) over
  textured blocks (the top quarter by clean high-pass energy). Noise is uncorrelated with the
  clean image, so what is left of it does not count; 1 = all of the scene's fine detail.
* real (no clean): **HF energy ratio** = high-pass energy of the output / of the input over
  textured blocks (input high-pass energy above 4x what its noise alone gives, so the noise is
  under a quarter of it): how much of the input's texture (plus what noise is kept) survives.
Crops: 256x256 sRGB renders of a textured spot of each real DNG, input and outputs, as PNG.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from edgeden.evaluate import NoiseSpec, load_clean_set, make_noisy, psnr
from edgeden.pipeline import (
    DenoiseOptions,
    denoise_with_strength,
    raw_noise,
    raw_to_packed,
    render_packed,
)
from edgeden.presets import build_model, get_preset

STRENGTHS = (1.0, 0.75, 0.5)
METHODS = ("vst", "map", "linear")


def green(p: torch.Tensor) -> np.ndarray:
    return ((p[0, 1] + p[0, 2]) / 2).double().numpy()


def highpass(g: np.ndarray) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    return g - uniform_filter(g, 3, mode="reflect")


def blocks(a: np.ndarray, b: int = 16) -> np.ndarray:
    h, w = a.shape[0] // b * b, a.shape[1] // b * b
    return a[:h, :w].reshape(h // b, b, w // b, b).transpose(0, 2, 1, 3).reshape(-1, b * b)


def kept_detail(out: torch.Tensor, clean: torch.Tensor) -> float:
    hc, ho = blocks(highpass(green(clean))), blocks(highpass(green(out)))
    e = (hc ** 2).sum(1)
    sel = e >= np.quantile(e, 0.75)
    return float((ho[sel] * hc[sel]).sum() / max((hc[sel] ** 2).sum(), 1e-20))


def hf_ratio(out: torch.Tensor, noisy: torch.Tensor, noise_var_hp: np.ndarray) -> tuple[float, float]:
    hn, ho = blocks(highpass(green(noisy))), blocks(highpass(green(out)))
    e = (hn ** 2).mean(1)
    sel = e > 4 * noise_var_hp
    return float((ho[sel] ** 2).sum() / max((hn[sel] ** 2).sum(), 1e-20)), float(sel.mean())


def synthetic(preset_name: str, limit: int, levels: list[float]) -> list[dict]:
    preset = get_preset(preset_name)
    net = build_model(preset)
    imgs = load_clean_set("kodak24", limit=limit)
    rows = []
    for lv in levels:
        spec = NoiseSpec.parse(f"raw:{lv}")
        acc: dict[str, list[float]] = {}
        for i, (_, clean_hwc) in enumerate(imgs):
            d = make_noisy(clean_hwc, spec, 1234 + i)
            for method in METHODS:
                for s in STRENGTHS:
                    if s == 1.0 and method != "vst":
                        continue
                    opts = DenoiseOptions(strength=s, strength_method=method)
                    with torch.no_grad():
                        out = denoise_with_strength(d["noisy"], net, preset, d["params"], preset.tile,
                                                     preset.overlap, None, opts)
                    key = "full" if s == 1.0 else f"{method}@{s}"
                    acc.setdefault(key + " psnr", []).append(psnr(out.clamp(0, 1).numpy(), d["clean"].numpy()))
                    acc.setdefault(key + " detail", []).append(kept_detail(out, d["clean"]))
            acc.setdefault("noisy psnr", []).append(psnr(d["noisy"].numpy(), d["clean"].numpy()))
            acc.setdefault("noisy detail", []).append(kept_detail(d["noisy"], d["clean"]))
        rows.append({"preset": preset_name, "data": "kodak24", "images": len(imgs), "noise": str(spec),
                     **{k: round(float(np.mean(v)), 4) for k, v in acc.items()}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def real(files: list[Path], presets: list[str], crops: Path | None) -> list[dict]:
    from edgeden import io
    from edgeden.io.preview import preview_pixels

    rows = []
    for f in files:
        raw = io.read_raw(f)
        packed, pad = raw_to_packed(raw)
        params = raw_noise(raw, packed, DenoiseOptions())
        # high-pass variance of pure noise at the green planes' mean level (S x + O, then the
        # high-pass's gain on white noise: 1 - 2/9 + 1/9 = 8/9, and the two greens averaged: /2)
        g_level = float(green(packed).mean())
        s_, o_ = params.mean()
        noise_hp = (s_ * g_level + o_) * (8 / 9) / 2
        spot = None
        for name in presets:
            preset = get_preset(name)
            net = build_model(preset)
            for method, strengths in (("vst", STRENGTHS), ("map", STRENGTHS[1:])) if name == presets[0] else (("vst", (1.0,)),):
                for s in strengths:
                    opts = DenoiseOptions(strength=s, strength_method=method)
                    t0 = time.perf_counter()
                    with torch.no_grad():
                        out = denoise_with_strength(packed, net, preset, params, preset.tile, preset.overlap, None, opts)
                    dt = time.perf_counter() - t0
                    ratio, frac = hf_ratio(out, packed, noise_hp)
                    key = f"{name} {'full' if s == 1.0 else f'{method}@{s}'}"
                    rows.append({"file": f.name, "run": key, "hf_ratio": round(ratio, 4),
                                 "textured_fraction": round(frac, 3), "seconds": round(dt, 1)})
                    print(json.dumps(rows[-1]), flush=True)
                    if crops is not None:
                        if spot is None:  # the most textured 128x128 packed block (256 px of the photo)
                            e = highpass(green(packed)) ** 2
                            from scipy.ndimage import uniform_filter
                            m = uniform_filter(e, 128)[64:-64, 64:-64]
                            y, x = np.unravel_index(int(np.argmax(m)), m.shape)
                            spot = (y, x)
                            _crop(crops / f"{f.stem}.input.png", packed, raw, pad, spot, preview_pixels)
                        _crop(crops / f"{f.stem}.{key.replace(' ', '.')}.png", out, raw, pad, spot, preview_pixels)
    return rows


def _crop(path: Path, packed: torch.Tensor, raw, pad, spot, preview_pixels) -> None:
    from PIL import Image

    y, x = spot
    sub = packed[..., y: y + 128, x: x + 128]
    img = render_packed(sub, raw, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(preview_pixels(img, size=0)).save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--levels", default="0.001,0.004")
    ap.add_argument("--preset", default="tsdn")
    ap.add_argument("--compare", default="fanet-nsma,scaoed-lite")
    ap.add_argument("--out", type=Path, default=Path("lab/results/strength.json"))
    ap.add_argument("--crops", type=Path, default=Path("/tmp/edgeden-strength-crops"))
    ap.add_argument("--raw-dir", type=Path, default=Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "raw")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    syn = synthetic(a.preset, a.limit, [float(v) for v in a.levels.split(",")])
    files = sorted(p for p in a.raw_dir.glob("gopro_*.dng"))
    rea = real(files, [a.preset] + [p for p in a.compare.split(",") if p], a.crops)
    a.out.write_text(json.dumps({"synthetic": syn, "real": rea, "threads": a.threads,
                                 "wall_s": round(time.time() - t0)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
