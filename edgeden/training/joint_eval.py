"""The DC-Net table (papers/000, Sec. 3 / Table 2 style) on the CIFAR-10 subset, and calibration.

    python -m edgeden.training.joint_eval runs/dcnet-cifar runs/dcnet-seq-cifar \
        runs/mb25m-cifar runs/unet-s-cifar --out lab/benchmarks/dcnet_cifar.json

For each training run (its final weights ``last.safetensors``: the held-out test split is never
used to pick a checkpoint) and each of the paper's 11 noise levels sigma in {0, 0.1, ..., 1.0}
(image units; 0..255 x sigma on 8-bit images), seeded Gaussian noise on the 2000 test images:
top-1 accuracy (models with a classifier), and mean PSNR / SSIM (scikit-image) of the denoised
image against the clean one (models with an image output). For models with a classifier, the
calibration temperature is fitted on the validation split (the last ``data.val`` training
images, which training never sees) with each image at one of the 11 levels in turn, and the
expected calibration error is reported on the test split, same scheme, before and after.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from edgeden.classify import (calibrated_probs, classifier_logits, expected_calibration_error, fit_temperature,
                              with_level_map)
from edgeden.paths import resolve_data
from edgeden.training import data as D
from edgeden.training.recipe import Recipe
from edgeden.training.trainer import build_model, split_output

LEVELS = [round(0.1 * i, 1) for i in range(11)]


def load_run(run: Path, weights: str = "last.safetensors") -> tuple[Recipe, torch.nn.Module]:
    """A training run's recipe and model with its weights, in eval mode."""
    rec = Recipe(**json.loads((run / "recipe.json").read_text()))
    model = build_model(rec)
    model.load_state_dict(load_file(str(run / weights)))
    model.edgeden_noise_map = bool(rec.noise_map)  # read by :func:`inp`
    return rec, model.eval()


def inp(model: torch.nn.Module, x: torch.Tensor, sigma=0.0) -> torch.Tensor:
    """The model's input for images x (N, C, H, W) at noise std ``sigma`` (scalar or (N,), [0, 1]
    units): with a noise-level map channel when the run was trained with one."""
    return with_level_map(x, getattr(model, "edgeden_noise_map", False), sigma)


def noisy(x: torch.Tensor, sigma: torch.Tensor | float, seed: int) -> torch.Tensor:
    """x (N, C, H, W) in [0, 1] plus seeded Gaussian noise of std ``sigma`` (scalar or (N,))."""
    g = torch.Generator().manual_seed(seed)
    s = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1, 1, 1, 1)
    return x + s * torch.randn(x.shape, generator=g)


@torch.no_grad()
def run_outputs(model: torch.nn.Module, x: torch.Tensor, batch: int = 250):
    """(images or None, logits or None) of ``model`` on x (N, C, H, W), in batches."""
    imgs, logits = [], []
    for i in range(0, len(x), batch):
        im, lg = split_output(model(x[i:i + batch]), True)
        if im is not None:
            imgs.append(im)
        if lg is not None:
            logits.append(lg.float())
    return (torch.cat(imgs) if imgs else None), (torch.cat(logits) if logits else None)


def level_rows(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 2024) -> list[dict]:
    """Accuracy / PSNR / SSIM at each level of :data:`LEVELS` (keys absent where the model has no
    such output), plus the noisy input's PSNR / SSIM."""
    from edgeden.evaluate import psnr, ssim

    rows = []
    for li, s in enumerate(LEVELS):
        xn = noisy(x, s, seed + li)
        img, logits = run_outputs(model, inp(model, xn, s))
        r = {"sigma": s}
        ref = x.permute(0, 2, 3, 1).numpy()
        if logits is not None:
            r["acc"] = float((logits.argmax(1) == y).float().mean())
        if img is not None:
            out = img.permute(0, 2, 3, 1).numpy()
            r["psnr"] = float(np.mean([psnr(a, b) for a, b in zip(out, ref)]))
            r["ssim"] = float(np.mean([ssim(a, b) for a, b in zip(out, ref)]))
        nz = xn.permute(0, 2, 3, 1).numpy()
        r["noisy_psnr"] = float(np.mean([psnr(a, b) for a, b in zip(nz, ref)]))
        r["noisy_ssim"] = float(np.mean([ssim(a, b) for a, b in zip(nz, ref)]))
        rows.append(r)
    return rows


def mixed_level_logits(model: torch.nn.Module, x: torch.Tensor, seed: int, product: bool = True) -> torch.Tensor:
    """Logits with image i at noise level LEVELS[i % 11] (seeded): (N, K). ``product``: as the
    product computes them (:func:`edgeden.classify.classifier_logits`, with the mirror image),
    else the single view."""
    sig = torch.tensor([LEVELS[i % len(LEVELS)] for i in range(len(x))])
    xn = inp(model, noisy(x, sig, seed), sig)
    if not product:
        return run_outputs(model, xn)[1]
    return torch.cat([classifier_logits(model, xn[i:i + 250]) for i in range(0, len(xn), 250)])


def calibration(model: torch.nn.Module, bank: D.LabelledBank) -> dict:
    """Temperature fitted on the validation split; ECE (15 bins) on the test split before/after."""
    xv, yv = bank.split("val")
    xt, yt = bank.split("test")
    t = fit_temperature(mixed_level_logits(model, xv, 11), yv)
    lt = mixed_level_logits(model, xt, 12)
    return {"temperature": round(t, 4), "val_images": len(xv), "test_images": len(xt),
            "ece_before": round(expected_calibration_error(calibrated_probs(lt, 1.0), yt), 4),
            "ece_after": round(expected_calibration_error(calibrated_probs(lt, t), yt), 4),
            "test_acc_mixed": round(float((lt.argmax(1) == yt).float().mean()), 4),
            "test_acc_mixed_single_view": round(float((mixed_level_logits(model, xt, 12, product=False).argmax(1)
                                                        == yt).float().mean()), 4)}


def evaluate_runs(runs: list[Path], presentation: dict | None = None) -> dict:
    """The full table for ``runs`` (see module docstring); JSON-ready. ``presentation``: keyword
    arguments for :func:`presentation_study` (run for joint models)."""
    out = {"levels": LEVELS, "models": {}}
    for run in runs:
        rec, model = load_run(run)
        bank = D.LabelledBank(resolve_data(rec.data["file"]), val=int(rec.data.get("val", 1000)))
        x, y = bank.split("test")
        m = {"arch": rec.arch, "recipe": rec.name, "steps": int(rec.optim.get("steps", 0)),
             "rows": level_rows(model, x, y)}
        if any("acc" in r for r in m["rows"]):
            m["calibration"] = calibration(model, bank)
        if all("acc" in r and "psnr" in r for r in m["rows"]):  # joint model: how to show it a photo
            m["presentation"] = presentation_study(model, bank, **(presentation or {}))
        out["class_names"] = bank.class_names
        out["test_images"] = len(x)
        out["models"][rec.name] = m
    return out


GRIDS = (1, 2, 4, 8)


def grid_logits(model: torch.nn.Module, photos: torch.Tensor, k: int, size: int = 32) -> torch.Tensor:
    """Classify photos shown as a k x k grid of ``size``-pixel tiles of their area-averaged
    (k*size)^2 thumbnail, the tiles' probabilities averaged ("tiles voted"; k = 1 is the plain
    thumbnail). photos (N, 3, H, W) in [0, 1] -> log of the mean probabilities (N, K)."""
    t = torch.nn.functional.adaptive_avg_pool2d(photos, k * size)
    tiles = t.unfold(2, size, size).unfold(3, size, size).permute(0, 2, 3, 1, 4, 5).reshape(-1, photos.shape[1], size, size)
    p = torch.softmax(run_outputs(model, inp(model, tiles))[1], -1)
    return torch.log(p.reshape(len(photos), k * k, -1).mean(1))


@torch.no_grad()
def presentation_study(model: torch.nn.Module, bank: D.LabelledBank, n: int = 400, size: int = 256,
                       levels=(0.0, 0.3, 0.6), seed: int = 99) -> dict:
    """How should a full-size photo be shown to a classifier trained on 32x32 images? Measured.

    Stand-in photos: ``n`` test images (evenly spaced: all classes) upscaled (bicubic) to ``size`` x ``size`` (an
    object filling the frame, as in CIFAR), plus seeded Gaussian noise of std sigma *at photo
    resolution* (what a camera adds). Each is denoised at full size by ``model``, then shown to
    the classifier as a k x k grid of 32x32 tiles of its (32k)^2 thumbnail, probabilities
    averaged (:func:`grid_logits`; k = 1: the whole frame as one 32x32 thumbnail). Reference:
    the *noisy* photo's 32x32 thumbnail (no denoising); and the denoised thumbnail with its
    mirror image, logits averaged (flip test-time augmentation, the product's method:
    :func:`edgeden.classify.classifier_logits`).
    Returns {"images", "size", "levels", "accuracy": {method: [acc per level]},
    "classifier_ms_per_photo": {method: ms}}.
    """
    import time

    x, y = bank.split("test")
    step = max(1, len(x) // n)  # every step-th image: the test split is sorted by class
    x, y = x[::step][:n], y[::step][:n]
    n = len(x)
    big = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    acc: dict[str, list[float]] = {}
    ms: dict[str, float] = {}
    for li, s in enumerate(levels):
        xn = noisy(big, s, seed + li)
        den = torch.cat([run_outputs(model, inp(model, xn[i:i + 25], s), batch=25)[0] for i in range(0, n, 25)]).clamp(0, 1)
        shows = {f"grid {k}x{k} of the denoised photo": (den, k) for k in GRIDS}
        shows["thumbnail of the noisy photo"] = (xn.clamp(0, 1), 1)
        shows["thumbnail + its mirror image, logits averaged"] = (den, 0)
        for m, (photos, k) in shows.items():
            t0 = time.perf_counter()
            if k:
                lg = grid_logits(model, photos, k)
            else:
                lg = classifier_logits(model, inp(model, torch.nn.functional.adaptive_avg_pool2d(photos, 32)))
            ms[m] = ms.get(m, 0.0) + (time.perf_counter() - t0) * 1000
            acc.setdefault(m, []).append(round(float((lg.argmax(1) == y).float().mean()), 4))
    return {"images": n, "size": size, "levels": list(levels), "accuracy": acc,
            "classifier_ms_per_photo": {m: round(v / (n * len(levels)), 3) for m, v in ms.items()}}


def markdown_table(res: dict) -> list[str]:
    """Markdown lines: accuracy / PSNR / SSIM per level, one column per model."""
    names = list(res["models"])
    lines = ["| sigma | noisy PSNR / SSIM | " + " | ".join(f"`{n}` ({res['models'][n]['arch']})" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for i, s in enumerate(res["levels"]):
        first = res["models"][names[0]]["rows"][i]
        cells = []
        for n in names:
            r = res["models"][n]["rows"][i]
            parts = []
            if "acc" in r:
                parts.append(f"{100 * r['acc']:.1f}%")
            if "psnr" in r:
                parts.append(f"{r['psnr']:.2f} dB / {r['ssim']:.3f}")
            cells.append(", ".join(parts))
        lines.append(f"| {s:.1f} | {first['noisy_psnr']:.2f} / {first['noisy_ssim']:.3f} | " + " | ".join(cells) + " |")
    means = []
    for n in names:
        rows = res["models"][n]["rows"]
        parts = []
        if "acc" in rows[0]:
            parts.append(f"{100 * np.mean([r['acc'] for r in rows]):.1f}%")
        if "psnr" in rows[0]:
            parts.append(f"{np.mean([r['psnr'] for r in rows]):.2f} dB / {np.mean([r['ssim'] for r in rows]):.3f}")
        means.append(", ".join(parts))
    lines.append("| **mean** | | " + " | ".join(means) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="DC-Net 11-level table and calibration on the CIFAR-10 subset.")
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    res = evaluate_runs(a.runs)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1))
    print("\n".join(markdown_table(res)))
    for n, m in res["models"].items():
        if "calibration" in m:
            print(n, m["calibration"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
