"""Faults a long run meets on a shared machine: stops of every kind for training, slices and
torchrun; a full disk; a write that fails; points whose loss is not finite; names that carry
markup or control characters."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import load_checkpoint
from landscape.cli import main
from landscape.storage.schema import SurfaceHeader
from landscape.storage.surface_file import create_surface_file, read_surface, write_points
from tests.helpers import bowl_surface, interruptible


def landscape(*args: str) -> list[str]:
    return [sys.executable, "-m", "landscape", *args]


def wait_until(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("the run finished or stalled before it could be stopped")


def test_training_stopped_by_sigterm_then_sigint_resumes_to_identical_weights(tmp_path, image_folder):
    args = ["train", "--data", str(image_folder), "--depth", "8", "--epochs", "12", "--batch-size", "10", "--quiet"]
    subprocess.run(landscape(*args, "--out", str(tmp_path / "straight.pt")), check=True)
    out = tmp_path / "stopped.pt"
    log = tmp_path / "stopped.log.jsonl"
    for stop, code, epochs in ((signal.SIGTERM, 143, 2), (signal.SIGINT, 130, 6)):
        proc = subprocess.Popen(landscape(*args, "--out", str(out)), stderr=subprocess.PIPE, text=True,
                                preexec_fn=interruptible)
        wait_until(lambda n=epochs: log.exists() and len(log.read_text().splitlines()) >= n, proc)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert "rerun the same command to resume" in err and not out.exists()
    subprocess.run(landscape(*args, "--out", str(out)), check=True)
    a, b = load_checkpoint(tmp_path / "straight.pt")[0].state_dict(), load_checkpoint(out)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r.split(",")[0] for r in log.read_text().splitlines()] == [f'{{"epoch": {e}' for e in range(1, 13)]


def test_slices_stopped_by_sigint_resume_to_the_uninterrupted_arrays(tmp_path, tiny_checkpoint, image_folder):
    args = ["sharpness", str(tiny_checkpoint), "--directions", "6", "--x=-1:1:41", "--samples", "20",
            "--data", str(image_folder), "--quiet", "--points-per-batch", "1"]  # bit-identical: one grouping
    subprocess.run(landscape(*args, "--out-dir", str(tmp_path / "straight")), check=True)
    out = tmp_path / "stopped" / "tiny_slices.h5"
    proc = subprocess.Popen(landscape(*args, "--out-dir", str(tmp_path / "stopped"), "--flush-seconds", "0"),
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    wait_until(lambda: out.exists() and read_surface(out).progress.points_done >= 20, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "rerun the same command to resume" in err
    assert 20 <= read_surface(out).progress.points_done < 246
    subprocess.run(landscape(*args, "--out-dir", str(tmp_path / "stopped")), check=True)
    expected, resumed = read_surface(tmp_path / "straight" / "tiny_slices.h5"), read_surface(out)
    assert resumed.complete
    for name in expected.values:
        np.testing.assert_array_equal(resumed.values[name], expected.values[name])


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc; no extra package)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_torchrun_with_a_rank_killed_is_rerun_to_completion(tmp_path, tiny_checkpoint, image_folder):
    args = ["surface", str(tiny_checkpoint), "--data", str(image_folder), "--samples", "20", "--x=-1:1:15",
            "--y=-1:1:15", "--device", "cpu", "--quiet", "--flush-seconds", "0"]
    assert main([*args, "--out", str(tmp_path / "single.h5")]) == 0
    out = tmp_path / "ranks.h5"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "landscape"]
    proc = subprocess.Popen([*torchrun, *args, "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_until(lambda: out.exists() and read_surface(out).progress.points_done >= 20, proc)
    ranks = children(proc.pid)
    assert len(ranks) == 2
    os.kill(max(ranks), signal.SIGKILL)  # one rank dies; torchrun takes the other down
    proc.wait(timeout=120)
    assert proc.returncode != 0
    partial = read_surface(out)
    assert 20 <= partial.done.sum() < 225 and np.isnan(partial.values["train_loss"][~partial.done]).all()
    rerun = subprocess.run([*torchrun, *args, "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    single, resumed = read_surface(tmp_path / "single.h5"), read_surface(out)
    assert resumed.complete
    np.testing.assert_allclose(resumed.values["train_loss"], single.values["train_loss"], rtol=1e-6)


def test_a_full_disk_is_refused_before_any_work(tmp_path, tiny_checkpoint, image_folder, monkeypatch, capsys):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=100_000))
    out = tmp_path / "s.h5"
    assert main(["surface", str(tiny_checkpoint), "--data", str(image_folder), "--samples", "10", "--x=-1:1:3",
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "MB needed, only 0.1 MB free" in err and err.count("\n") == 1
    assert not out.exists() and not out.with_name("s.h5.lock").exists()


def test_a_write_that_fails_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    from landscape.storage import surface_file

    path = bowl_surface(tmp_path / "s.h5", "relu", 1.0, done_fraction=0.5)
    before = path.read_bytes()

    def disk_fills(source, destination):
        Path(destination).write_bytes(Path(source).read_bytes()[:1000])
        raise OSError(errno.ENOSPC, "No space left on device", str(destination))
    monkeypatch.setattr(surface_file.shutil, "copyfile", disk_fills)
    with pytest.raises(OSError, match="No space left"):
        write_points(path, [40], {"train_loss": [1.0], "train_acc": [0.5]})
    assert path.read_bytes() == before and read_surface(path).done.sum() == 31
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]  # no temporary file left behind


def test_a_failing_disk_mid_run_is_one_line(tmp_path, tiny_checkpoint, image_folder, monkeypatch, capsys):
    from landscape.storage import surface_file

    def disk_fills(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device", str(destination))
    monkeypatch.setattr(surface_file.shutil, "copyfile", disk_fills)
    assert main(["surface", str(tiny_checkpoint), "--data", str(image_folder), "--samples", "10", "--x=-1:1:3",
                 "--out", str(tmp_path / "s.h5"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "rerun the same command" in err and err.count("\n") == 1


def test_points_that_are_not_finite_are_stored_and_masked(tmp_path, capsys):
    x, y = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    path = tmp_path / "diverged.h5"
    create_surface_file(path, SurfaceHeader(activation="relu", splits=("train",)), x, y, [])
    loss = np.add.outer(y ** 2, x ** 2) + 0.1
    loss[0, 0], loss[3, 4] = np.inf, np.nan  # a diverged corner and an overflow
    write_points(path, list(range(20)), {"train_loss": loss.ravel().tolist(), "train_acc": [0.5] * 20})
    surface = read_surface(path)
    assert surface.complete and np.isinf(surface.values["train_loss"][0, 0])
    for argv in (["plot", str(path), "--out-dir", str(tmp_path / "f"), "--kinds", "filled,surface3d"],
                 ["metrics", str(path)], ["report", str(path), "--out", str(tmp_path / "r.html")]):
        assert main(argv) == 0
        warned = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
        assert warned and all("2 finished point(s) of train_loss are not finite" in line for line in warned)
    assert "NaN" not in (tmp_path / "r.html").read_text().split("<script")[0]


def test_markup_and_control_characters_in_names_stay_text(tmp_path, tiny_checkpoint, image_folder, capsys):
    odd = tmp_path / "<img src=x onerror=alert(1)> $x$ \x1b[31mred"
    odd.mkdir()
    checkpoint = odd / "model.pt"
    checkpoint.write_bytes(tiny_checkpoint.read_bytes())
    out = odd / "s.h5"
    assert main(["surface", str(checkpoint), "--data", str(image_folder), "--samples", "10", "--x=-1:1:3",
                 "--y=-1:1:3", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\\x1b" in printed  # the terminal gets the name, never the escape
    assert main(["plot", str(out), "--out-dir", str(tmp_path / "f"), "--kinds", "filled", "--compare"]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert main(["surface", str(odd / "missing.pt"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[31mred" in err and err.count("\n") == 1
