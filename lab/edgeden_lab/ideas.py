"""Tables of the papers' training ideas against their plain alternatives on equal CPU budgets.

Each comparison is a set of ``idea-*`` recipes (``edgeden/training/recipes/``) trained with
``edgeden train``; this module reads their run logs and writes ``lab/benchmarks/training_ideas.json``
and ``lab/results/training_ideas.md``::

    python -m edgeden_lab.ideas [--runs runs] [--json lab/benchmarks/training_ideas.json] [--md lab/results/training_ideas.md]

Quality is the trainer's validation PSNR at the end of each run (8 held-out BSDS500 photos, centre
crops, seeded noise at fixed levels; never a test set), so every arm is measured on the same
images and noise. CPU time is the process time the trainer logged (training and validation).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

COMPARISONS = [
    {"idea": "Expand-Shrink Learning", "paper": "TSDN (papers/002 Sec. III-C)", "domain": "raw",
     "arms": {"ESL: expanded net, 5 CSL + 2 LSL steps, each retrained": ["idea-esl-tsdn"],
              "TSDN from scratch": ["idea-scratch-tsdn"]}},
    {"idea": "Expand-Shrink Learning, 4x the budget", "paper": "TSDN (papers/002 Sec. III-C)", "domain": "raw",
     "arms": {"ESL: expanded net, 5 CSL + 2 LSL steps, each retrained": ["idea-esl-tsdn-4x"],
              "TSDN from scratch": ["idea-scratch-tsdn-4x"]}},
    {"idea": "Cascade training", "paper": "DN-ResNet (papers/003 Sec. 3.1)", "domain": "srgb",
     "arms": {"cascade: 3 layers, +1 ResBlock at each loss plateau, to 13": ["idea-cascade-dnresnet"],
              "DN-ResNet-13 in one shot": ["idea-oneshot-dnresnet"]}},
    {"idea": "Incremental evolution", "paper": "DS-DN-ResNet (papers/003 Sec. 3.2)", "domain": "srgb",
     "arms": {"evolution: one block -> DS block at a time, tail first": ["idea-evolve-dsdnresnet"],
              "all blocks -> DS blocks at once": ["idea-replace-dsdnresnet"]}},
    {"idea": "Knowledge distillation", "paper": "FA-Net (papers/001 Sec. 3.2)", "domain": "raw",
     "arms": {"Charbonnier + simple KD + feature matching (teacher: TSDN)": ["idea-kd-fanet"],
              "Charbonnier alone": ["idea-plain-fanet"]}},
    {"idea": "Noise subrange model array", "paper": "FA-Net (papers/001 Sec. 3.3)", "domain": "raw",
     "arms": {"NSMA: 4 models on 4 log-S subranges, 1/4 of the steps each": [f"idea-nsma-fanet-{i}" for i in range(1, 5)],
              "one model on the whole range": ["idea-plain-fanet"]}},
    {"idea": "Noise subrange model array, every member fully trained (4x training compute)",
     "paper": "FA-Net (papers/001 Sec. 3.3)", "domain": "raw",
     "arms": {"NSMA: 4 models, each with the single model's steps": [f"idea-nsma-fanet-{i}-full" for i in range(1, 5)],
              "one model on the whole range": ["idea-plain-fanet"]}},
]


def read_run(run: Path) -> dict:
    """Final validation PSNR per level, steps, CPU hours and parameter count of one run folder."""
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    cpu, seg = 0.0, 0.0
    vals: dict[str, float] = {}
    step = 0
    for e in events:
        if e.get("event") == "start":
            cpu, seg = cpu + seg, 0.0
        if "cpu_hours_this_run" in e:
            seg = max(seg, e["cpu_hours_this_run"])
        if any(k.startswith("val_psnr@") for k in e):
            vals = {k.split("@", 1)[1]: v for k, v in e.items() if k.startswith("val_psnr@")}
        step = max(step, e.get("step", 0))
    params = None
    if (run / "last.safetensors").exists():
        from safetensors.torch import load_file

        params = sum(t.numel() for t in load_file(str(run / "last.safetensors")).values())
    total = int(json.loads((run / "recipe.json").read_text()).get("optim", {}).get("steps", 0))
    return {"run": run.name, "steps": step, "finished": bool(vals) and step >= total, "cpu_hours": cpu + seg,
            "params": params, "val_psnr": {float(k): v for k, v in vals.items()}}


def arm_row(runs: list[dict]) -> dict:
    """One arm of several runs (a model array): the PSNR at a level comes from the run that was
    validated there (the array's member for that noise level); CPU time and steps add up."""
    psnr: dict[float, float] = {}
    for r in runs:
        psnr.update(r["val_psnr"])
    return {"runs": [r["run"] for r in runs], "steps": sum(r["steps"] for r in runs),
            "cpu_hours": sum(r["cpu_hours"] for r in runs), "params_each": runs[0]["params"],
            "val_psnr": dict(sorted(psnr.items()))}


def collect(runs_dir: Path) -> list[dict]:
    out = []
    for c in COMPARISONS:
        arms = {}
        for label, names in c["arms"].items():
            if not all((runs_dir / n / "log.jsonl").exists() for n in names):
                break
            runs = [read_run(runs_dir / n) for n in names]
            if not all(r["finished"] for r in runs):  # a comparison is tabled once every arm is done
                break
            arms[label] = arm_row(runs)
        else:
            levels = sorted(set.intersection(*(set(a["val_psnr"]) for a in arms.values())))
            for a in arms.values():
                a["mean_psnr"] = sum(a["val_psnr"][lv] for lv in levels) / len(levels) if levels else None
            out.append({**{k: c[k] for k in ("idea", "paper", "domain")}, "levels": levels, "arms": arms})
    return out


def load_rows(path: Path) -> list[dict]:
    """Rows written earlier to ``path`` (JSON turns the PSNR levels into strings: made floats again)."""
    if not path.exists():
        return []
    rows = json.loads(path.read_text())
    for r in rows:
        for a in r["arms"].values():
            a["val_psnr"] = {float(k): v for k, v in a["val_psnr"].items()}
    return rows


def merge(previous: list[dict], fresh: list[dict]) -> list[dict]:
    """Comparisons measured now replace earlier ones; earlier ones whose runs are gone (``runs/``
    is not kept between sessions) stay, in the order of ``COMPARISONS``."""
    by_idea = {r["idea"]: r for r in previous} | {r["idea"]: r for r in fresh}
    return [by_idea[c["idea"]] for c in COMPARISONS if c["idea"] in by_idea]


def _level(domain: str, lv: float) -> str:
    return f"sigma {lv:g}" if domain == "srgb" else f"S {lv:g}"


def markdown(rows: list[dict]) -> str:
    lines = ["# The papers' training ideas against their plain alternatives (equal CPU budgets)", "",
             "Generated by `python -m edgeden_lab.ideas` from the `idea-*` runs (recipes in",
             "`edgeden/training/recipes/`). PSNR (dB) is the trainer's final validation on 8 held-out",
             "BSDS500 photos with seeded noise (raw: UPI noise at shot S with the mean read noise, linear",
             "raw PSNR; sRGB: AWGN sigma/255); CPU-h is the logged process time. Reading and caveats:",
             "docs/training.md, \"Training ideas at equal budget\".", ""]
    for r in rows:
        lv = r["levels"]
        lines += [f"## {r['idea']} — {r['paper']}", "",
                  "| arm | " + " | ".join(_level(r["domain"], v) for v in lv) + " | mean | steps | CPU-h | params |",
                  "|---|" + "---:|" * (len(lv) + 4)]
        best = max(a["mean_psnr"] for a in r["arms"].values())
        for label, a in r["arms"].items():
            mark = "**" if a["mean_psnr"] == best else ""
            cells = [f"{a['val_psnr'][v]:.2f}" for v in lv]
            params = ("?" if a["params_each"] is None else f"{a['params_each']:,}") + (f" x {len(a['runs'])}" if len(a["runs"]) > 1 else "")
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {mark}{a['mean_psnr']:.2f}{mark} | {a['steps']} | "
                         f"{a['cpu_hours']:.3f} | {params} |")
        extra = sorted(set().union(*(a["val_psnr"] for a in r["arms"].values())) - set(lv))
        if extra:
            lines += ["", "Levels measured by one arm only: " + "; ".join(
                f"{label}: " + ", ".join(f"{_level(r['domain'], v)} {a['val_psnr'][v]:.2f}" for v in extra if v in a["val_psnr"])
                for label, a in r["arms"].items() if any(v in a["val_psnr"] for v in extra))]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--json", default="lab/benchmarks/training_ideas.json")
    ap.add_argument("--md", default="lab/results/training_ideas.md")
    a = ap.parse_args(argv)
    rows = merge(load_rows(Path(a.json)), collect(Path(a.runs)))
    Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
    Path(a.md).write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
