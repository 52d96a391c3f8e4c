import numpy as np
import pytest

from landscape import LandscapeError
from landscape.geometry.grid import Axis, Grid, auto_points, fit_axes, is_auto, require_covers


def test_axis_parsing():
    assert Axis.parse("-1:1:51").coordinates()[25] == 0.0
    assert Axis.parse("0:0:1").coordinates().tolist() == [0.0]
    for bad in ("1:-1:0", "1:-1:5", "-1:1", "a:b:c", "-1:1:1", "-1:1:5:2"):
        with pytest.raises(LandscapeError, match="grid spec"):
            Axis.parse(bad)


def test_grid_points_are_row_major_over_y_then_x():
    grid = Grid(Axis.parse("0:2:3"), Axis.parse("10:11:2"))
    assert grid.shape == (2, 3)
    assert grid.points().tolist() == [[0, 10], [1, 10], [2, 10], [0, 11], [1, 11], [2, 11]]


def test_axis_text_round_trips():
    for spec in ("-1:1:51", "-6:46:31", "0.25:0.75:3"):
        assert str(Axis.parse(spec)) == spec


def test_fitted_axes_hold_the_path_with_a_margin_and_the_origin_as_a_grid_point():
    path = np.array([[40.9, 2.7], [10.0, -20.0], [0.0, 0.0]])
    grid = fit_axes(path, (31, 21))
    assert grid.shape == (21, 31) and grid.covers(path)
    assert grid.x.start < -4.09 and grid.x.stop > 44.99 and grid.y.start < -22.27 and grid.y.stop > 4.97  # 10 % margin
    assert str(grid.x) == "-5.1:45.9:31"  # spacing 49.08 / 30 = 1.636 rounded up to 1.7, three steps below 0
    for axis in (grid.x, grid.y):
        assert list(axis.coordinates()).count(0.0) == 1  # the model itself is a grid point, exactly
    require_covers(grid, path)


def test_fitted_axes_keep_the_origin_on_the_grid_for_any_path():
    rng = np.random.default_rng(0)
    for _ in range(500):
        path = np.vstack([rng.normal(size=(4, 2)) * 10 ** rng.uniform(-3, 3), [0.0, 0.0]])
        grid = fit_axes(path, tuple(int(n) for n in rng.integers(3, 60, size=2)))
        assert grid.covers(path)
        assert all(list(axis.coordinates()).count(0.0) == 1 for axis in (grid.x, grid.y))


def test_a_grid_that_misses_the_path_is_refused_with_a_suggestion():
    path = np.array([[2.0, 1.0], [0.0, 0.0]])
    with pytest.raises(LandscapeError, match=r"try --x=-0\.74:2\.22:5 --y=-1\.1:1\.1:3"):
        require_covers(Grid.parse("-1:1:5", "-1:1:3"), path)


def test_auto_specs():
    assert is_auto("auto:31") and not is_auto("-1:1:5") and not is_auto(None)
    assert auto_points("auto:31") == 31
    for bad in ("auto", "auto:2", "auto:x"):
        with pytest.raises(LandscapeError, match="auto:NUM"):
            auto_points(bad)
