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
from torch import nn

from landscape.evaluation.curvature import (
    KeptGradientGraphs,
    PowerRun,
    dot,
    gaussian_vector,
    hessian_vector_product,
    lanczos,
    power_iteration,
    trainable,
)
from landscape.metrics.options import HessianOptions
from landscape.progress import progress


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


def probe_seed(options: HessianOptions, params: list[torch.Tensor]) -> int:
    """The seed of the probes and starts: options.seed, mixed with a digest of the weights when
    probes are independent per model (the same model always gets the same probes)."""
    if not options.independent_probes:
        return options.seed
    digest = hashlib.sha256(str(options.seed).encode())
    for p in params:
        digest.update(p.detach().float().cpu().numpy().tobytes())
    return int.from_bytes(digest.digest()[:7], "big")


def hessian_spectrum(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                     options: HessianOptions = HessianOptions(), quiet: bool = False,
                     label: str = "") -> HessianSpectrum:
    """λmax from options.starts power-iteration starts (further eigenvalues by deflation), the
    Hutchinson trace over options.trace_samples probes and an options.lanczos_steps Lanczos run, of
    the mean cross-entropy at the model's current weights in eval mode; `label` names the model on
    the progress line."""
    model.eval()
    params = trainable(model)
    seed = probe_seed(options, params)
    generator = torch.Generator().manual_seed(seed)
    products = (options.starts + options.top_k - 1) * options.iterations + options.trace_samples + options.lanczos_steps
    bar = progress(products, f"hessian {label}".strip(), "hvp", quiet)
    kept = KeptGradientGraphs(model, params, inputs, labels, options.batch_size) if options.keep_graph else None

    def hvp(v):
        bar.update()
        return kept(v) if kept else hessian_vector_product(model, params, inputs, labels, v, options.batch_size)

    def gaussian():
        return gaussian_vector(params, generator)

    def power(found):
        return power_iteration(hvp, gaussian(), found, options.iterations, options.tolerance)

    starts = [power([]) for _ in range(options.starts)]
    best = max(starts, key=lambda run: abs(run[0].value))
    eigenvalues, found = [best[0].value], [best[1]]
    for _ in range(options.top_k - 1):  # deflation: orthogonal to the eigenvectors found so far
        run, vector = power(found)
        eigenvalues.append(run.value)
        found.append(vector)
    probes = []
    for _ in range(options.trace_samples):
        v = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params]
        probes.append(dot(hvp(v), v))
    ritz = lanczos(hvp, gaussian(), options.lanczos_steps) if options.lanczos_steps else None
    bar.close()
    return HessianSpectrum(eigenvalues, [run for run, _ in starts], probes, ritz.values if ritz else [],
                           ritz.weights if ritz else [], seed, len(labels))
