"""read_raw / raw_info / detect_kind: synthetic DNGs made in code, real files when present."""
from __future__ import annotations

import numpy as np
import pytest
import rawpy

from edgeden.core.colour import SRGB_TO_XYZ, cam_to_srgb_from_xyz
from edgeden.core.types import (
    CFA_PATTERNS,
    CorruptInputError,
    EdgedenError,
    UnsupportedInputError,
)
from edgeden.io import (
    MAX_PIXELS,
    cfa_from_pattern,
    check_pixels,
    detect_kind,
    noise_params_from_dng,
    raw_info,
    read_raw,
)

# LibRaw colour indices (color_desc b"RGBG": 0=R, 1=G, 2=B, 3=second G) for each pattern
LIBRAW_PATTERNS = {"RGGB": [[0, 1], [3, 2]], "BGGR": [[2, 3], [1, 0]],
                   "GRBG": [[1, 0], [2, 3]], "GBRG": [[3, 2], [0, 1]]}


# ----------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("name", CFA_PATTERNS)
def test_cfa_from_pattern_names_every_bayer_pattern(name):
    assert cfa_from_pattern(np.array(LIBRAW_PATTERNS[name]), b"RGBG") == name


@pytest.mark.parametrize("pattern, desc, words", [
    (np.zeros((6, 6), int), b"RGBG", "X-Trans"),
    (None, b"RGBG", "non-Bayer"),
    (np.array([[0, 1], [2, 3]]), b"CMYG", "CMYG"),
    (np.array([[0, 1], [3, 2]]), b"RGBE", "RGBE"),
    (np.zeros((4, 4), int), b"RGBG", "4x4"),
    (np.array([[0, 0], [0, 0]]), b"RGBG", "RRRR"),
])
def test_cfa_from_pattern_refuses_non_bayer(pattern, desc, words):
    with pytest.raises(UnsupportedInputError, match=words):
        cfa_from_pattern(pattern, desc)


def test_cam_to_srgb_follows_upi_convention():
    rng = np.random.default_rng(1)
    xyz_to_cam = np.eye(3) + 0.2 * rng.standard_normal((3, 3))
    m = cam_to_srgb_from_xyz(xyz_to_cam)
    assert m.dtype == np.float32 and m.shape == (3, 3)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)  # white stays white
    rgb2cam = xyz_to_cam @ SRGB_TO_XYZ
    rgb2cam /= rgb2cam.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(m.astype(np.float64) @ rgb2cam, np.eye(3), atol=1e-5)
    np.testing.assert_array_equal(cam_to_srgb_from_xyz(None), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(cam_to_srgb_from_xyz(np.zeros((3, 3))), np.eye(3, dtype=np.float32))


def test_noise_params_from_dng_tag_layouts():
    one = noise_params_from_dng((2e-4, 3e-6))
    assert one.shot == (2e-4,) and one.read == (3e-6,) and one.source == "dng-noiseprofile"
    # planes listed B, G, R in CFAPlaneColor: packed order must still be R, G1, G2, B
    per = noise_params_from_dng((3.0e-4, 3e-6, 2.0e-4, 2e-6, 1.0e-4, 1e-6), plane_colors=(2, 1, 0))
    assert per.shot == (1.0e-4, 2.0e-4, 2.0e-4, 3.0e-4)
    assert per.read == (1e-6, 2e-6, 2e-6, 3e-6)
    assert noise_params_from_dng((1e-4,)) is None
    assert noise_params_from_dng((-1e-4, 1e-6)) is None
    assert noise_params_from_dng((1e-4, 1e-6, 2e-4, 2e-6)) is None  # 2 pairs for 3 planes


def test_check_pixels_limit():
    check_pixels(10_000, MAX_PIXELS // 10_000)
    with pytest.raises(UnsupportedInputError, match="MAX_PIXELS"):
        check_pixels(100_000, 100_000)
    with pytest.raises(CorruptInputError):
        check_pixels(0, 10)


# ----------------------------------------------------------------------------- synthetic DNGs
@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_read_raw_reference_dng_every_pattern(tmp_path, reference_dng, cfa):
    rng = np.random.default_rng(3)
    mosaic = rng.integers(0, 4096, size=(32, 48)).astype(np.uint16)
    black = (100, 110, 120, 130)
    path = reference_dng(tmp_path / f"ref_{cfa}.dng", mosaic, cfa, black, 4095)
    raw = read_raw(path)
    np.testing.assert_array_equal(raw.mosaic_u16, mosaic)
    assert raw.mosaic_u16.dtype == np.uint16
    assert raw.cfa == cfa
    assert raw.black_level == (100.0, 110.0, 120.0, 130.0)  # per position, whatever the pattern
    assert raw.white_level == 4095.0
    np.testing.assert_allclose(raw.wb_rgb, [2.0, 1.0, 1.6], rtol=1e-5)  # 1 / AsShotNeutral, G = 1
    assert raw.xyz_to_cam is not None
    np.testing.assert_allclose(raw.xyz_to_cam[0], [1.0344, -0.421, -0.062], atol=1e-6)
    assert raw.noise_profile.shot == (2e-4,) and raw.noise_profile.read == (3e-6,)
    assert raw.iso == 400.0 and raw.make == "RefMake" and raw.model == "RefModel"
    assert raw.format == "dng"
    with rawpy.imread(str(path)) as r:  # LibRaw agrees on the colour of every position
        desc = r.color_desc.decode()
        letters = "".join(desc[c] for c in r.raw_colors_visible[:2, :2].ravel())
        np.testing.assert_allclose(r.color_matrix[:, :3], raw.cam_to_srgb, atol=1e-4)
    assert letters == cfa


def test_active_area_at_odd_offset_shifts_pattern_and_black(tmp_path, reference_dng):
    """CFAPattern and BlackLevel are anchored at the ActiveArea corner (DNG 1.4)."""
    mosaic = np.random.default_rng(0).integers(0, 4096, size=(32, 48)).astype(np.uint16)
    path = reference_dng(tmp_path / "aa.dng", mosaic, "RGGB", (100, 110, 120, 130), 4095,
                         active_area=(1, 1, 31, 47))
    raw = read_raw(path)
    with rawpy.imread(str(path)) as r:
        top, left = r.sizes.top_margin, r.sizes.left_margin
    np.testing.assert_array_equal(raw.mosaic_u16, mosaic[top:top + raw.shape[0], left:left + raw.shape[1]])
    # sensor position (top, left) is (top-1, left-1) from the ActiveArea corner, where R sits
    dy, dx = (top - 1) % 2, (left - 1) % 2
    rggb_black = np.array([[100, 110], [120, 130]])
    expected = tuple(float(rggb_black[(dy + i) % 2, (dx + j) % 2]) for i in range(2) for j in range(2))
    assert raw.black_level == expected
    assert raw.cfa == "".join("RGGB"[2 * ((dy + i) % 2) + (dx + j) % 2] for i in range(2) for j in range(2))


@pytest.mark.reliability(case='linear (demosaiced) DNG', expected='refused with one line')
def test_linear_dng_refused(tmp_path, reference_dng):
    rgb = np.random.default_rng(0).integers(0, 4096, size=(16, 24, 3)).astype(np.uint16)
    path = reference_dng(tmp_path / "linear.dng", rgb, "RGGB", (0, 0, 0, 0), 4095, photometric=34892)
    with pytest.raises(UnsupportedInputError, match="linear DNG: already demosaiced, not a Bayer mosaic"):
        read_raw(path)


@pytest.mark.reliability(case='X-Trans / non-Bayer DNG', expected='refused with one line')
def test_xtrans_dng_refused(tmp_path, reference_dng):
    mosaic = np.zeros((24, 36), np.uint16)
    path = reference_dng(tmp_path / "xtrans.dng", mosaic, "RGGB", (0, 0, 0, 0), 4095, cfa_dim=(6, 6))
    with pytest.raises(UnsupportedInputError, match="X-Trans"):
        read_raw(path)


@pytest.mark.reliability(case='DNG header claiming an absurd size', expected='refused from the header, before decoding')
def test_dng_header_claiming_absurd_size_refused_before_decoding(tmp_path, reference_dng):
    path = reference_dng(tmp_path / "small.dng", np.zeros((8, 8), np.uint16), "RGGB", (0, 0, 0, 0), 4095)
    data = bytearray(path.read_bytes())
    import struct
    # patch ImageWidth / ImageLength (LONG, inline) of IFD0 to 60000 x 60000
    ifd = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[ifd:ifd + 2])[0]
    for i in range(n):
        e = ifd + 2 + 12 * i
        code, typ = struct.unpack("<HH", data[e:e + 4])
        if code in (256, 257):
            fmt = "<H" if typ == 3 else "<I"
            data[e + 8:e + 8 + struct.calcsize(fmt)] = struct.pack(fmt, 60000)
    path.write_bytes(bytes(data))
    with pytest.raises(UnsupportedInputError, match="too large"):
        read_raw(path)


# ----------------------------------------------------------------------------- bad input
def _bad_files(tmp_path, reference_dng):
    good = reference_dng(tmp_path / "good.dng", np.ones((64, 64), np.uint16), "RGGB", (0, 0, 0, 0), 4095)
    data = good.read_bytes()
    files = {
        "zero.dng": b"",
        "random.dng": np.random.default_rng(0).bytes(4096),
        "half.dng": data[: len(data) // 2],
        "header_only.dng": data[:200],
        "text.nef": b"this is a text file, not a raw\n" * 20,
        "image.dng": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return files


@pytest.mark.parametrize("name, words", [
    ("zero.dng", "empty file"),
    ("random.dng", "not a DNG"),
    ("half.dng", "truncated"),
    ("header_only.dng", "truncated"),
    ("text.nef", "text"),
    ("image.dng", "PNG"),
])
@pytest.mark.reliability(case='broken raw files (truncated, zero-byte, renamed text, ...)', expected='one-line CorruptInputError')
def test_bad_raw_files_raise_corrupt_with_one_line(tmp_path, reference_dng, name, words):
    _bad_files(tmp_path, reference_dng)
    with pytest.raises(CorruptInputError, match=words) as exc:
        read_raw(tmp_path / name)
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 160


@pytest.mark.reliability(case='missing raw file', expected='one-line error')
def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(EdgedenError, match="not found"):
        read_raw(tmp_path / "nope.dng")


# ----------------------------------------------------------------------------- detect_kind
def test_detect_kind_by_extension_and_content(tmp_path, reference_dng):
    dng = reference_dng(tmp_path / "a.dng", np.zeros((8, 8), np.uint16), "RGGB", (0, 0, 0, 0), 4095)
    assert detect_kind(dng) == "raw"
    as_tif = tmp_path / "a_dng.TIF"
    as_tif.write_bytes(dng.read_bytes())
    assert detect_kind(as_tif) == "raw"            # a DNG saved as .tif
    import tifffile
    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((8, 8, 3), np.uint8))
    assert detect_kind(tmp_path / "plain.tif") == "rgb"   # DNG-less TIFF is RGB
    for ext in (".NEF", ".cr2", ".cr3", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw", ".kdc", ".x3f", ".iiq"):
        assert detect_kind(tmp_path / f"x{ext}") == "raw"
    for ext in (".png", ".jpg", ".JPEG", ".tiff"):
        assert detect_kind(tmp_path / f"x{ext}") == "rgb"
    with pytest.raises(UnsupportedInputError, match="unknown file type"):
        detect_kind(tmp_path / "x.bmp")


# ----------------------------------------------------------------------------- real files
def test_real_gopro_hero7(data_file):
    path = data_file("raw/gopro_HERO7_GOPR9231_from_gpr.dng")
    raw = read_raw(path)
    assert raw.shape == (3000, 4000) and raw.cfa == "RGGB"
    assert raw.black_level == (0.0, 0.0, 0.0, 0.0) and raw.white_level == 16383.0
    assert raw.iso == 252.0 and raw.make == "GoPro" and raw.model == "HERO7 Black"
    np.testing.assert_allclose(raw.wb_rgb, [1 / 0.565121, 1.0, 1 / 0.527835], rtol=1e-5)
    assert raw.noise_profile is not None and raw.noise_profile.source == "dng-noiseprofile"
    np.testing.assert_allclose(raw.noise_profile.shot, [0.00039362526149488986])
    assert raw.exif["ExposureTime"] == (1, 576) and raw.exif["Orientation"] == 2
    assert "GPSLatitude" in raw.exif["GPS"]
    with rawpy.imread(str(path)) as r:
        np.testing.assert_array_equal(raw.mosaic_u16[:64, :64], r.raw_image_visible[:64, :64])
        np.testing.assert_allclose(raw.cam_to_srgb, r.color_matrix[:, :3], atol=1e-4)
        np.testing.assert_allclose(raw.wb_rgb, np.array(r.camera_whitebalance[:3]), rtol=1e-5)
    info = raw_info(path)
    assert info["cfa"] == "RGGB" and info["width"] == 4000 and info["iso"] == 252.0
    assert info["noise_profile"]["source"] == "dng-noiseprofile"
    import json
    json.dumps(info)  # JSON-friendly for `edgeden info --json`


def test_real_gopro_fusion_size(data_file):
    raw = read_raw(data_file("raw/gopro_FUSION_GPFR7066_from_gpr.dng"))
    assert raw.shape == (3000, 3104) and raw.cfa == "RGGB" and raw.iso == 100.0


def test_real_kodak_kdc(data_file):
    raw = read_raw(data_file("raw/RAW_KODAK_DC50.KDC"))
    assert raw.shape == (512, 768) and raw.cfa == "GRBG" and raw.format == "kdc"
    # the file's matrices are all zero: LibRaw's own rendering is measured instead
    # (tests/io/test_raw_colour.py); not the identity a missing matrix would give
    assert raw.xyz_to_cam is not None and not np.allclose(raw.cam_to_srgb, np.eye(3), atol=0.1)
    assert raw.make == "Eastman Kodak Company" and raw.iso == 84.0


@pytest.mark.reliability(case='real linear DNG (Canon EOS 6D)', expected='refused with one line')
def test_real_linear_canon_dng_refused(data_file):
    with pytest.raises(UnsupportedInputError, match="linear DNG: already demosaiced, not a Bayer mosaic"):
        read_raw(data_file("raw/photoprism_canon_eos_6d_linear.dng"))
