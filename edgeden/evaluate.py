"""Quality and speed evaluation behind ``edgeden eval``.

Noise specs (seeded, reproducible; noise is float and unclipped, as in the standard benchmarks):
  ``awgn:SIGMA``       white Gaussian noise, SIGMA in 0..255 units, on sRGB (sRGB presets)
  ``camera:SHOT``      sRGB presets: realistic camera noise -- the clean image is unprocessed
                       with the typical camera, given raw Poisson-Gaussian noise (shot S = SHOT,
                       UPI's mean read noise) and rendered back through our ISP (so the noise is
                       signal dependent and correlated, like a camera JPEG); the reference is
                       the clean raw rendered by the same ISP. The denoiser is told nothing:
                       its noise level is estimated from the image, as ``edgeden denoise`` does.
  ``camera:SHOT:qQ``   the same noisy render saved as a camera JPEG of quality Q (1..95; 8 bits,
                       4:2:0 chroma) and decoded; the reference is still the clean render.
  ``raw:SHOT``         raw presets: the clean sRGB image is unprocessed with a fixed typical
                       camera (edgeden.core.isp.DEFAULT_CCM / DEFAULT_WB), mosaiced, and given
                       Poisson-Gaussian noise with shot S = SHOT and UPI's mean read noise.
Metrics: PSNR (dB) and SSIM (scikit-image, data range 1) against the clean image; for raw
presets in the packed raw domain and in sRGB after the same ISP.

The noisy input is never clipped here (AWGN and raw noise are float and may leave [0, 1]); the
``camera`` noise is clipped only by the ISP that renders it, as a camera's is. Protocols:
  ``ours``    (default) each output is clipped to [0, 1] and measured in float.
  ``paper``   the published benchmarks' protocol (noise not clipped; each denoiser's output
              clipped *and rounded to 8 bits* before PSNR/SSIM), applied to every denoiser of
              the run. For raw presets the sRGB renders are rounded; ``raw_psnr`` stays float.
              The noisy row is measured as in ``ours``.

Peers (``peers=``, ``edgeden eval --compare ffdnet,dncnn,pmrid``; weights read from the peers
folder, see :mod:`edgeden.peers`) run on exactly the noisy inputs of the preset, in fp32, whole
images (no tiling):
  ``ffdnet``  FFDNet colour, told the true noise: sigma/255 for ``awgn``; for ``camera`` the
              equivalent std of the image's actual noise, sqrt(mean((noisy - clean)^2)) (an
              oracle, as the true sigma is for AWGN).
  ``dncnn``   CDnCNN-B (blind, colour); grey images (all channels equal, e.g. set12) use the
              grey DnCNN-B on each channel.
  ``pmrid``   PMRID on ``raw:SHOT``, told the exact (S, O) through its k-sigma transform.
Peers run in the noise's own domain, as ``bm3d`` does (raw specs: on the packed raw), so the
sRGB peers (ffdnet, dncnn) are skipped on raw specs and pmrid on sRGB specs, each with a note;
an absent peers folder or weights file is a note too (the evaluation still runs).

Other presets of the same domain can be named in ``peers`` too (``--compare dnresnet-srgb``):
each runs exactly as the main preset does (tiled, its own precision) on the same noisy inputs,
and its figures are keyed by the preset's name, so one run fills a whole side-by-side table.
A raw preset named beside an sRGB preset runs on the sRGB noisy inputs as ``edgeden denoise``
runs it on a PNG/TIFF/JPEG: unprocessed to raw, its noise estimated there, denoised, rendered
back (:func:`edgeden.pipeline.denoise_srgb_with_raw_model`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from edgeden.core.types import EdgedenError, NoiseParams, require
from edgeden.paths import resolve_data

#: ``protocol`` values of :func:`evaluate` (see the module docstring).
PROTOCOLS = ("ours", "paper")
#: Peers :func:`evaluate` can run beside the preset (see :mod:`edgeden.peers`).
PEERS = ("ffdnet", "dncnn", "pmrid")

TEST_SETS = {"kodak24": "test/Kodak24", "cbsd68": "test/CBSD68", "mcmaster": "test/McMaster", "set12": "test/Set12"}


def load_clean_set(data: str, limit: int | None = None, start: int = 0) -> list[tuple[str, np.ndarray]]:
    """Clean images of a named test set (kodak24, cbsd68, mcmaster, set12) or a folder: images
    ``start`` to ``start + limit`` (all from ``start`` when ``limit`` is None) in name order.

    Returns [(name, (H, W, 3) float32 in [0, 1])], sorted by name; grey is repeated to RGB.
    """
    import imageio.v3 as iio

    folder = resolve_data(TEST_SETS.get(data.lower(), data))
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: test images not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    out = []
    for f in files[start:None if limit is None else start + limit]:
        a = np.asarray(iio.imread(f)).astype(np.float32) / 255.0
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        out.append((f.name, a[..., :3]))
    return out


@dataclass
class NoiseSpec:
    kind: str  # "awgn" | "camera" | "raw"
    level: float
    jpeg: int | None = None  # camera only: JPEG quality of the noisy render (camera:SHOT:qQ)

    @classmethod
    def parse(cls, spec: str) -> "NoiseSpec":
        kind, _, val = spec.partition(":")
        val, _, extra = val.partition(":")
        if kind not in ("awgn", "camera", "raw") or not val:
            raise ValueError(f"{spec!r}: noise spec must be awgn:SIGMA, camera:SHOT[:qQUALITY] or raw:SHOT")
        jpeg = None
        if extra:
            if kind != "camera" or not (extra[:1] == "q" and extra[1:].isdigit() and 1 <= int(extra[1:]) <= 95):
                raise ValueError(f"{spec!r}: only camera noise takes a JPEG quality, as camera:SHOT:qQ with Q in 1..95")
            jpeg = int(extra[1:])
        return cls(kind, float(val), jpeg)

    def __str__(self) -> str:
        return f"{self.kind}:{self.level:g}" + (f":q{self.jpeg}" if self.jpeg else "")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of ``a`` (clipped to [0, 1]) against ``b`` in [0, 1]; any equal shapes."""
    mse = float(np.mean((np.clip(a, 0, 1) - b) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (scikit-image) of (H, W, C) images in [0, 1]; ``a`` is clipped first."""
    structural_similarity = require("skimage.metrics", "eval").structural_similarity
    return float(structural_similarity(np.clip(a, 0, 1), b, channel_axis=-1, data_range=1.0))


def finish_output(a: np.ndarray, protocol: str = "ours") -> np.ndarray:
    """A denoiser's output as the protocol measures it: ``ours`` unchanged (PSNR/SSIM clip it),
    ``paper`` clipped to [0, 1] and rounded to 8 bits (values k/255). Any shape, float."""
    if protocol == "paper":
        return (np.round(np.clip(a, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)
    return a


def _to_t(a_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a_hwc)).permute(2, 0, 1)[None].float()


def _to_np(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def make_noisy(clean_hwc: np.ndarray, spec: NoiseSpec, seed: int):
    """The noisy observation and what a denoiser is told about it.

    Returns dict with ``noisy`` (model-domain tensor (1, C, H, W)), ``clean`` (same domain),
    ``params`` (NoiseParams), and for raw also ``clean_srgb`` and ``render`` (packed -> sRGB).
    """
    from edgeden.core import isp, noise as nm

    g = torch.Generator().manual_seed(seed)
    x = _to_t(clean_hwc)
    if spec.kind == "awgn":
        s = spec.level / 255.0
        noisy = x + torch.randn(x.shape, generator=g) * s
        return {"noisy": noisy, "clean": x, "params": NoiseParams((0.0,), (s * s,), source="synthetic")}
    h, w = x.shape[-2:]
    x = x[..., : h // 2 * 2, : w // 2 * 2]
    if spec.kind == "camera":
        noisy, clean = isp.synthetic_camera_noise_srgb(x, g, shot=torch.tensor([spec.level]),
                                                       camera=(isp.DEFAULT_WB, isp.DEFAULT_CCM))
        if spec.jpeg:  # the camera's JPEG of its noisy render
            from edgeden.io.jpeg import jpeg_roundtrip

            noisy = _to_t(jpeg_roundtrip(_to_np(noisy), spec.jpeg))
        return {"noisy": noisy, "clean": clean, "params": nm.estimate_noise_or_fallback(noisy[0])}
    wb = torch.as_tensor(isp.DEFAULT_WB, dtype=torch.float32)
    ccm = torch.as_tensor(isp.DEFAULT_CCM, dtype=torch.float32)
    packed = isp.mosaic_rggb(isp.unprocess_rgb(x, wb, ccm, tone=True))
    shot = spec.level
    read = float(nm.upi_mean_read(torch.tensor(shot)))
    noisy = nm.add_poisson_gaussian(packed, torch.full((4,), shot), torch.full((4,), read), g)

    def render(p: torch.Tensor) -> torch.Tensor:
        return isp.process(p.clamp(0, 1), wb, ccm, tone=True)

    return {"noisy": noisy, "clean": packed, "params": NoiseParams((shot,), (read,), source="synthetic"),
            "render": render}


def bm3d_denoise(noisy: torch.Tensor, params: NoiseParams, kind: str) -> torch.Tensor:
    """BM3D baseline (the ``bm3d`` package). sRGB AWGN: CBM3D with the true sigma. Raw: the
    generalised Anscombe transform (Makitalo & Foi 2013) per packed plane, BM3D with sigma 1,
    and the closed-form approximation of the exact unbiased inverse
    (:func:`edgeden.core.noise.gat_inverse`).
    noisy: (1, C, H, W) float32. Returns the same shape."""
    import bm3d

    from edgeden.core.noise import gat_forward, gat_inverse

    a = _to_np(noisy).astype(np.float64)
    if kind in ("awgn", "camera"):  # CBM3D; signal-dependent noise: the image's mean std
        sigma = math.sqrt(max(float(np.mean(params.mean()[0] * np.clip(a, 0, 1) + params.mean()[1])), 1e-12))
        return _to_t(np.asarray(bm3d.bm3d_rgb(a, sigma), dtype=np.float32))
    s, o = params.shot[0], params.read[0]
    z = gat_forward(a, s, o)
    den = np.stack([np.asarray(bm3d.bm3d(z[..., c], 1.0), dtype=np.float64) for c in range(z.shape[-1])], -1)
    return _to_t(gat_inverse(den, s, o).astype(np.float32))


def conv_peak_gflops(seconds: float = 1.0) -> float:
    """This machine's fp32 convolution throughput now: a 3x3, 64->64 conv on 1x64x256x256
    (channels_last), in GFLOP/s (2 FLOPs per MAC). Reported beside every speed figure so
    MP/s numbers from different machines or loads can be compared."""
    x = torch.rand(1, 64, 256, 256).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last).eval()
    flops = 2 * 64 * 64 * 9 * 256 * 256
    with torch.inference_mode():
        conv(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            conv(x)
            n += 1
    return round(n * flops / (time.perf_counter() - t0) / 1e9, 1)


def _load_peers(names, domain: str, imgs, peers_dir, note) -> dict:
    """Load the requested peers that fit ``domain``; a note for each one skipped or missing.

    Returns {name: {"nets": {stem: module}, "info": {"files", "sha256_checked", "params"}}}."""
    from edgeden import peers as pm

    out: dict = {}
    fitting = []
    for name in names:
        if pm.PEER_DOMAIN[name] == domain:
            fitting.append(name)
        elif domain == "raw":
            note(f"{name} skipped: an sRGB denoiser; on raw specs every method runs on the same "
                 "packed raw (as bm3d does), where only pmrid applies")
        else:
            note(f"{name} skipped: it denoises packed raw; this sRGB preset's noise (awgn/camera) is "
                 "not raw (use a raw preset with raw:SHOT)")
    if not fitting:
        return out
    folder, where = pm.find_peers_dir(peers_dir)
    if folder is None:
        note(f"{', '.join(fitting)} not run: no peers folder (looked in {where}; "
             "give --peers-dir DIR or set $EDGEDEN_PEERS)")
        return out
    grey = [bool(np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])) for _, a in imgs]
    for name in fitting:
        stems = list(pm.PEER_FILES[name])
        if name == "dncnn":  # the colour model for colour images, the grey one for grey images
            stems = [st for st, use in zip(stems, (not all(grey), any(grey))) if use]
        try:
            loaded = {st: pm.load_peer(st, folder) for st in stems}
        except pm.PeerUnavailable as e:
            note(f"{name} not run: {e} (peers folder: {where})")
            continue
        out[name] = {"nets": {st: v[0] for st, v in loaded.items()},
                     "info": {"files": [v[1]["file"] for v in loaded.values()],
                              "sha256_checked": all(v[1]["sha256_checked"] for v in loaded.values()),
                              "params": {st: v[1]["params"] for st, v in loaded.items()}}}
    return out


def _run_peer(name: str, p: dict, d: dict, spec: NoiseSpec, grey: bool) -> torch.Tensor:
    """One peer on one noisy input ``d`` (from :func:`make_noisy`); same shape as d["noisy"]."""
    from edgeden import peers as pm

    x = d["noisy"]
    if name == "ffdnet":
        if spec.kind == "awgn":
            sigma = spec.level / 255.0
        else:  # camera: the equivalent std of this image's actual noise (an oracle)
            sigma = float(torch.sqrt(torch.mean((x - d["clean"]) ** 2)))
        return pm.run_ffdnet(p["nets"]["ffdnet_color"], x, sigma)
    if name == "dncnn":
        return pm.run_dncnn(p["nets"]["dncnn_gray_blind" if grey else "dncnn_color_blind"], x)
    params = d["params"]
    return pm.run_pmrid(p["nets"]["pmrid"], x, params.shot[0], params.read[0])


def evaluate(preset_name, data: str, specs: list[NoiseSpec], limit: int | None = None,
             compare_bm3d: bool = False, seed: int = 0, tile: int | None = None, start: int = 0,
             peers=(), peers_dir=None, protocol: str = "ours", on_note=None) -> dict:
    """Evaluate a preset on a clean test set at each noise spec.

    ``start`` skips the first images of the set (a chunk of a long run): the image at index i of
    the whole set always gets noise seed ``seed + i``, so chunks run side by side reproduce one
    run over the set (``lab/benchmarks/merge_evals.py`` merges them).

    ``peers``: names from :data:`PEERS` to run on the same noisy inputs (module docstring);
    ``peers_dir``: their weights folder (default: :func:`edgeden.peers.find_peers_dir`).
    ``protocol``: "ours" or "paper" (module docstring). ``on_note``: called with each note
    (a peer skipped or missing) as it happens; the notes are also returned.

    Returns {"preset", "data", "images", "start", "seed", "threads", "precision", "conv_peak_gflops",
    "protocol", ["peers", "notes"],
    "results": [{"noise", "noisy_psnr", "noisy_ssim", "psnr", "ssim", ["raw_psnr"], "mp_per_s",
    ["bm3d_psnr", "bm3d_ssim", "bm3d_mp_per_s"], [for each peer or other preset P run: "P_psnr",
    "P_ssim", ["P_raw_psnr"], "P_mp_per_s"]}], ["presets_compared"]}.
    PSNR/SSIM are means over images; for raw presets PSNR/SSIM are in sRGB after the ISP and
    ``raw_psnr`` in the packed raw domain.
    """
    from edgeden.pipeline import denoise_array, denoise_srgb_with_raw_model
    from edgeden.core.precision import precision_name
    from edgeden.presets import build_model, get_preset

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    preset = get_preset(preset_name) if isinstance(preset_name, str) else preset_name
    others = {}  # other presets run side by side: {name: (preset, net)}
    for n in dict.fromkeys(peers):
        if n in PEERS:
            continue
        try:
            other = get_preset(n)
        except EdgedenError:
            raise ValueError(f"unknown peer {n!r}: choose from {', '.join(PEERS)} or a preset name") from None
        if other.domain != preset.domain and not (other.domain == "raw" and preset.domain == "srgb"):
            raise ValueError(f"--compare {n}: a {other.domain} preset cannot run on {preset.name}'s "
                             f"{preset.domain} noise")
        if other.name != preset.name:
            others[other.name] = (other, build_model(other))
    peers = [n for n in peers if n in PEERS]
    net = build_model(preset)
    peak = conv_peak_gflops()
    imgs = load_clean_set(data, limit, start)
    if not imgs:
        raise ValueError(f"{data}: no test images" + (f" from index {start}" if start else ""))
    notes: list[str] = []

    def note(msg: str) -> None:
        notes.append(msg)
        if on_note is not None:
            on_note(msg)

    peer_nets = _load_peers(list(dict.fromkeys(peers)), preset.domain, imgs, peers_dir, note) if peers else {}
    fin = lambda a: finish_output(a, protocol)
    results = []
    for spec in specs:
        if (spec.kind == "raw") != (preset.domain == "raw"):  # awgn/camera are sRGB-domain noise
            raise ValueError(f"noise {spec} does not fit preset {preset.name} (domain {preset.domain})")
        acc: dict[str, list[float]] = {}
        t_model = t_bm3d = 0.0
        t_peer = dict.fromkeys([*peer_nets, *others], 0.0)
        mp = 0.0
        for i, (name, clean_hwc) in enumerate(imgs):
            d = make_noisy(clean_hwc, spec, seed + start + i)
            t0 = time.perf_counter()
            den = denoise_array(d["noisy"], net, preset, d["params"], tile if tile is not None else preset.tile,
                                preset.overlap)
            t_model += time.perf_counter() - t0
            outs = {"": den, "noisy_": d["noisy"]}
            if compare_bm3d:
                t0 = time.perf_counter()
                outs["bm3d_"] = bm3d_denoise(d["noisy"], d["params"], spec.kind)
                t_bm3d += time.perf_counter() - t0
            grey = bool(np.array_equal(clean_hwc[..., 0], clean_hwc[..., 1])
                        and np.array_equal(clean_hwc[..., 0], clean_hwc[..., 2]))
            for pname, p in peer_nets.items():
                t0 = time.perf_counter()
                outs[pname + "_"] = _run_peer(pname, p, d, spec, grey)
                t_peer[pname] += time.perf_counter() - t0
            for oname, (op, onet) in others.items():
                t0 = time.perf_counter()
                otile = tile if tile is not None else op.tile
                if op.domain == "raw" and spec.kind != "raw":  # as `edgeden denoise` runs it on a JPEG
                    outs[oname + "_"] = denoise_srgb_with_raw_model(d["noisy"], onet, op, None, otile, op.overlap)[0]
                else:
                    outs[oname + "_"] = denoise_array(d["noisy"], onet, op, d["params"], otile, op.overlap)
                t_peer[oname] += time.perf_counter() - t0
            if spec.kind == "raw":
                mp += d["clean"].shape[-1] * d["clean"].shape[-2] * 4 / 1e6
                ref = _to_np(d["render"](d["clean"]))
                for k, v in outs.items():
                    acc.setdefault(k + "raw_psnr", []).append(psnr(_to_np(v), _to_np(d["clean"])))
                    srgb = _to_np(d["render"](v))
                    srgb = srgb if k == "noisy_" else fin(srgb)
                    acc.setdefault(k + "psnr", []).append(psnr(srgb, ref))
                    acc.setdefault(k + "ssim", []).append(ssim(srgb, ref))
            else:
                ref = _to_np(d["clean"])
                mp += ref.shape[0] * ref.shape[1] / 1e6
                for k, v in outs.items():
                    out = _to_np(v) if k == "noisy_" else fin(_to_np(v))
                    acc.setdefault(k + "psnr", []).append(psnr(out, ref))
                    acc.setdefault(k + "ssim", []).append(ssim(out, ref))
        r = {"noise": str(spec), **{k: round(float(np.mean(v)), 4) for k, v in acc.items()},
             "mp_per_s": round(mp / t_model, 3)}
        if compare_bm3d:
            r["bm3d_mp_per_s"] = round(mp / t_bm3d, 4)
        for pname, t in t_peer.items():
            r[pname + "_mp_per_s"] = round(mp / t, 4)
        results.append(r)
    res = {"preset": preset.name, "data": data, "images": len(imgs), "start": start, "seed": seed,
           "threads": torch.get_num_threads(), "precision": precision_name(),
           "conv_peak_gflops": peak, "protocol": protocol, "results": results}
    if peers:
        res["peers"] = {k: v["info"] for k, v in peer_nets.items()}
        res["notes"] = notes
    if others:
        res["presets_compared"] = {k: {"weights": op.weights, "sha256": op.sha256} for k, (op, _) in others.items()}
    return res
