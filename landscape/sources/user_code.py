"""Your own code, named on the command line as MODULE:CALLABLE or path/to/file.py:CALLABLE.

Used for model factories (`--model`), datasets (`--dataset`) and losses (`--loss`). This runs
code that the user names explicitly; nothing read from a checkpoint, surface or direction file
is ever imported or executed.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from landscape.errors import LandscapeError


def is_callable_spec(spec: str) -> bool:
    """True for 'MODULE:CALLABLE' or 'file.py:CALLABLE' (a name with a colon that is not a drive letter)."""
    module, sep, name = spec.rpartition(":")
    return bool(sep and module and name and len(module) > 1)


def _module_from_file(path: Path, flag: str):
    if not path.is_file():
        raise LandscapeError(f"{flag}: {path} does not exist")
    name = f"landscape_user_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's file failed to import: say which and why, on one line
        del sys.modules[name]
        raise LandscapeError(f"{flag}: importing {path} failed ({type(e).__name__}: {e})") from None
    return module


def import_callable(spec: str, flag: str) -> Callable:
    """The object `spec` names: 'package.module:name', 'path/to/file.py:name' (dotted attributes allowed)."""
    if not is_callable_spec(spec):
        raise LandscapeError(f"{flag} {spec!r} must be MODULE:CALLABLE or path/to/file.py:CALLABLE")
    module_name, _, attribute = spec.rpartition(":")
    if module_name.endswith(".py"):
        module = _module_from_file(Path(module_name), flag)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise LandscapeError(f"{flag}: cannot import {module_name} ({e})") from None
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise LandscapeError(f"{flag}: {module_name} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise LandscapeError(f"{flag}: {spec} is not callable")
    return target
