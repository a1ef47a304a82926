"""The ``edgeden`` command line: one module per command, all thin over the library.

Exit codes: 0 all good, 1 error, 2 usage, 3 some files of a batch failed.
Tracebacks only with ``--debug``.
"""
from __future__ import annotations

import sys

import typer

from edgeden import __version__
from edgeden.cli import common

app = typer.Typer(
    name="edgeden",
    help="Batch-denoise photographs (camera raw and RGB) with small, efficient neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgeden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    common.STATE["debug"] = debug


from edgeden.cli import bench, calibrate, denoise, info, models, preview  # noqa: E402  (registers commands)

for _mod in (denoise, models, info, preview, calibrate, bench):
    _mod.register(app)

from edgeden.cli import eval as _eval  # noqa: E402
from edgeden.cli import export as _export
from edgeden.cli import search as _search
from edgeden.cli import train as _train

for _mod in (_train, _export, _eval, _search):
    _mod.register(app)


for _c in app.registered_commands:  # known errors -> one line, exit 1, in every command
    _c.callback = common.user_errors(_c.callback)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except common.EdgedenError as e:  # known errors: one line, exit 1
        if common.STATE.get("debug"):
            raise
        typer.echo(f"edgeden: error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("edgeden: interrupted (outputs written so far are complete; re-run to resume)", err=True)
        sys.exit(130)
