import math

import pytest

from landscape import LandscapeError, TrainConfig
from landscape.training.config import learning_rate


def test_bad_options_are_refused():
    with pytest.raises(LandscapeError, match="unknown optimizer 'lbfgs'; expected one of sgd, rmsprop, adam"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(LandscapeError, match="--epochs must be at least 1"):
        TrainConfig(epochs=0)
    with pytest.raises(LandscapeError, match="does not take beta"):
        TrainConfig(activation="relu", activation_params={"beta": 2.0})


def test_learning_rate_schedules():
    assert learning_rate("cosine", 0.1, 0, 100) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 50, 100) == pytest.approx(0.05)
    assert learning_rate("cosine", 0.1, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert [learning_rate("step", 0.1, s, 100) for s in (0, 49, 50, 75)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    peak = max(learning_rate("onecycle", 0.1, s, 100) for s in range(101))
    assert peak == pytest.approx(0.1) and learning_rate("onecycle", 0.1, 0, 100) == pytest.approx(0.004)
    assert math.isclose(learning_rate("onecycle", 0.1, 100, 100), 0.1 / 25e4)
    assert {learning_rate("constant", 0.01, s, 100) for s in (0, 50, 100)} == {0.01}


def test_the_default_recipe_is_unchanged_by_the_dataset_options():
    """Runs trained before --dataset and --no-augment existed keep their recipes (and resume)."""
    assert not {"dataset", "augment"} & set(TrainConfig().recipe())
    assert TrainConfig(dataset="mnist", augment=False).recipe()["dataset"] == "mnist"
    with pytest.raises(LandscapeError, match="unknown dataset 'mnits'"):
        TrainConfig(dataset="mnits")
