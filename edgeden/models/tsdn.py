"""TSDN: two-stage raw denoising, and the Expand-Shrink Learning (ESL) network surgery.

Reference: W. Chen, Y. Huang, M. Wang, X. Wu, X. Zeng, "TSDN: Two-Stage Raw Denoising in the
Dark", IEEE Trans. Image Process. 32, 2023 (papers/002). Section III-B (architecture, Fig. 2),
III-C (ESL: CSL + LSL, INIT1 eq. 9, INIT2 eq. 10, Fig. 3), Table I (3.8 MB, 37.31 GFLOPs).

Architecture (Fig. 2). Two sub-networks of the same compact encoder-decoder form run in series:
TSDN_D (noise removal) maps the noisy input to an intermediate image, TSDN_R (restoration) maps
that to the final image; training uses alpha * L_dn(stage-1, gt) + beta * L_rs(final, gt) (eq. 8),
which is why :class:`TSDN` returns ``(restored, denoised_stage1)``. Each sub-network is built of
the paper's three ConvBlock forms, 3x3 stride-1 convs each followed by LeakyReLU:
  (1) 2 conv + 2x2/2 max-pool            -- every encoder level but the deepest,
  (2) 2 conv + 2x2/2 transposed conv     -- the deepest level and every decoder level but the top,
  (3) 3 conv                              -- the top decoder level, whose last conv is the output.
Decoder levels concatenate [upsampled, skip] (the cross-layer connections).

Channel widths -- not printed in the text (Fig. 2 is a picture); reasoning from the figures:
  * "1024x1024 raw" in Table I is the packed 4 x 512 x 512 tensor and "GFLOPs" is 2 x MACs.
    Check: the SID U-Net of [1] (levels 32..512, 2 convs per level, 2x2 transposed-conv
    up-sampling, 1x1 output conv) with 4 output channels -- the paper evaluates in the raw
    domain -- has 7,760,484 params = 29.60 MiB (Table I: 29.6 MB) and 48.385 GMACs on a
    4x512x512 input = 96.77 GFLOPs (Table I: 96.77 exactly). With [1]'s 12 outputs it would
    be 96.91; on a 1x1024x1024 input or counting MACs as FLOPs nothing fits.
  * Table II says the *expanded* network ("TSDN1: single expanded network") scores exactly what
    Table I gives for U-Net [1], so the expanded sub-network is that U-Net: widths
    32-64-128-256-512. ESL halves every channel and removes the middle (deepest) level, so
    TSDN's sub-networks are the 4-level U-Net 16-32-64-128.
  * Two such sub-networks: 964,456 params (3.68 MiB = 3.86 MB; paper "3.8 MB", "one-eighth of
    U-Net") and 18.655 GMACs = 37.31 GFLOPs on 4x512x512 -- Table I's 37.31 exactly, *if* the
    last conv of form (3) is 1x1 (as in [1]); with a 3x3 last conv it would be 37.85 GFLOPs.
    So, although the text says "all the kernel size ... is 3x3", the output conv here is 1x1.
Other choices where the paper is silent: LeakyReLU slope 0.2 (as in [1]); no activation after
the transposed conv (as in [1]); each stage adds its input (global residual, ``residual=True``,
standard for denoisers and faster to train; it adds no parameters or MACs); any input size is
padded (reflect) to a multiple of 2**(depth-1) and cropped back.

Expand-Shrink Learning (Section III-C, Fig. 3). ``tsdn-expanded`` doubles all channels and adds
a middle level (one more cross-layer connection), per stage. Shrinking is done by two pure
functions that return a *new* network initialised from the old one:
  * :func:`channel_shrink` (CSL, INIT1 eq. 9): halve the output channels of chosen layers;
    every weight keeps the leading N_o output and N_i input channels of the old one. Where a
    conv reads a concatenation [upsampled, skip], the leading channels of *each part* are kept
    (a literal "first N_i of the concatenation" would wire skip weights to upsampled features).
  * :func:`layer_shrink` (LSL, INIT2 eq. 10): remove chosen 3x3 convs; every remaining layer keeps
    its trained parameters. Removing all convs of the deepest level removes that level (with
    the transposed conv that led out of it); the level above then becomes the deepest and its
    decoder convs run straight after its encoder convs (the first of them keeps the weights
    that read the skip part).
:func:`esl_plan` gives the paper's schedule (CSL from the middle outwards, "2 or 4 layers" a
step, then LSL two layers a step, both sub-networks together); applying it to ``tsdn-expanded``
ends at exactly the ``tsdn`` architecture (same state_dict keys and shapes).

Example:
    >>> import torch
    >>> from edgeden.models import create_arch
    >>> net = create_arch("tsdn", in_channels=4)
    >>> restored, stage1 = net(torch.zeros(1, 4, 37, 53))
    >>> restored.shape, stage1.shape
    (torch.Size([1, 4, 37, 53]), torch.Size([1, 4, 37, 53]))
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple
from edgeden.models.registry import register_arch

__all__ = [
    "LevelSpec",
    "StageSpec",
    "EncDecStage",
    "TSDN",
    "tsdn_stage_spec",
    "channel_shrink",
    "layer_shrink",
    "esl_plan",
    "apply_esl_step",
    "layer_names",
]


@dataclass(frozen=True)
class LevelSpec:
    """Widths of one resolution level of an encoder-decoder stage.

    enc: output channels of the level's 3x3 convs on the way down (for the deepest level: the
         bottleneck convs). At least one.
    up:  output channels of the 2x2 stride-2 transposed conv that brings the next-deeper level's
         result to this level; ``None`` for the deepest level.
    dec: output channels of the 3x3 convs after concatenating [upsampled, skip]; ``()`` for the
         deepest level.
    """

    enc: tuple[int, ...]
    up: int | None = None
    dec: tuple[int, ...] = ()


StageSpec = tuple[LevelSpec, ...]


def tsdn_stage_spec(widths: Sequence[int], convs: int = 2) -> StageSpec:
    """U-Net-shaped stage spec: level i has ``convs`` convs of ``widths[i]`` down and up.

    Example: ``tsdn_stage_spec([16, 32, 64, 128])`` is one TSDN sub-network (Fig. 2).
    """
    d = len(widths)
    if d < 1 or any(int(w) < 1 for w in widths):
        raise ValueError(f"widths must be >= 1 and non-empty, got {widths!r}")
    levels = []
    for i, w in enumerate(widths):
        if i == d - 1:
            levels.append(LevelSpec(enc=(int(w),) * convs))
        else:
            levels.append(LevelSpec(enc=(int(w),) * convs, up=int(w), dec=(int(w),) * convs))
    return tuple(levels)


def _validate_spec(spec: StageSpec) -> None:
    if len(spec) < 1:
        raise ValueError("a stage needs at least one level")
    for i, lv in enumerate(spec):
        deepest = i == len(spec) - 1
        if len(lv.enc) < 1:
            raise ValueError(f"level {i}: needs at least one encoder conv")
        if deepest and (lv.up is not None or lv.dec):
            raise ValueError(f"level {i} is the deepest: it has no 'up' and no 'dec' convs")
        if not deepest and (lv.up is None or len(lv.dec) < 1):
            raise ValueError(f"level {i}: needs an 'up' width and at least one decoder conv")
        widths = list(lv.enc) + list(lv.dec) + ([lv.up] if lv.up is not None else [])
        if any(int(w) < 1 for w in widths):
            raise ValueError(f"level {i}: widths must be >= 1, got {lv!r}")


def _stage_layers(spec: StageSpec, in_ch: int, out_ch: int) -> list[tuple[str, str, list[tuple[str, int]], int]]:
    """Every parametrised layer of a stage in execution order.

    Returns ``(path, kind, input_segments, out_width)`` with kind in {"conv", "up", "out"} and
    ``input_segments`` the concatenated parts of its input as ``(source_path, width)``; the
    source of the image itself is ``"input"``.
    """
    layers: list[tuple[str, str, list[tuple[str, int]], int]] = []
    src: tuple[str, int] = ("input", in_ch)
    skips: list[tuple[str, int]] = []
    for i, lv in enumerate(spec):
        for j, w in enumerate(lv.enc):
            p = f"levels.{i}.enc.{j}"
            layers.append((p, "conv", [src], w))
            src = (p, w)
        skips.append(src)
    for i in range(len(spec) - 2, -1, -1):
        lv = spec[i]
        p = f"levels.{i}.up"
        layers.append((p, "up", [src], lv.up))
        segs = [(p, lv.up), skips[i]]
        for j, w in enumerate(lv.dec):
            q = f"levels.{i}.dec.{j}"
            layers.append((q, "conv", segs, w))
            segs = [(q, w)]
        src = segs[0]  # a validated spec has >= 1 decoder conv, so this is that conv's output
    layers.append(("out", "out", [src], out_ch))
    return layers


class _Level(nn.Module):
    def __init__(self, enc_in: int, lv: LevelSpec, up_in: int | None):
        super().__init__()
        convs, c = [], enc_in
        for w in lv.enc:
            convs.append(nn.Conv2d(c, w, 3, padding=1))
            c = w
        self.enc = nn.ModuleList(convs)
        if lv.up is not None:
            self.up = nn.ConvTranspose2d(up_in, lv.up, 2, stride=2)
            convs, c = [], lv.up + lv.enc[-1]
            for w in lv.dec:
                convs.append(nn.Conv2d(c, w, 3, padding=1))
                c = w
            self.dec = nn.ModuleList(convs)


class EncDecStage(nn.Module):
    """One TSDN sub-network (TSDN_D or TSDN_R): a compact U-Net built from a :data:`StageSpec`.

    forward(x): (N, in_ch, H, W) float32 with H, W multiples of 2**(depth-1)
    -> (N, out_ch, H, W) float32 (plus ``x[:, :out_ch]`` when ``residual``).
    ``encode_features(x)`` additionally returns the output of every level's encoder convs
    (finest first), for feature-matching losses.
    """

    def __init__(self, spec: StageSpec, in_ch: int, out_ch: int, residual: bool = True, slope: float = 0.2):
        super().__init__()
        spec = tuple(LevelSpec(tuple(int(w) for w in lv.enc), None if lv.up is None else int(lv.up),
                               tuple(int(w) for w in lv.dec)) for lv in spec)
        _validate_spec(spec)
        self.spec, self.in_ch, self.out_ch = spec, in_ch, out_ch
        self.residual = bool(residual) and out_ch <= in_ch
        self.slope = slope
        levels, prev = [], in_ch
        for i, lv in enumerate(spec):
            up_in = None
            if lv.up is not None:
                nxt = spec[i + 1]
                up_in = nxt.dec[-1] if nxt.dec else nxt.enc[-1]
            levels.append(_Level(prev, lv, up_in))
            prev = lv.enc[-1]
        self.levels = nn.ModuleList(levels)
        top = spec[0]
        self.out = nn.Conv2d(top.dec[-1] if top.dec else top.enc[-1], out_ch, 1)

    @property
    def depth(self) -> int:
        return len(self.spec)

    def encode_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips: list[torch.Tensor] = []
        y = x
        for i, lvl in enumerate(self.levels):
            if i > 0:
                y = F.max_pool2d(y, 2)
            for conv in lvl.enc:
                y = F.leaky_relu(conv(y), self.slope)
            skips.append(y)
        for i in range(self.depth - 2, -1, -1):
            lvl = self.levels[i]
            y = torch.cat([lvl.up(y), skips[i]], dim=1)
            for conv in lvl.dec:
                y = F.leaky_relu(conv(y), self.slope)
        y = self.out(y)
        if self.residual:
            y = y + x[:, : self.out_ch]
        return y, skips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_features(x)[0]


class TSDN(nn.Module):
    """Two-stage denoiser (Chen et al. 2023, Fig. 2): TSDN_D then TSDN_R.

    Args:
        in_channels: channels of the input (4 for packed RGGB raw; 1/3 also work).
        out_channels: channels of both stage outputs (default ``in_channels``).
        spec_d, spec_r: :data:`StageSpec` of the noise-removal / restoration sub-network
            (default: the paper's 16-32-64-128 U-Net, :func:`tsdn_stage_spec`).
        residual: each stage adds its input (see module docstring).
        slope: LeakyReLU negative slope.

    forward(x): (N, in_channels, H, W) float32, any H, W >= 1, values nominally in [0, 1]
    -> ``(restored, denoised_stage1)``, both (N, out_channels, H, W) float32.
    ``forward_features(x)`` -> ``(restored, features)`` where ``features`` lists the output of
    every level's encoder convs, TSDN_D's then TSDN_R's, finest first (2 x depth tensors), at the
    padded size (H, W rounded up to a multiple of 2**(depth-1)).
    """

    def __init__(self, in_channels: int = 4, out_channels: int | None = None, spec_d: StageSpec | None = None,
                 spec_r: StageSpec | None = None, residual: bool = True, slope: float = 0.2):
        super().__init__()
        out_channels = out_channels or in_channels
        spec_d = spec_d if spec_d is not None else tsdn_stage_spec([16, 32, 64, 128])
        spec_r = spec_r if spec_r is not None else spec_d
        self.in_channels, self.out_channels = in_channels, out_channels
        self.residual, self.slope = residual, slope
        self.stage_d = EncDecStage(spec_d, in_channels, out_channels, residual, slope)
        self.stage_r = EncDecStage(spec_r, out_channels, out_channels, residual, slope)

    @property
    def specs(self) -> dict[str, StageSpec]:
        """``{"stage_d": spec, "stage_r": spec}``."""
        return {"stage_d": self.stage_d.spec, "stage_r": self.stage_r.spec}

    def _multiple(self) -> int:
        return 2 ** (max(self.stage_d.depth, self.stage_r.depth) - 1)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        xp, hw = pad_to_multiple(x, self._multiple())
        mid, f_d = self.stage_d.encode_features(xp)
        out, f_r = self.stage_r.encode_features(mid)
        return crop_to(out, hw), f_d + f_r

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xp, hw = pad_to_multiple(x, self._multiple())
        mid = self.stage_d(xp)
        out = self.stage_r(mid)
        return crop_to(out, hw), crop_to(mid, hw)


def _rebuild(net: TSDN, specs: dict[str, StageSpec]) -> TSDN:
    new = TSDN(net.in_channels, net.out_channels, specs["stage_d"], specs["stage_r"], net.residual, net.slope)
    return new.to(device=next(net.parameters()).device, dtype=next(net.parameters()).dtype)


def _init_from(new: TSDN, old: TSDN, origins: dict[str, dict[str, str]]) -> None:
    """Copy parameters old -> new (INIT1 / INIT2). ``origins[stage][new_path] = old_path``.

    Output channels: the leading ones. Input channels: for each concatenated part of the new
    layer's input, the leading channels of the old layer's part fed by the same (origin) source;
    when the source changed (a layer before it was removed) and the old input is a single part,
    its leading channels. Raises ValueError where the new layer would need more channels.
    """
    for stage in ("stage_d", "stage_r"):
        o_stage: EncDecStage = getattr(old, stage)
        n_stage: EncDecStage = getattr(new, stage)
        orig = origins[stage]
        old_layers = {p: (k, segs, w) for p, k, segs, w in _stage_layers(o_stage.spec, o_stage.in_ch, o_stage.out_ch)}
        for path, kind, segs, w_out in _stage_layers(n_stage.spec, n_stage.in_ch, n_stage.out_ch):
            o_path = orig.get(path, path)
            if o_path not in old_layers:
                raise ValueError(f"{stage}.{path}: no origin layer {o_path!r} in the old network")
            _, o_segs, o_w_out = old_layers[o_path]
            if w_out > o_w_out:
                raise ValueError(f"{stage}.{path}: {w_out} output channels > {o_w_out} in the old layer")
            idx: list[int] = []
            o_offsets, acc = {}, 0
            for s, w in o_segs:
                o_offsets[s] = (acc, w)
                acc += w
            for s, w in segs:
                src = "input" if s == "input" else orig.get(s, s)
                if src in o_offsets:
                    off, ow = o_offsets[src]
                elif len(o_segs) == 1:
                    off, ow = 0, o_segs[0][1]
                else:
                    raise ValueError(f"{stage}.{path}: cannot match input part {s!r} to the old layer's inputs")
                if w > ow:
                    raise ValueError(f"{stage}.{path}: input part {s!r} has {w} channels > {ow} in the old layer")
                idx.extend(range(off, off + w))
            n_mod = n_stage.get_submodule(path)
            o_mod = o_stage.get_submodule(o_path)
            in_idx = torch.tensor(idx, dtype=torch.long, device=o_mod.weight.device)
            with torch.no_grad():
                wgt = o_mod.weight
                if kind == "up":  # ConvTranspose2d weight: (in, out, kh, kw)
                    wgt = wgt.index_select(0, in_idx)[:, :w_out]
                else:  # Conv2d weight: (out, in, kh, kw)
                    wgt = wgt[:w_out].index_select(1, in_idx)
                n_mod.weight.copy_(wgt)
                n_mod.bias.copy_(o_mod.bias[:w_out])


def _split(layers: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"stage_d": [], "stage_r": []}
    for name in layers:
        stage, _, path = name.partition(".")
        if stage not in out or not path:
            raise ValueError(f"layer name {name!r} must start with 'stage_d.' or 'stage_r.'")
        out[stage].append(path)
    return out


def _parse(path: str) -> tuple[int, str, int | None]:
    parts = path.split(".")
    try:
        if parts[0] == "levels" and len(parts) == 3 and parts[2] == "up":
            return int(parts[1]), "up", None
        if parts[0] == "levels" and len(parts) == 4 and parts[2] in ("enc", "dec"):
            return int(parts[1]), parts[2], int(parts[3])
    except ValueError:
        pass
    raise ValueError(f"not a TSDN layer path: {path!r} (expected levels.<i>.enc.<j>, levels.<i>.dec.<j> or levels.<i>.up)")


def layer_names(net: TSDN, kinds: Sequence[str] = ("enc", "dec", "up")) -> list[str]:
    """Every shrinkable layer of ``net`` as ``"stage_x.levels.<i>.<enc|dec>.<j>"`` or ``...up``."""
    names = []
    for stage, spec in net.specs.items():
        for i, lv in enumerate(spec):
            if "enc" in kinds:
                names += [f"{stage}.levels.{i}.enc.{j}" for j in range(len(lv.enc))]
            if "up" in kinds and lv.up is not None:
                names.append(f"{stage}.levels.{i}.up")
            if "dec" in kinds:
                names += [f"{stage}.levels.{i}.dec.{j}" for j in range(len(lv.dec))]
    return names


def channel_shrink(net: TSDN, layers: Iterable[str], factor: int = 2) -> TSDN:
    """Channel-Shrink-Learning step (CSL) with INIT1 (Chen et al. 2023, Sec. III-C, eq. 9).

    Args:
        net: a :class:`TSDN` (not modified).
        layers: names from :func:`layer_names`, e.g. ``"stage_d.levels.4.enc.0"`` or
            ``"stage_r.levels.3.up"``; each one's output channels are divided by ``factor``.
            Stage outputs (the ``out`` 1x1 convs) cannot be shrunk.
        factor: integer divisor (2 in the paper); each width must be divisible by it.

    Returns:
        A new TSDN whose every weight is the leading-channel slice of the old one
        (Theta_cur(l, x, y, z) = Theta_last(l, x, y, z) for x < N_o, y < N_i; per concatenated
        part of the input, see the module docstring), in the same train/eval mode.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    specs = {k: [replace(lv) for lv in v] for k, v in net.specs.items()}
    for stage, paths in _split(layers).items():
        spec = specs[stage]
        for path in paths:
            i, kind, j = _parse(path)
            if i >= len(spec):
                raise ValueError(f"{stage}.{path}: no level {i}")
            lv = spec[i]
            if kind == "up":
                if lv.up is None:
                    raise ValueError(f"{stage}.{path}: the deepest level has no 'up' layer")
                if lv.up % factor:
                    raise ValueError(f"{stage}.{path}: width {lv.up} not divisible by {factor}")
                spec[i] = replace(lv, up=lv.up // factor)
            else:
                ws = list(getattr(lv, kind))
                if j >= len(ws):
                    raise ValueError(f"{stage}.{path}: no such conv")
                if ws[j] % factor:
                    raise ValueError(f"{stage}.{path}: width {ws[j]} not divisible by {factor}")
                ws[j] //= factor
                spec[i] = replace(lv, **{kind: tuple(ws)})
    new = _rebuild(net, {k: tuple(v) for k, v in specs.items()})
    _init_from(new, net, {"stage_d": {}, "stage_r": {}})
    return new.train(net.training)


def _shrink_stage_layers(spec: StageSpec, paths: list[str]) -> tuple[StageSpec, dict[str, str]]:
    """New stage spec without the listed convs, and the map new path -> old path."""
    removed = set()
    for p in paths:
        i, kind, j = _parse(p)
        if kind == "up":
            raise ValueError(f"{p}: transposed convs go with their level; remove the level's convs instead")
        if i >= len(spec) or j >= len(getattr(spec[i], kind)):
            raise ValueError(f"{p}: no such conv")
        removed.add((i, kind, j))
    # Each kept conv as (old level, old kind, old index) grouped into the new levels.
    levels = [{"enc": [(i, "enc", j) for j in range(len(lv.enc))], "up": lv.up,
               "dec": [(i, "dec", j) for j in range(len(lv.dec))]} for i, lv in enumerate(spec)]
    deepest = len(spec) - 1
    drop_level = deepest > 0 and all((deepest, "enc", j) in removed for j in range(len(spec[deepest].enc)))
    if drop_level:
        levels.pop()
        above = levels[-1]
        above["enc"] = above["enc"] + above["dec"]
        above["dec"], above["up"] = [], None
    new_spec, origins = [], {}
    for i, lv in enumerate(levels):
        keep = {k: [t for t in lv[k] if t not in removed] for k in ("enc", "dec")}
        if not keep["enc"] or (i < len(levels) - 1 and not keep["dec"]):
            raise ValueError(f"removing {sorted(removed)} would leave level {i} without encoder or decoder convs")
        widths = {}
        for k in ("enc", "dec"):
            widths[k] = tuple(getattr(spec[oi], ok)[oj] for oi, ok, oj in keep[k])
            for nj, (oi, ok, oj) in enumerate(keep[k]):
                origins[f"levels.{i}.{k}.{nj}"] = f"levels.{oi}.{ok}.{oj}"
        if lv["up"] is not None:
            origins[f"levels.{i}.up"] = f"levels.{i}.up"
        new_spec.append(LevelSpec(widths["enc"], lv["up"], widths["dec"]))
    return tuple(new_spec), origins


def layer_shrink(net: TSDN, layers: Iterable[str]) -> TSDN:
    """Layer-Shrink-Learning step (LSL) with INIT2 (Chen et al. 2023, Sec. III-C, eq. 10).

    Args:
        net: a :class:`TSDN` (not modified).
        layers: 3x3 convs to remove, named as by :func:`layer_names` in ``net``
            (``"stage_d.levels.3.enc.1"``). Naming every conv of the deepest level removes that
            level; every other level must keep at least one encoder and one decoder conv.

    Returns:
        A new TSDN in which every remaining layer keeps its old parameters (a layer whose input
        became narrower keeps the weights of the input channels it still receives).

    Example (the paper's two LSL steps on a channel-shrunk expanded TSDN)::

        net = layer_shrink(net, ["stage_d.levels.4.enc.0", "stage_d.levels.4.enc.1", ...])
        net = layer_shrink(net, ["stage_d.levels.3.enc.1", "stage_d.levels.3.enc.2", ...])
    """
    specs, origins = {}, {}
    for stage, paths in _split(layers).items():
        specs[stage], origins[stage] = _shrink_stage_layers(net.specs[stage], paths)
    new = _rebuild(net, specs)
    _init_from(new, net, origins)
    return new.train(net.training)


def esl_plan(net: TSDN, levels_to_remove: int = 1) -> list[tuple[str, list[str]]]:
    """The paper's shrink schedule for an expanded TSDN (Fig. 3, Table IV "CSL2" + "ESL3").

    CSL: one step per level from the deepest outwards, halving that level's convs and the
    transposed conv that feeds it ("2 or 4 layers" a step: 2 at the deepest level, 2 + 2
    elsewhere), in both sub-networks; stage outputs are never halved. LSL: per removed level,
    first its 2 deepest convs, then the last encoder conv of the level above and the first of
    its decoder convs (which fuses the two remaining ConvBlocks into one).

    Args:
        net: the expanded network (e.g. ``create_arch("tsdn-expanded")``).
        levels_to_remove: how many middle levels the expansion added (1 in the paper).

    Returns:
        ``[("csl", [layer names]), ..., ("lsl", [layer names]), ...]``; apply in order with
        :func:`apply_esl_step`, retraining after each step as the paper does.
    """
    steps: list[tuple[str, list[str]]] = []
    specs = net.specs
    depth = max(len(s) for s in specs.values())
    for i in range(depth - 1, -1, -1):
        names = []
        for stage, spec in specs.items():
            if i < len(spec):
                lv = spec[i]
                names += [f"{stage}.levels.{i}.enc.{j}" for j in range(len(lv.enc))]
                if lv.up is not None:
                    names.append(f"{stage}.levels.{i}.up")
                names += [f"{stage}.levels.{i}.dec.{j}" for j in range(len(lv.dec))]
        steps.append(("csl", names))
    cur = {k: list(v) for k, v in specs.items()}
    for _ in range(levels_to_remove):
        first, second = [], []
        for stage, spec in cur.items():
            d = len(spec) - 1
            if d < 1:
                raise ValueError("nothing left to remove")
            first += [f"{stage}.levels.{d}.enc.{j}" for j in range(len(spec[d].enc))]
            above = spec[d - 1]
            n_enc = len(above.enc)
            second += [f"{stage}.levels.{d - 1}.enc.{n_enc - 1}", f"{stage}.levels.{d - 1}.enc.{n_enc}"]
            merged = list(above.enc) + list(above.dec)
            del merged[n_enc - 1: n_enc + 1]
            cur[stage] = spec[: d - 1] + [LevelSpec(tuple(merged))]
        steps += [("lsl", first), ("lsl", second)]
    return steps


def apply_esl_step(net: TSDN, step: tuple[str, list[str]]) -> TSDN:
    """Apply one ``("csl" | "lsl", layer names)`` step of :func:`esl_plan`; returns a new TSDN."""
    kind, names = step
    if kind == "csl":
        return channel_shrink(net, names)
    if kind == "lsl":
        return layer_shrink(net, names)
    raise ValueError(f"unknown ESL step kind {kind!r}")


_SOURCE = "Chen et al., TSDN: Two-Stage Raw Denoising in the Dark, IEEE TIP 2023, Table I"


@register_arch("tsdn", paper={
    "params": None, "gmacs": 18.655, "input": [4, 512, 512], "weights_mb": 3.8, "source": _SOURCE,
    "note": "Table I: 3.8 MB, 37.31 GFLOPs (= 2 x MACs) on a 1024x1024 raw packed to 4x512x512; "
            "no parameter count printed (3.8 MB fp32 ~ 1.0M params). Widths 16-32-64-128 per stage "
            "inferred; see edgeden.models.tsdn docstring."})
def tsdn(in_channels: int = 4, out_channels: int | None = None, **kw) -> TSDN:
    """TSDN (Fig. 2): two 16-32-64-128 encoder-decoder stages. Returns (restored, stage1)."""
    return TSDN(in_channels, out_channels, **kw)


@register_arch("tsdn-expanded", paper={
    "params": None, "gmacs": None, "input": [4, 512, 512], "weights_mb": None, "source": _SOURCE,
    "note": "expanded network of ESL (Fig. 3b): channels doubled plus a middle level, i.e. each stage "
            "is the SID U-Net of Table I (29.6 MB, 96.77 GFLOPs each); no figure printed for it."})
def tsdn_expanded(in_channels: int = 4, out_channels: int | None = None, **kw) -> TSDN:
    """Expanded TSDN for ESL: two 32-64-128-256-512 stages. Returns (restored, stage1)."""
    spec = tsdn_stage_spec([32, 64, 128, 256, 512])
    return TSDN(in_channels, out_channels, spec_d=spec, spec_r=spec, **kw)
