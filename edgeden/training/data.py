"""Synthetic training data from clean photographs.

Clean images are held in memory as uint8 (the 431 BSDS500 training images take ~200 MB);
batches are random crops with flips/rotations plus synthetic noise, generated on the fly
from an explicit ``torch.Generator`` so every run is reproducible.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class ImageBank:
    """Clean RGB images in memory.

    images: list of (H, W, 3) uint8 arrays. Build with :meth:`from_folder`.
    """

    def __init__(self, images: list[np.ndarray]):
        if not images:
            raise ValueError("no training images")
        self.images = images

    @classmethod
    def from_folder(cls, folder: str | Path, exclude_first: int = 0, only_first: int | None = None) -> "ImageBank":
        """Load every image under ``folder`` (sorted by name, recursive) as RGB uint8.

        ``only_first``/``exclude_first`` split off a deterministic hold-out for validation.
        """
        import imageio.v3 as iio

        files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise FileNotFoundError(f"{folder}: no images found")
        files = files[:only_first] if only_first is not None else files[exclude_first:]
        imgs = []
        for f in files:
            a = np.asarray(iio.imread(f))
            if a.ndim == 2:
                a = np.repeat(a[..., None], 3, axis=2)
            imgs.append(np.ascontiguousarray(a[..., :3]))
        return cls(imgs)

    def crops(self, n: int, patch: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` random ``patch``x``patch`` crops with random flips and 90-degree rotations.

        Returns (n, 3, patch, patch) float32 in [0, 1].
        """
        out = torch.empty(n, 3, patch, patch)
        idx = torch.randint(len(self.images), (n,), generator=gen)
        for k in range(n):
            img = self.images[int(idx[k])]
            h, w = img.shape[:2]
            y = int(torch.randint(h - patch + 1, (1,), generator=gen))
            x = int(torch.randint(w - patch + 1, (1,), generator=gen))
            t = torch.from_numpy(img[y : y + patch, x : x + patch]).permute(2, 0, 1).float() / 255.0
            r = int(torch.randint(8, (1,), generator=gen))
            if r & 1:
                t = t.flip(-1)
            t = torch.rot90(t, r >> 1, (-2, -1))
            out[k] = t
        return out


def awgn_batch(clean: torch.Tensor, sigma_range: tuple[float, float], gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Add white Gaussian noise with sigma ~ U(sigma_range) (in 0..255 units) per sample.

    clean: (N, C, H, W) float32 [0, 1]. Returns (noisy (N, C, H, W) unclipped, sigma (N,) in [0, 1] units).
    """
    n = clean.shape[0]
    lo, hi = sigma_range
    sigma = (lo + (hi - lo) * torch.rand(n, generator=gen)) / 255.0
    noise = torch.randn(clean.shape, generator=gen) * sigma.view(n, 1, 1, 1)
    return clean + noise, sigma


def sharpen(img: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """In-camera style unsharp mask: ``img + amount * (img - blur3x3(img))``, clipped to [0, 1].

    img: (N, 3, H, W) float32 in [0, 1]; amount: (N,) float32 >= 0 (0 = unchanged).
    """
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None, :] / 16.0).expand(img.shape[1], 1, 3, 3)
    blur = torch.nn.functional.conv2d(torch.nn.functional.pad(img, (1, 1, 1, 1), mode="replicate"), k, groups=img.shape[1])
    return (img + amount.view(-1, 1, 1, 1) * (img - blur)).clamp(0, 1)


def jpeg_roundtrip(img: torch.Tensor, quality: list[int]) -> torch.Tensor:
    """Encode each sample as an 8-bit JPEG (4:2:0, Pillow/libjpeg) at ``quality[i]`` and decode it.

    img: (N, 3, H, W) float32 in [0, 1]; quality: N ints in 1..95. Returns (N, 3, H, W) float32
    in [0, 1] (multiples of 1/255).
    """
    from edgeden.io.jpeg import jpeg_roundtrip as _roundtrip

    out = torch.empty_like(img)
    for i in range(img.shape[0]):
        b = _roundtrip(img[i].permute(1, 2, 0).numpy(), int(quality[i]))
        out[i] = torch.from_numpy(b).permute(2, 0, 1)
    return out


def camera_finish(noisy: torch.Tensor, target: torch.Tensor, gen: torch.Generator, sharpen_range: tuple[float, float],
                  jpeg_range: tuple[int, int] | None, jpeg_prob: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The last steps of a camera's JPEG pipeline on an ISP-rendered pair: the same unsharp mask
    (amount ~ U(sharpen_range)) on both, then JPEG compression (quality ~ U{jpeg_range}) of the
    noisy render only, for each sample with probability ``jpeg_prob`` (the others stay float, as a
    raw converter's 16-bit TIFF would); the target stays the clean sharpened render, since JPEG
    artefacts are to be removed too. noisy, target: (N, 3, H, W) float32 in [0, 1].
    Returns (noisy, target).
    """
    n = noisy.shape[0]
    lo, hi = sharpen_range
    amount = lo + (hi - lo) * torch.rand(n, generator=gen)
    noisy, target = sharpen(noisy, amount), sharpen(target, amount)
    if jpeg_range is not None:
        q = torch.randint(int(jpeg_range[0]), int(jpeg_range[1]) + 1, (n,), generator=gen).tolist()
        if jpeg_prob >= 1.0:
            noisy = jpeg_roundtrip(noisy, q)
        else:
            pick = (torch.rand(n, generator=gen) < jpeg_prob).nonzero().flatten().tolist()
            if pick:
                noisy = noisy.clone()
                noisy[pick] = jpeg_roundtrip(noisy[pick], [q[i] for i in pick])
    return noisy, target


def camera_srgb_batch(clean: torch.Tensor, gen: torch.Generator, shot: float | None = None,
                      finish: dict | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Camera-like sRGB noise (see :func:`edgeden.core.isp.synthetic_camera_noise_srgb`): each
    sample unprocessed with a random camera, Poisson-Gaussian raw noise (UPI's shot/read sampler,
    or a fixed ``shot`` with UPI's mean read noise), rendered back through our ISP.

    clean: (N, 3, H, W) float32 in [0, 1], H and W even. Returns (noisy, clean target rendered
    through the same ISP, shot (N, 3), read (N, 3)): the noise parameters the product would use
    at inference, ``estimate_noise_or_fallback(noisy)`` per sample (for the model's noise map).
    ``finish``: optional ``{"sharpen": [lo, hi], "jpeg": [qlo, qhi], "jpeg_prob": p}`` (see
    :func:`camera_finish`; ``jpeg_prob`` defaults to 1),
    applied before the noise is estimated, as the product would see the JPEG.
    """
    from edgeden.core import isp
    from edgeden.core import noise as nm

    n = clean.shape[0]
    s = None if shot is None else torch.full((n,), float(shot))
    noisy, target = isp.synthetic_camera_noise_srgb(clean, gen, shot=s)
    if finish:
        jr = finish.get("jpeg")
        noisy, target = camera_finish(noisy, target, gen, tuple(finish.get("sharpen", (0.0, 0.0))),
                                      tuple(jr) if jr else None, float(finish.get("jpeg_prob", 1.0)))
    est = [nm.estimate_noise_or_fallback(noisy[i]).per_plane(3) for i in range(n)]
    shot_c = torch.tensor([e[0] for e in est], dtype=torch.float32)
    read_c = torch.tensor([e[1] for e in est], dtype=torch.float32)
    return noisy, target, shot_c, read_c


def raw_upi_batch(clean_srgb: torch.Tensor, gen: torch.Generator, dark_prob: float = 0.5,
                  dark_range: tuple[float, float] = (0.02, 1.0), shot: float | None = None,
                  read: float | None = None, shot_range: tuple[float, float] | None = None) -> dict[str, torch.Tensor]:
    """Synthetic raw training pairs from clean sRGB crops (Brooks et al. 2019, UPI).

    clean_srgb: (N, 3, 2h, 2w) float32 in [0, 1]. Each sample gets a random colour matrix and
    white-balance gains (unprocessing), is mosaiced to packed RGGB, darkened with probability
    ``dark_prob`` by a log-uniform factor in ``dark_range`` (night shots), and gets
    Poisson-Gaussian noise with UPI's (shot, read) sampler (or the fixed ``shot``/``read``;
    ``shot_range`` (lo, hi) restricts the sampler's log-uniform S to a subrange, for the noise
    subrange model array).
    Returns dict: ``clean`` (N, 4, h, w) linear raw in [0, 1], ``noisy`` (N, 4, h, w),
    ``shot`` (N,), ``read`` (N,), ``scale`` (N,) brightness factor applied, and the sample's
    camera: ``wb`` (N, 3) gains and ``ccm`` (N, 3, 3) (what renders it, :func:`edgeden.core.isp.process`).
    """
    from edgeden.core import isp, noise as nm

    n = clean_srgb.shape[0]
    packed, meta = isp.unprocess(clean_srgb, gen)
    lo, hi = dark_range
    u = torch.rand(n, generator=gen)
    logs = torch.log(torch.tensor(lo)) + torch.rand(n, generator=gen) * (torch.log(torch.tensor(hi)) - torch.log(torch.tensor(lo)))
    scale = torch.where(u < dark_prob, torch.exp(logs), torch.ones(n))
    clean = packed * scale.view(n, 1, 1, 1)
    if shot is None:
        s, r = nm.sample_upi_noise(gen, n, shot_range=shot_range)
    else:
        s = torch.full((n,), float(shot))
        r = torch.full((n,), float(read if read is not None else nm.upi_mean_read(torch.tensor(shot))))
    noisy = nm.add_poisson_gaussian(clean, s.view(n, 1).expand(n, 4), r.view(n, 1).expand(n, 4), gen)
    return {"clean": clean, "noisy": noisy, "shot": s.float(), "read": r.float(), "scale": scale,
            "wb": meta["wb"], "ccm": meta["ccm"]}


class LabelledBank:
    """Small labelled images from an ``.npz`` (CIFAR-10 subset: ``x_train`` (N, 32, 32, 3) uint8,
    ``y_train``, ``x_test``, ``y_test``, ``class_names``; grey sets (N, H, W) also work).

    ``val`` training images are held out (calibration / model selection split), stratified: the
    last ``val // K`` images of each of the K classes. (The CIFAR-10 subset is stored sorted by
    class: taking the last ``val`` images would hold out one whole class and never train on it.)
    """

    def __init__(self, path, val: int = 1000, pad: int = 4):
        z = np.load(path)
        xt, yt = z["x_train"], np.asarray(z["y_train"])
        self.class_names = [str(c) for c in z["class_names"]]
        self.pad = pad
        per = val // max(1, len(self.class_names)) if val else 0
        hold = np.zeros(len(yt), bool)
        if per:
            for c in np.unique(yt):
                hold[np.flatnonzero(yt == c)[-per:]] = True
        self.splits = {"train": (xt[~hold], yt[~hold]), "val": (xt[hold], yt[hold]),
                       "test": (z["x_test"], z["y_test"])}

    @staticmethod
    def _t(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).float() / 255.0
        return t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images (N, C, H, W) float32 in [0, 1], labels (N,) int64) of "train", "val" or "test"."""
        x, y = self.splits[name]
        return self._t(x), torch.from_numpy(np.asarray(y)).long()

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random training images and their labels: (n, C, H, W) float32 in [0, 1], (n,) int64.

        Augmented as usual for CIFAR: random horizontal flip, then a random H x W crop of the
        image reflect-padded by ``pad`` pixels (shifts of up to ``pad`` px).
        """
        x, y = self.splits["train"]
        idx = torch.randint(len(x), (n,), generator=gen).numpy()
        t = self._t(x[idx])
        flip = torch.rand(n, generator=gen) < 0.5
        t[flip] = t[flip].flip(-1)
        if self.pad:
            h, w = t.shape[-2:]
            tp = torch.nn.functional.pad(t, (self.pad,) * 4, mode="reflect")
            off = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=gen)
            t = torch.stack([tp[i, :, int(o[0]):int(o[0]) + h, int(o[1]):int(o[1]) + w] for i, o in enumerate(off)])
        return t, torch.from_numpy(np.asarray(y)[idx]).long()


class PhotoViewBank:
    """Labelled photographs shown as a small-image classifier sees them (classifier recipes'
    ``data.photos``): the photo's main-subject class, or -1 when it shows none of the classes
    (outlier exposure: such views are trained towards a flat distribution).

    rows: (set, image, label) from :func:`edgeden.training.photo_eval.load_labels`; class_names:
    the classifier's classes (other labels count as none). Photos are held area-downsampled to
    ``keep`` px on the short side (float32). ``in_class_frac``: the share of each batch drawn
    from the photos that show one of the classes (None: every photo equally likely).
    """

    def __init__(self, rows, class_names, size: int = 32, keep: int = 160, in_class_frac: float | None = None):
        from edgeden.training.photo_eval import read_photo

        if not rows:
            raise ValueError("no labelled photos")
        idx = {c: i for i, c in enumerate(class_names)}
        self.size, self.photos, self.labels = size, [], []
        for s, img, lab in rows:
            t = torch.from_numpy(read_photo(s, img)).permute(2, 0, 1)[None]
            h, w = t.shape[-2:]
            f = keep / min(h, w)
            self.photos.append(torch.nn.functional.adaptive_avg_pool2d(t, (max(1, round(h * f)), max(1, round(w * f))))[0])
            self.labels.append(idx.get(lab, -1))
        self.in_class_frac = in_class_frac
        self._pos = [i for i, v in enumerate(self.labels) if v >= 0]
        self._neg = [i for i, v in enumerate(self.labels) if v < 0]

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random views: (n, 3, size, size) float32 in [0, 1] and labels (n,) int64 (-1: none).

        Each view is, with equal odds, the whole frame squashed to a square (the product's
        ``frame`` view), a square of the short edge at a random place, or a random square of
        0.4-1 x the short edge; then mirrored with probability 1/2.
        """
        if self.in_class_frac is not None and self._pos and self._neg:
            k = int(round(n * self.in_class_frac))
            pos = torch.tensor(self._pos)[torch.randint(len(self._pos), (k,), generator=gen)]
            neg = torch.tensor(self._neg)[torch.randint(len(self._neg), (n - k,), generator=gen)]
            idx = torch.cat([pos, neg])
        else:
            idx = torch.randint(len(self.photos), (n,), generator=gen)
        kinds = torch.randint(3, (n,), generator=gen)
        u = torch.rand(n, 3, generator=gen)
        views = []
        for i, k, r in zip(idx.tolist(), kinds.tolist(), u):
            p = self.photos[i]
            h, w = p.shape[-2:]
            if k == 0:
                c = p
            else:
                side = min(h, w) if k == 1 else max(1, int(min(h, w) * (0.4 + 0.6 * float(r[0]))))
                y, x = int((h - side) * float(r[1])), int((w - side) * float(r[2]))
                c = p[:, y:y + side, x:x + side]
            views.append(torch.nn.functional.adaptive_avg_pool2d(c[None], self.size)[0])
        v = torch.stack(views)
        flip = torch.rand(n, generator=gen) < 0.5
        v[flip] = v[flip].flip(-1)
        return v.clamp(0, 1), torch.tensor([self.labels[i] for i in idx.tolist()], dtype=torch.long)
