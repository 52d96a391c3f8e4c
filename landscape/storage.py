"""The HDF5 surface file: the one place that knows its names, layout and attributes.

Stage: grid evaluation → HDF5. Layout (readable by Li et al.'s plotting scripts and by
`xarray.open_dataset(path, engine="h5netcdf")`):

    /xcoordinates [nx] float64            dimension scale "x" (α, multiples of direction x)
    /ycoordinates [ny] float64            dimension scale "y" (β), 2-D surfaces only
    /{split}_loss, /{split}_acc           [ny, nx] (rows follow y) or [nx]; NaN where not done
    /done [ny, nx] or [nx] uint8          1 where a point has been computed
    /directions/x/<param>, /directions/y/<param>
    /metrics                              attributes written by the metrics stage
    /trajectory [n, 2] float64            (α, β) of each training snapshot, when x and y are the
                                          path's principal axes (`surface --trajectory`)
    root attributes                       settings, provenance, progress (see SurfaceFile.create)

Every update rewrites a copy and renames it over the file, so a process killed at any
moment leaves the last flushed state intact, never a corrupt file.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from .directions import Direction
from .errors import LandscapeError

SCHEMA = "landscape.surface"
SCHEMA_VERSION = 1
STORAGE_ORDER = "[iy, ix]: rows follow ycoordinates, columns follow xcoordinates"
UNITS = {"loss": "nats (mean cross-entropy per example)", "acc": "fraction of examples classified correctly"}
AXIS_NAMES = ("x", "y")


def value_names(splits: tuple[str, ...]) -> list[str]:
    """The value datasets for these splits: train_loss, train_acc, test_loss, test_acc order."""
    return [f"{split}_{kind}" for split in splits for kind in ("loss", "acc")]


@dataclass(frozen=True)
class Surface:
    """A surface read into memory: coordinates, value arrays, done mask and attributes."""

    path: str
    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]
    done: np.ndarray
    attrs: dict
    metrics: dict
    trajectory: np.ndarray | None = None  # [n, 2] (α, β) of a projected training path, if stored

    @property
    def ndim(self) -> int:
        return 1 if self.y is None else 2

    @property
    def complete(self) -> bool:
        return bool(self.done.all())


def _decode(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode(value):
    """HDF5 attributes hold scalars and strings; dicts, lists and None go in as JSON."""
    if isinstance(value, (dict, list, tuple)) or value is None:
        return json.dumps(value)
    return value


def _rewrite(path: Path, update) -> None:
    """Apply `update(h5file)` to a copy of `path`, then atomically replace `path` with it."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.copyfile(path, tmp)
    with h5py.File(tmp, "r+") as f:
        update(f)
    os.replace(tmp, path)


def create_surface_file(path: str | Path, x: np.ndarray, y: np.ndarray | None, splits: tuple[str, ...],
                        directions: list[Direction], attrs: dict, trajectory: np.ndarray | None = None) -> Path:
    """Write a new surface file with every point pending; `attrs` must include 'fingerprint'."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (len(x),) if y is None else (len(y), len(x))
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs.update({"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "storage_order": STORAGE_ORDER,
                        "complete": False, "points_done": 0, "points_total": int(np.prod(shape))})
        f.attrs.update({k: _encode(v) for k, v in attrs.items()})
        scales = []
        for axis, coords in zip(AXIS_NAMES, (x, y)):
            if coords is None:
                continue
            ds = f.create_dataset(f"{axis}coordinates", data=np.asarray(coords, dtype=np.float64))
            ds.attrs.update({"units": f"multiples of direction {axis}", "long_name": f"{'αβ'[len(scales)]} "
                             f"(coefficient of direction {axis})"})
            ds.make_scale(axis)
            scales.append(ds)
        for name in value_names(splits) + ["done"]:
            is_mask = name == "done"
            ds = f.create_dataset(name, shape=shape, dtype=np.uint8 if is_mask else np.float64,
                                  fillvalue=0 if is_mask else np.nan)
            ds.attrs["units"] = "1 = computed, 0 = pending" if is_mask else UNITS[name.rsplit("_", 1)[1]]
            ds.attrs["storage_order"] = STORAGE_ORDER
            for dim, scale in enumerate(reversed(scales)):  # y on dim 0, x on the last dim
                ds.dims[dim].attach_scale(scale)
        group = f.create_group("directions")
        for axis, direction in zip(AXIS_NAMES, directions):
            sub = group.create_group(axis)
            for name, tensor in direction.items():
                sub.create_dataset(name, data=tensor.detach().cpu().numpy())
        if trajectory is not None:
            ds = f.create_dataset("trajectory", data=np.asarray(trajectory, dtype=np.float64))
            ds.attrs.update({"units": "multiples of directions x and y (columns α, β)",
                             "long_name": "training snapshots projected on the plane, in file-name order"})
    os.replace(tmp, path)
    return path


def open_attrs(path: str | Path) -> dict:
    """The root attributes of a surface file, or a LandscapeError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"surface file {path} does not exist")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
    except OSError:
        raise LandscapeError(f"{path} is not an HDF5 file") from None
    if attrs.get("schema") != SCHEMA:
        raise LandscapeError(f"{path} is not a landscape surface file (no schema attribute {SCHEMA!r})")
    return attrs


def read_surface(path: str | Path) -> Surface:
    """Everything but the directions, as numpy arrays (no live HDF5 handles)."""
    attrs = open_attrs(path)
    with h5py.File(path, "r") as f:
        y = f["ycoordinates"][()] if "ycoordinates" in f else None
        names = [n for n in f if n.endswith(("_loss", "_acc"))]
        values = {n: f[n][()] for n in names}
        metrics = {k: _decode(v) for k, v in f["metrics"].attrs.items()} if "metrics" in f else {}
        trajectory = f["trajectory"][()] if "trajectory" in f else None
        return Surface(str(path), f["xcoordinates"][()], y, values, f["done"][()].astype(bool), attrs, metrics,
                       trajectory)


def read_directions(path: str | Path) -> list[Direction]:
    """The directions stored in a surface file, as dicts of CPU tensors keyed by parameter name."""
    open_attrs(path)
    with h5py.File(path, "r") as f:
        return [{name: torch.from_numpy(ds[()]) for name, ds in f["directions"][axis].items()}
                for axis in AXIS_NAMES if axis in f["directions"]]


def write_points(path: str | Path, flat_indices: list[int], results: dict[str, list[float]]) -> None:
    """Store computed points (flat row-major indices) and mark them done."""
    def update(f):
        done = f["done"][()]
        shape = done.shape
        rows = np.unravel_index(np.asarray(flat_indices, dtype=np.int64), shape)
        for name, vals in results.items():
            arr = f[name][()]
            arr[rows] = vals
            f[name][...] = arr
        done[rows] = 1
        f["done"][...] = done
        f.attrs["points_done"] = int(done.sum())
        f.attrs["complete"] = bool(done.all())
    _rewrite(Path(path), update)


def update_attrs(path: str | Path, attrs: dict) -> None:
    """Add or replace root attributes (e.g. timings once a run ends)."""
    def update(f):
        f.attrs.update({k: _encode(v) for k, v in attrs.items()})
    _rewrite(Path(path), update)


def write_metrics(path: str | Path, metrics: dict) -> None:
    """Store a surface's metrics as attributes of its /metrics group (replacing older ones)."""
    def update(f):
        if "metrics" in f:
            del f["metrics"]
        group = f.create_group("metrics")
        group.attrs.update({k: _encode(v) for k, v in metrics.items()})
    open_attrs(path)
    _rewrite(Path(path), update)
