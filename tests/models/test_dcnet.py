"""MB2.5-M classifier and DC-Net (Integrated / Sequential): shapes, sharing, FLOPs, tracing."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from edgeden.models import create_arch, paper_figures, primary_output
from edgeden.models.dcnet import DCNet, DCNetSequential, MBClassifier, MBConv, group_norm

JOINT = ["dcnet", "dcnet-seq"]


def _flops(net, x):
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        net(x)
    return fc.get_total_flops()


@pytest.mark.parametrize("hw", [(28, 28), (1, 1), (5, 9), (33, 17)])
def test_classifier_logits_shape(hw):
    net = create_arch("mb2.5-m", in_channels=3, num_classes=7).eval()
    assert net.kind == "classifier"
    out = net(torch.rand(2, 3, *hw))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


def test_classifier_macs_match_paper():
    # Table 7: 350K "FLOPs" for MB2.5-M, read as MACs on a 1x28x28 MNIST digit (module doc)
    net = create_arch("mb2.5-m", in_channels=1)
    macs = _flops(net, torch.zeros(1, 1, 28, 28)) / 2
    paper = paper_figures("mb2.5-m")["gmacs"] * 1e9
    assert macs == pytest.approx(paper, rel=0.02)


def test_deeper_branch_layout_and_defaults():
    # depth / width3 / pool are opt-in: the defaults build the paper's two layers (same keys,
    # so weights trained before these options load), the options add MBConvs and a layer 3
    base = MBClassifier(8, width=16)
    assert base.layer3 is None and base.fc.in_features == 16
    assert sum(isinstance(m, MBConv) for m in base.modules()) == 1
    deep = MBClassifier(8, width=16, depth=2, width3=32, pool="avg")
    assert sum(isinstance(m, MBConv) for m in deep.layer2.modules()) == 2
    assert sum(isinstance(m, MBConv) for m in deep.layer3.modules()) == 2
    assert deep.fc.in_features == 32
    out = deep(torch.rand(3, 8, 16, 16))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    net = create_arch("dcnet", in_channels=3, b=8, m=1.5, width=16, depth=2, width3=24, cls_level=-3)
    assert net.classifier.fc.in_features == 24 and net.classify(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="pool"):
        MBClassifier(8, pool="mean")


def test_mbconv_expansion_and_skip():
    blk = MBConv(14, 14, 2.5)
    assert blk.hidden == 35 and blk.skip
    for p in blk.body[-1].parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(1, 14, 6, 6)
    assert torch.equal(blk(x), x)  # zero projection -> pure skip
    assert not MBConv(8, 14).skip
    assert group_norm(35).num_groups == 7 and group_norm(13).num_groups == 1


@pytest.mark.parametrize("name", JOINT)
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("hw", [(16, 16), (13, 21), (1, 3)])
def test_joint_shapes(name, channels, hw):
    net = create_arch(name, in_channels=channels, num_classes=5).eval()
    x = torch.rand(2, channels, *hw)
    with torch.no_grad():
        out = net(x)
        logits = net.classify(x)
    assert isinstance(out, tuple) and len(out) == 2
    img, lg = out
    assert img.shape == x.shape and primary_output(out) is img
    assert lg.shape == (2, 5) == logits.shape
    assert torch.allclose(logits, lg, atol=1e-6)


def test_out_channels_and_unet_overrides():
    net = create_arch("dcnet", in_channels=4, out_channels=3, num_classes=3, d=3, b=4, m=2.0, c=1)
    assert net.unet.widths == [4, 8, 16]
    img, lg = net(torch.rand(1, 4, 10, 10))
    assert img.shape == (1, 3, 10, 10) and lg.shape == (1, 3)
    seq = create_arch("dcnet-seq", in_channels=4, out_channels=3, num_classes=3, d=3, b=4, m=2.0, c=1)
    assert seq.classifier.layer1[0].in_channels == 3


def test_defaults_are_unet_s():
    net = create_arch("dcnet", in_channels=1)
    assert (net.unet.d, net.unet.widths) == (4, [8, 12, 18, 27])
    assert net.classifier.layer1[0].in_channels == 27  # bottleneck feeds the classifier


def test_integrated_shares_encoder_only():
    torch.manual_seed(0)
    net = create_arch("dcnet", in_channels=3)
    _, logits = net(torch.rand(2, 3, 16, 16))
    F.cross_entropy(logits, torch.tensor([1, 4])).backward()
    enc = [p.grad for p in net.unet.enc.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in enc)
    # the decoder is trained by the denoising loss only (paper Sec. 3.1)
    assert all(p.grad is None for p in list(net.unet.dec.parameters()) + list(net.unet.head.parameters()))


def test_sequential_classifier_reads_denoised_image():
    torch.manual_seed(0)
    net = create_arch("dcnet-seq", in_channels=3)
    x = torch.rand(2, 3, 16, 16)
    img, logits = net(x)
    assert torch.allclose(net.classifier(img), logits, atol=1e-6)
    F.cross_entropy(logits, torch.tensor([1, 4])).backward()
    assert net.unet.head.weight.grad is not None and net.unet.head.weight.grad.abs().sum() > 0


def test_integrated_classifier_is_cheap():
    # Table 1: Integrated costs the same as UNet-S alone, Sequential adds the classifier
    x = torch.zeros(1, 1, 28, 28)
    unet = _flops(create_arch("unet-s", in_channels=1), x)
    integ = _flops(create_arch("dcnet", in_channels=1), x)
    seq = _flops(create_arch("dcnet-seq", in_channels=1), x)
    cls = _flops(create_arch("mb2.5-m", in_channels=1), x)
    assert unet < integ < unet + 0.25 * cls
    assert seq == pytest.approx(unet + cls, rel=1e-3)


@pytest.mark.parametrize("name", JOINT + ["mb2.5-m"])
def test_determinism_and_trace(name):
    torch.manual_seed(3)
    a = create_arch(name, in_channels=3).eval()
    torch.manual_seed(3)
    b = create_arch(name, in_channels=3).eval()
    x = torch.rand(1, 3, 12, 20)
    with torch.no_grad():
        oa, ob = a(x), b(x)
    oa = oa if isinstance(oa, tuple) else (oa,)
    ob = ob if isinstance(ob, tuple) else (ob,)
    assert all(torch.equal(u, v) for u, v in zip(oa, ob))
    traced = torch.jit.trace(a, x)
    to = traced(x)
    to = to if isinstance(to, tuple) else (to,)
    assert all(torch.allclose(u, v, atol=1e-5) for u, v in zip(to, oa))


def test_classes_exported():
    assert isinstance(create_arch("dcnet"), DCNet)
    assert isinstance(create_arch("dcnet-seq"), DCNetSequential)
    assert isinstance(create_arch("mb2.5-m"), MBClassifier)


@pytest.mark.parametrize("arch", JOINT)
def test_denoise_path_equals_the_image_output_without_the_classifier(arch):
    """``denoise`` (what the product runs on photo tiles) is forward's image output exactly."""
    torch.manual_seed(0)
    net = create_arch(arch, in_channels=4, out_channels=3, b=8, m=2.0, width=16).eval()
    x = torch.rand(2, 4, 37, 30)
    with torch.no_grad():
        assert torch.equal(net.denoise(x), net(x)[0])
