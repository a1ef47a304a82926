"""Issue 19, points 4-7: strict JSON sidecars, Ctrl-C, stale temporaries, an unwritable output
folder found before any work."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from safety_util import lines_with, run_cli, tree, write_png

from edgeden.io.atomic import find_stale_temps, is_atomic_temp, remove_stale_temps
from edgeden.io.sidecar import read_sidecar, write_sidecar


def _strict(text: str):
    def refuse(c):
        raise ValueError(f"non-standard JSON constant {c}")

    return json.loads(text, parse_constant=refuse)


# ----------------------------------------------------------------------------- 4 strict JSON
@pytest.mark.reliability(case="non-finite numbers reaching the sidecar writer",
                         expected="written as null: the sidecar is strict JSON")
def test_sidecar_is_strict_json(tmp_path):
    p = tmp_path / "x.png.json"
    write_sidecar(p, {"outputs": {"image": "x.png"}, "noise": {"shot": [float("nan"), 1e-4], "read": [float("inf")]},
                      "np": np.float32("nan"), "arr": np.array([1.0, -np.inf]), "t": (1, 2.5), "path": Path("a/b")})
    rec = _strict(p.read_text())
    assert rec["noise"] == {"shot": [None, 1e-4], "read": [None]}
    assert rec["np"] is None and rec["arr"] == [1.0, None] and rec["t"] == [1, 2.5] and rec["path"] == "a/b"
    assert read_sidecar(p)["schema"] == "edgeden.sidecar/1"
    with pytest.raises(TypeError):
        write_sidecar(tmp_path / "y.json", {"bad": object()})
    assert not (tmp_path / "y.json").exists() and not find_stale_temps(tmp_path)


def test_sidecars_of_a_run_are_strict_json(tmp_path, tiny_presets):
    src = write_png(tmp_path / "b.png")
    assert run_cli("denoise", src, "-m", "tiny-srgb", "-o", tmp_path / "out").exit_code == 0
    rec = _strict((tmp_path / "out" / "b.png.json").read_text())
    assert rec["noise"]["source"] == "estimated"


# ----------------------------------------------------------------------------- 5 Ctrl-C
@pytest.mark.reliability(case="Ctrl-C (KeyboardInterrupt) in the middle of a batch",
                         expected="one line 'interrupted after N of M files', our temporaries removed, exit 130; "
                                  "re-running resumes")
@pytest.mark.parametrize("jobs", [1, 2], ids=["--jobs 1", "--jobs 2: files in flight"])
def test_ctrl_c_mid_batch(tmp_path, tiny_presets, monkeypatch, jobs):
    import _thread
    import time

    from edgeden import pipeline

    src = tmp_path / "in"
    for i, n in enumerate(("a.png", "b.png", "c.png")):
        write_png(src / n, seed=i)
    out = tmp_path / "out"

    def half_written(out_image):
        Path(out_image).parent.mkdir(parents=True, exist_ok=True)
        # as a kill inside a writer would leave it: a temporary file of ours
        (Path(out_image).parent / ".b.png.0badf00d.tmp").write_bytes(b"half")

    if jobs == 1:
        real = pipeline.denoise_file

        def interrupted_on_b(path, out_image, *a, **k):
            if Path(path).name == "b.png":
                half_written(out_image)
                raise KeyboardInterrupt
            return real(path, out_image, *a, **k)

        monkeypatch.setattr(pipeline, "denoise_file", interrupted_on_b)
    else:  # files in flight: Ctrl-C reaches the main thread while b is being denoised in another
        real = pipeline.infer_file

        def interrupted_on_b(w, model, preset, opts=None, on_tile=None):
            if w.path.name == "b.png":
                half_written(w.out_image)
                t0 = time.monotonic()
                while not (out / "a.png.json").exists() and time.monotonic() - t0 < 30:
                    time.sleep(0.02)  # a is written (in the write thread) and reported first
                time.sleep(1.0)
                _thread.interrupt_main()
                while time.monotonic() - t0 < 60:  # as a long inference: stops at its next tile
                    on_tile(0, 1)
                    time.sleep(0.02)
                raise AssertionError("the batch did not stop")
            return real(w, model, preset, opts, on_tile)

        monkeypatch.setattr(pipeline, "infer_file", interrupted_on_b)
    before = tree(src)
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--jobs", str(jobs))
    assert r.exit_code == 130, r.output
    hits = lines_with(r.output, "edgeden: interrupted after 1 of 3 files; re-run the same command to resume")
    assert len(hits) == 1, r.output
    left = sorted(p.name for p in out.iterdir())
    assert left == ["a.png", "a.png.json", "a.png.preview.jpg"], left  # no temporaries, no claim
    assert tree(src) == before

    monkeypatch.setattr(pipeline, "denoise_file" if jobs == 1 else "infer_file", real)
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--jobs", str(jobs))
    assert r.exit_code == 0 and "2 denoised, 1 skipped" in r.output, r.output


# ----------------------------------------------------------------------------- 6 stale temporaries
def test_atomic_temp_names():
    assert is_atomic_temp(".b.png.0123abcd.tmp") and is_atomic_temp(".x.dng.json.ffffffff.tmp")
    for name in ("x.tmp", ".notes.tmp", ".b.png.tmp", ".b.png.0123ABCD.tmp", ".b.png.0123abc.tmp",
                 "b.png.0123abcd.tmp", ".b.png.0123abcd.tmp.bak", ".hidden"):
        assert not is_atomic_temp(name), name


@pytest.mark.reliability(case="stale temporaries of a killed run in the output folder",
                         expected="ours removed at the start (one note line with the count); "
                                  "a user's x.tmp left alone")
def test_stale_temps_removed_at_start(tmp_path, tiny_presets):
    src = write_png(tmp_path / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    ours = [out / ".b.png.0123abcd.tmp", out / ".b.png.json.89abcdef.tmp"]
    for p in ours:
        p.write_bytes(b"stale")
    users = [out / "x.tmp", out / ".notes.tmp", out / "y.0123abcd.tmp"]
    for p in users:
        p.write_text("mine")
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--dry-run")
    assert all(p.exists() for p in ours)                            # a dry run writes and removes nothing
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 0, r.output
    assert len(lines_with(r.output, "note:", "removed 2 stale temporary")) == 1, r.output
    assert not any(p.exists() for p in ours) and all(p.read_text() == "mine" for p in users)


def test_find_and_remove_stale_temps(tmp_path):
    (tmp_path / "sub").mkdir()
    a, b = tmp_path / ".a.png.00000000.tmp", tmp_path / "sub" / ".b.dng.12345678.tmp"
    for p in (a, b):
        p.write_bytes(b"")
    (tmp_path / "x.tmp").write_bytes(b"")
    os.symlink(tmp_path / "x.tmp", tmp_path / ".l.png.aaaaaaaa.tmp") if hasattr(os, "symlink") else None
    assert find_stale_temps(tmp_path) == [a]
    assert find_stale_temps(tmp_path, recursive=True) == [a, b]
    assert remove_stale_temps([tmp_path], recursive=True) == [a, b]
    assert (tmp_path / "x.tmp").exists()


# ----------------------------------------------------------------------------- 7 unwritable output
def _no_denoising(monkeypatch):
    from edgeden import pipeline

    def never(*a, **k):
        raise AssertionError("denoising started")

    monkeypatch.setattr(pipeline, "denoise_file", never)
    monkeypatch.setattr(pipeline, "read_file", never)  # files in flight (--jobs 2) start here


@pytest.mark.reliability(case="read-only output folder",
                         expected="one error line before any denoising, exit 1")
def test_read_only_output_folder_found_before_any_work(tmp_path, tiny_presets, monkeypatch):
    src = write_png(tmp_path / "b.png")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("chmod has no effect here (running as root)")
        _no_denoising(monkeypatch)
        r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
        assert r.exit_code == 1, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "not writable" in lines[0] and "permission denied" in lines[0], r.output
    finally:
        out.chmod(0o755)


def test_unwritable_output_folder_simulated(tmp_path, tiny_presets, monkeypatch):
    """What a read-only folder does to the probe (EACCES), simulated so it runs as root too."""
    import errno

    from edgeden import batch

    real_open = open

    def deny(path, *a, **k):
        if "edgeden-write-probe" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(batch, "open", deny, raising=False)
    _no_denoising(monkeypatch)
    src = write_png(tmp_path / "b.png")
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", tmp_path / "out")
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert lines == [f"edgeden: error: {tmp_path / 'out'}: output folder is not writable: permission denied"]


@pytest.mark.reliability(case="output folder path blocked by a file",
                         expected="one error line before any denoising, exit 1")
def test_output_folder_blocked_by_a_file(tmp_path, tiny_presets, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    _no_denoising(monkeypatch)
    src = write_png(tmp_path / "b.png")
    for out in (blocker, blocker / "sub"):
        r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
        assert r.exit_code == 1, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and "is a file, not a folder" in lines[0], r.output
    assert blocker.read_text() == "x"
