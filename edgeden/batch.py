"""Batch jobs: find inputs, plan outputs (mirroring the input tree), run, collect failures.

The CLI's ``denoise`` command is a thin layer over :func:`plan_jobs` and :func:`run_jobs`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgeden.io.common import RAW_EXTENSIONS, RGB_EXTENSIONS
from edgeden.core.types import EdgedenError

RAW_EXTS = RAW_EXTENSIONS
RGB_EXTS = RGB_EXTENSIONS
IMAGE_EXTS = RAW_EXTS | RGB_EXTS
OUTPUT_SUFFIXES = (".preview.jpg", ".render.tif", ".json", ".tmp")


@dataclass
class Job:
    input: Path
    output: Path  # the denoised image's path


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def output_name(src: Path) -> str:
    """Denoised file name: raws become ``<stem>.dng``; RGB images keep their name."""
    return src.stem + ".dng" if src.suffix.lower() in RAW_EXTS else src.name


def _is_within(p: Path, folder: Path) -> bool:
    try:
        p.relative_to(folder)
        return True
    except ValueError:
        return False


def plan_jobs(paths: list[Path], out_dir: Path) -> Plan:
    """Expand files and folders (recursively) into jobs whose outputs mirror the input tree.

    A folder argument ``photos`` maps ``photos/a/b.dng`` to ``OUT/photos/a/b.dng``; a file
    argument maps to ``OUT/<name>``. An output folder inside an input folder is left out of
    the scan (so re-runs never denoise their own outputs). Files that cannot be inputs are
    problems when named explicitly and silently skipped inside folders.
    """
    plan = Plan()
    out_res = out_dir.resolve()
    seen_out: dict[Path, Path] = {}
    for arg in paths:
        if not arg.exists():
            plan.problems.append((arg, "no such file or folder"))
            continue
        if arg.is_dir():
            base = arg.resolve().parent
            if _is_within(out_res, arg.resolve()) and out_res != arg.resolve():
                plan.notes.append(f"{out_dir}: output folder is inside input folder {arg}; it is left out of the scan")
            if out_res == arg.resolve():
                plan.problems.append((arg, "output folder is the input folder itself; choose another -o"))
                continue
            files = []
            for root, dirs, names in os.walk(arg, followlinks=False):
                r = Path(root)
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and r.joinpath(d).resolve() != out_res)
                for n in sorted(names):
                    f = r / n
                    if n.startswith(".") or n.endswith(OUTPUT_SUFFIXES) or f.suffix.lower() not in IMAGE_EXTS:
                        continue
                    files.append(f)
        else:
            base = arg.resolve().parent
            if arg.suffix.lower() not in IMAGE_EXTS:
                plan.problems.append((arg, f"unsupported file type {arg.suffix or '(no extension)'!r}; "
                                           f"edgeden reads camera raws, PNG, TIFF and JPEG"))
                continue
            files = [arg]
        for f in files:
            rel = f.resolve().parent.relative_to(base)
            out = out_dir / rel / output_name(f)
            if out.resolve() == f.resolve():
                plan.problems.append((f, "output would overwrite the input; choose another -o"))
                continue
            if out.resolve() in seen_out:
                out = out_dir / rel / (f.name + (".dng" if f.suffix.lower() in RAW_EXTS else f.suffix))
            seen_out[out.resolve()] = f
            plan.jobs.append(Job(f, out))
    return plan


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    megapixels: float = 0.0
    seconds: float = 0.0


def describe_error(e: BaseException) -> str:
    """One readable line for an exception raised while processing a file."""
    if isinstance(e, EdgedenError):
        return str(e)
    if isinstance(e, PermissionError):
        return f"permission denied: {e.filename or e}"
    if isinstance(e, OSError):
        return f"{e.strerror or e}" + (f": {e.filename}" if getattr(e, "filename", None) else "")
    if isinstance(e, MemoryError):
        return "out of memory (try a smaller --tile)"
    return f"unexpected error: {type(e).__name__}: {e} (re-run with --debug for details)"


def run_jobs(jobs: list[Job], process: Callable[[Job], float], skip: Callable[[Job], bool],
             on_file: Callable[[Job, str, str | None], None] | None = None, debug: bool = False) -> BatchReport:
    """Run ``process(job) -> megapixels`` for each job, skipping those where ``skip(job)``.

    A failure is recorded and the batch goes on (with ``debug`` it re-raises).
    ``on_file(job, status, message)`` is called with status "done", "skipped" or "failed".
    """
    import time

    rep = BatchReport()
    t0 = time.perf_counter()
    for job in jobs:
        if skip(job):
            rep.skipped.append(job.input)
            if on_file:
                on_file(job, "skipped", None)
            continue
        try:
            rep.megapixels += process(job)
            rep.done.append(job.input)
            if on_file:
                on_file(job, "done", None)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of one file must not stop the batch
            if debug:
                raise
            msg = describe_error(e)
            rep.failed.append((job.input, msg))
            if on_file:
                on_file(job, "failed", msg)
    rep.seconds = time.perf_counter() - t0
    return rep
