"""Helpers for the data-safety tests (issue 19): small input files, a CLI runner, tree snapshots."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from edgeden import io
from edgeden.core.types import RgbImage
from edgeden.demo import make_noisy_raw, skimage_photo


def run_cli(*args):
    """``edgeden ARGS`` through Typer's CliRunner (stdout and stderr together in .output)."""
    from edgeden.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def write_png(path: Path, seed: int = 0) -> Path:
    img = skimage_photo("coffee")[8 * seed: 8 * seed + 32, :40]
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_rgb(path, img, RgbImage(img, None, 8, "png"))
    return path


def write_dng(path: Path) -> Path:
    raw, _ = make_noisy_raw(skimage_photo("astronaut")[:32, :48], shot=4e-3, seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_dng(path, raw.mosaic_u16, raw, noise_profile=raw.noise_profile, noise_reduction_applied=False)
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file (links as their target text) under ``folder``: relative path -> bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(folder))] = b"-> " + str(p.readlink()).encode()
        elif p.is_file():
            out[str(p.relative_to(folder))] = p.read_bytes()
    return out


def lines_with(output: str, *words: str) -> list[str]:
    return [ln for ln in output.splitlines() if all(w in ln for w in words)]
