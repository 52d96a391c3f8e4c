"""How grid points are scored (`EvalOptions`), and the image batch size chosen for the device.

Stage: grid evaluation. The numbers depend on the batch size, the precision and the loss; an
automatic batch size (None) is resolved here once per model and device: a fixed size on a CPU,
the fastest timed size on a GPU.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from torch import nn

from landscape.errors import LandscapeError, require_choice
from landscape.evaluation.evaluate import EvalSet, evaluate, loss_function, require_loss
from landscape.runtime import PRECISIONS

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

    @property
    def cpu_workers(self) -> int:
        return self.workers or torch.get_num_threads()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CANDIDATE_BATCH_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)


def choose_batch_size(model: nn.Module, eval_set: EvalSet, options: EvalOptions) -> int:
    """The image batch size for `eval_set`'s device: `CPU_BATCH_SIZE` on a CPU (measured by the
    benchmark), the fastest as timed here on a GPU."""
    if eval_set.inputs.device.type == "cpu":
        return CPU_BATCH_SIZE
    return fastest_batch_size(model, eval_set, options)


def with_batch_size(options: EvalOptions, model: nn.Module, sets: list[EvalSet]) -> EvalOptions:
    """`options` with an automatic batch size (None) resolved for the first set's device."""
    if options.batch_size is not None or not sets:
        return options
    return dataclasses.replace(options, batch_size=choose_batch_size(model, sets[0], options))


def fastest_batch_size(model: nn.Module, eval_set: EvalSet, options: EvalOptions,
                       candidates=CANDIDATE_BATCH_SIZES) -> int:
    """Each candidate up to the set's size timed on one batch (after a warm-up), in increasing
    order, and taken if more than 10 % faster per image than the best so far, until one runs out of
    memory or is more than 20 % slower."""
    device = eval_set.inputs.device
    loss = loss_function(options.loss)
    best, best_rate = candidates[0], 0.0
    for size in candidates:
        if size > len(eval_set.labels) and size != candidates[0]:
            break
        inputs, labels = eval_set.inputs[:size], eval_set.labels[:size]
        try:
            evaluate(model, inputs, labels, size, options.precision, loss)  # warm-up
            synchronize(device)
            started = time.perf_counter()
            evaluate(model, inputs, labels, size, options.precision, loss)
            synchronize(device)
            rate = len(labels) / (time.perf_counter() - started)
        except torch.OutOfMemoryError:
            break
        if rate > 1.1 * best_rate:
            best, best_rate = size, rate
        elif rate < 0.8 * best_rate:
            break
    return best
