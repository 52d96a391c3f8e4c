import dataclasses
import importlib
import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from landscape import LandscapeError, TrainConfig, load_checkpoint, train
from landscape.files import exclusive_writer
from landscape.runtime import cpu_threads
from landscape.training.config import RunPaths
from landscape.training.side_by_side import train_side_by_side, worker_outcome


def test_runs_side_by_side_equal_the_same_runs_alone(tmp_path, image_folder, capsys):
    """Two one-thread workers: each checkpoint is bit-identical to its run trained here on one thread;
    progress is counted in epochs over all runs; each run is reported as soon as it is trained, and a
    second call finds them finished and trains (and reports) nothing."""
    configs = mlp_configs(tmp_path / "side", image_folder, [("relu", 0, {}), ("mish", 0, {}), ("swish", 1, {})])
    trained = []
    with cpu_threads(2):
        paths = train_side_by_side(configs, jobs=2, on_trained=lambda c: trained.append((c.out, Path(c.out).exists())))
    assert paths == [Path(c.out) for c in configs]
    assert sorted(trained) == sorted((c.out, True) for c in configs)
    printed = capsys.readouterr()
    assert "training: 6/6 epoch (100 %)" in printed.err  # a log line per 5 % where stderr is not a terminal
    assert printed.out.count("trained ") == 3 and "test accuracy" in printed.out
    with cpu_threads(1):
        for config, path in zip(configs, paths):
            alone = train(dataclasses.replace(config, out=str(tmp_path / "alone" / path.name)))
            side_weights, alone_weights = load_checkpoint(path)[0].state_dict(), load_checkpoint(alone)[0].state_dict()
            assert all(torch.equal(side_weights[k], alone_weights[k]) for k in alone_weights)
    written = [p.stat().st_mtime_ns for p in paths]
    for jobs in (1, 2):
        assert train_side_by_side(configs, jobs=jobs, on_trained=trained.append) == paths
    assert [p.stat().st_mtime_ns for p in paths] == written and len(trained) == len(configs)


def test_a_failing_run_stops_the_side_by_side_sweep_in_one_line(tmp_path, image_folder):
    configs = mlp_configs(tmp_path, image_folder, [("relu", 0, {"epochs": 50})])
    configs.append(dataclasses.replace(configs[0], out=str(tmp_path / "other.pt"), data=str(tmp_path / "missing")))
    with pytest.raises(LandscapeError, match="missing"):
        train_side_by_side(configs, jobs=2)
    with exclusive_writer(configs[0].out):  # the other worker was stopped: its run is free to resume
        pass
    with pytest.raises(LandscapeError, match="at least 1"):
        train_side_by_side(configs, jobs=0)


def test_a_worker_stopped_by_the_machine_reports_one_line(tmp_path, monkeypatch):
    """A failed read or write in a worker (disk full) reaches the parent as a one-line reason, not a
    traceback; a bug is not disguised as one."""
    config = TrainConfig(out=str(tmp_path / "run.pt"))
    def disk_full(_config):
        raise OSError(28, "No space left on device")
    module = importlib.import_module("landscape.training.side_by_side")
    monkeypatch.setattr(module, "train", disk_full)
    out, checkpoint, reason = worker_outcome(config)
    assert (out, checkpoint) == (config.out, None)
    assert reason.startswith(f"training {config.out}: [Errno 28] No space left on device;") and "\n" not in reason
    monkeypatch.setattr(module, "train", lambda _config: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        worker_outcome(config)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_stopping_the_parent_stops_its_workers(tmp_path, image_folder, stop):
    """Ctrl-C stops the workers through the parent; SIGKILL (no clean-up possible) through the kernel's
    parent-death signal. Either way no worker goes on holding its run, and a rerun finishes every run."""
    configs = mlp_configs(tmp_path, image_folder, [("relu", 0, {"epochs": 100}), ("mish", 0, {"epochs": 100})])
    script = ("import sys, pickle; from landscape.training.side_by_side import train_side_by_side; "
              "train_side_by_side(pickle.loads(bytes.fromhex(sys.argv[1])), jobs=2)")
    parent = subprocess.Popen([sys.executable, "-c", script, pickle.dumps(configs).hex()], stderr=subprocess.PIPE,
                              text=True)
    logs = [RunPaths.beside(c.out).log for c in configs]
    deadline = time.monotonic() + 120
    while not all(log.exists() for log in logs):  # both workers are training
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.2)
    parent.send_signal(stop)
    _, stderr = parent.communicate(timeout=60)  # to the end: the workers and resource tracker write here too
    if stop == signal.SIGINT:  # workers stopped by their parent clean up after themselves (none can after SIGKILL)
        assert "leaked" not in stderr
    deadline = time.monotonic() + 30
    for config in configs:
        while True:
            try:
                with exclusive_writer(config.out):
                    break
            except LandscapeError:  # the worker is still winding down
                assert time.monotonic() < deadline, f"a worker still holds {config.out}"
                time.sleep(0.2)
    with cpu_threads(2):
        train_side_by_side(configs, jobs=2)
    for log in logs:
        assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == list(range(1, 101))


def mlp_configs(folder, data, runs) -> list[TrainConfig]:
    return [TrainConfig(out=str(folder / f"{name}_{seed}.pt"), data=str(data), activation=name, seed=seed,
                        **{**MLP_RUN, **extra}) for name, seed, extra in runs]


MLP_RUN = dict(architecture="mlp", depth=2, width=16, dropout=0.25, optimizer="rmsprop", lr=1e-3, momentum=0.0,
               weight_decay=0.0, epochs=2, batch_size=8, device="cpu", quiet=True)
