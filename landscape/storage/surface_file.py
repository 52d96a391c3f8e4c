"""Reading and writing surface files: create one from a header, read it whole or in parts, write
points, timings, run facts and metrics. The only code that opens a surface file; every write is
atomic (a crash leaves the previous file) and checked against the schema.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from landscape.errors import LandscapeError
from landscape.evaluation.evaluate import value_names
from landscape.evaluation.options import loss_units
from landscape.files import atomic_write
from landscape.geometry.directions import Direction
from landscape.storage.schema import (
    ACCURACY_UNITS,
    AXIS_NAMES,
    CURVATURE_ARRAYS,
    CURVATURE_GROUP,
    SCHEMA,
    SCHEMA_VERSION,
    STORAGE_ORDER,
    CurvatureMap,
    Surface,
    SurfaceHeader,
    SurfaceProgress,
    _attributes,
    _decode,
    _encode,
    _typed,
    direction_names,
    sub_grid,
    values_sha256,
)


def _rewrite(path: Path, update: Callable[[h5py.File], Any]) -> None:
    """Apply `update(h5file)` to a copy of `path`, then atomically replace `path` with it."""
    with atomic_write(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            update(f)


def disk_needed(header: SurfaceHeader, points: int, directions: list[Direction]) -> int:
    """Bytes a run needs free beside its file: the file (directions if stored, value arrays, mask,
    1 MB of attributes and metadata) twice, since every flush writes a copy before renaming it."""
    direction_bytes = sum(t.numel() * t.element_size() for d in directions for t in d.values()) \
        if header.directions_stored else 0
    array_bytes = points * (8 * len(value_names(header.splits)) + 1)
    return 2 * (direction_bytes + array_bytes + (1 << 20))


def create_surface_file(path: str | Path, header: SurfaceHeader, x: np.ndarray, y: np.ndarray | None,
                        directions: list[Direction], trajectory: np.ndarray | None = None) -> Path:
    """Write a new surface file with every point pending (for slices, y is None and there is a row
    per direction); the directions' tensors only if `header.directions_stored`."""
    path = Path(path)
    slices = header.layout == "slices"
    shape = (len(directions), len(x)) if slices else (len(x),) if y is None else (len(y), len(x))
    with atomic_write(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update({"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "storage_order": STORAGE_ORDER})
        f.attrs.update(_attributes(header))
        f.attrs.update(_attributes(SurfaceProgress(points_total=int(np.prod(shape)))))
        scales = []
        for axis, coords in zip(AXIS_NAMES, (x, y)):
            if coords is None:
                continue
            ds = f.create_dataset(f"{axis}coordinates", data=np.asarray(coords, dtype=np.float64))
            ds.attrs.update({"units": f"multiples of direction {axis}", "long_name": f"{'αβ'[len(scales)]} "
                             f"(coefficient of direction {axis})"})
            ds.make_scale(axis)
            scales.append(ds)
        if slices:
            ds = f.create_dataset("direction", data=np.arange(len(directions), dtype=np.int64))
            ds.attrs.update({"units": "index", "long_name": "direction of the slice (row k moves along direction k)"})
            ds.make_scale("direction")
            scales.append(ds)
        for name in value_names(header.splits) + ["done"]:
            is_mask = name == "done"
            ds = f.create_dataset(name, shape=shape, dtype=np.uint8 if is_mask else np.float64,
                                  fillvalue=0 if is_mask else np.nan)
            units = loss_units(header.loss) if name.endswith("_loss") else ACCURACY_UNITS
            ds.attrs["units"] = "1 = computed, 0 = pending" if is_mask else units
            ds.attrs["storage_order"] = STORAGE_ORDER
            for dim, scale in enumerate(reversed(scales)):  # y on dim 0, x on the last dim
                ds.dims[dim].attach_scale(scale)
        group = f.create_group("directions")
        group.attrs["stored"] = header.directions_stored
        for axis, direction in zip(direction_names(header.layout, len(directions)), directions):
            if not header.directions_stored:
                break
            sub = group.create_group(axis)
            for name, tensor in direction.items():
                sub.create_dataset(name, data=tensor.detach().cpu().numpy())
        if trajectory is not None:
            ds = f.create_dataset("trajectory", data=np.asarray(trajectory, dtype=np.float64))
            ds.attrs.update({"units": "multiples of directions x and y (columns α, β)",
                             "long_name": "training snapshots projected on the plane, in file-name order"})
    return path


def _root_attributes(path: str | Path) -> dict:
    """The decoded root attributes, or a LandscapeError if `path` is not a surface file."""
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


def read_header(path: str | Path) -> SurfaceHeader:
    """The header of a surface file (LandscapeError if it is not one)."""
    return _typed(SurfaceHeader, _root_attributes(path))


def read_surface(path: str | Path) -> Surface:
    """Everything but the directions, as numpy arrays (no live HDF5 handles)."""
    attrs = _root_attributes(path)
    with h5py.File(path, "r") as f:
        y = f["ycoordinates"][()] if "ycoordinates" in f else None
        values = {n: f[n][()] for n in f if n.endswith(("_loss", "_acc"))}
        metrics = {k: _decode(v) for k, v in f["metrics"].attrs.items()} if "metrics" in f else {}
        trajectory = f["trajectory"][()] if "trajectory" in f else None
        x = f["xcoordinates"][()]
        curvature = _curvature_map(f[CURVATURE_GROUP], x, y) if CURVATURE_GROUP in f else None
        return Surface(str(path), x, y, values, f["done"][()].astype(bool),
                       _typed(SurfaceHeader, attrs), _typed(SurfaceProgress, attrs), metrics, trajectory, curvature)


def _curvature_map(group: h5py.Group, x: np.ndarray, y: np.ndarray | None) -> CurvatureMap:
    attrs = {k: _decode(v) for k, v in group.attrs.items()}
    every = int(attrs.pop("every"))
    sub_x, sub_y = sub_grid(every, x, y)
    return CurvatureMap(every, sub_x, sub_y, {name: group[name][()] for name in CURVATURE_ARRAYS},
                        group["done"][()].astype(bool), attrs)


def create_curvature_map(path: str | Path, every: int, settings: dict) -> None:
    """Add an empty /hessian group (replacing one made with other settings) to a plane's file: an
    array per CURVATURE_ARRAYS on the sub-grid of every `every`-th point, all pending."""
    surface = read_surface(path)
    sub_x, sub_y = sub_grid(every, surface.x, surface.y)
    shape = (len(sub_x),) if sub_y is None else (len(sub_y), len(sub_x))

    def update(f):
        if CURVATURE_GROUP in f:
            del f[CURVATURE_GROUP]
        group = f.create_group(CURVATURE_GROUP)
        group.attrs.update({k: _encode(v) for k, v in {**settings, "every": every}.items()})
        group.attrs["storage_order"] = STORAGE_ORDER + f", on every {every}-th coordinate of each axis through 0"
        for name, meaning in CURVATURE_ARRAYS.items():
            ds = group.create_dataset(name, shape=shape, dtype=np.float64, fillvalue=np.nan)
            ds.attrs.update({"units": f"{loss_units(surface.header.loss)} per squared unit of weight space",
                             "long_name": meaning})
        group.create_dataset("done", shape=shape, dtype=np.uint8, fillvalue=0).attrs["units"] = \
            "1 = computed, 0 = pending"
    _rewrite(Path(path), update)


def write_curvature_point(path: str | Path, index: tuple[int, ...], values: dict[str, float]) -> None:
    """Store one sub-grid point's CURVATURE_ARRAYS values and mark it done."""
    def update(f):
        group = f[CURVATURE_GROUP]
        for name, value in values.items():
            group[name][index] = value
        group["done"][index] = 1
    _rewrite(Path(path), update)


def read_done(path: str | Path) -> np.ndarray:
    """The boolean mask of computed points, without reading the values."""
    _root_attributes(path)
    with h5py.File(path, "r") as f:
        return f["done"][()].astype(bool)


def read_directions(path: str | Path) -> list[Direction]:
    """The directions stored in a surface file, in order, as dicts of CPU tensors keyed by parameter
    name (LandscapeError for a file that keeps only their seed and checksums)."""
    header = read_header(path)
    if not header.directions_stored:
        raise LandscapeError(f"{path} stores no directions, only their seed and checksums "
                             f"(they are drawn again from its checkpoint: surface.directions_of)")
    with h5py.File(path, "r") as f:
        names = direction_names(header.layout, len(f["directions"]))
        return [{name: torch.from_numpy(ds[()]) for name, ds in f["directions"][axis].items()} for axis in names]


def write_points(path: str | Path, flat_indices: list[int], results: dict[str, list[float]]) -> None:
    """Store computed points (flat row-major indices) and mark them done. Stored metrics were measured
    on the arrays as they were, so they are removed: `landscape metrics` measures the new ones."""
    def update(f):
        if "metrics" in f:
            del f["metrics"]
        done = f["done"][()]
        rows = np.unravel_index(np.asarray(flat_indices, dtype=np.int64), done.shape)
        for name, vals in results.items():
            arr = f[name][()]
            arr[rows] = vals
            f[name][...] = arr
        done[rows] = 1
        f["done"][...] = done
        f.attrs.update({"points_done": int(done.sum()), "complete": bool(done.all())})
    _rewrite(Path(path), update)


def record_timing(path: str | Path, seconds: float, points: int, images: int, engine: dict[str, int]) -> None:
    """Store how long the last run took for its `points` grid points and `images` image passes, and
    how the engine ran (`points_per_batch`, `batchnorms_folded`, `convolutions_fused`, `cpu_workers`)."""
    record_run(path, {"wall_time_s": seconds, "points_per_s": points / seconds, "images_per_s": images / seconds,
                      **engine})


def record_run(path: str | Path, facts: dict) -> None:
    """Store facts about the last run: `SurfaceProgress` fields beyond the point counts."""
    unknown = set(facts) - {f.name for f in dataclasses.fields(SurfaceProgress)}
    if unknown:
        raise ValueError(f"not a SurfaceProgress field: {sorted(unknown)}")
    _rewrite(Path(path), lambda f: f.attrs.update({k: _encode(v) for k, v in facts.items()}))


def write_metrics(path: str | Path, metrics: dict, metric: str = "train_loss") -> None:
    """Store a surface's metrics of its `metric` array as attributes of its /metrics group (replacing
    older ones), with the array's `values_sha256` so that readers can tell they are current. A file
    that already holds these values, up to float rounding (another CPU's kernels differ in the last
    bits), is left as it is, byte for byte, so that measuring finished files again (a study rerun,
    on any machine) does not rewrite them."""
    surface = read_surface(path)
    if metric not in surface.values:
        raise LandscapeError(f"{path} has no {metric!r} to store metrics of")
    metrics = {**metrics, "metric": metric, "values_sha256": values_sha256(surface.values[metric], surface.done)}
    encoded = {k: _encode(v) for k, v in metrics.items()}

    def update(f):
        if "metrics" in f:
            del f["metrics"]
        f.create_group("metrics").attrs.update(encoded)
    stored = _stored_metrics(path)
    if stored is None or not same_up_to_rounding(stored, _plain({k: _decode(v) for k, v in encoded.items()})):
        _rewrite(Path(path), update)


METRICS_RELATIVE_TOLERANCE = 1e-9  # far above float64 rounding, far below any digit a table shows


def same_up_to_rounding(a: Any, b: Any) -> bool:
    """Whether two JSON-like values are equal, numbers within METRICS_RELATIVE_TOLERANCE (or 1e-12 of
    each other near zero; NaN equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_up_to_rounding(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_up_to_rounding(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return (a == b or (math.isnan(a) and math.isnan(b))
                or math.isclose(a, b, rel_tol=METRICS_RELATIVE_TOLERANCE, abs_tol=1e-12))
    return type(a) is type(b) and a == b  # strings, None, and True never equal to 1.0


def _plain(metrics: dict) -> Any:
    """Metrics as plain JSON values (numpy scalars and arrays, tuples → floats, lists), for comparing."""
    return json.loads(json.dumps(metrics, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return str(value)


def _stored_metrics(path: str | Path) -> Any:
    """The /metrics a file holds, as plain JSON values (None if it holds none): for comparing."""
    with h5py.File(path, "r") as f:
        return _plain({k: _decode(v) for k, v in f["metrics"].attrs.items()}) if "metrics" in f else None
