"""``edgeden eval``: PSNR/SSIM and speed of a preset on clean test images with seeded noise."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer


PEER_LABELS = {"ffdnet": "FFDNet", "dncnn": "DnCNN-B", "pmrid": "PMRID"}


def eval_cmd(
    preset: Annotated[str, typer.Argument(help="Preset name (see `edgeden models`).")],
    data: Annotated[str, typer.Option("--data", help="kodak24, cbsd68, mcmaster, set12 or a folder of clean images.")] = "kodak24",
    noise: Annotated[List[str], typer.Option("--noise", help="awgn:SIGMA (0..255), camera:SHOT[:qQ] (raw noise rendered through the ISP, optionally saved as a JPEG of quality Q; sRGB presets) or raw:SHOT (raw presets); repeatable.")] = ["awgn:25"],  # noqa: B006
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Use only N images (the first N, or N from --start).")] = None,
    start: Annotated[int, typer.Option("--start", min=0, help="Skip the first N images (run a long evaluation in chunks; image i of the set keeps noise seed SEED + i).")] = 0,
    compare: Annotated[Optional[str], typer.Option("--compare", help="Comma-separated methods to run on the same noisy images: bm3d, ffdnet, dncnn (sRGB noise), pmrid (raw:SHOT), or other presets of the same domain (raw presets also beside an sRGB preset: they run through unprocessing, as on a JPEG). Peers' weights come from the peers folder.")] = None,
    peers_dir: Annotated[Optional[Path], typer.Option("--peers-dir", help="Folder of the peers' weights (default: $EDGEDEN_PEERS, else shared/peers beside this folder or a parent).")] = None,
    protocol: Annotated[str, typer.Option("--protocol", help="ours (outputs clipped, measured in float) or paper (the published benchmarks': outputs clipped and rounded to 8 bits before PSNR/SSIM; noise unclipped either way).")] = "ours",
    seed: Annotated[int, typer.Option("--seed", help="Noise seed (image i uses seed + i).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads (default: all cores).")] = None,
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 where the CPU has native bf16, else fp32), fp32 or bf16.")] = "auto",
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
    from edgeden.evaluate import PEERS, PROTOCOLS

    methods = [m.strip().lower() for m in (compare or "").split(",") if m.strip()]
    from edgeden.presets import list_presets

    names = set(list_presets())
    for m in methods:
        if m != "bm3d" and m not in PEERS and m not in names:
            fail(f"--compare {m!r}: choose from bm3d, {', '.join(PEERS)} or a preset name", EXIT_USAGE)
    if protocol not in PROTOCOLS:
        fail(f"--protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}", EXIT_USAGE)
    if "bm3d" in methods:
        try:
            import bm3d  # noqa: F401
        except ImportError:
            fail("--compare bm3d needs the optional bm3d package: pip install 'edgeden[bm3d]'")
    peers = [m for m in dict.fromkeys(methods) if m != "bm3d"]
    try:
        res = evaluate(preset, data, specs, limit=limit, compare_bm3d="bm3d" in methods, seed=seed,
                       start=start, peers=peers, peers_dir=peers_dir, protocol=protocol,
                       on_note=lambda m: typer.echo(f"edgeden: note: {m}", err=True))
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    proto = ", protocol paper (outputs rounded to 8 bits)" if res["protocol"] == "paper" else ""
    typer.echo(f"{res['preset']} on {res['data']} ({res['images']} images, seed {res['seed']}, "
               f"{res['threads']} threads, {res['precision']}, conv peak {res['conv_peak_gflops']} GFLOP/s{proto})")
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
        for p in [*res.get("peers", {}), *res.get("presets_compared", {})]:
            if f"{p}_psnr" not in r:
                continue
            peer = f"  {PEER_LABELS.get(p, p):>12}: {r[f'{p}_psnr']:.2f} dB / {r[f'{p}_ssim']:.3f}"
            if f"{p}_raw_psnr" in r:
                peer += f"  raw {r[f'{p}_raw_psnr']:.2f} dB"
            typer.echo(peer + f"  ({r[f'{p}_mp_per_s']:.3f} MP/s)")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
