"""Tiled inference with smooth blending: memory bounded by the tile, not the image.

Tiles of ``tile`` x ``tile`` pixels overlap by ``overlap`` pixels. Inside each overlap zone the
two tiles are cross-faded with a raised-cosine ramp over its central half; the outer quarter on
each side takes only the tile that sees it from the inside. So a model whose receptive-field
radius is at most ``overlap // 4`` gives exactly the untiled result (up to float rounding),
and any model gets seam-free output because neighbouring tiles fade into each other.
"""
from __future__ import annotations

import math
from typing import Callable

import torch


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) of the tiles along one axis: the fewest tiles of at most ``tile`` pixels
    that cover ``length`` with ``overlap`` shared between neighbours, all of one size (rounding
    can add up to n - 1 pixels to the last overlap), so almost nothing is computed twice beyond
    the overlap.

    (Tiles of exactly ``tile`` with the last one pushed back to the edge would overlap their
    neighbour by up to ``tile - overlap``: a 768-px Kodak photo in 512-px tiles computed
    1024 px per row, 33% more work for the same output.)
    """
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (n - 1) * overlap) / n)
    starts = [min(i * (size - overlap), length - size) for i in range(n)]
    return [(s, size) for s in starts]


def _window_1d(spans: list[tuple[int, int]], i: int) -> torch.Tensor:
    """Blend weights along one axis for tile ``i`` of ``spans`` (1 where no neighbour overlaps)."""
    start, size = spans[i]
    w = torch.ones(size, dtype=torch.float64)
    pos = torch.arange(start, start + size, dtype=torch.float64)
    if i > 0:  # fade in over the overlap with the previous tile
        ov = sum(spans[i - 1]) - start
        if ov > 0:
            m = ov / 4.0
            t = ((pos - start - m) / max(ov - 2 * m, 1e-9)).clamp(0, 1)
            w = w * (0.5 - 0.5 * torch.cos(math.pi * t))
    if i < len(spans) - 1:  # fade out over the overlap with the next tile
        nxt = spans[i + 1][0]
        ov = start + size - nxt
        if ov > 0:
            m = ov / 4.0
            t = ((pos - nxt - m) / max(ov - 2 * m, 1e-9)).clamp(0, 1)
            w = w * (0.5 + 0.5 * torch.cos(math.pi * t))
    return w


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int = 512, overlap: int = 32,
              out_channels: int | None = None, on_tile: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Apply ``fn`` tile by tile and blend the tiles back into one image.

    fn: maps (N, C_in, h, w) -> (N, C_out, h, w) float32 for any h, w <= tile.
    x: (N, C_in, H, W) float32 (any range). tile: tile edge in pixels (>= 2 * overlap + 1);
    tile <= 0 runs untiled. overlap: pixels shared by neighbouring tiles (>= 0).
    out_channels: C_out if it differs from C_in. on_tile(done, total): progress callback.
    Returns (N, C_out, H, W) float32. Exact w.r.t. untiled inference when the receptive-field
    radius of ``fn`` is <= overlap // 4 (see the module docstring).

    Example:
        >>> y = run_tiled(lambda t: t * 2, torch.ones(1, 3, 100, 70), tile=32, overlap=8)
        >>> bool(torch.allclose(y, torch.full_like(y, 2.0)))
        True
    """
    n, c, h, w = x.shape
    if tile <= 0 or (h <= tile and w <= tile):
        out = fn(x)
        if on_tile:
            on_tile(1, 1)
        return out
    if overlap < 0 or tile <= 2 * overlap:
        raise ValueError(f"tile ({tile}) must exceed twice the overlap ({overlap})")
    ys, xs = _spans(h, tile, overlap), _spans(w, tile, overlap)
    cout = out_channels or c
    acc = torch.zeros(n, cout, h, w, dtype=torch.float32)
    wsum = torch.zeros(1, 1, h, w, dtype=torch.float32)
    total, done = len(ys) * len(xs), 0
    for iy, (y0, th) in enumerate(ys):
        wy = _window_1d(ys, iy)
        for ix, (x0, tw) in enumerate(xs):
            wx = _window_1d(xs, ix)
            wt = (wy[:, None] * wx[None, :]).float()[None, None]
            out = fn(x[:, :, y0 : y0 + th, x0 : x0 + tw])
            acc[:, :, y0 : y0 + th, x0 : x0 + tw] += out * wt
            wsum[:, :, y0 : y0 + th, x0 : x0 + tw] += wt
            done += 1
            if on_tile:
                on_tile(done, total)
    return acc.div_(wsum.clamp_min_(1e-12))
