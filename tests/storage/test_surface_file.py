
import h5py
import numpy as np
import pytest

from landscape import LandscapeError
from landscape.storage.schema import values_sha256
from landscape.storage.surface_file import (
    create_surface_file,
    read_done,
    read_header,
    read_surface,
    record_timing,
    same_up_to_rounding,
    write_metrics,
    write_points,
)
from tests.helpers import surface_header


def test_points_progress_timing_and_metrics(tmp_path):
    path = create_surface_file(tmp_path / "s.h5", surface_header(), np.linspace(-1, 1, 3), np.linspace(0, 1, 2), [])
    write_points(path, [0, 5], {"train_loss": [1.0, 2.0], "train_acc": [0.5, 0.25],
                                "test_loss": [3.0, 4.0], "test_acc": [0.1, 0.2]})
    assert read_done(path).tolist() == [[True, False, False], [False, False, True]]
    write_points(path, [1, 2, 3, 4], {name: [0.0] * 4 for name in ("train_loss", "train_acc", "test_loss",
                                                                     "test_acc")})
    record_timing(path, seconds=2.0, points=6, images=120, engine={"points_per_batch": 1})
    write_metrics(path, {"minimum": 0.0, "widths": [{"delta": 0.1}]})
    surface = read_surface(path)
    assert surface.complete and surface.progress.complete and surface.progress.points_done == 6
    assert surface.values["test_loss"][1, 2] == 4.0 and surface.progress.images_per_s == 60.0
    assert surface.metrics == {"minimum": 0.0, "widths": [{"delta": 0.1}], "metric": "train_loss",
                               "values_sha256": values_sha256(surface.values["train_loss"], surface.done)}
    assert surface.current_metrics == surface.metrics
    assert read_header(path) == surface_header()  # progress and metrics never touch the header


def test_stored_metrics_never_outlive_the_values_they_measured(tmp_path):
    """New points remove stored metrics; metrics whose arrays changed behind their back (a file from
    before that rule, edited elsewhere) are not current."""
    path = create_surface_file(tmp_path / "s.h5", surface_header(), np.linspace(-1, 1, 3), None, [])
    write_points(path, [0, 1], {name: [1.0, 2.0] for name in ("train_loss", "train_acc", "test_loss", "test_acc")})
    write_metrics(path, {"minimum": 1.0})
    assert read_surface(path).current_metrics["minimum"] == 1.0
    write_points(path, [2], {name: [0.5] for name in ("train_loss", "train_acc", "test_loss", "test_acc")})
    assert read_surface(path).metrics == {}  # the resumed point changed the minimum: the old one is gone
    write_metrics(path, {"minimum": 0.5})
    with h5py.File(path, "r+") as f:  # values changed without going through write_points
        f["train_loss"][0] = 0.1
    surface = read_surface(path)
    assert surface.metrics["minimum"] == 0.5 and surface.current_metrics == {}


def test_the_same_metrics_again_leave_the_file_untouched(tmp_path):
    path = create_surface_file(tmp_path / "s.h5", surface_header(), np.linspace(-1, 1, 3), None, [])
    metrics = {"minimum": np.float64(0.25), "censored": np.bool_(False), "widths": [{"delta": 0.1, "width": 0.5}]}
    write_metrics(path, metrics)
    before = path.read_bytes()
    write_metrics(path, dict(metrics))  # a rerun measuring the same values
    assert path.read_bytes() == before
    write_metrics(path, {**metrics, "minimum": 0.25 * (1 + 4e-16),  # another CPU's last bits
                         "widths": [{"delta": 0.1, "width": np.nextafter(0.5, 1.0)}]})
    assert path.read_bytes() == before
    write_metrics(path, {**metrics, "minimum": 0.2500001})  # a real change, however small for a table
    assert read_surface(path).metrics["minimum"] == 0.2500001
    write_metrics(path, {**metrics, "minimum": 0.5})
    assert read_surface(path).metrics["minimum"] == 0.5


def test_same_up_to_rounding():
    assert same_up_to_rounding({"a": [1.0, float("nan")], "b": "x"}, {"a": [1.0 + 1e-15, float("nan")], "b": "x"})
    assert same_up_to_rounding(0.0, 1e-15) and same_up_to_rounding(3, 3.0)
    assert not same_up_to_rounding(1.0, 1.0 + 1e-6)
    assert not same_up_to_rounding({"a": 1.0}, {"a": 1.0, "b": 2.0})
    assert not same_up_to_rounding([1.0], [1.0, 2.0])
    assert not same_up_to_rounding(True, 1.0) and not same_up_to_rounding("1", 1.0)


def test_other_files_are_refused_in_one_line(tmp_path):
    with pytest.raises(LandscapeError, match="does not exist"):
        read_header(tmp_path / "none.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(LandscapeError, match="not an HDF5 file"):
        read_surface(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["a"] = 1
    with pytest.raises(LandscapeError, match="not a landscape surface file"):
        read_done(tmp_path / "other.h5")


def test_a_curvature_sub_grid_runs_through_the_origin():
    from landscape.storage.schema import sub_axis

    assert sub_axis(10, np.linspace(-1, 1, 51)).tolist() == pytest.approx([-0.8, -0.4, 0.0, 0.4, 0.8])
    assert sub_axis(2, np.array([-1.0, -0.5, 0.0, 0.5, 1.0])).tolist() == [-1.0, 0.0, 1.0]
    assert sub_axis(2, np.array([0.5, 1.0, 1.5])).tolist() == [0.5, 1.5]  # no origin: from the first
