"""``edgeden export RUN --name PRESET``: a finished training run becomes a preset with a card."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer


def export_cmd(
    run: Annotated[Path, typer.Argument(help="Training run folder (runs/NAME); with --onnx, an installed preset's "
                                             "name.")],
    name: Annotated[Optional[str], typer.Option("--name", help="Preset name to write.")] = None,
    onnx: Annotated[Optional[Path], typer.Option("--onnx", dir_okay=False, help="Instead: write preset RUN's "
                    "network(s) as ONNX to this file, with the input contract in FILE.json.")] = None,
    description: Annotated[str, typer.Option("--description", help="One line for `edgeden models`.")] = "",
    data: Annotated[Optional[List[str]], typer.Option("--data", help="Test set to evaluate on; repeatable.")] = None,
    noise: Annotated[Optional[List[str]], typer.Option("--noise", help="Noise spec (awgn:SIGMA, camera:SHOT[:qQ], "
                                                                       "raw:SHOT); repeatable.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Evaluate the first N images.")] = None,
    bm3d: Annotated[int, typer.Option("--bm3d", min=0, help="Also run (C)BM3D on the first N images.")] = 0,
    tile: Annotated[int, typer.Option("--tile", min=0, help="The preset's tile edge.")] = 512,
    overlap: Annotated[int, typer.Option("--overlap", min=0, help="The preset's tile overlap.")] = 32,
    weights: Annotated[str, typer.Option("--weights", help="best (validation-selected) or last.")] = "best",
    joint: Annotated[Optional[Path], typer.Option("--joint", dir_okay=False, help="joint_eval JSON: add the "
                                                  "classifier block and its table.")] = None,
    class_list: Annotated[str, typer.Option("--class-list", help="Class list name (with --joint).")] = "cifar10",
    photos: Annotated[Optional[Path], typer.Option("--photos", dir_okay=False, help="With --joint: the classifier "
                      "settings chosen on labelled photographs (view, score, temperature, threshold) and their "
                      "figures, from lab/benchmarks/photo_cls.py choose.")] = None,
    array_run: Annotated[Optional[List[Path]], typer.Option("--array-run", help="Further member runs of a noise "
                                                            "subrange model array (RUN is member 0).")] = None,
    shot_bounds: Annotated[Optional[str], typer.Option("--shot-bounds", help="n + 1 comma-separated shot values "
                                                       "delimiting the array's subranges.")] = None,
    append_eval: Annotated[Optional[Path], typer.Option("--append-eval", dir_okay=False, help="Instead of "
                                                        "exporting: append this `edgeden eval --json` result to "
                                                        "the card of --name.")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Store the weights as float16 (half the file; the "
                                       "card is measured on the stored file).")] = False,
    title: Annotated[str, typer.Option("--title", help="Section title with --append-eval.")] = "Beside BM3D (same run)",
) -> None:
    """Export a training run as a preset: weights into the package, the preset YAML (sha256, measured parameters and MACs/MP) and a model card from measurements only."""  # noqa: E501
    from edgeden.cli.common import EXIT_USAGE, fail
    from edgeden.training.export import ExportOptions, append_comparison, export_run

    if onnx is not None:
        from edgeden.training.export import export_onnx

        c = export_onnx(str(run), onnx)
        typer.echo(f"{', '.join(c['files'])} (+ {onnx.with_suffix('.json').name}); ONNX Runtime max abs difference "
                   f"against PyTorch: {c['onnxruntime_max_abs_diff']}")
        return
    if not name:
        fail("--name is needed (the preset to write)", EXIT_USAGE)
    if run.is_file():
        fail(f"{run}: a training run is a folder", EXIT_USAGE)
    if weights not in ("best", "last"):
        fail(f"--weights {weights!r}: choose best or last", EXIT_USAGE)
    if append_eval:
        from edgeden.presets import PRESET_DIR

        append_comparison(PRESET_DIR / "cards" / f"{name}.md", json.loads(append_eval.read_text()), title, name)
        return
    try:
        bounds = [float(v) for v in shot_bounds.split(",")] if shot_bounds else None
    except ValueError:
        fail(f"--shot-bounds {shot_bounds!r}: comma-separated numbers", EXIT_USAGE)
    opts = ExportOptions(run=run, name=name, description=description, datas=list(data or []),
                         noises=list(noise or []), limit=limit, tile=tile, overlap=overlap, compare_bm3d=bm3d,
                         weights=weights, joint=json.loads(joint.read_text()) if joint else None,
                         class_list=class_list, array_runs=list(array_run or []) or None, shot_bounds=bounds,
                         photos=json.loads(photos.read_text()) if photos else None, fp16=fp16)
    try:
        typer.echo(export_run(opts))
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
