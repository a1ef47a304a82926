"""DC-NAS: the searchable Integrated denoiser (+ classifier) of Markhorst, van Gemert, Kayhan,
"Pushing Joint Image Denoising and Classification to the Edge" (papers/000, Sec. 4, Fig. 7,
Suppl. B), as found by ``edgeden search`` (:mod:`edgeden.training.search`).

Layout (paper Sec. 4.2 D-NAS, 4.3 DC-NAS, Fig. 7):
  * stem: a 3x3 conv (stride ``stem_stride``, 2 as in TF-NAS / C-NAS) + ReLU;
  * encoder: ``len(widths)`` resolution levels; level i holds the blocks ``stages[i]`` (each an
    MBConv candidate, below); the first block of every level after the first has stride 2 and
    maps ``widths[i-1] -> widths[i]`` (the MobileNetV2 / TF-NAS way of down-sampling). These are
    the searched ("orange") stages;
  * decoder (not searched, paper Sec. 4.2): per level a 2x2 stride-2 transposed conv, the skip
    connection concatenated, ``dec_convs`` 3x3 convs + ReLU (UNet's, :func:`conv_stack`); with a
    stride-2 stem one more such level brings the image to full resolution, its skip being the
    (padded) input itself, at ``final_width`` channels; then a 1x1 head and, by default, the
    global residual (output = input + head), as the UNets here;
  * classifier (``num_classes`` > 0, the ``joint`` task, paper Sec. 4.3 / Fig. 7.iii): the
    deepest encoder feature continues through the searched stages ``cls_stages`` (widths
    ``cls_widths``, each stage starting with a stride-2 block) and global average pooling +
    a linear layer, as the rest of a C-NAS classifier; the encoder is shared by both tasks.

Candidate blocks (paper Suppl. B, Table 9; TF-NAS's MBConvs): ``mb-k{3,5}-e{3,6}[-se]``, the
inverted residual (MobileNetV2) 1x1 expand to ``e * cin`` -> BN -> ReLU -> depthwise k x k ->
BN -> ReLU -> [squeeze-and-excitation] -> 1x1 project -> BN, plus the input when stride 1 and
cin == cout. The operator sets of Suppl. B are :data:`OP_SETS` (4: no SE; 6: SE on the two
k3 ops; 8: all). There is no "skip" candidate: the paper removes TF-NAS's depth parameters
(beta) "so that all convolutional blocks are used".

Choices the paper leaves open, and why:
  * BatchNorm (TF-NAS's norm) rather than GroupNorm: at inference it is a per-channel affine,
    so a tile's output does not depend on the rest of the tile (GroupNorm's statistics would);
    ReLU throughout (cheap on CPU; the project's MBConv uses it too).
  * Squeeze-and-excitation pools over the whole input, so SE blocks make the output depend on
    the tile size of tiled inference: the default search uses the 4-operator set, which the
    paper found as good as the larger ones at low latency targets (Sec. 4.1 Exp. 2).
  * The SE bottleneck is max(1, cin // 4) channels (EfficientNet's ratio; TF-NAS uses cin or
    2 * cin by expansion).

forward(x): (N, in_channels, H, W) float32, any H, W >= 1 -> (N, out_channels, H, W) float32,
or (image, logits (N, num_classes)) with a classifier. ``denoise(x)`` gives the image only (what
the product runs on tiles), ``classify(x)`` the logits only.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple
from edgeden.models.registry import register_arch
from edgeden.models.unet import conv_stack

__all__ = ["DCNAS", "OPS", "OP_SETS", "MBBlock", "Position", "SearchSpace", "dcnas", "parse_op"]

#: Every candidate block of the paper's Suppl. B (Table 9), in its order.
OPS = ["mb-k3-e3", "mb-k3-e6", "mb-k5-e3", "mb-k5-e6", "mb-k3-e3-se", "mb-k3-e6-se", "mb-k5-e3-se", "mb-k5-e6-se"]
#: The operator sets of Suppl. B: 4 (no SE), 6 (+ SE on the two k3 ops), 8 (all).
OP_SETS = {4: OPS[:4], 6: OPS[:6], 8: OPS}
_OP_RE = re.compile(r"^mb-k([35])-e([36])(-se)?$")


def parse_op(name: str) -> tuple[int, int, bool]:
    """``"mb-k5-e6-se"`` -> (kernel 5, expansion 6, SE True). Raises ValueError for other names."""
    m = _OP_RE.match(str(name))
    if not m:
        raise ValueError(f"unknown DC-NAS block {name!r}; known: {', '.join(OPS)}")
    return int(m.group(1)), int(m.group(2)), m.group(3) is not None


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): x * sigmoid(W2 relu(W1 avgpool(x)))."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))
        return x * torch.sigmoid(self.expand(s))


class MBBlock(nn.Module):
    """One DC-NAS candidate block (module docstring), ``op`` one of :data:`OPS`.

    forward: (N, cin, H, W) -> (N, cout, ceil(H / stride), ceil(W / stride)) float32.
    """

    def __init__(self, cin: int, cout: int, op: str, stride: int = 1):
        super().__init__()
        k, e, se = parse_op(op)
        hidden = cin * e
        self.op, self.stride = op, stride
        self.skip = stride == 1 and cin == cout
        layers: list[nn.Module] = [
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, k, stride=stride, padding=k // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
        ]
        if se:
            layers.append(SqueezeExcite(hidden, max(1, cin // 4)))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.skip else y


@dataclass(frozen=True)
class Position:
    """One searchable block: ``part`` "enc" or "cls", its stage and index in the stage, its
    channels, stride and the spatial size (h, w) of its *input* at the search's image size."""

    part: str
    stage: int
    index: int
    cin: int
    cout: int
    stride: int
    h: int
    w: int

    def key(self, op: str) -> str:
        """The latency table's key of ``op`` here (positions of the same shape share it)."""
        return f"{op}|{self.cin}>{self.cout}|s{self.stride}|{self.h}x{self.w}"


def _stage_io(widths: Sequence[int], n_blocks: int, i: int) -> list[tuple[int, int, int]]:
    """(cin, cout, stride) of each block of encoder level ``i``: level 0 keeps the stem's
    resolution and width; a later level's first block halves the resolution and changes width."""
    if i == 0:
        return [(widths[0], widths[0], 1)] * n_blocks
    return [(widths[i - 1] if j == 0 else widths[i], widths[i], 2 if j == 0 else 1) for j in range(n_blocks)]


class DCNAS(nn.Module):
    """The DC-NAS network (module docstring). Every argument is JSON-able, so a recipe's
    ``arch_args`` reproduce the searched architecture exactly.

    Args:
        in_channels, out_channels: image channels (out defaults to in).
        widths: channels of each encoder level (len d >= 1).
        stages: per level the list of block names (:data:`OPS`); levels after the first need
            at least one block (it down-samples).
        stem_stride: 1 or 2 (the paper's stem halves the resolution).
        final_width: channels of the full-resolution decoder level (stem_stride 2 only).
        dec_convs: 3x3 convs per decoder level (UNet's ``c``).
        residual: add the input's image channels to the output.
        num_classes: > 0 adds the classifier branch (returns (image, logits)).
        cls_widths, cls_stages: the classifier's searched stages (each down-samples by 2).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None,
                 widths: Sequence[int] = (16, 24, 40, 80),
                 stages: Sequence[Sequence[str]] | None = None, stem_stride: int = 2, final_width: int = 8,
                 dec_convs: int = 2, residual: bool = True, num_classes: int = 0,
                 cls_widths: Sequence[int] = (), cls_stages: Sequence[Sequence[str]] = ()):
        super().__init__()
        widths = [int(w) for w in widths]
        stages = [list(s) for s in (stages if stages is not None else SearchSpace().default_stages())]
        if len(stages) != len(widths) or not widths:
            raise ValueError(f"dcnas: {len(widths)} widths but {len(stages)} stages")
        if any(not s for s in stages[1:]):
            raise ValueError("dcnas: every level after the first needs at least one block (it down-samples)")
        if stem_stride not in (1, 2):
            raise ValueError(f"dcnas: stem_stride must be 1 or 2, got {stem_stride}")
        if len(cls_widths) != len(cls_stages) or any(not s for s in cls_stages):
            raise ValueError("dcnas: cls_widths and cls_stages must pair up, each stage with >= 1 block")
        out_channels = out_channels or in_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.widths, self.stages, self.stem_stride = widths, stages, int(stem_stride)
        self.residual, self.num_classes = residual, int(num_classes)
        self.d = len(widths)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, stride=self.stem_stride, padding=1),
                                  nn.ReLU(inplace=True))
        self.enc = nn.ModuleList()
        for i, ops in enumerate(stages):
            io = _stage_io(widths, len(ops), i)
            self.enc.append(nn.Sequential(*[MBBlock(ci, co, op, s) for (ci, co, s), op in zip(io, ops)]))
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(self.d - 1)])
        self.dec = nn.ModuleList([conv_stack(2 * widths[i], widths[i], dec_convs) for i in range(self.d - 1)])
        if self.stem_stride == 2:
            self.up_final = nn.ConvTranspose2d(widths[0], final_width, 2, stride=2)
            self.dec_final = conv_stack(final_width + in_channels, final_width, dec_convs)
            self.head = nn.Conv2d(final_width, out_channels, 1)
        else:
            self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.cls_widths, self.cls_stages = [int(w) for w in cls_widths], [list(s) for s in cls_stages]
        if self.num_classes > 0:
            self.cls_enc = nn.ModuleList()
            cw = [widths[-1], *self.cls_widths]
            for i, ops in enumerate(self.cls_stages):
                io = [(cw[i] if j == 0 else cw[i + 1], cw[i + 1], 2 if j == 0 else 1) for j in range(len(ops))]
                self.cls_enc.append(nn.Sequential(*[MBBlock(ci, co, op, s) for (ci, co, s), op in zip(io, ops)]))
            self.cls_fc = nn.Linear(cw[-1], self.num_classes)

    @property
    def multiple(self) -> int:
        """Input sizes are padded to a multiple of this."""
        return self.stem_stride * 2 ** (self.d - 1)

    def encode(self, xp: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features, finest first, of a padded input (N, C, H, W)."""
        feats, y = [], self.stem(xp)
        for stage in self.enc:
            y = stage(y)
            feats.append(y)
        return feats

    def decode(self, feats: list[torch.Tensor], xp: torch.Tensor) -> torch.Tensor:
        """The image of encoder features ``feats`` and the padded input ``xp`` (residual added)."""
        y = feats[-1]
        for i in range(self.d - 2, -1, -1):
            y = self.dec[i](torch.cat([self.up[i](y), feats[i]], dim=1))
        if self.stem_stride == 2:
            y = self.dec_final(torch.cat([self.up_final(y), xp], dim=1))
        y = self.head(y)
        if self.residual:
            y = y + xp[:, : self.out_channels]
        return y

    def cls_head(self, deepest: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of the deepest encoder feature."""
        y = deepest
        for stage in self.cls_enc:
            y = stage(y)
        return self.cls_fc(y.mean((2, 3)))

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """The image output only (no classifier branch): (N, C, H, W) -> (N, out_channels, H, W)."""
        xp, hw = pad_to_multiple(x, self.multiple)
        return crop_to(self.decode(self.encode(xp), xp), hw)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits only, without the decoder: (N, C, H, W) -> (N, num_classes)."""
        xp, _ = pad_to_multiple(x, self.multiple)
        return self.cls_head(self.encode(xp)[-1])

    def forward(self, x: torch.Tensor):
        xp, hw = pad_to_multiple(x, self.multiple)
        feats = self.encode(xp)
        img = crop_to(self.decode(feats, xp), hw)
        if self.num_classes > 0:
            return img, self.cls_head(feats[-1])
        return img


@dataclass
class SearchSpace:
    """The searched skeleton: everything of a DC-NAS architecture but the block choices.

    ``depths[i]`` blocks at encoder level i (widths ``widths``), ``cls_depths`` in the classifier
    stages (``joint`` only), each position choosing one of ``ops``. :meth:`arch_args` turns one
    choice per position into a :class:`DCNAS`'s arguments.

    Default: four levels of 16/24/40/80 channels with 1/2/3/4 blocks (ten positions), after
    C-NAS's first stages scaled to a CPU (TF-NAS's stages hold 2/3/4/4 blocks of 24/40/80/112
    channels); with ``num_classes``, one classifier stage of two blocks at 128 channels.
    """

    widths: list[int] = field(default_factory=lambda: [16, 24, 40, 80])
    depths: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    ops: list[str] = field(default_factory=lambda: list(OP_SETS[4]))
    stem_stride: int = 2
    final_width: int = 8
    dec_convs: int = 2
    num_classes: int = 0
    cls_widths: list[int] = field(default_factory=lambda: [128])
    cls_depths: list[int] = field(default_factory=lambda: [2])

    def __post_init__(self):
        for op in self.ops:
            parse_op(op)
        if len(self.widths) != len(self.depths) or any(d < 1 for d in self.depths[1:]) or self.depths[0] < 0:
            raise ValueError(f"search space: widths {self.widths} and depths {self.depths} do not fit")
        if not self.ops:
            raise ValueError("search space: no candidate ops")

    @property
    def multiple(self) -> int:
        return self.stem_stride * 2 ** (len(self.widths) - 1)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()}

    def padded(self, h: int, w: int) -> tuple[int, int]:
        m = self.multiple
        return -(-h // m) * m, -(-w // m) * m

    def positions(self, h: int, w: int) -> list[Position]:
        """Every searchable block, in forward order, with its input size for an (h, w) image."""
        ph, pw = self.padded(h, w)
        hh, ww = -(-ph // self.stem_stride), -(-pw // self.stem_stride)
        out = []
        for i, n in enumerate(self.depths):
            for j, (ci, co, s) in enumerate(_stage_io(self.widths, n, i)):
                out.append(Position("enc", i, j, ci, co, s, hh, ww))
                hh, ww = -(-hh // s), -(-ww // s)
        if self.num_classes > 0:
            cw = [self.widths[-1], *self.cls_widths]
            for i, n in enumerate(self.cls_depths):
                for j in range(n):
                    s = 2 if j == 0 else 1
                    out.append(Position("cls", i, j, cw[i] if j == 0 else cw[i + 1], cw[i + 1], s, hh, ww))
                    hh, ww = -(-hh // s), -(-ww // s)
        return out

    def n_positions(self) -> int:
        return sum(self.depths) + (sum(self.cls_depths) if self.num_classes > 0 else 0)

    def default_stages(self) -> list[list[str]]:
        return [[self.ops[0]] * n for n in self.depths]

    def arch_args(self, choices: Sequence[str]) -> dict[str, Any]:
        """DCNAS arguments (JSON-able) of one op name per position (forward order)."""
        if len(choices) != self.n_positions():
            raise ValueError(f"{len(choices)} choices for {self.n_positions()} positions")
        choices, k = list(choices), 0
        stages = []
        for n in self.depths:
            stages.append(choices[k:k + n])
            k += n
        args: dict[str, Any] = {"widths": list(self.widths), "stages": stages, "stem_stride": self.stem_stride,
                                "final_width": self.final_width, "dec_convs": self.dec_convs}
        if self.num_classes > 0:
            cls = []
            for n in self.cls_depths:
                cls.append(choices[k:k + n])
                k += n
            args.update(num_classes=self.num_classes, cls_widths=list(self.cls_widths), cls_stages=cls)
        return args

    def choices_of(self, arch_args: dict[str, Any]) -> list[str]:
        """The inverse of :meth:`arch_args`: one op per position."""
        out = [op for s in arch_args["stages"] for op in s]
        if self.num_classes > 0:
            out += [op for s in arch_args.get("cls_stages", []) for op in s]
        return out

    def random_choices(self, rng: random.Random) -> list[str]:
        return [rng.choice(self.ops) for _ in range(self.n_positions())]


@register_arch("dcnas", paper={
    "params": None, "gmacs": None, "input": None,
    "source": "papers/000 Sec. 4.2-4.3, Fig. 7, Suppl. B (D-NAS / DC-NAS)",
    "note": "searched per machine by `edgeden search`; without arch_args: the default space with every "
            "block mb-k3-e3 (the paper gives latencies on its GPU only)"})
def dcnas(in_channels: int = 3, out_channels: int | None = None, **kw) -> DCNAS:
    """DC-NAS; ``kw`` as :class:`DCNAS` (a searched recipe's ``arch_args``)."""
    return DCNAS(in_channels, out_channels, **kw)
