"""``edgeden bench``: where the time of a denoise goes on this machine."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from edgeden.cli.common import EXIT_USAGE, check_tiling, fail


def bench(
    files: Annotated[Optional[List[Path]], typer.Argument(help="Your own files to time (one case each).",
                                                          show_default=False)] = None,
    synthetic: Annotated[Optional[List[str]], typer.Option(
        "--synthetic", help="Synthetic raw sizes in MP (12, 24, 50), comma-separated or repeated "
        "(default 24,50); '' for none.", show_default=False)] = None,
    folder: Annotated[int, typer.Option("--folder", min=0, help="Also time a batch of N copies of the 24 MP "
                                        "raw in one process (0: no).")] = 3,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Preset (default: per input kind).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads (default: all cores).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="auto, torch or onnxruntime (as `denoise`).")] = "auto",
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Files in flight in the folder case "
                                                "(as `denoise --jobs`; default: denoise's).")] = None,
    tile: Annotated[Optional[int], typer.Option("--tile", min=0, help="Tile edge in model-input pixels "
                                                "(as `denoise --tile`; default: the preset's).")] = None,
    overlap: Annotated[Optional[int], typer.Option("--overlap", min=0, help="Tile overlap in pixels (as "
                                                   "`denoise --overlap`; default: the preset's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Time denoising end to end in fresh processes (start-up, read, pack, noise, inference, unpack, render, DNG encode, preview, sidecar), with MP/s, the network's GFLOP/s beside this machine's dense-conv peak measured in the same run, and peak RSS."""  # noqa: E501
    from edgeden.bench import SIZES, bench as run, format_report

    try:
        given = ["24,50"] if synthetic is None else synthetic
        sizes = tuple(dict.fromkeys(int(v) for g in given for v in g.split(",") if v.strip()))
    except ValueError:
        fail(f"--synthetic must be sizes in MP like 24,50, got {','.join(given)!r}", EXIT_USAGE)
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        fail(f"--synthetic: no synthetic size {bad[0]} MP (choose from {', '.join(map(str, SIZES))})", EXIT_USAGE)
    missing = [f for f in files or [] if not f.is_file()]
    if missing:
        fail(f"no such file: {', '.join(map(str, missing))}", EXIT_USAGE)
    if backend not in ("auto", "torch", "onnxruntime"):
        fail(f"--backend must be auto, torch or onnxruntime, got {backend!r}", EXIT_USAGE)
    from edgeden.presets import all_presets

    check_tiling(tile, overlap, all_presets().get(model) if model else None)
    from edgeden.cli.denoise import DEFAULT_JOBS

    rep = run(files or [], sizes, folder, model, threads,
              progress=None if as_json else (lambda s: typer.echo(f"... {s}", err=True)), backend=backend,
              jobs=jobs or DEFAULT_JOBS, tile=tile, overlap=overlap)
    typer.echo(json.dumps(rep, indent=2) if as_json else format_report(rep))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
