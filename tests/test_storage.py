import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape import LandscapeError
from landscape.storage import (
    SurfaceHeader,
    create_surface_file,
    read_directions,
    read_done,
    read_header,
    read_surface,
    record_timing,
    same_up_to_rounding,
    values_sha256,
    write_metrics,
    write_points,
)

SHIPPED = Path(__file__).resolve().parents[1] / "figures" / "surfaces" / "resnet20_relu_path.h5"


def header(**changes) -> SurfaceHeader:
    return SurfaceHeader(checkpoint="ck.pt", activation="leaky_relu", activation_params={"negative_slope": 0.3},
                         splits=("train", "test"), samples=10, grid_x="-1:1:3", grid_y="0:1:2",
                         explained_variance=(0.6, 0.2), trajectory_snapshots=("a.pt", "b.pt"),
                         fingerprint={"grid": ["-1:1:3", "0:1:2"]}, **changes)


def test_header_round_trips_with_its_types(tmp_path):
    written = header(cosine_xy=None, direction_seed=3)
    direction = {"w": torch.arange(6.0).view(2, 3)}
    path = create_surface_file(tmp_path / "s.h5", written, np.linspace(-1, 1, 3), np.linspace(0, 1, 2),
                               [direction, direction])
    assert read_header(path) == written
    surface = read_surface(path)
    assert surface.header == written and surface.values.keys() == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert surface.progress.points_total == 6 and not surface.progress.complete and surface.ndim == 2
    assert torch.equal(read_directions(path)[1]["w"], direction["w"])
    assert written.activation_label == "leaky_relu (negative_slope=0.3)"


def test_points_progress_timing_and_metrics(tmp_path):
    path = create_surface_file(tmp_path / "s.h5", header(), np.linspace(-1, 1, 3), np.linspace(0, 1, 2), [])
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
    assert read_header(path) == header()  # progress and metrics never touch the header


def test_stored_metrics_never_outlive_the_values_they_measured(tmp_path):
    """New points remove stored metrics; metrics whose arrays changed behind their back (a file from
    before that rule, edited elsewhere) are not current."""
    path = create_surface_file(tmp_path / "s.h5", header(), np.linspace(-1, 1, 3), None, [])
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
    path = create_surface_file(tmp_path / "s.h5", header(), np.linspace(-1, 1, 3), None, [])
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


def test_files_of_the_first_format_open(tmp_path):
    """A file as version 0.1.0 wrote it: attributes only, no header class; missing fields get defaults."""
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update({"schema": "landscape.surface", "schema_version": 1, "activation": "relu",
                        "splits": '["train"]', "complete": True, "points_done": 2, "points_total": 2,
                        "activation_params": "{}", "an_attribute_we_no_longer_write": 1})
        f["xcoordinates"] = np.array([0.0, 1.0])
        f["train_loss"], f["train_acc"], f["done"] = np.ones(2), np.ones(2), np.ones(2, np.uint8)
    surface = read_surface(path)
    assert surface.header.activation == "relu" and surface.header.splits == ("train",)
    assert surface.header.checkpoint is None and surface.progress.complete and surface.ndim == 1


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped surfaces not present")
def test_a_shipped_surface_reads_into_the_header():
    surface = read_surface(SHIPPED)
    assert surface.header.direction_source == "pca" and surface.header.grid_x == "-6:46:31"
    assert len(surface.header.trajectory_snapshots) == 11 and surface.trajectory.shape == (11, 2)
    assert {f.name for f in dataclasses.fields(SurfaceHeader)} >= {"checkpoint_sha256", "fingerprint"}


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
