"""Staged training programs (cascade growth, evolution, ESL), distillation and subrange noise:
tiny models, a few real steps each."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from edgeden.training.recipe import load_recipe
from edgeden.training.trainer import train


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    import imageio.v3 as iio

    from edgeden.demo import skimage_photo

    d = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(["astronaut", "chelsea", "coffee"]):
        iio.imwrite(d / f"{i}.png", (skimage_photo(name)[:128, :160] * 255).astype(np.uint8))
    return d


def _recipe(tmp_path, photo_dir, **over):
    doc = {"name": "staged", "arch": "dnresnet", "domain": "srgb", "noise_map": True,
           "arch_args": {"num_blocks": 0, "residual": True, "width1": 8, "width2": 8},
           "data": {"train": str(photo_dir), "val_holdout": 1, "patch": 24, "batch": 2},
           "noise": {"kind": "awgn", "sigma": [5, 50], "val_levels": [25]},
           "loss": {"edge_aware": 1.0}, "optim": {"lr": 1e-3, "steps": 9, "warmup": 1},
           "checkpoint_every": 1, "val_every": 100, "threads": 1}
    doc.update(over)
    p = tmp_path / f"{doc['name']}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return load_recipe(p)


def _log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("stages, match", [
    ([{"steps": 2}, {"steps": 2}], "needs an op"),
    ([{"steps": 2}, {"op": "shrink", "steps": 2}], "unknown op"),
    ([{"steps": 2}, {"op": "esl", "steps": 2}], "index"),
    ([{"steps": 0}], "steps must be > 0"),
    ([{"steps": 2, "speed": 1}], "unknown keys"),
])
def test_malformed_stages_are_errors(tmp_path, photo_dir, stages, match):
    with pytest.raises(ValueError, match=match):
        _recipe(tmp_path, photo_dir, stages=stages)


def test_cascade_then_replacement_program_resumes_exactly(tmp_path, photo_dir):
    """Grow twice, then replace every block by a DS block; a run interrupted after a stage change
    and resumed ends with exactly the weights of an uninterrupted run; the budget is the total."""
    stages = [{"steps": 3}, {"op": "grow", "steps": 2}, {"op": "grow", "steps": 2}, {"op": "ds_all", "steps": 1}]
    r = _recipe(tmp_path, photo_dir, stages=stages)
    full = train(r, out_root=tmp_path / "a")
    log = _log(full)
    ev = [e for e in log if e.get("event") == "stage"]
    assert [(e["step"], e["op"]) for e in ev] == [(3, "grow"), (5, "grow"), (7, "ds_all")]
    assert ev[1]["params"] > ev[0]["params"] > ev[2]["params"]  # DS blocks are smaller
    assert max(e["step"] for e in log if "loss" in e) == 9  # the last stage takes the rest
    part = train(r, out_root=tmp_path / "b", steps=6)
    from edgeden.training.checkpoint import read_meta

    assert read_meta(part / "state.safetensors")["program"]["index"] == 2
    resumed = train(r, out_root=tmp_path / "b", resume=True)
    a, b = load_file(str(full / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert a.keys() == b.keys() and any("blocks.1" in k for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    from edgeden.models import create_arch

    net = create_arch("dsdnresnet", in_channels=4, out_channels=3, num_blocks=2, residual=True, width1=8, width2=8)
    net.load_state_dict(a)  # the final architecture is DS-DN-ResNet with 2 blocks
    assert json.loads((full / "arch.json").read_text()) == {
        "arch": "dsdnresnet", "arch_args": {"num_blocks": 2, "residual": True, "width1": 8, "width2": 8}}
    assert (full / "best.safetensors").exists()  # best of the final architecture only
    net.load_state_dict(load_file(str(full / "best.safetensors")))


def test_plateau_ends_a_stage_early(tmp_path, photo_dir):
    # min_rel 10: "improved by less than 1000%" always holds, so the stage ends at its first check
    stages = [{"steps": 50, "plateau": {"window": 2, "min_rel": 10.0}}, {"op": "grow", "steps": 1}]
    run = train(_recipe(tmp_path, photo_dir, stages=stages), out_root=tmp_path / "runs")
    assert [e["step"] for e in _log(run) if e.get("event") == "stage"] == [4]


def test_esl_program_ends_at_the_tsdn_architecture(tmp_path, photo_dir):
    stages = [{"steps": 1}] + [{"op": "esl", "index": i, "steps": 1} for i in range(7)]
    r = _recipe(tmp_path, photo_dir, name="esl", arch="tsdn-expanded", arch_args={}, domain="raw",
                noise={"kind": "raw-upi", "val_levels": [4e-3]}, gain_target=0.4,
                loss={"charbonnier": 1.0, "stage1": 1.0}, stages=stages,
                data={"train": str(photo_dir), "val_holdout": 1, "patch": 16, "batch": 1})
    run = train(r, out_root=tmp_path / "runs")
    from edgeden.models import create_arch

    sd = load_file(str(run / "last.safetensors"))
    ref = create_arch("tsdn", in_channels=5, out_channels=4).state_dict()
    assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in ref.items()}
    assert json.loads((run / "arch.json").read_text()) == {"arch": "tsdn", "arch_args": {}}


def test_distillation_losses_vanish_at_their_targets():
    """kd is zero when the student says what the teacher says; the feature term is zero when the
    student's output is the clean image; both give gradients otherwise."""
    from edgeden.training.distill import Teacher
    from edgeden.training.batches import DomainMap

    t = Teacher({"arch": "tsdn", "weights": "preset:tsdn/members.0"}, in_channels=5, out_channels=4)
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, 4, 32, 32, generator=g) * 0.5
    gain = 2.0
    dom = DomainMap(lambda p: p / gain, lambda y: y * gain)
    x = torch.cat([(clean + 0.05 * torch.randn(clean.shape, generator=g)) * gain, torch.full((1, 1, 32, 32), 0.1)], 1)
    assert t.losses(t.predict(x), x, clean, dom, {"kd": 1.0}).item() < 1e-7
    assert t.losses(clean * gain, x, clean, dom, {"fm": 1.0, "fm_style": 1.0}).item() < 1e-10
    pred = x[:, :4].clone().requires_grad_(True)
    loss = t.losses(pred, x, clean, dom, {"kd": 1.0, "fm": 1.0})
    loss.backward()
    assert loss.item() > 0 and pred.grad.abs().sum() > 0


def test_distillation_needs_a_teacher(tmp_path, photo_dir):
    r = _recipe(tmp_path, photo_dir, loss={"charbonnier": 1.0, "kd": 1.0})
    with pytest.raises(ValueError, match="needs a teacher"):
        train(r, out_root=tmp_path / "runs", steps=1)


def test_subrange_noise_sampler_stays_in_its_range():
    from edgeden.core import noise as nm

    g = torch.Generator().manual_seed(0)
    s, r = nm.sample_upi_noise(g, 4000, shot_range=(1.1e-3, 3.6e-3))
    assert s.min() >= 1.1e-3 * 0.999 and s.max() <= 3.6e-3 * 1.001
    ls = torch.log(s)
    assert abs(ls.mean().item() - (np.log(1.1e-3) + np.log(3.6e-3)) / 2) < 0.03  # log-uniform
    # read noise follows UPI's regression on the drawn S: residual std 0.26
    resid = torch.log(r) - torch.log(torch.as_tensor(nm.upi_mean_read(s)))
    assert abs(resid.mean().item()) < 0.03 and abs(resid.std().item() - 0.26) < 0.02


def test_export_of_a_model_array_loads_as_one_preset(tmp_path, photo_dir, monkeypatch):
    """Two tiny runs on two noise subranges become one array preset (one file, one sha256)."""
    from edgeden.models.array import SubrangeArray
    from edgeden.presets import reload_presets, build_model, get_preset
    from edgeden.training.export import export

    runs = []
    for i, rng in enumerate([(1e-4, 1e-3), (1e-3, 1.2e-2)]):
        r = _recipe(tmp_path, photo_dir, name=f"arr{i}", arch="fanet", arch_args={"widths": [8, 16]}, domain="raw",
                    gain_target=0.4, loss={"charbonnier": 1.0}, optim={"lr": 1e-3, "steps": 2, "warmup": 1},
                    noise={"kind": "raw-upi", "shot_range": list(rng), "val_levels": [4e-3]},
                    data={"train": str(photo_dir), "val_holdout": 1, "patch": 16, "batch": 1})
        runs.append(train(r, out_root=tmp_path / "runs"))
    dest = tmp_path / "presets"
    with pytest.raises(ValueError, match="n \\+ 1 shot bounds"):
        export(runs[0], "tiny-arr", "t", [], [], 1, 64, 16, dest=dest, array_runs=runs[1:], shot_bounds=[1e-4, 1e-2])
    yml = export(runs[0], "tiny-arr", "test", [str(photo_dir)], ["raw:0.004"], limit=1, tile=64, overlap=16,
                 dest=dest, array_runs=runs[1:], shot_bounds=[1e-4, 1e-3, 1.2e-2])
    doc = yaml.safe_load(yml.read_text())
    assert doc["array"] == {"shot_bounds": [1e-4, 1e-3, 1.2e-2]} and doc["provenance"]["steps"] == 4
    assert doc["provenance"]["recipe"].count("arr0.yaml") == 1 and doc["provenance"]["recipe"].count("arr1.yaml") == 1
    card = (dest / "cards" / "tiny-arr.md").read_text()
    rows = [ln for ln in card.splitlines() if ln.startswith("| 0 |") or ln.startswith("| 1 |")]
    assert "## Members" in card and len(rows) == 2
    assert "`arr0`" in rows[0] and "0.0001 - 0.001" in rows[0] and "`arr1`" in rows[1] and "0.001 - 0.012" in rows[1]
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(dest))
    reload_presets()
    try:
        net = build_model(get_preset("tiny-arr"))
        assert isinstance(net, SubrangeArray)
        for i, run in enumerate(runs):
            w = load_file(str(run / "best.safetensors"))
            assert all(torch.equal(net.members[i].state_dict()[k], v) for k, v in w.items())
    finally:
        reload_presets()
