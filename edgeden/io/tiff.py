"""TIFF reading and writing through tifffile (Pillow for 8-bit files tifffile cannot decode):
8/16 bits, grey/RGB, alpha kept; EXIF written as sub-IFDs; 16-bit sRGB renders.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeden.core.types import (
    CorruptInputError,
    RgbImage,
    UnsupportedInputError,
)
from edgeden.io.atomic import atomic_path
from edgeden.io.common import check_pixels
from edgeden.io.exif import exif_from_tifffile_page, rational_to_float
from edgeden.io.exif_write import (
    append_exif_ifds,
    exif_placeholder_tags,
    ifd0_extratags,
)
from edgeden.io.pixels import (
    as_hwc,
    pillow_decode,
    quantise,
    short_error,
    split_channels,
)
from edgeden.io.png import PNG_ZLIB_LEVEL


# --------------------------------------------------------------------------- TIFF
def read_tiff(p: Path) -> RgbImage:
    import tifffile

    size = p.stat().st_size
    try:
        tf = tifffile.TiffFile(p)
    except Exception as exc:  # noqa: BLE001 -- tifffile raises many kinds on garbage
        raise CorruptInputError(f"damaged TIFF ({short_error(exc)})") from None
    with tf:
        if not len(tf.pages):
            raise CorruptInputError("TIFF without any image")
        page = tf.pages.first
        h, w = int(page.imagelength), int(page.imagewidth)
        check_pixels(h, w, "TIFF image")
        phot = int(page.photometric)
        if phot == 32803:
            raise UnsupportedInputError("CFA (raw mosaic) TIFF: read it as a camera raw, not RGB")
        ends = [int(o) + int(c) for o, c in zip(page.dataoffsets, page.databytecounts) if c]
        if ends and max(ends) > size:
            raise CorruptInputError(
                f"truncated TIFF: the file has {size:,} bytes but its image data runs to byte {max(ends):,}")
        dtype = np.dtype(page.dtype) if page.dtype is not None else None
        exif = exif_from_tifffile_page(page)
        tags = page.tags
        if 34675 in tags:
            exif["_icc_profile"] = bytes(tags[34675].value)
        if 700 in tags:
            exif["_xmp"] = bytes(tags[700].value) if not isinstance(tags[700].value, str) \
                else tags[700].value.encode("utf-8")
        exif["_tiff_compression"] = int(page.compression)
        extras = tuple(int(x) for x in np.ravel(tags[338].value)) if 338 in tags else ()
        if extras:
            exif["_tiff_extrasamples"] = extras[0]
        samples = int(page.samplesperpixel)
        base = {1: 1, 2: 3}.get(phot)  # MINISBLACK, RGB
        if base is None or dtype is None or dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            if phot in (0, 3, 6) or dtype == np.dtype(bool):
                # min-is-white, palette, YCbCr: let Pillow convert (8-bit only)
                arr, has_alpha = pillow_decode(p, "TIFF")
                return split_channels(arr, has_alpha, 255, 8, "tiff", exif)
            what = f"{page.bitspersample}-bit {dtype}" if dtype is not None else "this sample format"
            if phot == 5:
                raise UnsupportedInputError("CMYK TIFF is not supported (grey or RGB only)")
            raise UnsupportedInputError(f"TIFF with {what} samples is not supported (8 or 16-bit only)")
        if samples not in (base, base + 1):
            raise UnsupportedInputError(f"TIFF with {samples} samples per pixel is not supported")
        try:
            arr = page.asarray()
        except (KeyError, ValueError, NotImplementedError) as exc:
            msg = str(exc)
            if "imagecodecs" in msg:
                if dtype == np.dtype(np.uint8):
                    arr8, has_alpha = pillow_decode(p, "TIFF")
                    return split_channels(arr8, has_alpha, 255, 8, "tiff", exif)
                raise UnsupportedInputError(
                    f"16-bit TIFF with {page.compression.name} compression needs the 'imagecodecs' "
                    "package (pip install imagecodecs)") from None
            raise CorruptInputError(f"damaged TIFF ({short_error(exc)})") from None
        except Exception as exc:  # noqa: BLE001
            raise CorruptInputError(f"damaged TIFF ({short_error(exc)})") from None
    axes = page.axes
    if arr.ndim == 3 and axes.startswith("S"):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[:2] != (h, w):
        raise UnsupportedInputError(f"unexpected TIFF layout {page.axes} {arr.shape}")
    bits = 16 if arr.dtype == np.uint16 else 8
    return split_channels(arr, samples == base + 1, 65535 if bits == 16 else 255, bits, "tiff", exif)


def tiff_resolution(exif: dict) -> dict:
    xr, yr = rational_to_float(exif.get("XResolution")), rational_to_float(exif.get("YResolution"))
    if not xr or not yr:
        return {}
    unit = exif.get("ResolutionUnit", 2)
    return {"resolution": (xr, yr), "resolutionunit": int(unit) if unit in (1, 2, 3) else 2}


def write_tiff(tmp: Path, pix: np.ndarray, *, has_alpha: bool, exif: dict, same_format: bool) -> None:
    import tifffile

    c = pix.shape[2]
    comp = exif.get("_tiff_compression", 1) if same_format else 8
    compression = None if comp == 1 else "zlib"
    extratags = ifd0_extratags(exif, skip={282, 283, 296, 305})
    if exif.get("_xmp"):
        extratags.append((700, 1, len(exif["_xmp"]), exif["_xmp"], True))
    extratags += exif_placeholder_tags(exif)
    software = exif.get("Software") or False
    kw: dict[str, Any] = dict(
        photometric="minisblack" if c in (1, 2) else "rgb", planarconfig="contig",
        compression=compression, predictor=(compression is not None), metadata=None,
        compressionargs={"level": PNG_ZLIB_LEVEL} if compression else None,
        software=software, extratags=extratags, **tiff_resolution(exif))
    if exif.get("_icc_profile"):
        kw["iccprofile"] = exif["_icc_profile"]
    if has_alpha:
        kw["extrasamples"] = (int(exif.get("_tiff_extrasamples", 2)),)
    data = pix[:, :, 0] if c == 1 else pix
    with tifffile.TiffWriter(tmp, bigtiff=False, byteorder="<") as tw:
        tw.write(data, **kw)
    append_exif_ifds(tmp, exif)


def write_tiff16(path: str | os.PathLike, srgb_hwc: np.ndarray, *, exif: dict | None = None) -> Path:
    """Write a 16-bit RGB TIFF (deflate + horizontal predictor) of an ISP rendering.

    Args:
        path: output .tif/.tiff file.
        srgb_hwc: (H, W, 3) float in [0, 1] (or uint16), display-referred sRGB.
        exif: optional exif dict whose tags are embedded (EXIF/GPS sub-IFDs, Orientation, ...).
    Returns:
        pathlib.Path of the written file (atomic).
    """
    p = Path(path)
    q = quantise(as_hwc(srgb_hwc), 16)
    like = RgbImage(data_hwc=q, alpha=None, bit_depth=16, format="tiff", exif={
        k: v for k, v in (exif or {}).items() if not k.startswith("_")})
    with atomic_path(p) as tmp:
        write_tiff(tmp, q, has_alpha=False, exif=like.exif, same_format=False)
    return p
