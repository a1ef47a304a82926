"""Shared CLI helpers: option parsing, error rendering, state."""
from __future__ import annotations

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


def parse_noise(spec: str | None) -> NoiseParams | None:
    """Parse ``--noise S,O`` (variance = S*x + O on [0, 1] data) into NoiseParams.

    Also accepts ``sigma=N`` (white Gaussian noise, N in 0..255 units: S = 0, O = (N/255)^2).
    """
    if spec is None:
        return None
    try:
        s = spec.strip()
        if s.lower().startswith("sigma="):
            sig = float(s.split("=", 1)[1]) / 255.0
            if sig < 0:
                raise ValueError
            return NoiseParams((0.0,), (sig * sig,), source="override", detail=f"--noise {spec}")
        a, b = (float(v) for v in s.split(","))
        if a < 0 or b < 0:
            raise ValueError
        return NoiseParams((a,), (b,), source="override", detail=f"--noise {spec}")
    except ValueError:
        raise typer.BadParameter(f"{spec!r}: expected S,O (two non-negative numbers, e.g. 0.002,1e-5) or sigma=N")


__all__ = ["EdgedenError", "STATE", "fail", "parse_noise", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_PARTIAL"]


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
