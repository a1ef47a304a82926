"""Small building blocks shared by several families."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) on the bottom/right so H and W are multiples of ``multiple``.

    Returns the padded tensor and the original (H, W) for :func:`crop_to`. Reflect padding
    falls back to replicate where the image is too small to reflect.
    """
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph or pw:
        m = mode if (mode != "reflect" or (ph < h and pw < w)) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=m)
    return x, (h, w)


def crop_to(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Crop (N, C, H', W') back to the (H, W) returned by :func:`pad_to_multiple`."""
    return x[..., : hw[0], : hw[1]]
