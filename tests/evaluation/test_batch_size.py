"""The image batch size: the measured default on a CPU (same numbers as a fixed size), the fastest
timed size on a GPU."""
import numpy as np
import torch
from torch import nn

from landscape.evaluation import batch_size
from landscape.evaluation.evaluate import EvalSet
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import random_directions
from landscape.geometry.grid import Axis, Grid
from landscape.geometry.options import DirectionOptions
from landscape.surfaces.in_memory import compute_surface


def test_batch_size_is_chosen_by_timing_and_a_cpu_takes_the_measured_default(monkeypatch):

    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    eval_set = EvalSet("train", torch.randn(300, 3, 2, 2), torch.randint(0, 3, (300,)))
    assert batch_size.choose_batch_size(model, eval_set, EvalOptions()) == batch_size.CPU_BATCH_SIZE
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    grid = Grid(Axis.parse("-1:1:3"))
    automatic = compute_surface(model, directions, [eval_set], grid, EvalOptions(batch_size=None, points_per_batch=1),
                                quiet=True)
    fixed = compute_surface(model, directions, [eval_set], grid, EvalOptions(batch_size=64, points_per_batch=1),
                            quiet=True)
    np.testing.assert_array_equal(automatic["train_loss"], fixed["train_loss"])
    # (start, end) per candidate: 64 images in 1 s, 128 in 1 s (best), 256 in 2.2 s (not 10 % faster): stop at 300
    timings = iter([0.0, 1.0, 1.0, 2.0, 2.0, 4.2])
    monkeypatch.setattr(batch_size.time, "perf_counter", lambda: next(timings))
    assert batch_size.fastest_batch_size(model, eval_set, EvalOptions()) == 128
