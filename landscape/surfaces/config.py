"""`SurfaceConfig`: everything that decides a surface, as plain data checked on construction.

Stage: surfaces. No torch: the CLI builds its help from it, and `plan.plan_surface` turns it into
a plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from landscape.errors import LandscapeError, require_at_least, require_choice, require_number
from landscape.evaluation.options import EvalOptions
from landscape.geometry.grid import is_auto
from landscape.geometry.options import DirectionOptions
from landscape.sources.specs import SPLITS, DatasetSpec, ModelSpec


@dataclass(frozen=True)
class SurfaceConfig:
    """Everything `landscape surface` needs; defaults match the CLI's. `checkpoint` is a landscape
    checkpoint, or with `model.factory` the weights file of your own model; `data` is where the
    `dataset` lives (default: CIFAR-10)."""

    checkpoint: str
    out: str
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    x: str = "-1:1:51"
    y: str | None = None
    splits: tuple[str, ...] = ("train",)
    samples: int | None = 1000  # per split; None: the whole split
    data_seed: int = 0
    directions: DirectionOptions = field(default_factory=DirectionOptions)
    target: str | None = None
    directions_file: str | None = None
    trajectory: str | None = None
    eigenvectors: bool = False  # x[, y] = the Hessian's top eigenvectors at the checkpoint (`--directions hessian`)
    lanczos_steps: int = 40  # Lanczos steps that find those eigenvectors
    slices: int = 0  # > 0: that many independent 1-D slices along x instead of a plane (`landscape sharpness`)
    store_directions: bool = True  # False (random directions only): their seed and checksums, not the tensors
    eval: EvalOptions = field(default_factory=EvalOptions)
    device: str = "auto"
    force: bool = False
    flush_seconds: float = 5.0
    quiet: bool = False

    def __post_init__(self):
        for split in self.splits:
            require_choice("split", split, SPLITS)
        require_number("--flush-seconds", self.flush_seconds, 0)
        for flag, spec in (("--x", self.x), ("--y", self.y)):
            if spec is not None and not spec.strip():
                raise LandscapeError(f"{flag} is empty; give START:STOP:NUM (e.g. -1:1:51)" +
                                     (" or leave --y out for a 1-D surface" if flag == "--y" else ""))
        if self.target and self.y:
            raise LandscapeError("--target gives one direction (an interpolation); drop --y or --target")
        given = [flag for flag, value in (("--target", self.target), ("--directions", self.directions_file),
                                          ("--trajectory", self.trajectory),
                                          ("--directions hessian", self.eigenvectors)) if value]
        if len(given) > 1:
            raise LandscapeError(f"{' and '.join(given)} each give the directions; use one")
        if self.eigenvectors:
            require_number("--lanczos-steps", self.lanczos_steps, 2 if self.y else 1)
        if self.slices < 0:
            raise LandscapeError(f"the number of slices must be positive; got {self.slices}")
        if self.slices and (self.y or given):
            raise LandscapeError("slices are 1-D along their own random directions: no --y, --target, "
                                 "--directions or --trajectory")
        if not self.store_directions and given:
            raise LandscapeError("only random directions can be drawn again from their seed: keep storing "
                                 f"directions with {given[0]}")
        if self.trajectory and not self.y:
            raise LandscapeError("--trajectory gives a plane of two directions; add --y")
        if (is_auto(self.x) or is_auto(self.y)) and not (self.trajectory and is_auto(self.x) and is_auto(self.y)):
            raise LandscapeError("--x/--y auto:NUM fit the grid to a training path: give both, with --trajectory")


PATH_CURVES = ("line", "bezier")


BN_MODES = ("auto", "recompute", "keep")


@dataclass(frozen=True)
class ConnectConfig:
    """What `landscape connect` computes: for every pair of `checkpoints` (A before B in the given
    order), the loss at `points` evenly spaced t ∈ [0, 1] along the straight line from A to B, or
    along a quadratic Bézier curve whose bend is trained for `curve_epochs` (Garipov et al. 2018);
    BatchNorm statistics recomputed at every point on `bn_samples` training images, or interpolated
    with the weights (`bn` keep; auto: recompute where the model has BatchNorm)."""

    checkpoints: tuple[str, ...]
    out_dir: str = "connect"
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    points: int = 21
    curve: str = "line"
    bn: str = "auto"
    bn_samples: int = 2000
    bn_augment: bool = True  # the BatchNorm images augmented as in training (random crop and flip)
    splits: tuple[str, ...] = ("train",)
    samples: int | None = 1000
    data_seed: int = 0
    curve_epochs: int = 3
    curve_lr: float = 0.01
    curve_samples: int | None = None  # training images for the bend; None: the whole split
    curve_seed: int = 0
    batch_size: int = 200
    device: str = "auto"
    force: bool = False
    quiet: bool = False

    def __post_init__(self):
        if len(self.checkpoints) < 2:
            raise LandscapeError("give at least two checkpoints to connect")
        require_choice("--curve", self.curve, PATH_CURVES)
        require_choice("--bn", self.bn, BN_MODES)
        for split in self.splits:
            require_choice("split", split, SPLITS)
        require_at_least(self, {"points": 3, "bn_samples": 1, "curve_epochs": 1, "batch_size": 1})
        require_number("--curve-lr", self.curve_lr, 0, low_open=True)
