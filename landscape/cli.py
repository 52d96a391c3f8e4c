"""Command line: parses flags, builds option dataclasses, calls the library. Nothing else.

Errors the user can fix (LandscapeError) print as one line and exit 2; --debug shows the
traceback instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import traceback

from . import __version__
from .activations import ACTIVATIONS
from .checkpoint import checkpoint_summary, markdown_table
from .data import SPLITS
from .directions import DIRECTION_TYPES, NORMALIZATIONS, DirectionOptions
from .errors import LandscapeError
from .metrics import HessianOptions, MetricsConfig, format_table, run_metrics, write_rows
from .plots import (KINDS_2D, PlotOptions, check_plottable, export_vtk, plot_comparison, plot_surface,
                    plot_training_curves)
from .report import write_report
from .runtime import PRECISIONS
from .study import run_study
from .surface import EvalOptions, SurfaceConfig, run_surface
from .train import OPTIMIZERS, SCHEDULES, TrainConfig, train

DEFAULT_TRAIN = TrainConfig()


DATA_HELP = ("CIFAR-10 folder (train/<class>/, test/<class>/) or a folder holding cifar-10-batches-py; "
             "default $LANDSCAPE_DATA, else download via torchvision")


def default_of(options: type, name: str):
    """The default of dataclass field `name`: the CLI shows the library's defaults, never its own."""
    field = next(f for f in dataclasses.fields(options) if f.name == name)
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def subcommand(sub, name: str, summary: str, description: str, run) -> argparse.ArgumentParser:
    """A subcommand parser with the flags every subcommand shares; `run(args)` does the work."""
    p = sub.add_parser(name, help=summary, description=description,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="auto",
                   help="where to compute: auto (a CUDA GPU if present, else CPU), cpu, cuda, cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    p.set_defaults(run=run)
    return p


def add_figure_flags(p: argparse.ArgumentParser, width: float) -> None:
    p.add_argument("--format", default="png", help="comma-separated formats: png, pdf, svg")
    p.add_argument("--dpi", type=int, default=default_of(PlotOptions, "dpi"), help="resolution of raster formats")
    p.add_argument("--width", type=float, default=width, help="figure width in inches (single column 3.3, double 6.9)")


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split(",") if item)


def add_train_parser(sub) -> None:
    p = subcommand(sub, "train", "train a CIFAR ResNet and write a checkpoint",
                   "Train a CIFAR ResNet on CIFAR-10. Resumable: rerunning the same command "
                   "after an interruption continues from the last finished epoch.",
                   run_train)
    d = DEFAULT_TRAIN
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--out", default=d.out, help="checkpoint path; the log (.log.jsonl), resume state "
                   "(.state.pt) and snapshots (.snapshots/) go beside it")
    p.add_argument("--depth", type=int, default=d.depth, help="ResNet depth, 6n+2 (20, 32, 44, 56, 110)")
    p.add_argument("--activation", default=d.activation, choices=ACTIVATIONS, help="activation at every site")
    p.add_argument("--negative-slope", type=float, default=None,
                   help="leaky_relu negative slope (the Mish paper's ResNet-20 used 0.3; PyTorch default 0.01)")
    p.add_argument("--beta", type=float, default=None, help="swish β in x·σ(βx), or softplus β (default 1)")
    p.add_argument("--impl", choices=("native", "autograd", "compiled"), default=None,
                   help="swish/mish kernel: native (PyTorch's, default), compiled (one fused torch.compile "
                        "kernel each way; 2.5-3.5x faster on CPU, needs a C++ compiler or Triton), or autograd "
                        "(mish only: our MishFunction, the paper's derivative); same function, same weights up "
                        "to float rounding")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="optimiser")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=d.momentum, help="momentum (sgd, rmsprop)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="L2 weight decay")
    p.add_argument("--schedule", choices=SCHEDULES, default=d.schedule, help="learning-rate schedule, per step")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch size")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for initial weights, shuffling and augmentation")
    p.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="fp32, or bf16 autocast (faster on recent CPUs and GPUs)")
    p.add_argument("--train-samples", type=int, default=None,
                   help="train on a fixed class-balanced subset of N images (quick runs)")
    p.add_argument("--save-every", type=int, default=d.save_every,
                   help="save a weight snapshot every K epochs (0: off), for trajectory plots")


def activation_flags(args: argparse.Namespace) -> dict:
    """The activation parameters given on the command line that apply to args.activation."""
    given = {"negative_slope": args.negative_slope, "beta": args.beta, "impl": args.impl}
    applies = {"leaky_relu": ("negative_slope",), "swish": ("beta", "impl"), "softplus": ("beta",), "mish": ("impl",)}
    for key, value in given.items():
        if value is not None and key not in applies.get(args.activation, ()):
            raise LandscapeError(f"--{key.replace('_', '-')} does not apply to activation {args.activation!r}")
    return {k: v for k, v in given.items() if v is not None}


def run_train(args: argparse.Namespace) -> None:
    config = TrainConfig(out=args.out, data=args.data, depth=args.depth, activation=args.activation,
                         activation_params=activation_flags(args), epochs=args.epochs, optimizer=args.optimizer,
                         lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
                         batch_size=args.batch_size, seed=args.seed, precision=args.precision,
                         train_samples=args.train_samples, save_every=args.save_every, device=args.device,
                         quiet=args.quiet)
    path = train(config)
    print(path)


def add_surface_parser(sub) -> None:
    p = subcommand(sub, "surface", "compute a 1-D or 2-D loss surface around a checkpoint into HDF5",
                   "Evaluate loss and accuracy at θ + α·x + β·y on a grid (Li et al. 2018). "
                   "Resumable: rerun the same command to continue. Under `torchrun "
                   "--nproc_per_node=K -m landscape surface ...` the points are shared by K ranks.",
                   run_surface_command)
    p.add_argument("checkpoint", help="checkpoint written by `landscape train` (or save_checkpoint)")
    p.add_argument("--out", required=True, help="surface file to write (HDF5, .h5)")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--x", default=default_of(SurfaceConfig, "x"), help="α grid START:STOP:NUM along direction x")
    p.add_argument("--y", default=None, help="β grid START:STOP:NUM along direction y (omit for a 1-D surface)")
    p.add_argument("--split", nargs="+", choices=SPLITS, default=list(default_of(SurfaceConfig, "splits")),
                   help="data split(s) to evaluate")
    p.add_argument("--samples", type=int, default=default_of(SurfaceConfig, "samples"),
                   help="class-balanced images per split, the same at every point")
    p.add_argument("--data-seed", type=int, default=0, help="seed choosing the images")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    p.add_argument("--norm", choices=NORMALIZATIONS, default="filter",
                   help="direction normalisation: per output filter (Li et al.), per layer, elementwise, or none")
    p.add_argument("--include-biasbn", action="store_true",
                   help="also perturb biases and BatchNorm parameters (default: zero in the directions)")
    p.add_argument("--dir-type", choices=DIRECTION_TYPES, default="weights",
                   help="weights: parameters only; states: BatchNorm running statistics too")
    p.add_argument("--orthogonalize", action="store_true", help="make direction y exactly orthogonal to x")
    p.add_argument("--target", default=None, help="second checkpoint: x = θ_target − θ (1-D interpolation)")
    p.add_argument("--directions", default=None, help="reuse the directions stored in this surface file")
    p.add_argument("--trajectory", default=None, metavar="SNAPSHOT_DIR",
                   help="folder of training snapshots (`train --save-every`): x, y = the top two principal axes "
                        "of the path to this checkpoint (Li et al. 2018, sec. 7; unit norm, not filter-normalised), "
                        "and the path is stored and drawn on the figures; needs --y and a grid that covers it")
    p.add_argument("--batch-size", type=int, default=default_of(EvalOptions, "batch_size"),
                   help="evaluation batch size (64 is fastest here: benchmarks/bench_surface.py)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="fp32, or bf16 autocast")
    p.add_argument("--force", action="store_true", help="replace an existing --out that holds a different surface")
    p.add_argument("--flush-seconds", type=float, default=default_of(SurfaceConfig, "flush_seconds"),
                   help="write results to disk at least this often")


def run_surface_command(args: argparse.Namespace) -> None:
    directions = DirectionOptions(norm=args.norm, ignore_biasbn=not args.include_biasbn, dir_type=args.dir_type,
                                  seed=args.seed, orthogonalize=args.orthogonalize)
    config = SurfaceConfig(checkpoint=args.checkpoint, out=args.out, data=args.data, x=args.x, y=args.y,
                           splits=tuple(args.split), samples=args.samples, data_seed=args.data_seed,
                           directions=directions, target=args.target, directions_file=args.directions,
                           trajectory=args.trajectory, eval=EvalOptions(args.batch_size, args.precision),
                           device=args.device, force=args.force, flush_seconds=args.flush_seconds, quiet=args.quiet)
    path = run_surface(config)
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)


def add_plot_parser(sub) -> None:
    p = subcommand(sub, "plot", "draw paper figures (matplotlib) from surface files",
                   "Figures for each surface (2-D: contour, filled contour, heat map, 3-D; 1-D: loss "
                   "and accuracy against α) and, with several files or --compare, one comparison "
                   "figure with shared levels plus slices through each minimum.",
                   run_plot)
    p.add_argument("surfaces", nargs="+", help="surface files (.h5) from `landscape surface`")
    p.add_argument("--out-dir", default="figures", help="folder for the figures")
    p.add_argument("--metric", default="train_loss", help="dataset to draw: train_loss, test_loss, train_acc, test_acc")
    p.add_argument("--kinds", default=",".join(KINDS_2D), help="2-D figure kinds, comma-separated")
    p.add_argument("--levels", type=int, default=default_of(PlotOptions, "levels"), help="number of contour levels")
    p.add_argument("--vmin", type=float, default=None, help="lowest contour level / colour (default: data minimum)")
    p.add_argument("--vmax", "--zmax", type=float, default=None,
                   help="highest contour level / colour, and 3-D height clip (default: data maximum)")
    p.add_argument("--log", action="store_true", help="log-scaled levels, colours and 3-D height")
    add_figure_flags(p, width=default_of(PlotOptions, "width"))
    p.add_argument("--compare", action="store_true", help="also draw a comparison figure for a single file")
    p.add_argument("--no-single", action="store_true", help="only the comparison figure")
    p.add_argument("--vtk", action="store_true",
                   help="also export each 2-D surface for ParaView (.vts structured grid)")


def run_plot(args: argparse.Namespace) -> None:
    options = PlotOptions(metric=args.metric, kinds=comma_list(args.kinds), levels=args.levels,
                          vmin=args.vmin, vmax=args.vmax, log=args.log,
                          formats=comma_list(args.format), dpi=args.dpi, width=args.width)
    kinds_given = args.kinds != ",".join(KINDS_2D)
    check_plottable(args.surfaces, options, kinds_given)
    written = []
    if not args.no_single:
        for path in args.surfaces:
            written += plot_surface(path, args.out_dir, options, kinds_given)
    if len(args.surfaces) > 1 or args.compare:
        written += plot_comparison(args.surfaces, f"{args.out_dir}/comparison_{args.metric}", options)
    if args.vtk:
        written += [export_vtk(path, f"{args.out_dir}/{os.path.basename(path).rsplit('.', 1)[0]}", args.metric)
                    for path in args.surfaces]
    print("\n".join(map(str, written)))


def add_curves_parser(sub) -> None:
    p = subcommand(sub, "curves", "draw training curves from `landscape train` logs (.log.jsonl)",
                   "Train loss, test loss and test accuracy per epoch, the runs overlaid.",
                   run_curves)
    p.add_argument("logs", nargs="+", help="training logs (CHECKPOINT_STEM.log.jsonl)")
    p.add_argument("--out", default="figures/training_curves", help="output path without extension")
    p.add_argument("--log", action="store_true", help="log-scaled loss axes")
    add_figure_flags(p, width=6.9)


def run_curves(args: argparse.Namespace) -> None:
    options = PlotOptions(log=args.log, formats=comma_list(args.format), dpi=args.dpi,
                          width=args.width)
    print("\n".join(map(str, plot_training_curves(args.logs, args.out, options))))


def add_info_parser(sub) -> None:
    subcommand(sub, "info", "print the recipe results of checkpoints as a Markdown table",
               "Activation, epochs, final train loss and accuracy (clean, eval mode), test loss and "
               "accuracy, seconds per epoch and device, read from each checkpoint's metadata.",
               run_info).add_argument("checkpoints", nargs="+", help="checkpoints written by `landscape train`")


def run_info(args: argparse.Namespace) -> None:
    print(markdown_table([checkpoint_summary(path) for path in args.checkpoints]))


def add_report_parser(sub) -> None:
    p = subcommand(sub, "report", "write an interactive, offline HTML report (plotly) for surface files",
                   "One self-contained HTML file: 3-D and contour views per surface, a comparison "
                   "on a shared colour scale with loss/accuracy and linear/log switches, slices "
                   "through each minimum, and metadata and metrics tables.",
                   run_report)
    p.add_argument("surfaces", nargs="+", help="surface files (.h5) from `landscape surface`")
    p.add_argument("--out", default="report.html", help="HTML file to write")
    p.add_argument("--title", default="Loss landscapes", help="page title")


def run_report(args: argparse.Namespace) -> None:
    print(write_report(args.surfaces, args.out, args.title))


def add_metrics_parser(sub) -> None:
    p = subcommand(sub, "metrics", "numbers for width and smoothness, from surfaces and/or checkpoints",
                   "Surface metrics (minimum, sublevel-set width, curvature, local minima, "
                   "roughness, in-plane convexity), stored back into each file; with --checkpoint, "
                   "the loss and its standard error, and optionally the Hessian spectrum and trace "
                   "(--hessian) and dead units (--dead-units). Prints a table; --json/--csv save it.",
                   run_metrics_command)
    p.add_argument("surfaces", nargs="*", help="surface files (.h5)")
    p.add_argument("--checkpoint", nargs="+", default=[], help="checkpoints to measure with the model and data")
    p.add_argument("--metric", default="train_loss", help="surface dataset to measure")
    p.add_argument("--thresholds", default="0.1,0.5,1.0", help="Δ above the minimum for sublevel-set widths")
    p.add_argument("--no-store", action="store_true", help="do not write the metrics into the surface files")
    p.add_argument("--data", default=None, help=DATA_HELP + " (checkpoint metrics)")
    p.add_argument("--split", choices=SPLITS, default="train", help="split for checkpoint metrics")
    p.add_argument("--samples", type=int, default=default_of(MetricsConfig, "samples"),
                   help="class-balanced images for checkpoint metrics")
    p.add_argument("--data-seed", type=int, default=0, help="seed choosing the images")
    p.add_argument("--hessian", action="store_true", help="top-k Hessian eigenvalues and Hutchinson trace")
    p.add_argument("--top-k", type=int, default=default_of(HessianOptions, "top_k"),
                   help="number of top Hessian eigenvalues")
    p.add_argument("--trace-samples", type=int, default=default_of(HessianOptions, "trace_samples"),
                   help="Rademacher vectors for the trace estimate")
    p.add_argument("--iterations", type=int, default=default_of(HessianOptions, "iterations"),
                   help="maximum power iterations per eigenvalue")
    p.add_argument("--dead-units", action="store_true", help="share of channels never positive / always ≈ 0")
    p.add_argument("--eps", type=float, default=default_of(MetricsConfig, "eps"),
                   help="magnitude below which a unit counts as silent")
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    p.add_argument("--csv", default=None, help="write the rows as CSV here")


def run_metrics_command(args: argparse.Namespace) -> None:
    try:
        thresholds = tuple(float(t) for t in args.thresholds.split(","))
    except ValueError:
        raise LandscapeError(f"--thresholds must be comma-separated numbers; got {args.thresholds!r}") from None
    hessian = HessianOptions(top_k=args.top_k, trace_samples=args.trace_samples,
                             iterations=args.iterations) if args.hessian else None
    config = MetricsConfig(surfaces=tuple(args.surfaces), checkpoints=tuple(args.checkpoint), metric=args.metric,
                           thresholds=thresholds, store=not args.no_store, data=args.data, split=args.split,
                           samples=args.samples, data_seed=args.data_seed, hessian=hessian,
                           dead_units=args.dead_units, eps=args.eps, device=args.device, quiet=args.quiet)
    rows = run_metrics(config)
    write_rows(rows, args.json, args.csv)
    print(format_table(rows))


def add_study_parser(sub) -> None:
    p = subcommand(sub, "study", "the Mish study end to end: train four ResNet-20s, surfaces, metrics, figures",
                   "Trains ResNet-20 with relu, leaky_relu (0.3), swish and mish on one recipe "
                   "(resuming or skipping finished runs), computes a 2-D train/test surface for "
                   "each, their metrics, comparison figures, training curves and an HTML report.",
                   run_study_command)
    p.add_argument("--profile", choices=("quick", "paper"), default="quick",
                   help="quick: 1 epoch on 5,000 images, 11×11 grids, into runs/quick (minutes); paper: 50 epochs, "
                        "51×51 grids on 1,000 images, into checkpoints/ and figures/ (many CPU hours)")
    p.add_argument("--data", default=None, help=DATA_HELP)


def run_study_command(args: argparse.Namespace) -> None:
    print(run_study(args.profile, args.data, args.device, args.quiet))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="landscape", description="Measure and draw the loss landscapes of "
                                     "neural networks (Li et al. 2018), starting from a checkpoint.")
    parser.add_argument("--version", action="version", version=f"landscape {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    add_surface_parser(sub)
    add_plot_parser(sub)
    add_curves_parser(sub)
    add_info_parser(sub)
    add_report_parser(sub)
    add_metrics_parser(sub)
    add_study_parser(sub)
    return parser


def attach_grid_values(argv: list[str]) -> list[str]:
    """Turn `--x -1:1:51` into `--x=-1:1:51`: argparse would read '-1:1:51' as an option."""
    joined, i = [], 0
    while i < len(argv):
        if argv[i] in ("--x", "--y") and i + 1 < len(argv) and argv[i + 1].startswith("-") and ":" in argv[i + 1]:
            joined.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(attach_grid_values(sys.argv[1:] if argv is None else argv))
    # torch.compile on a CPU-only machine warns that it found no CUDA runtime: true and irrelevant.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        args.run(args)
    except LandscapeError as e:
        if args.debug:
            traceback.print_exc()
        print(f"landscape {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"landscape {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
