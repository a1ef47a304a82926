"""Where edgeden finds data that does not ship inside the package.

Training and evaluation data live outside the package: by default in the folder
``shared/data`` beside the repository checkout, or wherever ``EDGEDEN_DATA`` points.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The data root (may not exist: callers check and say so)."""
    env = os.environ.get("EDGEDEN_DATA")
    if env:
        return Path(env)
    return (REPO_ROOT / ".." / "shared" / "data").resolve()


def resolve_data(path: str | os.PathLike) -> Path:
    """``path`` as given if absolute or existing, else relative to :func:`data_dir`."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return data_dir() / p
