"""A training run as a *local* preset for measuring it before it is exported (not shipped).

    python lab/benchmarks/candidate_preset.py runs/NAME [--name NAME] [--dir lab/scratch/presets]
        [--weights best|last] [--tile 1024] [--overlap 64] [--fp16]
    EDGEDEN_PRESET_PATH=lab/scratch/presets edgeden eval NAME ...

Writes DIR/NAME.yaml and DIR/weights/NAME.safetensors (the run's weights) with the run's input
contract; `edgeden export` makes the shipped preset and card once a candidate is chosen.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import yaml

from edgeden.training.export import copy_weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", default=None)
    ap.add_argument("--dir", type=Path, default=Path("lab/scratch/presets"))
    ap.add_argument("--weights", default="best", choices=("best", "last"))
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--fp16", action="store_true", help="store the weights as float16, as `edgeden export --fp16`")
    a = ap.parse_args()
    rec = json.loads((a.run / "recipe.json").read_text())
    name = a.name or f"cand-{rec['name']}"
    (a.dir / "weights").mkdir(parents=True, exist_ok=True)
    dst = a.dir / "weights" / f"{name}.safetensors"
    copy_weights(a.run / f"{a.weights}.safetensors", dst, a.fp16)
    doc = {"name": name, "arch": rec["arch"], "arch_args": rec.get("arch_args") or {}, "domain": rec["domain"],
           "noise_map": bool(rec.get("noise_map")), "ksigma": bool(rec.get("ksigma")),
           "gain_target": rec.get("gain_target"), "weights": dst.name,
           "sha256": hashlib.sha256(dst.read_bytes()).hexdigest(), "tile": a.tile, "overlap": a.overlap,
           "description": f"candidate from {a.run} ({a.weights}); not shipped"}
    if rec.get("k_ref") is not None:
        doc["k_ref"] = rec["k_ref"]
    (a.dir / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    print(a.dir / f"{name}.yaml")


if __name__ == "__main__":
    main()
