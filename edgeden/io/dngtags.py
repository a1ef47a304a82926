"""DNG/TIFF tag parsing for raw files (through tifffile): the NoiseProfile tag (the one parser
of it), colour matrices by calibration illuminant, per-position black levels, the tags a
written DNG copies from its source, and the checks that refuse linear or non-CFA DNGs.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgeden.core.types import (
    CorruptInputError,
    NoiseParams,
    UnsupportedInputError,
)
from edgeden.io.common import (
    check_pixels,
)
from edgeden.io.exif import (
    exif_from_tifffile_page,
    normalise_value,
)

#: Correlated colour temperature (K) of the EXIF LightSource / DNG CalibrationIlluminant codes.
ILLUMINANT_CCT: dict[int, float] = {
    1: 5500, 2: 4150, 3: 2850, 4: 5500, 9: 5500, 10: 6500, 11: 7500, 12: 6430, 13: 5000,
    14: 4150, 15: 3450, 16: 2940, 17: 2856, 18: 4874, 19: 6774, 20: 5503, 21: 6504, 22: 7504,
    23: 5003, 24: 3200,
}


#: DNG IFD0 tags copied unchanged from a DNG source into a DNG written from it (camera
#: profile, calibration, maker data). Digests, previews, raw-data IDs and the noise tags
#: are *not* copied: they describe the source data, not the written one.
DNG_IFD0_PASSTHROUGH: frozenset[int] = frozenset({
    700, 50708, 50709, 50721, 50722, 50723, 50724, 50727, 50730, 50731, 50732, 50734, 50735,
    50736, 50739, 50740, 50778, 50779, 50827, 50931, 50932, 50936, 50937, 50938, 50939, 50940,
    50941, 50942, 50964, 50965, 50981, 50982, 51107, 51108, 51109, 51110,
})


#: DNG raw-IFD tags copied likewise (crop, scale, opcode lists, hints).
DNG_RAW_PASSTHROUGH: frozenset[int] = frozenset({
    50718, 50719, 50720, 50733, 50738, 50780, 51008, 51009, 51022, 51125,
})


def noise_params_from_dng(values: Any, plane_colors: tuple[int, ...] = (0, 1, 2)) -> NoiseParams | None:
    """Convert the DNG NoiseProfile tag (51041) to :class:`NoiseParams`.

    DNG: variance = S * x + O on linear values normalised to [0, 1] (black subtracted, divided
    by white - black), stored as (S, O) once or once per colour plane (``CFAPlaneColor`` order).

    Args:
        values: flat sequence of doubles, length 2 or 2 * len(plane_colors).
        plane_colors: CFAPlaneColor (0=R, 1=G, 2=B), default (0, 1, 2).
    Returns:
        NoiseParams with 1-tuples (one pair) or 4-tuples in packed order (R, G1, G2, B);
        None if the tag is malformed (wrong length, S <= 0, O < 0 or not finite).
    """
    if values is None:
        return None
    v = [float(x) for x in np.asarray(values, dtype=np.float64).ravel()]
    if len(v) < 2 or len(v) % 2 or not all(math.isfinite(x) for x in v):
        return None
    shots, reads = v[0::2], v[1::2]
    if any(s <= 0 for s in shots) or any(o < 0 for o in reads):
        return None
    if len(shots) == 1:
        return NoiseParams(shot=(shots[0],), read=(reads[0],), source="dng-noiseprofile",
                           detail="DNG NoiseProfile tag, one (S, O) pair for all planes")
    pc = tuple(plane_colors)
    if len(shots) != len(pc) or sorted(pc) != [0, 1, 2]:
        return None
    by_color = {c: (shots[i], reads[i]) for i, c in enumerate(pc)}
    order = (0, 1, 1, 2)  # packed R, G1, G2, B
    return NoiseParams(shot=tuple(by_color[c][0] for c in order), read=tuple(by_color[c][1] for c in order),
                       source="dng-noiseprofile",
                       detail="DNG NoiseProfile tag, per colour plane (R, G, B) -> packed (R, G1, G2, B)")


def _matrix_from_srational(value: Any) -> np.ndarray | None:
    v = normalise_value(value, 10)
    if not v or len(v) != 18:
        return None
    nums, dens = np.array(v[0::2], np.float64), np.array(v[1::2], np.float64)
    if np.any(dens == 0):
        return None
    m = (nums / dens).reshape(3, 3)
    return m if np.any(m != 0) else None


def select_color_matrix(tags: dict[int, Any]) -> tuple[np.ndarray | None, int | None]:
    """Pick the DNG ColorMatrix whose calibration illuminant is closest to D65 (in mired).

    Args:
        tags: code -> value for IFD0 (50721/50722 ColorMatrix1/2, 50778/50779 illuminants).
    Returns:
        ((3, 3) float64 XYZ -> camera matrix or None, its illuminant code or None).
    """
    cands = []
    for cm_code, il_code in ((50721, 50778), (50722, 50779)):
        if cm_code in tags:
            m = _matrix_from_srational(tags[cm_code])
            if m is not None:
                il = int(normalise_value(tags.get(il_code, 0), 3) or 0)
                cct = ILLUMINANT_CCT.get(il, 5000.0)  # 0 / unknown: assume mid-daylight
                cands.append((abs(1e6 / cct - 1e6 / 6504.0), m, il))
    if not cands:
        return None, None
    cands.sort(key=lambda c: c[0])
    return cands[0][1], cands[0][2]


def dng_black_levels(raw_tags: dict[int, Any], visible_origin: tuple[int, int]) -> tuple[float, ...] | None:
    """Per-position black levels of the visible 2x2 block from DNG tags (DNG 1.4 semantics).

    The BlackLevel pattern (BlackLevelRepeatDim rows x cols, default 1x1) starts at the
    top-left corner of the ActiveArea; BlackLevelDeltaH/V (per column / row) are averaged over
    the columns / rows of each parity. LibRaw instead anchors the pattern at the sensor origin,
    which differs when the ActiveArea starts at an odd row or column.

    Args:
        raw_tags: code -> value of the raw IFD (50713, 50714, 50715, 50716, 50829).
        visible_origin: (row, col) of the visible area in sensor coordinates (LibRaw's
            top_margin, left_margin).
    Returns:
        4 floats (top-left, top-right, bottom-left, bottom-right), or None without BlackLevel
        or for a multi-sample pattern.
    """
    if 50714 not in raw_tags:
        return None
    dims = raw_tags.get(50713, (1, 1))
    rows, cols = (int(x) for x in np.ravel(dims)[:2])
    vals = tag_floats(raw_tags[50714])
    if rows < 1 or cols < 1 or len(vals) != rows * cols:
        return None
    pattern = np.array(vals, np.float64).reshape(rows, cols)
    aa = raw_tags.get(50829)
    aa_top, aa_left = (int(x) for x in np.ravel(aa)[:2]) if aa is not None else (0, 0)
    r0, c0 = visible_origin[0] - aa_top, visible_origin[1] - aa_left
    dh = tag_floats(raw_tags[50715]) if 50715 in raw_tags else []
    dv = tag_floats(raw_tags[50716]) if 50716 in raw_tags else []
    out = []
    for i in range(2):
        for j in range(2):
            b = pattern[(r0 + i) % rows, (c0 + j) % cols]
            if dh:
                b += float(np.mean(dh[max(c0 + j, 0)::2] or [0.0]))
            if dv:
                b += float(np.mean(dv[max(r0 + i, 0)::2] or [0.0]))
            out.append(float(b))
    return tuple(out)


def tag_floats(value: Any) -> list[float]:
    """Tag value (ints, floats or flat rationals as tifffile returns them) -> floats."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return [float(value)]
    arr = np.asarray(value)
    return [float(x) for x in arr.ravel()]


# --------------------------------------------------------------------------- tifffile side
def _tag_tuple(tag: Any) -> tuple[int, int, int, Any]:
    """(code, dtype, count, value) of a tifffile tag, value made writable by tifffile."""
    value = tag.value
    if isinstance(value, np.ndarray):
        value = tuple(value.ravel().tolist())
    elif hasattr(value, "value") and isinstance(getattr(value, "value"), int):  # enums
        value = int(value)
    return int(tag.code), int(tag.dtype), int(tag.count), value


def _decoded(tag: Any) -> Any:
    """Tag value with RATIONAL/SRATIONAL pairs turned into floats (tifffile keeps them flat)."""
    if int(tag.dtype) in (5, 10):
        v = np.ravel(np.asarray(tag.value, dtype=np.float64))
        if v.size % 2 == 0 and v.size:
            num, den = v[0::2], v[1::2]
            return tuple(float(n / d) if d else 0.0 for n, d in zip(num, den))
    return tag.value


def _iter_pages(tf: Any) -> list:
    out = []

    def walk(page: Any, depth: int) -> None:
        out.append(page)
        if depth < 2 and getattr(page, "pages", None):
            for sp in page.pages:
                walk(sp, depth + 1)

    for page in tf.pages:
        walk(page, 0)
    return out


def read_tiff_meta(path: Path) -> dict:
    """Tags of a TIFF-based raw (DNG, NEF, CR2, KDC, ...) via tifffile; {} if unreadable."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            ifd0 = tf.pages.first
            meta: dict[str, Any] = {
                "ifd0": {t.code: t.value for t in ifd0.tags.values()},
                "exif": exif_from_tifffile_page(ifd0),
                "is_dng": 50706 in ifd0.tags,
            }
            if not meta["is_dng"]:
                return meta
            pages = _iter_pages(tf)
            raw_page = None
            for pg in pages:
                tags = pg.tags
                nst = int(tags[254].value) if 254 in tags else 0
                if nst == 0 and int(pg.photometric) in (32803, 34892):
                    raw_page = pg
                    break
            meta["raw_found"] = raw_page is not None
            ifd0_pass, raw_pass = [], []
            for t in ifd0.tags.values():
                if t.code in DNG_IFD0_PASSTHROUGH:
                    ifd0_pass.append(_tag_tuple(t))
            if raw_page is not None:
                rt = raw_page.tags
                meta["raw"] = {t.code: _decoded(t) for t in rt.values()}
                meta["photometric"] = int(raw_page.photometric)
                meta["samples"] = int(raw_page.samplesperpixel)
                meta["raw_shape"] = (int(raw_page.imagelength), int(raw_page.imagewidth))
                for t in rt.values():
                    if t.code in DNG_RAW_PASSTHROUGH:
                        raw_pass.append(_tag_tuple(t))
                ends = [int(o) + int(c) for o, c in zip(raw_page.dataoffsets, raw_page.databytecounts) if c]
                meta["data_end"] = max(ends) if ends else 0
                aa = rt[50829].value if 50829 in rt else None
                meta["active_area_full"] = aa is None or tuple(int(x) for x in aa) == (
                    0, 0, meta["raw_shape"][0], meta["raw_shape"][1])
            meta["ifd0_pass"] = ifd0_pass
            meta["raw_pass"] = raw_pass
            return meta
    except Exception:  # noqa: BLE001 -- tags are optional extras; LibRaw has the last word
        return {}


def check_dng(meta: dict, size: int) -> None:
    """Refuse DNG kinds we cannot denoise, and truncated DNGs, before LibRaw decodes them."""
    if not meta.get("is_dng") or not meta.get("raw_found"):
        return
    check_pixels(*meta.get("raw_shape", (1, 1)), "raw image")
    phot = meta.get("photometric")
    samples = meta.get("samples", 1)
    if phot == 34892:
        if samples == 1:
            raise UnsupportedInputError("monochrome linear DNG: no colour filter array, not a Bayer mosaic")
        raise UnsupportedInputError("linear DNG: already demosaiced, not a Bayer mosaic")
    if phot == 32803:
        dim = meta.get("raw", {}).get(33421)
        if dim is not None:
            dim = tuple(int(x) for x in np.ravel(dim))
            if dim == (6, 6):
                raise UnsupportedInputError(
                    "Fujifilm X-Trans DNG (6x6 colour filter pattern) is not supported; only 2x2 Bayer raws are")
            if dim != (2, 2):
                raise UnsupportedInputError(
                    f"DNG with a {dim[0]}x{dim[1]} colour filter pattern; only 2x2 Bayer raws are supported")
        if samples != 1:
            raise UnsupportedInputError(f"CFA DNG with {samples} samples per pixel is not supported")
    end = meta.get("data_end", 0)
    if end > size:
        raise CorruptInputError(
            f"truncated DNG: the file has {size:,} bytes but its raw data runs to byte {end:,}")
