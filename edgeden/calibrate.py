"""``edgeden calibrate``: fit a camera's Poisson-Gaussian noise from the user's own raw frames.

The product's noise model is variance = S * x + O on raw data normalised to [0, 1] by black and
white level, per CFA plane. For a camera with neither a DNG NoiseProfile tag nor a darktable
profile, a few frames per ISO give it:

* **dark frames** (lens cap on, shortest shutter): their per-pixel variance is O (read noise);
* **flat frames** (an evenly lit grey card or white wall, defocused, exposed to mid-grey) or a
  **burst** of a static scene on a tripod: frames of one ISO and shutter speed repeat the same
  signal, so each pixel's variance across the frames at its mean level traces S * x + O;
* a **single** light frame still gives an estimate (the product's estimator: local statistics
  of its smooth areas), less exact.

Per ISO and CFA plane, the points (mean level, variance) of every frame group are fitted with
var = S x + O by weighted least squares (weights 1 / model variance^2, S, O >= 0). The result is
written in darktable's ``noiseprofiles.json`` format, which ``--noise-profiles`` reads, so a
calibrated camera works like a listed one. darktable's a, b are fitted after white balance
(gain g_c per channel, green = 1): a_c = g_c S_c, b_c = g_c^2 O_c; the product reads the green
channel (S = a_G, O = b_G), see ``edgeden.core.camera_profiles``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Frame", "IsoFit", "read_frame", "calibrate", "profiles_json", "DARK_LEVEL"]

#: A frame whose median normalised level is below this is a dark frame.
DARK_LEVEL = 0.02
#: Pixels whose mean level is above this are left out (near clipping the variance collapses).
CLIP_LEVEL = 0.9
_PLANES = ("R", "G1", "G2", "B")


@dataclass
class Frame:
    """One raw frame, normalised.

    planes: (4, h, w) float32 in [0, 1] (may dip below 0 at black), planes in the order
    R, G1, G2, B whatever the sensor's CFA; iso: float or None; exposure: seconds or None.
    """

    path: Path
    planes: np.ndarray
    iso: float | None
    exposure: float | None
    make: str
    model: str
    wb_rgb: np.ndarray

    @property
    def level(self) -> float:
        return float(np.median(self.planes))


@dataclass
class IsoFit:
    """The fit of one ISO: S and O per plane (R, G1, G2, B), the points behind it."""

    iso: float
    shot: list[float]
    read: list[float]
    methods: list[str]
    frames: int
    points: list[list[tuple[float, float]]] = field(default_factory=list)

    def green(self) -> tuple[float, float]:
        return (self.shot[1] + self.shot[2]) / 2, (self.read[1] + self.read[2]) / 2


def read_frame(path: Path) -> Frame:
    """Read a Bayer raw as a :class:`Frame` (black subtracted, divided by white - black)."""
    from edgeden import io
    from edgeden.io.exif import rational_to_float

    raw = io.read_raw(path)
    m = raw.mosaic_u16.astype(np.float32)
    h, w = (m.shape[0] // 2) * 2, (m.shape[1] // 2) * 2
    m = m[:h, :w]
    black = np.asarray(raw.black_level, np.float32)
    planes = {}
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        c = raw.cfa[k]
        name = "R" if c == "R" else "B" if c == "B" else ("G1" if "G1" not in planes else "G2")
        planes[name] = (m[dy::2, dx::2] - black[k]) / (raw.white_level - black[k])
    exp = rational_to_float(raw.exif.get("ExposureTime"))
    return Frame(Path(path), np.stack([planes[n] for n in _PLANES]), raw.iso, exp, raw.make, raw.model,
                 np.asarray(raw.wb_rgb, np.float64))


def _burst_points(stack: np.ndarray, bins: int = 24) -> list[list[tuple[float, float, float]]]:
    """(n, 4, h, w) repeated frames -> per plane, (mean level, variance, pixel count) per level bin."""
    mean = stack.mean(0)
    var = stack.var(0, ddof=1)
    out = []
    for p in range(stack.shape[1]):
        mu, v = mean[p].ravel(), var[p].ravel()
        ok = mu < CLIP_LEVEL
        mu, v = mu[ok], v[ok]
        pts = []
        if mu.size:
            edges = np.unique(np.quantile(mu, np.linspace(0, 1, bins + 1)))
            idx = np.clip(np.searchsorted(edges, mu, side="right") - 1, 0, len(edges) - 2)
            for b in range(len(edges) - 1):
                sel = idx == b
                if sel.sum() >= 16:
                    pts.append((float(mu[sel].mean()), float(v[sel].mean()), float(sel.sum())))
        out.append(pts)
    return out


def _fit_line(points: list[tuple[float, float, float]]) -> tuple[float, float]:
    """var = S x + O by weighted least squares with S, O >= 0.

    points: (mean level, variance, pixel count). A bin variance from n frames has variance
    2 var^2 / ((n - 1) count), hence the weights (n is common to a fit); two reweighting passes."""
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    cnt = np.array([p[2] for p in points])
    if x.size == 0:
        raise ValueError("no usable pixels")
    w = cnt / np.maximum(y, 1e-12) ** 2
    s = o = 0.0
    for _ in range(3):
        if np.ptp(x) > 1e-6 and x.size >= 2:
            A = np.stack([x, np.ones_like(x)], 1) * np.sqrt(w)[:, None]
            s, o = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)[0]
        else:
            s, o = 0.0, float(np.average(y, weights=w))
        if o < 0:  # constrained: O = 0, S through the origin
            o, s = 0.0, float(np.sum(w * x * y) / max(np.sum(w * x * x), 1e-30))
        if s < 0:
            s, o = 0.0, float(np.average(y, weights=w))
        model = np.maximum(s * x + o, 1e-12)
        w = cnt / model**2
    return float(max(s, 0.0)), float(max(o, 0.0))


def calibrate(paths: list[Path], dark_level: float = DARK_LEVEL) -> tuple[list[IsoFit], dict[str, Any]]:
    """Fit (S, O) per ISO and CFA plane from raw frames of one camera.

    Frames are grouped by ISO; within an ISO, frames whose median level is below ``dark_level``
    are dark frames, the others are grouped by shutter speed and size into bursts (2+ frames of
    the same signal: temporal statistics) or single frames (the product's single-image
    estimator). Returns (fits sorted by ISO, camera dict with make, model, wb_rgb (3,) as-shot
    gains). Raises ValueError when frames lack an ISO, mix cameras, or an ISO has no light frame
    and no dark frame pair to fit.
    """
    frames = [read_frame(Path(p)) for p in paths]
    if not frames:
        raise ValueError("no frames given")
    cams = {(f.make, f.model) for f in frames}
    if len(cams) > 1:
        raise ValueError(f"frames from more than one camera: {sorted(cams)}")
    no_iso = [str(f.path) for f in frames if not f.iso]
    if no_iso:
        raise ValueError(f"no ISO in {', '.join(no_iso)}")
    by_iso: dict[float, list[Frame]] = {}
    for f in frames:
        by_iso.setdefault(float(f.iso), []).append(f)
    fits = []
    for iso in sorted(by_iso):
        group = by_iso[iso]
        darks = [f for f in group if f.level < dark_level]
        lights = [f for f in group if f.level >= dark_level]
        points: list[list[tuple[float, float, float]]] = [[] for _ in _PLANES]
        methods = []
        for kind, members in (("dark", darks), ("light", lights)):
            bursts: dict[tuple, list[Frame]] = {}
            for f in members:
                bursts.setdefault((f.exposure, f.planes.shape), []).append(f)
            for fs in bursts.values():
                if len(fs) >= 2:
                    stack = np.stack([f.planes for f in fs])
                    for p, pts in enumerate(_burst_points(stack, bins=4 if kind == "dark" else 24)):
                        points[p] += pts
                    methods.append(f"{kind} burst of {len(fs)}")
                else:
                    for f in fs:
                        est = _single_frame(f)
                        for p in range(4):  # the estimator's line as two points at the frame's levels
                            lo, hi = np.quantile(np.clip(f.planes[p], 0, 1), [0.1, 0.9])
                            for x in {float(lo), float(hi)}:
                                points[p].append((x, est[0][p] * x + est[1][p], 1e4))
                        methods.append(f"single {kind} frame (estimated)")
        if not any(points):
            raise ValueError(f"ISO {iso:g}: no usable frames")
        shot, read = [], []
        for p in range(4):
            s, o = _fit_line(points[p])
            shot.append(s)
            read.append(o)
        fits.append(IsoFit(iso=iso, shot=shot, read=read, methods=sorted(set(methods)), frames=len(group),
                           points=[[(x, v) for x, v, _ in pts] for pts in points]))
    f0 = frames[0]
    return fits, {"make": f0.make, "model": f0.model, "wb_rgb": [float(v) for v in f0.wb_rgb]}


def _single_frame(f: Frame) -> tuple[list[float], list[float]]:
    """(S, O) per plane of one frame by the product's single-image estimator."""
    import torch

    from edgeden.core.noise import estimate_noise_or_fallback

    p = estimate_noise_or_fallback(torch.from_numpy(np.clip(f.planes, 0, 1).astype(np.float32)))
    return list(p.per_plane(4)[0]), list(p.per_plane(4)[1])


def profiles_json(fits: list[IsoFit], camera: dict[str, Any]) -> dict:
    """darktable ``noiseprofiles.json`` document for the fits: a_c = g_c S_c, b_c = g_c^2 O_c
    (channels R, G, B after white balance with the as-shot gains g, green = 1; G from the mean
    of the two green planes)."""
    g = np.asarray(camera.get("wb_rgb") or [1.0, 1.0, 1.0], np.float64)
    g = g / g[1] if g[1] > 0 else np.ones(3)
    profiles = []
    for fit in fits:
        s = [fit.shot[0], (fit.shot[1] + fit.shot[2]) / 2, fit.shot[3]]
        o = [fit.read[0], (fit.read[1] + fit.read[2]) / 2, fit.read[3]]
        iso = int(fit.iso) if float(fit.iso).is_integer() else fit.iso
        profiles.append({
            "name": f"{camera['model'] or 'camera'} iso {iso} (edgeden calibrate: {'; '.join(fit.methods)})",
            "iso": iso,
            "a": [float(g[c] * s[c]) for c in range(3)],
            "b": [float(g[c] ** 2 * o[c]) for c in range(3)],
        })
    return {"version": 0, "noiseprofiles": [{"maker": camera["make"] or "unknown", "models": [
        {"model": camera["model"] or "unknown", "comment": "made by edgeden calibrate", "profiles": profiles}]}]}


def merge_into(doc: dict, existing: dict) -> dict:
    """``existing`` (a noiseprofiles document) with ``doc``'s camera profiles added; profiles of
    the same maker, model and ISO are replaced."""
    out = json.loads(json.dumps(existing))
    for mk in doc["noiseprofiles"]:
        dst_mk = next((m for m in out.setdefault("noiseprofiles", []) if m.get("maker") == mk["maker"]), None)
        if dst_mk is None:
            out["noiseprofiles"].append(mk)
            continue
        for mo in mk["models"]:
            dst = next((m for m in dst_mk.setdefault("models", []) if m.get("model") == mo["model"]), None)
            if dst is None:
                dst_mk["models"].append(mo)
                continue
            isos = {p["iso"] for p in mo["profiles"]}
            dst["profiles"] = [p for p in dst.get("profiles", []) if p.get("iso") not in isos] + mo["profiles"]
            dst["profiles"].sort(key=lambda p: float(p.get("iso", 0)))
    return out
