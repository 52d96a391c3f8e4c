"""What every subcommand shares: the parser factory, flags used by several commands, and the
rule that the CLI shows the library's defaults, never its own."""
from __future__ import annotations

import argparse
import dataclasses

from ..engine import EvalOptions
from ..errors import LandscapeError
from ..runtime import PRECISIONS
from ..surface_metrics import DEFAULT_THRESHOLDS

DATA_HELP = ("CIFAR-10 folder (train/<class>/, test/<class>/) or a folder holding cifar-10-batches-py; "
             "default $LANDSCAPE_DATA, else download via torchvision")


def default_of(options: type, name: str):
    """The default of dataclass field `name` of `options`."""
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


def add_figure_flags(p: argparse.ArgumentParser, width: float, dpi: int) -> None:
    p.add_argument("--format", default="png", help="comma-separated formats: png, pdf, svg")
    p.add_argument("--dpi", type=int, default=dpi, help="resolution of raster formats")
    p.add_argument("--width", type=float, default=width, help="figure width in inches (single column 3.3, double 6.9)")


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split(",") if item)


def add_thresholds_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--thresholds", default=",".join(f"{t:g}" for t in DEFAULT_THRESHOLDS),
                   help="Δ above the minimum at which basin widths are measured, comma-separated")


def thresholds_of(args: argparse.Namespace) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in args.thresholds.split(","))
    except ValueError:
        raise LandscapeError(f"--thresholds must be comma-separated numbers; got {args.thresholds!r}") from None


def add_table_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    p.add_argument("--csv", default=None, help="write the rows as CSV here")


def add_eval_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=default_of(EvalOptions, "batch_size"),
                   help="evaluation batch size (64 is fastest on this 2-core CPU: benchmarks/bench_surface.py)")
    p.add_argument("--precision", choices=PRECISIONS, default=default_of(EvalOptions, "precision"),
                   help="fp32, or bf16 autocast")


def eval_options_of(args: argparse.Namespace) -> EvalOptions:
    return EvalOptions(args.batch_size, args.precision)
