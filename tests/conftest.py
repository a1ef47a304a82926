"""Shared fixtures for tests/core and tests/io: location of the shared test data, tiny synthetic raws."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: ``shared/data`` beside the repository (absent on machines without the data: tests skip).
DATA_DIR = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
RAW_DIR = DATA_DIR / "raw"

_CFA_BYTES = {"RGGB": b"\x00\x01\x01\x02", "BGGR": b"\x02\x01\x01\x00",
              "GRBG": b"\x01\x00\x02\x01", "GBRG": b"\x01\x02\x00\x01"}


@pytest.fixture
def data_file():
    """Return a function name -> Path inside shared/data, skipping the test if it is absent."""
    def get(rel: str) -> Path:
        p = DATA_DIR / rel
        if not p.is_file():
            pytest.skip(f"test data not available: {p}")
        return p
    return get


def _srational(m: np.ndarray) -> tuple[int, ...]:
    out: list[int] = []
    for v in np.asarray(m, np.float64).ravel():
        out += [int(round(v * 10000)), 10000]
    return tuple(out)


def write_reference_dng(path: Path, mosaic: np.ndarray, cfa: str, black: tuple[int, int, int, int],
                        white: int, *, neutral=(0.5, 1.0, 0.625), xyz_to_cam=None, iso: int | None = 400,
                        noise_profile: tuple[float, ...] | None = (2e-4, 3e-6),
                        active_area: tuple[int, int, int, int] | None = None,
                        photometric: int = 32803, cfa_dim=(2, 2)) -> Path:
    """Minimal DNG written directly with tifffile (raw in IFD0, like the GoPro files).

    Independent of ``edgeden.io.write_dng`` so that ``read_raw`` is tested against a
    file our own writer did not make. ``black`` is per 2x2 position in reading order.
    """
    import tifffile

    if xyz_to_cam is None:
        xyz_to_cam = np.array([[1.0344, -0.421, -0.062], [-0.2315, 1.0625, 0.1948], [0.0093, 0.1058, 0.5541]])
    tags = [
        (50706, 1, 4, (1, 4, 0, 0), True), (50707, 1, 4, (1, 1, 0, 0), True),
        (50708, 2, 0, "Reference Cam", True), (271, 2, 0, "RefMake", True), (272, 2, 0, "RefModel", True),
        (50721, 10, 9, _srational(xyz_to_cam), True), (50778, 3, 1, 21, True),
        (50728, 5, 3, tuple(x for v in neutral for x in (int(round(v * 1e6)), 1_000_000)), True),
    ]
    if photometric == 32803:
        pat = _CFA_BYTES[cfa] if cfa_dim == (2, 2) else bytes(np.arange(36) % 3)
        tags += [(33421, 3, 2, cfa_dim, True), (33422, 1, len(pat), pat, True),
                 (50710, 1, 3, b"\x00\x01\x02", True), (50711, 3, 1, 1, True),
                 (50713, 3, 2, (2, 2), True), (50714, 4, 4, tuple(int(b) for b in black), True)]
    tags.append((50717, 4, 1, int(white), True))
    if iso is not None:
        tags.append((34855, 3, 1, int(iso), True))  # TIFF/EP ISO in IFD0
    if noise_profile is not None:
        tags.append((51041, 12, len(noise_profile), tuple(noise_profile), True))
    if active_area is not None:
        tags.append((50829, 4, 4, tuple(active_area), True))
    with tifffile.TiffWriter(path, bigtiff=False) as tw:
        tw.write(mosaic, photometric=photometric, metadata=None, extratags=tags,
                 **({"planarconfig": "contig"} if mosaic.ndim == 3 else {}))
    return path


@pytest.fixture
def reference_dng():
    """The :func:`write_reference_dng` function."""
    return write_reference_dng


@pytest.fixture
def synthetic_raw():
    """Factory: cfa -> RawImage with a random mosaic and distinct per-position black levels."""
    from edgeden.core.colour import cam_to_srgb_from_xyz
    from edgeden.core.types import NoiseParams, RawImage

    def make(cfa: str = "RGGB", h: int = 24, w: int = 36, seed: int = 0, **kw) -> RawImage:
        rng = np.random.default_rng(seed)
        black = kw.pop("black_level", (60.0, 64.0, 68.0, 72.0))
        white = kw.pop("white_level", 4095.0)
        mosaic = rng.integers(int(min(black)), int(white) + 1, size=(h, w)).astype(np.uint16)
        xyz = kw.pop("xyz_to_cam", np.array([[0.9, -0.3, -0.05], [-0.35, 1.2, 0.15], [-0.05, 0.2, 0.6]],
                                             np.float32))
        fields = dict(
            mosaic_u16=mosaic, cfa=cfa, black_level=tuple(black), white_level=float(white),
            wb_rgb=np.array([2.1, 1.0, 1.6], np.float32), cam_to_srgb=cam_to_srgb_from_xyz(xyz),
            xyz_to_cam=xyz, make="SynthMake", model="Synth 1", iso=800.0,
            noise_profile=NoiseParams((1e-4,), (2e-6,), source="dng-noiseprofile"),
            exif={"Make": "SynthMake", "Model": "Synth 1", "ISOSpeedRatings": 800,
                  "ExposureTime": (1, 250), "FNumber": (28, 10), "FocalLength": (50, 1),
                  "DateTimeOriginal": "2024:05:06 07:08:09", "LensModel": "Synth 50mm F2.8",
                  "Orientation": 6, "GPS": {"GPSLatitudeRef": "N", "GPSLatitude": (48, 1, 51, 1, 24, 1)}},
            path="", format="dng")
        fields.update(kw)
        return RawImage(**fields)
    return make
