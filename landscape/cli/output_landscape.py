"""`landscape output-landscape`: the Mish paper's output landscapes of random networks."""
from __future__ import annotations

import argparse

from landscape.cli.common import add_figure_flags, comma_list, show, subcommand
from landscape.errors import LandscapeError
from landscape.files import require_output_folder
from landscape.sources.specs import ACTIVATIONS
from landscape.viz.options import PlotOptions


def add_output_landscape_parser(sub) -> None:
    p = subcommand(sub, "output-landscape", "output landscapes of random 2-64-32-16-1 networks and their smoothness",
                   "Evaluate randomly initialised 2 → 64 → 32 → 16 → 1 networks (one per activation, the same "
                   "seeds, hence the same weights, for each) on a grid over [0, 10]², min–max scaled (the Mish "
                   "paper's figure); measure the smoothness of each image (mean |∇²f|, mean |∇f|) over many "
                   "seeds, compare the subject activation with each other one (paired by seed, 95 % intervals), "
                   "and write output_landscape.{png,pdf,json} into --out-dir.",
                   run_output_landscape_command)
    p.add_argument("--activations", default="relu,leaky_relu,swish,mish",
                   help=f"comma-separated activations, from {', '.join(ACTIVATIONS)}; leaky_relu uses slope 0.3")
    p.add_argument("--subject", default="mish", help="the activation whose claimed smoothness is tested")
    p.add_argument("--seeds", type=int, default=20, help="initialisation seeds per activation")
    p.add_argument("--resolution", type=int, default=400, help="grid points per input axis")
    p.add_argument("--out-dir", default="figures", help="folder for the figure and the JSON results")
    add_figure_flags(p, width=6.9, dpi=200)


def run_output_landscape_command(args: argparse.Namespace) -> None:
    from landscape.studies.output_landscape import run_output_landscape

    names = comma_list(args.activations)
    for name in names:
        if name not in ACTIVATIONS:
            raise LandscapeError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    if args.subject not in names:
        raise LandscapeError(f"--subject {args.subject} is not among --activations {args.activations}")
    if args.seeds < 2 or args.resolution < 3:
        raise LandscapeError("--seeds must be at least 2 and --resolution at least 3")
    options = PlotOptions(formats=comma_list(args.format), dpi=args.dpi, width=args.width)
    require_output_folder(args.out_dir, "--out-dir")
    activations = {n: {"negative_slope": 0.3} if n == "leaky_relu" else {} for n in names}
    summary = run_output_landscape(activations, args.out_dir, args.seeds, args.resolution, args.subject, options)
    show(*(c["text"] for c in summary["comparisons"]))
    show(*summary["figures"])
