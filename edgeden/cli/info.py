"""``edgeden info FILE``: what edgeden sees in a file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeden.cli.common import EXIT_USAGE, fail



def info(
    file: Annotated[Path, typer.Argument(help="An image or camera raw file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    estimate: Annotated[bool, typer.Option("--estimate", help="Estimate the noise from the pixels when neither "
                                           "the file nor a camera profile gives it (takes seconds).")] = False,
    noise_profiles: Annotated[Optional[Path], typer.Option("--noise-profiles", dir_okay=False,
                                                           help="darktable noiseprofiles.json for camera profiles.")] = None,
) -> None:
    """Show format, camera, ISO, size, CFA pattern, black/white levels, white balance, where the noise parameters would come from, and whether `denoise` would take the file (and why not)."""  # noqa: E501
    from edgeden.cli.common import load_profiles
    from edgeden.info import file_info

    if not file.is_file():  # one line, exit 2, before any slow import
        fail(f"{file}: {'is a folder, not a file' if file.is_dir() else 'no such file'}", EXIT_USAGE)
    d = file_info(file, load_profiles(noise_profiles), estimate=estimate)
    if as_json:
        typer.echo(json.dumps(d, indent=2, default=str))
        return
    width = max(len(k) for k in d)
    for k, v in d.items():
        if isinstance(v, float):
            v = f"{v:.6g}"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in v)
        elif isinstance(v, dict):
            v = "; ".join(f"{kk}={vv}" for kk, vv in v.items())
        typer.echo(f"{k:<{width}}  {'-' if v is None else v}")


def register(app: typer.Typer) -> None:
    app.command("info")(info)
