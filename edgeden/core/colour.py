"""Colour maths shared by the ISP, the raw reader and the DNG writer: camera matrices.

Conventions: matrices are (3, 3), applied to column vectors (``out = M @ rgb``); "camera RGB"
is white-balanced camera space; XYZ is CIE 1931 with D65 white.
"""
from __future__ import annotations

import numpy as np

#: Linear sRGB (D65) -> CIE XYZ, IEC 61966-2-1. Same matrix as Brooks et al. 2019 (UPI).
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]], dtype=np.float64)


def cam_to_srgb_from_xyz(xyz_to_cam: np.ndarray | None) -> np.ndarray:
    """Camera RGB (white-balanced) -> linear sRGB matrix, UPI convention.

    Reference: Brooks et al., "Unprocessing Images for Learned Raw Denoising", CVPR 2019:
    ``rgb2cam = normalise_rows(xyz2cam @ rgb2xyz)``, ``cam2rgb = inv(rgb2cam)``. Rows of the
    result sum to 1 (white stays white). Identical to LibRaw's ``rgb_cam``.

    Args:
        xyz_to_cam: (3, 3) XYZ(D65) -> camera matrix (DNG ColorMatrix), or None.
    Returns:
        (3, 3) float32; identity when ``xyz_to_cam`` is None, all zero or singular.
    """
    eye = np.eye(3, dtype=np.float32)
    if xyz_to_cam is None:
        return eye
    m = np.asarray(xyz_to_cam, dtype=np.float64).reshape(3, 3) @ SRGB_TO_XYZ
    sums = m.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(m)) or np.any(np.abs(sums) < 1e-8):
        return eye
    m = m / sums
    try:
        out = np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return eye
    if not np.all(np.isfinite(out)):
        return eye
    return out.astype(np.float32)


#: CIE XYZ of the D65 white point (Y = 1).
D65_XYZ = np.array([0.95047, 1.0, 1.08883])


def xyz_to_cam_from_cam_to_srgb(cam_to_srgb: np.ndarray) -> np.ndarray:
    """An XYZ(D65) -> camera matrix consistent with a camera -> linear sRGB matrix (the inverse
    of :func:`cam_to_srgb_from_xyz` up to row scale), scaled so D65 white maps to max 1 as DNG's
    ColorMatrix expects.

    Args:
        cam_to_srgb: (3, 3) float camera RGB -> linear sRGB.
    Returns:
        (3, 3) float64 XYZ -> camera matrix.
    """
    c = np.asarray(cam_to_srgb, np.float64).reshape(3, 3)
    try:
        m = np.linalg.inv(c) @ np.linalg.inv(SRGB_TO_XYZ)
    except np.linalg.LinAlgError:
        m = np.linalg.inv(SRGB_TO_XYZ)
    scale = float(np.max(m @ D65_XYZ))
    return m / scale if scale > 0 else m
