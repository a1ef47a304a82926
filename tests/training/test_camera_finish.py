"""The camera-pipeline finish of the sRGB training noise: sharpening and JPEG of the noisy render."""
import pytest
import torch

from edgeden.training import data as D

pytestmark = pytest.mark.unit


def test_sharpen_zero_amount_is_identity_and_positive_amount_adds_contrast():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 16, 16, generator=g) * 0.5 + 0.25
    assert torch.equal(D.sharpen(img, torch.zeros(2)), img)
    out = D.sharpen(img, torch.ones(2))
    assert out.shape == img.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    assert float((out - out.mean()).std()) > float((img - img.mean()).std())  # edges amplified


def test_jpeg_roundtrip_quantises_and_lower_quality_loses_more():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(1, 3, 32, 32, generator=g)
    hi, lo = D.jpeg_roundtrip(img, [95]), D.jpeg_roundtrip(img, [20])
    assert hi.shape == img.shape and hi.dtype == torch.float32
    assert torch.allclose(hi * 255, (hi * 255).round(), atol=1e-4)  # 8-bit values
    assert float((lo - img).abs().mean()) > float((hi - img).abs().mean())


def test_camera_finish_sharpens_both_and_compresses_only_the_noisy_render():
    g = torch.Generator().manual_seed(2)
    clean = torch.rand(2, 3, 32, 32, generator=g)
    noisy = (clean + 0.05 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1)
    n2, t2 = D.camera_finish(noisy, clean, torch.Generator().manual_seed(3), (0.5, 0.5), None)
    assert torch.allclose(t2, D.sharpen(clean, torch.full((2,), 0.5)))
    assert torch.allclose(n2, D.sharpen(noisy, torch.full((2,), 0.5)))
    n3, t3 = D.camera_finish(noisy, clean, torch.Generator().manual_seed(3), (0.5, 0.5), (70, 70))
    assert torch.allclose(t3, t2) and not torch.allclose(n3, n2)
    assert torch.allclose(n3, D.jpeg_roundtrip(n2, [70, 70]))


def test_camera_finish_jpeg_prob_compresses_only_some_samples():
    g = torch.Generator().manual_seed(4)
    clean = torch.rand(16, 3, 16, 16, generator=g)
    noisy = (clean + 0.05 * torch.randn(16, 3, 16, 16, generator=g)).clamp(0, 1)
    n0, _ = D.camera_finish(noisy, clean, torch.Generator().manual_seed(5), (0.0, 0.0), (80, 80), jpeg_prob=0.0)
    assert torch.equal(n0, noisy)
    n, _ = D.camera_finish(noisy, clean, torch.Generator().manual_seed(5), (0.0, 0.0), (80, 80), jpeg_prob=0.5)
    full = D.jpeg_roundtrip(noisy, [80] * 16)
    same = [torch.equal(n[i], noisy[i]) for i in range(16)]
    assert 0 < sum(same) < 16  # some kept float, some compressed
    for i in range(16):
        assert same[i] or torch.equal(n[i], full[i])


def test_camera_jpeg_noise_spec_parses_and_makes_an_8bit_noisy_render():
    import numpy as np

    from edgeden.evaluate import NoiseSpec, make_noisy

    s = NoiseSpec.parse("camera:0.004:q80")
    assert (s.kind, s.level, s.jpeg, str(s)) == ("camera", 0.004, 80, "camera:0.004:q80")
    assert NoiseSpec.parse("camera:0.004").jpeg is None
    for bad in ("awgn:25:q80", "camera:0.004:80", "camera:0.004:q0", "camera:0.004:q96"):
        with pytest.raises(ValueError):
            NoiseSpec.parse(bad)
    clean = np.random.default_rng(0).random((32, 48, 3)).astype(np.float32)
    plain, jpeg = make_noisy(clean, NoiseSpec.parse("camera:0.004"), 3), make_noisy(clean, s, 3)
    assert torch.equal(plain["clean"], jpeg["clean"])  # the reference is the clean render either way
    x = jpeg["noisy"]
    assert x.shape == plain["noisy"].shape and torch.allclose(x * 255, (x * 255).round(), atol=1e-4)
    assert not torch.equal(x, plain["noisy"])


def test_cards_name_a_lab_recipe_by_its_lab_path():
    from edgeden.training.export import recipe_location

    assert recipe_location("unet-m-srgb-jpeg", "lab/recipes/unet-m-srgb-jpeg.yaml") == "lab/recipes/unet-m-srgb-jpeg.yaml"
    assert recipe_location("x", "/home/u/edgeden/lab/recipes/study/x.yaml") == "lab/recipes/study/x.yaml"
    assert recipe_location("dsdnresnet-srgb", "/anywhere/dsdnresnet-srgb.yaml") == "edgeden/training/recipes/dsdnresnet-srgb.yaml"
    assert recipe_location("y", None) == "edgeden/training/recipes/y.yaml"
