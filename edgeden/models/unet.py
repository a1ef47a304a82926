"""UNet(d, b, m, c) family and the MB2.5-M classifier, after Markhorst, van Gemert, Kayhan,
"Pushing Joint Image Denoising and Classification to the Edge" (papers/000, Fig. 2, Suppl. A).

UNet hyper-parameters (paper Fig. 2): depth ``d`` (resolution levels), base width ``b``,
channel multiplier ``m`` (level i has round(b * m**i) channels), convolutions per level ``c``.
Each conv is 3x3 + ReLU; the encoder max-pools 2x2 between levels; the decoder up-samples with
a 2x2 stride-2 transposed conv, concatenates the skip and applies ``c`` convs; a 1x1 conv maps
to the output channels. Variants: UNet-S {d=4,b=8,m=1.5,c=2}, UNet-M {d=4,b=16,m=2,c=2},
baseline UNet {d=5,b=64,m=2,c=2} (the paper's Suppl. A conclusion also names b=32,d=4 as its
baseline; Table 8's 1301.8 MFLOPs figure is checked in ``edgeden models --archs``).
Input size of the paper's FLOPs (not stated; implied by our counts): 3x96x96, FLOPs = MACs, the
square size tried (28..128 px, 1 or 3 channels, MACs or 2*MACs) fitting both Table 8 figures best:
{d=4,b=32,m=2} gives 1297.0 M MACs (Table 8: 1301.8) and UNet-S 48.5 M (51.2).

Choices the paper leaves open, and why:
  * global residual (output = input + net(input)) is on by default: it is standard for
    denoisers and speeds CPU training; ``residual=False`` gives the paper's plain mapping.
  * inputs of any size are padded (reflect) to a multiple of 2**(d-1) and cropped back.

Not in the paper: ``unshuffle=s`` (our ``unet-ps`` variant) pixel-unshuffles the input by ``s``
first, as FFDNet does, so the finest level runs at 1/s resolution with s**2 x the channels, and
pixel-shuffles the head's output back. At equal MACs per pixel this doubles every level's width
for s=2 (each 3x3 conv costs the same per image pixel at b=48 on the half-resolution grid as at
b=24 on the full one) and doubles the receptive field; wide, few-pixel convolutions also run
nearer the CPU's dense-conv rate.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple
from edgeden.models.registry import register_arch


def level_widths(d: int, b: int, m: float) -> list[int]:
    """Channel width of each of the ``d`` levels: round(b * m**i)."""
    return [int(round(b * m**i)) for i in range(d)]


def conv_stack(cin: int, cout: int, c: int) -> nn.Sequential:
    """``c`` times (3x3 conv + ReLU), the first mapping cin -> cout."""
    layers: list[nn.Module] = []
    for i in range(c):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """UNet(d, b, m, c) denoiser.

    forward(x): (N, in_channels, H, W) float32 -> (N, out_channels, H, W) float32.
    ``encode(x)`` returns the list of encoder features (finest first) for DC-Net.
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, d: int = 4, b: int = 16,
                 m: float = 2.0, c: int = 2, residual: bool = True, unshuffle: int = 1):
        super().__init__()
        out_channels = out_channels or in_channels
        self.d, self.residual, self.out_channels = d, residual, out_channels
        self.unshuffle = int(unshuffle)
        if self.unshuffle < 1:
            raise ValueError(f"unshuffle must be >= 1, got {unshuffle}")
        s2 = self.unshuffle ** 2
        w = level_widths(d, b, m)
        self.widths = w
        self.enc = nn.ModuleList([conv_stack(in_channels * s2 if i == 0 else w[i - 1], w[i], c) for i in range(d)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(d - 1)])
        self.dec = nn.ModuleList([conv_stack(2 * w[i], w[i], c) for i in range(d - 1)])
        self.head = nn.Conv2d(w[0], out_channels * s2, 1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else self.pool(x))
            feats.append(x)
        return feats

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        y = feats[-1]
        for i in range(self.d - 2, -1, -1):
            y = self.dec[i](torch.cat([self.up[i](y), feats[i]], dim=1))
        return self.head(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.unshuffle
        xp, hw = pad_to_multiple(x, s * 2 ** (self.d - 1))
        if s > 1:
            y = F.pixel_shuffle(self.decode(self.encode(F.pixel_unshuffle(xp, s))), s)
        else:
            y = self.decode(self.encode(xp))
        if self.residual:
            y = y + xp[:, : self.out_channels]
        return crop_to(y, hw)

    @torch.no_grad()
    def load_narrower(self, state: dict[str, torch.Tensor]) -> None:
        """Embed a narrower UNet's trained weights so that this wider one computes *exactly* the
        same function (Net2Net-style widening with zero fan-out, used by recipes' ``init_widen``).

        ``state``: a state dict of a UNet with the same ``d``, ``c``, in/out channels and
        level widths <= this one's (float32 tensors). Each level's old channels keep their
        places (first in the level; in a decoder's concatenated input, first in each half);
        weights *from* the new channels into old ones are zero, so the output is unchanged,
        while the new channels keep their fresh random fan-in and start learning as soon as
        their (zero) fan-out weights get gradients. Raises ValueError on any other mismatch.
        """
        old_w = [int(state[f"enc.{i}.0.weight"].shape[0]) for i in range(self.d)]
        if len(state) != len(self.state_dict()) or any(o > n for o, n in zip(old_w, self.widths)):
            raise ValueError(f"load_narrower: widths {old_w} do not fit into {self.widths}")

        def cols(name: str, n_in: int) -> torch.Tensor:  # new input index of each old input channel
            m = re.fullmatch(r"dec\.(\d+)\.0\.weight", name)
            if m:  # decoder input: cat([up(y), skip]), each half widened separately
                i = int(m.group(1))
                half = torch.arange(old_w[i])
                return torch.cat([half, half + self.widths[i]])
            return torch.arange(n_in)

        for name, new in self.state_dict().items():
            old = state[name].to(new.dtype)
            if old.shape == new.shape:
                new.copy_(old)
                continue
            if old.dim() == 1:  # bias: old channels first, new keep their init
                new[: old.shape[0]] = old
                continue
            transposed = name.startswith("up.")  # ConvTranspose2d weight: (in, out, k, k)
            nw, ow = (new.transpose(0, 1), old.transpose(0, 1)) if transposed else (new, old)
            rows, idx = ow.shape[0], cols(name, ow.shape[1])
            if nw.shape[2:] != ow.shape[2:] or rows > nw.shape[0] or int(idx.max()) >= nw.shape[1]:
                raise ValueError(f"load_narrower: {name} {tuple(old.shape)} does not fit {tuple(new.shape)}")
            nw[:rows] = 0  # old outputs read nothing from new inputs ...
            nw[:rows, idx] = ow  # ... and exactly what they read before from the old ones




@register_arch("unet-s", paper={
    "params": None, "gmacs": 0.0512, "input": [3, 96, 96], "source": "papers/000 Table 8 (UNet-S, 51.2 MFLOPs)",
    "note": "Reduced UNet; FLOPs read as MACs at the input size implied by our counts (module docstring)"})
def unet_s(in_channels: int = 3, out_channels: int | None = None, **kw) -> UNet:
    return UNet(in_channels, out_channels, **{"d": 4, "b": 8, "m": 1.5, "c": 2, **kw})


@register_arch("unet-m", paper={
    "params": None, "gmacs": None, "input": None, "source": "papers/000 Suppl. A overview, Table 2",
    "note": "the paper gives latency only (16.9 ms), no FLOPs or params"})
def unet_m(in_channels: int = 3, out_channels: int | None = None, **kw) -> UNet:
    return UNet(in_channels, out_channels, **{"d": 4, "b": 16, "m": 2.0, "c": 2, **kw})


@register_arch("unet", paper={
    "params": None, "gmacs": 1.3018, "input": [3, 96, 96],
    "source": "papers/000 Table 8 (baseline UNet, 1301.8 MFLOPs)",
    "note": "registered as {d=4,b=32,m=2,c=2}, the baseline of Suppl. A's conclusion, which Table 8's figure "
            "fits (1297.0 M MACs at 3x96x96); the overview's {d=5,b=64} would be 5.2x more. "
            "unet-orig gives {d=5,b=64}"})
def unet_base(in_channels: int = 3, out_channels: int | None = None, **kw) -> UNet:
    return UNet(in_channels, out_channels, **{"d": 4, "b": 32, "m": 2.0, "c": 2, **kw})


@register_arch("unet-orig", paper={
    "params": None, "gmacs": None, "input": None, "source": "papers/000 Suppl. A overview (original UNet)",
    "note": "the original UNet widths {d=5,b=64,m=2,c=2}; the paper gives no figure for it"})
def unet_orig(in_channels: int = 3, out_channels: int | None = None, **kw) -> UNet:
    return UNet(in_channels, out_channels, **{"d": 5, "b": 64, "m": 2.0, "c": 2, **kw})


@register_arch("unet-ps", paper={
    "params": None, "gmacs": None, "input": None, "source": "not in a paper: UNet-M's layout on a pixel-unshuffled input",
    "note": "{d=4,b=48,m=2,c=2,unshuffle=2}: levels at 1/2..1/16 resolution, about UNet-M b=24's MACs per pixel"})
def unet_ps(in_channels: int = 3, out_channels: int | None = None, **kw) -> UNet:
    return UNet(in_channels, out_channels, **{"d": 4, "b": 48, "m": 2.0, "c": 2, "unshuffle": 2, **kw})
