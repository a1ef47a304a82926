"""Peak memory (RSS) of `denoise_file` on large raws and RGB images: tiling bounds it by the
tile, not the image.

Usage: python lab/benchmarks/tiling_memory.py [--kind raw|rgb] [--sizes 24,50] [--preset NAME] [--tile 512]

With ``--kind rgb`` the input is an 8-bit RGB PNG of that size (a photo tiled to size, with
noise) and the default preset is unet-m-srgb.

For each size a synthetic Bayer DNG (e.g. 6000x4000 for 24 MP) is written by our own writer,
then denoised in a *fresh subprocess* (so ru_maxrss is that run's peak alone) with a raw
preset, or, when none is installed, an untrained TSDN of the same shape (memory does not
depend on the weights' values). Prints one JSON line per size and a table; target: < 2 GB.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, torch
from pathlib import Path
from edgeden.pipeline import DenoiseOptions, denoise_file
from edgeden.presets import Preset, build_model, get_preset, list_presets
src, out, name, tile = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(int(sys.argv[5]))
if name in list_presets():
    preset = get_preset(name); net = build_model(preset)
else:
    from edgeden.models import create_arch
    preset = Preset(name="untrained-" + name, arch=name, domain=sys.argv[6], weights="-", sha256="-",
                    ksigma=sys.argv[6] == "raw", k_ref=2e-3, tile=tile, overlap=32)
    c = 4 if sys.argv[6] == "raw" else 3
    net = create_arch(name, in_channels=c, out_channels=c).eval()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
res = denoise_file(src, out, net, preset, DenoiseOptions(tile=tile, overlap=32))
print(json.dumps({"seconds": time.perf_counter() - t, "megapixels": res.megapixels,
                  "rss_before_mb": base / 1024, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

SIZES = {24: (4000, 6000), 50: (5792, 8688)}


def make_raw(path: Path, hw: tuple[int, int]) -> None:
    import numpy as np

    from edgeden import io
    from edgeden.demo import make_noisy_raw, skimage_photo

    small, _ = make_noisy_raw(skimage_photo("astronaut"), shot=4e-3, seed=0)
    reps = (hw[0] // small.shape[0] + 1, hw[1] // small.shape[1] + 1)
    big = np.tile(small.mosaic_u16, reps)[: hw[0], : hw[1]]
    small.mosaic_u16 = np.ascontiguousarray(big)
    io.write_dng(path, small.mosaic_u16, small, noise_profile=small.noise_profile)


def make_rgb(path: Path, hw: tuple[int, int]) -> None:
    import numpy as np
    from PIL import Image

    from edgeden.demo import skimage_photo

    small = (skimage_photo("astronaut") * 255).astype(np.float32)
    reps = (hw[0] // small.shape[0] + 1, hw[1] // small.shape[1] + 1, 1)
    big = np.tile(small, reps)[: hw[0], : hw[1]]
    big += np.random.default_rng(0).normal(0, 10, big.shape).astype(np.float32)
    Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(path, compress_level=1)


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--make":
        (make_raw if sys.argv[2] == "raw" else make_rgb)(Path(sys.argv[4]), SIZES[int(sys.argv[3])])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="24,50")
    ap.add_argument("--kind", choices=["raw", "rgb"], default="raw")
    ap.add_argument("--preset", default=None, help="default: tsdn (raw), unet-m-srgb (rgb)")
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    a.preset = a.preset or ("tsdn" if a.kind == "raw" else "unet-m-srgb")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for mp in (int(s) for s in a.sizes.split(",")):
            ext = ".dng" if a.kind == "raw" else ".png"
            src = Path(d) / f"{a.kind}{mp}{ext}"
            # made in a process of its own: a child inherits its parent's peak RSS on Linux, so
            # the parent must never hold a large image
            subprocess.run([sys.executable, __file__, "--make", a.kind, str(mp), str(src)], check=True)
            p = subprocess.run([sys.executable, "-c", CHILD, str(src), str(Path(d) / f"out{mp}{ext}"), a.preset,
                                str(a.tile), str(a.threads), "raw" if a.kind == "raw" else "srgb"],
                               capture_output=True, text=True)
            if p.returncode:
                print(p.stderr, file=sys.stderr)
                return 1
            r = {"kind": a.kind, "megapixels_nominal": mp, "size_hw": SIZES[mp], "tile": a.tile, "preset": a.preset,
                 **json.loads(p.stdout.strip().splitlines()[-1])}
            rows.append(r)
            print(json.dumps(r), flush=True)
    print(f"\n{'MP':>4} {'size':>11} {'tile':>5} {'peak RSS':>9} {'s':>7} {'MP/s':>6}")
    for r in rows:
        print(f"{r['megapixels']:>4.0f} {r['size_hw'][0]}x{r['size_hw'][1]:<6} {r['tile']:>5} "
              f"{r['peak_rss_mb']:>6.0f} MB {r['seconds']:>7.1f} {r['megapixels'] / r['seconds']:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
