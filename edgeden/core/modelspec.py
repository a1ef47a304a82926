"""The model-input contract: how an image and its noise become a network's input, and back.

One :class:`ModelSpec` describes it for a network; presets (inference), recipes (training),
the classifier path, export and evaluation all take it from there, so training and inference
cannot drift apart. The rule, for an image ``x`` (N, C, H, W) float32 in [0, 1] (packed RGGB
raw, C = 4, or sRGB, C = 3) with Poisson-Gaussian noise variance ``S * x + O`` per plane:

1. ``g = ksigma_forward(x, S, O, k_ref)`` when ``ksigma`` (PMRID's transform to one reference
   noise level, :mod:`edgeden.core.ksigma`), else ``g = x``;
2. with ``noise_map``, a one-channel noise-level map is appended: the channel mean of the
   per-pixel standard deviation of ``g`` -- ``sqrt(k_ref * max(g, 0))`` after k-sigma,
   ``sqrt(S * max(x, 0) + O)`` otherwise (AWGN of sigma s is S = 0, O = s**2);
3. both are multiplied by the exposure ``gain`` (:func:`~edgeden.core.ksigma.exposure_gain`
   when ``gain_target`` is set, computed once per image, else 1).

``from_model`` inverts 3 and 1 on the network's output, giving (N, C, H, W) in ``x``'s domain.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from edgeden.core.lazy import is_tensor, torch

from edgeden.core import ksigma as ks

#: Image channels of each domain: packed RGGB raw, sRGB.
DOMAIN_CHANNELS = {"raw": 4, "srgb": 3}

NoiseArg = Any  # float, (C,), (N, C) or broadcastable 4-D tensor / sequence (see ksigma.broadcast_param)


@dataclass(frozen=True)
class ModelSpec:
    """How a network's input is built (see the module docstring).

    domain: "raw" (packed RGGB, 4 channels) or "srgb" (3 channels). noise_map: append the
    noise-level channel. ksigma / k_ref: k-sigma transform to shot noise ``k_ref``.
    gain_target: exposure normalisation to this mean brightness (None: no gain).
    channels: image channels when not the domain's (e.g. 1 for grey digit images).
    """

    domain: str = "srgb"
    noise_map: bool = False
    ksigma: bool = False
    k_ref: float | None = None
    gain_target: float | None = None
    channels: int | None = None

    def __post_init__(self):
        if self.domain not in DOMAIN_CHANNELS:
            raise ValueError(f"domain must be one of {sorted(DOMAIN_CHANNELS)}, got {self.domain!r}")
        if self.ksigma and not (self.k_ref and self.k_ref > 0):
            raise ValueError("ksigma needs k_ref > 0")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> "ModelSpec":
        """The spec from a preset's or recipe's fields (extra keys ignored; ``in_channels`` of a
        recipe is its image channel override)."""
        return cls(domain=d.get("domain", "srgb"), noise_map=bool(d.get("noise_map", False)),
                   ksigma=bool(d.get("ksigma", False)), k_ref=d.get("k_ref"),
                   gain_target=d.get("gain_target"), channels=d.get("channels", d.get("in_channels")))

    @property
    def image_channels(self) -> int:
        """Channels of the image itself (and of the network's output)."""
        return int(self.channels or DOMAIN_CHANNELS[self.domain])

    @property
    def in_channels(self) -> int:
        """Channels of the network's input: the image's, plus one for the noise map."""
        return self.image_channels + (1 if self.noise_map else 0)

    def arch_kwargs(self) -> dict[str, int]:
        """``in_channels`` / ``out_channels`` for ``edgeden.models.create_arch``."""
        return {"in_channels": self.in_channels, "out_channels": self.image_channels}

    def gain(self, x: torch.Tensor) -> torch.Tensor:
        """Exposure gain of each image of ``x`` (N, C, H, W): (N, 1, 1, 1) float32 in [1, 100],
        all ones without ``gain_target``. Compute it on the whole image, not per tile. (x may
        be a numpy array, as in every method here used at inference; the result is one then.)"""
        if not self.gain_target:
            if not is_tensor(x):
                return np.ones((x.shape[0], 1, 1, 1), dtype=np.float32)
            return torch.ones(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)
        return ks.exposure_gain(x, self.gain_target)

    def transform(self, x: torch.Tensor, shot: NoiseArg, read: NoiseArg, gain=1.0) -> torch.Tensor:
        """Steps 1 and 3 without the map: ``x`` (N, C, H, W) as the network sees its image
        channels (also how a clean target looks to the network, e.g. for a teacher)."""
        g = ks.ksigma_forward(x, shot, read, self.k_ref) if self.ksigma else x
        return g * gain if _not_one(gain) else g

    def noise_level(self, x: torch.Tensor, shot: NoiseArg, read: NoiseArg) -> torch.Tensor:
        """The noise map channel before the gain: (N, 1, H, W) float32 >= 0 (see step 2)."""
        if self.ksigma and not is_tensor(x):
            g = ks.ksigma_forward(x, shot, read, self.k_ref)
            return np.sqrt(np.maximum(g, 0) * np.float32(self.k_ref)).mean(1, keepdims=True, dtype=x.dtype)
        if self.ksigma:
            g = ks.ksigma_forward(x, shot, read, self.k_ref)
            std = torch.sqrt(torch.clamp(g, min=0) * self.k_ref)
        elif not is_tensor(x):
            s, o = ks.broadcast_param(shot, x), ks.broadcast_param(read, x)
            return np.sqrt(np.maximum(s * np.maximum(x, 0) + o, 0)).mean(1, keepdims=True, dtype=x.dtype)
        else:
            s, o = ks.broadcast_param(shot, x), ks.broadcast_param(read, x)
            std = torch.sqrt(torch.clamp(s * torch.clamp(x, min=0) + o, min=0))
        return std.mean(1, keepdim=True)

    def to_model(self, x: torch.Tensor, shot: NoiseArg, read: NoiseArg, gain=1.0) -> torch.Tensor:
        """The network's input for image ``x`` (N, C, H, W) float32 in ~[0, 1] with noise
        variance ``shot * x + read`` (float, (C,), (N, C) or 4-D); ``gain`` a float or
        (N, 1, 1, 1) from :meth:`gain`. Returns (N, in_channels, H, W) float32."""
        if not is_tensor(x):
            inp = ks.ksigma_forward(x, shot, read, self.k_ref) if self.ksigma else x
            if self.noise_map:
                std = self.noise_level(x, shot, read)
                inp = np.concatenate([inp, np.broadcast_to(std, (inp.shape[0], 1, *inp.shape[2:])).astype(inp.dtype)], 1)
            return inp * np.asarray(gain, dtype=inp.dtype) if _not_one(gain) else inp
        if self.ksigma:
            g = ks.ksigma_forward(x, shot, read, self.k_ref)
            inp = g
        else:
            inp = x
        if self.noise_map:
            if self.ksigma:
                std = torch.sqrt(torch.clamp(g, min=0) * self.k_ref).mean(1, keepdim=True)
            else:
                std = self.noise_level(x, shot, read)
            inp = torch.cat([inp, std.expand(inp.shape[0], 1, *inp.shape[2:]).to(inp.dtype)], 1)
        return inp * gain if _not_one(gain) else inp

    def from_model(self, y: torch.Tensor, shot: NoiseArg, read: NoiseArg, gain=1.0) -> torch.Tensor:
        """The network's image output (N, C, H, W) back in the input's domain (inverse gain and
        k-sigma); float32, not clipped."""
        if _not_one(gain):
            y = y / gain
        return ks.ksigma_inverse(y, shot, read, self.k_ref) if self.ksigma else y

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "noise_map": self.noise_map, "ksigma": self.ksigma, "k_ref": self.k_ref,
                "gain_target": self.gain_target, "in_channels": self.in_channels,
                "image_channels": self.image_channels}


def _not_one(gain) -> bool:
    return not (isinstance(gain, (int, float)) and gain == 1.0)
