import pytest
import torch

from edgeden.core.tiling import run_tiled


def _net(rf_layers: int, cin: int = 3, cout: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    layers, c = [], cin
    for i in range(rf_layers):
        nxt = cout if i == rf_layers - 1 else 8
        layers += [torch.nn.Conv2d(c, nxt, 3, padding=1)]
        if i < rf_layers - 1:
            layers.append(torch.nn.ReLU())
        c = nxt
    return torch.nn.Sequential(*layers).eval()


@pytest.mark.parametrize("h,w,tile,overlap", [(301, 257, 64, 16), (116, 130, 64, 16), (97, 203, 100, 8),
                                              (64, 64, 64, 16), (33, 500, 48, 12)])
def test_tiled_equals_untiled_when_receptive_field_fits(h, w, tile, overlap):
    net = _net(rf_layers=overlap // 4)  # receptive-field radius = number of 3x3 layers
    x = torch.rand(1, 3, h, w)
    with torch.no_grad():
        ref = net(x)
        out = run_tiled(net, x, tile, overlap)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 1e-5


def test_blend_is_a_partition_of_unity_for_many_sizes():
    for h in range(40, 140, 7):
        for w in (41, 77, 128, 129):
            x = torch.rand(1, 2, h, w)
            y = run_tiled(lambda t: t, x, 32, 8)
            assert torch.allclose(x, y, atol=1e-6)


def test_channel_change_and_progress_callback():
    calls = []
    x = torch.rand(2, 4, 90, 90)
    y = run_tiled(lambda t: t[:, :3] * 2, x, 40, 8, out_channels=3, on_tile=lambda d, n: calls.append((d, n)))
    assert y.shape == (2, 3, 90, 90)
    assert torch.allclose(y, x[:, :3] * 2, atol=1e-6)
    assert calls[-1][0] == calls[-1][1] > 1


def test_seams_not_visible_for_a_model_with_large_receptive_field():
    # A model whose receptive field exceeds the overlap is not exact, but the blend must not
    # leave a step: the error along tile boundaries is no larger than elsewhere.
    net = _net(rf_layers=12)
    x = torch.rand(1, 3, 200, 200)
    with torch.no_grad():
        ref = net(x)
        out = run_tiled(net, x, 64, 16)
    err = (out - ref).abs()
    assert err.max().item() < 0.05 * ref.abs().max().item()


def test_bad_arguments():
    with pytest.raises(ValueError):
        run_tiled(lambda t: t, torch.rand(1, 1, 100, 100), 16, 8)


@pytest.mark.parametrize("length,tile,overlap", [(768, 512, 32), (513, 512, 32), (6000, 512, 32), (97, 40, 8),
                                                 (1000, 256, 64), (300, 100, 0)])
def test_tiles_spread_evenly_with_no_work_beyond_the_overlap(length, tile, overlap):
    from edgeden.core.tiling import _spans

    spans = _spans(length, tile, overlap)
    n = len(spans)
    assert spans[0][0] == 0 and sum(spans[-1]) == length
    assert all(0 < size <= tile for _, size in spans)
    assert n == max(1, -(-(length - overlap) // (tile - overlap)))  # the fewest tiles that fit
    for (s0, z0), (s1, _) in zip(spans, spans[1:]):
        assert overlap <= s0 + z0 - s1 <= overlap + n  # each neighbour shares the overlap, no more
    assert sum(size for _, size in spans) <= length + (n - 1) * overlap + n
