"""Every preset beside (C)BM3D on the same seeded noise, without re-running BM3D.

CBM3D costs ~0.0075 MP/s per core here (an hour of both cores for Kodak24 + CBSD68 at three
sigmas), and it is deterministic given the noisy image. ``edgeden eval --compare bm3d`` runs
saved in lab/benchmarks/bm3d/ hold its figures for whole test sets; a preset evaluated later with
the same set, seed and noise specs (``edgeden eval PRESET --data SET --noise ... --threads 1
--json``) sees exactly the same noisy images. This script pairs such a run with the saved CBM3D
run and *checks* the pairing: same set, image count, seed and start, and per noise level the
noisy input's mean PSNR and SSIM equal to 4 decimals (different noise would differ there).

    python lab/benchmarks/beside_bm3d.py --bm3d lab/benchmarks/bm3d/dnresnet-srgb_kodak24-all.json \\
        --out lab/benchmarks/bm3d/every_srgb_preset_kodak24.json EVAL.json [EVAL.json ...]

Prints one Markdown row per preset and noise level: PSNR, CBM3D's PSNR, the difference, and
the preset's speed as a multiple of CBM3D's (both measured at one thread on this machine). Raw
runs (``raw:S`` noise, BM3D with a variance-stabilising transform on the packed raw) compare the
raw-domain PSNR (the raw bar) and show the rendered sRGB difference beside it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def pair(ev: dict, ref: dict, tol: float = 1e-4) -> list[dict]:
    """Rows {preset, data, noise, psnr, bm3d_psnr, delta, speedup} of ``ev`` (an eval result)
    beside the CBM3D figures of ``ref`` (an eval result made with ``--compare bm3d``).

    Raises ValueError when the two runs did not see the same noisy images."""
    for k in ("data", "images", "seed"):
        if ev.get(k) != ref.get(k):
            raise ValueError(f"{ev['preset']}: {k} {ev.get(k)!r} differs from the CBM3D run's {ref.get(k)!r}")
    if ev.get("start", 0) != 0:
        raise ValueError(f"{ev['preset']}: a chunk (start {ev['start']}); merge the chunks first")
    bm = {r["noise"]: r for r in ref["results"] if "bm3d_psnr" in r}
    rows = []
    for r in ev["results"]:
        b = bm.get(r["noise"])
        if b is None:
            raise ValueError(f"{ev['preset']}: the CBM3D run has no {r['noise']}")
        for k in ("noisy_psnr", "noisy_ssim", "noisy_raw_psnr"):
            if k in r and abs(r[k] - b[k]) > tol:
                raise ValueError(f"{ev['preset']} {r['noise']}: {k} {r[k]} != {b[k]} of the CBM3D run: not the same noise")
        raw = "raw_psnr" in r
        key = "raw_psnr" if raw else "psnr"
        row = {"preset": ev["preset"], "data": ev["data"], "images": ev["images"], "noise": r["noise"],
               "domain": "raw" if raw else "srgb", "psnr": r[key], "bm3d_psnr": b[f"bm3d_{key}"],
               "delta": round(r[key] - b[f"bm3d_{key}"], 3),
               "speedup": round(r["mp_per_s"] / b["bm3d_mp_per_s"], 1), "threads": ev.get("threads")}
        if raw:
            row["rendered_delta"] = round(r["psnr"] - b["bm3d_psnr"], 3)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> list[str]:
    """Markdown lines, one row per preset, set and noise level."""
    lines = ["| preset | set | noise | PSNR | (C)BM3D | difference | speed vs (C)BM3D |", "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        extra = f" (rendered {r['rendered_delta']:+.2f})" if "rendered_delta" in r else ""
        lines.append(f"| {r['preset']} | {r['data']} ({r['images']}) | {r['noise']} | {r['psnr']:.2f} | "
                     f"{r['bm3d_psnr']:.2f} | {r['delta']:+.2f}{extra} | {r['speedup']:.0f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bm3d", type=Path, required=True, help="an `edgeden eval --compare bm3d --json` result")
    ap.add_argument("--out", type=Path, help="write the rows here (JSON)")
    ap.add_argument("--card", type=Path, help="also append the table to this model card under --title")
    ap.add_argument("--title", default="Beside (C)BM3D on the same seeded noise")
    ap.add_argument("evals", nargs="+", type=Path)
    a = ap.parse_args(argv)
    ref = json.loads(a.bm3d.read_text())
    rows = [row for p in a.evals for row in pair(json.loads(p.read_text()), ref)]
    lines = table(rows)
    print("\n".join(lines))
    if a.card:
        note = (f"(C)BM3D's figures from `lab/benchmarks/bm3d/{a.bm3d.name}` (the same images, seed and noise, "
                "checked through the noisy input's PSNR / SSIM per level); PSNR is raw-domain for raw noise. "
                "Both speeds at one thread, measured in different runs. Made by `lab/benchmarks/beside_bm3d.py`.")
        with open(a.card, "a") as f:
            f.write("\n".join(["", f"## {a.title}", "", note, "", *lines, ""]))
    if a.out:
        a.out.write_text(json.dumps({"bm3d_run": a.bm3d.name, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
