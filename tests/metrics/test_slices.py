import math

import numpy as np
import pytest

from landscape import LandscapeError
from landscape.metrics.slices import crossing, has_second_minimum, slice_metrics


def test_quadratic_bowl_widths_to_1e_3_between_grid_points():
    """loss = 0.3 + ½·c·(α − a)²: the interval {loss < min + Δ} is 2·√(2Δ/c) wide; the grid is coarse
    (31 points), so the ends lie between grid points and the grid minimum is off the true one."""
    c, a = 8.0, 0.013
    x = np.linspace(-1, 1, 31)
    z = 0.3 + 0.5 * c * (x - a) ** 2
    m = slice_metrics(x, z, (0.1, 0.5, 1.0))
    assert m.curvature == pytest.approx(c, rel=1e-9) and m.argmin == pytest.approx(0.0)
    for w in m.widths:
        level = m.minimum + w.delta  # measured from the lowest grid value
        half = math.sqrt(2 * (level - 0.3) / c)
        assert w.left == pytest.approx(a - half, abs=1e-3) and w.right == pytest.approx(a + half, abs=1e-3)
        assert w.width == pytest.approx(2 * half, abs=1e-3) and not w.censored


def test_crossing_is_exact_on_a_parabola_and_linear_at_the_edge():
    x = np.array([0.0, 0.1, 0.2, 0.3])
    z = x ** 2
    assert crossing(x, z, 2, 3, 0.05) == pytest.approx(math.sqrt(0.05), abs=1e-12)
    assert crossing(x, z, 0, 1, 0.005) == pytest.approx(0.05)  # no inner point: the chord


def test_a_basin_that_leaves_the_grid_is_flagged_as_a_lower_bound():
    x = np.linspace(-1, 1, 21)
    m = slice_metrics(x, 0.1 * x ** 2, (0.05, 1.0))
    narrow, wide = m.widths
    assert not narrow.censored and wide.censored
    assert (wide.left, wide.right) == (-1.0, 1.0) and wide.width == 2.0
    assert m.flat()["censored_1"] is True and m.flat()["width_1"] == 2.0


def test_one_sided_censoring_and_nan_walls():
    x = np.linspace(0, 1, 11)
    z = (x - 0.05) ** 2
    z[8] = np.nan  # a diverged point: the basin ends somewhere after the last finite point
    (w,) = slice_metrics(x, z, (10.0,)).widths
    assert w.censored and w.left == 0.0 and w.right == pytest.approx(0.7)
    z[0] = 5.0
    (w,) = slice_metrics(x, z, (1.0,)).widths
    assert w.censored and 0 < w.left < 0.1 and w.right == pytest.approx(0.7)


def test_bad_slices_are_refused():
    with pytest.raises(LandscapeError, match="at least 5 points"):
        slice_metrics(np.arange(3.0), np.arange(3.0), (1.0,))
    with pytest.raises(LandscapeError, match="no finite loss"):
        slice_metrics(np.arange(6.0), np.full(6, np.nan), (1.0,))


def test_a_second_minimum_counts_only_below_the_lowest_value_plus_the_margin():
    """A double well (x² − 1)² + 0.3·x has two basins; its upper one lies 0.6 above the lower one,
    so it counts with a margin of 1 and not with 0.5. A parabola, and a plateau, have none."""
    x = np.linspace(-2, 2, 41)
    well = (x ** 2 - 1) ** 2 + 0.3 * x
    assert has_second_minimum(well, above=1.0) and not has_second_minimum(well, above=0.5)
    assert not has_second_minimum(x ** 2) and not has_second_minimum(np.ones_like(x))
    assert not has_second_minimum(np.where(x > 1.5, np.nan, x ** 2))  # points not computed are not minima
