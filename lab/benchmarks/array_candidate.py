"""A noise-subrange array preset with some members replaced, as a *local* preset for measuring
it before it is exported (not shipped).

    python lab/benchmarks/array_candidate.py --base fanet-nsma --name cand-g16 \
        --arch-args '{"group_channels": 16}' --member 4=runs/fanet-nsma-4-g16 [--weights best|last]
    EDGEDEN_PRESET_PATH=lab/scratch/presets edgeden eval cand-g16 ...

Members not replaced keep the base preset's weights; when ``--arch-args`` changes the network
(FA-Net groups of 8 -> 16), they are embedded with the network's ``load_narrower`` (the same
function). Writes DIR/NAME.yaml and DIR/weights/NAME.safetensors.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--arch-args", default="{}", help="JSON merged into the base preset's arch_args")
    ap.add_argument("--member", action="append", default=[], help="K=RUN_DIR (1-based member index)")
    ap.add_argument("--weights", default="best", choices=("best", "last"))
    ap.add_argument("--dir", type=Path, default=Path("lab/scratch/presets"))
    a = ap.parse_args()

    from edgeden.models import create_arch
    from edgeden.presets import get_preset

    base = get_preset(a.base)
    n = len(base.array["shot_bounds"]) - 1
    args = {**base.arch_args, **json.loads(a.arch_args)}
    runs = {int(k) - 1: Path(v) for k, v in (m.split("=", 1) for m in a.member)}
    old = load_file(str(base.weights_path))
    merged: dict[str, torch.Tensor] = {}
    for i in range(n):
        if i in runs:
            rec = json.loads((runs[i] / "recipe.json").read_text())
            if rec.get("arch_args") != args:
                raise SystemExit(f"{runs[i]}: arch_args {rec.get('arch_args')} differ from {args}")
            sd = load_file(str(runs[i] / f"{a.weights}.safetensors"))
        else:
            sd = {k.split(".", 2)[2]: v for k, v in old.items() if k.startswith(f"members.{i}.")}
            if args != base.arch_args:
                net = create_arch(base.arch, **base.spec.arch_kwargs(), **args)
                net.load_narrower(sd)
                sd = net.state_dict()
        merged.update({f"members.{i}.{k}": v.contiguous() for k, v in sd.items()})
    (a.dir / "weights").mkdir(parents=True, exist_ok=True)
    dst = a.dir / "weights" / f"{a.name}.safetensors"
    save_file(merged, str(dst))
    doc = yaml.safe_load((base.root / f"{base.name}.yaml").read_text())
    doc.update(name=a.name, arch_args=args, weights=dst.name, sha256=hashlib.sha256(dst.read_bytes()).hexdigest(),
               description=f"candidate: {a.base} with members {sorted(k + 1 for k in runs)} from "
                           f"{', '.join(str(r) for r in runs.values()) or '-'}, arch_args {args}; not shipped")
    doc.pop("provenance", None)
    (a.dir / f"{a.name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    print(a.dir / f"{a.name}.yaml")


if __name__ == "__main__":
    main()
