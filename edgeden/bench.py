"""``edgeden bench``: where the time of a denoise goes, on this machine, end to end.

Each case runs in a fresh Python process, as a user's command would: start-up (interpreter,
imports, preset and network) is measured from the launch to the first file, then every file of
the case is denoised with the product's own pipeline (all outputs: DNG or image, preview,
sidecar) and its per-stage times are read from the pipeline (``FileResult.timings``). Peak RSS
is the child's ``ru_maxrss``. The machine's dense 3x3 conv peak (fp32 and, where it is native,
bf16) is measured in the same run with the same threads, and the network's achieved GFLOP/s
(2 x the preset's MACs per megapixel x megapixels / inference seconds) is given beside it.

Cases: given files; synthetic raws of 24 and 50 MP (a noisy photo tiled to size, written as a
Bayer DNG by our writer); a folder of N copies of the 24 MP raw (per-image cost in a batch,
start-up paid once).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["SIZES", "make_synthetic_raw", "run_case", "bench", "format_report"]

#: Synthetic raw sizes (megapixels -> (height, width)), 3:2 like most cameras.
SIZES = {12: (2832, 4240), 24: (4000, 6000), 50: (5792, 8688)}

_CHILD = r"""
import json, resource, sys, time
t_start = float(sys.argv[1]); files = json.loads(sys.argv[2]); out = sys.argv[3]
model = sys.argv[4] or None; threads = int(sys.argv[5]); backend = sys.argv[6]; jobs = int(sys.argv[7])
tiling = json.loads(sys.argv[8])
from edgeden.core.precision import set_threads
set_threads(threads)
from pathlib import Path
from edgeden.batch import Job, run_jobs, run_jobs_staged
from edgeden.pipeline import DenoiseOptions
from edgeden.runner import DenoiseRun
from edgeden import io
t_import = time.time()
kind = io.detect_kind(Path(files[0]))
run = DenoiseRun(DenoiseOptions(backend=backend, **tiling), model=model, overwrite=True)
preset, net = run.model_for(Path(files[0]))
t_ready = time.time()
batch = [Job(Path(f), Path(out) / f"{i:03d}_{Path(f).name if kind != 'raw' else Path(f).stem + '.dng'}")
         for i, f in enumerate(files)]
rows, started, first_done = [], {}, []
def tile_done(*_):
    if not first_done:
        first_done.append(time.time() - t_start)
def record(job, r):
    rows.append({"file": str(job.input), "megapixels": r.megapixels, "wall_s": time.time() - started[job.input],
                 "stages_s": {k: round(v, 4) for k, v in r.timings.items()},
                 "first_tile_s": started[job.input] - t_start + sum(r.timings.get(k, 0.0) for k in ("read", "pack", "noise"))})
t_batch = time.time()
if jobs > 1 and len(batch) > 1:
    (read, infer, write), close = run.steps(on_result=record, on_tile=tile_done)
    steps = [lambda j, s: (started.__setitem__(j.input, time.time()), read(j, s))[1], infer, write]
    rep = run_jobs_staged(batch, steps, lambda j: False, close, debug=True, depth=jobs)
else:
    def process(j):
        started[j.input] = time.time()
        r = run.process(j, on_tile=tile_done)
        record(j, r)
        return r.megapixels
    rep = run_jobs(batch, process, lambda j: False, debug=True)
batch_s = time.time() - t_batch
print(json.dumps({"import_s": t_import - t_start, "startup_s": t_ready - t_start, "preset": preset.name,
                  "macs_per_mp": (preset.provenance or {}).get("macs_per_mp"), "files": rows, "batch_s": batch_s,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "precision": __import__("edgeden.core.precision", fromlist=["x"]).precision_name(),
                  "tiling": {"tile": run.opts.tile if run.opts.tile is not None else preset.tile,
                             "overlap": run.opts.overlap if run.opts.overlap is not None else preset.overlap},
                  "backend": __import__("edgeden.models.onnx_backend", fromlist=["x"]).describe(net),
                  "first_tile_done_s": first_done[0] if first_done else None,
                  "torch_imported": "torch" in sys.modules}))
"""


def make_synthetic_raw(path: Path, megapixels: int, seed: int = 0) -> Path:
    """Write a ``megapixels`` MP Bayer DNG (see :data:`SIZES`): a noisy photo (S = 4e-3) tiled."""
    import numpy as np

    from edgeden import io
    from edgeden.demo import make_noisy_raw, skimage_photo

    hw = SIZES[megapixels]
    small, _ = make_noisy_raw(skimage_photo("astronaut"), shot=4e-3, seed=seed)
    reps = (hw[0] // small.shape[0] + 1, hw[1] // small.shape[1] + 1)
    small.mosaic_u16 = np.ascontiguousarray(np.tile(small.mosaic_u16, reps)[: hw[0], : hw[1]])
    io.write_dng(path, small.mosaic_u16, small, noise_profile=small.noise_profile)
    return path


def run_case(name: str, files: list[Path], model: str | None, threads: int, work: Path,
             backend: str = "auto", jobs: int = 1, tile: int | None = None,
             overlap: int | None = None) -> dict[str, Any]:
    """Denoise ``files`` in one fresh process, as ``edgeden denoise --jobs JOBS`` runs a batch;
    returns the case's measurements (see module doc). per_image_s is the batch's wall time per
    image (with files in flight a file's own wall time overlaps its neighbours'); first_tile_s
    the time from the launch to the first file's inference (start-up, decode, pack, noise; a
    model array's member is opened inside inference), first_tile_done_s to its first tile's end;
    torch_imported whether the process imported PyTorch. tile, overlap: as ``denoise
    --tile/--overlap`` (None: the preset's)."""
    tiling = {k: v for k, v in (("tile", tile), ("overlap", overlap)) if v is not None}
    out = work / f"out-{name}"
    out.mkdir(parents=True, exist_ok=True)
    t = time.time()
    p = subprocess.run([sys.executable, "-c", _CHILD, repr(t), json.dumps([str(f) for f in files]), str(out),
                        model or "", str(threads), backend, str(jobs), json.dumps(tiling)],
                       capture_output=True, text=True)
    wall = time.time() - t
    if p.returncode != 0:
        raise RuntimeError(f"bench case {name} failed: {p.stderr.strip().splitlines()[-1] if p.stderr else p.returncode}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    mp = sum(f["megapixels"] for f in r["files"])
    per_file = [f["wall_s"] for f in r["files"]]
    stages: dict[str, float] = {}
    for f in r["files"]:
        for k, v in f["stages_s"].items():
            stages[k] = stages.get(k, 0.0) + v / len(r["files"])
    inf = stages.get("inference", 0.0)
    mean_mp = mp / len(r["files"])
    macs = r.get("macs_per_mp")
    return {
        "case": name, "preset": r["preset"], "images": len(r["files"]), "megapixels_each": round(mean_mp, 2),
        "wall_s": round(wall, 2), "startup_s": round(r["startup_s"], 2), "import_s": round(r["import_s"], 2),
        "first_tile_s": round(r["files"][0]["first_tile_s"], 2), "torch_imported": r.get("torch_imported"),
        "first_tile_done_s": round(r["first_tile_done_s"], 2) if r.get("first_tile_done_s") else None,
        "jobs": jobs, "per_image_s": round(r["batch_s"] / len(r["files"]), 2),
        "file_wall_s": round(sum(per_file) / len(per_file), 2),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "not_inference_share": round(1 - inf / max(stages.get("total", inf), 1e-9), 3),
        "mp_per_s": round(mp / max(r["batch_s"], 1e-9), 3),
        "network_gflops": round(2 * macs * mean_mp / max(inf, 1e-9) / 1e9, 1) if macs else None,
        "peak_rss_mb": round(r["peak_rss_mb"], 1), "precision": r["precision"], "backend": r["backend"],
        "tiling": r["tiling"],
    }


def bench(files: list[Path] | None = None, synthetic: tuple[int, ...] = (24, 50), folder: int = 3,
          model: str | None = None, threads: int | None = None, work_dir: Path | None = None,
          progress=None, backend: str = "auto", jobs: int = 1, tile: int | None = None,
          overlap: int | None = None) -> dict[str, Any]:
    """Run the benchmark cases and measure the conv peak. Returns a JSON-friendly report.

    files: the user's files (one case each); synthetic: raw sizes in MP (keys of :data:`SIZES`);
    folder: N copies of the 24 MP raw in one process (0: none); model: preset (None: the
    default for the input kind); threads: torch threads (None: all cores); jobs: files in flight
    in the folder case (``denoise --jobs``); tile, overlap: as ``denoise --tile/--overlap`` (None:
    the preset's).
    """
    import torch

    from edgeden.core.precision import cpu_name, native_bf16
    from edgeden.evaluate import conv_peak_gflops

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    say = progress or (lambda s: None)
    own = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="edgeden-bench-")) if own else Path(work_dir)
    cases = []
    try:
        say("measuring the dense-conv peak")
        peak = {"fp32": conv_peak_gflops()}
        if native_bf16():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                peak["bf16"] = conv_peak_gflops()
        made: dict[int, Path] = {}
        for mp in sorted(set(synthetic) | ({24} if folder else set())):
            say(f"writing a synthetic {mp} MP raw")
            made[mp] = make_synthetic_raw(work / f"synthetic_{mp}mp.dng", mp)
        # a preset run by ONNX Runtime exports its graph once per install, before the cases
        from edgeden.pipeline import DenoiseOptions
        from edgeden.runner import DenoiseRun, onnx_network

        warm = DenoiseRun(DenoiseOptions(backend=backend), model=model)
        for f in list(files or []) + list(made.values()):
            pr = warm.preset_for(Path(f))
            if not pr.classifier and warm.backend(pr) == "onnxruntime":
                getattr(onnx_network(pr), "members", None)  # every member of an array, exported now
        for f in files or []:
            say(f"case {f}")
            cases.append(run_case(Path(f).name, [Path(f)], model, threads, work, backend, tile=tile, overlap=overlap))
        for mp in synthetic:
            say(f"case synthetic {mp} MP raw")
            cases.append(run_case(f"raw {mp} MP", [made[mp]], model, threads, work, backend, tile=tile,
                                  overlap=overlap))
        if folder:
            copies = []
            for i in range(folder):
                c = work / "folder" / f"shot{i:02d}.dng"
                c.parent.mkdir(exist_ok=True)
                shutil.copy(made[24], c)
                copies.append(c)
            say(f"case folder of {folder} x 24 MP raws")
            cases.append(run_case(f"folder {folder} x 24 MP, jobs {jobs}", copies, model, threads, work, backend,
                                  jobs=jobs, tile=tile, overlap=overlap))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    import platform

    return {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads,
                        "torch": torch.__version__, "python": platform.python_version(),
                        "native_bf16": native_bf16()},
            "conv_peak_gflops": peak, "cases": cases,
            "date": time.strftime("%Y-%m-%d")}


def format_report(rep: dict[str, Any]) -> str:
    """Plain-text tables of a :func:`bench` report (one row per case, then stages)."""
    m = rep["machine"]
    peak = ", ".join(f"{k} {v:.0f}" for k, v in rep["conv_peak_gflops"].items())
    be = sorted({c.get("backend", "torch") for c in rep["cases"]})
    tiles = sorted({f"tile {c['tiling']['tile']} overlap {c['tiling']['overlap']}" for c in rep["cases"]
                    if c.get("tiling")})
    lines = [f"{m['cpu']}, {m['threads']} thread(s), torch {m['torch']}, backend {'/'.join(be)}"
             + (f", {'/'.join(tiles)}" if tiles else "") + f"; dense 3x3 conv peak: {peak} GFLOP/s", ""]
    lines.append(f"{'case':<22} {'preset':<11} {'MP':>5} {'start':>6} {'1st tile':>8} {'s/img':>6} {'MP/s':>6} "
                 f"{'net GF/s':>8} {'not-inf':>7} {'RSS MB':>7}")
    for c in rep["cases"]:
        lines.append(f"{c['case'][:22]:<22} {c['preset'][:11]:<11} {c['megapixels_each']:>5.1f} {c['startup_s']:>6.2f} "
                     f"{c.get('first_tile_s', 0.0):>8.2f} {c['per_image_s']:>6.2f} {c['mp_per_s']:>6.2f} {c['network_gflops'] or 0:>8.1f} "
                     f"{100 * c['not_inference_share']:>6.0f}% {c['peak_rss_mb']:>7.0f}")
    lines.append("")
    lines.append("seconds per image by stage:")
    keys = ["read", "pack", "noise", "inference", "unpack", "render", "dng_encode", "image_encode", "preview",
            "sidecar", "total"]
    lines.append(f"{'case':<22} " + " ".join(f"{k[:9]:>9}" for k in keys))
    for c in rep["cases"]:
        lines.append(f"{c['case'][:22]:<22} " + " ".join(
            f"{c['stages_s'][k]:>9.2f}" if k in c["stages_s"] else f"{'-':>9}" for k in keys))
    return "\n".join(lines)
