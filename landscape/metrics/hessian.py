"""The Hessian of the training loss at a checkpoint: λmax, trace and spectrum, with their noise.

Stage: checkpoint → metrics. Every number comes from Hessian-vector products (double backward),
never from the Hessian itself:
- λmax by power iteration from several random starts, each start's value, length and convergence
  kept, so a start that stopped early or found another eigenvalue shows;
- the trace by Hutchinson's estimator, E[vᵀHv] over Rademacher probes v, every probe's value
  kept, so the probe noise can be checked and carried into any comparison;
- a Lanczos run, whose largest Ritz value cross-checks λmax and whose Ritz values and weights
  are the stochastic-Lanczos-quadrature estimate of the spectral density (Ghorbani et al. 2019).
Probes and starts are drawn from a seed mixed with the weights (`HessianOptions.independent_probes`):
two models never share probes, so the scatter of their estimates, and any interval built on it,
includes the probe noise instead of cancelling it.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from landscape.metrics.options import HessianOptions
from landscape.progress import progress
from landscape.runtime import side_by_side


@dataclass(frozen=True)
class PowerRun:
    """One power-iteration start: its eigenvalue estimate, products used, and whether it converged."""

    value: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class HessianSpectrum:
    """λmax (the largest of the starts), further eigenvalues by deflation, the trace with every probe
    value, and the Lanczos Ritz values and weights."""

    eigenvalues: list[float]  # largest magnitude first; [0] is λmax
    starts: list[PowerRun]  # λmax from each random start
    trace_probes: list[float]  # vᵀHv for each Rademacher probe v
    ritz_values: list[float]  # of the Lanczos run, ascending
    ritz_weights: list[float]  # their share of the spectral density (sum 1)
    probe_seed: int
    images: int

    @property
    def trace(self) -> float:
        return float(np.mean(self.trace_probes))

    @property
    def trace_ci95(self) -> float:
        """Half-width of the 95 % interval of the trace from the probe scatter (the probe-noise floor)."""
        n = len(self.trace_probes)
        return 1.96 * float(np.std(self.trace_probes, ddof=1)) / math.sqrt(n) if n > 1 else float("nan")

    @property
    def lanczos_max(self) -> float:
        return self.ritz_values[-1] if self.ritz_values else float("nan")

    def flat(self) -> dict:
        """The headline numbers as one row: eigenvalues, trace ± its probe noise, how the λmax starts
        agree and converged, the Lanczos cross-check."""
        values = [s.value for s in self.starts]
        return {**{f"hessian_eig_{i + 1}": v for i, v in enumerate(self.eigenvalues)},
                "hessian_max_starts": len(values), "hessian_max_converged": sum(s.converged for s in self.starts),
                "hessian_max_spread": (max(values) - min(values)) / abs(max(values)) if values else float("nan"),
                "hessian_lanczos_max": self.lanczos_max, "hessian_trace": self.trace,
                "hessian_trace_ci95": self.trace_ci95, "hessian_trace_probes": len(self.trace_probes),
                "hessian_probe_seed": self.probe_seed, "hessian_images": self.images}

    def detail(self) -> dict:
        """Everything, per start and per probe, for a JSON record."""
        return asdict(self)


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


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return float(sum((x.double() * y.double()).sum() for x, y in zip(a, b)))


def _normalised(v: list[torch.Tensor]) -> list[torch.Tensor]:
    norm = math.sqrt(_dot(v, v))
    return [x / norm for x in v]


def _minus_projection(v: list[torch.Tensor], onto: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """v with its components along each (unit) vector of `onto` removed."""
    for u in onto:
        coefficient = _dot(v, u)
        v = [a - coefficient * b for a, b in zip(v, u)]
    return v


def probe_seed(options: HessianOptions, params: list[torch.Tensor]) -> int:
    """The seed of the probes and starts: options.seed, mixed with a digest of the weights when
    probes are independent per model (the same model always gets the same probes)."""
    if not options.independent_probes:
        return options.seed
    digest = hashlib.sha256(str(options.seed).encode())
    for p in params:
        digest.update(p.detach().float().cpu().numpy().tobytes())
    return int.from_bytes(digest.digest()[:7], "big")


def power_iteration(hvp, start: list[torch.Tensor], found: list[list[torch.Tensor]],
                    options: HessianOptions) -> tuple[PowerRun, list[torch.Tensor]]:
    """The eigenvalue of largest magnitude orthogonal to the unit vectors `found`, from `start`: at
    most options.iterations products, stopping at relative change options.tolerance."""
    v, value = _normalised(start), 0.0
    for step in range(1, options.iterations + 1):
        hv = hvp(_minus_projection(v, found))
        new_value = _dot(hv, v)
        v = _normalised(_minus_projection(hv, found))
        converged = abs(new_value - value) <= options.tolerance * abs(new_value)
        value = new_value
        if converged:
            return PowerRun(value, step, True), v
    return PowerRun(value, options.iterations, False), v


def lanczos(hvp, start: list[torch.Tensor], steps: int) -> tuple[list[float], list[float]]:
    """Ritz values (ascending) and weights after `steps` Lanczos steps from `start`, every new vector
    reorthogonalised against all earlier ones (in floating point the three-term recurrence alone
    loses orthogonality and repeats eigenvalues). A weight is the squared first component of its
    Ritz vector: the spectral density's mass at that value."""
    basis, alphas, betas = [_normalised(start)], [], []
    for step in range(steps):
        w = hvp(basis[-1])
        alphas.append(_dot(w, basis[-1]))
        w = _minus_projection(_minus_projection(w, basis), basis)  # twice: full reorthogonalisation
        beta = math.sqrt(_dot(w, w))
        if step == steps - 1 or beta <= 1e-10 * max(abs(a) for a in alphas):
            break  # an invariant subspace: the Ritz values are exact eigenvalues
        betas.append(beta)
        basis.append([x / beta for x in w])
    tridiagonal = np.diag(alphas) + np.diag(betas[:len(alphas) - 1], 1) + np.diag(betas[:len(alphas) - 1], -1)
    values, vectors = np.linalg.eigh(tridiagonal)
    return values.tolist(), (vectors[0] ** 2).tolist()


def hessian_spectrum(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                     options: HessianOptions = HessianOptions(), quiet: bool = False,
                     label: str = "") -> HessianSpectrum:
    """λmax from options.starts power-iteration starts (further eigenvalues by deflation), the
    Hutchinson trace over options.trace_samples probes and an options.lanczos_steps Lanczos run, of
    the mean cross-entropy at the model's current weights in eval mode; `label` names the model on
    the progress line."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    seed = probe_seed(options, params)
    generator = torch.Generator().manual_seed(seed)
    products = (options.starts + options.top_k - 1) * options.iterations + options.trace_samples + options.lanczos_steps
    bar = progress(products, f"hessian {label}".strip(), "hvp", quiet)
    kept = KeptGradientGraphs(model, params, inputs, labels, options.batch_size) if options.keep_graph else None

    def hvp(v):
        bar.update()
        return kept(v) if kept else hessian_vector_product(model, params, inputs, labels, v, options.batch_size)

    def gaussian():
        return [torch.randn(p.shape, generator=generator).to(p) for p in params]

    starts = [power_iteration(hvp, gaussian(), [], options) for _ in range(options.starts)]
    best = max(starts, key=lambda run: abs(run[0].value))
    eigenvalues, found = [best[0].value], [best[1]]
    for _ in range(options.top_k - 1):  # deflation: orthogonal to the eigenvectors found so far
        run, vector = power_iteration(hvp, gaussian(), found, options)
        eigenvalues.append(run.value)
        found.append(vector)
    probes = []
    for _ in range(options.trace_samples):
        v = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params]
        probes.append(_dot(hvp(v), v))
    ritz_values, ritz_weights = lanczos(hvp, gaussian(), options.lanczos_steps) if options.lanczos_steps else ([], [])
    bar.close()
    return HessianSpectrum(eigenvalues, [run for run, _ in starts], probes, ritz_values, ritz_weights, seed,
                           len(labels))
