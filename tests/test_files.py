import hashlib

import pytest

from landscape.files import atomic_write, file_sha256


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    with atomic_write(path) as tmp:
        assert tmp.parent == path.parent and tmp != path
        tmp.write_text("first")
    assert path.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_write(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert path.read_text() == "first" and [p.name for p in path.parent.iterdir()] == ["out.txt"]


def test_writers_of_one_file_at_the_same_time_do_not_collide(tmp_path):
    """Two workers filling the same cache at once each write their own temporary file; both renames
    succeed and the file ends complete (the side-by-side training workers once failed here)."""
    path = tmp_path / "cache.pt"
    with atomic_write(path) as first, atomic_write(path) as second:
        assert first != second
        first.write_text("from the first writer")
        second.write_text("from the second writer")
    assert path.read_text() == "from the first writer"  # the outer writer renamed last
    assert [p.name for p in tmp_path.iterdir()] == ["cache.pt"]


def test_file_sha256(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3_000_000)  # more than one read chunk
    assert file_sha256(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def lock_from_another_process(path):
    import subprocess
    import sys

    code = (f"from landscape.files import exclusive_writer\nwith exclusive_writer({str(path)!r}):\n    print('got it')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_one_writer_at_a_time_and_stale_locks_are_taken_over(tmp_path):
    import os

    from landscape import LandscapeError
    from landscape.files import exclusive_writer

    path = tmp_path / "s.h5"
    with exclusive_writer(path):
        other = lock_from_another_process(path)
        assert other.returncode == 1 and f"being written by another process (pid {os.getpid()}" in other.stderr
        with pytest.raises(LandscapeError, match="another process"):  # not re-entrant either
            with exclusive_writer(path):
                pass
    assert not (tmp_path / "s.h5.lock").exists()
    (tmp_path / "s.h5.lock").write_text("pid 999999 on a machine that crashed")  # left by a killed process
    assert lock_from_another_process(path).stdout == "got it\n"
