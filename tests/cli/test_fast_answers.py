"""Issue 20, point 5: quick, honest answers from `--help`, `models`, `info` and usage errors.

Speed is checked the way that does not depend on the machine: these commands must not import
torch (its import alone is 2-3 s on the dev machine); wall times are in the notes, not here.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeden import io
from edgeden.cli import app
from edgeden.io.exif import camera_and_iso

pytestmark = pytest.mark.unit
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])

_PROBE = """
import sys
from edgeden.cli import main
sys.argv = ["edgeden"] + sys.argv[1:]
try:
    main()
except SystemExit as e:
    code = e.code
print("TORCH-IMPORTED" if "torch" in sys.modules else "NO-TORCH", code, file=sys.stderr)
"""


def _probe(*args):
    p = subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)], capture_output=True, text=True, timeout=120)
    return p, p.stderr.strip().splitlines()[-1]


@pytest.fixture()
def png(tmp_path):
    from PIL import Image

    f = tmp_path / "small.png"
    Image.fromarray((np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)).save(f)
    return f


@pytest.mark.parametrize("args", [["--help"], ["models"], ["models", "--archs"], ["info", "PNG"],
                                  ["denoise", "no-such-file.dng"], ["info", "no-such-file.png"]])
def test_quick_commands_do_not_import_torch(args, png):
    p, last = _probe(*[png if a == "PNG" else a for a in args])
    assert last.startswith("NO-TORCH"), (args, p.stderr[-2000:])


def test_missing_paths_are_usage_errors_in_one_line(tmp_path):
    p, last = _probe("denoise", tmp_path / "nosuch.dng", "-o", tmp_path / "out")
    assert last == "NO-TORCH 2"
    lines = p.stderr.strip().splitlines()[:-1]
    assert lines == [f"edgeden: error: no such file or folder: {tmp_path / 'nosuch.dng'}"]
    assert not (tmp_path / "out").exists()


def test_models_fits_80_columns_names_whole_and_defaults_marked():
    from edgeden.presets import DEFAULT_PRESETS, list_presets

    r = run("models")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert max(len(s) for s in lines) <= 80
    assert not any(ch in r.output for ch in "┃│━…")  # plain text: pipes and greps cleanly
    rows = {s[2:].split()[0]: s for s in lines[1:] if s[:1] in "* " and s[2:].strip() and s[2:].split()[0] in list_presets()}
    assert set(rows) == set(list_presets())
    for kind, names in DEFAULT_PRESETS.items():
        if names[0] in rows:
            assert rows[names[0]].startswith("* "), kind
    assert sum(s.startswith("* ") for s in rows.values()) == len({n[0] for n in DEFAULT_PRESETS.values()})


def test_models_quality_is_the_kodak24_figure_of_each_domain():
    r = run("models", "--json")
    rows = {x["name"]: x for x in json.loads(r.output)}
    out = run("models").output
    for name, row in rows.items():
        lv = ("awgn:15", "awgn:25", "awgn:50") if row["domain"] == "srgb" else ("raw:0.001", "raw:0.004", "raw:0.012")
        want = " / ".join(f"{row['quality'][f'kodak24 {x}']:.1f}" for x in lv)
        line = next(s for s in out.splitlines() if s[2:].split()[:1] == [name])
        assert want in line, (name, line)


def test_archs_table_agrees_with_models_per_photo_megapixel():
    arch = {r["name"]: r for r in json.loads(run("models", "--archs", "--json").output)}
    text = run("models", "--archs").output
    checked = 0
    for row in json.loads(run("models", "--json").output):
        a = arch[row["arch"]]
        if a["in_channels"] == (4 if row["domain"] == "raw" else 3) and not row["arch_args"]:
            # same input kind: the packaged table's figure per photo MP is the preset's
            assert a["photo_gmacs_per_mp"] == pytest.approx(row["macs_per_mp"] / 1e9, rel=0.06), row["name"]
            checked += 1
        else:  # otherwise --archs says how the preset runs it, with the preset's figure
            assert f"preset {row['name']} runs {row['arch']} with" in text and \
                f"{row['macs_per_mp'] / 1e9:.1f} GMACs per photo MP" in text
    assert checked >= 1  # at least one preset runs its architecture's packaged shape (tsdn or scaoed-lite)


def test_camera_and_iso_from_every_tag():
    assert camera_and_iso({"Make": "Canon", "Model": "EOS 6D", "ISOSpeedRatings": 800}) == \
        ("Canon", "EOS 6D", 800.0, {"camera": "Make/Model", "iso": "ISOSpeedRatings"})
    make, model, iso, src = camera_and_iso({"ExposureIndex": (3200, 1)}, {50708: b"Blackmagic Pocket Cinema Camera\x00"})
    assert (make, model, iso) == ("", "Blackmagic Pocket Cinema Camera", 3200.0)
    assert src == {"camera": "UniqueCameraModel", "iso": "ExposureIndex"}
    # ISOSpeedRatings saturates at 65535: the exact value is in RecommendedExposureIndex
    assert camera_and_iso({"ISOSpeedRatings": (65535,), "RecommendedExposureIndex": 102400})[2] == 102400.0
    assert camera_and_iso({"ISOSpeed": 400})[2:] == (400.0, {"iso": "ISOSpeed"})
    assert camera_and_iso({})[:3] == ("", "", None)


def test_info_reads_unique_camera_model_and_iso_of_a_dng_without_make(tmp_path):
    from edgeden.demo import make_noisy_raw, skimage_photo

    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:64, :96], shot=4e-3, seed=0)
    raw.exif = {"_dng_ifd0": [(50708, 2, 0, "Cinema Cam 4K")], "ExposureIndex": (1250, 1)}
    raw.make = raw.model = ""
    f = tmp_path / "cine.dng"
    io.write_dng(f, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    r = run("info", f, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["camera"] == "Cinema Cam 4K" and d["camera_tag"] == "UniqueCameraModel"
    assert d["iso"] == 1250 and d["iso_tag"] == "ExposureIndex" and d["denoise"] == "ok"


def test_info_shows_what_it_can_of_a_refused_file_and_dry_run_lists_refusals(tmp_path, png):
    bad = tmp_path / "fake.jpg"
    bad.write_text("not an image\n")
    r = run("info", bad, "--json")
    assert r.exit_code == 0
    d = json.loads(r.output)
    assert d["denoise"].startswith("refused: not a JPEG") and d["bytes"] == 13
    r = run("denoise", bad, png, "--dry-run", "-o", tmp_path / "out")
    assert r.exit_code == 3
    assert f"refuse (not a JPEG: the file contains text): {bad}" in r.output
    assert "1 would be refused" in r.output and not (tmp_path / "out").exists()


def test_info_on_a_linear_dng_says_why_denoise_refuses_it(shared_data):
    f = shared_data / "raw" / "photoprism_canon_eos_6d_linear.dng"
    r = run("info", f, "--json")
    d = json.loads(r.output)
    assert r.exit_code == 0 and d["denoise"].startswith("refused: linear DNG")
    assert d["camera"] == "Canon Canon EOS 6D" and d["iso"] == 1000 and d["size_hw"] == [816, 1224]


def test_sidecar_names_the_real_input_format_of_a_non_dng_raw(tmp_path, shared_data, tiny_presets):
    src = shared_data / "raw" / "RAW_KODAK_DC50.KDC"
    r = run("denoise", src, "-m", "tiny-raw", "-o", tmp_path / "out", "--no-preview")
    assert r.exit_code == 0, r.output
    side = next((tmp_path / "out").rglob("*.json"))
    d = json.loads(side.read_text())
    assert d["input"]["format"] == "kdc" and d["outputs"]["image"].endswith(".dng")
