"""`compute_surface`: a whole grid scored in memory, for a model and data held by the caller.

Stage: grid evaluation → arrays. The same evaluators as the file-backed sweep (`surfaces.sweep`),
so both give the same numbers; no file, no resuming.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from landscape.errors import LandscapeError
from landscape.evaluation.batch_size import with_batch_size
from landscape.evaluation.calibration import choose_points_per_batch
from landscape.evaluation.engine import evaluator_for
from landscape.evaluation.evaluate import EvalSet
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import Direction
from landscape.geometry.grid import Grid
from landscape.progress import progress


def compute_surface(model: nn.Module, directions: list[Direction], sets: list[EvalSet], grid: Grid,
                    options: EvalOptions = EvalOptions(), dir_type: str = "weights",
                    quiet: bool = False) -> dict[str, np.ndarray]:
    """Evaluate `model` (any classifier) on the grid, in memory; returns {split_loss/acc: array of
    grid.shape}. The model is left at its original weights, in eval mode."""
    if len(directions) != grid.ndim:
        raise LandscapeError(f"a {grid.ndim}-D grid needs {grid.ndim} direction(s); got {len(directions)}")
    options = with_batch_size(options, model.eval(), sets)
    count = options.points_per_batch or \
        choose_points_per_batch(model, directions, sets, options, dir_type).points_per_batch
    points = grid.points()
    with evaluator_for(model, directions, sets, options, dir_type, count) as evaluator:
        out = {n: np.full(grid.shape, np.nan) for n in evaluator.names}
        bar = progress(len(points), "surface", "pt", quiet)
        for start in range(0, len(points), count):
            for offset, row in enumerate(evaluator.many(points[start:start + count])):
                for name, value in zip(evaluator.names, row):
                    out[name][np.unravel_index(start + offset, grid.shape)] = value
            bar.update(min(count, len(points) - start))
        bar.close()
    return out
