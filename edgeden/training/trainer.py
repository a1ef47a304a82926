"""The training loop behind ``edgeden train``: seeded, checkpointed, resumable.

Outputs under ``runs/<recipe.name>/``: ``state.safetensors`` (model, optimiser, step, RNG state,
stage; no pickle, see :mod:`edgeden.training.checkpoint`),
``best.safetensors`` and ``last.safetensors`` (weights only), ``log.jsonl`` (one JSON line per
log/validation/stage event), a copy of the recipe, and for staged programs ``arch.json`` (the
architecture the program ended with).
"""
from __future__ import annotations

import json
import math
import time
import types
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from edgeden.models import create_arch, primary_output
from edgeden.training import checkpoint as CK
from edgeden.training.batches import BatchSource
from edgeden.training.losses import combined
from edgeden.training.recipe import Recipe
from edgeden.training.weights import load_init


def build_model(recipe: Recipe) -> torch.nn.Module:
    """The recipe's architecture with input channels for its domain (+1 for a noise map)."""
    return create_arch(recipe.arch, **recipe.spec.arch_kwargs(), **recipe.arch_args)


def split_output(out, labelled: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(image, logits) of a model output: a classifier returns logits (N, K) only, a joint model
    (DC-Net) (image, logits), a denoiser an image (N, C, H, W) or (image, aux...)."""
    if not labelled:
        return primary_output(out), None
    if isinstance(out, (tuple, list)):
        return out[0], out[-1]
    if out.ndim == 2:  # (N, K) logits of a classifier
        return None, out
    return out, None  # a denoiser trained alone on the labelled images (the ablation baseline)


def recipe_loss(recipe: Recipe, out, y: torch.Tensor, post, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The recipe's loss on a model output (tensor or tuple, see the model contract).

    Two-stage models (TSDN) return (final, stage1): with ``loss.stage1`` = alpha > 0 the loss is
    beta * L(final) + alpha * L(stage1), the paper's alpha * L_dn + beta * L_rs. With labels,
    ``loss.ce`` weights the cross-entropy of the logits (DC-Net: 0.1 CE + 0.9 image loss);
    images labelled -1 show none of the classes and get ``loss.oe`` x outlier exposure instead.
    """
    weights = {k: v for k, v in recipe.loss.items()
               if k not in ("stage1", "stage2", "ce", "oe", "kd", "fm", "fm_style", "tone", "render", "wb", "ccm")}
    main, logits = split_output(out, labels is not None)
    loss = torch.zeros(())
    if logits is not None and recipe.loss.get("ce") and bool((labels >= 0).any()):
        # label -1: an image that shows none of the classes (not in the cross-entropy)
        loss = loss + float(recipe.loss["ce"]) * torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=-1)
    if logits is not None and recipe.loss.get("oe") and bool((labels < 0).any()):
        # outlier exposure (Hendrycks et al., ICLR 2019): cross-entropy of the "none" images'
        # softmax to the uniform distribution, weighted by loss.oe
        lsm = torch.log_softmax(logits[labels < 0].float(), -1)
        loss = loss + float(recipe.loss["oe"]) * (-lsm.mean(-1)).mean()
    if main is None or not weights:
        return loss
    gamma = recipe.loss.get("tone")
    camera = getattr(post, "camera", None)
    gains = None
    if recipe.loss.get("wb") and camera is not None:  # raw: each plane weighed by its white-balance gain
        gains = plane_gains(camera[0], y.dtype)

    def shown(p: torch.Tensor) -> torch.Tensor:
        p = tone_mapped(p, y, float(gamma)) if gamma else p
        return p * gains if gains is not None else p

    target = shown(y)
    loss = loss + float(recipe.loss.get("stage2", 1.0)) * combined(shown(post(main.float())), target, weights)
    a = float(recipe.loss.get("stage1", 0.0))
    if a and isinstance(out, (tuple, list)) and len(out) > 1:
        loss = loss + a * combined(shown(post(out[1].float())), target, weights)
    w_ccm = float(recipe.loss.get("ccm", 0.0))
    if w_ccm and camera is not None:  # raw recipes: also compare the two in the camera's linear colour
        wb, ccm = camera
        loss = loss + w_ccm * combined(linear_colour(post(main.float()), wb, ccm), linear_colour(y, wb, ccm), weights)
    w_render = float(recipe.loss.get("render", 0.0))
    if w_render and camera is not None:  # raw recipes: also compare the two as the sample's camera renders them
        wb, ccm = camera
        loss = loss + w_render * combined(rendered(post(main.float()), y, wb, ccm), rendered(y, y, wb, ccm), weights)
    return loss


def rendered(v: torch.Tensor, ref: torch.Tensor, wb: torch.Tensor, ccm: torch.Tensor, mean: float = 0.25,
             eps: float = 1e-3) -> torch.Tensor:
    """Packed linear raw as its camera renders it, for ``loss.render``: each sample scaled so
    ``ref``'s mean is ``mean`` (an auto exposure that undoes the training data's darkening), white
    balance ``wb``, demosaic, colour matrix ``ccm`` (:func:`edgeden.core.isp.process` without its
    tone curve), clipped to [0, 1], then ``(x + eps) ** (1 / 2.2)`` (a gamma whose slope stays
    finite at black). A loss in linear raw weighs the four Bayer planes alike; the render
    multiplies the red and blue planes' errors by their gains (about 2) and mixes them through the
    matrix, and the gamma lifts the shadows' errors, as the rendered PSNR does.

    v, ref: (N, 4, h, w) float32 linear packed RGGB (``ref`` the clean target); wb (N, 3);
    ccm (N, 3, 3). Returns (N, 3, 2h, 2w) float32 in [eps ** (1/2.2), (1 + eps) ** (1/2.2)].
    """
    from edgeden.core import isp

    scale = mean / ref.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    rgb = isp.apply_ccm(isp.demosaic_rggb(v * scale * plane_gains(wb, v.dtype)).clamp(0, 1), ccm).clamp(0, 1)
    return (rgb + eps).pow(1.0 / 2.2)


def plane_gains(wb: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, 3) white-balance gains -> (N, 4, 1, 1) per packed RGGB plane, to multiply packed raw."""
    from edgeden.core import isp

    return isp.packed_gains(wb).to(dtype).view(-1, 4, 1, 1)


def linear_colour(v: torch.Tensor, wb: torch.Tensor, ccm: torch.Tensor) -> torch.Tensor:
    """Packed linear raw in its camera's linear colour, for ``loss.ccm``: each plane times its
    sample's white-balance gain, the two greens averaged, then the colour matrix; no demosaic,
    clipping or gamma, so every pixel keeps its gradient. The matrix mixes the planes with
    negative off-diagonal terms, so an error that differs between planes (a colour error) grows
    as it does in the render, and one shared by all planes (a luminance error) does not.

    v: (N, 4, h, w) float32 linear packed RGGB; wb (N, 3); ccm (N, 3, 3). Returns (N, 3, h, w)."""
    from edgeden.core import isp

    p = v * plane_gains(wb, v.dtype)
    rgb = torch.stack([p[:, 0], 0.5 * (p[:, 1] + p[:, 2]), p[:, 3]], 1)
    return isp.apply_ccm(rgb, ccm.to(v.dtype))


def tone_mapped(v: torch.Tensor, ref: torch.Tensor, gamma: float, mean: float = 0.25, eps: float = 1e-3) -> torch.Tensor:
    """Linear images as a render shows them, for a loss that weighs tones as the eye (and the
    rendered PSNR) does: each sample scaled so ``ref``'s mean is ``mean`` (an auto exposure that
    undoes the training data's darkening), then the power 1 / ``gamma`` (``loss.tone: 2.2``).

    v, ref: (N, C, H, W) float32 linear, ``ref`` the clean target. Returns (N, C, H, W) float32."""
    scale = mean / ref.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (v * scale).clamp_min(0.0).add(eps).pow(1.0 / gamma)


def lr_at(step: int, optim: dict) -> float:
    """Linear warm-up then cosine decay from ``lr`` to ``min_lr`` over ``steps``."""
    lr, min_lr = float(optim.get("lr", 1e-3)), float(optim.get("min_lr", 1e-5))
    steps, warm = int(optim.get("steps", 10000)), int(optim.get("warmup", 200))
    if step < warm:
        return lr * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, steps - warm))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t))


def make_optimizer(model: torch.nn.Module, optim: dict) -> torch.optim.Optimizer:
    """Adam over the model's parameters. ``optim.lr_mult`` ({submodule name: factor}) gives those
    submodules' parameters their own group at ``factor`` x the scheduled learning rate (e.g. a
    new classifier head on a fine-tuned denoiser: ``{classifier: 10}``). Frozen parameters
    (``requires_grad`` False) are left out."""
    mult = dict(optim.get("lr_mult") or {})
    groups = []
    taken = {id(p) for p in model.parameters() if not p.requires_grad}  # frozen (recipe ``freeze``)
    for name, f in mult.items():
        ps = list(model.get_submodule(name).parameters())
        taken |= {id(p) for p in ps}
        groups.append({"params": ps, "lr_mult": float(f)})
    rest = [p for p in model.parameters() if id(p) not in taken]
    return torch.optim.Adam([{"params": rest, "lr_mult": 1.0}, *groups], lr=float(optim.get("lr", 1e-3)))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of a vs b, both in [0, 1] (a clipped first)."""
    mse = torch.mean((a.clamp(0, 1) - b) ** 2).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def validate(model: torch.nn.Module, pairs) -> dict[str, float]:
    """Mean PSNR (dB, of the image output) and accuracy (of the logits, when labelled) over
    validation batches ``(x, y, post, labels)`` (``y`` None: accuracy only). Keys: "psnr" and/or "acc"."""
    model.eval()
    ps, hits, n = [], 0, 0
    for x, y, post, labels in pairs:
        img, logits = split_output(model(x), labels is not None)
        if img is not None and y is not None:
            ps.append(psnr(post(img), y))
        if logits is not None:
            hits += int((logits.argmax(1) == labels).sum())
            n += len(labels)
    model.train()
    out = {}
    if ps:
        out["psnr"] = float(np.mean(ps))
    if n:
        out["acc"] = hits / n
    return out


def _freeze(module: torch.nn.Module) -> None:
    """Keep ``module`` exactly as loaded: no gradients, and always in eval mode, so that batch-norm
    running statistics do not drift with the batches of whatever is trained around it (a frozen
    DC-NAS encoder under a new classifier branch would otherwise change its denoiser's output)."""
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    module.train = types.MethodType(lambda self, mode=True: torch.nn.Module.train(self, False), module)


def bf16_is_fast() -> bool:
    """True when this CPU has native bf16 (AVX512-BF16 or AMX: :func:`edgeden.core.precision.native_bf16`).

    Without it bf16 autocast is emulated and measured 10x *slower* than fp32 for UNet-M training
    (AVX2-only AMD EPYC), so recipes' ``bf16: true`` means "use bf16 where it helps".
    """
    from edgeden.core.precision import native_bf16

    return native_bf16()


def train(recipe: Recipe, out_root: str | Path = "runs", steps: int | None = None, resume: bool = False,
          progress: Callable[[int, int, dict], None] | None = None) -> Path:
    """Run ``recipe`` for ``steps`` (default: the recipe's), resuming from ``state.safetensors`` if asked.

    Returns the run folder. Deterministic given the recipe's seed (and the resume point).
    """
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    out = Path(out_root) / recipe.name
    if not resume and any((out / f).exists() for f in (CK.STATE_FILE, "log.jsonl", "best.safetensors")):
        raise ValueError(f"{out}: already holds a run of {recipe.name!r}; --resume continues it, or choose another "
                         f"--out (nothing there is replaced)")
    out.mkdir(parents=True, exist_ok=True)
    total = int(steps or recipe.optim.get("steps", 10000))
    gen = torch.Generator().manual_seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    model = build_model(recipe).to(memory_format=torch.channels_last)
    # Zero-initialised output convs make a residual denoiser start as the exact identity (the
    # noisy input), so training improves on it from step 1 instead of first unlearning a
    # random output (measured: without it, raw models stayed below the identity for 300 steps).
    mods = dict(model.named_modules())
    for name in recipe.zero_init:
        if name not in mods:
            raise ValueError(f"zero_init: {recipe.arch} has no module {name!r}")
        with torch.no_grad():
            for p in mods[name].parameters(recurse=False):
                p.zero_()
    if recipe.init and not (resume and (out / CK.STATE_FILE).exists()):  # fine-tune from given weights
        target = model.get_submodule(recipe.init_into) if recipe.init_into else model
        state = load_init(recipe.init, recipe.source)
        if recipe.init_widen:  # a wider net that starts as the exact function of the narrower one
            if not hasattr(target, "load_narrower"):
                raise ValueError(f"init_widen: {recipe.arch} cannot embed a narrower network")
            target.load_narrower(state)
        elif recipe.init_missing:  # new modules (e.g. a classifier branch) keep their fresh weights
            res = target.load_state_dict(state, strict=False)
            allowed = tuple(m.rstrip(".") + "." for m in recipe.init_missing)
            stray = [k for k in res.missing_keys if not k.startswith(allowed)]
            if stray or res.unexpected_keys:
                raise ValueError(f"init {recipe.init}: does not fit {recipe.arch} beyond init_missing "
                                 f"{recipe.init_missing}: missing {stray[:5]}, unexpected {res.unexpected_keys[:5]}")
        else:
            target.load_state_dict(state)
    for name in recipe.freeze:  # trained no further (e.g. a shipped denoiser under a new classifier branch)
        _freeze(model.get_submodule(name))
    from edgeden.training import stages as S

    program = S.Program(recipe.stages or [{"steps": total}], total)
    plan = S.esl_plan_for(model) if recipe.stages else None

    def op_gen(index: int) -> torch.Generator:  # new-layer weights, apart from the data stream
        return torch.Generator().manual_seed(recipe.seed * 1000 + index)

    step, best = 0, -1.0
    ckpt = out / CK.STATE_FILE
    if resume and not ckpt.exists() and (out / "last.pt").exists():
        raise ValueError(f"{out / 'last.pt'}: a pickle checkpoint of an older edgeden; it is not loaded "
                         f"(unpickling can run code). Start the run again, or from its weights with `init`")
    st = CK.read_meta(ckpt) if resume and ckpt.exists() else None
    if st is not None and st.get("program"):  # resuming: the stages so far rebuild the architecture
        program = S.Program(recipe.stages, total, st["program"])
    if recipe.stages:  # ops of the stages done so far (the first stage's op on a fresh run)
        for i in range(program.index + 1):
            model = S.apply_op(model, recipe.stages[i], plan, op_gen(i))
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, recipe.optim)
    teacher = None
    if recipe.teacher:
        from edgeden.training.distill import Teacher

        teacher = Teacher(recipe.teacher, **recipe.spec.arch_kwargs(), source=recipe.source)
    distill_w = {k: float(recipe.loss[k]) for k in ("kd", "fm", "fm_style") if recipe.loss.get(k)}
    if distill_w and teacher is None:
        raise ValueError(f"recipe {recipe.name}: loss {', '.join(distill_w)} needs a teacher")
    if st is not None:
        st = CK.load_state(ckpt, model, opt, gen)
        step, best = int(st["step"]), float(st.get("best", -1.0))
    src = BatchSource(recipe, gen)
    val_levels = recipe.noise.get("val_levels", [25] if recipe.noise.get("kind", "awgn") == "awgn" else [4e-3])
    val_sets = {lv: src.validation_set(lv) for lv in val_levels}
    aux_val = src.aux_validation_set() if src.aux is not None else None
    log = open(out / "log.jsonl", "a")
    use_bf16 = bool(recipe.bf16) and bf16_is_fast()
    log.write(json.dumps({"event": "start", "step": step, "bf16": use_bf16,
                          "cpu": torch.backends.cpu.get_cpu_capability(),
                          "threads": torch.get_num_threads()}) + "\n")
    (out / "recipe.json").write_text(json.dumps(recipe.__dict__, indent=2, default=str))
    clip = float(recipe.optim.get("clip", 0.5))
    image_loss = any(k not in ("ce", "oe", "stage1", "stage2") for k in recipe.loss)
    # a classifier on a frozen denoiser: only its logits are trained, so skip the decoder
    logits_only = not image_loss and recipe.data.get("kind") == "labelled" and hasattr(model, "classify")
    t0, seen, cpu0 = time.time(), 0, time.process_time()
    run_loss = None

    def save(tag: str) -> None:
        sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(sd, str(out / f"{tag}.safetensors"))

    def checkpoint() -> None:
        CK.save_state(ckpt, model, opt, gen, step, best, program.state() if recipe.stages else None)
        save("last")

    while step < total:
        if program.should_advance(step):
            stage = program.advance(step)
            model = S.apply_op(model, stage, plan, op_gen(program.index)).to(memory_format=torch.channels_last)
            opt = make_optimizer(model, recipe.optim)
            best = -1.0  # "best" means best of the final architecture: an earlier stage's does not load
            (out / "best.safetensors").unlink(missing_ok=True)
            log.write(json.dumps({"event": "stage", "step": step, "index": program.index, "op": stage.get("op"),
                                  "params": sum(p.numel() for p in model.parameters())}) + "\n")
            log.flush()
        x, y, post, labels = src.next()
        offset, sched = program.lr_opts(recipe.optim) if recipe.stages else (0, {**recipe.optim, "steps": total})
        for g in opt.param_groups:
            g["lr"] = lr_at(step - offset, sched) * g.get("lr_mult", 1.0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            xc = x.contiguous(memory_format=torch.channels_last)
            pred = model.classify(xc) if logits_only else model(xc)
        loss = recipe_loss(recipe, pred, y, post, labels)
        if src.aux is not None:  # joint training: the classifier's batch of labelled images
            xa, la = src.next_aux()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                logits = split_output(model(xa.contiguous(memory_format=torch.channels_last)), True)[1]
            loss = loss + float(recipe.loss.get("ce", 0.1)) * torch.nn.functional.cross_entropy(logits.float(), la)
        if teacher is not None:
            loss = loss + teacher.losses(primary_output(pred).float(), x, y, post, distill_w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip)
        opt.step()
        step += 1
        seen += x.shape[0]
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        program.observe(loss.item())
        info = {"step": step, "loss": run_loss, "lr": opt.param_groups[0]["lr"],
                "s_per_step": (time.time() - t0) / max(1, seen / x.shape[0])}
        if step % recipe.checkpoint_every == 0 or step == total:
            checkpoint()
        if step % recipe.val_every == 0 or step == total:
            vals = {}
            for lv, ps in val_sets.items():
                for k, v in validate(model, ps).items():
                    vals[f"val_{k}@{lv}"] = v
            if aux_val is not None:
                vals["val_acc@labels"] = validate(model, aux_val)["acc"]
            # model selection: mean PSNR, or mean accuracy (x100) when there is no image output or
            # the image is not trained (a classifier on a frozen denoiser: loss ce only)
            sel = [v for k, v in vals.items() if k.startswith("val_psnr")] if image_loss else []
            sel = sel or [100 * v for k, v in vals.items() if k.startswith("val_acc")]
            mean_v = float(np.mean(sel))
            info.update(vals)
            if mean_v > best:
                best = mean_v
                save("best")
                checkpoint()
            info["cpu_hours_this_run"] = (time.process_time() - cpu0) / 3600
            info["wall_hours_this_run"] = (time.time() - t0) / 3600
            log.write(json.dumps(info) + "\n")
            log.flush()
        elif step % 50 == 0:
            log.write(json.dumps(info) + "\n")
            log.flush()
        if progress:
            progress(step, total, info)
    log.close()
    if recipe.stages:  # the architecture the program ended with, for export
        final = S.describe(model, recipe.arch, recipe.arch_args)
        (out / "arch.json").write_text(json.dumps(final) + "\n")
    return out
