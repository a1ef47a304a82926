"""RGB / grey image reading and writing: PNG, TIFF, JPEG; 8 and 16 bits; alpha passed through.

Backends, chosen so that no bit depth is ever lost silently:

* PNG, 16-bit: imagecodecs' libpng (Pillow reads a 16-bit RGB PNG as 8-bit without a word and
  cannot write one); see :mod:`edgeden.io.png`.
* PNG, 1/2/4/8-bit (palette included): Pillow (palette and tRNS are expanded to RGB(A)/LA;
  such files are written back as 8-bit RGB(A)/grey).
* TIFF: tifffile (with imagecodecs for LZW/JPEG/PackBits; 8-bit files it cannot decode fall
  back to Pillow).
* JPEG: Pillow (what imageio uses underneath), so EXIF/ICC/XMP and chroma subsampling are
  available. Grey and RGB only (CMYK refused).

Metadata carried from ``read_rgb`` to ``write_rgb`` (``RgbImage.exif``): EXIF tags (see
``edgeden.io.exif``), the ICC profile (``'_icc_profile'``), for JPEG the original EXIF
bytes with the thumbnail unlinked (``'_exif_bytes'``), XMP (``'_xmp'``) and the chroma
subsampling (``'_jpeg_subsampling'``), for PNG the ancillary chunks (``'_png_chunks'``: gAMA,
cHRM, sRGB, iCCP, pHYs, text, eXIf), for TIFF compression and alpha kind. Pixels are never
rotated: the Orientation tag is carried as is.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeden.core.types import (
    CorruptInputError,
    RgbImage,
    UnsupportedInputError,
)
from edgeden.io.atomic import atomic_path
from edgeden.io.common import check_file, head, is_dng_tiff, sniff
from edgeden.io.exif import (
    camera_and_iso,
    exif_jsonable,
    rational_to_float,
)
from edgeden.io.jpeg import JPEG_QUALITY, read_jpeg, write_jpeg
from edgeden.io.pixels import as_hwc, quantise
from edgeden.io.png import read_png, write_png
from edgeden.io.tiff import read_tiff, write_tiff

_EXT_FORMAT = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg", ".jpeg": "jpeg"}


# =========================================================================== reading
def read_rgb(path: str | os.PathLike) -> RgbImage:
    """Read a PNG, TIFF or JPEG (grey, grey+alpha, RGB, RGBA; 8 or 16 bits).

    The container is recognised by content (a PNG named ``.jpg`` is read as PNG).

    Args:
        path: image file.
    Returns:
        RgbImage: ``data_hwc`` (H, W, C) float32 in [0, 1] with C = 1 or 3; ``alpha`` (H, W)
        uint8/uint16 as stored or None; ``bit_depth`` 8 or 16; ``format`` "png"/"tiff"/"jpeg";
        ``exif`` (see module doc).
    Raises:
        EdgedenError: file not found.
        UnsupportedInputError: > MAX_PIXELS, CMYK, float/32-bit, a DNG raw, missing codec.
        CorruptInputError: empty, truncated, damaged, or not an image at all.
    """
    p = check_file(path)
    kind = sniff(head(p, 16))
    ext_name = {"png": "PNG", "tiff": "TIFF", "jpeg": "JPEG"}.get(_EXT_FORMAT.get(p.suffix.lower(), ""), "image")
    if kind == "png":
        img = read_png(p)
    elif kind == "jpeg":
        img = read_jpeg(p)
    elif kind == "tiff":
        if is_dng_tiff(p):
            raise UnsupportedInputError("this TIFF is a DNG camera raw: read it as raw, not RGB")
        img = read_tiff(p)
    elif kind == "text":
        raise CorruptInputError(f"not a {ext_name}: the file contains text")
    else:
        raise CorruptInputError(f"not a {ext_name}: unrecognised content (not PNG, JPEG or TIFF)")
    img.path = str(p)
    return img


# =========================================================================== writing
def _format_for(path: Path, fallback: str) -> str:
    fmt = _EXT_FORMAT.get(path.suffix.lower())
    if fmt is None:
        if fallback in ("png", "tiff", "jpeg"):
            return fallback
        raise ValueError(f"cannot tell the image format from {path.name!r} (use .png, .tif, .tiff, .jpg, .jpeg)")
    return fmt


def write_rgb(path: str | os.PathLike, data_hwc: np.ndarray, like: RgbImage, *,
              jpeg_quality: int = JPEG_QUALITY) -> Path:
    """Write an image with the bit depth, channel layout, alpha and metadata of ``like``.

    The format comes from the extension of ``path`` (.png/.tif/.tiff/.jpg/.jpeg), else from
    ``like.format``. JPEG is always 8-bit without alpha. Float data is clipped to [0, 1] and
    quantised with rounding. EXIF (thumbnail dropped), ICC, XMP, PNG ancillary chunks, TIFF
    compression and JPEG chroma subsampling of ``like`` are carried over. Written atomically.

    Args:
        path: output file.
        data_hwc: (H, W, C) float in [0, 1] (or uint8/uint16), C = 1 or 3; (H, W) is grey.
        like: the RgbImage it came from (``read_rgb``); its ``alpha`` (H, W) is appended
            unchanged when the format allows.
        jpeg_quality: 1..100 for JPEG output.
    Returns:
        pathlib.Path of the written file.
    Raises:
        ValueError: bad shape, alpha of another size, unknown extension.
    """
    p = Path(path)
    fmt = _format_for(p, like.format)
    a = as_hwc(data_hwc)
    depth = 8 if fmt == "jpeg" else (16 if like.bit_depth == 16 else 8)
    q = quantise(a, depth)
    alpha = None
    if like.alpha is not None and fmt != "jpeg":
        if like.alpha.shape != q.shape[:2]:
            raise ValueError(f"alpha {like.alpha.shape} does not match the image {q.shape[:2]}")
        alpha = quantise(like.alpha, depth)
    pix = np.concatenate([q, alpha[:, :, None]], axis=2) if alpha is not None else q
    exif = dict(like.exif or {})
    same = fmt == like.format
    with atomic_path(p) as tmp:
        if fmt == "png":
            write_png(tmp, pix, has_alpha=alpha is not None, exif=exif, same_format=same)
        elif fmt == "jpeg":
            write_jpeg(tmp, q, exif=exif, quality=jpeg_quality, same_format=same)
        else:
            write_tiff(tmp, pix, has_alpha=alpha is not None, exif=exif, same_format=same)
    return p


# =========================================================================== info
def rgb_image_info(img: RgbImage) -> dict:
    """JSON-friendly summary of an :class:`RgbImage` (what ``edgeden info`` prints).

    Returns:
        dict with kind, path, format, width, height, megapixels, channels, alpha (bool),
        bit_depth, camera, iso, exposure_time, f_number, focal_length, date, orientation,
        icc_profile (bool), exif (JSON-friendly).
    """
    h, w, c = img.data_hwc.shape
    ex = img.exif
    make, model, iso, _ = camera_and_iso(ex)
    return {
        "kind": "rgb", "path": img.path, "format": img.format, "width": int(w), "height": int(h),
        "megapixels": round(h * w / 1e6, 2), "channels": int(c), "alpha": img.alpha is not None,
        "bit_depth": img.bit_depth,
        "camera": " ".join(x for x in (make, model) if x) or None,
        "iso": iso,
        "exposure_time": rational_to_float(ex.get("ExposureTime")),
        "f_number": rational_to_float(ex.get("FNumber")),
        "focal_length": rational_to_float(ex.get("FocalLength")),
        "date": ex.get("DateTimeOriginal") or ex.get("DateTime"),
        "orientation": ex.get("Orientation"),
        "icc_profile": bool(ex.get("_icc_profile")),
        "exif": exif_jsonable(ex),
    }


def rgb_info(path: str | os.PathLike) -> dict:
    """Read an RGB image and summarise it for ``edgeden info`` (see :func:`rgb_image_info`).

    Raises:
        the errors of :func:`read_rgb`.
    """
    return rgb_image_info(read_rgb(path))
