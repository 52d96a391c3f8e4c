
import numpy as np

from landscape.metrics.stats import estimate
from landscape.studies.figures import output_landscape_figure
from landscape.viz.options import PlotOptions


def test_output_landscape_figure_shows_panels_dots_and_intervals():
    images = {"relu": np.random.default_rng(0).random((20, 20)), "mish": np.zeros((20, 20))}
    values = {"relu": np.array([0.1, 0.2, 0.3]), "mish": np.array([0.02, 0.03, 0.01])}
    estimates = {k: estimate(v[None, :]) for k, v in values.items()}
    fig = output_landscape_figure(images, values, estimates, "curvature", PlotOptions(width=6.9))
    panels, strip = fig.axes[:2], fig.axes[-1]
    assert [ax.get_title() for ax in panels] == ["relu", "mish"]
    assert [t.get_text() for t in strip.get_xticklabels()] == ["relu", "mish"] and strip.get_ylabel() == "curvature"
    assert np.allclose(strip.get_lines()[0].get_ydata(), values["relu"])
