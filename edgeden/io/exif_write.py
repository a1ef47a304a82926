"""Writing EXIF: Pillow's Image.Exif for JPEG APP1 and PNG eXIf (:func:`pillow_exif`); for TIFF and
DNG, which tifffile writes, the EXIF and GPS sub-IFDs that no library appends to a written file
(:func:`exif_placeholder_tags` + :func:`append_exif_ifds`, encoded by :func:`encode_ifd`); and
:func:`unlink_ifd1`, which drops a copied blob's thumbnail link without re-serialising it (so
MakerNote offsets stay valid).

Values are in the canonical form of :mod:`edgeden.io.exif`.
"""
from __future__ import annotations

import struct
from typing import Any

from edgeden.io.exif import (
    ASCII,
    BYTE,
    DOUBLE,
    EXIF_IFD_POINTER,
    FLOAT,
    GPS_IFD_POINTER,
    LONG,
    RATIONAL,
    SHORT,
    SLONG,
    SRATIONAL,
    SSHORT,
    UNDEFINED,
    as_int_pair,
    normalise_value,
    split_exif,
)

#: tifffile refuses to write 34665/34853 itself; the writers put these placeholder codes (which
#: sort just before them, so IFD0 stays ordered) and :func:`append_exif_ifds` renames them.
_PLACEHOLDER = {EXIF_IFD_POINTER: 34664, GPS_IFD_POINTER: 34852}


# --------------------------------------------------------------------------- encoding
def _pack(dtype: int, value: Any, bo: str) -> tuple[int, bytes] | None:
    """Encode one tag value -> (count, payload bytes), or None if it does not fit the type."""
    v = normalise_value(value, dtype)
    if v is None:
        return None
    if dtype == ASCII:
        b = v.encode("utf-8") + b"\x00"
        return len(b), b
    if dtype in (BYTE, UNDEFINED):
        return (len(v), v) if v else None
    if dtype in (SHORT, SSHORT, LONG, SLONG):
        vals = v if isinstance(v, tuple) else (v,)
        if not vals:
            return None
        lo, hi, fmt = {SHORT: (0, 65535, "H"), SSHORT: (-32768, 32767, "h"),
                       LONG: (0, 2**32 - 1, "I"), SLONG: (-2**31, 2**31 - 1, "i")}[dtype]
        vals = tuple(min(max(int(x), lo), hi) for x in vals)
        return len(vals), struct.pack(bo + fmt * len(vals), *vals)
    if dtype in (RATIONAL, SRATIONAL):
        if not v or len(v) % 2:
            return None
        lo, hi, fmt = (0, 2**32 - 1, "I") if dtype == RATIONAL else (-2**31, 2**31 - 1, "i")
        vals = tuple(min(max(int(x), lo), hi) for x in v)
        return len(vals) // 2, struct.pack(bo + fmt * len(vals), *vals)
    if dtype in (FLOAT, DOUBLE):
        vals = v if isinstance(v, tuple) else (v,)
        fmt = "f" if dtype == FLOAT else "d"
        return len(vals), struct.pack(bo + fmt * len(vals), *vals)
    return None


def encode_ifd(entries: list[tuple[int, int, Any]], offset: int, byteorder: str = "<") -> bytes:
    """Serialise one classic-TIFF IFD (with its out-of-line values) to be placed at ``offset``.

    Args:
        entries: (code, type, value) triples; values in the canonical form (see module doc).
            Entries that cannot be encoded are skipped.
        offset: absolute file offset (even) where the returned bytes will be written.
        byteorder: "<" (II) or ">" (MM).
    Returns:
        bytes: entry count, 12-byte entries sorted by code, next-IFD offset 0, then the data.
    """
    packed = []
    for code, dtype, value in sorted(entries, key=lambda e: e[0]):
        r = _pack(dtype, value, byteorder)
        if r is not None:
            packed.append((code, dtype, r[0], r[1]))
    n = len(packed)
    data_pos = offset + 2 + 12 * n + 4
    head = bytearray(struct.pack(byteorder + "H", n))
    data = bytearray()
    for code, dtype, count, payload in packed:
        if len(payload) <= 4:
            field = payload.ljust(4, b"\x00")
        else:
            field = struct.pack(byteorder + "I", data_pos + len(data))
            data += payload
            if len(data) % 2:
                data += b"\x00"
        head += struct.pack(byteorder + "HHI", code, dtype, count) + field
    head += struct.pack(byteorder + "I", 0)
    return bytes(head + data)


def pillow_exif(exif: dict, *, overrides: dict | None = None) -> Any:
    """A Pillow ``Image.Exif`` holding the tags of a canonical exif dict (IFD0, EXIF and GPS
    sub-IFDs, each tag with its table type: rationals as ``IFDRational``), for writing a JPEG
    APP1 segment or a PNG eXIf chunk (``.tobytes()``). ``overrides``: name -> value replacing or
    adding tags. Returns None when there is nothing to write.
    """
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    d = dict(exif)
    if overrides:
        d.update(overrides)
    ifd0, ex, gps = split_exif(d)
    if not (ifd0 or ex or gps):
        return None

    def value(t: int, v: Any) -> Any:
        if t in (RATIONAL, SRATIONAL):
            v = v if isinstance(v, tuple) else as_int_pair(v)
            rs = tuple(IFDRational(int(v[i]), int(v[i + 1])) for i in range(0, len(v) - 1, 2))
            return rs[0] if len(rs) == 1 else rs
        return v

    out = Image.Exif()
    out.endian = "<"  # little-endian, as our TIFF and DNG outputs
    for code, t, v in ifd0:
        out[code] = value(t, v)
    for pointer, entries in ((EXIF_IFD_POINTER, ex), (GPS_IFD_POINTER, gps)):
        if entries:
            sub = out.get_ifd(pointer)
            for code, t, v in entries:
                sub[code] = value(t, v)
    return out


def exif_placeholder_tags(exif: dict) -> list[tuple[int, int, int, int, bool]]:
    """tifffile ``extratags`` for IFD0 pointer placeholders (patched by :func:`append_exif_ifds`).

    Returns:
        list of (code, LONG, 1, 0, True) for the EXIF and/or GPS IFD pointers needed.
    """
    _, ex, gps = split_exif(exif)
    tags = []
    if ex:
        tags.append((_PLACEHOLDER[EXIF_IFD_POINTER], LONG, 1, 0, True))
    if gps:
        tags.append((_PLACEHOLDER[GPS_IFD_POINTER], LONG, 1, 0, True))
    return tags


def ifd0_extratags(exif: dict, skip: set[int] | frozenset[int] = frozenset()) -> list[tuple]:
    """tifffile ``extratags`` for the carried-over IFD0 tags (Orientation, Artist, ...).

    Args:
        exif: canonical exif dict.
        skip: codes the caller writes itself (e.g. Make/Model/Software).
    Returns:
        list of (code, type, count, value, True) tuples.
    """
    ifd0, _, _ = split_exif(exif)
    out = []
    for code, dtype, value in ifd0:
        if code in skip:
            continue
        v = normalise_value(value, dtype)
        if v in (None, "", b""):
            continue
        if dtype == ASCII:
            out.append((code, ASCII, 0, v, True))
        elif dtype in (RATIONAL, SRATIONAL):
            out.append((code, dtype, len(v) // 2, v, True))
        elif isinstance(v, tuple):
            out.append((code, dtype, len(v), v, True))
        else:
            out.append((code, dtype, 1, v, True))
    return out


def append_exif_ifds(path: Any, exif: dict) -> None:
    """Append the EXIF and GPS IFDs to a finished classic TIFF and patch IFD0's pointers.

    The file must have been written with :func:`exif_placeholder_tags` in IFD0 (tifffile
    cannot write sub-IFDs without image data, so they are added afterwards).

    Args:
        path: the TIFF/DNG file (a temporary file of :func:`atomic_path`).
        exif: canonical exif dict (the same one given to :func:`exif_placeholder_tags`).
    """
    _, ex, gps = split_exif(exif)
    if not (ex or gps):
        return
    entry_pos, bo = _ifd0_placeholder_entries(path)
    with open(path, "r+b") as fh:
        for pointer, entries in ((EXIF_IFD_POINTER, ex), (GPS_IFD_POINTER, gps)):
            if not entries or pointer not in entry_pos:
                continue
            fh.seek(0, 2)
            end = fh.tell()
            if end % 2:
                fh.write(b"\x00")
                end += 1
            fh.write(encode_ifd(entries, end, bo))
            fh.seek(entry_pos[pointer])
            fh.write(struct.pack(bo + "HHI", pointer, LONG, 1) + struct.pack(bo + "I", end))


def _ifd0_placeholder_entries(path: Any) -> tuple[dict[int, int], str]:
    """File offsets of IFD0's placeholder entries, keyed by the pointer tag they stand for."""
    with open(path, "rb") as fh:
        header = fh.read(8)
        if header[:4] == b"II*\x00":
            bo = "<"
        elif header[:4] == b"MM\x00*":
            bo = ">"
        else:
            return {}, "<"
        (ifd_off,) = struct.unpack(bo + "I", header[4:8])
        fh.seek(ifd_off)
        (n,) = struct.unpack(bo + "H", fh.read(2))
        entries = fh.read(12 * n)
    wanted = {v: k for k, v in _PLACEHOLDER.items()}
    pos = {}
    for i in range(n):
        (code,) = struct.unpack(bo + "H", entries[12 * i:12 * i + 2])
        if code in wanted:
            pos[wanted[code]] = ifd_off + 2 + 12 * i
    return pos, bo


def unlink_ifd1(blob: bytes) -> bytes:
    """Cut the IFD1 (thumbnail) link out of a raw EXIF/TIFF blob, keeping everything else.

    The blob is copied byte for byte (so MakerNote offsets stay valid) except IFD0's
    next-IFD pointer, which is set to 0: readers then see no embedded thumbnail, so no stale
    preview of the noisy original survives in a denoised JPEG/PNG.

    Args:
        blob: EXIF bytes, with or without the ``b"Exif\\x00\\x00"`` prefix.
    Returns:
        bytes of the same length and prefix (unchanged if the structure cannot be parsed).
    """
    prefix = b"Exif\x00\x00" if blob.startswith(b"Exif\x00\x00") else b""
    t = bytearray(blob[len(prefix):])
    if t[:4] == b"II*\x00":
        bo = "<"
    elif t[:4] == b"MM\x00*":
        bo = ">"
    else:
        return blob
    try:
        (off,) = struct.unpack(bo + "I", t[4:8])
        (n,) = struct.unpack(bo + "H", t[off:off + 2])
        nxt = off + 2 + 12 * n
        if nxt + 4 <= len(t):
            t[nxt:nxt + 4] = b"\x00\x00\x00\x00"
    except struct.error:
        return blob
    return prefix + bytes(t)
