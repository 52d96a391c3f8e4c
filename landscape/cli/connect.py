"""`landscape connect`: the loss along the line (or a trained Bézier curve) between trained models."""
from __future__ import annotations

import argparse

from landscape.cli.common import (
    add_dataset_flags,
    add_image_flags,
    add_model_flags,
    add_table_flags,
    dataset_of,
    default_of,
    model_of,
    show,
    subcommand,
)
from landscape.files import require_output_folder, require_safe_outputs
from landscape.surfaces.config import BN_MODES, PATH_CURVES, ConnectConfig


def add_connect_parser(sub) -> None:
    p = subcommand(sub, "connect", "the loss along the path between trained models, and its barrier",
                   "For every pair of the models given (A before B, in the order given): the loss and accuracy at "
                   "--points evenly spaced t in [0, 1] along the straight line (1 - t)·A + t·B, or along a quadratic "
                   "Bézier curve through a bend trained for --curve-epochs (Garipov et al. 2018). One 1-D surface "
                   "file per pair in --out-dir (A__B_line.h5; resumable; `plot` and `report` draw it), and the "
                   "barrier: the highest loss along the path minus the mean of the endpoints' losses.",
                   run_connect_command)
    p.add_argument("checkpoints", nargs="*",
                   help="two or more checkpoints of one architecture; or use --model/--weights")
    add_model_flags(p, many=True)
    add_dataset_flags(p)
    p.add_argument("--points", type=int, default=default_of(ConnectConfig, "points"),
                   help="points along each path, both ends included")
    p.add_argument("--curve", choices=PATH_CURVES, default=default_of(ConnectConfig, "curve"),
                   help="line: the straight line; bezier: a quadratic Bézier curve whose bend is trained first")
    p.add_argument("--bn", choices=BN_MODES, default=default_of(ConnectConfig, "bn"),
                   help="BatchNorm statistics along the path: recompute (on --bn-samples training images at every "
                        "point), keep (interpolated with the weights: the ends are exactly the models), auto "
                        "(recompute where the model has BatchNorm)")
    p.add_argument("--bn-samples", type=int, default=default_of(ConnectConfig, "bn_samples"),
                   help="class-balanced training images whose activations give each point's BatchNorm statistics")
    p.add_argument("--bn-clean", action="store_true",
                   help="estimate those statistics on the images as they are, not augmented as in training "
                        "(random crop after 4-pixel padding, horizontal flip)")
    add_image_flags(p, ConnectConfig, "data split(s) to evaluate (the barrier is measured on the first)",
                    "class-balanced images per split, the same at every point, or all")
    p.add_argument("--curve-epochs", type=int, default=default_of(ConnectConfig, "curve_epochs"),
                   help="with --curve bezier: epochs of training of the bend")
    p.add_argument("--curve-lr", type=float, default=default_of(ConnectConfig, "curve_lr"),
                   help="with --curve bezier: the bend's initial learning rate (cosine to 0; SGD, momentum 0.9)")
    p.add_argument("--curve-samples", type=int, default=None,
                   help="with --curve bezier: train the bend on this many class-balanced training images "
                        "(default: the whole split)")
    p.add_argument("--curve-seed", type=int, default=default_of(ConnectConfig, "curve_seed"),
                   help="with --curve bezier: seed of the batches, augmentation and t draws")
    p.add_argument("--batch-size", type=int, default=default_of(ConnectConfig, "batch_size"),
                   help="images per evaluation batch")
    p.add_argument("--out-dir", default=default_of(ConnectConfig, "out_dir"), help="folder for the path files")
    p.add_argument("--force", action="store_true", help="replace path files made with other settings")
    add_table_flags(p)


def run_connect_command(args: argparse.Namespace) -> None:
    from landscape.storage.tables import markdown_table, write_rows
    from landscape.training.curve import run_connect

    weights, model = model_of(args, args.checkpoints)
    require_safe_outputs({"--json": args.json, "--csv": args.csv}, weights)
    require_output_folder(args.out_dir, "--out-dir")
    config = ConnectConfig(checkpoints=tuple(weights), out_dir=args.out_dir, data=args.data, model=model,
                           dataset=dataset_of(args), points=args.points, curve=args.curve, bn=args.bn,
                           bn_samples=args.bn_samples, bn_augment=not args.bn_clean, splits=tuple(args.split),
                           samples=args.samples,
                           data_seed=args.data_seed, curve_epochs=args.curve_epochs, curve_lr=args.curve_lr,
                           curve_samples=args.curve_samples, curve_seed=args.curve_seed, batch_size=args.batch_size,
                           device=args.device, force=args.force, quiet=args.quiet)
    rows = run_connect(config)
    write_rows(rows, args.json, args.csv)
    show(markdown_table([{k: r[k] for k in ("a", "b", "curve", "bn", "barrier", "barrier_t", "barrier_above_chord",
                                            "loss_a", "loss_b")}
                         for r in rows]))
