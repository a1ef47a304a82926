"""Issue 19, point 2: input folders are walked safely. A symbolic link to a file is followed only
if its target resolves inside the input folder; links outside, broken links and loops are one
line each; links to folders are not followed; the batch goes on (exit 3), no traceback."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from safety_util import lines_with, run_cli, tree, write_png

from edgeden.batch import plan_jobs

pytestmark = [pytest.mark.usefixtures("tiny_presets"),
              pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")]


@pytest.fixture()
def folder(tmp_path) -> Path:
    d = tmp_path / "in"
    write_png(d / "good.png")
    return d


def _denoise(folder: Path, out: Path):
    r = run_cli("denoise", folder, "-m", "tiny-srgb", "-o", out)
    assert "Traceback" not in r.output
    assert (out / "good.png").is_file(), r.output   # the batch went on
    return r


@pytest.mark.reliability(case="symbolic link pointing to itself in an input folder",
                         expected="one line, the batch goes on, exit 3")
def test_link_to_itself(folder, tmp_path):
    os.symlink("self.png", folder / "self.png")
    r = _denoise(folder, tmp_path / "out")
    assert r.exit_code == 3, r.output
    assert len(lines_with(r.output, "self.png:", "loop")) == 1, r.output


@pytest.mark.reliability(case="symbolic link loop (a -> b -> a) in an input folder",
                         expected="one line per link, the batch goes on, exit 3")
def test_link_loop(folder, tmp_path):
    os.symlink("b.png", folder / "a.png")
    os.symlink("a.png", folder / "b.png")
    r = _denoise(folder, tmp_path / "out")
    assert r.exit_code == 3, r.output
    assert len(lines_with(r.output, "a.png:", "loop")) == 1 and len(lines_with(r.output, "b.png:", "loop")) == 1
    assert "1 denoised" in r.output and "2 failed" in r.output


@pytest.mark.reliability(case="symbolic link to a file outside the input folder",
                         expected="skipped with one line, the batch goes on, exit 3; the target untouched")
def test_link_outside_the_input_folder(folder, tmp_path):
    secret = write_png(tmp_path / "elsewhere" / "private.png", seed=1)
    before = secret.read_bytes()
    os.symlink(secret, folder / "link.png")
    os.symlink(Path("..") / "elsewhere" / "private.png", folder / "rel.png")
    r = _denoise(folder, tmp_path / "out")
    assert r.exit_code == 3, r.output
    for name in ("link.png", "rel.png"):
        hits = lines_with(r.output, f"{name}:", "outside the input folder")
        assert len(hits) == 1, r.output
    assert not (tmp_path / "out" / "link.png").exists() and secret.read_bytes() == before


@pytest.mark.reliability(case="broken symbolic link in an input folder, and named on the command line",
                         expected="one line each, the batch goes on, exit 3")
def test_broken_link(folder, tmp_path):
    os.symlink("gone.png", folder / "broken.png")
    r = _denoise(folder, tmp_path / "out")
    assert r.exit_code == 3 and len(lines_with(r.output, "broken.png:", "broken symbolic link")) == 1, r.output
    r = run_cli("denoise", folder / "broken.png", folder / "good.png", "-m", "tiny-srgb", "-o", tmp_path / "o2")
    assert r.exit_code == 3 and len(lines_with(r.output, "broken.png:", "broken symbolic link")) == 1, r.output
    assert (tmp_path / "o2" / "good.png").is_file()


def test_link_inside_the_folder_is_followed_and_named_after_the_link(folder, tmp_path):
    write_png(folder / "sub" / "real.png", seed=1)
    os.symlink(Path("sub") / "real.png", folder / "alias.png")
    before = tree(folder)
    r = _denoise(folder, tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "alias.png").is_file()         # where the link is
    assert (tmp_path / "out" / "sub" / "real.png").is_file()
    assert tree(folder) == before


@pytest.mark.reliability(case="symbolic link to a folder (outside, or looping back to its parent)",
                         expected="not followed (one note line), exit 0")
def test_folder_links_are_not_followed(folder, tmp_path):
    write_png(tmp_path / "elsewhere" / "x.png")
    os.symlink(tmp_path / "elsewhere", folder / "dirlink")
    os.symlink("..", folder / "up")
    r = _denoise(folder, tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert len(lines_with(r.output, "note:", "dirlink", "not followed")) == 1
    assert "1 denoised" in r.output
    assert not (tmp_path / "out" / "dirlink").exists()


def test_plan_lists_link_problems_without_raising(folder, tmp_path):
    os.symlink("self.png", folder / "self.png")
    os.symlink("/nonexistent/x.png", folder / "abs.png")
    os.symlink(folder.parent, folder / "parent")
    plan = plan_jobs([folder, folder / "self.png"], tmp_path / "out")
    assert [j.input.name for j in plan.jobs] == ["good.png"]
    names = sorted(p.name for p, _ in plan.problems)
    assert names == ["abs.png", "self.png", "self.png"]
    assert all("\n" not in m for _, m in plan.problems)


def test_problem_about_a_file_name_with_a_newline_stays_one_line(folder, tmp_path):
    os.symlink("nowhere.png", folder / "evil\nname.png")
    r = _denoise(folder, tmp_path / "out")
    assert r.exit_code == 3
    hits = lines_with(r.output, "evil\\nname.png:", "broken symbolic link")
    assert len(hits) == 1, r.output
