"""``edgeden eval``: PSNR/SSIM and speed of a preset on clean test images with seeded noise."""
from __future__ import annotations

import json
from typing import List, Optional

import typer


def eval_cmd(
    preset: str = typer.Argument(..., help="Preset name (see `edgeden models`)."),
    data: str = typer.Option("kodak24", "--data", help="kodak24, cbsd68, mcmaster, set12 or a folder of clean images."),
    noise: List[str] = typer.Option(["awgn:25"], "--noise", help="awgn:SIGMA (0..255), camera:SHOT (raw noise rendered through the ISP, sRGB presets) or raw:SHOT (raw presets); repeatable."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only N images (the first N, or N from --start)."),
    start: int = typer.Option(0, "--start", min=0, help="Skip the first N images (run a long evaluation in chunks; "
                                                          "image i of the set keeps noise seed SEED + i)."),
    compare: Optional[str] = typer.Option(None, "--compare", help="'bm3d' to run BM3D on the same noisy images."),
    seed: int = typer.Option(0, "--seed", help="Noise seed (image i uses seed + i)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)."),
    precision: str = typer.Option("auto", "--precision",
                                  help="auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16."),
) -> None:
    """Measure PSNR/SSIM against clean references (and megapixels per second)."""
    from edgeden.cli.common import EXIT_USAGE, fail
    from edgeden.evaluate import NoiseSpec, evaluate

    try:
        specs = [NoiseSpec.parse(s) for s in noise]
    except ValueError as e:
        fail(str(e), EXIT_USAGE)
    from edgeden.cli.common import apply_precision

    apply_precision(precision)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if compare not in (None, "bm3d"):
        fail(f"--compare {compare!r}: only 'bm3d' is supported", EXIT_USAGE)
    if compare:
        try:
            import bm3d  # noqa: F401
        except ImportError:
            fail("--compare bm3d needs the optional bm3d package: pip install 'edgeden[bm3d]'")
    try:
        res = evaluate(preset, data, specs, limit=limit, compare_bm3d=bool(compare), seed=seed,
                       start=start)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    typer.echo(f"{res['preset']} on {res['data']} ({res['images']} images, seed {res['seed']}, "
               f"{res['threads']} threads, {res['precision']}, conv peak {res['conv_peak_gflops']} GFLOP/s)")
    for r in res["results"]:
        line = (f"  {r['noise']:>12}: noisy {r['noisy_psnr']:.2f} dB / {r['noisy_ssim']:.3f}  ->  "
                f"{r['psnr']:.2f} dB / {r['ssim']:.3f}  ({r['mp_per_s']:.2f} MP/s)")
        if "raw_psnr" in r:
            line += f"  raw {r['raw_psnr']:.2f} dB"
        if "bm3d_psnr" in r:
            line += f"  | BM3D {r['bm3d_psnr']:.2f} dB / {r['bm3d_ssim']:.3f}"
            if "bm3d_raw_psnr" in r:
                line += f"  raw {r['bm3d_raw_psnr']:.2f} dB"
            line += f" ({r['bm3d_mp_per_s']:.4f} MP/s)"
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
