"""PNG reading and writing: 16-bit through imagecodecs' libpng (Pillow would drop to 8 bits;
measured 2x faster to write and 4.5x faster to read than pure-Python pypng on a 6 MP 16-bit RGB
image, and 30% smaller at the same zlib level), 1-8 bit through Pillow; ancillary chunks (gAMA,
cHRM, sRGB, iCCP, pHYs, text, eXIf) carried from a PNG source (chunk-level copy with pypng).
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from edgeden.core.types import (
    CorruptInputError,
    RgbImage,
)
from edgeden.io.common import check_pixels, head
from edgeden.io.exif import exif_from_pillow
from edgeden.io.exif_write import pillow_exif, unlink_ifd1
from edgeden.io.pixels import pillow_decode, short_error, split_channels

#: PNG ancillary chunks copied from a PNG source to a PNG output (placed after IHDR).
PNG_CARRY_CHUNKS = (b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"eXIf")


#: zlib level for PNG and deflate-TIFF output: 3 writes about twice as fast as 6 for ~10 % more bytes.
PNG_ZLIB_LEVEL = 3


# --------------------------------------------------------------------------- PNG
def png_ihdr(p: Path) -> tuple[int, int, int, int]:
    data = head(p, 33)
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise CorruptInputError("truncated or damaged PNG: no image header")
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    return w, h, depth, ctype


def png_ancillary(p: Path) -> tuple[list[tuple[bytes, bytes]], bool]:
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


def exif_from_blob(blob: bytes) -> dict:
    from PIL import Image

    try:
        ex = Image.Exif()
        ex.load(blob if blob.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + blob)
        return exif_from_pillow(ex)
    except Exception:  # noqa: BLE001 -- unreadable EXIF is just dropped
        return {}


def read_png(p: Path) -> RgbImage:
    w, h, depth, ctype = png_ihdr(p)
    check_pixels(h, w, "PNG image")
    chunks, complete = png_ancillary(p)
    if not complete:
        raise CorruptInputError("truncated or damaged PNG (chunk stream ends early or fails its CRC)")
    exif: dict[str, Any] = {"_png_chunks": chunks}
    for ctype_, data in chunks:
        if ctype_ == b"eXIf":
            exif.update(exif_from_blob(data))
        elif ctype_ == b"iCCP":
            try:
                name_end = data.index(b"\x00")
                exif["_icc_profile"] = zlib.decompress(data[name_end + 2:])
            except (ValueError, zlib.error):
                pass
    if depth == 16:
        import imagecodecs

        try:
            arr = imagecodecs.png_decode(p.read_bytes())
        except (imagecodecs.PngError, ValueError, RuntimeError) as exc:
            raise CorruptInputError(f"truncated or damaged PNG ({short_error(exc)})") from None
        return split_channels(arr, ctype in (4, 6), 65535, 16, "png", exif)
    arr, has_alpha = pillow_decode(p, "PNG")
    return split_channels(arr, has_alpha, 255, 8, "png", exif)


def png_chunks_for(exif: dict, same_format: bool) -> list[tuple[bytes, bytes]]:
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
    ex = pillow_exif(exif)
    if ex is not None:  # eXIf holds the TIFF structure without JPEG's "Exif\0\0" prefix
        blob = ex.tobytes()
        out.append((b"eXIf", blob[6:] if blob.startswith(b"Exif\x00\x00") else blob))
    return out


def write_png(tmp: Path, pix: np.ndarray, *, has_alpha: bool, exif: dict, same_format: bool) -> None:
    import png

    h, w, c = pix.shape
    buf = io.BytesIO()
    if pix.dtype == np.uint16:
        import imagecodecs

        buf.write(imagecodecs.png_encode(np.ascontiguousarray(pix[:, :, 0] if c == 1 else pix), level=PNG_ZLIB_LEVEL))
    else:
        from PIL import Image

        Image.fromarray(np.ascontiguousarray(pix[:, :, 0] if c == 1 else pix)).save(
            buf, format="PNG", compress_level=PNG_ZLIB_LEVEL)
    extra = png_chunks_for(exif, same_format)
    if not extra:
        tmp.write_bytes(buf.getvalue())
        return
    chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
    out = [chunks[0]] + extra + chunks[1:]   # IHDR first, then metadata, then IDAT..IEND
    with open(tmp, "wb") as fh:
        png.write_chunks(fh, out)
