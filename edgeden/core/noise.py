"""Poisson-Gaussian noise: one (S, O) model, sampled, converted and estimated.

Model (per plane, on linear data normalised to [0, 1]): ``var(y | x) = S * x + O``.
``S`` ("shot") is the signal-dependent gain term, ``O`` ("read") the signal-independent
variance. Every source is converted to :class:`~edgeden.core.types.NoiseParams` at the edge:

* UPI (Brooks et al. 2019) ``shot_noise, read_noise`` are (S, O) directly;
* the DNG NoiseProfile tag (51041) stores (S, O) per CFA plane in the same normalised scale;
* darktable's ``noiseprofiles.json`` gives ``a, b`` per white-balanced RGB channel per ISO
  (see :func:`noise_from_camera_profile` for the conversion);
* :func:`estimate_noise` fits (S, O) to the image itself.

Reading a profile file is :mod:`edgeden.io.noiseprofiles`'s job; nothing is shipped.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np
import torch

from edgeden.core.types import NoiseParams

__all__ = [
    "UPI_LOG_SHOT_RANGE",
    "add_poisson_gaussian",
    "sample_upi_noise",
    "upi_mean_read",
    "noise_std_map",
    "CameraNoiseProfile",
    "noise_from_camera_profile",
    "estimate_noise",
    "gat_forward",
    "gat_inverse",
]

#: UPI shot-noise range, log(S) ~ U(log 1e-4, log 0.012) (Brooks et al. 2019).
UPI_LOG_SHOT_RANGE: tuple[float, float] = (math.log(1e-4), math.log(0.012))
_UPI_SLOPE, _UPI_INTERCEPT, _UPI_READ_STD = 2.18, 1.20, 0.26


def _per_plane(v, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar, (C,) or (N, C) parameter to (..., C, 1, 1) for ``like`` (..., C, H, W)."""
    t = torch.as_tensor(v, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        return t
    return t.reshape(*t.shape, 1, 1)


# --------------------------------------------------------------------------- sampling


def add_poisson_gaussian(
    x: torch.Tensor,
    shot,
    read,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Add heteroscedastic Gaussian noise of variance ``S * clip(x, 0) + O``.

    This is the Gaussian approximation of Poisson-Gaussian noise used by UPI (Brooks et
    al. 2019, ``add_noise``): ``y = x + N(0, sqrt(S * x + O))``. It matches the first two
    moments of the physical model; it differs from a true scaled Poisson only at very low
    photon counts (x / S of a few units), where the Poisson is skewed and discrete.

    Args:
        x: (..., C, H, W) float clean linear signal in [0, 1].
        shot: S as a scalar, (C,) per plane, or (N, C) per sample and plane (x is (N, C, H, W)).
        read: O, same forms as ``shot``.
        generator: torch.Generator on ``x``'s device (explicit seeding; no global RNG use
            intended, although None falls back to torch's default generator).

    Returns:
        (..., C, H, W) noisy tensor of ``x``'s dtype, not clipped (may leave [0, 1]).

    >>> g = torch.Generator().manual_seed(0)
    >>> y = add_poisson_gaussian(torch.full((1, 4, 64, 64), 0.5), 0.01, 1e-4, g)
    >>> round(float(y.var()), 3)  # 0.01 * 0.5 + 1e-4
    0.005
    """
    std = noise_std_map_raw(x, shot, read)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + noise * std


def noise_std_map_raw(x: torch.Tensor, shot, read) -> torch.Tensor:
    """``sqrt(S * clip(x, 0) + O)`` with S, O as scalar, (C,) or (N, C); shape of ``x``."""
    s = _per_plane(shot, x)
    o = _per_plane(read, x)
    return torch.sqrt(torch.clamp(s * torch.clamp(x, min=0.0) + o, min=0.0))


def gat_forward(y: np.ndarray, shot: float, read: float) -> np.ndarray:
    """Generalised Anscombe transform (Makitalo & Foi 2013) for y = S * Poisson(x / S) + N(0, O).

    y: any shape, float, linear data in [0, 1] units (negatives allowed). shot, read: S > 0,
    O >= 0 of variance = S*x + O. Returns float64 of y's shape, noise std ~1 (for x / S >~ 1).
    """
    y = np.asarray(y, dtype=np.float64)
    return 2.0 * np.sqrt(np.maximum(y / shot + 0.375 + read / shot ** 2, 0.0))


def gat_inverse(d: np.ndarray, shot: float, read: float) -> np.ndarray:
    """Inverse of :func:`gat_forward` for a *denoised* transform ``d`` (an estimate of E[z]):
    the closed-form approximation of the exact unbiased inverse (Makitalo & Foi 2011, with the
    Gaussian part as in their generalised transform). The plain algebraic inverse
    ((d/2)^2 - 3/8 - O/S^2) is biased low by about S/4 in dark regions, which costs a BM3D+VST
    baseline several tenths of a dB at high shot noise.

    Below d = 2 sqrt(3/8) (the transform of zero photons without read noise) the expansion's
    negative powers of d diverge; the true inverse there is 0 photons, so 0 is returned.

    d: any shape, float. Returns float64 of d's shape in [0, 1] units (>= 0).
    """
    d = np.asarray(d, dtype=np.float64)
    low = d < 2.0 * math.sqrt(0.375)
    d = np.where(low, 1.0, d)
    r = math.sqrt(1.5)
    counts = 0.25 * d ** 2 + 0.25 * r / d - 1.375 / d ** 2 + 0.625 * r / d ** 3 - 0.125 - read / shot ** 2
    return np.where(low, 0.0, np.maximum(counts, 0.0)) * shot


def noise_std_map(x: torch.Tensor, params: NoiseParams) -> torch.Tensor:
    """Per-pixel noise standard deviation ``sqrt(S * clip(x, 0) + O)``.

    Args:
        x: (..., C, H, W) float linear signal in [0, 1] (clean or noisy estimate).
        params: NoiseParams; broadcast to C planes with ``params.per_plane(C)``.

    Returns:
        (..., C, H, W) float tensor >= 0, same dtype/device as ``x``.
    """
    s, o = params.per_plane(int(x.shape[-3]))
    return noise_std_map_raw(x, s, o)


def sample_upi_noise(generator: torch.Generator | None, n: int,
                     shot_range: tuple[float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw UPI noise levels (Brooks et al. 2019, ``random_noise_levels``).

    ``log S ~ U(log 1e-4, log 0.012)``; ``log O = 2.18 log S + 1.20 + N(0, 0.26)``.

    Args:
        generator: torch.Generator (CPU).
        n: number of draws.
        shot_range: (S_lo, S_hi) to draw log S from instead of UPI's [1e-4, 0.012] (a noise
            subrange, FA-Net's model array); read noise follows the same regression.

    Returns:
        (shot, read): two (n,) float32 tensors; S in [1e-4, 0.012] (or ``shot_range``), O > 0.
    """
    lo, hi = UPI_LOG_SHOT_RANGE
    if shot_range is not None:
        lo, hi = math.log(float(shot_range[0])), math.log(float(shot_range[1]))
    log_shot = lo + (hi - lo) * torch.rand(n, generator=generator)
    log_read = _UPI_SLOPE * log_shot + _UPI_INTERCEPT + _UPI_READ_STD * torch.randn(n, generator=generator)
    return torch.exp(log_shot), torch.exp(log_read)


def upi_mean_read(shot):
    """UPI's mean read variance for a shot gain: ``O = exp(2.18 log S + 1.20)``.

    Args:
        shot: float, numpy array or tensor of S > 0.

    Returns:
        O of the same type (float for a float input).
    """
    if isinstance(shot, torch.Tensor):
        return torch.exp(_UPI_SLOPE * torch.log(shot) + _UPI_INTERCEPT)
    if isinstance(shot, np.ndarray):
        return np.exp(_UPI_SLOPE * np.log(shot) + _UPI_INTERCEPT)
    return math.exp(_UPI_SLOPE * math.log(float(shot)) + _UPI_INTERCEPT)


def upi_shot_for_read(read: float) -> float:
    """Inverse of :func:`upi_mean_read`: the shot S whose UPI mean read variance is ``read``
    (0.0 when ``read`` <= 0). read: O >= 0 (image in [0, 1]). Returns S >= 0."""
    return math.exp((math.log(read) - _UPI_INTERCEPT) / _UPI_SLOPE) if read > 0 else 0.0


# --------------------------------------------------------------------------- darktable profiles


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


# --------------------------------------------------------------------------- estimation


def _haar_blocks(p: np.ndarray, block: int, clip_mask: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block statistics of one plane from its finest Haar wavelet bands.

    Over non-overlapping 2x2 cells (a b / c d): HH = (a - b - c + d) / 2,
    HL = (a - b + c - d) / 2, LH = (a + b - c - d) / 2, LL = (a + b + c + d) / 4. For white
    noise HH, HL and LH are independent with the cell's mean noise variance (gain 1).
    Blocks are ``block x block`` cells.

    Returns:
        (mu, v, t) per block: mean of LL, mean of HH^2, mean of (HL^2 + LH^2) / 2; blocks
        touching clipped values (a minimum or maximum hit by many pixels) are removed.
    """
    h, w = p.shape
    nbh, nbw = (h // 2) // block, (w // 2) // block
    q = p[: nbh * block * 2, : nbw * block * 2]
    a, b, c, d = q[0::2, 0::2], q[0::2, 1::2], q[1::2, 0::2], q[1::2, 1::2]

    def blk(z: np.ndarray) -> np.ndarray:
        return z.reshape(nbh, block, nbw, block).swapaxes(1, 2).reshape(nbh * nbw, block * block)

    mu = blk((a + b + c + d) * 0.25).mean(1)
    v = blk(((a - b - c + d) * 0.5) ** 2).mean(1)
    t = 0.5 * (blk(((a - b + c - d) * 0.5) ** 2).mean(1) + blk(((a + b - c - d) * 0.5) ** 2).mean(1))
    ok = np.isfinite(mu) & np.isfinite(v) & np.isfinite(t)
    if clip_mask and mu.size:
        px = q.reshape(nbh, 2 * block, nbw, 2 * block).swapaxes(1, 2).reshape(nbh * nbw, -1)
        for ext in (q.min(), q.max()):
            if np.count_nonzero(q == ext) > max(4, 1e-4 * q.size):
                ok &= ~np.any(px == ext, axis=1)
    return mu[ok], v[ok], t[ok]


def _quantile_fit(mu: np.ndarray, v: np.ndarray, q: float, w: np.ndarray | None = None) -> tuple[float, float]:
    """Weighted linear quantile regression v ~ S*mu + O with S, O >= 0 (an LP solved by HiGHS)."""
    from scipy.optimize import linprog  # scipy ships with scikit-image
    from scipy.sparse import csr_matrix, hstack, identity

    n = mu.size
    scale = float(np.median(v)) or 1.0
    w = np.ones(n) if w is None else w / w.mean()
    # variables: S, O, u+ (n), u- (n); minimise sum w (q u+ + (1-q) u-)
    c = np.concatenate([[0.0, 0.0], q * w, (1 - q) * w])
    a_eq = hstack([csr_matrix(np.stack([mu, np.ones(n)], 1)), identity(n), -identity(n)], format="csr")
    res = linprog(c, A_eq=a_eq, b_eq=v / scale, bounds=[(0, None)] * (2 + 2 * n), method="highs")
    if not res.success:
        raise RuntimeError(f"noise fit failed: {res.message}")
    return float(res.x[0]) * scale, float(res.x[1]) * scale


def _fit_plane_stats(mu: np.ndarray, v: np.ndarray, t: np.ndarray, n: int, quantile: float,
                     max_blocks: int, o_prior: float = 0.02, iters: int = 8) -> tuple[float, float, str]:
    """(S, O, how) from block statistics; see :func:`estimate_noise`."""
    from scipy.optimize import lsq_linear
    from scipy.stats import chi2

    if mu.size < 16:
        raise ValueError(f"too few usable blocks ({mu.size}) to estimate noise; image too small or clipped")
    if mu.size > max_blocks:
        idx = np.linspace(0, mu.size - 1, max_blocks).round().astype(int)
        mu, v, t = mu[idx], v[idx], t[idx]
    mu_p = np.maximum(mu, 0.0)
    # 1) robust start: low-quantile regression of the HH energy, debiased by c_q
    cq = float(chi2.ppf(quantile, n) / n)
    s, o = _quantile_fit(mu_p, v, quantile)
    s, o = s / cq, o / cq
    how = "quantile"
    # 2) refine: keep blocks whose HL/LH energy (independent of HH under white noise) is
    #    consistent with noise alone, then a weighted least-squares line through their HH
    #    energy; selection on t does not bias the mean of v.
    t_thr = float(chi2.ppf(0.99, 2 * n) / (2 * n))
    v_thr = float(chi2.ppf(0.9999, n) / n)
    for _ in range(iters):
        pred = s * mu_p + o
        if not np.all(pred > 0):
            break
        sel = (t <= t_thr * pred) & (v <= v_thr * pred)
        # S is identifiable only if enough kept blocks are dominated by the signal term
        n_sig = int(np.count_nonzero(sel & (s * mu_p >= max(o, 1e-30))))
        if n_sig < max(8, 0.02 * mu.size):
            break
        pw = pred[sel]
        pw = np.maximum(pw, 0.05 * float(np.median(pw)))
        a = np.stack([mu_p[sel], np.ones(pw.size)], 1) / pw[:, None]
        b = v[sel] / pw
        if o_prior > 0:  # weak pull of O towards 0, only felt when S and O are confounded
            a = np.vstack([a, [[0.0, math.sqrt(o_prior * pw.size) / float(np.median(pred[sel]))]]])
            b = np.append(b, 0.0)
        s2, o2 = (float(z) for z in lsq_linear(a, b, bounds=(0.0, np.inf)).x)
        how = f"refined on {int(sel.sum())}/{mu.size} smooth blocks"
        done = abs(s2 - s) <= 1e-4 * s and abs(o2 - o) <= 1e-4 * max(o, 1e-12) + 1e-15
        s, o = s2, o2
        if done:
            break
    return s, o, how


def estimate_noise(
    x: torch.Tensor,
    planes: Literal["each", "joint"] = "each",
    block: int = 8,
    quantile: float = 0.1,
    max_blocks: int = 6000,
) -> NoiseParams:
    """Estimate Poisson-Gaussian (S, O) per plane from a single noisy image.

    Method, in the spirit of Foi et al. (2008) (local mean / local noise variance on smooth
    areas, then a line fit), with robust statistics instead of their segmentation + ML fit:

    1. Finest Haar wavelet bands over non-overlapping 2x2 cells. For spatially white noise
       HH, HL and LH are independent and have the local noise variance (gain 1); HH also
       cancels constant and linear signal. Blocks of ``block x block`` cells give a local
       mean mu, an HH energy v and an HL/LH energy t. Blocks touching clipped values are
       dropped.
    2. Start: under pure noise v = (S mu + O) chi2_n / n (n = block^2), so the conditional
       q-quantile of v is linear in mu, (S mu + O) c_q with c_q = chi2.ppf(q, n) / n.
       Texture only moves blocks up, so a low-quantile regression (Koenker & Bassett 1978;
       an LP), divided by c_q, is a robust first estimate (slightly high on textured images).
    3. Refinement: keep blocks whose t is within the 99% chi-square bound of the current
       model (texture inflates HL/LH far more than HH) and fit v = S mu + O by weighted
       least squares (weights 1 / model variance, S, O >= 0, a weak pull of O towards 0
       that matters only when the image's intensity range cannot separate S from O).
       Because t and v are independent under noise, selecting on t leaves v unbiased.
       Iterated to a fixed point; skipped (keeping step 2) if too few kept blocks are
       signal-dominated for S to be identifiable.

    Assumes spatially white noise (raw planes; RGB that was not demosaiced, resized, denoised
    or compressed). On processed RGB it measures only the high-frequency part of the noise,
    in whatever (possibly gamma-encoded) scale the data are. Texture-free areas over a range
    of intensities are needed to separate S from O; with a narrow intensity range the
    predicted variance over that range stays right while the S/O split is less certain.

    Reference: A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical
    Poissonian-Gaussian noise modeling and fitting for single-image raw-data", IEEE TIP
    17(10), 2008. R. Koenker, G. Bassett, "Regression quantiles", Econometrica 46, 1978.

    Args:
        x: (C, H, W) float tensor, linear data normalised to [0, 1] (negatives allowed), e.g.
            packed raw (4, H/2, W/2) or RGB (3, H, W). Each plane must give >= 16 usable
            blocks of 2*block x 2*block pixels (64x64 pixels at least with block=8).
        planes: "each" fits every plane on its own; "joint" pools all planes' blocks into
            one fit (more robust when the planes share S, O, as the planes of a raw do).
        block: block side in 2x2 cells (block^2 HH coefficients per block).
        quantile: quantile of the starting regression, in (0, 0.5].
        max_blocks: evenly spaced subsample of blocks per fit beyond this many (speed).

    Returns:
        NoiseParams with C values each (S >= 0, O >= 0), source "estimated".

    Raises:
        ValueError: bad shape or too few usable blocks.
    """
    if x.ndim != 3:
        raise ValueError(f"estimate_noise expects (C, H, W), got {tuple(x.shape)}")
    if not 0 < quantile <= 0.5:
        raise ValueError("quantile must be in (0, 0.5]")
    arr = x.detach().to(torch.float64).cpu().numpy()
    n = block * block
    stats = [_haar_blocks(p, block) for p in arr]
    if planes == "joint":
        mu, v, t = (np.concatenate([st[k] for st in stats]) for k in range(3))
        s, o, how = _fit_plane_stats(mu, v, t, n, quantile, max_blocks)
        shots, reads, hows = [s] * len(stats), [o] * len(stats), [how]
    elif planes == "each":
        res = [_fit_plane_stats(*st, n, quantile, max_blocks) for st in stats]
        shots, reads, hows = [r[0] for r in res], [r[1] for r in res], [r[2] for r in res]
    else:
        raise ValueError(f"planes must be 'each' or 'joint', got {planes!r}")
    return NoiseParams(tuple(shots), tuple(reads), source="estimated",
                       detail=f"Haar wavelet fit ({block}x{block} cells, planes={planes}): " + "; ".join(hows))


def estimate_noise_or_fallback(x: torch.Tensor) -> NoiseParams:
    """:func:`estimate_noise` that always answers, for images of any size.

    Tries the (S, O) fit with 8x8 then 4x4 cell blocks; if the image is too small or too
    clipped for either, falls back to white Gaussian noise (S = 0) whose sigma is the median
    absolute deviation of the finest diagonal Haar band over all planes (Donoho & Johnstone
    1994), recorded in ``detail``.

    x: (C, H, W) float tensor in [0, 1], H, W >= 2. Returns NoiseParams, source "estimated".
    """
    for block in (8, 4):
        try:
            return estimate_noise(x, block=block)
        except ValueError:
            continue
    a = x.detach().double()
    h, w = (a.shape[-2] // 2) * 2, (a.shape[-1] // 2) * 2
    a = a[..., :h, :w]
    hh = (a[..., 0::2, 0::2] - a[..., 0::2, 1::2] - a[..., 1::2, 0::2] + a[..., 1::2, 1::2]) / 2
    sigma = float(hh.abs().median()) / 0.6745 if hh.numel() else 0.0
    c = x.shape[0]
    return NoiseParams((0.0,) * c, (sigma * sigma,) * c, source="estimated",
                       detail="median absolute deviation of the finest Haar band (image too small for the S/O fit)")
