"""TSDN architecture and Expand-Shrink Learning surgery (edgeden.models.tsdn)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeden.models import create_arch, paper_figures, primary_output
from edgeden.models.tsdn import (
    TSDN,
    apply_esl_step,
    channel_shrink,
    esl_plan,
    layer_names,
    layer_shrink,
    tsdn_stage_spec,
)


def _macs(net: torch.nn.Module, shape: tuple[int, ...]) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.zeros(*shape))
    return fc.get_total_flops() / 2  # FlopCounterMode counts 2 FLOPs per multiply-accumulate


@pytest.fixture(scope="module")
def expanded() -> TSDN:
    torch.manual_seed(0)
    return create_arch("tsdn-expanded", in_channels=4).eval()


@pytest.mark.parametrize("arch", ["tsdn", "tsdn-expanded"])
@pytest.mark.parametrize("cin,h,w", [(4, 19, 23), (1, 8, 8), (3, 1, 5)])
def test_shapes_any_size(arch, cin, h, w):
    net = create_arch(arch, in_channels=cin).eval()
    x = torch.rand(2, cin, h, w)
    with torch.no_grad():
        out = net(x)
    assert isinstance(out, tuple) and len(out) == 2
    restored, stage1 = out
    assert restored.shape == x.shape and stage1.shape == x.shape
    assert restored.dtype == torch.float32
    assert torch.isfinite(restored).all() and torch.isfinite(stage1).all()
    assert primary_output(out) is restored


def test_tsdn_complexity_matches_paper():
    # Table I: 37.31 GFLOPs on a 1024x1024 raw = 4x512x512 packed, FLOPs = 2 x MACs.
    net = create_arch("tsdn", in_channels=4)
    gmacs = _macs(net, (1, 4, 64, 64)) * (512 / 64) ** 2 / 1e9  # convs: MACs scale with pixels
    fig = paper_figures("tsdn")
    assert fig["input"] == [4, 512, 512]
    assert gmacs == pytest.approx(fig["gmacs"], rel=2e-3)
    mib = sum(p.numel() for p in net.parameters()) * 4 / 2**20
    assert mib == pytest.approx(fig["weights_mb"], rel=0.05)


def test_expanded_stages_are_twice_as_wide_with_one_more_level(expanded):
    small = create_arch("tsdn", in_channels=4)
    for stage in ("stage_d", "stage_r"):
        s, e = small.specs[stage], expanded.specs[stage]
        assert len(e) == len(s) + 1
        for ls, le in zip(s, e):
            assert tuple(2 * w for w in ls.enc) == le.enc[: len(ls.enc)]
            if ls.dec:  # the small net's deepest level has no decoder convs; the expanded one's does
                assert tuple(2 * w for w in ls.dec) == le.dec
    # each expanded stage is the SID U-Net of Table I: 96.77 GFLOPs
    gflops = 2 * _macs(expanded, (1, 4, 32, 32)) * (512 / 32) ** 2 / 1e9
    assert gflops / 2 == pytest.approx(96.77, rel=2e-3)


def test_esl_plan_ends_at_tsdn_and_loads_into_fresh_preset(expanded):
    net = expanded
    plan = esl_plan(net)
    assert [k for k, _ in plan] == ["csl"] * 5 + ["lsl"] * 2
    # "2 or 4 layers" a step per sub-network (3x3 convs; plus the transposed conv feeding a level)
    per_stage = [sum(1 for n in names if n.startswith("stage_d.") and not n.endswith(".up")) for _, names in plan]
    assert per_stage == [2, 4, 4, 4, 4, 2, 2]
    for step in plan:
        net = apply_esl_step(net, step)
    fresh = create_arch("tsdn", in_channels=4)
    got = {k: v.shape for k, v in net.state_dict().items()}
    want = {k: v.shape for k, v in fresh.state_dict().items()}
    assert got == want
    fresh.load_state_dict(net.state_dict(), strict=True)
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        a, b = net.eval()(x), fresh.eval()(x)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


def test_channel_shrink_init1_copies_leading_channels(expanded):
    old = expanded
    new = channel_shrink(old, ["stage_d.levels.4.enc.0", "stage_r.levels.3.enc.1"])
    assert new is not old
    o, n = old.state_dict(), new.state_dict()
    # the shrunk conv: leading output channels (all input channels)
    w = o["stage_d.levels.4.enc.0.weight"]
    assert n["stage_d.levels.4.enc.0.weight"].shape == (256, 256, 3, 3)
    assert torch.equal(n["stage_d.levels.4.enc.0.weight"], w[:256])
    assert torch.equal(n["stage_d.levels.4.enc.0.bias"], o["stage_d.levels.4.enc.0.bias"][:256])
    # its consumer: leading input channels
    assert torch.equal(n["stage_d.levels.4.enc.1.weight"], o["stage_d.levels.4.enc.1.weight"][:, :256])
    # a skip feeding a concatenation [up (256), skip (256 -> 128)]: leading channels of each part
    wd = o["stage_r.levels.3.dec.0.weight"]
    assert torch.equal(n["stage_r.levels.3.dec.0.weight"], torch.cat([wd[:, :256], wd[:, 256:384]], 1))
    assert torch.equal(n["stage_r.levels.4.enc.0.weight"], o["stage_r.levels.4.enc.0.weight"][:, :128])
    # untouched layers are copied as they are
    assert torch.equal(n["stage_d.levels.0.enc.0.weight"], o["stage_d.levels.0.enc.0.weight"])
    # the old network is unchanged
    assert old.specs["stage_d"][4].enc == (512, 512)


def test_channel_shrink_is_exact_when_dropped_channels_are_unused():
    torch.manual_seed(1)
    net = create_arch("tsdn", in_channels=4).eval()
    # level 1 of stage_d has width 32; silence its last conv's trailing 16 channels downstream
    with torch.no_grad():
        net.stage_d.levels[2].enc[0].weight[:, 16:] = 0  # next level (after max-pool)
        net.stage_d.levels[1].dec[0].weight[:, 32 + 16:] = 0  # skip part of [up(32), skip(32)]
    small = channel_shrink(net, ["stage_d.levels.1.enc.1"])
    x = torch.rand(1, 4, 24, 24)
    with torch.no_grad():
        torch.testing.assert_close(small(x)[0], net(x)[0])
        torch.testing.assert_close(small(x)[1], net(x)[1])


def test_layer_shrink_init2_keeps_remaining_parameters(expanded):
    net = channel_shrink(expanded, [n for n in layer_names(expanded) if ".levels.4." in n or ".levels.3." in n])
    lvl4 = [n for n in layer_names(net, ("enc",)) if ".levels.4." in n]
    step1 = layer_shrink(net, lvl4)
    assert len(step1.specs["stage_d"]) == 4 and step1.specs["stage_d"][3].enc == (128, 128, 128, 128)
    o, n = net.state_dict(), step1.state_dict()
    for s in ("stage_d", "stage_r"):
        assert torch.equal(n[f"{s}.levels.3.enc.0.weight"], o[f"{s}.levels.3.enc.0.weight"])
        # former decoder conv: keeps the weights that read the skip part of [up(128), skip(128)]
        assert torch.equal(n[f"{s}.levels.3.enc.2.weight"], o[f"{s}.levels.3.dec.0.weight"][:, 128:])
        assert torch.equal(n[f"{s}.levels.3.enc.3.weight"], o[f"{s}.levels.3.dec.1.weight"])
        assert torch.equal(n[f"{s}.levels.2.up.weight"], o[f"{s}.levels.2.up.weight"])
        assert f"{s}.levels.3.up.weight" not in n
    step2 = layer_shrink(step1, [f"{s}.levels.3.enc.{j}" for s in ("stage_d", "stage_r") for j in (1, 2)])
    o, n = step1.state_dict(), step2.state_dict()
    assert torch.equal(n["stage_d.levels.3.enc.0.weight"], o["stage_d.levels.3.enc.0.weight"])
    assert torch.equal(n["stage_d.levels.3.enc.1.weight"], o["stage_d.levels.3.enc.3.weight"])
    # removing the middle 4 layers at once (Table IV, ESL2) gives the same network
    at_once = layer_shrink(net, lvl4 + [f"{s}.levels.3.{k}" for s in ("stage_d", "stage_r")
                                        for k in ("enc.1", "dec.0")])
    for k, v in step2.state_dict().items():
        assert torch.equal(at_once.state_dict()[k], v), k


def test_esl_surgery_rejects_invalid_requests():
    net = create_arch("tsdn", in_channels=4)
    with pytest.raises(ValueError):
        channel_shrink(net, ["stage_d.levels.0.enc.0"], factor=3)  # 16 not divisible by 3
    with pytest.raises(ValueError):
        channel_shrink(net, ["levels.0.enc.0"])  # stage missing
    with pytest.raises(ValueError):
        channel_shrink(net, ["stage_d.out"])  # network output
    with pytest.raises(ValueError):
        layer_shrink(net, ["stage_d.levels.1.dec.0", "stage_d.levels.1.dec.1"])  # empty decoder
    with pytest.raises(ValueError):
        layer_shrink(net, ["stage_d.levels.2.up"])


def test_forward_features_and_determinism():
    torch.manual_seed(3)
    a = create_arch("tsdn", in_channels=4).eval()
    torch.manual_seed(3)
    b = create_arch("tsdn", in_channels=4).eval()
    x = torch.rand(1, 4, 13, 17)
    with torch.no_grad():
        img, feats = a.forward_features(x)
        torch.testing.assert_close(img, a(x)[0])
        torch.testing.assert_close(b(x)[0], a(x)[0], rtol=0, atol=0)
    assert len(feats) == 8
    assert [f.shape[1] for f in feats] == [16, 32, 64, 128] * 2
    assert feats[0].shape[-2:] == (16, 24)  # padded to a multiple of 8


def test_custom_spec_and_residual_flag():
    torch.manual_seed(4)
    spec = tsdn_stage_spec([8, 16])
    res = TSDN(3, spec_d=spec).eval()
    plain = TSDN(3, spec_d=spec, residual=False).eval()
    plain.load_state_dict(res.state_dict())
    x = torch.rand(1, 3, 6, 10)
    with torch.no_grad():
        assert res(torch.zeros(1, 3, 5, 7))[0].shape == (1, 3, 5, 7)
        # the residual stage adds exactly its input
        torch.testing.assert_close(res.stage_d(x), plain.stage_d(x) + x)
