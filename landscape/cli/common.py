"""What every subcommand shares: the parser factory, flags used by several commands, and the
rule that the CLI shows the library's defaults, never its own."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from landscape.errors import LandscapeError, require_number
from landscape.evaluation.options import LOSSES, EvalOptions
from landscape.metrics.options import DEFAULT_THRESHOLDS
from landscape.precision import PRECISIONS
from landscape.sources.specs import NAMED, SPLITS, DatasetSpec, ModelSpec

DATA_HELP = ("CIFAR-10 folder (train/<class>/, test/<class>/) or a folder holding cifar-10-batches-py; "
             "default $LANDSCAPE_DATA, else download via torchvision")
DATASET_DATA_HELP = DATA_HELP + "; with --dataset NAME: the folder holding torchvision's copy of that set"


def terminal_safe(text: object) -> str:
    """`text` with control characters (an escape sequence in a file name, say) written as \\xNN, so
    that nothing read from a path or a file can drive the terminal."""
    return "".join(c if c in "\n\t" or c.isprintable() else repr(c)[1:-1] for c in str(text))


def show(*lines: object, file=None) -> None:
    """Print each of `lines` on its own line, terminal-safe."""
    print("\n".join(terminal_safe(line) for line in lines), file=file or sys.stdout)


class DefaultsOnceFormatter(argparse.HelpFormatter):
    """Each flag's default shown once: added where the help does not already say it, and never for
    switches or flags without one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default in (None, False, argparse.SUPPRESS) or "default" in text
                or isinstance(action, argparse._HelpAction) or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


def default_of(options: type, name: str):
    """The default of dataclass field `name` of `options`."""
    field = next(f for f in dataclasses.fields(options) if f.name == name)
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def subcommand(sub, name: str, summary: str, description: str, run) -> argparse.ArgumentParser:
    """A subcommand parser with the flags every subcommand shares; `run(args)` does the work. Texts
    are plain: a '%' needs no escaping (argparse formats `help`, not `description`)."""
    p = sub.add_parser(name, help=summary.replace("%", "%%"), description=description,
                       formatter_class=DefaultsOnceFormatter)
    p.add_argument("--device", default="auto",
                   help="where to compute: auto (a CUDA GPU if present, else CPU), cpu, cuda, cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    p.set_defaults(run=run)
    return p


def add_figure_flags(p: argparse.ArgumentParser, width: float, dpi: int) -> None:
    p.add_argument("--format", default="png", help="comma-separated formats: png, pdf, svg")
    p.add_argument("--dpi", type=int, default=dpi, help="resolution of raster formats")
    p.add_argument("--width", type=float, default=width, help="figure width in inches (single column 3.3, double 6.9)")


def sample_count(text: str) -> int | None:
    """--samples: a number of images, or 'all' (None: the whole split)."""
    if text == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or all; got {text!r}") from None


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split(",") if item)


def add_thresholds_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--thresholds", default=",".join(f"{t:g}" for t in DEFAULT_THRESHOLDS),
                   help="Δ above the minimum at which basin widths are measured, comma-separated")


def thresholds_of(args: argparse.Namespace) -> tuple[float, ...]:
    try:
        thresholds = tuple(float(t) for t in args.thresholds.split(","))
    except ValueError:
        raise LandscapeError(f"--thresholds must be comma-separated numbers; got {args.thresholds!r}") from None
    for t in thresholds:
        require_number("--thresholds", t, 0, low_open=True)
    return thresholds


def add_table_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    p.add_argument("--csv", default=None, help="write the rows as CSV here")


def add_eval_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", default="auto", metavar="N",
                   help="images per forward pass, or auto: 64 on a CPU, on a GPU the fastest of 64 … 4096 as "
                        "timed at start; a resumed file keeps its own (part of the file's settings)")
    p.add_argument("--precision", choices=PRECISIONS, default=default_of(EvalOptions, "precision"),
                   help="fp32 (on a GPU without TF32), bf16 autocast, or tf32 (GPU only; fp32 on a CPU); below "
                        "fp32 the file records the loss error against fp32 at 3 points")
    p.add_argument("--points-per-batch", default="auto", metavar="K",
                   help="grid points scored in one pass (stacked through torch.func.vmap; fills a GPU), or auto: "
                        "1 unless more are ≥ 15 %% faster in three timed rounds; the numbers do not depend on it")
    p.add_argument("--workers", default="auto", metavar="N",
                   help="on a CPU: image batches scored at once, each in a thread with its share of the cores; "
                        "auto: one per thread; the numbers do not depend on it")
    p.add_argument("--compile", action="store_true",
                   help="run the model through torch.compile (CUDA graphs on a GPU) when scoring one point per "
                        "pass; compiling takes 10-60 s (see docs/benchmarks.md for when it pays)")
    p.add_argument("--loss", default=default_of(EvalOptions, "loss"),
                   help=f"loss at every point: {', '.join(LOSSES)} (squared error to one-hot labels), or "
                        f"MODULE:CALLABLE taking (outputs, labels) and returning the batch mean")


def count_or_auto(value: str, flag: str) -> int | None:
    """A whole number, or None for 'auto'."""
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise LandscapeError(f"{flag} must be a whole number or auto; got {value!r}") from None


def eval_options_of(args: argparse.Namespace) -> EvalOptions:
    return EvalOptions(count_or_auto(args.batch_size, "--batch-size"), args.precision, args.loss,
                       count_or_auto(args.points_per_batch, "--points-per-batch"),
                       workers=count_or_auto(args.workers, "--workers"), compile=args.compile)


def add_model_flags(p: argparse.ArgumentParser, many: bool) -> None:
    """Your own model: a factory, its keyword arguments and the weights file(s) it is filled from."""
    p.add_argument("--model", default=None, metavar="MODULE:CALLABLE",
                   help="your own model instead of a landscape checkpoint: an importable factory "
                        "(e.g. torchvision.models:resnet18) or path/to/file.py:callable returning an nn.Module")
    p.add_argument("--model-args", default="{}", metavar="JSON",
                   help="keyword arguments of --model as a JSON object, e.g. '{\"num_classes\": 10}'")
    p.add_argument("--weights", nargs="+" if many else None, default=None, metavar="FILE",
                   help="with --model: state_dict file(s) (torch.save of model.state_dict(), or a dict holding it "
                        "under 'state_dict' or 'model'; a DataParallel 'module.' prefix is removed), read with "
                        "weights_only=True")
    p.add_argument("--output-key", default=None, metavar="NAME",
                   help="with --model: the entry of a dict output (or index of a tuple) that holds the logits; "
                        "tuples use their first element and outputs with .logits those without it")


def model_of(args: argparse.Namespace, positional: list[str]) -> tuple[list[str], ModelSpec]:
    """The weights files and how to build their model, from either the positional checkpoint(s) or
    --model/--weights."""
    weights = args.weights if isinstance(args.weights, list) or args.weights is None else [args.weights]
    if args.model is None:
        if weights or args.output_key:
            raise LandscapeError("--weights and --output-key belong to --model MODULE:CALLABLE; a landscape "
                                 "checkpoint is given without a flag")
        if not positional:
            raise LandscapeError("give a checkpoint, or your own model with --model MODULE:CALLABLE --weights FILE")
        return positional, ModelSpec()
    if positional or not weights:
        raise LandscapeError("with --model give the weights with --weights FILE (and no checkpoint)")
    try:
        model_args = json.loads(args.model_args)
    except json.JSONDecodeError as e:
        raise LandscapeError(f"--model-args must be a JSON object; {e}") from None
    if not isinstance(model_args, dict):
        raise LandscapeError(f"--model-args must be a JSON object like '{{\"num_classes\": 10}}'; "
                             f"got {args.model_args}")
    return weights, ModelSpec(args.model, model_args, args.output_key)


def channel_values(text: str | None, flag: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise LandscapeError(f"{flag} must be comma-separated numbers, one per channel; got {text!r}") from None


def add_dataset_flags(p: argparse.ArgumentParser, data_use: str = "") -> None:
    """--data and the flags that say what it holds; `data_use` tells what the data is for, where
    only some of the command's work reads it."""
    p.add_argument("--data", default=None, help=DATASET_DATA_HELP + (f" ({data_use})" if data_use else ""))
    p.add_argument("--dataset", default=default_of(DatasetSpec, "name"),
                   help=f"the data: {', '.join(NAMED)} (torchvision; downloaded into the cache folder unless "
                        f"--data holds them), imagefolder:PATH (PATH/{{train,test}}/<class>/ or PATH/<class>/), "
                        f"or MODULE:CALLABLE called with the split name, returning (inputs, labels) tensors")
    p.add_argument("--image-size", type=int, default=None, help="resize images to N×N pixels")
    p.add_argument("--mean", default=None,
                   help="per-channel mean for standardising, comma-separated in [0, 1] pixel units (default: "
                        "the named set's published statistics, or computed from an image folder's images)")
    p.add_argument("--std", default=None, help="per-channel standard deviation, as --mean")


def add_image_flags(p: argparse.ArgumentParser, options: type, split_help: str, samples_help: str) -> None:
    """--split, --samples and --data-seed with `options`' defaults: several splits (and --samples
    all) where `options` has a field `splits`, one split where it has `split`."""
    if any(f.name == "splits" for f in dataclasses.fields(options)):
        p.add_argument("--split", nargs="+", choices=SPLITS, default=list(default_of(options, "splits")),
                       help=split_help)
        p.add_argument("--samples", type=sample_count, default=default_of(options, "samples"), help=samples_help)
    else:
        p.add_argument("--split", choices=SPLITS, default=default_of(options, "split"), help=split_help)
        p.add_argument("--samples", type=int, default=default_of(options, "samples"), help=samples_help)
    p.add_argument("--data-seed", type=int, default=default_of(options, "data_seed"), help="seed choosing the images")


def dataset_of(args: argparse.Namespace) -> DatasetSpec:
    return DatasetSpec(args.dataset, args.image_size, channel_values(args.mean, "--mean"),
                       channel_values(args.std, "--std"))
