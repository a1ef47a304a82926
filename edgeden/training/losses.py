"""Training losses (pure functions on (N, C, H, W) float32 tensors)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss mean(sqrt((pred - target)^2 + eps^2)) (Charbonnier et al. 1994).

    pred, target: (N, C, H, W) float32. Returns a scalar tensor.
    """
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


def _gauss_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    ax = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :])[None, None]
    return w.expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5), per channel.

    x, y: (N, C, H, W) float32 with values in [0, data_range]; H, W >= ``size``.
    Returns a scalar tensor in [-1, 1] (1 = identical). Differentiable.
    """
    c = x.shape[1]
    w = _gauss_window(size, sigma, c, x.device, x.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x = F.conv2d(x, w, groups=c)
    mu_y = F.conv2d(y, w, groups=c)
    sxx = F.conv2d(x * x, w, groups=c) - mu_x**2
    syy = F.conv2d(y * y, w, groups=c) - mu_y**2
    sxy = F.conv2d(x * y, w, groups=c) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return s.mean()


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude per channel: (N, C, H, W) -> (N, C, H, W) (replicate padding)."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=x.dtype, device=x.device)
    k = torch.stack([kx, kx.t()])[:, None]  # (2,1,3,3)
    c = x.shape[1]
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate").reshape(-1, 1, x.shape[2] + 2, x.shape[3] + 2)
    g = F.conv2d(xp, k).reshape(x.shape[0], c, 2, x.shape[2], x.shape[3])
    return torch.sqrt((g**2).sum(2) + 1e-12)


def edge_aware(pred: torch.Tensor, target: torch.Tensor, w: float = 0.025) -> torch.Tensor:
    """DN-ResNet edge-aware loss: MSE + w * MSE of Sobel magnitude maps (Ren et al., paper 003)."""
    return F.mse_loss(pred, target) + w * F.mse_loss(sobel_magnitude(pred), sobel_magnitude(target))


def combined(pred: torch.Tensor, target: torch.Tensor, weights: dict[str, float]) -> torch.Tensor:
    """Weighted sum of named losses: keys ``charbonnier``, ``ssim`` (as 1 - SSIM), ``l1``,
    ``mse``, ``edge_aware``. pred/target: (N, C, H, W) float32. Returns a scalar."""
    total = pred.new_zeros(())
    for name, wt in weights.items():
        if not wt:
            continue
        if name == "charbonnier":
            v = charbonnier(pred, target)
        elif name == "ssim":
            v = 1.0 - ssim(pred.clamp(0, 1), target)
        elif name == "l1":
            v = F.l1_loss(pred, target)
        elif name == "mse":
            v = F.mse_loss(pred, target)
        elif name == "edge_aware":
            v = edge_aware(pred, target)
        else:
            raise ValueError(f"unknown loss {name!r}")
        total = total + wt * v
    return total
