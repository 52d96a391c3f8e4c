"""`landscape sharpness`: many random 1-D slices per checkpoint, and each model's mean width,
curvature and minimum with 95 % intervals over the directions; optionally K random 2-D planes
per checkpoint, for pictures (plain surface files: `landscape plot` and `report` draw them).

Stage: orchestration. Each checkpoint's K slices are one surface file of layout "slices",
computed by the same plan/execute pipeline as `landscape surface` (resumable, refused if made
with other settings, torchrun-ready). The direction seed is the same for every checkpoint, so
slice k of every model starts from the same Gaussian draw: comparisons are paired by direction.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError
from landscape.metrics.options import DEFAULT_THRESHOLDS, SharpnessConfig
from landscape.metrics.slices import SliceMetrics, slice_metrics
from landscape.metrics.stats import Estimate, estimate
from landscape.metrics.surface import finite_values
from landscape.storage.schema import Surface
from landscape.storage.surface_file import read_surface, write_metrics
from landscape.surfaces.sweep import run_surface


def measure_slices(surface: Surface, metric: str, thresholds: tuple[float, ...]) -> list[SliceMetrics]:
    """The metrics of every slice of a slices file."""
    if not surface.is_slices:
        raise LandscapeError(f"{surface.path} is not a file of slices (`landscape sharpness` writes those)")
    if not surface.complete:
        raise LandscapeError(f"{surface.path} is not finished ({surface.partial_note}); rerun `landscape sharpness` "
                             f"to complete it")
    values = finite_values(surface, metric)
    return [slice_metrics(surface.x, row, thresholds) for row in values]


def metric_matrix(per_slice: list[SliceMetrics], name: str) -> np.ndarray:
    """One metric over the slices, as a [1, K] row (one seed) for `stats.estimate`."""
    return np.array([[m.flat()[name] for m in per_slice]], dtype=np.float64)


def summarise(path: str | Path, metric: str = "train_loss",
              thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS) -> dict:
    """A row for one slices file: each metric's mean and 95 % interval over its directions, the
    number of censored widths, and the per-slice values (stored back into the file)."""
    surface = read_surface(path)
    per_slice = measure_slices(surface, metric, thresholds)
    names = ["minimum", "curvature"] + [f"width_{d:g}" for d in thresholds]
    row: dict = {"source": str(path), "activation": surface.header.activation_label, "metric": metric,
                 "directions": len(per_slice)}
    for name in names:
        e: Estimate = estimate(metric_matrix(per_slice, name))
        row.update({name: e.mean, f"{name}_low": e.low, f"{name}_high": e.high, f"{name}_sd": e.direction_sd})
    for d in thresholds:
        row[f"censored_{d:g}"] = sum(m.flat()[f"censored_{d:g}"] for m in per_slice)
    write_metrics(path, {**{k: v for k, v in row.items() if k not in ("source", "metric")},
                         "slices": [m.flat() for m in per_slice]}, metric)
    return row


def run_sharpness(config: SharpnessConfig, metric: str = "train_loss") -> list[dict]:
    """Compute (or resume) every checkpoint's slices and planes, then one summary row per checkpoint
    (from its slices; `planes` in the row lists its plane files)."""
    paths = [run_surface(config.surface_config(c)) for c in config.checkpoints]
    planes = [[str(run_surface(config.plane_config(c, k))) for k in range(config.planes)] for c in config.checkpoints]
    return [{**summarise(p, metric, config.thresholds), **({"planes": files} if files else {})}
            for p, files in zip(paths, planes)]
