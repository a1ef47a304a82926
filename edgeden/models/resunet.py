"""ResUNet: a U-Net of residual blocks (DRUNet-style layout, small), for sRGB denoising.

Not one of the five papers: the layout of DRUNet (Zhang et al., "Plug-and-Play Image
Restoration with Deep Denoiser Prior", 2021), cut to an sRGB budget of about 100 GMACs per
megapixel so that it can sit beside UNet-M and FFDNet. Every level holds residual blocks
(3x3 conv, ReLU, 3x3 conv, plus the block's input) without bias or normalisation; levels are
joined by 2x2 stride-2 convolutions down and 2x2 stride-2 transposed convolutions up, and the
decoder *adds* the encoder's features (no concatenation). The input image is added back to the
output (residual learning: the network predicts the correction).

Shapes: ``forward(x)``: (N, in_channels, H, W) float32 -> (N, out_channels, H, W) float32,
any H, W (reflect-padded to a multiple of 2 ** (levels - 1), cropped back). Value range as the
input's (the product feeds [0, 1] sRGB and a noise map in the same units).
"""
from __future__ import annotations

import torch
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple
from edgeden.models.registry import register_arch


class ResBlock(nn.Module):
    """x + conv3x3(relu(conv3x3(x))), bias-free, ``w`` channels in and out."""

    def __init__(self, w: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(w, w, 3, padding=1, bias=False), nn.ReLU(inplace=True),
                                  nn.Conv2d(w, w, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResUNet(nn.Module):
    """U-Net of residual blocks; ``widths[i]`` channels and ``blocks[i]`` residual blocks at
    level i (1/2**i resolution); the last level is the bottleneck, the others appear in the
    encoder and again in the decoder."""

    def __init__(self, in_channels: int = 3, out_channels: int | None = None,
                 widths: tuple[int, ...] = (24, 48, 96, 192), blocks: tuple[int, ...] = (1, 1, 1, 2),
                 residual: bool = True):
        super().__init__()
        widths, blocks = tuple(int(w) for w in widths), tuple(int(b) for b in blocks)
        if len(widths) != len(blocks) or len(widths) < 2 or min(widths) < 1 or min(blocks) < 0:
            raise ValueError(f"widths {widths} and blocks {blocks}: equal lengths >= 2, positive widths")
        out_channels = out_channels or in_channels
        self.out_channels, self.residual, self.levels = out_channels, residual, len(widths)
        self.head = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.enc = nn.ModuleList([nn.Sequential(*[ResBlock(w) for _ in range(b)])
                                  for w, b in zip(widths[:-1], blocks[:-1])])
        self.down = nn.ModuleList([nn.Conv2d(widths[i], widths[i + 1], 2, stride=2, bias=False)
                                   for i in range(len(widths) - 1)])
        self.body = nn.Sequential(*[ResBlock(widths[-1]) for _ in range(blocks[-1])])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2, bias=False)
                                 for i in range(len(widths) - 1)])
        self.dec = nn.ModuleList([nn.Sequential(*[ResBlock(w) for _ in range(b)])
                                  for w, b in zip(widths[:-1], blocks[:-1])])
        self.tail = nn.Conv2d(widths[0], out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, hw = pad_to_multiple(x, 2 ** (self.levels - 1))
        y = self.head(xp)
        skips = []
        for enc, down in zip(self.enc, self.down):
            y = enc(y)
            skips.append(y)
            y = down(y)
        y = self.body(y)
        for i in range(self.levels - 2, -1, -1):
            y = self.dec[i](self.up[i](y) + skips[i])
        y = self.tail(y)
        if self.residual:
            y = y + xp[:, : self.out_channels]
        return crop_to(y, hw)


@register_arch("resunet", paper={
    "params": None, "gmacs": None, "input": None,
    "source": "not in the five papers: DRUNet's layout (Zhang et al. 2021), small",
    "note": "widths 24/48/96/192, residual blocks 1/1/1/2 (encoder and decoder levels, bottleneck)"})
def resunet(in_channels: int = 3, out_channels: int | None = None, **kw) -> ResUNet:
    return ResUNet(in_channels, out_channels, **kw)
