"""`landscape study`: the Mish study end to end."""
from __future__ import annotations

import argparse
from dataclasses import replace

from landscape.cli.common import DATASET_DATA_HELP, show, subcommand
from landscape.errors import LandscapeError
from landscape.studies.depth.plan import DEPTH_PROFILES, TEN_CLASS_SETS, notebook_recipe, on_dataset
from landscape.studies.mish_plan import PROFILES, STUDY_ACTIVATIONS


def add_study_parser(sub) -> None:
    p = subcommand(sub, "study", "the Mish study end to end: train four ResNet-20s, surfaces, metrics, figures",
                   "ResNet-20 with relu, leaky_relu (0.3), swish and mish on one recipe (trained, resumed or "
                   "skipped), a 2-D train/test surface and a training-path surface for each, many random "
                   "slices per checkpoint, the output landscapes of random networks, the findings with their "
                   "95 % intervals, figures and two HTML reports; ends with a short summary.",
                   run_study_command)
    p.add_argument("--profile", choices=tuple(PROFILES), default="quick",
                   help="quick: the shipped seed-0 checkpoints, 11×11 grids and 4 slices on 200 images, into "
                        "runs/quick (minutes); paper: trains what is missing of "
                        f"{len(PROFILES['paper'].seeds)} seeds × {len(STUDY_ACTIVATIONS)} activations "
                        f"({PROFILES['paper'].epochs} epochs), "
                        "51×51 grids, 40 slices per checkpoint on 1,000 images, into checkpoints/ and figures/ "
                        "(many CPU hours; finished work is skipped)")
    p.add_argument("--study", choices=("activation", "depth"), default="activation",
                   help="activation: the ResNet-20 comparison above; depth: fully connected networks of 15–25 "
                        "hidden layers per activation (RMSProp, 50 epochs), accuracy, divergence and gradients "
                        "against depth, landscapes of the shallowest and deepest (quick: 2 and 6 layers, 2 epochs "
                        "on 2,000 images, into runs/quick_depth)")
    p.add_argument("--seeds", default=None,
                   help="comma-separated training seeds to include instead of the profile's (e.g. 0: the "
                        "findings from the shipped checkpoints alone, intervals over directions only)")
    p.add_argument("--repeat-depths", default=None, metavar="L,L,...",
                   help="depth study: depths at which to train seeds 1 and 2 as well (where the activations "
                        "separate), for intervals over seeds there")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="train N runs side by side, each on its share of the CPU threads (or N at once on one "
                        "GPU); small networks use many threads poorly, so 2 pays on few cores")
    p.add_argument("--data", default=None, help=DATASET_DATA_HELP)
    p.add_argument("--dataset", choices=TEN_CLASS_SETS, default=None,
                   help="depth study: train and measure on this set instead of CIFAR-10 (the paper used MNIST; "
                        "torchvision's copy under --data, or downloaded), into checkpoints/depth_NAME and "
                        "figures/depth_NAME (or the quick profile's folders with _NAME)")
    p.add_argument("--no-train", action="store_true",
                   help="depth study: tables and figures from the runs recorded so far, training nothing (results "
                        "while a sweep of many sessions is under way; the landscapes once every end is recorded)")
    p.add_argument("--no-augment", action="store_true",
                   help="depth study: no random crop and flip of the training images (for digits)")
    p.add_argument("--notebook-recipe", action="store_true",
                   help="depth study: the Mish paper's own recipe (convolutional front, plain SGD 0.01, 10 epochs, "
                        "no augmentation) at 12, 15, 17 and 22 dense layers (the notebook's 15, 18, 20 and 25 "
                        "layers: it counts its two convolutions and the output), one seed, into "
                        "checkpoints/depth_notebook and figures/depth_notebook")
    p.add_argument("--train-only", action="store_true",
                   help="activation study, paper profile: train (or resume) the checkpoints of --seeds and "
                        "stop, measuring nothing (training spread over sessions: stopped, a run resumes from its "
                        "last finished epoch)")


def integers(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise LandscapeError(f"{flag} must be comma-separated integers; got {text!r}") from None


def run_study_command(args: argparse.Namespace) -> None:
    from landscape.studies.depth.run import run_depth_study
    from landscape.studies.mish import run_study, train_all

    if args.jobs < 1:
        raise LandscapeError(f"--jobs must be at least 1; got {args.jobs}")
    profile = (DEPTH_PROFILES if args.study == "depth" else PROFILES)[args.profile]
    if args.notebook_recipe:
        if args.study != "depth":
            raise LandscapeError("--notebook-recipe belongs to the depth study: add --study depth")
        profile = notebook_recipe(profile)
    if args.seeds is not None:
        profile = replace(profile, seeds=integers(args.seeds, "--seeds"))
    if args.repeat_depths is not None:
        if args.study != "depth":
            raise LandscapeError("--repeat-depths belongs to the depth study: add --study depth")
        profile = replace(profile, repeat_depths=integers(args.repeat_depths, "--repeat-depths"))
    if args.dataset is not None or args.no_augment:
        if args.study != "depth":
            raise LandscapeError("--dataset and --no-augment belong to the depth study: add --study depth")
        profile = on_dataset(profile, args.dataset or "cifar10", augment=not args.no_augment)
    if args.train_only:
        if args.study == "depth" or not profile.train:
            raise LandscapeError("--train-only trains the activation study's paper profile: use --profile paper "
                                 "without --study depth")
        checkpoints = train_all(profile, args.data, args.device, args.quiet, args.jobs)
        show(*(f"{path} ({'finished' if path.exists() else 'not finished'})"
               for paths in checkpoints.values() for path in paths))
        return
    if args.study == "depth":
        show(*run_depth_study(profile, args.data, args.device, args.quiet, args.jobs, train=not args.no_train))
        return
    if args.no_train:
        raise LandscapeError("--no-train belongs to the depth study: add --study depth")
    show(*run_study(profile, args.data, args.device, args.quiet, args.jobs))
