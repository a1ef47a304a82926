"""Previews that look like every other viewer's: cropped, oriented, downscaled, tagged sRGB.

A preview is what a person opens to judge a result, so it follows the conventions raw
converters and image viewers follow:

* **crop**: a raw's DefaultCrop (``RawImage.default_crop``), the area converters show;
* **orientation**: EXIF Orientation (1..8) applied to the pixels, then written as 1, so viewers
  that ignore the tag and viewers that honour it show the same picture;
* **size**: long edge ``size`` px (default 2048; 0 = full size), Lanczos with Pillow's
  reducing gap (fast box pre-reduction, then Lanczos);
* **metadata**: the source's EXIF (capture data, camera, lens, date) with Orientation reset to 1,
  and an embedded sRGB ICC profile (the pixels are sRGB);
* **compare** (optional): the input's render and the output's side by side (``side``) or one
  picture whose left half is the input and right half the output (``split``).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgeden.io.atomic import atomic_path

from edgeden.io.exif_write import pillow_exif
from edgeden.io.pixels import as_hwc, quantise

__all__ = ["DEFAULT_PREVIEW_SIZE", "COMPARE_MODES", "orientation_of", "preview_pixels", "compare_pixels",
           "write_preview"]

#: Long edge of a preview in pixels unless asked otherwise (0 = full size).
DEFAULT_PREVIEW_SIZE = 2048
#: ``--preview-compare`` modes.
COMPARE_MODES = ("side", "split")


def orientation_of(exif: dict | None) -> int:
    """EXIF Orientation (1..8) from a canonical exif dict; 1 when absent or invalid."""
    v = (exif or {}).get("Orientation")
    if isinstance(v, (tuple, list)):
        v = v[0] if v else None
    try:
        o = int(v)
    except (TypeError, ValueError):
        return 1
    return o if 1 <= o <= 8 else 1


def _transpose_op(orientation: int):
    from PIL import Image

    T = Image.Transpose
    return {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
            6: T.ROTATE_270, 7: T.TRANSVERSE, 8: T.ROTATE_90}.get(orientation)


def preview_pixels(render_hwc: np.ndarray, *, crop: tuple[int, int, int, int] | None = None,
                   orientation: int = 1, size: int = DEFAULT_PREVIEW_SIZE) -> np.ndarray:
    """Finish a render for viewing: crop, orient, downscale.

    Args:
        render_hwc: (H, W, 3) sRGB render: uint8, uint16, or float in [0, 1]; (H, W) grey.
        crop: (top, left, height, width) in ``render_hwc``'s pixels, or None.
        orientation: EXIF Orientation 1..8 to apply (the result is upright: Orientation 1).
        size: long edge in pixels after orientation (never upscaled); 0 or less = full size.
    Returns:
        (h, w, 3) uint8 sRGB.
    """
    from PIL import Image

    a = as_hwc(render_hwc)
    if crop is not None:
        t, l, h, w = crop
        a = a[t: t + h, l: l + w]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    u8 = a if a.dtype == np.uint8 else quantise(a, 8)
    im = Image.fromarray(np.ascontiguousarray(u8[..., :3]))
    op = _transpose_op(orientation)
    if size and size > 0 and max(im.size) > size:
        f = size / max(im.size)
        new = (max(1, round(im.width * f)), max(1, round(im.height * f)))
        im = im.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if op is not None:  # after the resize: the same pixels, a quarter of the work at 2048 px
        im = im.transpose(op)
    return np.asarray(im)


def compare_pixels(before: np.ndarray, after: np.ndarray, mode: str) -> np.ndarray:
    """Before/after view of two finished previews of one image ((h, w, 3) uint8 each).

    ``side``: before | 8 px grey gap | after, each at its own size. ``split``: one picture, the
    left half from ``before`` and the right half from ``after``, a 2 px white line between.
    Returns (h, w', 3) uint8. Raises ValueError for another mode or mismatched sizes.
    """
    if before.shape != after.shape:
        raise ValueError(f"before {before.shape} and after {after.shape} differ in size")
    if mode == "side":
        gap = np.full((after.shape[0], 8, 3), 128, np.uint8)
        return np.concatenate([before, gap, after], axis=1)
    if mode == "split":
        out = after.copy()
        mid = after.shape[1] // 2
        out[:, :mid] = before[:, :mid]
        out[:, max(0, mid - 1): mid + 1] = 255
        return out
    raise ValueError(f"unknown compare mode {mode!r} (choose from {', '.join(COMPARE_MODES)})")


@lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    """An sRGB ICC profile (Little CMS's built-in sRGB, via Pillow's ImageCms), byte-stable: its
    header's creation time (bytes 24-35; no profile ID is set, so nothing depends on it) is fixed
    at 2000-01-01 00:00:00, so a re-run writes identical previews."""
    import struct

    from PIL import ImageCms

    b = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    if len(b) >= 128 and not any(b[84:100]):
        b[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return bytes(b)


def write_preview(path: str | os.PathLike, render_hwc: np.ndarray, *, exif: dict | None = None,
                  crop: tuple[int, int, int, int] | None = None, size: int = DEFAULT_PREVIEW_SIZE,
                  quality: int = 90, before: np.ndarray | None = None, compare: str | None = None) -> Path:
    """Write a preview as JPEG (or PNG for ``.png``), atomically: the render finished by
    :func:`preview_pixels` (crop, the orientation of ``exif``, long edge ``size``), optionally
    beside the input's (``compare``), with ``exif``'s tags (Orientation 1) and an sRGB ICC profile.

    Args:
        path: .jpg/.jpeg/.png (another suffix: ValueError, before anything is written).
        render_hwc: (H, W, 3) sRGB render of the result: uint8, uint16 or float in [0, 1].
        exif: the source's canonical exif dict (internal ``_`` keys and thumbnails left out).
        crop: (top, left, height, width) in ``render_hwc`` pixels, or None.
        size: long edge in pixels (0 = full size).
        quality: JPEG quality 1..100.
        before: with ``compare``: the input's render, same shape as ``render_hwc`` (or an already
            finished (h, w, 3) uint8 preview of it, e.g. made before the input was released).
        compare: None, "side" or "split" (:func:`compare_pixels`).
    Returns:
        pathlib.Path of the written file.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in (".jpg", ".jpeg", ".png"):
        raise ValueError(f"preview must be .jpg, .jpeg or .png, got {p.name!r}")
    o = orientation_of(exif)
    px = preview_pixels(render_hwc, crop=crop, orientation=o, size=size)
    if compare:
        if before is None:
            raise ValueError("compare needs the input's render (before)")
        b = before if (before.dtype == np.uint8 and before.shape == px.shape) else \
            preview_pixels(before, crop=crop, orientation=o, size=size)
        px = compare_pixels(b, px, compare)
    return _write_u8(p, px, exif, quality)


def _write_u8(p: Path, rgb_u8: np.ndarray, exif: dict | None, quality: int) -> Path:
    from PIL import Image

    ext = p.suffix.lower()
    kw: dict = {"icc_profile": srgb_icc()}
    tags = {k: v for k, v in (exif or {}).items() if not k.startswith("_")}
    ex = pillow_exif(tags, overrides={"Orientation": 1})
    if ex is not None:
        kw["exif"] = ex.tobytes()
    im = Image.fromarray(np.ascontiguousarray(rgb_u8))
    with atomic_path(p) as tmp:
        if ext == ".png":
            im.save(tmp, format="PNG", **kw)
        else:
            im.save(tmp, format="JPEG", quality=int(quality), **kw)
    return p
