import json
from pathlib import Path

import numpy as np
import pytest

from landscape.cli import main
from landscape.viz.training_curves import training_curves_figure


def test_training_curves_overlay_each_run(tmp_path, capsys):

    for name, offset in (("resnet20_relu", 0.0), ("resnet20_mish", 0.1)):
        records = [{"epoch": e, "train_loss": 2 / e + offset, "train_acc": 0.5, "test_loss": 2.5 / e + offset,
                    "test_acc": 0.5 + 0.01 * e, "lr": 0.1, "seconds": 1.0} for e in range(1, 6)]
        (tmp_path / f"{name}.log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    fig = training_curves_figure([tmp_path / "resnet20_relu.log.jsonl", tmp_path / "resnet20_mish.log.jsonl"])
    acc_lines = fig.axes[2].get_lines()
    assert [line.get_label() for line in acc_lines] == ["ReLU", "Mish"]  # the names readers see
    np.testing.assert_allclose(acc_lines[1].get_ydata(), [51, 52, 53, 54, 55])
    assert [ax.get_ylabel() for ax in fig.axes] == ["cross-entropy (nats)", "cross-entropy (nats)", "accuracy (%)"]
    assert main(["curves", str(tmp_path / "resnet20_relu.log.jsonl"), "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000
    (tmp_path / "bad.log.jsonl").write_text("{not json\n")
    assert main(["curves", str(tmp_path / "bad.log.jsonl"), "--out", str(tmp_path / "d")]) == 2
    assert "not a JSON-lines training log" in capsys.readouterr().err


@pytest.mark.skipif(not Path("checkpoints/resnet20_leaky_relu.pt").is_file(), reason="shipped checkpoints not present")
def test_a_run_is_named_by_the_checkpoint_beside_its_log():
    from landscape.viz.training_curves import run_name

    assert run_name("checkpoints/resnet20_leaky_relu.log.jsonl") == "Leaky ReLU (slope 0.3)"
