"""`landscape metrics`: numbers for width and smoothness, from surfaces and from checkpoints."""
from __future__ import annotations

import argparse

from landscape.cli.common import (
    add_dataset_flags,
    add_image_flags,
    add_table_flags,
    add_thresholds_flag,
    dataset_of,
    default_of,
    show,
    subcommand,
    thresholds_of,
)
from landscape.files import require_safe_outputs
from landscape.metrics.options import HessianOptions, MetricsConfig
from landscape.storage.tables import markdown_table, write_rows


def add_metrics_parser(sub) -> None:
    p = subcommand(sub, "metrics", "numbers for width and smoothness, from surfaces and/or checkpoints",
                   "Surface metrics (minimum, sublevel-set width, curvature, local minima, "
                   "roughness, in-plane convexity), stored back into each file; with --checkpoint, "
                   "the loss and its standard error, and optionally the Hessian spectrum and trace "
                   "(--hessian) and dead units (--dead-units). Prints a table of the headline numbers (--table: every "
                   "column, wide); --json/--csv save every column.",
                   run_metrics_command)
    p.add_argument("surfaces", nargs="*", help="surface files (.h5)")
    p.add_argument("--checkpoint", nargs="+", default=[], help="checkpoints to measure with the model and data")
    p.add_argument("--metric", default=default_of(MetricsConfig, "metric"), help="surface dataset to measure")
    add_thresholds_flag(p)
    p.add_argument("--no-store", action="store_true", help="do not write the metrics into the surface files")
    p.add_argument("--partial", action="store_true",
                   help="measure unfinished surfaces too: their rows say 'partial: N of M points' and nothing is "
                        "stored in them")
    add_dataset_flags(p, "checkpoint metrics")
    add_image_flags(p, MetricsConfig, "split for checkpoint metrics", "class-balanced images for checkpoint metrics")
    p.add_argument("--hessian", action="store_true",
                   help="Hessian λmax (several starts), trace (every probe kept) and a Lanczos cross-check")
    p.add_argument("--top-k", type=int, default=default_of(HessianOptions, "top_k"),
                   help="number of top Hessian eigenvalues (beyond the first by deflation)")
    p.add_argument("--starts", type=int, default=default_of(HessianOptions, "starts"),
                   help="random starts of the power iteration for λmax")
    p.add_argument("--iterations", type=int, default=default_of(HessianOptions, "iterations"),
                   help="maximum power iterations per start")
    p.add_argument("--trace-samples", type=int, default=default_of(HessianOptions, "trace_samples"),
                   help="Rademacher probes for the trace estimate")
    p.add_argument("--lanczos-steps", type=int, default=default_of(HessianOptions, "lanczos_steps"),
                   help="Lanczos steps of the λmax cross-check and spectral density (0: none)")
    p.add_argument("--shared-probes", action="store_true",
                   help="the same probes and starts for every model (default: drawn per model, so that "
                        "differences carry the probe noise)")
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


NOTES = {"fills": "the basin fills the whole grid: its radius is at least this (widen --x/--y)",
         "small": "the widest basin holds too few grid points for a quartic fit (16 needed): use a finer grid",
         "line": "a 1-D surface has no in-plane convexity"}


def readable_table(rows: list[dict]) -> list[str]:
    """The headline numbers of every row as a Markdown table, each 'n/a' or bound explained below it:
    surfaces (minimum, basin radius at each Δ, curvature, local minima, roughness, non-convex
    share) and checkpoints (loss, Hessian, dead units)."""
    notes: list[str] = []

    def mark(text: str, reason: str) -> str:
        if NOTES[reason] not in notes:
            notes.append(NOTES[reason])
        return f"{text} ({'abcdefg'[notes.index(NOTES[reason])]})"
    lines = []
    surfaces = [r for r in rows if "minimum" in r]
    if surfaces:
        deltas = sorted((k.rsplit("_", 1)[1] for k in surfaces[0] if k.startswith("width_radius_")), key=float)
        head = ["surface", "model", "minimum", *(f"radius Δ={d}" for d in deltas), "curvature", "local minima",
                "roughness", "non-convex"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in surfaces:
            radii = [f"{r[f'width_radius_{d}']:.3g}" if r[f"width_fraction_{d}"] < 1
                     else mark(f"≥{r[f'width_radius_{d}']:.3g}", "fills") for d in deltas]
            eigenvalues = r.get("hessian_eigenvalues") or [float("nan")]
            rough = f"{r['roughness']:.3g}" if r["roughness"] == r["roughness"] else mark("n/a", "small")
            convex = (f"{100 * r['nonconvex_fraction']:.0f} %" if r["nonconvex_fraction"] == r["nonconvex_fraction"]
                      else mark("n/a", "line"))
            model = r.get("activation") or ""
            lines.append("| " + " | ".join([r["source"] + (f" [{r['partial']}]" if r.get("partial") else ""), model,
                                            f"{r['minimum']:.4g}", *radii, f"{max(eigenvalues):.3g}",
                                            str(r["local_minima"]), rough, convex]) + " |")
    checkpoints = [r for r in rows if "loss" in r]
    if checkpoints:
        lines += ["" if lines else None, "| checkpoint | model | loss ± s.e. | images | Hessian λmax (starts "
                  "converged) | Lanczos λmax | trace ± 95 % (probes) | dead units |", "|---" * 8 + "|"]
        for r in checkpoints:
            hessian = ([f"{r['hessian_eig_1']:.4g} ({r['hessian_max_converged']} of {r['hessian_max_starts']})",
                        f"{r['hessian_lanczos_max']:.4g}",
                        f"{r['hessian_trace']:.4g} ± {r['hessian_trace_ci95']:.2g} ({r['hessian_trace_probes']})"]
                       if "hessian_eig_1" in r else ["(--hessian)"] * 3)
            dead = f"{100 * r['dead_never_positive']:.2g} %" if "dead_never_positive" in r else "(--dead-units)"
            lines.append(f"| {r['source']} | {r.get('activation')} | {r['loss']:.4g} ± {r['loss_standard_error']:.2g} "
                         f"| {r['images']} | {' | '.join(hessian)} | {dead} |")
    lines = [line for line in lines if line is not None]
    lines += [""] * bool(notes) + [f"({'abcdefg'[i]}) {note}" for i, note in enumerate(notes)]
    return lines


def run_metrics_command(args: argparse.Namespace) -> None:
    from landscape.metrics.checkpoint import run_metrics

    require_safe_outputs({"--json": args.json, "--csv": args.csv}, [*args.surfaces, *args.checkpoint])
    thresholds = thresholds_of(args)
    hessian = HessianOptions(top_k=args.top_k, starts=args.starts, iterations=args.iterations,
                             trace_samples=args.trace_samples, lanczos_steps=args.lanczos_steps,
                             independent_probes=not args.shared_probes, samples=args.hessian_samples,
                             keep_graph=not args.hessian_low_memory) if args.hessian else None
    config = MetricsConfig(surfaces=tuple(args.surfaces), checkpoints=tuple(args.checkpoint), metric=args.metric,
                           thresholds=thresholds, store=not args.no_store, data=args.data, dataset=dataset_of(args),
                           split=args.split, samples=args.samples, data_seed=args.data_seed, hessian=hessian,
                           dead_units=args.dead_units, eps=args.eps, device=args.device, quiet=args.quiet,
                           partial=args.partial)
    rows = run_metrics(config)
    write_rows(rows, args.json, args.csv)
    show(markdown_table(rows) if args.table else "\n".join(readable_table(rows)))
