import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape.storage.schema import SurfaceHeader
from landscape.storage.surface_file import (
    create_surface_file,
    read_directions,
    read_header,
    read_surface,
)
from tests.helpers import surface_header

SHIPPED = Path(__file__).resolve().parents[2] / "figures" / "surfaces" / "resnet20_relu_path.h5"


def test_header_round_trips_with_its_types(tmp_path):
    written = surface_header(cosine_xy=None, direction_seed=3)
    direction = {"w": torch.arange(6.0).view(2, 3)}
    path = create_surface_file(tmp_path / "s.h5", written, np.linspace(-1, 1, 3), np.linspace(0, 1, 2),
                               [direction, direction])
    assert read_header(path) == written
    surface = read_surface(path)
    assert surface.header == written and surface.values.keys() == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert surface.progress.points_total == 6 and not surface.progress.complete and surface.ndim == 2
    assert torch.equal(read_directions(path)[1]["w"], direction["w"])
    assert written.activation_label == "leaky_relu (negative_slope=0.3)"


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
    assert surface.header.direction_source == "pca" and surface.header.grid_x == "-7.2:46.8:31"
    assert len(surface.header.trajectory_snapshots) == 11 and surface.trajectory.shape == (11, 2)
    assert {f.name for f in dataclasses.fields(SurfaceHeader)} >= {"checkpoint_sha256", "fingerprint"}

