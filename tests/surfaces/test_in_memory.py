import numpy as np
import pytest
import torch
from torch import nn

from landscape import LandscapeError
from landscape.evaluation.engine import PointEvaluator
from landscape.evaluation.evaluate import EvalSet
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import random_directions
from landscape.geometry.grid import Axis, Grid
from landscape.geometry.options import DirectionOptions
from landscape.surfaces.in_memory import compute_surface


def test_linear_model_reproduces_the_analytic_surface_on_a_non_square_grid():
    g = torch.Generator().manual_seed(0)
    features, labels = torch.randn(40, 6, generator=g, dtype=torch.float64), torch.arange(40) % 4
    model = nn.Linear(6, 4, bias=False).double()
    dx, dy = random_directions(model, DirectionOptions(seed=9), 2)
    grid = Grid(Axis.parse("-1:2:5"), Axis.parse("-0.5:0.5:3"))
    out = compute_surface(model, [dx, dy], [EvalSet("train", features, labels)], grid, quiet=True)
    w0, x, y = (t.detach().double().numpy() for t in (model.weight, dx["weight"], dy["weight"]))
    X, Y = features.numpy(), labels.numpy()
    for iy, beta in enumerate(grid.y.coordinates()):
        for ix, alpha in enumerate(grid.x.coordinates()):
            logits = X @ (w0 + alpha * x + beta * y).T
            logp = logits - logits.max(1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(1, keepdims=True))
            assert out["train_loss"][iy, ix] == pytest.approx(-logp[np.arange(40), Y].mean(), rel=1e-10)
            assert out["train_acc"][iy, ix] == pytest.approx((logits.argmax(1) == Y).mean())
    assert torch.equal(model.weight, torch.from_numpy(w0))  # the model is left as it was


def test_grid_and_direction_count_must_agree_and_options_are_checked():
    model = nn.Linear(3, 2)
    dirs = random_directions(model, DirectionOptions(), 1)
    with pytest.raises(LandscapeError, match="2-D grid needs 2 direction"):
        compute_surface(model, dirs, [], Grid.parse("-1:1:3", "-1:1:3"))
    with pytest.raises(LandscapeError, match="unknown precision"):
        EvalOptions(precision="fp8")
    with pytest.raises(LandscapeError, match="unknown direction type"):
        PointEvaluator(model, dirs, [], dir_type="weight")
