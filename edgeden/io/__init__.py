"""Disk I/O for edgeden: the only part of the library that reads or writes image files.

Public API:

* :func:`detect_kind` -- "raw" or "rgb" from extension and content.
* :func:`read_raw` / :func:`raw_info` -- Bayer camera raws via LibRaw (rawpy) + tifffile tags.
* :func:`read_rgb` / :func:`rgb_info` -- PNG / TIFF / JPEG, 8 or 16 bits, grey/RGB(+alpha).
* :func:`write_rgb` -- same format, depth, layout, alpha and metadata as the input.
* :func:`write_preview` (JPEG/PNG: cropped, oriented, downscaled, EXIF + sRGB ICC) and
  :func:`write_tiff16` -- ISP renderings.
* :func:`write_dng` -- Bayer CFA DNG with the source's CFA, levels, profile and EXIF.
* :func:`atomic_write` / :func:`atomic_path` -- every writer goes through them.
* :data:`MAX_PIXELS` -- 200 MP limit checked from headers before decoding.

Errors are :class:`~edgeden.core.types.CorruptInputError` (empty, truncated, not an image) and
:class:`~edgeden.core.types.UnsupportedInputError` (X-Trans, linear DNG, too large, CMYK, ...),
both with one-line messages meant for users; a missing file raises the base
:class:`~edgeden.core.types.EdgedenError`.
"""
import logging as _logging

# tifffile reports recoverable problems of a file (an invalid tag, ...) through ``logging``; with
# no handler configured Python prints them to stderr, breaking our one-line-per-file output.
# A NullHandler keeps them quiet unless the application configures logging itself.
_logging.getLogger("tifffile").addHandler(_logging.NullHandler())

from edgeden.io.atomic import (  # noqa: E402
    atomic_path,
    atomic_write,
    find_stale_temps,
    is_atomic_temp,
)
from edgeden.io.common import (
    MAX_PIXELS,
    RAW_EXTENSIONS,
    RGB_EXTENSIONS,
    check_pixels,
    detect_kind,
)
from edgeden.io.dng import noise_profile_values, quick_preview_u8, write_dng
from edgeden.io.dngtags import noise_params_from_dng
from edgeden.io.exif import camera_and_iso, exif_jsonable
from edgeden.io.jpeg import JPEG_QUALITY
from edgeden.io.pixels import quantise
from edgeden.io.raw import cfa_from_pattern, probe_raw, raw_image_info, raw_info, read_raw
from edgeden.io.preview import DEFAULT_PREVIEW_SIZE, preview_pixels, write_preview
from edgeden.io.rgb import read_rgb, rgb_image_info, rgb_info, write_rgb
from edgeden.io.tiff import write_tiff16

__all__ = [
    "MAX_PIXELS", "RAW_EXTENSIONS", "RGB_EXTENSIONS", "JPEG_QUALITY",
    "atomic_path", "atomic_write", "find_stale_temps", "is_atomic_temp",
    "check_pixels", "detect_kind",
    "camera_and_iso", "probe_raw", "read_raw", "raw_info", "raw_image_info", "cfa_from_pattern",
    "noise_params_from_dng",
    "read_rgb", "rgb_info", "rgb_image_info", "write_rgb", "write_preview", "preview_pixels", "DEFAULT_PREVIEW_SIZE", "write_tiff16", "quantise",
    "write_dng", "quick_preview_u8", "noise_profile_values",
    "exif_jsonable",
]
