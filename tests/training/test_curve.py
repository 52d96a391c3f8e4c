import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.sources.checkpoint import load_checkpoint
from landscape.storage.surface_file import read_surface
from landscape.surfaces.connect import path_state
from tests.surfaces.test_connect import flags


def test_the_untrained_bezier_curve_is_the_line_and_training_its_bend_lowers_the_path(tmp_path, two_models,
                                                                                       image_folder, monkeypatch):
    a, b = (load_checkpoint(p)[0].state_dict() for p in two_models)
    middle = {k: (v + b[k]) / 2 if v.is_floating_point() else v for k, v in a.items()}
    for t in (0.0, 0.3, 1.0):
        curve, line = path_state(t, a, b, middle), path_state(t, a, b)
        assert all(torch.allclose(curve[k].float(), line[k].float(), atol=1e-6) for k in a)
    common = flags(image_folder, tmp_path / "c", "--bn", "keep")
    assert main(["connect", *map(str, two_models), *common]) == 0
    bezier = [*map(str, two_models), *common, "--curve", "bezier", "--curve-epochs", "15", "--curve-lr", "0.05"]
    assert main(["connect", *bezier]) == 0
    line = read_surface(tmp_path / "c" / "m0__m1_line.h5").values["train_loss"]
    curve = read_surface(tmp_path / "c" / "m0__m1_bezier.h5")
    assert curve.header.direction_source == "bezier" and (tmp_path / "c" / "m0__m1_bend.pt").is_file()
    assert curve.values["train_loss"][[0, -1]] == pytest.approx(line[[0, -1]])  # the same ends
    assert np.mean(curve.values["train_loss"][1:-1]) < np.mean(line[1:-1])
    monkeypatch.setattr(torch.optim.SGD, "step", lambda *_: (_ for _ in ()).throw(AssertionError("trained again")))
    assert main(["connect", *bezier]) == 0  # the finished bend and path are reused
