"""Issue 19, points 6 and 8: a re-run knows what it resumes (input hash, preset, weights, settings),
two runs never process the same output, and kill -9 at any moment then a re-run gives what an
uninterrupted run gives."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_util import lines_with, run_cli, write_dng, write_png

from edgeden.io.sidecar import claim_path, read_claim, write_claim


def _inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    write_png(src / "a.png", seed=0)
    write_png(src / "b.png", seed=1)
    return src


@pytest.mark.reliability(case="re-run with the same input, preset and settings",
                         expected="skipped: the sidecar's record matches")
def test_same_run_twice_skips(tmp_path, tiny_presets):
    src, out = _inputs(tmp_path), tmp_path / "out"
    assert run_cli("denoise", src, "-m", "tiny-srgb", "-o", out).exit_code == 0
    rec = json.loads((out / "a.png.json").read_text())["record"]
    assert rec["preset"] == "tiny-srgb" and len(rec["input_sha256"]) == 64 and rec["settings"]["precision"]
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 0 and "0 denoised, 2 skipped" in r.output


@pytest.mark.reliability(case="input changed since its outputs were made",
                         expected="redone, with one note line saying why (not skipped silently)")
def test_changed_input_is_redone(tmp_path, tiny_presets):
    src, out = _inputs(tmp_path), tmp_path / "out"
    assert run_cli("denoise", src, "-m", "tiny-srgb", "-o", out).exit_code == 0
    write_png(src / "a.png", seed=3)  # the photo was edited
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 0 and "1 denoised, 1 skipped" in r.output
    assert lines_with(r.output, "a.png", "redone", "input changed")


@pytest.mark.reliability(case="re-run into the same folder with another --model",
                         expected="every file redone with the new preset, one note each; never a mixed folder")
def test_other_preset_redoes_everything(tmp_path, tiny_presets):
    src, out = _inputs(tmp_path), tmp_path / "out"
    r0 = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
    assert r0.exit_code == 0, r0.output
    r = run_cli("denoise", src, "-m", "tiny-dcnet", "-o", out)
    assert r.exit_code == 0 and "2 denoised, 0 skipped" in r.output, r.output
    assert len(lines_with(r.output, "redone", "made with preset tiny-srgb, now tiny-dcnet")) == 2
    presets = {json.loads(p.read_text())["preset"]["name"] for p in out.glob("*.json")}
    assert presets == {"tiny-dcnet"}


@pytest.mark.reliability(case="re-run with other settings (--tile)", expected="redone, one note naming the setting")
def test_changed_settings_are_redone(tmp_path, tiny_presets):
    src, out = _inputs(tmp_path), tmp_path / "out"
    assert run_cli("denoise", src, "-m", "tiny-srgb", "-o", out).exit_code == 0
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--tile", "48", "--overlap", "8")
    assert r.exit_code == 0 and "2 denoised" in r.output and lines_with(r.output, "settings changed", "tile")


@pytest.mark.reliability(case="re-run without sidecars (--no-sidecar)",
                         expected="the kept claim is the record: skipped when it matches, never refused as foreign")
def test_no_sidecar_runs_resume_from_the_claim(tmp_path, tiny_presets):
    src, out = _inputs(tmp_path), tmp_path / "out"
    assert run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--no-sidecar", "--no-preview").exit_code == 0
    c = read_claim(out / "a.png")
    assert c["status"] == "complete" and c["record"]["preset"] == "tiny-srgb"
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--no-sidecar", "--no-preview")
    assert r.exit_code == 0 and "0 denoised, 2 skipped" in r.output


@pytest.mark.reliability(case="two runs on one output folder at the same time",
                         expected="a file claimed by a live run is skipped with one line; a dead run's claim is taken over")
def test_live_claim_is_a_lock_and_a_dead_one_is_not(tmp_path, tiny_presets):
    src, out = _inputs(tmp_path), tmp_path / "out"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        a = out / "a.png"
        a.parent.mkdir(parents=True)
        write_claim(a, [a], record=None, status="running")
        rec = json.loads(claim_path(a).read_text())
        rec["pid"] = other.pid  # a live edgeden run holds a.png
        claim_path(a).write_text(json.dumps(rec))
        r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
        assert r.exit_code == 0 and "1 denoised, 1 skipped" in r.output
        assert lines_with(r.output, "a.png", "being denoised by another edgeden run", str(other.pid))
        assert not a.exists()
    finally:
        other.kill()
        other.wait()
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)  # that run died: its claim is stale
    assert r.exit_code == 0 and "1 denoised, 1 skipped" in r.output and a.exists()


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "edgeden", *map(str, args)]


@pytest.mark.slow
@pytest.mark.reliability(case="kill -9 at several moments of a batch, then a re-run",
                         expected="outputs identical to an uninterrupted run (images, previews, DNG bytes); no temporaries left")
def test_kill_9_then_rerun_equals_an_uninterrupted_run(tmp_path, tiny_presets):
    src = tmp_path / "in"
    write_dng(src / "r.dng")
    for i in range(8):
        write_png(src / f"p{i}.png", seed=i % 4)
    env = {**os.environ, "EDGEDEN_PRESET_PATH": str(tiny_presets)}
    # one thread, fp32: the same bytes whatever else runs (bf16 reductions on AMX CPUs may round
    # differently from run to run under load; resume, not arithmetic, is what this test checks)
    det = ("-m", "tiny-raw", "--threads", "1", "--precision", "fp32")
    ref = tmp_path / "ref"
    subprocess.run(_cli("denoise", src, *det, "-o", ref), env=env, check=True, capture_output=True)
    want = {p.relative_to(ref): p.read_bytes() for p in ref.rglob("*") if p.is_file() and not p.name.endswith(".json")}
    assert len(want) == 18  # 9 images + 9 previews
    killed_mid_batch = 0
    for delay in (0.0, 0.02, 0.1, 0.3):
        out = tmp_path / f"out{delay}"
        proc = subprocess.Popen(_cli("denoise", src, *det, "-o", out), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while time.time() - t0 < 60 and not any(out.rglob("*.json")):  # the first file is done
            time.sleep(0.01)
        time.sleep(delay)
        killed_mid_batch += proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        r = subprocess.run(_cli("denoise", src, *det, "-o", out), env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        got = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.name.endswith(".json")
               and not p.name.endswith(".edgeden-claim")}
        assert got.keys() == want.keys() and all(got[k] == want[k] for k in want), delay
        assert not [p for p in out.rglob("*.tmp")]
    assert killed_mid_batch >= 2  # the kills did land while the batch was writing


@pytest.mark.reliability(case="disk full while writing outputs",
                         expected="one line per file (no space left), the batch goes on, exit 3, no partial file")
def test_disk_full_is_one_line_per_file(tmp_path, tiny_presets, monkeypatch):
    import errno

    from edgeden.io import rgb

    def full(tmp, *a, **k):
        Path(tmp).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    src, out = _inputs(tmp_path), tmp_path / "out"
    monkeypatch.setattr(rgb, "write_png", full)
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 3 and len(lines_with(r.output, "No space left on device")) == 2
    assert not [p for p in out.rglob("*") if p.is_file() and p.suffix in (".png", ".tmp")]


@pytest.mark.reliability(case="a second run starts while the first is writing into the same folder",
                         expected="the first run's live temporaries are left alone; only stale ones are removed")
def test_live_runs_temporaries_are_not_stale(tmp_path, tiny_presets):
    from edgeden.batch import Job, clean_stale_temps

    out = tmp_path / "out"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live, dead = out / "a.png", out / "b.png"
        for img, pid in ((live, other.pid), (dead, 2 ** 22 + 12345)):
            write_claim(img, [img], status="running")
            rec = json.loads(claim_path(img).read_text())
            rec["pid"] = pid
            claim_path(img).write_text(json.dumps(rec))
        t_live = out / ".a.png.preview.jpg.0123abcd.tmp"
        t_dead = out / ".b.png.0123abcd.tmp"
        t_none = out / ".c.png.0123abcd.tmp"
        for t in (t_live, t_dead, t_none):
            t.write_bytes(b"x")
        removed = clean_stale_temps([Job(tmp_path / "in" / "a.png", live)], out)
        assert sorted(removed) == sorted([t_dead, t_none]) and t_live.exists()
    finally:
        other.kill()
        other.wait()
