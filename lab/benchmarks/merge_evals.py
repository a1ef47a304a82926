"""Merge `edgeden eval --json` results of one preset over disjoint chunks of a test set into one
result, as if one run had evaluated all the images.

A chunk is ``edgeden eval --start N --limit M``: images N .. N+M-1 of the set, image i with
noise seed SEED + i, exactly the noise a single run over the whole set gives it. (Older chunks
were folders holding some of the set's images, evaluated with ``--seed`` equal to the global
index of their first image; they merge the same way.) Chunks with a ``start`` must tile the set
from image 0 with no gap or overlap. Means are weighted by each chunk's image count; the MP/s
figures by time (total megapixels / total seconds, images of one size: weighted by count).

    edgeden eval PRESET --data kodak24 --start 0 --limit 12 --compare bm3d --json > a.json &
    edgeden eval PRESET --data kodak24 --start 12 --compare bm3d --json > b.json
    python lab/benchmarks/merge_evals.py --data kodak24 OUT.json a.json b.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def merge(chunks: list[dict], data: str) -> dict:
    """One eval result (``edgeden.evaluate.evaluate``'s dict) from results over disjoint chunks."""
    if len({c["preset"] for c in chunks}) != 1:
        raise ValueError("chunks of different presets")
    if all("start" in c for c in chunks):  # --start chunks: one seed, contiguous from image 0
        chunks = sorted(chunks, key=lambda c: c["start"])
        if len({c["seed"] for c in chunks}) != 1:
            raise ValueError("chunks evaluated with different --seed")
        at = 0
        for c in chunks:
            if c["start"] != at:
                raise ValueError(f"chunks leave a gap or overlap at image {at} (next chunk starts at {c['start']})")
            at += c["images"]
    n = [c["images"] for c in chunks]
    total = sum(n)
    noises = [r["noise"] for r in chunks[0]["results"]]
    results = []
    for j, noise in enumerate(noises):
        rows = [c["results"][j] for c in chunks]
        if any(r["noise"] != noise for r in rows):
            raise ValueError(f"chunks differ in noise order at {noise}")
        out = {"noise": noise}
        for k in rows[0]:
            if k == "noise":
                continue
            if k.endswith("mp_per_s"):  # harmonic: the same megapixels per image in each chunk
                out[k] = round(total / sum(ni / r[k] for ni, r in zip(n, rows)), 4)
            else:
                out[k] = round(sum(ni * r[k] for ni, r in zip(n, rows)) / total, 4)
        results.append(out)
    first = chunks[0]
    side = {}
    for key in ("peers", "presets_compared", "protocol"):  # what was compared: the same in every chunk
        if key in first:
            if any(c.get(key) != first[key] for c in chunks):
                raise ValueError(f"chunks differ in {key}")
            side[key] = first[key]
    return {**side, "preset": first["preset"], "data": data, "images": total, "seed": first["seed"],
            "threads": first["threads"], "precision": first.get("precision"),
            "conv_peak_gflops": round(min(c["conv_peak_gflops"] for c in chunks), 1),
            "chunks": [{k: c[k] for k in ("data", "start", "images", "seed") if k in c} for c in chunks],
            "results": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="name of the whole set, for the merged result")
    ap.add_argument("out")
    ap.add_argument("chunks", nargs="+")
    a = ap.parse_args()
    merged = merge([json.loads(Path(p).read_text()) for p in a.chunks], a.data)
    Path(a.out).write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
