"""``edgeden search``: DC-NAS, a latency-targeted architecture search on this machine
(docs/search.md; :mod:`edgeden.training.search`)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def _size(text: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in text.lower().replace("*", "x").split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise typer.BadParameter(f"{text!r}: expected HxW in pixels, e.g. 256x256")
    return parts[0], parts[1]


def search_cmd(
    target_ms: Annotated[Optional[float], typer.Option("--target-ms", min=0.0, help="Target latency in ms per image of --size (per megapixel with --per-mp).")] = None,
    target_like: Annotated[Optional[str], typer.Option("--target-like", help="Instead of --target-ms: as fast as this network on this machine, a preset (unet-m-srgb) or ARCH[:key=value,...] (unet-m:b=16), measured with the table and again beside the candidates.")] = None,
    size: Annotated[str, typer.Option("--size", help="HxW of the image (or tile) the target refers to; the latency table is measured at it.")] = "256x256",
    per_mp: Annotated[bool, typer.Option("--per-mp", help="--target-ms is per megapixel (scaled to --size).")] = False,
    task: Annotated[str, typer.Option("--task", help="denoise (a denoiser) or joint (denoiser + classifier, DC-NAS).")] = "denoise",
    budget_hours: Annotated[float, typer.Option("--budget-hours", min=0.0, help="Wall-clock bound of the whole search, table included.")] = 1.0,
    device: Annotated[str, typer.Option("--device", help="Torch device the latency is measured and searched on: cpu, cuda, cuda:1 ...")] = "cpu",
    out: Annotated[Path, typer.Option("--out", help="Folder for lut.json, search_log.jsonl, pareto.md/json, recipe.yaml.")] = Path("search"),
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Search steps (default: as many as the budget allows).")] = None,
    ops: Annotated[int, typer.Option("--ops", help="Candidate blocks per position: 4, 6 or 8 (the paper's Suppl. B sets; 4 has no SE).")] = 4,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads (measured with, and recorded in the table).")] = None,
    lut: Annotated[Optional[Path], typer.Option("--lut", help="Reuse a latency table (lut.json of an earlier search with the same space and size).")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed calls per table entry (median).")] = 30,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed calls per table entry first.")] = 10,
    data: Annotated[Optional[str], typer.Option("--data", help="Training photos folder (denoise) or labelled .npz (joint); default: the base recipe's.")] = None,
    patch: Annotated[int, typer.Option("--patch", min=16, help="Training crop size of the search (denoise).")] = 64,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size of the search.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    widths: Annotated[Optional[str], typer.Option("--widths", help="Channels of the encoder levels, comma-separated, or auto (default): the shape 16,24,40,80 scaled until the target lies inside the space, measured here before the table.")] = None,
    depths: Annotated[Optional[str], typer.Option("--depths", help="Searched blocks per encoder level, comma-separated (default 1,2,3,4; as many as --widths).")] = None,
) -> None:
    """Search a DC-NAS denoiser (or joint model) for a latency target on this machine; writes a
    training recipe of the architecture found."""
    from edgeden.cli.common import fail

    hw = _size(size)
    if task not in ("denoise", "joint"):
        fail(f"--task must be denoise or joint, got {task!r}", 2)
    if ops not in (4, 6, 8):
        fail(f"--ops must be 4, 6 or 8, got {ops}", 2)
    if (target_ms is None) == (target_like is None):
        fail("give a target: --target-ms T or --target-like NETWORK (one of them)", 2)
    if target_ms is not None and target_ms <= 0:
        fail("--target-ms must be positive", 2)
    if target_like is not None:
        if per_mp:
            fail("--per-mp goes with --target-ms, not --target-like", 2)
        from edgeden.training.latency import parse_arch_spec

        try:
            parse_arch_spec(target_like)
        except ValueError as e:
            fail(f"--target-like: {e}", 2)
    if lut is not None and not lut.is_file():
        fail(f"no such latency table: {lut}", 2)
    space: dict = {}
    auto = widths is None or widths.strip() == "auto"
    for name, text in (("widths", widths), ("depths", depths)):
        if text is None or (name == "widths" and auto):
            continue
        try:
            space[name] = [int(v) for v in text.split(",")]
        except ValueError:
            fail(f"--{name} must be integers separated by commas, got {text!r}", 2)
        if not space[name] or any(v < (1 if name == "widths" else 0) for v in space[name]):
            fail(f"--{name} must be positive integers, got {text!r}", 2)
    from edgeden.training.search import SearchConfig, run_search

    dkey = {}
    if data:
        dkey = {"file": data} if task == "joint" else {"train": data}
    cfg = SearchConfig(target_ms=target_ms or 0.0, target_like=target_like, size=hw, per_mp=per_mp, task=task, ops=ops, budget_hours=budget_hours,
                       steps=steps, device=device, threads=threads, data=dkey, patch=patch, batch=batch, seed=seed,
                       lut_warmup=warmup, lut_repeats=repeats, lut=str(lut) if lut else None, space=space, auto_widths=auto)

    def progress(what: str, info: dict) -> None:
        if what == "widths":
            typer.echo("scaling the space's widths to the target ...", err=True)
        elif what == "widths_done":
            p = info["probes"][-1]
            typer.echo(f"widths {','.join(map(str, info['widths']))} ({len(info['probes'])} probes; last: fastest "
                       f"{p['fastest_ms']:.2f}, slowest {p['slowest_ms']:.2f}, target {p['target_ms']:.2f} ms)", err=True)
        elif what == "lut":
            typer.echo(f"measuring the latency table at {hw[0]}x{hw[1]} on {device} ...", err=True)
        elif what == "lut_done":
            lo, hi = info["range_ms"]
            like = f" (the latency of {target_like} here)" if target_like else ""
            typer.echo(f"space spans {lo:.2f} .. {hi:.2f} ms; target {info['target_ms']:.2f} ms{like}"
                       + ("" if lo <= info["target_ms"] <= hi else "  (outside: the nearest network is taken)"), err=True)
        elif what == "step":
            typer.echo(f"step {info['step']}/{info['of']} {info['phase']}: loss {info['loss_w']:.4f}, "
                       f"arg-max network {info['argmax_ms']:.2f} ms", err=True)
        elif what == "pareto":
            typer.echo(f"measuring {info['candidates']} candidate networks ...", err=True)

    try:
        res = run_search(cfg, out, progress)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    c = res["chosen"]
    typer.echo(f"chosen: predicted {c['predicted_ms']:.2f} ms, measured {c['measured_ms']:.2f} ms "
               f"({c['measured_vs_target_pct']:+.1f}% of the {c.get('reference_ms', res['target_ms']):.2f} ms target"
               + (f": {target_like} measured beside it" if target_like else "") + "), "
               f"quick PSNR {c['psnr']} dB" + (f", accuracy {c.get('acc')}" if task == "joint" else ""))
    typer.echo(f"{res['steps']} steps ({res['stopped']}); recipe: {res['recipe']} (edgeden train {res['recipe']})")
    typer.echo(f"table, log and Pareto table in {out}")


def register(app: typer.Typer) -> None:
    app.command("search")(search_cmd)
