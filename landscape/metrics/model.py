"""Numbers that need the model and data (the Hessian aside: `hessian`): gradient norms by layer,
dead units, the loss's sampling error.

Stage: checkpoint → metrics. Dead units by forward hooks on every activation the registry
recognises (`activations.is_activation`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import LandscapeError
from landscape.sources.activations import is_activation


@dataclass(frozen=True)
class DeadUnits:
    """Per activation site: channels never positive, and channels below eps in magnitude everywhere."""

    site: str
    channels: int
    never_positive: float
    below_eps: float


@dataclass(frozen=True)
class LossSpread:
    """The loss at the checkpoint and its standard error over the N images."""

    loss: float
    standard_error: float
    images: int


def gradient_norms(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Per weight tensor (dim > 1, in layer order): the norm of the gradient of the mean cross-entropy
    on these examples, in train mode as training sees it: vanishing or exploding gradients by layer.
    The model's buffers (BatchNorm statistics), its .grad fields and every random state are left as
    they were, so measuring does not change a training run."""
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    was_training = model.training
    weights = [(name, p) for name, p in model.named_parameters() if p.dim() > 1]
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        model.train()
        loss = F.cross_entropy(model(inputs).float(), labels)
        grads = torch.autograd.grad(loss, [p for _, p in weights])
    with torch.no_grad():
        for name, value in model.named_buffers():
            value.copy_(buffers[name])
    model.train(was_training)
    return {name: float(g.norm()) for (name, _), g in zip(weights, grads)}


def dead_units(model: nn.Module, inputs: torch.Tensor, eps: float = 1e-6, batch_size: int = 200) -> list[DeadUnits]:
    """For every activation module: the share of channels (dim 1) whose output is never > 0, and
    the share whose |output| < eps for every image and position (the dying-ReLU measure)."""
    model.eval()
    peaks: dict[str, list[torch.Tensor]] = {}

    def record(name):
        def hook(_module, _inputs, output):
            dims = [d for d in range(output.dim()) if d != 1]
            maxima = output.detach().float().amax(dim=dims)
            magnitude = output.detach().float().abs().amax(dim=dims)
            if name in peaks:
                peaks[name] = [torch.maximum(peaks[name][0], maxima), torch.maximum(peaks[name][1], magnitude)]
            else:
                peaks[name] = [maxima, magnitude]
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if is_activation(m)]
    if not handles:
        raise LandscapeError("the model has no activation modules to inspect for dead units")
    try:
        with torch.inference_mode():
            for start in range(0, len(inputs), batch_size):
                model(inputs[start:start + batch_size])
    finally:
        for h in handles:
            h.remove()
    return [DeadUnits(name, len(maxima), float((maxima <= 0).float().mean()), float((magnitude < eps).float().mean()))
            for name, (maxima, magnitude) in peaks.items()]


def loss_spread(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 200) -> LossSpread:
    """Mean loss and its standard error (std of per-image losses / √N): the noise floor for
    comparing two models' losses on the same N images."""
    model.eval()
    with torch.inference_mode():
        losses = torch.cat([F.cross_entropy(model(inputs[i:i + batch_size]).float(), labels[i:i + batch_size],
                                            reduction="none") for i in range(0, len(labels), batch_size)]).double()
    return LossSpread(float(losses.mean()), float(losses.std() / math.sqrt(len(losses))), len(losses))
