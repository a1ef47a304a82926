"""FA-Net family (edgeden.models.fanet): shapes, wiring of Feature-Align and shrunk skips,
features for distillation, tracing, and complexity beside the paper's figures."""
from __future__ import annotations

import pytest
import torch

from edgeden.models import create_arch, paper_figures
from edgeden.models.complexity import measure
from edgeden.models.fanet import ARNetBlock, FANet, FeatureAlign, feature_align

ARCHS = ["fanet", "fanet-unet", "fanet-noskip"]


def _net(name: str, c: int = 4, seed: int = 0) -> FANet:
    torch.manual_seed(seed)
    return create_arch(name, in_channels=c).eval()


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("c,h,w", [(1, 17, 23), (3, 5, 9), (4, 32, 48), (4, 1, 1)])
def test_shapes(name, c, h, w):
    net = _net(name, c)
    x = torch.rand(2, c, h, w)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and y.dtype == torch.float32 and torch.isfinite(y).all()


def test_out_channels_override():
    net = create_arch("fanet", in_channels=4, out_channels=1).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 4, 10, 12)).shape == (1, 1, 10, 12)


@pytest.mark.parametrize("name", ARCHS)
def test_deterministic_under_seed(name):
    x = torch.rand(1, 4, 19, 21)
    with torch.no_grad():
        a, b = _net(name, seed=5)(x), _net(name, seed=5)(x)
        c = _net(name, seed=6)(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ARCHS)
def test_jit_trace(name):
    net = _net(name, 3)
    x1, x2 = torch.rand(1, 3, 20, 28), torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        traced = torch.jit.trace(net, x1)
        torch.testing.assert_close(traced(x2), net(x2), rtol=1e-4, atol=1e-5)


def test_forward_features_for_distillation():
    net = _net("fanet")
    x = torch.rand(1, 4, 30, 34)  # padded to 32 x 48
    with torch.no_grad():
        img, feats = net.forward_features(x)
        torch.testing.assert_close(img, net(x))
    assert len(feats) == 2 * (net.depth - 1) == 8
    assert [f.shape[1] for f in feats] == [16, 32, 64, 128, 64, 32, 16, 8]
    assert feats[3].shape[-2:] == (2, 3) and feats[-1].shape[-2:] == (32, 48)
    assert all(f.requires_grad is False for f in feats)


def test_feature_align_is_identity_at_zero_and_affine():
    f = torch.randn(2, 3, 4, 5)
    assert torch.equal(feature_align(f, torch.zeros_like(f), torch.zeros_like(f)), f)
    g, b = torch.full_like(f, 0.5), torch.full_like(f, -1.0)
    torch.testing.assert_close(feature_align(f, g, b), 1.5 * f - 1.0)
    layer = FeatureAlign(3, guide_channels=2)
    guide = torch.randn(2, 2, 4, 5)
    gb = layer.to_gamma_beta(guide)
    torch.testing.assert_close(layer(f, guide), f * (1 + gb[:, :3]) + gb[:, 3:])


def test_feature_align_wiring_matches_plain_unet_when_heads_are_zero():
    fa, plain = _net("fanet", seed=1), _net("fanet-unet", seed=2)
    missing = plain.load_state_dict(fa.state_dict(), strict=False)
    assert not missing.missing_keys and all(k.startswith(("guide", "fa_")) for k in missing.unexpected_keys)
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(fa(x), plain(x))  # Feature-Align changes the result ...
        for m in fa.modules():
            if isinstance(m, FeatureAlign):
                m.to_gamma_beta.weight.zero_()
                m.to_gamma_beta.bias.zero_()
        torch.testing.assert_close(fa(x), plain(x))  # ... and nothing else differs


def test_shrunk_skip_wiring_matches_noskip_when_skips_are_zero():
    full, noskip = _net("fanet", seed=1), _net("fanet-noskip", seed=2)
    noskip.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith("skip.")})
    assert all(full.skip[i].out_channels * full.skip_ratio == w for i, w in enumerate(full.widths[:-1]))
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(full(x), noskip(x))
        for conv in full.skip:
            conv.weight.zero_()
            conv.bias.zero_()
        torch.testing.assert_close(full(x), noskip(x))


def test_arnet_block():
    blk = ARNetBlock(8, 16, expansion=5, group_channels=4, stride=2)
    assert blk.group.groups == 8 * 5 // 4 and not blk.shortcut
    assert blk(torch.rand(1, 8, 9, 10)).shape == (1, 16, 5, 5)
    res = ARNetBlock(16, 16, expansion=5, group_channels=4)
    assert res.shortcut
    with torch.no_grad():
        res.project.weight.zero_()
        res.project.bias.zero_()
        x = torch.rand(1, 16, 6, 6)
        assert torch.equal(res(x), x)  # inverted *residual*
    with pytest.raises(ValueError):
        ARNetBlock(3, 3, expansion=1, group_channels=2)


@pytest.mark.parametrize("name,params_tol,macs_tol", [("fanet", 0.03, 0.03), ("fanet-unet", None, 0.03),
                                                      ("fanet-noskip", None, 0.03)])
def test_complexity_close_to_paper(name, params_tol, macs_tol):
    paper = paper_figures(name)
    c, h, w = paper["input"]
    m = measure(name, c, 64, 64)  # fully convolutional: scale MACs per pixel to the paper's input
    gmacs = m["macs_per_mp"] * (h * w / 1e6) / 1e9
    assert gmacs == pytest.approx(paper["gmacs"], rel=macs_tol)
    if params_tol is not None:
        assert m["params"] == pytest.approx(paper["params"], rel=params_tol)


def test_ablations_are_cheaper_than_fanet():
    full = measure("fanet", 4, 64, 64)
    for name in ("fanet-unet", "fanet-noskip"):
        m = measure(name, 4, 64, 64)
        assert m["params"] < full["params"] and m["macs"] < full["macs"]


def test_invalid_configs():
    with pytest.raises(ValueError):
        FANet(4, widths=(8,))
    with pytest.raises(ValueError):
        FANet(4, widths=(6, 12, 24), skip_ratio=4)
