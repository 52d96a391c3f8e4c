"""Command line: parses flags, builds option dataclasses, calls the library. Nothing else.

One module per command group. Errors the user can fix (LandscapeError) print as one line
and exit 2; --debug shows the traceback instead.
"""
from __future__ import annotations

import _thread
import argparse
import contextlib
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator

from landscape.cli.adaptive_sharpness import add_adaptive_sharpness_parser
from landscape.cli.common import show
from landscape.cli.connect import add_connect_parser
from landscape.cli.curvature import add_hessian_map_parser
from landscape.cli.figures import add_curves_parser, add_plot_parser, add_report_parser
from landscape.cli.metrics import add_metrics_parser
from landscape.cli.output_landscape import add_output_landscape_parser
from landscape.cli.sharpness import add_sharpness_parser
from landscape.cli.spectrum import add_spectrum_parser
from landscape.cli.study import add_study_parser
from landscape.cli.surface import add_surface_parser
from landscape.cli.train import add_info_parser, add_train_parser
from landscape.errors import LandscapeError, LandscapeWarning, silence_library_chatter
from landscape.version import __version__

PARSERS = (add_train_parser, add_surface_parser, add_plot_parser, add_curves_parser, add_info_parser,
           add_report_parser, add_metrics_parser, add_sharpness_parser, add_spectrum_parser, add_hessian_map_parser,
           add_connect_parser, add_adaptive_sharpness_parser,
           add_output_landscape_parser, add_study_parser)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (the usage itself is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class StopOnSignals:
    """SIGTERM (a scheduler's pre-emption) and Ctrl-C stop a command alike: KeyboardInterrupt, so
    every stage flushes what it finished, then exits 128 + the signal's number.

    Python drops an exception raised while it runs a weakref callback or a __del__ ("Exception
    ignored in ..."), so a signal landing there would be lost and the run would go on. Until the
    stop is caught, the signal is delivered again every REDELIVER_SECONDS; a redelivery that lands
    while an exception is being handled (a stage's final flush on the way out) waits for the next
    one, so it never cuts that flush short. `signum` is the first stop signal received, if any.
    """

    REDELIVER_SECONDS = 0.2

    def __init__(self):
        self.signum: int | None = None
        self.handled = threading.Event()
        self.previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignals:
        self.previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self.stop)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # an ignored SIGINT stays ignored
            self.previous[signal.SIGINT] = signal.signal(signal.SIGINT, self.stop)
        return self

    def caught(self) -> int:
        """The command has stopped: no more redeliveries. Its exit status, 128 + the signal."""
        self.handled.set()
        return 128 + (self.signum or signal.SIGINT)

    def __exit__(self, *_exc) -> None:
        self.handled.set()
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def stop(self, signum: int, _frame) -> None:
        if self.signum is not None:
            if self.handled.is_set() or sys.exc_info()[1] is not None:
                return  # the stop is caught, or an except/finally block runs: let it finish
        else:
            self.signum = signum
            threading.Thread(target=self.redeliver, args=(signum,), daemon=True).start()
        raise KeyboardInterrupt

    def redeliver(self, signum: int) -> None:
        while not self.handled.wait(self.REDELIVER_SECONDS):
            _thread.interrupt_main(signum)


@contextlib.contextmanager
def one_line_warnings(command: str, debug: bool) -> Iterator[None]:
    """Our warnings (LandscapeWarning: something true about a result the user should know) print as
    one line each; other libraries' warnings, which the user cannot act on, only with --debug."""
    def show_warning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LandscapeWarning):
            show(f"landscape {command}: warning: {message}", file=sys.stderr)
        elif debug:
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
    with warnings.catch_warnings():
        warnings.simplefilter("always", LandscapeWarning)
        warnings.showwarning = show_warning
        yield


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="landscape", description="Measure and draw the loss landscapes of "
                                     "neural networks (Li et al. 2018), starting from a checkpoint.")
    parser.add_argument("--version", action="version", version=f"landscape {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in PARSERS:
        add(sub)
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
    try:
        args = build_parser().parse_args(attach_grid_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # --help, --version (0) or a usage error (2)
        return e.code
    if not args.debug:
        silence_library_chatter()
    with StopOnSignals() as signals, one_line_warnings(args.command, args.debug):
        try:
            args.run(args)
        except LandscapeError as e:
            if args.debug:
                traceback.print_exc()
            show(f"landscape {args.command}: error: {e}", file=sys.stderr)
            return 2
        except OSError as e:  # the machine failed a read or write (disk full, file vanished): not a bug of ours
            if args.debug:
                traceback.print_exc()
            show(f"landscape {args.command}: error: {e}; finished work up to the last flush is saved, fix this "
                 f"and rerun the same command to resume", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            status = signals.caught()
            show(f"landscape {args.command}: interrupted; finished work is saved, rerun the same command to "
                 f"resume", file=sys.stderr)
            return status
    return 0
