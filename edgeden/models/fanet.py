"""FA-Net: the Feature-Align U-Net for efficient raw denoising, and its ablation variants.

Reference: L. D. Young, F. A. Reda, R. Ranjan, J. Morton, J. Hu, Y. Ling, X. Xiang, D. Liu,
V. Chandra, "Feature-Align Network with Knowledge Distillation for Efficient Denoising"
(papers/001): Sec. 3.1 (ARNet block, shrunk skips, Feature-Align layer, Figs. 2-4), Table 1
(GMACs/MP of Plain U-Net 2.2840, Feature-Align 2.6688, FA w/o connections 2.5688), Table 5
(239,304 params). SPADE: Park et al., CVPR 2019. MobileNetV2: Sandler et al., CVPR 2018.

Building blocks (what the paper states):
  * ARNet block (Fig. 2): a MobileNetV2 inverted residual -- 1x1 expand, 3x3 *group* conv in
    place of the depth-wise conv, 1x1 linear projection, identity shortcut when shapes allow.
    Every contracting and expanding layer of the U-Net is one ARNet block.
  * Shrunk skip connection: a point-wise conv shrinks encoder features (C -> C/r); the decoder
    replicates the shrunk features r times along channels to match the expanding features
    and adds them (fusion by addition: replication only makes sense before an addition).
  * Feature-Align layer (Fig. 3, eq. 2): G = gamma * F + beta with per-pixel, per-channel
    gamma, beta computed from the noisy input resized to the feature's resolution (SPADE
    without the normalisation), after every ARNet block.

Choices where the paper is silent, fitted to its figures:
  * "GMACs/MP" counts multiply-accumulates per megapixel of the *full-resolution Bayer image*,
    i.e. per 0.25 M packed 4-channel pixels (a 4 x 512 x 512 tensor). Check: the UPI raw U-Net
    (Brooks et al. 2019; 3 convs per block, widths 32..512, bilinear up-sampling, 8 input
    channels) measures 74.59 GMACs per full-res MP against the paper's 74.305, and 298 per
    packed MP; UPI-Lite (1 conv per block, widths int(0.3 w)) has 347,733 params, exactly
    Table 5's figure. So FA-Net's 2.6688 GMACs/MP is ~10.7 k MACs per packed pixel.
  * Macro-structure: head 3x3 conv (in -> 8) + ReLU at the packed resolution; four contracting
    layers, each a stride-2 ARNet block (8 -> 16 -> 32 -> 64 -> 128); four expanding layers,
    each a 2x2 stride-2 transposed conv (C_{i+1} -> C_i) + replicated shrunk skip (r = 2) +
    an ARNet block; a 3x3 tail conv (8 -> out) and a global residual (k-sigma-space input).
  * ARNet: expansion 5, 4 channels per group, ReLU after the expand and group convs, biases
    (no BatchNorm: the block is used in a small-batch regression net; BN would fold anyway).
  * Feature-Align: per resolution one guide 3x3 conv (in -> 16) + ReLU on the 2**i average-
    pooled input, shared by the FA layers at that resolution; each FA layer a 1x1 conv
    (16 -> 2C) giving gamma' and beta, applied as F * (1 + gamma') + beta (identity at
    gamma' = 0, same function class as eq. 2).
  These give, measured with torch.utils.flop_counter on a 4x512x512 input (= 1 full-res MP):
      fanet         244,168 params (paper 239,304: +2.0%), 2.640 GMACs/MP (paper 2.6688: -1.1%)
      fanet-unet    2.268 GMACs/MP (paper "Plain U-Net" 2.2840: -0.7%)
      fanet-noskip  2.608 GMACs/MP (paper "FA w/o connections" 2.5688: +1.5%)
  (Expansion 4 / groups of 8 / guide 8 fit the totals about as well, but put the Plain U-Net
  at 2.55 GMACs/MP, 12% off; the fit above matches all four figures within 2%.)
  The shipped ``fanet-nsma`` preset builds its members with ``expansion=4, group_channels=16``:
  groups of 8 channels (one AVX2 register) already ran faster than the paper's groups of 4 despite
  10% more MACs; groups of 16 do 45% more MACs than 8 at 54-58% of the dense-conv peak in ONNX
  Runtime instead of 43-45%, about 8% slower end to end, and were widened from trained groups of
  8 as the same function (``load_narrower``) (lab/benchmarks/raw_speed.py, docs/benchmarks.md).

Any input size works: inputs are padded (reflect) to a multiple of 16 and cropped back.
``forward_features(x)`` returns ``(image, features)`` for the feature-matching distillation
loss: the output of every ARNet block after its Feature-Align layer, contracting layers first
(1/2 .. 1/16 resolution), then expanding layers (1/8 .. full), 8 tensors.

Example:
    >>> import torch
    >>> from edgeden.models import create_arch
    >>> net = create_arch("fanet", in_channels=4)
    >>> net(torch.zeros(1, 4, 37, 53)).shape
    torch.Size([1, 4, 37, 53])
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple
from edgeden.models.registry import register_arch

__all__ = ["ARNetBlock", "FeatureAlign", "FANet", "feature_align"]


def feature_align(feat: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Feature-Align affine modulation (Young et al., eq. 2, with gamma = 1 + gamma').

    Args:
        feat:  (N, C, H, W) float features.
        gamma: (N, C, H, W) float scale offset gamma' (0 leaves ``feat`` unscaled).
        beta:  (N, C, H, W) float bias.
    Returns:
        (N, C, H, W): ``feat * (1 + gamma) + beta``.
    """
    return feat * (1.0 + gamma) + beta


class ARNetBlock(nn.Module):
    """ARNet block: MobileNetV2 inverted residual with a group conv (Young et al., Fig. 2).

    1x1 conv (cin -> cin*expansion) + ReLU, 3x3 group conv (``group_channels`` channels per
    group, ``stride``) + ReLU, 1x1 linear conv (-> cout); identity shortcut if stride == 1 and
    cin == cout.

    forward(x): (N, cin, H, W) float32 -> (N, cout, ceil(H/stride), ceil(W/stride)) float32.
    """

    def __init__(self, cin: int, cout: int, expansion: int = 5, group_channels: int = 4, stride: int = 1):
        super().__init__()
        hidden = cin * expansion
        if hidden % group_channels:
            raise ValueError(f"hidden width {hidden} not divisible by group_channels={group_channels}")
        self.expand = nn.Conv2d(cin, hidden, 1)
        self.group = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden // group_channels)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(F.relu(self.group(F.relu(self.expand(x)))))
        return x + y if self.shortcut else y


class FeatureAlign(nn.Module):
    """Feature-Align layer head: guide features -> per-pixel gamma', beta (SPADE-like).

    forward(feat, guide): feat (N, C, H, W), guide (N, G, H, W) -> (N, C, H, W) via
    :func:`feature_align`. The guide is computed from the noisy input by :class:`FANet`.
    """

    def __init__(self, channels: int, guide_channels: int):
        super().__init__()
        self.to_gamma_beta = nn.Conv2d(guide_channels, 2 * channels, 1)

    def forward(self, feat: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.to_gamma_beta(guide).chunk(2, dim=1)
        return feature_align(feat, gamma, beta)


class FANet(nn.Module):
    """Feature-Align U-Net (see the module docstring for the structure and its sources).

    Args:
        in_channels: input channels (4 packed raw; 1 grey and 3 RGB also work).
        out_channels: output channels (default ``in_channels``).
        widths: channels per resolution level (level i at 1/2**i of the input size).
        expansion, group_channels: ARNet expansion factor and channels per group.
        skip_ratio: r of the shrunk skip connections (C -> C/r, replicated r times).
        guide_channels: hidden channels of the Feature-Align guide convs.
        feature_align: False gives the paper's "Plain U-Net" ablation.
        skips: False gives the paper's "FA w/o connections" ablation.
        residual: add the input to the output (when out_channels <= in_channels).

    forward(x): (N, in_channels, H, W) float32, any H, W >= 1 -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int = 4, out_channels: int | None = None,
                 widths: Sequence[int] = (8, 16, 32, 64, 128), expansion: int = 5, group_channels: int = 4,
                 skip_ratio: int = 2, guide_channels: int = 16, feature_align: bool = True, skips: bool = True,
                 residual: bool = True):
        super().__init__()
        out_channels = out_channels or in_channels
        widths = [int(w) for w in widths]
        if len(widths) < 2:
            raise ValueError("FANet needs at least two levels")
        if skips and any(w % skip_ratio for w in widths[:-1]):
            raise ValueError(f"widths {widths} must be divisible by skip_ratio={skip_ratio}")
        self.in_channels, self.out_channels, self.widths = in_channels, out_channels, widths
        self.skip_ratio, self.use_fa, self.use_skips = skip_ratio, feature_align, skips
        self.residual = residual and out_channels <= in_channels
        d = len(widths)
        self.head = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList([ARNetBlock(widths[i - 1], widths[i], expansion, group_channels, stride=2)
                                   for i in range(1, d)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(d - 1)])
        self.dec = nn.ModuleList([ARNetBlock(widths[i], widths[i], expansion, group_channels) for i in range(d - 1)])
        if skips:
            self.skip = nn.ModuleList([nn.Conv2d(widths[i], widths[i] // skip_ratio, 1) for i in range(d - 1)])
        if feature_align:
            self.guide = nn.ModuleList([nn.Conv2d(in_channels, guide_channels, 3, padding=1) for _ in range(d)])
            self.fa_down = nn.ModuleList([FeatureAlign(widths[i], guide_channels) for i in range(1, d)])
            self.fa_dec = nn.ModuleList([FeatureAlign(widths[i], guide_channels) for i in range(d - 1)])
        self.tail = nn.Conv2d(widths[0], out_channels, 3, padding=1)

    @property
    def depth(self) -> int:
        return len(self.widths)

    def _run(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        d = self.depth
        guides: list[torch.Tensor] = []
        if self.use_fa:
            xi = x
            for i in range(d):
                if i > 0:
                    xi = F.avg_pool2d(xi, 2)
                guides.append(F.relu(self.guide[i](xi)))
        y = F.relu(self.head(x))
        enc, feats = [y], []
        for i in range(1, d):
            y = self.down[i - 1](y)
            if self.use_fa:
                y = self.fa_down[i - 1](y, guides[i])
            enc.append(y)
            feats.append(y)
        for i in range(d - 2, -1, -1):
            y = self.up[i](y)
            if self.use_skips:
                y = y + self.skip[i](enc[i]).repeat(1, self.skip_ratio, 1, 1)
            y = self.dec[i](y)
            if self.use_fa:
                y = self.fa_dec[i](y, guides[i])
            feats.append(y)
        out = self.tail(y)
        if self.residual:
            out = out + x[:, : self.out_channels]
        return out, feats

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(image, features)``: the denoised (N, out_channels, H, W) image and the output of
        every ARNet block (after Feature-Align), contracting then expanding, at the padded size
        (multiple of 2**(depth-1)); 2*(depth-1) tensors."""
        xp, hw = pad_to_multiple(x, 2 ** (self.depth - 1))
        out, feats = self._run(xp)
        return crop_to(out, hw), feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, hw = pad_to_multiple(x, 2 ** (self.depth - 1))
        return crop_to(self._run(xp)[0], hw)

    @torch.no_grad()
    def load_narrower(self, state: dict[str, torch.Tensor]) -> None:
        """Load FA-Net weights whose 3x3 group convs have fewer channels per group (``g``) than
        this net's (``G``, a multiple of ``g``) so that this net computes *exactly* the same
        function (used by recipes' ``init_widen``). A conv with groups of ``g`` is one with groups
        of ``G`` whose other ``G - g`` taps per output channel are zero: each output channel's
        ``g`` taps go to their offset inside its ``G``-channel group, the rest start at zero
        and learn from there.

        ``state``: a state dict of an FA-Net with the same widths, expansion and options (float32);
        ``*.group.weight`` tensors (C, g, 3, 3), every other tensor of this net's shape. Raises
        ValueError on any other mismatch.
        """
        own = self.state_dict()
        if set(state) != set(own):
            raise ValueError(f"load_narrower: the keys differ ({sorted(set(state) ^ set(own))[:4]} ...)")
        for name, new in own.items():
            old = state[name].to(new.dtype)
            if old.shape == new.shape:
                new.copy_(old)
                continue
            fits = (name.endswith(".group.weight") and old.dim() == 4 and old.shape[0] == new.shape[0]
                    and old.shape[2:] == new.shape[2:] and new.shape[1] % old.shape[1] == 0)
            if not fits:
                raise ValueError(f"load_narrower: {name} {tuple(old.shape)} does not fit {tuple(new.shape)}")
            c, g, G = old.shape[0], old.shape[1], new.shape[1]
            new.zero_()
            for o in range(c):
                off = (o // g) * g - (o // G) * G
                new[o, off:off + g] = old[o]


_SOURCE = "Young, Reda et al., Feature-Align Network with Knowledge Distillation for Efficient Denoising"
_MP = ("GMACs per megapixel (1e6 pixels) of the full-resolution Bayer image, i.e. per 4x500x500 packed "
       "input (checked on UPI, whose 74.305 GMACs/MP we measure as 74.59)")


@register_arch("fanet", paper={
    "params": 239304, "gmacs": 2.6688, "input": [4, 500, 500], "weights_mb": None, "source": _SOURCE + ", Tables 1, 4, 5",
    "note": _MP + "; paper also says 239 KB in int8 (and, for its DND model, 89,696 bytes)."})
def fanet(in_channels: int = 4, out_channels: int | None = None, **kw) -> FANet:
    """FA-Net: Feature-Align U-Net with ARNet blocks and shrunk skips."""
    return FANet(in_channels, out_channels, **kw)


@register_arch("fanet-unet", paper={
    "params": None, "gmacs": 2.2840, "input": [4, 500, 500], "weights_mb": None, "source": _SOURCE + ", Table 1",
    "note": "'Plain U-Net' ablation (no Feature-Align); " + _MP})
def fanet_unet(in_channels: int = 4, out_channels: int | None = None, **kw) -> FANet:
    """FA-Net without Feature-Align layers (the paper's Plain U-Net ablation)."""
    return FANet(in_channels, out_channels, **{"feature_align": False, **kw})


@register_arch("fanet-noskip", paper={
    "params": None, "gmacs": 2.5688, "input": [4, 500, 500], "weights_mb": None, "source": _SOURCE + ", Table 1",
    "note": "'FA w/o connections' ablation (no skip connections); " + _MP})
def fanet_noskip(in_channels: int = 4, out_channels: int | None = None, **kw) -> FANet:
    """FA-Net without skip connections (the paper's "FA w/o connections" ablation)."""
    return FANet(in_channels, out_channels, **{"skips": False, **kw})
