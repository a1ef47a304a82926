"""EXIF carry-over: read tags into one plain dict, write them back as TIFF IFDs.

The dict (``RawImage.exif`` / ``RgbImage.exif``) is flat for IFD0 and EXIF tags, keyed by the
usual tag names ("Make", "ExposureTime", "ISOSpeedRatings", "LensModel", ...), with GPS tags
nested under "GPS". Values use tifffile's conventions: ASCII -> str, integers -> int (or a
tuple when the tag holds several), RATIONAL/SRATIONAL -> flat tuple of ints
``(num, den[, num, den, ...])``, BYTE/UNDEFINED -> bytes. Keys starting with ``'_'`` are private
to ``edgeden.io`` (pass-through data for the writers, e.g. ``'_icc_profile'`` bytes);
:func:`exif_jsonable` drops them and makes the rest JSON-friendly.

Only the tags in the tables below are written back (the standard EXIF 2.32 capture, lens and
GPS fields). MakerNote is deliberately not copied: its internal offsets are relative to the
source file layout for several makers and silently break when moved (DNG sources keep their
maker data in DNGPrivateData, which the DNG writer does carry over). EXIF thumbnails (IFD1)
are never copied, so no stale preview of the noisy original survives.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE = range(1, 13)


#: IFD0 (TIFF) tags carried over, code -> (name, type).
IFD0_TAGS: dict[int, tuple[str, int]] = {
    270: ("ImageDescription", ASCII), 271: ("Make", ASCII), 272: ("Model", ASCII),
    274: ("Orientation", SHORT), 282: ("XResolution", RATIONAL), 283: ("YResolution", RATIONAL),
    296: ("ResolutionUnit", SHORT), 305: ("Software", ASCII), 306: ("DateTime", ASCII),
    315: ("Artist", ASCII), 33432: ("Copyright", ASCII),
}


#: EXIF IFD tags carried over, code -> (name, type) (EXIF 2.32 types).
EXIF_TAGS: dict[int, tuple[str, int]] = {
    33434: ("ExposureTime", RATIONAL), 33437: ("FNumber", RATIONAL),
    34850: ("ExposureProgram", SHORT), 34855: ("ISOSpeedRatings", SHORT),
    34864: ("SensitivityType", SHORT), 34865: ("StandardOutputSensitivity", LONG),
    34866: ("RecommendedExposureIndex", LONG), 34867: ("ISOSpeed", LONG),
    36864: ("ExifVersion", UNDEFINED), 36867: ("DateTimeOriginal", ASCII),
    36868: ("DateTimeDigitized", ASCII), 36880: ("OffsetTime", ASCII),
    36881: ("OffsetTimeOriginal", ASCII), 36882: ("OffsetTimeDigitized", ASCII),
    37377: ("ShutterSpeedValue", SRATIONAL), 37378: ("ApertureValue", RATIONAL),
    37379: ("BrightnessValue", SRATIONAL), 37380: ("ExposureBiasValue", SRATIONAL),
    37381: ("MaxApertureValue", RATIONAL), 37382: ("SubjectDistance", RATIONAL),
    37383: ("MeteringMode", SHORT), 37384: ("LightSource", SHORT), 37385: ("Flash", SHORT),
    37386: ("FocalLength", RATIONAL), 37396: ("SubjectArea", SHORT),
    37510: ("UserComment", UNDEFINED), 37520: ("SubsecTime", ASCII),
    37521: ("SubsecTimeOriginal", ASCII), 37522: ("SubsecTimeDigitized", ASCII),
    40961: ("ColorSpace", SHORT), 41486: ("FocalPlaneXResolution", RATIONAL),
    41487: ("FocalPlaneYResolution", RATIONAL), 41488: ("FocalPlaneResolutionUnit", SHORT),
    41493: ("ExposureIndex", RATIONAL), 41495: ("SensingMethod", SHORT), 41728: ("FileSource", UNDEFINED),
    41729: ("SceneType", UNDEFINED), 41985: ("CustomRendered", SHORT),
    41986: ("ExposureMode", SHORT), 41987: ("WhiteBalance", SHORT),
    41988: ("DigitalZoomRatio", RATIONAL), 41989: ("FocalLengthIn35mmFilm", SHORT),
    41990: ("SceneCaptureType", SHORT), 41991: ("GainControl", SHORT),
    41992: ("Contrast", SHORT), 41993: ("Saturation", SHORT), 41994: ("Sharpness", SHORT),
    41996: ("SubjectDistanceRange", SHORT), 42016: ("ImageUniqueID", ASCII),
    42032: ("CameraOwnerName", ASCII), 42033: ("BodySerialNumber", ASCII),
    42034: ("LensSpecification", RATIONAL), 42035: ("LensMake", ASCII),
    42036: ("LensModel", ASCII), 42037: ("LensSerialNumber", ASCII),
}


#: GPS IFD tags carried over, code -> (name, type).
GPS_TAGS: dict[int, tuple[str, int]] = {
    0: ("GPSVersionID", BYTE), 1: ("GPSLatitudeRef", ASCII), 2: ("GPSLatitude", RATIONAL),
    3: ("GPSLongitudeRef", ASCII), 4: ("GPSLongitude", RATIONAL), 5: ("GPSAltitudeRef", BYTE),
    6: ("GPSAltitude", RATIONAL), 7: ("GPSTimeStamp", RATIONAL), 8: ("GPSSatellites", ASCII),
    9: ("GPSStatus", ASCII), 10: ("GPSMeasureMode", ASCII), 11: ("GPSDOP", RATIONAL),
    12: ("GPSSpeedRef", ASCII), 13: ("GPSSpeed", RATIONAL), 14: ("GPSTrackRef", ASCII),
    15: ("GPSTrack", RATIONAL), 16: ("GPSImgDirectionRef", ASCII),
    17: ("GPSImgDirection", RATIONAL), 18: ("GPSMapDatum", ASCII),
    23: ("GPSDestBearingRef", ASCII), 24: ("GPSDestBearing", RATIONAL),
    29: ("GPSDateStamp", ASCII), 30: ("GPSDifferential", SHORT),
    31: ("GPSHPositioningError", RATIONAL),
}


BY_NAME_IFD0 = {name: (code, t) for code, (name, t) in IFD0_TAGS.items()}


BY_NAME_EXIF = {name: (code, t) for code, (name, t) in EXIF_TAGS.items()}


BY_NAME_GPS = {name: (code, t) for code, (name, t) in GPS_TAGS.items()}


EXIF_IFD_POINTER = 34665


GPS_IFD_POINTER = 34853


# --------------------------------------------------------------------------- normalising
def as_int_pair(v: Any) -> tuple[int, int]:
    """A rational-like value -> (num, den) ints (Pillow IFDRational, Fraction, float, pair)."""
    if isinstance(v, tuple) and len(v) == 2:
        return int(v[0]), int(v[1])
    num = getattr(v, "_numerator", None)
    den = getattr(v, "_denominator", None)
    if num is not None and den is not None:
        return int(num), int(den)
    if isinstance(v, Fraction):
        return v.numerator, v.denominator
    x = float(v)
    if not math.isfinite(x):
        return 0, 0
    f = Fraction(x).limit_denominator(1_000_000)
    return f.numerator, f.denominator


def normalise_value(value: Any, dtype: int) -> Any:
    """Bring a tag value read by tifffile or Pillow to the canonical form described above.

    Args:
        value: the value as a reader returned it.
        dtype: TIFF type code from the tables (ASCII, SHORT, RATIONAL, ...).
    Returns:
        str, int, tuple of ints, or bytes; None if it cannot be converted.
    """
    try:
        if dtype == ASCII:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            return str(value).rstrip("\x00").strip()
        if dtype in (BYTE, UNDEFINED):
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            if isinstance(value, str):
                return value.encode("utf-8")
            if isinstance(value, int):
                return bytes([value & 0xFF])
            return bytes(int(x) & 0xFF for x in value)
        if dtype in (RATIONAL, SRATIONAL):
            if isinstance(value, (tuple, list)) and value and all(isinstance(x, int) for x in value):
                if len(value) % 2 == 0:
                    return tuple(int(x) for x in value)
                return tuple(x for v in value for x in as_int_pair(v))
            if isinstance(value, (tuple, list)):
                return tuple(x for v in value for x in as_int_pair(v))
            return as_int_pair(value)
        if dtype in (SHORT, LONG, SLONG, SSHORT):
            if isinstance(value, (tuple, list)):
                vals = tuple(int(x) for x in value)
                return vals[0] if len(vals) == 1 else vals
            return int(value)
        if dtype in (FLOAT, DOUBLE):
            if isinstance(value, (tuple, list)):
                return tuple(float(x) for x in value)
            return float(value)
    except (TypeError, ValueError):
        return None
    return None


def _ifd0_code(name: str) -> int | None:
    entry = BY_NAME_IFD0.get(name)
    return entry[0] if entry else None


def exif_from_tifffile_page(page: Any) -> dict:
    """Collect carried-over tags from a tifffile ``TiffPage`` (IFD0 of a TIFF or raw file).

    IFD0 tags of :data:`IFD0_TAGS`, EXIF tags stored directly in IFD0 (TIFF/EP style, e.g.
    Kodak or Nikon raws), the EXIF IFD (tag 34665) and the GPS IFD (tag 34853, nested as "GPS").

    Args:
        page: ``tifffile.TiffPage``.
    Returns:
        dict in the canonical form of this module (may be empty).
    """
    import tifffile

    out: dict[str, Any] = {}
    tags = page.tags
    for tag in tags.values():
        code = tag.code
        spec = IFD0_TAGS.get(code) or EXIF_TAGS.get(code)
        if spec is None:
            continue
        v = normalise_value(tag.value, spec[1])
        if v not in (None, ""):
            out[spec[0]] = v

    def from_named_dict(d: dict, registry: Any, table: dict) -> dict:
        res: dict[str, Any] = {}
        for name, value in d.items():
            code = registry.get(name) if isinstance(name, str) else int(name)
            if not isinstance(code, int):
                try:
                    code = int(name)
                except (TypeError, ValueError):
                    continue
            spec = table.get(code)
            if spec is None:
                continue
            v = normalise_value(value, spec[1])
            if v not in (None, ""):
                res[spec[0]] = v
        return res

    exif_tag = tags.get(EXIF_IFD_POINTER)
    if exif_tag is not None and isinstance(exif_tag.value, dict):
        out.update(from_named_dict(exif_tag.value, tifffile.TIFF.EXIF_TAGS, EXIF_TAGS))
    gps_tag = tags.get(GPS_IFD_POINTER)
    if gps_tag is not None and isinstance(gps_tag.value, dict):
        gps = from_named_dict(gps_tag.value, tifffile.TIFF.GPS_TAGS, GPS_TAGS)
        if gps:
            out["GPS"] = gps
    return out


def exif_from_pillow(exif: Any) -> dict:
    """Collect carried-over tags from a Pillow ``Image.Exif`` (JPEG APP1 / PNG eXIf).

    Args:
        exif: ``PIL.Image.Exif`` (from ``Image.getexif()``).
    Returns:
        dict in the canonical form of this module (may be empty).
    """
    out: dict[str, Any] = {}
    for code, value in exif.items():
        spec = IFD0_TAGS.get(code) or EXIF_TAGS.get(code)
        if spec is not None:
            v = normalise_value(value, spec[1])
            if v not in (None, ""):
                out[spec[0]] = v
    try:
        sub = exif.get_ifd(EXIF_IFD_POINTER)
    except Exception:  # noqa: BLE001 -- a broken EXIF IFD just means no EXIF tags
        sub = {}
    for code, value in sub.items():
        spec = EXIF_TAGS.get(code)
        if spec is not None:
            v = normalise_value(value, spec[1])
            if v not in (None, ""):
                out[spec[0]] = v
    try:
        gps_raw = exif.get_ifd(GPS_IFD_POINTER)
    except Exception:  # noqa: BLE001
        gps_raw = {}
    gps: dict[str, Any] = {}
    for code, value in gps_raw.items():
        spec = GPS_TAGS.get(code)
        if spec is not None:
            v = normalise_value(value, spec[1])
            if v not in (None, ""):
                gps[spec[0]] = v
    if gps:
        out["GPS"] = gps
    return out


def exif_jsonable(exif: dict) -> dict:
    """JSON-friendly copy of an exif dict: private ``'_'`` keys dropped, bytes -> text or hex.

    Args:
        exif: dict as stored in ``RawImage.exif`` / ``RgbImage.exif``.
    Returns:
        dict of str -> str | int | float | list | dict.
    """
    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items() if not str(k).startswith("_")}
        if isinstance(v, (bytes, bytearray)):
            b = bytes(v)
            if b and all(32 <= c < 127 for c in b.rstrip(b"\x00")):
                return b.rstrip(b"\x00").decode("ascii")
            return b.hex()
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        return v

    return conv({k: v for k, v in exif.items() if not k.startswith("_")})


def rational_to_float(v: Any) -> float | None:
    """First rational of a canonical value as a float (None if missing or 0-denominator)."""
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, tuple) and len(v) >= 2 and v[1]:
        return v[0] / v[1]
    return None


def _first_number(v: Any, rational: bool = False) -> float | None:
    """A positive finite number from a canonical tag value: an int/float, a tuple of shorts (its
    first), or with ``rational`` a (numerator, denominator) pair. None otherwise."""
    if rational:
        f = rational_to_float(v)
    else:
        if isinstance(v, (list, tuple)):
            v = v[0] if v else None
        try:
            f = float(v) if v is not None else None
        except (TypeError, ValueError):
            return None
    return f if f is not None and math.isfinite(f) and f > 0 else None


#: Tags that carry a shot's ISO, in the order trusted (EXIF 2.3: ISOSpeedRatings, a.k.a.
#: PhotographicSensitivity, saturates at 65535 and then the others hold the value).
ISO_TAGS = ("ISOSpeedRatings", "RecommendedExposureIndex", "ISOSpeed", "StandardOutputSensitivity", "ExposureIndex")


def camera_and_iso(exif: dict, ifd0: dict | None = None) -> tuple[str, str, float | None, dict]:
    """Camera make, model and ISO from every tag that carries them.

    Args:
        exif: canonical EXIF dict (names of :data:`IFD0_TAGS` / :data:`EXIF_TAGS` -> values).
        ifd0: optional raw IFD0 tags (code -> value) of a TIFF/DNG, for DNG's UniqueCameraModel
            (50708) when Make/Model are absent.
    Returns:
        (make, model, iso or None, sources) with ``sources`` naming the tag each came from,
        e.g. {"camera": "UniqueCameraModel", "iso": "ExposureIndex"}.
    """
    src: dict[str, str] = {}
    make = str(exif.get("Make", "") or "").strip().strip("\x00")
    model = str(exif.get("Model", "") or "").strip().strip("\x00")
    if make or model:
        src["camera"] = "Make/Model"
    else:
        ucm = (ifd0 or {}).get(50708)
        if isinstance(ucm, bytes):
            ucm = ucm.decode("latin-1", "replace")
        ucm = str(ucm or "").strip().strip("\x00")
        if ucm:
            model, src["camera"] = ucm, "UniqueCameraModel"
    iso = None
    for name in ISO_TAGS:
        v = _first_number(exif.get(name), rational=name == "ExposureIndex")
        if v is not None and not (name == "ISOSpeedRatings" and v >= 65535):
            iso, src["iso"] = v, name
            break
    if iso is None and _first_number(exif.get("ISOSpeedRatings")):  # saturated and nothing better
        iso, src["iso"] = _first_number(exif.get("ISOSpeedRatings")), "ISOSpeedRatings"
    return make, model, iso, src


def split_exif(exif: dict) -> tuple[list, list, list]:
    """Partition a canonical exif dict into (ifd0, exif, gps) lists of (code, type, value)."""
    ifd0, ex, gps = [], [], []
    for name, value in exif.items():
        if name.startswith("_") or value is None:
            continue
        if name == "GPS" and isinstance(value, dict):
            for gname, gv in value.items():
                if gname in BY_NAME_GPS:
                    code, t = BY_NAME_GPS[gname]
                    gps.append((code, t, gv))
        elif name in BY_NAME_IFD0:
            code, t = BY_NAME_IFD0[name]
            ifd0.append((code, t, value))
        elif name in BY_NAME_EXIF:
            code, t = BY_NAME_EXIF[name]
            ex.append((code, t, value))
    return ifd0, ex, gps
