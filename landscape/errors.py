"""The one exception type for mistakes a user can make (bad paths, flags, files), and what the
user sees of warnings.

The CLI prints its message on one line and exits 2; everything else is a bug and keeps
its traceback.
"""
import logging
import math


class LandscapeError(Exception):
    """An input problem the user can fix; the message names the input and the fix."""


def first_line(error: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type where it has none), cut to `limit` characters."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:limit]


def require_number(flag: str, value: float, low: float | None = None, high: float | None = None,
                   low_open: bool = False) -> None:
    """Raise LandscapeError unless `value` is a finite number in [low, high] (low excluded with `low_open`)."""
    below = low is not None and (value <= low if low_open else value < low)
    if not math.isfinite(value) or below or (high is not None and value > high):
        bounds = (f"{'above' if low_open else 'at least'} {low:g}" if low is not None else "") + (
            f"{' and ' if low is not None else ''}at most {high:g}" if high is not None else "")
        raise LandscapeError(f"{flag} must be a finite number{' ' + bounds if bounds else ''}; got {value}")


def require_at_least(options: object, least: dict[str, int]) -> None:
    """Raise LandscapeError naming the flag (--field-name) of the first field of `options` below the
    least value `least` gives it."""
    for name, low in least.items():
        value = getattr(options, name)
        if value < low:
            raise LandscapeError(f"--{name.replace('_', '-')} must be at least {low}; got {value}")


def require_choice(what: str, value: object, choices) -> None:
    """Raise LandscapeError naming `value` and the valid `choices` unless value is one of them."""
    if value not in choices:
        raise LandscapeError(f"unknown {what} {value!r}; expected one of {', '.join(map(str, choices))}")


class LandscapeWarning(UserWarning):
    """Something the user should know about a result that is still right (a split without one of
    the classes, masked points): the CLI prints it as one line."""


def silence_library_chatter() -> None:
    """torch's log warnings that a user of this tool cannot act on stay out of the output: that a
    CPU-only machine has no CUDA runtime, and torch.compile's recompilation notices (the compiled
    Swish/Mish kernels meet new shapes by design). `--debug` keeps them."""
    for name in ("torch.utils.cpp_extension", "torch._dynamo", "torch._inductor"):
        logging.getLogger(name).setLevel(logging.ERROR)
