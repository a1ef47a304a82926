"""Pixel helpers shared by the PNG, JPEG and TIFF modules: Pillow decoding to arrays (grey, RGB,
alpha; palettes expanded), splitting alpha, float conversion and quantisation.

Arrays: (H, W, C) uint8/uint16 as decoded; float32 in [0, 1] after :func:`to_float`.
"""
from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from edgeden.core.types import (
    CorruptInputError,
    EdgedenError,
    RgbImage,
    UnsupportedInputError,
)
from edgeden.io.common import MAX_PIXELS, check_pixels


def to_float(arr: np.ndarray, maxval: int) -> np.ndarray:
    return (arr.astype(np.float32) / np.float32(maxval)).astype(np.float32, copy=False)


def split_channels(arr: np.ndarray, has_alpha: bool, maxval: int, bit_depth: int, fmt: str, exif: dict) -> RgbImage:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    alpha = None
    if has_alpha:
        alpha = np.ascontiguousarray(arr[:, :, -1])
        arr = arr[:, :, :-1]
    if arr.shape[2] not in (1, 3):
        raise UnsupportedInputError(f"{arr.shape[2]}-channel image is not supported (grey or RGB only)")
    return RgbImage(data_hwc=to_float(arr, maxval), alpha=alpha, bit_depth=bit_depth, format=fmt, exif=exif)


def short_error(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return s[:120]


def pillow_open(p: Path, what: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    # Pillow's own bomb guard refuses images above 2 x its MAX_IMAGE_PIXELS (179 MP by default),
    # below our documented limit; raise it to ours (never lower it) and let check_pixels decide.
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
    except Image.DecompressionBombError as exc:
        raise UnsupportedInputError(
            f"{what} too large for the decoder's safety limit ({short_error(exc)})") from None
    except UnidentifiedImageError:
        raise CorruptInputError(f"damaged {what}: the decoder does not recognise it") from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptInputError(f"truncated or damaged {what} ({short_error(exc)})") from None
    check_pixels(im.size[1], im.size[0], f"{what} image")
    return im


def pillow_decode(p: Path, what: str, im: Any = None) -> tuple[np.ndarray, bool]:
    """Decode with Pillow to (H, W[, C]) uint8 + has_alpha (8-bit paths only)."""
    from PIL import Image

    if im is None:
        im = pillow_open(p, what)
    orig = im
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            mode = im.mode
            has_trns = "transparency" in im.info
            if mode in ("1", "L") and not has_trns:
                im = im.convert("L")
            elif mode in ("1", "L", "LA", "La"):
                im = im.convert("LA")
            elif mode in ("P", "PA"):
                im = im.convert("RGBA" if (has_trns or mode == "PA") else "RGB")
            elif mode == "RGB" and has_trns:
                im = im.convert("RGBA")
            elif mode in ("RGB", "RGBA"):
                pass
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                raise UnsupportedInputError(f"{mode} {what} is not supported (grey or RGB only)")
            else:
                raise UnsupportedInputError(f"{what} pixel mode {mode} is not supported")
            arr = np.asarray(im)
    except EdgedenError:
        raise
    except (OSError, SyntaxError, ValueError, struct.error, zlib.error) as exc:
        raise CorruptInputError(f"truncated or damaged {what} ({short_error(exc)})") from None
    finally:
        if im is not orig:
            im.close()
        orig.close()
    return arr, arr.ndim == 3 and arr.shape[2] in (2, 4)


def quantise(data: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float [0, 1] -> uint8/uint16 with rounding (integers of the right dtype pass through).

    Args:
        data: array, float in [0, 1] (clipped; NaN -> 0) or already uint8 / uint16.
        bit_depth: 8 or 16.
    Returns:
        uint8 (bit_depth 8) or uint16 (bit_depth 16) array of the same shape.
    Raises:
        TypeError: integer data of another dtype.
    """
    a = np.asarray(data)
    dt = np.uint16 if bit_depth == 16 else np.uint8
    if a.dtype == dt:
        return a
    if np.issubdtype(a.dtype, np.floating):
        maxv = 65535.0 if bit_depth == 16 else 255.0

        def conv(blk: np.ndarray) -> np.ndarray:
            blk = np.nan_to_num(np.array(blk, dtype=np.float32), nan=0.0)
            np.clip(blk, 0.0, 1.0, out=blk)
            blk *= maxv
            return np.rint(blk, out=blk).astype(dt)
    elif a.dtype == np.uint16 and bit_depth == 8:
        def conv(blk: np.ndarray) -> np.ndarray:
            return ((blk.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype == np.uint8 and bit_depth == 16:
        def conv(blk: np.ndarray) -> np.ndarray:
            return blk.astype(np.uint16) * 257
    else:
        raise TypeError(f"image data must be float in [0, 1], uint8 or uint16, got {a.dtype}")
    if a.ndim < 2:
        return conv(a)
    out = np.empty(a.shape, dtype=dt)
    step = max(1, (1 << 22) // max(1, a[0].size))  # row strips bound the temporaries (50 MP images)
    for i in range(0, a.shape[0], step):
        out[i:i + step] = conv(a[i:i + step])
    return out


def as_hwc(data: Any) -> np.ndarray:
    a = np.asarray(data)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"data_hwc must be (H, W, 1) or (H, W, 3), got shape {a.shape}")
    return a
