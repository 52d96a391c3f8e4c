"""Numbers that need the model and data: Hessian spectrum, dead units, the loss's sampling error.

Stage: checkpoint → metrics. Hessian-vector products by double backward; dead units by
forward hooks on every activation the registry recognises (`activations.is_activation`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import LandscapeError
from landscape.metrics.options import HessianOptions
from landscape.progress import progress
from landscape.runtime import side_by_side
from landscape.sources.activations import is_activation


@dataclass(frozen=True)
class HessianSpectrum:
    """Top eigenvalues (largest magnitude first) and Hutchinson trace of the loss Hessian."""

    eigenvalues: list[float]
    trace: float
    trace_ci95: float  # half-width of the 95 % confidence interval of the trace estimate
    trace_samples: int
    images: int


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


def batches(inputs: torch.Tensor, labels: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, labels) batch by batch, inputs in the default memory layout (BatchNorm's double
    backward is slow in channels_last)."""
    return [(inputs[start:start + batch_size].contiguous(), labels[start:start + batch_size])
            for start in range(0, len(labels), batch_size)]


def product_batches(inputs: torch.Tensor, labels: torch.Tensor, batch_size: int) -> tuple[list, int]:
    """The batches of the products and how many run side by side: on a CPU at least one batch per
    torch thread, each product batch in its own thread (small convolutions use several cores
    better side by side than split within one operation: benchmarks/bench_surface.py); on a GPU one
    batch at a time."""
    workers = torch.get_num_threads() if inputs.device.type == "cpu" else 1
    size = min(batch_size, math.ceil(len(labels) / workers))
    return batches(inputs, labels, max(1, size)), workers


def _summed(parts: list[tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
    return [torch.stack(column).sum(0) for column in zip(*parts)]


def hessian_vector_product(model: nn.Module, params: list[torch.Tensor], inputs: torch.Tensor,
                           labels: torch.Tensor, vector: list[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
    """H·v for the mean cross-entropy over all inputs, by double backward, batch by batch (each
    product runs the forward and first backward pass again: memory stays that of the batches in flight)."""
    def product(batch):
        x, y = batch
        loss = F.cross_entropy(model(x), y, reduction="sum") / len(labels)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        return tuple(h.detach() for h in torch.autograd.grad(grads, params, grad_outputs=vector))
    parts, workers = product_batches(inputs, labels, batch_size)
    return _summed(side_by_side(product, parts, workers))


class KeptGradientGraphs:
    """v ↦ H·v like `hessian_vector_product`, with each batch's gradient graph built once and kept:
    a product is then one backward pass per batch (PyHessian's approach; about twice as fast, at
    the memory of every batch's double-backward graph)."""

    def __init__(self, model: nn.Module, params: list[torch.Tensor], inputs: torch.Tensor, labels: torch.Tensor,
                 batch_size: int):
        self.params = params
        parts, self.workers = product_batches(inputs, labels, batch_size)

        def graph(batch):
            x, y = batch
            loss = F.cross_entropy(model(x), y, reduction="sum") / len(labels)
            return torch.autograd.grad(loss, params, create_graph=True)
        self.gradients = side_by_side(graph, parts, self.workers)

    def __call__(self, vector: list[torch.Tensor]) -> list[torch.Tensor]:
        return _summed(side_by_side(
            lambda grads: torch.autograd.grad(grads, self.params, grad_outputs=vector, retain_graph=True),
            self.gradients, self.workers))


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def _normalised(v: list[torch.Tensor]) -> list[torch.Tensor]:
    norm = torch.sqrt(_dot(v, v))
    return [x / norm for x in v]


def hessian_spectrum(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                     options: HessianOptions = HessianOptions(), quiet: bool = False,
                     label: str = "") -> HessianSpectrum:
    """Top-k eigenvalues by power iteration with deflation, and the trace by Hutchinson's estimator
    (E[vᵀHv] with Rademacher v), of the training loss at the model's current weights, eval mode;
    `label` names the model on the progress line."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(options.seed)
    bar = progress(options.top_k * options.iterations + options.trace_samples, f"hessian {label}".strip(), "hvp",
                   quiet)
    kept = KeptGradientGraphs(model, params, inputs, labels, options.batch_size) if options.keep_graph else None

    def hvp(v):
        bar.update()
        return kept(v) if kept else hessian_vector_product(model, params, inputs, labels, v, options.batch_size)

    eigenvalues, eigenvectors = [], []
    for _ in range(options.top_k):
        v = _normalised([torch.randn(p.shape, generator=generator).to(p) for p in params])
        value = 0.0
        for _ in range(options.iterations):
            for u in eigenvectors:  # deflation: stay orthogonal to the eigenvectors found so far
                v = [a - _dot(v, u) * b for a, b in zip(v, u)]
            hv = hvp(v)
            new_value = float(_dot(hv, v))
            v = _normalised(hv)
            converged = abs(new_value - value) <= options.tolerance * (abs(value) + 1e-12)
            value = new_value
            if converged:
                break
        eigenvalues.append(value)
        eigenvectors.append(v)
    estimates = []
    for _ in range(options.trace_samples):
        v = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params]
        estimates.append(float(_dot(hvp(v), v)))
    bar.close()
    spread = float(np.std(estimates, ddof=1)) if len(estimates) > 1 else float("nan")
    return HessianSpectrum(eigenvalues, float(np.mean(estimates)), 1.96 * spread / math.sqrt(len(estimates)),
                           options.trace_samples, len(labels))


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
        losses = torch.cat([F.cross_entropy(model(x).float(), y, reduction="none")
                            for x, y in batches(inputs, labels, batch_size)]).double()
    return LossSpread(float(losses.mean()), float(losses.std() / math.sqrt(len(losses))), len(losses))
