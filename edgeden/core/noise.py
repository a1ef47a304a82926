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

import bisect
import math
from typing import Sequence

import numpy as np
from edgeden.core.lazy import is_tensor, torch

from edgeden.core.camera_profiles import CameraNoiseProfile, noise_from_camera_profile
from edgeden.core.noise_estimate import estimate_noise, estimate_noise_or_fallback
from edgeden.core.types import NoiseParams

__all__ = [
    "UPI_LOG_SHOT_RANGE",
    "add_poisson_gaussian",
    "sample_upi_noise",
    "upi_mean_read",
    "upi_shot_for_read",
    "equivalent_shot",
    "subrange_index",
    "noise_std_map",
    "gat_forward",
    "gat_inverse",
    # re-exported: the estimator (core.noise_estimate) and camera profiles (core.camera_profiles)
    "CameraNoiseProfile",
    "noise_from_camera_profile",
    "estimate_noise",
    "estimate_noise_or_fallback",
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
    if is_tensor(shot):
        return torch.exp(_UPI_SLOPE * torch.log(shot) + _UPI_INTERCEPT)
    if isinstance(shot, np.ndarray):
        return np.exp(_UPI_SLOPE * np.log(shot) + _UPI_INTERCEPT)
    return math.exp(_UPI_SLOPE * math.log(float(shot)) + _UPI_INTERCEPT)


def upi_shot_for_read(read: float) -> float:
    """Inverse of :func:`upi_mean_read`: the shot S whose UPI mean read variance is ``read``
    (0.0 when ``read`` <= 0). read: O >= 0 (image in [0, 1]). Returns S >= 0."""
    return math.exp((math.log(read) - _UPI_INTERCEPT) / _UPI_SLOPE) if read > 0 else 0.0


def equivalent_shot(shot: float, read: float) -> float:
    """max(S, S_O): S_O is the shot whose UPI mean read variance is ``read`` (0 when read <= 0).

    shot, read: S and O of variance = S*x + O, image in [0, 1]. Returns S_eq >= 0.
    """
    return max(float(shot), upi_shot_for_read(read))


def subrange_index(shot_bounds: Sequence[float], shot: float, read: float = 0.0) -> int:
    """The member of a noise subrange model array (``edgeden.models.array``) for an image with
    noise (S, O) (means over planes): the subrange of ``shot_bounds`` (n + 1 increasing values)
    holding :func:`equivalent_shot`, the first or last outside them. Returns 0 .. n - 1."""
    i = bisect.bisect_right(list(shot_bounds), equivalent_shot(shot, read)) - 1
    return min(max(i, 0), len(shot_bounds) - 2)
