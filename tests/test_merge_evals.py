"""lab/benchmarks/merge_evals.py: chunked eval results merge into the whole set's means."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "merge_evals", Path(__file__).resolve().parents[1] / "lab" / "benchmarks" / "merge_evals.py")
merge_evals = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(merge_evals)


def _chunk(images, seed, psnr, mps):
    return {"preset": "p", "data": f"/tmp/c{seed}", "images": images, "seed": seed, "threads": 1,
            "precision": "fp32", "conv_peak_gflops": 50.0 + seed,
            "results": [{"noise": "awgn:25", "psnr": psnr, "bm3d_psnr": psnr - 1, "mp_per_s": mps}]}


def test_merge_weights_by_images_and_times_speed():
    m = merge_evals.merge([_chunk(8, 0, 30.0, 1.0), _chunk(16, 8, 33.0, 2.0)], "kodak24")
    r = m["results"][0]
    assert m["images"] == 24 and m["data"] == "kodak24" and m["conv_peak_gflops"] == 50.0
    assert r["psnr"] == pytest.approx(32.0) and r["bm3d_psnr"] == pytest.approx(31.0)
    assert r["mp_per_s"] == pytest.approx(24 / (8 / 1.0 + 16 / 2.0))  # total MP / total time
    assert [c["seed"] for c in m["chunks"]] == [0, 8]


def test_merge_refuses_mixed_presets():
    other = {**_chunk(8, 8, 30.0, 1.0), "preset": "q"}
    with pytest.raises(ValueError, match="different presets"):
        merge_evals.merge([_chunk(8, 0, 30.0, 1.0), other], "kodak24")


def _start_chunk(start, images, psnr):
    return {**_chunk(images, 0, psnr, 1.0), "data": "kodak24", "start": start}


def test_merge_start_chunks_in_any_order():
    m = merge_evals.merge([_start_chunk(12, 12, 33.0), _start_chunk(0, 12, 31.0)], "kodak24")
    assert m["images"] == 24 and m["results"][0]["psnr"] == pytest.approx(32.0)
    assert [(c["start"], c["images"]) for c in m["chunks"]] == [(0, 12), (12, 12)]


@pytest.mark.parametrize("starts", [(0, 10), (0, 14), (2, 14)])
def test_merge_refuses_start_chunks_with_gap_or_overlap(starts):
    with pytest.raises(ValueError, match="gap or overlap"):
        merge_evals.merge([_start_chunk(starts[0], 12, 30.0), _start_chunk(starts[1], 12, 30.0)], "kodak24")


_bspec = importlib.util.spec_from_file_location(
    "beside_bm3d", Path(__file__).resolve().parents[1] / "lab" / "benchmarks" / "beside_bm3d.py")
beside_bm3d = importlib.util.module_from_spec(_bspec)
_bspec.loader.exec_module(beside_bm3d)


def test_beside_bm3d_pairs_only_runs_on_the_same_noise():
    """A preset's run is put beside a saved CBM3D run only when both saw the same noisy images
    (same set, count, seed; equal noisy-input PSNR / SSIM per level)."""
    ref = {"preset": "a", "data": "kodak24", "images": 24, "seed": 0, "results": [
        {"noise": "awgn:25", "psnr": 32.0, "noisy_psnr": 20.17, "noisy_ssim": 0.4, "bm3d_psnr": 31.9,
         "mp_per_s": 0.5, "bm3d_mp_per_s": 0.0075}]}
    ev = {"preset": "b", "data": "kodak24", "images": 24, "seed": 0, "threads": 1, "results": [
        {"noise": "awgn:25", "psnr": 31.0, "noisy_psnr": 20.17, "noisy_ssim": 0.4, "mp_per_s": 1.5}]}
    (row,) = beside_bm3d.pair(ev, ref)
    assert row["delta"] == pytest.approx(-0.9) and row["speedup"] == pytest.approx(200.0)
    with pytest.raises(ValueError, match="not the same noise"):
        beside_bm3d.pair({**ev, "results": [{**ev["results"][0], "noisy_psnr": 20.2}]}, ref)
    with pytest.raises(ValueError, match="seed"):
        beside_bm3d.pair({**ev, "seed": 1}, ref)


def test_beside_bm3d_compares_raw_runs_in_the_raw_domain():
    ref = {"preset": "a", "data": "kodak24", "images": 8, "seed": 0, "results": [
        {"noise": "raw:0.012", "raw_psnr": 35.0, "psnr": 27.0, "noisy_raw_psnr": 30.1, "noisy_psnr": 20.0,
         "noisy_ssim": 0.4, "bm3d_raw_psnr": 34.0, "bm3d_psnr": 25.2, "mp_per_s": 3.0, "bm3d_mp_per_s": 0.02}]}
    ev = {"preset": "b", "data": "kodak24", "images": 8, "seed": 0, "results": [
        {"noise": "raw:0.012", "raw_psnr": 34.5, "psnr": 26.0, "noisy_raw_psnr": 30.1, "noisy_psnr": 20.0,
         "noisy_ssim": 0.4, "mp_per_s": 2.0}]}
    (row,) = beside_bm3d.pair(ev, ref)
    assert row["domain"] == "raw" and row["delta"] == pytest.approx(0.5) and row["rendered_delta"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="not the same noise"):
        beside_bm3d.pair({**ev, "results": [{**ev["results"][0], "noisy_raw_psnr": 30.2}]}, ref)
