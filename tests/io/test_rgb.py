"""read_rgb / write_rgb / previews / atomic writes: round trips on tiny images made in code."""
from __future__ import annotations

import struct
import time
import zlib

import numpy as np
import png
import pytest
import tifffile
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from edgeden.core.types import CorruptInputError, EdgedenError, UnsupportedInputError
from edgeden.io import (
    atomic_path,
    atomic_write,
    exif_jsonable,
    find_stale_temps,
    is_atomic_temp,
    quantise,
    read_rgb,
    rgb_info,
    write_preview,
    write_rgb,
    write_tiff16,
)
from edgeden.io.exif_write import pillow_exif, unlink_ifd1

LAYOUTS = {"grey": (1, False), "grey+alpha": (1, True), "rgb": (3, False), "rgba": (3, True)}


def _pixels(h, w, c, depth, seed=0):
    rng = np.random.default_rng(seed)
    hi = 65535 if depth == 16 else 255
    return rng.integers(0, hi + 1, size=(h, w, c)).astype(np.uint16 if depth == 16 else np.uint8)


def _write_source(path, arr, fmt):
    """Write a source file with a library other than the one under test where possible."""
    c = arr.shape[2]
    if fmt == "png":
        if arr.dtype == np.uint16:
            with open(path, "wb") as fh:
                png.Writer(arr.shape[1], arr.shape[0], greyscale=c <= 2, alpha=c in (2, 4),
                           bitdepth=16).write(fh, arr.reshape(arr.shape[0], -1))
        else:
            Image.fromarray(arr[:, :, 0] if c == 1 else arr).save(path)
    else:
        kw = {"extrasamples": ["unassalpha"]} if c in (2, 4) else {}
        tifffile.imwrite(path, arr[:, :, 0] if c == 1 else arr,
                         photometric="minisblack" if c <= 2 else "rgb", **kw)


@pytest.mark.parametrize("fmt, ext", [("png", ".png"), ("tiff", ".tif")])
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_lossless_round_trip_keeps_depth_layout_alpha(tmp_path, fmt, ext, depth, layout):
    c, has_alpha = LAYOUTS[layout]
    arr = _pixels(9, 13, c + has_alpha, depth)
    src = tmp_path / f"src{ext}"
    _write_source(src, arr, fmt)
    img = read_rgb(src)
    assert (img.format, img.bit_depth, img.channels) == (fmt, depth, c)
    assert img.data_hwc.dtype == np.float32 and img.data_hwc.shape == (9, 13, c)
    assert 0.0 <= img.data_hwc.min() and img.data_hwc.max() <= 1.0
    maxv = 65535 if depth == 16 else 255
    np.testing.assert_array_equal(np.rint(img.data_hwc * maxv), arr[:, :, :c])
    if has_alpha:
        assert img.alpha.dtype == arr.dtype
        np.testing.assert_array_equal(img.alpha, arr[:, :, c])
    else:
        assert img.alpha is None
    out = tmp_path / f"out{ext}"
    write_rgb(out, img.data_hwc, img)
    back = read_rgb(out)
    assert (back.format, back.bit_depth, back.channels, back.alpha is None) == (fmt, depth, c, not has_alpha)
    np.testing.assert_array_equal(back.data_hwc, img.data_hwc)
    if has_alpha:
        np.testing.assert_array_equal(back.alpha, img.alpha)


def test_16bit_rgb_png_is_not_truncated_to_8_bits(tmp_path):
    """The Pillow trap: a 16-bit RGB PNG must come back with all 16 bits (values not k*257)."""
    arr = (np.arange(6 * 7 * 3).reshape(6, 7, 3) * 311 + 1).astype(np.uint16)
    _write_source(tmp_path / "a.png", arr, "png")
    img = read_rgb(tmp_path / "a.png")
    assert img.bit_depth == 16
    np.testing.assert_array_equal(np.rint(img.data_hwc * 65535).astype(np.uint16), arr)
    write_rgb(tmp_path / "b.png", img.data_hwc, img)
    with open(tmp_path / "b.png", "rb") as fh:
        w, h, rows, info = png.Reader(file=fh).read()
        assert info["bitdepth"] == 16 and info["planes"] == 3
        np.testing.assert_array_equal(np.vstack([np.asarray(r) for r in rows]).reshape(6, 7, 3), arr)


@pytest.mark.parametrize("layout", ["grey", "rgb"])
def test_jpeg_round_trip_is_close(tmp_path, layout):
    c = LAYOUTS[layout][0]
    yy, xx = np.mgrid[0:32, 0:48]
    smooth = np.stack([xx * 5, yy * 7, xx + yy * 3], axis=-1)[:, :, :c].astype(np.uint8)
    Image.fromarray(smooth[:, :, 0] if c == 1 else smooth).save(tmp_path / "a.jpg", quality=98)
    img = read_rgb(tmp_path / "a.jpg")
    assert (img.format, img.bit_depth, img.channels) == ("jpeg", 8, c)
    write_rgb(tmp_path / "b.jpg", img.data_hwc, img)
    back = read_rgb(tmp_path / "b.jpg")
    assert back.channels == c
    assert np.abs(back.data_hwc - img.data_hwc).mean() < 2 / 255


def test_quantise_rounds_and_clips():
    x = np.array([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 1.0, 1.5, np.nan], np.float32)
    np.testing.assert_array_equal(quantise(x, 8), [0, 0, 0, 1, 255, 255, 0])
    np.testing.assert_array_equal(quantise(np.array([0.5]), 16), [32768])
    with pytest.raises(TypeError):
        quantise(np.array([1], np.int64), 8)


def _exif_with_capture_data():
    ex = Image.Exif()
    ex[271], ex[272], ex[274] = "Cam", "X1", 6
    sub = ex.get_ifd(0x8769)
    sub[33434] = IFDRational(1, 100)
    sub[34855] = 400
    sub[42036] = "Lens 35mm"
    return ex


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_exif_icc_and_orientation_carried_over(tmp_path, ext):
    arr = _pixels(10, 14, 3, 8)
    icc = b"fake icc profile bytes" * 4
    Image.fromarray(arr).save(tmp_path / f"a{ext}", exif=_exif_with_capture_data(), icc_profile=icc)
    img = read_rgb(tmp_path / f"a{ext}")
    assert img.exif["Model"] == "X1" and img.exif["ISOSpeedRatings"] == 400
    assert img.exif["ExposureTime"] == (1, 100) and img.exif["LensModel"] == "Lens 35mm"
    write_rgb(tmp_path / f"b{ext}", img.data_hwc, img)
    with Image.open(tmp_path / f"b{ext}") as im:
        assert im.info.get("icc_profile") == icc
        ex = im.getexif()
        assert ex[274] == 6 and ex.get_ifd(0x8769)[34855] == 400
        assert im.size == (14, 10)   # orientation is carried, pixels are not rotated
    info = rgb_info(tmp_path / f"b{ext}")
    assert info["iso"] == 400.0 and info["orientation"] == 6 and info["exposure_time"] == 0.01


def test_exif_written_into_tiff_sub_ifds(tmp_path):
    exif = {"Make": "Cam", "Model": "X1", "Orientation": 8, "ISOSpeedRatings": 1600,
            "ExposureTime": (1, 60), "GPS": {"GPSLatitudeRef": "S", "GPSLatitude": (10, 1, 20, 1, 30, 1)}}
    write_tiff16(tmp_path / "r.tif", np.full((4, 5, 3), 0.25, np.float32), exif=exif)
    with tifffile.TiffFile(tmp_path / "r.tif") as tf:
        page = tf.pages.first
        assert page.dtype == np.uint16 and page.shape == (4, 5, 3)
        assert page.tags["ExifTag"].value["ISOSpeedRatings"] == 1600
        assert page.tags["GPSTag"].value["GPSLatitudeRef"] == "S"
        assert int(page.tags["Orientation"].value) == 8
        np.testing.assert_array_equal(page.asarray(), 16384)   # 0.25 * 65535 rounded
    back = read_rgb(tmp_path / "r.tif")
    assert back.exif["ExposureTime"] == (1, 60) and back.exif["GPS"]["GPSLatitude"] == (10, 1, 20, 1, 30, 1)


def test_unlink_ifd1_drops_the_thumbnail_link_only():
    blob = bytearray(pillow_exif({"Make": "Cam", "ISOSpeedRatings": 100}).tobytes()[6:])
    ifd0 = struct.unpack("<I", blob[4:8])[0]
    n = struct.unpack("<H", blob[ifd0:ifd0 + 2])[0]
    nxt = ifd0 + 2 + 12 * n
    blob[nxt:nxt + 4] = struct.pack("<I", 8)   # pretend an IFD1 (thumbnail) follows
    out = unlink_ifd1(b"Exif\x00\x00" + bytes(blob))
    assert len(out) == len(blob) + 6
    assert out[6 + nxt:6 + nxt + 4] == b"\x00\x00\x00\x00"
    assert out[6:6 + nxt] == bytes(blob[:nxt])


def test_pillow_exif_writes_table_types_that_read_back():
    """Cross-format EXIF (e.g. a raw's capture data in a JPEG preview) goes through Pillow's
    Image.Exif with each tag's table type: rationals stay rationals, GPS stays in its IFD."""
    from PIL import Image

    tags = {"Make": "Cam", "Orientation": 6, "ExposureTime": (1, 60), "FNumber": (14, 5),
            "ISOSpeedRatings": 400, "GPS": {"GPSLatitudeRef": "S", "GPSLatitude": (10, 1, 20, 1, 30, 1)}}
    ex = Image.Exif()
    ex.load(pillow_exif(tags).tobytes())
    from edgeden.io.exif import exif_from_pillow

    back = exif_from_pillow(ex)
    assert {k: back[k] for k in tags} == tags
    assert pillow_exif({}) is None


def test_write_preview_and_tiff16(tmp_path):
    render = np.linspace(0, 1, 8 * 10 * 3, dtype=np.float32).reshape(8, 10, 3)
    write_preview(tmp_path / "p.jpg", render, exif={"Orientation": 3, "Make": "Cam"})
    write_preview(tmp_path / "p.png", (render * 255).round().astype(np.uint8))
    jpg, pngi = read_rgb(tmp_path / "p.jpg"), read_rgb(tmp_path / "p.png")
    # the orientation is applied to the pixels and the tag reset (tests/io/test_preview.py)
    assert jpg.format == "jpeg" and jpg.exif["Orientation"] == 1 and jpg.data_hwc.shape == (8, 10, 3)
    np.testing.assert_array_equal(np.rint(pngi.data_hwc * 255), np.rint(render * 255))
    write_tiff16(tmp_path / "r.tiff", render)
    t = read_rgb(tmp_path / "r.tiff")
    assert t.bit_depth == 16 and np.abs(t.data_hwc - render).max() <= 0.5 / 65535 + 1e-7
    with pytest.raises(ValueError):
        write_preview(tmp_path / "p.bmp", render)


# ----------------------------------------------------------------------------- bad input
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@pytest.fixture
def bad_files(tmp_path):
    yy, xx = np.mgrid[0:64, 0:80]
    arr = np.stack([xx * 3, yy * 4, xx + yy], axis=-1).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "ok.png")
    Image.fromarray(arr).save(tmp_path / "ok.jpg", quality=90)
    tifffile.imwrite(tmp_path / "ok.tif", arr)
    _write_source(tmp_path / "ok16.png", arr.astype(np.uint16) * 257, "png")
    for name in ("ok.png", "ok.jpg", "ok.tif", "ok16.png"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"half_{name}").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "random.png").write_bytes(np.random.default_rng(0).bytes(2048))
    (tmp_path / "notes.jpg").write_text("Shopping list: eggs, milk\n" * 10)
    huge = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b""))
    (tmp_path / "huge.png").write_bytes(huge)
    return tmp_path


@pytest.mark.parametrize("name, error, words", [
    ("zero.png", CorruptInputError, "empty file"),
    ("half_ok.png", CorruptInputError, "truncated"),
    ("half_ok16.png", CorruptInputError, "truncated"),
    ("half_ok.jpg", CorruptInputError, "truncated"),
    ("half_ok.tif", CorruptInputError, "truncated"),
    ("random.png", CorruptInputError, "not a PNG"),
    ("notes.jpg", CorruptInputError, "not a JPEG: the file contains text"),
    ("huge.png", UnsupportedInputError, "too large: 100000x100000"),
])
@pytest.mark.reliability(case='broken PNG/TIFF/JPEG (truncated, zero-byte, wrong extension, text, CMYK, ...)', expected='one-line CorruptInputError/UnsupportedInputError naming the problem')
def test_bad_rgb_files(bad_files, name, error, words):
    t0 = time.perf_counter()
    with pytest.raises(error, match=words) as exc:
        read_rgb(bad_files / name)
    assert time.perf_counter() - t0 < 2.0       # refused before decoding anything big
    assert "\n" not in str(exc.value)


@pytest.mark.reliability(case='missing input file', expected='one-line error')
def test_missing_rgb_file(tmp_path):
    with pytest.raises(EdgedenError, match="not found"):
        read_rgb(tmp_path / "missing.png")


# ----------------------------------------------------------------------------- atomic writes
@pytest.mark.reliability(case='write interrupted by an exception', expected='no partial file under the real name; temporary removed')
def test_atomic_path_names_and_cleanup(tmp_path):
    with atomic_path(tmp_path / "out.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.png.") and tmp.name.endswith(".tmp")
        assert is_atomic_temp(tmp) and find_stale_temps(tmp_path) == [tmp]
        tmp.write_bytes(b"data")
        assert not (tmp_path / "out.png").exists()
    assert (tmp_path / "out.png").read_bytes() == b"data" and not find_stale_temps(tmp_path)

    def fail(p):
        p.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "out.png", fail)
    assert (tmp_path / "out.png").read_bytes() == b"data"      # old result untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert not is_atomic_temp(tmp_path / "out.png") and not is_atomic_temp(tmp_path / ".hidden")


# ----------------------------------------------------------------------------- real files
def test_real_kodak_and_set12(data_file):
    kodim = read_rgb(data_file("test/Kodak24/kodim01.png"))
    assert kodim.data_hwc.shape in ((512, 768, 3), (768, 512, 3)) and kodim.bit_depth == 8
    grey = read_rgb(data_file("test/Set12/01.png"))
    assert grey.channels == 1 and grey.alpha is None
    assert exif_jsonable(kodim.exif) == {}   # private keys hidden


def _png_header_only(path, w, h, bit_depth=8, colour=2):
    """A PNG whose IHDR claims w x h but whose pixel data is one empty deflate stream."""
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.reliability(case='PNG of 190 MP (under the limit) and 210 MP (over), 8 and 16 bit', expected='one 200 MP limit from the header for every depth')
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_one_pixel_limit_for_every_png_depth(tmp_path, bit_depth):
    """190 MP is under the documented 200 MP limit: never refused as 'too large' by a decoder's
    own guard (Pillow's is 179 MP), whatever the bit depth; 210 MP is refused from the header."""
    from edgeden.core.types import CorruptInputError, UnsupportedInputError
    from edgeden.io import MAX_PIXELS, read_rgb

    assert MAX_PIXELS == 200_000_000
    under = _png_header_only(tmp_path / "under.png", 14000, 13600, bit_depth)  # 190.4 MP
    with pytest.raises(CorruptInputError):  # decoded (and found truncated), not refused for size
        read_rgb(under)
    over = _png_header_only(tmp_path / "over.png", 15000, 14000, bit_depth)  # 210 MP
    with pytest.raises(UnsupportedInputError, match="200"):
        read_rgb(over)
