"""``edgeden preview FILE -o OUT``: render a file with edgeden's minimal ISP (no denoising)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def preview(
    file: Annotated[Path, typer.Argument(help="A camera raw or an image.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output JPEG/PNG (default: FILE.preview.jpg "
                                                                    "in the current folder).")] = None,
    size: Annotated[int, typer.Option("--size", min=0, help="Long edge in pixels (0 = full size).")] = 2048,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Render FILE through the minimal ISP (white balance, demosaic, colour matrix, gamma, tone), cropped and oriented as raw converters show it."""  # noqa: E501
    from edgeden.cli.common import fail
    from edgeden.info import render_file

    out = out or Path(file.name + ".preview.jpg")
    if out.exists() and not overwrite:
        fail(f"{out}: exists (use --overwrite)")
    if not file.exists():
        fail(f"{file}: no such file")
    render_file(file, out, size=size)
    typer.echo(f"{file} -> {out}")


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
