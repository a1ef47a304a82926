"""Every shipped preset loads (sha256 checked) and denoises a fixed noisy crop above a floor.

Floors: measured on this crop when the preset was exported, minus 0.5 dB for float/thread
differences: resunet-srgb 32.20 dB at AWGN 25, 31.16 dB at camera noise S = 4e-3 and 30.95 dB as a
JPEG of quality 85 (weights stored as float16, bf16 on an AMX Xeon, 2026-12-08); unet-m-srgb 31.34 dB at AWGN 25, 30.48 dB at camera noise S = 4e-3 and 30.06 dB with
that noise saved as a JPEG of quality 85 (the camera-JPEG fine-tune, fp32, 2026-12-07);
dnresnet-srgb 32.51 dB at AWGN 25; tsdn 40.95 / 36.97 / 34.21 dB (its three members) and fanet-nsma 40.86 / 36.98 /
34.06 dB (weights sha 7ad24702, fp32, 2026-12-07) raw-domain at S = 1e-3 / 4e-3 / 1.2e-2 (so each array's members are exercised);
scaoed-lite 40.94 / 37.03 / 33.95 dB there; dcnet and dcnet-seq 31.28 dB at AWGN 25 (their
frozen denoiser: unet-m-srgb before its camera-JPEG fine-tune). A preset added without a floor here fails, so every new preset gets one.
"""
from __future__ import annotations

import pytest
import torch

from edgeden.pipeline import denoise_array
from edgeden.demo import skimage_photo
from edgeden.evaluate import NoiseSpec, _to_np, make_noisy, psnr
from edgeden.presets import PRESET_DIR, all_presets, build_model, list_presets

FLOORS = {"resunet-srgb": [("awgn:25", 31.7), ("camera:0.004", 30.65), ("camera:0.004:q85", 30.45)],
          "unet-m-srgb": [("awgn:25", 30.75), ("camera:0.004", 30.0), ("camera:0.004:q85", 29.5)],
          "tsdn": [("raw:0.001", 40.4), ("raw:0.004", 36.4), ("raw:0.012", 33.7)],
          "dnresnet-srgb": ("awgn:25", 32.3),  # measured 32.59 (bf16; 2026-12-02)
          "dsdnresnet-srgb": ("awgn:25", 31.0),  # measured 31.55 (bf16; 2026-12-02)
          # three levels: the array's members for S = 1e-3 (member 1) and S >= 3.6e-3 (member 3)
          "fanet-nsma": [("raw:0.001", 40.4), ("raw:0.004", 36.2), ("raw:0.012", 33.3)],
          "scaoed-lite": [("raw:0.001", 40.4), ("raw:0.004", 36.5), ("raw:0.012", 33.4)],
          "dcnet": ("awgn:25", 30.75), "dcnet-seq": ("awgn:25", 30.75)}
SHIPPED = [n for n in list_presets() if all_presets()[n].root == PRESET_DIR]


def test_the_default_presets_ship():
    from edgeden.presets import DEFAULT_PRESETS

    assert {"resunet-srgb", "unet-m-srgb", "tsdn"} <= set(SHIPPED)
    assert DEFAULT_PRESETS["rgb"][0] == "resunet-srgb" and DEFAULT_PRESETS["raw"][0] == "tsdn"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_quality_floor(name):
    assert name in FLOORS, f"preset {name} has no quality floor in this test"
    preset = all_presets()[name]
    net = build_model(preset)  # verifies the sha256
    clean = skimage_photo("astronaut")[100:228, 150:278]
    floors = FLOORS[name] if isinstance(FLOORS[name], list) else [FLOORS[name]]
    for spec, floor in floors:
        d = make_noisy(clean, NoiseSpec.parse(spec), 0)
        with torch.no_grad():
            den = denoise_array(d["noisy"], net, preset, d["params"], 0, 0)
        got = psnr(_to_np(den), _to_np(d["clean"]))
        noisy = psnr(_to_np(d["noisy"]), _to_np(d["clean"]))
        assert got > floor and got > noisy + 3.0, (name, spec, got, noisy)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_card_and_provenance(name):
    p = all_presets()[name]
    assert (PRESET_DIR / "cards" / f"{name}.md").exists()
    prov = p.provenance
    assert prov["params"] > 0 and prov["macs_per_mp"] > 0 and prov["quality"] and prov["cpu_hours"] > 0


# Classifier presets: top-1 accuracy floor on a fixed slice of the CIFAR-10 subset's test split
# (every 10th image: 200 images, 20 per class), clean and at sigma = 0.2 (51 of 255, inside the
# photo denoiser's range; seeded), through the product's code path (edgeden.classify.classifier_logits, thumbnail + mirror). Floors: the accuracy measured on this slice at
# export (see the preset's model card) minus 3 points.
ACC_FLOORS: dict[str, dict[float, float]] = {
    "dcnet": {0.0: 0.565, 0.2: 0.545},  # measured 0.595 / 0.575 (2026-12-02)
    "dcnet-seq": {0.0: 0.52, 0.2: 0.535},  # measured 0.550 / 0.565
}
CLASSIFIERS = [n for n in SHIPPED if all_presets()[n].classifier]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_shipped_classifier_accuracy_floor(name, shared_data):
    import numpy as np

    from edgeden.classify import calibrated_probs, classifier_logits, with_level_map

    assert name in ACC_FLOORS, f"classifier preset {name} has no accuracy floor in this test"
    z = np.load(shared_data / "cls" / "cifar10_subset.npz")
    x = torch.from_numpy(z["x_test"][::10]).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(z["y_test"][::10]).long()
    preset = all_presets()[name]
    net = build_model(preset)
    for sigma, floor in ACC_FLOORS[name].items():
        xn = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
        lg = classifier_logits(net, with_level_map(xn, preset.noise_map, sigma))
        acc = float((lg.argmax(1) == y).float().mean())
        p = calibrated_probs(lg, preset.classifier["temperature"])
        assert torch.allclose(p.sum(1), torch.ones(len(p)), atol=1e-5)
        assert acc >= floor, (name, sigma, acc, floor)


def test_classify_flag_uses_the_most_accurate_shipped_classifier():
    from edgeden.presets import classifier_accuracy, classifier_preset

    if not CLASSIFIERS:
        pytest.skip("no classifier preset shipped")
    best = classifier_preset()
    assert all(classifier_accuracy(best) >= classifier_accuracy(all_presets()[n]) for n in CLASSIFIERS)
    assert classifier_accuracy(best) > 0


def test_eval_chunks_reproduce_one_run(tmp_path):
    """``evaluate(start=...)``: chunks of a set get the noise a single run gives each image (image
    i keeps seed + i), so their image-weighted means equal the whole run's."""
    import imageio.v3 as iio

    from edgeden.evaluate import evaluate

    photo = (skimage_photo("astronaut") * 255).astype("uint8")
    for i in range(3):
        iio.imwrite(tmp_path / f"{i}.png", photo[40 * i:40 * i + 48, 100:148])
    specs = [NoiseSpec.parse("awgn:25")]
    whole = evaluate("dcnet", str(tmp_path), specs, seed=7, tile=0)["results"][0]["psnr"]
    parts = [evaluate("dcnet", str(tmp_path), specs, seed=7, tile=0, start=s, limit=n)
             for s, n in ((0, 2), (2, 1))]
    assert [p["start"] for p in parts] == [0, 2] and [p["images"] for p in parts] == [2, 1]
    merged = (2 * parts[0]["results"][0]["psnr"] + parts[1]["results"][0]["psnr"]) / 3
    assert merged == pytest.approx(whole, abs=2e-4)
    with pytest.raises(ValueError, match="no test images from index 3"):
        evaluate("dcnet", str(tmp_path), specs, start=3)
