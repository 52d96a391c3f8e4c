"""The HDF5 surface file: the one place that knows its names, layout and attributes.

Stage: grid evaluation → HDF5. Layout (readable by Li et al.'s plotting scripts and by
`xarray.open_dataset(path, engine="h5netcdf")`):

    /xcoordinates [nx] float64            dimension scale "x" (α, multiples of direction x)
    /ycoordinates [ny] float64            dimension scale "y" (β), 2-D surfaces only
    /{split}_loss, /{split}_acc           [ny, nx] (rows follow y) or [nx]; NaN where not done
    /done [ny, nx] or [nx] uint8          1 where a point has been computed
    /directions/x/<param>, /directions/y/<param>
    layout "slices" (`landscape sharpness`): K 1-D slices, slice k along direction k alone:
    /direction [K] int64                  dimension scale "direction" (the row index)
    /{split}_loss, /{split}_acc, /done    [K, nx]
    /directions/0/<param> … /directions/K-1/<param>   only with `directions_stored` (attribute
                                          "stored" of /directions); otherwise the header's seed,
                                          options and `direction_sha256` say how to draw them again
    /metrics                              attributes written by the metrics stage
    /trajectory [n, 2] float64            (α, β) of each training snapshot, when x and y are the
                                          path's principal axes (`surface --trajectory`)
    root attributes                       a `SurfaceHeader` (what the surface is), `SurfaceProgress`
                                          (how far it got) and the schema name and version

Other modules see the attributes only as these typed dataclasses. Every update rewrites a
copy and renames it over the file, so a process killed at any moment leaves the last
flushed state intact, never a corrupt file.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from .activations import display_name
from .directions import Direction
from .errors import LandscapeError
from .evaluate import loss_units
from .files import atomic_write

SCHEMA = "landscape.surface"
SCHEMA_VERSION = 1
STORAGE_ORDER = "[iy, ix]: rows follow ycoordinates, columns follow xcoordinates"
ACCURACY_UNITS = "fraction of examples classified correctly"
AXIS_NAMES = ("x", "y")


@dataclass(frozen=True)
class SurfaceHeader:
    """What a surface is and where each part came from: model, directions, data, grid and
    evaluation settings. Written once when the file is created; field names are the attribute
    names (Li et al.'s where theirs exist). Files of older versions lack some: those read as the
    defaults here."""

    layout: str = "plane"  # plane: a 1-D or 2-D grid along x[, y]; slices: K 1-D slices (see module doc)
    # the model
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    architecture: str | None = None
    depth: int | None = None
    activation: str | None = None
    activation_params: dict = field(default_factory=dict)
    checkpoint_test_acc: float | None = None
    checkpoint_test_loss: float | None = None
    model_factory: str | None = None  # your own model: the factory `--model` named (checkpoint: its weights)
    model_args: dict = field(default_factory=dict)
    # the directions
    direction_source: str = "random"  # random | file | target | pca
    direction_norm: str = "filter"
    direction_ignore: str = "biasbn"
    direction_type: str = "weights"
    direction_seed: int | None = None
    orthogonalized: bool = False
    cosine_xy: float | None = None
    direction_sha256: tuple[str, ...] = ()  # of each direction's tensors (`directions.direction_sha256`)
    directions_stored: bool = True  # False: only their seed and checksums, drawn again when needed
    directions_file: str | None = None
    directions_file_sha256: str | None = None
    target: str | None = None
    target_sha256: str | None = None
    trajectory: str | None = None  # the snapshot folder whose path gave the plane
    trajectory_sha256: str | None = None
    trajectory_snapshots: tuple[str, ...] = ()
    explained_variance: tuple[float, ...] = ()
    # the data
    data_source: str | None = None
    dataset: str = "cifar10"  # a torchvision set's name, imagefolder:PATH or MODULE:CALLABLE
    data_sha256: str | None = None  # of the chosen examples and labels of every split, by content
    normalization_mean: tuple[float, ...] = ()  # per channel, pixel units in [0, 1]; () when none applied
    normalization_std: tuple[float, ...] = ()
    image_size: int | None = None  # the size images were resized to, if they were
    splits: tuple[str, ...] = ("train",)
    samples: int | None = None
    data_seed: int = 0
    # the grid and the evaluation
    grid_x: str | None = None
    grid_y: str | None = None
    precision: str = "fp32"
    loss: str = "cross_entropy"
    batch_size: int | None = None
    device: str | None = None
    world_size: int = 1
    versions: dict = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)  # the settings a resumed run must match

    @property
    def title(self) -> str:
        """The model as a reader names it: 'Leaky ReLU (slope 0.3)', or your model's factory and weights."""
        return display_name(self.activation, self.activation_params) if self.activation else self.activation_label

    @property
    def activation_label(self) -> str:
        """The activation with its parameters, e.g. 'leaky_relu (negative_slope=0.3)'; for your own
        model, its factory and weights file."""
        if self.activation is None:
            return f"{self.model_factory or 'model'} ({Path(self.checkpoint or '').name})"
        params = ", ".join(f"{k}={v}" for k, v in self.activation_params.items() if k != "impl")
        return f"{self.activation}" + (f" ({params})" if params else "")


@dataclass(frozen=True)
class SurfaceProgress:
    """How far the computation got, how fast and how the engine ran (once a run has finished), and
    for a surface computed in bf16 or tf32 its measured error against fp32 at a few points."""

    points_done: int = 0
    points_total: int = 0
    complete: bool = False
    wall_time_s: float | None = None
    points_per_s: float | None = None
    images_per_s: float | None = None
    points_per_batch: int | None = None  # grid points scored per pass in the last run (engine.BatchedEvaluator)
    calibration_seconds_per_point: dict | None = None  # --points-per-batch auto: candidate → seconds per round
    batchnorms_folded: int | None = None  # BatchNorms folded into convolutions in the last run (folding)
    convolutions_fused: int | None = None  # convolutions run with their activation/addition fused in (folding)
    cpu_workers: int | None = None  # image batches scored at once on a CPU in the last run (evaluate.evaluate)
    compiled: int | None = None  # 1 when the last run scored through torch.compile (--compile)
    precision_error_abs: float | None = None  # below fp32: largest |loss − fp32 loss| at the checked points
    precision_error_rel: float | None = None  # the same, relative to the fp32 loss
    precision_error_points: int | None = None  # how many points were checked


@dataclass(frozen=True)
class Surface:
    """A surface read into memory: coordinates, value arrays, done mask, header and metrics."""

    path: str
    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]
    done: np.ndarray
    header: SurfaceHeader = field(default_factory=SurfaceHeader)
    progress: SurfaceProgress = field(default_factory=SurfaceProgress)
    metrics: dict = field(default_factory=dict)
    trajectory: np.ndarray | None = None  # [n, 2] (α, β) of a projected training path, if stored

    @property
    def ndim(self) -> int:
        """1 or 2 for a plane; 1 for slices (each row is a 1-D curve)."""
        return 1 if self.y is None else 2

    @property
    def is_slices(self) -> bool:
        return self.header.layout == "slices"

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    @property
    def partial_note(self) -> str:
        """'partial: N of M points' for an unfinished surface, '' for a finished one: every number and
        figure made from a partial surface carries it."""
        return "" if self.complete else f"partial: {int(self.done.sum()):,} of {self.done.size:,} points"

    def require_complete(self, partial: bool = False) -> Surface:
        """This surface, if finished or if `partial` results were asked for (LandscapeError otherwise):
        a minimum or a width read off part of a grid is not the surface's."""
        if not self.done.any():
            raise LandscapeError(f"{self.path} has no finished points yet; run `landscape surface` first")
        if not self.complete and not partial:
            raise LandscapeError(f"{self.path} is unfinished ({self.partial_note}): rerun the `landscape surface` "
                                 f"command that made it to finish it, or pass --partial to use what is there")
        return self

    @property
    def current_metrics(self) -> dict:
        """The stored metrics if they were measured on the values as they are now (their
        `values_sha256` matches), else {}: stale numbers are never shown as the surface's."""
        name = self.metrics.get("metric", "train_loss")
        if name not in self.values or self.metrics.get("values_sha256") != values_sha256(self.values[name], self.done):
            return {}
        return self.metrics


def values_sha256(values: np.ndarray, done: np.ndarray) -> str:
    """The identity of one value array with its done mask, by content: what stored metrics were measured on."""
    digest = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(done, dtype=bool).tobytes())
    return digest.hexdigest()


def value_names(splits: tuple[str, ...]) -> list[str]:
    """The value datasets for these splits: train_loss, train_acc, test_loss, test_acc order."""
    return [f"{split}_{kind}" for split in splits for kind in ("loss", "acc")]


def direction_names(layout: str, count: int) -> list[str]:
    """The group names of the stored directions: x[, y] on a plane, 0 … K-1 for slices."""
    return [str(k) for k in range(count)] if layout == "slices" else list(AXIS_NAMES[:count])


def _decode(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "{[n":
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


def _typed(cls, attrs: dict):
    """An instance of dataclass `cls` from the attributes it names (tuples restored from lists)."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in attrs:
            value = attrs[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) and str(f.type).startswith("tuple") else value
    return cls(**kwargs)


def _attributes(obj) -> dict:
    return {k: _encode(v) for k, v in dataclasses.asdict(obj).items()}


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
        return Surface(str(path), f["xcoordinates"][()], y, values, f["done"][()].astype(bool),
                       _typed(SurfaceHeader, attrs), _typed(SurfaceProgress, attrs), metrics, trajectory)


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
