import numpy as np
import pytest
import torch
from torch import nn

from landscape.evaluation.engine import PointEvaluator
from landscape.evaluation.evaluate import EvalSet
from landscape.evaluation.folding import can_fuse
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import random_directions
from landscape.geometry.options import DirectionOptions


def test_evaluator_returns_the_model_to_its_weights_even_after_an_error():
    model = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    (d,) = random_directions(model, DirectionOptions(seed=1, ignore_biasbn=False), 1)
    data = [EvalSet("train", torch.randn(8, 3), torch.arange(8) % 2)]
    with pytest.raises(RuntimeError, match="stop"), PointEvaluator(model, [d], data) as evaluator:
        assert evaluator.names == ["train_loss", "train_acc"]
        evaluator(np.array([0.5, 0.0]))
        raise RuntimeError("stop")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class OldStyleSquare(torch.autograd.Function):
    """An autograd.Function without a vmap rule (as custom kernels often are)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class SquareNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return OldStyleSquare.apply(self.fc(x))


@pytest.mark.parametrize("dir_type", ["weights", "states"])
def test_batched_points_equal_the_per_point_path(dir_type):
    """K stacked weight sets through vmap give the per-point losses (fp32, 1e-6 relative), for a
    ResNet (PyTorch's Mish, and the compiled kernel of the shipped Swish and Mish checkpoints) and
    for an arbitrary small model, on 1-D and 2-D grids, with a last group smaller than K."""
    from landscape import activation_factory, resnet
    from landscape.evaluation.engine import BatchedEvaluator, PointEvaluator

    torch.manual_seed(0)
    models = [resnet(8, activation_factory("mish")), resnet(8, activation_factory("mish", impl="compiled")),
              nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 5))]
    for model in models:
        model.eval()
        size = 32 if isinstance(model, nn.Sequential) is False else 8
        inputs = torch.randn(30, 3, size, size)
        sets = [EvalSet("train", inputs, torch.randint(0, 5, (30,))), EvalSet("test", inputs[:7], torch.arange(7) % 5)]
        for count in (1, 2):
            directions = random_directions(model, DirectionOptions(seed=1, dir_type=dir_type), count)
            points = np.array([[a, b] for a in (-0.6, 0.0, 0.9) for b in (-0.4, 0.5)])[:, :count]
            with PointEvaluator(model, directions, sets, EvalOptions(batch_size=8), dir_type) as e:
                expected = np.array(e.many(points))
            with BatchedEvaluator(model, directions, sets, EvalOptions(batch_size=8), dir_type, 4) as e:
                got = np.array(e.many(points))
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
            before = {k: v.clone() for k, v in model.state_dict().items()}
            assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # never moved


def test_compiled_scoring_gives_the_same_numbers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 3)).eval()
    sets = [EvalSet("train", torch.randn(12, 3, 6, 6), torch.randint(0, 3, (12,)))]
    directions = random_directions(model, DirectionOptions(seed=0), 2)
    points = np.array([[0.0, 0.0], [0.5, -0.5], [-1.0, 0.2]])
    values = {}
    for compiled in (False, True):
        with PointEvaluator(model, directions, sets, EvalOptions(batch_size=5, compile=compiled)) as evaluator:
            values[compiled] = np.array(evaluator.many(points))
            assert evaluator.engine_settings()["compiled"] == int(compiled)
            # fusion only without torch.compile, which fuses the elementwise steps its own way
            assert evaluator.engine_settings()["convolutions_fused"] == (0 if compiled else int(can_fuse(model)))
    np.testing.assert_allclose(values[True], values[False], rtol=1e-6)


def test_a_model_vmap_cannot_batch_falls_back_to_one_point_or_says_so():
    from landscape.evaluation.calibration import calibrate_points_per_batch
    from landscape.evaluation.engine import BatchedEvaluator, NotBatchable

    model = SquareNet().eval()
    sets = [EvalSet("train", torch.randn(6, 4), torch.randint(0, 3, (6,)))]
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    assert calibrate_points_per_batch(model, directions, sets, EvalOptions(), "weights").points_per_batch == 1
    with pytest.raises(NotBatchable, match="use --points-per-batch 1"):
        BatchedEvaluator(model, directions, sets, EvalOptions(), "weights", 2).many(np.zeros((2, 1)))
