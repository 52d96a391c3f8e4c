"""The surface engine: how grid points are evaluated, for any `nn.Module` and prepared data.

Stage: directions → grid evaluation. A `PointEvaluator` moves the model's weights to
θ + α·x + β·y in place (no model rebuild) and scores every evaluation set there; the model
returns to θ when it closes. `compute_surface` is the in-memory sweep of a whole grid;
`surface.execute` is the resumable, file-backed, multi-process one. Both call the same
evaluator, so they give the same numbers.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .directions import Direction, check_compatible, model_entries
from .errors import LandscapeError, require_choice
from .evaluate import EvalSet, evaluate, loss_function, require_loss
from .grid import Grid
from .progress import progress
from .runtime import PRECISIONS
from .storage import value_names


@dataclass(frozen=True)
class EvalOptions:
    """Evaluation batch size (64 keeps ResNet-20's activations in cache: benchmarks/bench_surface.py),
    precision and loss (a name from evaluate.LOSSES or MODULE:CALLABLE)."""

    batch_size: int = 64
    precision: str = "fp32"
    loss: str = "cross_entropy"

    def __post_init__(self):
        require_choice("precision", self.precision, PRECISIONS)
        require_loss(self.loss)
        if self.batch_size < 1:
            raise LandscapeError(f"--batch-size must be at least 1; got {self.batch_size}")


class PointEvaluator:
    """Scores `model` on `sets` at grid points (α[, β]) along `directions`.

    Use as a context manager: on exit the model's entries are back at their original values.
    """

    def __init__(self, model: nn.Module, directions: list[Direction], sets: list[EvalSet],
                 options: EvalOptions = EvalOptions(), dir_type: str = "weights"):
        self.model, self.sets, self.options = model.eval(), sets, options
        self.entries = model_entries(model, dir_type)
        for axis, direction in zip("xy", directions):
            check_compatible(self.entries, direction, f"direction {axis}")
        self.origin = {k: v.detach().clone() for k, v in self.entries.items()}
        self.directions = [{k: d[k].to(self.origin[k]) for k in self.entries} for d in directions]
        self.names = value_names(tuple(s.split for s in sets))  # the order of the values returned
        self.loss = loss_function(options.loss)

    @torch.no_grad()
    def move_to(self, coefficients: Iterable[float]) -> None:
        for name, tensor in self.entries.items():
            tensor.copy_(self.origin[name])
            for coefficient, direction in zip(coefficients, self.directions):
                if coefficient:
                    tensor.add_(direction[name], alpha=float(coefficient))

    def __call__(self, point: np.ndarray) -> list[float]:
        """[loss, acc] per set, in order (`self.names`), at grid point (α, β)."""
        self.move_to(point[:len(self.directions)])
        values = []
        for s in self.sets:
            score = evaluate(self.model, s.inputs, s.labels, self.options.batch_size, self.options.precision,
                             self.loss)
            values += [score.loss, score.accuracy]
        return values

    def __enter__(self) -> PointEvaluator:
        return self

    def __exit__(self, *exc) -> None:
        self.move_to([])


def compute_surface(model: nn.Module, directions: list[Direction], sets: list[EvalSet], grid: Grid,
                    options: EvalOptions = EvalOptions(), dir_type: str = "weights",
                    quiet: bool = False) -> dict[str, np.ndarray]:
    """Evaluate `model` (any classifier) on the grid, in memory; returns {split_loss/acc: array of
    grid.shape}. The model is left at its original weights, in eval mode."""
    if len(directions) != grid.ndim:
        raise LandscapeError(f"a {grid.ndim}-D grid needs {grid.ndim} direction(s); got {len(directions)}")
    with PointEvaluator(model, directions, sets, options, dir_type) as evaluator:
        out = {n: np.full(grid.shape, np.nan) for n in evaluator.names}
        bar = progress(int(np.prod(grid.shape)), "surface", "pt", quiet)
        for index, point in enumerate(grid.points()):
            for name, value in zip(evaluator.names, evaluator(point)):
                out[name][np.unravel_index(index, grid.shape)] = value
            bar.update()
        bar.close()
    return out
