"""``edgeden models``: list installed presets (or every architecture with --archs)."""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
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
            "name": p.name, "domain": p.domain, "arch": p.arch, "arch_args": dict(p.arch_args or {}),
            "description": p.description,
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
    measure: Annotated[bool, typer.Option("--measure", help="With --archs: measure now instead of reading "
                                                            "the table measured when the package was built.")] = False,
) -> None:
    """List the installed model presets: domain, parameters, MACs per megapixel, measured quality."""
    if archs:
        if measure:
            from edgeden.models.complexity import arch_table

            rows = arch_table()
        else:
            rows = json.loads(ARCH_TABLE_JSON.read_text())
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
    typer.echo(format_preset_table(rows))


#: The three noise levels ``models`` shows per domain (the model cards' keys), and how to say them.
QUALITY_LEVELS = {
    "srgb": (("awgn:15", "awgn:25", "awgn:50"), "sRGB presets: AWGN sigma 15 / 25 / 50"),
    "raw": (("raw:0.001", "raw:0.004", "raw:0.012"),
            "raw presets: raw noise S = 1e-3 / 4e-3 / 1.2e-2, PSNR of the sRGB render"),
}


def quality_cell(row: dict, data: str = "kodak24") -> str:
    """The three Kodak24 PSNR figures of a preset row as "33.9 / 31.4 / 28.0" ("-" where missing)."""
    levels = QUALITY_LEVELS.get(row["domain"], ((), ""))[0]
    q = row.get("quality") or {}
    vals = [q.get(f"{data} {lv}") for lv in levels]
    if not vals or all(v is None for v in vals):
        return "-"
    return " / ".join(f"{v:.1f}" if isinstance(v, (int, float)) else "-" for v in vals)


def format_preset_table(rows: list[dict]) -> str:
    """Plain-text preset table that fits 80 columns and pipes cleanly (no box drawing, no
    truncation): ``*`` marks the default for its input kind; one quality figure per domain,
    stated as in the README (mean PSNR on Kodak24)."""
    from edgeden.presets import DEFAULT_PRESETS

    defaults = {n for names in DEFAULT_PRESETS.values() for n in names[:1]}
    nw = max(len("preset"), *(len(r["name"]) for r in rows))
    head = f"  {'preset':<{nw}}  {'domain':<6}  {'params':>7}  {'GMACs/MP':>8}  {'PSNR dB, Kodak24':<18}  {'MP/s':>5}"
    lines = [head]
    for r in sorted(rows, key=lambda r: (r["domain"] != "raw", r["name"])):
        mark = "*" if r["name"] in defaults else " "
        gm = f"{r['macs_per_mp'] / 1e9:.1f}" if r["macs_per_mp"] else "-"
        sp = f"{r['speed_mp_per_s']:.2f}" if r["speed_mp_per_s"] else "-"
        lines.append(f"{mark} {r['name']:<{nw}}  {r['domain']:<6}  {_fmt_params(r['params']):>7}  {gm:>8}  "
                     f"{quality_cell(r):<18}  {sp:>5}")
    notes = ["* default for its input kind (camera raws / PNG, TIFF, JPEG).",
             "PSNR: " + "; ".join(text for _, text in QUALITY_LEVELS.values()) + "."]
    joint = [r["name"] for r in rows if r.get("classifier")]
    if joint:
        notes.append(f"Labels too (denoise + classify): {', '.join(joint)}; accuracy tables in "
                     "`edgeden models --json` and the model cards.")
    notes.append("GMACs/MP: per megapixel of the photo. MP/s: measured at export (model cards).")
    lines.append("")
    lines += [w for n in notes for w in textwrap.wrap(n, 78, break_on_hyphens=False)]
    return "\n".join(lines)


def _fmt_params(v) -> str:
    if not isinstance(v, int):
        return "-"
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} K"


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
    typer.echo("Architectures, measured with torch's FLOP counter (MACs), beside the papers' figures.")
    typer.echo("GMACs/MP: per megapixel of the photo, as `edgeden models` (a packed raw pixel, C=4,")
    typer.echo("covers 4); dP% / dM%: deviation of our params / MACs; notes and sources: --json.\n")
    typer.echo(format_arch_table(rows))
    by_arch = {r["name"]: r for r in rows}
    for pr in preset_rows():  # a preset may run an arch with other arguments or on another input kind
        a = by_arch.get(pr["arch"])
        want = 4 if pr["domain"] == "raw" else 3
        if a is None or not pr["macs_per_mp"] or (a["in_channels"] == want and not pr["arch_args"]):
            continue
        how = [f"{k}={v}" for k, v in pr["arch_args"].items()]
        if a["in_channels"] != want:
            how.append("packed raw (C=4)" if want == 4 else "RGB (C=3)")
        typer.echo(f"preset {pr['name']} runs {pr['arch']} with {', '.join(how)}: "
                   f"{pr['macs_per_mp'] / 1e9:.1f} GMACs per photo MP")


#: Where the packaged architecture table lives (see ``edgeden.models.complexity.write_arch_table``);
#: a path, not an import, so that listing it does not import torch.
ARCH_TABLE_JSON = Path(__file__).resolve().parent.parent / "models" / "arch_table.json"


def _fmt(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def format_arch_table(rows: list[dict]) -> str:
    """Plain-text table of ``arch_table`` rows (one line per arch, header first)."""
    head = f"{'arch':<14}{'C':>2} {'params':>10} {'GMACs/MP':>9} {'paper input':>11} {'GMACs':>7} " \
           f"{'paper params':>12} {'paper GMACs':>11} {'dP%':>6} {'dM%':>6}"
    lines = [head]
    for r in rows:
        inp = "x".join(str(v) for v in r["input"]) if r["input"] else "-"
        lines.append(f"{r['name']:<14}{r['in_channels']:>2} {r['params']:>10,} "
                     f"{_fmt(r.get('photo_gmacs_per_mp'), '.4g'):>9} {inp:>11} {_fmt(r['gmacs'], '.4g'):>7} "
                     f"{_fmt(r['paper_params'], ','):>12} {_fmt(r['paper_gmacs'], '.4g'):>11} "
                     f"{_fmt(r['dev_params_pct'], '+.1f'):>6} {_fmt(r['dev_gmacs_pct'], '+.1f'):>6}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
