"""`landscape adaptive-sharpness`: adaptive sharpness per checkpoint and its rank correlation with generalisation."""
from __future__ import annotations

import argparse

from landscape.cli.common import (
    add_dataset_flags,
    add_model_flags,
    add_table_flags,
    dataset_of,
    default_of,
    model_of,
    show,
    subcommand,
)
from landscape.files import require_safe_outputs
from landscape.metrics.options import AdaptiveSharpnessConfig


def add_adaptive_sharpness_parser(sub) -> None:
    p = subcommand(sub, "adaptive-sharpness",
                   "adaptive average- and worst-case sharpness per checkpoint, ranked against generalisation",
                   "Andriushchenko et al. 2023's sharpness table: on --samples training images in batches of m = "
                   "--batch-size, the loss increase under Gaussian noise of --rho-average times each weight "
                   "(average case) and its largest increase found by --steps of sign-gradient ascent in the box of "
                   "--rho-worst times each weight (worst case), each the mean over batches with a 95 % interval; "
                   "each model's test accuracy and generalisation gap (accuracy on --gap-samples training images "
                   "minus test accuracy); and Kendall's tau of each measure with both, over all models given.",
                   run_adaptive_sharpness_command)
    p.add_argument("checkpoints", nargs="*", help="checkpoints written by `landscape train`; or use --model/--weights")
    add_model_flags(p, many=True)
    add_dataset_flags(p)
    for name, text in (("samples", "class-balanced training images the sharpness is measured on"),
                       ("batch_size", "m of m-sharpness: images per batch (the measures are means over batches)"),
                       ("rho_average", "average case: the noise's standard deviation, as a fraction of each weight"),
                       ("rho_worst", "worst case: the box's half-width, as a fraction of each weight"),
                       ("draws", "average case: noise draws per batch"),
                       ("steps", "worst case: sign-gradient ascent steps per batch"),
                       ("gap_samples", "class-balanced training images for the accuracy in the generalisation gap"),
                       ("data_seed", "seed choosing the images"),
                       ("seed", "seed of the noise and of the ascent's starts")):
        default = default_of(AdaptiveSharpnessConfig, name)
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default, help=text)
    add_table_flags(p)


def run_adaptive_sharpness_command(args: argparse.Namespace) -> None:
    from landscape.metrics.adaptive_sharpness import run_adaptive_sharpness
    from landscape.storage.tables import markdown_table, write_rows

    weights, model = model_of(args, args.checkpoints)
    require_safe_outputs({"--json": args.json, "--csv": args.csv}, weights)
    config = AdaptiveSharpnessConfig(checkpoints=tuple(weights), data=args.data, model=model, dataset=dataset_of(args),
                                     samples=args.samples, batch_size=args.batch_size, rho_average=args.rho_average,
                                     rho_worst=args.rho_worst, draws=args.draws, steps=args.steps,
                                     gap_samples=args.gap_samples, data_seed=args.data_seed, seed=args.seed,
                                     device=args.device, quiet=args.quiet)
    rows, correlations = run_adaptive_sharpness(config)
    write_rows(rows, args.json, args.csv)
    show(markdown_table(rows))
    if correlations:
        show("", f"Kendall's tau over {len(rows)} models (two-sided p; models of one activation and recipe are not "
                 "independent draws, so read p as descriptive):", markdown_table(correlations))
