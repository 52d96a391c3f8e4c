"""`landscape train` and `landscape info`: make a checkpoint, and read its headline numbers."""
from __future__ import annotations

import argparse
import sys

from landscape.cli.common import DATASET_DATA_HELP, default_of, show, subcommand
from landscape.errors import LandscapeError
from landscape.files import HDF5_KIND, protected_kind, require_writable_folder
from landscape.precision import PRECISIONS
from landscape.sources.specs import (
    ACTIVATIONS,
    ARCHITECTURES,
    IMPLEMENTATIONS,
    NAMED,
    activation_defaults,
    display_name,
)
from landscape.storage.tables import markdown_table
from landscape.training.config import OPTIMIZERS, SCHEDULES, TrainConfig


def add_train_parser(sub) -> None:
    p = subcommand(sub, "train", "train a CIFAR ResNet or an MLP and write a checkpoint",
                   "Train a CIFAR ResNet or a fully connected network on CIFAR-10 (or --dataset). Resumable: "
                   "rerunning the same command after an interruption continues from the last finished epoch.",
                   run_train)

    def default(name):
        return default_of(TrainConfig, name)
    p.add_argument("--data", default=None, help=DATASET_DATA_HELP)
    p.add_argument("--dataset", default=default("dataset"),
                   help=f"the training and test images: {', '.join(NAMED)} (torchvision; downloaded into the cache "
                        f"folder unless --data holds them) or imagefolder:PATH (PATH/{{train,test}}/<class>/); the "
                        f"network is sized for its images and classes (ResNets need 3 channels), and its "
                        f"published statistics standardise it")
    p.add_argument("--no-augment", action="store_true",
                   help="train on the images as they are (default: random crop after 4-pixel padding and "
                        "horizontal flip, which suits CIFAR but not digits)")
    p.add_argument("--out", default=default("out"), help="checkpoint path; the log (.log.jsonl), resume state "
                   "(.state.pt) and snapshots (.snapshots/) go beside it")
    p.add_argument("--architecture", choices=ARCHITECTURES, default=default("architecture"),
                   help="cifar_resnet (He et al.'s CIFAR ResNet) or mlp (flattened input, hidden layers of --width "
                        "units, each Linear → BatchNorm → activation → dropout, then a linear head)")
    p.add_argument("--depth", type=int, default=default("depth"),
                   help="ResNet: layers, 6n+2 (20, 32, 44, 56, 110); MLP: hidden layers")
    p.add_argument("--width", type=int, default=default("width"), help="MLP hidden width")
    p.add_argument("--dropout", type=float, default=default("dropout"), help="MLP dropout after each activation")
    p.add_argument("--activation", default=default("activation"), choices=ACTIVATIONS,
                   help="activation at every site")
    p.add_argument("--negative-slope", type=float, default=None,
                   help="leaky_relu negative slope (the Mish paper's ResNet-20 used 0.3; PyTorch default 0.01)")
    p.add_argument("--beta", type=float, default=None, help="swish β in x·σ(βx), or softplus β (default 1)")
    p.add_argument("--impl", choices=IMPLEMENTATIONS, default=None,
                   help="swish/mish kernel: native (PyTorch's, default), compiled (one fused torch.compile "
                        "kernel each way; 2.5-3.5x faster on CPU, needs a C++ compiler or Triton), or autograd "
                        "(mish only: our MishFunction, the paper's derivative); same function, same weights up "
                        "to float rounding")
    p.add_argument("--epochs", type=int, default=default("epochs"), help="training epochs")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=default("optimizer"), help="optimiser")
    p.add_argument("--lr", type=float, default=default("lr"), help="peak learning rate")
    p.add_argument("--momentum", type=float, default=default("momentum"), help="momentum (sgd, rmsprop)")
    p.add_argument("--weight-decay", type=float, default=default("weight_decay"), help="L2 weight decay")
    p.add_argument("--schedule", choices=SCHEDULES, default=default("schedule"),
                   help="learning-rate schedule, per step")
    p.add_argument("--batch-size", type=int, default=default("batch_size"), help="training batch size")
    p.add_argument("--seed", type=int, default=default("seed"),
                   help="seed for initial weights, shuffling and augmentation")
    p.add_argument("--precision", choices=PRECISIONS, default=default("precision"),
                   help="fp32 (on a GPU without TF32), bf16 autocast (faster on recent CPUs and GPUs), or tf32 "
                        "(GPU matmuls and convolutions in TF32; on a CPU the same as fp32)")
    p.add_argument("--train-samples", type=int, default=default("train_samples"),
                   help="train on a fixed class-balanced subset of N images (quick runs)")
    p.add_argument("--save-every", type=int, default=default("save_every"),
                   help="save a weight snapshot every K epochs (0: off), for trajectory plots")


def activation_flags(args: argparse.Namespace) -> dict:
    """The activation parameters given on the command line; each must be one the activation takes."""
    given = {"negative_slope": args.negative_slope, "beta": args.beta, "impl": args.impl}
    takes = activation_defaults(args.activation)
    for key, value in given.items():
        if value is not None and key not in takes:
            raise LandscapeError(f"--{key.replace('_', '-')} does not apply to activation {args.activation!r}")
    return {k: v for k, v in given.items() if v is not None}


def run_train(args: argparse.Namespace) -> None:
    from landscape.sources.checkpoint import checkpoint_summary
    from landscape.training.loop import train

    config = TrainConfig(out=args.out, data=args.data, architecture=args.architecture, depth=args.depth,
                         width=args.width, dropout=args.dropout, activation=args.activation,
                         activation_params=activation_flags(args), dataset=args.dataset, augment=not args.no_augment,
                         epochs=args.epochs, optimizer=args.optimizer,
                         lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
                         batch_size=args.batch_size, seed=args.seed, precision=args.precision,
                         train_samples=args.train_samples, save_every=args.save_every, device=args.device,
                         quiet=args.quiet)
    require_writable_folder(args.out, "--out")
    if protected_kind(args.out) == HDF5_KIND:  # a checkpoint there is this command's own: it resumes or is done
        raise LandscapeError(f"--out {args.out} already exists and is {HDF5_KIND}; refusing to write over it")
    path = train(config)
    summary = checkpoint_summary(path)
    show(path)
    show(f"{display_name(config.activation, config.activation_params)}, {summary['epochs']} epochs at "
         f"{summary['s/epoch']} s/epoch on {summary['device']}: test accuracy {summary['test acc %']} %, "
         f"test loss {summary['test loss']}, train loss {summary['train loss']}", file=sys.stderr)


def add_info_parser(sub) -> None:
    subcommand(sub, "info", "print the recipe results of checkpoints as a Markdown table",
               "Activation, epochs, final train loss and accuracy (clean, eval mode), test loss and "
               "accuracy, seconds per epoch and device, read from each checkpoint's metadata.",
               run_info).add_argument("checkpoints", nargs="+", help="checkpoints written by `landscape train`")


def run_info(args: argparse.Namespace) -> None:
    from landscape.sources.checkpoint import checkpoint_summary, model_from, read_checkpoint

    for path in args.checkpoints:
        model_from(read_checkpoint(path))  # a one-line error for a checkpoint no model can be built from
    show(markdown_table([checkpoint_summary(path) for path in args.checkpoints], digits=None))  # pre-rounded
