"""DNG writer: a still-mosaiced Bayer CFA DNG (like darktable's ``_raw-denoise.dng``).

Layout (DNG 1.4, classic little-endian TIFF, written with tifffile, uncompressed):

* IFD0 -- NewSubFileType = 1: an 8-bit sRGB preview of the *written* (denoised) mosaic, plus
  the DNG tags: DNGVersion 1.4, DNGBackwardVersion 1.1 (1.3 when opcode lists are copied),
  UniqueCameraModel, Make, Model, Orientation, ColorMatrix1 + CalibrationIlluminant1,
  AsShotNeutral, NoiseProfile, NoiseReductionApplied, EXIF and GPS sub-IFDs.
* SubIFD -- NewSubFileType = 0: the mosaic, PhotometricInterpretation = 32803 (CFA), 16 bits,
  CFARepeatPatternDim (2, 2), CFAPattern, CFAPlaneColor (0, 1, 2), CFALayout 1,
  BlackLevelRepeatDim (2, 2) + 4 BlackLevel values, WhiteLevel, DefaultCropOrigin/Size,
  NoiseProfile, NoiseReductionApplied.

When the source was itself a DNG (``like.exif["_dng_ifd0"]/["_dng_raw"]``, filled by
``read_raw``) its camera profile (ColorMatrix1/2, CameraCalibration, ForwardMatrix,
illuminants, AnalogBalance, BaselineExposure, profile tables), DNGPrivateData (maker notes),
XMP, DefaultCrop/Scale and OpcodeList2/3 (lens corrections, gain maps) are copied unchanged so
raw editors render the output exactly like the source. If ``like.xyz_to_cam`` was changed, the
profile is replaced by a single ColorMatrix1 = ``like.xyz_to_cam`` with illuminant D65 (21).
Never copied: the source preview, raw-data digests/IDs, the old NoiseProfile.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeden.core.colour import xyz_to_cam_from_cam_to_srgb
from edgeden.core.types import CFA_PATTERNS, NoiseParams, RawImage
from edgeden.io.atomic import atomic_path
from edgeden.io.dngtags import select_color_matrix
from edgeden.io.exif import (
    ASCII,
    BYTE,
    DOUBLE,
    LONG,
    RATIONAL,
    SHORT,
    SRATIONAL,
    normalise_value,
)
from edgeden.io.exif_write import (
    append_exif_ifds,
    exif_placeholder_tags,
    ifd0_extratags,
)

#: Camera-profile tags replaced as a whole when ``like.xyz_to_cam`` no longer matches them.
_PROFILE_TAGS = frozenset({
    50721, 50722, 50723, 50724, 50727, 50778, 50779, 50931, 50932, 50936, 50937, 50938, 50939,
    50940, 50941, 50942, 50964, 50965, 50981, 50982, 51107, 51108,
})
_OPCODE_TAGS = frozenset({51008, 51009, 51022})
_CFA_CODE = {"R": 0, "G": 1, "B": 2}
#: Longest side of the preview stored in IFD0 (a larger given preview is box-downscaled).
PREVIEW_MAX_SIDE = 1024


def _srational_matrix(m: np.ndarray) -> tuple[int, ...]:
    out: list[int] = []
    for v in np.asarray(m, np.float64).ravel():
        out += [int(round(float(v) * 10000)), 10000]
    return tuple(out)


def _xyz_to_cam_for(like: RawImage) -> np.ndarray:
    """like.xyz_to_cam, or one consistent with like.cam_to_srgb when the source had none."""
    if like.xyz_to_cam is not None:
        return np.asarray(like.xyz_to_cam, np.float64).reshape(3, 3)
    return xyz_to_cam_from_cam_to_srgb(like.cam_to_srgb)


def source_datetime(exif: dict) -> str | None:
    """The DateTime written to a DNG: the source's own (DateTime, else DateTimeOriginal) when it is
    a valid "YYYY:MM:DD HH:MM:SS" string, else None (no tag). Never the time of writing, so the
    same input always gives byte-identical output (processing time goes in the sidecar)."""
    for key in ("DateTime", "DateTimeOriginal"):
        v = exif.get(key)
        if isinstance(v, bytes):
            v = v.decode("ascii", "replace")
        if isinstance(v, str):
            v = v.strip("\x00 ")
            if len(v) == 19 and v[4] == v[7] == ":" and v[13] == v[16] == ":":
                return v
    return None


def noise_profile_values(noise: NoiseParams) -> tuple[float, ...] | None:
    """NoiseParams -> flat DNG NoiseProfile doubles (S, O per plane, CFAPlaneColor R, G, B).

    One pair stays one pair; packed (R, G1, G2, B) becomes (R, mean(G1, G2), B). Negative O
    is clipped to 0. Returns None when any S is not > 0 (the tag would be invalid).
    """
    shot, read = list(noise.shot), list(noise.read)
    if len(shot) == 1 and len(read) == 1:
        pairs = [(shot[0], read[0])]
    else:
        s3, o3 = noise.per_plane(3)
        pairs = list(zip(s3, o3))
    vals: list[float] = []
    for s, o in pairs:
        if not (np.isfinite(s) and np.isfinite(o)) or s <= 0:
            return None
        vals += [float(s), float(max(o, 0.0))]
    return tuple(vals)


def quick_preview_u8(mosaic_u16: np.ndarray, like: RawImage, max_side: int = 256) -> np.ndarray:
    """Small sRGB rendering of a Bayer mosaic, for the DNG preview when none is given.

    2x2 binning (R, mean of greens, B) -> box downscale -> black/white normalisation ->
    white balance -> ``like.cam_to_srgb`` -> clip -> gamma 1/2.2.

    Args:
        mosaic_u16: (H, W) uint16 mosaic with the CFA/levels of ``like``.
        like: RawImage giving cfa, black_level, white_level, wb_rgb, cam_to_srgb.
        max_side: longest side of the result in pixels.
    Returns:
        (h, w, 3) uint8 sRGB, h, w <= max_side (at least 1).
    """
    m = np.asarray(mosaic_u16)
    h2, w2 = m.shape[0] // 2, m.shape[1] // 2
    if h2 == 0 or w2 == 0:
        return np.zeros((1, 1, 3), np.uint8)
    k = max(1, int(np.ceil(max(h2, w2) / max_side)))
    hh, ww = (h2 // k) * k, (w2 // k) * k
    hh, ww = max(hh, 1), max(ww, 1)
    planes = {}
    for pos, letter in enumerate(like.cfa):
        i, j = divmod(pos, 2)
        sub = m[i:2 * h2:2, j:2 * w2:2][:hh, :ww].astype(np.float32)
        if k > 1 and sub.shape[0] >= k and sub.shape[1] >= k:
            sub = sub[: (sub.shape[0] // k) * k, : (sub.shape[1] // k) * k]
            sub = sub.reshape(sub.shape[0] // k, k, sub.shape[1] // k, k).mean(axis=(1, 3))
        black = float(like.black_level[pos])
        sub = (sub - black) / max(float(like.white_level) - black, 1.0)
        planes.setdefault(letter, []).append(sub)
    rgb = np.stack([np.mean(planes[c], axis=0) for c in "RGB"], axis=-1)
    rgb = rgb * np.asarray(like.wb_rgb, np.float32).reshape(1, 1, 3)
    rgb = np.clip(rgb, 0.0, 1.0) @ np.asarray(like.cam_to_srgb, np.float32).T
    rgb = np.clip(rgb, 0.0, 1.0) ** (1.0 / 2.2)
    return np.round(rgb * 255.0).astype(np.uint8)


def _prepare_preview(preview: Any) -> np.ndarray:
    p = np.asarray(preview)
    if p.ndim == 2:
        p = np.repeat(p[:, :, None], 3, axis=2)
    if p.ndim != 3 or p.shape[2] not in (3, 4) or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"preview_rgb_u8 must be (H, W, 3) uint8, got shape {p.shape}")
    p = p[:, :, :3]
    if p.dtype != np.uint8:
        if np.issubdtype(p.dtype, np.floating):
            p = np.round(np.clip(p, 0.0, 1.0) * 255.0).astype(np.uint8)
        else:
            raise ValueError(f"preview_rgb_u8 must be uint8 or float in [0, 1], got {p.dtype}")
    k = int(np.ceil(max(p.shape[:2]) / PREVIEW_MAX_SIDE))
    if k > 1:
        h, w = (p.shape[0] // k) * k, (p.shape[1] // k) * k
        p = p[:h, :w].reshape(h // k, k, w // k, k, 3).mean(axis=(1, 3)).round().astype(np.uint8)
    return np.ascontiguousarray(p)


def _num(v: Any) -> list[float]:
    """Tag value (ints, rationals flat) -> list of floats."""
    if isinstance(v, (int, float)):
        return [float(v)]
    v = tuple(v)
    return [float(x) for x in v]


def _crop_tags(raw_pass: dict[int, tuple], w: int, h: int) -> list[tuple]:
    """DefaultCropOrigin/Size from the source when they fit the written image, else full frame."""
    o, s = raw_pass.get(50719), raw_pass.get(50720)
    if o is not None and s is not None:
        def vals(t: tuple) -> list[float]:
            code, dtype, count, value = t
            flat = _num(value)
            if dtype in (RATIONAL, SRATIONAL):
                return [flat[i] / flat[i + 1] if flat[i + 1] else 0.0 for i in range(0, len(flat), 2)]
            return flat
        try:
            (ox, oy), (sx, sy) = vals(o)[:2], vals(s)[:2]
            if ox >= 0 and oy >= 0 and sx > 0 and sy > 0 and ox + sx <= w and oy + sy <= h:
                return [o + (True,), s + (True,)]
        except (ValueError, TypeError, IndexError):
            pass
    return [(50719, LONG, 2, (0, 0), True), (50720, LONG, 2, (w, h), True)]


def write_dng(path: str | os.PathLike, mosaic_u16: np.ndarray, like: RawImage, *,
              preview_rgb_u8: np.ndarray | None = None, noise_profile: NoiseParams | None = None,
              noise_reduction_applied: bool = True, software: str = "edgeden") -> Path:
    """Write a Bayer mosaic as a DNG with the CFA pattern, size and levels of ``like``.

    Args:
        path: output file (.dng); written atomically.
        mosaic_u16: (H, W) uint16, same shape and CFA layout as ``like.mosaic_u16`` (values
            in the source's raw units: black level *included*, saturation at white_level).
        like: the RawImage it came from (``read_raw``): cfa, black_level, white_level, wb_rgb,
            xyz_to_cam / cam_to_srgb, make, model and exif are written back.
        preview_rgb_u8: (h, w, 3) uint8 (or float in [0, 1]) sRGB rendering of *this* mosaic
            for IFD0, in the stored orientation; boxed down to <= 1024 px. None: a small
            preview is rendered here (:func:`quick_preview_u8`). Never reuse the source preview.
        noise_profile: residual noise of the written data (DNG NoiseProfile, variance = S*x + O
            on normalised values); None writes no NoiseProfile.
        noise_reduction_applied: NoiseReductionApplied = 1/1 if True, 0/1 if False.
        software: Software tag.
    Returns:
        pathlib.Path of the written file.
    Raises:
        ValueError / TypeError: wrong shape, dtype, or CFA name.

    Note: LibRaw (hence ``read_raw``) refuses raws smaller than 22 x 22 pixels; BlackLevel is
    written as RATIONAL, so fractional black levels survive (LibRaw itself truncates them).

    Example:
        >>> raw = read_raw("in.dng")                                          # doctest: +SKIP
        >>> write_dng("out.dng", denoised_u16, raw, noise_profile=residual)   # doctest: +SKIP
    """
    import tifffile

    m = np.asarray(mosaic_u16)
    if m.ndim != 2:
        raise ValueError(f"mosaic_u16 must be 2-D (H, W), got shape {m.shape}")
    if m.dtype != np.uint16:
        raise TypeError(f"mosaic_u16 must be uint16, got {m.dtype}")
    if tuple(m.shape) != tuple(like.mosaic_u16.shape):
        raise ValueError(f"mosaic shape {m.shape} differs from the source's {like.mosaic_u16.shape}; "
                         "write the same size so CFA, crop and opcodes stay valid")
    if like.cfa not in CFA_PATTERNS:
        raise ValueError(f"unknown CFA pattern {like.cfa!r}")
    h, w = m.shape
    preview = _prepare_preview(preview_rgb_u8) if preview_rgb_u8 is not None else quick_preview_u8(m, like)

    exif = dict(like.exif or {})
    ifd0_pass = {t[0]: tuple(t) for t in exif.get("_dng_ifd0", [])}
    raw_pass = {t[0]: tuple(t) for t in exif.get("_dng_raw", [])}

    # ---- colour profile: keep the source's when it still matches like.xyz_to_cam
    src_cm, _ = select_color_matrix({c: t[3] for c, t in ifd0_pass.items()})
    keep_profile = (src_cm is not None and like.xyz_to_cam is not None
                    and np.allclose(src_cm, np.asarray(like.xyz_to_cam, np.float64), atol=1e-4))
    if not keep_profile:
        ifd0_pass = {c: t for c, t in ifd0_pass.items() if c not in _PROFILE_TAGS}
        xyz = _xyz_to_cam_for(like)
        ifd0_pass[50721] = (50721, SRATIONAL, 9, _srational_matrix(xyz))
        ifd0_pass[50778] = (50778, SHORT, 1, 21)

    make = like.make or str(exif.get("Make", "") or "")
    model = like.model or str(exif.get("Model", "") or "")
    if 50708 not in ifd0_pass:
        ucm = " ".join(x for x in (make, model) if x) or "edgeden unknown camera"
        ifd0_pass[50708] = (50708, ASCII, 0, ucm)

    wb = np.asarray(like.wb_rgb, np.float64).reshape(3)
    wb = np.where(wb > 0, wb, 1.0)
    neutral = wb[1] / wb
    asn: list[int] = []
    for v in neutral:
        asn += [int(round(float(v) * 1_000_000)), 1_000_000]

    noise_tags: list[tuple] = []
    if noise_profile is not None:
        vals = noise_profile_values(noise_profile)
        if vals is not None:
            noise_tags.append((51041, DOUBLE, len(vals), vals, True))
    noise_tags.append((50935, RATIONAL, 1, (1, 1) if noise_reduction_applied else (0, 1), True))

    has_opcodes = bool(_OPCODE_TAGS & raw_pass.keys())
    ifd0_tags: list[tuple] = [
        (50706, BYTE, 4, (1, 4, 0, 0), True),
        (50707, BYTE, 4, (1, 3, 0, 0) if has_opcodes else (1, 1, 0, 0), True),
    ]
    if make:
        ifd0_tags.append((271, ASCII, 0, make, True))
    if model:
        ifd0_tags.append((272, ASCII, 0, model, True))
    ifd0_tags += ifd0_extratags(exif, skip={271, 272, 282, 283, 296, 305, 306})
    for code, t in sorted(ifd0_pass.items()):
        ifd0_tags.append(tuple(t) + (True,))
    ifd0_tags.append((50728, RATIONAL, 3, tuple(asn), True))
    ifd0_tags += noise_tags
    ifd0_tags += exif_placeholder_tags(exif)

    black = [normalise_value(float(b), RATIONAL) for b in like.black_level]
    black_flat = tuple(x for pair in black for x in pair)
    raw_tags: list[tuple] = [
        (33421, SHORT, 2, (2, 2), True),
        (33422, BYTE, 4, bytes(_CFA_CODE[c] for c in like.cfa), True),
        (50710, BYTE, 3, b"\x00\x01\x02", True),
        (50711, SHORT, 1, 1, True),
        (50713, SHORT, 2, (2, 2), True),
        (50714, RATIONAL, 4, black_flat, True),
        (50717, LONG, 1, int(round(float(like.white_level))), True),
    ]
    raw_tags += _crop_tags(raw_pass, w, h)
    for code, t in sorted(raw_pass.items()):
        if code not in (50719, 50720):
            raw_tags.append(tuple(t) + (True,))
    raw_tags += noise_tags

    with atomic_path(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=False, byteorder="<") as tw:
            tw.write(preview, photometric="rgb", planarconfig="contig", subfiletype=1, subifds=1,
                     metadata=None, software=software, datetime=source_datetime(exif), extratags=ifd0_tags)
            tw.write(np.ascontiguousarray(m), photometric=32803, subfiletype=0, metadata=None,
                     software=False, compression=None, extratags=raw_tags)
        append_exif_ifds(tmp, exif)
    return Path(path)
