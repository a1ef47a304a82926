"""Inference precision: fp32, or bf16 autocast where the CPU has native bf16.

On CPUs with AVX512-BF16 or AMX, bf16 autocast runs the shipped presets' convolutions 1.9-2.8x
faster than fp32 for a PSNR change of about 0.01 dB (measured: docs/benchmarks.md);
on CPUs without them bf16 is emulated and several times *slower*, so ``auto`` uses it only
where it is native. Choose with ``set_precision`` (the CLI's ``--precision``) or the
``EDGEDEN_PRECISION`` environment variable (auto, fp32, bf16).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from edgeden.core.lazy import torch

__all__ = ["PRECISIONS", "cpu_name", "native_bf16", "set_precision", "use_bf16", "precision_name",
           "set_threads", "threads"]

PRECISIONS = ("auto", "fp32", "bf16")
_choice: str | None = None
_threads: int | None = None


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo, or
    torch reports AMX). AVX512 alone is not enough: without the BF16 extension it is emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # no /proc (macOS, Windows): ask PyTorch
        return "AMX" in torch.backends.cpu.get_cpu_capability().upper()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo, else the platform's), for benchmark reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def set_precision(choice: str | None) -> None:
    """Set the inference precision for this process: "auto", "fp32", "bf16" (None: from the
    environment, default auto). Raises ValueError for anything else."""
    global _choice
    if choice is not None and choice not in PRECISIONS:
        raise ValueError(f"precision {choice!r}: choose one of {', '.join(PRECISIONS)}")
    _choice = choice


def use_bf16() -> bool:
    """Whether inference runs under bf16 autocast now (see the module docstring)."""
    choice = _choice or os.environ.get("EDGEDEN_PRECISION", "auto").strip().lower() or "auto"
    if choice not in PRECISIONS:
        raise ValueError(f"EDGEDEN_PRECISION={choice!r}: choose one of {', '.join(PRECISIONS)}")
    return choice == "bf16" or (choice == "auto" and native_bf16())


def precision_name() -> str:
    """"bf16" or "fp32": what inference runs in now, for sidecars and evaluation records."""
    return "bf16" if use_bf16() else "fp32"


def set_threads(n: int | None) -> None:
    """Threads for inference in this process (the CLI's ``--threads``; None: the default). Sets
    PyTorch's when PyTorch is loaded (else :func:`apply_threads` does when a PyTorch network is
    built) and ONNX Runtime sessions created from now on take it (:func:`threads`)."""
    global _threads
    _threads = int(n) if n else None
    apply_threads()


def apply_threads() -> None:
    """Give PyTorch the thread count of :func:`set_threads`, if one was set and PyTorch is loaded."""
    if _threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(_threads)


def threads() -> int | None:
    """Inference threads now: those of :func:`set_threads`, else PyTorch's when it is loaded,
    else None (the engine's own default: ONNX Runtime takes one per physical core, as PyTorch)."""
    if _threads:
        return _threads
    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    return None
