"""`landscape surface`: checkpoint (or your model) → model → directions → grid evaluation → HDF5, resumable.

Stage: orchestration of one surface. `plan_surface` resolves everything that decides the
numbers once (grid, model, evaluation sets, directions and their provenance, the header);
`execute` sweeps the pending points of the plan's file, shared among torchrun ranks, and
flushes them as it goes. `run_surface(config)` is the two in a row.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from . import storage
from .checkpoint import ModelSpec, load_model, model_from, read_checkpoint
from .contract import checked_model
from .data import SPLITS
from .datasets import DatasetSpec, require_own_data
from .directions import (
    Direction,
    DirectionOptions,
    check_compatible,
    cosine,
    direction_sha256,
    model_entries,
    random_directions,
    require_length,
    target_direction,
    trajectory_pca,
)
from .engine import EvalOptions, PointEvaluator, choose_batch_size, choose_points_per_batch, evaluator_for
from .errors import LandscapeError, require_choice, require_number
from .evaluate import EvalSet, load_eval_set
from .files import exclusive_writer, file_sha256, require_free_space, require_writable_folder
from .grid import Axis, Grid, SliceGrid, auto_points, fit_axes, is_auto, require_covers
from .progress import progress
from .runtime import Ranks, library_versions, resolve_device, torchrun_ranks
from .storage import SurfaceHeader


@dataclass(frozen=True)
class SurfaceConfig:
    """Everything `landscape surface` needs; defaults match the CLI's. `checkpoint` is a landscape
    checkpoint, or with `model.factory` the weights file of your own model; `data` is where the
    `dataset` lives (default: CIFAR-10)."""

    checkpoint: str
    out: str
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    x: str = "-1:1:51"
    y: str | None = None
    splits: tuple[str, ...] = ("train",)
    samples: int | None = 1000  # per split; None: the whole split
    data_seed: int = 0
    directions: DirectionOptions = field(default_factory=DirectionOptions)
    target: str | None = None
    directions_file: str | None = None
    trajectory: str | None = None
    slices: int = 0  # > 0: that many independent 1-D slices along x instead of a plane (`landscape sharpness`)
    store_directions: bool = True  # False (random directions only): their seed and checksums, not the tensors
    eval: EvalOptions = field(default_factory=EvalOptions)
    device: str = "auto"
    force: bool = False
    flush_seconds: float = 5.0
    quiet: bool = False

    def __post_init__(self):
        for split in self.splits:
            require_choice("split", split, SPLITS)
        require_number("--flush-seconds", self.flush_seconds, 0)
        for flag, spec in (("--x", self.x), ("--y", self.y)):
            if spec is not None and not spec.strip():
                raise LandscapeError(f"{flag} is empty; give START:STOP:NUM (e.g. -1:1:51)" +
                                     (" or leave --y out for a 1-D surface" if flag == "--y" else ""))
        if self.target and self.y:
            raise LandscapeError("--target gives one direction (an interpolation); drop --y or --target")
        given = [flag for flag, value in (("--target", self.target), ("--directions", self.directions_file),
                                          ("--trajectory", self.trajectory)) if value]
        if len(given) > 1:
            raise LandscapeError(f"{' and '.join(given)} each give the directions; use one")
        if self.slices < 0:
            raise LandscapeError(f"the number of slices must be positive; got {self.slices}")
        if self.slices and (self.y or given):
            raise LandscapeError("slices are 1-D along their own random directions: no --y, --target, "
                                 "--directions or --trajectory")
        if not self.store_directions and given:
            raise LandscapeError("only random directions can be drawn again from their seed: keep storing "
                                 "directions with --target, --directions or --trajectory")
        if self.trajectory and not self.y:
            raise LandscapeError("--trajectory gives a plane of two directions; add --y")
        if (is_auto(self.x) or is_auto(self.y)) and not (self.trajectory and is_auto(self.x) and is_auto(self.y)):
            raise LandscapeError("--x/--y auto:NUM fit the grid to a training path: give both, with --trajectory")


@dataclass(frozen=True)
class DirectionSource:
    """The directions of a run, the header fields that say where they came from, and the training
    path's (α, β) coordinates when they are its principal axes."""

    directions: list[Direction]
    provenance: dict
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
    if len(files) < 3:
        raise LandscapeError(f"--trajectory {snapshot_dir} holds {len(files)} snapshot(s); a path plane needs at "
                             f"least 3 (train with a smaller --save-every)")
    snapshots = [read_checkpoint(f) for f in files]
    entries = [model_entries(model_from(s), options.dir_type) for s in snapshots]
    try:
        plane = trajectory_pca(model_entries(model, options.dir_type), entries, options.ignore_biasbn)
    except LandscapeError as e:
        raise LandscapeError(f"--trajectory {snapshot_dir}: {e}") from None
    provenance = {"direction_source": "pca", "trajectory": snapshot_dir,
                  "trajectory_sha256": hashlib.sha256("".join(s.sha256 for s in snapshots).encode()).hexdigest(),
                  "trajectory_snapshots": tuple(s.path.name for s in snapshots),
                  "explained_variance": tuple(plane.explained_variance)}
    return DirectionSource(plane.directions, provenance, plane.coordinates)


def plan_directions(config: SurfaceConfig, model: nn.Module, count: int) -> DirectionSource:
    """The directions for this run and the header fields that describe where they came from."""
    if config.trajectory:
        return path_plane(config.trajectory, model, config.directions)
    if config.directions_file:
        directions = directions_of(config.directions_file, model)[:count]
        if len(directions) < count:
            raise LandscapeError(f"{config.directions_file} holds {len(directions)} direction(s); "
                                 f"this grid needs {count}")
        return DirectionSource(directions, {"direction_source": "file", "directions_file": config.directions_file,
                                            "directions_file_sha256": file_sha256(config.directions_file)})
    if config.target:
        target = load_model(config.target, config.model).model
        return DirectionSource([target_direction(model, target, config.directions.dir_type)], {
            "direction_source": "target", "target": config.target, "target_sha256": file_sha256(config.target)})
    return DirectionSource(random_directions(model, config.directions, count), {"direction_source": "random"})


def directions_of(path: str, model: nn.Module) -> list[Direction]:
    """The directions of a surface file: as stored, or, for a file that keeps only their seed and
    checksums, drawn again against `model` and checked against the checksums."""
    header = storage.read_header(path)
    if header.directions_stored:
        return storage.read_directions(path)
    options = DirectionOptions(norm=header.direction_norm, ignore_biasbn=header.direction_ignore == "biasbn",
                               dir_type=header.direction_type, seed=header.direction_seed,
                               orthogonalize=header.orthogonalized)
    directions = random_directions(model, options, len(header.direction_sha256))
    if tuple(direction_sha256(d) for d in directions) != header.direction_sha256:
        raise LandscapeError(f"{path} stores only the seed of its directions, and drawing them again against this "
                             f"model does not give them back (they were drawn for {header.checkpoint}); use that "
                             f"checkpoint")
    return directions


def plan_grid(config: SurfaceConfig, trajectory: np.ndarray | None) -> Grid | SliceGrid:
    """The grid from --x/--y; 'auto:NUM' axes are fitted to the training path with a 10 % margin."""
    if config.slices:
        return SliceGrid(Axis.parse(config.x), config.slices)
    if is_auto(config.x):
        return fit_axes(trajectory, (auto_points(config.x), auto_points(config.y)))
    grid = Grid.parse(config.x, config.y)
    if trajectory is not None:
        require_covers(grid, trajectory)
    return grid


def fingerprint(config: SurfaceConfig, grid: Grid | SliceGrid, model_sha: str, provenance: dict,
                data_sha: str) -> dict:
    """The settings that decide the numbers (JSON-normalised): a resumed run must match them exactly.
    Settings added after the first files were written appear only when they differ from their
    defaults, so those files stay resumable."""
    added = {"slices": config.slices or None,
             "model": {k: v for k, v in dataclasses.asdict(config.model).items() if k != "output_key" or v}
             if config.model.factory else None,
             "dataset": None if config.dataset.is_default else dataclasses.asdict(config.dataset)}
    evaluation = {"batch_size": config.eval.batch_size, "precision": config.eval.precision,
                  **({} if config.eval.loss == "cross_entropy" else {"loss": config.eval.loss})}
    settings = {**{k: v for k, v in added.items() if v is not None}, "checkpoint_sha256": model_sha,
                "grid": [str(grid.x), str(grid.y) if grid.y else None],
                "splits": list(config.splits), "samples": config.samples, "data_seed": config.data_seed,
                "data_sha256": data_sha, "directions": dataclasses.asdict(config.directions), "eval": evaluation,
                **{k: v for k, v in provenance.items() if k.endswith("sha256") or k == "direction_source"}}
    return json.loads(json.dumps(settings))


def same_settings(existing: dict | None, planned: dict) -> bool:
    """Whether a file's stored fingerprint allows resuming the planned run. Files written before the
    data were identified by content hold no data_sha256; for them the rest must match."""
    if existing is None:
        return False
    if "data_sha256" not in existing:
        planned = {k: v for k, v in planned.items() if k != "data_sha256"}
    return existing == planned


def flat_settings(settings: dict, prefix: str = "") -> dict:
    """Nested settings as one level of dotted keys ("eval.batch_size")."""
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(flat_settings(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings_difference(existing: dict, planned: dict) -> list[str]:
    """Each setting a file was made with that this run would change, with both values."""
    def shown(value):
        return f"{value[:12]}…" if isinstance(value, str) and len(value) == 64 else json.dumps(value)
    old, new = flat_settings(existing), flat_settings(planned)
    return [f"{key}: file {shown(old.get(key))}, now {shown(new.get(key))}"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


@dataclass(frozen=True)
class SurfacePlan:
    """A surface resolved and ready to evaluate: every input read once, nothing computed yet."""

    config: SurfaceConfig
    grid: Grid | SliceGrid
    model: nn.Module  # on the evaluation device, at the checkpoint's weights
    sets: list[EvalSet]
    directions: list[Direction]
    trajectory: np.ndarray | None
    header: SurfaceHeader


def plan_surface(config: SurfaceConfig, ranks: Ranks = Ranks(), device: torch.device | None = None) -> SurfacePlan:
    """Read the checkpoint (hashing the same bytes), the data and the directions; fix the grid and
    the header. Deterministic, so every torchrun rank plans the same surface by itself."""
    require_writable_folder(config.out, "--out")
    device = device or resolve_device(config.device)
    loaded = load_model(config.checkpoint, config.model)
    require_own_data(loaded.metadata, config.dataset, config.checkpoint)
    sets = [load_eval_set(config.data, split, config.samples, config.data_seed, device, config.quiet, config.dataset)
            for split in config.splits]
    model = checked_model(loaded.model.to(device, memory_format=torch.channels_last), sets, config.eval.loss,
                          config.model.output_key)
    data_sha = hashlib.sha256("".join(s.sha256 for s in sets).encode()).hexdigest()
    config = config_with_batch_size(config, model, sets[0], ranks)
    count = config.slices or (1 if config.y is None else 2)
    source = plan_directions(config, model, count)
    entries = model_entries(model, config.directions.dir_type)
    for name, direction in zip(storage.direction_names("slices" if config.slices else "plane", count),
                               source.directions):
        check_compatible(entries, direction, f"direction {name}")  # before any file is written
        require_length(direction, f"direction {name}")
    grid = plan_grid(config, source.trajectory)
    meta, options = loaded.metadata, config.directions
    header = SurfaceHeader(
        layout="slices" if config.slices else "plane", checkpoint=str(config.checkpoint),
        checkpoint_sha256=loaded.sha256,
        architecture=meta.get("architecture"), depth=meta.get("depth"), activation=meta.get("activation"),
        activation_params=meta.get("activation_params", {}), checkpoint_test_acc=meta.get("test_acc"),
        checkpoint_test_loss=meta.get("test_loss"), model_factory=meta.get("model_factory"),
        model_args=meta.get("model_args", {}), direction_norm=options.norm,
        direction_ignore="biasbn" if options.ignore_biasbn else "none", direction_type=options.dir_type,
        direction_seed=options.seed, orthogonalized=options.orthogonalize,
        cosine_xy=cosine(*source.directions) if count == 2 else None,
        direction_sha256=tuple(direction_sha256(d) for d in source.directions),
        directions_stored=config.store_directions, **source.provenance,
        data_source=sets[0].source, dataset=config.dataset.name, data_sha256=data_sha,
        normalization_mean=sets[0].mean or (), normalization_std=sets[0].std or (),
        image_size=config.dataset.image_size,
        splits=tuple(config.splits), samples=len(sets[0].labels), data_seed=config.data_seed,
        grid_x=str(grid.x), grid_y=str(grid.y) if grid.y else None, precision=config.eval.precision,
        loss=config.eval.loss,
        batch_size=config.eval.batch_size, device=str(device), world_size=ranks.world, versions=library_versions(),
        fingerprint=fingerprint(config, grid, loaded.sha256, source.provenance, data_sha))
    return SurfacePlan(config, grid, model, sets, source.directions, source.trajectory, header)


def config_with_batch_size(config: SurfaceConfig, model: nn.Module, eval_set: EvalSet, ranks: Ranks) -> SurfaceConfig:
    """`config` with --batch-size auto resolved: the batch size of the file being resumed, else the
    fastest on this device as rank 0 measures it (every rank takes rank 0's)."""
    if config.eval.batch_size is not None:
        return config
    size = None
    if Path(config.out).is_file() and not config.force:
        with contextlib.suppress(LandscapeError):
            size = storage.read_header(config.out).batch_size
    if size is None:
        size = choose_batch_size(model, eval_set, config.eval) if ranks.is_writer else 0
        if ranks.world > 1:
            box = [size]
            dist.broadcast_object_list(box, src=0)
            size = box[0]
    return dataclasses.replace(config, eval=dataclasses.replace(config.eval, batch_size=size))


def prepare_file(plan: SurfacePlan, ranks: Ranks, hold: contextlib.ExitStack) -> None:
    """Rank 0 takes the file's writer lock (kept in `hold`), then creates the file or checks that the
    one there can be resumed; errors reach every rank."""
    error = None
    if ranks.is_writer:
        out, config = Path(plan.config.out), plan.config
        try:
            require_free_space(out, storage.disk_needed(plan.header, len(plan.grid.points()), plan.directions), "--out")
            hold.enter_context(exclusive_writer(out))
            if out.exists() and not config.force:
                existing = storage.read_header(out).fingerprint if out.is_file() else None
                if not same_settings(existing, plan.header.fingerprint):
                    differences = "; ".join(settings_difference(existing or {}, plan.header.fingerprint)[:4])
                    raise LandscapeError(f"{out} holds a different surface ({differences or 'another file'}); "
                                         f"choose another --out or pass --force to replace it")
            else:
                storage.create_surface_file(out, plan.header, plan.grid.x.coordinates(),
                                            plan.grid.y.coordinates() if plan.grid.y else None,
                                            plan.directions, plan.trajectory)
        except LandscapeError as e:
            error = str(e)
    if ranks.world > 1:
        box = [error]
        dist.broadcast_object_list(box, src=0)
        error = box[0]
    if error:
        raise LandscapeError(error)


def sweep(evaluator: PointEvaluator, plan: SurfacePlan, pending: np.ndarray, ranks: Ranks, count: int) -> None:
    """Evaluate the pending points, `count` per pass, rank r taking every world-th group; rank 0
    flushes results to disk at least every `flush_seconds`, and once more when interrupted (Ctrl-C,
    or SIGTERM through the CLI)."""
    config, points, width = plan.config, plan.grid.points(), len(evaluator.names)
    rounds = -(-len(pending) // (ranks.world * count))
    buffer: list[list[float]] = []
    last_flush = time.monotonic()
    bar = progress(len(pending), f"surface {Path(config.out).stem} {'+'.join(config.splits)}", "pt",
                   config.quiet or not ranks.is_writer)

    def flush() -> None:
        storage.write_points(config.out, [int(g[0]) for g in buffer],
                             {n: [g[k + 1] for g in buffer] for k, n in enumerate(evaluator.names)})
        buffer.clear()
    try:
        for r in range(rounds):
            start = (r * ranks.world + ranks.rank) * count
            mine = pending[start:start + count]
            rows = [[float(i)] + values for i, values in zip(mine, evaluator.many(points[mine]))]
            rows += [[-1.0] + [np.nan] * width] * (count - len(rows))  # every rank sends `count` rows
            if ranks.world > 1:  # tensors on the evaluation device: nccl gathers CUDA tensors only
                device = plan.sets[0].inputs.device
                gathered = [torch.zeros(count, width + 1, dtype=torch.float64, device=device)
                            for _ in range(ranks.world)]
                dist.all_gather(gathered, torch.tensor(rows, dtype=torch.float64, device=device))
                rows = [row for g in gathered for row in g.tolist()]
            rows = [g for g in rows if g[0] >= 0]
            buffer += rows
            bar.update(len(rows))
            if ranks.is_writer and buffer and (time.monotonic() - last_flush > config.flush_seconds
                                               or r == rounds - 1):
                flush()
                last_flush = time.monotonic()
    except KeyboardInterrupt:
        if ranks.is_writer and buffer:
            flush()
        raise
    finally:
        bar.close()


def points_per_batch(plan: SurfacePlan, ranks: Ranks) -> tuple[int, dict]:
    """--points-per-batch, or the calibrated choice here as rank 0 measures it (every rank uses rank
    0's); with the calibration's timings to record in the file."""
    count, timings = plan.config.eval.points_per_batch, {}
    if count is None:
        if ranks.is_writer:
            calibration = choose_points_per_batch(plan.model, plan.directions, plan.sets, plan.config.eval,
                                                  plan.config.directions.dir_type)
            count, timings = calibration.points_per_batch, calibration.seconds_per_point
        if ranks.world > 1:
            box = [count]
            dist.broadcast_object_list(box, src=0)
            count = box[0]
    return count, timings


PRECISION_CHECK_POINTS = 3


def precision_error(plan: SurfacePlan, out: Path) -> dict[str, float | int]:
    """For a surface computed below fp32: its losses at a few done points (the first, middle and
    last) against fp32 at the same points, the largest absolute and relative difference."""
    done = np.flatnonzero(storage.read_done(out).ravel())
    chosen = done[np.unique(np.linspace(0, len(done) - 1, min(PRECISION_CHECK_POINTS, len(done))).round().astype(int))]
    fp32 = dataclasses.replace(plan.config.eval, precision="fp32")
    with PointEvaluator(plan.model, plan.directions, plan.sets, fp32, plan.config.directions.dir_type) as evaluator:
        exact = np.array(evaluator.many(plan.grid.points()[chosen]))
        names = evaluator.names
    values = storage.read_surface(out).values
    stored = np.array([[values[n].ravel()[i] for n in names] for i in chosen])
    losses = [k for k, n in enumerate(names) if n.endswith("_loss")]
    error = np.abs(stored[:, losses] - exact[:, losses])
    return {"precision_error_abs": float(error.max()),
            "precision_error_rel": float((error / np.abs(exact[:, losses])).max()),
            "precision_error_points": len(chosen)}


def require_finite_losses(out: Path) -> None:
    """A surface whose every computed loss is NaN or inf is no result: it is marked unfinished and refused."""
    surface = storage.read_surface(out)
    losses = [v for name, v in surface.values.items() if name.endswith("_loss")]
    if surface.done.any() and not any(np.isfinite(v[surface.done]).any() for v in losses):
        storage.record_run(out, {"complete": False})
        raise LandscapeError(f"every loss computed in {out} is NaN or inf: the model diverges everywhere on this "
                             f"grid (try a smaller range), so the file is marked unfinished")


def execute(plan: SurfacePlan, ranks: Ranks = Ranks()) -> Path:
    """Create (or resume) the plan's file and evaluate its pending points, holding its writer lock."""
    with contextlib.ExitStack() as hold:
        prepare_file(plan, ranks, hold)
        if ranks.world > 1:
            dist.barrier()
        out = Path(plan.config.out)
        pending = np.flatnonzero(~storage.read_done(out).ravel())
        count, timings = points_per_batch(plan, ranks) if len(pending) else (1, {})
        started = time.perf_counter()
        with evaluator_for(plan.model, plan.directions, plan.sets, plan.config.eval,
                           plan.config.directions.dir_type, count) as evaluator:
            sweep(evaluator, plan, pending, ranks, count)
        if ranks.is_writer:
            require_finite_losses(out)
        if ranks.is_writer and len(pending):
            storage.record_timing(out, time.perf_counter() - started, len(pending),
                                  len(pending) * sum(len(s.labels) for s in plan.sets),
                                  {**evaluator.engine_settings(), "calibration_seconds_per_point":
                                   {str(k): v for k, v in timings.items()} or None})
            if plan.config.eval.precision != "fp32":
                storage.record_run(out, precision_error(plan, out))
        if ranks.world > 1:
            dist.barrier()
    return out


def finished_surface(config: SurfaceConfig, checkpoint_sha256: str) -> Path | None:
    """`config.out` if it is a finished surface of the checkpoint with this SHA-256, on `config`'s
    grid (or slices) and number of samples, else None: for reusing results whose checkpoint is no
    longer on disk (the rest of the fingerprint needs the checkpoint and the data to check)."""
    out = Path(config.out)
    if not out.exists():
        return None
    header, done = storage.read_header(out), storage.read_done(out)
    grid = SliceGrid(Axis.parse(config.x), config.slices) if config.slices else Grid.parse(config.x, config.y)
    same = (header.checkpoint_sha256 == checkpoint_sha256 and header.samples == config.samples
            and header.grid_x == str(grid.x) and header.grid_y == (str(grid.y) if grid.y else None)
            and done.shape == grid.shape)
    return out if same and done.all() else None


def run_surface(config: SurfaceConfig) -> Path:
    """Plan and execute one surface (in a torchrun process group when launched by torchrun)."""
    with torchrun_ranks(config.device) as (ranks, device):
        return execute(plan_surface(config, ranks, device), ranks)
