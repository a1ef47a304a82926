"""MB2.5-M classifier and the DC-Net joint denoising + classification models, after Markhorst,
van Gemert, Kayhan, "Pushing Joint Image Denoising and Classification to the Edge"
(papers/000, Sec. 3.1, Fig. 2, Suppl. A.1).

MB2.5-M (Suppl. A.1): two conv layers, the second an MBConv ("MBCConv" in the paper: the
MobileNetV2 inverted residual with linear bottleneck, ref. [33] there) with expansion rate
2.5; each layer is followed by group norm, 2x2 max pooling and ReLU; then global max pooling
and a linear layer. Layer 1 is a 3x3 conv; the MBConv is 1x1 expand -> GN -> ReLU ->
depthwise 3x3 -> GN -> ReLU -> 1x1 project (linear) + skip (in == out channels).

Input size and widths. The classifier of Sec. 3 / Suppl. A classifies single MNIST digits cut
out of the synthetic images ("the two digits are extracted from the image using ground truth
locations"), so its input is grey 1x28x28 (not CIFAR). The paper gives no widths; its FLOPs
behave like multiply-accumulates (the thop / TF-NAS convention): with both layers 14 wide,
Conv-L (two 3x3 convs) costs 444.7K MACs at 1x28x28 against the paper's 447K, and MB2.5-M
(hidden width round(2.5*14) = 35) 352.7K MACs (705K FLOPs at 2 per MAC) against the paper's
350K. Hence ``width=14`` by default. Max pooling uses ``ceil_mode=True`` so any H, W >= 1
work (a 1x1 map stays 1x1); for even sizes it equals the usual floor pooling.

DC-Net (Sec. 3.1, Fig. 2): a UNet denoiser (UNet-S by default: d=4, b=8, m=1.5, c=2) joined
with the MB2.5-M classifier in one of two ways:
  * ``dcnet`` -- Integrated (Fig. 2.ii; the paper's chosen DC-Net): the classifier branch
    reads the UNet encoder's deepest feature map (the bottleneck, level d-1, 1/2**(d-1)
    resolution), so encoder weights are shared by both tasks and the decoder is trained by the
    denoising loss only. The paper attaches the classifier "to the UNet encoder" without
    naming a level; the bottleneck matches Fig. 2.ii, DC-NAS (classifier continues after the
    encoder stages, Sec. 4.3) and the FLOPs of Table 1 (Integrated = UNet-S alone, 51.2M:
    the branch is nearly free at 1/8 resolution). ``cls_level`` picks another level.
  * ``dcnet-seq`` -- Sequential (Fig. 2.i): the classifier runs on the denoised image.
Both return ``(image, logits)``; train with 0.1 * CE + 0.9 * denoising loss (paper Eq. 1/3).
"""
from __future__ import annotations

import torch
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple
from edgeden.models.registry import register_arch
from edgeden.models.unet import UNet

__all__ = ["MBConv", "MBClassifier", "DCNet", "DCNetSequential", "group_norm", "mb25m", "dcnet", "dcnet_seq"]

UNET_S = {"d": 4, "b": 8, "m": 1.5, "c": 2}


def group_norm(channels: int, max_groups: int = 8) -> nn.GroupNorm:
    """GroupNorm with the largest number of groups <= ``max_groups`` that divides ``channels``
    (the paper does not give the group count; 14 and 35 channels both get 7 groups)."""
    g = max(d for d in range(1, min(max_groups, channels) + 1) if channels % d == 0)
    return nn.GroupNorm(g, channels)


class MBConv(nn.Module):
    """MobileNetV2 inverted residual (Sandler et al. 2018) with group norm, stride 1.

    1x1 expand to ``round(expansion * cin)`` -> GN -> ReLU -> depthwise kxk -> GN -> ReLU ->
    1x1 project to ``cout`` (linear bottleneck); the input is added when cin == cout.
    forward: (N, cin, H, W) float32 -> (N, cout, H, W) float32.
    """

    def __init__(self, cin: int, cout: int, expansion: float = 2.5, kernel: int = 3):
        super().__init__()
        hidden = max(1, int(round(expansion * cin)))
        self.hidden = hidden
        self.skip = cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), group_norm(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden, bias=False),
            group_norm(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


class MBClassifier(nn.Module):
    """MB<e>-x classifier of the paper's Suppl. A.1 (MB2.5-M with the defaults).

    Layer 1: conv 3x3 (in_channels -> width) -> GN -> max pool 2 -> ReLU;
    layer 2: MBConv (width -> width, expansion) -> GN -> max pool 2 -> ReLU;
    global max pool -> linear (width -> num_classes).

    Deeper branches (not in the paper; the product's photo classifier, issue 24): ``depth``
    MBConvs in layer 2 instead of one; ``width3`` > 0 adds a layer 3 of ``depth`` MBConvs at
    that width (the first widens, no pooling) -> GN -> ReLU before the global pool; ``pool``
    "avg" takes the global mean instead of the max. The defaults are the paper's layout, so
    weights trained without these keys load unchanged.

    forward(x): (N, in_channels, H, W) float32, any H, W >= 1 -> logits (N, num_classes)
        float32 (unnormalised; softmax for probabilities). It is NOT a denoiser: ``kind``
        says so to the registry-wide tests.
    """

    kind = "classifier"

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 14, expansion: float = 2.5,
                 depth: int = 1, width3: int = 0, pool: str = "max"):
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', not {pool!r}")
        self.num_classes, self.pool = num_classes, pool
        self.layer1 = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), group_norm(width),
            nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(inplace=True),
        )
        self.layer2 = nn.Sequential(
            *[MBConv(width, width, expansion) for _ in range(depth)], group_norm(width),
            nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(inplace=True),
        )
        self.layer3 = None
        if width3:
            self.layer3 = nn.Sequential(
                *[MBConv(width if i == 0 else width3, width3, expansion) for i in range(depth)],
                group_norm(width3), nn.ReLU(inplace=True),
            )
        self.fc = nn.Linear(width3 or width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.layer2(self.layer1(x))
        if self.layer3 is not None:
            f = self.layer3(f)
        return self.fc(torch.amax(f, dim=(2, 3)) if self.pool == "max" else f.mean(dim=(2, 3)))


def _split_kw(kw: dict) -> tuple[dict, dict]:
    """UNet kwargs (UNet-S defaults) and classifier kwargs."""
    cls_keys = {"num_classes", "width", "expansion", "depth", "width3", "pool"}
    unet_kw = {**UNET_S, **{k: v for k, v in kw.items() if k not in cls_keys}}
    cls_kw = {k: v for k, v in kw.items() if k in cls_keys}
    return unet_kw, cls_kw


class DCNet(nn.Module):
    """Integrated DC-Net (paper Fig. 2.ii): UNet denoiser + classifier on the shared encoder.

    Args:
        in_channels, out_channels: image channels (out defaults to in).
        num_classes: classifier outputs (default 10).
        cls_level: encoder level feeding the classifier (default -1: the bottleneck).
        width, expansion, depth, width3, pool: classifier branch (:class:`MBClassifier`; MB2.5-M
            defaults 14, 2.5, 1, 0, max).
        d, b, m, c, residual: :class:`edgeden.models.unet.UNet` hyper-parameters
            (UNet-S by default; residual as the UNet's default).

    forward(x): (N, in_channels, H, W) float32, any H, W >= 1 ->
        (image (N, out_channels, H, W) float32, logits (N, num_classes) float32).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, num_classes: int = 10,
                 cls_level: int = -1, **kw):
        super().__init__()
        unet_kw, cls_kw = _split_kw(kw)
        self.unet = UNet(in_channels, out_channels, **unet_kw)
        self.cls_level = cls_level
        cin = self.unet.widths[cls_level]
        self.classifier = MBClassifier(cin, num_classes=num_classes, **cls_kw)

    def _encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, tuple[int, int]]:
        xp, hw = pad_to_multiple(x, 2 ** (self.unet.d - 1))
        return self.unet.encode(xp), xp, hw

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits only, without running the decoder: (N, C, H, W) -> (N, num_classes)."""
        feats, _, _ = self._encode(x)
        return self.classifier(feats[self.cls_level])

    def _decode(self, feats: list[torch.Tensor], xp: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        y = self.unet.decode(feats)
        if self.unet.residual:
            y = y + xp[:, : self.unet.out_channels]
        return crop_to(y, hw)

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """The image output only, without running the classifier branch (what the product runs on
        photo tiles; labels come from a thumbnail): (N, C, H, W) -> (N, out_channels, H, W)."""
        feats, xp, hw = self._encode(x)
        return self._decode(feats, xp, hw)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, xp, hw = self._encode(x)
        return self._decode(feats, xp, hw), self.classifier(feats[self.cls_level])


class DCNetSequential(nn.Module):
    """Sequential DC-Net (paper Fig. 2.i): the classifier reads the denoised image.

    Args as :class:`DCNet` (without ``cls_level``).
    forward(x): (N, in_channels, H, W) float32, any H, W >= 1 ->
        (image (N, out_channels, H, W) float32, logits (N, num_classes) float32).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, num_classes: int = 10, **kw):
        super().__init__()
        unet_kw, cls_kw = _split_kw(kw)
        self.unet = UNet(in_channels, out_channels, **unet_kw)
        self.classifier = MBClassifier(self.unet.out_channels, num_classes=num_classes, **cls_kw)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the denoised image: (N, C, H, W) -> (N, num_classes)."""
        return self.classifier(self.unet(x))

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """The denoised image only (no classifier): (N, C, H, W) -> (N, out_channels, H, W)."""
        return self.unet(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.unet(x)
        return y, self.classifier(y)


_FLOPS_NOTE = ("paper 'FLOPs' behave as MACs (see edgeden.models.dcnet docstring); "
               "the paper gives no input size for the joint models")


@register_arch("mb2.5-m", paper={"params": None, "gmacs": 350e-6, "input": [1, 28, 28],
                                 "source": "Table 7 / Suppl. A.1", "name": "MB2.5-M",
                                 "note": "classifier, returns logits (N, num_classes); paper FLOPs "
                                         "read as MACs on a 28x28 MNIST digit"})
def mb25m(in_channels: int = 3, out_channels: int | None = None, num_classes: int = 10, **kw) -> MBClassifier:
    """MB2.5-M classifier; ``out_channels`` is ignored. Returns logits, not an image."""
    return MBClassifier(in_channels, num_classes=num_classes, **{"width": 14, "expansion": 2.5, **kw})


@register_arch("dcnet", paper={"params": None, "gmacs": 0.0512, "input": [3, 96, 96],
                               "source": "Table 1 / Sec. 3.1", "name": "DC-Net (Reduced, Integrated)",
                               "note": _FLOPS_NOTE})
def dcnet(in_channels: int = 3, out_channels: int | None = None, **kw) -> DCNet:
    """Integrated DC-Net on UNet-S; returns (image, logits). kwargs as :class:`DCNet`."""
    return DCNet(in_channels, out_channels, **kw)


@register_arch("dcnet-seq", paper={"params": None, "gmacs": 0.0515, "input": [3, 96, 96],
                                   "source": "Table 1 / Sec. 3.1", "name": "DC-Net (Reduced, Sequential)",
                                   "note": _FLOPS_NOTE})
def dcnet_seq(in_channels: int = 3, out_channels: int | None = None, **kw) -> DCNetSequential:
    """Sequential DC-Net on UNet-S; returns (image, logits). kwargs as :class:`DCNetSequential`."""
    return DCNetSequential(in_channels, out_channels, **kw)
