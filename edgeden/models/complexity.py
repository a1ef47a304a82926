"""Parameter and MAC counts of registered architectures, beside the papers' figures.

Counting uses :class:`torch.utils.flop_counter.FlopCounterMode`, which counts the
multiply-accumulate work of convolutions (plain, grouped/depthwise and transposed: it uses the
input's spatial size for transposed ones, which is correct), matmul/linear/bmm and attention, and
reports FLOPs = 2 x MACs. We divide by 2 and report **MACs**. Not counted (by FlopCounterMode, nor
by most papers' counters such as thop): element-wise ops, activations, normalisation, pooling,
pixel (un)shuffle and resampling.

Papers say "FLOPs" for either unit; each registered arch's ``paper`` dict therefore stores
GMACs, after the family module decided which unit its paper meant (one convention for all):

    paper = {"params": int | None,          # parameter count stated by the paper
             "gmacs": float | None,         # the paper's complexity figure in GMACs
             "input": [C, H, W] | None,     # input size that figure refers to
             "source": str,                 # where in the paper
             "note": str}                   # how the figure was read / interpreted

Measurement builds the model on the ``meta`` device (no memory, no arithmetic), so it is fast at
any size; it falls back to a real CPU run at the requested size if a model cannot run on meta.
For fully convolutional models MACs grow linearly with the number of pixels (up to padding to a
multiple of the down-sampling factor), so :func:`arch_table` measures at a small probe size and
scales per megapixel.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from edgeden.models.registry import create_arch, list_archs, paper_figures

__all__ = ["measure", "arch_table", "ARCH_TABLE_JSON", "write_arch_table"]


def _count_macs(model: nn.Module, x: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(x)
    finally:
        model.train(was_training)
    return fc.get_total_flops() / 2.0


def measure(name_or_module: str | nn.Module, in_channels: int = 3, height: int = 64, width: int = 64,
            **arch_kwargs: Any) -> dict[str, float | int]:
    """Parameters and MACs of one forward pass on a (1, in_channels, height, width) input.

    Args:
        name_or_module: a registered architecture name (built with ``create_arch(name,
            in_channels, **arch_kwargs)`` on the meta device) or an ``nn.Module`` (run as is,
            on its own device and dtype, with a constant 0.5 input: keep the size small).
        in_channels, height, width: input size, ints >= 1.
    Returns:
        dict(params=int (all parameters), macs=float (multiply-accumulates, = FLOPs/2 of
        FlopCounterMode), macs_per_mp=float (macs per megapixel of input, macs / (H*W/1e6))).

    Example:
        >>> measure(nn.Conv2d(3, 8, 3, padding=1, bias=False), 3, 10, 10)["macs"]  # 3*9*8*100
        21600.0
    """
    if isinstance(name_or_module, nn.Module):
        model = name_or_module
        p = next(model.parameters(), None)
        dev = p.device if p is not None else torch.device("cpu")
        dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        x = torch.full((1, in_channels, height, width), 0.5, device=dev, dtype=dtype)
        macs = _count_macs(model, x)
    else:
        try:
            with torch.device("meta"):
                model = create_arch(name_or_module, in_channels, **arch_kwargs)
                x = torch.zeros(1, in_channels, height, width)
            macs = _count_macs(model, x)
        except (NotImplementedError, RuntimeError):  # an op without a meta kernel / data-dependent
            model = create_arch(name_or_module, in_channels, **arch_kwargs)
            macs = _count_macs(model, torch.full((1, in_channels, height, width), 0.5))
    params = sum(t.numel() for t in model.parameters())
    return {"params": int(params), "macs": float(macs), "macs_per_mp": float(macs) / (height * width / 1e6)}


def _dev_pct(ours: float | None, paper: float | None) -> float | None:
    if ours is None or paper is None or paper == 0:
        return None
    return 100.0 * (ours - paper) / paper


def arch_table(in_channels: int | None = None, probe: int = 128) -> list[dict[str, Any]]:
    """One row per registered architecture: our size and cost beside the paper's figures.

    Each arch is measured at the input kind (channel count) of its paper figure (or
    ``in_channels`` when given; 3 when the paper gives none) on a probe image of at most
    ``probe`` x ``probe`` pixels (the paper's size when smaller), and its MACs are scaled per
    megapixel to the paper's input size.

    Returns:
        list of dicts, sorted by name, keys: ``name``; ``in_channels`` (int); ``params`` (int);
        ``gmacs_per_mp`` (float, GMACs per megapixel of input); ``photo_gmacs_per_mp`` (float,
        GMACs per megapixel of the photo: a 4-channel input is a packed RGGB raw whose every
        pixel covers 4 photo pixels, so a quarter of ``gmacs_per_mp``; the figure ``edgeden
        models`` shows for presets); ``input`` ([C, H, W] of the
        paper figure or None); ``gmacs`` (float GMACs at that input, None without one);
        ``paper_params``, ``paper_gmacs`` (float | None); ``dev_params_pct``,
        ``dev_gmacs_pct`` (float | None: 100 * (ours - paper) / paper); ``source``, ``note`` (str).
    """
    rows = []
    for name in list_archs():
        paper = paper_figures(name)
        p_in = paper.get("input")
        c = in_channels if in_channels is not None else (int(p_in[0]) if p_in else 3)
        h = min(probe, int(p_in[1])) if p_in else probe
        w = min(probe, int(p_in[2])) if p_in else probe
        m = measure(name, c, h, w)
        gmacs = m["macs_per_mp"] * (p_in[1] * p_in[2] / 1e6) / 1e9 if p_in else None
        rows.append({
            "name": name, "in_channels": c, "params": m["params"], "gmacs_per_mp": m["macs_per_mp"] / 1e9,
            "photo_gmacs_per_mp": m["macs_per_mp"] / 1e9 / (4 if c == 4 else 1),
            "input": list(p_in) if p_in else None, "gmacs": gmacs,
            "paper_params": paper.get("params"), "paper_gmacs": paper.get("gmacs"),
            "dev_params_pct": _dev_pct(m["params"], paper.get("params")),
            "dev_gmacs_pct": _dev_pct(gmacs, paper.get("gmacs")),
            "source": str(paper.get("source", "")), "note": str(paper.get("note", "")),
        })
    return rows


#: The packaged table ``edgeden models --archs`` prints (no torch import, no measuring at run time);
#: regenerate with :func:`write_arch_table` after changing an architecture (a test compares it).
ARCH_TABLE_JSON = Path(__file__).with_name("arch_table.json")


def write_arch_table(path: Path = ARCH_TABLE_JSON) -> list[dict[str, Any]]:
    """Measure :func:`arch_table` and write it as JSON to ``path``. Returns the rows."""
    import json

    rows = arch_table()
    path.write_text(json.dumps(rows, indent=1) + "\n")
    return rows
