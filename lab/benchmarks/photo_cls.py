"""Classifier presets on hand-labelled photographs (issue 24): logits, then the figures.

  python lab/benchmarks/photo_cls.py collect dcnet --sets dev       # bsds500-train dev split
  python lab/benchmarks/photo_cls.py collect dcnet --sets report    # cbsd68 + mcmaster
  python lab/benchmarks/photo_cls.py collect dcnet --sets kodak24
  python lab/benchmarks/photo_cls.py table dcnet --sets report --score msp --threshold 0.5
  python lab/benchmarks/photo_cls.py choose dcnet --run runs/dcnet-srgb-frozen --out FILE.json

``choose`` picks, on the dev split only, how photos are shown (view), which score flags
"none of these", the calibration temperature (photo ECE) and the threshold (the lowest that
keeps confident wrong labels at or under 1 in 24 on dev, all levels pooled); then it reports
the figures of that choice on the dev, report and Kodak24 sets, with the trade-off curve.

Logits go to lab/results/photo_cls/<preset>-<sets>.npz (with the weights' sha256), so the
figures can be recomputed for any score, threshold and view method without denoising again.
See edgeden/training/photo_eval.py for the protocol.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from edgeden.training import photo_eval as P

OUT = Path(__file__).resolve().parents[1] / "results" / "photo_cls"
SETS = {"dev": (("bsds500-train",), "dev"), "report": (P.REPORT_SETS, None), "kodak24": (("kodak24",), None)}
LEVELS = (0, 25, 50)
METHODS = ("frame", "centre", "multi")


def rows_of(name: str):
    sets, split = SETS[name]
    return P.load_labels(sets, split)


def cache_path(preset: str, sets: str) -> Path:
    return OUT / f"{preset}-{sets}.npz"


def collect(preset: str, sets: str) -> Path:
    """Denoise the set's photos at every level and keep the views the classifier is shown."""
    from edgeden.presets import get_preset

    rows = rows_of(sets)
    res = P.collect_views(preset, rows, LEVELS,
                          on_photo=lambda i, n: print(f"\r{i + 1}/{n}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    pr = get_preset(preset)
    denoiser = {"preset": preset, "weights": pr.weights, "sha256": pr.sha256}
    meta = {"denoiser": denoiser, "rows": rows, "levels": list(LEVELS)}
    p = cache_path(preset, sets)
    np.savez_compressed(p, meta=np.array(json.dumps(meta)),
                        **{f"L{lv}": v.numpy().astype(np.float16) for lv, v in res.items()})
    return p


def load(preset: str, sets: str):
    """(meta, {level: views (N, 3, 3, s, s) float32})."""
    z = np.load(cache_path(preset, sets))
    meta = json.loads(str(z["meta"]))
    return meta, {lv: torch.from_numpy(z[f"L{lv}"].astype(np.float32)) for lv in meta["levels"]}


def table(preset: str, sets: str, score: str, threshold: float, temperature: float | None = None,
          net=None, methods=METHODS, views_of: str | None = None) -> list[dict]:
    """Figures per method and level for ``preset``'s classifier (or ``net``), on the views
    cached by ``collect`` (of preset ``views_of``, default the same preset)."""
    from edgeden.presets import build_model, get_preset

    pr = get_preset(preset)
    net = net if net is not None else build_model(pr)
    meta, views = load(views_of or preset, sets)
    t = temperature if temperature is not None else float(pr.classifier.get("temperature", 1.0))
    labels = [r[2] for r in meta["rows"]]
    out = []
    for m in methods:
        for lv in meta["levels"]:
            lg = P.views_logits(net, views[lv], m, bool(pr.noise_map))
            r = P.photo_metrics(lg, labels, pr.classifier["class_names"], t, threshold, score)
            out.append({"method": m, "level": lv, **r})
    return out


def _pooled(net, views_by_level, noise_map):
    return {m: torch.cat([P.views_logits(net, v, m, noise_map) for v in views_by_level.values()]) for m in METHODS}


def choose(preset: str, run: str | None, views_of: str | None = None, max_wrong: float = 1 / 24) -> dict:
    """The classifier's photo settings, chosen on the dev split; figures on every set."""
    from edgeden.classify import calibrated_probs
    from edgeden.presets import build_model, get_preset

    pr = get_preset(preset)
    if run:  # the run's own architecture (its branch may differ from the preset's) and weights
        from edgeden.training.joint_eval import load_run

        net = load_run(Path(run))[1]
    else:
        net = build_model(pr)
    net.eval()
    names = pr.classifier["class_names"]
    nm = bool(pr.noise_map)
    meta, views = load(views_of or preset, "dev")
    labels = [r[2] for r in meta["rows"]] * len(meta["levels"])
    y = np.array([names.index(lab) if lab in names else -1 for lab in labels])
    lg = _pooled(net, views, nm)
    # 1. view: most in-class photos right at top-1 (ties: better AUROC of msp at T = 1)
    def key(m):
        r = P.photo_metrics(lg[m], labels, names, 1.0, 0.0)
        return (r["top1_in_class"], r["auroc"])
    view = max(METHODS, key=key)
    # 2. temperature: least NLL of the true class on the dev photos that show one (the class
    # probabilities' calibration; "none" is the score's and the threshold's job)
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 61))
    zin, yin = lg[view][torch.from_numpy(y >= 0)].double(), torch.from_numpy(y[y >= 0])
    nll = [float(torch.nn.functional.cross_entropy(zin / float(t), yin)) for t in grid]
    temp = float(grid[int(np.argmin(nll))])
    # 3. per score, the threshold: the lowest with at most max_wrong confident wrong labels on
    # dev, raised if needed so that synthetic textures (no object at all) are flagged too
    from edgeden.classify import ood_score, photo_views

    tex = torch.stack([photo_views(im, 32, "multi") for im in P.synthetic_textures().values()])
    tex_lg = P.views_logits(net, tex, view, nm)

    def threshold_for(sk):
        sc = np.sort(ood_score(lg[view], temp, sk).numpy())
        t_hi = float(ood_score(tex_lg, temp, sk).max()) + 1e-4  # every texture below this
        for t in np.unique(np.concatenate([sc, sc + 1e-6])):
            if P.photo_metrics(lg[view], labels, names, temp, float(t), sk)["confident_wrong_frac"] <= max_wrong:
                return max(float(t), t_hi), float(t) < t_hi
        return max(float(sc[-1]) + 1e-6, t_hi), True

    # 4. the score: best AUROC (in-class vs none) on dev; ties to msp (bounded, readable)
    score = max(("msp", "energy"), key=lambda sk: P.photo_metrics(lg[view], labels, names, temp, 0.0, sk)["auroc"])
    thr, raised = threshold_for(score)
    thr = round(thr, 4)
    sc = np.sort(ood_score(lg[view], temp, score).numpy())
    choice = {"view": view, "score": score, "temperature": round(temp, 4), "threshold": thr,
              "chosen_on": "bsds500-train dev split (every 4th photo), levels " + ", ".join(map(str, meta["levels"])),
              "rule": f"view: most in-class right; T: least NLL on the in-class photos; score: best AUROC; threshold: lowest with "
                      f"confident wrong <= {max_wrong:.4f} on dev"
                      + (", raised to flag four synthetic textures (grey, stripes, checkerboard, noise)" if raised else
                         "; the synthetic textures are flagged at it")}
    # the trade-off curve on dev, thinned to ~12 rows
    qs = np.quantile(sc, np.linspace(0.05, 0.95, 10)).tolist() + [thr]
    choice["tradeoff_dev"] = [{"threshold": round(float(t), 4), **{k: v for k, v in P.photo_metrics(
        lg[view], labels, names, temp, float(t), score).items() if k in ("confident_wrong_frac", "flagged_in_class_frac",
                                                                         "flagged_none_frac")}} for t in sorted(set(qs))]
    figures = {}
    for sets in ("dev", "report", "kodak24"):
        m, vv = load(views_of or preset, sets)
        labs = [r[2] for r in m["rows"]]
        figures[sets] = {str(lv): P.photo_metrics(P.views_logits(net, vv[lv], view, nm), labs, names, temp, thr, score)
                         for lv in m["levels"]}
        figures[sets]["photos"] = len(labs)
    choice["figures"] = figures
    choice["weights"] = run or pr.weights
    return choice


def apply(preset: str, choice_file: str) -> None:
    """Write a choice into a shipped preset whose weights did not change (its YAML's classifier
    block and its card's photo section); a retrained preset gets them from ``edgeden export
    --photos`` instead."""
    import yaml

    from edgeden.presets import PRESET_DIR, get_preset
    from edgeden.training.export import photo_section, photo_settings

    choice = json.loads(Path(choice_file).read_text())
    if choice["weights"] != get_preset(preset).weights:
        raise SystemExit(f"{choice_file} was chosen for {choice['weights']}, not {preset}'s weights")
    yml = PRESET_DIR / f"{preset}.yaml"
    doc = yaml.safe_load(yml.read_text())
    doc["classifier"].setdefault("cifar_temperature", doc["classifier"]["temperature"])
    doc["classifier"].update(photo_settings(choice))
    yml.write_text(yaml.safe_dump(doc, sort_keys=False))
    card = PRESET_DIR / "cards" / f"{preset}.md"
    text = card.read_text()
    head = "## On photographs"
    if head in text:  # replace the old section (up to the next "## ")
        a = text.index(head)
        b = text.find("\n## ", a + 1)
        text = text[:a] + (text[b + 1:] if b >= 0 else "")
    card.write_text(text.rstrip("\n") + "\n\n" + "\n".join(photo_section(choice)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["collect", "table", "choose", "apply"])
    ap.add_argument("--choice", default=None, help="apply: the choose --out file")
    ap.add_argument("--run", default=None, help="a training run folder: its last.safetensors")
    ap.add_argument("--views-of", default=None, help="use the views cached for this preset")
    ap.add_argument("--out", default=None)
    ap.add_argument("preset")
    ap.add_argument("--sets", choices=list(SETS), default="report")
    ap.add_argument("--score", default="msp")
    ap.add_argument("--threshold", type=float, default=None)
    a = ap.parse_args(argv)
    if a.cmd == "collect":
        print(collect(a.preset, a.sets))
        return
    if a.cmd == "apply":
        apply(a.preset, a.choice)
        return
    if a.cmd == "choose":
        c = choose(a.preset, a.run, a.views_of)
        txt = json.dumps(c, indent=1)
        if a.out:
            Path(a.out).write_text(txt + "\n")
        print(json.dumps({k: v for k, v in c.items() if k not in ("figures", "tradeoff_dev")}))
        for sets, f in c["figures"].items():
            for lv, r in f.items():
                if lv != "photos":
                    print(f"{sets:>8} L{lv:<3} conf.wrong {r['confident_wrong']}/{r['photos']} top1 in-class "
                          f"{r['top1_in_class_n']}/{r['in_class']} AUROC {r['auroc']:.3f} ECE {r['ece']:.3f}/{r['ece_in_class']:.3f} "
                          f"flagged none {r['flagged_none_frac']:.2f} in-class {r['flagged_in_class_frac']:.2f}")
        return
    from edgeden.presets import get_preset

    thr = a.threshold if a.threshold is not None else float(get_preset(a.preset).classifier.get("threshold", 0.5))
    for r in table(a.preset, a.sets, a.score, thr):
        print(f"{r['method']:>7} L{r['level']:<3} conf.wrong {r['confident_wrong']:>3}/{r['photos']} "
              f"({r['confident_wrong_frac']:.3f})  top1 in-class {r['top1_in_class_n']}/{r['in_class']} "
              f"AUROC {r['auroc']:.3f}  ECE {r['ece']:.3f}  flagged none {r['flagged_none_frac']:.2f} "
              f"in-class {r['flagged_in_class_frac']:.2f}")


if __name__ == "__main__":
    main()
