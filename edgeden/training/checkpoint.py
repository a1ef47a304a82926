"""Resumable training state without pickle: one ``state.safetensors`` per run.

The file holds every tensor (model weights ``model.*``, Adam moments ``optim.<param>.<key>``,
the data generator's state ``rng.gen``) and, in its safetensors metadata, a small JSON object
(format, step, best validation score, staged-program state, the optimiser's param groups and
non-tensor state). Loading parses JSON and raw tensors only, so a planted file cannot run code;
the file is replaced atomically (temp file + rename), so a killed run keeps the previous state.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "edgeden-train-state/1"
STATE_FILE = "state.safetensors"


def save_state(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator, step: int, best: float, program: dict | None) -> None:
    """Write the run's state to ``path`` atomically (see the module docstring)."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    osd = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in osd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v
            else:
                scalars.setdefault(str(pid), {})[k] = v
    tensors["rng.gen"] = generator.get_state()
    meta = {"format": FORMAT, "step": int(step), "best": float(best), "program": program,
            "param_groups": osd["param_groups"], "optim_scalars": scalars}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
              metadata={"edgeden": json.dumps(meta)})
    os.replace(tmp, path)


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON part of a state file (step, best, program, ...). ValueError if not one of ours."""
    with safe_open(str(path), framework="pt") as f:
        meta = (f.metadata() or {}).get("edgeden")
    if not meta:
        raise ValueError(f"{path}: not an edgeden training state file")
    d = json.loads(meta)
    if d.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown training state format {d.get('format')!r}")
    return d


def load_state(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               generator: torch.Generator) -> dict[str, Any]:
    """Restore model, optimiser and generator from ``path`` (the model must already have the
    architecture it was saved with); returns the JSON metadata (step, best, program)."""
    meta = read_meta(path)
    model_sd, optim_state, rng = {}, {}, None
    with safe_open(str(path), framework="pt") as f:
        for k in f.keys():
            t = f.get_tensor(k)
            if k.startswith("model."):
                model_sd[k[len("model."):]] = t
            elif k.startswith("optim."):
                pid, key = k[len("optim."):].split(".", 1)
                optim_state.setdefault(int(pid), {})[key] = t
            elif k == "rng.gen":
                rng = t
    for pid, d in meta.get("optim_scalars", {}).items():
        optim_state.setdefault(int(pid), {}).update(d)
    model.load_state_dict(model_sd)
    optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    if rng is not None:
        generator.set_state(rng)
    return meta
