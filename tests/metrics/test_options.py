"""The options of `landscape metrics` and `landscape sharpness`: checked on construction; a
sharpness run's slices and planes are plain surface configs on the same images."""
import pytest

from landscape import LandscapeError
from landscape.metrics.options import DEFAULT_THRESHOLDS, MetricsConfig, SharpnessConfig, plane_path, slices_path


def test_metrics_need_an_input_and_positive_thresholds():
    with pytest.raises(LandscapeError, match="at least one surface file or --checkpoint"):
        MetricsConfig()
    with pytest.raises(LandscapeError, match="--thresholds must be positive"):
        MetricsConfig(surfaces=("s.h5",), thresholds=(0.5, 0.0))
    assert MetricsConfig(surfaces=("s.h5",)).thresholds == DEFAULT_THRESHOLDS == (0.1, 0.5, 1.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"checkpoints": ()}, "at least one checkpoint"), ({"directions": 0}, "--directions"),
    ({"planes": -1}, "--planes"), ({"thresholds": (-1.0,)}, "--thresholds")])
def test_bad_sharpness_options_are_refused(kwargs, message):
    with pytest.raises(LandscapeError, match=message):
        SharpnessConfig(**{"checkpoints": ("a.pt",), **kwargs})


def test_slices_and_planes_share_images_grid_and_seed():
    config = SharpnessConfig(checkpoints=("runs/a.pt",), out_dir="out", directions=7, seed=3, samples=50)
    slices, plane = config.surface_config("runs/a.pt"), config.plane_config("runs/a.pt", 2)
    assert slices.out == str(slices_path("out", "runs/a.pt")) == "out/a_slices.h5" and slices.slices == 7
    assert plane.out == str(plane_path("out", "runs/a.pt", 2)) == "out/a_plane2.h5"
    assert (plane.x, plane.y, plane.slices) == (config.x, config.x, 0)
    assert slices.samples == plane.samples == 50 and slices.directions.seed == 3
