"""Real camera noise with references built from the raw itself (issue 22 point 4).

    python lab/benchmarks/real_pairs.py [--raws ../shared/data/raw] [--ev 0 2] [--jpeg 90]
        [--methods unet-m-srgb,dnresnet-srgb,tsdn,...] [--out lab/results/real_pairs/NAME.json]

**Status (2026-12-07): the method does not hold here; nothing is decided on it.** Its own check
(``--synthetic`` on the first 8 Kodak24 photos, lab/results/real_pairs/synthetic_check_kodak8.json)
shows nr-PSNR differences that do not follow the true ones across routes: at S = 4e-3 the raw
route is +3.7 dB over the noisy JPEG in truth (26.77 vs 23.09) but +0.16 dB in nr-PSNR, and the
raw presets through unprocessing, -0.1 dB in truth, read +0.7 dB; (nr-MSE - true MSE), which
should be one constant, spreads over 81e-4 around 150e-4 (6e-4 around 18e-4 at 1/4 size, still
enough to reorder the methods). The content A and B alias differently at quarter resolution
(colour fringes above all) outweighs the noise at these levels, and whatever smooths chroma
(the JPEG's 4:2:0 included) scores for it. Kept as a tool with its check, for sensors or scenes
where the check passes.

Real noisy photos have no clean reference, so each real CFA raw is split into two photos of the
same scene with independent real noise: the packed RGGB raw (1, 4, h, w) gives
A = packed[..., 0::2, 0::2] and B = packed[..., 1::2, 1::2], Bayer cells diagonally next to each
other (Neighbor2Neighbor's sub-sampling, cell by cell). Each is rendered one pixel per cell (no
demosaic: :func:`render`), so both lie on uniform grids, B's exactly half a pixel after A's on
both axes, and every pixel's noise is the sensor's own. Sensor noise is independent from site
to site, so for any denoiser f

    E ||f(A) - B||^2 = ||f(A) - x_B||^2 + E ||n_B||^2,

the MSE against the noisy neighbour is the MSE against its clean content plus a constant that is
the same for every method: the differences between methods are real-noise MSE differences,
although the dB figures ("nr-PSNR", against the noisy reference) are compressed by the constant.
Left as it is, B's half-pixel offset would favour blurry outputs (the best symmetric
approximation of a half-pixel shift is a blur), so B's render is moved onto A's grid by an ideal
phase shift (:func:`align_reference`: all-pass, so its noise stays as it was). What remains is
the content that the quarter-resolution sampling aliases differently in A and B; ``--synthetic``
measures how well nr-PSNR differences track true PSNR differences. nr-PSNR is also given on the
photo seen at 1/2 and 1/4 size (``nr_psnr@2``, ``@4``: block means of output and reference),
where the aliased content weighs less.

Each half is pushed by ``2**EV`` in linear light (clipped at white: a night shot brightened in
post, so the real noise grows with it) and rendered by the product's ISP with the file's own
white balance and colour matrix (the photo is a quarter of the raw's size on each axis: 0.75 MP
from a 12 MP raw). A's render is saved as an 8-bit JPEG of quality ``--jpeg`` (the
photo a camera writes); B's render stays float (the reference). Methods:

* ``noisy``: A's JPEG itself;
* an sRGB preset or a raw preset name: ``edgeden denoise`` on A's JPEG (the product's own
  read/infer stages: noise estimated blind; raw presets through unprocessing);
* ``raw:PRESET``: the raw route, PRESET on A's packed raw with the file's noise (DNG profile, or
  estimated), times the push, rendered as B is (what a user with the raw file gets);
* ``dncnn``, ``ffdnet``: the peers (blind CDnCNN-B; FFDNet told the product's blind estimate,
  the root of the estimated variance averaged over the image). Measuring only.

``--synthetic FOLDER`` checks the method where the truth is known: clean photos unprocessed to a
raw with the typical camera, synthetic Poisson-Gaussian noise on the whole mosaic, split the same
way; each method's true PSNR (A against its clean render) is written beside its nr-PSNR.

Local candidate presets are measured through ``EDGEDEN_PRESET_PATH`` (see
candidate_preset.py). One thread; times are wall seconds of the inference stage only.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RAW_EXTS = (".dng", ".kdc", ".nef", ".cr2", ".arw", ".orf", ".rw2", ".raf")


def halves(raw) -> tuple[torch.Tensor, torch.Tensor]:
    """The two diagonal same-colour sub-raws of a RawImage: (1, 4, h//2, w//2) float32 each."""
    from edgeden.pipeline import raw_to_packed

    packed, _pad = raw_to_packed(raw)
    h, w = (packed.shape[-2] // 2) * 2, (packed.shape[-1] // 2) * 2
    packed = packed[..., :h, :w]
    return packed[..., 0::2, 0::2].contiguous(), packed[..., 1::2, 1::2].contiguous()


def render(packed: torch.Tensor, raw) -> np.ndarray:
    """Packed RGGB (1, 4, h, w) in [0, 1] -> (h, w, 3) float32 sRGB in [0, 1] with the file's white
    balance and colour matrix: one pixel per 2x2 Bayer cell (R, mean of the two G, B; no
    demosaic, as dcraw's half-size render), so each pixel sits at its cell's centre on a uniform
    grid and its noise is the sensor's own, independent from pixel to pixel."""
    from edgeden.core import isp

    wb = torch.as_tensor(raw.wb_rgb, dtype=torch.float32)
    ccm = torch.as_tensor(raw.cam_to_srgb, dtype=torch.float32)
    p = packed.clamp(0, 1)
    lin = torch.cat([p[:, 0:1], 0.5 * (p[:, 1:2] + p[:, 2:3]), p[:, 3:4]], dim=1)
    with torch.inference_mode():
        return isp.process_rgb(lin, wb, ccm, tone=True)[0].permute(1, 2, 0).numpy().copy()


def align_reference(b_hwc: np.ndarray) -> np.ndarray:
    """B's render moved half a pixel down and right, onto A's grid: A's cells cover sensor rows and
    columns 4i..4i+1, B's 4i+2..4i+3, so with one render pixel per cell B's grid lies exactly half
    a pixel after A's on both axes. An ideal (Fourier phase) shift of the mirror-extended image:
    all-pass, so B's noise keeps its variance and stays independent of A's, and the content is
    not blurred (a blurred or offset reference would favour blurry outputs).
    (H, W, 3) float32 -> same."""
    h, w = b_hwc.shape[:2]
    ext = np.concatenate([b_hwc, b_hwc[::-1]], axis=0)
    ext = np.concatenate([ext, ext[:, ::-1]], axis=1)  # (2H, 2W, 3), smooth at the wrap
    ky = np.fft.fftfreq(2 * h)[:, None, None]
    kx = np.fft.fftfreq(2 * w)[None, :, None]
    phase = np.exp(-2j * np.pi * (ky * 0.5 + kx * 0.5))
    out = np.real(np.fft.ifft2(np.fft.fft2(ext, axes=(0, 1)) * phase, axes=(0, 1)))[:h, :w]
    return out.astype(np.float32)


def pool(a: np.ndarray, k: int) -> np.ndarray:
    """(H, W, 3) -> (H // k, W // k, 3) block means (k = 1: unchanged)."""
    if k == 1:
        return a
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    return a[:h, :w].reshape(h // k, k, w // k, k, -1).mean(axis=(1, 3))


def nr_psnr(a: np.ndarray, ref: np.ndarray, margin: int = 8, scale: int = 1) -> float:
    """PSNR (dB) of ``a`` (clipped) against the noisy reference, borders of ``margin`` px left out,
    both averaged over ``scale`` x ``scale`` blocks first (the photo seen at 1/scale size)."""
    s = (slice(margin, -margin), slice(margin, -margin))
    mse = float(np.mean((pool(np.clip(a[s], 0, 1), scale) - pool(ref[s], scale)) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


SCALES = (1, 2, 4)


def run_product(method: str, jpeg_path: Path, cache: dict) -> tuple[np.ndarray, float, dict]:
    """``edgeden denoise`` of one JPEG with preset ``method``: (H, W, 3) float32, seconds, noise."""
    from edgeden.pipeline import infer_file, read_file
    from edgeden.presets import build_model, get_preset

    if method not in cache:
        p = get_preset(method)
        cache[method] = (p, build_model(p))
    preset, model = cache[method]
    w = read_file(jpeg_path, jpeg_path.with_name("unused-out.png"), preset)
    t0 = time.perf_counter()
    infer_file(w, model, preset)
    dt = time.perf_counter() - t0
    out = w.den[0].clamp(0, 1).permute(1, 2, 0).numpy()
    return out, dt, {"shot": list(w.params.shot), "read": list(w.params.read), "source": w.params.source}


def run_raw_route(method: str, a_packed: torch.Tensor, raw, gain: float, base, cache: dict) -> tuple[np.ndarray, float, dict]:
    """A raw preset on A's packed raw with the file's noise ``base`` (times the push), rendered."""
    from edgeden.core.types import NoiseParams
    from edgeden.pipeline import denoise_array
    from edgeden.presets import build_model, get_preset

    if method not in cache:
        p = get_preset(method)
        cache[method] = (p, build_model(p))
    preset, model = cache[method]
    params = NoiseParams(tuple(s * gain for s in base.shot), tuple(o * gain * gain for o in base.read),
                         source=base.source, detail=f"{base.detail}; x{gain:g} push")
    t0 = time.perf_counter()
    den = denoise_array(a_packed, model, preset, params, preset.tile, preset.overlap)
    dt = time.perf_counter() - t0
    return render(den, raw), dt, {"shot": list(params.shot), "read": list(params.read), "source": base.source}


def run_peer(name: str, x_hwc: np.ndarray, cache: dict, sigma_of=None) -> tuple[np.ndarray, float, dict]:
    """Peer ``name`` (dncnn: blind CDnCNN-B; ffdnet: FFDNet told ``sigma_of(x_hwc)``, by default
    the root of the product's blind variance estimate averaged over the image) on an (H, W, 3)
    photo in [0, 1]: (output (H, W, 3) float32, seconds, {"sigma"} for ffdnet)."""
    from edgeden import peers as pm

    if name not in cache:
        folder, where = pm.find_peers_dir(None)
        if folder is None:
            raise pm.PeerUnavailable(f"no peers folder ({where})")
        stem = "ffdnet_color" if name == "ffdnet" else "dncnn_color_blind"
        cache[name] = pm.load_peer(stem, folder)[0]
    net = cache[name]
    x = torch.from_numpy(np.ascontiguousarray(x_hwc)).permute(2, 0, 1)[None].float()
    info: dict = {}
    t0 = time.perf_counter()
    if name == "ffdnet":
        sigma = (sigma_of or _mean_estimated_std)(x_hwc)
        info["sigma"] = sigma
        y = pm.run_ffdnet(net, x, sigma)
    else:
        y = pm.run_dncnn(net, x)
    dt = time.perf_counter() - t0
    return y[0].clamp(0, 1).permute(1, 2, 0).numpy(), dt, info


def _mean_estimated_std(x_hwc: np.ndarray) -> float:
    """sqrt of the product's blind noise variance estimate, averaged over the image's planes at their means."""
    from edgeden.core import noise as nm

    x = torch.from_numpy(np.ascontiguousarray(x_hwc)).permute(2, 0, 1).float()
    s, o = nm.estimate_noise_or_fallback(x).per_plane(3)
    var = float(np.mean([s[c] * float(x[c].mean()) + o[c] for c in range(3)]))
    return math.sqrt(max(var, 0.0))


def measure(label: str, pa: torch.Tensor, pb: torch.Tensor, raw, gain: float, base, methods: list[str],
            jpeg: int, tmp: Path, cache: dict, clean_a: np.ndarray | None = None) -> dict:
    """One pair: A's render saved as the camera's JPEG, each method on it, nr-PSNR against B's
    render (and, when ``clean_a`` (A's clean render) is known, the true PSNR beside it)."""
    from PIL import Image

    ref = align_reference(render(pb, raw))
    jpath = tmp / f"{label}.jpg"  # the camera's JPEG (4:2:0), as the user has it
    Image.fromarray((render(pa, raw) * 255 + 0.5).astype(np.uint8)).save(jpath, quality=jpeg)
    with Image.open(jpath) as im:
        photo = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    row: dict = {"size": list(ref.shape[:2]), "results": {}}
    for m in methods:
        try:
            if m == "noisy":
                out, dt, info = photo, 0.0, {}
            elif m.startswith("raw:"):
                out, dt, info = run_raw_route(m[4:], pa, raw, gain, base, cache)
            elif m in ("dncnn", "ffdnet"):
                out, dt, info = run_peer(m, photo, cache)
            else:
                out, dt, info = run_product(m, jpath, cache)
        except Exception as e:
            print(f"{label} {m}: not run ({type(e).__name__}: {e})", flush=True)
            continue
        r = {"nr_psnr": round(nr_psnr(out, ref), 3), "seconds": round(dt, 2), **info}
        for k in SCALES[1:]:
            r[f"nr_psnr@{k}"] = round(nr_psnr(out, ref, scale=k), 3)
        if clean_a is not None:
            r["psnr"] = round(nr_psnr(out, clean_a), 3)
            for k in SCALES[1:]:
                r[f"psnr@{k}"] = round(nr_psnr(out, clean_a, scale=k), 3)
        row["results"][m] = r
        extra = f", true {r['psnr']:.2f}" if "psnr" in r else ""
        print(f"{label} {m}: nr-PSNR {r['nr_psnr']:.2f} dB{extra} ({dt:.1f} s)", flush=True)
    return row


def synthetic_rows(folder: Path, shot: float, methods: list[str], jpeg: int, tmp: Path, cache: dict,
                   limit: int) -> list[dict]:
    """The method checked where the truth is known: clean sRGB photos unprocessed to a raw with the
    typical camera, Poisson-Gaussian noise of shot ``shot`` (UPI's mean read noise) on the whole
    mosaic, split into A and B like a real raw; true PSNR of A against its clean render beside."""
    from types import SimpleNamespace

    from PIL import Image

    from edgeden.core import isp
    from edgeden.core import noise as nm
    from edgeden.core.types import NoiseParams

    cam = SimpleNamespace(wb_rgb=isp.DEFAULT_WB, cam_to_srgb=isp.DEFAULT_CCM)
    wb = torch.as_tensor(isp.DEFAULT_WB, dtype=torch.float32)
    ccm = torch.as_tensor(isp.DEFAULT_CCM, dtype=torch.float32)
    read = float(nm.upi_mean_read(torch.tensor(shot)))
    rows = []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".tif", ".tiff", ".jpg"))[:limit]
    for i, f in enumerate(files):
        x = torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        h, w = x.shape[-2] // 4 * 4, x.shape[-1] // 4 * 4
        packed = isp.mosaic_rggb(isp.unprocess_rgb(x[..., :h, :w], wb, ccm, tone=True))
        noisy = nm.add_poisson_gaussian(packed, torch.full((4,), shot), torch.full((4,), read),
                                        torch.Generator().manual_seed(i)).clamp(0, 1)
        pa, pb = noisy[..., 0::2, 0::2].contiguous(), noisy[..., 1::2, 1::2].contiguous()
        clean_a = render(packed[..., 0::2, 0::2], cam)
        base = NoiseParams((shot,), (read,), source="synthetic")
        row = measure(f"{f.stem}_s{shot:g}", pa, pb, cam, 1.0, base, methods, jpeg, tmp, cache, clean_a)
        row.update({"file": f.name, "shot": shot, "jpeg": jpeg})
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raws", type=Path, default=Path("../shared/data/raw"))
    ap.add_argument("--ev", type=float, nargs="+", default=[0.0, 2.0])
    ap.add_argument("--jpeg", type=int, default=90)
    ap.add_argument("--methods", default="noisy,unet-m-srgb,dnresnet-srgb,dsdnresnet-srgb,tsdn,fanet-nsma,"
                                         "raw:tsdn,dncnn,ffdnet")
    ap.add_argument("--crop", type=int, default=0, help="centre crop of each half (render pixels; 0 = whole)")
    ap.add_argument("--synthetic", type=Path, default=None,
                    help="check the method on clean photos in this folder (synthetic raw noise, truth known)")
    ap.add_argument("--shot", type=float, nargs="+", default=[0.004], help="--synthetic noise levels")
    ap.add_argument("--limit", type=int, default=8, help="--synthetic: first N photos")
    ap.add_argument("--out", type=Path, default=Path("lab/results/real_pairs/real_pairs.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    from edgeden.core.precision import cpu_name, precision_name
    from edgeden.evaluate import conv_peak_gflops
    from edgeden.io import read_raw
    from edgeden.pipeline import DenoiseOptions, raw_noise

    methods = [m for m in a.methods.split(",") if m]
    rows, cache = [], {}
    peak = conv_peak_gflops()
    tmp = Path(tempfile.mkdtemp(prefix="real_pairs_"))
    if a.synthetic is not None:
        for shot in a.shot:
            rows += synthetic_rows(a.synthetic, shot, methods, a.jpeg, tmp, cache, a.limit)
    else:
        for f in sorted(p for p in a.raws.iterdir() if p.suffix.lower() in RAW_EXTS):
            try:
                raw = read_raw(f)
            except Exception as e:  # a linear DNG and the like: not a mosaic, no pairs
                print(f"{f.name}: skipped ({e})", flush=True)
                continue
            ha, hb = halves(raw)
            if a.crop:
                c = a.crop // 2  # packed pixels
                h, w = ha.shape[-2:]
                y0, x0 = max(0, (h - c) // 2), max(0, (w - c) // 2)
                ha, hb = ha[..., y0:y0 + c, x0:x0 + c], hb[..., y0:y0 + c, x0:x0 + c]
            base = raw_noise(raw, ha, DenoiseOptions())  # the file's noise (per site, so A's too)
            for ev in a.ev:
                g = 2.0 ** ev
                pa, pb = (ha * g).clamp(0, 1), (hb * g).clamp(0, 1)
                row = measure(f"{f.stem}_ev{ev:g}", pa, pb, raw, g, base, methods, a.jpeg, tmp, cache)
                row.update({"file": f.name, "camera": f"{raw.make} {raw.model}", "iso": raw.iso, "ev": ev,
                            "jpeg": a.jpeg})
                rows.append(row)
    doc = {"what": "noisy-reference PSNR on diagonal sub-raw pairs (module docstring)"
                   + (f"; synthetic check on {a.synthetic}" if a.synthetic else ""),
           "cpu": cpu_name(), "threads": 1, "precision": precision_name(), "conv_peak_gflops": peak,
           "preset_path": os.environ.get("EDGEDEN_PRESET_PATH"), "rows": rows}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
