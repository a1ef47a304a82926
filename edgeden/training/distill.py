"""Knowledge distillation from a trained teacher (FA-Net, papers/001 Sec. 3.2).

Two losses, both against a frozen teacher that takes the same input as the student:
  * simple distillation (eq. 4): ``kd * |student(x) - teacher(x)|`` (mean absolute error);
  * Feature Matching Loss: a perceptual loss whose feature extractor is the teacher denoiser
    itself: its multi-scale features (``forward_features``) of the student's output and of the
    clean target are matched -- content (mean squared feature difference, ``fm``) and style
    (Gram matrices, ``fm_style``), averaged over the feature maps, as in Johnson et al. 2016.
    The teacher sees an image as an input only with the recipe's extra channels (the noise
    map), so both images get the noisy input's extra channels appended.

Recipe::

    teacher: {arch: tsdn, weights: preset:tsdn/members.0}   # see edgeden.training.weights
    loss: {charbonnier: 1.0, kd: 1.0, fm: 1.0}
"""
from __future__ import annotations

from typing import Any

import torch

from edgeden.models import create_arch, primary_output


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix (N, C, C) of features (N, C, H, W), normalised by C*H*W."""
    n, c, h, w = f.shape
    v = f.reshape(n, c, h * w)
    return v @ v.transpose(1, 2) / (c * h * w)


class Teacher:
    """A frozen denoiser giving distillation targets.

    Args:
        spec: the recipe's ``teacher`` mapping: ``arch``, ``weights`` (a reference of
            :mod:`edgeden.training.weights`), optional ``arch_args``.
        in_channels, out_channels: as the student's (the teacher must take the same input).
    """

    def __init__(self, spec: dict[str, Any], in_channels: int, out_channels: int, source: str | None = None):
        from edgeden.training.weights import load_init

        self.net = create_arch(spec["arch"], in_channels=in_channels, out_channels=out_channels,
                               **spec.get("arch_args", {}))
        self.net.load_state_dict(load_init(spec["weights"], source))
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.out_channels = out_channels

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher output (N, out_channels, H, W) for the model input x (N, C_in, H, W)."""
        return primary_output(self.net(x))

    def features(self, img: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
        """Teacher features of image ``img`` (N, out_channels, H, W, model domain) given the
        extra input channels of ``x``; gradients flow to ``img``."""
        if not hasattr(self.net, "forward_features"):
            raise ValueError(f"teacher {type(self.net).__name__} has no forward_features for the feature matching loss")
        extra = x[:, self.out_channels:]
        return self.net.forward_features(torch.cat([img, extra], 1))[1]

    def losses(self, pred: torch.Tensor, x: torch.Tensor, y: torch.Tensor, domain,
               weights: dict[str, float]) -> torch.Tensor:
        """Weighted sum of the distillation terms named in ``weights`` (kd, fm, fm_style).

        pred: student output (N, C, H, W) in the model's domain; y: the clean target in the
        target's domain; domain: the batch's ``batches.DomainMap``. The kd term is measured in
        the target's domain (where the image loss is), the features on model-domain images."""
        loss = torch.zeros(())
        if weights.get("kd"):
            loss = loss + float(weights["kd"]) * (domain(pred) - domain(self.predict(x))).abs().mean()
        if weights.get("fm") or weights.get("fm_style"):
            fp = self.features(pred, x)
            with torch.no_grad():
                ft = self.features(domain.pre(y), x)
            content = sum(torch.mean((a - b) ** 2) for a, b in zip(fp, ft)) / len(fp)
            loss = loss + float(weights.get("fm", 0.0)) * content
            if weights.get("fm_style"):
                style = sum(torch.mean((gram(a) - gram(b)) ** 2) for a, b in zip(fp, ft)) / len(fp)
                loss = loss + float(weights["fm_style"]) * style
        return loss
