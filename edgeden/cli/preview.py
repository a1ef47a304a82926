"""``edgeden preview FILE -o OUT``: render a file with edgeden's minimal ISP (no denoising)."""
from __future__ import annotations

from pathlib import Path

import typer


def preview(
    file: Path = typer.Argument(..., help="A camera raw or an image."),
    out: Path = typer.Option(None, "--out", "-o", help="Output JPEG/PNG (default: FILE.preview.jpg beside "
                                                       "the current folder)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Render FILE through the minimal ISP (white balance, demosaic, colour matrix, gamma, tone)."""
    from edgeden.info import render_file
    from edgeden.cli.common import fail

    out = out or Path(file.name + ".preview.jpg")
    if out.exists() and not overwrite:
        fail(f"{out}: exists (use --overwrite)")
    if not file.exists():
        fail(f"{file}: no such file")
    render_file(file, out)
    typer.echo(f"{file} -> {out}")


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)
