"""One denoise run over a batch: which preset each file gets, which jobs are already complete,
and the job itself (claimed, denoised, recorded).

The CLI's ``denoise`` command parses options, builds a :class:`DenoiseRun`, and renders
progress and messages; a library user runs a batch the same way::

    run = DenoiseRun(DenoiseOptions(), model="unet-m-srgb")
    plan = run.plan([Path("photos")], Path("out"))
    report = run_jobs(plan.jobs, run.process, run.complete)

or, overlapping the reading and writing of neighbouring files with inference::

    steps, close = run.steps()
    report = run_jobs_staged(plan.jobs, steps, run.complete, close, depth=2)
"""
from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from edgeden import pipeline
from edgeden.batch import BatchStopped, Job, Plan, claimed, job_record, plan_jobs, record_difference
from edgeden.pipeline import (
    DenoiseOptions,
    FileResult,
    ProgressFn,
    outputs_for,
)
from edgeden.presets import (
    Preset,
    build_model,
    classifier_preset,
    default_preset,
    get_preset,
)


def onnx_network(preset: Preset) -> Any:
    """The preset's network run by ONNX Runtime (:mod:`edgeden.models.onnx_backend`): each graph
    (a model array's member when an image first needs it) from the cache an earlier run filled,
    without PyTorch, else built with PyTorch (once per run) and exported now. The weights file
    is checked first, as :func:`build_model` checks it."""
    from edgeden.models import onnx_backend
    from edgeden.presets import check_weights

    check_weights(preset)  # a missing or replaced weights file is an error, cached graph or not
    key = f"{preset.name}-{preset.sha256[:16]}"
    built: list[Any] = []
    lock = threading.Lock()

    def member(i: int) -> Any:
        with lock:  # built once, with its sha256 checked again (it may be minutes later)
            if not built:
                built.append(build_model(preset))
        net = built[0]
        return net.members[i] if hasattr(net, "members") else net

    bounds = preset.array["shot_bounds"] if preset.array else None
    return onnx_backend.cached_network(key, preset.spec.in_channels, member, bounds)


class DenoiseRun:
    """The state of one run: presets, loaded networks and classifiers, and job records.

    opts: the per-file options. model: ``--model`` (None: per input kind, see
    :func:`edgeden.presets.default_preset`). overwrite: redo complete outputs too. classify:
    add labels from the best installed classifier preset. settings: what else changes the
    outputs (tile, overlap, --noise as given, precision, ...), stored in each job's record.
    Raises EdgedenError for an unknown preset or when none is installed.
    """

    def __init__(self, opts: DenoiseOptions, model: str | None = None, overwrite: bool = False,
                 classify: bool = False, settings: dict[str, Any] | None = None):
        self.opts, self.overwrite, self.classify = opts, overwrite, classify
        self.fixed: Preset | None = get_preset(model) if model is not None else None
        if self.fixed is None:
            default_preset("rgb")  # fails early and clearly when no trained preset is installed
        self.settings = dict(settings or {})
        self.records: dict[Path, dict] = {}
        self.redo: dict[Path, str] = {}  # output -> why its existing outputs are redone
        self._nets: dict[str, Any] = {}
        self._classifiers: dict[str, Any] = {}
        self._extra_classifier: Any = None
        # --classify without a classifier preset installed: one error before any work
        self._classifier_preset: Preset | None = classifier_preset() if classify else None

    # ----------------------------------------------------------------------------- planning
    def preset_for(self, path: Path) -> Preset:
        """The job's preset: ``model``, or the default for the input's kind."""
        if self.fixed is not None:
            return self.fixed
        from edgeden.io import detect_kind

        try:
            kind = detect_kind(path)
        except Exception:  # noqa: BLE001 - unreadable files fail later with their own message
            kind = "rgb"
        return get_preset(default_preset(kind))

    def outputs(self, out_image: Path) -> list[Path]:
        """Every file a job writes for the denoised image ``out_image``."""
        return outputs_for(out_image, self.opts).all()

    def record_of(self, job: Job) -> dict[str, Any]:
        """The job's record (:func:`edgeden.batch.job_record`), computed once."""
        if job.output not in self.records:
            self.records[job.output] = job_record(job.input, self.preset_for(job.input), self.settings)
        return self.records[job.output]

    def complete(self, job: Job) -> bool:
        """True when the job's outputs exist and their record (input hash, preset, weights,
        settings) is this run's; otherwise the reason for redoing existing ones is kept in
        :attr:`redo`."""
        if self.overwrite or not outputs_for(job.output, self.opts).complete():
            return False
        from edgeden.io.sidecar import read_record

        try:
            why = record_difference(read_record(job.output, sidecar=self.opts.sidecar), self.record_of(job))
        except OSError:
            return False  # an unreadable input fails later with its own line
        if why:
            self.redo[job.output] = why
        return why is None

    def plan(self, paths: list[Path], out: Path, probe_write: bool = True) -> Plan:
        """The jobs for ``paths`` into ``out`` (see :func:`edgeden.batch.plan_jobs`)."""
        return plan_jobs(list(paths), out, outputs=self.outputs, skip=self.complete, probe_write=probe_write)

    # ----------------------------------------------------------------------------- running
    def model_for(self, path: Path) -> tuple[Preset, Any]:
        """The job's preset and its network (each loaded once per run)."""
        pr = self.preset_for(path)
        if pr.name not in self._nets:
            if not pr.classifier and self.backend(pr) == "onnxruntime":  # joint presets stay in torch
                self._nets[pr.name] = onnx_network(pr)
            else:
                self._nets[pr.name] = build_model(pr)
        return pr, self._nets[pr.name]

    def backend(self, preset: Preset) -> str:
        """The engine for ``preset`` in this run: "torch" or "onnxruntime" (``opts.backend``
        resolved against the preset's measured preference)."""
        from edgeden.core.precision import use_bf16
        from edgeden.models.onnx_backend import resolve_backend

        return resolve_backend(self.opts.backend, use_bf16(), preset.backend)

    def classifier_for(self, preset: Preset, net: Any) -> Any:
        """The labeller for a job: the preset's own classifier head, else (with ``classify``)
        the best installed classifier preset, else None."""
        if not preset.classifier and self._classifier_preset is None:
            return None
        from edgeden.classify import PresetClassifier

        if preset.classifier:
            if preset.name not in self._classifiers:
                self._classifiers[preset.name] = PresetClassifier(preset, net)
            return self._classifiers[preset.name]
        if self._classifier_preset is not None and self._extra_classifier is None:
            cp = self._classifier_preset
            self._extra_classifier = PresetClassifier(cp, build_model(cp))
        return self._extra_classifier

    def process(self, job: Job, on_tile: ProgressFn | None = None) -> FileResult:
        """Denoise one job under its claim (a lock, and the record of a run without sidecars).
        Raises EdgedenError subclasses (BusyError when another live run holds the job)."""
        preset, net = self.model_for(job.input)
        record = self.record_of(job)
        with claimed(job.output, self.outputs(job.output), record=record, keep=not self.opts.sidecar):
            return pipeline.denoise_file(job.input, job.output, net, preset, self.opts, on_tile=on_tile,
                                classifier=self.classifier_for(preset, net), record=record)

    def steps(self, on_tile: Callable[[Job, int, int], None] | None = None,
              stop: threading.Event | None = None,
              on_result: Callable[[Job, FileResult], None] | None = None) -> tuple[list[Callable], Callable]:
        """The job cut into three steps for :func:`edgeden.batch.run_jobs_staged`, and their close.

        read(job, None): claim the outputs (BusyError when another live run holds them), decode,
        pack, noise -> state; infer(job, state): the network -> state; write(job, state): the
        outputs and sidecar -> megapixels. close(job, state, error) releases the claim as
        :meth:`process` would. ``on_tile(job, done, total)`` reports inference progress; when
        ``stop`` is set, inference ends at the next tile (BatchStopped). ``on_result(job, result)``
        gets each written file's :class:`edgeden.pipeline.FileResult` (timings, noise, labels).
        Each step runs in one thread at a time (one network run at a time).
        """

        class _State:
            __slots__ = ("claim", "preset", "net", "record", "work")

        def read(job: Job, _: Any) -> _State:
            st = _State()
            st.preset, st.net = self.model_for(job.input)
            st.record = self.record_of(job)
            st.claim = contextlib.ExitStack()
            st.claim.enter_context(claimed(job.output, self.outputs(job.output), record=st.record,
                                           keep=not self.opts.sidecar))
            try:
                st.work = pipeline.read_file(job.input, job.output, st.preset, self.opts)
            except BaseException:
                st.claim.__exit__(*sys.exc_info())
                raise
            return st

        def infer(job: Job, st: _State) -> _State:
            def tile(d: int, n: int) -> None:
                if stop is not None and stop.is_set():
                    raise BatchStopped()
                if on_tile is not None:
                    on_tile(job, d, n)

            pipeline.infer_file(st.work, st.net, st.preset, self.opts, on_tile=tile)
            return st

        def write(job: Job, st: _State) -> float:
            res = pipeline.write_file(st.work, st.net, st.preset, self.opts,
                                      classifier=self.classifier_for(st.preset, st.net), record=st.record)
            st.work = None
            if on_result is not None:
                on_result(job, res)
            return res.megapixels

        def close(job: Job, st: _State, error: BaseException | None) -> None:
            st.work = None
            if error is None:
                st.claim.__exit__(None, None, None)
            else:
                st.claim.__exit__(type(error), error, error.__traceback__)

        return [read, infer, write], close
