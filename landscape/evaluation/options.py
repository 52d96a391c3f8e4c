"""How grid points are scored (`EvalOptions`) and the losses it can name.

Stage: grid evaluation. Plain data, no torch: the CLI builds its help from it. An automatic
batch size (None) is resolved by `batch_size`; the losses themselves live in `evaluate`.
"""
from __future__ import annotations

from dataclasses import dataclass

from landscape.errors import LandscapeError, require_choice
from landscape.precision import PRECISIONS
from landscape.sources.user_code import is_callable_spec

CPU_BATCH_SIZE = 64  # keeps ResNet-20's activations in cache: benchmarks/bench_surface.py


@dataclass(frozen=True)
class EvalOptions:
    """How grid points are scored. The numbers depend on the image batch size (None: chosen for
    the device by `choose_batch_size`), the precision and the loss (a name from evaluate.LOSSES or
    MODULE:CALLABLE). The rest changes only how fast, up to float rounding: grid points per pass
    (None: the fastest here), and for the per-point path BatchNorm folding, activation fusion on a
    CPU (`folding`; not with torch.compile, which fuses them its own way), image batches scored side
    by side on a CPU (`evaluate.evaluate`; None: one per thread) and torch.compile."""

    batch_size: int | None = CPU_BATCH_SIZE
    precision: str = "fp32"
    loss: str = "cross_entropy"
    points_per_batch: int | None = None  # grid points per pass; None: the fastest here, measured at start
    fold_batchnorm: bool = True
    fuse_activations: bool = True
    workers: int | None = None
    compile: bool = False

    def __post_init__(self):
        require_choice("precision", self.precision, PRECISIONS)
        require_loss(self.loss)
        if self.points_per_batch is not None and self.points_per_batch < 1:
            raise LandscapeError(f"--points-per-batch must be at least 1 (or auto); got {self.points_per_batch}")
        if self.batch_size is not None and self.batch_size < 1:
            raise LandscapeError(f"--batch-size must be at least 1 (or auto); got {self.batch_size}")
        if self.workers is not None and self.workers < 1:
            raise LandscapeError(f"--workers must be at least 1 (or auto); got {self.workers}")



LOSSES = ("cross_entropy", "mse")


LOSS_UNITS = {"cross_entropy": "nats (mean cross-entropy per example)",
              "mse": "mean squared error per example between outputs and one-hot labels"}


def require_loss(spec: str) -> None:
    if spec not in LOSSES and not is_callable_spec(spec):
        raise LandscapeError(f"unknown loss {spec!r}; expected one of {', '.join(LOSSES)} or MODULE:CALLABLE")


def loss_units(spec: str) -> str:
    return LOSS_UNITS.get(spec, f"{spec}, mean per example")
