"""Minimal ISP (raw -> sRGB) and UPI unprocessing (sRGB -> raw), its inverse.

Forward (:func:`process`): white-balance gains -> demosaic (Malvar-He-Cutler 2004) ->
camera-to-sRGB matrix -> gamma 1/2.2 -> optional smoothstep tone curve. Inverse
(:func:`unprocess_rgb`, :func:`unprocess`): inverse tone -> gamma expansion -> inverse matrix
-> inverse gains with highlight preservation -> RGGB mosaic.

Reference: T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet, J. T. Barron,
"Unprocessing Images for Learned Raw Denoising", CVPR 2019 (UPI). H. S. Malvar, L. He,
R. Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned color
images", ICASSP 2004.

Conventions: NCHW float32; linear camera data in [0, 1]; packed RGGB raw is (N, 4, h, w) in
plane order R, G1, G2, B (``edgeden.core.bayer.pack_rggb``); ``wb`` are the as-shot gains
(R, G, B) with G = 1 (``RawImage.wb_rgb``) and ``ccm`` maps white-balanced camera RGB to
linear sRGB with rows summing to 1 (``RawImage.cam_to_srgb``). Both may be per sample:
wb (N, 3), ccm (N, 3, 3).
"""
from __future__ import annotations

import numpy as np

from edgeden.core.lazy import F, is_tensor, torch
from edgeden.core.colour import SRGB_TO_XYZ, cam_to_srgb_from_xyz

#: XYZ -> camera matrices of four cameras, as used by UPI's random colour-matrix sampler.
UPI_XYZ_TO_CAM = np.array([
    [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
    [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
    [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
    [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
])

#: A typical camera: white-balance gains at the middle of UPI's ranges (R in [1.9, 2.4],
#: B in [1.5, 1.9]) and the colour matrix of the mean of the four cameras above. Used to
#: unprocess RGB images for raw-domain models and for the raw benchmark noise.
DEFAULT_WB = np.array([2.15, 1.0, 1.7], dtype=np.float32)
DEFAULT_CCM = cam_to_srgb_from_xyz(UPI_XYZ_TO_CAM.mean(0))

GAMMA = 2.2


# --------------------------------------------------------------------------- curves
def gamma_compress(x: torch.Tensor) -> torch.Tensor:
    """Linear [0, 1] -> display [0, 1]: x^(1/2.2) (UPI's gamma). Any shape, float (a tensor
    or a numpy array)."""
    if not is_tensor(x):
        return np.maximum(x, 1e-8) ** (1.0 / GAMMA)
    return torch.clamp(x, min=1e-8) ** (1.0 / GAMMA)


def gamma_expand(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`gamma_compress`: y^2.2. Any shape, float."""
    return torch.clamp(y, min=1e-8) ** GAMMA


def smoothstep(x: torch.Tensor) -> torch.Tensor:
    """Global tone curve 3x^2 - 2x^3 on [0, 1] (UPI). Any shape, float (a tensor or a numpy
    array)."""
    x = x.clamp(0, 1) if is_tensor(x) else np.clip(x, 0, 1)
    return 3 * x * x - 2 * x * x * x


def inverse_smoothstep(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`smoothstep`: 0.5 - sin(asin(1 - 2y) / 3). Any shape, float in [0, 1]."""
    y = y.clamp(0, 1)
    return 0.5 - torch.sin(torch.asin(1.0 - 2.0 * y) / 3.0)


# --------------------------------------------------------------------------- helpers
def _wb(wb, n: int, like: torch.Tensor) -> torch.Tensor:
    """Gains -> (N, 3) tensor (numpy array when ``like`` is one)."""
    if not is_tensor(like):
        a = np.asarray(wb, dtype=like.dtype)
        return np.broadcast_to(a, (n, 3)) if a.ndim == 1 else a
    t = torch.as_tensor(wb, dtype=like.dtype, device=like.device)
    return t.expand(n, 3) if t.ndim == 1 else t


def _ccm(ccm, n: int, like: torch.Tensor) -> torch.Tensor:
    """Matrix -> (N, 3, 3) tensor (numpy array when ``like`` is one)."""
    if not is_tensor(like):
        a = np.asarray(ccm, dtype=like.dtype)
        return np.broadcast_to(a, (n, 3, 3)) if a.ndim == 2 else a
    t = torch.as_tensor(ccm, dtype=like.dtype, device=like.device)
    return t.expand(n, 3, 3) if t.ndim == 2 else t


def apply_ccm(img: torch.Tensor, ccm) -> torch.Tensor:
    """Per-pixel 3x3 colour matrix: out[c] = sum_k ccm[c, k] * img[k].

    img: (N, 3, H, W) float32 (tensor or numpy array); ccm: (3, 3) or (N, 3, 3). Returns
    (N, 3, H, W) of img's kind.
    """
    m = _ccm(ccm, img.shape[0], img)
    if not is_tensor(img):
        return np.einsum("nck,nkhw->nchw", m, img)
    return torch.einsum("nck,nkhw->nchw", m, img)


def packed_gains(wb) -> torch.Tensor:
    """(R, G, B) gains (3,) or (N, 3) -> per packed plane (R, G1, G2, B): (4,) or (N, 4)
    (a numpy array when ``wb`` is one)."""
    if isinstance(wb, np.ndarray):
        return wb.astype(np.float32, copy=False)[..., [0, 1, 1, 2]]
    t = torch.as_tensor(wb, dtype=torch.float32)
    return t[..., [0, 1, 1, 2]]


def mosaic_rggb(rgb: torch.Tensor) -> torch.Tensor:
    """Sample an RGB image through an RGGB colour filter and pack it.

    rgb: (N, 3, H, W) float32, H and W even. Returns (N, 4, H/2, W/2): planes R (even rows,
    even cols), G1 (even, odd), G2 (odd, even), B (odd, odd).
    """
    if rgb.shape[-2] % 2 or rgb.shape[-1] % 2:
        raise ValueError(f"mosaic_rggb needs even height and width, got {tuple(rgb.shape[-2:])}")
    return torch.stack([rgb[:, 0, 0::2, 0::2], rgb[:, 1, 0::2, 1::2],
                        rgb[:, 1, 1::2, 0::2], rgb[:, 2, 1::2, 1::2]], 1)


_K_G_AT_RB = np.array([[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1],
                       [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]], dtype=np.float32) / 8
_K_ROW = np.array([[0, 0, .5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1],
                   [0, -1, 0, -1, 0], [0, 0, .5, 0, 0]], dtype=np.float32) / 8
_K_DIAG = np.array([[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5],
                    [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]], dtype=np.float32) / 8
#: Malvar-He-Cutler's four 5x5 kernels (G at R/B, row, column, diagonal): (4, 1, 5, 5) float32.
_MALVAR = np.ascontiguousarray(np.stack([_K_G_AT_RB, _K_ROW, _K_ROW.T, _K_DIAG])[:, None])


def _correlate5(padded: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """(N, H + 4, W + 4) float32 correlated with each of (K, 5, 5) kernels (valid region):
    (N, K, H, W), as ``F.conv2d`` computes it (sums of the shifted image over nonzero taps)."""
    n, hp, wp = padded.shape
    h, w = hp - 4, wp - 4
    out = np.zeros((n, len(kernels), h, w), dtype=np.float32)
    tmp = np.empty((n, h, w), dtype=np.float32)
    for k, ker in enumerate(kernels):
        for dy, dx in zip(*np.nonzero(ker)):
            np.multiply(padded[:, dy: dy + h, dx: dx + w], ker[dy, dx], out=tmp)
            out[:, k] += tmp
    return out


def _malvar() -> "torch.Tensor":
    """:data:`_MALVAR` as a tensor, made per call (a cached one made under inference mode could
    not be used with autograd later)."""
    return torch.from_numpy(_MALVAR)


def _symmetric_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Half-sample symmetric padding (d c b a | a b c d), scipy.ndimage's 'reflect'."""
    def idx(n: int) -> torch.Tensor:
        i = torch.arange(-p, n + p)
        i = torch.where(i < 0, -i - 1, i)
        return torch.where(i >= n, 2 * n - 1 - i, i)

    h, w = x.shape[-2:]
    return x[..., idx(h), :][..., idx(w)]


def demosaic_rggb(packed: torch.Tensor) -> torch.Tensor:
    """Malvar-He-Cutler (2004) demosaic of packed RGGB.

    packed: (N, 4, h, w) float32 (h, w >= 2), a tensor (one batched convolution) or a numpy
    array (the same kernels as shifted sums in float32; equal to float rounding). Returns (N, 3, 2h, 2w)
    float32 RGB of packed's kind, not clipped. Same result as
    ``colour_demosaicing.demosaicing_CFA_Bayer_Malvar2004`` (symmetric edge handling).
    """
    n, _, h, w = packed.shape
    if is_tensor(packed):
        from edgeden.core.bayer import unpack_rggb

        m = unpack_rggb(packed).reshape(n, 1, 2 * h, 2 * w)
        f = F.conv2d(_symmetric_pad(m, 2), _malvar().to(m.dtype))  # (N, 4, 2h, 2w)
        mm = m[:, 0]
        out = torch.empty(n, 3, 2 * h, 2 * w, dtype=m.dtype)
    else:
        mm = np.empty((n, 2 * h, 2 * w), dtype=np.float32)
        for i, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):  # R, G1, G2, B
            mm[:, r::2, c::2] = packed[:, i]
        f = _correlate5(np.pad(mm, ((0, 0), (2, 2), (2, 2)), mode="symmetric"), _MALVAR[:, 0])
        out = np.empty((n, 3, 2 * h, 2 * w), dtype=np.float32)
    g_rb, row, col, diag = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    r, g, b = out[:, 0], out[:, 1], out[:, 2]
    # R site (even, even)
    r[:, 0::2, 0::2] = mm[:, 0::2, 0::2]
    g[:, 0::2, 0::2] = g_rb[:, 0::2, 0::2]
    b[:, 0::2, 0::2] = diag[:, 0::2, 0::2]
    # G in red row (even, odd): R horizontal neighbours, B vertical
    r[:, 0::2, 1::2] = row[:, 0::2, 1::2]
    g[:, 0::2, 1::2] = mm[:, 0::2, 1::2]
    b[:, 0::2, 1::2] = col[:, 0::2, 1::2]
    # G in blue row (odd, even): B horizontal, R vertical
    r[:, 1::2, 0::2] = col[:, 1::2, 0::2]
    g[:, 1::2, 0::2] = mm[:, 1::2, 0::2]
    b[:, 1::2, 0::2] = row[:, 1::2, 0::2]
    # B site (odd, odd)
    r[:, 1::2, 1::2] = diag[:, 1::2, 1::2]
    g[:, 1::2, 1::2] = g_rb[:, 1::2, 1::2]
    b[:, 1::2, 1::2] = mm[:, 1::2, 1::2]
    return out


# --------------------------------------------------------------------------- forward ISP
def _finish(lin_wb: torch.Tensor, ccm, tone: bool) -> torch.Tensor:
    if not is_tensor(lin_wb):
        x = np.clip(apply_ccm(np.clip(lin_wb, 0, 1), ccm), 0, 1)
        x = gamma_compress(x)
        return smoothstep(x) if tone else x
    x = apply_ccm(lin_wb.clamp(0, 1), ccm).clamp(0, 1)
    x = gamma_compress(x)
    return smoothstep(x) if tone else x


def process(packed: torch.Tensor, wb, ccm, tone: bool = True) -> torch.Tensor:
    """Render packed RGGB raw to sRGB: gains -> demosaic -> matrix -> gamma -> tone.

    Args:
        packed: (N, 4, h, w) float32 linear raw in [0, 1] (black/white normalised), a tensor or
            a numpy array (rendered in numpy, without PyTorch).
        wb: (3,) or (N, 3) gains (R, G, B), G = 1 (the file's as-shot white balance).
        ccm: (3, 3) or (N, 3, 3) white-balanced camera RGB -> linear sRGB.
        tone: apply the smoothstep tone curve (UPI's forward ISP does; previews look better).
    Returns:
        (N, 3, 2h, 2w) float32 sRGB in [0, 1], of packed's kind.
    """
    g = packed_gains(_wb(wb, packed.shape[0], packed))
    if not is_tensor(packed):  # numpy in, numpy out
        lin = np.clip(packed * g.reshape(-1, 4, 1, 1), 0, 1)
        return _finish(demosaic_rggb(lin), ccm, tone)
    lin = (packed * g.to(packed.dtype).view(-1, 4, 1, 1)).clamp(0, 1)
    return _finish(demosaic_rggb(lin), ccm, tone)


def process_rgb(lin_rgb: torch.Tensor, wb, ccm, tone: bool = True) -> torch.Tensor:
    """:func:`process` for full-resolution linear camera RGB (no demosaic).

    lin_rgb: (N, 3, H, W) float32 in [0, 1] before white balance. Returns (N, 3, H, W) sRGB.
    """
    g = _wb(wb, lin_rgb.shape[0], lin_rgb).to(lin_rgb.dtype)
    return _finish(lin_rgb * g.view(-1, 3, 1, 1), ccm, tone)


# --------------------------------------------------------------------------- unprocessing
def safe_inverse_gains(img: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """Apply inverse white-balance gains, preserving highlights (UPI).

    img: (N, 3, H, W) white-balanced linear RGB in [0, 1]; gains: (N, 3). Near-white pixels
    (mean above 0.9) get gains blended towards 1, so they stay at or below 1 instead of
    saturating into a colour cast. Returns (N, 3, H, W).
    """
    inv = (1.0 / gains).view(-1, 3, 1, 1)
    grey = img.mean(1, keepdim=True)
    mask = (torch.clamp(grey - 0.9, min=0) / 0.1) ** 2
    safe = torch.maximum(mask + (1 - mask) * inv, inv)
    return img * safe


def unprocess_rgb(srgb: torch.Tensor, wb, ccm, tone: bool = True) -> torch.Tensor:
    """Invert :func:`process_rgb`: sRGB -> linear camera RGB (before white balance).

    Args:
        srgb: (N, 3, H, W) float32 sRGB in [0, 1].
        wb, ccm: the camera to invert to (as in :func:`process`).
        tone: invert the smoothstep tone curve too (must match the forward call).
    Returns:
        (N, 3, H, W) float32 linear camera RGB in [0, 1]. process_rgb(unprocess_rgb(x)) == x
        up to float error wherever x is not a near-white highlight (mean <= 0.9) and the
        camera values stay in [0, 1].
    """
    n = srgb.shape[0]
    x = inverse_smoothstep(srgb) if tone else srgb.clamp(0, 1)
    x = gamma_expand(x)
    x = apply_ccm(x, torch.linalg.inv(_ccm(ccm, n, x))).clamp(0, 1)
    return safe_inverse_gains(x, _wb(wb, n, x)).clamp(0, 1)


def random_camera(gen: torch.Generator | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """UPI's random camera: white-balance gains and colour matrix for n samples.

    Gains: R in U(1.9, 2.4), B in U(1.5, 1.9), then all divided by an overall gain
    1/N(0.8, 0.1) (so the raw is darker or brighter than the sRGB). Matrix: a random convex
    mix of :data:`UPI_XYZ_TO_CAM`, times sRGB->XYZ, rows normalised to 1, inverted.
    Returns (wb (n, 3) float32, ccm (n, 3, 3) float32 camera -> sRGB).
    """
    w = torch.rand(n, 4, generator=gen, dtype=torch.float64)
    w = w / w.sum(1, keepdim=True)
    xyz2cam = torch.einsum("nk,kij->nij", w, torch.as_tensor(UPI_XYZ_TO_CAM))
    rgb2cam = xyz2cam @ torch.as_tensor(SRGB_TO_XYZ)
    rgb2cam = rgb2cam / rgb2cam.sum(-1, keepdim=True)
    ccm = torch.linalg.inv(rgb2cam).float()
    red = 1.9 + 0.5 * torch.rand(n, generator=gen)
    blue = 1.5 + 0.4 * torch.rand(n, generator=gen)
    overall = (0.8 + 0.1 * torch.randn(n, generator=gen)).clamp(0.5, 1.2)  # = 1 / rgb_gain
    wb = torch.stack([red, torch.ones(n), blue], 1) / overall[:, None]
    return wb.float(), ccm


def unprocess(srgb: torch.Tensor, gen: torch.Generator | None) -> tuple[torch.Tensor, dict]:
    """UPI unprocessing of clean sRGB crops to packed RGGB raw with a random camera each.

    Args:
        srgb: (N, 3, H, W) float32 sRGB in [0, 1], H and W even.
        gen: torch.Generator for the random camera (seeded -> reproducible).
    Returns:
        (packed (N, 4, H/2, W/2) float32 linear raw in [0, 1],
         {"wb": (N, 3) gains, "ccm": (N, 3, 3) camera -> sRGB}); ``process(packed, wb, ccm)``
        renders it back (up to demosaicing).
    """
    wb, ccm = random_camera(gen, srgb.shape[0])
    lin = unprocess_rgb(srgb, wb, ccm, tone=True)
    return mosaic_rggb(lin), {"wb": wb, "ccm": ccm}


def synthetic_camera_noise_srgb(clean_srgb: torch.Tensor, gen: torch.Generator | None,
                                shot: torch.Tensor | None = None,
                                camera: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Realistic sRGB noise: unprocess, add Poisson-Gaussian raw noise, render back.

    The noise is signal dependent and, after demosaicing and the colour matrix, spatially and
    chromatically correlated, as in a camera JPEG. The clean target is rendered through the
    same ISP (so the pair differs only by noise).

    Args:
        clean_srgb: (N, 3, H, W) float32 in [0, 1], H and W even.
        gen: generator. shot: (N,) shot noise, default UPI's sampler (read from its model).
        camera: (wb, ccm) to use for every sample instead of a random camera each.
    Returns:
        (noisy (N, 3, H, W), clean (N, 3, H, W)) float32 sRGB in [0, 1].
    """
    from edgeden.core import noise as nm

    n = clean_srgb.shape[0]
    if camera is None:
        packed, meta = unprocess(clean_srgb, gen)
    else:
        wb = torch.as_tensor(camera[0], dtype=torch.float32).expand(n, 3)
        ccm = torch.as_tensor(camera[1], dtype=torch.float32).expand(n, 3, 3)
        packed, meta = mosaic_rggb(unprocess_rgb(clean_srgb, wb, ccm)), {"wb": wb, "ccm": ccm}
    if shot is None:
        s, r = nm.sample_upi_noise(gen, n)
    else:
        s = torch.as_tensor(shot, dtype=torch.float32).expand(n)
        r = nm.upi_mean_read(s)
    noisy = nm.add_poisson_gaussian(packed, s.view(n, 1).expand(n, 4), torch.as_tensor(r).view(n, 1).expand(n, 4), gen)
    return process(noisy, meta["wb"], meta["ccm"]), process(packed, meta["wb"], meta["ccm"])
