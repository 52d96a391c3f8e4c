
import numpy as np

from landscape.metrics.stats import estimate
from landscape.studies.figures import depth_accuracy_figure, output_landscape_figure
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


def test_depth_accuracy_figure_names_a_seed_band_only_where_seeds_repeat():
    one_seed = [{"activation": a, "depth": d, "seed": 0, "test_acc": acc}
                for a, acc in (("relu", 0.4), ("mish", 0.6)) for d in (12, 17)]
    activations = {"relu": {}, "mish": {}}

    def legend(rows):
        fig = depth_accuracy_figure(rows, activations, PlotOptions(width=6.9), chance=0.1)
        return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]

    assert "range over seeds" not in legend(one_seed)
    assert "range over seeds" in legend(one_seed + [{**one_seed[0], "seed": 1, "test_acc": 0.45}])
    line = depth_accuracy_figure(one_seed, activations, PlotOptions(width=6.9), 0.1).axes[0].get_lines()[0]
    assert np.allclose(line.get_ydata(), [40, 40]) and list(line.get_xdata()) == [12, 17]
