"""Noise subrange model array: member selection from noise parameters, one-file presets, and the
pipeline denoising each image with its member."""
from __future__ import annotations

import hashlib
import math

import pytest
import torch
import yaml
from safetensors.torch import save_file

from edgeden.models import create_arch
from edgeden.models.array import SubrangeArray, equivalent_shot

BOUNDS = [1e-4, 3.31e-4, 1.1e-3, 3.63e-3, 1.2e-2]


def _members(n=4, cin=5, cout=4):
    torch.manual_seed(0)
    return [create_arch("fanet", in_channels=cin, out_channels=cout, widths=(8, 16)) for _ in range(n)]


def test_equivalent_shot_inverts_the_upi_read_regression():
    from edgeden.core.noise import upi_mean_read

    assert equivalent_shot(2e-3, 0.0) == 2e-3
    # read noise alone, at UPI's mean read for S = 5e-3, counts as S = 5e-3
    assert math.isclose(equivalent_shot(0.0, float(upi_mean_read(5e-3))), 5e-3, rel_tol=1e-6)
    assert equivalent_shot(8e-3, float(upi_mean_read(5e-3))) == 8e-3


@pytest.mark.parametrize("shot, read, want", [(1.5e-4, 0, 0), (1e-3, 0, 1), (2e-3, 0, 2), (1.2e-2, 0, 3),
                                              (1e-6, 0, 0), (0.5, 0, 3), (0.0, 1e-4, 3)])
def test_member_for_picks_the_subrange(shot, read, want):
    arr = SubrangeArray(_members(), BOUNDS)
    assert arr.member_for(shot, read) == want


def test_bad_bounds_are_an_error():
    with pytest.raises(ValueError, match="increasing"):
        SubrangeArray(_members(2), [1e-3, 1e-4, 1e-2])
    with pytest.raises(ValueError, match="3 increasing"):
        SubrangeArray(_members(2), [1e-4, 1e-2])


def test_array_preset_loads_from_one_file_and_each_image_gets_its_member(tmp_path, monkeypatch):
    from edgeden.pipeline import denoise_array
    from edgeden.core.types import NoiseParams
    from edgeden.presets import reload_presets, build_model, get_preset, list_presets

    members = _members()
    with torch.no_grad():  # make the members distinguishable: member i adds i * 0.01
        for i, m in enumerate(members):
            m.tail.bias.fill_(0.01 * i)
    arr = SubrangeArray(members, BOUNDS)
    (tmp_path / "weights").mkdir()
    wp = tmp_path / "weights" / "tiny-array.safetensors"
    save_file({k: v.contiguous() for k, v in arr.state_dict().items()}, str(wp))
    doc = {"name": "tiny-array", "arch": "fanet", "arch_args": {"widths": [8, 16]}, "domain": "raw",
           "noise_map": True, "gain_target": 0.4, "weights": wp.name,
           "sha256": hashlib.sha256(wp.read_bytes()).hexdigest(), "array": {"shot_bounds": BOUNDS}}
    (tmp_path / "tiny-array.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(tmp_path))
    reload_presets()
    try:
        assert "tiny-array" in list_presets()
        pr = get_preset("tiny-array")
        net = build_model(pr)
        assert isinstance(net, SubrangeArray) and len(net.members) == 4
        x = torch.rand((1, 4, 32, 32), generator=torch.Generator().manual_seed(0)) * 0.4
        for shot, read, want in [(2e-4, 0.0, 0), (6e-3, 0.0, 3), (0.0, 1e-5, 2)]:
            p = NoiseParams(shot=(shot,) * 4, read=(read,) * 4)
            got = denoise_array(x, net, pr, p, tile=64, overlap=8)
            assert net.index == want
            direct = denoise_array(x, members[want].eval(), pr, p, tile=64, overlap=8)
            assert torch.equal(got, direct)
            other = denoise_array(x, members[(want + 1) % 4].eval(), pr, p, tile=64, overlap=8)
            assert not torch.allclose(got, other)
    finally:
        reload_presets()


def test_array_preset_without_bounds_is_refused(tmp_path):
    from edgeden.presets import parse_preset

    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "bad", "arch": "fanet", "domain": "raw", "weights": "w", "sha256": "0",
                                 "array": {"shot_bounds": [1e-3]}}))
    with pytest.raises(ValueError, match="shot_bounds"):
        parse_preset(p)
