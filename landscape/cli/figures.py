"""`landscape plot`, `landscape curves` and `landscape report`: figures and the HTML report."""
from __future__ import annotations

import argparse
import os

from landscape.cli.common import add_figure_flags, comma_list, default_of, show, subcommand
from landscape.files import require_output_folder, require_safe_outputs
from landscape.viz.options import KINDS_2D, PlotOptions


def add_plot_parser(sub) -> None:
    p = subcommand(sub, "plot", "draw paper figures (matplotlib) from surface files",
                   "Figures for each surface (2-D: contour, filled contour, heat map, 3-D; 1-D: loss "
                   "and accuracy against α) and, with several files or --compare, one comparison "
                   "figure with shared levels plus slices through each minimum.",
                   run_plot)
    p.add_argument("surfaces", nargs="+", help="surface files (.h5) from `landscape surface`")
    p.add_argument("--out-dir", default="figures", help="folder for the figures")
    p.add_argument("--metric", default=default_of(PlotOptions, "metric"),
                   help="dataset to draw: train_loss, test_loss, train_acc, test_acc")
    p.add_argument("--kinds", default=",".join(KINDS_2D), help="2-D figure kinds, comma-separated")
    p.add_argument("--levels", type=int, default=default_of(PlotOptions, "levels"),
                   help="at most this many contour levels (a loss: round heights above its minimum, 0.01, 0.02 …)")
    p.add_argument("--vmin", type=float, default=None, help="lowest contour level / colour (default: data minimum)")
    p.add_argument("--vmax", "--zmax", type=float, default=None,
                   help="highest contour level / colour, and 3-D height clip (default: data maximum)")
    p.add_argument("--log", action="store_true", help="log-scaled levels, colours and 3-D height")
    add_figure_flags(p, width=default_of(PlotOptions, "width"), dpi=default_of(PlotOptions, "dpi"))
    p.add_argument("--compare", action="store_true", help="also draw a comparison figure for a single file")
    p.add_argument("--no-single", action="store_true", help="only the comparison figure")
    p.add_argument("--partial", action="store_true",
                   help="draw unfinished surfaces too; their titles say how many points are computed")
    p.add_argument("--vtk", action="store_true",
                   help="also export each 2-D surface for ParaView (.vts structured grid)")


def run_plot(args: argparse.Namespace) -> None:
    from landscape.viz.comparison import plot_comparison
    from landscape.viz.export import export_vtk
    from landscape.viz.plots import check_plottable, plot_surface

    options = PlotOptions(metric=args.metric, kinds=comma_list(args.kinds), levels=args.levels,
                          vmin=args.vmin, vmax=args.vmax, log=args.log,
                          formats=comma_list(args.format), dpi=args.dpi, width=args.width, partial=args.partial)
    kinds_given = args.kinds != ",".join(KINDS_2D)
    require_output_folder(args.out_dir, "--out-dir")
    check_plottable(args.surfaces, options, kinds_given)
    written = []
    if not args.no_single:
        for path in args.surfaces:
            written += plot_surface(path, args.out_dir, options, kinds_given)
    if len(args.surfaces) > 1 or args.compare:
        written += plot_comparison(args.surfaces, f"{args.out_dir}/comparison_{args.metric}", options)
    if args.vtk:
        written += [export_vtk(path, f"{args.out_dir}/{os.path.basename(path).rsplit('.', 1)[0]}", args.metric,
                              args.partial)
                    for path in args.surfaces]
    show(*written)


def add_curves_parser(sub) -> None:
    p = subcommand(sub, "curves", "draw training curves from `landscape train` logs (.log.jsonl)",
                   "Train loss, test loss and test accuracy per epoch, the runs overlaid.",
                   run_curves)
    p.add_argument("logs", nargs="+", help="training logs (CHECKPOINT_STEM.log.jsonl)")
    p.add_argument("--out", default="figures/training_curves", help="output path without extension")
    p.add_argument("--log", action="store_true", help="log-scaled loss axes")
    add_figure_flags(p, width=6.9, dpi=default_of(PlotOptions, "dpi"))


def run_curves(args: argparse.Namespace) -> None:
    from landscape.viz.training_curves import plot_training_curves

    options = PlotOptions(log=args.log, formats=comma_list(args.format), dpi=args.dpi, width=args.width)
    require_safe_outputs({f"--out (.{fmt})": f"{args.out}.{fmt}" for fmt in options.formats}, args.logs)
    show(*plot_training_curves(args.logs, args.out, options))


def add_report_parser(sub) -> None:
    p = subcommand(sub, "report", "write an interactive, offline HTML report (plotly) for surface files",
                   "One self-contained HTML file: a summary table, a comparison on one shared colour "
                   "scale (opening on the training loss clipped at minimum + 5; switches for quantity and "
                   "clipped/full/log scale), slices through each minimum, 3-D and contour views per surface, "
                   "and each surface's provenance and metrics, folded.",
                   run_report)
    p.add_argument("surfaces", nargs="+", help="surface files (.h5) from `landscape surface`")
    p.add_argument("--out", default="report.html", help="HTML file to write")
    p.add_argument("--title", default="Loss landscapes", help="page title")
    p.add_argument("--partial", action="store_true",
                   help="report unfinished surfaces too; the page says how many points each has")


def run_report(args: argparse.Namespace) -> None:
    from landscape.viz.report import write_report

    require_safe_outputs({"--out": args.out}, args.surfaces)
    show(write_report(args.surfaces, args.out, args.title, partial=args.partial))
