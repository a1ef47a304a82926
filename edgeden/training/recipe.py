"""Training recipes: typed YAML files run by ``edgeden train RECIPE``.

A recipe names the architecture, the data, the synthetic noise, the loss and the schedule::

    name: unet-m-srgb           # run name; outputs go to runs/<name>/
    arch: unet-m                # a registered architecture
    arch_args: {}
    domain: srgb                # srgb | raw
    noise_map: true             # append a noise-level map channel to the input
    data: {train: train/BSDS500, val_holdout: 8, patch: 128, batch: 16}
    noise: {kind: awgn, sigma: [0, 55]}
    loss: {charbonnier: 0.8, ssim: 0.2}
    optim: {lr: 1.0e-3, min_lr: 1.0e-5, clip: 0.5, steps: 20000, warmup: 200}
    bf16: true
    seed: 0
    checkpoint_every: 250
    val_every: 1000

Optional: ``init`` (start weights), ``stages`` (a staged program: cascade growth, incremental
evolution, Expand-Shrink Learning; see ``edgeden.training.stages``), ``teacher`` (distillation;
see ``edgeden.training.distill``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeden.core.modelspec import ModelSpec


@dataclass
class Recipe:
    name: str
    arch: str
    domain: str = "srgb"
    arch_args: dict[str, Any] = field(default_factory=dict)
    noise_map: bool = False
    gain_target: float | None = None
    ksigma: bool = False
    k_ref: float | None = None
    in_channels: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    noise: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, float] = field(default_factory=lambda: {"charbonnier": 1.0})
    optim: dict[str, Any] = field(default_factory=dict)
    bf16: bool = False
    seed: int = 0
    checkpoint_every: int = 250
    val_every: int = 1000
    threads: int | None = None
    zero_init: list[str] = field(default_factory=list)  # modules whose weights start at 0
    init: str | None = None  # start from these weights (safetensors; a shipped preset's file name works)
    freeze: list[str] = field(default_factory=list)  # submodules kept as loaded (not trained)
    init_into: str | None = None  # load ``init`` into this submodule (e.g. "unet" of a DC-Net)
    init_missing: list[str] = field(default_factory=list)  # modules ``init`` lacks; they start fresh (e.g. a new classifier branch)
    init_widen: bool = False  # ``init`` is a narrower net of the same family: embed it (UNet.load_narrower)
    stages: list[dict[str, Any]] | None = None  # staged program (edgeden.training.stages)
    teacher: dict[str, Any] | None = None  # distillation teacher (edgeden.training.distill)
    notes: str = ""
    source: str | None = None  # the YAML file it was read from (set by load_recipe, not a key)

    @property
    def spec(self) -> ModelSpec:
        """The network's input contract, the same object a preset exported from this recipe
        gives inference (``in_channels`` here overrides the image channels, e.g. 1 for grey)."""
        return ModelSpec(domain=self.domain, noise_map=self.noise_map, ksigma=self.ksigma, k_ref=self.k_ref,
                         gain_target=self.gain_target, channels=self.in_channels)

    @property
    def image_channels(self) -> int:
        """Channels of the image itself: 4 for packed raw, 3 for sRGB (unless overridden)."""
        return self.spec.image_channels

    @property
    def model_in_channels(self) -> int:
        return self.spec.in_channels


_FIELDS = set(Recipe.__dataclass_fields__) - {"source"}
#: Run names: one folder name under the output root (no separators, no "..").
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def load_recipe(path: str | Path) -> Recipe:
    """Parse and validate a recipe YAML file; unknown keys are an error (typos must not pass)."""
    p = Path(path)
    if not p.exists():
        builtin = Path(__file__).parent / "recipes" / f"{p.stem if p.suffix else p.name}.yaml"
        if builtin.exists():
            p = builtin
        else:
            raise FileNotFoundError(f"{path}: no such recipe file (nor a built-in recipe of that name)")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{p}: a recipe must be a mapping")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ValueError(f"{p}: unknown recipe keys: {', '.join(sorted(unknown))}")
    for req in ("name", "arch"):
        if req not in raw:
            raise ValueError(f"{p}: missing required key {req!r}")
    if not (isinstance(raw["name"], str) and NAME_RE.match(raw["name"]) and ".." not in raw["name"]):
        raise ValueError(f"{p}: name {raw['name']!r} must be a plain folder name (letters, digits, . _ -)")
    if raw.get("domain", "srgb") not in ("srgb", "raw"):
        raise ValueError(f"{p}: domain must be 'srgb' or 'raw'")
    if raw.get("stages") is not None:
        from edgeden.training.stages import validate_stages

        validate_stages(raw["stages"], str(p))
    t = raw.get("teacher")
    if t is not None and not (isinstance(t, dict) and "arch" in t and "weights" in t):
        raise ValueError(f"{p}: teacher needs arch and weights")
    return Recipe(**raw, source=str(p))
