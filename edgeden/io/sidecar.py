"""Sidecar JSON written next to each output (schema: docs/sidecar.md), and the output claims
a batch writes before a job's first output.

The schema is versioned by ``SCHEMA``; a reader checks it before trusting the fields.
Sidecars are strict JSON (RFC 8259): a non-finite float (NaN, +-Infinity) is written as
``null`` and the writer refuses anything else that JSON cannot represent.

A *claim* (``.<image name>.edgeden-claim`` beside the outputs, a small JSON record of the
output names) is written before a job writes anything and removed when it has finished, so
outputs of a run killed half-way are still known to be ours on the next run (the sidecar,
written last, does not exist yet then). Both are what :func:`recorded_outputs` reads.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SCHEMA = "edgeden.sidecar/1"
#: Any version of the sidecar schema (an older sidecar of ours still proves its outputs ours).
SCHEMA_FAMILY = "edgeden.sidecar/"
CLAIM_SCHEMA = "edgeden.claim/1"
CLAIM_SUFFIX = ".edgeden-claim"


def write_sidecar(path: str | Path, record: dict[str, Any]) -> None:
    """Write ``record`` (with ``schema`` added) as pretty, strict JSON, atomically.

    Non-finite floats become ``null`` (:func:`strict_jsonable`); the text is made with
    ``allow_nan=False``, so a NaN can never reach the file.
    """
    _write_json(path, {"schema": SCHEMA, **record})


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read a sidecar; ValueError if it is not an edgeden sidecar of a known schema."""
    rec = json.loads(Path(path).read_text())
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not an {SCHEMA} sidecar")
    return rec


def strict_jsonable(o: Any) -> Any:
    """``o`` with numpy scalars/arrays and paths converted and every non-finite float replaced
    by ``None``, recursively through dicts, lists and tuples (tuples become lists)."""
    import numpy as np

    if isinstance(o, dict):
        return {str(k): strict_jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [strict_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return strict_jsonable(o.tolist())
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, Path):
        return str(o)
    return o


def claim_path(image: str | Path) -> Path:
    """The claim file of an output image: ``<folder>/.<image name>.edgeden-claim``."""
    p = Path(image)
    return p.with_name(f".{p.name}{CLAIM_SUFFIX}")


def write_claim(image: str | Path, outputs: list[str | Path], record: dict[str, Any] | None = None,
                status: str = "running") -> Path:
    """Record, before writing them, that ``outputs`` (paths beside ``image``) are ours.

    ``record`` (:func:`edgeden.batch.job_record`: input hash, preset, weights hash, settings) and
    ``status`` ("running" while a process works on it, "complete" when it is kept as the
    completion record of a run without sidecars) are stored with this process's pid and host.
    """
    import os
    import socket

    p = claim_path(image)
    _write_json(p, {"schema": CLAIM_SCHEMA, "image": Path(image).name,
                    "outputs": sorted({Path(o).name for o in outputs} | {Path(image).name}),
                    "status": status, "pid": os.getpid(), "host": socket.gethostname(),
                    "record": record})
    return p


def read_claim(image: str | Path) -> dict[str, Any] | None:
    """The claim of ``image`` (see :func:`write_claim`), or None when there is none or it is not ours."""
    rec = _read_json(claim_path(image))
    if isinstance(rec, dict) and rec.get("schema") == CLAIM_SCHEMA and rec.get("image") == Path(image).name:
        return rec
    return None


def read_record(image: str | Path, sidecar: bool = True) -> dict[str, Any] | None:
    """What the run that wrote ``image`` recorded about it: the ``record`` of its sidecar (when
    ``sidecar``) or of its completed claim (runs without sidecars); None when there is none."""
    img = Path(image)
    if sidecar:
        rec = _read_json(img.with_name(img.name + ".json"))
        if isinstance(rec, dict) and str(rec.get("schema", "")).startswith(SCHEMA_FAMILY):
            r = rec.get("record")
            return r if isinstance(r, dict) else None
        return None
    c = read_claim(img)
    if c and c.get("status") == "complete" and isinstance(c.get("record"), dict):
        return c["record"]
    return None


def recorded_outputs(image: str | Path) -> tuple[set[str], str]:
    """File names (beside ``image``) that a record of ours says we wrote or are writing.

    Reads the sidecar ``<image>.json`` (any ``edgeden.sidecar/`` version whose
    ``outputs.image`` is this image; the sidecar itself counts) and the claim
    (:func:`claim_path`). Returns (names, state of the sidecar): state is ``"missing"``,
    ``"ours"`` or ``"foreign"`` (exists but is not a sidecar of ours for this image, or cannot
    be read).
    """
    img = Path(image)
    names: set[str] = set()
    side = img.with_name(img.name + ".json")
    state = "missing"
    if side.exists() or side.is_symlink():
        state = "foreign"
        rec = _read_json(side)
        if (isinstance(rec, dict) and str(rec.get("schema", "")).startswith(SCHEMA_FAMILY)
                and isinstance(rec.get("outputs"), dict)
                and _name(rec["outputs"].get("image")) == img.name):
            state = "ours"
            names.add(side.name)
            names |= {n for n in (_name(v) for v in rec["outputs"].values()) if n}
    rec = _read_json(claim_path(img))
    if (isinstance(rec, dict) and rec.get("schema") == CLAIM_SCHEMA and rec.get("image") == img.name
            and isinstance(rec.get("outputs"), list)):
        names |= {n for n in rec["outputs"] if isinstance(n, str) and "/" not in n and "\\" not in n}
    return names, state


def _name(v: Any) -> str | None:
    return Path(v).name if isinstance(v, str) and v else None


def _read_json(path: Path) -> Any:
    try:
        if not path.is_file() or path.stat().st_size > 1 << 20:
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _write_json(path: str | Path, rec: dict[str, Any]) -> None:
    from edgeden.io.atomic import atomic_path

    text = json.dumps(strict_jsonable(rec), indent=2, sort_keys=False, allow_nan=False, default=_default) + "\n"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def _default(o: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(o)}")
