"""Batches on a Dask distributed cluster: ``edgeden denoise ... --cluster tcp://HOST:8786``.

The client (the machine running ``edgeden denoise``) does everything a local run does before
the first file -- planning, output collisions, the output-folder check, stale-temporary
cleanup, and skipping complete jobs (:meth:`edgeden.runner.DenoiseRun.complete`, so resume
works as locally). Each remaining job is one Dask task that runs the same
:meth:`~edgeden.runner.DenoiseRun.process` on a worker: claimed, denoised, written straight
into the output folder. The output folder (and the inputs) must therefore be on storage that
the client and every worker see at the same path (NFS, a cluster file system, or one machine);
the first task on each worker process checks that it sees a probe file the client wrote there,
and the run stops with one line otherwise. Tasks return only their result -- megapixels, the
one-line error of :func:`edgeden.batch.describe_error`, or "skipped" when another live run
holds the file's claim -- and the client builds the same :class:`~edgeden.batch.BatchReport`
and calls the same ``on_file`` callback as :func:`edgeden.batch.run_jobs`, in the order the
cluster finishes them (``distributed.as_completed``).

Same outputs as a local run: a task rebuilds the run on the worker from plain picklable
arguments (:class:`ClusterSpec`: options, preset, overwrite, classify, the job-record settings,
the precision the client resolved, ``--threads``); each worker process keeps that
:class:`~edgeden.runner.DenoiseRun` (and so its loaded networks) for the following tasks. The
worker refuses, with one line that stops the run, to denoise with another edgeden or torch
version, with a preset whose weights differ from the client's, or with another inference
engine than the client resolved, so the images and previews are byte-identical to a local run
(sidecars too, but for their timings and creation time, which differ between any two runs;
paths given relative on the command line are recorded absolute, as workers have another
working folder).

Dask is an optional extra (``pip install 'edgeden[cluster]'``); nothing here imports it until
a cluster is used. Library use::

    run = DenoiseRun(DenoiseOptions(), model="unet-m-srgb")
    plan = run.plan([Path("/shared/in")], Path("/shared/out"))
    with connect("tcp://scheduler:8786") as client:
        report = run_on_cluster(client, run, plan.jobs, Path("/shared/out"))
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeden.batch import BatchReport, BusyError, Job, describe_error
from edgeden.core.types import EdgedenError

#: The one line when Dask is missing (the CLI exits 2 with it).
INSTALL_HINT = "--cluster needs Dask distributed: pip install 'edgeden[cluster]'"

_LOCAL = re.compile(r"local:(\d+)")


class ClusterFatal(EdgedenError):
    """A worker cannot take part in the run (another version, another preset, no shared output
    folder): the run stops."""


def require_dask() -> None:
    """Raise EdgedenError(:data:`INSTALL_HINT`) unless ``dask`` and ``distributed`` import."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise EdgedenError(INSTALL_HINT) from None


def parse_address(address: str) -> str | int:
    """``--cluster``'s value: a scheduler address (``tcp://HOST:8786``, ``tls://...``,
    ``HOST:PORT``, ``inproc://...``) returned as given, or ``local:N`` -> N (start a local
    cluster of N worker processes). Raises ValueError with one line for anything else."""
    a = address.strip()
    m = _LOCAL.fullmatch(a)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise ValueError(f"--cluster {address!r}: local:N needs N >= 1 workers")
        return n
    if a.startswith("local"):
        raise ValueError(f"--cluster {address!r}: expected local:N (N workers on this machine)")
    if re.fullmatch(r"[a-z][a-z0-9+]*://\S+", a) or re.fullmatch(r"[^\s:/]+:\d+", a):
        return a
    raise ValueError(f"--cluster {address!r}: expected a scheduler address (tcp://HOST:8786) or local:N")


@contextlib.contextmanager
def connect(address: str | int, timeout: float = 20.0) -> Iterator[Any]:
    """A ``distributed.Client`` for ``address`` (see :func:`parse_address`; an int N starts a
    local cluster of N single-threaded worker processes, closed on exit). Raises EdgedenError
    with one line when Dask is missing or the scheduler cannot be reached."""
    require_dask()
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if isinstance(address, int):
            cluster = LocalCluster(n_workers=address, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise EdgedenError(f"cannot reach the Dask scheduler at {address}: {why}") from None
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def worker_count(client: Any) -> int:
    """How many workers the scheduler has now."""
    try:
        return len(client.scheduler_info().get("workers", {}))
    except Exception:  # noqa: BLE001 - only for a message
        return 0


@dataclass(frozen=True)
class ClusterSpec:
    """Everything a worker needs to rebuild the client's run (all plain, picklable values)."""

    opts: Any  # edgeden.pipeline.DenoiseOptions
    model: str | None
    overwrite: bool
    classify: bool
    settings: dict
    precision: str  # "fp32" or "bf16": what the client resolved (``auto`` is resolved there)
    threads: int | None  # --threads: torch threads per task on the worker (None: the worker's own)
    versions: dict  # edgeden and torch versions of the client
    probe: str  # a file the client wrote in the output folder ...
    token: str  # ... and its contents
    debug: bool = False

    @classmethod
    def of(cls, run: Any, probe: Path, token: str, threads: int | None = None, debug: bool = False) -> ClusterSpec:
        """The spec of the client's :class:`~edgeden.runner.DenoiseRun` ``run``."""
        from edgeden.core.precision import precision_name

        return cls(opts=run.opts, model=run.fixed.name if run.fixed is not None else None,
                   overwrite=run.overwrite, classify=run.classify, settings=dict(run.settings),
                   precision=precision_name(), threads=threads, versions=_versions(),
                   probe=str(probe), token=token, debug=debug)

    def key(self) -> str:
        """What identifies the run on a worker (the spec without probe, token and debug)."""
        d = {k: v for k, v in self.__dict__.items() if k not in ("probe", "token", "debug")}
        return hashlib.sha256(pickle.dumps(sorted(d.items(), key=lambda kv: kv[0]))).hexdigest()


def _versions() -> dict:
    import torch

    from edgeden import __version__

    return {"edgeden": __version__, "torch": torch.__version__}


# ----------------------------------------------------------------------------- on the worker
_LOCK = threading.Lock()
_RUNS: OrderedDict[str, Any] = OrderedDict()  # spec key -> DenoiseRun (a few, most recent last)
_CHECKED: set[str] = set()  # probe tokens this worker process has seen
_KEYS: dict[str, str] = {}  # probe token -> spec key (computed once per run)


def _where() -> str:
    try:
        from distributed import get_worker

        return f"worker {get_worker().address} on {socket.gethostname()}"
    except (ImportError, ValueError):
        return f"worker on {socket.gethostname()}"


def _worker_run(spec: ClusterSpec) -> Any:
    """This worker process's DenoiseRun for ``spec`` (built once; networks loaded once).
    Call with ``_LOCK`` held. Raises ClusterFatal when this worker cannot take part."""
    if spec.token not in _CHECKED:
        mine = _versions()
        if mine != spec.versions:
            raise ClusterFatal(f"{_where()} runs edgeden {mine['edgeden']} with torch {mine['torch']}, the client "
                               f"edgeden {spec.versions['edgeden']} with torch {spec.versions['torch']}; "
                               f"install the same versions everywhere (docs/cluster.md)")
        try:
            seen = Path(spec.probe).read_text()
        except OSError:
            seen = None
        if seen != spec.token:
            raise ClusterFatal(f"{_where()} does not see the output folder {Path(spec.probe).parent} (the client's "
                               f"probe file is not there): it must be shared storage mounted at the same path on "
                               f"the client and every worker (docs/cluster.md)")
        _CHECKED.add(spec.token)
    key = _KEYS.get(spec.token) or _KEYS.setdefault(spec.token, spec.key())
    if key not in _RUNS:
        from edgeden.runner import DenoiseRun

        try:
            _RUNS[key] = DenoiseRun(spec.opts, model=spec.model, overwrite=spec.overwrite,
                                    classify=spec.classify, settings=spec.settings)
        except EdgedenError as e:
            raise ClusterFatal(f"{_where()}: {e}") from None
        while len(_RUNS) > 2:
            _RUNS.popitem(last=False)
    _RUNS.move_to_end(key)
    return _RUNS[key]


def denoise_task(spec: ClusterSpec, input_path: str, output_path: str, preset: tuple[str, str, str]
                 ) -> tuple[str, float, str | None]:
    """One job on a worker: ``(status, megapixels, message)`` with status "done", "skipped"
    (another live run holds the claim; message says so), "failed" (message: one line) or
    "fatal" (this worker cannot take part; the client stops the run). ``preset``: the
    (name, weights sha256, engine) the client expects this job to run with."""
    from edgeden.core.precision import set_precision

    job = Job(Path(input_path), Path(output_path))
    try:
        with _LOCK:
            run = _worker_run(spec)
            set_precision(spec.precision)
            if spec.threads:
                from edgeden.core.precision import set_threads

                set_threads(spec.threads)
            if not os.path.lexists(job.input):
                return ("failed", 0.0, f"not found on {_where()}: inputs must be on storage shared by the client "
                                       f"and every worker, at the same path (docs/cluster.md)")
            pr = run.preset_for(job.input)
            got = (pr.name, pr.sha256, run.backend(pr))
            if got != tuple(preset):
                raise ClusterFatal(f"{_where()} would denoise {job.input.name} with preset {got[0]} "
                                   f"(weights {got[1][:12]}, {got[2]}), the client with {preset[0]} "
                                   f"(weights {preset[1][:12]}, {preset[2]}); install the same presets and "
                                   f"extras everywhere (docs/cluster.md)")
            pr, net = run.model_for(job.input)  # load once, not by two threads at a time
            run.classifier_for(pr, net)
            run.records.pop(job.output, None)  # a long-lived worker: the input may have changed since
    except ClusterFatal as e:
        return ("fatal", 0.0, str(e))
    except Exception as e:  # noqa: BLE001 - reported as the file's failure
        if spec.debug:
            raise
        return ("failed", 0.0, describe_error(e))
    try:
        return ("done", run.process(job).megapixels, None)
    except BusyError as e:
        return ("skipped", 0.0, str(e))
    except Exception as e:  # noqa: BLE001 - one failure never stops the batch
        if spec.debug:
            raise
        return ("failed", 0.0, describe_error(e))


# ----------------------------------------------------------------------------- on the client
def _absolute(p: Path) -> Path:
    """``p`` as a worker can find it: absolute (links not resolved); absolute paths as given."""
    return p if p.is_absolute() else Path(os.path.abspath(p))


def run_on_cluster(client: Any, run: Any, jobs: list[Job], out: Path,
                   on_file: Callable[[Job, str, str | None], None] | None = None,
                   on_megapixels: Callable[[Job, float], None] | None = None,
                   on_submit: Callable[[Job], None] | None = None,
                   threads: int | None = None, debug: bool = False) -> BatchReport:
    """Run ``jobs`` of the client's DenoiseRun ``run`` on the cluster of ``client``, as
    :func:`edgeden.batch.run_jobs` runs them locally: complete jobs are skipped here
    (``run.complete``), the rest are tasks; ``on_file(job, status, message)`` is called as
    each finishes (``on_megapixels(job, mp)`` just before it for a done file; ``on_submit(job)``
    as each job is sent). Lists in the report are in job order.

    Raises ClusterFatal (one line) when a worker cannot take part -- the other tasks are
    cancelled; KeyboardInterrupt cancels the tasks not yet started and re-raises (tasks
    already running finish their file). With ``debug`` a task's exception is re-raised here.
    """
    import secrets
    import time

    from distributed import as_completed

    from edgeden.io.atomic import temp_name

    rep = BatchReport()
    t0 = time.perf_counter()
    out = _absolute(Path(out))
    token = secrets.token_hex(16)
    probe = out / temp_name("edgeden-cluster-probe")
    out.mkdir(parents=True, exist_ok=True)
    with open(probe, "x") as fh:
        fh.write(token)
    futures: dict[Any, tuple[int, Job]] = {}
    spec = None
    status: dict[int, tuple[str, str | None]] = {}
    try:
        # the spec travels once, as a task's argument that the scheduler keeps (so it is
        # recomputed if the worker holding it leaves, and needs no worker yet)
        spec = client.submit(_spec_value, ClusterSpec.of(run, probe, token, threads=threads, debug=debug),
                             pure=False, key=f"edgeden-spec-{token[:8]}")
        for i, job in enumerate(jobs):
            if run.complete(job):
                status[i] = ("skipped", None)
                if on_file:
                    on_file(job, "skipped", None)
                continue
            try:
                pr = run.preset_for(job.input)
                expect = (pr.name, pr.sha256, run.backend(pr))
            except Exception as e:  # noqa: BLE001 - as locally: this file fails, the batch goes on
                if debug:
                    raise
                status[i] = ("failed", describe_error(e))
                if on_file:
                    on_file(job, "failed", status[i][1])
                continue
            fut = client.submit(denoise_task, spec, str(_absolute(job.input)), str(_absolute(job.output)),
                                expect, pure=False, priority=-i, key=f"edgeden-denoise-{token[:8]}-{i}")
            futures[fut] = (i, job)
            status[i] = ("running", None)
            if on_submit:
                on_submit(job)
        for fut in as_completed(list(futures)):
            i, job = futures[fut]
            try:
                st, megapixels, msg = fut.result()
            except Exception as e:  # noqa: BLE001 - a task that raised or whose worker died
                if debug:
                    raise
                st, megapixels, msg = "failed", 0.0, _task_error(e)
            if st == "fatal":
                raise ClusterFatal(msg or "a worker cannot take part in this run")
            status[i] = (st, msg)
            if st == "done":
                rep.megapixels += megapixels
                if on_megapixels:
                    on_megapixels(job, megapixels)
            if on_file:
                on_file(job, st, msg)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(futures), force=True)
        raise
    finally:
        if spec is not None:
            with contextlib.suppress(Exception):
                client.cancel([spec])
        with contextlib.suppress(OSError):
            probe.unlink()
    for i, job in enumerate(jobs):
        st, msg = status.get(i, ("running", None))
        if st == "done":
            rep.done.append(job.input)
        elif st == "skipped":
            rep.skipped.append(job.input)
        elif st == "failed":
            rep.failed.append((job.input, msg or "failed"))
    rep.seconds = time.perf_counter() - t0
    return rep


def _spec_value(spec: ClusterSpec) -> ClusterSpec:
    return spec


def _task_error(e: BaseException) -> str:
    """One line for a task that did not return (its worker died, or an unexpected error)."""
    name = type(e).__name__
    if name == "KilledWorker":
        return "the worker denoising it died (out of memory?); re-run to retry it"
    if name == "CancelledError":
        return "its task was cancelled on the cluster"
    return describe_error(e)
