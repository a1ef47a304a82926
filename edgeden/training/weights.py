"""Start weights of a recipe (``init``, a teacher's ``weights``), named by a stable reference,
never by a path inside a checkout:

* ``preset:NAME`` -- an installed preset's weights file (sha256 checked against the preset);
  ``preset:NAME/PREFIX`` -- only its tensors under ``PREFIX.`` with the prefix removed (one
  member of a model array: ``preset:tsdn/members.1``).
* ``ckpt:ID`` -- an entry of a checkpoint manifest, a ``manifest.json`` of the form
  ``{"checkpoints": [{"id", "file", "sha256", "made_by"}]}`` (``file`` relative to the
  manifest); ``ckpt:ID/PREFIX`` as ``preset:NAME/PREFIX``. Manifests are searched in
  ``$EDGEDEN_CHECKPOINTS`` (``os.pathsep``-separated
  manifest files or folders holding one), then in ``../checkpoints/`` beside the recipe's
  folder (the lab layout: ``lab/recipes/`` next to ``lab/checkpoints/``).
* an absolute path to a ``.safetensors`` file of your own.

Every recipe shipped in the package uses ``preset:`` references only, so it runs from an
installed wheel.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from edgeden.presets import get_preset, sha256_file


def manifest_paths(recipe_source: str | os.PathLike | None = None) -> list[Path]:
    """Checkpoint manifests to search, in order (existence not checked)."""
    out = []
    for p in os.environ.get("EDGEDEN_CHECKPOINTS", "").split(os.pathsep):
        if p:
            q = Path(p)
            out.append(q / "manifest.json" if q.is_dir() else q)
    if recipe_source:
        out.append(Path(recipe_source).resolve().parent.parent / "checkpoints" / "manifest.json")
    return out


def resolve_weights(ref: str, recipe_source: str | os.PathLike | None = None) -> tuple[Path, str | None]:
    """(weights file, tensor-name prefix or None) for a reference (see the module docstring).
    The file's sha256 is checked where the reference has one. Raises ValueError naming the
    reference when it cannot be resolved."""
    ref = str(ref)
    if ref.startswith("preset:"):
        name, _, prefix = ref[len("preset:"):].partition("/")
        pr = get_preset(name)
        wp = pr.weights_path
        if sha256_file(wp) != pr.sha256:
            raise ValueError(f"{ref}: {wp} does not match the preset's sha256")
        return wp, (prefix or None)
    if ref.startswith("ckpt:"):
        cid, _, prefix = ref[len("ckpt:"):].partition("/")
        tried = []
        for m in manifest_paths(recipe_source):
            tried.append(str(m))
            if not m.is_file():
                continue
            entries = json.loads(m.read_text()).get("checkpoints", [])
            for e in entries:
                if e.get("id") == cid:
                    f = (m.parent / e["file"]).resolve()
                    if not f.is_file():
                        raise ValueError(f"{ref}: {f} (listed in {m}) is missing")
                    if sha256_file(f) != e.get("sha256"):
                        raise ValueError(f"{ref}: {f} does not match its sha256 in {m}")
                    return f, (prefix or None)
        raise ValueError(f"{ref}: no checkpoint manifest lists it (searched: {', '.join(tried) or 'none'}; "
                         f"set EDGEDEN_CHECKPOINTS)")
    p = Path(ref)
    if p.is_absolute() and p.suffix == ".safetensors":
        if not p.is_file():
            raise ValueError(f"{ref}: no such weights file")
        return p, None
    raise ValueError(f"{ref}: start weights are named preset:NAME, ckpt:ID or an absolute .safetensors path")


def load_init(ref: str, recipe_source: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The state dict a reference names (safetensors only: nothing is unpickled)."""
    path, prefix = resolve_weights(ref, recipe_source)
    sd = load_file(str(path))
    if prefix:
        pre = prefix.rstrip(".") + "."
        sd = {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
        if not sd:
            raise ValueError(f"{ref}: no tensors under {pre!r} in {path}")
    return sd
