"""Training batches from clean photographs (and labelled sets): synthetic noise of the recipe's
kind, turned into the network's input by the recipe's :class:`~edgeden.core.modelspec.ModelSpec`
(the same rule inference uses), with the map from the network's output back to the target.
"""
from __future__ import annotations

from typing import Callable

import torch

from edgeden.paths import resolve_data
from edgeden.training import data as D
from edgeden.training.recipe import Recipe


class DomainMap:
    """Maps between a model's output domain and its training target's domain.

    ``m(pred)`` takes a model output (N, C, H, W) to the target's domain (linear raw of the
    sample for raw recipes: undo the exposure gain / k-sigma); ``m.pre(target)`` is the inverse
    (a clean target as the model would see it, used to feed a distillation teacher). Identity
    for sRGB recipes. ``camera``: for raw recipes, each sample's (wb (N, 3), ccm (N, 3, 3)), the
    camera that renders it (for ``loss.render``); None otherwise.
    """

    def __init__(self, post: Callable | None = None, pre: Callable | None = None,
                 camera: tuple[torch.Tensor, torch.Tensor] | None = None):
        self._post, self._pre, self.camera = post, pre, camera

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        return self._post(p) if self._post else p

    def pre(self, t: torch.Tensor) -> torch.Tensor:
        return self._pre(t) if self._pre else t


class BatchSource:
    """Makes (model_input, clean_target) batches for a recipe from clean photographs."""

    def __init__(self, recipe: Recipe, gen: torch.Generator):
        d = recipe.data
        self.recipe, self.gen = recipe, gen
        self.patch, self.batch = int(d.get("patch", 128)), int(d.get("batch", 16))
        self.labelled = d.get("kind") == "labelled"
        self.aux = None
        if self.labelled:  # small labelled images (CIFAR-10 subset): whole images, no crops
            self.cls = D.LabelledBank(resolve_data(d["file"]), val=int(d.get("val", 1000)))
            self.photos = None
            if d.get("photos"):  # labelled photographs beside them, incl. "none" (outlier exposure)
                from edgeden.training.photo_eval import load_labels

                pc = dict(d["photos"])
                rows = load_labels(tuple(pc.get("sets", ["bsds500-train"])), pc.get("split", "train"))
                self.photo_batch = int(pc.get("batch", 32))
                frac = pc.get("in_class_frac")
                self.photos = D.PhotoViewBank(rows, self.cls.class_names, size=int(pc.get("size", 32)),
                                              in_class_frac=None if frac is None else float(frac))
            return
        # Joint training on photographs (denoising) and a labelled set (classification), e.g.
        # DC-Net on UNet-M: data.labels = {file, val, batch, sigma, val_sigma}; its batches add
        # only loss.ce x cross-entropy (the small labelled images are not denoising data).
        if d.get("labels"):
            self.aux_cfg = dict(d["labels"])
            self.aux = D.LabelledBank(resolve_data(self.aux_cfg["file"]), val=int(self.aux_cfg.get("val", 1000)))
        folder = resolve_data(d.get("train", "train/BSDS500"))
        hold = int(d.get("val_holdout", 8))
        self.bank = D.ImageBank.from_folder(folder, exclude_first=hold)
        self.val_bank = D.ImageBank.from_folder(folder, only_first=hold) if hold else None

    def make(self, clean: torch.Tensor, gen: torch.Generator, level=None):
        """Model input, target and a map from model output to the target's domain.

        clean: (N, 3, P, P) sRGB crops in [0, 1]. ``level``: fixed noise level for validation
        (AWGN sigma in 0..255, or a raw shot S with UPI's mean read noise), else sampled.
        Returns (x (N, C_in, ., .), y (N, C, ., .), post: callable pred -> target domain).
        """
        r = self.recipe
        kind = r.noise.get("kind", "awgn")
        if kind == "awgn":
            rng = (level, level) if level is not None else tuple(r.noise.get("sigma", (0, 55)))
            return self._awgn_input(clean, rng, gen), clean, DomainMap()
        if kind == "srgb-mixed":  # AWGN (benchmarks) and camera-like noise (real JPEGs) in one batch
            p_awgn, rng, shot = float(r.noise.get("awgn_prob", 0.5)), tuple(r.noise.get("sigma", (0, 55))), None
            if level is not None:  # validation: one named spec, "awgn:25" or "camera:0.004"
                from edgeden.evaluate import NoiseSpec

                spec = NoiseSpec.parse(str(level))
                p_awgn = 1.0 if spec.kind == "awgn" else 0.0
                rng, shot = (spec.level, spec.level), spec.level
            na = int(round(clean.shape[0] * p_awgn))
            xs, ys = [], []
            if na:
                xs.append(self._awgn_input(clean[:na], rng, gen))
                ys.append(clean[:na])
            if na < clean.shape[0]:
                finish = r.noise.get("camera_finish") if level is None else None  # training only
                if level is not None and spec.jpeg:  # validation of "camera:SHOT:qQ": that JPEG, no sharpening
                    finish = {"sharpen": [0.0, 0.0], "jpeg": [spec.jpeg, spec.jpeg]}
                noisy, target, shot_c, read_c = D.camera_srgb_batch(clean[na:], gen, shot=shot, finish=finish)
                xs.append(r.spec.to_model(noisy, shot_c, read_c))
                ys.append(target)
            return torch.cat(xs), torch.cat(ys), DomainMap()
        if kind == "raw-upi":
            b = D.raw_upi_batch(clean, gen, dark_prob=0.0 if level is not None else float(r.noise.get("dark_prob", 0.5)),
                                dark_range=tuple(r.noise.get("dark_range", (0.02, 1.0))), shot=level,
                                shot_range=r.noise.get("shot_range"))
            n = clean.shape[0]
            spec = r.spec
            shot, read = b["shot"].view(n, 1), b["read"].view(n, 1)
            scale = b["scale"].view(n, 1, 1, 1)
            gain = spec.gain(b["noisy"])  # per sample, as the product computes it per image
            x = spec.to_model(b["noisy"], shot, read, gain)
            # Loss in the linear raw domain of the (possibly darkened) sample itself. Dividing by
            # the darkening factor instead (loss on the undarkened scale) amplified the errors of
            # the darkest samples up to 50x: measured, they swamped the loss and TSDN gained only
            # ~1 dB over the noisy input after 1500 steps. k-sigma already makes a dark sample
            # look like a bright one at a higher noise level, so the network still learns it.
            undarken = bool(r.noise.get("undarken_loss", False))
            y = b["clean"] / scale if undarken else b["clean"]

            def post(p, shot=shot, read=read, scale=scale, gain=gain):
                p = spec.from_model(p, shot, read, gain)
                return p / scale if undarken else p

            def pre(t, shot=shot, read=read, scale=scale, gain=gain):
                return spec.transform(t * scale if undarken else t, shot, read, gain)

            return x, y, DomainMap(post, pre, camera=(b["wb"], b["ccm"]))
        raise ValueError(f"unknown noise kind {kind!r}")

    def crop_size(self) -> int:
        """sRGB crop edge: raw batches are mosaiced, so they need twice the packed patch."""
        return self.patch * (2 if self.recipe.domain == "raw" else 1)

    def next(self):
        """One training batch: (x, y, post, labels or None)."""
        if self.labelled:
            clean, labels = self.cls.batch(self.batch, self.gen)
            x, y, post = self.make(clean, self.gen)
            if self.photos is not None:
                # photo views get the CIFAR images' noise too: with photos always at sigma 0 the
                # noise map itself told photos (mostly "none") from CIFAR images (measured: clean
                # CIFAR accuracy fell to 30% at step 1500 while sigma 15 was 58%)
                pv, pl = self.photos.batch(self.photo_batch, self.gen)
                x = torch.cat([x, self._awgn_input(pv, tuple(self.recipe.noise.get("sigma", (0, 55))), self.gen)])
                y, labels = torch.cat([y, pv]), torch.cat([labels, pl])
            return x, y, post, labels
        return (*self.make(self.bank.crops(self.batch, self.crop_size(), self.gen), self.gen), None)

    def _awgn_input(self, clean: torch.Tensor, rng: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
        """clean (N, C, h, w) in [0, 1] plus AWGN sigma ~ U(rng) (0..255 units), with the noise map
        when the recipe takes one: (N, C_in, h, w)."""
        noisy, sigma = D.awgn_batch(clean, rng, gen)
        return self.recipe.spec.to_model(noisy, 0.0, (sigma ** 2).view(-1, 1))

    def next_aux(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A labelled batch for joint training: (noisy x (N, C_in, h, w) with AWGN sigma ~
        U(labels.sigma), default 0-55, in 0..255 units; labels (N,) int64)."""
        clean, labels = self.aux.batch(int(self.aux_cfg.get("batch", 64)), self.gen)
        return self._awgn_input(clean, tuple(self.aux_cfg.get("sigma", (0, 55))), self.gen), labels

    def aux_validation_set(self):
        """Fixed (x, None, None, labels) batches (accuracy only, see :func:`validate`) of the
        labelled set's held-out split at AWGN ``labels.val_sigma`` (default 15), seeded."""
        g = torch.Generator().manual_seed(4321)
        s = float(self.aux_cfg.get("val_sigma", 15))
        x, lab = self.aux.split("val")
        n = min(int(self.aux_cfg.get("val_images", 1000)), len(x))
        return [(self._awgn_input(x[i:i + 100], (s, s), g), None, None, lab[i:i + 100]) for i in range(0, n, 100)]

    def validation_set(self, level: float):
        """Fixed (x, y, post, labels) batches, seeded: centre crops of the held-out photos, or
        ``data.val_images`` (default 500) images of a labelled set's held-out validation split
        (``data.val`` training images, stratified by class; never the test split, which is kept
        for the model card), evenly spaced through the split so that every class is in them
        (the split is stored in class order: its first images are of the first classes only)."""
        g = torch.Generator().manual_seed(1234)
        if self.labelled:
            n = int(self.recipe.data.get("val_images", 500))
            x, lab = self.cls.split("val")
            if n < len(x):
                idx = (torch.arange(n) * len(x)) // n
                x, lab = x[idx], lab[idx]
            return [(*self.make(x[i:i + 100], g, level), lab[i:i + 100]) for i in range(0, min(n, len(x)), 100)]
        pairs = []
        for img in self.val_bank.images:
            h, w = img.shape[:2]
            s = min(256 if self.recipe.domain == "srgb" else 320, h, w) // 2 * 2
            y, x = (h - s) // 2, (w - s) // 2
            c = torch.from_numpy(img[y : y + s, x : x + s]).permute(2, 0, 1).float()[None] / 255.0
            pairs.append((*self.make(c, g, level), None))
        return pairs
