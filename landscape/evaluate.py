"""Loss and accuracy of a model on a prepared tensor of inputs: the inner loop of evaluation,
and the fixed evaluation sets it runs on.

Used by training (per-epoch test score), by the surface engine (every grid point) and by the
checkpoint metrics. Inputs arrive normalised and on the device; only `load_eval_set` reads data.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import balanced_subset, load_cifar10, normalize
from .errors import LandscapeError
from .runtime import autocast


@dataclass(frozen=True)
class Score:
    """Mean cross-entropy (nats) and accuracy (fraction correct) over a set of examples."""

    loss: float
    accuracy: float


@dataclass(frozen=True)
class EvalSet:
    """One split's prepared inputs [N, C, H, W] (normalised, on the device) and labels [N]."""

    split: str
    inputs: torch.Tensor
    labels: torch.Tensor
    source: str = ""


def evaluate(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 128, precision: str = "fp32") -> Score:
    """Score `model` in its current mode on inputs [N, 3, H, W] (normalised) and labels [N]."""
    total_loss = torch.zeros((), dtype=torch.float64, device=inputs.device)
    correct = torch.zeros((), dtype=torch.int64, device=inputs.device)
    with torch.inference_mode(), autocast(inputs.device, precision):
        for start in range(0, len(labels), batch_size):
            logits = model(inputs[start:start + batch_size])
            if logits.dtype in (torch.bfloat16, torch.float16):
                logits = logits.float()
            target = labels[start:start + batch_size]
            total_loss += F.cross_entropy(logits, target, reduction="sum")
            correct += (logits.argmax(1) == target).sum()
    n = len(labels)
    return Score(float(total_loss) / n, int(correct) / n)


def prepare_inputs(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images → normalised float32 on `device` in channels_last (faster convolutions)."""
    return normalize(images.to(device)).contiguous(memory_format=torch.channels_last)


def load_eval_set(data: str | None, split: str, samples: int, data_seed: int, device: torch.device,
                  quiet: bool = False) -> EvalSet:
    """The same class-balanced `samples` images of `split` for every point and every model, prepared
    on `device`; more than the split holds is refused."""
    images = load_cifar10(data, split, quiet=quiet)
    if samples > len(images):
        raise LandscapeError(f"--samples {samples} is more than the {len(images):,} images of the {split} split")
    chosen = images.subset(balanced_subset(images.labels, samples, data_seed))
    return EvalSet(split, prepare_inputs(chosen.images, device), chosen.labels.to(device), images.source)
