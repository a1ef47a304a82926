"""The whole per-image job: read -> normalise/pack -> noise -> transform -> tiled inference ->
inverse -> unpack -> write image, preview and sidecar.

Only :func:`denoise_file` touches the disk (through ``edgeden.io``); everything between
reading and writing is the pure function :func:`denoise_array` / :func:`denoise_raw_mosaic`.

A raw file travels as numpy arrays (packed planes, tiles, mosaic, preview); PyTorch is met
only at a PyTorch network (``edgeden.core.lazy``), so a raw preset run by ONNX Runtime from a
cached graph never imports it. RGB inputs go through PyTorch tensors.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from edgeden.core.lazy import is_tensor, torch

from edgeden import __version__
from edgeden.core import bayer, isp, noise as noise_mod
from edgeden.core.camera_profiles import checked_noise, known_raw_noise
from edgeden.io.preview import orientation_of
from edgeden.core.precision import precision_name, use_bf16
from edgeden.core.tiling import run_tiled
from edgeden.core.types import NOISE_PARAM_MAX, NoiseParams, RawImage, RgbImage, UnsupportedInputError
from edgeden.models.onnx_backend import describe as describe_backend, is_onnx
from edgeden.presets import Preset, sha256_file

ProgressFn = Callable[[int, int], None]


@dataclass
class DenoiseOptions:
    """Per-run settings. tile/overlap None = the preset's defaults; noise = ``--noise`` override."""

    tile: int | None = None
    overlap: int | None = None
    noise: NoiseParams | None = None
    preview: bool = True
    sidecar: bool = True
    tiff: bool = False
    noise_profiles: Any = None  # loaded camera-profile table or None
    classify: bool = False
    preview_size: int = 2048  # long edge of the preview in pixels; 0 = full size
    preview_compare: str | None = None  # None, "side" or "split": the input's render beside the output's
    strength: float = 1.0  # 0..1: how much of the denoising to apply (1 = the model's full output)
    strength_method: str = "vst"  # see apply_strength
    backend: str = "auto"  # auto, torch or onnxruntime (edgeden.models.onnx_backend)


@dataclass
class Outputs:
    """Where one input's results go. ``image`` is the denoised file; the others may be None."""

    image: Path
    preview: Path | None
    sidecar: Path | None
    tiff: Path | None = None

    def all(self) -> list[Path]:
        return [p for p in (self.image, self.preview, self.tiff, self.sidecar) if p is not None]

    def complete(self) -> bool:
        """All outputs exist (writes are atomic, so existing means complete)."""
        return all(p.exists() for p in self.all())


def outputs_for(out_image: Path, opts: DenoiseOptions) -> Outputs:
    """Output paths for a denoised image path: ``x.dng`` -> ``x.dng.preview.jpg``, ``x.dng.json``."""
    return Outputs(
        image=out_image,
        preview=out_image.with_name(out_image.name + ".preview.jpg") if opts.preview else None,
        sidecar=out_image.with_name(out_image.name + ".json") if opts.sidecar else None,
        tiff=out_image.with_name(out_image.name + ".render.tif") if opts.tiff else None,
    )


# ----------------------------------------------------------------------------------------
# pure core
# ----------------------------------------------------------------------------------------

def model_fn(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap a model for inference: no grad, channels_last, bf16 autocast where
    :func:`edgeden.core.precision.use_bf16` says so; returns the image output as float32.
    A joint model's ``denoise`` method (DC-Net) is used when it has one: its classifier branch
    is not run on photo tiles (labels come from a thumbnail, :mod:`edgeden.classify`).
    A network run by ONNX Runtime is returned as it is (it takes numpy arrays or tensors)."""
    if is_onnx(model):
        return model
    from edgeden.models import primary_output

    bf16 = use_bf16()
    run = getattr(model, "denoise", model)

    def fn(t: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = primary_output(run(t.contiguous(memory_format=torch.channels_last)))
        return out.float().contiguous()

    return fn


def denoise_array(x: torch.Tensor, model: torch.nn.Module, preset: Preset, params: NoiseParams,
                  tile: int, overlap: int, on_tile: ProgressFn | None = None) -> torch.Tensor:
    """Denoise one image already in the preset's domain.

    x: (1, C, H, W) float32 -- packed RGGB raw in [0, 1] (C = 4) for raw presets, sRGB in
    [0, 1] (C = 3) for sRGB presets; a torch tensor or a numpy array. params: noise of ``x``
    (variance = S*x + O per plane).
    Returns (1, C, H, W) float32 (not clipped): a numpy array when ``x`` is one and ``model``
    runs in ONNX Runtime, else a tensor.
    """
    c = x.shape[1]
    if hasattr(model, "select"):  # a noise subrange model array: the member for this noise
        model.select(*params.mean())
    spec = preset.spec
    s, o = params.per_plane(c)
    if not is_tensor(x) and not is_onnx(model):  # a PyTorch network takes tensors
        x = torch.from_numpy(np.ascontiguousarray(x))
    if is_tensor(x):
        shot, read = torch.tensor(s, dtype=torch.float32), torch.tensor(o, dtype=torch.float32)
    else:
        shot, read = np.asarray(s, dtype=np.float32), np.asarray(o, dtype=np.float32)
    net = model_fn(model)
    # one gain for the whole image (computed before tiling, so every tile sees the same)
    gain = float(spec.gain(x).reshape(-1)[0])

    def fn(t: torch.Tensor) -> torch.Tensor:
        # the input rule runs per tile, so no full-size copies of the image are made
        return spec.from_model(net(spec.to_model(t, shot, read, gain)), shot, read, gain)

    return run_tiled(fn, x, tile, overlap, out_channels=c, on_tile=on_tile)


STRENGTH_METHODS = ("vst", "map", "linear")


def strength_params(params: NoiseParams, strength: float) -> NoiseParams:
    """The noise a network is told about for ``strength`` with the ``map`` method: variances
    scaled by strength^2 (the noise std by ``strength``), so it removes less."""
    k = float(strength) ** 2
    return NoiseParams(tuple(v * k for v in params.shot), tuple(v * k for v in params.read),
                       source=params.source, detail=params.detail)


def apply_strength(noisy: torch.Tensor, den: torch.Tensor, params: NoiseParams, strength: float,
                   method: str = "vst") -> torch.Tensor:
    """Mix the denoised image with its input: ``strength`` 1 = ``den``, 0 = ``noisy``.

    ``vst``: per plane, blend in the generalised Anscombe domain of the noise (variance = S*x + O;
    Makitalo & Foi 2013), where the noise has unit variance at every level, so a strength
    keeps the same fraction of the noise in shadows and highlights; planes with S = 0 (Gaussian
    noise) blend linearly, which is the same thing. ``linear``: plain mix. (``map``, telling
    the network less noise, happens before inference: :func:`strength_params`.)

    noisy, den: (1, C, H, W) float32 in the model's domain ([0, 1] data), numpy arrays or CPU
    tensors (computed in numpy); params: the input's noise. Returns (1, C, H, W) float32 of
    ``den``'s kind.
    """
    s = float(strength)
    if s >= 1.0:
        return den
    tensor = is_tensor(den)
    nz, dn = (a.detach().numpy() if is_tensor(a) else np.asarray(a) for a in (noisy, den))
    if s <= 0.0:
        out = nz.copy()
    elif method in ("linear", "map"):
        out = dn * np.float32(s) + nz * np.float32(1 - s)
    elif method != "vst":
        raise ValueError(f"unknown strength method {method!r} (choose from {', '.join(STRENGTH_METHODS)})")
    else:
        c = dn.shape[1]
        shot, read = params.per_plane(c)
        out = np.empty_like(dn)
        for i in range(c):
            S, O = float(shot[i]), float(read[i])
            if S <= 1e-12:
                out[:, i] = dn[:, i] * np.float32(s) + nz[:, i] * np.float32(1 - s)
                continue
            off = np.float32(0.375 + O / (S * S))

            def f(y: np.ndarray) -> np.ndarray:
                return np.float32(2.0) * np.sqrt(np.maximum(y / np.float32(S) + off, np.float32(0.0)))

            d = f(dn[:, i]) * np.float32(s) + f(nz[:, i]) * np.float32(1 - s)
            out[:, i] = ((d / np.float32(2)) ** 2 - off) * np.float32(S)
    return torch.from_numpy(out) if tensor else out


def denoise_with_strength(x: torch.Tensor, model: torch.nn.Module, preset: Preset, params: NoiseParams,
                           tile: int, overlap: int, on_tile: ProgressFn | None, opts: "DenoiseOptions") -> torch.Tensor:
    """:func:`denoise_array` at ``opts.strength`` (0..1) by ``opts.strength_method`` (see
    :func:`apply_strength`, :func:`strength_params`). Shapes and ranges as :func:`denoise_array`."""
    s, method = float(opts.strength), opts.strength_method
    if s >= 1.0:
        return denoise_array(x, model, preset, params, tile, overlap, on_tile)
    if method == "map":
        return denoise_array(x, model, preset, strength_params(params, s), tile, overlap, on_tile)
    return apply_strength(x, denoise_array(x, model, preset, params, tile, overlap, on_tile), params, s, method)


def pack_raw(raw: RawImage) -> tuple[np.ndarray, Any]:
    """Normalise, unify to RGGB and pack a raw mosaic.

    Returns (packed (1, 4, H'/2, W'/2) float32 numpy array in ~[0, 1], pad info for
    :func:`packed_to_mosaic`). RGGB mosaics of even size are packed in numpy; others are
    unified to RGGB by PyTorch (``edgeden.core.bayer``).
    """
    pad = bayer.rggb_pad(raw.mosaic_u16.shape[-2:], raw.cfa)
    if not any(pad):  # already RGGB of even size: pack straight from the integers
        return bayer.normalise_pack_rggb_np(raw.mosaic_u16, raw.black_level, raw.white_level)[None], pad
    m = bayer.normalise_mosaic(raw.mosaic_u16, raw.black_level, raw.white_level)
    m_rggb, pad = bayer.unify_to_rggb(m, raw.cfa)
    return bayer.pack_rggb(m_rggb)[None].numpy(), pad


def raw_to_packed(raw: RawImage) -> tuple[torch.Tensor, Any]:
    """:func:`pack_raw` as a tensor: (packed (1, 4, H'/2, W'/2) float32 in ~[0, 1], pad info)."""
    packed, pad = pack_raw(raw)
    return torch.from_numpy(packed), pad


def packed_to_mosaic(packed: Any, pad: Any, raw: RawImage) -> np.ndarray:
    """Inverse of :func:`raw_to_packed`: (1, 4, h, w) float32 (tensor or numpy array) -> (H, W)
    uint16 mosaic in the file's CFA."""
    if not any(pad):  # RGGB of even size: straight from the planes
        return bayer.denormalise_unpack_rggb(packed[0], raw.black_level, raw.white_level)
    if not is_tensor(packed):
        packed = torch.from_numpy(np.ascontiguousarray(packed))
    m = bayer.restore_cfa(bayer.unpack_rggb(packed[0]), pad)
    return bayer.denormalise_mosaic(m, raw.black_level, raw.white_level)


def render_packed_binned(packed: Any, raw: RawImage, pad: Any, factor: int, strip: int = 256) -> np.ndarray:
    """:func:`render_packed` of the image scaled by 1 / ``factor``: (H // factor, W // factor, 3)
    uint16 sRGB (``factor`` 1: the full render). packed: (1, 4, h, w) float32, a tensor or a
    numpy array (the quad path below is numpy; the others PyTorch).

    An RGGB raw of even size (``pad`` all zero) binned by an even ``factor`` needs no demosaic:
    the packed planes are averaged over (factor / 2)^2 packed pixels and each RGGB quad gives
    one RGB pixel (R, mean of the two greens, B), in strips of ``strip`` rows, the gamma and
    tone curve read from a table (:func:`_tone_lut16`; the output feeds 8-bit previews and
    thumbnails). On a clean photo that is as close to the full render box-averaged as the
    demosaic of the binned planes by 2 (28.2 against 28.3 dB) and closer by 4 (31.9 against
    24.3 dB; a test checks both), and cheaper (`lab/results/bench_pack_render_fanet_1t_ort.json`). Otherwise
    (odd ``factor``, or another CFA, whose quads sit a sensor row or column off the image's
    grid) the planes are binned by ``factor`` (same-colour sites averaged, so the mosaic stays
    a mosaic) and demosaiced.
    """
    if factor <= 1:
        return render_packed(packed, raw, pad)
    if (factor % 2 or (pad is not None and any(pad))) and not is_tensor(packed):
        packed = torch.from_numpy(np.ascontiguousarray(packed))
    h, w = raw.shape
    top, left = (pad[0] // factor, pad[2] // factor) if pad is not None else (0, 0)
    if factor % 2 or (pad is not None and any(pad)):
        binned = torch.nn.functional.avg_pool2d(packed, factor, ceil_mode=True)
        out = render_packed(binned, raw, None)
        return out[top: top + h // factor, left: left + w // factor]
    p = packed.detach().numpy() if is_tensor(packed) else np.asarray(packed)
    q = p[0] if factor == 2 else _box_mean(p[0], factor // 2)
    gains = np.asarray(raw.wb_rgb, dtype=np.float32).reshape(3, 1, 1)
    ccm = np.asarray(raw.cam_to_srgb, dtype=np.float32)
    lut = _tone_lut16()
    hq, wq = q.shape[-2:]
    out = np.empty((hq, wq, 3), dtype=np.uint16)
    for y0 in range(0, hq, strip):
        b = np.clip(q[:, y0: y0 + strip], 0, 1)  # as render_packed clamps the planes it demosaics
        lin = np.clip(np.stack([b[0], np.float32(0.5) * (b[1] + b[2]), b[3]]) * gains, 0, 1)
        x = np.clip(np.nan_to_num(isp.apply_ccm(lin[None], ccm)[0], nan=0.0), 0, 1)  # linear sRGB
        out[y0: y0 + strip] = lut[(x.transpose(1, 2, 0) * np.float32(65535.0) + np.float32(0.5)).astype(np.int32)]
    return out[:h // factor, :w // factor]


def _box_mean(planes: np.ndarray, k: int) -> np.ndarray:
    """(C, h, w) float32 -> (C, ceil(h / k), ceil(w / k)): means over k x k blocks, partial blocks
    at the bottom and right edges averaged over the pixels they have (avg_pool2d with
    ceil_mode)."""
    c, h, w = planes.shape
    hk, wk = -(-h // k), -(-w // k)
    out = np.empty((c, hk, wk), dtype=np.float32)
    hf, wf = h // k, w // k
    full = planes[:, : hf * k, : wf * k].reshape(c, hf, k, wf, k)
    out[:, :hf, :wf] = full.mean((2, 4), dtype=np.float32)
    if wk > wf:
        out[:, :hf, wf] = planes[:, : hf * k, wf * k:].reshape(c, hf, k, -1).mean((2, 3), dtype=np.float32)
    if hk > hf:
        out[:, hf, :wf] = planes[:, hf * k:, : wf * k].reshape(c, -1, wf, k).mean((1, 3), dtype=np.float32)
        if wk > wf:
            out[:, hf, wf] = planes[:, hf * k:, wf * k:].mean((1, 2), dtype=np.float32)
    return out


@functools.lru_cache(maxsize=1)
def _tone_lut16() -> np.ndarray:
    """The ISP's gamma and tone curve as a table: linear sRGB i / 65535 -> uint16 display value
    (65536,), for previews: within 0.02 of an 8-bit code (4.4 of a 16-bit one) of the exact curves
    everywhere, and faster than computing them per pixel."""
    from edgeden.io import quantise

    x = np.arange(65536, dtype=np.float64) / 65535.0
    return quantise(isp.smoothstep(isp.gamma_compress(x)), 16)


def render_packed(packed: torch.Tensor, raw: RawImage, pad: Any = None, strip: int = 64) -> np.ndarray:
    """Minimal-ISP render of packed RGGB (1, 4, h, w) float32 (tensor, or numpy array: rendered
    without PyTorch) -> (H, W, 3) uint16 sRGB (0..65535).

    ``pad`` (from :func:`raw_to_packed`) crops the unification padding, so the render has the
    raw's own size (H, W); without it the render is (2h, 2w). Rendered in strips of ``strip``
    packed rows (plus the demosaic's margin) into 16 bits, so a 50 MP render takes 300 MB
    and the ISP's temporaries stay small.
    """
    from edgeden.io import quantise

    tensor = is_tensor(packed)
    wb = np.asarray(raw.wb_rgb, dtype=np.float32)
    ccm = np.asarray(raw.cam_to_srgb, dtype=np.float32)
    if tensor:
        wb, ccm = torch.from_numpy(wb), torch.from_numpy(ccm)
    h, w = packed.shape[-2:]
    out = np.empty((2 * h, 2 * w, 3), dtype=np.uint16)
    margin = 2  # packed rows; Malvar's 5x5 kernels need 2 mosaic rows = 1 packed row
    for y0 in range(0, h, strip):
        y1 = min(h, y0 + strip)
        a, b = max(0, y0 - margin), min(h, y1 + margin)
        part = packed[..., a:b, :]
        srgb = isp.process(part.clamp(0, 1) if tensor else np.clip(part, 0, 1), wb, ccm, tone=True)[0]
        top = 2 * (y0 - a)
        srgb = srgb[:, top: top + 2 * (y1 - y0)]
        out[2 * y0: 2 * y1] = quantise((srgb.permute(1, 2, 0).numpy() if tensor else srgb.transpose(1, 2, 0)), 16)
    if pad is not None:
        top, bottom, left, right = pad
        out = out[top: 2 * h - bottom, left: 2 * w - right]
    return out


def raw_noise(raw: RawImage, packed: Any, opts: DenoiseOptions) -> NoiseParams:
    """Noise of a packed raw: --noise override, DNG NoiseProfile, camera profile, or estimated.

    Every source is validated (:meth:`NoiseParams.problem`: finite, 0 <= S, O <= 1). An
    invalid override is an error (InvalidNoiseError); an invalid DNG NoiseProfile or
    camera-profile entry falls through to the next source, and the reason is prepended to the
    chosen parameters' ``detail`` (so it lands in the sidecar's ``noise.detail``).
    """
    if opts.noise is not None:
        return opts.noise.validate()
    reasons: list[str] = []
    p = known_raw_noise(raw, opts.noise_profiles, reasons)
    if p is not None:
        return _with_reasons(p, reasons)
    return _with_reasons(_estimate(packed[0], reasons), reasons)


def _with_reasons(p: NoiseParams, reasons: list[str]) -> NoiseParams:
    if not reasons:
        return p
    return replace(p, detail="; ".join(reasons + ([p.detail] if p.detail else [])))


def _estimate(x: Any, reasons: list[str]) -> NoiseParams:
    """:func:`estimate_noise_or_fallback` of x (C, H, W) float32 (tensor or numpy array; the
    estimator is PyTorch's), validated: an unusable estimate (possible only for images holding
    NaN or infinite values) is replaced by its finite part clamped to [0, 1]."""
    if not is_tensor(x):
        x = torch.from_numpy(np.ascontiguousarray(x))
    p = noise_mod.estimate_noise_or_fallback(x)
    if checked_noise(p, "estimate", reasons) is not None:
        return p

    def fix(v: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(min(max(float(a), 0.0), NOISE_PARAM_MAX) if math.isfinite(float(a)) else 0.0 for a in v) or (0.0,)

    return NoiseParams(fix(p.shot), fix(p.read), source="estimated", detail="clamped to [0, 1]")


def rgb_to_tensor(img: RgbImage) -> torch.Tensor:
    """(H, W, C) float32 -> (1, 3, H, W); grey is repeated to 3 channels."""
    t = torch.from_numpy(np.ascontiguousarray(img.data_hwc)).permute(2, 0, 1)[None].float()
    return t.expand(1, 3, *t.shape[2:]).contiguous() if t.shape[1] == 1 else t


def tensor_to_rgb(t: torch.Tensor, channels: int, clipped: bool = False) -> np.ndarray:
    """(1, 3, H, W) -> (H, W, channels) float32 in [0, 1] (grey = channel mean). With ``clipped``
    (``t`` already in [0, 1]) RGB is returned as a view of ``t``, without a copy."""
    a = t[0] if clipped else t[0].clamp(0, 1)
    if channels == 1:
        a = a.mean(0, keepdim=True)
    return a.permute(1, 2, 0).numpy()


def denoise_srgb_with_raw_model(x: torch.Tensor, model: torch.nn.Module, preset: Preset,
                                params: NoiseParams | None, tile: int, overlap: int,
                                on_tile: ProgressFn | None = None) -> tuple[torch.Tensor, NoiseParams]:
    """Denoise an sRGB image (1, 3, H, W) in [0, 1] with a raw-domain preset.

    The image is unprocessed (UPI inverse ISP with a fixed typical camera's white balance and
    colour matrix) to linear camera RGB, mosaiced at the four Bayer phases so every pixel is
    denoised in each of its colours, denoised, re-assembled and processed back to sRGB.
    Returns (sRGB (1, 3, H, W) in [0, 1], the noise parameters used in the raw domain).
    """
    wb = torch.as_tensor(isp.DEFAULT_WB, dtype=torch.float32)
    ccm = torch.as_tensor(isp.DEFAULT_CCM, dtype=torch.float32)
    lin = isp.unprocess_rgb(x, wb, ccm, tone=True)  # (1, 3, H, W) linear camera RGB
    h, w = lin.shape[-2:]
    out = torch.zeros_like(lin)
    count = torch.zeros(1, 3, h, w)
    used = params
    phases = [(0, 0), (0, 1), (1, 0), (1, 1)]
    for k, (dy, dx) in enumerate(phases):
        # shift so this phase starts the RGGB pattern; pad to even size
        sub = torch.nn.functional.pad(lin, (dx, (w + dx) % 2, dy, (h + dy) % 2), mode="replicate")
        packed = isp.mosaic_rggb(sub)
        if used is None:
            reasons: list[str] = []
            used = _with_reasons(_estimate(packed[0], reasons), reasons)
        den = denoise_array(packed, model, preset, used, tile, overlap,
                            on_tile=(lambda d, n, k=k: on_tile(k * n + d, 4 * n)) if on_tile else None)
        m = bayer.unpack_rggb(den[0])  # (H', W') mosaic of this phase
        hh, ww = m.shape[-2:]
        ys = torch.arange(hh)[:, None]
        xs = torch.arange(ww)[None, :]
        colour = torch.where((ys % 2 == 0) & (xs % 2 == 0), 0, torch.where((ys % 2 == 1) & (xs % 2 == 1), 2, 1))
        m = m[dy: dy + h, dx: dx + w]
        colour = colour[dy: dy + h, dx: dx + w]
        for ch in range(3):
            sel = colour == ch
            out[0, ch][sel] += m[sel]
            count[0, ch][sel] += 1
    lin_den = out / count.clamp_min(1)
    srgb = isp.process_rgb(lin_den.clamp(0, 1), wb, ccm, tone=True)
    return srgb, used


# ----------------------------------------------------------------------------------------
# file level
# ----------------------------------------------------------------------------------------

@dataclass
class FileResult:
    """What :func:`denoise_file` did for one input."""

    input: Path
    outputs: Outputs
    megapixels: float
    noise: NoiseParams
    timings: dict[str, float] = field(default_factory=dict)
    classification: dict | None = None


@dataclass
class FileWork:
    """One file between the stages of :func:`denoise_file` (read -> infer -> write).

    Stages of neighbouring files may run in different threads (``edgeden.batch.run_jobs_staged``,
    ``denoise --jobs`` > 1): a FileWork is only ever touched by one stage at a time.
    kind: "raw" or "rgb". raw: the decoded :class:`RawImage` (raw inputs); img: the
    :class:`RgbImage` (RGB inputs). x: the network-domain input, packed (1, 4, H/2, W/2) linear
    raw (numpy) or (1, C, H, W) sRGB (tensor), float32 in [0, 1]; den: the denoised image,
    same shape (numpy or tensor, see :func:`denoise_array`); None
    before/after the stage that needs it. params: the noise used. member: the array member
    picked for this file (array presets), recorded at inference time. t: stage timings (s).
    """

    path: Path
    out_image: Path
    outs: Outputs
    kind: str
    tile: int
    overlap: int
    t0: float
    t: dict[str, float] = field(default_factory=dict)
    raw: RawImage | None = None
    img: RgbImage | None = None
    x: Any = None
    pad: Any = None
    params: NoiseParams | None = None
    den: Any = None
    member: dict | None = None


def read_file(path: str | Path, out_image: str | Path, preset: Preset,
              opts: DenoiseOptions | None = None) -> FileWork:
    """Stage 1 of :func:`denoise_file`: decode the input, pack a raw, find the noise parameters.

    Raises EdgedenError subclasses for bad input (unreadable, or a raw given to an sRGB preset).
    """
    from edgeden import io

    opts = opts or DenoiseOptions()
    path, out_image = Path(path), Path(out_image)
    t0 = time.perf_counter()
    kind = io.detect_kind(path)
    if kind == "raw" and preset.domain != "raw":
        raise UnsupportedInputError(
            f"preset {preset.name!r} works on RGB images; use a raw preset for camera raws (see `edgeden models`)")
    w = FileWork(path, out_image, outputs_for(out_image, opts), kind,
                 opts.tile if opts.tile is not None else preset.tile,
                 opts.overlap if opts.overlap is not None else preset.overlap, t0)
    if kind == "raw":
        w.raw = io.read_raw(path)
        w.t["read"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        w.x, w.pad = pack_raw(w.raw)
        w.t["pack"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        w.params = raw_noise(w.raw, w.x, opts)
        w.t["noise"] = time.perf_counter() - t1
    else:
        w.img = io.read_rgb(path)
        w.t["read"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        w.x = rgb_to_tensor(w.img)
        if preset.domain == "raw":  # the noise is found in the raw domain, during inference
            w.params = opts.noise.validate() if opts.noise is not None else None
            w.t["noise"] = 0.0
        else:
            if opts.noise is not None:
                w.params = opts.noise.validate()
            else:
                reasons: list[str] = []
                w.params = _with_reasons(_estimate(w.x[0], reasons), reasons)
            w.t["noise"] = time.perf_counter() - t1
    return w


def infer_file(w: FileWork, model: torch.nn.Module, preset: Preset, opts: DenoiseOptions | None = None,
               on_tile: ProgressFn | None = None) -> FileWork:
    """Stage 2 of :func:`denoise_file`: the network on ``w.x`` (tiled), into ``w.den``."""
    opts = opts or DenoiseOptions()
    t1 = time.perf_counter()
    if w.kind == "rgb" and preset.domain == "raw":
        w.den, w.params = denoise_srgb_with_raw_model(w.x, model, preset, w.params, w.tile, w.overlap, on_tile)
        if opts.strength < 1.0:  # raw-domain noise does not describe the sRGB image: a plain mix
            w.den = apply_strength(w.x, w.den, w.params, opts.strength, "linear")
    else:
        w.den = denoise_with_strength(w.x, model, preset, w.params, w.tile, w.overlap, on_tile, opts)
    if preset.array:
        w.member = {"index": model.index, "shot_range": model.shot_bounds[model.index:model.index + 2]}
    w.t["inference"] = time.perf_counter() - t1
    return w


def write_file(w: FileWork, model: torch.nn.Module, preset: Preset, opts: DenoiseOptions | None = None,
               classifier: Any = None, record: dict | None = None) -> FileResult:
    """Stage 3 of :func:`denoise_file`: unpack, render, write the image, preview, TIFF and
    sidecar (each atomically, the sidecar last), label with ``classifier``."""
    from edgeden import io

    opts = opts or DenoiseOptions()
    path, outs, t = w.path, w.outs, w.t
    params = w.params
    w.out_image.parent.mkdir(parents=True, exist_ok=True)
    classification = None
    before = None  # the input's finished preview, for --preview-compare
    t1 = time.perf_counter()
    if w.kind == "raw":
        raw, packed, den, pad = w.raw, w.x, w.den, w.pad
        w.x = w.den = None
        mosaic = packed_to_mosaic(den, pad, raw)
        t["unpack"] = time.perf_counter() - t1
        # The render feeds the preview (2048 px by default) and the DNG's thumbnail; only a TIFF,
        # a classifier or a full-size preview need it at full size. Otherwise the packed image is
        # binned first: a 24 MP render costs ~5 s at full size, a fraction of that binned.
        full = bool(outs.tiff) or classifier is not None or opts.preview_size <= 0
        f = 1 if full else max(1, min(max(raw.shape) // max(opts.preview_size, 256), 8))
        f -= f % 2 if f > 2 else 0  # even: RGGB quads need no demosaic (a 42 MP raw: 2, not 3)
        crop = None if raw.default_crop is None else tuple(v // f for v in raw.default_crop)
        if outs.preview and opts.preview_compare:
            before = io.preview_pixels(render_packed_binned(packed, raw, pad, f), crop=crop,
                                       orientation=orientation_of(raw.exif), size=opts.preview_size)
        del packed
        render = render_packed_binned(den, raw, pad, f)
        del den
        thumb = _thumbnail_u8(render, 256)
        t["render"] = time.perf_counter() - t1 - t["unpack"]
        t2 = time.perf_counter()
        residual = _residual_noise(params, strength=opts.strength)
        io.write_dng(outs.image, mosaic, raw, preview_rgb_u8=thumb, noise_profile=residual)
        t["dng_encode"] = time.perf_counter() - t2
        mp = raw.mosaic_u16.size / 1e6
        fmt = raw.format  # the input's real format ("dng", "kdc", "nef", ...)
        size = list(raw.shape)
        cfa = raw.cfa
    else:
        img, den_srgb = w.img, w.den
        w.x = w.den = None
        channels = img.channels
        mp = img.data_hwc.shape[0] * img.data_hwc.shape[1] / 1e6
        fmt = img.format
        size = list(img.data_hwc.shape[:2])
        cfa = None
        # Peak memory: the input pixels are no longer needed (the writer takes alpha and
        # metadata from ``img``); the output is clipped in place and shared by the image
        # writer and the render when both are RGB (measured 64 -> ~30 bytes per pixel).
        if outs.preview and opts.preview_compare:  # the input's preview, before its pixels go
            before = io.preview_pixels(img.data_hwc, orientation=orientation_of(img.exif), size=opts.preview_size)
        img.data_hwc = img.data_hwc[:0, :0]
        with torch.inference_mode():  # the output may be an inference tensor (untiled runs)
            den_srgb.clamp_(0, 1)
        render = tensor_to_rgb(den_srgb, 3, clipped=True)
        out_hwc = render if channels == 3 else tensor_to_rgb(den_srgb, channels, clipped=True)
        del den_srgb
        t2 = time.perf_counter()
        io.write_rgb(outs.image, out_hwc, img)
        t["image_encode"] = time.perf_counter() - t2
    if classifier is not None:
        classification = classifier(render)
    if outs.preview:
        t2 = time.perf_counter()
        src_exif, crop = (w.raw.exif, crop) if w.kind == "raw" else (w.img.exif, None)
        io.write_preview(outs.preview, render, exif=src_exif, crop=crop, size=opts.preview_size,
                         before=before, compare=opts.preview_compare)
        t["preview"] = time.perf_counter() - t2
    if outs.tiff:
        t2 = time.perf_counter()
        io.write_tiff16(outs.tiff, render)
        t["tiff"] = time.perf_counter() - t2
    t["write"] = time.perf_counter() - t1
    t["total"] = time.perf_counter() - w.t0
    if outs.sidecar:
        from edgeden.io.sidecar import write_sidecar

        t2 = time.perf_counter()
        write_sidecar(outs.sidecar, {
            "edgeden_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "input": {"path": str(path), "sha256": (record or {}).get("input_sha256") or sha256_file(path), "format": fmt, "size_hw": size, "cfa": cfa},
            "outputs": {k: (str(v) if v else None) for k, v in
                        (("image", outs.image), ("preview", outs.preview), ("tiff", outs.tiff))},
            "preset": {"name": preset.name, "arch": preset.arch, "domain": preset.domain,
                       "weights_sha256": preset.sha256,
                       **({"array_member": w.member} if w.member is not None else {})},
            "noise": params.to_dict(),
            "strength": {"value": float(opts.strength), "method": opts.strength_method},
            "tiling": {"tile": w.tile, "overlap": w.overlap},
            "precision": "fp32" if is_onnx(model) else precision_name(),
            "backend": describe_backend(model),
            "timings_s": {k: round(v, 4) for k, v in t.items()},
            "megapixels": round(mp, 3),
            "classification": classification,
            "record": record,
        })
        t = {**t, "sidecar": time.perf_counter() - t2}  # after the sidecar: FileResult only
    return FileResult(path, outs, mp, params, t, classification)


def denoise_file(path: str | Path, out_image: str | Path, model: torch.nn.Module, preset: Preset,
                 opts: DenoiseOptions | None = None, on_tile: ProgressFn | None = None,
                 classifier: Any = None, record: dict | None = None) -> FileResult:
    """Denoise one file and write its outputs (image, preview, optional TIFF, sidecar).

    path: a camera raw (DNG or any Bayer raw LibRaw reads) or a PNG/TIFF/JPEG (8/16-bit,
    grey/RGB/RGBA). out_image: the denoised file's path (raw in -> DNG out; RGB in -> same
    format). Raises EdgedenError subclasses for bad input (the CLI turns them into one line).
    The input file is only read. Every output is written atomically, the sidecar last.
    record: what makes these outputs what they are (``edgeden.batch.job_record``), stored in the
    sidecar so a re-run knows whether they are still complete.
    The three stages (:func:`read_file`, :func:`infer_file`, :func:`write_file`) run one after
    the other here; a batch may overlap them across neighbouring files.
    """
    w = read_file(path, out_image, preset, opts)
    w = infer_file(w, model, preset, opts, on_tile)
    return write_file(w, model, preset, opts, classifier=classifier, record=record)


def _thumbnail_u8(render_hwc: np.ndarray, max_side: int) -> np.ndarray:
    """(H, W, 3) render (float in [0, 1] or uint16) -> uint8 thumbnail, longer side <= max_side
    (box filter, computed in row strips)."""
    h, w = render_hwc.shape[:2]
    f = max(1, int(np.ceil(max(h, w) / max_side)))
    hh, ww = h // f, w // f
    scale = 65535.0 if render_hwc.dtype == np.uint16 else 1.0
    out = np.empty((hh, ww, 3), dtype=np.float32)
    for i in range(0, hh, 8):
        j = min(hh, i + 8)
        blk = render_hwc[i * f: j * f, : ww * f].astype(np.float32).reshape(j - i, f, ww, f, 3)
        out[i:j] = blk.mean((1, 3)) / scale
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def _residual_noise(params: NoiseParams, factor: float = 0.1, strength: float = 1.0) -> NoiseParams:
    """Noise profile to record in the output DNG: a conservative estimate of what is left (the
    input variance scaled by ``factor`` at full strength; at strength s < 1 the kept fraction of
    the noise std, 1 - s, adds to the residual's: variance x ((1 - s) + s sqrt(factor))^2; raw
    converters use it to tune their own NR)."""
    s = min(max(float(strength), 0.0), 1.0)
    k = ((1 - s) + s * factor ** 0.5) ** 2
    return NoiseParams(tuple(v * k for v in params.shot), tuple(v * k for v in params.read),
                       source="residual", detail=f"input noise x {k:.4g} (strength {s:g})")
