"""The DC-NAS study's table (issue 23 point 4) from its result files, as markdown on stdout.

    python lab/benchmarks/dcnas_study_table.py > lab/results/dcnas/study.md     # PSNR / SSIM
    python lab/benchmarks/dcnas_study_table.py --compact                        # PSNR, for docs

Reads lab/results/dcnas/study_latency_256px_idle.json (dcnas_study.py latency),
study_eval_{kodak24,cbsd68}*.json (`edgeden eval --json`; runs of a set share its seeded noise)
and lab/recipes/dcnas-study/targets.json (what each search measured).
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
R = ROOT / "lab" / "results" / "dcnas"
# (target, hand-scaled UNet, network searched for the UNet's latency)
GROUPS = [("UNet-S", "unet-s", "dcnas-t1"), ("UNet-M b16", "unet-m16", "dcnas-t2"),
          ("dcnas-t2 here (UNet-M b20)", "unet-m20", "dcnas-t2"),
          ("UNet-M b16, searched here", "unet-m16", "dcnas-t2b"),
          ("UNet-M b24 (unet-m-srgb)", "unet-m24", "dcnas-t3")]
LEVELS = ["awgn:15", "awgn:25", "awgn:50", "camera:0.004"]


def _eval(setname: str) -> dict[str, dict[str, tuple[float, float]]]:
    """PSNR / SSIM per network and noise from every eval run of the set (same seeded noise)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for f in sorted(R.glob(f"study_eval_{setname}*.json")):
        if not f.stat().st_size:  # an eval still running
            continue
        d = json.loads(f.read_text())
        for r in d["results"]:
            out.setdefault("unet-m-srgb", {})[r["noise"]] = (r["psnr"], r["ssim"])
            for k in d.get("presets_compared", {}):
                out.setdefault(k, {})[r["noise"]] = (r[f"{k}_psnr"], r[f"{k}_ssim"])
    return out


def _latency_runs() -> list[dict]:
    """Every idle latency run of the study nets: the first, then the repeats spread over the session."""
    files = [R / "study_latency_256px_idle.json", *sorted((R / "study_latency_repeats").glob("*.json"))]
    return [json.loads(f.read_text()) for f in files if f.is_file()]


def _ms_cell(runs: list[dict], key: str, base: str | None) -> str:
    """Median ms over the runs (min-max), and the median of the per-run ratio to ``base``."""
    ms = [r["ms"][key] for r in runs if key in r["ms"]]
    cell = f"{statistics.median(ms):.1f} ({min(ms):.0f}-{max(ms):.0f})"
    if base and base != key:
        rel = [r["ms"][key] / r["ms"][base] - 1 for r in runs if key in r["ms"] and base in r["ms"]]
        cell += f", {100 * statistics.median(rel):+.0f}% ({100 * min(rel):+.0f} to {100 * max(rel):+.0f})"
    return cell


def _cells(ev: dict, name: str, compact: bool) -> list[str]:
    """Full: PSNR / SSIM per set and level. Compact: PSNR at AWGN 15 / 25 / 50 per set, then camera."""
    def p(s: str, lv: str):
        return ev[s].get(name, {}).get(lv)
    if not compact:
        return [f"{p(s, lv)[0]:.2f} / {p(s, lv)[1]:.3f}" if p(s, lv) else "-"
                for s in ("kodak24", "cbsd68") for lv in LEVELS]
    out = []
    for s in ("kodak24", "cbsd68"):
        v = [p(s, lv) for lv in LEVELS[:3]]
        out.append(" / ".join(f"{x[0]:.2f}" for x in v) if all(v) else "-")
    v = [p(s, LEVELS[3]) for s in ("kodak24", "cbsd68")]
    out.append(" / ".join(f"{x[0]:.2f}" for x in v) if all(v) else "-")
    return out


def main() -> None:
    compact = "--compact" in sys.argv
    runs = _latency_runs()
    lat = runs[-1]
    found = json.loads((ROOT / "lab" / "recipes" / "dcnas-study" / "targets.json").read_text())
    ev = {s: _eval(s) for s in ("kodak24", "cbsd68")}
    print("| latency of | network | params | GMACs/MP | in its search: target / measured ms | "
          "here: ms, median (range) over runs; vs the UNet, per run | "
          + (" | ".join(f"{s} {lv}" for s in ("Kodak24", "CBSD68") for lv in LEVELS) if not compact else
             "Kodak24 AWGN 15 / 25 / 50 | CBSD68 AWGN 15 / 25 / 50 | camera:0.004 Kodak24 / CBSD68") + " |")
    print("|---|---|---:|---:|---:|---:|" + "---:|" * (2 * len(LEVELS) if not compact else 3))
    for title, unet, dc in GROUPS:
        for name in (unet, dc):
            key = f"study-{name}"
            if key not in lat["ms"]:
                continue
            c = lat["cost"][key]
            f = found.get(key)
            srch = f"{f['target_ms']:.1f} / {f['measured_in_search_ms']:.1f}" if f else "-"
            cells = _cells(ev, f"cand-{key}", compact)
            label = f"searched ({name})" if name.startswith("dcnas") else name
            print(f"| {title} | {label} | {c['params']:,} | {c['gmacs_per_mp']:.1f} | {srch} | {_ms_cell(runs, key, f'study-{unet}')} | "
                  + " | ".join(cells) + " |")
    ref = _cells(ev, "unet-m-srgb", compact)
    c = lat["cost"]["study-unet-m24"]  # the same architecture
    print(f"| (shipped, long training) | unet-m-srgb | {c['params']:,} | {c['gmacs_per_mp']:.1f} | - | as unet-m24 | "
          + " | ".join(ref) + " |")
    print(f"\nLatency here: {lat['machine']['cpu']} ({lat['machine'].get('cpu_capability')}), 1 thread, "
          f"256x256 sRGB + noise map; {len(runs)} runs over the session (trainings paused), each the "
          f"median of {lat['repeats']} interleaved rounds after {lat['warmup']} warm-up calls.")


if __name__ == "__main__":
    main()
