"""`landscape sharpness`: many random 1-D slices per checkpoint, and each model's mean width,
curvature and minimum with 95 % intervals over the directions; optionally K random 2-D planes
per checkpoint, for pictures (plain surface files: `landscape plot` and `report` draw them).

Stage: orchestration. Each checkpoint's K slices are one surface file of layout "slices",
computed by the same plan/execute pipeline as `landscape surface` (resumable, refused if made
with other settings, torchrun-ready). The direction seed is the same for every checkpoint, so
slice k of every model starts from the same Gaussian draw: comparisons are paired by direction.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import DirectionOptions
from landscape.metrics.slices import SliceMetrics, slice_metrics
from landscape.metrics.stats import Estimate, estimate
from landscape.metrics.surface import DEFAULT_THRESHOLDS, finite_values
from landscape.sources.checkpoint import ModelSpec
from landscape.sources.datasets import DatasetSpec
from landscape.storage.schema import Surface
from landscape.storage.surface_file import read_surface, write_metrics
from landscape.surfaces.plan import SurfaceConfig
from landscape.surfaces.sweep import run_surface


@dataclass(frozen=True)
class SharpnessConfig:
    """What `landscape sharpness` computes; defaults match the CLI's."""

    checkpoints: tuple[str, ...]  # landscape checkpoints, or with `model.factory` your model's weights files
    out_dir: str = "sharpness"
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    directions: int = 20
    planes: int = 0  # > 0: also that many independent 2-D random planes per checkpoint, for pictures
    x: str = "-1:1:31"  # the α grid of every slice, and both axes of every plane
    splits: tuple[str, ...] = ("train",)
    samples: int = 1000
    data_seed: int = 0
    seed: int = 0
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    eval: EvalOptions = field(default_factory=EvalOptions)
    device: str = "auto"
    force: bool = False
    flush_seconds: float = 5.0
    store_directions: bool = False  # each direction is as large as the model: keep only seed and checksums
    quiet: bool = False

    def __post_init__(self):
        if not self.checkpoints:
            raise LandscapeError("give at least one checkpoint")
        if self.directions < 1:
            raise LandscapeError(f"--directions must be at least 1; got {self.directions}")
        if self.planes < 0:
            raise LandscapeError(f"--planes must be 0 or more; got {self.planes}")
        if any(t <= 0 for t in self.thresholds):
            raise LandscapeError(f"--thresholds must be positive; got {self.thresholds}")

    def surface_config(self, checkpoint: str) -> SurfaceConfig:
        return SurfaceConfig(checkpoint=checkpoint, out=str(slices_path(self.out_dir, checkpoint)), data=self.data,
                             model=self.model, dataset=self.dataset,
                             x=self.x, splits=self.splits, samples=self.samples, data_seed=self.data_seed,
                             directions=DirectionOptions(seed=self.seed), slices=self.directions, eval=self.eval,
                             store_directions=self.store_directions, device=self.device, force=self.force,
                             flush_seconds=self.flush_seconds, quiet=self.quiet)

    def plane_config(self, checkpoint: str, k: int) -> SurfaceConfig:
        """Plane k: a random plane of direction seed `seed + k` (plane 0's axes are slices 0 and 1),
        on the slices' grid along both axes, the same images and settings."""
        return replace(self.surface_config(checkpoint), out=str(plane_path(self.out_dir, checkpoint, k)), y=self.x,
                       directions=DirectionOptions(seed=self.seed + k), slices=0)


def slices_path(out_dir: str | Path, checkpoint: str | Path) -> Path:
    return Path(out_dir) / f"{Path(checkpoint).stem}_slices.h5"


def plane_path(out_dir: str | Path, checkpoint: str | Path, k: int) -> Path:
    return Path(out_dir) / f"{Path(checkpoint).stem}_plane{k}.h5"


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
