"""Recipe loading and a few real training steps on tiny models (seconds, no shipped model)."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from edgeden.training.checkpoint import read_meta
import torch
import yaml

from edgeden.training.recipe import load_recipe
from edgeden.training.trainer import train


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    from edgeden.demo import skimage_photo

    d = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(["astronaut", "chelsea", "coffee", "rocket", "astronaut"]):
        a = (skimage_photo(name)[i * 20: i * 20 + 160, :200] * 255).astype(np.uint8)
        iio.imwrite(d / f"{i}.png", a)
    return d


def _recipe(tmp_path, photo_dir, **over):
    doc = {"name": "tiny", "arch": "unet-s", "domain": "srgb", "noise_map": True,
           "data": {"train": str(photo_dir), "val_holdout": 1, "patch": 32, "batch": 2},
           "noise": {"kind": "awgn", "sigma": [5, 50], "val_levels": [25]},
           "loss": {"charbonnier": 0.8, "ssim": 0.2},
           "optim": {"lr": 1e-3, "steps": 4, "warmup": 1}, "checkpoint_every": 2, "val_every": 2, "threads": 1}
    doc.update(over)
    p = tmp_path / f"{doc['name']}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return load_recipe(p)


def test_builtin_recipes_load():
    from pathlib import Path

    import edgeden.training as tr

    names = sorted(p.stem for p in (Path(tr.__file__).parent / "recipes").glob("*.yaml"))
    assert "unet-m-srgb" in names
    for n in names:
        r = load_recipe(n)
        assert r.name == n and r.optim.get("steps", 0) > 0


def test_unknown_recipe_key_is_an_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: bad\narch: unet-s\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_recipe(p)


def test_short_srgb_training_checkpoints_validates_and_resumes(tmp_path, photo_dir):
    r = _recipe(tmp_path, photo_dir)
    run = train(r, out_root=tmp_path / "runs")
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    vals = [e for e in log if "val_psnr@25" in e]
    assert vals and all(np.isfinite(e["val_psnr@25"]) for e in vals)
    assert (run / "best.safetensors").exists() and (run / "state.safetensors").exists()
    assert read_meta(run / "state.safetensors")["step"] == 4
    run2 = train(r, out_root=tmp_path / "runs", steps=6, resume=True)
    assert read_meta(run2 / "state.safetensors")["step"] == 6


def test_train_command_threads_option_wins_over_the_recipe(tmp_path, photo_dir):
    """``edgeden train --threads N`` trains on N threads even where the recipe names its own."""
    from typer.testing import CliRunner

    from edgeden.cli import app

    r = _recipe(tmp_path, photo_dir, name="threads", optim={"lr": 1e-3, "steps": 1, "warmup": 1})
    before = torch.get_num_threads()
    try:
        res = CliRunner().invoke(app, ["train", str(tmp_path / "threads.yaml"), "--out", str(tmp_path / "runs"),
                                       "--threads", "2"])
    finally:
        torch.set_num_threads(before)
    assert res.exit_code == 0, res.output
    start = json.loads((tmp_path / "runs" / r.name / "log.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["threads"] == 2


class _Planted:
    """Unpickling this would create a file (what a planted checkpoint could do)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_resume_never_unpickles_a_planted_checkpoint(tmp_path, photo_dir):
    r = _recipe(tmp_path, photo_dir)
    run = tmp_path / "runs" / r.name
    run.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"x": _Planted(str(marker))}, run / "last.pt")  # an old-style pickle checkpoint
    with pytest.raises(ValueError, match="not loaded"):
        train(r, out_root=tmp_path / "runs", resume=True)
    (run / "state.safetensors").write_bytes((run / "last.pt").read_bytes())  # a pickle under our name
    with pytest.raises(Exception):
        train(r, out_root=tmp_path / "runs", resume=True)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", ""])
def test_recipe_name_cannot_leave_the_output_folder(tmp_path, name):
    p = tmp_path / "r.yaml"
    p.write_text(f"name: {name!r}\narch: unet-s\n")
    with pytest.raises(ValueError, match="plain folder name"):
        load_recipe(p)


def test_short_raw_two_stage_training(tmp_path, photo_dir):
    """TSDN on synthetic UPI raw with k-sigma and the two-stage loss: loss finite, weights saved."""
    r = _recipe(tmp_path, photo_dir, name="tiny-raw", arch="tsdn", domain="raw", noise_map=False, ksigma=True,
                k_ref=2e-3, noise={"kind": "raw-upi", "dark_prob": 0.5, "val_levels": [4e-3]},
                loss={"l1": 1.0, "stage1": 1.0, "stage2": 1.0},
                data={"train": str(photo_dir), "val_holdout": 1, "patch": 32, "batch": 2})
    run = train(r, out_root=tmp_path / "runs", steps=2)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("val_psnr@0.004" in e for e in log)
    assert all(np.isfinite(e["loss"]) for e in log if "loss" in e)


def test_export_writes_preset_card_and_loads(tmp_path, photo_dir, monkeypatch):
    """A finished run becomes a loadable preset whose YAML/card figures come from measurements."""
    from edgeden.presets import reload_presets, build_model, get_preset
    from edgeden.training.export import export

    r = _recipe(tmp_path, photo_dir, name="tiny-export")
    run = train(r, out_root=tmp_path / "runs")
    dest = tmp_path / "presets"
    yml = export(run, "tiny-export", "test", [str(photo_dir)], ["awgn:25", "camera:4e-3"], limit=1, tile=64,
                 overlap=16, dest=dest)
    doc = yaml.safe_load(yml.read_text())
    assert doc["provenance"]["steps"] == 4 and doc["provenance"]["params"] > 0
    assert set(doc["provenance"]["quality"]) == {f"{photo_dir} awgn:25", f"{photo_dir} camera:0.004"}
    card = (dest / "cards" / "tiny-export.md").read_text()
    assert "awgn:25" in card and "conv peak" in card
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(dest))
    reload_presets()
    net = build_model(get_preset("tiny-export"))  # sha256 verified
    assert sum(p.numel() for p in net.parameters()) == doc["provenance"]["params"]
    reload_presets()


def test_half_weights_refuse_values_float16_cannot_hold():
    from edgeden.training.export import half_weights

    ok = half_weights({"w": torch.tensor([1.0, -2.5]), "n": torch.tensor(3)})
    assert ok["w"].dtype == torch.float16 and ok["n"].dtype == torch.int64
    with pytest.raises(ValueError, match="float16"):
        half_weights({"w": torch.tensor([1e6])})


def test_export_fp16_stores_half_weights_that_load_into_float32(tmp_path, photo_dir, monkeypatch):
    """``--fp16``: the shipped file holds float16 tensors (about half the bytes) and the preset
    builds a float32 network whose weights are the run's rounded to float16."""
    from safetensors.torch import load_file

    from edgeden.presets import build_model, get_preset, reload_presets
    from edgeden.training.export import export

    r = _recipe(tmp_path, photo_dir, name="tiny-half")
    run = train(r, out_root=tmp_path / "runs")
    dest = tmp_path / "presets"
    yml = export(run, "tiny-half", "test", [str(photo_dir)], ["awgn:25"], limit=1, tile=64, overlap=16, dest=dest,
                 fp16=True)
    assert yaml.safe_load(yml.read_text())["provenance"]["weights_dtype"] == "float16"
    assert "stored as float16" in (dest / "cards" / "tiny-half.md").read_text()
    stored = load_file(str(dest / "weights" / "tiny-half.safetensors"))
    full = load_file(str(run / "best.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert (dest / "weights" / "tiny-half.safetensors").stat().st_size < 0.6 * (run / "best.safetensors").stat().st_size
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(dest))
    reload_presets()
    try:
        net = build_model(get_preset("tiny-half"))  # sha256 of the stored file verified
        for k, v in net.state_dict().items():
            if v.is_floating_point():
                assert v.dtype == torch.float32
                assert torch.equal(v, full[k].to(torch.float16).float()), k
    finally:
        reload_presets()


def _tiny_labelled(tmp_path):
    """A tiny CIFAR-like .npz, training labels sorted by class as in the shipped subset."""
    g = np.random.default_rng(0)
    npz = tmp_path / "tiny.npz"
    np.savez(npz, x_train=g.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), y_train=np.repeat(np.arange(10), 4),
             x_test=g.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8), y_test=g.integers(0, 10, 20),
             class_names=np.array([f"c{i}" for i in range(10)]))
    return npz


def test_labelled_validation_split_is_stratified(tmp_path):
    """The held-out split takes the last images of *every* class (the file is sorted by class:
    a plain tail would hold out one whole class), and training batches are augmented in range."""
    from edgeden.training.data import LabelledBank

    b = LabelledBank(_tiny_labelled(tmp_path), val=10)
    assert np.bincount(b.splits["val"][1]).tolist() == [1] * 10
    assert np.bincount(b.splits["train"][1]).tolist() == [3] * 10
    x, y = b.batch(6, torch.Generator().manual_seed(0))
    assert x.shape == (6, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1 and y.dtype == torch.int64


def test_validation_subset_of_a_labelled_split_covers_every_class(tmp_path, photo_dir):
    """Fewer validation images than the held-out split (a search's quick accuracy) are spread
    over every class, not the split's first classes (it is stored in class order)."""
    from edgeden.training.batches import BatchSource

    npz = _tiny_labelled(tmp_path)
    for n, per in ((20, [2] * 10), (10, [1] * 10)):
        r = _recipe(tmp_path, photo_dir, name=f"tiny-val{n}", arch="dcnet",
                    data={"kind": "labelled", "file": str(npz), "val": 20, "batch": 4, "val_images": n})
        batches = BatchSource(r, torch.Generator().manual_seed(0)).validation_set(15)
        labels = torch.cat([b[3] for b in batches])
        assert np.bincount(labels.numpy(), minlength=10).tolist() == per


def test_short_labelled_training_dcnet_reports_psnr_and_accuracy(tmp_path):
    """DC-Net on a tiny labelled set: joint loss (CE + image), PSNR and accuracy in the log; the
    joint evaluation and export give a preset with a calibrated classifier block."""
    npz = _tiny_labelled(tmp_path)
    base = load_recipe("dcnet-cifar")
    doc = {**{k: getattr(base, k) for k in ("arch", "domain", "noise", "loss")}, "name": "tiny-dc",
           "data": {"kind": "labelled", "file": str(npz), "val": 10, "batch": 4, "val_images": 20},
           "optim": {"lr": 1e-3, "steps": 2, "warmup": 1}, "checkpoint_every": 2, "val_every": 2, "threads": 1}
    p = tmp_path / "tiny-dc.yaml"
    p.write_text(yaml.safe_dump(doc))
    run = train(load_recipe(p), out_root=tmp_path / "runs")
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    v = [e for e in log if "val_acc@0" in e][-1]
    assert 0 <= v["val_acc@0"] <= 1 and np.isfinite(v["val_psnr@255"])

    from edgeden.training import joint_eval
    from edgeden.training.export import export

    res = joint_eval.evaluate_runs([run], presentation={"n": 4, "size": 64, "levels": (0.0,)})
    m = res["models"]["tiny-dc"]
    assert [r["sigma"] for r in m["rows"]] == joint_eval.LEVELS
    assert all(0 <= r["acc"] <= 1 and r["psnr"] > 0 and -1 <= r["ssim"] <= 1 for r in m["rows"])
    assert m["calibration"]["temperature"] > 0 and 0 <= m["calibration"]["ece_after"] <= 1
    assert set(m["presentation"]["accuracy"]) >= {"grid 1x1 of the denoised photo", "thumbnail of the noisy photo"}
    dest = tmp_path / "presets"
    yml = export(run, "tiny-dc", "test", [], [], limit=1, tile=64, overlap=16, dest=dest, weights="last",
                 joint=res, class_list="tiny")
    doc = yaml.safe_load(yml.read_text())
    assert doc["classifier"]["class_names"] == [f"c{i}" for i in range(10)]
    assert doc["classifier"]["temperature"] == m["calibration"]["temperature"]
    assert len(doc["provenance"]["joint_table"]["tiny-dc"]) == 11
    card = (dest / "cards" / "tiny-dc.md").read_text()
    assert "Calibration" in card and "grid 1x1" in card


def test_joint_photo_and_labels_training_with_noise_map(tmp_path, photo_dir):
    """DC-Net trained on photos (denoising) plus a labelled set (classification): the denoiser
    starts from given UNet weights (``init_into``), the classifier has its own learning-rate
    factor, validation logs PSNR and accuracy, and the joint evaluation and the product's
    classifier feed the noise-level map."""
    from safetensors.torch import save_file

    from edgeden.classify import PresetClassifier
    from edgeden.models import create_arch
    from edgeden.training import joint_eval
    from edgeden.training.batches import BatchSource
    from edgeden.training.trainer import build_model, make_optimizer

    npz = _tiny_labelled(tmp_path)
    unet = create_arch("unet-s", in_channels=4, out_channels=3)
    init = tmp_path / "unet.safetensors"
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, str(init))
    r = _recipe(tmp_path, photo_dir, name="tiny-joint", arch="dcnet", init=str(init), init_into="unet",
                data={"train": str(photo_dir), "val_holdout": 1, "patch": 32, "batch": 2,
                      "labels": {"file": str(npz), "val": 10, "batch": 4, "val_images": 10, "sigma": [0, 30]}},
                loss={"ce": 0.1, "charbonnier": 0.72, "ssim": 0.18},
                optim={"lr": 1e-3, "steps": 2, "warmup": 1, "lr_mult": {"classifier": 10}})
    m = build_model(r)
    groups = make_optimizer(m, r.optim).param_groups
    assert [g["lr_mult"] for g in groups] == [1.0, 10.0]
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    xa, la = BatchSource(r, torch.Generator().manual_seed(0)).next_aux()
    assert xa.shape == (4, 4, 32, 32) and la.shape == (4,) and float(xa[:, 3].max()) <= 30 / 255 + 1e-6
    run = train(r, out_root=tmp_path / "runs")
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    v = [e for e in log if "val_acc@labels" in e][-1]
    assert 0 <= v["val_acc@labels"] <= 1 and np.isfinite(v["val_psnr@25"])
    _, model = joint_eval.load_run(run)
    rows = joint_eval.level_rows(model, *joint_eval.D.LabelledBank(npz, val=10).split("test"))
    assert all(0 <= row["acc"] <= 1 and row["psnr"] > 0 for row in rows)

    class P:  # the preset fields the product's classifier reads
        name, noise_map = "tiny-joint", True
        classifier = {"class_names": [f"c{i}" for i in range(10)], "class_list": "tiny", "temperature": 1.0}

    out = PresetClassifier(P, model)(np.random.default_rng(0).random((48, 40, 3)))
    assert len(out["labels"]) == 5 and abs(sum(x["probability"] for x in out["labels"]) - 1) < 0.5

    # freeze: the loaded denoiser stays exactly as loaded, the classifier branch trains
    from safetensors.torch import load_file

    r2 = _recipe(tmp_path, photo_dir, name="tiny-frozen", arch="dcnet", init=str(init), init_into="unet",
                 freeze=["unet"], data={"kind": "labelled", "file": str(npz), "val": 10, "batch": 4, "val_images": 10},
                 noise={"kind": "awgn", "sigma": [0, 55], "val_levels": [15]}, loss={"ce": 1.0},
                 optim={"lr": 1e-2, "steps": 2, "warmup": 1})
    run2 = train(r2, out_root=tmp_path / "runs")
    w = load_file(str(run2 / "last.safetensors"))
    w0 = build_model(r2).state_dict()
    assert all(torch.equal(w[f"unet.{k}"], v) for k, v in unet.state_dict().items())
    assert any(not torch.equal(w[k], w0[k]) for k in w if k.startswith("classifier."))


def test_mixed_srgb_noise_batches_and_init_from_weights(tmp_path, photo_dir):
    """srgb-mixed: AWGN and camera-like samples in one batch, each with the noise map the product
    would compute; ``init`` starts from given weights; validation at named specs."""
    from safetensors.torch import save_file

    from edgeden.training.batches import BatchSource
    from edgeden.training.trainer import build_model

    r = _recipe(tmp_path, photo_dir, name="tiny-mix", noise={"kind": "srgb-mixed", "awgn_prob": 0.5,
                                                            "sigma": [25, 25], "val_levels": ["awgn:25", "camera:0.004"]})
    src = BatchSource(r, torch.Generator().manual_seed(0))
    clean = src.bank.crops(4, 32, torch.Generator().manual_seed(1))
    x, y, post = src.make(clean, torch.Generator().manual_seed(2))
    assert x.shape == (4, 4, 32, 32) and y.shape == (4, 3, 32, 32)
    # AWGN half: residual std 25/255 and a constant map; camera half: a positive, varying map
    assert abs(float((x[:2, :3] - y[:2]).std()) - 25 / 255) < 0.01
    assert torch.allclose(x[:2, 3], torch.full_like(x[:2, 3], 25 / 255))
    assert float(x[2:, 3].min()) > 0 and float(x[2:, 3].std()) > 0
    init = tmp_path / "w.safetensors"
    torch.manual_seed(3)
    save_file({k: v.contiguous() for k, v in build_model(r).state_dict().items()}, str(init))
    r.init = str(init)
    run = train(r, out_root=tmp_path / "runs", steps=2)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    v = [e for e in log if "val_psnr@camera:0.004" in e][-1]
    assert np.isfinite(v["val_psnr@awgn:25"]) and np.isfinite(v["val_psnr@camera:0.004"])


def test_member_section_names_each_members_start_weights():
    """An array card's Members table says where each member started (members can chain: the
    tsdn top member starts from the high member), not only member 0's init."""
    from edgeden.training.export import member_section

    common = {"steps": 100, "cpu_hours": 0.1, "best_step": 100,
              "val_curve": [{"val_psnr@0.01": 30.0}], "best_val": {"val_psnr@0.01": 31.0}}
    rows = member_section([{**common, "recipe": "a", "init": None, "shots": [1e-4, 1e-3]},
                           {**common, "recipe": "b", "init": "ckpt:a",
                            "shots": [1e-3, 1e-2]}])
    table = [r for r in rows if r.startswith("| 0 ") or r.startswith("| 1 ")]
    assert "| scratch |" in table[0] and "`ckpt:a`" in table[1]
    assert "0.01: 30.00 -> 31.00 (step 100)" in table[1]


def test_init_widen_starts_as_the_narrower_network_and_trains(tmp_path, photo_dir):
    """``init_widen``: a wider UNet (b = 12) embeds narrower trained weights (b = 8) so that it
    computes the same output (UNet.load_narrower, zero fan-out of the new channels), then
    trains; mismatched widths are an error naming the problem."""
    from safetensors.torch import save_file

    from edgeden.models import create_arch
    from edgeden.training.trainer import build_model

    narrow = create_arch("unet-s", in_channels=4, out_channels=3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in narrow.parameters():  # a "trained" net: no zero biases, so every weight matters
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    init = tmp_path / "narrow.safetensors"
    save_file({k: v.contiguous() for k, v in narrow.state_dict().items()}, str(init))
    r = _recipe(tmp_path, photo_dir, name="tiny-widen", arch_args={"b": 12}, init=str(init), init_widen=True,
                optim={"lr": 1e-3, "steps": 2, "warmup": 1})
    wide = build_model(r)
    wide.load_narrower(narrow.state_dict())
    assert wide.widths == [12, 18, 27, 40] and narrow.widths == [8, 12, 18, 27]
    x = torch.rand(2, 4, 36, 44, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(wide(x), narrow(x), rtol=1e-4, atol=1e-4)
    run = train(r, out_root=tmp_path / "runs")
    from safetensors.torch import load_file

    w = load_file(str(run / "last.safetensors"))
    assert w["enc.0.0.weight"].shape == (12, 4, 3, 3)
    assert float(w["head.weight"][:, 8:].abs().sum()) > 0  # the new channels' fan-out learned
    with pytest.raises(ValueError, match="do not fit"):
        narrow.load_narrower(wide.state_dict())


def test_fanet_groups_widen_to_the_same_function():
    """FANet.load_narrower: weights trained with 3x3 groups of 8 channels load into a net with
    groups of 16 that computes exactly the same output (the added taps start at zero) and
    still trains them; any other shape mismatch is refused."""
    from edgeden.models import create_arch

    torch.manual_seed(0)
    g8 = create_arch("fanet", 5, 4, expansion=4, group_channels=8).eval()
    g16 = create_arch("fanet", 5, 4, expansion=4, group_channels=16).eval()
    g16.load_narrower(g8.state_dict())
    x = torch.rand(2, 5, 48, 40)
    with torch.no_grad():
        assert torch.allclose(g8(x), g16(x), atol=1e-6)
    w = g16.down[0].group.weight
    assert w.shape[1] == 16 and int((w == 0).sum()) == w.numel() // 2  # half the taps are new, at zero
    g16(x).square().mean().backward()
    assert float(w.grad.abs().sum()) > 0
    wider = create_arch("fanet", 5, 4, expansion=5, group_channels=8)
    with pytest.raises(ValueError, match="does not fit"):
        wider.load_narrower(g8.state_dict())


def test_every_packaged_recipe_runs_from_an_installed_wheel():
    """Packaged recipes name start weights only by ``preset:`` references (shipped with the
    package), which resolve and load; lab recipes' ``ckpt:`` ids resolve through lab's manifest."""
    from pathlib import Path

    import edgeden.training as tr
    from edgeden.training.weights import load_init, resolve_weights

    for p in sorted((Path(tr.__file__).parent / "recipes").glob("*.yaml")):
        r = load_recipe(p)
        refs = [x for x in (r.init, (r.teacher or {}).get("weights")) if x]
        for ref in refs:
            assert ref.startswith("preset:"), f"{p.name}: start weights {ref!r} are not shipped in the package"
            assert load_init(ref), ref
    lab = Path(__file__).resolve().parents[2] / "lab" / "recipes"
    for p in sorted(lab.glob("*.yaml")):
        r = load_recipe(p)
        if r.init and r.init.startswith("ckpt:"):
            try:
                resolve_weights(r.init, r.source)
            except ValueError as e:  # superseded links of a chain are documented as not kept
                assert "no checkpoint manifest lists it" in str(e), e


def test_checkpoint_ids_are_verified_by_sha256(tmp_path, monkeypatch):
    import hashlib

    from safetensors.torch import save_file

    from edgeden.training.weights import load_init

    f = tmp_path / "w.safetensors"
    save_file({"a": torch.ones(2)}, str(f))
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps({"checkpoints": [{"id": "w", "file": "w.safetensors", "sha256": sha}]}))
    monkeypatch.setenv("EDGEDEN_CHECKPOINTS", str(tmp_path))
    assert torch.equal(load_init("ckpt:w")["a"], torch.ones(2))
    save_file({"a": torch.ones(2), "members.1.b": torch.full((3,), 2.0)}, str(f))  # one member of an array
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps({"checkpoints": [{"id": "w", "file": "w.safetensors", "sha256": sha}]}))
    assert list(load_init("ckpt:w/members.1")) == ["b"]
    with pytest.raises(ValueError, match="no tensors under"):
        load_init("ckpt:w/members.7")
    save_file({"a": torch.zeros(2)}, str(f))
    with pytest.raises(ValueError, match="sha256"):
        load_init("ckpt:w")
    with pytest.raises(ValueError, match="preset:NAME, ckpt:ID"):
        load_init("lab/checkpoints/w.safetensors")  # a repository path is not a reference


def test_outlier_exposure_loss_pulls_none_images_to_uniform():
    """Images labelled -1 (none of the classes) add loss.oe x the cross-entropy of their softmax
    to the uniform distribution (Hendrycks et al. 2019); they are left out of the class CE."""
    import math

    import torch

    from edgeden.training.recipe import Recipe
    from edgeden.training.trainer import recipe_loss

    r = Recipe(name="t", arch="mb2.5-m", domain="srgb", loss={"ce": 1.0, "oe": 0.5})
    flat = torch.zeros(2, 10)
    peaked = flat.clone()
    peaked[:, 3] = 8.0
    none = torch.tensor([-1, -1])
    assert abs(float(recipe_loss(r, flat, None, None, none)) - 0.5 * math.log(10)) < 1e-5  # the minimum
    assert float(recipe_loss(r, peaked, None, None, none)) > 2.0
    # mixed: class CE on the labelled image only, OE on the other
    mixed = recipe_loss(r, peaked, None, None, torch.tensor([3, -1]))
    ce = torch.nn.functional.cross_entropy(peaked[:1], torch.tensor([3]))
    oe = -torch.log_softmax(peaked[1:], -1).mean()
    assert abs(float(mixed) - float(ce + 0.5 * oe)) < 1e-5


def test_photo_views_for_training_balance_in_class_and_none(shared_data):
    import torch

    from edgeden.training import data as D
    from edgeden.training.photo_eval import load_labels

    rows = load_labels(("bsds500-train",), "train")
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert len(rows) == 323 and not set(load_labels(("bsds500-train",), "dev")) & set(rows)
    bank = D.PhotoViewBank(rows[:60], names, in_class_frac=0.5)
    v, lab = bank.batch(20, torch.Generator().manual_seed(0))
    assert v.shape == (20, 3, 32, 32) and 0 <= float(v.min()) and float(v.max()) <= 1
    assert int((lab >= 0).sum()) == 10 and int((lab == -1).sum()) == 10


def test_tone_mapped_loss_weighs_dark_errors_as_a_render_does():
    """loss.tone: prediction and target auto-exposed by the target's mean, then the power 1/gamma:
    the same error costs the same in a darkened copy of a sample, and more in its shadows than in
    its highlights (as in the rendered PSNR)."""
    import torch

    from edgeden.training.recipe import Recipe
    from edgeden.training.trainer import recipe_loss, tone_mapped

    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 4, 16, 16, generator=g) * 0.5 + 0.01
    t = tone_mapped(y, y, 2.2)
    assert t.shape == y.shape and torch.allclose(tone_mapped(y * 0.03, y * 0.03, 2.2), t, atol=1e-5)
    r = Recipe(name="t", arch="unet-s", domain="raw", loss={"charbonnier": 1.0, "tone": 2.2})
    plain = Recipe(name="t", arch="unet-s", domain="raw", loss={"charbonnier": 1.0})
    ident = lambda p: p  # noqa: E731 - the post-processing of a model already in the target's domain
    err = 0.01 * torch.randn(y.shape, generator=g)
    a = float(recipe_loss(r, y + err, y, ident))
    assert abs(float(recipe_loss(r, (y + err) * 0.03, y * 0.03, ident)) - a) < 1e-4 * max(a, 1e-3)
    assert float(recipe_loss(plain, (y + err) * 0.03, y * 0.03, ident)) < 0.2 * float(recipe_loss(plain, y + err, y, ident))
    dark, bright = y.clone(), y.clone()
    dark[:, :, :8] = 0.02
    bright[:, :, :8] = 0.9
    bump = torch.zeros_like(y)
    bump[:, :, :8] = 0.005
    assert float(recipe_loss(r, dark + bump, dark, ident)) > float(recipe_loss(r, bright + bump, bright, ident))


def test_render_loss_weighs_red_and_blue_as_the_camera_renders_them():
    """loss.render: raw batches carry each sample's camera; the loss adds the difference of the
    two renders (white balance, demosaic, colour matrix, gamma), so an error in the red plane
    costs more than the same error in a green plane, and nothing changes without the key."""
    import torch

    from edgeden.training import data as D
    from edgeden.training.batches import DomainMap
    from edgeden.training.recipe import Recipe
    from edgeden.training.trainer import recipe_loss, rendered

    g = torch.Generator().manual_seed(0)
    b = D.raw_upi_batch(torch.rand(2, 3, 32, 32, generator=g), g)
    assert b["wb"].shape == (2, 3) and b["ccm"].shape == (2, 3, 3)
    y = b["clean"] + 0.01
    r = rendered(y, y, b["wb"], b["ccm"])
    assert r.shape == (2, 3, 32, 32) and float(r.min()) > 0 and float(r.max()) <= 1.001
    post = DomainMap(camera=(b["wb"], b["ccm"]))
    rec = Recipe(name="t", arch="unet-s", domain="raw", loss={"charbonnier": 1.0, "render": 1.0})
    plain = Recipe(name="t", arch="unet-s", domain="raw", loss={"charbonnier": 1.0})
    red, green = torch.zeros_like(y), torch.zeros_like(y)
    red[:, 0], green[:, 1] = 0.01, 0.01
    assert float(recipe_loss(plain, y + red, y, post)) == pytest.approx(float(recipe_loss(plain, y + green, y, post)))
    assert float(recipe_loss(rec, y + red, y, post)) > float(recipe_loss(rec, y + green, y, post)) > \
        float(recipe_loss(plain, y + green, y, post))
    floor = float(recipe_loss(plain, y, y, post))  # Charbonnier's epsilon, once per term
    assert float(recipe_loss(rec, y, y, post)) == pytest.approx(2 * floor, rel=1e-4)


def test_wb_loss_weighs_each_plane_by_its_white_balance_gain():
    """loss.wb: the raw loss on white-balanced planes, so an error in the red plane costs the
    same error in green times the ratio of the samples' red and green gains (Charbonnier is about
    L1 there)."""
    import torch

    from edgeden.core import isp
    from edgeden.training import data as D
    from edgeden.training.batches import DomainMap
    from edgeden.training.recipe import Recipe
    from edgeden.training.trainer import recipe_loss

    g = torch.Generator().manual_seed(0)
    b = D.raw_upi_batch(torch.rand(2, 3, 32, 32, generator=g), g)
    y = b["clean"] + 0.01
    post = DomainMap(camera=(b["wb"], b["ccm"]))
    rec = Recipe(name="t", arch="unet-s", domain="raw", loss={"charbonnier": 1.0, "wb": True})
    red, green = torch.zeros_like(y), torch.zeros_like(y)
    red[:, 0], green[:, 1] = 0.05, 0.05
    gains = isp.packed_gains(b["wb"])  # (N, 4): R, G, G, B
    excess = float(recipe_loss(rec, y + red, y, post)) / float(recipe_loss(rec, y + green, y, post))
    assert excess == pytest.approx(float(gains[:, 0].mean() / gains[:, 1].mean()), rel=0.05) and excess > 1.3


def test_frozen_dcnas_denoiser_under_a_new_classifier_branch(tmp_path, photo_dir):
    """A trained DC-NAS denoiser (no classifier) starts a joint network whose branch is new
    (``init_missing``): the frozen denoiser stays exactly as loaded, batch-norm statistics
    included, while the branch trains; an ``init`` that does not fit beyond the named modules is
    an error; and a run folder that holds a run is never started over without --resume."""
    from safetensors.torch import load_file

    from edgeden.training.trainer import build_model

    arch = {"widths": [8, 12], "stages": [["mb-k3-e3"], ["mb-k3-e3", "mb-k5-e3"]], "stem_stride": 2, "final_width": 4}
    r = _recipe(tmp_path, photo_dir, name="tiny-dcnas", arch="dcnas", arch_args=arch, zero_init=["head"],
                optim={"lr": 1e-3, "steps": 2, "warmup": 1})
    den = train(r, out_root=tmp_path / "runs")
    log = (den / "log.jsonl").read_text()
    with pytest.raises(ValueError, match="already holds a run"):
        train(r, out_root=tmp_path / "runs")
    assert (den / "log.jsonl").read_text() == log

    npz = _tiny_labelled(tmp_path)
    joint = {**arch, "num_classes": 10, "cls_widths": [16], "cls_stages": [["mb-k3-e3"]]}
    denoiser = ["stem", "enc", "up", "dec", "up_final", "dec_final", "head"]
    over = dict(arch="dcnas", arch_args=joint, init=str(den / "best.safetensors"), freeze=denoiser,
                data={"kind": "labelled", "file": str(npz), "val": 10, "batch": 4, "val_images": 10},
                noise={"kind": "awgn", "sigma": [0, 55], "val_levels": [15]}, loss={"ce": 1.0},
                optim={"lr": 1e-2, "steps": 2, "warmup": 1})
    with pytest.raises(RuntimeError, match="cls_"):  # strict by default
        train(_recipe(tmp_path, photo_dir, name="tiny-strict", **over), out_root=tmp_path / "runs")
    with pytest.raises(ValueError, match="beyond init_missing"):
        train(_recipe(tmp_path, photo_dir, name="tiny-part", init_missing=["cls_fc"], **over), out_root=tmp_path / "runs")
    r2 = _recipe(tmp_path, photo_dir, name="tiny-dcnas-cls", init_missing=["cls_enc", "cls_fc"], **over)
    run = train(r2, out_root=tmp_path / "runs")
    w, w_den, w0 = load_file(str(run / "last.safetensors")), load_file(str(den / "best.safetensors")), build_model(r2).state_dict()
    assert all(torch.equal(w[k], v) for k, v in w_den.items())  # running_mean / running_var too
    assert any("running_mean" in k for k in w_den)
    assert any(not torch.equal(w[k], w0[k]) for k in w if k.startswith("cls_"))


def test_ccm_loss_weighs_colour_errors_as_the_camera_matrix_does():
    """loss.ccm: the raw loss plus the same loss in the camera's linear colour (white balance,
    greens averaged, colour matrix), so an error in one plane (a colour error) costs more than the
    same-sized error in every plane alike (grey), relative to the plain loss; nothing changes
    without the key, and a perfect output costs only the losses' floor."""
    import torch

    from edgeden.training import data as D
    from edgeden.training.batches import DomainMap
    from edgeden.training.recipe import Recipe
    from edgeden.training.trainer import linear_colour, recipe_loss

    g = torch.Generator().manual_seed(0)
    b = D.raw_upi_batch(torch.rand(2, 3, 32, 32, generator=g), g)
    y = b["clean"] + 0.01
    c = linear_colour(y, b["wb"], b["ccm"])
    assert c.shape == (2, 3, 16, 16)
    grey = torch.ones_like(y) / torch.as_tensor(b["wb"])[:, [0, 1, 1, 2]].view(-1, 4, 1, 1)  # white after WB
    assert torch.allclose(linear_colour(grey, b["wb"], b["ccm"]), torch.ones(2, 3, 16, 16), atol=1e-4)  # rows sum to 1
    post = DomainMap(camera=(b["wb"], b["ccm"]))
    rec = Recipe(name="t", arch="unet-s", domain="raw", loss={"charbonnier": 1.0, "ccm": 1.0})
    plain = Recipe(name="t", arch="unet-s", domain="raw", loss={"charbonnier": 1.0})
    red = torch.zeros_like(y)
    red[:, 0] = 0.02
    flat = 0.005 * grey  # the same error in every plane, white after white balance
    extra_red = float(recipe_loss(rec, y + red, y, post)) - float(recipe_loss(plain, y + red, y, post))
    extra_flat = float(recipe_loss(rec, y + flat, y, post)) - float(recipe_loss(plain, y + flat, y, post))
    ratio_plain = float(recipe_loss(plain, y + red, y, post)) / float(recipe_loss(plain, y + flat, y, post))
    assert extra_red / extra_flat > ratio_plain  # the colour term weighs the colour error more
    floor = float(recipe_loss(plain, y, y, post))
    assert float(recipe_loss(rec, y, y, post)) == pytest.approx(2 * floor, rel=1e-4)
