"""``edgeden calibrate FRAMES... -o PROFILE.json``: a camera's noise profile from its own frames."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List

import typer

from edgeden.cli.common import EXIT_USAGE, fail


def calibrate(
    frames: Annotated[List[Path], typer.Argument(help="Raw frames of one camera: per ISO, 2+ dark frames "
                                                      "(lens cap on) and 2+ flat frames (an evenly lit grey "
                                                      "card, defocused) or a tripod burst of one scene.",
                                                 show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Profile file to write (darktable's noiseprofiles.json "
                                                          "format; an existing one is updated: other cameras and "
                                                          "ISOs are kept).")] = Path("noiseprofiles.json"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the fits as JSON.")] = False,
) -> None:
    """Fit the Poisson-Gaussian noise (variance = S*x + O) per ISO and CFA plane from your own raw frames and write a profile that `denoise --noise-profiles` and `info --noise-profiles` read, so a camera without a DNG NoiseProfile or a darktable profile works like a listed one. Shooting: see docs/calibrate.md."""  # noqa: E501
    missing = [p for p in frames if not p.is_file()]
    if missing:
        fail(f"no such file: {', '.join(map(str, missing))}", EXIT_USAGE)
    from edgeden.calibrate import calibrate as fit, merge_into, profiles_json
    from edgeden.core.types import EdgedenError
    from edgeden.io.atomic import atomic_write

    existing = None
    if out.exists():
        from edgeden.io.noiseprofiles import load_camera_profiles, read_limited

        load_camera_profiles(out)  # a file that is not a profile table is not touched
        existing = json.loads(read_limited(out, 32 << 20, "noise profile file"))
    try:
        fits, camera = fit(frames)
    except ValueError as e:
        raise EdgedenError(str(e)) from None
    doc = profiles_json(fits, camera)
    if existing is not None:
        doc = merge_into(doc, existing)
    atomic_write(out, lambda tmp: tmp.write_text(json.dumps(doc, indent=1) + "\n"))
    rows = [{"iso": f.iso, "shot_S": f.shot, "read_O": f.read, "frames": f.frames, "methods": f.methods}
            for f in fits]
    if as_json:
        typer.echo(json.dumps({"camera": camera, "fits": rows, "written": str(out)}, indent=2))
        return
    typer.echo(f"{camera['make']} {camera['model']}: planes R, G1, G2, B; variance = S*x + O on [0, 1] data")
    for f in fits:
        typer.echo(f"ISO {f.iso:g}: S " + " ".join(f"{v:.3g}" for v in f.shot) + "  O " +
                   " ".join(f"{v:.3g}" for v in f.read) + f"  ({f.frames} frames: {'; '.join(f.methods)})")
    typer.echo(f"-> {out} (use: edgeden denoise ... --noise-profiles {out})")


def register(app: typer.Typer) -> None:
    app.command("calibrate")(calibrate)
