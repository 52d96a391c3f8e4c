"""`landscape adaptive-sharpness`: adaptive average-case and worst-case sharpness per checkpoint,
and how they rank against generalisation (Andriushchenko et al. 2023; adaptive sharpness: Kwon et
al. 2021).

Stage: checkpoint → metrics. Perturbations are relative to each weight, δ = c ⊙ u with c = |w|, so
rescaling a layer does not change them. Only weights and biases move; BatchNorm's own parameters
and statistics stay, and the model is scored in eval mode. Per batch S of m images (m-sharpness):
- average case: E_u L_S(w + c ⊙ u) − L_S(w), u ~ N(0, ρ²) elementwise, over `draws` draws;
- worst case: max L_S(w + c ⊙ u) − L_S(w) over the box ‖u‖∞ ≤ ρ, by sign-gradient ascent from a
  uniform random start in the inner half of the box, step ρ/4 halving every quarter of the steps,
  keeping the best point visited (a lower bound of the true maximum: ascent finds a local one).
Each measure is the mean over batches, with a 95 % t-interval over them.
"""
from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import torch
from scipy import stats as scipy_stats
from torch import nn
from torch.func import functional_call

from landscape.evaluation.contract import checked_model
from landscape.evaluation.evaluate import LossSum, cross_entropy_sum, evaluate, load_eval_set
from landscape.files import file_sha256
from landscape.metrics.options import AdaptiveSharpnessConfig
from landscape.metrics.stats import t_interval
from landscape.progress import progress
from landscape.runtime import resolve_device
from landscape.sources.checkpoint import load_model


def perturbed_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters adaptive sharpness moves: every one outside normalisation layers."""
    norms = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
    skipped = {f"{prefix}.{name}" if prefix else name for prefix, module in model.named_modules()
               if isinstance(module, norms) for name, _ in module.named_parameters(recurse=False)}
    return {name: p.detach() for name, p in model.named_parameters() if name not in skipped}


def batch_loss(model: nn.Module, weights: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
               loss: LossSum) -> torch.Tensor:
    return loss(functional_call(model, weights, (x,)).float(), y) / len(y)


def average_case(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rho: float, draws: int,
                 generator: torch.Generator, loss: LossSum = cross_entropy_sum) -> float:
    """E_u L(w + |w| ⊙ u) − L(w), u ~ N(0, ρ²), over `draws` draws, on one batch."""
    weights = perturbed_parameters(model)
    with torch.no_grad():
        base = float(batch_loss(model, weights, x, y, loss))
        total = 0.0
        for _ in range(draws):
            moved = {k: w + w.abs() * rho * torch.randn(w.shape, generator=generator).to(w) for k, w in weights.items()}
            total += float(batch_loss(model, moved, x, y, loss))
    return total / draws - base


def worst_case(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rho: float, steps: int,
               generator: torch.Generator, loss: LossSum = cross_entropy_sum) -> float:
    """max L(w + |w| ⊙ u) − L(w) over ‖u‖∞ ≤ ρ found by `steps` steps of sign-gradient ascent from a
    uniform random start in ‖u‖∞ ≤ ρ/2 (the best point visited), on one batch."""
    weights = perturbed_parameters(model)
    with torch.no_grad():
        base = float(batch_loss(model, weights, x, y, loss))
    u = {k: ((torch.rand(w.shape, generator=generator) * 2 - 1) * rho / 2).to(w) for k, w in weights.items()}
    best = -float("inf")
    for step in range(steps):
        for v in u.values():
            v.requires_grad_(True)
        value = batch_loss(model, {k: w + w.abs() * u[k] for k, w in weights.items()}, x, y, loss)
        best = max(best, float(value.detach()))
        grads = torch.autograd.grad(value, list(u.values()))
        size = rho / 4 * 0.5 ** (4 * step // steps)
        u = {k: (v.detach() + size * g.sign()).clamp(-rho, rho) for (k, v), g in zip(u.items(), grads)}
    with torch.no_grad():
        best = max(best, float(batch_loss(model, {k: w + w.abs() * u[k] for k, w in weights.items()}, x, y, loss)))
    return best - base


def kendall(x: list[float], y: list[float]) -> dict:
    """Kendall's τ (τ-b) between two measures over models, with its two-sided p-value and n."""
    result = scipy_stats.kendalltau(x, y)
    return {"tau": float(result.statistic), "p_value": float(result.pvalue), "models": len(x)}


def checkpoint_sharpness(path: str, config: AdaptiveSharpnessConfig, device: torch.device) -> dict:
    """One checkpoint's row: both sharpness measures with intervals over batches, its test accuracy,
    its accuracy on the training images, and the gap between them."""
    loaded = load_model(path, config.model)
    images = load_eval_set(config.data, "train", config.samples, config.data_seed, device, True, config.dataset)
    train = load_eval_set(config.data, "train", config.gap_samples, config.data_seed + 1, device, True,
                          config.dataset)
    test = load_eval_set(config.data, "test", None, config.data_seed, device, True, config.dataset)
    model = checked_model(loaded.model.to(device), [images, train, test], "cross_entropy", config.model.output_key)
    model.eval()
    generator = torch.Generator().manual_seed(config.seed)
    starts = range(0, len(images.labels) - config.batch_size + 1, config.batch_size)  # whole batches only
    bar = progress(len(starts), f"adaptive sharpness {loaded.metadata.get('activation') or path}", "batch",
                   config.quiet)
    average, worst = [], []
    for start in starts:
        x = images.inputs[start:start + config.batch_size].contiguous()
        y = images.labels[start:start + config.batch_size]
        average.append(average_case(model, x, y, config.rho_average, config.draws, generator))
        worst.append(worst_case(model, x, y, config.rho_worst, config.steps, generator))
        bar.update()
    bar.close()
    train_acc = evaluate(model, train.inputs, train.labels, 200).accuracy
    test_acc = evaluate(model, test.inputs, test.labels, 200).accuracy
    row = {"source": str(path), "activation": loaded.metadata.get("activation"), "batches": len(average)}
    for name, values in (("average", average), ("worst", worst)):
        mean, low, high = t_interval(np.asarray(values))
        row.update({f"sharpness_{name}": mean, f"sharpness_{name}_low": low, f"sharpness_{name}_high": high})
    row.update({"train_acc": train_acc, "test_acc": test_acc, "generalization_gap": train_acc - test_acc})
    return row


def sharpness_settings(config: AdaptiveSharpnessConfig) -> dict:
    """The settings a row depends on (not which checkpoints, nor where it ran), as JSON values: rows
    with equal settings compare, and a stored row is reused only while they hold."""
    return json.loads(json.dumps({k: v for k, v in asdict(config).items()
                                  if k not in ("checkpoints", "device", "quiet")}))


def stored_settings(path: str, config: AdaptiveSharpnessConfig) -> dict:
    """What a stored row of this checkpoint must have been measured under: its SHA-256 and
    `sharpness_settings`."""
    return {"checkpoint_sha256": file_sha256(path), **sharpness_settings(config)}


def measured_sharpness(path: str, config: AdaptiveSharpnessConfig, device: torch.device,
                       settings: dict | None = None) -> dict:
    """A row to store: {"settings": `stored_settings` (given, or computed here), "row": its
    `checkpoint_sharpness`}."""
    return {"settings": settings or stored_settings(path, config), "row": checkpoint_sharpness(path, config, device)}


def run_adaptive_sharpness(config: AdaptiveSharpnessConfig) -> tuple[list[dict], list[dict]]:
    """A row per checkpoint, and Kendall's τ of each sharpness measure with the test accuracy and
    with the generalisation gap over all of them (empty with fewer than three checkpoints)."""
    device = resolve_device(config.device)
    for path in config.checkpoints:  # every model loads before any is measured
        load_model(path, config.model)
    rows = [checkpoint_sharpness(path, config, device) for path in config.checkpoints]
    correlations = []
    if len(rows) >= 3:
        for measure in ("sharpness_average", "sharpness_worst"):
            for target in ("test_acc", "generalization_gap"):
                correlations.append({"measure": measure, "against": target,
                                     **kendall([r[measure] for r in rows], [r[target] for r in rows])})
    return rows, correlations

