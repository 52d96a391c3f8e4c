import numpy as np

from landscape.viz.options import PlotOptions
from landscape.viz.spectrum import FLOOR, spectrum_figure


def test_the_figure_draws_each_model_its_runs_and_lambda_max_on_a_log_axis():
    grid = np.linspace(-1, 5, 50)
    record = {"grid": grid.tolist(), "density": np.exp(-grid ** 2).tolist(),
              "density_runs": [np.exp(-grid ** 2).tolist(), np.zeros(50).tolist()]}
    fig = spectrum_figure({"relu": record, "mish": record}, PlotOptions(), lambda_max={"mish": 4.0})
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "Hessian eigenvalue" and ax.get_ylim()[0] == FLOOR
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["relu (2 runs)", "mish (2 runs)"]
    assert len(ax.lines) == 2 * 3 + 1  # two runs and the mean per model, one λmax line
    assert min(min(line.get_ydata()) for line in ax.lines[:6]) >= FLOOR  # zeros drawn at the floor
