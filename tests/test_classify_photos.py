"""The shipped classifier presets on photographs (issue 24): "none of these" on inputs that show
none of the classes, and floors on the hand-labelled photo set (docs/classify.md)."""
from __future__ import annotations

import pytest

from edgeden.presets import all_presets, build_model, get_preset

CLASSIFIERS = [n for n, p in all_presets().items() if p.classifier]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_textures_get_none_of_these(name):
    """A flat grey frame, stripes, a checkerboard and white noise show none of the classes: the
    shipped classifiers answer "none" (uncertain) for each."""
    from edgeden.classify import NONE_LABEL, PresetClassifier

    p = get_preset(name)
    clf = PresetClassifier(p, build_model(p))
    from edgeden.training.photo_eval import synthetic_textures

    for tex, img in synthetic_textures().items():
        c = clf(img)
        assert c["uncertain"] and c["label"] == NONE_LABEL, (name, tex, c["labels"][0], c["score"])


# Floors on the reported photo set (CBSD68 + McMaster, 86 photos, 9 of them showing one of the
# classes), clean photos, with each preset's shipped settings; measured figures in its card.
# Measured 2026-12-03: 0 confident wrong, 6 / 9 in-class right, AUROC 0.78.
FLOORS = {"dcnet": {"confident_wrong": 1, "top1_in_class_n": 6, "auroc": 0.75}}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_photo_set_floor(name, shared_data):
    from edgeden.training import photo_eval as P

    if name not in CLASSIFIERS:
        pytest.skip(f"{name} not installed")
    p = get_preset(name)
    c = p.classifier
    if "view" not in c:
        pytest.fail(f"{name}: no photo-chosen settings in its classifier block")
    net = build_model(p)
    rows = P.load_labels(P.REPORT_SETS)
    assert len(rows) == 86
    import torch

    from edgeden.classify import photo_views

    views = torch.stack([photo_views(P.read_photo(s, img), int(c.get("input_size", 32)), "multi") for s, img, _ in rows])
    lg = P.views_logits(net, views, c["view"], bool(p.noise_map))
    r = P.photo_metrics(lg, [r[2] for r in rows], c["class_names"], float(c["temperature"]), float(c["threshold"]),
                        c["score"])
    f = FLOORS[name]
    assert r["confident_wrong"] <= f["confident_wrong"], r
    assert r["top1_in_class_n"] >= f["top1_in_class_n"], r
    assert r["auroc"] >= f["auroc"], r
