"""Model zoo: one architecture family per module, registered by name.

Public entry points: :func:`list_archs`, :func:`create_arch`, :func:`primary_output`.
"""
from edgeden.models.registry import create_arch, list_archs, paper_figures, primary_output, register_arch

__all__ = ["create_arch", "list_archs", "paper_figures", "primary_output", "register_arch"]
