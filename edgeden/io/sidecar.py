"""Sidecar JSON written next to each output (schema: docs/sidecar.md).

The schema is versioned by ``SCHEMA``; a reader checks it before trusting the fields.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = "edgeden.sidecar/1"


def write_sidecar(path: str | Path, record: dict[str, Any]) -> None:
    """Write ``record`` (with ``schema`` added) as pretty JSON, atomically."""
    from edgeden.io.atomic import atomic_path

    rec = {"schema": SCHEMA, **record}
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(rec, indent=2, sort_keys=False, default=_default) + "\n")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read a sidecar; ValueError if it is not an edgeden sidecar of a known schema."""
    rec = json.loads(Path(path).read_text())
    if rec.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not an {SCHEMA} sidecar")
    return rec


def _default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
