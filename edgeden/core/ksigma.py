"""The k-sigma transform (Wang et al., "Practical Deep Raw Image Denoising on Mobile Devices",
ECCV 2020, PMRID): maps Poisson-Gaussian noise of any level to one reference level.

With variance = S*x + O on linear data in [0, 1] (our one noise model; PMRID's k and sigma^2
at value scale V are S = k/V, O = sigma^2/V^2), PMRID's

    f(x) = x / S + O / S^2

has noise variance equal to its mean (unit-gain Poisson). We scale it by a fixed ``k_ref``:

    g(x) = k_ref * (x / S + O / S^2)          var(g) = k_ref * E[g]

so every input looks like a camera with shot noise ``k_ref`` and no read noise: a network
trained at one noise level then serves all of them, and the noise level is known from the
signal alone (std = sqrt(k_ref * g)). The inverse is exact: x = (g / k_ref - O / S^2) * S.

Pure functions: :func:`ksigma_forward`, :func:`ksigma_inverse`, :func:`exposure_gain`; how a
network's input is built from them is :class:`edgeden.core.modelspec.ModelSpec`.
"""
from __future__ import annotations

import numpy as np

from edgeden.core.lazy import is_tensor, torch

#: Smallest shot noise used in the transform (AWGN-only inputs have S = 0).
MIN_SHOT = 1e-8


def broadcast_param(v, x: torch.Tensor) -> torch.Tensor:
    """Noise parameter -> a tensor that broadcasts against x (N, C, H, W) (a numpy array of
    x's dtype when x is one).

    v: float, 0-d, (C,) per channel, (N, C) per sample and channel, or already 4-D.
    """
    if not is_tensor(x):
        t = np.asarray(v, dtype=x.dtype)
        if t.ndim in (0, 4):
            return t
        if t.ndim in (1, 2):
            return t.reshape(t.shape[0] if t.ndim == 2 else 1, -1, 1, 1)
        raise ValueError(f"noise parameter of shape {t.shape} does not broadcast to {x.shape}")
    t = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    if t.ndim == 0 or t.ndim == 4:
        return t
    if t.ndim == 1:
        return t.view(1, -1, 1, 1)
    if t.ndim == 2:
        return t.view(t.shape[0], t.shape[1], 1, 1)
    raise ValueError(f"noise parameter of shape {tuple(t.shape)} does not broadcast to {tuple(x.shape)}")


def ksigma_forward(x: torch.Tensor, shot, read, k_ref: float) -> torch.Tensor:
    """Forward k-sigma transform g(x) = k_ref * (x / S + O / S^2).

    Args:
        x: (N, C, H, W) float32 linear data normalised to [0, 1] (noise may push it below 0).
        shot, read: S and O (variance = S*x + O): float, (C,), (N, C) or broadcastable 4-D.
        k_ref: reference shot noise of the transformed domain, e.g. 2e-3.

    Returns:
        (N, C, H, W) float32 with noise variance k_ref * mean (range scales by k_ref / S).

    Example:
        >>> x = torch.full((1, 4, 2, 2), 0.5)
        >>> y = ksigma_forward(x, 4e-3, 1e-5, 2e-3)
        >>> torch.allclose(ksigma_inverse(y, 4e-3, 1e-5, 2e-3), x)
        True
    """
    s = _at_least(broadcast_param(shot, x), MIN_SHOT)
    o = broadcast_param(read, x)
    return k_ref * (x / s + o / (s * s))


def ksigma_inverse(y: torch.Tensor, shot, read, k_ref: float) -> torch.Tensor:
    """Exact inverse of :func:`ksigma_forward`: x = (y / k_ref - O / S^2) * S.

    Args and shapes as :func:`ksigma_forward` (both take numpy arrays as well as tensors);
    returns (N, C, H, W) float32 in x's scale.
    """
    s = _at_least(broadcast_param(shot, y), MIN_SHOT)
    o = broadcast_param(read, y)
    return (y / k_ref - o / (s * s)) * s


def _at_least(t, v: float):
    """``t`` (tensor or numpy array) clamped below at ``v``, keeping its kind and dtype."""
    return t.clamp_min(v) if is_tensor(t) else np.maximum(t, np.asarray(v, dtype=t.dtype))


#: Largest gain :func:`exposure_gain` applies (about 6.6 stops).
MAX_GAIN = 100.0


def exposure_gain(x: torch.Tensor, target: float, max_gain: float = MAX_GAIN) -> torch.Tensor:
    """Per-image brightness gain that brings the mean of ``x`` to ``target`` (never below 1).

    A linear, exactly invertible input normalisation for raw denoisers (as in Chen et al.,
    "Learning to See in the Dark", CVPR 2018, which amplifies dark raws before the network):
    the network sees ``x * gain`` (and a noise map ``std * gain``) and its output is divided by
    ``gain``. Measured here: without it, networks on raw data in [0, 1] (mean ~0.16, noise std
    0.005-0.05, much darker at night) stayed at the identity for hundreds of steps, while the
    same networks on sRGB data learned at once.

    Args:
        x: (N, C, H, W) float32 linear raw in [0, 1].
        target: mean brightness after the gain, e.g. 0.4.
        max_gain: upper bound of the gain.
    Returns:
        (N, 1, 1, 1) float32 gains in [1, max_gain] (a numpy array when x is one).
    """
    if not is_tensor(x):
        m = np.maximum(np.asarray(x, dtype=np.float32).mean(axis=(1, 2, 3), keepdims=True), np.float32(1e-6))
        return np.clip(np.float32(target) / m, np.float32(1.0), np.float32(max_gain)).astype(np.float32)
    m = x.detach().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return (target / m).clamp(1.0, max_gain)
