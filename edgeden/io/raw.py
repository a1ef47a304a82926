"""Camera raw reading (LibRaw via rawpy, DNG/TIFF tags via tifffile).

``read_raw`` returns the *visible* Bayer mosaic exactly as stored (uint16, black level not
subtracted) plus everything needed to normalise, colour-correct and write it back:

* ``cfa``: the pattern of the top-left 2x2 block of ``mosaic_u16`` (e.g. "RGGB"). LibRaw
  describes a pixel by a colour *index* into ``color_desc`` (b"RGBG": 0=R, 1=G, 2=B, 3=second
  G); the name is built from ``raw_colors_visible[:2, :2]`` so it is relative to the visible
  area, not the full sensor.
* ``black_level``: 4 values *per position of the 2x2 block in reading order* (top-left,
  top-right, bottom-left, bottom-right). LibRaw's ``black_level_per_channel`` is indexed by
  colour index, so position (i, j) gets ``black_level_per_channel[raw_colors_visible[i, j]]``.
  To normalise: ``x = (mosaic - black[pos]) / (white_level - black[pos])``.
* ``wb_rgb``: as-shot gains (R, G, B) with G = 1 (DNG: 1 / AsShotNeutral).
* ``xyz_to_cam``: DNG ColorMatrix (XYZ -> camera); of ColorMatrix1/2 the one whose calibration
  illuminant is closest to D65 (in mired), as LibRaw does; for other raws LibRaw's built-in
  Adobe matrix (``rgb_xyz_matrix``). ``cam_to_srgb`` follows Brooks et al. 2019 (UPI):
  ``inv(normalise_rows(xyz_to_cam @ SRGB_TO_XYZ))``; it equals LibRaw's ``rgb_cam``.
* ``noise_profile``: the DNG NoiseProfile tag (51041) as ``NoiseParams(source="dng-noiseprofile")``:
  one (S, O) pair for all planes -> 1-tuples; one pair per colour plane (R, G, B) -> 4-tuples
  in packed order (R, G1, G2, B) with both greens sharing the G pair.

Refused with :class:`UnsupportedInputError`: X-Trans (6x6 pattern), non-Bayer sensors (Foveon,
4-colour CMYG/RGBE), linear (already demosaiced) DNGs, sRAW/mRAW. Truncated, empty or
non-image files raise :class:`CorruptInputError`.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeden.io.common import (
    check_file, check_pixels, head, looks_like_raw_container, sniff,
)
from edgeden.io.exif import exif_from_tifffile_page, exif_jsonable, normalise_value, rational_to_float
from edgeden.core.colour import cam_to_srgb_from_xyz
from edgeden.core.types import (
    CFA_PATTERNS, CorruptInputError, EdgedenError, NoiseParams, RawImage, UnsupportedInputError,
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

_LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}


# --------------------------------------------------------------------------- pure helpers
def cfa_from_pattern(pattern: np.ndarray | None, color_desc: bytes | str) -> str:
    """Name a LibRaw colour pattern, refusing anything that is not a 2x2 RGB Bayer.

    Args:
        pattern: LibRaw colour indices, (2, 2) for Bayer, (6, 6) for X-Trans, None for
            non-CFA sensors (e.g. ``raw.raw_pattern`` or ``raw.raw_colors_visible[:2, :2]``).
        color_desc: LibRaw colour letters indexed by those values, e.g. b"RGBG".
    Returns:
        "RGGB", "BGGR", "GRBG" or "GBRG" (top-left 2x2 block in reading order).
    Raises:
        UnsupportedInputError: X-Trans, CMYG/RGBE four-colour, Foveon/monochrome, other shapes.
    """
    desc = color_desc.decode("ascii", "replace") if isinstance(color_desc, bytes) else str(color_desc)
    if pattern is None:
        raise UnsupportedInputError(
            "non-Bayer sensor: no colour filter array (Foveon/X3F, monochrome or sRAW); "
            "only 2x2 Bayer raws are supported")
    pat = np.asarray(pattern)
    if pat.shape == (6, 6):
        raise UnsupportedInputError(
            "Fujifilm X-Trans sensor (6x6 colour filter pattern) is not supported; "
            "only 2x2 Bayer raws are")
    if pat.shape != (2, 2):
        raise UnsupportedInputError(
            f"unusual {pat.shape[0]}x{pat.shape[1]} colour filter pattern; only 2x2 Bayer raws are supported")
    try:
        letters = "".join(desc[int(i)] for i in pat.ravel())
    except IndexError:
        raise UnsupportedInputError(f"unknown colour filter description {desc!r}") from None
    extra = sorted(set(letters) - set("RGB"))
    if extra:
        kind = "CMYG" if set(extra) & set("CMY") else ("RGBE (emerald)" if "E" in extra else "".join(sorted(set(letters))))
        raise UnsupportedInputError(
            f"4-colour {kind} sensor (pattern {letters}) is not a Bayer RGB mosaic; not supported")
    if letters not in CFA_PATTERNS:
        raise UnsupportedInputError(f"colour filter pattern {letters} is not a Bayer RGGB/BGGR/GRBG/GBRG pattern")
    return letters


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
    vals = _floats(raw_tags[50714])
    if rows < 1 or cols < 1 or len(vals) != rows * cols:
        return None
    pattern = np.array(vals, np.float64).reshape(rows, cols)
    aa = raw_tags.get(50829)
    aa_top, aa_left = (int(x) for x in np.ravel(aa)[:2]) if aa is not None else (0, 0)
    r0, c0 = visible_origin[0] - aa_top, visible_origin[1] - aa_left
    dh = _floats(raw_tags[50715]) if 50715 in raw_tags else []
    dv = _floats(raw_tags[50716]) if 50716 in raw_tags else []
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


def _floats(value: Any) -> list[float]:
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


def _read_tiff_meta(path: Path) -> dict:
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


def _check_dng(meta: dict, size: int) -> None:
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


# --------------------------------------------------------------------------- reading
def _libraw_error(exc: Exception, path: Path, tiff_ok: bool = True) -> EdgedenError:
    import rawpy

    msg = exc.args[0] if exc.args else str(exc)
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    if isinstance(exc, rawpy.LibRawFileUnsupportedError):
        data = head(path, 32)
        kind = sniff(data)
        if kind in ("png", "jpeg"):
            return CorruptInputError(f"not a camera raw: the file is a {kind.upper()} image")
        if kind == "text":
            return CorruptInputError("not a camera raw: the file is text")
        if path.suffix.lower() == ".dng" and kind != "tiff":
            return CorruptInputError("not a DNG: the file does not start with a TIFF header")
        if kind == "tiff" and not tiff_ok:
            return CorruptInputError("damaged or truncated raw file: its TIFF structure cannot be read")
        if looks_like_raw_container(data):
            return UnsupportedInputError(
                f"LibRaw cannot decode this {path.suffix.lstrip('.').upper() or 'raw'} file "
                "(unsupported camera or raw variant, or a damaged header)")
        return CorruptInputError("not a camera raw file LibRaw recognises (unknown content)")
    if isinstance(exc, (rawpy.LibRawIOError, rawpy.LibRawDataError)):
        return CorruptInputError(f"truncated or damaged raw data (LibRaw: {msg})")
    if isinstance(exc, rawpy.LibRawTooBigError):
        return UnsupportedInputError(f"raw image too big for LibRaw ({msg})")
    if isinstance(exc, rawpy.LibRawUnsufficientMemoryError):
        return UnsupportedInputError(f"not enough memory to decode this raw ({msg})")
    return CorruptInputError(f"cannot decode raw file (LibRaw: {msg})")


def read_raw(path: str | os.PathLike) -> RawImage:
    """Read a Bayer camera raw (DNG or any format LibRaw decodes) from disk.

    Args:
        path: raw file (.dng, .nef, .cr2, .arw, .kdc, ...).
    Returns:
        RawImage with ``mosaic_u16`` (H, W) uint16 = the visible sensor area as stored (black
        not subtracted), ``cfa`` of its top-left 2x2 block, 4 per-position ``black_level``
        values, ``white_level``, ``wb_rgb`` (3,) float32 with G = 1, ``xyz_to_cam`` (3, 3)
        float32 or None, ``cam_to_srgb`` (3, 3) float32 (rows sum to 1), make/model/ISO,
        ``noise_profile`` (DNG NoiseProfile) and ``exif`` (see ``edgeden.io.exif``; keys
        "_dng_ifd0"/"_dng_raw" hold DNG tags the DNG writer copies back).
    Raises:
        EdgedenError: the file does not exist.
        UnsupportedInputError: X-Trans, non-Bayer, linear DNG, sRAW, > MAX_PIXELS, unknown camera.
        CorruptInputError: empty, truncated, damaged, or not a raw file.

    Example:
        >>> raw = read_raw("photo.dng")                                   # doctest: +SKIP
        >>> raw.mosaic_u16.shape, raw.cfa, raw.black_level, raw.white_level  # doctest: +SKIP
        ((3000, 4000), 'RGGB', (0.0, 0.0, 0.0, 0.0), 16383.0)
    """
    import rawpy

    p = check_file(path)
    size = p.stat().st_size
    first = head(p, 32)
    kind = sniff(first)
    if kind in ("png", "jpeg"):
        raise CorruptInputError(f"not a camera raw: the file is a {kind.upper()} image")
    if kind == "text":
        raise CorruptInputError("not a camera raw: the file is text")
    meta = _read_tiff_meta(p) if kind == "tiff" else {}
    if kind == "tiff" and not meta and p.suffix.lower() in (".dng", ".gpr"):
        raise CorruptInputError("damaged or truncated DNG: its TIFF structure cannot be read")
    _check_dng(meta, size)

    try:
        with rawpy.imread(str(p)) as raw:
            s = raw.sizes
            check_pixels(int(s.raw_height), int(s.raw_width), "raw image")
            if raw.raw_type != rawpy.RawType.Flat:
                raise UnsupportedInputError(
                    "not a Bayer mosaic: the raw holds several colours per pixel "
                    "(linear DNG, sRAW/mRAW or an already demosaiced file)")
            desc = raw.color_desc
            cfa_from_pattern(raw.raw_pattern, desc)  # refuses X-Trans, CMYG, Foveon, ...
            visible = raw.raw_image_visible          # decodes (may raise LibRawIOError)
            if visible.ndim != 2:
                raise UnsupportedInputError("not a Bayer mosaic (several samples per pixel)")
            check_pixels(int(visible.shape[0]), int(visible.shape[1]), "raw image")
            mosaic = np.array(visible, dtype=np.uint16, copy=True)
            colors = np.array(raw.raw_colors_visible[:2, :2], dtype=np.int64, copy=True)
            cfa = cfa_from_pattern(colors, desc)
            blpc = [float(x) for x in raw.black_level_per_channel]
            white_libraw = float(raw.white_level)
            cam_wb = [float(x) for x in raw.camera_whitebalance]
            day_wb = [float(x) for x in raw.daylight_whitebalance]
            rgb_xyz = np.array(raw.rgb_xyz_matrix, dtype=np.float64, copy=True)
            flip = int(s.flip)
            margins = (int(s.top_margin), int(s.left_margin))
            other = raw.other
            other_d = {"iso": float(other.iso_speed), "shutter": float(other.shutter_speed),
                       "aperture": float(other.aperture), "focal": float(other.focal_length),
                       "timestamp": other.timestamp}
            lens_model = raw.lens.model if hasattr(raw, "lens") else ""
    except EdgedenError:
        raise
    except rawpy.LibRawError as exc:
        raise _libraw_error(exc, p, tiff_ok=bool(meta)) from None
    except (OSError, ValueError) as exc:
        raise CorruptInputError(f"cannot read raw file ({exc})") from None

    desc_s = desc.decode("ascii", "replace") if isinstance(desc, bytes) else str(desc)
    black = tuple(blpc[int(c)] if int(c) < len(blpc) else blpc[0] for c in colors.ravel())

    ifd0 = meta.get("ifd0", {})
    rawtags = meta.get("raw", {})
    is_dng = bool(meta.get("is_dng"))
    if is_dng:
        dng_black = dng_black_levels(rawtags, (margins[0], margins[1]))
        if dng_black is not None:
            black = dng_black

    # white level: the DNG tag when there is one (what a DNG writer must write back)
    white = white_libraw
    if 50717 in rawtags:
        wl = np.ravel(np.asarray(rawtags[50717], dtype=np.float64))
        if wl.size and wl[0] > 0:
            white = float(wl[0])
    if white <= max(black):
        raise CorruptInputError(f"white level {white:g} is not above the black level {max(black):g}")

    # as-shot white balance, G = 1
    wb = None
    neutral = ifd0.get(50728)
    if neutral is not None:
        nv = normalise_value(neutral, 5)
        if nv and len(nv) == 6 and all(nv[1::2]) and all(nv[0::2]):
            n = np.array(nv[0::2], np.float64) / np.array(nv[1::2], np.float64)
            wb = (n[1] / n).astype(np.float32)
    if wb is None:
        for cand in (cam_wb, day_wb):
            try:
                r, g, b = (cand[desc_s.index(c)] for c in "RGB")
            except (ValueError, IndexError):
                continue
            if r > 0 and g > 0 and b > 0:
                wb = np.array([r / g, 1.0, b / g], np.float32)
                break
    if wb is None:
        wb = np.ones(3, np.float32)

    # colour matrix
    xyz_to_cam, _ = select_color_matrix(ifd0) if is_dng else (None, None)
    if xyz_to_cam is None and rgb_xyz.shape[0] >= 3 and np.any(rgb_xyz[:3] != 0):
        xyz_to_cam = rgb_xyz[:3, :3]
    xyz32 = None if xyz_to_cam is None else np.asarray(xyz_to_cam, np.float32)
    cam_to_srgb = cam_to_srgb_from_xyz(xyz_to_cam)

    # noise profile (raw IFD first, then IFD0)
    noise = None
    np_val = rawtags.get(51041, ifd0.get(51041))
    if np_val is not None:
        pc = rawtags.get(50710, ifd0.get(50710, b"\x00\x01\x02"))
        pc_t = tuple(pc) if isinstance(pc, (bytes, tuple, list)) else (0, 1, 2)
        noise = noise_params_from_dng(np_val, pc_t)

    # EXIF + fallbacks from LibRaw
    exif: dict[str, Any] = dict(meta.get("exif", {}))
    if other_d["iso"] > 0 and "ISOSpeedRatings" not in exif:
        exif["ISOSpeedRatings"] = int(round(other_d["iso"]))
    if other_d["shutter"] > 0 and "ExposureTime" not in exif:
        exif["ExposureTime"] = normalise_value(other_d["shutter"], 5)
    if other_d["aperture"] > 0 and "FNumber" not in exif:
        exif["FNumber"] = normalise_value(other_d["aperture"], 5)
    if other_d["focal"] > 0 and "FocalLength" not in exif:
        exif["FocalLength"] = normalise_value(other_d["focal"], 5)
    ts = other_d["timestamp"]
    if "DateTimeOriginal" not in exif and ts is not None and getattr(ts, "year", 1970) > 1970:
        exif["DateTimeOriginal"] = ts.strftime("%Y:%m:%d %H:%M:%S")
    if lens_model and "LensModel" not in exif:
        exif["LensModel"] = str(lens_model)
    if "Orientation" not in exif and flip in _LIBRAW_FLIP_TO_EXIF:
        exif["Orientation"] = _LIBRAW_FLIP_TO_EXIF[flip]
    if is_dng:
        exif["_dng_ifd0"] = meta.get("ifd0_pass", [])
        raw_pass = meta.get("raw_pass", [])
        if not meta.get("active_area_full", True):  # OpcodeList1 uses full-sensor coordinates
            raw_pass = [t for t in raw_pass if t[0] != 51008]
        exif["_dng_raw"] = raw_pass

    iso = None
    iso_v = exif.get("ISOSpeedRatings")
    if isinstance(iso_v, tuple):
        iso_v = iso_v[0] if iso_v else None
    if iso_v:
        iso = float(iso_v)
        rei = exif.get("RecommendedExposureIndex")
        if iso >= 65535 and rei:
            iso = float(rei)

    make = str(exif.get("Make", "")).strip()
    model = str(exif.get("Model", "")).strip()
    fmt = "dng" if is_dng else (p.suffix.lower().lstrip(".") or "raw")
    return RawImage(
        mosaic_u16=mosaic, cfa=cfa, black_level=black, white_level=white, wb_rgb=wb,
        cam_to_srgb=cam_to_srgb, xyz_to_cam=xyz32, make=make, model=model, iso=iso,
        noise_profile=noise, exif=exif, path=str(p), format=fmt,
    )


def raw_image_info(raw: RawImage) -> dict:
    """JSON-friendly summary of a :class:`RawImage` (what ``edgeden info`` prints).

    Returns:
        dict with kind, path, format, width, height, megapixels, cfa, black_level (4),
        white_level, iso, wb_rgb (3), camera, exposure_time (s), f_number, focal_length (mm),
        date, orientation, has_color_matrix, cam_to_srgb (3x3 list), noise_profile (dict or
        None), exif (JSON-friendly).
    """
    h, w = raw.mosaic_u16.shape
    ex = raw.exif
    return {
        "kind": "raw", "path": raw.path, "format": raw.format, "width": int(w), "height": int(h),
        "megapixels": round(h * w / 1e6, 2), "cfa": raw.cfa,
        "black_level": [float(b) for b in raw.black_level], "white_level": float(raw.white_level),
        "iso": raw.iso, "wb_rgb": [round(float(x), 5) for x in raw.wb_rgb],
        "camera": " ".join(x for x in (raw.make, raw.model) if x) or None,
        "exposure_time": rational_to_float(ex.get("ExposureTime")),
        "f_number": rational_to_float(ex.get("FNumber")),
        "focal_length": rational_to_float(ex.get("FocalLength")),
        "date": ex.get("DateTimeOriginal") or ex.get("DateTime"),
        "orientation": ex.get("Orientation"),
        "has_color_matrix": raw.xyz_to_cam is not None,
        "cam_to_srgb": np.round(np.asarray(raw.cam_to_srgb, np.float64), 5).tolist(),
        "noise_profile": raw.noise_profile.to_dict() if raw.noise_profile else None,
        "exif": exif_jsonable(ex),
    }


def raw_info(path: str | os.PathLike) -> dict:
    """Read a raw file and summarise it for ``edgeden info`` (see :func:`raw_image_info`).

    Raises:
        the errors of :func:`read_raw`.
    """
    return raw_image_info(read_raw(path))
