"""Means with intervals beside the individual values: what the axes show is what the estimates say."""
import numpy as np
from matplotlib.figure import Figure

from landscape.metrics.stats import estimate
from landscape.viz.estimates import draw_estimates


def test_each_group_shows_its_values_its_mean_and_its_interval():
    rng = np.random.default_rng(0)
    values = {"relu": rng.normal(1.0, 0.1, 12), "mish": rng.normal(2.0, 0.3, 12)}
    estimates = {k: estimate(v) for k, v in values.items()}
    ax = Figure().add_subplot()
    draw_estimates(ax, values, estimates, {"relu": "ReLU"})
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert [sorted(d.get_ydata()) for d in dots] == [sorted(values["relu"]), sorted(values["mish"])]
    means = [line for line in ax.lines if line.get_marker() == "s"]
    assert [float(m.get_ydata()[0]) for m in means] == [estimates["relu"].mean, estimates["mish"].mean]
    bars = [c for c in ax.collections if c.get_segments()]
    for bar, name in zip(bars, values):
        (low, high) = sorted(bar.get_segments()[0][:, 1])
        assert np.isclose(low, estimates[name].low) and np.isclose(high, estimates[name].high)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ReLU", "mish"]
