"""Peer denoisers (``edgeden.peers``) and ``edgeden eval --compare ffdnet,dncnn,pmrid --protocol``.

Tests that need the peers' weights read them from ``../shared/peers`` and skip cleanly without
it; the eval's notes and the protocol run without weights on tiny untrained presets.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeden import peers as pm
from edgeden.evaluate import (
    NoiseSpec,
    evaluate,
    finish_output,
    load_clean_set,
    make_noisy,
    psnr,
)

PEERS_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "peers").resolve()


@pytest.fixture(scope="module")
def peers_dir(shared_data) -> Path:
    """``../shared/peers`` (skips when absent; needs ``shared_data`` for the Kodak crops)."""
    if not (PEERS_DIR / "index.json").is_file():
        pytest.skip("../shared/peers is not present")
    return PEERS_DIR


@pytest.fixture(scope="module")
def kodak_crop(shared_data) -> np.ndarray:
    """A 96 x 96 crop of kodim01 (texture and edges), (H, W, 3) float32 in [0, 1]."""
    _, img = load_clean_set(str(shared_data / "test" / "Kodak24"), limit=1)[0]
    return np.ascontiguousarray(img[200:296, 300:396])


def _awgn(clean_hwc: np.ndarray, sigma: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    d = make_noisy(clean_hwc, NoiseSpec("awgn", sigma), seed)
    return d["noisy"], d["clean"]


def _psnr_t(a: torch.Tensor, b: torch.Tensor) -> float:
    return psnr(a[0].numpy(), b[0].numpy())


@pytest.fixture()
def no_peak(monkeypatch):
    """Skip the 1-second conv-peak measurement of each evaluation (speed is not tested here)."""
    import edgeden.evaluate as ev

    monkeypatch.setattr(ev, "conv_peak_gflops", lambda seconds=1.0: 0.0)


def _write_pngs(folder: Path, img: np.ndarray, n: int = 1) -> Path:
    import imageio.v3 as iio

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        iio.imwrite(folder / f"{i}.png", (np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    return folder


def test_architectures_match_index_and_load_strict(peers_dir):
    """Every network has exactly index.json's tensor names and shapes and loads with strict=True
    after the sha256 check."""
    index = json.loads((peers_dir / "index.json").read_text())
    assert set(index) == set(pm.ARCHS)
    for stem, entry in index.items():
        net = pm.ARCHS[stem]()
        shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
        assert shapes == entry["tensors"], stem
        assert sum(p.numel() for p in net.parameters()) == entry["params"], stem
        _, info = pm.load_peer(stem, peers_dir)
        assert info["sha256_checked"] and info["sha256"] == entry["sha256"]


def test_load_peer_refuses_a_mismatched_file(tmp_path, peers_dir):
    """A weights file whose sha256 differs from index.json is refused with one line."""
    (tmp_path / "index.json").write_text(json.dumps({"ffdnet_color": {"sha256": "0" * 64}}))
    (tmp_path / "ffdnet_color.safetensors").write_bytes((peers_dir / "ffdnet_color.safetensors").read_bytes())
    with pytest.raises(pm.PeerUnavailable, match="does not match index.json"):
        pm.load_peer("ffdnet_color", tmp_path)
    with pytest.raises(pm.PeerUnavailable, match="not found"):
        pm.load_peer("pmrid", tmp_path)


def test_ffdnet_denoises_a_kodak_crop(peers_dir, kodak_crop):
    net, _ = pm.load_peer("ffdnet_color", peers_dir)
    noisy, clean = _awgn(kodak_crop, 25)
    out = pm.run_ffdnet(net, noisy, 25 / 255)
    assert out.shape == noisy.shape
    assert _psnr_t(out, clean) > _psnr_t(noisy, clean) + 5
    odd = pm.run_ffdnet(net, noisy[..., :95, :93], 25 / 255)  # odd sizes: padded and cropped back
    assert odd.shape == (1, 3, 95, 93)


def test_dncnn_colour_and_grey_denoise_a_kodak_crop(peers_dir, kodak_crop):
    colour, _ = pm.load_peer("dncnn_color_blind", peers_dir)
    noisy, clean = _awgn(kodak_crop, 25)
    assert _psnr_t(pm.run_dncnn(colour, noisy), clean) > _psnr_t(noisy, clean) + 5
    grey, _ = pm.load_peer("dncnn_gray_blind", peers_dir)
    g = np.repeat(kodak_crop[:64, :64].mean(-1, keepdims=True), 3, -1)  # grey: each channel alone
    noisy, clean = _awgn(g, 25, seed=1)
    assert _psnr_t(pm.run_dncnn(grey, noisy), clean) > _psnr_t(noisy, clean) + 5


def test_pmrid_ksigma_is_the_identity_at_its_anchor():
    """At PMRID's own ISO-1600 noise (k = S*V, s = O*V^2) the k-sigma map is the identity."""
    v = pm.PMRID_V
    scale, offset = pm.pmrid_ksigma(pm.pmrid_k(1600) / v, pm.pmrid_s(1600) / v ** 2)
    assert scale == pytest.approx(1.0) and offset == pytest.approx(0.0, abs=1e-9)
    scale, offset = pm.pmrid_ksigma(2 * pm.pmrid_k(1600) / v, pm.pmrid_s(1600) / v ** 2)
    assert scale == pytest.approx(0.5)


def test_pmrid_denoises_a_synthetic_packed_raw(peers_dir):
    """A synthetic packed RGGB scene (smooth shading, edges) with raw Poisson-Gaussian noise."""
    from edgeden.core import noise as nm

    h = w = 64
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = 0.05 + 0.3 * xx + 0.2 * (yy > 0.5).float() + 0.1 * torch.sin(6 * math.pi * yy)
    clean = torch.stack([base * g for g in (0.5, 1.0, 1.0, 0.7)])[None].clamp(0, 1)
    shot = 0.01
    read = float(nm.upi_mean_read(shot))
    noisy = nm.add_poisson_gaussian(clean, shot, read, torch.Generator().manual_seed(0))
    net, _ = pm.load_peer("pmrid", peers_dir)
    out = pm.run_pmrid(net, noisy, shot, read)
    assert out.shape == noisy.shape
    assert _psnr_t(out, clean) > _psnr_t(noisy, clean) + 3


def test_eval_runs_peers_on_the_same_inputs(tiny_presets, no_peak, tmp_path, peers_dir, kodak_crop):
    """sRGB preset: ffdnet/dncnn rows beside ours (pmrid skipped with a note); raw preset: pmrid
    on the packed raw (the sRGB peers skipped with a note)."""
    folder = _write_pngs(tmp_path / "imgs", kodak_crop[:64, :64])
    notes: list[str] = []
    res = evaluate("tiny-srgb", str(folder), [NoiseSpec("awgn", 25)], peers=["ffdnet", "dncnn", "pmrid"],
                   peers_dir=peers_dir, on_note=notes.append)
    r = res["results"][0]
    for p in ("ffdnet", "dncnn"):
        assert r[f"{p}_psnr"] > r["noisy_psnr"] + 4 and 0 < r[f"{p}_ssim"] <= 1 and r[f"{p}_mp_per_s"] > 0
    assert "pmrid_psnr" not in r and len(notes) == 1 and notes[0].startswith("pmrid skipped")
    assert res["notes"] == notes and set(res["peers"]) == {"ffdnet", "dncnn"}
    notes.clear()
    res = evaluate("tiny-raw", str(folder), [NoiseSpec("raw", 0.01)], peers=["pmrid", "ffdnet"],
                   peers_dir=peers_dir, on_note=notes.append)
    r = res["results"][0]
    assert r["pmrid_raw_psnr"] > r["noisy_raw_psnr"] + 3 and "pmrid_psnr" in r and "ffdnet_psnr" not in r
    assert len(notes) == 1 and notes[0].startswith("ffdnet skipped")


def test_eval_without_peers_notes_once_and_still_returns_ours(tiny_presets, no_peak, tmp_path, monkeypatch):
    """An absent peers folder (or weights file) is one note naming the peer and where it looked;
    no traceback, exit 0, our own figures as usual."""
    from typer.testing import CliRunner

    from edgeden.cli import app
    from edgeden.demo import skimage_photo

    monkeypatch.delenv("EDGEDEN_PEERS", raising=False)
    folder = _write_pngs(tmp_path / "imgs", skimage_photo("coffee")[:40, :48])
    missing = tmp_path / "no-peers"
    args = ["eval", "tiny-srgb", "--data", str(folder), "--noise", "awgn:25", "--limit", "1",
            "--compare", "ffdnet,dncnn", "--threads", "1"]
    r = CliRunner().invoke(app, args + ["--peers-dir", str(missing), "--json"])
    assert r.exit_code == 0, r.output
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("edgeden: note:")]
    assert len(notes) == 1 and "ffdnet, dncnn not run" in notes[0] and str(missing) in notes[0]
    assert "Traceback" not in r.output
    res = json.loads(r.stdout)
    assert res["results"][0]["psnr"] > 0 and not any(k.startswith(("ffdnet_", "dncnn_")) for k in res["results"][0])
    empty = tmp_path / "empty-peers"
    empty.mkdir()
    monkeypatch.setenv("EDGEDEN_PEERS", str(empty))  # a folder without the file: named in the note
    r = CliRunner().invoke(app, args[:-2] + ["--compare", "ffdnet"])
    assert r.exit_code == 0, r.output
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("edgeden: note:")]
    assert len(notes) == 1 and "ffdnet not run" in notes[0] and str(empty / "ffdnet_color.safetensors") in notes[0]
    assert "awgn:25" in r.stdout and "FFDNet" not in r.stdout
    r = CliRunner().invoke(app, args[:-2] + ["--compare", "bm4d"])
    assert r.exit_code == 2 and "bm4d" in r.output


def test_finish_output_paper_rounds_to_8_bits():
    a = np.array([-0.2, 0.0, 0.5, 0.1234, 1.3], np.float32)
    assert np.array_equal(finish_output(a, "ours"), a)
    b = finish_output(a, "paper")
    assert b.min() == 0 and b.max() == 1 and np.allclose(b * 255, np.round(b * 255), atol=1e-4)
    assert b[3] == pytest.approx(31 / 255)


def test_paper_protocol_measures_8_bit_outputs(tiny_presets, no_peak, tmp_path, monkeypatch):
    """``protocol="paper"``: every denoiser output reaches PSNR/SSIM clipped and rounded to
    8 bits; ``ours`` measures the float output; the noisy input is never clipped."""
    import edgeden.evaluate as ev
    from edgeden.demo import skimage_photo

    folder = _write_pngs(tmp_path / "imgs", skimage_photo("coffee")[:40, :48])
    seen: list[np.ndarray] = []
    real = ev.psnr
    monkeypatch.setattr(ev, "psnr", lambda a, b: (seen.append(np.array(a)), real(a, b))[1])
    on_grid = lambda a: bool(a.min() >= 0 and a.max() <= 1 and np.allclose(a * 255, np.round(a * 255), atol=1e-4))
    res = ev.evaluate("tiny-srgb", str(folder), [NoiseSpec("awgn", 50)], protocol="paper")
    assert res["protocol"] == "paper"
    den, noisy = seen  # ours, then the noisy input
    assert on_grid(den) and not on_grid(noisy) and (noisy.min() < 0 or noisy.max() > 1)
    seen.clear()
    ev.evaluate("tiny-srgb", str(folder), [NoiseSpec("awgn", 50)], protocol="ours")
    assert not on_grid(seen[0])
    with pytest.raises(ValueError, match="protocol"):
        ev.evaluate("tiny-srgb", str(folder), [NoiseSpec("awgn", 50)], protocol="papers")


def test_eval_compares_other_presets_on_the_same_noisy_inputs(tiny_presets, no_peak, tmp_path):
    """``--compare PRESET`` runs another preset of the same domain on the very same noisy inputs
    (its own figures equal its own run's), and the side-by-side card table lists every method."""
    from edgeden.demo import skimage_photo
    from edgeden.training.export import side_by_side_table

    folder = _write_pngs(tmp_path / "imgs", skimage_photo("coffee")[:40, :48])
    spec = [NoiseSpec("awgn", 25)]
    both = evaluate("tiny-srgb", str(folder), spec, peers=["tiny-dcnet"])
    alone = evaluate("tiny-dcnet", str(folder), spec)
    r = both["results"][0]
    assert r["tiny-dcnet_psnr"] == alone["results"][0]["psnr"] and set(both["presets_compared"]) == {"tiny-dcnet"}
    assert r["noisy_psnr"] == alone["results"][0]["noisy_psnr"]
    lines = side_by_side_table(both, "tiny-dcnet")
    assert "`tiny-srgb` | `tiny-dcnet` |" in lines[2] and f"**{r['tiny-dcnet_psnr']:.2f}" in lines[4]
    with pytest.raises(ValueError, match="srgb preset"):
        evaluate("tiny-raw", str(folder), [NoiseSpec("raw", 0.01)], peers=["tiny-srgb"])
    with pytest.raises(ValueError, match="unknown peer"):
        evaluate("tiny-srgb", str(folder), spec, peers=["no-such-preset"])


def test_eval_runs_a_raw_preset_on_srgb_noise_as_denoise_runs_it_on_a_jpeg(tiny_presets, no_peak, tmp_path):
    """A raw preset beside an sRGB one gets the same sRGB noisy input and runs through
    unprocessing (the product's path for PNG/TIFF/JPEG), camera JPEG noise included."""
    from edgeden.demo import skimage_photo
    from edgeden.evaluate import load_clean_set, make_noisy, psnr
    from edgeden.pipeline import denoise_srgb_with_raw_model
    from edgeden.presets import build_model, get_preset

    folder = _write_pngs(tmp_path / "imgs", skimage_photo("coffee")[:40, :48])
    spec = NoiseSpec.parse("camera:0.004:q85")
    r = evaluate("tiny-srgb", str(folder), [spec], peers=["tiny-raw"])["results"][0]
    (_, clean), = load_clean_set(str(folder), None, 0)
    d = make_noisy(clean, spec, 0)
    p = get_preset("tiny-raw")
    den = denoise_srgb_with_raw_model(d["noisy"], build_model(p), p, None, p.tile, p.overlap)[0]
    want = psnr(den[0].permute(1, 2, 0).numpy(), d["clean"][0].permute(1, 2, 0).numpy())
    assert r["tiny-raw_psnr"] == pytest.approx(want, abs=1e-4) and r["noise"] == "camera:0.004:q85"
