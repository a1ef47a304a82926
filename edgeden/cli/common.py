"""Shared CLI helpers: option parsing, error rendering, state."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from edgeden.core.types import EdgedenError, NoiseParams

STATE: dict = {"debug": False}

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def fail(msg: str, code: int = EXIT_ERROR) -> None:
    """Print ``edgeden: error: msg`` to stderr and exit with ``code``."""
    typer.echo(f"edgeden: error: {msg}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Wrap a command so a known error (EdgedenError) prints one line and exits 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgedenError as e:
            if STATE.get("debug"):
                raise
            fail(str(e), EXIT_ERROR)

    return wrapper


def check_tiling(tile: Optional[int], overlap: Optional[int], preset=None) -> None:
    """Usage error unless ``--tile`` (when given and > 0) exceeds twice the overlap: ``--overlap``,
    else the named preset's, else the usual 32."""
    ov = overlap if overlap is not None else (preset.overlap if preset is not None else 32)
    if tile is not None and tile > 0 and tile <= 2 * ov:
        fail(f"--tile {tile} must be more than twice the overlap", EXIT_USAGE)


def parse_noise(spec: str | None) -> NoiseParams | None:
    """Parse ``--noise S,O`` (variance = S*x + O on [0, 1] data) into NoiseParams.

    Also accepts ``sigma=N`` (white Gaussian noise, N in 0..255 units: S = 0, O = (N/255)^2).
    The result is validated (:meth:`NoiseParams.problem`: finite, 0 <= S <= 1, 0 <= O <= 1);
    anything else raises typer.BadParameter with a one-line message.
    """
    if spec is None:
        return None
    hint = "expected S,O (two numbers in 0..1, e.g. 0.002,1e-5) or sigma=N (N in 0..255)"
    try:
        s = spec.strip()
        if s.lower().startswith("sigma="):
            sig = float(s.split("=", 1)[1])
            if not math.isfinite(sig) or sig < 0 or sig > 255:
                raise typer.BadParameter(f"{spec!r}: sigma must be a finite number in 0..255")
            sig /= 255.0
            p = NoiseParams((0.0,), (sig * sig,), source="override", detail=f"--noise {spec}")
        else:
            a, b = (float(v) for v in s.split(","))
            p = NoiseParams((a,), (b,), source="override", detail=f"--noise {spec}")
    except ValueError:
        raise typer.BadParameter(f"{spec!r}: {hint}") from None
    why = p.problem()
    if why is not None:
        raise typer.BadParameter(f"{spec!r}: {why}; {hint}")
    return p


def one_line(text: object) -> str:
    """``text`` on one line (newlines and other control characters shown escaped), for
    messages that name user-supplied file names."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


__all__ = ["EdgedenError", "STATE", "fail", "check_tiling", "parse_noise", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_PARTIAL"]


def apply_precision(choice: str) -> None:
    """Set ``--precision`` for this process (:mod:`edgeden.core.precision`); a bad value is a
    usage error."""
    from edgeden.core.precision import set_precision

    try:
        set_precision(choice)
    except ValueError as e:
        fail(f"--precision: {e}", EXIT_USAGE)


def load_profiles(path: Optional[Path]):
    """The camera noise-profile table (darktable format) from --noise-profiles, else from the
    default locations, else None. A bad file is one error line (EdgedenError)."""
    from edgeden.io.noiseprofiles import find_camera_profiles

    return find_camera_profiles(path)
