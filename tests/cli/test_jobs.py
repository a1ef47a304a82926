"""``edgeden denoise --jobs N``: files in flight, their steps overlapped (issue 21, points 3 and 7).
The outputs are those of a run one file after another, byte for byte; resume and failures as
there. The speed figures are in docs/benchmarks.md, not here."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edgeden.cli import app

from test_cli import _tree, photos  # noqa: F401 - the shared input tree fixture

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _sidecar(path: Path, out: Path) -> dict:
    d = json.loads(path.read_text().replace(str(out), "OUT"))
    d.pop("created")
    d.pop("timings_s")
    return d


def test_files_in_flight_give_the_outputs_of_a_sequential_run(tmp_path, photos, tiny_presets):  # noqa: F811
    one, three = tmp_path / "one", tmp_path / "three"
    for out, jobs in ((one, 1), (three, 3)):
        r = run("denoise", photos, "-m", "tiny-raw", "-o", out, "--jobs", jobs)
        assert r.exit_code == 0, r.output
        assert "3 denoised, 0 skipped" in r.output and "0 failed" in r.output
    images = {k: v for k, v in _tree(one).items() if not k.endswith(".json")}
    assert images == {k: v for k, v in _tree(three).items() if not k.endswith(".json")} and len(images) == 6
    for rel in ("a.dng", "sub/b.png", "sub/c.jpg"):
        assert _sidecar(three / f"{rel}.json", three) == _sidecar(one / f"{rel}.json", one)
    assert not [p for p in three.rglob("*") if p.name.endswith(".tmp") or "edgeden-claim" in p.name]
    before = _tree(three)
    r = run("denoise", photos, "-m", "tiny-raw", "-o", three, "--jobs", 3)
    assert r.exit_code == 0 and "0 denoised, 3 skipped" in r.output, r.output
    assert _tree(three) == before


def test_a_bad_file_among_files_in_flight(tmp_path, photos, tiny_presets):  # noqa: F811
    (photos / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    r = run("denoise", photos, "-m", "tiny-raw", "-o", tmp_path / "o", "--jobs", 2)
    assert r.exit_code == 3, r.output
    bad = [ln for ln in r.output.splitlines() if "broken.png" in ln]
    assert len(bad) == 1 and "broken.png:" in bad[0], r.output
    assert "3 denoised, 0 skipped (already complete), 1 failed" in r.output
    assert not (tmp_path / "o" / "sub" / "broken.png").exists()
    assert not [p for p in (tmp_path / "o").rglob("*") if "edgeden-claim" in p.name]


def test_jobs_must_be_positive(tmp_path, photos):  # noqa: F811
    r = run("denoise", photos, "-o", tmp_path / "o", "--jobs", 0)
    assert r.exit_code == 2
