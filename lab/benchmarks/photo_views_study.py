"""Issue 24 point 2: does another way of showing a photo to dcnet's classifier get more in-class
photos right? Clean photos (level 0) only, the shipped dcnet, in-class photos of the dev split,
the reported set (CBSD68 + McMaster) and Kodak24; each scheme's crops (c = centred, l/r/tl/tr/bl/br
= sides and corners, the number = side / the short edge) and their mirrors, logits (mean) or
probabilities (probmean) averaged. Output: lab/results/photo_cls/views-level0.txt.

    python lab/benchmarks/photo_views_study.py > lab/results/photo_cls/views-level0.txt
"""
import numpy as np, torch
from edgeden.training import photo_eval as P
from edgeden.classify import classifier_logits, with_level_map
from edgeden.presets import build_model, get_preset
torch.set_num_threads(1)
pr = get_preset("dcnet"); net = build_model(pr).eval(); names = pr.classifier["class_names"]
def crops(img):
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2,0,1)[None].float(); h, w = t.shape[-2:]
    out = {"frame": t}
    for f in (1.0, 0.8, 0.6, 0.45):
        side = int(round(min(h,w)*f))
        for name, (y, x) in {"c": ((h-side)//2, (w-side)//2), "tl": (0,0), "tr": (0, w-side), "bl": (h-side, 0), "br": (h-side, w-side),
                             "l": ((h-side)//2, 0), "r": ((h-side)//2, w-side)}.items():
            out[f"{name}{f}"] = t[..., y:y+side, x:x+side]
    return {k: torch.nn.functional.adaptive_avg_pool2d(v, 32).clamp(0,1) for k, v in out.items()}
res = {}
for sname, (sets, split) in {"dev": (("bsds500-train",), "dev"), "report": (P.REPORT_SETS, None), "kodak": (("kodak24",), None)}.items():
    rows = [r for r in P.load_labels(sets, split) if r[2] in names]
    L = []
    for s, img, lab in rows:
        v = crops(P.read_photo(s, img)); keys = list(v)
        x = torch.cat([v[k] for k in keys]); x = torch.cat([x, x.flip(-1)])
        with torch.inference_mode(): lg = classifier_logits(net, with_level_map(x, bool(pr.noise_map)))
        lg = (lg[:len(keys)] + lg[len(keys):]) / 2
        L.append(dict(zip(keys, lg)))
    res[sname] = (rows, L)
schemes = {
 "multi": ["frame", "c1.0", "c0.6"],
 "frame": ["frame"], "centre": ["c1.0"], "c0.8": ["c0.8"], "c0.6": ["c0.6"],
 "multi+c0.8": ["frame", "c1.0", "c0.8", "c0.6"],
 "sides1.0": ["frame", "c1.0", "l1.0", "r1.0"],
 "multi+sides": ["frame", "c1.0", "c0.6", "l1.0", "r1.0"],
 "multi+corners0.6": ["frame", "c1.0", "c0.6", "tl0.6", "tr0.6", "bl0.6", "br0.6"],
 "multi+c0.8+sides0.8": ["frame", "c1.0", "c0.8", "c0.6", "l0.8", "r0.8"],
 "all0.8": ["frame", "c1.0", "c0.8", "l0.8", "r0.8", "tl0.8", "tr0.8", "bl0.8", "br0.8"],
 "pyr": ["frame", "c1.0", "c0.8", "c0.6", "c0.45"],
}
for agg in ("mean", "probmean"):
  for sch, keys in schemes.items():
    line = []
    for sname, (rows, L) in res.items():
        ok = 0
        for (s, img, lab), d in zip(rows, L):
            z = torch.stack([d[k] for k in keys])
            z = z.mean(0) if agg == "mean" else z.softmax(-1).mean(0)
            ok += names[int(z.argmax())] == lab
        line.append(f"{sname} {ok}/{len(rows)}")
    print(f"{agg:8s} {sch:22s}", "  ".join(line))
