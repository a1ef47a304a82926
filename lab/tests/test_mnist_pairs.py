"""The Sec. 3 controlled data set: two non-overlapping digits on a grey background."""
from __future__ import annotations

import numpy as np
import torch

from edgeden_lab.mnist_pairs import DIGIT, crops, split_digits, two_digit_images


def test_two_digit_images_layout_and_crops():
    rng = np.random.default_rng(0)
    digits = np.zeros((20, 28, 28), np.uint8)
    digits[:, 4:24, 10:18] = 255  # a bar, so crops can be checked
    labels = rng.integers(0, 10, 20)
    imgs, boxes, labs = two_digit_images(digits, labels, 50, torch.Generator().manual_seed(0))
    assert imgs.shape == (50, 1, 96, 96) and labs.shape == (50, 2)
    bg = imgs[:, 0, 0, 0]
    for i in range(50):
        (y0, x0), (y1, x1) = boxes[i].tolist()
        assert max(abs(y0 - y1), abs(x0 - x1)) >= DIGIT  # no overlap
        corner = imgs[i, 0]
        assert 0.1 <= float(corner.min()) and float(corner.max()) == 1.0
    c = crops(imgs, boxes)
    assert c.shape == (100, 1, 28, 28) and torch.all(c[:, 0, 4:24, 10:18] == 1.0)
    assert torch.all((bg >= 0.1) & (bg <= 0.3))


def test_split_digits_is_disjoint():
    x = np.arange(10 * 28 * 28, dtype=np.uint8).reshape(10, 28, 28)
    (a, _), (b, _) = split_digits(x, np.arange(10))
    assert len(a) == 8 and len(b) == 2 and not set(map(bytes, a)) & set(map(bytes, b))


def test_feature_crops_cover_the_digit_at_every_stride():
    """Each fixed-size feature crop holds every feature cell its digit touches."""
    from edgeden_lab.mnist_experiment import feature_crops

    boxes = torch.tensor([[[0, 0], [68, 68]], [[37, 5], [3, 61]], [[11, 29], [50, 50]]])
    for stride in (1, 2, 4, 8):
        side = 96 // stride
        k = -(-DIGIT // stride) + 1
        for i in range(len(boxes)):
            for j in range(2):
                feat = torch.zeros(len(boxes), 1, side, side)
                y0, x0 = boxes[i, j].tolist()
                feat[i, 0, y0 // stride:(y0 + DIGIT - 1) // stride + 1, x0 // stride:(x0 + DIGIT - 1) // stride + 1] = 1
                c = feature_crops(feat, boxes, stride)
                assert c.shape == (2 * len(boxes), 1, k, k)
                assert float(c[2 * i + j].sum()) == float(feat.sum()), (stride, i, j)


def test_mnist_experiment_runs_end_to_end_tiny(tmp_path, shared_data):
    from edgeden_lab import mnist_experiment as mx

    out = tmp_path / "t"
    assert mx.main(["--out", str(out), "--train-images", "16", "--test-images", "4", "--steps", "2",
                    "--batch", "4"]) == 0
    import json

    res = json.loads((tmp_path / "t.json").read_text())
    for m in res["models"].values():
        assert [r["sigma"] for r in m["levels"]] == mx.LEVELS
        assert m["cost"]["macs"] > 40e6 and m["cost"]["latency_ms"] > 0
    assert "## Verdict" in (tmp_path / "t.md").read_text()
