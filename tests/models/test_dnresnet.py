"""DN-ResNet / DS-DN-ResNet: shapes, paper figures, cascade growth and incremental evolution."""
import copy

import pytest
import torch
from torch import nn

from edgeden.models import create_arch, paper_figures
from edgeden.models.dnresnet import DNResNet, DSResBlock, ResBlock, evolve_one, grow, init_paper_


def _weights(net: nn.Module) -> int:
    return sum(p.numel() for n, p in net.named_parameters() if n.endswith("weight"))


@pytest.mark.parametrize("name", ["dnresnet", "dsdnresnet"])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("hw", [(1, 1), (7, 12), (17, 9)])
def test_shapes(name, channels, hw):
    net = create_arch(name, in_channels=channels, num_blocks=1).eval()
    x = torch.rand(2, channels, *hw)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and y.dtype == torch.float32 and torch.isfinite(y).all()


def test_out_channels_and_residual():
    net = create_arch("dnresnet", in_channels=4, out_channels=3, num_blocks=0)
    assert net(torch.rand(1, 4, 8, 8)).shape == (1, 3, 8, 8)
    net = create_arch("dnresnet", in_channels=3, num_blocks=1, residual=True)
    for p in net.tail.parameters():
        nn.init.zeros_(p)
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(net(x), x)  # tail zero -> output is the global skip alone


@pytest.mark.parametrize("name,blocks", [("dnresnet", 5), ("dsdnresnet", 5)])
def test_weight_counts_against_paper(name, blocks):
    net = create_arch(name, in_channels=1)
    assert net.num_layers == 3 + 2 * blocks == 13
    paper = paper_figures(name)["params"]
    # the paper counts weights only (Table 1); DS-DN-ResNet is 16 off in the paper (see module doc)
    assert abs(_weights(net) - paper) <= (0 if name == "dnresnet" else 16)


def test_table1_progression():
    # Table 1: 57,184 weights for the 3-layer net, +18,432 per ResBlock
    net = create_arch("dnresnet", in_channels=1, num_blocks=0)
    counts = [_weights(net)]
    for _ in range(5):
        grow(net)
        counts.append(_weights(net))
    assert counts == [57184, 75616, 94048, 112480, 130912, 149344]


def test_macs_against_paper():
    from torch.utils.flop_counter import FlopCounterMode

    for name in ("dnresnet", "dsdnresnet"):
        net = create_arch(name, in_channels=1)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            net(torch.zeros(1, 1, 48, 64))  # 1/100 of the paper's 640x480 area
        gmacs = fc.get_total_flops() / 2 * 100 / 1e9
        assert gmacs == pytest.approx(paper_figures(name)["gmacs"], rel=0.01)


def test_resblock_has_no_relu_after_add():
    blk = ResBlock(4)
    for p in blk.parameters():
        nn.init.zeros_(p)
    x = -torch.rand(1, 4, 5, 5)  # negative input must pass through unchanged
    assert torch.equal(blk(x), x)


def test_grow_zero_init_preserves_function():
    g = torch.Generator().manual_seed(0)
    net = init_paper_(DNResNet(1, num_blocks=1), generator=g, std=0.05)
    x = torch.rand(2, 1, 16, 16, generator=g)
    before = net(x)
    grow(net, generator=g, zero_last=True)
    assert len(net.blocks) == 2 and isinstance(net.blocks[-1], ResBlock)
    assert torch.equal(net(x), before)


def test_grow_paper_init_changes_output_only_slightly():
    g = torch.Generator().manual_seed(1)
    net = init_paper_(DNResNet(1, num_blocks=0), generator=g, std=0.05)
    x = torch.rand(2, 1, 16, 16, generator=g)
    ref = copy.deepcopy(net)
    grow(net, generator=g)  # N(0, 0.001)
    new = net.blocks[-1]
    assert new.conv1.weight.std().item() == pytest.approx(1e-3, rel=0.1)
    assert torch.all(new.conv1.bias == 0)
    diff = (net(x) - ref(x)).abs().max().item()
    assert 0 < diff < 1e-3 * ref(x).abs().max().item()  # relative change well under 0.1 %
    # the other layers were inherited
    assert torch.equal(net.head[0].weight, ref.head[0].weight)
    assert torch.equal(net.tail.weight, ref.tail.weight)


def test_grow_is_reproducible_with_generator():
    a, b = DNResNet(1, num_blocks=0), DNResNet(1, num_blocks=0)
    b.load_state_dict(a.state_dict())
    grow(a, generator=torch.Generator().manual_seed(7))
    grow(b, generator=torch.Generator().manual_seed(7))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_evolve_tail_first_until_none_left():
    net = create_arch("dnresnet", in_channels=1, num_blocks=3)
    kept = [copy.deepcopy(b.state_dict()) for b in net.blocks]
    g = torch.Generator().manual_seed(0)
    assert evolve_one(net, generator=g)
    assert [type(b) for b in net.blocks] == [ResBlock, ResBlock, DSResBlock]
    # untouched blocks keep their weights
    for i in (0, 1):
        for k, v in net.blocks[i].state_dict().items():
            assert torch.equal(v, kept[i][k])
    assert abs(net.blocks[2].pw.weight.std().item() - 1e-3) < 3e-4
    assert evolve_one(net, generator=g) and evolve_one(net, generator=g)
    assert all(isinstance(b, DSResBlock) for b in net.blocks)
    assert not evolve_one(net)
    # fully evolved net has the DS-DN-ResNet layout
    ds = create_arch("dsdnresnet", in_channels=1, num_blocks=3)
    assert [k for k, _ in net.state_dict().items()] == [k for k, _ in ds.state_dict().items()]
    assert net(torch.rand(1, 1, 9, 9)).shape == (1, 1, 9, 9)


def test_evolve_zero_last_block_is_identity():
    net = create_arch("dnresnet", in_channels=1, num_blocks=1)
    assert evolve_one(net, zero_last=True)
    x = torch.randn(1, 32, 6, 6)
    assert torch.equal(net.blocks[0](x), x)


def test_jit_trace_and_determinism():
    torch.manual_seed(0)
    a = create_arch("dsdnresnet", in_channels=3, num_blocks=2)
    torch.manual_seed(0)
    b = create_arch("dsdnresnet", in_channels=3, num_blocks=2)
    x = torch.rand(1, 3, 10, 13)
    assert torch.equal(a(x), b(x))
    traced = torch.jit.trace(a, torch.rand(1, 3, 8, 8))
    assert torch.allclose(traced(x), a(x), atol=1e-6)
