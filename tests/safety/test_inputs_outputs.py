"""Issue 19, point 1: no input is ever written or replaced, and outputs never clobber each other
or files edgeden did not write. Every collision is one line naming both files; the batch goes
on and exits 3."""
from __future__ import annotations

import json
import shutil
import os
from pathlib import Path

import pytest
from safety_util import lines_with, run_cli, tree, write_dng, write_png

from edgeden import batch
from edgeden.batch import fs_case_insensitive, plan_jobs

pytestmark = pytest.mark.usefixtures("tiny_presets")


@pytest.fixture()
def raw_folder(tmp_path) -> Path:
    """in/photo.dng (a camera's DNG), in/photo.kdc (a raw whose output is photo.dng), in/b.png."""
    d = tmp_path / "in"
    write_dng(d / "photo.dng")
    (d / "photo.kdc").write_bytes(b"not decoded: refused before any work" * 10)
    write_png(d / "b.png")
    return d


@pytest.mark.reliability(case="raw photo.kdc -> photo.dng beside an existing photo.dng (-o = its folder)",
                         expected="refused, one line naming both; photo.dng untouched; exit 3")
def test_raw_output_never_replaces_the_dng_beside_it(raw_folder):
    before = tree(raw_folder)
    r = run_cli("denoise", raw_folder / "photo.kdc", "-m", "tiny-raw", "-o", raw_folder)
    assert r.exit_code == 3, r.output
    hits = lines_with(r.output, "photo.kdc", "photo.dng")
    assert len(hits) == 1 and "not an edgeden output" in hits[0], r.output
    assert tree(raw_folder) == before
    assert "0 denoised" in r.output and "1 failed" in r.output


@pytest.mark.reliability(case="-o equal to the input folder (folder and file arguments)",
                         expected="refused with one line; inputs untouched; exit 3")
def test_out_equal_to_input_folder(raw_folder):
    before = tree(raw_folder)
    r = run_cli("denoise", raw_folder, "-m", "tiny-raw", "-o", raw_folder)
    assert r.exit_code == 3 and len(lines_with(r.output, "input folder itself")) == 1, r.output
    r = run_cli("denoise", raw_folder / "photo.kdc", raw_folder / "photo.dng", raw_folder / "b.png",
                "-m", "tiny-raw", "-o", raw_folder)
    assert r.exit_code == 3, r.output
    assert len(lines_with(r.output, "photo.dng: output would overwrite the input itself")) == 1
    assert len(lines_with(r.output, "b.png: output would overwrite the input itself")) == 1
    assert len(lines_with(r.output, "photo.kdc: output", "would overwrite the input", "photo.dng")) == 1
    assert "0 denoised" in r.output and "3 failed" in r.output
    assert tree(raw_folder) == before


@pytest.mark.reliability(case="-o the parent of a folder argument (its contents would land on the parent's files)",
                         expected="every job that would replace a file it did not write refused, one line each; exit 3")
def test_out_parent_of_input_folder(raw_folder):
    sub = raw_folder / "sub"
    sub.mkdir()
    shutil.copy(raw_folder / "photo.dng", sub / "photo.dng")
    shutil.copy(raw_folder / "b.png", sub / "b.png")
    before = tree(raw_folder)
    r = run_cli("denoise", sub, "-m", "tiny-raw", "-o", raw_folder)  # sub/b.png -> raw_folder/b.png
    assert r.exit_code == 3, r.output
    assert len(lines_with(r.output, "sub/photo.dng: output", "in/photo.dng already exists and is not an edgeden output")) == 1
    assert len(lines_with(r.output, "sub/b.png: output", "in/b.png already exists and is not an edgeden output")) == 1
    # named together with the parent's files, they are inputs: then the message says so
    r = run_cli("denoise", sub, raw_folder / "b.png", "-m", "tiny-raw", "-o", raw_folder)
    assert r.exit_code == 3 and len(lines_with(r.output, "sub/b.png: output", "would overwrite the input")) == 1
    assert tree(raw_folder) == before


@pytest.mark.reliability(case="-o a child of the input folder",
                         expected="outputs go there, are not re-read as inputs; inputs untouched; exit 0")
def test_out_child_of_input_folder(tmp_path):
    d = tmp_path / "in"
    write_png(d / "b.png")
    write_png(d / "sub" / "c.png", seed=1)
    before = tree(d)
    out = d / "out"
    r = run_cli("denoise", d, "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 0, r.output
    assert (out / "b.png").is_file() and (out / "sub" / "c.png").is_file()
    assert {k: v for k, v in tree(d).items() if not k.startswith("out")} == before
    r = run_cli("denoise", d, "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 0 and "0 denoised, 2 skipped" in r.output, r.output


@pytest.mark.reliability(case="two inputs with one output name (a.dng and a.kdc -> a.dng)",
                         expected="the second refused with one line naming both; the first done; exit 3")
def test_two_inputs_sharing_an_output_name(tmp_path):
    d = tmp_path / "in"
    write_dng(d / "a.dng")
    (d / "a.kdc").write_bytes(b"x" * 100)
    out = tmp_path / "out"
    r = run_cli("denoise", d, "-m", "tiny-raw", "-o", out)
    assert r.exit_code == 3, r.output
    hits = lines_with(r.output, "a.kdc:", "also be the output of", "a.dng")
    assert len(hits) == 1, r.output
    assert json.loads((out / "a.dng.json").read_text())["input"]["path"].endswith("a.dng")
    assert "1 denoised" in r.output and "1 failed" in r.output


def test_fs_case_insensitive_detection(tmp_path, monkeypatch):
    """The probe itself: on this (case-sensitive) file system it says False; with an entry
    lookup that ignores case, as on macOS/Windows volumes, it says True -- by looking at an
    existing name, and by its write probe in an empty folder (which it removes)."""
    (tmp_path / "probe-me").write_text("x")
    sensitive = not (tmp_path / "PROBE-ME").exists()
    if sensitive:
        assert fs_case_insensitive(tmp_path) is False
        assert fs_case_insensitive(tmp_path / "not" / "yet") is False  # nearest existing ancestor

    def ignore_case(a: Path, b: Path) -> bool:
        return a.parent == b.parent and a.name.lower() == b.name.lower() and os.path.lexists(a)

    monkeypatch.setattr(batch, "same_entry", ignore_case)
    assert fs_case_insensitive(tmp_path) is True
    empty = tmp_path / "empty"
    empty.mkdir()
    assert fs_case_insensitive(empty) is False                    # undecided without a probe
    assert fs_case_insensitive(empty, write_probe=True) is True
    assert list(empty.iterdir()) == []                             # the probe file is gone


@pytest.mark.reliability(case="a.PNG and a.png on a case-insensitive output file system",
                         expected="the second refused with one line naming both (probe monkeypatched)")
def test_case_insensitive_outputs_collide(tmp_path, monkeypatch):
    d = tmp_path / "in"
    write_png(d / "a.PNG")
    write_png(d / "a.png", seed=1)
    out = tmp_path / "out"
    assert len(plan_jobs([d], out, case_insensitive=False).jobs) == 2   # really two files here
    monkeypatch.setattr(batch, "fs_case_insensitive", lambda folder, write_probe=False: True)
    plan = plan_jobs([d], out)
    assert [j.input.name for j in plan.jobs] == ["a.PNG"]
    assert len(plan.problems) == 1 and plan.problems[0][0].name == "a.png"
    assert "also be the output of" in plan.problems[0][1] and "a.PNG" in plan.problems[0][1]
    r = run_cli("denoise", d, "-m", "tiny-srgb", "-o", out, "--dry-run")
    assert r.exit_code == 3 and len(lines_with(r.output, "a.png:", "a.PNG")) == 1, r.output


def test_case_insensitive_output_against_input(tmp_path, monkeypatch):
    """in/A.DNG is an input; in/a.kdc would write in/a.dng, the same file on such a system."""
    d = tmp_path / "in"
    write_dng(d / "A.DNG")
    (d / "a.kdc").write_bytes(b"x" * 100)
    plan = plan_jobs([d / "a.kdc", d / "A.DNG"], d / "elsewhere", case_insensitive=False)
    assert len(plan.jobs) == 2  # elsewhere/a.dng and elsewhere/A.DNG: two files here
    plan = plan_jobs([d / "a.kdc", d / "A.DNG"], d / "elsewhere", case_insensitive=True)
    assert len(plan.jobs) == 1 and "also be the output of" in plan.problems[0][1]  # one file there
    plan = plan_jobs([d / "a.kdc", d / "A.DNG"], d, case_insensitive=True)
    msgs = {p.name: m for p, m in plan.problems}
    assert "would overwrite the input" in msgs["a.kdc"] and "A.DNG" in msgs["a.kdc"]
    assert "input itself" in msgs["A.DNG"] and not plan.jobs


@pytest.mark.reliability(case="a file edgeden did not write at an output path (image or companion)",
                         expected="refused with one line; the file untouched; exit 3")
def test_existing_foreign_files_are_never_overwritten(tmp_path):
    src = write_png(tmp_path / "src" / "b.png")
    write_png(tmp_path / "src" / "c.png", seed=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"the user's own file")
    (out / "c.png.json").write_text('{"another": "tool"}')
    before = tree(out)
    r = run_cli("denoise", src, tmp_path / "src" / "c.png", "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 3, r.output
    assert len(lines_with(r.output, "b.png:", "not an edgeden output")) == 1
    assert len(lines_with(r.output, "c.png:", "c.png.json", "not an edgeden output")) == 1
    assert tree(out) == before
    # --overwrite redoes our outputs, never someone else's
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--overwrite")
    assert r.exit_code == 3 and tree(out) == before


def test_our_own_outputs_are_redone_and_skipped(tmp_path):
    """Outputs recorded by our sidecar or by the claim of a run killed half-way are ours."""
    from edgeden.io.sidecar import claim_path, write_claim

    src = write_png(tmp_path / "b.png")
    out = tmp_path / "out"
    assert run_cli("denoise", src, "-m", "tiny-srgb", "-o", out).exit_code == 0
    assert not claim_path(out / "b.png").exists()           # removed once the job finished
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out, "--overwrite")
    assert r.exit_code == 0 and "1 denoised" in r.output, r.output
    # killed after the image, before preview and sidecar: the claim says they are ours
    for p in ("b.png.json", "b.png.preview.jpg"):
        (out / p).unlink()
    (out / "b.png").write_bytes(b"half of a run")
    write_claim(out / "b.png", [out / "b.png", out / "b.png.preview.jpg", out / "b.png.json"])
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 0 and "1 denoised" in r.output, r.output
    assert (out / "b.png").read_bytes() != b"half of a run" and not claim_path(out / "b.png").exists()
