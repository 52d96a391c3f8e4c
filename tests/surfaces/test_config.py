"""`SurfaceConfig`: contradictory or empty settings are refused on construction, in one line."""
import pytest

from landscape import LandscapeError
from landscape.surfaces.config import SurfaceConfig


@pytest.mark.parametrize("kwargs, message", [
    ({"splits": ("val",)}, "split"), ({"flush_seconds": float("nan")}, "--flush-seconds"),
    ({"x": " "}, "--x is empty"), ({"y": ""}, "leave --y out"),
    ({"target": "t.pt", "y": "-1:1:3"}, "--target gives one direction"),
    ({"target": "t.pt", "trajectory": "snaps"}, "each give the directions"),
    ({"slices": -1}, "slices must be positive"), ({"slices": 4, "y": "-1:1:3"}, "slices are 1-D"),
    ({"store_directions": False, "target": "t.pt"}, "only random directions"),
    ({"trajectory": "snaps"}, "add --y"), ({"x": "auto:5"}, "auto:NUM fit the grid")])
def test_contradictions_are_refused(kwargs, message):
    with pytest.raises(LandscapeError, match=message) as info:
        SurfaceConfig(checkpoint="c.pt", out="s.h5", **kwargs)
    assert "\n" not in str(info.value)


def test_a_training_path_plane_with_fitted_axes_is_accepted():
    config = SurfaceConfig(checkpoint="c.pt", out="s.h5", x="auto:9", y="auto:9", trajectory="snaps")
    assert config.directions.norm == "filter" and config.eval.loss == "cross_entropy"
