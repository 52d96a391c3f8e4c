"""`PlotOptions`: sizes, formats, kinds and colour ranges checked on construction."""
import pytest

from landscape import LandscapeError
from landscape.viz.options import FORMATS, KINDS_2D, PlotOptions


@pytest.mark.parametrize("kwargs, message", [
    ({"kinds": ("pie",)}, "plot kind"), ({"formats": ()}, "--format needs at least one"),
    ({"formats": ("jpg",)}, "format"), ({"levels": 1}, "--levels"), ({"dpi": 5}, "--dpi"),
    ({"width": 100.0}, "--width"), ({"vmin": float("nan")}, "--vmin"), ({"vmin": 2.0, "vmax": 1.0}, "below --vmax")])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(LandscapeError, match=message):
        PlotOptions(**kwargs)


def test_defaults_draw_every_kind_as_a_single_column_png():
    options = PlotOptions()
    assert options.kinds == KINDS_2D and options.formats == ("png",) and "pdf" in FORMATS and options.width == 3.3
