"""`landscape spectrum`: the Hessian's eigenvalue density by stochastic Lanczos quadrature (SLQ).

Stage: checkpoint → metrics. Each Lanczos run from a random Rademacher start v gives Ritz values
θ_i and weights w_i (the squared first components of the Ritz vectors), a quadrature rule with
Σ w_i f(θ_i) ≈ vᵀ f(H) v / vᵀv, whose expectation over v is the average of f over the spectrum
(Ghorbani et al. 2019; Ubaru et al. 2017). Averaging the runs and replacing each node by a narrow
Gaussian gives a density that integrates to 1; its upper end is λmax. One JSON file per model,
written after every run, so an interrupted spectrum resumes where it stopped.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from landscape.errors import LandscapeError
from landscape.evaluation.contract import checked_model
from landscape.evaluation.curvature import KeptGradientGraphs, lanczos, trainable
from landscape.evaluation.evaluate import load_eval_set
from landscape.files import atomic_write
from landscape.metrics.options import SpectrumConfig, spectrum_path
from landscape.progress import progress
from landscape.runtime import resolve_device
from landscape.sources.activations import with_twice_differentiable_mish
from landscape.sources.checkpoint import load_model


@dataclass(frozen=True)
class QuadratureRule:
    """One run's quadrature rule: Ritz values (ascending) and their weights (sum 1)."""

    values: list[float]
    weights: list[float]


def rademacher(params: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
    return [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params]


def lanczos_runs(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor, runs: list[int], steps: int,
                 seed: int, batch_size: int = 200, label: str = "", quiet: bool = False,
                 done=None) -> dict[int, QuadratureRule]:
    """Run k of `runs` for each k, on the mean cross-entropy's Hessian at the model's weights (eval
    mode); run k starts from the Rademacher vector of seed (seed, k), so a run is the same whenever
    it is computed. `done(k, run)` is called as each one finishes (to store it)."""
    model.eval()
    params = trainable(model)
    kept = KeptGradientGraphs(model, params, inputs, labels, batch_size)
    bar = progress(len(runs) * steps, f"spectrum {label}".strip(), "hvp", quiet)

    def hvp(v):
        bar.update()
        return kept(v)
    out = {}
    for k in runs:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + k)
        ritz = lanczos(hvp, rademacher(params, generator), steps)
        out[k] = QuadratureRule(ritz.values, ritz.weights)
        if done:
            done(k, out[k])
    bar.close()
    return out


def gaussian_sigma(runs: list[QuadratureRule], fraction: float) -> float:
    """The Gaussians' standard deviation: `fraction` × the range of every run's Ritz values."""
    values = np.concatenate([r.values for r in runs])
    return fraction * max(float(values.max() - values.min()), 1e-12)


def density(run: QuadratureRule, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Σ w_i N(grid; θ_i, σ²): one run's quadrature rule as a smooth density (integrates to 1)."""
    values, weights = np.asarray(run.values)[:, None], np.asarray(run.weights)[:, None]
    return (weights * np.exp(-0.5 * ((grid[None, :] - values) / sigma) ** 2)).sum(0) / (sigma * np.sqrt(2 * np.pi))


def density_grid(runs: list[QuadratureRule], fraction: float, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid, mean density, density of each run [runs, bins]) over the Ritz values ± 5σ."""
    sigma = gaussian_sigma(runs, fraction)
    values = np.concatenate([r.values for r in runs])
    grid = np.linspace(values.min() - 5 * sigma, values.max() + 5 * sigma, bins)
    each = np.stack([density(r, grid, sigma) for r in runs])
    return grid, each.mean(0), each


def stored_runs(path: Path, identity: dict) -> dict[int, QuadratureRule]:
    """The runs of an earlier spectrum of the same model and settings (none if anything differs)."""
    if not path.is_file():
        return {}
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if stored.get("identity") != identity:
        return {}
    return {int(k): QuadratureRule(**run) for k, run in stored.get("runs", {}).items()}


def write_spectrum(path: Path, identity: dict, config: SpectrumConfig, runs: dict[int, QuadratureRule]) -> dict:
    """The spectrum file: identity, every finished run, and (once all are in) the density on its grid."""
    record = {"identity": identity, "runs_planned": config.runs, "complete": len(runs) == config.runs,
              "runs": {str(k): asdict(r) for k, r in sorted(runs.items())}}
    if record["complete"]:
        ordered = [runs[k] for k in sorted(runs)]
        grid, mean, each = density_grid(ordered, config.broadening, config.bins)
        record.update({"broadening": config.broadening, "grid": grid.tolist(), "density": mean.tolist(),
                       "density_runs": each.tolist(), "lambda_max": max(r.values[-1] for r in ordered),
                       "lambda_min": min(r.values[0] for r in ordered),
                       "lambda_max_runs": [r.values[-1] for r in ordered]})
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(record))
    return record


def spectrum_of(checkpoint: str, config: SpectrumConfig) -> dict:
    """One model's spectrum file, reusing the runs an earlier call finished under the same settings."""
    loaded = load_model(checkpoint, config.model)
    device = resolve_device(config.device)
    images = load_eval_set(config.data, config.split, config.samples, config.data_seed, device, quiet=True,
                           dataset=config.dataset)
    model = checked_model(with_twice_differentiable_mish(loaded.model).to(device), [images])
    identity = {"checkpoint_sha256": loaded.sha256, "activation": loaded.metadata.get("activation"),
                "images_sha256": images.sha256, **config.numbers()}
    path = spectrum_path(config.out_dir, checkpoint)
    runs = {k: r for k, r in stored_runs(path, identity).items() if k < config.runs}
    missing = [k for k in range(config.runs) if k not in runs]
    if missing:
        def keep(k: int, run: QuadratureRule) -> None:
            runs[k] = run
            write_spectrum(path, identity, config, runs)
        lanczos_runs(model, images.inputs, images.labels, missing, config.steps, config.seed, config.batch_size,
                     Path(checkpoint).stem, config.quiet, keep)
    return {"source": str(path), **write_spectrum(path, identity, config, runs)}


def run_spectrum(config: SpectrumConfig) -> list[dict]:
    """A spectrum file per model (`spectrum_path`); one summary row each: λmin, λmax and its spread
    over the runs, and the density's first moment (the trace per parameter)."""
    for checkpoint in config.checkpoints:  # every model loads before any file is written
        load_model(checkpoint, config.model)
    rows = []
    for checkpoint in config.checkpoints:
        record = spectrum_of(checkpoint, config)
        if not record["complete"]:
            raise LandscapeError(f"{record['source']} is incomplete: run the same command again to finish it")
        grid, dens = np.asarray(record["grid"]), np.asarray(record["density"])
        step = grid[1] - grid[0]
        rows.append({"source": checkpoint, "activation": record["identity"]["activation"],
                     "spectrum": record["source"], "runs": config.runs, "steps": config.steps,
                     "lambda_min": record["lambda_min"], "lambda_max": record["lambda_max"],
                     "lambda_max_runs_spread": float(np.ptp(record["lambda_max_runs"])),
                     "mean_eigenvalue": float((grid * dens).sum() * step),
                     "density_integral": float(dens.sum() * step)})
    return rows
