"""``edgeden train RECIPE``: run a training recipe (YAML) with checkpoints and validation."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def train_cmd(
    recipe: Annotated[str, typer.Argument(help="Recipe YAML file or built-in recipe name (edgeden/training/recipes/).")],
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Total steps (default: the recipe's).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/NAME/state.safetensors.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for run outputs.")] = Path("runs"),
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads (default: the recipe's, else PyTorch's).")] = None,
) -> None:
    """Train a model from clean photographs with synthetic noise, as the recipe says."""
    import torch

    from edgeden.cli.common import STATE, fail
    from edgeden.training.recipe import load_recipe
    from edgeden.training.trainer import train

    try:
        r = load_recipe(recipe)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if threads:  # the command line wins over the recipe's own ``threads``
        r.threads = threads
        torch.set_num_threads(threads)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(f"[bold]{r.name}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[msg]}"),
                  TimeRemainingColumn()) as prog:
        task = prog.add_task("train", total=steps or int(r.optim.get("steps", 10000)), msg="")

        def cb(step, total, info):
            msg = f"loss {info['loss']:.4f}"
            vals = [f"{k} {v:.2f}" for k, v in info.items() if k.startswith("val_psnr")]
            if vals:
                cb.last = ", ".join(vals)
            prog.update(task, completed=step, total=total, msg=msg + (f"  {cb.last}" if cb.last else ""))

        cb.last = ""
        try:
            run = train(r, out_root=out, steps=steps, resume=resume, progress=cb)
        except ValueError as e:  # the recipe's set-up: a run already there, start weights that do not fit
            if STATE.get("debug"):
                raise
            prog.stop()
            fail(str(e))
    typer.echo(f"run folder: {run} (weights: best.safetensors, log: log.jsonl)")


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
