"""Sample noisy inputs made by the project itself, for the README demo and the tests.

``python -m edgeden.demo FOLDER`` writes, from photographs that scikit-image ships:

* ``astronaut_night.dng`` -- a noisy Bayer DNG: the photo unprocessed to a linear RGGB raw
  (UPI, :mod:`edgeden.core.isp`), darkened and given Poisson-Gaussian noise at a high-ISO
  level, quantised to 12 bits with a black level, and written by our DNG writer with its
  noise profile in the NoiseProfile tag.
* ``chelsea_noisy.png`` -- an 8-bit PNG with camera-like noise (raw noise rendered through
  our ISP, so it is signal dependent and spatially correlated like a phone JPEG).
* ``coffee_awgn25.png`` -- an 8-bit PNG with Gaussian noise of sigma 25/255.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from edgeden.core.types import NoiseParams, RawImage


def skimage_photo(name: str) -> np.ndarray:
    """A colour photo scikit-image ships ("astronaut", "chelsea", "coffee", ...).

    Returns (H, W, 3) float32 sRGB in [0, 1].
    """
    from edgeden.core.types import require

    data = require("skimage.data", "eval")
    return np.asarray(getattr(data, name)(), dtype=np.float32)[..., :3] / 255.0


def make_noisy_raw(srgb_hwc: np.ndarray, shot: float, read: float | None = None, cfa: str = "RGGB",
                   black: int = 256, white: int = 4095, brightness: float = 1.0, seed: int = 0,
                   make: str = "edgeden", model: str = "synthetic camera") -> tuple[RawImage, np.ndarray]:
    """A noisy Bayer raw (as :func:`edgeden.io.read_raw` would return it) from an sRGB photo.

    The photo is unprocessed with the ISP's typical camera (``DEFAULT_WB``, ``DEFAULT_CCM``),
    scaled by ``brightness``, mosaiced in pattern ``cfa``, given Poisson-Gaussian noise of
    variance shot*x + read on [0, 1] data and stored as uint16 with ``black``/``white`` levels,
    clipped to [0, white] as a sensor saturates (values below black, from read noise, are kept).

    Args:
        srgb_hwc: (H, W, 3) float sRGB in [0, 1] (odd sizes are cropped to even).
        shot, read: noise (read default: UPI's mean read noise for ``shot``).
        cfa: "RGGB", "BGGR", "GRBG" or "GBRG".
    Returns:
        (RawImage with noise_profile set (source "dng"), clean mosaic (H, W) float32 in [0, 1]).
    """
    from edgeden.core import isp
    from edgeden.core import noise as nm
    from edgeden.core.bayer import cfa_offsets
    from edgeden.core.colour import cam_to_srgb_from_xyz

    h, w = (srgb_hwc.shape[0] // 2) * 2, (srgb_hwc.shape[1] // 2) * 2
    x = torch.from_numpy(np.ascontiguousarray(srgb_hwc[:h, :w])).permute(2, 0, 1)[None].float()
    lin = isp.unprocess_rgb(x, isp.DEFAULT_WB, isp.DEFAULT_CCM)[0] * brightness  # (3, H, W)
    mosaic = torch.empty(h, w)
    for colour, idx in zip("RGB", range(3)):
        for dy, dx in cfa_offsets(cfa)[colour]:
            mosaic[dy::2, dx::2] = lin[idx, dy::2, dx::2]
    if read is None:
        read = float(nm.upi_mean_read(torch.tensor(shot)))
    g = torch.Generator().manual_seed(seed)
    noisy = nm.add_poisson_gaussian(mosaic[None, None], torch.tensor([shot]), torch.tensor([read]), g)[0, 0]
    u16 = np.clip(np.round(noisy.numpy() * (white - black) + black), 0, white).astype(np.uint16)
    xyz_to_cam = isp.UPI_XYZ_TO_CAM.mean(0).astype(np.float32)
    raw = RawImage(mosaic_u16=u16, cfa=cfa, black_level=(float(black),) * 4, white_level=float(white),
                   wb_rgb=np.asarray(isp.DEFAULT_WB, np.float32), cam_to_srgb=cam_to_srgb_from_xyz(xyz_to_cam),
                   xyz_to_cam=xyz_to_cam, make=make, model=model, iso=None,
                   noise_profile=NoiseParams((shot,), (read,), source="dng", detail="synthetic"),
                   exif={"Make": make, "Model": model}, path="", format="dng")
    return raw, mosaic.numpy()


def make_samples(folder: str | Path, seed: int = 0) -> list[Path]:
    """Write the demo inputs (see the module docstring) into ``folder``; returns their paths."""
    from edgeden import io
    from edgeden.core import isp

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    raw, _ = make_noisy_raw(skimage_photo("astronaut"), shot=1.2e-2, brightness=0.35, seed=seed,
                            model="synthetic ISO 6400")
    p = folder / "astronaut_night.dng"
    io.write_dng(p, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False,
                 software="edgeden demo")
    out.append(p)

    g = torch.Generator().manual_seed(seed + 1)
    cat = torch.from_numpy(skimage_photo("chelsea")).permute(2, 0, 1)[None]
    cat = cat[..., : cat.shape[-2] // 2 * 2, : cat.shape[-1] // 2 * 2]
    noisy, _clean = isp.synthetic_camera_noise_srgb(cat, g, shot=torch.tensor([8e-3]))
    like = _rgb_like(8)
    p = folder / "chelsea_noisy.png"
    io.write_rgb(p, noisy[0].permute(1, 2, 0).numpy(), like)
    out.append(p)

    coffee = skimage_photo("coffee")
    rng = np.random.default_rng(seed + 2)
    p = folder / "coffee_awgn25.png"
    io.write_rgb(p, np.clip(coffee + rng.normal(0, 25 / 255, coffee.shape), 0, 1).astype(np.float32), like)
    out.append(p)
    return out


def _rgb_like(bit_depth: int):
    from edgeden.core.types import RgbImage

    return RgbImage(data_hwc=np.zeros((1, 1, 3), np.float32), alpha=None, bit_depth=bit_depth, format="png")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path("demo/inputs")
    for p in make_samples(folder):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
