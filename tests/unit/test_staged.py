"""Issue 21, points 3 and 7: files in flight (``edgeden.batch.run_jobs_staged``): steps overlap
across neighbouring jobs, reports keep the jobs' order, at most ``depth`` jobs are in flight,
failures and busy files are reported as in a sequential run, and every started job is closed."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edgeden.batch import BatchStopped, BusyError, Job, run_jobs, run_jobs_staged


def _jobs(n: int) -> list[Job]:
    return [Job(Path(f"in/{i}.png"), Path(f"out/{i}.png")) for i in range(n)]


class Recorder:
    """Three steps that log (step, job index, start, end) and count jobs in flight."""

    def __init__(self, delays=(0.01, 0.03, 0.01), fail: dict | None = None):
        self.delays, self.fail = delays, fail or {}
        self.lock = threading.Lock()
        self.log: list[tuple[int, int, float, float]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed: list[tuple[int, str | None]] = []

    def step(self, k: int):
        def run(job: Job, state):
            i = int(job.input.stem)
            if k == 0:
                with self.lock:
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
            t0 = time.perf_counter()
            time.sleep(self.delays[k])
            if self.fail.get(i) == k:
                raise (BusyError("held by another run") if k == 0 and i == 99 else ValueError(f"bad {i} at {k}"))
            with self.lock:
                self.log.append((k, i, t0, time.perf_counter()))
            return float(i) if k == len(self.delays) - 1 else (state or []) + [k]
        return run

    def close(self, job: Job, state, error) -> None:
        with self.lock:
            self.in_flight -= 1
            self.closed.append((int(job.input.stem), None if error is None else type(error).__name__))

    def steps(self):
        return [self.step(k) for k in range(len(self.delays))]


def test_reports_in_order_and_steps_overlap():
    rec = Recorder(delays=(0.02, 0.05, 0.02))
    seen = []
    rep = run_jobs_staged(_jobs(6), rec.steps(), lambda j: False, rec.close,
                          on_file=lambda j, s, m: seen.append((j.input.stem, s)), depth=3)
    assert seen == [(str(i), "done") for i in range(6)]
    assert [p.stem for p in rep.done] == [str(i) for i in range(6)] and rep.megapixels == sum(range(6))
    assert sorted(rec.closed) == [(i, None) for i in range(6)]
    # each step handles the jobs in order, one at a time
    for k in range(3):
        ks = [e for e in rec.log if e[0] == k]
        assert [e[1] for e in ks] == list(range(6))
        assert all(a[3] <= b[2] + 1e-6 for a, b in zip(ks, ks[1:]))
    # and the steps of neighbouring jobs overlap: job i+1 is read while job i is inferred
    start = {(k, i): (t0, t1) for k, i, t0, t1 in rec.log}
    overlaps = sum(start[(0, i + 1)][0] < start[(1, i)][1] for i in range(5))
    assert overlaps >= 3


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_in_flight_bounded_by_depth(depth):
    rec = Recorder(delays=(0.001, 0.02, 0.001))
    rep = run_jobs_staged(_jobs(8), rec.steps(), lambda j: False, rec.close, depth=depth)
    assert len(rep.done) == 8
    assert rec.max_in_flight <= depth
    if depth > 1:  # a slow middle step: the next job was read while it ran
        assert rec.max_in_flight >= 2


def test_failures_busy_and_skips_reported_like_a_sequential_run():
    fail = {1: 1, 3: 2, 99: 0}  # job 1 fails in inference, 3 in writing, 99 busy at its claim
    jobs = _jobs(5) + [Job(Path("in/99.png"), Path("out/99.png"))]
    skip = {"2"}
    rec = Recorder(fail=fail)
    seen = []
    rep = run_jobs_staged(jobs, rec.steps(), lambda j: j.input.stem in skip, rec.close,
                          on_file=lambda j, s, m: seen.append((j.input.stem, s, m)), depth=2)
    assert [(a, b) for a, b, _ in seen] == [("0", "done"), ("1", "failed"), ("2", "skipped"), ("3", "failed"),
                                            ("4", "done"), ("99", "skipped")]
    assert dict((a, m) for a, _, m in seen)["1"] == "unexpected error: ValueError: bad 1 at 1 (re-run with --debug for details)"
    assert dict((a, m) for a, _, m in seen)["99"] == "held by another run"
    assert [p.stem for p in rep.done] == ["0", "4"] and [p.stem for p in rep.skipped] == ["2", "99"]
    assert [p.stem for p, _ in rep.failed] == ["1", "3"]
    # closed once each: the jobs whose first step returned; with the error where one failed
    assert sorted(rec.closed) == [(0, None), (1, "ValueError"), (3, "ValueError"), (4, None)]

    # the same jobs one after another give the same report
    def process(job):
        state = None
        for k, f in enumerate(rec.steps()):
            state = f(job, state)
        return state

    rec2 = Recorder(fail=fail)
    rec.steps = rec2.steps
    seq = run_jobs(jobs, process, lambda j: j.input.stem in skip)
    assert (seq.done, seq.skipped, [p for p, _ in seq.failed]) == (rep.done, rep.skipped, [p for p, _ in rep.failed])


def test_debug_reraises_the_first_failure():
    rec = Recorder(fail={1: 1})
    with pytest.raises(ValueError, match="bad 1 at 1"):
        run_jobs_staged(_jobs(4), rec.steps(), lambda j: False, rec.close, debug=True)


def test_stop_closes_every_started_job():
    """Ctrl-C in the calling thread: the step polling ``stop`` ends, every job whose first step
    returned is closed with KeyboardInterrupt, and the interrupt is raised again."""
    import _thread

    stop = threading.Event()
    closed = []
    started = []

    def read(job, _):
        started.append(job.input.stem)
        return [0]

    def infer(job, state):
        if job.input.stem == "1":
            _thread.interrupt_main()
            while True:  # a long inference, polling between tiles
                if stop.is_set():
                    raise BatchStopped()
                time.sleep(0.01)
        return state

    def write(job, state):
        return 1.0

    seen = []
    with pytest.raises(KeyboardInterrupt):
        run_jobs_staged(_jobs(5), [read, infer, write], lambda j: False,
                        lambda j, s, e: closed.append((j.input.stem, None if e is None else type(e).__name__)),
                        on_file=lambda j, s, m: seen.append(j.input.stem), depth=3, stop=stop)
        time.sleep(5)  # the interrupt arrives while the batch runs, not here
    assert stop.is_set()
    assert set(seen) <= {c for c, e in closed if e is None}  # reported done: finished and closed
    assert sorted(c for c, _ in closed) == sorted(started)  # every started job closed once
    assert ("1", "KeyboardInterrupt") in closed


def test_needs_two_steps_and_a_positive_depth():
    with pytest.raises(ValueError):
        run_jobs_staged(_jobs(1), [lambda j, s: 1.0], lambda j: False)
    with pytest.raises(ValueError):
        run_jobs_staged(_jobs(1), [lambda j, s: 1, lambda j, s: 1.0], lambda j: False, depth=0)
