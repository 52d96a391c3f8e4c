"""Every named precision is accepted by the options, training and `runtime.autocast` alike, and an
unknown one by none of them."""
import pytest
import torch

from landscape import LandscapeError
from landscape.evaluation.options import EvalOptions
from landscape.precision import PRECISIONS
from landscape.runtime import autocast
from landscape.training.config import TrainConfig


def test_every_precision_is_accepted_everywhere_and_others_nowhere():
    assert PRECISIONS == ("fp32", "bf16", "tf32")
    for precision in PRECISIONS:
        EvalOptions(precision=precision)
        TrainConfig(precision=precision)
        with autocast(torch.device("cpu"), precision):
            pass
    for build in (lambda: EvalOptions(precision="fp16"), lambda: TrainConfig(precision="fp16"),
                  lambda: autocast(torch.device("cpu"), "fp16")):
        with pytest.raises(LandscapeError, match="precision"):
            build()
