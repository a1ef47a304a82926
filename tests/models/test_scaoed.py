"""ScaoedNet / ScaoedNet-lite: shapes, wiring, residual path, and the paper's complexity figures."""
import pytest
import torch
from torch import nn

from edgeden.models import create_arch, paper_figures
from edgeden.models.complexity import measure
from edgeden.models.scaoed import ScaoedNet, nfae


def _tiny(in_channels=3, **kw):
    return ScaoedNet(in_channels, **{"K": 2, "T": 2, "nf": 8, "block_convs": 1, "de_convs": 1, "ini_convs": 1,
                                     "g_convs": 1, **kw})


def test_nfae_gate_bounds_and_constant_input():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 7, 9, generator=g)
    y = nfae(x)
    ratio = y / x
    assert y.shape == x.shape
    # each gate is a sigmoid of a non-negative argument: in [1/2, 1), so the product is in [1/4, 1]
    assert (ratio >= 0.25 - 1e-6).all() and (ratio <= 1).all()
    assert (ratio < 0.9).any()  # low-deviation features are damped
    # zero variance everywhere -> both gates are sigmoid(0) = 1/2
    c = torch.full((1, 3, 4, 4), 0.5)  # exactly representable mean -> exactly zero variance
    assert torch.allclose(nfae(c), c * 0.25)


@pytest.mark.parametrize("name", ["scaoed-lite", "scaoed"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_shapes_and_noise_map(name, channels):
    kw = {"T": 2} if name == "scaoed" else {}
    net = create_arch(name, in_channels=channels, **kw).eval()
    for hw in [(1, 1), (17, 23)]:
        x = torch.rand(2, channels, *hw)
        with torch.no_grad():
            img, u = net(x)
        assert img.shape == x.shape and img.dtype == torch.float32 and torch.isfinite(img).all()
        assert u.shape == (2, 1, *hw) and torch.isfinite(u).all()


def test_out_channels_and_noise_channels():
    net = _tiny(4, out_channels=3, noise_channels=4)
    img, u = net(torch.rand(1, 4, 10, 6))
    assert img.shape == (1, 3, 10, 6) and u.shape == (1, 4, 10, 6)


def test_zero_decoder_gives_identity_with_residual():
    net = _tiny(3)
    nn.init.zeros_(net.decoder.weight)
    nn.init.zeros_(net.decoder.bias)
    x = torch.rand(1, 3, 9, 11)
    assert torch.equal(net(x)[0], x)
    net_plain = _tiny(3, residual=False)
    nn.init.zeros_(net_plain.decoder.weight)
    nn.init.zeros_(net_plain.decoder.bias)
    assert torch.equal(net_plain(x)[0], torch.zeros_like(x))


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    net = _tiny(3, K=3)
    img, u = net(torch.rand(2, 3, 8, 10))
    (img.square().mean() + u.square().mean()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, f"parameters outside the graph: {missing}"


def test_samples_are_independent():
    torch.manual_seed(0)
    net = _tiny(3).eval()
    x = torch.rand(3, 3, 12, 10)
    with torch.no_grad():
        joint = net(x)[0]
        single = torch.cat([net(x[i : i + 1])[0] for i in range(3)])
    assert torch.allclose(joint, single, atol=1e-6)


def test_invalid_stage_count():
    with pytest.raises(ValueError):
        ScaoedNet(3, K=0)


def test_weights_shared_over_stages_cost_linear_in_k():
    # one u-Net and one z-Net serve every stage: params fixed for K >= 2, MACs grow by a constant per stage
    m = {k: measure("scaoed-lite", 3, 32, 32, K=k) for k in (2, 3, 4)}
    assert m[2]["params"] == m[3]["params"] == m[4]["params"]
    assert m[3]["macs"] - m[2]["macs"] == pytest.approx(m[4]["macs"] - m[3]["macs"])
    assert m[3]["macs"] > m[2]["macs"]


def test_paper_complexity_figures():
    # paper (papers/004): about 3M params; 212 / 640 / 1071 G(MACs) at 512x512 for K = 1 / 3 / 5
    paper = paper_figures("scaoed")
    assert paper["input"] == [3, 512, 512]
    for k, gmacs in [(1, 212.0), (3, 640.0), (5, 1071.0)]:
        m = measure("scaoed", 3, 512, 512, K=k)
        assert m["macs"] / 1e9 == pytest.approx(gmacs, rel=0.04)
    assert m["macs"] / 1e9 == pytest.approx(paper["gmacs"], rel=0.04)
    assert m["params"] == pytest.approx(paper["params"], rel=0.15)


def test_lite_is_cpu_sized():
    m = measure("scaoed-lite", 3, 64, 64)
    assert 150_000 < m["params"] < 300_000
    assert m["macs_per_mp"] / 1e9 < 150  # under 150 GMACs per megapixel (DN-ResNet-13's cost)
    full = measure("scaoed", 3, 64, 64)
    assert m["macs_per_mp"] < full["macs_per_mp"] / 20
