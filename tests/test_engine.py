import numpy as np
import pytest
import torch
from torch import nn

from landscape import LandscapeError
from landscape.directions import DirectionOptions, random_directions
from landscape.engine import EvalOptions, PointEvaluator, compute_surface
from landscape.evaluate import EvalSet
from landscape.folding import can_fuse
from landscape.grid import Axis, Grid


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


def test_grid_and_direction_count_must_agree_and_options_are_checked():
    model = nn.Linear(3, 2)
    dirs = random_directions(model, DirectionOptions(), 1)
    with pytest.raises(LandscapeError, match="2-D grid needs 2 direction"):
        compute_surface(model, dirs, [], Grid.parse("-1:1:3", "-1:1:3"))
    with pytest.raises(LandscapeError, match="unknown precision"):
        EvalOptions(precision="fp8")
    with pytest.raises(LandscapeError, match="unknown direction type"):
        PointEvaluator(model, dirs, [], dir_type="weight")


@pytest.mark.parametrize("dir_type", ["weights", "states"])
def test_batched_points_equal_the_per_point_path(dir_type):
    """K stacked weight sets through vmap give the per-point losses (fp32, 1e-6 relative), for a
    ResNet (PyTorch's Mish, and the compiled kernel of the shipped Swish and Mish checkpoints) and
    for an arbitrary small model, on 1-D and 2-D grids, with a last group smaller than K."""
    from landscape import activation_factory, resnet
    from landscape.engine import BatchedEvaluator, PointEvaluator

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


def test_more_points_per_pass_only_when_clearly_faster_in_every_round():
    from landscape.engine import pick_points_per_batch

    assert pick_points_per_batch({1: [1.0, 1.0, 1.0], 4: [0.5, 0.6, 0.8]}) == 4  # ≥ 15 % faster each round
    assert pick_points_per_batch({1: [1.0, 1.0, 1.0], 4: [0.5, 0.5, 0.9]}) == 1  # one round within the margin
    assert pick_points_per_batch({1: [1.0, 3.0, 1.0], 2: [0.9, 1.0, 0.95]}) == 1  # a burst of load on one round
    assert pick_points_per_batch({1: [0.5, 0.5, 0.5], 2: [1.0, 1.0, 1.0]}) == 1
    assert pick_points_per_batch({1: [1.0] * 3, 2: [0.8] * 3, 4: [0.7] * 3}) == 4  # the fastest median


def test_a_cpu_keeps_one_point_per_pass_without_timing(monkeypatch):
    from landscape import engine

    monkeypatch.setattr(engine, "time_points", lambda *a, **k: pytest.fail("a CPU does not calibrate"))
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    sets = [EvalSet("train", torch.randn(10, 3, 2, 2), torch.randint(0, 3, (10,)))]
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    assert engine.choose_points_per_batch(model, directions, sets, EvalOptions(), "weights").points_per_batch == 1


def test_calibration_times_every_candidate_interleaved(monkeypatch):
    from landscape import engine

    calls = []
    speed = {1: 1.0, 2: 0.4, 4: 0.3, 8: 0.5}  # seconds per point: 8 is 67 % slower than 4, so it stops there

    def fake_time(model, directions, probe, options, dir_type, count, warm_up):
        calls.append((count, warm_up))
        return speed[count]
    monkeypatch.setattr(engine, "time_points", fake_time)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    sets = [EvalSet("train", torch.randn(10, 3, 2, 2), torch.randint(0, 3, (10,)))]
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    calibration = engine.calibrate_points_per_batch(model, directions, sets, EvalOptions(), "weights")
    assert calibration.points_per_batch == 4
    assert calibration.seconds_per_point == {1: [1.0] * 3, 2: [0.4] * 3, 4: [0.3] * 3}
    assert calls[:4] == [(1, True), (2, True), (4, True), (8, True)]
    assert [c for c, _ in calls[4:]] == [1, 2, 4, 4, 2, 1, 1, 2, 4]  # alternating order, no warm-up


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


def test_a_model_vmap_cannot_batch_falls_back_to_one_point_or_says_so():
    from landscape.engine import BatchedEvaluator, NotBatchable, calibrate_points_per_batch

    model = SquareNet().eval()
    sets = [EvalSet("train", torch.randn(6, 4), torch.randint(0, 3, (6,)))]
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    assert calibrate_points_per_batch(model, directions, sets, EvalOptions(), "weights").points_per_batch == 1
    with pytest.raises(NotBatchable, match="use --points-per-batch 1"):
        BatchedEvaluator(model, directions, sets, EvalOptions(), "weights", 2).many(np.zeros((2, 1)))


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


def test_batch_size_is_chosen_by_timing_and_a_cpu_takes_the_measured_default(monkeypatch):
    from landscape import engine

    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    eval_set = EvalSet("train", torch.randn(300, 3, 2, 2), torch.randint(0, 3, (300,)))
    assert engine.choose_batch_size(model, eval_set, EvalOptions()) == engine.CPU_BATCH_SIZE
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    grid = Grid(Axis.parse("-1:1:3"))
    automatic = compute_surface(model, directions, [eval_set], grid, EvalOptions(batch_size=None, points_per_batch=1),
                                quiet=True)
    fixed = compute_surface(model, directions, [eval_set], grid, EvalOptions(batch_size=64, points_per_batch=1),
                            quiet=True)
    np.testing.assert_array_equal(automatic["train_loss"], fixed["train_loss"])
    # (start, end) per candidate: 64 images in 1 s, 128 in 1 s (best), 256 in 2.2 s (not 10 % faster): stop at 300
    timings = iter([0.0, 1.0, 1.0, 2.0, 2.0, 4.2])
    monkeypatch.setattr(engine.time, "perf_counter", lambda: next(timings))
    assert engine.fastest_batch_size(model, eval_set, EvalOptions()) == 128
