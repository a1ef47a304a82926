"""One model-input contract: the trainer and the pipeline hand the network identical tensors for
the same image and noise (ModelSpec is the only place the input is built)."""
from __future__ import annotations

import pytest
import torch

from edgeden.core import precision
from edgeden.core.types import NoiseParams
from edgeden.pipeline import denoise_array
from edgeden.presets import Preset
from edgeden.training import data as D
from edgeden.training.recipe import Recipe
from edgeden.training.batches import BatchSource


class Recorder(torch.nn.Module):
    """Records its input; returns the image channels unchanged."""

    def __init__(self, c: int):
        super().__init__()
        self.c, self.seen = c, None

    def forward(self, t):
        self.seen = t.clone()
        return t[:, : self.c]


def _source(recipe: Recipe) -> BatchSource:
    src = BatchSource.__new__(BatchSource)  # make() needs only the recipe (no photo folder)
    src.recipe = recipe
    return src


def _preset(r: Recipe) -> Preset:
    return Preset(name=r.name, arch=r.arch, domain=r.domain, weights="none", sha256="0", noise_map=r.noise_map,
                  ksigma=r.ksigma, k_ref=r.k_ref, gain_target=r.gain_target)


@pytest.fixture(autouse=True)
def _fp32():
    precision.set_precision("fp32")
    yield
    precision.set_precision(None)


@pytest.mark.parametrize("ksigma,noise_map,gain", [(True, True, 0.4), (True, False, None), (False, True, 0.4),
                                                   (False, False, None)])
def test_raw_training_input_equals_the_pipelines(ksigma, noise_map, gain):
    r = Recipe(name="t", arch="unet-s", domain="raw", noise_map=noise_map, ksigma=ksigma,
               k_ref=2e-3 if ksigma else None, gain_target=gain, noise={"kind": "raw-upi"})
    clean = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    x, _, _ = _source(r).make(clean, torch.Generator().manual_seed(5), level=4e-3)
    # the same noisy sample, drawn again from the same generator state
    b = D.raw_upi_batch(clean, torch.Generator().manual_seed(5), dark_prob=0.0, dark_range=(0.02, 1.0), shot=4e-3,
                        shot_range=None)
    params = NoiseParams(shot=(float(b["shot"][0]),), read=(float(b["read"][0]),))
    rec = Recorder(4)
    denoise_array(b["noisy"], rec, _preset(r), params, tile=0, overlap=0)
    assert rec.seen.shape == x.shape == (1, r.model_in_channels, 32, 32)
    assert torch.equal(rec.seen, x)


def test_srgb_awgn_training_input_equals_the_pipelines():
    r = Recipe(name="t", arch="unet-s", domain="srgb", noise_map=True, noise={"kind": "awgn"})
    clean = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    x, _, _ = _source(r).make(clean, torch.Generator().manual_seed(7), level=25)
    noisy, sigma = D.awgn_batch(clean, (25, 25), torch.Generator().manual_seed(7))
    rec = Recorder(3)
    denoise_array(noisy, rec, _preset(r), NoiseParams(shot=(0.0,), read=(float(sigma[0] ** 2),)), tile=0, overlap=0)
    assert torch.equal(rec.seen, x)


def test_srgb_camera_noise_training_input_equals_the_pipelines():
    """Camera-like noise: the map comes from the noise the product estimates on the noisy image."""
    from edgeden.core.noise import estimate_noise_or_fallback

    r = Recipe(name="t", arch="unet-s", domain="srgb", noise_map=True, noise={"kind": "srgb-mixed"})
    clean = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    x, _, _ = _source(r).make(clean, torch.Generator().manual_seed(3), level="camera:0.004")
    noisy, _, _, _ = D.camera_srgb_batch(clean, torch.Generator().manual_seed(3), shot=0.004)
    rec = Recorder(3)
    denoise_array(noisy, rec, _preset(r), estimate_noise_or_fallback(noisy[0]), tile=0, overlap=0)
    assert torch.equal(rec.seen, x)


def test_recipe_and_exported_preset_share_one_spec():
    r = Recipe(name="t", arch="tsdn", domain="raw", noise_map=True, ksigma=True, k_ref=2e-3, gain_target=0.4)
    assert r.spec == _preset(r).spec and r.spec.in_channels == 5
