"""Progress of long loops: a tqdm bar on a terminal, and a plain line every few percent when the
output goes to a log file (where a bar would be unreadable or hidden)."""
from __future__ import annotations

import sys
import time

from tqdm import tqdm

MAX_WIDTH = 120  # a log line never wider: the stage name is shortened first


class LogLines:
    """tqdm's `update`/`close`/`set_postfix` interface, printing `desc: n/total unit (p %), rate, ETA`
    to stderr each time another `step` percent is done."""

    def __init__(self, total: int, desc: str, unit: str, step: float = 5.0):
        self.total, self.desc, self.unit, self.step = max(int(total), 1), desc, unit, step
        self.n, self.next_percent, self.started = 0, step, time.monotonic()

    def update(self, count: int = 1) -> None:
        self.n += count
        percent = 100 * self.n / self.total
        if percent + 1e-9 >= self.next_percent:
            elapsed = time.monotonic() - self.started
            rate = self.n / elapsed if elapsed > 0 else float("inf")
            eta = (self.total - self.n) / rate if rate > 0 else float("nan")
            tail = (f": {self.n}/{self.total} {self.unit} ({percent:.0f} %), {rate:.3g} {self.unit}/s, "
                    f"{eta / 60:.1f} min left")
            print(self.desc[:MAX_WIDTH - len(tail)] + tail, file=sys.stderr, flush=True)
            while self.next_percent <= percent + 1e-9:
                self.next_percent += self.step

    def set_postfix(self, **_) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, unit: str, quiet: bool = False, leave: bool = True):
    """A progress reporter for `total` steps: nothing when quiet, a bar on a terminal, lines in a log."""
    if quiet:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, leave=leave)
    return LogLines(total, desc, unit)
