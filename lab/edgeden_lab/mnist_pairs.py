"""The controlled data set of Markhorst et al. (papers/000, Sec. 3): grey images with a random
constant background in [0.1, 0.3] and two randomly placed, non-overlapping MNIST digits, whose
ground-truth boxes let a classifier be given the two digit crops.

Digits come from ``shared/data/cls/mnist_test10k.npz`` (MNIST's 10k test split): split them with
:func:`split_digits` so no digit image is used both for training and for testing.
Image size 96 x 96: the input size at which UNet-S costs the paper's 51.2 M FLOPs (taken as
MACs, see edgeden.models.dcnet).
"""
from __future__ import annotations

import numpy as np
import torch

SIZE = 96
DIGIT = 28


def split_digits(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2):
    """Deterministic split of digit images: the first (1 - f) for training, the rest for testing.

    x: (N, 28, 28) uint8, y: (N,) int. Returns ((x_train, y_train), (x_test, y_test)).
    """
    k = int(round(len(x) * (1 - test_fraction)))
    return (x[:k], y[:k]), (x[k:], y[k:])


def two_digit_images(digits: np.ndarray, labels: np.ndarray, n: int, gen: torch.Generator,
                     size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` clean images with two non-overlapping digits each.

    Args:
        digits: (M, 28, 28) uint8 digit images (white on black); labels: (M,) int.
        n: images to make; gen: torch.Generator (seeded -> reproducible); size: image side.
    Returns:
        images (n, 1, size, size) float32 in [0, 1] (background in [0.1, 0.3], digit pixels
        max(background, digit)), boxes (n, 2, 2) int64 top-left (y, x) of each 28x28 digit,
        labels (n, 2) int64.
    """
    imgs = torch.empty(n, 1, size, size)
    boxes = torch.empty(n, 2, 2, dtype=torch.long)
    labs = torch.empty(n, 2, dtype=torch.long)
    bg = 0.1 + 0.2 * torch.rand(n, generator=gen)
    d = torch.from_numpy(digits).float() / 255.0
    for i in range(n):
        img = torch.full((size, size), float(bg[i]))
        while True:
            pos = torch.randint(0, size - DIGIT + 1, (2, 2), generator=gen)
            if (pos[0] - pos[1]).abs().max() >= DIGIT:  # boxes do not overlap
                break
        idx = torch.randint(len(digits), (2,), generator=gen)
        for j in range(2):
            y0, x0 = int(pos[j, 0]), int(pos[j, 1])
            patch = img[y0:y0 + DIGIT, x0:x0 + DIGIT]
            img[y0:y0 + DIGIT, x0:x0 + DIGIT] = torch.maximum(patch, d[idx[j]])
            labs[i, j] = int(labels[idx[j]])
        imgs[i, 0], boxes[i] = img, pos
    return imgs, boxes, labs


def crops(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The 28x28 digit crops at the ground-truth boxes: (n, C, H, W), (n, 2, 2) -> (2n, C, 28, 28),
    ordered image by image (digit 0 then digit 1)."""
    out = [images[i, :, int(b[0]):int(b[0]) + DIGIT, int(b[1]):int(b[1]) + DIGIT]
           for i in range(len(images)) for b in boxes[i]]
    return torch.stack(out)
