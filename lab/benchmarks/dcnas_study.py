"""DC-NAS against hand-picked UNets at equal latency and equal training (issue 23 points 3-4).

    python lab/benchmarks/dcnas_study.py recipe SEARCH_DIR NAME   # study recipe of a found network
    python lab/benchmarks/dcnas_study.py latency OUT.json         # idle-machine latency of every net

``recipe`` writes lab/recipes/dcnas-study/NAME.yaml: the architecture (and zero_init) the search
wrote, with the study's training (the same data, noise, loss, schedule and steps as the UNet
study recipes beside it), so the only difference between two rows of the table is the network.
``latency`` times every study network (UNet-S, UNet-M b16 / b24 and the found ones) on a
1 x 4 x 256 x 256 input (sRGB + noise map) at 1 thread, in interleaved rounds, with the table's
protocol (10 warm-up calls, median of 30), and the found networks against their targets.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1] / "recipes" / "dcnas-study"
TEMPLATE = HERE / "study-unet-m16.yaml"


def recipe(search_dir: Path, name: str, row: str = "chosen") -> Path:
    found = yaml.safe_load((search_dir / "recipe.yaml").read_text())
    doc = yaml.safe_load(TEMPLATE.read_text())
    doc.update(name=name, arch="dcnas", arch_args=found["arch_args"])
    if found.get("zero_init"):
        doc["zero_init"] = found["zero_init"]
    pareto = json.loads((search_dir / "pareto.json").read_text())
    chosen = next(r for r in pareto["rows"] if row in r["names"])
    doc["arch_args"] = chosen["arch_args"]
    head = (f"# DC-NAS study (issue 23 point 4): the network `edgeden search` found in {search_dir}\n"
            f"# (Pareto row {row!r})\n"
            f"# (target {pareto['target_ms']:.1f} ms per {pareto['size'][0]}x{pareto['size'][1]} image at 1 thread;\n"
            f"# predicted {chosen['predicted_ms']:.1f}, measured {chosen['measured_ms']:.1f} ms during the search),\n"
            f"# trained exactly as the UNet study recipes beside it.\n")
    out = HERE / f"{name}.yaml"
    out.write_text(head + yaml.safe_dump(doc, sort_keys=False))
    tfile = HERE / "targets.json"
    targets = json.loads(tfile.read_text()) if tfile.is_file() else {}
    targets[name] = {"target_ms": pareto["target_ms"], "search": str(search_dir), "row": row,
                     "measured_in_search_ms": chosen["measured_ms"], "predicted_ms": chosen["predicted_ms"]}
    tfile.write_text(json.dumps(targets, indent=1, sort_keys=True) + "\n")
    return out


def latency(out: Path, repeats: int = 30, warmup: int = 10) -> None:
    import torch

    from edgeden.models import create_arch
    from edgeden.models.complexity import measure
    from edgeden.training.latency import _input, _prep, machine, time_many

    torch.set_num_threads(1)
    tfile = HERE / "targets.json"
    targets = {n: t["target_ms"] for n, t in json.loads(tfile.read_text()).items()} if tfile.is_file() else {}
    x = _input((1, 4, 256, 256), "cpu")
    names, fns, cost = [], [], {}
    for f in sorted(HERE.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        torch.manual_seed(0)
        net = _prep(create_arch(doc["arch"], 4, 3, **(doc.get("arch_args") or {})), "cpu")
        names.append(doc["name"])
        m = measure(doc["arch"], 4, 256, 256, out_channels=3, **(doc.get("arch_args") or {}))
        cost[doc["name"]] = {"params": m["params"], "gmacs_per_mp": round(m["macs_per_mp"] / 1e9, 2)}
        fns.append(lambda net=net: net(x))
    ms = time_many(fns, warmup, repeats, "cpu")
    rows = {n: round(m, 2) for n, m in zip(names, ms)}
    res = {"machine": machine("cpu"), "size": [256, 256], "threads": 1, "warmup": warmup, "repeats": repeats,
           "ms": rows, "cost": cost, "vs_target_pct": {n: round(100 * (rows[n] - t) / t, 2) for n, t in targets.items()},
           "targets_ms": targets}
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res["ms"], indent=1), json.dumps(res["vs_target_pct"], indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recipe")
    r.add_argument("search_dir", type=Path)
    r.add_argument("name")
    r.add_argument("--row", default="chosen", help="the Pareto row to train (default: the chosen network)")
    lt = sub.add_parser("latency")
    lt.add_argument("out", type=Path)
    a = ap.parse_args()
    if a.cmd == "recipe":
        print(recipe(a.search_dir, a.name, a.row))
    else:
        latency(a.out)


if __name__ == "__main__":
    main()
