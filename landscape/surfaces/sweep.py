"""`execute(plan)`: the resumable, file-backed sweep of a planned surface.

Stage: orchestration of one surface. Creates or resumes the plan's file, shares the pending points
among torchrun ranks, flushes finished points as it goes, and records timings and the precision
check. `run_surface(config)` is `plan_surface` and `execute` in a row.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from landscape.errors import LandscapeError
from landscape.evaluation.calibration import choose_points_per_batch
from landscape.evaluation.engine import PointEvaluator, evaluator_for
from landscape.files import exclusive_writer, require_free_space
from landscape.geometry.grid import Axis, Grid, SliceGrid
from landscape.progress import progress
from landscape.runtime import Ranks, torchrun_ranks
from landscape.storage.surface_file import (
    create_surface_file,
    disk_needed,
    read_done,
    read_header,
    read_surface,
    record_run,
    record_timing,
    write_points,
)
from landscape.surfaces.config import SurfaceConfig
from landscape.surfaces.plan import SurfacePlan, plan_surface, same_settings, settings_difference


def prepare_file(plan: SurfacePlan, ranks: Ranks, hold: contextlib.ExitStack) -> None:
    """Rank 0 takes the file's writer lock (kept in `hold`), then creates the file or checks that the
    one there can be resumed; errors reach every rank."""
    error = None
    if ranks.is_writer:
        out, config = Path(plan.config.out), plan.config
        try:
            require_free_space(out, disk_needed(plan.header, len(plan.grid.points()), plan.directions), "--out")
            hold.enter_context(exclusive_writer(out))
            if out.exists() and not config.force:
                existing = read_header(out).fingerprint if out.is_file() else None
                if not same_settings(existing, plan.header.fingerprint):
                    differences = "; ".join(settings_difference(existing or {}, plan.header.fingerprint)[:4])
                    raise LandscapeError(f"{out} holds a different surface ({differences or 'another file'}); "
                                         f"choose another --out or pass --force to replace it")
            else:
                create_surface_file(out, plan.header, plan.grid.x.coordinates(),
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
        write_points(config.out, [int(g[0]) for g in buffer],
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
    done = np.flatnonzero(read_done(out).ravel())
    chosen = done[np.unique(np.linspace(0, len(done) - 1, min(PRECISION_CHECK_POINTS, len(done))).round().astype(int))]
    fp32 = dataclasses.replace(plan.config.eval, precision="fp32")
    with PointEvaluator(plan.model, plan.directions, plan.sets, fp32, plan.config.directions.dir_type) as evaluator:
        exact = np.array(evaluator.many(plan.grid.points()[chosen]))
        names = evaluator.names
    values = read_surface(out).values
    stored = np.array([[values[n].ravel()[i] for n in names] for i in chosen])
    losses = [k for k, n in enumerate(names) if n.endswith("_loss")]
    error = np.abs(stored[:, losses] - exact[:, losses])
    return {"precision_error_abs": float(error.max()),
            "precision_error_rel": float((error / np.abs(exact[:, losses])).max()),
            "precision_error_points": len(chosen)}


def require_finite_losses(out: Path) -> None:
    """A surface whose every computed loss is NaN or inf is no result: it is marked unfinished and refused."""
    surface = read_surface(out)
    losses = [v for name, v in surface.values.items() if name.endswith("_loss")]
    if surface.done.any() and not any(np.isfinite(v[surface.done]).any() for v in losses):
        record_run(out, {"complete": False})
        raise LandscapeError(f"every loss computed in {out} is NaN or inf: the model diverges everywhere on this "
                             f"grid (try a smaller range), so the file is marked unfinished")


def execute(plan: SurfacePlan, ranks: Ranks = Ranks()) -> Path:
    """Create (or resume) the plan's file and evaluate its pending points, holding its writer lock."""
    with contextlib.ExitStack() as hold:
        prepare_file(plan, ranks, hold)
        if ranks.world > 1:
            dist.barrier()
        out = Path(plan.config.out)
        pending = np.flatnonzero(~read_done(out).ravel())
        count, timings = points_per_batch(plan, ranks) if len(pending) else (1, {})
        started = time.perf_counter()
        with evaluator_for(plan.model, plan.directions, plan.sets, plan.config.eval,
                           plan.config.directions.dir_type, count) as evaluator:
            sweep(evaluator, plan, pending, ranks, count)
        if ranks.is_writer:
            require_finite_losses(out)
        if ranks.is_writer and len(pending):
            record_timing(out, time.perf_counter() - started, len(pending),
                                  len(pending) * sum(len(s.labels) for s in plan.sets),
                                  {**evaluator.engine_settings(), "calibration_seconds_per_point":
                                   {str(k): v for k, v in timings.items()} or None})
            if plan.config.eval.precision != "fp32":
                record_run(out, precision_error(plan, out))
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
    header, done = read_header(out), read_done(out)
    grid = SliceGrid(Axis.parse(config.x), config.slices) if config.slices else Grid.parse(config.x, config.y)
    same = (header.checkpoint_sha256 == checkpoint_sha256 and header.samples == config.samples
            and header.grid_x == str(grid.x) and header.grid_y == (str(grid.y) if grid.y else None)
            and done.shape == grid.shape)
    return out if same and done.all() else None


def run_surface(config: SurfaceConfig) -> Path:
    """Plan and execute one surface (in a torchrun process group when launched by torchrun)."""
    with torchrun_ranks(config.device) as (ranks, device):
        return execute(plan_surface(config, ranks, device), ranks)
