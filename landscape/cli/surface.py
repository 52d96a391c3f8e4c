"""`landscape surface`: a 1-D or 2-D loss surface around a checkpoint, into HDF5."""
from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from landscape.cli.common import (
    add_dataset_flags,
    add_eval_flags,
    add_image_flags,
    add_model_flags,
    dataset_of,
    default_of,
    eval_options_of,
    model_of,
    show,
    subcommand,
)
from landscape.errors import LandscapeError
from landscape.files import same_file
from landscape.geometry.options import DIRECTION_TYPES, NORMALIZATIONS, DirectionOptions
from landscape.surfaces.config import SurfaceConfig

if TYPE_CHECKING:
    from landscape.storage.schema import Surface


def add_surface_parser(sub) -> None:
    p = subcommand(sub, "surface", "compute a 1-D or 2-D loss surface around a checkpoint into HDF5",
                   "Evaluate loss and accuracy at θ + α·x + β·y on a grid (Li et al. 2018). "
                   "Resumable: rerun the same command to continue. Under `torchrun "
                   "--nproc_per_node=K -m landscape surface ...` the points are shared by K ranks.",
                   run_surface_command)
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="checkpoint written by `landscape train` (or save_checkpoint); or use --model/--weights")
    add_model_flags(p, many=False)
    p.add_argument("--out", required=True, help="surface file to write (HDF5, .h5)")
    add_dataset_flags(p)
    p.add_argument("--x", default=default_of(SurfaceConfig, "x"),
                   help="α grid START:STOP:NUM along direction x (with --trajectory also auto:NUM: fitted to the path)")
    p.add_argument("--y", default=None, help="β grid START:STOP:NUM along direction y (omit for a 1-D surface)")
    add_image_flags(p, SurfaceConfig, "data split(s) to evaluate",
                    "class-balanced images per split, the same at every point, or all (the whole split)")
    p.add_argument("--seed", type=int, default=default_of(DirectionOptions, "seed"),
                   help="seed of the random directions")
    p.add_argument("--norm", choices=NORMALIZATIONS, default=default_of(DirectionOptions, "norm"),
                   help="direction normalisation: per output filter (Li et al.), per layer, elementwise, or none")
    p.add_argument("--include-biasbn", action="store_true",
                   help="also perturb biases and BatchNorm parameters (default: zero in the directions)")
    p.add_argument("--dir-type", choices=DIRECTION_TYPES, default=default_of(DirectionOptions, "dir_type"),
                   help="weights: parameters only; states: BatchNorm running statistics too")
    p.add_argument("--orthogonalize", action="store_true", help="make direction y exactly orthogonal to x")
    p.add_argument("--target", default=None, help="second checkpoint: x = θ_target − θ (1-D interpolation)")
    p.add_argument("--directions", default=None, metavar="FILE|hessian",
                   help="reuse the directions stored in this surface file; or the word hessian: x (and y) = the "
                        "unit eigenvectors of the largest (and second largest) Hessian eigenvalue at the trained "
                        "weights, on the surface's images (their eigenvalues are stored; α is a distance in weight "
                        "space, so use a grid like -0.5:0.5:41)")
    p.add_argument("--lanczos-steps", type=int, default=default_of(SurfaceConfig, "lanczos_steps"),
                   help="with --directions hessian: Lanczos steps (Hessian-vector products) that find the "
                        "eigenvectors; their residuals are stored as error bounds")
    p.add_argument("--trajectory", default=None, metavar="SNAPSHOT_DIR",
                   help="folder of training snapshots (`train --save-every`): x, y = the top two principal axes "
                        "of the path to this checkpoint (Li et al. 2018, sec. 7; unit norm, not filter-normalised), "
                        "and the path is stored and drawn on the figures; needs --y and a grid that covers it")
    add_eval_flags(p)
    p.add_argument("--force", action="store_true", help="replace an existing --out that holds a different surface")
    p.add_argument("--flush-seconds", type=float, default=default_of(SurfaceConfig, "flush_seconds"),
                   help="write results to disk at least this often")


def run_surface_command(args: argparse.Namespace) -> None:
    from landscape.storage.surface_file import read_surface
    from landscape.surfaces.sweep import run_surface

    directions = DirectionOptions(norm=args.norm, ignore_biasbn=not args.include_biasbn, dir_type=args.dir_type,
                                  seed=args.seed, orthogonalize=args.orthogonalize)
    (weights,), model = model_of(args, [args.checkpoint] if args.checkpoint else [])
    eigenvectors = args.directions == "hessian"
    directions_file = None if eigenvectors else args.directions
    inputs = [p for p in (weights, args.target, directions_file) if p]
    if any(same_file(args.out, p) for p in inputs):
        raise LandscapeError(f"--out {args.out} is also an input of this command; refusing to write over it "
                             f"(choose another output file)")
    config = SurfaceConfig(checkpoint=weights, out=args.out, data=args.data, model=model, dataset=dataset_of(args),
                           x=args.x, y=args.y,
                           splits=tuple(args.split), samples=args.samples, data_seed=args.data_seed,
                           directions=directions, target=args.target, directions_file=directions_file,
                           trajectory=args.trajectory, eigenvectors=eigenvectors, lanczos_steps=args.lanczos_steps,
                           eval=eval_options_of(args),
                           device=args.device, force=args.force, flush_seconds=args.flush_seconds, quiet=args.quiet)
    path = run_surface(config)
    if int(os.environ.get("RANK", "0")) == 0:
        show(path)
        show(headline(read_surface(path)), file=sys.stderr)


def headline(surface: Surface) -> str:
    """One line for the end of a run: how long it took, where the minimum lies and, below fp32,
    how far the losses were from fp32's at the checked points."""
    import numpy as np

    from landscape.metrics.surface import finite_values

    metric = f"{surface.header.splits[0]}_loss"
    values = finite_values(surface, metric)
    index = np.unravel_index(int(np.nanargmin(values)), values.shape)
    where = f"α={surface.x[index[-1]]:.3g}" + (f", β={surface.y[index[0]]:.3g}" if surface.y is not None else "")
    timing = surface.progress
    took = (f" in {timing.wall_time_s:.0f} s ({timing.points_per_s:.3g} points/s)"
            if timing.wall_time_s and timing.points_per_s else "")
    checked = (f"; {surface.header.precision} loss within {timing.precision_error_abs:.2g} of fp32 at "
               f"{timing.precision_error_points} points" if timing.precision_error_points else "")
    return (f"{surface.progress.points_done} points{took}; minimum {metric.replace('_', ' ')} "
            f"{np.nanmin(values):.4g} at {where}{checked}")
