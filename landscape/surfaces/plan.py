"""`plan_surface(config) → SurfacePlan`: everything that decides a surface's numbers, resolved once.

Stage: orchestration of one surface. Reads the checkpoint (and its SHA-256 from the same bytes),
the evaluation images, the directions and their provenance, and the grid; builds the file's
header and the fingerprint a rerun must match. `sweep.execute` then evaluates the plan.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from landscape.errors import LandscapeError
from landscape.evaluation.batch_size import choose_batch_size
from landscape.evaluation.contract import checked_model
from landscape.evaluation.curvature import KeptGradientGraphs, gaussian_vector, lanczos, trainable
from landscape.evaluation.evaluate import EvalSet, load_eval_set, loss_function
from landscape.files import file_sha256, require_writable_folder
from landscape.geometry.directions import (
    Direction,
    check_compatible,
    cosine,
    direction_sha256,
    model_entries,
    random_directions,
    require_length,
    target_direction,
    trajectory_pca,
)
from landscape.geometry.grid import Axis, Grid, SliceGrid, auto_points, fit_axes, is_auto, require_covers
from landscape.geometry.options import DirectionOptions
from landscape.progress import progress
from landscape.runtime import Ranks, library_versions, resolve_device
from landscape.sources.activations import with_twice_differentiable_mish
from landscape.sources.checkpoint import load_model, model_from, read_checkpoint
from landscape.sources.datasets import require_own_data
from landscape.storage.schema import SurfaceHeader, direction_names
from landscape.storage.surface_file import read_directions, read_header
from landscape.surfaces.config import SurfaceConfig


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


def hessian_plane(config: SurfaceConfig, model: nn.Module, images: EvalSet, count: int) -> DirectionSource:
    """x (and y) = the unit eigenvectors of the largest (and second largest) Hessian eigenvalue of
    the loss at the trained weights, on the surface's first split, by `config.lanczos_steps` Lanczos
    steps from a Gaussian start of seed --seed. Along a unit eigenvector the loss's second
    derivative at the origin is its eigenvalue, and α is a distance in weight space. A file being
    resumed keeps the directions it stored (a recomputation would differ by float rounding)."""
    provenance_keys = ("eigenvalues", "eigen_residuals", "lanczos_steps")
    out = Path(config.out)
    if out.is_file() and not config.force:
        with contextlib.suppress(LandscapeError):
            header = read_header(out)
            if header.direction_source == "hessian" and header.fingerprint.get("lanczos_steps") == config.lanczos_steps:
                return DirectionSource(read_directions(out)[:count], {
                    "direction_source": "hessian", **{k: getattr(header, k) for k in provenance_keys}})
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    # a copy: BatchNorm's double backward is slow in channels_last, torch's Mish has no finite one
    contiguous = with_twice_differentiable_mish(copy.deepcopy(model)).to(memory_format=torch.contiguous_format).eval()
    params = trainable(contiguous)
    kept = KeptGradientGraphs(contiguous, params, images.inputs, images.labels,
                              config.eval.batch_size or 200, loss_function(config.eval.loss))
    bar = progress(config.lanczos_steps, "hessian eigenvectors", "hvp", config.quiet)

    def hvp(v):
        bar.update()
        return kept(v)
    start = gaussian_vector(params, torch.Generator().manual_seed(config.directions.seed))
    run = lanczos(hvp, start, config.lanczos_steps, vectors=count)
    bar.close()
    entries = model_entries(model, config.directions.dir_type)
    directions = []
    for k in range(1, count + 1):  # the largest first
        found = dict(zip(names, run.vectors[-k]))
        directions.append({name: (found[name] if name in found else torch.zeros_like(t)).detach().cpu().float()
                           for name, t in entries.items()})
    return DirectionSource(directions, {"direction_source": "hessian",
                                        "eigenvalues": tuple(run.values[-k] for k in range(1, count + 1)),
                                        "eigen_residuals": tuple(run.residuals[-k] for k in range(1, count + 1)),
                                        "lanczos_steps": config.lanczos_steps})


def plan_directions(config: SurfaceConfig, model: nn.Module, images: EvalSet, count: int) -> DirectionSource:
    """The directions for this run and the header fields that describe where they came from."""
    if config.eigenvectors:
        return hessian_plane(config, model, images, count)
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
    header = read_header(path)
    if header.directions_stored:
        return read_directions(path)
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
                **{k: v for k, v in provenance.items() if k.endswith("sha256") or k in ("direction_source",
                                                                                          "lanczos_steps")}}
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
    source = plan_directions(config, model, sets[0], count)
    entries = model_entries(model, config.directions.dir_type)
    for name, direction in zip(direction_names("slices" if config.slices else "plane", count),
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
        model_args=meta.get("model_args", {}), direction_norm="none" if config.eigenvectors else options.norm,
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
            size = read_header(config.out).batch_size
    if size is None:
        size = choose_batch_size(model, eval_set, config.eval) if ranks.is_writer else 0
        if ranks.world > 1:
            box = [size]
            dist.broadcast_object_list(box, src=0)
            size = box[0]
    return dataclasses.replace(config, eval=dataclasses.replace(config.eval, batch_size=size))
