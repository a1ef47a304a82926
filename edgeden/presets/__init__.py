"""Presets: typed YAML files binding an architecture to trained weights and settings.

Each ``edgeden/presets/<name>.yaml`` holds::

    name: unet-m-srgb
    arch: unet-m                 # registered architecture
    arch_args: {}
    domain: srgb                 # srgb: RGB/grey photos; raw: packed RGGB camera raw
    noise_map: true              # model input gets a noise-level (std) map channel
    gain_target: null            # raw: exposure normalisation to this mean (core.ksigma.exposure_gain)
    ksigma: false                # raw presets: k-sigma transform around the model
    k_ref: null
    weights: unet-m-srgb.safetensors   # in edgeden/presets/weights/
    sha256: <hex>                # checked before loading
    tile: 512                    # default tile edge (model-input pixels) and overlap
    overlap: 32
    description: one line for ``edgeden models``
    array: {shot_bounds: [...]}  # optional: a noise subrange model array (edgeden.models.array),
                                 # n members in one weights file, picked per image by its noise
    backend: onnxruntime         # optional: `--backend auto` runs this preset with ONNX Runtime
                                 # when installed and inference is fp32 (measured faster end to end)
    provenance: {paper: ..., recipe: ..., data: ..., steps: ..., cpu_hours: ..., quality: {...}}

Presets are read from this package and from every folder in ``$EDGEDEN_PRESET_PATH``
(``os.pathsep``-separated; a user's own trained presets), weights resolved beside the YAML
(``weights/<file>`` or ``<file>``); a user preset of the same name wins.

Only presets whose weights file is present are listed: a preset without trained weights
is never offered to users. One builder (:func:`build_model`) loads weights; models never
open files.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edgeden.core.types import EdgedenError
from edgeden.io.common import sha256_file

if TYPE_CHECKING:  # torch is imported only when a model is built: `edgeden models` stays fast
    from edgeden.core.modelspec import ModelSpec

PRESET_DIR = Path(__file__).parent
WEIGHTS_DIR = PRESET_DIR / "weights"

#: Presets used when ``--model`` is omitted, per input kind, in order of preference: camera
#: raws get the best installed raw preset, PNG/TIFF/JPEG the best installed sRGB one. If a
#: kind has none of these, any installed preset of that domain is used; an RGB image with only
#: raw presets installed goes through a raw preset (unprocessing), a raw with only sRGB presets
#: is refused with a clear message.
DEFAULT_PRESETS = {"raw": ("tsdn",), "rgb": ("resunet-srgb", "unet-m-srgb")}

@dataclass(frozen=True)
class Preset:
    name: str
    arch: str
    domain: str
    weights: str
    sha256: str
    arch_args: dict[str, Any] = field(default_factory=dict)
    noise_map: bool = False
    gain_target: float | None = None
    ksigma: bool = False
    k_ref: float | None = None
    tile: int = 512
    overlap: int = 32
    description: str = ""
    classifier: dict[str, Any] | None = None
    array: dict[str, Any] | None = None  # noise subrange model array: {"shot_bounds": [n + 1 values]}
    backend: str | None = None  # the engine `--backend auto` picks: None (PyTorch) or "onnxruntime"
    provenance: dict[str, Any] = field(default_factory=dict)
    root: Path = PRESET_DIR

    @property
    def spec(self) -> ModelSpec:
        """The network's input contract (:class:`edgeden.core.modelspec.ModelSpec`)."""
        from edgeden.core.modelspec import ModelSpec

        return ModelSpec(domain=self.domain, noise_map=self.noise_map, ksigma=self.ksigma, k_ref=self.k_ref,
                         gain_target=self.gain_target)

    @property
    def image_channels(self) -> int:
        return self.spec.image_channels

    @property
    def in_channels(self) -> int:
        return self.spec.in_channels

    @property
    def weights_path(self) -> Path:
        w = self.root / "weights" / self.weights
        return w if w.exists() else self.root / self.weights


_FIELDS = set(Preset.__dataclass_fields__) - {"root"}


def parse_preset(path: Path) -> Preset:
    """Read and validate one preset YAML (unknown keys and bad values raise ValueError)."""
    raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # libyaml: 10x faster
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a preset must be a mapping")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ValueError(f"{path}: unknown preset keys {sorted(unknown)}")
    missing = {"name", "arch", "domain", "weights", "sha256"} - set(raw)
    if missing:
        raise ValueError(f"{path}: missing preset keys {sorted(missing)}")
    if raw["domain"] not in ("srgb", "raw"):
        raise ValueError(f"{path}: domain must be srgb or raw")
    if raw.get("backend") not in (None, "torch", "onnxruntime"):
        raise ValueError(f"{path}: backend must be torch or onnxruntime, got {raw.get('backend')!r}")
    arr = raw.get("array")
    if arr is not None and not (isinstance(arr, dict) and len(arr.get("shot_bounds") or []) >= 3):
        raise ValueError(f"{path}: array needs shot_bounds (n + 1 values for n >= 2 members)")
    return Preset(**raw, root=path.parent)


def preset_dirs() -> list[Path]:
    """Folders searched for preset YAMLs: the package's, then $EDGEDEN_PRESET_PATH's."""
    extra = [Path(p) for p in os.environ.get("EDGEDEN_PRESET_PATH", "").split(os.pathsep) if p]
    return [PRESET_DIR, *extra]


def all_presets() -> dict[str, Preset]:
    """Every preset found (name -> Preset), with or without its weights file present."""
    return _scan(tuple(str(d) for d in preset_dirs()))


def reload_presets() -> None:
    """Forget the cached preset scan (after writing a preset or changing $EDGEDEN_PRESET_PATH)."""
    _scan.cache_clear()


#: Largest preset YAML read (a preset is a few KB; anything bigger is not one).
MAX_PRESET_BYTES = 1 << 20


@lru_cache(maxsize=8)
def _scan(dirs: tuple[str, ...]) -> dict[str, Preset]:
    """Presets of ``dirs``; the package's must parse, a user folder's bad file is skipped with
    one warning line on stderr (the other presets keep working)."""
    out = {}
    for d in dirs:
        for p in sorted(Path(d).glob("*.yaml")):
            try:
                if Path(d) != PRESET_DIR and (not p.is_file() or p.stat().st_size > MAX_PRESET_BYTES):
                    raise ValueError(f"{p}: not a regular file of at most {MAX_PRESET_BYTES} bytes")
                pr = parse_preset(p)
            except (ValueError, TypeError, OSError, yaml.YAMLError) as e:
                if Path(d) == PRESET_DIR:
                    raise
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                print(f"edgeden: warning: skipped preset file {p}: {msg}", file=sys.stderr)
                continue
            out[pr.name] = pr
    return out


def list_presets() -> list[str]:
    """Names of the presets whose trained weights ship with the package."""
    return [n for n, p in all_presets().items() if p.weights_path.exists()]


def get_preset(name: str) -> Preset:
    """The preset called ``name``; EdgedenError naming the available ones otherwise."""
    avail = list_presets()
    if name not in avail:
        hint = f"available: {', '.join(avail)}" if avail else "no trained presets are installed"
        raise EdgedenError(f"unknown model preset {name!r} ({hint}); see `edgeden models`")
    return all_presets()[name]


def default_preset(kind: str = "rgb") -> str:
    """The preset used for an input of ``kind`` ("raw" or "rgb") when ``--model`` is omitted.

    See :data:`DEFAULT_PRESETS`. Raises EdgedenError when no trained preset is installed.
    """
    avail = list_presets()
    if not avail:
        raise EdgedenError("no trained model presets are installed; `edgeden models` lists what is available")
    for n in DEFAULT_PRESETS.get(kind, ()):
        if n in avail:
            return n
    allp = all_presets()
    want = "raw" if kind == "raw" else "srgb"
    # plain denoisers before joint denoise+classify presets
    same = sorted((n for n in avail if allp[n].domain == want), key=lambda n: allp[n].classifier is not None)
    if same:
        return same[0]
    raw = [n for n in avail if allp[n].domain == "raw"]
    return raw[0] if (kind != "raw" and raw) else avail[0]


def classifier_accuracy(p: Preset) -> float:
    """Mean test accuracy over the noise levels of a classifier preset's own row in its
    ``provenance.joint_table`` (keyed by the training run, the recipe's name); -1 if unknown."""
    table = (p.provenance or {}).get("joint_table") or {}
    run = Path(str((p.provenance or {}).get("recipe", ""))).stem
    rows = [r["acc"] for r in table.get(run, []) if "acc" in r]
    return sum(rows) / len(rows) if rows else -1.0


def classifier_preset() -> Preset:
    """The installed preset used by ``--classify``: of those with a classifier head, the one
    with the best measured accuracy (then by name)."""
    allp = all_presets()
    cands = sorted((n for n in list_presets() if allp[n].classifier),
                   key=lambda n: (-classifier_accuracy(allp[n]), n))
    if cands:
        return allp[cands[0]]
    raise EdgedenError("--classify needs a preset with a classifier head (DC-Net), and none is installed; "
                       "see `edgeden models`")


def check_weights(pr: Preset, verify: bool = True) -> Path:
    """The preset's weights file, checked: EdgedenError when it is missing or (``verify``) its
    sha256 differs from the preset's. Needs no PyTorch."""
    wp = pr.weights_path
    if not wp.exists():
        raise EdgedenError(f"{wp}: weights for preset {pr.name!r} are missing")
    if verify and sha256_file(wp) != pr.sha256:
        raise EdgedenError(f"{wp}: sha256 does not match preset {pr.name!r} (corrupt or replaced weights file)")
    return wp


def build_model(preset: Preset | str, verify: bool = True):
    """The preset's network with its trained weights loaded, in eval mode (float32, CPU); for a
    model array preset an ``edgeden.models.array.SubrangeArray`` (``denoise_array`` selects).

    Raises EdgedenError when the weights file is missing or its sha256 differs from the preset.
    """
    from safetensors.torch import load_file

    from edgeden.core.precision import apply_threads
    from edgeden.models import create_arch

    apply_threads()  # the CLI's --threads, now that PyTorch is loaded

    pr = get_preset(preset) if isinstance(preset, str) else preset
    wp = check_weights(pr, verify)
    def one():
        return create_arch(pr.arch, **pr.spec.arch_kwargs(), **pr.arch_args)

    if pr.array:
        from edgeden.models.array import SubrangeArray

        bounds = pr.array["shot_bounds"]
        net = SubrangeArray([one() for _ in range(len(bounds) - 1)], bounds)
    else:
        net = one()
    net.load_state_dict(load_file(str(wp)))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
