import pytest
import torch
from torch import nn

from landscape.evaluation.evaluate import EvalSet
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import random_directions
from landscape.geometry.options import DirectionOptions


def test_more_points_per_pass_only_when_clearly_faster_in_every_round():
    from landscape.evaluation.calibration import pick_points_per_batch

    assert pick_points_per_batch({1: [1.0, 1.0, 1.0], 4: [0.5, 0.6, 0.8]}) == 4  # ≥ 15 % faster each round
    assert pick_points_per_batch({1: [1.0, 1.0, 1.0], 4: [0.5, 0.5, 0.9]}) == 1  # one round within the margin
    assert pick_points_per_batch({1: [1.0, 3.0, 1.0], 2: [0.9, 1.0, 0.95]}) == 1  # a burst of load on one round
    assert pick_points_per_batch({1: [0.5, 0.5, 0.5], 2: [1.0, 1.0, 1.0]}) == 1
    assert pick_points_per_batch({1: [1.0] * 3, 2: [0.8] * 3, 4: [0.7] * 3}) == 4  # the fastest median


def test_a_cpu_keeps_one_point_per_pass_without_timing(monkeypatch):
    from landscape.evaluation import calibration

    monkeypatch.setattr(calibration, "time_points", lambda *a, **k: pytest.fail("a CPU does not calibrate"))
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    sets = [EvalSet("train", torch.randn(10, 3, 2, 2), torch.randint(0, 3, (10,)))]
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    assert calibration.choose_points_per_batch(model, directions, sets, EvalOptions(), "weights").points_per_batch == 1


def test_calibration_times_every_candidate_interleaved(monkeypatch):
    from landscape.evaluation import calibration

    calls = []
    speed = {1: 1.0, 2: 0.4, 4: 0.3, 8: 0.5}  # seconds per point: 8 is 67 % slower than 4, so it stops there

    def fake_time(model, directions, probe, options, dir_type, count, warm_up):
        calls.append((count, warm_up))
        return speed[count]
    monkeypatch.setattr(calibration, "time_points", fake_time)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    sets = [EvalSet("train", torch.randn(10, 3, 2, 2), torch.randint(0, 3, (10,)))]
    directions = random_directions(model, DirectionOptions(seed=0), 1)
    calibration = calibration.calibrate_points_per_batch(model, directions, sets, EvalOptions(), "weights")
    assert calibration.points_per_batch == 4
    assert calibration.seconds_per_point == {1: [1.0] * 3, 2: [0.4] * 3, 4: [0.3] * 3}
    assert calls[:4] == [(1, True), (2, True), (4, True), (8, True)]
    assert [c for c, _ in calls[4:]] == [1, 2, 4, 4, 2, 1, 1, 2, 4]  # alternating order, no warm-up
