"""Widen the group convolutions of FA-Net weights without changing the function they compute.

A 3x3 conv with groups of ``g`` channels is a special case of one with groups of ``G`` (a multiple
of ``g``): each output channel's ``g`` input taps sit at their offset inside its ``G``-channel
group and the other ``G - g`` taps are zero. So weights trained at ``g`` become a network at ``G``
that starts from exactly the same outputs, and fine-tuning can use the added taps (capacity, and
on AVX2 CPUs groups of 16 run closer to the dense-conv peak than groups of 8:
lab/results/raw_speed_fanet.json).

    python -m edgeden_lab.regroup SRC.safetensors DST.safetensors --to 16 [--from 8] [--member K]

``--member K`` (1-based) takes one member of a noise-subrange array file (keys ``members.K-1.*``)
as a single network; without it every key is converted in place (arrays stay arrays).
Tensors: ``*.group.weight`` (C, g, 3, 3) float32 -> (C, G, 3, 3) float32; everything else copied.
"""
from __future__ import annotations

import argparse

import torch
from safetensors.torch import load_file, save_file


def widen(w: torch.Tensor, g_from: int, g_to: int) -> torch.Tensor:
    """(C, g_from, kh, kw) group-conv weight -> (C, g_to, kh, kw), block-diagonal, same function."""
    c, g, kh, kw = w.shape
    if g != g_from or g_to % g_from or c % g_to:
        raise ValueError(f"cannot widen a ({c}, {g}, {kh}, {kw}) weight from groups of {g_from} to {g_to}")
    out = torch.zeros(c, g_to, kh, kw, dtype=w.dtype)
    for o in range(c):
        off = (o // g_from) * g_from - (o // g_to) * g_to
        out[o, off:off + g_from] = w[o]
    return out


def convert(state: dict[str, torch.Tensor], g_from: int, g_to: int, member: int | None = None) -> dict[str, torch.Tensor]:
    if member is not None:
        prefix = f"members.{member - 1}."
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f"no keys {prefix}* in the file")
    return {k: (widen(v, g_from, g_to) if k.endswith(".group.weight") else v.clone()) for k, v in state.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--from", dest="g_from", type=int, default=8)
    ap.add_argument("--to", dest="g_to", type=int, required=True)
    ap.add_argument("--member", type=int, default=None)
    a = ap.parse_args()
    save_file(convert(load_file(a.src), a.g_from, a.g_to, a.member), a.dst)


if __name__ == "__main__":
    main()
