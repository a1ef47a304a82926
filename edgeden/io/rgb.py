"""RGB / grey image reading and writing: PNG, TIFF, JPEG; 8 and 16 bits; alpha passed through.

Backends, chosen so that no bit depth is ever lost silently:

* PNG, 16-bit: pypng (Pillow reads a 16-bit RGB PNG as 8-bit without a word and cannot write
  one). Pure Python: about 0.3 s per megapixel to read an unfiltered file, up to ~3 s per
  megapixel for Paeth-filtered files from other software; writing ~0.6 s per megapixel.
* PNG, 1/2/4/8-bit (palette included): Pillow (palette and tRNS are expanded to RGB(A)/LA;
  such files are written back as 8-bit RGB(A)/grey).
* TIFF: tifffile (none/deflate/LZMA compression natively; LZW/JPEG/PackBits TIFFs need the
  ``imagecodecs`` package for 16 bits, 8-bit ones fall back to Pillow).
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

import io
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from edgeden.io.common import check_file, check_pixels, head, is_dng_tiff, sniff
from edgeden.io.exif import (
    append_exif_ifds, exif_from_pillow, exif_from_tifffile_page, exif_jsonable, exif_placeholder_tags,
    exif_tiff_blob, ifd0_extratags, rational_to_float, unlink_ifd1,
)
from edgeden.io.atomic import atomic_path
from edgeden.core.types import CorruptInputError, EdgedenError, RgbImage, UnsupportedInputError

#: Default JPEG quality of :func:`write_rgb` and :func:`write_preview`.
JPEG_QUALITY = 95
#: PNG ancillary chunks copied from a PNG source to a PNG output (placed after IHDR).
PNG_CARRY_CHUNKS = (b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"eXIf")
#: zlib level for PNG and deflate-TIFF output: 3 writes about twice as fast as 6 for ~10 % more bytes.
_PNG_ZLIB_LEVEL = 3
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
        img = _read_png(p)
    elif kind == "jpeg":
        img = _read_jpeg(p)
    elif kind == "tiff":
        if is_dng_tiff(p):
            raise UnsupportedInputError("this TIFF is a DNG camera raw: read it as raw, not RGB")
        img = _read_tiff(p)
    elif kind == "text":
        raise CorruptInputError(f"not a {ext_name}: the file contains text")
    else:
        raise CorruptInputError(f"not a {ext_name}: unrecognised content (not PNG, JPEG or TIFF)")
    img.path = str(p)
    return img


def _to_float(arr: np.ndarray, maxval: int) -> np.ndarray:
    return (arr.astype(np.float32) / np.float32(maxval)).astype(np.float32, copy=False)


def _split(arr: np.ndarray, has_alpha: bool, maxval: int, bit_depth: int, fmt: str, exif: dict) -> RgbImage:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    alpha = None
    if has_alpha:
        alpha = np.ascontiguousarray(arr[:, :, -1])
        arr = arr[:, :, :-1]
    if arr.shape[2] not in (1, 3):
        raise UnsupportedInputError(f"{arr.shape[2]}-channel image is not supported (grey or RGB only)")
    return RgbImage(data_hwc=_to_float(arr, maxval), alpha=alpha, bit_depth=bit_depth, format=fmt, exif=exif)


# --------------------------------------------------------------------------- PNG
def _png_ihdr(p: Path) -> tuple[int, int, int, int]:
    data = head(p, 33)
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise CorruptInputError("truncated or damaged PNG: no image header")
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    return w, h, depth, ctype


def _png_ancillary(p: Path) -> tuple[list[tuple[bytes, bytes]], bool]:
    """Metadata chunks to carry (not IDAT), and whether the chunk stream is complete (IEND)."""
    import png

    chunks: list[tuple[bytes, bytes]] = []
    complete = False
    try:
        for ctype, data in png.Reader(filename=str(p)).chunks():
            if ctype in PNG_CARRY_CHUNKS:
                chunks.append((ctype, data))
            if ctype == b"IEND":
                complete = True
    except (png.Error, EOFError, zlib.error, ValueError, struct.error):
        complete = False
    return chunks, complete


def _exif_from_blob(blob: bytes) -> dict:
    from PIL import Image

    try:
        ex = Image.Exif()
        ex.load(blob if blob.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + blob)
        return exif_from_pillow(ex)
    except Exception:  # noqa: BLE001 -- unreadable EXIF is just dropped
        return {}


def _read_png(p: Path) -> RgbImage:
    w, h, depth, ctype = _png_ihdr(p)
    check_pixels(h, w, "PNG image")
    chunks, complete = _png_ancillary(p)
    if not complete:
        raise CorruptInputError("truncated or damaged PNG (chunk stream ends early or fails its CRC)")
    exif: dict[str, Any] = {"_png_chunks": chunks}
    for ctype_, data in chunks:
        if ctype_ == b"eXIf":
            exif.update(_exif_from_blob(data))
        elif ctype_ == b"iCCP":
            try:
                name_end = data.index(b"\x00")
                exif["_icc_profile"] = zlib.decompress(data[name_end + 2:])
            except (ValueError, zlib.error):
                pass
    if depth == 16:
        import png

        try:
            width, height, rows, info = png.Reader(filename=str(p)).read()
            planes = int(info["planes"])
            arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, planes)
        except (png.Error, EOFError, zlib.error, ValueError, struct.error) as exc:
            raise CorruptInputError(f"truncated or damaged PNG ({_short(exc)})") from None
        return _split(arr, bool(info["alpha"]), 65535, 16, "png", exif)
    arr, has_alpha = _pillow_decode(p, "PNG")
    return _split(arr, has_alpha, 255, 8, "png", exif)


def _short(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return s[:120]


def _pillow_open(p: Path, what: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
    except Image.DecompressionBombError as exc:
        raise UnsupportedInputError(
            f"{what} too large for the decoder's safety limit ({_short(exc)})") from None
    except UnidentifiedImageError:
        raise CorruptInputError(f"damaged {what}: the decoder does not recognise it") from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptInputError(f"truncated or damaged {what} ({_short(exc)})") from None
    check_pixels(im.size[1], im.size[0], f"{what} image")
    return im


def _pillow_decode(p: Path, what: str, im: Any = None) -> tuple[np.ndarray, bool]:
    """Decode with Pillow to (H, W[, C]) uint8 + has_alpha (8-bit paths only)."""
    from PIL import Image

    if im is None:
        im = _pillow_open(p, what)
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
        raise CorruptInputError(f"truncated or damaged {what} ({_short(exc)})") from None
    finally:
        if im is not orig:
            im.close()
        orig.close()
    return arr, arr.ndim == 3 and arr.shape[2] in (2, 4)


# --------------------------------------------------------------------------- JPEG
def _read_jpeg(p: Path) -> RgbImage:
    from PIL import JpegImagePlugin

    im = _pillow_open(p, "JPEG")
    exif: dict[str, Any] = {}
    raw_exif = im.info.get("exif")
    if raw_exif:
        exif.update(_exif_from_blob(raw_exif))
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
    arr, has_alpha = _pillow_decode(p, "JPEG", im)
    return _split(arr, has_alpha, 255, 8, "jpeg", exif)


# --------------------------------------------------------------------------- TIFF
def _read_tiff(p: Path) -> RgbImage:
    import tifffile

    size = p.stat().st_size
    try:
        tf = tifffile.TiffFile(p)
    except Exception as exc:  # noqa: BLE001 -- tifffile raises many kinds on garbage
        raise CorruptInputError(f"damaged TIFF ({_short(exc)})") from None
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
                arr, has_alpha = _pillow_decode(p, "TIFF")
                return _split(arr, has_alpha, 255, 8, "tiff", exif)
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
                    arr8, has_alpha = _pillow_decode(p, "TIFF")
                    return _split(arr8, has_alpha, 255, 8, "tiff", exif)
                raise UnsupportedInputError(
                    f"16-bit TIFF with {page.compression.name} compression needs the 'imagecodecs' "
                    "package (pip install imagecodecs)") from None
            raise CorruptInputError(f"damaged TIFF ({_short(exc)})") from None
        except Exception as exc:  # noqa: BLE001
            raise CorruptInputError(f"damaged TIFF ({_short(exc)})") from None
    axes = page.axes
    if arr.ndim == 3 and axes.startswith("S"):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[:2] != (h, w):
        raise UnsupportedInputError(f"unexpected TIFF layout {page.axes} {arr.shape}")
    bits = 16 if arr.dtype == np.uint16 else 8
    return _split(arr, samples == base + 1, 65535 if bits == 16 else 255, bits, "tiff", exif)


# =========================================================================== writing
def _format_for(path: Path, fallback: str) -> str:
    fmt = _EXT_FORMAT.get(path.suffix.lower())
    if fmt is None:
        if fallback in ("png", "tiff", "jpeg"):
            return fallback
        raise ValueError(f"cannot tell the image format from {path.name!r} (use .png, .tif, .tiff, .jpg, .jpeg)")
    return fmt


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


def _hwc(data: Any) -> np.ndarray:
    a = np.asarray(data)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"data_hwc must be (H, W, 1) or (H, W, 3), got shape {a.shape}")
    return a


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
    a = _hwc(data_hwc)
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
            _write_png(tmp, pix, has_alpha=alpha is not None, exif=exif, same_format=same)
        elif fmt == "jpeg":
            _write_jpeg(tmp, q, exif=exif, quality=jpeg_quality, same_format=same)
        else:
            _write_tiff(tmp, pix, has_alpha=alpha is not None, exif=exif, same_format=same)
    return p


def _png_chunks_for(exif: dict, same_format: bool) -> list[tuple[bytes, bytes]]:
    if same_format and "_png_chunks" in exif:
        out = []
        for ctype, data in exif["_png_chunks"]:
            if ctype == b"eXIf":
                data = unlink_ifd1(data)
            out.append((ctype, data))
        return out
    out = []
    icc = exif.get("_icc_profile")
    if icc:
        out.append((b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    blob = exif_tiff_blob(exif)
    if blob:
        out.append((b"eXIf", blob))
    return out


def _write_png(tmp: Path, pix: np.ndarray, *, has_alpha: bool, exif: dict, same_format: bool) -> None:
    import png

    h, w, c = pix.shape
    buf = io.BytesIO()
    if pix.dtype == np.uint16:
        writer = png.Writer(width=w, height=h, greyscale=c in (1, 2), alpha=has_alpha, bitdepth=16,
                            compression=_PNG_ZLIB_LEVEL)
        writer.write(buf, pix.reshape(h, w * c))
    else:
        from PIL import Image

        Image.fromarray(np.ascontiguousarray(pix[:, :, 0] if c == 1 else pix)).save(
            buf, format="PNG", compress_level=_PNG_ZLIB_LEVEL)
    extra = _png_chunks_for(exif, same_format)
    if not extra:
        tmp.write_bytes(buf.getvalue())
        return
    chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
    out = [chunks[0]] + extra + chunks[1:]   # IHDR first, then metadata, then IDAT..IEND
    with open(tmp, "wb") as fh:
        png.write_chunks(fh, out)


def _write_jpeg(tmp: Path, q: np.ndarray, *, exif: dict, quality: int, same_format: bool) -> None:
    from PIL import Image

    c = q.shape[2]
    im = Image.fromarray(np.ascontiguousarray(q[:, :, 0] if c == 1 else q))
    kw: dict[str, Any] = {"quality": int(quality)}
    if same_format and exif.get("_exif_bytes"):
        kw["exif"] = exif["_exif_bytes"]
    else:
        blob = exif_tiff_blob(exif)
        if blob:
            kw["exif"] = b"Exif\x00\x00" + blob
    if exif.get("_icc_profile"):
        kw["icc_profile"] = exif["_icc_profile"]
    if exif.get("_xmp"):
        kw["xmp"] = exif["_xmp"]
    if c == 3 and exif.get("_jpeg_subsampling") in (0, 1, 2):
        kw["subsampling"] = exif["_jpeg_subsampling"]
    im.save(tmp, format="JPEG", **kw)


def _resolution(exif: dict) -> dict:
    xr, yr = rational_to_float(exif.get("XResolution")), rational_to_float(exif.get("YResolution"))
    if not xr or not yr:
        return {}
    unit = exif.get("ResolutionUnit", 2)
    return {"resolution": (xr, yr), "resolutionunit": int(unit) if unit in (1, 2, 3) else 2}


def _write_tiff(tmp: Path, pix: np.ndarray, *, has_alpha: bool, exif: dict, same_format: bool) -> None:
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
        compressionargs={"level": _PNG_ZLIB_LEVEL} if compression else None,
        software=software, extratags=extratags, **_resolution(exif))
    if exif.get("_icc_profile"):
        kw["iccprofile"] = exif["_icc_profile"]
    if has_alpha:
        kw["extrasamples"] = (int(exif.get("_tiff_extrasamples", 2)),)
    data = pix[:, :, 0] if c == 1 else pix
    with tifffile.TiffWriter(tmp, bigtiff=False, byteorder="<") as tw:
        tw.write(data, **kw)
    append_exif_ifds(tmp, exif)


def write_preview(path: str | os.PathLike, srgb_hwc: np.ndarray, *, quality: int = 90,
                  exif: dict | None = None) -> Path:
    """Write an 8-bit sRGB rendering (ISP output) as JPEG, or PNG when ``path`` ends in .png.

    Args:
        path: .jpg/.jpeg or .png (any other suffix: ValueError).
        srgb_hwc: (H, W, 3) uint8, or float in [0, 1] (quantised with rounding).
        quality: JPEG quality 1..100.
        exif: optional exif dict (e.g. ``raw.exif``) whose tags (capture data, Orientation)
            are embedded; no thumbnail.
    Returns:
        pathlib.Path of the written file (atomic).
    """
    p = Path(path)
    fmt = _EXT_FORMAT.get(p.suffix.lower())
    if fmt not in ("jpeg", "png"):
        raise ValueError(f"preview must be .jpg, .jpeg or .png, got {p.name!r}")
    q = quantise(_hwc(srgb_hwc), 8)
    like = RgbImage(data_hwc=q, alpha=None, bit_depth=8, format="none", exif={
        k: v for k, v in (exif or {}).items() if not k.startswith("_")})
    return write_rgb(p, q, like, jpeg_quality=quality)


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
    q = quantise(_hwc(srgb_hwc), 16)
    like = RgbImage(data_hwc=q, alpha=None, bit_depth=16, format="tiff", exif={
        k: v for k, v in (exif or {}).items() if not k.startswith("_")})
    with atomic_path(p) as tmp:
        _write_tiff(tmp, q, has_alpha=False, exif=like.exif, same_format=False)
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
    iso = ex.get("ISOSpeedRatings")
    if isinstance(iso, tuple):
        iso = iso[0] if iso else None
    return {
        "kind": "rgb", "path": img.path, "format": img.format, "width": int(w), "height": int(h),
        "megapixels": round(h * w / 1e6, 2), "channels": int(c), "alpha": img.alpha is not None,
        "bit_depth": img.bit_depth,
        "camera": " ".join(str(x) for x in (ex.get("Make"), ex.get("Model")) if x) or None,
        "iso": float(iso) if iso else None,
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


