import numpy as np
import pytest

from landscape.viz.comparison import comparison_figure
from landscape.viz.options import PlotOptions
from tests.helpers import bowl_surface


def test_comparison_panels_share_levels_and_colours(tmp_path):
    paths = [bowl_surface(tmp_path / f"{a}.h5", a, s) for a, s in (("relu", 3.0), ("swish", 2.0), ("mish", 1.0))]
    fig = comparison_figure(paths, PlotOptions(levels=12))
    panels = fig.axes[:3]
    contour_sets = [next(c for c in ax.collections if hasattr(c, "levels")) for ax in panels]
    for cs in contour_sets[1:]:
        np.testing.assert_array_equal(cs.levels, contour_sets[0].levels)
        assert (cs.norm.vmin, cs.norm.vmax) == (contour_sets[0].norm.vmin, contour_sets[0].norm.vmax)
    levels = contour_sets[0].levels
    assert levels[0] == pytest.approx(0.5) and levels[-1] == pytest.approx(9.5)
    heights = levels[1:] - 0.5  # round heights above the minimum in 1-2-5 steps, closed by the top
    np.testing.assert_allclose(heights, [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 9])
    assert [ax.get_title() for ax in panels] == ["ReLU\ntest acc 90.0%", "Swish\ntest acc 90.0%",
                                                 "Mish\ntest acc 90.0%"]
    along_x = fig.axes[-2].get_lines()[2].get_ydata()  # mish: slice through the minimum at β = 0
    np.testing.assert_allclose(along_x, 0.5 + np.linspace(-1, 1, 9) ** 2)
