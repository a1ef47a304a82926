"""The DC-NAS study's table (issue 23 point 4) from its result files, as markdown on stdout.

    python lab/benchmarks/dcnas_study_table.py > lab/results/dcnas/study.md

Reads lab/results/dcnas/study_latency_256px_idle.json (dcnas_study.py latency),
study_eval_{kodak24,cbsd68}*.json (`edgeden eval --json`; runs of a set share its seeded noise)
and lab/recipes/dcnas-study/targets.json (what each search measured).
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
R = ROOT / "lab" / "results" / "dcnas"
# (target, hand-scaled UNet, network searched for the UNet's latency)
GROUPS = [("UNet-S", "unet-s", "dcnas-t1"), ("UNet-M b16", "unet-m16", "dcnas-t2"),
          ("UNet-M b16, searched here", "unet-m16", "dcnas-t2b"),
          ("UNet-M b24 (unet-m-srgb)", "unet-m24", "dcnas-t3")]
LEVELS = ["awgn:15", "awgn:25", "awgn:50", "camera:0.004"]


def _eval(setname: str) -> dict[str, dict[str, tuple[float, float]]]:
    """PSNR / SSIM per network and noise from every eval run of the set (same seeded noise)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for f in sorted(R.glob(f"study_eval_{setname}*.json")):
        d = json.loads(f.read_text())
        for r in d["results"]:
            out.setdefault("unet-m-srgb", {})[r["noise"]] = (r["psnr"], r["ssim"])
            for k in d.get("presets_compared", {}):
                out.setdefault(k, {})[r["noise"]] = (r[f"{k}_psnr"], r[f"{k}_ssim"])
    return out


def main() -> None:
    lat = json.loads((R / "study_latency_256px_idle.json").read_text())
    found = json.loads((ROOT / "lab" / "recipes" / "dcnas-study" / "targets.json").read_text())
    ev = {s: _eval(s) for s in ("kodak24", "cbsd68")}
    print("| latency of | network | params | GMACs/MP | in its search: target / measured ms | "
          "here: ms (vs the UNet) | "
          + " | ".join(f"{s} {lv}" for s in ("Kodak24", "CBSD68") for lv in LEVELS) + " |")
    print("|---|---|---:|---:|---:|---:|" + "---:|" * (2 * len(LEVELS)))
    for title, unet, dc in GROUPS:
        base = lat["ms"].get(f"study-{unet}")
        for name in (unet, dc):
            key = f"study-{name}"
            if key not in lat["ms"]:
                continue
            c, ms = lat["cost"][key], lat["ms"][key]
            vs = f" ({100 * (ms - base) / base:+.1f}%)" if name != unet and base else ""
            f = found.get(key)
            srch = f"{f['target_ms']:.1f} / {f['measured_in_search_ms']:.1f}" if f else "-"
            cells = []
            for s in ("kodak24", "cbsd68"):
                for lv in LEVELS:
                    p = ev[s].get(f"cand-{key}", {}).get(lv)
                    cells.append(f"{p[0]:.2f} / {p[1]:.3f}" if p else "-")
            label = f"searched ({name})" if name.startswith("dcnas") else name
            print(f"| {title} | {label} | {c['params']:,} | {c['gmacs_per_mp']:.1f} | {srch} | {ms:.1f}{vs} | "
                  + " | ".join(cells) + " |")
    ref = []
    for s in ("kodak24", "cbsd68"):
        for lv in LEVELS:
            p = ev[s]["unet-m-srgb"].get(lv)
            ref.append(f"{p[0]:.2f} / {p[1]:.3f}" if p else "-")
    print("| (shipped, long training) | unet-m-srgb | 1,083,891 | 79.6 | - | as unet-m24 | " + " | ".join(ref) + " |")
    print(f"\nLatency here: {lat['machine']['cpu']} ({lat['machine'].get('cpu_capability')}), 1 thread, "
          f"256x256 sRGB + noise map, median of {lat['repeats']} after {lat['warmup']} warm-up, "
          f"load average {lat['machine'].get('load_avg_1min')} at the start.")


if __name__ == "__main__":
    main()
