"""Where edgeden finds data that does not ship inside the package (training and test sets).

In order: ``$EDGEDEN_DATA``; then a ``shared/data`` folder beside the current folder or one of
its parents (``../shared/data`` from a checkout, as laid out for development); then beside a
source checkout this package runs from. Nothing is fetched from the network.
"""
from __future__ import annotations

import os
from pathlib import Path


def _candidates() -> list[Path]:
    cwd = Path.cwd().resolve()
    out = [d / "shared" / "data" for d in (cwd, *cwd.parents)]
    pkg_root = Path(__file__).resolve().parents[1]
    if (pkg_root / "pyproject.toml").exists():  # running from a source checkout
        out.append(pkg_root.parent / "shared" / "data")
    return out


def data_dir() -> Path:
    """The data root (may not exist: callers check and say so). See the module docstring."""
    env = os.environ.get("EDGEDEN_DATA")
    if env:
        return Path(env)
    cands = _candidates()
    for c in cands:
        if c.is_dir():
            return c
    return cands[0]


def resolve_data(path: str | os.PathLike) -> Path:
    """``path`` as given if absolute or existing, else relative to :func:`data_dir`."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return data_dir() / p
