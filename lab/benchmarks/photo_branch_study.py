"""Classifier branches side by side on the hand-labelled photos (issue 24 point 2), and their
logit ensembles: top-1 on the in-class photos and the AUROC of msp (T = 1) for every view and
level, on the cached views of ``dcnet``'s denoiser (``photo_cls.py collect dcnet --sets ...``).

    python lab/benchmarks/photo_branch_study.py shipped runs/dcnet-srgb-frozen-deep \
        runs/dcnet-srgb-frozen-deeper > lab/results/photo_cls/branches-study.txt

``shipped`` is the installed ``dcnet`` preset; any other argument is a training run folder
(its last.safetensors, its own architecture). Every branch reads the same frozen denoiser's
encoder, so the cached views serve all of them.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photo_cls as C  # noqa: E402

from edgeden.presets import build_model, get_preset  # noqa: E402
from edgeden.training import photo_eval as P  # noqa: E402
from edgeden.training.joint_eval import load_run  # noqa: E402


def main(argv: list[str]) -> None:
    names = get_preset("dcnet").classifier["class_names"]
    nets = {a if a == "shipped" else Path(a).name: (build_model(get_preset("dcnet")) if a == "shipped"
                                                    else load_run(Path(a))[1]).eval() for a in argv}
    # noise-map input as each was trained: the preset's flag, a run's recipe (load_run sets it)
    nm = {k: bool(get_preset("dcnet").noise_map) if k == "shipped" else bool(n.edgeden_noise_map) for k, n in nets.items()}
    combos = [(k,) for k in nets] + [c for n in range(2, len(nets) + 1) for c in itertools.combinations(nets, n)]
    print("top-1 in-class right / in-class photos, AUROC (msp, T = 1) at levels 0 / 25 / 50; "
          "ensembles average the members' log-softmax")
    for sets in ("dev", "report", "kodak24"):
        meta, views = C.load("dcnet", sets)
        labs = [r[2] for r in meta["rows"]]
        for m in C.METHODS:
            lp = {k: {lv: P.views_logits(n, views[lv], m, nm[k]).log_softmax(1) for lv in meta["levels"]}
                  for k, n in nets.items()}
            for c in combos:
                cells = []
                for lv in meta["levels"]:
                    r = P.photo_metrics(sum(lp[k][lv] for k in c) / len(c), labs, names, 1.0, 0.0, "msp")
                    cells.append(f"{r['top1_in_class_n']:>2}/{r['in_class']} {r['auroc']:.2f}")
                print(f"{sets:8} {m:7} {' + '.join(c):60} " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
