"""Grid evaluation: loss and accuracy at θ + α·x + β·y for every grid point (Li et al. 2018).

Stage: directions → grid evaluation → HDF5 (via storage). `compute_surface` is the engine
for any nn.Module and data; `run_surface` is the pipeline behind `landscape surface`:
checkpoint, data and directions in, a resumable surface file out, the points optionally
shared across torchrun ranks.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .checkpoint import file_sha256, load_checkpoint
from .data import SPLITS, balanced_subset, load_cifar10
from .directions import (Direction, DirectionOptions, check_compatible, cosine, model_entries,
                         random_directions, target_direction, trajectory_pca)
from .errors import LandscapeError, require_choice
from .evaluate import evaluate, prepare_inputs
from .runtime import PRECISIONS, library_versions, resolve_device
from . import storage


@dataclass(frozen=True)
class Axis:
    """Evenly spaced coordinates start..stop (inclusive) with num points."""

    start: float
    stop: float
    num: int

    @classmethod
    def parse(cls, spec: str) -> "Axis":
        """'START:STOP:NUM', e.g. '-1:1:51'; NUM ≥ 2 and START < STOP (or NUM = 1 and START = STOP)."""
        parts = spec.split(":")
        try:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if len(parts) != 3:
                raise ValueError
        except (ValueError, IndexError):
            raise LandscapeError(f"grid spec {spec!r} is not START:STOP:NUM (e.g. -1:1:51)") from None
        if num < 1 or (num == 1) != (start == stop) or start > stop:
            raise LandscapeError(f"grid spec {spec!r} needs START < STOP and NUM >= 2 (or START = STOP, NUM = 1)")
        return cls(start, stop, num)

    def coordinates(self) -> np.ndarray:
        return np.linspace(self.start, self.stop, self.num, dtype=np.float64)

    def __str__(self) -> str:
        return f"{self.start:g}:{self.stop:g}:{self.num}"


@dataclass(frozen=True)
class Grid:
    """A 1-D (y None) or 2-D grid; points are enumerated row-major over [iy, ix]."""

    x: Axis
    y: Axis | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.x.num,) if self.y is None else (self.y.num, self.x.num)

    def points(self) -> np.ndarray:
        """[num_points, 2] (α, β) in storage order (β = 0 on a 1-D grid)."""
        xs = self.x.coordinates()
        if self.y is None:
            return np.stack([xs, np.zeros_like(xs)], axis=1)
        beta, alpha = np.meshgrid(self.y.coordinates(), xs, indexing="ij")
        return np.stack([alpha.ravel(), beta.ravel()], axis=1)


@dataclass(frozen=True)
class EvalSet:
    """One split's prepared inputs [N, 3, H, W] (normalised, on the device) and labels [N]."""

    split: str
    inputs: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class EvalOptions:
    """Evaluation batch size (64 keeps ResNet-20's activations in cache: benchmarks/bench_surface.py)
    and precision."""

    batch_size: int = 64
    precision: str = "fp32"

    def __post_init__(self):
        require_choice("precision", self.precision, PRECISIONS)
        if self.batch_size < 1:
            raise LandscapeError(f"--batch-size must be at least 1; got {self.batch_size}")


class WeightSetter:
    """Moves a model's entries to θ + α·x + β·y in place (no model rebuild), and back."""

    def __init__(self, model: nn.Module, directions: list[Direction], dir_type: str):
        self.entries = model_entries(model, dir_type)
        for axis, direction in zip("xy", directions):
            check_compatible(self.entries, direction, f"direction {axis}")
        self.origin = {k: v.detach().clone() for k, v in self.entries.items()}
        self.directions = [{k: d[k].to(self.origin[k]) for k in self.entries} for d in directions]

    @torch.no_grad()
    def move_to(self, coefficients: Iterable[float]) -> None:
        for name, tensor in self.entries.items():
            tensor.copy_(self.origin[name])
            for coefficient, direction in zip(coefficients, self.directions):
                if coefficient:
                    tensor.add_(direction[name], alpha=float(coefficient))

    def restore(self) -> None:
        self.move_to([])


def evaluate_point(setter: WeightSetter, model: nn.Module, point: np.ndarray, sets: list[EvalSet],
                   options: EvalOptions) -> list[float]:
    """[loss, acc] per set, in order, at grid point (α, β)."""
    setter.move_to(point[:len(setter.directions)])
    values = []
    for s in sets:
        score = evaluate(model, s.inputs, s.labels, options.batch_size, options.precision)
        values += [score.loss, score.accuracy]
    return values


def compute_surface(model: nn.Module, directions: list[Direction], sets: list[EvalSet], grid: Grid,
                    options: EvalOptions = EvalOptions(), dir_type: str = "weights",
                    quiet: bool = False) -> dict[str, np.ndarray]:
    """Evaluate `model` (any classifier) on the grid, in memory; returns {split_loss/acc: array of
    grid.shape}. The model is left at its original weights, in eval mode. (`run_surface` is the
    resumable, file-backed, multi-process version.)
    """
    if len(directions) != (1 if grid.y is None else 2):
        raise LandscapeError(f"a {len(grid.shape)}-D grid needs {len(grid.shape)} direction(s); got {len(directions)}")
    names = storage.value_names(tuple(s.split for s in sets))
    out = {n: np.full(grid.shape, np.nan) for n in names}
    model.eval()
    setter = WeightSetter(model, directions, dir_type)
    try:
        for index, point in enumerate(tqdm(grid.points(), desc="surface", unit="pt", disable=quiet or None)):
            values = evaluate_point(setter, model, point, sets, options)
            for name, value in zip(names, values):
                out[name][np.unravel_index(index, grid.shape)] = value
    finally:
        setter.restore()
    return out


@dataclass(frozen=True)
class SurfaceConfig:
    """Everything `landscape surface` needs; defaults match the CLI's."""

    checkpoint: str
    out: str
    data: str | None = None
    x: str = "-1:1:51"
    y: str | None = None
    splits: tuple[str, ...] = ("train",)
    samples: int = 1000
    data_seed: int = 0
    directions: DirectionOptions = field(default_factory=DirectionOptions)
    target: str | None = None
    directions_file: str | None = None
    trajectory: str | None = None
    eval: EvalOptions = field(default_factory=EvalOptions)
    device: str = "auto"
    force: bool = False
    flush_seconds: float = 5.0
    quiet: bool = False

    def __post_init__(self):
        for split in self.splits:
            require_choice("split", split, SPLITS)
        if self.target and self.y:
            raise LandscapeError("--target gives one direction (an interpolation); drop --y or --target")
        given = [flag for flag, value in (("--target", self.target), ("--directions", self.directions_file),
                                          ("--trajectory", self.trajectory)) if value]
        if len(given) > 1:
            raise LandscapeError(f"{' and '.join(given)} each give the directions; use one")
        if self.trajectory and not self.y:
            raise LandscapeError("--trajectory gives a plane of two directions; add --y")

    def grid(self) -> Grid:
        return Grid(Axis.parse(self.x), Axis.parse(self.y) if self.y else None)


@dataclass(frozen=True)
class Ranks:
    """This process's place among torchrun workers (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1

    @property
    def is_writer(self) -> bool:
        return self.rank == 0


def join_ranks(device_name: str) -> tuple[Ranks, torch.device]:
    """Join the torchrun process group if launched by torchrun (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks(), resolve_device(device_name)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size()), device


def load_eval_sets(config: SurfaceConfig, device: torch.device) -> tuple[list[EvalSet], str]:
    """The same class-balanced `samples` images of each split for every point and every model."""
    sets, source = [], ""
    for split in config.splits:
        images = load_cifar10(config.data, split, quiet=config.quiet)
        chosen = images.subset(balanced_subset(images.labels, min(config.samples, len(images)), config.data_seed))
        sets.append(EvalSet(split, prepare_inputs(chosen.images, device), chosen.labels.to(device)))
        source = images.source
    return sets, source


@dataclass(frozen=True)
class DirectionSource:
    """The directions of a run, the attributes that say where they came from, and the training
    path's (α, β) coordinates when they are its principal axes."""

    directions: list[Direction]
    attrs: dict
    trajectory: np.ndarray | None = None


def snapshot_files(folder: str) -> list[Path]:
    """The checkpoints of a snapshot folder (`train --save-every`), in name (epoch) order."""
    path = Path(folder)
    if not path.is_dir():
        raise LandscapeError(f"--trajectory {folder} is not a folder of snapshots (train with --save-every K)")
    return sorted(path.glob("*.pt"))


def path_plane(snapshot_dir: str, model: nn.Module, options: DirectionOptions) -> DirectionSource:
    """Directions x, y = the top principal axes of the training path from snapshot_dir to `model`."""
    files = snapshot_files(snapshot_dir)
    snapshots = [model_entries(load_checkpoint(f)[0], options.dir_type) for f in files]
    plane = trajectory_pca(model_entries(model, options.dir_type), snapshots, options.ignore_biasbn)
    hashes = hashlib.sha256("".join(file_sha256(f) for f in files).encode()).hexdigest()
    attrs = {"direction_source": "pca", "trajectory": snapshot_dir, "trajectory_sha256": hashes,
             "trajectory_snapshots": [f.name for f in files], "explained_variance": plane.explained_variance}
    return DirectionSource(plane.directions, attrs, plane.coordinates)


def covering_axes(points: np.ndarray, nums: tuple[int, int], margin: float = 0.1) -> tuple[str, str]:
    """Grid specs (x, y) of nums = (nx, ny) points that hold the [n, 2] points with a margin on every side."""
    specs = []
    for column, num in zip(points.T, nums):
        low, high = float(column.min()), float(column.max())
        pad = margin * max(high - low, 1e-3)
        step = 10.0 ** (np.floor(np.log10(high - low + 2 * pad)) - 1)  # round outwards to 2 significant digits
        start, stop = np.floor((low - pad) / step) * step, np.ceil((high + pad) / step) * step
        specs.append(f"{start:.10g}:{stop:.10g}:{num}")
    return specs[0], specs[1]


def check_grid_covers(grid: Grid, points: np.ndarray) -> None:
    """Refuse a grid that would leave part of the training path off the figure, suggesting one."""
    axes = (grid.x.coordinates(), grid.y.coordinates())
    if all(a.min() <= points[:, i].min() and points[:, i].max() <= a.max() for i, a in enumerate(axes)):
        return
    x, y = covering_axes(points, (len(axes[0]), len(axes[1])))
    raise LandscapeError(f"the training path spans α ∈ [{points[:, 0].min():.3g}, {points[:, 0].max():.3g}], "
                         f"β ∈ [{points[:, 1].min():.3g}, {points[:, 1].max():.3g}], outside the grid; "
                         f"try --x={x} --y={y}")


def make_directions(config: SurfaceConfig, model: nn.Module, count: int) -> DirectionSource:
    """The directions for this run and the attributes that describe where they came from."""
    if config.trajectory:
        return path_plane(config.trajectory, model, config.directions)
    if config.directions_file:
        directions = storage.read_directions(config.directions_file)[:count]
        if len(directions) < count:
            raise LandscapeError(f"{config.directions_file} holds {len(directions)} direction(s); "
                                 f"this grid needs {count}")
        return DirectionSource(directions, {"direction_source": "file", "directions_file": config.directions_file,
                                            "directions_file_sha256": file_sha256(config.directions_file)})
    if config.target:
        target, _ = load_checkpoint(config.target)
        return DirectionSource([target_direction(model, target, config.directions.dir_type)], {
            "direction_source": "target", "target": config.target, "target_sha256": file_sha256(config.target)})
    return DirectionSource(random_directions(model, config.directions, count), {"direction_source": "random"})


def surface_fingerprint(config: SurfaceConfig, checkpoint_sha: str, source_attrs: dict) -> dict:
    """The settings that decide the numbers (JSON-normalised): a resumed run must match them exactly."""
    settings = {"checkpoint_sha256": checkpoint_sha, "grid": [config.x, config.y], "splits": list(config.splits),
                "samples": config.samples, "data_seed": config.data_seed,
                "directions": dataclasses.asdict(config.directions), "eval": dataclasses.asdict(config.eval),
                **{k: v for k, v in source_attrs.items() if k.endswith("sha256") or k == "direction_source"}}
    return json.loads(json.dumps(settings))


def surface_attrs(config: SurfaceConfig, meta: dict, directions: list[Direction], extra: dict) -> dict:
    """Provenance and settings stored as root attributes of the surface file."""
    return {"checkpoint": str(config.checkpoint), "architecture": meta.get("architecture"),
            "depth": meta.get("depth"), "activation": meta.get("activation"),
            "activation_params": meta.get("activation_params", {}),
            "checkpoint_test_acc": meta.get("test_acc"), "checkpoint_test_loss": meta.get("test_loss"),
            "direction_norm": config.directions.norm, "direction_ignore": "biasbn" if config.directions.ignore_biasbn
            else "none", "direction_type": config.directions.dir_type, "direction_seed": config.directions.seed,
            "orthogonalized": config.directions.orthogonalize,
            "cosine_xy": cosine(*directions) if len(directions) == 2 else None,
            "splits": list(config.splits), "samples": config.samples, "data_seed": config.data_seed,
            "grid_x": config.x, "grid_y": config.y, "precision": config.eval.precision,
            "batch_size": config.eval.batch_size, "versions": library_versions(), **extra}


def prepare_file(config: SurfaceConfig, meta: dict, model: nn.Module, data_source: str,
                 ranks: Ranks, device: torch.device) -> None:
    """Rank 0 creates the file (or checks it can be resumed); errors reach every rank."""
    error = None
    if ranks.is_writer:
        try:
            grid, sha = config.grid(), file_sha256(config.checkpoint)
            source = make_directions(config, model, len(grid.shape))
            if source.trajectory is not None:
                check_grid_covers(grid, source.trajectory)
            fingerprint = surface_fingerprint(config, sha, source.attrs)
            out = Path(config.out)
            if out.exists() and not config.force:
                existing = storage.open_attrs(out) if out.is_file() else {}
                if existing.get("fingerprint") != fingerprint:
                    raise LandscapeError(f"{out} holds a different surface (or another file); choose another --out "
                                         f"or pass --force to replace it")
            else:
                provenance = {**source.attrs, "checkpoint_sha256": sha, "fingerprint": fingerprint,
                              "data_source": data_source, "device": str(device), "world_size": ranks.world}
                attrs = surface_attrs(config, meta, source.directions, provenance)
                storage.create_surface_file(out, grid.x.coordinates(), grid.y.coordinates() if grid.y else None,
                                            config.splits, source.directions, attrs, source.trajectory)
        except LandscapeError as e:
            error = str(e)
    if ranks.world > 1:
        box = [error]
        dist.broadcast_object_list(box, src=0)
        error = box[0]
    if error:
        raise LandscapeError(error)


def sweep(setter: WeightSetter, model: nn.Module, sets: list[EvalSet], config: SurfaceConfig, ranks: Ranks) -> int:
    """Evaluate the pending points, rank r taking every world-th; rank 0 flushes results to disk."""
    points = config.grid().points()
    pending = np.flatnonzero(~storage.read_surface(config.out).done.ravel())
    rounds = -(-len(pending) // ranks.world)
    buffer: list[tuple[int, list[float]]] = []
    last_flush, width = time.monotonic(), 2 * len(sets)
    bar = tqdm(total=len(pending), desc="surface", unit="pt", disable=config.quiet or not ranks.is_writer or None)
    for r in range(rounds):
        slot = r * ranks.world + ranks.rank
        row = [-1.0] + [np.nan] * width
        if slot < len(pending):
            row = [float(pending[slot])] + evaluate_point(setter, model, points[pending[slot]], sets, config.eval)
        rows = [row]
        if ranks.world > 1:  # tensors on the evaluation device: nccl gathers CUDA tensors only
            device = sets[0].inputs.device
            gathered = [torch.zeros(width + 1, dtype=torch.float64, device=device) for _ in range(ranks.world)]
            dist.all_gather(gathered, torch.tensor(row, dtype=torch.float64, device=device))
            rows = [g.tolist() for g in gathered]
        buffer += [(int(g[0]), g[1:]) for g in rows if g[0] >= 0]
        bar.update(sum(g[0] >= 0 for g in rows))
        if ranks.is_writer and (time.monotonic() - last_flush > config.flush_seconds or r == rounds - 1):
            flush(config, buffer)
            buffer, last_flush = [], time.monotonic()
    bar.close()
    return len(pending)


def flush(config: SurfaceConfig, buffer: list[tuple[int, list[float]]]) -> None:
    if not buffer:
        return
    names = storage.value_names(config.splits)
    storage.write_points(config.out, [i for i, _ in buffer],
                         {n: [v[k] for _, v in buffer] for k, n in enumerate(names)})


def run_surface(config: SurfaceConfig) -> Path:
    """Checkpoint → directions → grid evaluation → HDF5 at config.out (resumed if present)."""
    grid = config.grid()
    ranks, device = join_ranks(config.device)
    model, meta = load_checkpoint(config.checkpoint)
    model = model.to(device, memory_format=torch.channels_last)
    sets, data_source = load_eval_sets(config, device)
    prepare_file(config, meta, model, data_source, ranks, device)
    if ranks.world > 1:
        dist.barrier()
    directions = storage.read_directions(config.out)[:len(grid.shape)]
    setter = WeightSetter(model, directions, config.directions.dir_type)
    started = time.perf_counter()
    computed = sweep(setter, model, sets, config, ranks)
    setter.restore()
    if ranks.is_writer and computed:
        seconds = time.perf_counter() - started
        images = computed * sum(len(s.labels) for s in sets)
        storage.update_attrs(config.out, {"wall_time_s": seconds, "points_per_s": computed / seconds,
                                          "images_per_s": images / seconds})
    if ranks.world > 1:
        dist.barrier()
    return Path(config.out)
