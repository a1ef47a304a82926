"""Inference precision: fp32 is exact, bf16 autocast stays close, the choice is validated."""
from __future__ import annotations

import pytest
import torch

from edgeden.core import precision
from edgeden.pipeline import model_fn


@pytest.fixture(autouse=True)
def _reset():
    yield
    precision.set_precision(None)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(16, 3, 3, padding=1)).eval()


def test_fp32_is_the_plain_forward_and_bf16_is_close():
    net = _net()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = net(x)
    precision.set_precision("fp32")
    assert not precision.use_bf16()
    assert torch.allclose(model_fn(net)(x), ref, atol=1e-6)
    precision.set_precision("bf16")
    assert precision.use_bf16()
    out = model_fn(net)(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert (out - ref).abs().max().item() < 0.05 and not torch.equal(out, ref)


def test_auto_follows_the_cpu_and_bad_choices_are_refused(monkeypatch):
    precision.set_precision("auto")
    assert precision.use_bf16() == precision.native_bf16()
    with pytest.raises(ValueError, match="precision 'fp16'"):
        precision.set_precision("fp16")
    precision.set_precision(None)
    monkeypatch.setenv("EDGEDEN_PRECISION", "fp32")
    assert not precision.use_bf16()
    monkeypatch.setenv("EDGEDEN_PRECISION", "half")
    with pytest.raises(ValueError, match="EDGEDEN_PRECISION"):
        precision.use_bf16()
