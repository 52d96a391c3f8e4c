import pytest

from landscape.errors import LandscapeError, require_choice


def test_require_choice_names_the_value_and_the_choices():
    require_choice("precision", "fp32", ("fp32", "bf16"))
    with pytest.raises(LandscapeError, match="unknown precision 'fp16'; expected one of fp32, bf16"):
        require_choice("precision", "fp16", ("fp32", "bf16"))


def test_require_at_least_names_the_first_field_below_its_least():
    from dataclasses import dataclass

    from landscape.errors import require_at_least

    @dataclass
    class Options:
        lanczos_steps: int = 1
        every: int = 0

    require_at_least(Options(lanczos_steps=2, every=1), {"lanczos_steps": 2, "every": 1})
    with pytest.raises(LandscapeError, match="^--lanczos-steps must be at least 2; got 1$"):
        require_at_least(Options(), {"lanczos_steps": 2, "every": 1})
