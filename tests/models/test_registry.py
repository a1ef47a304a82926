"""Every registered architecture: shapes, duplicate names, determinism, tracing, paper figures;
and the complexity counter on layers with a known MAC count."""
import pytest
import torch
from torch import nn

from edgeden.models import create_arch, list_archs, paper_figures, primary_output, register_arch
from edgeden.models.complexity import arch_table, measure

ARCHS = list_archs()
# heavy at full size (31 M params / 4 M MACs per pixel): smaller inputs, fewer blocks
_SMALL = {"unet", "unet-orig", "scaoed", "tsdn-expanded"}
_KW = {"scaoed": {"T": 4}}


def _sizes(name: str) -> list[tuple[int, int]]:
    return [(17, 23), (16, 24)] if name in _SMALL else [(17, 23), (32, 48)]


def _is_classifier(model: nn.Module) -> bool:
    return getattr(type(model), "kind", None) == "classifier"


def _build(name: str, channels: int, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return create_arch(name, in_channels=channels, **_KW.get(name, {})).eval()


def _input(channels: int, hw: tuple[int, int], seed: int, n: int = 2) -> torch.Tensor:
    return torch.rand(n, channels, *hw, generator=torch.Generator().manual_seed(seed))


def _tensors(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def test_registry_lists_the_families():
    assert ARCHS == sorted(ARCHS) and len(set(ARCHS)) == len(ARCHS)
    assert {"unet-s", "unet-m", "unet", "scaoed", "scaoed-lite"} <= set(ARCHS)
    with pytest.raises(KeyError):
        create_arch("no-such-arch")


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_output_shape(name, channels):
    model = _build(name, channels)
    for hw in _sizes(name):
        x = _input(channels, hw, seed=1)
        with torch.no_grad():
            y = primary_output(model(x))
        assert y.dtype == torch.float32 and torch.isfinite(y).all()
        if _is_classifier(model):
            assert y.shape == (2, model.num_classes)
        else:
            assert y.shape == x.shape


@pytest.mark.parametrize("name", ARCHS)
def test_duplicate_registration_raises(name):
    before = type(create_arch(name, in_channels=3, **_KW.get(name, {})))
    with pytest.raises(ValueError):
        register_arch(name)(lambda in_channels, out_channels=None, **kw: nn.Identity())
    assert type(create_arch(name, in_channels=3, **_KW.get(name, {}))) is before  # registry unchanged


@pytest.mark.parametrize("name", ARCHS)
def test_deterministic_under_seed(name):
    x = _input(3, (17, 23), seed=2)
    a, b = _build(name, 3, seed=7), _build(name, 3, seed=7)
    with torch.no_grad():
        ya, yb = _tensors(a(x)), _tensors(b(x))
    assert len(ya) == len(yb)
    for ta, tb in zip(ya, yb):
        assert torch.equal(ta, tb)


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_jit_trace(name):
    model = _build(name, 3)
    x1, x2 = _input(3, (17, 23), seed=3), _input(3, (17, 23), seed=4)
    with torch.no_grad():
        traced = torch.jit.trace(model, x1, strict=False, check_trace=False)
        want, got = _tensors(model(x2)), _tensors(traced(x2))  # new values, same shape: nothing baked in
    assert len(want) == len(got)
    for w, g in zip(want, got):
        assert w.shape == g.shape
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ARCHS)
def test_paper_figure_convention(name):
    paper = paper_figures(name)
    assert {"params", "gmacs", "input", "source", "note"} <= set(paper), f"{name}: {sorted(paper)}"
    assert paper["params"] is None or (isinstance(paper["params"], int) and paper["params"] > 0)
    assert paper["gmacs"] is None or (isinstance(paper["gmacs"], float) and paper["gmacs"] > 0)
    assert paper["input"] is None or (len(paper["input"]) == 3 and all(int(v) > 0 for v in paper["input"]))
    assert isinstance(paper["source"], str) and isinstance(paper["note"], str)


# ----------------------------------------------------------------------------- complexity counter
def test_measure_single_conv():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    m = measure(conv, 3, 10, 12)
    assert m["params"] == 8 * 3 * 9 + 8
    assert m["macs"] == 10 * 12 * 8 * 3 * 9  # one MAC per weight per output pixel
    assert m["macs_per_mp"] == pytest.approx(m["macs"] / (10 * 12 / 1e6))


@pytest.mark.parametrize("layer,cin,hw,macs", [
    (nn.ConvTranspose2d(8, 4, 2, stride=2), 8, (5, 6), 5 * 6 * 8 * 4 * 4),          # each input pixel
    (nn.Conv2d(8, 16, 3, padding=1, groups=4), 8, (5, 6), 5 * 6 * 16 * 2 * 9),      # grouped
    (nn.Conv2d(6, 6, 3, padding=1, groups=6), 6, (5, 6), 5 * 6 * 6 * 9),            # depthwise
    (nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 5, 7)), 2, (4, 5), 40 * 7),      # linear
])
def test_measure_other_layers(layer, cin, hw, macs):
    assert measure(layer, cin, *hw)["macs"] == macs


def test_measure_by_name_matches_module_and_is_linear():
    by_name = measure("unet-s", 3, 64, 64)
    by_module = measure(create_arch("unet-s", 3), 3, 64, 64)
    assert by_name == by_module
    # fully convolutional: MACs per megapixel do not depend on size (multiples of 8 need no padding);
    # ScaoedNet's channel-attention MLPs add a small per-image constant
    for name, rel in (("unet-s", 1e-12), ("scaoed-lite", 1e-4)):
        a, b = measure(name, 3, 64, 64), measure(name, 3, 128, 96)
        assert a["macs_per_mp"] == pytest.approx(b["macs_per_mp"], rel=rel)


def test_arch_table_rows():
    rows = {r["name"]: r for r in arch_table()}
    assert sorted(rows) == ARCHS
    r = rows["unet-s"]
    direct = measure("unet-s", 3, 96, 96)  # the paper's input for this figure
    assert r["input"] == [3, 96, 96] and r["params"] == direct["params"]
    assert r["gmacs"] == pytest.approx(direct["macs"] / 1e9)
    assert r["dev_gmacs_pct"] == pytest.approx(100 * (r["gmacs"] - 0.0512) / 0.0512)
    assert abs(r["dev_gmacs_pct"]) < 10
    assert rows["unet-m"]["gmacs"] is None and rows["unet-m"]["dev_gmacs_pct"] is None
    grey = {r["name"]: r for r in arch_table(in_channels=1)}
    assert grey["unet-s"]["in_channels"] == 1 and grey["unet-s"]["params"] < r["params"]


def test_packaged_arch_table_is_current():
    """`edgeden models --archs` prints edgeden/models/arch_table.json without measuring: it must
    match a fresh measurement (regenerate: python -c "from edgeden.models.complexity import
    write_arch_table; write_arch_table()")."""
    import json

    from edgeden.models.complexity import ARCH_TABLE_JSON

    packed = {r["name"]: r for r in json.loads(ARCH_TABLE_JSON.read_text())}
    fresh = {r["name"]: r for r in arch_table()}
    assert sorted(packed) == sorted(fresh)
    for name, r in fresh.items():
        assert packed[name]["params"] == r["params"], name
        assert packed[name]["photo_gmacs_per_mp"] == pytest.approx(r["photo_gmacs_per_mp"], rel=1e-6), name
