"""The names readers see: one set of axis names by where the directions came from, plain titles."""
import dataclasses

from landscape.storage.surface_file import read_surface
from landscape.viz.labels import axis_label, metric_label, plane_note, short_axis_label, surface_title
from tests.helpers import bowl_surface


def with_source(surface, **changes):
    return dataclasses.replace(surface, header=dataclasses.replace(surface.header, **changes))


def test_axis_names_follow_the_direction_source(tmp_path):
    surface = read_surface(bowl_surface(tmp_path / "b.h5", "leaky_relu", 1.0))
    assert axis_label("x", surface) == "α (filter-normalised direction 1)"
    assert short_axis_label("y", surface) == "β (direction 2)"
    assert plane_note(surface) == "one random draw of filter-normalised directions"
    path = with_source(surface, direction_source="pca", explained_variance=(0.6, 0.25))
    assert axis_label("y", path) == "β (training path PC2, 25 % of its variance)"
    assert short_axis_label("x", path) == "α (path PC1)" and "principal components" in plane_note(path)
    target = with_source(surface, direction_source="target")
    assert axis_label("x", target) == "α (interpolation towards target)"
    assert short_axis_label("x", target) == "α (target)"


def test_metric_names_and_titles(tmp_path):
    assert metric_label("test_acc") == "test accuracy" and metric_label("train_loss", log=True) == "log10 train loss"
    surface = read_surface(bowl_surface(tmp_path / "b.h5", "relu", 1.0))
    assert surface_title(surface) == "ReLU, test acc 90.0%"
