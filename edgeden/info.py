"""File inspection and plain renders for ``edgeden info`` and ``edgeden preview``."""
from __future__ import annotations

from pathlib import Path
from typing import Any



def file_info(path: Path, profiles: Any = None, estimate: bool = False) -> dict:
    """Describe ``path`` as ``denoise`` would see it, fast.

    Args:
        path: an image or camera raw file.
        profiles: loaded darktable camera profiles (or None).
        estimate: run the noise estimator (seconds on a large image; imports torch) when
            neither the file nor a camera profile gives the noise. Without it the noise source
            is named and the parameters are left out.
    Returns:
        dict: ``file``, ``kind`` ("camera raw" | "image"), ``format`` (the real format: "dng",
        "kdc", "png", ...), size and pixel facts, ``camera`` and ``iso`` with ``camera_tag`` and
        ``iso_tag`` (the tags they came from), ``noise_source`` and, when known,
        ``noise_shot_S`` / ``noise_read_O`` (per plane, variance = S*x + O on [0, 1] data),
        ``profile_matched`` (the camera profile used, raws) and ``denoise``: "ok" or
        "refused: <reason>". A file ``denoise`` refuses still gets every field that could be
        read from its header.
    Raises:
        EdgedenError when the file does not exist or is not a file.
    """
    from edgeden import io
    from edgeden.core.types import EdgedenError

    try:
        kind = io.detect_kind(path)
    except EdgedenError as e:
        return {"file": str(path), "kind": "unknown", "denoise": f"refused: {e}"}
    try:
        return _raw_info(path, profiles, estimate) if kind == "raw" else _rgb_info(path, estimate)
    except EdgedenError as e:
        if not path.is_file():
            raise
        d = _header_info(path, kind)
        d["denoise"] = f"refused: {e}"
        return d


def _raw_info(path: Path, profiles: Any, estimate: bool) -> dict:
    from edgeden import io
    from edgeden.core.camera_profiles import known_raw_noise

    raw = io.read_raw(path)
    h, w = raw.mosaic_u16.shape
    make, model, iso = raw.make, raw.model, raw.iso  # read_raw took them from every tag (io.camera_and_iso)
    src = io.camera_and_iso(raw.exif, {50708: model} if model else None)[3]
    d = {
        "file": str(path), "kind": "camera raw", "format": raw.format,
        "camera": " ".join(x for x in (make, model) if x) or "unknown", "camera_tag": src.get("camera"),
        "iso": iso, "iso_tag": src.get("iso"),
        "size_hw": [int(h), int(w)], "megapixels": round(h * w / 1e6, 2),
        "cfa": raw.cfa, "black_level": [float(b) for b in raw.black_level], "white_level": float(raw.white_level),
        "white_balance_rgb": [round(float(v), 4) for v in raw.wb_rgb],
        "orientation": raw.exif.get("Orientation"),
    }
    reasons: list[str] = []
    npar = known_raw_noise(raw, profiles, reasons)
    if npar is None and estimate:
        from edgeden.pipeline import raw_noise, raw_to_packed, DenoiseOptions

        npar = raw_noise(raw, raw_to_packed(raw)[0], DenoiseOptions(noise_profiles=profiles))
    if profiles is not None:
        d["profile_matched"] = npar.detail if npar is not None and npar.source == "camera-profile" else None
    _noise_fields(d, npar, reasons)
    d["denoise"] = "ok"
    return d


def _rgb_info(path: Path, estimate: bool) -> dict:
    from edgeden import io

    img = io.read_rgb(path)
    h, w = img.data_hwc.shape[:2]
    make, model, iso, src = io.camera_and_iso(img.exif)
    d = {
        "file": str(path), "kind": "image", "format": img.format,
        "camera": " ".join(x for x in (make, model) if x) or "unknown", "camera_tag": src.get("camera"),
        "iso": iso, "iso_tag": src.get("iso"),
        "size_hw": [int(h), int(w)], "megapixels": round(h * w / 1e6, 2),
        "channels": img.channels + (1 if img.alpha is not None else 0), "alpha": img.alpha is not None,
        "bit_depth": img.bit_depth, "orientation": img.exif.get("Orientation"),
    }
    npar = None
    if estimate:
        from edgeden.core import noise as nm
        from edgeden.pipeline import rgb_to_tensor

        npar = nm.estimate_noise_or_fallback(rgb_to_tensor(img)[0])
    _noise_fields(d, npar, [])
    d["denoise"] = "ok"
    return d


def _noise_fields(d: dict, npar: Any, reasons: list[str]) -> None:
    if npar is None:
        d["noise_source"] = "estimated from the image when denoising (--estimate: now)" + \
            (f"; {'; '.join(reasons)}" if reasons else "")
        return
    d["noise_shot_S"] = [float(v) for v in npar.shot]
    d["noise_read_O"] = [float(v) for v in npar.read]
    detail = "; ".join(reasons + ([npar.detail] if npar.detail else []))
    d["noise_source"] = npar.source + (f" ({detail})" if detail else "")


def _header_info(path: Path, kind: str) -> dict:
    """What can be read of a file ``denoise`` refuses: its size, format and header tags."""
    from edgeden.io.common import head, sniff
    from edgeden.io.exif import camera_and_iso, exif_from_pillow

    d: dict = {"file": str(path), "kind": "camera raw" if kind == "raw" else "image", "bytes": path.stat().st_size}
    fmt = sniff(head(path, 32))
    d["format"] = fmt if fmt not in ("unknown", "text") else (path.suffix.lower().lstrip(".") or "unknown")
    exif: dict = {}
    ifd0: dict = {}
    if fmt == "tiff":
        from edgeden.io.dngtags import read_tiff_meta

        meta = read_tiff_meta(path)
        exif, ifd0 = meta.get("exif", {}), meta.get("ifd0", {})
        if meta.get("is_dng"):
            d["format"] = "dng"
            if meta.get("raw_shape"):
                d["size_hw"] = list(meta["raw_shape"])
            d["photometric"] = {32803: "CFA", 34892: "LinearRaw"}.get(meta.get("photometric"), meta.get("photometric"))
    else:
        try:
            from PIL import Image

            with Image.open(path) as im:
                d["size_hw"] = [im.height, im.width]
                d["mode"] = im.mode
                exif = exif_from_pillow(im.getexif())
        except Exception:  # noqa: BLE001 -- a header we cannot read: say what we know
            pass
    make, model, iso, src = camera_and_iso(exif, ifd0)
    if make or model:
        d["camera"], d["camera_tag"] = " ".join(x for x in (make, model) if x), src.get("camera")
    if iso:
        d["iso"], d["iso_tag"] = iso, src.get("iso")
    return d


def render_file(path: Path, out: Path, size: int = 2048) -> None:
    """Write a minimal-ISP render of a raw (or an RGB image's pixels) as a JPEG/PNG preview:
    cropped to the raw's DefaultCrop, oriented as its EXIF says, long edge ``size`` (0 = full)."""
    from edgeden import io
    from edgeden.pipeline import raw_to_packed, render_packed

    if io.detect_kind(path) == "raw":
        raw = io.read_raw(path)
        packed, pad = raw_to_packed(raw)
        render, exif, crop = render_packed(packed, raw, pad), raw.exif, raw.default_crop
    else:
        img = io.read_rgb(path)
        render, exif, crop = img.data_hwc, img.exif, None
    out.parent.mkdir(parents=True, exist_ok=True)
    io.write_preview(out, render, exif=exif, crop=crop, size=size)
