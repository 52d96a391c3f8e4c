"""`landscape metrics`: numbers for width and smoothness, from surfaces and from checkpoints."""
from __future__ import annotations

import argparse

from ..data import SPLITS
from ..files import require_safe_outputs
from ..metrics import HessianOptions, MetricsConfig, run_metrics
from ..tables import markdown_table, write_rows
from .common import (
    DATASET_DATA_HELP,
    add_dataset_flags,
    add_table_flags,
    add_thresholds_flag,
    dataset_of,
    default_of,
    show,
    subcommand,
    thresholds_of,
)


def add_metrics_parser(sub) -> None:
    p = subcommand(sub, "metrics", "numbers for width and smoothness, from surfaces and/or checkpoints",
                   "Surface metrics (minimum, sublevel-set width, curvature, local minima, "
                   "roughness, in-plane convexity), stored back into each file; with --checkpoint, "
                   "the loss and its standard error, and optionally the Hessian spectrum and trace "
                   "(--hessian) and dead units (--dead-units). Prints a line per input (--table: the whole "
                   "table as Markdown); --json/--csv save every column.",
                   run_metrics_command)
    p.add_argument("surfaces", nargs="*", help="surface files (.h5)")
    p.add_argument("--checkpoint", nargs="+", default=[], help="checkpoints to measure with the model and data")
    p.add_argument("--metric", default=default_of(MetricsConfig, "metric"), help="surface dataset to measure")
    add_thresholds_flag(p)
    p.add_argument("--no-store", action="store_true", help="do not write the metrics into the surface files")
    p.add_argument("--partial", action="store_true",
                   help="measure unfinished surfaces too: their rows say 'partial: N of M points' and nothing is "
                        "stored in them")
    p.add_argument("--data", default=None, help=DATASET_DATA_HELP + " (checkpoint metrics)")
    add_dataset_flags(p)
    p.add_argument("--split", choices=SPLITS, default=default_of(MetricsConfig, "split"),
                   help="split for checkpoint metrics")
    p.add_argument("--samples", type=int, default=default_of(MetricsConfig, "samples"),
                   help="class-balanced images for checkpoint metrics")
    p.add_argument("--data-seed", type=int, default=default_of(MetricsConfig, "data_seed"),
                   help="seed choosing the images")
    p.add_argument("--hessian", action="store_true", help="top-k Hessian eigenvalues and Hutchinson trace")
    p.add_argument("--top-k", type=int, default=default_of(HessianOptions, "top_k"),
                   help="number of top Hessian eigenvalues")
    p.add_argument("--trace-samples", type=int, default=default_of(HessianOptions, "trace_samples"),
                   help="Rademacher vectors for the trace estimate")
    p.add_argument("--iterations", type=int, default=default_of(HessianOptions, "iterations"),
                   help="maximum power iterations per eigenvalue")
    p.add_argument("--hessian-samples", type=int, default=None,
                   help="class-balanced images for the Hessian (default: --samples); each Hessian-vector "
                        "product costs about two backward passes over them")
    p.add_argument("--hessian-low-memory", action="store_true",
                   help="rebuild the gradient graph for every Hessian-vector product instead of keeping it "
                        "(slower; memory of one batch instead of about 2–4 MB per ResNet-20 image)")
    p.add_argument("--dead-units", action="store_true", help="share of channels never positive / always ≈ 0")
    p.add_argument("--eps", type=float, default=default_of(MetricsConfig, "eps"),
                   help="magnitude below which a unit counts as silent")
    add_table_flags(p)
    p.add_argument("--table", action="store_true", help="print every column as a Markdown table (wide)")


def summary_line(row: dict) -> str:
    """The headline numbers of one row: the minimum (or loss), the widest width, λmax, dead units."""
    parts = []
    if "minimum" in row:
        parts.append(f"minimum {row['minimum']:.4g}")
        radii = sorted((k for k in row if k.startswith("width_radius_")), key=lambda k: float(k.rsplit("_", 1)[1]))
        if radii:
            parts.append(f"basin radius at Δ={radii[-1].rsplit('_', 1)[1]} {row[radii[-1]]:.3g}")
    else:
        parts.append(f"loss {row['loss']:.4g} ± {row['loss_standard_error']:.2g} ({row['images']} images)")
    if "hessian_eig_1" in row:
        parts.append(f"Hessian λmax {row['hessian_eig_1']:.4g}, trace {row['hessian_trace']:.4g} "
                     f"± {row['hessian_trace_ci95']:.2g}")
    if "dead_never_positive" in row:
        parts.append(f"dead units {100 * row['dead_never_positive']:.2g} %")
    partial = f" [{row['partial']}]" if row.get("partial") else ""
    return f"{row['source']} ({row.get('activation')}){partial}: " + ", ".join(parts)


def run_metrics_command(args: argparse.Namespace) -> None:
    require_safe_outputs({"--json": args.json, "--csv": args.csv}, [*args.surfaces, *args.checkpoint])
    thresholds = thresholds_of(args)
    hessian = HessianOptions(top_k=args.top_k, trace_samples=args.trace_samples, iterations=args.iterations,
                             samples=args.hessian_samples, keep_graph=not args.hessian_low_memory) \
        if args.hessian else None
    config = MetricsConfig(surfaces=tuple(args.surfaces), checkpoints=tuple(args.checkpoint), metric=args.metric,
                           thresholds=thresholds, store=not args.no_store, data=args.data, dataset=dataset_of(args),
                           split=args.split, samples=args.samples, data_seed=args.data_seed, hessian=hessian,
                           dead_units=args.dead_units, eps=args.eps, device=args.device, quiet=args.quiet,
                           partial=args.partial)
    rows = run_metrics(config)
    write_rows(rows, args.json, args.csv)
    show(markdown_table(rows) if args.table else "\n".join(summary_line(r) for r in rows))
