"""DC-NAS search (``edgeden search``): a latency-targeted architecture search on this machine,
after papers/000 Sec. 4 (TF-NAS as Markhorst et al. modified it).

What runs, in order:

1. The latency lookup table of the search space at the stated image size on the chosen device
   (:func:`edgeden.training.latency.build_lut`; or a given table of the same space and size).
2. The supernet: the DC-NAS skeleton (:class:`edgeden.models.dcnas.DCNAS`) with, at every
   searchable position, all candidate blocks (:class:`MixedOp`) and one row of architecture
   logits ``log_alpha`` (kept a log-probability, re-normalised after each update, as TF-NAS).
   No beta parameters (the paper removes TF-NAS's depth search; every block is used).
3. Alternating updates (TF-NAS's bi-sampling): each step trains the weights on two sampled
   *discrete* networks, one drawn from the architecture distribution (Gumbel-max) and one
   uniformly at random, so the weights are trained as the discrete networks will run; every
   ``arch_every``-th step after a weights-only warm-up (10 of TF-NAS's 90 epochs) updates the
   architecture on a separate batch with the Gumbel-softmax relaxation (temperature 5, x0.96
   per "epoch" of the 80 that follow), loss = task loss + lambda * |E[latency] / target - 1|,
   E[latency] = the LUT's fixed parts + sum over positions of the Gumbel-softmax weights times
   the candidates' entries (lambda 0.1, as TF-NAS). Weights: Adam lr 1e-3, cosine (``w_opt:
   "sgd"``: the paper's SGD, momentum 0.9, lr 0.02, which barely moved the zero-initialised
   residual head in short searches; docs/search.md); architecture: Adam lr 0.01, betas
   (0.5, 0.999), wd 5e-4.
   Task losses: ``denoise`` 0.8 Charbonnier + 0.2 (1 - SSIM) (paper Eq. 2) on AWGN crops of
   the training photos; ``joint`` trains the weights with 0.1 CE + 0.9 of that (Eq. 3) on the
   labelled set and updates the architecture with the cross-entropy only, on noisy images
   (paper Table 4: the best of the search losses).
4. The architecture: the most likely network (sum of the chosen blocks' log-probabilities)
   whose predicted latency is within ``fit_tol`` below the target, solved exactly on the table
   (:func:`fit_to_target`). TF-NAS instead scales the chosen blocks' middle channels until the
   table meets the target; with the paper's fixed candidate blocks, changing blocks is the
   equivalent that keeps every network in the searched space.
5. Candidates (the arg-max architecture at a few points of the search, the fitted ones at
   0.8 / 1 / 1.25 x the target, the fastest and slowest networks of the space): measured
   latency (whole network, same protocol as the table), predicted latency and a quick
   PSNR / SSIM (and accuracy for ``joint``) with the supernet's shared weights on held-out
   data; Pareto-optimal rows marked. The median of measured / predicted over the candidates
   re-scales the table to the machine's speed *now* (a shared CPU's load changes) and, when it
   moved more than ``fit_tol / 2``, step 4 is redone with it and the new choice measured.
   With a reference network (``target_like``: "as fast as UNet-M here") the target is that
   network's latency, measured right after the table and again in the same interleaved rounds
   as the candidates; the final fit and the reported error use the second, so a machine whose
   speed drifted between the two (a shared CPU did by 30% within an hour, docs/search.md) moves
   the target with the candidates instead of away from them.

Writes into the output folder: ``lut.json``, ``search_log.jsonl``, ``pareto.json``,
``pareto.md`` and ``recipe.yaml`` (an ordinary training recipe: ``arch: dcnas`` with the chosen
``arch_args``; ``edgeden train recipe.yaml`` trains it from scratch).
"""
from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from edgeden.models import create_arch
from edgeden.models.dcnas import DCNAS, OP_SETS, MBBlock, SearchSpace, parse_op
from edgeden.training import latency as LAT
from edgeden.training.batches import BatchSource
from edgeden.training.losses import ssim
from edgeden.training.recipe import Recipe, load_recipe
from edgeden.training.trainer import psnr, recipe_loss, split_output

__all__ = ["MixedOp", "SearchConfig", "SuperNet", "fit_to_target", "pareto_front", "run_search"]

TASKS = ("denoise", "joint")
#: The recipe each task's search and found architecture start from (data, noise, loss, schedule).
BASE_RECIPES = {"denoise": "unet-m-srgb", "joint": "dcnet-cifar"}


@dataclass
class SearchConfig:
    """Everything ``edgeden search`` takes; defaults as the module docstring says."""

    target_ms: float  # ignored (may be 0) with target_like
    size: tuple[int, int] = (256, 256)
    per_mp: bool = False  # target_ms is per megapixel (of ``size``'s image, scaled)
    task: str = "denoise"
    ops: int = 4  # operator set of the paper's Suppl. B: 4, 6 or 8
    budget_hours: float = 1.0
    steps: int | None = None  # None: as many as the budget allows
    device: str = "cpu"
    threads: int | None = None
    space: dict[str, Any] = field(default_factory=dict)  # SearchSpace overrides (widths, depths, ...)
    data: dict[str, Any] = field(default_factory=dict)  # merged into the base recipe's data
    patch: int = 64
    batch: int = 8
    val_images: int = 4  # held-out photos (denoise) / hundreds of labelled images (joint: x100)
    val_crop: int = 128
    seed: int = 0
    lut_warmup: int = 10
    lut_repeats: int = 30
    lut_calibrate: int = 3
    lut: str | None = None  # reuse this table (same space, size, channels)
    w_opt: str = "adam"  # "adam" (lr 1e-3) or "sgd" (the paper's: momentum 0.9, lr 0.02)
    w_lr: float | None = None  # None: 1e-3 for adam, 0.02 for sgd
    a_lr: float = 0.01
    lambda_lat: float = 0.1
    t0: float = 5.0
    t_decay: float = 0.96
    epochs: int = 90  # TF-NAS's schedule, mapped onto the steps: warm-up and temperature decay
    warm_epochs: int = 10
    arch_every: int = 2
    fit_tol: float = 0.03
    snapshots: int = 3
    log_every: int = 10
    target_like: str | None = None  # the target is this network's latency here: a preset or "ARCH[:k=v,...]"
    auto_widths: bool = False  # scale the space's widths until the target lies inside it (:func:`auto_widths`)

    def target_image_ms(self) -> float:
        """The target per image of ``size`` (ms)."""
        return self.target_ms * (self.size[0] * self.size[1] / 1e6) if self.per_mp else self.target_ms


class MixedOp(nn.Module):
    """All candidate blocks of one position. ``choice`` (int) runs one of them (a discrete
    network); ``weights`` (K,) runs their weighted sum (the relaxation for architecture steps)."""

    def __init__(self, cin: int, cout: int, stride: int, ops: list[str]):
        super().__init__()
        self.ops = list(ops)
        self.cands = nn.ModuleList([MBBlock(cin, cout, op, stride) for op in ops])
        self.choice: int | None = 0
        self.weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.choice is not None:
            return self.cands[self.choice](x)
        return sum(w * op(x) for w, op in zip(self.weights, self.cands))


class SuperNet(nn.Module):
    """The DC-NAS skeleton of ``space`` with a :class:`MixedOp` at every searchable position.

    ``log_alpha`` (P, K): architecture logits (log-probabilities), P positions x K ops.
    forward(x) as :class:`DCNAS` (image, or (image, logits) with a classifier).
    """

    def __init__(self, space: SearchSpace, in_channels: int, out_channels: int):
        super().__init__()
        self.space = space
        net = create_arch("dcnas", in_channels, out_channels, **space.arch_args([space.ops[0]] * space.n_positions()))
        assert isinstance(net, DCNAS)
        self.mixed: list[MixedOp] = []
        groups = [net.enc] + ([net.cls_enc] if space.num_classes > 0 else [])
        for group in groups:
            for stage in group:
                for j, blk in enumerate(stage):
                    cin, cout = blk.body[0].in_channels, blk.body[-2].out_channels
                    m = MixedOp(cin, cout, blk.stride, space.ops)
                    stage[j] = m
                    self.mixed.append(m)
        with torch.no_grad():  # the residual denoiser starts as the identity (zero_init: head)
            net.head.weight.zero_()
            net.head.bias.zero_()
        self.net = net
        self.log_alpha = nn.Parameter(F.log_softmax(torch.zeros(len(self.mixed), len(space.ops)), -1))

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def set_choices(self, idx: list[int]) -> None:
        for m, i in zip(self.mixed, idx):
            m.choice, m.weights = int(i), None

    def set_weights(self, w: torch.Tensor) -> None:
        for m, row in zip(self.mixed, w):
            m.choice, m.weights = None, row

    def argmax(self) -> list[int]:
        return [int(i) for i in self.log_alpha.detach().argmax(-1)]

    def forward(self, x: torch.Tensor):
        return self.net(x)


def _gumbel_softmax(logits: torch.Tensor, t: float, gen: torch.Generator) -> torch.Tensor:
    u = torch.rand(logits.shape, generator=gen).clamp_(1e-9, 1 - 1e-9).to(logits.device)
    return F.softmax((logits - torch.log(-torch.log(u))) / t, dim=-1)


def _gumbel_max(logits: torch.Tensor, gen: torch.Generator) -> list[int]:
    """One sample per row from softmax(logits) (the Gumbel-max trick; TF-NAS's 'gumbel' mode)."""
    u = torch.rand(logits.shape, generator=gen).clamp_(1e-9, 1 - 1e-9).to(logits.device)
    return [int(i) for i in (logits.detach() - torch.log(-torch.log(u))).argmax(-1)]


def fit_to_target(idx: list[int], logp: list[list[float]], lats: list[list[float]], fixed: float, scale: float,
                  target: float, tol: float = 0.05, bins: int = 1000) -> tuple[list[int], list[dict]]:
    """The most probable network whose predicted latency is within [target * (1 - tol), target]
    (module docstring, step 4); when the space has none there, the slowest one under the
    target, and when every network is slower, the fastest.

    idx: the arg-max op index per position (only for the swaps reported); logp / lats: (P, K)
    log-probabilities and LUT entries (ms); predicted = scale * (fixed + sum of the chosen
    entries). Solved exactly up to ``bins`` latency steps (a multiple-choice knapsack by
    dynamic programming). Returns (op index per position, the swaps from ``idx``).
    """
    n_pos = len(lats)

    def pred(ch: list[int]) -> float:
        return scale * (fixed + sum(lats[p][k] for p, k in enumerate(ch)))

    fastest = [min(range(len(r)), key=r.__getitem__) for r in lats]
    budget = target / scale - fixed
    best: list[int] | None = None
    if budget > 0 and pred(fastest) <= target:
        step = budget / bins
        limit = bins + n_pos  # rounding slack; the exact test is below
        dp: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
        for p in range(n_pos):
            nxt: dict[int, tuple[float, list[int]]] = {}
            for b, (lp, ch) in dp.items():
                for k, lat in enumerate(lats[p]):
                    nb = b + round(lat / step)
                    if nb > limit:
                        continue
                    v = lp + logp[p][k]
                    if nb not in nxt or v > nxt[nb][0]:
                        nxt[nb] = (v, ch + [k])
            dp = nxt
        finals = [(pred(ch), lp, ch) for lp, ch in dp.values()]
        band = [f for f in finals if target * (1 - tol) <= f[0] <= target]
        under = [f for f in finals if f[0] <= target]
        if band:
            best = max(band, key=lambda f: (f[1], f[0]))[2]
        elif under:
            best = max(under, key=lambda f: (f[0], f[1]))[2]
    if best is None:
        best = fastest
    swaps = [{"position": p, "from": a, "to": b} for p, (a, b) in enumerate(zip(idx, best)) if a != b]
    return best, swaps


def speed_now(rows: list[dict], table_scale: float) -> tuple[float, float]:
    """The machine's speed now against the table's: ``(ratio, scale)``, ratio the median of the
    rows' ``measured_ms / predicted_ms`` (predictions at the table's scale) and scale =
    ``table_scale * ratio``, the calibration that makes the table predict today's figures."""
    ratio = sorted(r["measured_ms"] / r["predicted_ms"] for r in rows)[len(rows) // 2]
    return ratio, table_scale * ratio


def pareto_front(rows: list[dict], lat_key: str = "measured_ms", q_key: str = "psnr") -> list[bool]:
    """For each row, whether no other row is at least as fast and at least as good, and better
    in one (lower ``lat_key``, higher ``q_key``)."""
    out = []
    for r in rows:
        dom = any(o is not r and o[lat_key] <= r[lat_key] and o[q_key] >= r[q_key]
                  and (o[lat_key] < r[lat_key] or o[q_key] > r[q_key]) for o in rows)
        out.append(not dom)
    return out


def _base_recipe(cfg: SearchConfig) -> Recipe:
    base = load_recipe(BASE_RECIPES[cfg.task])
    data = {**base.data, **cfg.data}
    return Recipe(**{**{k: getattr(base, k) for k in Recipe.__dataclass_fields__ if k != "source"},
                     "data": data, "source": base.source})


def _search_recipe(base: Recipe, cfg: SearchConfig, space: SearchSpace) -> Recipe:
    r = copy.deepcopy(base)
    r.name, r.arch, r.arch_args = "dcnas-search", "dcnas", space.arch_args([space.ops[0]] * space.n_positions())
    r.data = {**r.data, "batch": cfg.batch}
    if r.data.get("kind") == "labelled":
        r.data["val_images"] = 100 * max(1, cfg.val_images)
    else:
        r.data.update(patch=cfg.patch, val_holdout=cfg.val_images)
    return r


def _task_space(cfg: SearchConfig, base: Recipe) -> SearchSpace:
    if cfg.ops not in OP_SETS:
        raise ValueError(f"--ops must be one of {sorted(OP_SETS)} (the paper's Suppl. B sets), got {cfg.ops}")
    kw = {"ops": list(OP_SETS[cfg.ops]), **cfg.space}
    if cfg.task == "joint":
        kw.setdefault("num_classes", int(base.arch_args.get("num_classes", 10)))
    else:
        kw["num_classes"] = 0
    return SearchSpace(**kw)


def _to(batch, dev: torch.device):
    x, y, post, labels = batch
    return (x.to(dev), None if y is None else y.to(dev), post, None if labels is None else labels.to(dev))


def _crop(pairs, size: int):
    out = []
    for x, y, post, labels in pairs:
        h, w = x.shape[-2:]
        s = min(size, h, w)
        t, l = (h - s) // 2, (w - s) // 2
        out.append((x[..., t:t + s, l:l + s], None if y is None else y[..., t:t + s, l:l + s], post, labels))
    return out


@torch.no_grad()
def _quick_eval(model: SuperNet, pairs, joint: bool) -> dict[str, float]:
    model.eval()
    ps, ss, hits, n = [], [], 0, 0
    for x, y, post, labels in pairs:
        img, logits = split_output(model(x), joint and labels is not None)
        if img is not None and y is not None:
            im = post(img).clamp(0, 1)
            ps.append(psnr(im, y))
            ss.append(float(ssim(im, y)))
        if logits is not None and labels is not None:
            hits += int((logits.argmax(1) == labels).sum())
            n += len(labels)
    model.train()
    out = {"psnr": round(sum(ps) / len(ps), 4) if ps else None, "ssim": round(sum(ss) / len(ss), 4) if ss else None}
    if joint:
        out["acc"] = round(hits / n, 4) if n else None
    return out


def _recipe_doc(base: Recipe, cfg: SearchConfig, arch_args: dict, name: str, notes: str) -> dict[str, Any]:
    defaults = Recipe(name="x", arch="x")
    doc: dict[str, Any] = {"name": name, "arch": "dcnas", "arch_args": arch_args}
    for k in Recipe.__dataclass_fields__:
        if k in ("name", "arch", "arch_args", "source", "notes", "zero_init", "init", "init_into", "freeze",
                 "init_widen", "stages", "teacher"):
            continue
        v = getattr(base, k)
        if v != getattr(defaults, k) or k in ("domain", "data", "noise", "loss", "optim", "seed"):
            doc[k] = v
    doc["zero_init"] = ["head"]  # the residual denoiser starts as the identity (docs/training.md)
    doc["notes"] = notes
    return doc


def run_search(cfg: SearchConfig, out: str | Path, progress: Callable[[str, dict], None] | None = None) -> dict[str, Any]:
    """Run the search of ``cfg``, writing into ``out`` (module docstring). Returns a summary:
    {"recipe": path, "chosen": pareto row, "target_ms": per image, "lut_range_ms": (lo, hi),
    "steps": done, "stopped": "steps" | "budget", "files": {...}}."""
    if cfg.task not in TASKS:
        raise ValueError(f"--task must be one of {', '.join(TASKS)}, got {cfg.task!r}")
    if cfg.target_like is None and not (cfg.target_ms > 0 and math.isfinite(cfg.target_ms)):
        raise ValueError("--target-ms must be a positive number")
    ref = LAT.parse_arch_spec(cfg.target_like) if cfg.target_like else None  # ValueError before any work
    t_start = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with open(out / "search_log.jsonl", "w") as logf:
        return _search(cfg, out, progress or (lambda what, info: None), logf, t_start, ref)


def scaled_space(space: SearchSpace, factor: float) -> SearchSpace:
    """``space`` with every width (encoder and classifier) times ``factor``, rounded to a
    multiple of 4 (at least 4): the same shape, a different speed."""
    def r(w: int) -> int:
        return max(4, int(round(w * factor / 4)) * 4)

    return replace(space, widths=[r(w) for w in space.widths], cls_widths=[r(w) for w in space.cls_widths])


def auto_widths(space: SearchSpace, target_ms: float, in_channels: int, out_channels: int, size: tuple[int, int],
                device: str = "cpu", seed: int = 0, ref: tuple[str, dict] | None = None, warmup: int = 10,
                repeats: int = 15, probes: int = 6) -> tuple[SearchSpace, list[dict[str, Any]]]:
    """Scale ``space``'s widths (:func:`scaled_space`) until the target latency lies well inside
    the range of the space, i.e. between its fastest network (every block the cheapest
    candidate) and its slowest (every block the dearest), near the middle on a log scale.

    Each probe times the two extreme networks whole (``warmup`` + median of ``repeats``, batch 1,
    an image of ``size``), with the reference network ``ref`` (``target_like``) in the same
    rounds when given, so that the target moves with the machine's speed; the next factor
    assumes latency grows with the square of the width. At most ``probes`` probes; the one whose
    range's log-middle lay nearest the target wins. Returns (the space, the probes: factor, widths,
    fastest / slowest / target ms and the target's position, 0 = fastest, 1 = slowest)."""
    def cost(op: str) -> tuple[int, int, bool]:  # expansion first, then kernel, then SE
        k, e, se = parse_op(op)
        return e, k, se

    by_cost = sorted(space.ops, key=cost)
    n = space.n_positions()
    f, rows, best = 1.0, [], None
    for _ in range(max(1, probes)):
        sp = scaled_space(space, f)
        if rows and sp.widths == rows[-1]["widths"]:
            break
        ms = LAT.measure_archs_ms([sp.arch_args([by_cost[0]] * n), sp.arch_args([by_cost[-1]] * n)], in_channels,
                                  size, out_channels, device, warmup, repeats, seed, others=[ref] if ref else [])
        lo, hi = ms[0], max(ms[1], ms[0] * 1.001)
        t = ms[2] if ref else target_ms
        pos = math.log(t / lo) / math.log(hi / lo)
        rows.append({"factor": round(f, 4), "widths": sp.widths, "cls_widths": sp.cls_widths, "fastest_ms": round(lo, 3),
                     "slowest_ms": round(hi, 3), "target_ms": round(t, 3), "position": round(pos, 3)})
        off = t / math.sqrt(lo * hi)  # the target against the range's middle, log scale
        if best is None or abs(math.log(off)) < best[1]:
            best = (sp, abs(math.log(off)))
        if 0.25 <= pos <= 0.75:
            break
        f = min(16.0, max(1 / 16, f * off ** 0.5))
    return best[0], rows


def _search(cfg: SearchConfig, out: Path, note: Callable[[str, dict], None], logf, t_start: float,
            ref: tuple[str, dict] | None = None) -> dict[str, Any]:
    budget_s = cfg.budget_hours * 3600.0
    dev = torch.device(cfg.device)

    def log(event: str, **kw) -> None:
        kw = {"event": event, "t_s": round(time.time() - t_start, 2), **kw}
        logf.write(json.dumps(kw, default=str) + "\n")
        logf.flush()

    base = _base_recipe(cfg)
    space = _task_space(cfg, base)
    in_ch, out_ch = base.spec.in_channels, base.spec.image_channels
    target = cfg.target_image_ms() if ref is None else 0.0  # a reference is measured with the table
    log("start", config=asdict(cfg), target_image_ms=target, space=space.to_dict(), in_channels=in_ch,
        base_recipe=BASE_RECIPES[cfg.task])

    if cfg.auto_widths and not cfg.lut:  # 0. a space whose range holds the target
        note("widths", {})
        space, probes = auto_widths(space, target, in_ch, out_ch, cfg.size, cfg.device, cfg.seed, ref)
        log("widths", widths=space.widths, cls_widths=space.cls_widths, probes=probes, machine=LAT.machine(cfg.device))
        note("widths_done", {"widths": space.widths, "probes": probes})

    # 1. latency table
    note("lut", {})
    if cfg.lut:
        lut = LAT.load_lut(cfg.lut)
        if cfg.auto_widths:  # the table's own widths
            space = replace(space, widths=lut["space"]["widths"], cls_widths=lut["space"]["cls_widths"])
        want = {"space": space.to_dict(), "size": list(cfg.size), "in_channels": in_ch}
        got = {"space": lut["space"], "size": lut["size"], "in_channels": lut["in_channels"]}
        if want != got:
            raise ValueError(f"{cfg.lut}: measured for another space, size or input ({got}), need {want}")
    else:
        lut = LAT.build_lut(space, cfg.size, in_ch, out_ch, cfg.device, cfg.lut_warmup, cfg.lut_repeats,
                            cfg.lut_calibrate, cfg.seed)
    LAT.save_lut(lut, out / "lut.json")
    others = [ref] if ref else []
    if ref:
        pr = lut["protocol"]
        target = LAT.measure_archs_ms([], in_ch, cfg.size, out_ch, cfg.device, pr["warmup"], pr["repeats"],
                                      cfg.seed, others=others)[0]
        log("target", like=cfg.target_like, arch=ref[0], arch_args=ref[1], ms=target)
    lo, hi = LAT.lut_range(lut, space)
    lats = LAT.position_latencies(lut, space)
    fixed, k_scale = LAT.fixed_ms(lut), LAT.scale(lut)
    log("lut", entries=len(lut["entries"]), fixed=lut["fixed"], scale=k_scale, range_ms=[lo, hi],
        machine=lut["machine"], reachable=lo <= target <= hi)
    note("lut_done", {"range_ms": (lo, hi), "target_ms": target})

    # 2. supernet, data, optimisers
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    gen_a = torch.Generator().manual_seed(cfg.seed + 1)
    gen_g = torch.Generator().manual_seed(cfg.seed + 2)
    rnd = random.Random(cfg.seed)
    srec = _search_recipe(base, cfg, space)
    model = SuperNet(space, in_ch, out_ch).to(dev)
    model.train()
    src = BatchSource(srec, gen)
    src_a = copy.copy(src)  # same images, its own random stream: the architecture's batches
    src_a.gen = gen_a
    joint = cfg.task == "joint"
    lv = srec.noise.get("val_levels", [25])[0] if not joint else 25
    val = [_to(b, dev) for b in _crop(src.validation_set(lv), cfg.val_crop)]
    lat_t = torch.tensor(lats, dtype=torch.float32, device=dev)
    if cfg.w_opt == "sgd":
        w_lr = cfg.w_lr or 0.02
        opt_w = torch.optim.SGD(model.weight_parameters(), lr=w_lr, momentum=0.9, weight_decay=1e-5)
    elif cfg.w_opt == "adam":
        w_lr = cfg.w_lr or 1e-3
        opt_w = torch.optim.Adam(model.weight_parameters(), lr=w_lr)
    else:
        raise ValueError(f"w_opt must be adam or sgd, got {cfg.w_opt!r}")
    opt_a = torch.optim.Adam([model.log_alpha], lr=cfg.a_lr, betas=(0.5, 0.999), weight_decay=5e-4)

    def weight_step(step: int, total: int) -> float:
        for g in opt_w.param_groups:
            g["lr"] = 0.5 * w_lr * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))
        model.log_alpha.requires_grad_(False)
        x, y, post, labels = _to(src.next(), dev)
        loss = torch.zeros((), device=dev)
        for mode in ("gumbel", "random"):  # TF-NAS bi-sampling: two discrete networks per step
            idx = _gumbel_max(model.log_alpha, gen_g) if mode == "gumbel" else [
                rnd.randrange(len(space.ops)) for _ in model.mixed]
            model.set_choices(idx)
            loss = loss + recipe_loss(srec, model(x), y, post, labels)
        opt_w.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.weight_parameters(), 5.0)
        opt_w.step()
        model.log_alpha.requires_grad_(True)
        return float(loss.detach())

    def arch_loss(t: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for p in model.weight_parameters():
            p.requires_grad_(False)
        x, y, post, labels = _to(src_a.next(), dev)
        w = _gumbel_softmax(model.log_alpha, t, gen_g)
        model.set_weights(w)
        out_ = model(x)
        if joint:
            task = F.cross_entropy(split_output(out_, True)[1].float(), labels)
        else:
            task = recipe_loss(srec, out_, y, post, labels)
        exp_lat = k_scale * (fixed + (w * lat_t).sum())
        lat_loss = cfg.lambda_lat * torch.abs(exp_lat / target - 1.0)
        for p in model.weight_parameters():
            p.requires_grad_(True)
        return task, lat_loss, exp_lat

    def arch_step(t: float) -> dict:
        task, lat_loss, exp_lat = arch_loss(t)
        opt_a.zero_grad(set_to_none=True)
        (task + lat_loss).backward()
        nn.utils.clip_grad_norm_([model.log_alpha], 5.0)
        opt_a.step()
        with torch.no_grad():
            model.log_alpha.copy_(F.log_softmax(model.log_alpha, -1))
        return {"loss_a": task.item(), "loss_lat": lat_loss.item(), "expected_ms": exp_lat.item()}

    def predicted(idx: list[int]) -> float:
        return k_scale * (fixed + sum(lats[p][k] for p, k in enumerate(idx)))

    # 3. the search loop
    warm_frac = cfg.warm_epochs / cfg.epochs
    steps_done, stopped = 0, "steps"
    total = cfg.steps
    eval_reserve = 0.1 * budget_s
    if total is None:  # as many steps as the budget allows, timed on two real steps and one arch pass
        t0 = time.time()
        for _ in range(2):
            weight_step(steps_done, 1000)
            steps_done += 1
        s_w = (time.time() - t0) / 2
        t0 = time.time()
        task, lat_loss, _ = arch_loss(cfg.t0)
        (task + lat_loss).backward()
        model.log_alpha.grad = None
        opt_w.zero_grad(set_to_none=True)
        s_a = time.time() - t0
        per = s_w + (1 - warm_frac) * s_a / cfg.arch_every
        avail = budget_s - (time.time() - t_start) - eval_reserve
        total = max(steps_done + 2 * cfg.arch_every, int(avail / per))
        log("schedule", s_weight_step=s_w, s_arch_step=s_a, steps=total)
    warm = round(warm_frac * total)
    snaps = {warm + round((total - warm) * (i + 1) / (cfg.snapshots + 1)) for i in range(cfg.snapshots)}
    candidates: list[tuple[str, list[int]]] = []
    loss_w, info_a, t = float("nan"), {}, cfg.t0
    while steps_done < total:
        if time.time() - t_start > budget_s - eval_reserve:
            stopped = "budget"
            break
        loss_w = weight_step(steps_done, total)
        if steps_done >= warm and (steps_done - warm) % cfg.arch_every == 0:
            q = (steps_done - warm) / max(1, total - warm)
            t = cfg.t0 * cfg.t_decay ** (q * (cfg.epochs - cfg.warm_epochs))
            info_a = arch_step(t)
        steps_done += 1
        if steps_done in snaps:
            candidates.append((f"argmax@{steps_done}", model.argmax()))
        if steps_done % cfg.log_every == 0 or steps_done == total:
            am = model.argmax()
            probs = model.log_alpha.detach().exp()
            ent = float(-(probs * model.log_alpha.detach()).sum(-1).mean())
            info = {"step": steps_done, "of": total, "phase": "warm-up" if steps_done <= warm else "search",
                    "loss_w": loss_w, "T": t, **info_a, "argmax": [space.ops[i] for i in am],
                    "argmax_ms": predicted(am), "entropy": ent}
            log("step", **info)
            note("step", info)
    log("search_end", steps=steps_done, stopped=stopped,
        alpha=[[round(float(v), 4) for v in row] for row in model.log_alpha.detach().exp()])

    # 4. the architecture, fitted to the target
    logp = model.log_alpha.detach().cpu().tolist()
    final = model.argmax()
    candidates.append(("argmax", final))
    fitted = {}
    for f in (1.0, 0.8, 1.25):
        idx, swaps = fit_to_target(final, logp, lats, fixed, k_scale, f * target, cfg.fit_tol)
        fitted[f] = idx
        log("fit", factor=f, target_ms=f * target, before_ms=predicted(final), after_ms=predicted(idx),
            swaps=[{**s, "from": space.ops[s["from"]], "to": space.ops[s["to"]]} for s in swaps])
        candidates.append(("chosen" if f == 1.0 else f"fit x{f}", idx))
    candidates.append(("fastest", [min(range(len(r)), key=r.__getitem__) for r in lats]))
    candidates.append(("slowest", [max(range(len(r)), key=r.__getitem__) for r in lats]))
    seen: dict[tuple, dict] = {}
    rows: list[dict] = []
    for name, idx in candidates:
        key = tuple(idx)
        if key in seen:
            seen[key]["names"].append(name)
            continue
        row = {"names": [name], "choices": [space.ops[i] for i in idx], "predicted_ms": round(predicted(idx), 4)}
        seen[key] = row
        rows.append(row)

    # 5. candidates measured and evaluated
    note("pareto", {"candidates": len(rows)})
    mp = cfg.size[0] * cfg.size[1] / 1e6

    def measure_rows(todo: list[dict]) -> float | None:
        """Measure ``todo`` (and the reference network in the same rounds: its ms is returned)."""
        meas = LAT.measure_archs_ms([space.arch_args(r["choices"]) for r in todo], in_ch, cfg.size, out_ch,
                                    cfg.device, lut["protocol"]["warmup"], lut["protocol"]["repeats"], cfg.seed,
                                    others=others)
        ref_now = meas[len(todo)] if ref else None
        for r, m in zip(todo, meas):
            if ref_now is not None:
                r["reference_ms"] = round(ref_now, 4)
            model.set_choices([space.ops.index(o) for o in r["choices"]])
            r["measured_ms"] = round(m, 4)
            r["measured_ms_per_mp"] = round(m / mp, 3)
            r["error_pct"] = round(100.0 * (r["predicted_ms"] - m) / m, 2)
            r.update(_quick_eval(model, val, joint))
            r["log_prob"] = round(sum(logp[p][space.ops.index(o)] for p, o in enumerate(r["choices"])), 3)
            r["arch_args"] = space.arch_args(r["choices"])
        return ref_now

    ref_now = measure_rows(rows)
    target_now = target if ref_now is None else ref_now  # the reference, measured beside the candidates
    if ref:
        log("target_now", like=cfg.target_like, ms=ref_now, at_start_ms=target)
    # The machine's speed now, against the table's: a shared CPU's load (or a GPU's clocks) may
    # have changed since the table was measured. The blocks' relative costs are kept; the
    # overall factor is re-measured on the candidates and the fit redone with it (twice at most).
    now_scale = k_scale
    for n_pass in range(2):
        ratio, now_scale = speed_now(rows, k_scale)
        idx, _sw = fit_to_target(final, logp, lats, fixed, now_scale, target_now, cfg.fit_tol)
        log("recalibrate", table_scale=k_scale, ratio_now=ratio, scale_now=now_scale,
            refit=[space.ops[i] for i in idx], load_avg_1min=LAT.load_avg(),
            table_load_avg_1min=lut["machine"].get("load_avg_1min"))
        old = next(r for r in rows if "chosen" in r["names"])
        moved = abs(ratio - 1) > cfg.fit_tol / 2 or abs(target_now / target - 1) > cfg.fit_tol / 2
        if not moved or [space.ops[i] for i in idx] == old["choices"]:
            break
        was = "fit x1.0 (table scale)" if n_pass == 0 else f"fit x1.0 (re-scaled, pass {n_pass})"
        old["names"] = [n if n != "chosen" else was for n in old["names"]]
        same = next((r for r in rows if r["choices"] == [space.ops[i] for i in idx]), None)
        if same is not None:
            same["names"].append("chosen")
        else:
            new = {"names": ["chosen"], "choices": [space.ops[i] for i in idx], "predicted_ms": round(predicted(idx), 4)}
            rows.append(new)
            measure_rows([new])
    q_key = "acc" if joint and all(r.get("acc") is not None for r in rows) else "psnr"
    if all(r.get(q_key) is not None for r in rows):
        for r, front in zip(rows, pareto_front(rows, "measured_ms", q_key)):
            r["pareto"] = front
    chosen = next(r for r in rows if "chosen" in r["names"])
    chosen["target_ms"] = round(target, 4)
    if ref:
        chosen["target_like"] = cfg.target_like
    chosen["scale_now"] = round(now_scale, 4)
    chosen["predicted_now_ms"] = round(chosen["predicted_ms"] * now_scale / k_scale, 4)
    goal = chosen.get("reference_ms", target)  # with a reference: the one measured in the same rounds
    chosen["measured_vs_target_pct"] = round(100.0 * (chosen["measured_ms"] - goal) / goal, 2)
    (out / "pareto.json").write_text(json.dumps({"target_ms": target, "size": list(cfg.size), "task": cfg.task,
                                                 "quality_of": q_key, "machine": lut["machine"], "rows": rows},
                                                indent=1) + "\n")
    (out / "pareto.md").write_text(_pareto_md(rows, cfg, target, lut, steps_done, joint, now_scale))
    log("pareto", rows=[{k: v for k, v in r.items() if k != "arch_args"} for r in rows])

    # recipe of the chosen architecture
    tname = (f"like-{cfg.target_like.split(':')[0]}" if ref else
             f"{cfg.target_ms:g}ms{'-per-mp' if cfg.per_mp else ''}")
    name = f"dcnas-{cfg.task}-{tname}".replace("+", "")
    notes = (f"Found by `edgeden search` on {lut['machine']['cpu']} ({lut['machine']['threads']} threads, "
             f"{cfg.device}): target {target:.3g} ms per {cfg.size[0]}x{cfg.size[1]} image"
             + (f" (the latency of {cfg.target_like} here)" if ref else "") + ", predicted "
             f"{chosen['predicted_ms']:.3g} ms, measured {chosen['measured_ms']:.3g} ms; {steps_done} search steps.")
    doc = _recipe_doc(base, cfg, chosen["arch_args"], name, notes)
    (out / "recipe.yaml").write_text(
        f"# DC-NAS architecture searched by `edgeden search` (docs/search.md); train with\n"
        f"#   edgeden train {out / 'recipe.yaml'}\n" + yaml.safe_dump(doc, sort_keys=False))
    load_recipe(out / "recipe.yaml")  # it must load as written
    log("end", chosen={k: v for k, v in chosen.items() if k != "arch_args"}, recipe=str(out / "recipe.yaml"),
        wall_s=round(time.time() - t_start, 1))
    return {"recipe": str(out / "recipe.yaml"), "chosen": chosen, "target_ms": target, "target_now_ms": target_now,
            "lut_range_ms": (lo, hi),
            "steps": steps_done, "stopped": stopped, "rows": rows,
            "files": {k: str(out / k) for k in ("lut.json", "search_log.jsonl", "pareto.json", "pareto.md", "recipe.yaml")}}


def _pareto_md(rows: list[dict], cfg: SearchConfig, target: float, lut: dict, steps: int, joint: bool,
               now_scale: float) -> str:
    m = lut["machine"]
    lines = [f"# DC-NAS search: {cfg.task}, target {target:.4g} ms per {cfg.size[0]}x{cfg.size[1]} image", "",
             (f"Machine: {m['cpu']}, torch {m['torch']}, {m['threads']} threads, device {m['device']}. "
              f"Latency: batch 1, median of {lut['protocol']['repeats']} after {lut['protocol']['warmup']} warm-up "
              f"calls; predicted = the table's sum x its calibration {LAT.scale(lut):.3f} (re-measured on these "
              f"candidates: {now_scale:.3f}, used for the final fit). Quality: the supernet's shared weights after "
              f"{steps} search steps on held-out data (a ranking aid, not the trained model's figures)."),
             *([f"Target: the latency of `{cfg.target_like}` here, {target:.4g} ms measured after the table, "
                f"{rows[0]['reference_ms']:.4g} ms beside the candidates (the final fit's target)."]
               if cfg.target_like and rows and "reference_ms" in rows[0] else []),
             "",
             "| candidate | predicted ms | measured ms | error % | ms/MP | PSNR | SSIM |" + (" acc |" if joint else "")
             + " Pareto | blocks |",
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if joint else "") + ":-:|---|"]
    for r in sorted(rows, key=lambda r: r["measured_ms"]):
        blocks = " / ".join(",".join(o.replace("mb-", "") for o in s) for s in r["arch_args"]["stages"])
        if joint:
            blocks += " | cls " + " / ".join(",".join(o.replace("mb-", "") for o in s) for s in r["arch_args"]["cls_stages"])
        lines.append(f"| {', '.join(r['names'])} | {r['predicted_ms']:.3f} | {r['measured_ms']:.3f} | {r['error_pct']:+.1f} "
                     f"| {r['measured_ms_per_mp']:.1f} | {r['psnr'] if r['psnr'] is not None else '-'} "
                     f"| {r['ssim'] if r['ssim'] is not None else '-'} |"
                     + (f" {r.get('acc')} |" if joint else "") + f" {'*' if r.get('pareto') else ''} | {blocks} |")
    return "\n".join(lines) + "\n"
