import pytest

from landscape.errors import LandscapeError, require_choice


def test_require_choice_names_the_value_and_the_choices():
    require_choice("precision", "fp32", ("fp32", "bf16"))
    with pytest.raises(LandscapeError, match="unknown precision 'fp16'; expected one of fp32, bf16"):
        require_choice("precision", "fp16", ("fp32", "bf16"))
