"""`landscape metrics`: surface metrics for surface files, model metrics for checkpoints, as rows.

Stage: orchestration. Reads surfaces through `storage` and checkpoints through `checkpoint`,
calls `surface_metrics` and `model_metrics`, and stores surface metrics back into each file.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from landscape.evaluation.contract import checked_model
from landscape.evaluation.evaluate import load_eval_set
from landscape.metrics.hessian import HessianSpectrum, hessian_spectrum
from landscape.metrics.model import DeadUnits, LossSpread, dead_units, loss_spread
from landscape.metrics.options import MetricsConfig
from landscape.metrics.surface import surface_metrics
from landscape.runtime import resolve_device
from landscape.sources.activations import with_twice_differentiable_mish
from landscape.sources.checkpoint import load_checkpoint
from landscape.sources.datasets import require_own_data
from landscape.storage.surface_file import read_surface, write_metrics


@dataclass(frozen=True)
class CheckpointMetrics:
    """Everything measured on one checkpoint; `flat()` gives its row of the metrics table."""

    checkpoint: str
    activation: str
    spread: LossSpread
    hessian: HessianSpectrum | None = None
    dead: list[DeadUnits] = field(default_factory=list)

    def flat(self) -> dict:
        out = {"activation": self.activation, "loss": self.spread.loss,
               "loss_standard_error": self.spread.standard_error, "images": self.spread.images}
        if self.hessian:  # the headline numbers, and every start, probe and Ritz value (nested: not in tables)
            out.update({**self.hessian.flat(), "hessian_detail": self.hessian.detail()})
        if self.dead:
            total = sum(d.channels for d in self.dead)
            out["dead_never_positive"] = sum(d.never_positive * d.channels for d in self.dead) / total
            out["dead_below_eps"] = sum(d.below_eps * d.channels for d in self.dead) / total
        return out


def checkpoint_metrics(path: str, config: MetricsConfig) -> CheckpointMetrics:
    """The model metrics `config` asks for, on its fixed images of one split."""
    device = resolve_device(config.device)
    model, meta = load_checkpoint(path)
    require_own_data(meta, config.dataset, path)
    model = with_twice_differentiable_mish(model).to(device)
    images = load_eval_set(config.data, config.split, config.samples, config.data_seed, device, quiet=True,
                           dataset=config.dataset)
    model = checked_model(model, [images])
    hessian = None
    if config.hessian:
        own = config.hessian.samples not in (None, config.samples)
        curvature_set = load_eval_set(config.data, config.split, config.hessian.samples, config.data_seed, device,
                                      quiet=True, dataset=config.dataset) if own else images
        hessian = hessian_spectrum(model, curvature_set.inputs, curvature_set.labels, config.hessian, config.quiet,
                                   Path(path).stem)
    return CheckpointMetrics(
        str(path), str(meta.get("activation")), loss_spread(model, images.inputs, images.labels), hessian,
        dead_units(model, images.inputs, config.eps) if config.dead_units else [])


def run_metrics(config: MetricsConfig) -> list[dict]:
    """One flat row per surface and per checkpoint; surface metrics are also stored in their files."""
    measured = []
    for path in config.surfaces:
        surface = read_surface(path).require_complete(config.partial)
        measured.append((surface, surface_metrics(surface, config.metric, config.thresholds)))
    rows = [{"source": str(path), **checkpoint_metrics(path, config).flat()} for path in config.checkpoints]
    for surface, result in measured:  # stored only once every input has been measured: a failure changes no file
        if config.store and surface.complete:
            write_metrics(surface.path, {**result.flat(), "widths": [asdict(w) for w in result.widths]},
                          config.metric)
    return [{"source": surface.path, "activation": surface.header.activation or surface.header.activation_label,
             **({"partial": surface.partial_note} if surface.partial_note else {}), **result.flat()}
            for surface, result in measured] + rows
