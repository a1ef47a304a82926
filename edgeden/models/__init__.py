"""Model zoo: one architecture family per module, registered by name.

Public entry points: :func:`list_archs`, :func:`create_arch`, :func:`primary_output`. They are
loaded on first use (PEP 562), so that ``edgeden.models.onnx_backend`` can be imported without
PyTorch (see ``edgeden.core.lazy``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_arch", "list_archs", "paper_figures", "primary_output", "register_arch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edgeden.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'edgeden.models' has no attribute {name!r}")
