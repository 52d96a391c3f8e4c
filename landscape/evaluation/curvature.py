"""Curvature of the loss along weight-space vectors: Hessian-vector products, power iteration and
Lanczos, on vectors given as lists of tensors shaped like the model's parameters.

Stage: grid evaluation. Nothing here forms the Hessian: every number comes from products H·v
(double backward), so the cost is a few forward and backward passes per product whatever the
model's size. `metrics/hessian.py` builds the study's λmax, trace and density on these; the
surfaces use the Lanczos eigenvectors as directions and map λmin and λmax over a grid.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from landscape.errors import LandscapeError
from landscape.evaluation.evaluate import LossSum, cross_entropy_sum
from landscape.runtime import side_by_side

Vector = list[torch.Tensor]  # one tensor per parameter, in `model.parameters()` order
Product = Callable[[Vector], Vector]  # v ↦ H·v


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


def _summed(parts: list[tuple[torch.Tensor, ...]]) -> Vector:
    return [torch.stack(column).sum(0) for column in zip(*parts)]


def trainable(model: nn.Module) -> list[torch.Tensor]:
    """The parameters the Hessian is taken over: those that require gradients, in model order."""
    return [p for p in model.parameters() if p.requires_grad]


def hessian_vector_product(model: nn.Module, params: Vector, inputs: torch.Tensor, labels: torch.Tensor,
                           vector: Vector, batch_size: int, loss: LossSum = cross_entropy_sum) -> Vector:
    """H·v for the mean `loss` over all inputs, by double backward, batch by batch (each product
    runs the forward and first backward pass again: memory stays that of the batches in flight)."""
    def product(batch):
        x, y = batch
        total = loss(model(x), y) / len(labels)
        grads = torch.autograd.grad(total, params, create_graph=True)
        return tuple(h.detach() for h in torch.autograd.grad(grads, params, grad_outputs=vector))
    parts, workers = product_batches(inputs, labels, batch_size)
    return _summed(side_by_side(product, parts, workers))


class KeptGradientGraphs:
    """v ↦ H·v like `hessian_vector_product`, with each batch's gradient graph built once and kept:
    a product is then one backward pass per batch (PyHessian's approach; about twice as fast, at
    the memory of every batch's double-backward graph)."""

    def __init__(self, model: nn.Module, params: Vector, inputs: torch.Tensor, labels: torch.Tensor,
                 batch_size: int, loss: LossSum = cross_entropy_sum):
        self.params = params
        parts, self.workers = product_batches(inputs, labels, batch_size)

        def graph(batch):
            x, y = batch
            return torch.autograd.grad(loss(model(x), y) / len(labels), params, create_graph=True)
        self.gradients = side_by_side(graph, parts, self.workers)

    def __call__(self, vector: Vector) -> Vector:
        return _summed(side_by_side(
            lambda grads: torch.autograd.grad(grads, self.params, grad_outputs=vector, retain_graph=True),
            self.gradients, self.workers))


def finite_product(hvp: Product) -> Product:
    """`hvp`, refusing a product that is not finite: a Ritz value or eigenvalue built on it would be
    a wrong number."""
    def checked(v: Vector) -> Vector:
        out = hvp(v)
        if not all(bool(torch.isfinite(t).all()) for t in out):
            raise LandscapeError("a Hessian-vector product is NaN or infinite at these weights (the loss or its "
                                 "second derivative is not finite there; torch's own nn.Mish has a NaN second "
                                 "derivative for inputs above about 90: use landscape's Mish)")
        return out
    return checked


def dot(a: Vector, b: Vector) -> float:
    return float(sum((x.double() * y.double()).sum() for x, y in zip(a, b)))


def normalised(v: Vector) -> Vector:
    norm = math.sqrt(dot(v, v))
    return [x / norm for x in v]


def minus_projection(v: Vector, onto: list[Vector]) -> Vector:
    """v with its components along each (unit) vector of `onto` removed."""
    for u in onto:
        coefficient = dot(v, u)
        v = [a - coefficient * b for a, b in zip(v, u)]
    return v


def gaussian_vector(params: Vector, generator: torch.Generator) -> Vector:
    """A standard normal vector shaped like `params`, drawn on the CPU (device-independent)."""
    return [torch.randn(p.shape, generator=generator).to(p) for p in params]


@dataclass(frozen=True)
class PowerRun:
    """One power-iteration start: its eigenvalue estimate, products used, and whether it converged."""

    value: float
    iterations: int
    converged: bool


def power_iteration(hvp: Product, start: Vector, found: list[Vector], iterations: int,
                    tolerance: float) -> tuple[PowerRun, Vector]:
    """The eigenvalue of largest magnitude orthogonal to the unit vectors `found`, from `start`: at
    most `iterations` products, stopping at relative change `tolerance`."""
    v, value, hvp = normalised(start), 0.0, finite_product(hvp)
    for step in range(1, iterations + 1):
        hv = hvp(minus_projection(v, found))
        new_value = dot(hv, v)
        v = normalised(minus_projection(hv, found))
        converged = abs(new_value - value) <= tolerance * abs(new_value)
        value = new_value
        if converged:
            return PowerRun(value, step, True), v
    return PowerRun(value, iterations, False), v


@dataclass(frozen=True)
class LanczosRun:
    """The Ritz pairs of a Lanczos run, ascending. A weight is the squared first component of its
    Ritz vector (the spectral density's mass there, for a random start); a residual is ‖H·y − θ·y‖
    of the Ritz vector y, which bounds the distance from θ to an eigenvalue of H."""

    values: list[float]
    weights: list[float]
    residuals: list[float]
    vectors: list[Vector]  # of the values asked for (`lanczos(..., vectors=...)`), in the same order as `values`


def lanczos(hvp: Product, start: Vector, steps: int, vectors: int = 0) -> LanczosRun:
    """`steps` Lanczos steps from `start`, every new vector reorthogonalised against all earlier ones
    (in floating point the three-term recurrence alone loses orthogonality and repeats eigenvalues).
    Stops early at an invariant subspace, where the Ritz values are exact eigenvalues. With
    `vectors` = k > 0, the Ritz vectors of the k largest values are formed too (in `vectors`, the
    largest last, matching `values[-k:]`)."""
    basis, alphas, betas = [normalised(start)], [], []
    last_beta, hvp = 0.0, finite_product(hvp)
    for step in range(steps):
        w = hvp(basis[-1])
        alphas.append(dot(w, basis[-1]))
        w = minus_projection(minus_projection(w, basis), basis)  # twice: full reorthogonalisation
        last_beta = math.sqrt(dot(w, w))
        if step == steps - 1 or last_beta <= 1e-10 * max(abs(a) for a in alphas):
            break
        betas.append(last_beta)
        basis.append([x / last_beta for x in w])
    n = len(alphas)
    tridiagonal = np.diag(alphas) + np.diag(betas[:n - 1], 1) + np.diag(betas[:n - 1], -1)
    values, eigenvectors = np.linalg.eigh(tridiagonal)
    residuals = np.abs(last_beta * eigenvectors[-1])
    formed = [[sum(float(eigenvectors[j, i]) * basis[j][k] for j in range(n)) for k in range(len(start))]
              for i in range(max(0, n - vectors), n)] if vectors else []
    return LanczosRun(values.tolist(), (eigenvectors[0] ** 2).tolist(), residuals.tolist(), formed)
