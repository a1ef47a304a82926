"""Issue 19, point 5: untrusted files read defensively -- camera noise-profile files and preset
YAMLs from $EDGEDEN_PRESET_PATH: regular files only, size-capped, validated, one line each."""
from __future__ import annotations

import json
import os
import threading

import pytest
from safety_util import lines_with, run_cli, write_png

from edgeden.core.types import EdgedenError
from edgeden.io.noiseprofiles import MAX_PROFILE_BYTES, load_camera_profiles

GOOD = {"noiseprofiles": [{"maker": "Cam", "models": [{"model": "X1", "profiles": [
    {"name": "X1 iso 100", "iso": 100, "a": [1e-5, 1e-5, 1e-5], "b": [1e-7, 1e-7, 1e-7]}]}]}]}


def _case(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.reliability(case="bad --noise-profiles files (not JSON, a list, deep nesting, wrong ISO table, bad values)",
                         expected="one EdgedenError line naming the file; never a traceback")
@pytest.mark.parametrize("name, text, words", [
    ("not_json.json", "this is not json", "not valid JSON"),
    ("list.json", "[1, 2, 3]", "noiseprofiles"),
    ("deep.json", "[" * 100000 + "]" * 100000, "nested too deeply"),
    ("iso.json", json.dumps({"noiseprofiles": [{"maker": "C", "models": [{"model": "M", "profiles": [
        {"iso": "high", "a": [1, 1, 1], "b": [0, 0, 0]}]}]}]}), "ISO"),
    ("short.json", json.dumps({"noiseprofiles": [{"maker": "C", "models": [{"model": "M", "profiles": [
        {"iso": 100, "a": [1e-5], "b": [0, 0, 0]}]}]}]}), "3 numbers"),
    ("binary.json", "\udcff", "not valid JSON"),
])
def test_bad_profile_files_are_one_line(tmp_path, name, text, words):
    p = tmp_path / name
    if text == "\udcff":
        p.write_bytes(b"\xff\xfe\x00garbage")
    else:
        p.write_text(text)
    with pytest.raises(EdgedenError) as e:
        load_camera_profiles(p)
    msg = str(e.value)
    assert str(p) in msg and words in msg and "\n" not in msg


def test_absurd_profile_values_drop_that_profile_only(tmp_path):
    doc = json.loads(json.dumps(GOOD))
    doc["noiseprofiles"][0]["models"][0]["profiles"].append(
        {"name": "bad", "iso": 200, "a": [1e300, 1, 1], "b": [0, 0, 0]})
    profs = load_camera_profiles(_case(tmp_path, "p.json", json.dumps(doc)))
    assert [p.iso for p in profs] == [100.0]


@pytest.mark.reliability(case="--noise-profiles pointing at /dev/zero, a FIFO, a huge file",
                         expected="refused at once with one line (not read without bound, no hang)")
def test_profile_file_must_be_a_small_regular_file(tmp_path):
    if os.path.exists("/dev/zero"):
        with pytest.raises(EdgedenError, match="regular file"):
            load_camera_profiles("/dev/zero")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    result = {}

    def go():
        try:
            load_camera_profiles(fifo)
        except EdgedenError as e:
            result["msg"] = str(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive() and "regular file" in result["msg"]
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(MAX_PROFILE_BYTES + 1)
    with pytest.raises(EdgedenError, match="limit"):
        load_camera_profiles(big)


def test_bad_profile_file_on_the_command_line_is_one_line(tmp_path, tiny_presets):
    src = write_png(tmp_path / "in" / "a.png")
    bad = _case(tmp_path, "bad.json", "{")
    r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", tmp_path / "out", "--noise-profiles", bad)
    assert r.exit_code == 1 and lines_with(r.output, "bad.json", "not valid JSON")
    assert len([ln for ln in r.output.splitlines() if ln.strip()]) == 1


@pytest.mark.reliability(case="a malformed preset YAML in $EDGEDEN_PRESET_PATH",
                         expected="skipped with one warning line; every other preset keeps working")
def test_malformed_user_preset_is_skipped_with_a_warning(tmp_path, tiny_preset_dir, monkeypatch):
    import shutil

    from edgeden import presets as pr

    d = tmp_path / "presets"
    shutil.copytree(tiny_preset_dir, d)
    (d / "broken.yaml").write_text("name: [unclosed\n")
    (d / "list.yaml").write_text("- a\n- b\n")
    (d / "unknown.yaml").write_text("name: x\narch: unet-s\ndomain: srgb\nweights: w\nsha256: s\nbogus: 1\n")
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(d))
    pr.reload_presets()
    try:
        src = write_png(tmp_path / "in" / "a.png")
        r = run_cli("denoise", src, "-m", "tiny-srgb", "-o", tmp_path / "out")
        assert r.exit_code == 0, r.output
        warn = lines_with(r.output, "warning: skipped preset file")
        assert len(warn) == 3 and any("broken.yaml" in w for w in warn)
    finally:
        pr.reload_presets()


@pytest.mark.reliability(case="a TIFF with an invalid tag (tifffile logs a warning)",
                         expected="no stray stderr lines from the library; the file is read or refused in one line")
def test_tifffile_warnings_do_not_reach_stderr(tmp_path):
    import struct
    import subprocess
    import sys

    import numpy as np
    import tifffile

    p = tmp_path / "bad_tag.tif"
    tifffile.imwrite(p, (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8),
                     extratags=[(65000, "s", 0, "hello", True)])
    b = bytearray(p.read_bytes())
    off = struct.unpack("<I", b[4:8])[0]
    for i in range(struct.unpack("<H", b[off:off + 2])[0]):
        e = off + 2 + 12 * i
        if struct.unpack("<H", b[e:e + 2])[0] == 65000:
            b[e + 2:e + 4] = struct.pack("<H", 99)  # an invalid TIFF data type
    p.write_bytes(bytes(b))
    r = subprocess.run([sys.executable, "-c", f"from edgeden.io import read_rgb; read_rgb({str(p)!r})"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
