"""Shared helpers of ``edgeden.io``: size limit, extensions, content sniffing."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from edgeden.core.types import CorruptInputError, EdgedenError, UnsupportedInputError

#: Largest image edgeden reads, in pixels (200 megapixels). This covers every single-shot
#: camera sold so far (the largest, 150-MP medium format backs, are 151 MP) with a margin;
#: a 200-MP RGB image already takes 2.4 GB as float32. Files whose header claims more are
#: refused with :class:`UnsupportedInputError` *before* any pixel is decoded, which also
#: stops "decompression bombs" (a tiny file that claims 100000 x 100000 pixels).
MAX_PIXELS = 200_000_000

#: Camera raw extensions (lower case, with the dot) handed to LibRaw via rawpy.
RAW_EXTENSIONS: frozenset[str] = frozenset({
    ".dng", ".gpr", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".arw", ".srf", ".sr2", ".raf",
    ".orf", ".rw2", ".rwl", ".pef", ".ptx", ".srw", ".kdc", ".dcr", ".dcs", ".k25", ".mrw",
    ".3fr", ".fff", ".iiq", ".cap", ".x3f", ".erf", ".mef", ".mos", ".mdc", ".raw", ".bay",
    ".ari", ".rwz", ".sti",
})
#: RGB / grey image extensions read by :func:`edgeden.io.read_rgb`.
RGB_EXTENSIONS: frozenset[str] = frozenset({".png", ".tif", ".tiff", ".jpg", ".jpeg"})

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"

#: Signatures of raw containers LibRaw knows (used to tell "unsupported camera" from "not a raw").
_RAW_SIGNATURES = (
    (0, b"II*\x00"), (0, b"MM\x00*"),           # TIFF-based: DNG NEF CR2 ARW PEF KDC DCR SRW ...
    (0, b"IIRO"), (0, b"IIRS"), (0, b"MMOR"),    # Olympus ORF
    (0, b"IIU\x00"),                            # Panasonic RW2 / Leica RWL
    (0, b"FUJIFILM"),                           # Fujifilm RAF
    (4, b"ftypcrx"),                            # Canon CR3
    (6, b"HEAPCCDR"),                           # Canon CRW
    (0, b"\x00MRM"),                            # Minolta MRW
    (0, b"FOVb"),                               # Sigma X3F
    (0, b"ARRI"),                               # ARRI
)


def head(path: str | os.PathLike, n: int = 64) -> bytes:
    """First ``n`` bytes of a file (fewer if it is shorter)."""
    with open(path, "rb") as fh:
        return fh.read(n)


def sniff(data: bytes) -> Literal["png", "jpeg", "tiff", "text", "unknown"]:
    """Guess a file's container from its first bytes.

    Args:
        data: the first bytes of the file (16 are enough).
    Returns:
        "png", "jpeg", "tiff" (any TIFF, DNG included), "text" (printable ASCII/UTF-8) or
        "unknown".
    """
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data[:4] in _TIFF_MAGIC:
        return "tiff"
    if data and _looks_like_text(data):
        return "text"
    return "unknown"


def _looks_like_text(data: bytes) -> bool:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in s)


def looks_like_raw_container(data: bytes) -> bool:
    """True if the first bytes match a raw container signature LibRaw knows."""
    return any(data[off:off + len(sig)] == sig for off, sig in _RAW_SIGNATURES)


def check_file(path: str | os.PathLike) -> Path:
    """Check that ``path`` is an existing, non-empty regular file.

    Returns:
        pathlib.Path of the file.
    Raises:
        EdgedenError: it does not exist or is a folder.
        CorruptInputError: it is empty (0 bytes).
    """
    p = Path(path)
    if not p.exists():
        raise EdgedenError("file not found")
    if not p.is_file():
        raise EdgedenError("not a regular file")
    if p.stat().st_size == 0:
        raise CorruptInputError("empty file (0 bytes)")
    return p


def check_pixels(height: int, width: int, what: str = "image") -> None:
    """Refuse absurd image sizes before decoding.

    Args:
        height, width: size claimed by the file header, in pixels.
        what: word for the message ("image", "raw mosaic", ...).
    Raises:
        CorruptInputError: a dimension is zero or negative.
        UnsupportedInputError: ``height * width`` exceeds :data:`MAX_PIXELS`.
    """
    if height <= 0 or width <= 0:
        raise CorruptInputError(f"{what} header claims an empty size ({width}x{height})")
    n = int(height) * int(width)
    if n > MAX_PIXELS:
        raise UnsupportedInputError(
            f"{what} too large: {width}x{height} = {n / 1e6:.0f} MP exceeds the "
            f"{MAX_PIXELS / 1e6:.0f} MP limit (edgeden.io.MAX_PIXELS)")


def is_dng_tiff(path: str | os.PathLike) -> bool:
    """True if ``path`` is a TIFF whose first IFD carries the DNGVersion tag (50706)."""
    try:
        if sniff(head(path, 8)) != "tiff":
            return False
        import tifffile
        with tifffile.TiffFile(path) as tf:
            return 50706 in tf.pages.first.tags
    except Exception:  # noqa: BLE001 -- any parse failure means "not a readable DNG"
        return False


def detect_kind(path: str | os.PathLike) -> Literal["raw", "rgb"]:
    """Decide whether a file is a camera raw or an RGB/grey image.

    Extension first (case-insensitive): :data:`RAW_EXTENSIONS` -> "raw",
    :data:`RGB_EXTENSIONS` -> "rgb". Content refines it: a ``.tif``/``.tiff`` (or ``.png``,
    ``.jpg``) that is really a DNG (TIFF with DNGVersion) is "raw"; a file with a raw
    extension whose content is a PNG or JPEG is "rgb". A plain TIFF (no DNGVersion) is RGB.
    The file need not be valid: the reader reports corruption.

    Args:
        path: file path.
    Returns:
        "raw" or "rgb".
    Raises:
        UnsupportedInputError: unknown extension.
    """
    p = Path(path)
    ext = p.suffix.lower()
    try:
        magic = sniff(head(p, 16)) if p.is_file() else "unknown"
    except OSError:
        magic = "unknown"
    if ext in RAW_EXTENSIONS:
        return "rgb" if magic in ("png", "jpeg") else "raw"
    if ext in RGB_EXTENSIONS:
        if magic == "tiff" and is_dng_tiff(p):
            return "raw"
        return "rgb"
    known = ", ".join(sorted(RGB_EXTENSIONS | {".dng", ".nef", ".cr2", ".cr3", ".arw", ".raf"}))
    raise UnsupportedInputError(
        f"unknown file type '{ext or p.name}' (expected a camera raw or one of {known}, ...)")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MB blocks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
