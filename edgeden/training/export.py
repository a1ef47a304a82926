"""Turn a finished training run into a shipped preset: weights, YAML and model card.

    edgeden export runs/unet-m-srgb --name unet-m-srgb \
        --noise awgn:15 --noise awgn:25 --noise awgn:50 --data kodak24 --data cbsd68

Steps: copy ``best.safetensors`` into ``edgeden/presets/weights/NAME.safetensors``; measure
parameters and MACs per megapixel (torch's FLOP counter); evaluate with
:func:`edgeden.evaluate.evaluate` on each test set and noise level (seeded, same code as
``edgeden eval``), with this machine's conv peak measured in the same run; write the preset
YAML (sha256, settings, provenance) and ``edgeden/presets/cards/NAME.md``. Nothing here is
typed in by hand: every figure in the card comes from the run's log or a measurement.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from edgeden.core.modelspec import ModelSpec
from edgeden.core.precision import cpu_name
from edgeden.presets import PRESET_DIR, Preset, reload_presets


class _ProductPath(torch.nn.Module):
    """What the product runs on photo tiles: a joint model's ``denoise`` (no classifier branch),
    else the whole forward. For the MACs-per-megapixel figure (parameters: all of the model's)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor):
        return getattr(self.net, "denoise", self.net)(x)


def run_summary(run: Path, weights: str = "best") -> dict:
    """Steps, validation of the shipped checkpoint, CPU/wall hours and threads from a run's
    ``log.jsonl``. ``weights``: "best" (the validation with the highest PSNR sum) or "last" (the
    final validation); the result's ``best_val`` / ``best_step`` are that checkpoint's."""
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = max((e.get("step", 0) for e in events), default=0)
    vals = [e for e in events if any(k.startswith("val_psnr") for k in e)]
    # CPU/wall hours: summed over the run's segments (each resume restarts the counters)
    cpu = wall = 0.0
    seg_cpu = seg_wall = 0.0
    for e in events:
        if e.get("event") == "start":
            cpu, wall, seg_cpu, seg_wall = cpu + seg_cpu, wall + seg_wall, 0.0, 0.0
        if "cpu_hours_this_run" in e:
            seg_cpu, seg_wall = e["cpu_hours_this_run"], e["wall_hours_this_run"]
    cpu, wall = cpu + seg_cpu, wall + seg_wall
    if weights == "last":
        best = vals[-1] if vals else {}
    else:
        best = max(vals, key=lambda e: sum(v for k, v in e.items() if k.startswith("val_psnr"))) if vals else {}
    starts = [e for e in events if e.get("event") == "start"]
    return {"steps": steps, "cpu_hours": round(cpu, 2), "wall_hours": round(wall, 2),
            "best_val": {k: round(v, 3 if "acc" in k else 2) for k, v in best.items() if k.startswith("val_")},
            "best_step": best.get("step"), "bf16": any(e.get("bf16") for e in starts),
            "threads": sorted({e.get("threads") for e in starts if e.get("threads")}),
            "val_curve": [{"step": e["step"], **{k: round(v, 3 if "acc" in k else 2) for k, v in e.items()
                                                  if k.startswith("val_")}}
                          for e in vals]}


@dataclass
class ExportOptions:
    """What :func:`export` does with a run (the ``edgeden export`` options).

    run: the training run folder (``runs/NAME``); name: the preset's name; datas x noises are
    evaluated for the card (first ``limit`` images; ``compare_bm3d`` images also with (C)BM3D);
    tile / overlap: the preset's tiling; dest: the preset folder written (YAML, weights/,
    cards/); weights: "best" (validation-selected) or "last" (final step); joint: a
    :func:`edgeden.training.joint_eval.evaluate_runs` result containing this run (adds the
    classifier block and the 11-level table); class_list: its class list's name; array_runs +
    shot_bounds: the other members of a noise subrange model array and the n + 1 bounds.
    """

    run: Path
    name: str
    description: str = ""
    datas: list[str] = field(default_factory=list)
    noises: list[str] = field(default_factory=list)
    limit: int | None = None
    tile: int = 512
    overlap: int = 32
    compare_bm3d: int = 0
    dest: Path = PRESET_DIR
    weights: str = "best"
    joint: dict | None = None
    class_list: str = ""
    array_runs: list[Path] | None = None
    shot_bounds: list[float] | None = None
    photos: dict | None = None  # the photo-set choice (lab/benchmarks/photo_cls.py choose --out)
    fp16: bool = False  # store floating-point weights as float16 (half the file; loaded into float32)


def half_weights(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``sd`` with every floating-point tensor stored as float16 (others as they are), contiguous.

    For a shipped file half the size: a preset's network is built in float32 and
    ``load_state_dict`` casts back, so only the rounding of each weight to float16 (11-bit
    mantissa) remains, which the card's figures (measured on the stored file) include.
    """
    out = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in sd.items()}
    bad = [k for k, v in out.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
           and bool(torch.isfinite(sd[k]).all())]
    if bad:
        raise ValueError(f"float16 cannot hold these weights (beyond +-65504): {', '.join(bad[:5])}")
    return out


def copy_weights(src: Path, dst: Path, fp16: bool = False) -> None:
    """Copy a run's weights file ``src`` to ``dst``, as float16 (:func:`half_weights`) if asked."""
    if not fp16:
        shutil.copyfile(src, dst)
        return
    from safetensors.torch import load_file, save_file

    save_file(half_weights(load_file(str(src))), str(dst))


def export(run: Path, name: str, description: str = "", datas: list[str] = (), noises: list[str] = (),
           limit: int | None = None, tile: int = 512, overlap: int = 32, compare_bm3d: int = 0, **more) -> Path:
    """Export ``run`` as preset ``name`` (see :class:`ExportOptions` for every option); returns
    the preset YAML's path."""
    return export_run(ExportOptions(Path(run), name, description, list(datas), list(noises), limit, tile, overlap,
                                    compare_bm3d, **more))


def export_run(o: ExportOptions) -> Path:
    """Write preset ``o.name`` from run ``o.run``: YAML into ``o.dest``, the weights into
    ``o.dest/weights``, the model card (measured only) into ``o.dest/cards``."""
    run, name, description, datas, noises, limit = o.run, o.name, o.description, o.datas, o.noises, o.limit
    tile, overlap, compare_bm3d, dest, weights = o.tile, o.overlap, o.compare_bm3d, o.dest, o.weights
    joint, class_list, array_runs, shot_bounds = o.joint, o.class_list, o.array_runs, o.shot_bounds
    if o.photos and not joint:
        raise ValueError("--photos needs --joint (the classifier block it completes)")
    if bool(array_runs) != bool(shot_bounds) or (array_runs and len(shot_bounds) != len(array_runs) + 2):
        raise ValueError("a model array needs its other runs and n + 1 shot bounds for n members")
    from edgeden.evaluate import NoiseSpec, evaluate
    from edgeden.models.complexity import measure

    rec = json.loads((run / "recipe.json").read_text())
    if (run / "arch.json").exists():  # a staged program (growth, evolution, ESL) changed the network
        final = json.loads((run / "arch.json").read_text())
        if final is None:
            raise ValueError(f"{run}: the staged program ended with no registered architecture")
        rec.update(final)
    dest = Path(dest)
    (dest / "weights").mkdir(parents=True, exist_ok=True)
    (dest / "cards").mkdir(parents=True, exist_ok=True)
    wfile = dest / "weights" / f"{name}.safetensors"
    if array_runs:  # noise subrange model array: member i's weights under "members.<i>." in one file
        from safetensors.torch import load_file, save_file

        merged = {f"members.{i}.{k}": v for i, r in enumerate([run, *array_runs])
                  for k, v in load_file(str(r / f"{weights}.safetensors")).items()}
        save_file(half_weights(merged) if o.fp16 else merged, str(wfile))
    else:
        copy_weights(run / f"{weights}.safetensors", wfile, o.fp16)
    sha = hashlib.sha256(wfile.read_bytes()).hexdigest()
    domain = rec["domain"]
    spec = ModelSpec.from_mapping(rec)
    from edgeden.models import create_arch

    with torch.device("meta"):  # built, not run: arch_args may hold names measure() takes (``width``)
        net = create_arch(rec["arch"], **spec.arch_kwargs(), **(rec.get("arch_args") or {}))
    cx = measure(_ProductPath(net), spec.in_channels, 256, 256)
    # MACs per megapixel *of the photo*: a packed raw pixel is 4 photo pixels
    macs_per_mp = cx["macs"] / (256 * 256) * 1e6 / (4 if domain == "raw" else 1)
    doc = {"name": name, "arch": rec["arch"], "arch_args": rec.get("arch_args") or {}, "domain": domain,
           "noise_map": bool(rec.get("noise_map")), "ksigma": bool(rec.get("ksigma")), "k_ref": rec.get("k_ref"),
           "gain_target": rec.get("gain_target"),
           "weights": wfile.name, "sha256": sha, "tile": tile, "overlap": overlap, "description": description}
    if shot_bounds:
        doc["array"] = {"shot_bounds": [float(b) for b in shot_bounds]}
    doc = {k: v for k, v in doc.items() if v is not None}
    summ = run_summary(run, weights)
    if array_runs:  # one row per member for the card; the array's steps and compute are the members' sum
        recs = [json.loads((r / "recipe.json").read_text()) for r in [run, *array_runs]]
        summ["members"] = [{"recipe": recs[i]["name"], "init": recs[i].get("init"),
                            "shots": [float(shot_bounds[i]), float(shot_bounds[i + 1])],
                            **(summ if i == 0 else run_summary(r, weights))}
                           for i, r in enumerate([run, *array_runs])]
        summ["steps"] = sum(m["steps"] for m in summ["members"])
        for key in ("cpu_hours", "wall_hours"):
            summ[key] = round(sum(m[key] for m in summ["members"]), 2)
        # the members' validation levels differ: the array's are all of them
        summ["best_val"] = {k: v for m in summ["members"] for k, v in m["best_val"].items()}
    n_members = 1 + len(array_runs or [])
    prov = {"recipe": recipe_location(rec['name'], rec.get("source")), "steps": summ["steps"],
            "cpu_hours": summ["cpu_hours"], "params": int(cx["params"]) * n_members, "macs_per_mp": int(macs_per_mp),
            "best_val": summ["best_val"], "exported": time.strftime("%Y-%m-%d")}
    if array_runs:
        prov["recipe"] = ", ".join(recipe_location(r["name"], r.get("source")) for r in recs)
    if weights != "best":
        prov["checkpoint"] = f"{weights} (step {summ['steps']})"
    if o.fp16:
        prov["weights_dtype"] = "float16"
    if joint:
        doc["classifier"], prov["joint_table"] = classifier_block(joint, rec["name"], class_list, o.photos)
    doc["provenance"] = prov
    yml = dest / f"{name}.yaml"
    yml.write_text(yaml.safe_dump(doc, sort_keys=False))
    reload_presets()
    preset = Preset(**doc, root=dest)
    evals = []
    for data in datas:
        specs = [NoiseSpec.parse(s) for s in noises]
        evals.append(evaluate(preset, data, specs, limit=limit, compare_bm3d=False))
        if compare_bm3d:
            evals.append(evaluate(preset, data, specs, limit=compare_bm3d, compare_bm3d=True))
    quality = {}
    for ev in evals:
        if "bm3d_psnr" in ev["results"][0]:
            continue
        for r in ev["results"]:
            quality[f"{ev['data']} {r['noise']}"] = round(r["psnr"], 2)
    speeds = [r["mp_per_s"] for ev in evals for r in ev["results"]]
    prov["quality"] = quality
    prov["speed_mp_per_s"] = round(sorted(speeds)[len(speeds) // 2], 3) if speeds else None
    prov["conv_peak_gflops"] = evals[0]["conv_peak_gflops"] if evals else None
    yml.write_text(yaml.safe_dump(doc, sort_keys=False))
    reload_presets()
    (dest / "cards" / f"{name}.md").write_text(model_card(doc, rec, summ, evals, joint, o.photos))
    return yml


def classifier_block(joint: dict, run_name: str, class_list: str, photos: dict | None = None) -> tuple[dict, dict]:
    """The preset's ``classifier`` block and the compact 11-level table for its provenance.

    ``photos``: settings chosen on labelled photographs (view, score, temperature, threshold;
    see docs/classify.md); they replace the CIFAR-fitted temperature and the default threshold,
    and the block records the photo-set figures they give."""
    from edgeden.classify import METHOD, METHODS, UNCERTAIN_BELOW

    if run_name not in joint["models"]:
        raise ValueError(f"the joint evaluation has no run {run_name!r} (has {sorted(joint['models'])})")
    cal = joint["models"][run_name]["calibration"]
    block = {"class_list": class_list, "class_names": list(joint["class_names"]), "input_size": 32,
             "temperature": cal["temperature"], "threshold": UNCERTAIN_BELOW, "method": METHOD.format(s=32),
             "ece_test": {"before": cal["ece_before"], "after": cal["ece_after"]}}
    if photos:
        block["cifar_temperature"] = cal["temperature"]
        block.update(photo_settings(photos))
    table = {n: [{k: round(v, 4) for k, v in r.items() if k in ("sigma", "acc", "psnr", "ssim")} for r in m["rows"]]
             for n, m in joint["models"].items()}
    return block, table


def photo_settings(photos: dict) -> dict:
    """The classifier-block keys set from a photo-set choice (``lab/benchmarks/photo_cls.py
    choose``): view, score, temperature, threshold, method, chosen_on, and the figures."""
    from edgeden.classify import METHODS

    keep = ("confident_wrong", "top1_in_class_n", "in_class", "auroc", "ece", "ece_in_class", "flagged_in_class_frac")
    return {"view": photos["view"], "score": photos["score"], "temperature": photos["temperature"],
            "threshold": photos["threshold"],
            "method": METHODS[photos["view"]].format(s=32) + ", logits averaged with their mirror images",
            "chosen_on": photos["chosen_on"],
            "photos": {sets: {lv: {k: r[k] for k in keep} for lv, r in f.items() if lv != "photos"}
                       | {"photos": f["photos"]} for sets, f in photos["figures"].items()}}


def photo_section(photos: dict) -> list[str]:
    """Model-card lines: the classifier on hand-labelled photographs (docs/classify.md)."""
    names = {"dev": "BSDS500-train dev quarter (tuning)", "report": "CBSD68 + McMaster (reported)",
             "kodak24": "Kodak24 (reported)"}
    lines = ["## On photographs (hand-labelled main subjects)", "",
             f"Settings chosen on {photos['chosen_on']} only: view `{photos['view']}`, score `{photos['score']}`, "
             f"temperature {photos['temperature']}, threshold {photos['threshold']} ({photos['rule']}). A photo "
             "scoring under the threshold is `uncertain` and labelled `none` (none of these). Levels: 0 = the "
             "clean photo, 25 / 50 = AWGN of that sigma denoised by this preset first. Labels: "
             "edgeden/training/labels/photo_labels.csv.", "",
             "| set | level | confident wrong | top-1 in-class | AUROC (in-class vs none) | ECE all / in-class | "
             "in-class flagged |",
             "|---|---|---|---|---|---|---|"]
    for sets, f in photos["figures"].items():
        for lv, r in f.items():
            if lv == "photos":
                continue
            lines.append(f"| {names.get(sets, sets)} | {lv} | {r['confident_wrong']} / {r['photos']} | "
                         f"{r['top1_in_class_n']} / {r['in_class']} | {r['auroc']:.3f} | {r['ece']:.3f} / "
                         f"{r['ece_in_class']:.3f} | "
                         f"{100 * r['flagged_in_class_frac']:.0f}% |")
    lines += ["", "Trade-off on the dev split (all levels pooled): the threshold against the share of photos "
              "with a confident wrong label and the share of in-class photos flagged `none`.", "",
              "| threshold | confident wrong | in-class flagged | none photos flagged |", "|---|---|---|---|"]
    for r in photos["tradeoff_dev"]:
        lines.append(f"| {r['threshold']} | {100 * r['confident_wrong_frac']:.1f}% | "
                     f"{100 * r['flagged_in_class_frac']:.0f}% | {100 * r['flagged_none_frac']:.0f}% |")
    return lines + [""]


def joint_section(joint: dict, run_name: str, photo_view: str | None = None) -> list[str]:
    """Model-card lines: the 11-level table beside the models trained alone, calibration, and
    the measured choice of how a photo is shown to the classifier."""
    from edgeden.training.joint_eval import markdown_table

    m = joint["models"][run_name]
    cal = m["calibration"]
    lines = ["## Joint denoising + classification (papers/000 protocol)", "",
             f"Held-out test split of the CIFAR-10 subset ({joint['test_images']} images, 200 per class), seeded "
             "Gaussian noise at the paper's 11 levels (image units; x255 for 8-bit). Each cell: top-1 accuracy "
             "(single view), and PSNR / SSIM of the denoised image. Each model: its final weights ("
             + ", ".join(f"`{n}` {mm['steps']} steps" for n, mm in joint["models"].items()) + ")"
             + ("; the other columns are models trained for comparison, each with its recipe of the same name"
                if len(joint["models"]) > 1 else "")
             + ". Regenerate: `python -m edgeden.training.joint_eval runs/... --out JSON`.", ""]
    lines += markdown_table(joint)
    lines += ["", "### Calibration", "",
              f"Temperature scaling (Guo et al. 2017) fitted on the validation split ({cal['val_images']} "
              f"training images never trained on, 100 per class, each at one of the 11 levels): **T = "
              f"{cal['temperature']}**. Expected calibration error (15 bins) on the test split, same "
              f"level mix, on the product's logits (thumbnail + mirror): {cal['ece_before']:.4f} before, "
              f"**{cal['ece_after']:.4f}** after (accuracy {100 * cal['test_acc_mixed']:.1f}%). A top "
              f"probability below the threshold marks the result `uncertain` in the sidecar.", ""]
    pres = m.get("presentation")
    if pres:
        lines += ["### Showing a full-size photo to a 32x32 classifier (measured)", "",
                  f"{pres['images']} test images (all classes) upscaled to {pres['size']}x{pres['size']} "
                  "as stand-in photos, Gaussian noise added at photo resolution, denoised at full size by "
                  "this model, then shown to its classifier in each way below (accuracy per noise level; "
                  "classifier time per photo on this machine):", "",
                  "| method | " + " | ".join(f"sigma {s}" for s in pres["levels"]) + " | ms / photo |",
                  "|---|" + "---|" * (len(pres["levels"]) + 1)]
        for meth, accs in pres["accuracy"].items():
            lines.append(f"| {meth} | " + " | ".join(f"{100 * a:.1f}%" for a in accs)
                         + f" | {pres['classifier_ms_per_photo'][meth]:.2f} |")
        lead = ("On these stand-in photos the whole denoised frame area-averaged to 32x32 was best"
                if photo_view else "The product shows the classifier the whole denoised frame area-averaged to 32x32")
        lines += ["", lead + ", "
                  "with its logits averaged with those of the thumbnail's mirror image: the classifier "
                  "was trained on whole, small frames, and cutting the photo into tiles shows it object "
                  "parts it never saw (accuracy falls towards chance as the grid grows). The mirror "
                  f"image adds {100 * (cal['test_acc_mixed'] - cal['test_acc_mixed_single_view']):+.1f} "
                  f"points on the {cal['test_images']}-image test split above (level mix, "
                  f"{100 * cal['test_acc_mixed_single_view']:.1f}% -> {100 * cal['test_acc_mixed']:.1f}%), "
                  "within noise on the 400 stand-in photos here, for about 1 ms. Denoising first matters at "
                  "high noise: compare the noisy photo's thumbnail.", ""]
        if photo_view:
            lines += [f"On real photographs the view was measured again and the product uses `{photo_view}` "
                      "(see *On photographs* below).", ""]
    return lines


def model_card(doc: dict, rec: dict, summ: dict, evals: list[dict], joint: dict | None = None,
               photos: dict | None = None) -> str:
    prov = doc["provenance"]
    init_note = "per member, see Members" if summ.get("members") else f"`{rec.get('init')}`"
    lines = [f"# Model card: `{doc['name']}`", "", doc.get("description", ""), "",
             "| | |", "|---|---|",
             f"| architecture | `{doc['arch']}` {doc.get('arch_args') or ''} |",
             f"| domain | {doc['domain']}{' + noise-level map' if doc.get('noise_map') else ''}"
             f"{' + k-sigma (k_ref=' + str(doc.get('k_ref')) + ')' if doc.get('ksigma') else ''}"
             f"{' + exposure gain to mean ' + str(doc.get('gain_target')) if doc.get('gain_target') else ''} |",
             f"| parameters | {prov['params']:,} |",
             f"| MACs per megapixel of photo | {prov['macs_per_mp'] / 1e9:.2f} G |",
             f"| weights | `{doc['weights']}` sha256 `{doc['sha256'][:16]}...`"
             f"{' (stored as float16, run in float32 / bf16)' if prov.get('weights_dtype') == 'float16' else ''} |",
             f"| recipe | `{prov['recipe']}` |",
             (f"| training data | {rec['data'].get('file')} (labelled; {rec['data'].get('val', 1000)} training "
              f"images held out for validation), synthetic noise `{json.dumps(rec['noise'])}` |"
              if rec["data"].get("kind") == "labelled" else
              f"| training data | {rec['data'].get('train')} (clean photos; first {rec['data'].get('val_holdout', 8)} "
              f"held out for validation), synthetic noise `{json.dumps(_member_noise(rec['noise'], summ))}`"
              f"{' (each member on its own shot range: see Members)' if summ.get('members') else ''} |"),
             *([f"| initialised from | {init_note} (fine-tune; the start weights' compute is not counted below) |"]
               if rec.get("init") else []),
             f"| loss | `{json.dumps(rec['loss'])}` |",
             f"| schedule | {summ['steps']} steps, batch {rec['data'].get('batch')} x "
             + ("whole labelled images" if rec["data"].get("kind") == "labelled" else
                f"{rec['data'].get('patch', 128)}^2 {'packed raw' if doc['domain'] == 'raw' else 'px'}")
             + f", Adam `{json.dumps(rec['optim'])}`{' (member 0; see the recipes)' if summ.get('members') else ''} |",
             f"| compute | {summ['cpu_hours']} CPU hours ({summ['wall_hours']} h wall"
             f"{', summed over the members' if summ.get('members') else ''}) on {cpu_name()}, "
             f"threads {summ['threads']}, bf16 {'on' if summ['bf16'] else 'off (no native bf16 on this CPU)'} |",
             (f"| validation PSNR (held-out) | each member at its own levels: {summ['best_val']} (see Members) |"
              if summ.get("members") else
              f"| validation PSNR{' / accuracy' if rec['data'].get('kind') == 'labelled' else ''} (held-out) | "
              f"{summ['best_val']} at step {summ['best_step']} |"),
             "", "## Quality (measured by `edgeden.evaluate`, seeded noise, mean over images)", ""]
    for ev in evals:
        lines += eval_table(ev)
    if joint:
        lines += joint_section(joint, rec["name"], photos["view"] if photos else None)
        if photos:
            lines += photo_section(photos)
    if summ.get("members"):
        lines += member_section(summ["members"])
    else:
        lines += ["## Validation curve", "", "| step | " + " | ".join(summ["best_val"]) + " |",
                  "|---|" + "---|" * len(summ["best_val"])]
        for e in summ["val_curve"]:
            lines.append(f"| {e['step']} | " + " | ".join(f"{e.get(k, float('nan')):.2f}" for k in summ["best_val"])
                         + " |")
    lines += ["", "Noise specs: see `edgeden eval --help` and `edgeden/evaluate.py` (awgn:SIGMA on sRGB; "
              "camera:SHOT = raw noise rendered through our ISP, noise level estimated blind; raw:SHOT = UPI "
              "Poisson-Gaussian on packed raw with the mean read noise). Regenerate this card with "
              "`edgeden export`.", ""]
    return "\n".join(lines)


def _member_noise(noise: dict, summ: dict) -> dict:
    """A recipe's noise block as the card shows it: an array's members differ in shot range and
    validation levels only, so those are left to the Members table."""
    return {k: v for k, v in noise.items() if k not in ("shot_range", "val_levels")} if summ.get("members") else noise


def member_section(members: list[dict]) -> list[str]:
    """Model-card lines for a noise subrange model array: one row per member (its shot range,
    run, start weights, steps, compute and held-out validation PSNR at its own levels, first and
    best)."""
    lines = ["## Members (noise subrange model array)", "",
             "Each image goes to the member whose range holds its equivalent shot max(S, S_O) "
             "(`edgeden/models/array.py`); the sidecar names it.", "",
             "| member | shot range S | recipe | initialised from | steps | CPU hours | validation PSNR (first -> best) |",
             "|---|---|---|---|---:|---:|---|"]
    for i, m in enumerate(members):
        first = m["val_curve"][0] if m["val_curve"] else {}
        val = ", ".join(f"{k.removeprefix('val_psnr@')}: {first.get(k, float('nan')):.2f} -> {v:.2f}"
                        for k, v in m["best_val"].items())
        init = f"`{m['init']}`" if m.get("init") else "scratch"
        lines.append(f"| {i} | {m['shots'][0]:.3g} - {m['shots'][1]:.3g} | `{m['recipe']}` | {init} | {m['steps']} | "
                     f"{m['cpu_hours']} | {val} (step {m['best_step']}) |")
    lines.append("")
    return lines


def eval_table(ev: dict) -> list[str]:
    """Markdown lines for one :func:`edgeden.evaluate.evaluate` result (with BM3D columns if run)."""
    lines = []
    bm = "bm3d_psnr" in ev["results"][0]
    lines.append(f"**{ev['data']}** ({ev['images']} images{', with BM3D in the same run' if bm else ''}; "
                 f"{ev['threads']} thread{'s' if ev['threads'] != 1 else ''}{', ' + ev['precision'] if ev.get('precision') else ''}, conv peak {ev['conv_peak_gflops']} GFLOP/s measured in the same run)")
    lines.append("")
    head = "| noise | noisy PSNR / SSIM | denoised PSNR / SSIM |"
    sep = "|---|---|---|"
    if "raw_psnr" in ev["results"][0]:
        head += " raw-domain PSNR |"
        sep += "---|"
    if bm:
        head += " BM3D PSNR / SSIM | BM3D MP/s |"
        sep += "---|---|"
    head += " MP/s |"
    sep += "---|"
    lines += [head, sep]
    for r in ev["results"]:
        row = (f"| {r['noise']} | {r['noisy_psnr']:.2f} / {r['noisy_ssim']:.3f} | "
               f"**{r['psnr']:.2f}** / {r['ssim']:.3f} |")
        if "raw_psnr" in r:
            row += f" {r['raw_psnr']:.2f} |"
        if bm:
            raw_bm = f" (raw {r['bm3d_raw_psnr']:.2f})" if "bm3d_raw_psnr" in r else ""
            row += f" {r['bm3d_psnr']:.2f} / {r['bm3d_ssim']:.3f}{raw_bm} | {r['bm3d_mp_per_s']:.4f} |"
        row += f" {r['mp_per_s']:.2f} |"
        lines.append(row)
    lines.append("")
    return lines


PEER_NAMES = {"ffdnet": "FFDNet", "dncnn": "CDnCNN-B", "pmrid": "PMRID", "bm3d": "BM3D"}


def recipe_location(name: str, source: str | None = None) -> str:
    """Where a run's recipe lives, as a card names it: ``edgeden/training/recipes/NAME.yaml`` for a
    packaged recipe, else ``lab/recipes/...`` when the run's recipe file came from there (``source``,
    as the run's recipe.json records it), else the packaged path."""
    packaged = f"edgeden/training/recipes/{name}.yaml"
    if (Path(__file__).parent / "recipes" / f"{name}.yaml").exists() or not source:
        return packaged
    parts = Path(source).parts
    labs = [i for i, p in enumerate(parts) if p == "lab"]
    return "/".join(parts[labs[-1]:]) if labs else packaged


def side_by_side_table(ev: dict, highlight: str | None = None) -> list[str]:
    """Markdown lines for an ``edgeden eval --compare ...`` run with peers and/or other presets:
    one column per method (the run's preset first), PSNR / SSIM per noise level (raw runs: sRGB
    PSNR after the ISP, raw-domain PSNR in brackets), MP/s underneath; ``highlight``'s column bold."""
    methods = [ev["preset"], *ev.get("presets_compared", {}), *ev.get("peers", {})]
    if "bm3d_psnr" in ev["results"][0]:
        methods.append("bm3d")
    key = {ev["preset"]: ""} | {m: m + "_" for m in methods[1:]}
    label = {m: PEER_NAMES.get(m, f"`{m}`") for m in methods}
    raw = "raw_psnr" in ev["results"][0]
    lines = [f"**{ev['data']}** ({ev['images']} images, seed {ev['seed']}, one run: every method on the same noisy "
             f"inputs; {ev['threads']} thread{'s' if ev['threads'] != 1 else ''}, {ev.get('precision', 'fp32')}, conv "
             f"peak {ev['conv_peak_gflops']} GFLOP/s measured in the same run"
             + ("; PSNR in sRGB after the ISP, raw-domain PSNR in brackets" if raw else "") + ")", "",
             "| noise | noisy | " + " | ".join(label[m] for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for r in ev["results"]:
        cells = []
        for m in methods:
            k = key[m]
            c = f"{r[k + 'psnr']:.2f} / {r[k + 'ssim']:.3f}" + (f" ({r[k + 'raw_psnr']:.2f})" if raw else "")
            cells.append(f"**{c}**" if m == highlight else c)
        lines.append(f"| {r['noise']} | {r['noisy_psnr']:.2f} / {r['noisy_ssim']:.3f} | " + " | ".join(cells) + " |")
    speed = [r["mp_per_s"] if m == ev["preset"] else r[key[m] + "mp_per_s"] for m in methods
             for r in ev["results"][:1]]
    lines.append("| MP/s (first level) | | " + " | ".join(f"{v:.2f}" for v in speed) + " |")
    return lines + [""]


def append_comparison(card: Path, ev: dict, title: str, highlight: str | None = None) -> None:
    """Append an evaluation run (e.g. ``edgeden eval ... --compare bm3d --json``) to a model card:
    a side-by-side table when the run compared peers or other presets."""
    text = card.read_text().rstrip("\n")
    side = ev.get("peers") or ev.get("presets_compared")
    body = side_by_side_table(ev, highlight) if side else eval_table(ev)
    card.write_text(text + "\n\n## " + title + "\n\n" + "\n".join(body) + "\n")




def export_onnx(preset_name: str, out: Path, probe: int = 256, opset: int = 17) -> dict:
    """Write a preset's network(s) as ONNX for other runtimes, with the input contract beside it.

    One ``.onnx`` per network: ``out`` itself for a single network, ``<stem>.m<i>.onnx`` per
    member of a noise subrange model array (the contract says which member serves which shot
    noise). Each takes ``x``: (1, C_in, H, W) float32 built as ``edgeden.core.modelspec.ModelSpec``
    says (packing, gain, k-sigma, noise-level map) and returns ``y``: (1, C_out, H, W) float32, the
    denoised image in the same domain (before the inverse gain / k-sigma); H and W dynamic,
    multiples of ``multiple`` (tiles of edgeden's tiling are). Outputs are checked against PyTorch
    with ONNX Runtime on a random probe input when it is installed (max abs difference recorded).
    ``out.with_suffix('.json')`` gets the contract. Returns it.
    Needs the ``onnx`` extra (``pip install edgeden[onnx]``).
    """
    from edgeden.core.types import require
    from edgeden.presets import build_model, get_preset

    from edgeden.models import primary_output
    from edgeden.models.onnx_backend import MULTIPLE, OnnxNet, export_graph

    require("onnx", "onnx")
    preset = get_preset(preset_name)
    model = build_model(preset).eval()
    spec = preset.spec
    members = list(model.members) if hasattr(model, "members") else [model]
    cin = spec.in_channels
    files, diffs = [], []
    for i, net in enumerate(members):
        f = out if len(members) == 1 else out.with_name(f"{out.stem}.m{i}{out.suffix or '.onnx'}")
        export_graph(net, cin, f, opset=opset)
        files.append(f.name)
        try:
            runner = OnnxNet(f, threads=1)
        except ImportError:  # onnxruntime not installed: exported, not checked
            diffs.append(None)
            continue
        x2 = torch.rand(1, cin, probe + MULTIPLE, probe - MULTIPLE)
        with torch.no_grad():
            ref = primary_output(net(x2))
        diffs.append(float((runner(x2) - ref).abs().max()))
    contract = {
        "preset": preset.name, "domain": preset.domain, "weights_sha256": preset.sha256, "files": files,
        "input": {"name": "x", "shape": ["1", cin, "height", "width"], "dtype": "float32",
                  "multiple": MULTIPLE, "channels": _channel_doc(spec)},
        "output": {"name": "y", "channels": spec.image_channels, "domain": preset.domain},
        "noise_map": spec.noise_map, "ksigma": spec.ksigma, "k_ref": spec.k_ref, "gain_target": spec.gain_target,
        "members_shot_bounds": getattr(model, "shot_bounds", None),
        "tile": preset.tile, "overlap": preset.overlap,
        "onnxruntime_max_abs_diff": diffs, "opset": opset,
        "how": "x = ModelSpec.to_model(image, shot, read, gain); y = net(x); image' = ModelSpec.from_model(y, ...); "
               "see edgeden/core/modelspec.py (raw: packed RGGB of the black/white-normalised mosaic)",
    }
    out.with_suffix(".json").write_text(json.dumps(contract, indent=2) + "\n")
    return contract


def _channel_doc(spec: Any) -> list[str]:
    base = ["R", "G1", "G2", "B"] if spec.domain == "raw" else ["R", "G", "B"]
    return base + (["noise std map"] if spec.noise_map else [])
