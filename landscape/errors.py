"""The one exception type for mistakes a user can make (bad paths, flags, files).

The CLI prints its message on one line and exits 2; everything else is a bug and keeps
its traceback.
"""


class LandscapeError(Exception):
    """An input problem the user can fix; the message names the input and the fix."""


def require_choice(what: str, value: object, choices) -> None:
    """Raise LandscapeError naming `value` and the valid `choices` unless value is one of them."""
    if value not in choices:
        raise LandscapeError(f"unknown {what} {value!r}; expected one of {', '.join(map(str, choices))}")
