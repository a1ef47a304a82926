"""Calibration and the sidecar classification schema (issue 5's pure parts)."""
from __future__ import annotations

import pytest
import torch

import math

from edgeden.classify import (
    NONE_LABEL, UNCERTAIN_BELOW, calibrated_probs, classification_field, expected_calibration_error, fit_temperature,
)

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _overconfident(n=4000, k=10, seed=0):
    """Logits of a classifier that is right ~60% of the time but says ~95%."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(k, (n,), generator=g)
    logits = torch.randn(n, k, generator=g)
    right = torch.rand(n, generator=g) < 0.6
    pred = torch.where(right, labels, torch.randint(k, (n,), generator=g))
    logits[torch.arange(n), pred] += 6.0
    return logits, labels


def test_temperature_scaling_reduces_ece_and_keeps_ranking():
    logits, labels = _overconfident()
    t = fit_temperature(logits[:2000], labels[:2000])
    assert t > 1.0  # overconfident -> softened
    before = expected_calibration_error(calibrated_probs(logits[2000:], 1.0), labels[2000:])
    after = expected_calibration_error(calibrated_probs(logits[2000:], t), labels[2000:])
    assert after < before / 2 and after < 0.1
    assert torch.equal(calibrated_probs(logits, t).argmax(1), logits.argmax(1))


def test_probabilities_sum_to_one_and_temperature_must_be_positive():
    p = calibrated_probs(torch.randn(7, 10), 1.7)
    assert torch.allclose(p.sum(1), torch.ones(7), atol=1e-6)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            calibrated_probs(torch.randn(10), bad)


def test_classification_field_schema():
    logits = torch.zeros(10)
    logits[3] = 5.0
    f = classification_field(logits, 1.0, NAMES, "cifar10", "thumbnail 32x32")
    assert set(f) == {"label", "labels", "class_list", "uncertain", "score", "threshold", "temperature", "method"}
    assert len(f["labels"]) == 5 and f["labels"][0]["label"] == "cat" and f["label"] == "cat"
    probs = [x["probability"] for x in f["labels"]]
    assert probs == sorted(probs, reverse=True) and f["uncertain"] is False
    assert f["score"] == {"kind": "msp", "value": probs[0]}
    flat = classification_field(torch.zeros(10), 1.0, NAMES, "cifar10", "thumbnail 32x32")
    assert flat["uncertain"] is True and flat["threshold"] == UNCERTAIN_BELOW
    assert flat["label"] == NONE_LABEL and flat["labels"][0]["label"] in NAMES  # the ranking is still shown
    # the energy score: flat logits of 0 give T log K; one strong logit far more
    e = classification_field(logits, 1.0, NAMES, "cifar10", "x", threshold=4.0, score="energy")
    assert e["score"]["kind"] == "energy" and e["score"]["value"] > 5.0 and e["label"] == "cat"
    ef = classification_field(torch.zeros(10), 1.0, NAMES, "cifar10", "x", threshold=4.0, score="energy")
    assert abs(ef["score"]["value"] - math.log(10)) < 1e-3 and ef["label"] == NONE_LABEL
    with pytest.raises(ValueError):
        classification_field(torch.zeros(9), 1.0, NAMES, "cifar10", "x")


def test_classify_flag_picks_the_most_accurate_classifier_preset():
    """--classify uses the installed classifier preset with the best measured accuracy (its own
    row of the joint table), not whichever is listed first."""
    from edgeden.presets import Preset, classifier_accuracy

    def p(name, acc):
        return Preset(name=name, arch="dcnet", domain="srgb", weights="w", sha256="0",
                      classifier={"class_names": NAMES},
                      provenance={"recipe": f"recipes/{name}-run.yaml",
                                  "joint_table": {f"{name}-run": [{"sigma": 0, "acc": acc}, {"sigma": 1, "acc": acc / 2}],
                                                  "other": [{"sigma": 0, "acc": 0.99}]}})
    assert abs(classifier_accuracy(p("a", 0.4)) - 0.3) < 1e-9
    assert classifier_accuracy(Preset(name="x", arch="unet-s", domain="srgb", weights="w", sha256="0")) == -1.0


def test_photo_views_show_the_frame_its_centre_and_a_smaller_centre():
    import numpy as np

    from edgeden.classify import photo_views

    img = np.zeros((60, 90, 3), np.uint8)
    img[:, 15:75] = 255  # the central 60x60 square is white, the sides black
    frame = photo_views(img, 8, "frame")
    centre = photo_views(img, 8, "centre")
    multi = photo_views(img, 8, "multi")
    assert frame.shape == centre.shape == (1, 3, 8, 8) and multi.shape == (3, 3, 8, 8)
    assert torch.allclose(centre, torch.ones_like(centre))  # only the white square
    assert frame[0, :, :, 0].max() < 0.01  # the squashed frame keeps the black sides
    assert torch.equal(multi[0], frame[0]) and torch.equal(multi[1], centre[0])
    with pytest.raises(ValueError):
        photo_views(img, 8, "saliency")


def test_photo_metrics_count_confident_wrong_labels_and_none_photos():
    from edgeden.training.photo_eval import auroc, photo_metrics

    strong = torch.zeros(4, 10)
    strong[0, 2] = strong[1, 8] = strong[2, 3] = 9.0  # bird, ship, cat (confident); photo 3 flat
    labels = ["bird", "airplane", "none", "none"]
    m = photo_metrics(strong, labels, NAMES, 1.0, 0.5)
    # photo 1 (airplane called ship) and photo 2 (none called cat) are confident and wrong;
    # photo 3 (none, flat) is flagged: the right answer
    assert m["confident_wrong"] == 2 and m["confident_wrong_frac"] == 0.5
    assert m["in_class"] == 2 and m["top1_in_class_n"] == 1 and m["flagged_none_frac"] == 0.5
    assert auroc([3, 4], [1, 2]) == 1.0 and auroc([1], [1]) == 0.5 and auroc([1, 2], [3, 4]) == 0.0
