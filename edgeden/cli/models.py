"""``edgeden models``: list installed presets (or every architecture with --archs)."""
from __future__ import annotations

import json
from typing import Annotated

import typer


def preset_rows() -> list[dict]:
    """One dict per installed preset: name, domain, arch, params, MACs/MP, measured quality."""
    from edgeden.presets import all_presets, list_presets

    rows = []
    allp = all_presets()
    for name in list_presets():
        p = allp[name]
        prov = p.provenance or {}
        rows.append({
            "name": p.name, "domain": p.domain, "arch": p.arch, "description": p.description,
            "params": prov.get("params"), "macs_per_mp": prov.get("macs_per_mp"),
            "quality": prov.get("quality", {}), "speed_mp_per_s": prov.get("speed_mp_per_s"),
            "weights_sha256": p.sha256,
        })
        if p.classifier:
            rows[-1]["classifier"] = {k: v for k, v in p.classifier.items() if k != "class_names"}
            rows[-1]["joint_table"] = prov.get("joint_table")
    return rows


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    archs: Annotated[bool, typer.Option("--archs", help="List every architecture with measured complexity "
                                                        "beside the paper's figures.")] = False,
) -> None:
    """List the installed model presets: domain, parameters, MACs per megapixel, measured quality."""
    if archs:
        from edgeden.models.complexity import arch_table

        rows = arch_table()
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        _print_arch_table(rows)
        return
    rows = preset_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("No trained model presets are installed.")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="edgeden model presets")
    for col in ("preset", "domain", "arch", "params", "GMACs/MP", "quality (PSNR dB)", "MP/s"):
        t.add_column(col)
    for r in rows:
        q = r["quality"] or {}
        qs = ", ".join(f"{k} {v}" for k, v in list(q.items())[:4]) if isinstance(q, dict) else str(q)
        t.add_row(r["name"], r["domain"], r["arch"], _fmt_int(r["params"]),
                  f"{r['macs_per_mp'] / 1e9:.2f}" if r["macs_per_mp"] else "-", qs or "-",
                  f"{r['speed_mp_per_s']:.2f}" if r["speed_mp_per_s"] else "-")
    console = Console()
    console.print(t)
    shown = set()
    for r in rows:  # presets compared in the same study share one table
        key = json.dumps(r.get("joint_table"), sort_keys=True)
        if r.get("joint_table") and key not in shown:
            shown.add(key)
            console.print(_joint_table(r))


def _joint_table(row: dict):
    """Rich table: accuracy / PSNR / SSIM per noise level for a joint preset and the models it was
    compared with (its model card has the details)."""
    from rich.table import Table

    jt = row["joint_table"]
    cal = row.get("classifier") or {}
    t = Table(title=f"{row['name']}: denoise + classify on the CIFAR-10 test split (accuracy, PSNR dB / SSIM); "
                    f"calibration T = {cal.get('temperature')}, ECE {(cal.get('ece_test') or {}).get('after')}")
    t.add_column("sigma")
    for name in jt:
        t.add_column(name)
    levels = [r["sigma"] for r in next(iter(jt.values()))]
    for i, s in enumerate(levels):
        cells = []
        for name in jt:
            r = jt[name][i]
            parts = ([f"{100 * r['acc']:.1f}%"] if "acc" in r else []) + \
                ([f"{r['psnr']:.2f} / {r['ssim']:.3f}"] if "psnr" in r else [])
            cells.append(", ".join(parts))
        t.add_row(f"{s:.1f}", *cells)
    return t


def _fmt_int(v) -> str:
    return f"{v:,}" if isinstance(v, int) else "-"


def _print_arch_table(rows: list[dict]) -> None:
    from edgeden.models.complexity import format_arch_table

    typer.echo("Architectures, measured with torch's FLOP counter (MACs), beside the papers' figures")
    typer.echo("(dP% / dM%: deviation of our params / MACs; notes and sources: --json).\n")
    typer.echo(format_arch_table(rows))


def register(app: typer.Typer) -> None:
    app.command("models")(models)
