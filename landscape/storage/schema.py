"""The HDF5 surface file's schema: its names, layout and attributes, and the typed views of it
(`SurfaceHeader`, `SurfaceProgress`, `Surface`). The one source of truth for the format
(docs/file-format.md describes it); `surface_file` reads and writes files that follow it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError
from landscape.sources.specs import display_name

SCHEMA = "landscape.surface"


SCHEMA_VERSION = 1


STORAGE_ORDER = "[iy, ix]: rows follow ycoordinates, columns follow xcoordinates"


ACCURACY_UNITS = "fraction of examples classified correctly"


AXIS_NAMES = ("x", "y")


@dataclass(frozen=True)
class SurfaceHeader:
    """What a surface is and where each part came from: model, directions, data, grid and
    evaluation settings. Written once when the file is created; field names are the attribute
    names (Li et al.'s where theirs exist). Files of older versions lack some: those read as the
    defaults here."""

    layout: str = "plane"  # plane: a 1-D or 2-D grid along x[, y]; slices: K 1-D slices (see module doc)
    # the model
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    architecture: str | None = None
    depth: int | None = None
    activation: str | None = None
    activation_params: dict = field(default_factory=dict)
    checkpoint_test_acc: float | None = None
    checkpoint_test_loss: float | None = None
    model_factory: str | None = None  # your own model: the factory `--model` named (checkpoint: its weights)
    model_args: dict = field(default_factory=dict)
    # the directions
    direction_source: str = "random"  # random | file | target | pca | hessian | bezier
    direction_norm: str = "filter"
    direction_ignore: str = "biasbn"
    direction_type: str = "weights"
    direction_seed: int | None = None
    orthogonalized: bool = False
    cosine_xy: float | None = None
    direction_sha256: tuple[str, ...] = ()  # of each direction's tensors (`directions.direction_sha256`)
    directions_stored: bool = True  # False: only their seed and checksums, drawn again when needed
    directions_file: str | None = None
    directions_file_sha256: str | None = None
    target: str | None = None
    target_sha256: str | None = None
    trajectory: str | None = None  # the snapshot folder whose path gave the plane
    trajectory_sha256: str | None = None
    trajectory_snapshots: tuple[str, ...] = ()
    explained_variance: tuple[float, ...] = ()
    eigenvalues: tuple[float, ...] = ()  # hessian: the Hessian eigenvalue of each direction (x, y)
    eigen_residuals: tuple[float, ...] = ()  # hessian: ‖H·d − λ·d‖ of each, a bound on λ's error
    lanczos_steps: int | None = None  # hessian: the Lanczos steps that found them
    path_curve: str | None = None  # `landscape connect`: line or bezier, x = t from the checkpoint (0) to target (1)
    bn_statistics: str | None = None  # `landscape connect`: recompute | keep | none (BatchNorm along the path)
    bn_samples: int | None = None  # `landscape connect`, recompute: training images per point's statistics
    bn_augment: bool | None = None  # `landscape connect`, recompute: those images augmented as in training
    # the data
    data_source: str | None = None
    dataset: str = "cifar10"  # a torchvision set's name, imagefolder:PATH or MODULE:CALLABLE
    data_sha256: str | None = None  # of the chosen examples and labels of every split, by content
    normalization_mean: tuple[float, ...] = ()  # per channel, pixel units in [0, 1]; () when none applied
    normalization_std: tuple[float, ...] = ()
    image_size: int | None = None  # the size images were resized to, if they were
    splits: tuple[str, ...] = ("train",)
    samples: int | None = None
    data_seed: int = 0
    # the grid and the evaluation
    grid_x: str | None = None
    grid_y: str | None = None
    precision: str = "fp32"
    loss: str = "cross_entropy"
    batch_size: int | None = None
    device: str | None = None
    world_size: int = 1
    versions: dict = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)  # the settings a resumed run must match

    @property
    def title(self) -> str:
        """The model as a reader names it: 'Leaky ReLU (slope 0.3)', or your model's factory and weights."""
        return display_name(self.activation, self.activation_params) if self.activation else self.activation_label

    @property
    def activation_label(self) -> str:
        """The activation with its parameters, e.g. 'leaky_relu (negative_slope=0.3)'; for your own
        model, its factory and weights file."""
        if self.activation is None:
            return f"{self.model_factory or 'model'} ({Path(self.checkpoint or '').name})"
        params = ", ".join(f"{k}={v}" for k, v in self.activation_params.items() if k != "impl")
        return f"{self.activation}" + (f" ({params})" if params else "")


@dataclass(frozen=True)
class SurfaceProgress:
    """How far the computation got, how fast and how the engine ran (once a run has finished), and
    for a surface computed in bf16 or tf32 its measured error against fp32 at a few points."""

    points_done: int = 0
    points_total: int = 0
    complete: bool = False
    wall_time_s: float | None = None
    points_per_s: float | None = None
    images_per_s: float | None = None
    points_per_batch: int | None = None  # grid points scored per pass in the last run (engine.BatchedEvaluator)
    calibration_seconds_per_point: dict | None = None  # --points-per-batch auto: candidate → seconds per round
    batchnorms_folded: int | None = None  # BatchNorms folded into convolutions in the last run (folding)
    convolutions_fused: int | None = None  # convolutions run with their activation/addition fused in (folding)
    cpu_workers: int | None = None  # image batches scored at once on a CPU in the last run (evaluate.evaluate)
    compiled: int | None = None  # 1 when the last run scored through torch.compile (--compile)
    precision_error_abs: float | None = None  # below fp32: largest |loss − fp32 loss| at the checked points
    precision_error_rel: float | None = None  # the same, relative to the fp32 loss
    precision_error_points: int | None = None  # how many points were checked


CURVATURE_GROUP = "hessian"


CURVATURE_ARRAYS = {"min_eig": "smallest Hessian eigenvalue (Lanczos Ritz value)",
                    "max_eig": "largest Hessian eigenvalue (Lanczos Ritz value)",
                    "min_residual": "‖H·y − λ·y‖ of min_eig's Ritz vector y: a bound on its error",
                    "max_residual": "‖H·y − λ·y‖ of max_eig's Ritz vector y: a bound on its error"}


@dataclass(frozen=True)
class CurvatureMap:
    """The Hessian's extreme eigenvalues on a sub-grid of a plane (`landscape hessian-map`): every
    `every`-th point of each axis, through the origin (`sub_axis`); arrays [iy, ix] as the surface's,
    NaN where pending.
    `settings` are what decides the numbers (a resumed map must match them)."""

    every: int
    x: np.ndarray
    y: np.ndarray | None
    arrays: dict[str, np.ndarray]  # CURVATURE_ARRAYS
    done: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def ratio(self) -> np.ndarray:
        """|λmin/λmax|: near 0 where the surface is locally convex, large where it curves down
        as much as up (Li et al. 2018, section 6)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.abs(self.arrays["min_eig"] / self.arrays["max_eig"])

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    @property
    def partial_note(self) -> str:
        return "" if self.complete else f"partial: {int(self.done.sum())} of {self.done.size} points"


def sub_axis(every: int, coordinates: np.ndarray) -> np.ndarray:
    """Every `every`-th coordinate of an axis, counted from 0 (the trained weights) when the axis has
    that point, else from its first coordinate."""
    at_zero = np.flatnonzero(coordinates == 0)
    return coordinates[(int(at_zero[0]) % every if len(at_zero) else 0)::every]


def sub_grid(every: int, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The coordinates of the sub-grid of every `every`-th point of each axis (`sub_axis`)."""
    return sub_axis(every, x), (sub_axis(every, y) if y is not None else None)


@dataclass(frozen=True)
class Surface:
    """A surface read into memory: coordinates, value arrays, done mask, header and metrics."""

    path: str
    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]
    done: np.ndarray
    header: SurfaceHeader = field(default_factory=SurfaceHeader)
    progress: SurfaceProgress = field(default_factory=SurfaceProgress)
    metrics: dict = field(default_factory=dict)
    trajectory: np.ndarray | None = None  # [n, 2] (α, β) of a projected training path, if stored
    curvature: CurvatureMap | None = None  # Hessian eigenvalues on a sub-grid, if `landscape hessian-map` ran

    @property
    def ndim(self) -> int:
        """1 or 2 for a plane; 1 for slices (each row is a 1-D curve)."""
        return 1 if self.y is None else 2

    @property
    def is_slices(self) -> bool:
        return self.header.layout == "slices"

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    @property
    def partial_note(self) -> str:
        """'partial: N of M points' for an unfinished surface, '' for a finished one: every number and
        figure made from a partial surface carries it."""
        return "" if self.complete else f"partial: {int(self.done.sum()):,} of {self.done.size:,} points"

    def require_complete(self, partial: bool = False) -> Surface:
        """This surface, if finished or if `partial` results were asked for (LandscapeError otherwise):
        a minimum or a width read off part of a grid is not the surface's."""
        if not self.done.any():
            raise LandscapeError(f"{self.path} has no finished points yet; run `landscape surface` first")
        if not self.complete and not partial:
            raise LandscapeError(f"{self.path} is unfinished ({self.partial_note}): rerun the `landscape surface` "
                                 f"command that made it to finish it, or pass --partial to use what is there")
        return self

    @property
    def current_metrics(self) -> dict:
        """The stored metrics if they were measured on the values as they are now (their
        `values_sha256` matches), else {}: stale numbers are never shown as the surface's."""
        name = self.metrics.get("metric", "train_loss")
        if name not in self.values or self.metrics.get("values_sha256") != values_sha256(self.values[name], self.done):
            return {}
        return self.metrics


def values_sha256(values: np.ndarray, done: np.ndarray) -> str:
    """The identity of one value array with its done mask, by content: what stored metrics were measured on."""
    digest = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(done, dtype=bool).tobytes())
    return digest.hexdigest()


def direction_names(layout: str, count: int) -> list[str]:
    """The group names of the stored directions: x[, y] on a plane, 0 … K-1 for slices."""
    return [str(k) for k in range(count)] if layout == "slices" else list(AXIS_NAMES[:count])


def _decode(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "{[n":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode(value):
    """HDF5 attributes hold scalars and strings; dicts, lists and None go in as JSON."""
    if isinstance(value, (dict, list, tuple)) or value is None:
        return json.dumps(value)
    return value


def _typed(cls, attrs: dict):
    """An instance of dataclass `cls` from the attributes it names (tuples restored from lists)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in attrs:
            value = attrs[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) and str(f.type).startswith("tuple") else value
    return cls(**kwargs)


def _attributes(obj) -> dict:
    return {k: _encode(v) for k, v in dataclasses.asdict(obj).items()}
