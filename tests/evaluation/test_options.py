"""`EvalOptions`: bad settings are refused on construction, with the flag named."""
import pytest

from landscape import LandscapeError
from landscape.evaluation.options import LOSSES, EvalOptions, loss_units, require_loss


@pytest.mark.parametrize("kwargs, message", [
    ({"precision": "fp16"}, "precision"), ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ({"points_per_batch": 0}, "--points-per-batch must be at least 1"), ({"batch_size": 0}, "--batch-size"),
    ({"workers": 0}, "--workers")])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(LandscapeError, match=message):
        EvalOptions(**kwargs)


def test_losses_are_named_or_your_own():
    for loss in LOSSES:
        require_loss(loss)
        assert "per example" in loss_units(loss)
    require_loss("my_losses.py:smooth")  # checked when it is imported, not here
    assert loss_units("pkg:loss") == "pkg:loss, mean per example"
    assert EvalOptions().batch_size == 64 and EvalOptions(batch_size=None).batch_size is None
