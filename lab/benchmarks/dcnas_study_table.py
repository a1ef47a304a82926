"""The DC-NAS study's table (issue 23 point 4) from its result files, as markdown on stdout.

    python lab/benchmarks/dcnas_study_table.py > lab/results/dcnas/study.md

Reads lab/results/dcnas/study_latency_256px_idle.json (dcnas_study.py latency),
study_eval_{kodak24,cbsd68}.json (`edgeden eval --json`, one run per set).
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
R = ROOT / "lab" / "results" / "dcnas"
GROUPS = [("UNet-S's latency", "unet-s", "dcnas-t1"), ("UNet-M's latency", "unet-m16", "dcnas-t2"),
          ("unet-m-srgb's latency (UNet-M b=24)", "unet-m24", "dcnas-t3")]
LEVELS = ["awgn:15", "awgn:25", "awgn:50", "camera:0.004"]


def _eval(setname: str) -> dict[str, dict[str, tuple[float, float]]]:
    d = json.loads((R / f"study_eval_{setname}.json").read_text())
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for r in d["results"]:
        out.setdefault("unet-m-srgb", {})[r["noise"]] = (r["psnr"], r["ssim"])
        for k in d.get("presets_compared", {}):
            out.setdefault(k, {})[r["noise"]] = (r[f"{k}_psnr"], r[f"{k}_ssim"])
    return out


def main() -> None:
    lat = json.loads((R / "study_latency_256px_idle.json").read_text())
    ev = {s: _eval(s) for s in ("kodak24", "cbsd68")}
    print("| target | network | params | GMACs/MP | ms per 256x256 (vs target) | "
          + " | ".join(f"{s} {lv}" for s in ("Kodak24", "CBSD68") for lv in LEVELS) + " |")
    print("|---|---|---:|---:|---:|" + "---:|" * (2 * len(LEVELS)))
    for title, unet, dc in GROUPS:
        target = lat["targets_ms"].get(f"study-{dc}")
        for name in (unet, dc):
            key = f"study-{name}"
            if key not in lat["ms"]:
                continue
            c = lat["cost"][key]
            ms = lat["ms"][key]
            vs = f" ({100 * (ms - target) / target:+.1f}%)" if target else ""
            cells = []
            for s in ("kodak24", "cbsd68"):
                for lv in LEVELS:
                    p = ev[s].get(f"cand-{key}", {}).get(lv)
                    cells.append(f"{p[0]:.2f} / {p[1]:.3f}" if p else "-")
            label = f"searched ({name})" if name.startswith("dcnas") else name
            print(f"| {title} | {label} | {c['params']:,} | {c['gmacs_per_mp']:.1f} | {ms:.1f}{vs} | " + " | ".join(cells) + " |")
    ref = []
    for s in ("kodak24", "cbsd68"):
        for lv in LEVELS:
            p = ev[s]["unet-m-srgb"].get(lv)
            ref.append(f"{p[0]:.2f} / {p[1]:.3f}" if p else "-")
    print("| (shipped, long training) | unet-m-srgb | 1,083,891 | 79.6 | as unet-m24 | " + " | ".join(ref) + " |")


if __name__ == "__main__":
    main()
