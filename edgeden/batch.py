"""Batch jobs: find inputs, plan outputs (mirroring the input tree), run, collect failures.

The CLI's ``denoise`` command is a thin layer over :func:`plan_jobs` and :func:`run_jobs`.

Data safety under hostile input: an input is only ever read, never written, replaced or
renamed. Every problem is one line naming the file (``path: problem``); the job concerned is
left out and the rest of the batch goes on (the CLI then exits 3 with its summary).

Walking input folders
    Folders are walked recursively. Hidden names (leading ``.``), our own outputs
    (``*.preview.jpg``, ``*.render.tif``, ``*.json``, ``*.tmp``) and an output folder inside
    an input folder are skipped. Symbolic links to folders are not followed
    (``os.walk(followlinks=False)``; one note line each). A symbolic link to a file inside an
    input folder is followed only if its target resolves inside that same input folder
    (its output is named after the link, where the link is); a link whose target lies outside
    the input folder is skipped with one line, and so are broken links and link loops
    (a link to itself included). Files and folders named on the command line are taken as
    given, links included; a broken one is one line.

Output collisions, all checked before anything is denoised
    A job writes its image and the companions ``NAME.preview.jpg``, ``NAME.json`` and
    ``NAME.render.tif`` (:func:`edgeden.pipeline.outputs_for`). It is refused, with one line
    naming both files, when one of its output paths

    * is an input of the batch -- paths compared as given (absolute) and resolved, and also
      case-folded (``os.path.normcase`` + ``lower()``) when the output folder's file system
      is case-insensitive (:func:`fs_case_insensitive` probes it);
    * is an output of an earlier job of the batch (``a.kdc`` and ``a.dng`` both make
      ``a.dng``; ``a.PNG`` and ``a.png`` on a case-insensitive file system): the first in
      walking order keeps it;
    * exists already and is not ours, for a job that will write (not one skipped because its
      outputs are complete). A file is ours when a record of ours beside it names it: the
      sidecar ``NAME.json`` (any ``edgeden.sidecar/`` version, ``outputs.image`` = NAME) or
      the claim ``.NAME.edgeden-claim`` that :func:`claimed` writes before a job's first
      output and removes after its last (so a run killed half-way is still recognised). With
      no sidecar at all, an image that has an edgeden companion (``NAME.preview.jpg`` or
      ``NAME.render.tif``) beside it is taken as ours with that companion (a run stopped
      before its sidecar, or a sidecar deleted). Anything else -- e.g. a camera's
      ``photo.dng`` where ``photo.kdc`` would write its output -- is never overwritten.

Output folder
    :func:`check_output_folder` creates it and writes and removes a probe file before the first
    job, so an unwritable folder is one error before any work. Stale temporary files of ours
    (:func:`edgeden.io.atomic.is_atomic_temp`: ``.<name>.<8 hex>.tmp``, nothing else) in the
    folders a batch writes are removed before it starts and after an interrupt.

Resuming and concurrent runs
    A job is skipped only when all its outputs exist and the record of how they were made
    (:func:`job_record`: the input's sha256, the preset's name and weights sha256, and the
    settings that change outputs -- tile, overlap, --noise, precision, preview, tiff, classify)
    equals this run's. The record is in the sidecar, or, for runs without sidecars, in the claim
    kept with status "complete". Anything else is redone, with one note line saying why (input
    changed, another preset, other weights, settings changed, no record). Each job holds its
    claim while it runs; a job whose claim is held by another live edgeden process is skipped
    with one line (two runs on one folder never process the same file), a dead process's claim
    is taken over. Output is deterministic, so kill -9 at any moment and a re-run give the
    outputs an uninterrupted run gives (tested).
"""
from __future__ import annotations

import contextlib
import errno
import os
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from edgeden.core.types import EdgedenError
from edgeden.io.atomic import remove_stale_temps, temp_name
from edgeden.io.common import RAW_EXTENSIONS, RGB_EXTENSIONS
from edgeden.io.sidecar import CLAIM_SUFFIX, claim_path, read_claim, recorded_outputs, write_claim

RAW_EXTS = RAW_EXTENSIONS
RGB_EXTS = RGB_EXTENSIONS
IMAGE_EXTS = RAW_EXTS | RGB_EXTS
OUTPUT_SUFFIXES = (".preview.jpg", ".render.tif", ".json", ".tmp")
#: Companions :func:`edgeden.pipeline.outputs_for` may write beside an image named NAME.
COMPANION_SUFFIXES = (".preview.jpg", ".json", ".render.tif")


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


def all_outputs(out_image: Path) -> list[Path]:
    """Every path a job with image ``out_image`` may write: the image and all its companions."""
    return [out_image] + [out_image.with_name(out_image.name + s) for s in COMPANION_SUFFIXES]


def _is_within(p: Path, folder: Path) -> bool:
    try:
        p.relative_to(folder)
        return True
    except ValueError:
        return False


def _abs(p: str | os.PathLike) -> Path:
    """Absolute, normalised, symbolic links not resolved."""
    return Path(os.path.abspath(os.fspath(p)))


def _resolve(p: Path) -> Path | None:
    """The resolved path of an existing file, None for a broken link, a loop or no file."""
    try:
        return p.resolve(strict=True)
    except (OSError, RuntimeError):
        return None


def _resolve_loose(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return _abs(p)


def link_problem(f: Path) -> str | None:
    """One phrase for a symbolic link that cannot be followed (broken, loop), else None."""
    try:
        os.stat(f)
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop; skipped"
        if e.errno == errno.ENOENT:
            try:
                target = os.readlink(f)
            except OSError:
                target = "?"
            return f"broken symbolic link (its target {target} does not exist); skipped"
        return f"symbolic link cannot be followed ({e.strerror or e}); skipped"


def same_entry(a: Path, b: Path) -> bool:
    """True if paths ``a`` and ``b`` both exist and are the same directory entry (inode)."""
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except OSError:
        return False


def fs_case_insensitive(folder: Path, write_probe: bool = False) -> bool:
    """Whether the file system holding ``folder`` (or its nearest existing ancestor) ignores
    case in names.

    First by looking: a name there with letters, spelt with its case swapped, reaches the same
    entry (:func:`same_entry`). With no such name and ``write_probe``, by probing: a temporary
    file of ours with a lower-case name is created, its upper-case name looked up, and the file
    removed. Undecided (empty folder, no probe allowed, or the probe fails): False.
    """
    d = _abs(folder)
    while not d.is_dir():
        if d.parent == d:
            return False
        d = d.parent
    try:
        with os.scandir(d) as it:
            for i, e in enumerate(it):
                if i >= 1000:
                    break
                sw = e.name.swapcase()
                if sw != e.name and sw.swapcase() == e.name:
                    return same_entry(d / e.name, d / sw)
    except OSError:
        pass
    if not write_probe:
        return False
    probe = d / temp_name("edgeden-case-probe")
    try:
        with open(probe, "x"):
            pass
    except OSError:
        return False
    try:
        return same_entry(probe, probe.with_name(probe.name.upper()))
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def path_key(p: Path, folded: bool) -> str:
    """The string two paths are compared by: ``os.path.normcase``, plus NFC and ``lower()``
    when ``folded`` (a case-insensitive file system)."""
    s = os.path.normcase(os.fspath(p))
    return unicodedata.normalize("NFC", s).lower() if folded else s


def check_output_folder(out_dir: Path) -> None:
    """Create ``out_dir`` (with parents) and write and remove a probe file in it.

    Raises EdgedenError with one line (``OUT: output folder ...: reason``) if either fails.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocker = next((a for a in [out_dir, *out_dir.parents] if a.exists() and not a.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker is not None else (e.strerror or str(e)).lower()
        raise EdgedenError(f"{out_dir}: cannot create the output folder: {why}") from None
    probe = out_dir / temp_name("edgeden-write-probe")
    try:
        with open(probe, "xb") as fh:
            fh.write(b"edgeden write probe\n")
    except OSError as e:
        raise EdgedenError(f"{out_dir}: output folder is not writable: {(e.strerror or str(e)).lower()}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def stale_temp_folders(jobs: Iterable[Job], out_dir: Path) -> list[Path]:
    """The folders a batch writes into (where its stale temporaries would be)."""
    return sorted({out_dir, *(j.output.parent for j in jobs)})


def clean_stale_temps(jobs: Iterable[Job], out_dir: Path) -> list[Path]:
    """Remove our stale temporary files (and nothing else) from the folders a batch writes,
    except those of an output whose claim another live edgeden process holds (its writer's
    temporaries are not stale)."""
    return remove_stale_temps(stale_temp_folders(jobs, out_dir), keep=_claimed_by_another_live_run)


def _claimed_by_another_live_run(temp: Path) -> bool:
    """True when the output a temporary ``.<target>.<8 hex>.tmp`` belongs to (the image, a
    companion, its sidecar or its claim) is claimed by another live process."""
    target = temp.name[1:-len(".00000000.tmp")]
    if target.startswith(".") and target.endswith(CLAIM_SUFFIX):
        image = target[1:-len(CLAIM_SUFFIX)]
    else:
        image = next((target[:-len(sfx)] for sfx in (".preview.jpg", ".render.tif", ".json")
                      if target.endswith(sfx)), target)
    c = read_claim(temp.with_name(image))
    return bool(c and c.get("status") == "running" and c.get("pid") != os.getpid()
                and _alive(c.get("pid"), c.get("host")))


def _owned_names(image: Path) -> set[str]:
    """Names beside ``image`` that are outputs of ours (see the module docstring)."""
    names, state = recorded_outputs(image)
    if state == "missing" and image.is_file():
        companions = [image.with_name(image.name + s) for s in (".preview.jpg", ".render.tif")]
        present = [c.name for c in companions if c.is_file() and not c.is_symlink()]
        if present:
            names |= {image.name, *present}
    return names


def _foreign(out_image: Path, planned: Sequence[Path]) -> Path | None:
    """The first planned path that exists and is not ours, or None."""
    existing = [p for p in planned if os.path.lexists(p)]
    if not existing:
        return None
    mine = _owned_names(out_image)
    return next((p for p in existing if p.name not in mine), None)


def plan_jobs(paths: list[Path], out_dir: Path, outputs: Callable[[Path], Sequence[Path]] | None = None,
              skip: Callable[[Job], bool] | None = None, case_insensitive: bool | None = None,
              probe_write: bool = False) -> Plan:
    """Expand files and folders (recursively) into jobs whose outputs mirror the input tree.

    One rule for every argument, as ``cp -r photos/. OUT`` or ``rsync photos/ OUT`` would do:
    the *contents* of a folder argument go under ``OUT`` (``photos/a/b.dng`` -> ``OUT/a/b.dng``),
    and a file argument goes to ``OUT/<name>``; so ``edgeden denoise photos/*.dng -o OUT`` and
    ``edgeden denoise photos -o OUT`` write (and resume) the same files. A file named twice (by
    itself and inside a folder argument) is one job. An output folder inside an input folder is left out of
    the scan (so re-runs never denoise their own outputs). Files that cannot be inputs are
    problems when named explicitly and silently skipped inside folders. Links and collisions:
    see the module docstring.

    outputs: the paths a job writes for a denoised image path (default :func:`all_outputs`;
    the CLI passes ``outputs_for(out, opts).all()``). skip: the jobs that will be skipped as
    complete (they write nothing, so existing files do not block them). case_insensitive:
    None = :func:`fs_case_insensitive` of ``out_dir`` (``probe_write`` lets it write a probe).
    """
    plan = Plan()
    outputs = outputs or all_outputs
    out_res = _resolve_loose(out_dir)
    folded = fs_case_insensitive(out_dir, write_probe=probe_write) if case_insensitive is None else case_insensitive

    def keys(p: Path) -> set[str]:
        return {path_key(_abs(p), folded), path_key(_resolve_loose(p), folded)}

    inputs: dict[str, Path] = {}
    cands: list[tuple[Path, Path]] = []

    def add_input(f: Path) -> None:
        for k in keys(f):
            inputs.setdefault(k, f)

    def walk_error(e: OSError) -> None:
        plan.problems.append((Path(e.filename or "?"), f"cannot list folder: {(e.strerror or str(e)).lower()}; skipped"))

    for arg in paths:
        arg = Path(arg)
        if os.path.islink(arg) and _resolve(arg) is None:
            plan.problems.append((arg, link_problem(arg) or "symbolic link cannot be followed; skipped"))
            continue
        if not arg.exists():
            plan.problems.append((arg, "no such file or folder"))
            continue
        if arg.is_dir():
            top = _resolve(arg) or _abs(arg)
            if out_res == top:
                plan.problems.append((arg, "output folder is the input folder itself; choose another -o"))
                continue
            if _is_within(out_res, top):
                plan.notes.append(f"{out_dir}: output folder is inside input folder {arg}; it is left out of the scan")
            for root, dirs, names in os.walk(arg, followlinks=False, onerror=walk_error):
                r = Path(root)
                keep = []
                for d in sorted(dirs):
                    if d.startswith("."):
                        continue
                    p = r / d
                    if p.is_symlink():
                        plan.notes.append(f"{p}: symbolic link to a folder, not followed")
                        continue
                    if _resolve_loose(p) == out_res:
                        continue
                    keep.append(d)
                dirs[:] = keep
                rel = Path(os.path.relpath(root, arg))
                for n in sorted(names):
                    if n.startswith(".") or n.endswith(OUTPUT_SUFFIXES) or Path(n).suffix.lower() not in IMAGE_EXTS:
                        continue
                    f = r / n
                    if f.is_symlink():
                        why = link_problem(f)
                        target = _resolve(f) if why is None else None
                        if why is None and target is None:
                            why = "symbolic link cannot be followed; skipped"
                        elif why is None and not _is_within(target, top):
                            why = f"symbolic link to {target}, outside the input folder {arg}; skipped"
                        if why is not None:
                            add_input(f)
                            plan.problems.append((f, why))
                            continue
                    add_input(f)
                    cands.append((f, out_dir / rel / output_name(f)))
        else:
            if arg.suffix.lower() not in IMAGE_EXTS:
                plan.problems.append((arg, (f"unsupported file type {arg.suffix or '(no extension)'!r}; "
                                            f"edgeden reads camera raws, PNG, TIFF and JPEG")))
                continue
            add_input(arg)
            cands.append((arg, out_dir / output_name(arg)))

    claimed: dict[str, Path] = {}
    for f, out in cands:
        job = Job(f, out)
        planned = [Path(p) for p in outputs(out)]
        msg = None
        for p in planned:
            ks = keys(p)
            other = next((inputs[k] for k in ks if k in inputs), None)
            if other is not None:
                msg = ("output would overwrite the input itself" if keys(other) & keys(f)
                       else f"output {p} would overwrite the input {other}") + "; choose another -o"
                break
            other = next((claimed[k] for k in ks if k in claimed), None)
            if other is not None:
                if _resolve_loose(other) == _resolve_loose(f):  # the same file named twice: one job
                    msg = ""
                    break
                msg = (f"output {p} would also be the output of {other}; rename one of them "
                       f"or denoise them into different folders")
                break
        if msg is None and (skip is None or not skip(job)):
            p = _foreign(out, planned)
            if p is not None:
                msg = (f"output {p} already exists and is not an edgeden output (no sidecar {out.name}.json "
                       f"records it); move it away or choose another -o")
        if msg == "":
            continue
        if msg is not None:
            plan.problems.append((f, msg))
            continue
        for p in planned:
            for k in keys(p):
                claimed[k] = f
        plan.jobs.append(job)
    return plan


class BusyError(EdgedenError):
    """Another live edgeden process is denoising into these outputs."""


def job_record(input_path: Path, preset: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """What makes a job's outputs what they are: the input's sha256, the preset's name and
    weights sha256, and the settings that change the outputs. Stored in the sidecar (or, without
    sidecars, in the kept claim); a re-run skips a job only when its record is the same."""
    from edgeden.presets import sha256_file

    return {"input_sha256": sha256_file(Path(input_path)), "preset": preset.name,
            "weights_sha256": preset.sha256, "settings": dict(settings)}


def record_difference(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """None when ``old`` equals ``new``, else why the outputs must be redone (one phrase)."""
    if old == new:
        return None
    if not old:
        return "no record of how they were made"
    if old.get("input_sha256") != new.get("input_sha256"):
        return "the input changed"
    if old.get("preset") != new.get("preset"):
        return f"made with preset {old.get('preset')}, now {new.get('preset')}"
    if old.get("weights_sha256") != new.get("weights_sha256"):
        return f"preset {new.get('preset')} has other weights now"
    changed = sorted(k for k in set(old.get("settings") or {}) | set(new.get("settings") or {})
                     if (old.get("settings") or {}).get(k) != (new.get("settings") or {}).get(k))
    return f"settings changed ({', '.join(changed)})" if changed else "the record differs"


def _alive(pid: Any, host: Any) -> bool:
    """True when ``pid`` is a live process on this host (another host: assumed alive)."""
    import socket

    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, TypeError, ValueError):
        return True
    return True


@contextlib.contextmanager
def claimed(out_image: Path, planned: Sequence[Path], record: dict[str, Any] | None = None,
            keep: bool = False) -> Iterator[Path]:
    """Claim a job's outputs before it writes any (:func:`edgeden.io.sidecar.write_claim`).

    The claim is also a lock: when another live edgeden process holds a "running" claim on the
    same output, :class:`BusyError` is raised and nothing is written (two runs on one output
    folder never process the same file). A claim of a dead process is taken over.

    On success the claim is removed, or kept with status "complete" when ``keep`` (a run
    without sidecars: it is then the completion record); on failure or interruption it is
    removed when none of the outputs was written, else it stays, so the next run knows the
    partial outputs are ours.
    """
    out_image.parent.mkdir(parents=True, exist_ok=True)
    cp = claim_path(out_image)
    try:
        fd = os.open(cp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.close(fd)
    except FileExistsError:
        other = read_claim(out_image)
        if (other and other.get("status") == "running" and other.get("pid") != os.getpid()
                and _alive(other.get("pid"), other.get("host"))):
            raise BusyError(f"being denoised by another edgeden run (pid {other.get('pid')}); skipped") from None
    claim = write_claim(out_image, list(planned), record=record, status="running")
    ok = False
    try:
        yield claim
        ok = True
    finally:
        if ok and keep:
            write_claim(out_image, list(planned), record=record, status="complete")
        elif ok or not any(os.path.lexists(p) for p in planned):
            with contextlib.suppress(OSError):
                cp.unlink()


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
    ``on_file(job, status, message)`` is called with status "done", "skipped" (message None,
    or why: another live run holds the job's claim) or "failed".
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
        except BusyError as e:  # another live run is doing this file: not ours to fail
            rep.skipped.append(job.input)
            if on_file:
                on_file(job, "skipped", str(e))
        except Exception as e:  # noqa: BLE001 - any failure of one file must not stop the batch
            if debug:
                raise
            msg = describe_error(e)
            rep.failed.append((job.input, msg))
            if on_file:
                on_file(job, "failed", msg)
    rep.seconds = time.perf_counter() - t0
    return rep


class BatchStopped(Exception):
    """Raised inside a step of :func:`run_jobs_staged` when the batch is being stopped (Ctrl-C in
    the calling thread); a step that polls ``stop`` raises it to end early."""


@dataclass
class _Item:
    job: Job
    state: Any = None
    status: str = "running"  # running, done, skipped, failed
    message: str | None = None
    error: BaseException | None = None
    megapixels: float = 0.0


def run_jobs_staged(jobs: list[Job], steps: Sequence[Callable[[Job, Any], Any]], skip: Callable[[Job], bool],
                    close: Callable[[Job, Any, BaseException | None], None] | None = None,
                    on_file: Callable[[Job, str, str | None], None] | None = None, debug: bool = False,
                    depth: int = 2, stop: threading.Event | None = None) -> BatchReport:
    """Run each job as a chain of ``steps``, each step in its own thread, so the steps of
    neighbouring jobs overlap (e.g. decoding the next file and writing the previous one while
    this one is denoised). Same report, callbacks and failure rules as :func:`run_jobs`.

    steps: ``steps[0](job, None) -> state``, ``steps[i](job, state) -> state``, and the last
    returns the job's megapixels (float). A step's state goes to the next step's thread through
    a queue of one. ``close(job, state, error)`` is called once for every job whose first step
    returned, after its last step (error None) or after the step that failed; a failure inside
    the first step is the first step's to clean up.
    depth: at most this many jobs are between the start of their first step and their report
    (memory is bounded by ``depth`` images). ``skip(job)`` is asked just before a job starts.
    Jobs are reported (``on_file``) in their order, from the calling thread. On Ctrl-C in the
    calling thread the steps stop at their next check (``stop`` is set; a step may poll it),
    every started job is closed with the KeyboardInterrupt, and it is raised again.
    """
    import queue
    import time

    if depth < 1 or len(steps) < 2:
        raise ValueError(f"need depth >= 1 and at least two steps, got depth {depth}, {len(steps)} step(s)")
    rep = BatchReport()
    t0 = time.perf_counter()
    stop = stop or threading.Event()
    slots = threading.Semaphore(depth)
    nsteps = len(steps)
    queues = {k: queue.Queue(maxsize=1) for k in range(1, nsteps)}  # into step k
    done: queue.Queue = queue.Queue()

    def put(q: queue.Queue, item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def finish(item: _Item, error: BaseException | None) -> None:
        if close is not None and item.state is not None:
            try:
                close(item.job, item.state, error)
            except Exception as e:  # noqa: BLE001 - a failing cleanup fails the job, not the batch
                if error is None:
                    item.status, item.error, item.message = "failed", e, describe_error(e)
        item.state = None

    def fail(item: _Item, e: BaseException, first: bool) -> None:
        if isinstance(e, BusyError):  # another live run is doing this file: not ours to fail
            item.status, item.message = "skipped", str(e)
        else:
            item.status, item.error, item.message = "failed", e, describe_error(e)
        if not first:
            finish(item, e)

    def feeder() -> None:
        for job in jobs:
            while not slots.acquire(timeout=0.05):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            item = _Item(job)
            try:
                if skip(job):
                    item.status = "skipped"
                else:
                    item.state = steps[0](job, None)
            except (BatchStopped, KeyboardInterrupt):
                return
            except BaseException as e:  # noqa: BLE001 - one file's failure, whatever it is, is reported
                fail(item, e, first=True)
            if not put(queues[1], item):
                finish(item, KeyboardInterrupt())
                return
        put(queues[1], None)

    def worker(k: int) -> None:
        last = k == nsteps - 1
        while True:
            try:
                item = queues[k].get(timeout=0.05)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if item is None:
                put(done if last else queues[k + 1], None)
                return
            if item.status == "running":
                if stop.is_set():
                    finish(item, KeyboardInterrupt())
                    return
                try:
                    r = steps[k](item.job, item.state)
                    if last:
                        item.megapixels, item.status = float(r), "done"
                        finish(item, None)
                    else:
                        item.state = r
                except (BatchStopped, KeyboardInterrupt) as e:
                    finish(item, KeyboardInterrupt() if isinstance(e, BatchStopped) else e)
                    return
                except BaseException as e:  # noqa: BLE001 - one file's failure, whatever it is, is reported
                    fail(item, e, first=False)
            if not put(done if last else queues[k + 1], item):
                finish(item, KeyboardInterrupt())
                return

    threads = [threading.Thread(target=feeder, name="edgeden-step0", daemon=True)]
    threads += [threading.Thread(target=worker, args=(k,), name=f"edgeden-step{k}", daemon=True)
                for k in range(1, nsteps)]
    try:
        for th in threads:
            th.start()
        while True:
            try:
                item = done.get(timeout=0.1)
            except queue.Empty:
                if not any(th.is_alive() for th in threads) and done.empty():
                    raise RuntimeError("the batch's step threads ended before every file was reported")
                continue
            if item is None:
                break
            slots.release()
            if item.status == "done":
                rep.megapixels += item.megapixels
                rep.done.append(item.job.input)
            elif item.status == "skipped":
                rep.skipped.append(item.job.input)
            else:
                if debug and item.error is not None:
                    stop.set()
                    raise item.error
                rep.failed.append((item.job.input, item.message or "failed"))
            if on_file:
                on_file(item.job, item.status, item.message)
    except BaseException:
        stop.set()
        for th in threads:  # let each step reach its next check (a tile, a file) and close its job
            if th.ident is not None:
                th.join(timeout=10.0)
        for q in queues.values():  # jobs handed on but not started by the next step: closed too
            while True:
                try:
                    left = q.get_nowait()
                except queue.Empty:
                    break
                if left is not None and left.status == "running":
                    finish(left, KeyboardInterrupt())
        raise
    finally:
        stop.set()
    rep.seconds = time.perf_counter() - t0
    return rep
