import json

import numpy as np

from landscape.cli import main
from landscape.plots import PlotOptions
from landscape.stats import estimate
from landscape.study_figures import output_landscape_figure, training_curves_figure


def test_training_curves_overlay_each_run(tmp_path, capsys):

    for name, offset in (("resnet20_relu", 0.0), ("resnet20_mish", 0.1)):
        records = [{"epoch": e, "train_loss": 2 / e + offset, "train_acc": 0.5, "test_loss": 2.5 / e + offset,
                    "test_acc": 0.5 + 0.01 * e, "lr": 0.1, "seconds": 1.0} for e in range(1, 6)]
        (tmp_path / f"{name}.log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    fig = training_curves_figure([tmp_path / "resnet20_relu.log.jsonl", tmp_path / "resnet20_mish.log.jsonl"])
    acc_lines = fig.axes[2].get_lines()
    assert [line.get_label() for line in acc_lines] == ["relu", "mish"]
    np.testing.assert_allclose(acc_lines[1].get_ydata(), [51, 52, 53, 54, 55])
    assert [ax.get_ylabel() for ax in fig.axes] == ["cross-entropy (nats)", "cross-entropy (nats)", "accuracy (%)"]
    assert main(["curves", str(tmp_path / "resnet20_relu.log.jsonl"), "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000
    (tmp_path / "bad.log.jsonl").write_text("{not json\n")
    assert main(["curves", str(tmp_path / "bad.log.jsonl"), "--out", str(tmp_path / "d")]) == 2
    assert "not a JSON-lines training log" in capsys.readouterr().err


def test_output_landscape_figure_shows_panels_dots_and_intervals():
    images = {"relu": np.random.default_rng(0).random((20, 20)), "mish": np.zeros((20, 20))}
    values = {"relu": np.array([0.1, 0.2, 0.3]), "mish": np.array([0.02, 0.03, 0.01])}
    estimates = {k: estimate(v[None, :]) for k, v in values.items()}
    fig = output_landscape_figure(images, values, estimates, "curvature", PlotOptions(width=6.9))
    panels, strip = fig.axes[:2], fig.axes[-1]
    assert [ax.get_title() for ax in panels] == ["relu", "mish"]
    assert [t.get_text() for t in strip.get_xticklabels()] == ["relu", "mish"] and strip.get_ylabel() == "curvature"
    assert np.allclose(strip.get_lines()[0].get_ydata(), values["relu"])
