"""The model contract: outputs selected from tuples, dicts and .logits keep the parameter names and
score like the plain model; a loss of your own must be a mean."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscape.evaluation.contract import checked_model
from landscape.evaluation.evaluate import EvalSet


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


class TupleOut(Plain):
    def forward(self, x):
        z = super().forward(x)
        return z, z.square()


class DictOut(Plain):
    def forward(self, x):
        return {"aux": super().forward(x) * 0, "scores": super().forward(x)}


class LogitsOut(Plain):
    class Output:
        def __init__(self, logits):
            self.logits = logits

    def forward(self, x):
        return self.Output(super().forward(x))


@pytest.mark.parametrize("cls, key", [(TupleOut, None), (DictOut, "scores"), (LogitsOut, None), (TupleOut, "0")])
def test_tuple_dict_and_logits_outputs_score_like_the_plain_model(cls, key):
    torch.manual_seed(0)
    plain = Plain().eval()
    model = cls().eval()
    model.load_state_dict(plain.state_dict())
    names = [n for n, _ in model.named_parameters()]
    inputs, labels = torch.randn(12, 3, 8, 8), torch.arange(12) % 10
    sets = [EvalSet("train", inputs, labels)]
    adapted = checked_model(model, sets, output_key=key)
    assert [n for n, _ in adapted.named_parameters()] == names  # directions are keyed by these
    with torch.no_grad():
        torch.testing.assert_close(adapted(inputs), plain(inputs))
    from landscape.evaluation.engine import PointEvaluator
    from landscape.evaluation.options import EvalOptions
    from landscape.geometry.directions import random_directions
    from landscape.geometry.options import DirectionOptions
    directions = random_directions(plain, DirectionOptions(seed=0), 1)
    points = np.array([[-0.5], [0.0], [0.5]])
    with PointEvaluator(plain, directions, sets, EvalOptions(batch_size=5)) as e:
        expected = e.many(points)
    with PointEvaluator(adapted, directions, sets, EvalOptions(batch_size=5)) as e:
        got = e.many(points)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_mean_loss_of_your_own_is_accepted(tmp_path):
    (tmp_path / "losses.py").write_text("import torch.nn.functional as F\n"
                                        "def smooth(outputs, labels):\n"
                                        "    return F.cross_entropy(outputs, labels, label_smoothing=0.1)\n")
    sets = [EvalSet("train", torch.randn(12, 3, 8, 8), torch.arange(12) % 10)]
    checked_model(Plain(), sets, loss=f"{tmp_path / 'losses.py'}:smooth")  # no error
