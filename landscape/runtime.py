"""Where and how computation runs: device choice, precision, library versions.

Shared by the training and evaluation stages; changes no process-wide state.
"""
from __future__ import annotations

import contextlib
import platform
from typing import Literal

import torch

from .errors import LandscapeError, require_choice

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' → the first CUDA GPU if there is one, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LandscapeError(f"unknown device {name!r}; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LandscapeError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu")
    return device


def autocast(device: torch.device, precision: str):
    """A context manager running matmuls and convolutions in `precision` (fp32 = no autocast)."""
    require_choice("precision", precision, PRECISIONS)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def library_versions() -> dict[str, str]:
    """Versions that decide the numbers, recorded with every output."""
    import numpy
    import torchvision

    from . import __version__

    versions = {"landscape": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                "numpy": numpy.__version__, "python": platform.python_version()}
    return {k: str(v) for k, v in versions.items()}  # torch.__version__ is a str subclass torch.load rejects
