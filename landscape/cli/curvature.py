"""`landscape hessian-map`: the Hessian's extreme eigenvalues across a plane surface, stored in its file."""
from __future__ import annotations

import argparse

from landscape.cli.common import add_model_flags, default_of, model_of, show, subcommand
from landscape.metrics.options import CurvatureMapConfig
from landscape.sources.specs import ModelSpec


def add_hessian_map_parser(sub) -> None:
    p = subcommand(sub, "hessian-map", "λmin, λmax and |λmin/λmax| of the Hessian across a plane surface",
                   "At every --every-th grid point of a plane surface (along both axes, counted from the origin "
                   "where the grid has it), move the checkpoint's weights there along the surface's own directions "
                   "and run --lanczos-steps Lanczos steps (full reorthogonalisation) on the loss of the surface's "
                   "own images: the extreme Ritz values are λmin and λmax, their residuals bound their errors. "
                   "Stored in the surface file (/hessian), each point as it finishes, so an interrupted map "
                   "resumes; `landscape plot` and `report` then draw |λmin/λmax| beside the loss (near 0: locally "
                   "convex; Li et al. 2018, section 6).",
                   run_hessian_map_command)
    p.add_argument("surface", help="a plane surface file written by `landscape surface`")
    p.add_argument("--checkpoint", default=None,
                   help="the checkpoint the surface was computed from, if not at the path the file records; or "
                        "use --model/--weights for your own model")
    add_model_flags(p, many=False)
    p.add_argument("--data", default=None, help="the data the surface was computed on (checked by its SHA-256)")
    p.add_argument("--every", type=int, default=default_of(CurvatureMapConfig, "every"),
                   help="map every N-th grid point of each axis (1: every point; the cost is a Lanczos run per point)")
    p.add_argument("--lanczos-steps", type=int, default=default_of(CurvatureMapConfig, "lanczos_steps"),
                   help="Hessian-vector products per point; more steps tighten λmin most")
    p.add_argument("--samples", type=int, default=None,
                   help="use only the first N of the surface's images (default: all of them)")
    p.add_argument("--seed", type=int, default=default_of(CurvatureMapConfig, "seed"),
                   help="seed of the Lanczos start vectors (mixed with each point's index)")
    p.add_argument("--batch-size", type=int, default=default_of(CurvatureMapConfig, "batch_size"),
                   help="images per Hessian-vector product batch")
    p.add_argument("--force", action="store_true", help="replace a map made with other settings")


def run_hessian_map_command(args: argparse.Namespace) -> None:
    from landscape.metrics.curvature_map import run_curvature_map

    weights, model = model_of(args, [args.checkpoint] if args.checkpoint else []) \
        if args.checkpoint or args.model else ([], ModelSpec())  # none given: the checkpoint the file names
    config = CurvatureMapConfig(surface=args.surface, checkpoint=weights[0] if weights else None, data=args.data,
                                model=model, every=args.every, lanczos_steps=args.lanczos_steps, seed=args.seed,
                                samples=args.samples, batch_size=args.batch_size, device=args.device,
                                force=args.force, quiet=args.quiet)
    row = run_curvature_map(config)
    origin = (f"at the trained weights λmin {row['min_eig']:.4g}, λmax {row['max_eig']:.4g}, |λmin/λmax| "
              f"{row['ratio_at_origin']:.3g}; " if "ratio_at_origin" in row else "")
    show(f"{row['surface']}: {row['points']} of {row['points_planned']} points mapped; {origin}median |λmin/λmax| "
         f"{row['median_ratio']:.3g}, {100 * row['share_ratio_below_0.1']:.0f} % of points below 0.1")
