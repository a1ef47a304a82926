"""The command line, through Typer's CliRunner and as a real subprocess."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeden.cli import app
from edgeden import io
from edgeden.demo import make_noisy_raw, skimage_photo

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def photos(tmp_path):
    """A small input tree: photos/a.dng, photos/sub/b.png, photos/sub/c.jpg."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:96, :128], shot=4e-3, seed=0)
    io.write_dng(root / "a.dng", raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    from edgeden.core.types import RgbImage

    img = skimage_photo("coffee")[:64, :80]
    for name, fmt in (("b.png", "png"), ("c.jpg", "jpeg")):
        io.write_rgb(root / "sub" / name, img, RgbImage(img, None, 8, fmt))
    return root


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_help_and_version():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("denoise", "models", "info", "preview", "calibrate", "train", "eval"):
        assert cmd in r.output
    r = run("denoise", "--help")
    for opt in ("--model", "--out", "--preview", "--sidecar", "--tile", "--overlap", "--threads", "--overwrite",
                "--dry-run", "--noise", "--strength", "--preview-size", "--preview-compare"):
        assert opt in r.output
    assert run("--version").output.startswith("edgeden ")


def test_models_lists_installed_presets_as_json(tiny_presets):
    r = run("models", "--json")
    assert r.exit_code == 0
    names = {row["name"] for row in json.loads(r.output)}
    assert {"tiny-srgb", "tiny-raw"} <= names
    assert run("models").exit_code == 0


def test_models_shows_the_joint_table_of_classifier_presets():
    """Shipped DC-Net presets: `edgeden models` prints their 11-level accuracy/PSNR/SSIM table
    beside the models trained alone, and --json carries it with the calibration."""
    from edgeden.presets import PRESET_DIR, all_presets

    joint = [n for n, p in all_presets().items() if p.classifier and p.root == PRESET_DIR]
    if not joint:
        pytest.skip("no classifier preset shipped")
    rows = {row["name"]: row for row in json.loads(run("models", "--json").output)}
    for n in joint:
        jt = rows[n]["joint_table"]
        assert len(jt) >= 3 and all(len(v) == 11 for v in jt.values())
        assert rows[n]["classifier"]["temperature"] > 0
    r = run("models")
    assert r.exit_code == 0 and "denoise + classify" in r.output


def test_without_presets_models_lists_none_and_denoise_says_so(tmp_path, monkeypatch, photos):
    import edgeden.presets as pr

    monkeypatch.setattr(pr, "PRESET_DIR", tmp_path / "empty")
    monkeypatch.delenv("EDGEDEN_PRESET_PATH", raising=False)
    pr.reload_presets()
    assert json.loads(run("models", "--json").output) == []
    assert "No trained model presets" in run("models").output
    r = run("denoise", photos, "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert "no trained model presets are installed" in r.output
    pr.reload_presets()


def test_models_archs_shows_measured_and_paper_figures():
    r = run("models", "--archs", "--json")
    assert r.exit_code == 0
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert all(row["params"] > 0 and row["gmacs_per_mp"] > 0 for row in rows.values())
    assert {"tsdn", "fanet", "dnresnet", "dsdnresnet", "unet-s", "unet-m", "dcnet", "scaoed"} <= set(rows)


@pytest.mark.reliability(case='inputs after a batch', expected='byte-identical to before (never modified)')
def test_denoise_tree_mirrors_input_and_never_touches_it(tmp_path, photos, tiny_presets):
    before = _tree(photos)
    out = tmp_path / "out"
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out)
    assert r.exit_code == 0, r.output
    assert _tree(photos) == before
    for rel in ("a.dng", "sub/b.png", "sub/c.jpg"):
        assert (out / rel).exists()
        assert (out / (rel + ".preview.jpg")).exists()
        side = json.loads((out / (rel + ".json")).read_text())
        assert side["preset"]["name"] == "tiny-raw"
    assert "3 denoised" in r.output
    # no temporary files left behind
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.reliability(case='re-run after an interruption', expected='complete outputs skipped, incomplete ones redone')
def test_rerun_skips_complete_outputs_and_redoes_incomplete(tmp_path, photos, tiny_presets):
    out = tmp_path / "out"
    assert run("denoise", photos, "-m", "tiny-raw", "-o", out).exit_code == 0
    png = out / "sub" / "b.png"
    mtime = png.stat().st_mtime_ns
    (out / "a.dng.json").unlink()  # as if killed before the sidecar was written
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out)
    assert r.exit_code == 0
    assert "1 denoised, 2 skipped" in r.output
    assert png.stat().st_mtime_ns == mtime
    assert (out / "a.dng.json").exists()
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out, "--overwrite")
    assert "3 denoised" in r.output and png.stat().st_mtime_ns != mtime


def test_dry_run_writes_nothing(tmp_path, photos, tiny_presets):
    out = tmp_path / "out"
    r = run("denoise", photos, "-m", "tiny-srgb", "-o", out, "--dry-run")
    assert r.exit_code == 0
    assert "denoise: " in r.output and "nothing written" in r.output
    assert not out.exists()


def test_options_no_preview_no_sidecar_tile_noise(tmp_path, photos, tiny_presets):
    out = tmp_path / "out"
    r = run("denoise", photos / "sub" / "b.png", "-m", "tiny-srgb", "-o", out, "--no-preview", "--tile", "48",
            "--overlap", "8", "--threads", "1", "--noise", "sigma=10")
    assert r.exit_code == 0, r.output
    assert (out / "b.png").exists() and (out / "b.png.json").exists()
    assert not (out / "b.png.preview.jpg").exists()
    side = json.loads((out / "b.png.json").read_text())
    assert side["noise"]["source"] == "override" and side["tiling"] == {"tile": 48, "overlap": 8}
    r = run("denoise", photos / "sub" / "c.jpg", "-m", "tiny-srgb", "-o", out, "--no-sidecar")
    assert r.exit_code == 0 and (out / "c.jpg").exists() and not (out / "c.jpg.json").exists()


@pytest.mark.reliability(case='bad options', expected='one-line usage error, exit 2, nothing written')
def test_usage_errors_exit_2(tmp_path, photos, tiny_presets):
    assert run("denoise", photos, "-m", "tiny-srgb", "--noise", "abc").exit_code == 2
    assert run("denoise", photos, "-m", "tiny-srgb", "--tile", "16", "--overlap", "8").exit_code == 2
    assert run("frobnicate").exit_code == 2
    r = run("denoise", photos, "-m", "no-such-model", "-o", tmp_path / "o")
    assert r.exit_code == 1 and "unknown model preset 'no-such-model'" in r.output


def _bad_inputs(folder: Path) -> dict[str, str]:
    """Each bad file -> a word its one-line error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is not an image\n" * 20)
    good = folder / "good.png"
    from edgeden.core.types import RgbImage

    img = skimage_photo("chelsea")[:48, :64]
    io.write_rgb(good, img, RgbImage(img, None, 8, "png"))
    data = good.read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    # a PNG header claiming 100000 x 100000 pixels
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    (folder / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
                                      + struct.pack(">I", zlib.crc32(chunk)))
    (folder / "garbage.dng").write_bytes(os.urandom(4096))
    return {"empty.png": "empty", "notes.jpg": "not", "truncated.png": "truncat", "huge.png": "pixel",
            "garbage.dng": ""}


@pytest.mark.reliability(case='several bad files in one batch', expected='one line each, the batch goes on, exit 3')
def test_bad_inputs_one_line_each_batch_goes_on_exit_3(tmp_path, tiny_presets):
    inp = tmp_path / "in"
    words = _bad_inputs(inp)
    r = run("denoise", inp, "-m", "tiny-srgb", "-o", tmp_path / "out")
    assert r.exit_code == 3, r.output
    lines = r.output.strip().splitlines()
    for name, word in words.items():
        hits = [ln for ln in lines if name in ln and ": " in ln]
        assert len(hits) == 1, (name, r.output)
        assert word in hits[0].lower(), hits[0]
    assert (tmp_path / "out" / "good.png").exists()  # the good file was still done
    assert "1 denoised" in lines[-1] and f"{len(words)} failed" in lines[-1]


@pytest.mark.reliability(case='output folder inside the input folder', expected='left out of the scan; outputs never denoised again')
def test_output_folder_inside_input_is_left_out(tmp_path, photos, tiny_presets):
    out = photos / "denoised"
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out)
    assert r.exit_code == 0
    assert "inside input folder" in r.output
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out)
    assert "0 denoised, 3 skipped" in r.output  # its own outputs are not picked up as inputs


@pytest.mark.reliability(case='read-only output folder', expected='one line before any work, exit 1')
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_output_folder(tmp_path, photos, tiny_presets):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        r = run("denoise", photos / "sub" / "b.png", "-m", "tiny-srgb", "-o", out)
        # found before any denoising: one line, exit 1
        assert r.exit_code == 1 and str(out) in r.output and len(r.output.strip().splitlines()) == 1
    finally:
        out.chmod(0o755)


@pytest.mark.reliability(case='output path that is a file', expected='one line before any work, exit 1')
def test_unwritable_output_path_is_one_line(tmp_path, photos, tiny_presets):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    r = run("denoise", photos / "sub" / "b.png", "-m", "tiny-srgb", "-o", blocker)
    assert r.exit_code == 1  # the output folder is checked before any work
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "file-not-folder" in lines[0]


@pytest.mark.reliability(case='kill during a write (interrupt after the temporary is written)', expected='no partial file, no temporary')
def test_failed_write_leaves_no_partial_file(tmp_path, photos, tiny_presets, monkeypatch):
    """A crash in the middle of writing (as a kill would) leaves neither the file nor a temp."""
    from edgeden.io import rgb

    real = rgb.write_png

    def boom(tmp, *a, **k):
        real(tmp, *a, **k)
        raise KeyboardInterrupt  # interrupted after the temporary file was written

    monkeypatch.setattr(rgb, "write_png", boom)
    out = tmp_path / "out"
    r = runner.invoke(app, ["denoise", str(photos / "sub" / "b.png"), "-m", "tiny-srgb", "-o", str(out)])
    assert r.exit_code != 0
    assert out.exists() and not [p for p in out.rglob("*") if p.is_file()]


def test_info_and_preview(tmp_path, photos):
    r = run("info", photos / "a.dng", "--json")
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert d["cfa"] == "RGGB" and d["black_level"] == [256.0] * 4 and d["white_level"] == 4095
    assert d["noise_source"].startswith("dng-noiseprofile")
    r = run("info", photos / "sub" / "b.png")
    assert r.exit_code == 0 and "estimated" in r.output
    out = tmp_path / "p.jpg"
    r = run("preview", photos / "a.dng", "-o", out)
    assert r.exit_code == 0 and out.exists()
    assert io.read_rgb(out).data_hwc.shape[:2] == (96, 128)
    r = run("info", tmp_path / "nope.dng")  # a missing path is a usage error
    assert r.exit_code == 2 and "nope.dng: no such file" in r.output
    r = run("info", photos / "sub" / "b.png", "--estimate", "--json")
    d = json.loads(r.output)
    assert r.exit_code == 0 and d["noise_source"].startswith("estimated") and len(d["noise_shot_S"]) >= 1


def test_real_subprocess(tmp_path, photos, tiny_presets):
    env = {**os.environ, "EDGEDEN_PRESET_PATH": str(tiny_presets)}
    p = subprocess.run([sys.executable, "-m", "edgeden", "denoise", str(photos), "-m", "tiny-raw", "-o",
                        str(tmp_path / "out"), "--threads", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "3 denoised" in p.stderr
    p = subprocess.run([sys.executable, "-m", "edgeden", "info", str(tmp_path / "nope.png")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_default_preset_is_chosen_per_input_kind(tmp_path, photos, tiny_presets, monkeypatch):
    import edgeden.presets as pr

    monkeypatch.setattr(pr, "PRESET_DIR", tmp_path / "no-package-presets")
    monkeypatch.setattr(pr, "DEFAULT_PRESETS", {"raw": ("tiny-raw",), "rgb": ("tiny-srgb",)})
    pr.reload_presets()
    out = tmp_path / "out"
    r = run("denoise", photos, "-o", out)
    assert r.exit_code == 0, r.output
    used = {p.name: json.loads(p.read_text())["preset"]["name"] for p in out.rglob("*.json")}
    assert used == {"a.dng.json": "tiny-raw", "b.png.json": "tiny-srgb", "c.jpg.json": "tiny-srgb"}
    # no raw preset preferred or installed for RGB: falls back by domain
    monkeypatch.setattr(pr, "DEFAULT_PRESETS", {})
    assert pr.default_preset("raw") == "tiny-raw" and pr.default_preset("rgb") == "tiny-srgb"
    pr.reload_presets()


def test_classifier_preset_fills_the_sidecar_and_classify_flag(tmp_path, photos, tiny_presets):
    out = tmp_path / "out"
    r = run("denoise", photos / "sub" / "b.png", "-m", "tiny-dcnet", "-o", out)
    assert r.exit_code == 0, r.output
    c = json.loads((out / "b.png.json").read_text())["classification"]
    assert c["class_list"] == "cifar10" and len(c["labels"]) == 5 and c["temperature"] == 1.5
    assert c["model"] == "tiny-dcnet"
    assert abs(sum(x["probability"] for x in c["labels"])) <= 1.0 + 1e-6
    # the answer: the top label, or "none" when the score is under the threshold (docs/classify.md)
    assert {"label", "uncertain", "score", "threshold"} <= set(c)
    assert c["score"]["kind"] == "msp" and (c["score"]["value"] < c["threshold"]) == c["uncertain"]
    assert c["label"] == ("none" if c["uncertain"] else c["labels"][0]["label"])
    r = run("denoise", photos / "a.dng", "-m", "tiny-raw", "-o", out, "--classify")
    assert r.exit_code == 0, r.output
    c = json.loads((out / "a.dng.json").read_text())["classification"]
    assert c["labels"][0]["label"] in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                       "ship", "truck")


def test_classify_without_classifier_preset_is_a_clear_error(tmp_path, photos, tiny_presets, monkeypatch):
    import edgeden.presets as pr

    monkeypatch.setattr(pr, "PRESET_DIR", tmp_path / "none")
    (tmp_path / "only").mkdir()
    for f in tiny_presets.glob("tiny-srgb*"):
        (tmp_path / "only" / f.name).write_bytes(f.read_bytes())
    (tmp_path / "only" / "weights").mkdir()
    (tmp_path / "only" / "weights" / "tiny-srgb.safetensors").write_bytes(
        (tiny_presets / "weights" / "tiny-srgb.safetensors").read_bytes())
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(tmp_path / "only"))
    pr.reload_presets()
    r = run("denoise", photos / "sub" / "b.png", "-m", "tiny-srgb", "-o", tmp_path / "o", "--classify")
    assert r.exit_code == 1 and "classifier head" in r.output
    pr.reload_presets()


@pytest.mark.reliability(case='output folder refusing writes (EACCES)', expected='one line per file, the batch goes on, exit 3')
def test_output_folder_refusing_writes_is_one_line_per_file(tmp_path, photos, tiny_presets, monkeypatch):
    """What a read-only output folder does to the OS call (EACCES on creating the temporary
    file), simulated so it runs as root too: one line per file, the batch goes on, exit 3."""
    import errno

    from edgeden.io import atomic

    real_open = os.open
    out = tmp_path / "ro"

    def deny(path, *a, **k):
        if str(path).startswith(str(out)):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(atomic.os, "open", deny)
    r = run("denoise", photos / "sub", "-m", "tiny-srgb", "-o", out)
    assert r.exit_code == 3
    lines = [ln for ln in r.output.splitlines() if "permission denied" in ln.lower()]
    assert len(lines) == 2 and all(("b.png" in ln) or ("c.jpg" in ln) for ln in lines)
    assert "0 denoised" in r.output and "2 failed" in r.output


def test_eval_cli_runs_a_chunk_of_a_set(tiny_presets, tmp_path):
    """``edgeden eval --start/--limit/--threads --json``: the chunk's images, start and threads are
    in the record; a start past the set's end is a one-line error, exit 1."""
    import imageio.v3 as iio

    photo = (skimage_photo("coffee") * 255).astype("uint8")
    for i in range(3):
        iio.imwrite(tmp_path / f"{i}.png", photo[32 * i:32 * i + 40, :48])
    r = run("eval", "tiny-srgb", "--data", tmp_path, "--noise", "awgn:25", "--start", 1, "--limit", 1,
            "--threads", 1, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert (res["images"], res["start"], res["threads"]) == (1, 1, 1)
    assert res["results"][0]["psnr"] > 0
    r = run("eval", "tiny-srgb", "--data", tmp_path, "--start", 5)
    assert r.exit_code == 1 and "no test images from index 5" in r.output


def test_one_output_rule_for_files_and_folders_and_runs_resume_each_other(tmp_path, photos, tiny_presets):
    """A folder argument's contents go under -o (subfolders kept); a file argument's output goes
    straight into -o; so a run of a folder's files and a run of the folder write the same files."""
    out = tmp_path / "out"
    r = run("denoise", photos / "a.dng", "-m", "tiny-raw", "-o", out, "--no-preview")
    assert r.exit_code == 0 and (out / "a.dng").is_file(), r.output
    assert r.output.strip().splitlines()[-1].endswith(f"-> {out}{os.sep}")  # the exact folder
    r = run("denoise", photos, "-m", "tiny-raw", "-o", out, "--no-preview")  # a.dng is done already
    assert r.exit_code == 0 and "2 denoised, 1 skipped" in r.output, r.output
    images = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.suffix in (".dng", ".png", ".jpg"))
    assert images == ["a.dng", "sub/b.png", "sub/c.jpg"]
    # a file named twice (by itself and inside a folder argument) is one job; the folder's files
    # named one by one (as a shell glob does) are the same jobs as the folder's
    r = run("denoise", photos, photos / "a.dng", "-m", "tiny-raw", "-o", out, "--no-preview", "--dry-run")
    assert r.exit_code == 0 and r.output.count("skip (outputs complete)") == 3, r.output
    r = run("denoise", photos / "sub" / "b.png", photos / "a.dng", "-m", "tiny-raw", "-o", out / "sub",
            "--no-preview", "--dry-run")
    assert "skip (outputs complete): " + str(photos / "sub" / "b.png") in r.output, r.output
