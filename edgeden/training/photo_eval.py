"""The classifier presets measured on real photographs with hand-made main-subject labels.

Labels: ``labels/photo_labels.csv`` beside this module (set, image, label: a class of the
preset's list, or ``none`` when the photo's main subject is none of them; the rule is in the
file's header). ``bsds500-train`` photos may be trained and tuned on (split into ``train`` and
``dev`` here, every 4th photo dev); ``cbsd68`` + ``mcmaster`` are the reported photo set and
``kodak24`` is reported beside it: neither is trained or tuned on.

Protocol (:func:`collect_views`, :func:`views_logits`): each photo at each level -- ``0`` the clean photo, ``S > 0``
seeded AWGN of sigma S (0..255 units) denoised by the preset exactly as ``edgeden denoise``
does (tiled, told the true sigma) -- is shown to the classifier as the product shows it
(:func:`edgeden.classify.photo_views`, mirror images averaged). The figures
(:func:`photo_metrics`): the fraction of photos with a *confident wrong* label (not flagged
uncertain, and the photo shows none of the classes or another one), top-1 accuracy on the
photos that show one of the classes, the AUROC of the score separating those from the
``none`` photos, and the expected calibration error of the top-1 probability over all photos
(a ``none`` photo's label is always wrong), and over the in-class photos alone.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

LABELS = Path(__file__).parent / "labels" / "photo_labels.csv"
#: Where each labelled set's photos live under the shared data folder, and their suffix.
SET_DIRS = {"bsds500-train": ("train/BSDS500", ".jpg"), "cbsd68": ("test/CBSD68", ".png"),
            "mcmaster": ("test/McMaster", ".png"), "kodak24": ("test/Kodak24", ".png")}
#: The reported photo set (never trained or tuned on).
REPORT_SETS = ("cbsd68", "mcmaster")


def load_labels(sets=REPORT_SETS, split: str | None = None, path: Path = LABELS) -> list[tuple[str, str, str]]:
    """Rows (set, image stem, label) of the named sets in file order. ``split`` ("train" or
    "dev") keeps part of ``bsds500-train``: dev is every 4th of its photos, train the rest."""
    with open(path, newline="") as fh:
        rows = [tuple(r) for r in csv.reader(line for line in fh if not line.startswith("#"))][1:]
    out = []
    for k, (s, img, lab) in enumerate(r for r in rows if r[0] in sets):
        if split is not None and s == "bsds500-train" and (k % 4 == 0) != (split == "dev"):
            continue
        out.append((s, img, lab))
    return out


def photo_path(set_name: str, image: str) -> Path:
    """The photo's file under the shared data folder."""
    from edgeden.paths import resolve_data

    folder, ext = SET_DIRS[set_name]
    return resolve_data(folder) / f"{image}{ext}"


def read_photo(set_name: str, image: str) -> np.ndarray:
    """(H, W, 3) float32 sRGB in [0, 1]."""
    from PIL import Image

    with Image.open(photo_path(set_name, image)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def denoised_render(clean_hwc: np.ndarray, level: float, net, preset, seed: int) -> np.ndarray:
    """The photo as the classifier gets it at ``level``: the clean photo for 0, else with seeded
    AWGN of sigma ``level`` (0..255) denoised by ``preset`` (told the true sigma) and clipped.
    Returns (H, W, 3) float32 in [0, 1]."""
    if not level:
        return clean_hwc
    from edgeden.evaluate import NoiseSpec, make_noisy
    from edgeden.pipeline import denoise_array

    d = make_noisy(clean_hwc, NoiseSpec("awgn", float(level)), seed)
    with torch.inference_mode():
        out = denoise_array(d["noisy"], net, preset, d["params"], preset.tile, preset.overlap)
    return out[0].clamp(0, 1).permute(1, 2, 0).numpy()


#: Which of the "multi" views (:func:`edgeden.classify.photo_views`) each method uses.
METHOD_VIEWS = {"frame": [0], "centre": [1], "multi": [0, 1, 2]}


def views_logits(net, views: torch.Tensor, method: str = "frame", noise_map: bool = True) -> torch.Tensor:
    """(N, K) logits of photos from their "multi" views (N, 3, 3, s, s): the ``method``'s views
    and their mirror images shown to the classifier, logits averaged (as the product does)."""
    from edgeden.classify import classifier_logits, with_level_map

    v = views[:, METHOD_VIEWS[method]]
    n, k = v.shape[:2]
    lg = classifier_logits(net, with_level_map(v.reshape(n * k, *v.shape[2:]), noise_map))
    return lg.reshape(n, k, -1).mean(1)


def collect_views(preset_name: str, rows, levels=(0, 25, 50), seed: int = 0, on_photo=None) -> dict:
    """What the classifier is shown of every photo at every level, so any classifier on the
    same (frozen) denoiser can be measured without denoising again.

    Returns {level: (N, 3, 3, s, s) float32}: the "multi" views of each photo's render at that
    level (:func:`denoised_render`; photo i gets noise seed ``seed + i``)."""
    from edgeden.classify import photo_views
    from edgeden.presets import build_model, get_preset

    preset = get_preset(preset_name)
    net = build_model(preset)
    size = int(preset.classifier.get("input_size", 32))
    out = {lv: [] for lv in levels}
    for i, (s, img, _) in enumerate(rows):
        clean = read_photo(s, img)
        for lv in levels:
            out[lv].append(photo_views(denoised_render(clean, lv, net, preset, seed + i), size, "multi"))
        if on_photo:
            on_photo(i, len(rows))
    return {lv: torch.stack(v) for lv, v in out.items()}


def synthetic_textures(h: int = 240, w: int = 360) -> dict[str, np.ndarray]:
    """Images that show no object, which a classifier must answer "none" for: a flat grey
    frame, fine stripes, a checkerboard and white noise. (H, W, 3) float32 in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(0)
    return {"grey": np.full((h, w, 3), 0.5, np.float32),
            "stripes": np.repeat((0.5 + 0.5 * np.sin(xx / 3.0))[..., None], 3, -1),
            "checker": np.repeat((((yy // 12) + (xx // 12)) % 2)[..., None], 3, -1).astype(np.float32),
            "noise": rng.random((h, w, 3), dtype=np.float32)}


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of a score separating ``pos`` from ``neg`` (ties count half):
    the probability that a random positive scores above a random negative."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not len(pos) or not len(neg):
        return float("nan")
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def photo_metrics(logits: torch.Tensor, labels, class_names, temperature: float, threshold: float,
                  score: str = "msp", bins: int = 10) -> dict:
    """The photo-set figures (module docstring) for (N, K) logits and N labels (class name or
    "none"). A photo is flagged uncertain when its score (:func:`edgeden.classify.ood_score`) is
    below ``threshold``. Returns {"photos", "in_class", "confident_wrong" (count),
    "confident_wrong_frac", "top1_in_class" (fraction), "top1_in_class_n", "auroc", "ece" (over
    all photos: is the top-1 label right), "ece_in_class" (over the in-class photos: the class
    probabilities' calibration), "flagged_none_frac" (none photos flagged), "flagged_in_class_frac"}."""
    from edgeden.classify import calibrated_probs, expected_calibration_error, ood_score

    idx = {c: i for i, c in enumerate(class_names)}
    y = np.array([idx.get(lab, -1) for lab in labels])
    p = calibrated_probs(logits, temperature).numpy()
    pred, conf = p.argmax(1), p.max(1)
    sc = ood_score(logits, temperature, score).numpy()
    flagged = sc < threshold
    inc = y >= 0
    correct = pred == y
    wrong_confident = (~flagged) & (~correct)
    def ece_of(sel):
        lab = torch.from_numpy(np.where(y[sel] >= 0, y[sel], -1))  # -1 never equals a prediction
        return expected_calibration_error(torch.from_numpy(p[sel]), lab, bins)

    ece = ece_of(np.ones_like(inc))
    return {"photos": int(len(y)), "in_class": int(inc.sum()),
            "confident_wrong": int(wrong_confident.sum()),
            "confident_wrong_frac": round(float(wrong_confident.mean()), 4),
            "top1_in_class": round(float(correct[inc].mean()), 4) if inc.any() else float("nan"),
            "top1_in_class_n": int(correct[inc].sum()),
            "auroc": round(auroc(sc[inc], sc[~inc]), 4),
            "ece": round(float(ece), 4),
            "ece_in_class": round(float(ece_of(inc)), 4) if inc.any() else float("nan"),
            "flagged_none_frac": round(float(flagged[~inc].mean()), 4) if (~inc).any() else float("nan"),
            "flagged_in_class_frac": round(float(flagged[inc].mean()), 4) if inc.any() else float("nan")}
