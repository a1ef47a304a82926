"""File inspection and plain renders for ``edgeden info`` and ``edgeden preview``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def file_info(path: Path, profiles: Any = None) -> dict:
    """Describe ``path``: format, size, CFA, levels, ISO, white balance, noise (S, O) and its source.

    Raises EdgedenError subclasses for files edgeden cannot read.
    """
    from edgeden import io
    from edgeden.core import noise as nm
    from edgeden.pipeline import DenoiseOptions, raw_noise, raw_to_packed, rgb_to_tensor

    kind = io.detect_kind(path)
    if kind == "raw":
        raw = io.read_raw(path)
        packed, _ = raw_to_packed(raw)
        npar = raw_noise(raw, packed, DenoiseOptions(noise_profiles=profiles))
        d = {
            "file": str(path), "kind": "camera raw", "format": raw.format,
            "camera": f"{raw.make} {raw.model}".strip() or "unknown",
            "size_hw": list(raw.shape), "megapixels": round(raw.mosaic_u16.size / 1e6, 2),
            "cfa": raw.cfa, "black_level": [float(b) for b in raw.black_level], "white_level": float(raw.white_level),
            "iso": raw.iso, "white_balance_rgb": [round(float(v), 4) for v in raw.wb_rgb],
        }
    else:
        img = io.read_rgb(path)
        npar = nm.estimate_noise_or_fallback(rgb_to_tensor(img)[0])
        d = {
            "file": str(path), "kind": "image", "format": img.format,
            "size_hw": list(img.data_hwc.shape[:2]), "megapixels": round(img.data_hwc[..., 0].size / 1e6, 2),
            "channels": img.channels + (1 if img.alpha is not None else 0), "alpha": img.alpha is not None,
            "bit_depth": img.bit_depth,
        }
    s, o = npar.mean()
    d["noise_shot_S"] = [float(v) for v in npar.shot]
    d["noise_read_O"] = [float(v) for v in npar.read]
    d["noise_source"] = npar.source + (f" ({npar.detail})" if npar.detail else "")
    return d


def render_file(path: Path, out: Path) -> None:
    """Write a minimal-ISP render of a raw (or a copy of an RGB image's pixels) as JPEG/PNG."""
    from edgeden import io
    from edgeden.pipeline import raw_to_packed, render_packed

    if io.detect_kind(path) == "raw":
        raw = io.read_raw(path)
        packed, pad = raw_to_packed(raw)
        render = render_packed(packed, raw, pad)
    else:
        img = io.read_rgb(path)
        render = img.data_hwc if img.channels == 3 else np.repeat(img.data_hwc, 3, axis=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    io.write_preview(out, render)
