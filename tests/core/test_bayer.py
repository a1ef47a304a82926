"""Tests for edgeden.core.bayer: normalisation, CFA unification, packing, augmentation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeden.core.bayer import (
    bayer_augment,
    cfa_offsets,
    crop_to_rggb,
    denormalise_mosaic,
    normalise_mosaic,
    pack_rggb,
    restore_cfa,
    unify_to_rggb,
    unpack_rggb,
)
from edgeden.core.types import CFA_PATTERNS

COLOUR_CODE = {"R": 0.0, "G": 1.0, "B": 2.0}


def colour_map(cfa: str, h: int, w: int) -> torch.Tensor:
    """(H, W) tensor whose value is the colour (0 R, 1 G, 2 B) of each pixel under ``cfa``."""
    block = torch.tensor([COLOUR_CODE[c] for c in cfa]).reshape(2, 2)
    return block.repeat((h + 1) // 2, (w + 1) // 2)[:h, :w]


def assert_rggb(cmap: torch.Tensor) -> None:
    assert torch.all(cmap[..., 0::2, 0::2] == 0)  # R at (even, even)
    assert torch.all(cmap[..., 0::2, 1::2] == 1)  # G1
    assert torch.all(cmap[..., 1::2, 0::2] == 1)  # G2
    assert torch.all(cmap[..., 1::2, 1::2] == 2)  # B at (odd, odd)


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
@pytest.mark.parametrize("hw", [(6, 8), (7, 8), (6, 9), (7, 9), (5, 5)])
def test_unify_restore_exact_and_rggb(cfa, hw):
    h, w = hw
    g = torch.Generator().manual_seed(0)
    m = torch.rand(2, 3, h, w, generator=g)  # leading batch dims
    u, pad = unify_to_rggb(m, cfa)
    assert u.shape[-2] % 2 == 0 and u.shape[-1] % 2 == 0
    assert torch.equal(restore_cfa(u, pad), m)
    # every pixel of the unified mosaic carries the colour of its RGGB position
    cu, pad2 = unify_to_rggb(colour_map(cfa, h, w), cfa)
    assert pad2 == pad
    assert_rggb(cu)
    # no pixel lost, at most one row/column added per side
    assert u.shape[-2] - h <= 2 and u.shape[-1] - w <= 2


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_crop_to_rggb(cfa):
    cm = colour_map(cfa, 9, 10)
    c = crop_to_rggb(cm, cfa)
    assert c.shape[-2] % 2 == 0 and c.shape[-1] % 2 == 0
    assert c.shape[-2] >= 7 and c.shape[-1] >= 8
    assert_rggb(c)


def test_cfa_offsets():
    assert cfa_offsets("GRBG") == {"R": [(0, 1)], "G": [(0, 0), (1, 1)], "B": [(1, 0)]}
    with pytest.raises(ValueError):
        cfa_offsets("XYZW")


def test_pack_unpack_roundtrip_and_planes():
    g = torch.Generator().manual_seed(1)
    m = torch.rand(2, 1, 6, 8, generator=g)
    p = pack_rggb(m)
    assert p.shape == (2, 1, 4, 3, 4)
    assert torch.equal(p[..., 0, :, :], m[..., 0::2, 0::2])
    assert torch.equal(p[..., 1, :, :], m[..., 0::2, 1::2])
    assert torch.equal(p[..., 2, :, :], m[..., 1::2, 0::2])
    assert torch.equal(p[..., 3, :, :], m[..., 1::2, 1::2])
    assert torch.equal(unpack_rggb(p), m)
    with pytest.raises(ValueError):
        pack_rggb(torch.zeros(5, 4))


def test_normalise_denormalise_roundtrip():
    rng = np.random.default_rng(0)
    black = (512.0, 520.0, 516.0, 508.0)
    white = 16383
    m = rng.integers(0, white + 1, size=(7, 10)).astype(np.uint16)
    x = normalise_mosaic(m, black, white)
    assert x.dtype == torch.float32 and x.shape == (7, 10)
    # per-position black level
    assert float(x[0, 1]) == pytest.approx((float(m[0, 1]) - 520) / (white - 520), rel=1e-6)
    assert float(x[1, 1]) == pytest.approx((float(m[1, 1]) - 508) / (white - 508), rel=1e-6)
    # below-black values stay negative (unbiased noise)
    assert (x < 0).any() == bool((m < 508).any())
    back = denormalise_mosaic(x, black, white)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, m)
    # outputs clipped to [0, white]
    clipped = denormalise_mosaic(torch.tensor([[-1.0, 2.0], [0.5, 0.0]]), black, white)
    assert clipped[0, 0] == 0 and clipped[0, 1] == white


def test_bayer_augment_keeps_rggb_and_is_seeded():
    cm = colour_map("RGGB", 8, 10)
    shapes = set()
    seen_flips = set()
    for seed in range(12):
        out = bayer_augment(cm, torch.Generator().manual_seed(seed))
        assert_rggb(out)
        shapes.add(tuple(out.shape))
        seen_flips.add(bool(torch.rand(3, generator=torch.Generator().manual_seed(seed))[0] < 0.5))
    assert shapes == {(6, 8)}
    assert seen_flips == {True, False}
    # flipped content really is mirrored
    ids = torch.arange(80.0).reshape(8, 10)
    a = bayer_augment(ids, torch.Generator().manual_seed(3), p_hflip=1.0, p_vflip=0.0)
    assert torch.equal(a, torch.flip(ids, dims=(-1,))[:6, 1:9])
    # same seed -> same result
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(bayer_augment(ids, g1), bayer_augment(ids, g2))
    # transposition keeps RGGB too
    t = bayer_augment(colour_map("RGGB", 8, 8), torch.Generator().manual_seed(0), transpose=True)
    assert_rggb(t)


def test_normalise_pack_rggb_equals_normalise_then_pack():
    from edgeden.core.bayer import normalise_pack_rggb

    rng = np.random.default_rng(3)
    m = rng.integers(0, 4096, size=(6, 10), dtype=np.uint16)
    m[0, 0], m[1, 1] = 0, 3  # below black
    for black in ((64,), (60, 64, 66, 70)):
        got = normalise_pack_rggb(m, black, 4095)
        want = pack_rggb(normalise_mosaic(m, black, 4095))
        assert got.dtype == torch.float32 and got.shape == (4, 3, 5)
        assert torch.equal(got, want)
        assert float(got.min()) < 0  # below-black values stay negative, as normalise_mosaic keeps them
    with pytest.raises(ValueError, match="even"):
        normalise_pack_rggb(m[:5], (64,), 4095)
    with pytest.raises(ValueError, match="exceed"):
        normalise_pack_rggb(m, (5000,), 4095)


def test_denormalise_unpack_rggb_equals_unpack_then_denormalise():
    from edgeden.core.bayer import denormalise_unpack_rggb

    g = torch.Generator().manual_seed(5)
    x = torch.rand(4, 300, 7, generator=g) * 1.2 - 0.1  # out-of-range values clip; > 256 rows: two strips
    for black in ((64,), (60, 64, 66, 70)):
        got = denormalise_unpack_rggb(x, black, 4095)
        want = denormalise_mosaic(unpack_rggb(x), black, 4095)
        assert got.dtype == np.uint16 and got.shape == (600, 14)
        assert np.array_equal(got, want)
