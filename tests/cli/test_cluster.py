"""``edgeden denoise --cluster``: a batch on a Dask distributed cluster (issue 21, points 6-7).

The cluster is an in-process ``LocalCluster`` of 2 workers (threads of this process, so it
starts in well under a second); the command reaches it through its scheduler address, the
same way it reaches ``tcp://HOST:8786``. Skipped where Dask is not installed, except the test
of the one-line error that a missing Dask gives.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeden.cli import app

from test_cli import _tree, photos  # noqa: F401 - the shared input tree fixture

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def cluster_address():
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        yield cl.scheduler_address


def _images(out: Path) -> dict[str, bytes]:
    """Every output but the sidecars, byte for byte."""
    return {k: v for k, v in _tree(out).items() if not k.endswith(".json")}


def _sidecar(path: Path, out: Path) -> dict:
    """A sidecar without what differs between any two runs (timings, creation time) and with
    the output folder's name taken out of its paths."""
    d = json.loads(path.read_text().replace(str(out), "OUT"))
    d.pop("created")
    d.pop("timings_s")
    return d


def test_cluster_outputs_equal_a_local_run_and_resume_skips_everything(tmp_path, photos, tiny_presets,  # noqa: F811
                                                                      cluster_address, monkeypatch):
    import edgeden.cluster as cluster
    import edgeden.runner as runner_mod

    monkeypatch.setattr(cluster, "_RUNS", OrderedDict())
    builds = []
    real_build = runner_mod.build_model
    monkeypatch.setattr(runner_mod, "build_model", lambda p: builds.append(p.name) or real_build(p))

    local, remote = tmp_path / "local", tmp_path / "remote"
    r = run("denoise", photos, "-m", "tiny-raw", "-o", local)
    assert r.exit_code == 0, r.output
    builds.clear()
    r = run("denoise", photos, "-m", "tiny-raw", "-o", remote, "--cluster", cluster_address)
    assert r.exit_code == 0, r.output
    assert "3 denoised, 0 skipped" in r.output and "0 failed" in r.output
    assert builds == ["tiny-raw"]  # the network is loaded once per worker process, not per file
    assert _images(remote) == _images(local) and len(_images(local)) == 6  # 3 images + 3 previews
    for rel in ("a.dng", "sub/b.png", "sub/c.jpg"):
        assert _sidecar(remote / f"{rel}.json", remote) == _sidecar(local / f"{rel}.json", local)
    assert not [p for p in remote.rglob("*") if p.name.endswith(".tmp") or "edgeden-claim" in p.name]

    before = _tree(remote)
    r = run("denoise", photos, "-m", "tiny-raw", "-o", remote, "--cluster", cluster_address)
    assert r.exit_code == 0, r.output
    assert "0 denoised, 3 skipped" in r.output
    assert _tree(remote) == before


def test_cluster_a_broken_file_fails_alone(tmp_path, photos, tiny_presets, cluster_address):  # noqa: F811
    (photos / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    out = tmp_path / "out"
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out, "--cluster", cluster_address)
    assert r.exit_code == 3, r.output
    bad = [ln for ln in r.output.splitlines() if "broken.png" in ln]
    assert len(bad) == 1, r.output
    assert "3 denoised, 0 skipped" in r.output and "1 failed" in r.output
    assert (out / "sub" / "b.png").is_file() and not (out / "sub" / "broken.png").exists()


def test_cluster_workers_that_do_not_see_the_output_folder_stop_the_run(tmp_path, photos, tiny_presets,  # noqa: F811
                                                                        cluster_address, monkeypatch):
    from edgeden.cluster import ClusterSpec

    of = ClusterSpec.of.__func__

    def elsewhere(cls, *a, **k):  # as if the workers mounted the output folder somewhere else
        return dataclasses.replace(of(cls, *a, **k), probe=str(tmp_path / "not-shared" / "probe"))

    monkeypatch.setattr(ClusterSpec, "of", classmethod(elsewhere))
    out = tmp_path / "out"
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out, "--cluster", cluster_address)
    assert r.exit_code == 1, r.output
    line = [ln for ln in r.output.splitlines() if "error" in ln]
    assert len(line) == 1 and "does not see the output folder" in line[0] and "shared" in line[0], r.output
    assert not [p for p in out.rglob("*") if p.is_file()]  # nothing written, no probe left behind


def test_cluster_interrupt_cancels_and_reraises(tmp_path, photos, tiny_presets, cluster_address):  # noqa: F811
    from distributed import Client

    from edgeden.cluster import run_on_cluster
    from edgeden.pipeline import DenoiseOptions
    from edgeden.runner import DenoiseRun

    out = tmp_path / "out"
    out.mkdir()
    drun = DenoiseRun(DenoiseOptions(), model="tiny-raw")
    plan = drun.plan([photos], out)

    def ctrl_c(job, status, msg):
        raise KeyboardInterrupt

    with Client(cluster_address) as client:
        with pytest.raises(KeyboardInterrupt):
            run_on_cluster(client, drun, plan.jobs, out, on_file=ctrl_c)
    assert not [p for p in out.iterdir() if "cluster-probe" in p.name]


def test_cluster_without_dask_is_one_line_exit_2(tmp_path, photos, monkeypatch):  # noqa: F811
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    r = run("denoise", photos, "-o", tmp_path / "out", "--cluster", "tcp://127.0.0.1:8786")
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'edgeden[cluster]'" in lines[0], r.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value, expected", [("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"), ("local:4", 4),
                                             ("sched.lan:8786", "sched.lan:8786"), ("local:0", ValueError),
                                             ("local", ValueError), ("not an address", ValueError)])
def test_cluster_address_forms(value, expected):
    from edgeden.cluster import parse_address

    if expected is ValueError:
        with pytest.raises(ValueError):
            parse_address(value)
    else:
        assert parse_address(value) == expected


def test_bad_cluster_address_is_a_usage_error(tmp_path, photos):  # noqa: F811
    r = run("denoise", photos, "-o", tmp_path / "out", "--cluster", "local:0")
    assert r.exit_code == 2 and "local:N needs N >= 1" in r.output
