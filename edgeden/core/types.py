"""Shared small types: CFA pattern names, noise parameters, errors."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

#: Bayer pattern named by the top-left 2x2 block in reading order.
CFA = Literal["RGGB", "BGGR", "GRBG", "GBRG"]
CFA_PATTERNS: tuple[str, ...] = ("RGGB", "BGGR", "GRBG", "GBRG")

#: Where noise parameters came from, in order of preference.
NoiseSource = Literal["override", "dng-noiseprofile", "camera-profile", "estimated", "synthetic"]


class EdgedenError(Exception):
    """A known, user-facing error: the CLI prints ``path: message`` and no traceback."""


class UnsupportedInputError(EdgedenError):
    """The file is readable but of a kind edgeden refuses (X-Trans, linear DNG for a raw model, ...)."""


class CorruptInputError(EdgedenError):
    """The file is truncated, empty, or not what its extension says."""


class InvalidNoiseError(EdgedenError, ValueError):
    """Noise parameters that cannot describe noise (NaN, infinite, negative, above 1)."""


#: Largest accepted S and O. Data on [0, 1] has a variance of at most 1/4 (half its values at
#: 0, half at 1), so S * x + O can never usefully exceed 1: a larger S or O is a unit error
#: (e.g. 0..255 or 0..65535 data) and is refused rather than used.
NOISE_PARAM_MAX = 1.0


@dataclass(frozen=True)
class NoiseParams:
    """Poisson-Gaussian noise: variance = S * x + O on linear data normalised to [0, 1].

    ``shot`` (S) and ``read`` (O) are tuples, one value per plane: 4 for packed RGGB raw
    (R, G1, G2, B), 3 for RGB, 1 for grey; a single value applies to every plane.
    ``source`` records where the values came from (see :data:`NoiseSource`).
    """

    shot: tuple[float, ...]
    read: tuple[float, ...]
    source: str = "override"
    detail: str = ""

    def per_plane(self, n: int) -> tuple[list[float], list[float]]:
        """(S, O) lists of length ``n``, broadcasting single values; averages RGGB -> RGB."""
        def fit(v: tuple[float, ...]) -> list[float]:
            if len(v) == n:
                return list(v)
            if len(v) == 1:
                return [v[0]] * n
            if len(v) == 4 and n == 3:
                return [v[0], (v[1] + v[2]) / 2, v[3]]
            if len(v) == 3 and n == 4:
                return [v[0], v[1], v[1], v[2]]
            mean = sum(v) / len(v)
            return [mean] * n
        return fit(self.shot), fit(self.read)

    def mean(self) -> tuple[float, float]:
        """Plane-averaged (S, O)."""
        return sum(self.shot) / len(self.shot), sum(self.read) / len(self.read)

    def to_dict(self) -> dict:
        return {"shot": list(self.shot), "read": list(self.read), "source": self.source, "detail": self.detail}

    def problem(self) -> str | None:
        """Why these parameters are unusable, in a few words, or None if they are valid.

        Valid: ``shot`` and ``read`` each hold 1 or more real numbers, every one finite and in
        ``[0, NOISE_PARAM_MAX]`` (0 <= S <= 1, 0 <= O <= 1; see :data:`NOISE_PARAM_MAX`).
        """
        for name, vals in (("S", self.shot), ("O", self.read)):
            try:
                vals = tuple(vals)
            except TypeError:
                return f"{name} is not a list of numbers"
            if not vals:
                return f"{name} has no values"
            for v in vals:
                if isinstance(v, bool):
                    return f"{name} = {v!r} is not a number"
                try:
                    f = float(v)
                except (TypeError, ValueError, OverflowError):
                    return f"{name} = {v!r} is not a number"
                if not math.isfinite(f):
                    return f"{name} = {f} is not finite"
                if f < 0:
                    return f"{name} = {f:g} is negative"
                if f > NOISE_PARAM_MAX:
                    return (f"{name} = {f:g} is above {NOISE_PARAM_MAX:g} (a variance on [0, 1] data "
                            f"cannot usefully exceed 1)")
        return None

    def validate(self) -> NoiseParams:
        """Return ``self`` if :meth:`problem` finds nothing, else raise InvalidNoiseError."""
        why = self.problem()
        if why is not None:
            raise InvalidNoiseError(f"invalid noise parameters ({self.source}): {why}")
        return self


@dataclass
class RawImage:
    """A Bayer camera raw as read from disk (see ``edgeden.io.read_raw``).

    mosaic_u16: (H, W) uint16, the sensor values of the visible (cropped) area as stored,
                black level not yet subtracted.
    cfa:        pattern of the top-left 2x2 block of ``mosaic_u16`` (one of CFA_PATTERNS).
    black_level: 4 floats, black level per position of the 2x2 block in reading order
                (top-left, top-right, bottom-left, bottom-right).
    white_level: float, the saturation value.
    wb_rgb:     (3,) float32 as-shot white-balance gains for R, G, B, normalised so G = 1.
    xyz_to_cam: (3, 3) float32 colour matrix (DNG ColorMatrix: XYZ(D65) -> camera RGB), or
                None if the file has none.
    cam_to_srgb: (3, 3) float32 matrix mapping white-balanced camera RGB to linear sRGB;
                rows sum to 1 (identity when unknown).
    default_crop: (top, left, height, width) ints within ``mosaic_u16``: the part of the image a
                raw converter shows (DNG DefaultCropOrigin/Size, or LibRaw's inset crop), or
                None for the whole frame.
    """

    mosaic_u16: "np.ndarray"
    cfa: str
    black_level: tuple[float, float, float, float]
    white_level: float
    wb_rgb: "np.ndarray"
    cam_to_srgb: "np.ndarray"
    xyz_to_cam: "np.ndarray | None" = None
    make: str = ""
    model: str = ""
    iso: float | None = None
    noise_profile: NoiseParams | None = None
    exif: dict = field(default_factory=dict)
    path: str = ""
    format: str = "dng"  # "dng" or the LibRaw format name (e.g. "kdc")
    default_crop: tuple[int, int, int, int] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.mosaic_u16.shape)  # type: ignore[return-value]


@dataclass
class RgbImage:
    """An RGB or grey image as read from disk (see ``edgeden.io.read_rgb``).

    data_hwc: (H, W, C) float32 in [0, 1], C = 1 (grey) or 3 (RGB); alpha is split off.
    alpha:    (H, W) array in the file's own dtype (passed through untouched), or None.
    bit_depth: 8 or 16 (the stored sample size; written back the same).
    format:   "png", "tiff" or "jpeg".
    exif:     raw EXIF bytes or tags to carry over where the writer can (may be empty).
    """

    data_hwc: "np.ndarray"
    alpha: "np.ndarray | None"
    bit_depth: int
    format: str
    exif: dict = field(default_factory=dict)
    path: str = ""

    @property
    def channels(self) -> int:
        return int(self.data_hwc.shape[2])


def require(module: str, extra: str):
    """Import an optional dependency, or raise EdgedenError saying which extra installs it
    (``pip install 'edgeden[EXTRA]'``)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise EdgedenError(f"this needs {module.split('.')[0]}: pip install 'edgeden[{extra}]'") from None
