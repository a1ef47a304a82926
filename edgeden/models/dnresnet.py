"""DN-ResNet and DS-DN-ResNet, after Ren, El-Khamy, Lee, "DN-ResNet: Efficient Deep Residual
Network for Image Denoising" (ACCV 2018; papers/003).

Architecture (paper Sec. 3.1, Fig. 1(b), Fig. 2):
    conv 9x9, 64 filters -> ReLU -> conv 5x5, 32 filters -> ReLU
    -> N ResBlocks [conv 3x3 (32) -> ReLU -> conv 3x3 (32) -> + input]   (no BN, no ReLU after the add)
    -> conv 5x5 to the output channels (no activation).
The 3-layer start net of cascade training is ``num_blocks=0``; DN-ResNet-13 has ``num_blocks=5``
(5 x 2 + 3 = 13 conv layers). DS-DN-ResNet (Sec. 3.2, Fig. 4) replaces each ResBlock by a
DS-ResBlock [depthwise 3x3 -> ReLU -> pointwise 1x1 -> ReLU -> + input]: the MAC count the
paper gives for it (640*480*3*3*32 + 640*480*32*32 = 9e8) is one depthwise and one pointwise
conv, i.e. the first 3x3 conv becomes depthwise and the second becomes pointwise.

Training ops (the recipes live in ``edgeden.training``):
  * :func:`grow` -- cascade training: insert one ResBlock just before the last 5x5 layer, new
    weights ~ N(0, 0.001) (paper), or with its last conv zeroed so the function is preserved.
  * :func:`evolve_one` -- incremental evolution: replace the last remaining ResBlock (tail
    first, paper Sec. 3.2) by a DS-ResBlock; the new block is "randomly initialized" as in
    cascade training, i.e. N(0, 0.001) weights and zero biases.
  * :func:`init_paper_` -- the paper's initialisation of every conv, N(0, 0.001).

Figures (paper Tables 1 and 3, grey / Y channel): DN-ResNet-13 has 149,344 parameters and
45.9 GMACs at 640x480; DS-DN-ResNet-13 has 63,728 and 19.6 GMACs. The paper counts conv
weights only: our bias-free weight count is exactly 149,344 for DN-ResNet-13 (57,184 for the
3-layer net, +18,432 per ResBlock, as in Table 1) and 63,744 for DS-DN-ResNet-13 (+1,312
per DS-ResBlock), 16 more than the paper's 63,728 (no block layout gives 63,728; we take it
for an arithmetic slip -- the MACs, 19.6 G, agree with either).

Choices where the paper is silent or does not fit our call contract, and why:
  * the paper trains on 33x33 -> 17x17 patches (valid convolutions); here every conv is zero
    padded by k // 2 so the output has the input's size (registry contract, any H, W >= 1).
  * no global residual by default (the paper maps noisy -> clean directly, SRCNN style);
    ``residual=True`` adds the input to the output (output = x + net(x)), which usually trains
    faster.
  * biases are kept (SRCNN-style convs); the factories use PyTorch's default initialisation
    so one-shot training works; call :func:`init_paper_` to follow the paper.
"""
from __future__ import annotations

import torch
from torch import nn

from edgeden.models.registry import register_arch

__all__ = [
    "ResBlock", "DSResBlock", "DNResNet", "init_paper_", "grow", "evolve_one",
    "dnresnet", "dsdnresnet",
]

PAPER_STD = 1e-3
"""Standard deviation of the paper's Gaussian weight initialisation (Sec. 3.1)."""


def _conv(cin: int, cout: int, k: int, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups)


class ResBlock(nn.Module):
    """DN-ResNet ResBlock (paper Fig. 1(b)): x + conv3x3(ReLU(conv3x3(x))), no BN, no final ReLU.

    forward(x): (N, channels, H, W) float32 -> same shape.
    """

    def __init__(self, channels: int = 32):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = _conv(channels, channels, 3)

    @property
    def last_conv(self) -> nn.Conv2d:
        """The conv whose zeroing makes the block the identity."""
        return self.conv2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class DSResBlock(nn.Module):
    """Depthwise separable ResBlock (paper Fig. 4(b)):
    x + ReLU(pw1x1(ReLU(dw3x3(x)))), ReLU on every conv as the paper says.

    forward(x): (N, channels, H, W) float32 -> same shape.
    """

    def __init__(self, channels: int = 32):
        super().__init__()
        self.dw = _conv(channels, channels, 3, groups=channels)
        self.act1 = nn.ReLU(inplace=True)
        self.pw = _conv(channels, channels, 1)
        self.act2 = nn.ReLU(inplace=True)

    @property
    def last_conv(self) -> nn.Conv2d:
        """The conv whose zeroing makes the block the identity (ReLU(0) = 0)."""
        return self.pw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act2(self.pw(self.act1(self.dw(x))))


class DNResNet(nn.Module):
    """DN-ResNet / DS-DN-ResNet denoiser (Ren et al. 2018).

    Args:
        in_channels: input channels (1 grey, 3 RGB, 4 packed raw, +1 for a noise map).
        out_channels: output channels, default ``in_channels``.
        num_blocks: number of residual blocks N; the net has 3 + 2N conv layers as the paper
            counts them (0 -> the 3-layer cascade start net, 5 -> DN-ResNet-13).
        ds: build DS-ResBlocks instead of ResBlocks (DS-DN-ResNet).
        width1, width2: filters of the 9x9 and 5x5 head convs (paper: 64, 32); the blocks
            have ``width2`` channels.
        residual: add the input to the output (not in the paper; see module docstring).

    forward(x): (N, in_channels, H, W) float32, nominally in [0, 1], any H, W >= 1
        -> (N, out_channels, H, W) float32 (unbounded; clamp downstream if needed).

    Example:
        >>> net = DNResNet(1, num_blocks=5)
        >>> net(torch.zeros(2, 1, 17, 23)).shape
        torch.Size([2, 1, 17, 23])
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, num_blocks: int = 5,
                 ds: bool = False, width1: int = 64, width2: int = 32, residual: bool = False):
        super().__init__()
        if num_blocks < 0:
            raise ValueError(f"num_blocks must be >= 0, got {num_blocks}")
        out_channels = out_channels or in_channels
        if residual and out_channels > in_channels:
            raise ValueError("residual=True needs out_channels <= in_channels")
        self.in_channels, self.out_channels, self.residual = in_channels, out_channels, residual
        self.width = width2
        self.head = nn.Sequential(
            _conv(in_channels, width1, 9), nn.ReLU(inplace=True),
            _conv(width1, width2, 5), nn.ReLU(inplace=True),
        )
        block = DSResBlock if ds else ResBlock
        self.blocks = nn.Sequential(*[block(width2) for _ in range(num_blocks)])
        self.tail = _conv(width2, out_channels, 5)

    @property
    def num_layers(self) -> int:
        """Conv layers as the paper counts them: 3 + 2 per (DS-)ResBlock."""
        return 3 + 2 * len(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tail(self.blocks(self.head(x)))
        if self.residual:
            y = y + x[:, : self.out_channels]
        return y


def init_paper_(module: nn.Module, generator: torch.Generator | None = None, std: float = PAPER_STD) -> nn.Module:
    """The paper's initialisation, in place: every conv weight ~ N(0, std), biases 0.

    Args:
        module: any module; all ``nn.Conv2d`` inside it are re-initialised.
        generator: CPU ``torch.Generator`` for reproducibility (None: torch's default RNG).
        std: standard deviation; the paper (Sec. 3.1) uses 0.001.
    Returns ``module`` (for chaining).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            with torch.no_grad():
                nn.init.normal_(m.weight, 0.0, std, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
    return module


def _new_block(cls: type[nn.Module], net: DNResNet, generator: torch.Generator | None, std: float,
               zero_last: bool) -> nn.Module:
    ref = next(net.tail.parameters())
    blk = init_paper_(cls(net.width), generator=generator, std=std)
    if zero_last:
        with torch.no_grad():
            blk.last_conv.weight.zero_()
            blk.last_conv.bias.zero_()
    return blk.to(device=ref.device, dtype=ref.dtype)


def grow(net: DNResNet, generator: torch.Generator | None = None, std: float = PAPER_STD,
         zero_last: bool = False, ds: bool = False) -> DNResNet:
    """Cascade training step (paper Sec. 3.1, Fig. 2): insert one new block just before the
    last (5x5) layer, in place. Existing weights are kept.

    Args:
        net: a :class:`DNResNet`; modified in place.
        generator: CPU ``torch.Generator`` for the new weights (None: torch's default RNG).
        std: the new weights are drawn from N(0, std); the paper uses 0.001. Biases are 0.
        zero_last: also zero the new block's last conv, so the block starts as the identity
            and ``net`` computes exactly the same function as before (not in the paper).
        ds: insert a DS-ResBlock instead of a ResBlock (cascade training of DS-DN-ResNet
            from scratch, which the paper mentions as the alternative to evolution).
    Returns ``net`` (same object) -- build a new optimiser afterwards: it has new parameters.

    Example:
        >>> net = DNResNet(1, num_blocks=0)      # the 3-layer start net
        >>> grow(net).num_layers
        5
    """
    net.blocks.append(_new_block(DSResBlock if ds else ResBlock, net, generator, std, zero_last))
    return net


def evolve_one(net: DNResNet, generator: torch.Generator | None = None, std: float = PAPER_STD,
               zero_last: bool = False) -> bool:
    """Incremental evolution step (paper Sec. 3.2, Fig. 5), in place: replace the last
    remaining standard ResBlock (tail side first) by a DS-ResBlock.

    The new DS-ResBlock is randomly initialised as in cascade training -- weights ~ N(0, std),
    std = 0.001, biases 0 -- and all other layers keep their weights; the paper then fine-tunes
    the whole net (10 epochs per stage) before the next call. ``zero_last`` zeroes the new
    block's pointwise conv so the block starts as the identity (not in the paper).

    Args:
        net: a :class:`DNResNet`; modified in place.
        generator: CPU ``torch.Generator`` for the new weights (None: torch's default RNG).
    Returns True if a block was replaced, False when no standard ResBlock remains.
    """
    for i in range(len(net.blocks) - 1, -1, -1):
        if isinstance(net.blocks[i], ResBlock):
            net.blocks[i] = _new_block(DSResBlock, net, generator, std, zero_last)
            return True
    return False


_NOTE = ("paper counts conv weights only (no biases), on one (Y) channel; "
         "DN-ResNet-3 start net = num_blocks=0 (57,184 weights, Table 1)")


@register_arch("dnresnet", paper={"params": 149344, "gmacs": 45.9, "input": [1, 480, 640],
                                  "source": "Tables 1-3 / Sec. 3.1", "name": "DN-ResNet-13",
                                  "note": _NOTE})
def dnresnet(in_channels: int = 3, out_channels: int | None = None, **kw) -> DNResNet:
    """DN-ResNet (default 13 layers, ``num_blocks=5``); kwargs as :class:`DNResNet`."""
    return DNResNet(in_channels, out_channels, **{"num_blocks": 5, **kw})


@register_arch("dsdnresnet", paper={"params": 63728, "gmacs": 19.6, "input": [1, 480, 640],
                                    "source": "Table 3 / Sec. 3.2", "name": "DS-DN-ResNet-13",
                                    "note": _NOTE + "; our DS-DN-ResNet-13 weight count is 63,744 "
                                    "(the paper's 63,728 fits no block layout)"})
def dsdnresnet(in_channels: int = 3, out_channels: int | None = None, **kw) -> DNResNet:
    """DS-DN-ResNet (default 13 layers: 5 DS-ResBlocks); kwargs as :class:`DNResNet`."""
    return DNResNet(in_channels, out_channels, **{"num_blocks": 5, "ds": True, **kw})
