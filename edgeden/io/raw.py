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

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgeden.core.colour import cam_to_srgb_from_xyz, xyz_to_cam_from_cam_to_srgb
from edgeden.core.types import (
    CFA_PATTERNS,
    CorruptInputError,
    EdgedenError,
    RawImage,
    UnsupportedInputError,
)
from edgeden.io.common import (
    check_file,
    check_pixels,
    head,
    looks_like_raw_container,
    sniff,
)
from edgeden.io.dngtags import (
    tag_floats,
    check_dng,
    dng_black_levels,
    noise_params_from_dng,
    read_tiff_meta,
    select_color_matrix,
)
from edgeden.io.exif import (
    camera_and_iso,
    exif_jsonable,
    normalise_value,
    rational_to_float,
)

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


# --------------------------------------------------------------------------- reading
def _libraw_error(exc: Exception, path: Path, tiff_ok: bool = True) -> EdgedenError:
    import rawpy

    msg = exc.args[0] if exc.args else str(exc)
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    if isinstance(exc, rawpy.LibRawFileUnsupportedError):
        data = head(path, 32)
        kind = sniff(data)
        if not_a_raw(kind):
            return CorruptInputError(not_a_raw(kind))
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


def not_a_raw(kind: str) -> str | None:
    """The one-line reason a file whose content sniffs as ``kind`` is not a camera raw, or None."""
    if kind in ("png", "jpeg"):
        return f"not a camera raw: the file is a {kind.upper()} image"
    if kind == "text":
        return "not a camera raw: the file is text"
    return None


def probe_raw(path: str | os.PathLike) -> None:
    """Check, from headers only (no pixel decoding), that :func:`read_raw` would take the file.

    Raises the same errors as :func:`read_raw` for what headers can show (not a raw, damaged or
    truncated DNG structure, linear DNG, sRAW, X-Trans and other non-Bayer layouts, too many
    pixels); a file whose pixel data is damaged past its header still passes. Milliseconds per file.
    """
    p, meta = _checked_container(path)
    with _libraw(p, meta) as raw:
        _check_layout(raw)


@contextmanager
def _libraw(p: Path, meta: dict) -> Iterator[Any]:
    """``rawpy.imread(p)``, its errors (also those raised while the file is open) turned into
    one-line EdgedenErrors."""
    import rawpy

    try:
        with rawpy.imread(str(p)) as raw:
            yield raw
    except EdgedenError:
        raise
    except rawpy.LibRawError as exc:
        raise _libraw_error(exc, p, tiff_ok=bool(meta)) from None
    except (OSError, ValueError) as exc:
        raise CorruptInputError(f"cannot read raw file ({exc})") from None


def _checked_container(path: str | os.PathLike) -> tuple[Path, dict]:
    """The file's path and TIFF tags (``{}`` for non-TIFF raws), after the checks that need no
    decoder: a regular non-empty file, raw-like content, a sound DNG structure."""
    p = check_file(path)
    kind = sniff(head(p, 32))
    if not_a_raw(kind):
        raise CorruptInputError(not_a_raw(kind))
    meta = read_tiff_meta(p) if kind == "tiff" else {}
    if kind == "tiff" and not meta and p.suffix.lower() in (".dng", ".gpr"):
        raise CorruptInputError("damaged or truncated DNG: its TIFF structure cannot be read")
    check_dng(meta, p.stat().st_size)
    return p, meta


def _check_layout(raw: Any) -> None:
    """Refuse, from LibRaw's header, what is not a Bayer mosaic of a sane size."""
    import rawpy

    s = raw.sizes
    check_pixels(int(s.raw_height), int(s.raw_width), "raw image")
    if raw.raw_type != rawpy.RawType.Flat:
        raise UnsupportedInputError(
            "not a Bayer mosaic: the raw holds several colours per pixel "
            "(linear DNG, sRAW/mRAW or an already demosaiced file)")
    cfa_from_pattern(raw.raw_pattern, raw.color_desc)  # refuses X-Trans, CMYG, Foveon, ...


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
    p, meta = _checked_container(path)
    with _libraw(p, meta) as raw:
        _check_layout(raw)
        s = raw.sizes
        desc = raw.color_desc
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
        inset = tuple(int(getattr(s, k, 0) or 0) for k in
                      ("crop_top_margin", "crop_left_margin", "crop_height", "crop_width"))
        other = raw.other
        other_d = {"iso": float(other.iso_speed), "shutter": float(other.shutter_speed),
                   "aperture": float(other.aperture), "focal": float(other.focal_length),
                   "timestamp": other.timestamp}
        lens_model = raw.lens.model if hasattr(raw, "lens") else ""

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
    if xyz_to_cam is None:  # no matrix in the file: LibRaw may still render with one of its own
        probed = _libraw_colour(p, black, white)
        if probed is not None:
            cam, gains = probed
            xyz_to_cam = xyz_to_cam_from_cam_to_srgb(cam)
            wb = gains
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

    make, model, iso, _src = camera_and_iso(exif, ifd0)
    crop = _default_crop({t[0]: t for t in meta.get("raw_pass", [])} if is_dng else {}, inset, mosaic.shape)
    fmt = "dng" if is_dng else (p.suffix.lower().lstrip(".") or "raw")
    return RawImage(
        mosaic_u16=mosaic, cfa=cfa, black_level=black, white_level=white, wb_rgb=wb,
        cam_to_srgb=cam_to_srgb, xyz_to_cam=xyz32, make=make, model=model, iso=iso,
        noise_profile=noise, exif=exif, path=str(p), format=fmt, default_crop=crop,
    )


def _libraw_colour(p: Path, black: tuple[float, ...], white: float
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """LibRaw's own colour rendering of a raw whose file carries no colour matrix, measured.

    LibRaw renders such files (e.g. old Kodak KDCs, whose matrices are all zero) with a matrix
    and gains it does not expose. They are read off its output: flat raw frames (a grey level,
    then each colour raised by a step) are rendered half-size (no demosaic), linear, with the
    camera's white balance, giving ``M`` = gains and matrix together (linear sRGB per camera
    RGB). Split as ``M = k * R @ diag(w)`` with rows of ``R`` summing to 1 (white stays white).

    Returns:
        (R (3, 3) float32 white-balanced camera RGB -> linear sRGB, w (3,) float32 gains with
        G = 1), or None when LibRaw's output does not allow it (it failed, clipped, or is
        singular). Four half-size renders: milliseconds for small raws, about a second at 24 MP.
    """
    import rawpy

    lo = float(max(black)) + 0.25 * (white - float(max(black)))
    step = 0.1 * (white - float(max(black)))
    if not (step > 0 and lo + step < min(white, 65535)):
        return None

    def render(raise_colours: tuple[int, ...]) -> np.ndarray:
        with rawpy.imread(str(p)) as r:
            img, col = r.raw_image_visible, r.raw_colors_visible
            desc = r.color_desc.decode("ascii", "replace") if isinstance(r.color_desc, bytes) else str(r.color_desc)
            img[:] = int(round(lo))
            if raise_colours:
                idx = [i for i, c in enumerate(desc) if c in "RGB"[raise_colours[0]]]
                img[np.isin(col, idx)] = int(round(lo + step))
            out = r.postprocess(use_camera_wb=True, half_size=True, output_bps=16, gamma=(1, 1),
                                no_auto_bright=True, user_flip=0, output_color=rawpy.ColorSpace.sRGB)
        return out.reshape(-1, 3).astype(np.float64).mean(0) / 65535.0

    try:
        base = render(())
        m = np.stack([(render((c,)) - base) / (step / (white - float(max(black)))) for c in range(3)], axis=1)
        inv1 = np.linalg.solve(m, np.ones(3))
    except (rawpy.LibRawError, np.linalg.LinAlgError, ValueError, OSError):
        return None
    if not (np.all(np.isfinite(m)) and np.all(inv1 > 0) and base.max() < 0.9):
        return None
    w = 1.0 / inv1
    cam = m / w[None, :]
    return cam.astype(np.float32), (w / w[1]).astype(np.float32)


def _default_crop(raw_pass: dict, inset: tuple[int, int, int, int], shape: tuple[int, int]
                  ) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of the DNG DefaultCrop (origin/size, relative to the active
    area, DefaultScale 1 assumed), else LibRaw's inset crop; None when absent, the whole frame,
    or not inside the image."""
    h, w = shape
    box = None
    def values(t: tuple) -> list[float]:  # (code, dtype, count, value); rationals come as flat pairs
        flat = tag_floats(t[3])
        if t[1] in (5, 10):
            return [flat[i] / flat[i + 1] for i in range(0, len(flat) - 1, 2) if flat[i + 1]]
        return flat

    o, sz = raw_pass.get(50719), raw_pass.get(50720)
    if o is not None and sz is not None:
        try:
            ox, oy = values(o)[:2]
            sx, sy = values(sz)[:2]
            box = (int(round(oy)), int(round(ox)), int(round(sy)), int(round(sx)))
        except (TypeError, ValueError, IndexError):
            box = None
    if box is None and inset[2] > 0 and inset[3] > 0:
        box = inset
    if box is None:
        return None
    top, left, ch, cw = box
    if top < 0 or left < 0 or ch <= 0 or cw <= 0 or top + ch > h or left + cw > w or (ch, cw) == (h, w):
        return None
    return box


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
