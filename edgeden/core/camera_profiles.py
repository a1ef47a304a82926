"""Camera noise profiles (darktable's format) -> (S, O): matching a camera's make and model to a
profile and interpolating over ISO. Reading profile files is :mod:`edgeden.io.noiseprofiles`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from edgeden.core.types import NoiseParams


@dataclass(frozen=True)
class CameraNoiseProfile:
    """One darktable noise profile: ``var = a * x + b`` per white-balanced RGB channel.

    a, b: 3-tuples (R, G, B) in darktable's normalised [0, 1] scale.
    """

    maker: str
    model: str
    iso: float
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    name: str = ""


_MAKER_NOISE_WORDS = {"corporation", "corp", "company", "co", "ltd", "inc", "imaging", "optical",
                      "electronics", "camera", "ag", "gmbh", "digital", "solutions", "techwin",
                      "photo", "film", "the", "limited"}


_MAKER_ALIASES = {"konica": "minolta", "om": "olympus", "omdigital": "olympus", "lg": "lge",
                  "fuji": "fujifilm", "asahi": "pentax"}


def _words(s: str) -> list[str]:
    return [w for w in re.split(r"[^0-9a-z]+", s.lower()) if w]


def _maker_keys(make: str) -> set[str]:
    keys = {w for w in _words(make) if w not in _MAKER_NOISE_WORDS}
    keys |= {_MAKER_ALIASES[k] for k in list(keys) if k in _MAKER_ALIASES}
    return keys


def _model_key(model: str, makers: Iterable[str]) -> str:
    """Lower-case alphanumerics of ``model`` after dropping leading maker words."""
    words = _words(model)
    drop = set()
    for m in makers:
        drop |= set(_words(m)) | _maker_keys(m)
    while words and words[0] in drop:
        words = words[1:]
    return "".join(words)


def _interp_profile(ps: list[CameraNoiseProfile], iso: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Linear interpolation in ISO of (a, b) over profiles sorted by ISO; see caller."""
    isos = np.array([p.iso for p in ps])
    a = np.array([p.a for p in ps], dtype=np.float64)
    b = np.array([p.b for p in ps], dtype=np.float64)
    if iso <= isos[0]:
        how = "exact" if iso == isos[0] else f"below lowest profile ISO {isos[0]:g}: clamped"
        return a[0], b[0], f"{ps[0].name} ({how})"
    if iso >= isos[-1]:
        if iso == isos[-1]:
            return a[-1], b[-1], f"{ps[-1].name} (exact)"
        r = iso / isos[-1]
        # S is proportional to the analogue gain. O grows with the gain with an exponent
        # between 1 (read noise after the amplifier) and 2 (before it); take it from this
        # camera's own top profiles (log-log slope of b_G over ISO), default 2.
        p = 2.0
        top = [(i, bb) for i, bb in zip(isos[-4:], b[-4:, 1]) if bb > 0]
        if len(top) >= 2 and top[-1][0] > top[0][0]:
            li, lb = np.log([t[0] for t in top]), np.log([t[1] for t in top])
            p = float(np.clip(np.polyfit(li, lb, 1)[0], 1.0, 2.0))
        return a[-1] * r, b[-1] * r ** p, f"{ps[-1].name} extrapolated x{r:.3g} (S ~ ISO, O ~ ISO^{p:.2f})"
    j = int(np.searchsorted(isos, iso))  # isos[j-1] < iso <= isos[j]
    if isos[j] == iso:
        return a[j], b[j], f"{ps[j].name} (exact)"
    t = (iso - isos[j - 1]) / (isos[j] - isos[j - 1])
    return ((1 - t) * a[j - 1] + t * a[j], (1 - t) * b[j - 1] + t * b[j],
            f"interpolated between {ps[j - 1].name} and {ps[j].name} (t={t:.3f})")


def noise_from_camera_profile(
    profiles: Sequence[CameraNoiseProfile],
    make: str,
    model: str,
    iso: float | None,
    planes: int = 4,
) -> NoiseParams | None:
    """Noise parameters for a camera and ISO from darktable profiles.

    Matching: makers compared on their significant words, case-insensitive ("NIKON
    CORPORATION" ~ "Nikon", "OLYMPUS IMAGING CORP." ~ "Olympus"); models on lower-case
    alphanumerics after dropping a leading maker name ("Canon EOS 5D Mark II" ~
    "EOS 5D Mark II", "E-M5MarkII" ~ "E-M5 Mark II"). If the maker does not match, a model
    key found under exactly one maker is accepted.

    ISO: linear interpolation of (a, b) between the two nearest profiles; clamped to the
    lowest profile below it; above the highest, S scales with ISO and O with ISO^p, p the
    log-log slope of this camera's top profiles clipped to [1, 2] (2 if unknown).

    Conversion (checked against the data and darktable's code): darktable fits
    ``var = a * x + b`` on data normalised to [0, 1] by black/white level, *after* the
    camera white balance (channel gains with green = 1): over the 3,927 usable profiles of
    the 2018 file the median a_R/a_G is 2.1 and a_B/a_G 1.8, the usual daylight WB
    coefficients, so a raw (un-balanced) plane has the *green* channel's values for every
    plane (same conversion gain). ``b`` is a **variance**: the fitting tool fits it as the
    intercept of the variance line and its magnitude (1e-8..1e-5) only makes sense as a
    variance; darktable's denoise (profiled) module however uses it as a standard deviation
    (``sigma^2 = (b / a)^2`` in its generalised Anscombe transform), an internal
    inconsistency we do not copy. Negative b (a poor fit; 871 of 3,927 profiles have one
    negative channel) is clamped to 0. Hence ``S = a_G``, ``O = max(b_G, 0)``.

    Args:
        profiles: from :func:`edgeden.io.noiseprofiles.load_camera_profiles`.
        make, model: EXIF/LibRaw maker and model strings.
        iso: ISO speed; None gives None.
        planes: number of planes of the result (4 for packed RGGB raw).

    Returns:
        NoiseParams (source "camera-profile", detail naming the profile) or None if no
        profile matches.
    """
    if iso is None or not profiles or not model:
        return None
    iso = float(iso)
    if not math.isfinite(iso) or iso <= 0:
        return None
    mkeys = _maker_keys(make or "")
    by_maker: dict[str, list[CameraNoiseProfile]] = {}
    for p in profiles:
        by_maker.setdefault(p.maker, []).append(p)
    all_makers = list(by_maker)

    def find(makers: Iterable[str]) -> list[list[CameraNoiseProfile]]:
        found = []
        for mk in makers:
            mkey = _model_key(model, [make or "", mk])
            sel = [p for p in by_maker[mk] if _model_key(p.model, [mk]) == mkey]
            if sel:
                found.append(sel)
        return found

    hits = find([mk for mk in all_makers if _maker_keys(mk) & mkeys])
    if not hits:
        hits = find(all_makers)
        if len(hits) != 1:
            return None
    ps = sorted(hits[0], key=lambda p: p.iso)
    # several profiles at the same ISO: keep the first
    uniq: list[CameraNoiseProfile] = []
    for p in ps:
        if not uniq or p.iso != uniq[-1].iso:
            uniq.append(p)
    a, b, how = _interp_profile(uniq, iso)
    s, o = float(a[1]), max(float(b[1]), 0.0)
    if not (s > 0 and math.isfinite(s) and math.isfinite(o)):
        return None
    p0 = uniq[0]
    return NoiseParams(
        shot=(s,) * planes, read=(o,) * planes, source="camera-profile",
        detail=f"darktable profile {p0.maker} {p0.model} at ISO {iso:g}: {how}; green channel (a, b) -> (S, O)",
    )


def known_raw_noise(raw, profiles: Sequence[CameraNoiseProfile] | None,
                    reasons: list[str]) -> NoiseParams | None:
    """A raw's noise from what the file and the camera profiles say, without estimating it.

    Order: the DNG NoiseProfile tag, then a darktable camera profile matched by make, model and
    ISO. Every source is validated (:meth:`NoiseParams.problem`); a rejected one falls through to
    the next and its reason is appended to ``reasons``. Torch-free (``edgeden info`` stays fast).

    Args:
        raw: a :class:`edgeden.core.types.RawImage` (its ``noise_profile``, make, model, iso).
        profiles: loaded camera profiles, or None.
        reasons: list that collects why sources were rejected (mutated).
    Returns:
        NoiseParams (source "dng-noiseprofile" or "camera-profile"), or None when neither holds:
        then the caller estimates from the image.
    """
    p = checked_noise(raw.noise_profile, "DNG NoiseProfile", reasons)
    if p is not None:
        return p
    if profiles is not None and raw.make and raw.iso:
        try:
            cam = noise_from_camera_profile(profiles, raw.make, raw.model, raw.iso)
        except (ValueError, TypeError, ArithmeticError) as e:
            cam = None
            reasons.append(f"camera profile rejected ({e})")
        return checked_noise(cam, "camera profile", reasons)
    return None


def checked_noise(p: NoiseParams | None, label: str, reasons: list[str]) -> NoiseParams | None:
    """``p`` if it is valid; else None, with the reason appended to ``reasons``."""
    if p is None:
        return None
    why = p.problem()
    if why is None:
        return p
    reasons.append(f"{label} rejected ({why})")
    return None
