"""``edgeden denoise``: denoise files and folders with a model preset."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from edgeden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    STATE,
    EdgedenError,
    check_tiling,
    fail,
    load_profiles,
    one_line,
    parse_noise,
)

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: ``--jobs`` default (docs/benchmarks.md, "Files in flight").
DEFAULT_JOBS = 2


def denoise(
    paths: Annotated[List[Path], typer.Argument(help="Image files and/or folders (searched recursively).",
                                                show_default=False)],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model preset (see `edgeden models`). "
                     "Default: per file, tsdn for camera raws and resunet-srgb for PNG/TIFF/JPEG.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder. A file argument's output goes straight "
                   "into it; a folder argument's contents go into it with their subfolders (as `cp -r "
                   "FOLDER/. OUT`).")] = Path("denoised"),
    preview: Annotated[bool, typer.Option("--preview/--no-preview", help="Write an ISP-rendered JPEG preview.")] = True,
    strength: Annotated[float, typer.Option("--strength", min=0.0, max=1.0, help="How much noise to remove: 1 "
                        "= the model's full output, 0 = the input; in between keeps that share of the grain "
                        "(mixed where the noise is even at every brightness).")] = 1.0,
    preview_size: Annotated[int, typer.Option("--preview-size", min=0, help="Long edge of the preview in "
                            "pixels (0 = full size).")] = 2048,
    preview_compare: Annotated[Optional[str], typer.Option("--preview-compare", help="Make the preview a "
                               "before/after view: 'side' (input | output) or 'split' (left half input, "
                               "right half output).", show_default=False)] = None,
    sidecar: Annotated[bool, typer.Option("--sidecar/--no-sidecar", help="Write a JSON sidecar per image.")] = True,
    tiff: Annotated[bool, typer.Option("--tiff/--no-tiff", help="Also write a 16-bit TIFF render (raw inputs).")] = False,
    tile: Annotated[Optional[int], typer.Option("--tile", min=0, help="Tile edge in model-input pixels "
                                                "(0 = whole image). Default: the preset's.")] = None,
    overlap: Annotated[Optional[int], typer.Option("--overlap", min=0, help="Tile overlap in pixels. "
                                                   "Default: the preset's.")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads (default: all cores).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="Inference engine: auto (what each preset measured "
                       "faster end to end: ONNX Runtime for the raw presets tsdn, fanet-nsma and scaoed-lite where installed and "
                       "inference is fp32, PyTorch for the rest), torch or onnxruntime (extra 'onnx').")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 where the CPU has native bf16, "
                                           "else fp32), fp32 or bf16.")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Redo outputs that already exist "
                                            "(default: skip those whose record matches this run).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be done; write nothing.")] = False,
    noise: Annotated[Optional[str], typer.Option("--noise", help="Noise override 'S,O' (variance = S*x + O on "
                     "[0,1] data) or 'sigma=N' (0..255). Default: from the file, a camera profile, or "
                     "estimated.")] = None,
    classify: Annotated[bool, typer.Option("--classify", help="Also label each image with a classifier preset "
                        "(DC-Net) and write the labels into the sidecar. Presets with a classifier head "
                        "always do.")] = False,
    noise_profiles: Annotated[Optional[Path], typer.Option("--noise-profiles", exists=True, dir_okay=False,
                              help="darktable noiseprofiles.json for camera profiles (default: "
                                   "$EDGEDEN_NOISEPROFILES or darktable's install).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Files in flight at once: with 2 or more, "
                    "the next file is decoded and the previous one written while this one is denoised "
                    "(each file in flight holds its images in memory). 1 = one file after another. Local runs only "
                    "(--cluster spreads files over its workers).")] = DEFAULT_JOBS,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help="Run the batch on a Dask distributed "
                       "cluster: its scheduler's address (tcp://HOST:8786), or local:N for N worker processes "
                       "on this machine. Inputs and the output folder must be on storage the workers see at "
                       "the same paths; same outputs as a local run (docs/cluster.md; extra 'cluster').",
                       show_default=False)] = None,
) -> None:
    """Denoise PATHS into the output folder.

    Raw files (DNG and other Bayer raws) become denoised, still-mosaiced DNGs; PNG, TIFF and JPEG keep their format, bit depth and alpha. Existing complete outputs are skipped, so an interrupted run resumes where it stopped. Inputs are only read: an output that would replace an input, another job's output or a file edgeden did not write is refused. Exit code 3 if any file failed, 1 if the output folder cannot be written, 130 when interrupted.
    """  # noqa: E501 (one line per paragraph: the help text reflows it)
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]  # before any slow import
    if missing:
        fail(f"no such file or folder: {', '.join(str(p) for p in missing)}", EXIT_USAGE)
    address = _cluster_address(cluster) if cluster is not None else None  # before any slow import too
    from edgeden.batch import check_output_folder, clean_stale_temps
    from edgeden.cli.common import apply_precision
    from edgeden.core.precision import precision_name
    from edgeden.pipeline import DenoiseOptions
    from edgeden.runner import DenoiseRun

    try:
        noise_p = parse_noise(noise)
    except typer.BadParameter as e:  # one line, exit 2, before any work
        fail(f"--noise {one_line(e.message)}", EXIT_USAGE)
    if backend not in ("auto", "torch", "onnxruntime"):
        fail(f"--backend must be auto, torch or onnxruntime, got {backend!r}", EXIT_USAGE)
    if preview_compare is not None and preview_compare not in ("side", "split"):
        fail(f"--preview-compare must be 'side' or 'split', got {preview_compare!r}", EXIT_USAGE)
    apply_precision(precision)  # before any record: the precision is one of its settings
    opts = DenoiseOptions(tile=tile, overlap=overlap, noise=noise_p, preview=preview, sidecar=sidecar, tiff=tiff,
                          noise_profiles=load_profiles(noise_profiles), preview_size=preview_size,
                          preview_compare=preview_compare, strength=strength, backend=backend)
    run = DenoiseRun(opts, model=model, overwrite=overwrite, classify=classify,
                     settings={"tile": tile, "overlap": overlap, "noise": noise, "precision": precision_name(),
                               "preview": preview, "tiff": tiff, "classify": classify,
                               **({"strength": strength} if strength < 1 else {}),
                               **({"preview_size": preview_size, "preview_compare": preview_compare} if preview else {})})
    check_tiling(tile, overlap, run.fixed)
    if not dry_run:  # an unwritable output folder is one error before any work
        try:
            check_output_folder(out)
        except EdgedenError as e:
            fail(one_line(e), EXIT_ERROR)

    err = typer.echo
    plan = run.plan(list(paths), out, probe_write=not dry_run)
    for n in plan.notes:
        err(one_line(f"note: {n}"), err=True)
    for p, msg in plan.problems:
        err(one_line(f"{p}: {msg}"), err=True)

    if dry_run:
        refused = 0
        for job in plan.jobs:
            why = _would_refuse(job.input)
            if why:
                refused += 1
                typer.echo(one_line(f"refuse ({why}): {job.input}"))
                continue
            state = ("skip (outputs complete)" if run.complete(job) else
                     f"redo ({run.redo[job.output]})" if job.output in run.redo else "denoise")
            typer.echo(f"{state}: {job.input} -> {job.output} [{run.preset_for(job.input).name}]")
        typer.echo(f"{len(plan.jobs)} file(s), {refused} would be refused, {len(plan.problems)} problem(s); "
                   f"nothing written (--dry-run)")
        raise typer.Exit(EXIT_PARTIAL if plan.problems or refused else EXIT_OK)

    if not plan.jobs and not plan.problems:
        fail("no images found in the given paths", EXIT_USAGE)
    stale = clean_stale_temps(plan.jobs, out)
    if stale:
        err(one_line(f"note: {out}: removed {len(stale)} stale temporary file(s) of an interrupted run"), err=True)
    if threads:
        from edgeden.core.precision import set_threads

        set_threads(threads)  # PyTorch's now if loaded, else when a PyTorch network is built
    try:
        rep = _run_with_progress(run, plan, address=address, out=out, threads=threads, jobs=jobs)
    except _Interrupted as e:
        clean_stale_temps(plan.jobs, out)  # the writers remove their own; anything left is ours too
        running = "; files already running on the cluster finish there" if address is not None else ""
        err(f"edgeden: interrupted after {e.finished} of {len(plan.jobs)} files{running}; "
            f"re-run the same command to resume", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except EdgedenError as e:  # the cluster: unreachable, or a worker that cannot take part
        if STATE.get("debug"):
            raise
        clean_stale_temps(plan.jobs, out)
        fail(one_line(e), EXIT_ERROR)
    failed = len(rep.failed) + len(plan.problems)
    rate = f", {rep.megapixels / rep.seconds:.2f} MP/s" if rep.seconds > 0 and rep.megapixels else ""
    err(f"{len(rep.done)} denoised, {len(rep.skipped)} skipped (already complete), {failed} failed{rate} "
        f"-> {_shown(out)}", err=True)
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)


def _shown(out: Path) -> str:
    """The output folder as the summary names it: absolute, with a trailing separator."""
    import os

    return os.path.join(os.path.abspath(out), "")


def _would_refuse(path: Path) -> str | None:
    """Why ``denoise`` would refuse ``path`` (None if it would take it): raws from their headers
    (:func:`edgeden.io.probe_raw`), images by reading them as the run would."""
    from edgeden import io

    try:
        if io.detect_kind(path) == "raw":
            io.probe_raw(path)
        else:
            io.read_rgb(path)
    except EdgedenError as e:
        return str(e)
    return None


def _cluster_address(value: str) -> str | int:
    """``--cluster``'s address (:func:`edgeden.cluster.parse_address`), checked before any work:
    a bad value, or Dask not installed, is one line and exit 2."""
    from edgeden.cluster import parse_address, require_dask

    try:
        address = parse_address(value)
        require_dask()
    except (ValueError, EdgedenError) as e:
        fail(one_line(e), EXIT_USAGE)
    return address


class _Interrupted(Exception):
    def __init__(self, finished: int):
        super().__init__(finished)
        self.finished = finished


def _run_with_progress(run, plan, address=None, out=None, threads=None, jobs=1):
    """Run the plan's jobs with a progress bar on a terminal (plain lines otherwise); one line
    per bad or busy file as it happens. Returns the BatchReport. ``address``: run them on that
    Dask cluster (:mod:`edgeden.cluster`; the bar then moves as the cluster finishes files).
    ``jobs`` > 1: up to that many files in flight, their steps overlapped
    (:func:`edgeden.batch.run_jobs_staged`)."""
    import time

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from edgeden.batch import run_jobs, run_jobs_staged

    console = Console(stderr=True, soft_wrap=True)
    t_start = time.perf_counter()
    counts = {"done": 0, "skipped": 0, "failed": 0}
    mp_done = [0.0]

    def finished() -> int:
        return sum(counts.values())

    def say(text: str) -> None:
        console.print(one_line(text), markup=False, highlight=False)

    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console,
                      disable=not console.is_terminal) as prog:
            task = prog.add_task("denoising", total=len(plan.jobs), rate="")

            def process(job) -> float:
                started(job)
                res = run.process(job, on_tile=lambda d, n: prog.update(task, completed=finished() + d / max(n, 1)))
                return written(res.megapixels)

            def on_file(job, status, msg):
                counts[status] += 1
                prog.update(task, completed=finished())
                if msg:
                    say(f"{job.input}: {msg}")

            def started(job) -> None:
                prog.update(task, description=job.input.name)
                if job.output in run.redo:  # outputs of ours made otherwise: redone, said once
                    say(f"note: {job.output}: redone: {run.redo[job.output]}")

            def written(mp: float) -> float:
                mp_done[0] += mp
                el = max(time.perf_counter() - t_start, 1e-9)
                prog.update(task, rate=f"{(counts['done'] + 1) / el:.2f} img/s  {mp_done[0] / el:.2f} MP/s")
                return mp

            if address is None and jobs > 1 and len(plan.jobs) > 1:
                import threading

                stop = threading.Event()
                (read, infer, write), close = run.steps(
                    on_tile=lambda job, d, n: prog.update(task, completed=finished() + d / max(n, 1)), stop=stop)
                steps = [lambda job, st: (started(job), read(job, st))[1], infer,
                         lambda job, st: written(write(job, st))]
                rep = run_jobs_staged(plan.jobs, steps, run.complete, close, on_file,
                                      debug=STATE.get("debug", False), depth=jobs, stop=stop)
            elif address is None:
                rep = run_jobs(plan.jobs, process, run.complete, on_file, debug=STATE.get("debug", False))
            else:
                rep = _run_on_cluster(run, plan, address, out, threads, prog, task, on_file, say, t_start,
                                      counts, mp_done)
    except KeyboardInterrupt:
        raise _Interrupted(finished()) from None
    return rep


def _run_on_cluster(run, plan, address, out, threads, prog, task, on_file, say, t_start, counts, mp_done):
    """The cluster half of :func:`_run_with_progress`: the same callbacks, fed by the cluster."""
    import time

    from edgeden.cluster import connect, run_on_cluster, worker_count

    prog.update(task, description="connecting")
    with connect(address) as client:
        n = worker_count(client)
        if n == 0:
            say(f"note: the Dask scheduler at {address} has no workers yet; files wait for one")
        prog.update(task, description=f"denoising on {n} worker(s)")

        def on_submit(job):
            if job.output in run.redo:  # outputs of ours made otherwise: redone, said once
                say(f"note: {job.output}: redone: {run.redo[job.output]}")

        def on_megapixels(job, mp):
            mp_done[0] += mp
            el = max(time.perf_counter() - t_start, 1e-9)
            prog.update(task, rate=f"{(counts['done'] + 1) / el:.2f} img/s  {mp_done[0] / el:.2f} MP/s")

        return run_on_cluster(client, run, plan.jobs, out, on_file=on_file, on_megapixels=on_megapixels,
                              on_submit=on_submit, threads=threads, debug=STATE.get("debug", False))


def register(app: typer.Typer) -> None:
    app.command("denoise")(denoise)
