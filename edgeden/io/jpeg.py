"""JPEG reading and writing through Pillow: EXIF (thumbnail unlinked), ICC, XMP and chroma
subsampling carried from a JPEG source; grey and RGB only (CMYK refused).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeden.core.types import (
    RgbImage,
)
from edgeden.io.exif_write import pillow_exif, unlink_ifd1
from edgeden.io.pixels import pillow_decode, pillow_open, split_channels
from edgeden.io.png import exif_from_blob

#: Default JPEG quality of :func:`write_rgb` and :func:`write_preview`.
JPEG_QUALITY = 95


# --------------------------------------------------------------------------- JPEG
def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """What a camera's JPEG makes of a render: ``rgb`` (H, W, 3) float in [0, 1] rounded to
    8 bits, encoded as a baseline JPEG (4:2:0, Pillow/libjpeg) at ``quality`` (1..95) in memory
    and decoded. Returns (H, W, 3) float32 in [0, 1] (multiples of 1/255)."""
    import io as _io

    from PIL import Image

    a = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buf = _io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def read_jpeg(p: Path) -> RgbImage:
    from PIL import JpegImagePlugin

    im = pillow_open(p, "JPEG")
    exif: dict[str, Any] = {}
    raw_exif = im.info.get("exif")
    if raw_exif:
        exif.update(exif_from_blob(raw_exif))
        exif["_exif_bytes"] = unlink_ifd1(raw_exif if raw_exif.startswith(b"Exif\x00\x00")
                                          else b"Exif\x00\x00" + raw_exif)
    if im.info.get("icc_profile"):
        exif["_icc_profile"] = im.info["icc_profile"]
    xmp = im.info.get("xmp")
    if xmp:
        exif["_xmp"] = xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8")
    try:
        sampling = JpegImagePlugin.get_sampling(im)
        if sampling in (0, 1, 2):
            exif["_jpeg_subsampling"] = int(sampling)
    except Exception:  # noqa: BLE001
        pass
    arr, has_alpha = pillow_decode(p, "JPEG", im)
    return split_channels(arr, has_alpha, 255, 8, "jpeg", exif)


def write_jpeg(tmp: Path, q: np.ndarray, *, exif: dict, quality: int, same_format: bool) -> None:
    from PIL import Image

    c = q.shape[2]
    im = Image.fromarray(np.ascontiguousarray(q[:, :, 0] if c == 1 else q))
    kw: dict[str, Any] = {"quality": int(quality)}
    if same_format and exif.get("_exif_bytes"):
        kw["exif"] = exif["_exif_bytes"]
    else:
        ex = pillow_exif(exif)
        if ex is not None:
            kw["exif"] = ex.tobytes()
    if exif.get("_icc_profile"):
        kw["icc_profile"] = exif["_icc_profile"]
    if exif.get("_xmp"):
        kw["xmp"] = exif["_xmp"]
    if c == 3 and exif.get("_jpeg_subsampling") in (0, 1, 2):
        kw["subsampling"] = exif["_jpeg_subsampling"]
    im.save(tmp, format="JPEG", **kw)
