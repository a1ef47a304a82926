"""Explicit architecture registry (timm style).

Every architecture family registers one factory per variant name with ``@register_arch``.
A factory takes ``in_channels`` (1 grey, 3 RGB, 4 packed RGGB raw; +1 when a preset adds a
noise-level map), optional ``out_channels`` (defaults to ``in_channels``) and variant keyword
arguments, and returns an ``nn.Module``.

Model call contract (all architectures):
    input  x: float32 tensor (N, C_in, H, W), any H, W >= 1; values nominally in [0, 1]
              (k-sigma transformed raw may exceed 1).
    output either a tensor (N, C_out, H, W) -- the denoised image -- or a tuple whose first
              element is that tensor and whose other elements are auxiliary outputs
              (TSDN: stage-1 output; DC-Net: class logits). Use :func:`primary_output`.
Models never touch the disk; weights are loaded by ``edgeden.presets``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

_ARCHS: dict[str, Callable[..., nn.Module]] = {}
_PAPER: dict[str, dict[str, Any]] = {}


def register_arch(name: str, paper: dict[str, Any] | None = None):
    """Register ``fn(in_channels, out_channels=None, **kw) -> nn.Module`` under ``name``.

    ``paper`` optionally records the paper's complexity figures for ``edgeden models --archs``:
    ``{"params": int|None, "gmacs": float|None (GMACs), "input": [C, H, W]|None (the size the
    paper's figure refers to), "source": str, "note": str}``.
    Raises ValueError on a duplicate name.
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} is already registered")
        _ARCHS[name] = fn
        _PAPER[name] = dict(paper or {})
        return fn

    return deco


def list_archs() -> list[str]:
    """Sorted names of every registered architecture."""
    _import_families()
    return sorted(_ARCHS)


def paper_figures(name: str) -> dict[str, Any]:
    """The paper's stated complexity figures for ``name`` (may be empty)."""
    _import_families()
    return dict(_PAPER[name])


def create_arch(name: str, in_channels: int = 3, out_channels: int | None = None, **kwargs: Any) -> nn.Module:
    """Build architecture ``name`` for ``in_channels`` input channels.

    Example:
        >>> net = create_arch("unet-s", in_channels=3)
        >>> net(torch.zeros(1, 3, 37, 53)).shape
        torch.Size([1, 3, 37, 53])
    """
    _import_families()
    if name not in _ARCHS:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(sorted(_ARCHS))}")
    return _ARCHS[name](in_channels=in_channels, out_channels=out_channels, **kwargs)


def primary_output(out: torch.Tensor | tuple | list) -> torch.Tensor:
    """The denoised image of a model's output (see the module's call contract)."""
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def _import_families() -> None:
    # Import every family module so its @register_arch calls run (explicit list, no scanning).
    import importlib

    for mod in ("unet", "resunet", "dcnet", "dcnas", "dnresnet", "tsdn", "fanet", "scaoed"):
        try:
            importlib.import_module(f"edgeden.models.{mod}")
        except ModuleNotFoundError as e:  # a family not written yet
            if e.name != f"edgeden.models.{mod}":
                raise
