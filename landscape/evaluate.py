"""Loss and accuracy of a model on a prepared tensor of inputs: the inner loop of evaluation.

Used by training (per-epoch test score) and by the surface engine (every grid point).
Inputs arrive normalised and on the device; this module never touches files or images.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import normalize
from .runtime import autocast


@dataclass(frozen=True)
class Score:
    """Mean cross-entropy (nats) and accuracy (fraction correct) over a set of examples."""

    loss: float
    accuracy: float


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
