"""The controlled experiment of Markhorst et al. (papers/000, Sec. 3, Table 1), reduced model.

    python -m edgeden_lab.mnist_experiment --out lab/results/dcnet_mnist    # regenerates the table

Data (:mod:`edgeden_lab.mnist_pairs`): 96x96 grey images, constant background in
[0.1, 0.3], two non-overlapping MNIST digits (the 10k MNIST test digits of
``shared/data/cls/mnist_test10k.npz``, split 80/20 so no digit image is in both the training and
the test images). The training images are a fixed, seeded set (``--train-images``, default
8000, against the paper's 30k: this machine has 2 CPU cores); each training step adds Gaussian
noise with sigma ~ U[0, 1] per image (the paper's range, image units). The test images (default
1000) get seeded noise at each of the 11 levels sigma in {0, 0.1, ..., 1.0}.

Models, both UNet-S (d=4, b=8, m=1.5, c=2) + MB2.5-M (width 14, expansion 2.5), 1 channel in:
  * Integrated: the classifier reads the UNet *encoder* features (level ``--cls-level``,
    default the bottleneck at 1/8 resolution as in the shipped ``dcnet``) cropped at the two
    digits' ground-truth boxes (box / stride, widened to a fixed ceil(28 / stride) + 1 cells).
  * Sequential: the classifier reads the two 28x28 ground-truth crops of the *denoised* image.
Both are trained jointly with the paper's loss 0.1 CE + 0.9 (0.8 Charbonnier + 0.2 (1 - SSIM)),
the same steps, batch, schedule and seed. FLOPs are torch's counter (MACs, the paper's
convention, see :mod:`edgeden.models.dcnet`) for one image with its two digits; latency is the
median wall time of one such forward pass at batch 1 on this machine.

Outputs ``OUT.json`` (all figures) and ``OUT.md`` (the table and the verdict).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgeden.models.dcnet import MBClassifier
from edgeden.models.unet import UNet
from edgeden.paths import resolve_data
from edgeden_lab import mnist_pairs as mp
from edgeden.training.losses import combined
from edgeden.training.trainer import lr_at

LEVELS = [round(0.1 * i, 1) for i in range(11)]
UNET_S = {"d": 4, "b": 8, "m": 1.5, "c": 2}


def feature_crops(feat: torch.Tensor, boxes: torch.Tensor, stride: int) -> torch.Tensor:
    """Crops of a feature map around ground-truth digit boxes, all the same size.

    feat: (N, C, H/stride, W/stride); boxes: (N, 2, 2) int64 top-left (y, x) of each 28x28 digit
    in image pixels. Returns (2N, C, k, k), k = ceil(28 / stride) + 1 (enough cells to cover the
    digit wherever it lies on the stride grid), ordered image by image.
    """
    k = min(math.ceil(mp.DIGIT / stride) + 1, feat.shape[-1], feat.shape[-2])
    out = []
    for i in range(len(feat)):
        for b in boxes[i]:
            y0 = min(int(b[0]) // stride, feat.shape[-2] - k)
            x0 = min(int(b[1]) // stride, feat.shape[-1] - k)
            out.append(feat[i, :, y0:y0 + k, x0:x0 + k])
    return torch.stack(out)


class Integrated(nn.Module):
    """UNet-S + MB2.5-M on encoder features at the GT boxes.

    forward(x (N, 1, 96, 96) float32 noisy in ~[0, 1], boxes (N, 2, 2) int64) ->
        (denoised (N, 1, 96, 96), logits (2N, 10)).
    """

    def __init__(self, cls_level: int = -1):
        super().__init__()
        self.unet = UNet(1, 1, **UNET_S)
        self.level = cls_level % self.unet.d
        self.classifier = MBClassifier(self.unet.widths[self.level], num_classes=10)

    def forward(self, x: torch.Tensor, boxes: torch.Tensor):
        feats = self.unet.encode(x)
        y = self.unet.decode(feats) + x
        return y, self.classifier(feature_crops(feats[self.level], boxes, 2 ** self.level))


class Sequential(nn.Module):
    """UNet-S, then MB2.5-M on the 28x28 GT crops of the denoised image.

    forward(x (N, 1, 96, 96), boxes (N, 2, 2)) -> (denoised (N, 1, 96, 96), logits (2N, 10)).
    """

    def __init__(self):
        super().__init__()
        self.unet = UNet(1, 1, **UNET_S)
        self.classifier = MBClassifier(1, num_classes=10)

    def forward(self, x: torch.Tensor, boxes: torch.Tensor):
        y = self.unet(x)
        return y, self.classifier(mp.crops(y, boxes))


def make_sets(n_train: int, n_test: int, seed: int = 0):
    """Fixed training and test images from disjoint digit halves (see module docstring)."""
    z = np.load(resolve_data("cls/mnist_test10k.npz"))
    (xtr, ytr), (xte, yte) = mp.split_digits(z["x"], z["y"])
    g = torch.Generator().manual_seed(seed)
    train = mp.two_digit_images(xtr, ytr, n_train, g)
    test = mp.two_digit_images(xte, yte, n_test, torch.Generator().manual_seed(seed + 1))
    return train, test, {"train_digits": int(len(xtr)), "test_digits": int(len(xte))}


def joint_loss(out, clean: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 1/3: 0.1 CE + 0.9 (0.8 Charbonnier + 0.2 (1 - SSIM))."""
    img, logits = out
    ce = nn.functional.cross_entropy(logits, labels.reshape(-1))
    return 0.1 * ce + 0.9 * combined(img, clean, {"charbonnier": 0.8, "ssim": 0.2})


def train_model(model: nn.Module, train, steps: int, batch: int, seed: int, log=None) -> dict:
    """Adam, warm-up + cosine lr (1e-3 -> 2e-5), grad clip 0.5; the output head starts at zero
    (the denoiser starts as the identity). Returns {"seconds", "cpu_hours"}."""
    imgs, boxes, labs = train
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    with torch.no_grad():
        model.unet.head.weight.zero_()
        model.unet.head.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = {"lr": 1e-3, "min_lr": 2e-5, "steps": steps, "warmup": 100}
    t0, c0 = time.time(), time.process_time()
    model.train()
    run = None
    for step in range(steps):
        idx = torch.randint(len(imgs), (batch,), generator=g)
        clean = imgs[idx]
        sigma = torch.rand(batch, 1, 1, 1, generator=g)
        noisy = clean + sigma * torch.randn(clean.shape, generator=g)
        for pg in opt.param_groups:
            pg["lr"] = lr_at(step, sched)
        loss = joint_loss(model(noisy, boxes[idx]), clean, labs[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        run = loss.item() if run is None else 0.98 * run + 0.02 * loss.item()
        if log and (step + 1) % 100 == 0:
            log(f"step {step + 1}/{steps} loss {run:.4f} {(time.time() - t0) / (step + 1):.3f} s/step")
    return {"seconds": round(time.time() - t0, 1), "cpu_hours": round((time.process_time() - c0) / 3600, 3)}


@torch.no_grad()
def evaluate_levels(model: nn.Module, test, seed: int = 7, batch: int = 100) -> list[dict]:
    """PSNR / SSIM (scikit-image, of the denoised image clipped to [0, 1]) and digit accuracy at
    each level of :data:`LEVELS`, seeded noise. Returns one dict per level."""
    from edgeden.evaluate import psnr, ssim

    imgs, boxes, labs = test
    model.eval()
    rows = []
    for li, s in enumerate(LEVELS):
        g = torch.Generator().manual_seed(seed * 100 + li)
        ps, ss, hits, noisy_ps = [], [], 0, []
        for i in range(0, len(imgs), batch):
            clean = imgs[i:i + batch]
            noisy = clean + s * torch.randn(clean.shape, generator=g)
            den, logits = model(noisy, boxes[i:i + batch])
            hits += int((logits.argmax(1) == labs[i:i + batch].reshape(-1)).sum())
            for a, b, n in zip(den.numpy(), clean.numpy(), noisy.numpy()):
                a, b, n = a.transpose(1, 2, 0), b.transpose(1, 2, 0), n.transpose(1, 2, 0)
                ps.append(psnr(a, b))
                ss.append(ssim(a, b))
                noisy_ps.append(psnr(n, b))
        rows.append({"sigma": s, "psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)),
                     "acc": hits / (2 * len(imgs)), "noisy_psnr": float(np.mean(noisy_ps))})
    model.train()
    return rows


@torch.no_grad()
def cost(model: nn.Module, threads: int, repeats: int = 50) -> dict:
    """MACs (torch FLOP counter / 2) and median batch-1 latency (ms) of one 96x96 image with its
    two digits, at ``threads`` torch threads."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    x = torch.rand(1, 1, mp.SIZE, mp.SIZE)
    boxes = torch.tensor([[[4, 4], [60, 60]]])
    fc = FlopCounterMode(display=False)
    with fc:
        model(x, boxes)
    macs = fc.get_total_flops() / 2
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    for _ in range(5):
        model(x, boxes)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        model(x, boxes)
        ts.append(time.perf_counter() - t)
    torch.set_num_threads(old)
    model.train()
    return {"macs": int(macs), "latency_ms": round(1000 * float(np.median(ts)), 2), "threads": threads}


def markdown(res: dict) -> str:
    """The report: settings, Table 1 (reduced), per-level table and the verdict."""
    a = res["args"]
    I, S = res["models"]["integrated"], res["models"]["sequential"]

    def mean(m, k):
        return float(np.mean([r[k] for r in m["levels"]]))

    lines = ["# DC-Net controlled experiment (papers/000, Sec. 3, Table 1), reduced model", "",
             f"Regenerate: `python -m edgeden_lab.mnist_experiment --out lab/results/dcnet_mnist` "
             f"(about {res['total_cpu_hours']:.2f} CPU hours here).", "",
             f"Data: {a['train_images']} training and {a['test_images']} test images of 96x96 (paper: 30k), "
             f"two non-overlapping MNIST digits on a constant grey background in [0.1, 0.3]; the 10k MNIST "
             f"test digits split {res['data']['train_digits']} (training images) / {res['data']['test_digits']} "
             f"(test images), so no digit image is in both. Training noise sigma ~ U[0, 1] per image; test "
             f"noise seeded at sigma 0, 0.1, ..., 1.0. Both models: UNet-S + MB2.5-M, 1 channel, "
             f"{a['steps']} steps x batch {a['batch']}, Adam 1e-3 cosine, loss 0.1 CE + 0.9 (0.8 Charbonnier "
             f"+ 0.2 (1 - SSIM)), seed {a['seed']}. Integrated: classifier on encoder level "
             f"{res['models']['integrated']['cls_level']} (stride {2 ** res['models']['integrated']['cls_level']}) "
             f"cropped at the ground-truth boxes; Sequential: classifier on the 28x28 ground-truth crops of the "
             f"denoised image.", "",
             "## Table 1 (reduced model; figures averaged over the 11 noise levels)", "",
             "| model | MMACs (paper 'MFLOPs') | latency ms (batch 1) | PSNR | SSIM | accuracy |",
             "|---|---|---|---|---|---|"]
    for name, m, paper in (("Integrated", I, "51.2"), ("Sequential", S, "51.5")):
        lines.append(f"| {name} | {m['cost']['macs'] / 1e6:.1f} (paper {paper}) | {m['cost']['latency_ms']:.2f} "
                     f"({m['cost']['threads']} thr) | {mean(m, 'psnr'):.2f} | {mean(m, 'ssim'):.3f} | "
                     f"{100 * mean(m, 'acc'):.1f}% |")
    lines += ["", "## Per noise level", "",
              "| sigma | noisy PSNR | Integrated PSNR / SSIM / acc | Sequential PSNR / SSIM / acc |",
              "|---|---|---|---|"]
    for ri, rs in zip(I["levels"], S["levels"]):
        lines.append(f"| {ri['sigma']:.1f} | {ri['noisy_psnr']:.2f} | {ri['psnr']:.2f} / {ri['ssim']:.3f} / "
                     f"{100 * ri['acc']:.1f}% | {rs['psnr']:.2f} / {rs['ssim']:.3f} / {100 * rs['acc']:.1f}% |")
    lines += ["", "MMACs: torch's FLOP counter / 2 for one 96x96 image and its two digits (the paper's "
              "'FLOPs' behave as MACs, see `edgeden.models.dcnet`). Latency: median of 50 batch-1 forward "
              "passes at one torch thread, right after training (other jobs may have shared the machine's "
              "second core). PSNR at sigma 0 compares the output with the clean input (the noisy "
              "column is capped at 120 dB)."]
    dp, da = mean(I, "psnr") - mean(S, "psnr"), 100 * (mean(S, "acc") - mean(I, "acc"))
    lines += ["", "## Verdict", "",
              f"Paper: Integrated denoises better, Sequential classifies slightly better. Here: Integrated "
              f"PSNR {'+' if dp >= 0 else ''}{dp:.2f} dB against Sequential "
              f"({'holds' if dp > 0 else 'does not hold'}); Sequential accuracy "
              f"{'+' if da >= 0 else ''}{da:.1f} points against Integrated "
              f"({'holds' if da > 0 else 'does not hold'}). Why, and what was not tried: "
              "docs/training.md.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Reproduce papers/000 Table 1 (reduced model) on this machine.")
    ap.add_argument("--out", type=Path, default=Path("lab/results/dcnet_mnist"))
    ap.add_argument("--train-images", type=int, default=8000)
    ap.add_argument("--test-images", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cls-level", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads for training (0: torch's default)")
    ap.add_argument("--only", choices=["integrated", "sequential"], default=None,
                    help="train one model and write OUT.<model>.json (run both in parallel, then --merge)")
    ap.add_argument("--merge", action="store_true", help="combine OUT.integrated.json and OUT.sequential.json")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if not a.merge:
        train, test, info = make_sets(a.train_images, a.test_images, a.seed)
        for name in ([a.only] if a.only else ["integrated", "sequential"]):
            torch.manual_seed(a.seed)
            model = Integrated(a.cls_level) if name == "integrated" else Sequential()
            t = train_model(model, train, a.steps, a.batch, a.seed,
                            log=lambda s, n=name: print(f"[{n}] {s}", flush=True))
            m = {"train": t, "levels": evaluate_levels(model, test), "cost": cost(model, threads=1)}
            if name == "integrated":
                m["cls_level"] = model.level
            Path(f"{a.out}.{name}.json").write_text(json.dumps({"args": vars(a) | {"out": str(a.out)},
                                                                "data": info, "model": m}, indent=1))
            print(f"[{name}] done: {m['train']}", flush=True)
        if a.only:
            return 0
    parts = {n: json.loads(Path(f"{a.out}.{n}.json").read_text()) for n in ("integrated", "sequential")}
    res = {"args": parts["integrated"]["args"], "data": parts["integrated"]["data"],
           "models": {n: p["model"] for n, p in parts.items()}}
    res["total_cpu_hours"] = sum(m["train"]["cpu_hours"] for m in res["models"].values())
    Path(f"{a.out}.json").write_text(json.dumps(res, indent=1))
    Path(f"{a.out}.md").write_text(markdown(res))
    print(Path(f"{a.out}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
