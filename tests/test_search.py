"""DC-NAS search (issue 23): the latency table on a tiny space, the block-swap fit, a search of a
few steps on a tiny space (seconds) whose recipe loads, trains a step and exports, and the
command's help without torch."""
from __future__ import annotations

import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import yaml
import torch

from edgeden.models import create_arch
from edgeden.models.dcnas import OP_SETS, OPS, SearchSpace, parse_op

TINY = {"widths": [8, 12], "depths": [1, 1]}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    from edgeden.demo import skimage_photo

    d = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(["astronaut", "chelsea", "coffee", "rocket", "astronaut", "chelsea"]):
        a = (skimage_photo(name)[i * 20: i * 20 + 96, :128] * 255).astype(np.uint8)
        iio.imwrite(d / f"{i}.png", a)
    return d


def test_operator_sets_are_the_papers():
    assert OP_SETS[4] == ["mb-k3-e3", "mb-k3-e6", "mb-k5-e3", "mb-k5-e6"]
    assert set(OP_SETS[6]) - set(OP_SETS[4]) == {"mb-k3-e3-se", "mb-k3-e6-se"}
    assert OP_SETS[8] == OPS and len(set(OPS)) == 8
    assert parse_op("mb-k5-e6-se") == (5, 6, True)
    with pytest.raises(ValueError):
        parse_op("skip")


@pytest.mark.parametrize("joint", [False, True])
def test_arch_args_build_the_network_they_describe(joint):
    sp = SearchSpace(**TINY, ops=OP_SETS[8], **({"num_classes": 5, "cls_widths": [16], "cls_depths": [2]} if joint else {}))
    choices = [OPS[i % 8] for i in range(sp.n_positions())]
    args = sp.arch_args(choices)
    assert sp.choices_of(args) == choices
    json.dumps(args)  # a recipe holds them
    net = create_arch("dcnas", in_channels=4, out_channels=3, **args).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 4, 19, 27))
    img = out[0] if joint else out
    assert img.shape == (2, 3, 19, 27)
    if joint:
        assert out[1].shape == (2, 5)
    ops = [m.op for m in net.modules() if hasattr(m, "op")]
    assert ops == choices


def test_lut_measures_every_entry_and_prediction_sums_them(tmp_path):
    from edgeden.training import latency as L

    sp = SearchSpace(**TINY, ops=["mb-k3-e3", "mb-k5-e6"])  # 2 positions x 2 candidates
    lut = L.build_lut(sp, (16, 16), 4, 3, warmup=1, repeats=3, calibrate=0)
    pos = sp.positions(16, 16)
    assert [(p.cin, p.cout, p.stride, p.h) for p in pos] == [(8, 8, 1, 8), (8, 12, 2, 8)]
    assert set(lut["entries"]) == {p.key(op) for p in pos for op in sp.ops} and len(lut["entries"]) == 4
    assert all(v > 0 for v in lut["entries"].values()) and set(lut["fixed"]) == {"stem", "decoder"}
    assert lut["machine"]["torch"] == torch.__version__ and lut["machine"]["threads"] == 1 and lut["machine"]["cpu"]
    ch = ["mb-k5-e6", "mb-k3-e3"]
    want = sum(lut["fixed"].values()) + lut["entries"][pos[0].key(ch[0])] + lut["entries"][pos[1].key(ch[1])]
    assert L.predict_ms(lut, ch) == pytest.approx(want)
    lo, hi = L.lut_range(lut)
    assert lo <= L.predict_ms(lut, ch) <= hi
    L.save_lut(lut, tmp_path / "lut.json")
    assert L.load_lut(tmp_path / "lut.json") == json.loads(json.dumps(lut))
    # calibration: whole networks timed beside the entries; the scale multiplies the sum
    cal = L.build_lut(sp, (16, 16), 4, 3, warmup=1, repeats=3, calibrate=2)
    assert len(cal["calibration"]["archs"]) == 2 and cal["calibration"]["scale"] > 0
    assert L.predict_ms(cal, ch) == pytest.approx(cal["calibration"]["scale"] * L.predict_ms(cal, ch, calibrated=False))
    chk = L.check_latency_model(cal, n=3, warmup=1, repeats=2)
    assert len(chk["rows"]) == 3 and chk["mape_pct"] >= 0 and all(r["measured_ms"] > 0 for r in chk["rows"])


def test_fit_to_target_swaps_towards_the_target():
    from edgeden.training.search import fit_to_target

    lats = [[1.0, 2.0, 4.0], [1.0, 3.0, 5.0]]
    logp = [[-2.0, -1.0, -0.5], [-3.0, -0.2, -1.0]]
    # the most probable network within 5% under the target: 1 + 2 + 3 = 6 (log p -1.2)
    idx, swaps = fit_to_target([2, 1], logp, lats, fixed=1.0, scale=1.0, target=6.0)
    assert idx == [1, 1] and swaps == [{"position": 0, "from": 2, "to": 1}]
    # 7 ms: [0, 2] (1 + 1 + 5, log p -3) is the only network in [6.65, 7]
    assert fit_to_target([1, 1], logp, lats, 1.0, 1.0, target=7.0, tol=0.05)[0] == [0, 2]
    # nothing in the band (4.5 .. 4.75 has no network): the slowest under it, 1 + 1 + 1 = 3 ... 4
    idx, _ = fit_to_target([1, 1], logp, lats, 1.0, 1.0, target=4.75, tol=0.05)
    assert 1.0 + lats[0][idx[0]] + lats[1][idx[1]] == 4.0
    # the scale multiplies the table: 2 x (1 + 2 + 3) = 12
    assert fit_to_target([2, 2], logp, lats, 1.0, 2.0, target=12.0)[0] == [1, 1]
    # unreachable: the fastest network
    assert fit_to_target([1, 1], logp, lats, 1.0, 1.0, target=0.5)[0] == [0, 0]


def test_tiny_search_writes_its_files_and_the_recipe_trains_and_exports(tmp_path, photo_dir, monkeypatch):
    import yaml

    from edgeden.presets import build_model, get_preset, reload_presets
    from edgeden.training.export import export
    from edgeden.training.recipe import load_recipe
    from edgeden.training.search import SearchConfig, run_search
    from edgeden.training.trainer import train

    cfg = SearchConfig(target_ms=1.0, size=(32, 32), steps=4, space=TINY, patch=32, batch=2, val_images=1,
                       val_crop=32, lut_warmup=1, lut_repeats=2, lut_calibrate=2, log_every=1,
                       data={"train": str(photo_dir), "val_holdout": 1, "patch": 32, "batch": 2})
    res = run_search(cfg, tmp_path / "search")
    out = tmp_path / "search"
    for f in ("lut.json", "search_log.jsonl", "pareto.json", "pareto.md", "recipe.yaml"):
        assert (out / f).is_file(), f
    events = [json.loads(line)["event"] for line in (out / "search_log.jsonl").read_text().splitlines()]
    assert events[0] == "start" and events[-1] == "end" and events.count("step") == 4 and "fit" in events
    log = [json.loads(line) for line in (out / "search_log.jsonl").read_text().splitlines()]
    assert any("expected_ms" in e for e in log if e["event"] == "step")  # architecture steps ran
    rows = json.loads((out / "pareto.json").read_text())["rows"]
    assert rows and all(r["measured_ms"] > 0 and r["predicted_ms"] > 0 and np.isfinite(r["psnr"]) for r in rows)
    assert any(r.get("pareto") for r in rows) and sum("chosen" in r["names"] for r in rows) == 1
    assert res["chosen"]["target_ms"] == 1.0 and res["steps"] == 4
    assert "| candidate |" in (out / "pareto.md").read_text()

    r = load_recipe(out / "recipe.yaml")
    assert r.arch == "dcnas" and r.arch_args == res["chosen"]["arch_args"] and r.zero_init == ["head"]
    r.threads, r.bf16 = 1, False
    run = train(r, out_root=tmp_path / "runs", steps=1)
    assert (run / "last.safetensors").is_file()
    dest = tmp_path / "presets"
    yml = export(run, "tiny-dcnas", "test", [], [], limit=1, tile=64, overlap=16, dest=dest, weights="last")
    doc = yaml.safe_load(yml.read_text())
    assert doc["arch"] == "dcnas" and doc["arch_args"] == r.arch_args
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(dest))
    reload_presets()
    try:
        net = build_model(get_preset("tiny-dcnas")).eval()
        with torch.no_grad():
            assert net(torch.rand(1, 4, 24, 40)).shape == (1, 3, 24, 40)
    finally:
        monkeypatch.delenv("EDGEDEN_PRESET_PATH")
        reload_presets()


def test_budget_bounds_the_search_and_per_mp_targets_scale(tmp_path, photo_dir):
    from edgeden.training.search import SearchConfig, run_search

    assert SearchConfig(target_ms=100.0, size=(500, 1000), per_mp=True).target_image_ms() == pytest.approx(50.0)
    cfg = SearchConfig(target_ms=2.0, size=(16, 16), budget_hours=0.5 / 3600, space=TINY, patch=32, batch=2,
                       val_images=1, val_crop=32, lut_warmup=1, lut_repeats=2, lut_calibrate=0,
                       data={"train": str(photo_dir), "val_holdout": 1})
    res = run_search(cfg, tmp_path / "b")  # no --steps: scheduled from the budget, stopped by it
    log = [json.loads(line) for line in (tmp_path / "b" / "search_log.jsonl").read_text().splitlines()]
    assert any(e["event"] == "schedule" for e in log) and res["stopped"] in ("budget", "steps")
    assert (tmp_path / "b" / "recipe.yaml").is_file()


def test_cli_search_runs_in_seconds(tmp_path, photo_dir):
    from typer.testing import CliRunner

    from edgeden.cli import app

    res = CliRunner().invoke(app, ["search", "--target-ms", "2", "--size", "16x16", "--steps", "2", "--repeats", "2",
                                   "--warmup", "1", "--data", str(photo_dir), "--patch", "32", "--batch", "2",
                                   "--threads", "1", "--widths", "8,12", "--depths", "1,1", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "recipe:" in res.output and (tmp_path / "s" / "recipe.yaml").is_file()
    found = yaml.safe_load((tmp_path / "s" / "recipe.yaml").read_text())["arch_args"]
    assert found["widths"] == [8, 12] and [len(s) for s in found["stages"]] == [1, 1]
    for args in (["--widths", "8,x"], ["--widths", "8,12", "--depths", "1"]):
        bad = CliRunner().invoke(app, ["search", "--target-ms", "2", *args, "--repeats", "1", "--warmup", "0",
                                       "--out", str(tmp_path / "w")])
        assert bad.exit_code != 0 and "Traceback" not in bad.output, bad.output
    bad = CliRunner().invoke(app, ["search", "--target-ms", "2", "--task", "segment", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and not (tmp_path / "b").exists()


def test_search_help_does_not_import_torch():
    probe = ("import sys\nfrom edgeden.cli import main\nsys.argv = ['edgeden', 'search', '--help']\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=120)
    assert "--target-ms" in p.stdout and p.stderr.strip().splitlines()[-1] == "NO-TORCH", p.stderr[-2000:]


def test_speed_now_is_against_the_table_not_compounded():
    from edgeden.training.search import speed_now

    rows = [{"measured_ms": 16.0, "predicted_ms": 10.0}, {"measured_ms": 30.0, "predicted_ms": 20.0},
            {"measured_ms": 28.0, "predicted_ms": 20.0}]
    ratio, scale = speed_now(rows, 1.2)
    assert ratio == pytest.approx(1.5) and scale == pytest.approx(1.8)
    # asking again with the same rows (nothing new measured) gives the same scale, not 1.2 * 1.5 ** 2
    assert speed_now(rows, 1.2)[1] == pytest.approx(scale)


def test_target_like_measures_the_reference_beside_the_candidates(tmp_path, photo_dir):
    """--target-like: the target is a named network's latency here, measured after the table and
    again in the candidates' rounds; the chosen network's error is against the second."""
    from edgeden.training.search import SearchConfig, run_search

    cfg = SearchConfig(target_ms=0.0, target_like="unet-s", size=(16, 16), steps=2, space=TINY, patch=32, batch=2,
                       val_images=1, val_crop=32, lut_warmup=1, lut_repeats=2, lut_calibrate=0,
                       data={"train": str(photo_dir), "val_holdout": 1})
    res = run_search(cfg, tmp_path / "t")
    log = [json.loads(line) for line in (tmp_path / "t" / "search_log.jsonl").read_text().splitlines()]
    first = next(e for e in log if e["event"] == "target")
    now = next(e for e in log if e["event"] == "target_now")
    assert first["arch"] == "unet-s" and first["ms"] > 0 and now["ms"] > 0
    assert res["target_ms"] == pytest.approx(first["ms"]) and res["target_now_ms"] == pytest.approx(now["ms"])
    c = res["chosen"]
    assert c["target_like"] == "unet-s" and c["reference_ms"] > 0
    assert c["measured_vs_target_pct"] == pytest.approx(100 * (c["measured_ms"] - c["reference_ms"]) / c["reference_ms"],
                                                        abs=0.02)
    assert "Target: the latency of `unet-s` here" in (tmp_path / "t" / "pareto.md").read_text()
    assert "like-unet-s" in (tmp_path / "t" / "recipe.yaml").read_text()


def test_parse_arch_spec_and_cli_target_errors(tmp_path):
    from typer.testing import CliRunner

    from edgeden.cli import app
    from edgeden.training.latency import parse_arch_spec

    assert parse_arch_spec("unet-m:b=24") == ("unet-m", {"b": 24})
    assert parse_arch_spec("unet-m-srgb") == ("unet-m", {"b": 24})  # a preset: its architecture
    for bad in ("no-such-net", "unet-m:b", "fanet-nsma"):
        with pytest.raises(ValueError):
            parse_arch_spec(bad)
    for args in ([], ["--target-ms", "2", "--target-like", "unet-s"], ["--target-like", "nope"],
                 ["--target-like", "unet-s", "--per-mp"]):
        r = CliRunner().invoke(app, ["search", *args, "--out", str(tmp_path / "x")])
        assert r.exit_code == 2 and "Traceback" not in r.output and not (tmp_path / "x").exists(), r.output


def test_auto_widths_scale_the_space_until_it_holds_the_target(tmp_path, photo_dir):
    """--widths auto: the space's shape kept, its widths scaled until the target lies between its
    fastest and slowest network (timed whole here); a target only a wider space reaches widens
    it, an unreachably fast one narrows it; the search logs the probes and its recipe has the
    chosen widths."""
    from edgeden.models.dcnas import SearchSpace
    from edgeden.training import latency as LAT
    from edgeden.training.search import SearchConfig, auto_widths, run_search, scaled_space

    torch.set_num_threads(1)
    sp = SearchSpace(widths=[8, 16], depths=[1, 1])
    assert scaled_space(sp, 2.0).widths == [16, 32] and scaled_space(sp, 0.1).widths == [4, 4]
    wide = scaled_space(sp, 6.0)  # its fastest network: far slower than anything at x1
    t = LAT.measure_archs_ms([wide.arch_args(["mb-k3-e3"] * 2)], 4, (128, 128), 3, warmup=2, repeats=5)[0]
    got, probes = auto_widths(sp, t, 4, 3, (128, 128))
    assert probes[0]["factor"] == 1.0 and probes[0]["position"] > 1 and got.widths[0] > 8, probes
    assert got.depths == sp.depths and got.ops == sp.ops
    big = SearchSpace(widths=[32, 64], depths=[1, 1])
    got, probes = auto_widths(big, 1e-6, 4, 3, (128, 128))
    assert got.widths[0] < 32 and probes[-1]["position"] < 0, probes
    cfg = SearchConfig(target_ms=1e-6, size=(16, 16), steps=2, space={"widths": [8, 12], "depths": [1, 1]}, patch=32,
                       batch=2, val_images=1, val_crop=32, lut_warmup=1, lut_repeats=2, lut_calibrate=0,
                       auto_widths=True, data={"train": str(photo_dir), "val_holdout": 1})
    run_search(cfg, tmp_path / "a")
    log = [json.loads(line) for line in (tmp_path / "a" / "search_log.jsonl").read_text().splitlines()]
    ev = next(e for e in log if e["event"] == "widths")  # at 16x16 which probe wins is timing noise
    assert ev["probes"] and ev["widths"] in [p["widths"] for p in ev["probes"]]
    assert yaml.safe_load((tmp_path / "a" / "recipe.yaml").read_text())["arch_args"]["widths"] == ev["widths"]
