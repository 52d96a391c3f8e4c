"""`DirectionOptions`: Li et al.'s defaults, and every named choice checked."""
import pytest

from landscape import LandscapeError
from landscape.geometry.options import DIRECTION_TYPES, NORMALIZATIONS, DirectionOptions


def test_defaults_are_li_et_al_s_and_choices_are_checked():
    options = DirectionOptions()
    assert (options.norm, options.ignore_biasbn, options.dir_type) == ("filter", True, "weights")
    assert set(NORMALIZATIONS) == {"filter", "layer", "weight", "none"}
    assert set(DIRECTION_TYPES) == {"weights", "states"}
    for norm in NORMALIZATIONS:
        DirectionOptions(norm=norm)
    with pytest.raises(LandscapeError, match="normalisation"):
        DirectionOptions(norm="filters")
    with pytest.raises(LandscapeError, match="direction type"):
        DirectionOptions(dir_type="buffers")
