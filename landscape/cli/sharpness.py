"""`landscape sharpness`: K random 1-D slices per checkpoint; widths with 95 % intervals."""
from __future__ import annotations

import argparse

from landscape.cli.common import (
    add_dataset_flags,
    add_eval_flags,
    add_image_flags,
    add_model_flags,
    add_table_flags,
    add_thresholds_flag,
    dataset_of,
    default_of,
    eval_options_of,
    model_of,
    show,
    subcommand,
    thresholds_of,
)
from landscape.files import require_output_folder, require_safe_outputs
from landscape.metrics.options import SharpnessConfig
from landscape.storage.tables import write_rows


def add_sharpness_parser(sub) -> None:
    p = subcommand(sub, "sharpness", "many random 1-D slices per checkpoint: widths with 95 % intervals",
                   "Evaluate K independent filter-normalised random directions per checkpoint (1-D slices "
                   "through the trained weights, the same direction seeds for every checkpoint, so comparisons "
                   "are paired), one resumable HDF5 file per checkpoint; then each model's minimum, curvature "
                   "and basin widths (sub-grid, censored where the basin leaves the grid) as means over the "
                   "directions with 95 % intervals.",
                   run_sharpness_command)
    p.add_argument("checkpoints", nargs="*", help="checkpoints written by `landscape train`; or use --model/--weights")
    add_model_flags(p, many=True)
    p.add_argument("--directions", type=int, default=default_of(SharpnessConfig, "directions"),
                   help="number K of random directions (slices) per checkpoint")
    p.add_argument("--planes", type=int, default=default_of(SharpnessConfig, "planes"),
                   help="also compute this many independent random 2-D planes per checkpoint "
                        "(CHECKPOINT_plane{k}.h5, direction seed --seed + k, both axes on the --x grid; plane 0's "
                        "axes are slices 0 and 1), for pictures: draw them with `landscape plot` or `report`")
    p.add_argument("--x", default=default_of(SharpnessConfig, "x"),
                   help="α grid of every slice (and both axes of every plane), START:STOP:NUM")
    p.add_argument("--out-dir", default=default_of(SharpnessConfig, "out_dir"),
                   help="folder for CHECKPOINT_slices.h5 files")
    add_dataset_flags(p)
    add_image_flags(p, SharpnessConfig, "data split(s) to evaluate (widths are measured on the first)",
                    "class-balanced images per split, the same at every point, or all (the whole split)")
    p.add_argument("--seed", type=int, default=default_of(SharpnessConfig, "seed"),
                   help="seed of the random directions (the same for every checkpoint)")
    add_thresholds_flag(p)
    add_eval_flags(p)
    p.add_argument("--store-directions", action="store_true",
                   help="store every direction's tensors in the file (each as large as the model); by default "
                        "only their seed and SHA-256, and they are drawn again and checked when reused")
    p.add_argument("--force", action="store_true", help="replace slices files made with other settings")
    p.add_argument("--flush-seconds", type=float, default=default_of(SharpnessConfig, "flush_seconds"),
                   help="write results to disk at least this often")
    add_table_flags(p)


def run_sharpness_command(args: argparse.Namespace) -> None:
    from landscape.metrics.sharpness import run_sharpness

    thresholds = thresholds_of(args)
    weights, model = model_of(args, args.checkpoints)
    require_safe_outputs({"--json": args.json, "--csv": args.csv}, weights)
    require_output_folder(args.out_dir, "--out-dir")
    config = SharpnessConfig(checkpoints=tuple(weights), out_dir=args.out_dir, data=args.data, model=model,
                             dataset=dataset_of(args),
                             directions=args.directions, planes=args.planes, x=args.x, splits=tuple(args.split),
                             samples=args.samples,
                             data_seed=args.data_seed, seed=args.seed, thresholds=thresholds,
                             eval=eval_options_of(args), device=args.device,
                             force=args.force, flush_seconds=args.flush_seconds,
                             store_directions=args.store_directions, quiet=args.quiet)
    rows = run_sharpness(config, metric=f"{args.split[0]}_loss")
    write_rows(rows, args.json, args.csv)
    widest = max(thresholds)
    for row in rows:
        show(f"{row['activation']}: minimum {row['minimum']:.4f}, width at Δ={widest:g} "
              f"{row[f'width_{widest:g}']:.3f} [{row[f'width_{widest:g}_low']:.3f}, "
              f"{row[f'width_{widest:g}_high']:.3f}] (95 % interval over {row['directions']} directions; "
              f"{row[f'censored_{widest:g}']} censored)  {row['source']}")
        for plane in row.get("planes", []):
            show(f"  plane: {plane}")
