"""PyTorch imported on first use, so that a run that never needs it never pays for it.

``import torch`` costs 2-3 s on the 2-core dev machine, more than decoding and packing a 24 MP
raw. A preset run by ONNX Runtime from a cached graph needs no PyTorch at all (decode, pack,
noise, tiles, unpack, DNG, renders and previews are numpy), so the modules on that path name
torch through :data:`torch` here: a stand-in whose first attribute access imports the real
module. Code that only runs with PyTorch (training, models, evaluation) imports it as usual.
"""
from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["LazyModule", "torch", "F", "is_tensor", "torch_loaded"]


class LazyModule:
    """A module imported at the first attribute access: ``LazyModule("torch").zeros(3)``.

    Only attribute access is deferred; ``isinstance(x, torch.Tensor)`` imports the module (use
    :func:`is_tensor` where the value may be a numpy array in a run without PyTorch)."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str) -> Any:
        first = "torch" not in sys.modules
        mod = importlib.import_module(self._name)
        if first and "torch" in sys.modules:  # the CLI's --threads, now that PyTorch is here
            from edgeden.core.precision import apply_threads

            apply_threads()
        return getattr(mod, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (imported)' if self._name in sys.modules else ''}>"


#: ``torch`` and ``torch.nn.functional``, imported when first used.
torch = LazyModule("torch")
F = LazyModule("torch.nn.functional")


def torch_loaded() -> bool:
    """Whether PyTorch has been imported in this process."""
    return "torch" in sys.modules


def is_tensor(x: Any) -> bool:
    """``isinstance(x, torch.Tensor)`` without importing PyTorch (no tensor can exist before it is)."""
    t = sys.modules.get("torch")
    return t is not None and isinstance(x, t.Tensor)
