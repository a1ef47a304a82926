"""write_dng: every DNG written is re-read with rawpy (LibRaw) and tifffile."""
from __future__ import annotations

import numpy as np
import pytest
import rawpy
import tifffile

from edgeden.core.colour import cam_to_srgb_from_xyz
from edgeden.core.types import CFA_PATTERNS, NoiseParams
from edgeden.io import find_stale_temps, read_raw, write_dng

_CFA_BYTES = {"RGGB": b"\x00\x01\x01\x02", "BGGR": b"\x02\x01\x01\x00",
              "GRBG": b"\x01\x00\x02\x01", "GBRG": b"\x01\x02\x00\x01"}


def _ifds(path):
    """(IFD0 tags, raw SubIFD tags, preview array) of a DNG written by write_dng."""
    with tifffile.TiffFile(path) as tf:
        ifd0 = tf.pages.first
        sub = ifd0.pages[0]
        t0 = {t.code: t.value for t in ifd0.tags.values()}
        t1 = {t.code: t.value for t in sub.tags.values()}
        return t0, t1, ifd0.asarray(), int(ifd0.photometric), int(sub.photometric)


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_write_dng_round_trip_every_pattern(tmp_path, synthetic_raw, cfa):
    like = synthetic_raw(cfa)
    den = np.clip(like.mosaic_u16.astype(np.int32) - 7, 0, 65535).astype(np.uint16)  # "denoised" data
    residual = NoiseParams((1e-5, 2e-5, 3e-5, 4e-5), (1e-7, 2e-7, 3e-7, 4e-7), source="synthetic")
    out = write_dng(tmp_path / f"out_{cfa}.dng", den, like, noise_profile=residual)
    assert out.is_file() and not find_stale_temps(tmp_path)

    # LibRaw sees the same sensor layout, levels, white balance and colour
    with rawpy.imread(str(out)) as r:
        np.testing.assert_array_equal(r.raw_image_visible, den)
        assert r.raw_type == rawpy.RawType.Flat
        desc = r.color_desc.decode()
        assert "".join(desc[c] for c in r.raw_pattern.ravel()) == cfa
        blpc = r.black_level_per_channel
        per_pos = tuple(float(blpc[c]) for c in r.raw_colors_visible[:2, :2].ravel())
        assert per_pos == like.black_level
        assert r.white_level == 4095
        cam = np.array(r.camera_whitebalance[:3]) / r.camera_whitebalance[1]
        np.testing.assert_allclose(cam, like.wb_rgb, rtol=1e-5)
        np.testing.assert_allclose(r.color_matrix[:, :3], like.cam_to_srgb, atol=1e-3)
        assert r.other.iso_speed == 800 and abs(r.other.shutter_speed - 1 / 250) < 1e-6
        assert r.sizes.flip == 6  # EXIF Orientation 6 survived (LibRaw flip 6 = 90 CW)

    # our reader gives back the same metadata
    back = read_raw(out)
    np.testing.assert_array_equal(back.mosaic_u16, den)
    assert back.cfa == cfa and back.black_level == like.black_level and back.white_level == like.white_level
    np.testing.assert_allclose(back.wb_rgb, like.wb_rgb, rtol=1e-5)
    np.testing.assert_allclose(back.xyz_to_cam, like.xyz_to_cam, atol=1e-4)  # SRATIONAL /10000
    np.testing.assert_allclose(back.cam_to_srgb, like.cam_to_srgb, atol=1e-3)
    assert back.make == like.make and back.model == like.model and back.iso == 800.0
    for key in ("ExposureTime", "FNumber", "FocalLength", "DateTimeOriginal", "LensModel", "Orientation", "GPS"):
        assert back.exif[key] == like.exif[key], key
    # NoiseProfile is per colour plane (R, G, B): the two greens are averaged
    np.testing.assert_allclose(back.noise_profile.shot, (1e-5, 2.5e-5, 2.5e-5, 4e-5))
    np.testing.assert_allclose(back.noise_profile.read, (1e-7, 2.5e-7, 2.5e-7, 4e-7))

    # the tags themselves
    t0, t1, preview, phot0, phot1 = _ifds(out)
    assert int(t0[254]) == 1 and int(t1[254]) == 0          # preview in IFD0, raw in the SubIFD
    assert phot0 == 2 and phot1 == 32803
    assert bytes(t0[50706]) == b"\x01\x04\x00\x00" and bytes(t0[50707]) == b"\x01\x01\x00\x00"
    assert int(t0[50778]) == 21 and t0[50708] == "SynthMake Synth 1"
    assert tuple(t1[33421]) == (2, 2) and bytes(t1[33422]) == _CFA_BYTES[cfa]
    assert bytes(t1[50710]) == b"\x00\x01\x02" and tuple(t1[50713]) == (2, 2)
    assert int(t1[258]) == 16 and int(t1[259]) == 1
    for tags in (t0, t1):
        np.testing.assert_allclose(tags[51041], (1e-5, 1e-7, 2.5e-5, 2.5e-7, 4e-5, 4e-7))
        assert tuple(tags[50935]) == (1, 1)
    assert preview.dtype == np.uint8 and preview.shape[2] == 3 and max(preview.shape[:2]) <= 256


def test_given_preview_is_stored_not_the_source_one(tmp_path, synthetic_raw):
    like = synthetic_raw("GRBG")
    thumb = np.random.default_rng(5).integers(0, 256, size=(12, 18, 3)).astype(np.uint8)
    out = write_dng(tmp_path / "p.dng", like.mosaic_u16, like, preview_rgb_u8=thumb,
                    noise_profile=None, noise_reduction_applied=False)
    t0, t1, preview, _, _ = _ifds(out)
    np.testing.assert_array_equal(preview, thumb)
    assert 51041 not in t0 and 51041 not in t1            # no stale noise profile
    assert tuple(t0[50935]) == (0, 1)
    assert read_raw(out).noise_profile is None


def test_changed_colour_matrix_replaces_the_copied_profile(tmp_path, synthetic_raw):
    first = read_raw(write_dng(tmp_path / "first.dng", synthetic_raw("BGGR").mosaic_u16, synthetic_raw("BGGR")))
    assert first.exif["_dng_ifd0"]            # the source profile is carried for the next write
    new_matrix = np.array([[0.7, -0.1, -0.1], [-0.4, 1.2, 0.2], [-0.1, 0.2, 0.6]], np.float32)
    first.xyz_to_cam = new_matrix
    first.cam_to_srgb = cam_to_srgb_from_xyz(new_matrix)
    back = read_raw(write_dng(tmp_path / "second.dng", first.mosaic_u16, first))
    np.testing.assert_allclose(back.xyz_to_cam, new_matrix, atol=1e-4)
    np.testing.assert_allclose(back.cam_to_srgb, first.cam_to_srgb, atol=1e-3)


def test_source_without_colour_matrix_gets_a_consistent_one(tmp_path, synthetic_raw):
    like = synthetic_raw("RGGB", xyz_to_cam=None, cam_to_srgb=np.eye(3, dtype=np.float32))
    out = write_dng(tmp_path / "id.dng", like.mosaic_u16, like)
    back = read_raw(out)
    assert back.xyz_to_cam is not None   # DNG needs a ColorMatrix: one consistent with identity
    np.testing.assert_allclose(back.cam_to_srgb, np.eye(3), atol=2e-3)


def test_write_dng_rejects_other_shapes_and_dtypes(tmp_path, synthetic_raw):
    like = synthetic_raw("RGGB")
    with pytest.raises(ValueError, match="shape"):
        write_dng(tmp_path / "a.dng", like.mosaic_u16[:-2], like)
    with pytest.raises(TypeError, match="uint16"):
        write_dng(tmp_path / "b.dng", like.mosaic_u16.astype(np.float32), like)
    assert not list(tmp_path.iterdir())


@pytest.mark.reliability(case='DNG write killed midway', expected='no file under the real name, no temporary left')
def test_failed_write_leaves_nothing(tmp_path, synthetic_raw, monkeypatch):
    like = synthetic_raw("RGGB")
    target = tmp_path / "keep.dng"
    target.write_bytes(b"previous result")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tifffile.TiffWriter, "write", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_dng(target, like.mosaic_u16, like)
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.dng"]


def test_real_gopro_read_write_read(tmp_path, data_file):
    src = data_file("raw/gopro_HERO7_GOPR9231_from_gpr.dng")
    raw = read_raw(src)
    out = write_dng(tmp_path / "gopro.dng", raw.mosaic_u16, raw, noise_profile=raw.noise_profile)
    back = read_raw(out)
    np.testing.assert_array_equal(back.mosaic_u16, raw.mosaic_u16)
    assert (back.cfa, back.black_level, back.white_level, back.iso, back.make, back.model) == \
        (raw.cfa, raw.black_level, raw.white_level, raw.iso, raw.make, raw.model)
    np.testing.assert_allclose(back.wb_rgb, raw.wb_rgb, rtol=1e-5)
    np.testing.assert_allclose(back.xyz_to_cam, raw.xyz_to_cam, atol=1e-6)
    assert back.noise_profile.shot == raw.noise_profile.shot
    for key, value in raw.exif.items():
        if not key.startswith("_") and key not in ("Software", "DateTime"):
            assert back.exif.get(key) == value, key
    with rawpy.imread(str(src)) as a, rawpy.imread(str(out)) as b:
        assert a.raw_pattern.tolist() == b.raw_pattern.tolist()
        assert a.black_level_per_channel == b.black_level_per_channel and a.white_level == b.white_level
        np.testing.assert_allclose(a.camera_whitebalance, b.camera_whitebalance, rtol=1e-5)
        np.testing.assert_allclose(a.color_matrix, b.color_matrix, atol=1e-5)
        assert a.sizes.flip == b.sizes.flip and a.other.iso_speed == b.other.iso_speed
    t0, t1, preview, _, _ = _ifds(out)
    assert 51009 in t1 and 700 in t0            # lens-correction opcodes and XMP carried over
    assert int(t0[50779]) == 23                  # full dual-illuminant profile kept


@pytest.mark.reliability(case='the same raw denoised twice', expected='byte-identical DNGs (no time of writing)')
def test_dng_output_is_byte_identical_across_runs(tmp_path, synthetic_raw):
    """No time of writing in the file: the same input gives the same bytes (a killed-and-rerun
    batch equals an uninterrupted one); DateTime is the source's own when it has one."""
    import time

    from edgeden.io.dng import source_datetime

    raw = synthetic_raw("RGGB")
    a = write_dng(tmp_path / "a.dng", raw.mosaic_u16, raw)
    time.sleep(1.1)
    b = write_dng(tmp_path / "b.dng", raw.mosaic_u16, raw)
    assert a.read_bytes() == b.read_bytes()
    assert source_datetime({"DateTime": "2024:05:06 07:08:09"}) == "2024:05:06 07:08:09"
    assert source_datetime({"DateTimeOriginal": "2024:05:06 07:08:09\x00"}) == "2024:05:06 07:08:09"
    assert source_datetime({"DateTime": "yesterday"}) is None and source_datetime({}) is None
