"""Writing files so that a crash never leaves a half-written one, and naming files by content.

Every output of the tool (checkpoints, surfaces, figures, reports, logs, caches) is written
to a temporary name beside its destination and renamed over it only once complete. Files that
are updated over a long run (surfaces, training state) have one writer at a time.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from landscape.errors import LandscapeError


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on a clean exit rename it over `path`, on an error
    delete it. The folder is created if needed. Each writer gets its own temporary name, so
    processes writing the same file at once (workers filling one cache) never collide: the last
    rename wins, and every rename installs a complete file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (identifies the exact input a result came from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def exclusive_writer(path: str | Path) -> Iterator[None]:
    """Hold `PATH.lock` while writing `path`: a second process is refused at once with a message that
    names the holder. The lock is an flock, so the kernel drops it when its holder dies: a lock
    file left by a killed process is stale and simply taken over."""
    path = Path(path)
    lock = path.with_name(f"{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LandscapeError(f"{path} is being written by another process ({holder}); wait for it to finish "
                                 f"or stop it, then rerun") from None
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:  # not unlinked by a holder that just finished
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def nearest_existing(folder: Path) -> Path:
    """`folder`, or its closest ancestor that exists (where it would be created)."""
    return next(p for p in (folder, *folder.parents) if p.exists())


def require_writable_folder(path: str | Path, flag: str) -> None:
    """Refuse, before any work, an output whose folder could not be created or written. Nothing is
    created here: the nearest folder that exists must be a writable folder."""
    folder = Path(path).absolute().parent
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise LandscapeError(f"{flag} {path}: cannot create the folder {folder} ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LandscapeError(f"{flag} {path}: the folder {existing} is not writable")


def require_output_folder(folder: str | Path, flag: str) -> None:
    """Refuse, before any work, an output folder that is a file or could not be created or written."""
    if Path(folder).exists() and not Path(folder).is_dir():
        raise LandscapeError(f"{flag} {folder} is a file, not a folder")
    require_writable_folder(Path(folder) / "x", flag)


def require_free_space(path: str | Path, needed: int, flag: str) -> None:
    """Refuse, before any work, an output whose disk has less than `needed` bytes free."""
    free = shutil.disk_usage(nearest_existing(Path(path).absolute().parent)).free
    if free < needed:
        raise LandscapeError(f"{flag} {path}: {needed / 1e6:,.1f} MB needed, only {free / 1e6:,.1f} MB free on "
                             f"that disk")


# The first bytes of the files no command may write over unless it is that command's own output.
HDF5_KIND = "an HDF5 file (a surface?)"
PROTECTED_SIGNATURES = ((b"\x89HDF\r\n\x1a\n", HDF5_KIND),
                        (b"PK\x03\x04", "a zip archive (a torch checkpoint?)"),
                        (b"\x80", "a pickle (a torch checkpoint?)"))


def protected_kind(path: str | Path) -> str | None:
    """What an existing file is, if it is data that an output must never replace (a surface or a
    checkpoint, by its first bytes); None for anything else or no file."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return next((kind for signature, kind in PROTECTED_SIGNATURES if head.startswith(signature)), None)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (through links and relative paths; a missing one by its
    absolute path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).absolute().resolve() == Path(b).absolute().resolve()


def require_safe_outputs(outputs: dict[str, str | Path | None], inputs: list[str | Path]) -> None:
    """Refuse, before any work, an output that is one of the command's inputs, a folder, or an existing
    surface or checkpoint: a command writes over nothing but its own kind of output. `outputs`: flag →
    path (None: not given)."""
    for flag, out in outputs.items():
        if out is None:
            continue
        require_writable_folder(out, flag)
        if any(same_file(out, source) for source in inputs):
            raise LandscapeError(f"{flag} {out} is also an input of this command; refusing to write over it "
                                 f"(choose another output file)")
        if Path(out).is_dir():
            raise LandscapeError(f"{flag} {out} is a folder; give a file name")
        kind = protected_kind(out)
        if kind:
            raise LandscapeError(f"{flag} {out} already exists and is {kind}; refusing to write over it "
                                 f"(choose another output file)")
