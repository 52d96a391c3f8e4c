import dataclasses
import importlib
import json
import math
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from landscape import LandscapeError, TrainConfig, load_checkpoint, train
from landscape.checkpoint import checkpoint_summary, read_checkpoint
from landscape.files import exclusive_writer
from landscape.runtime import cpu_threads
from landscape.tables import markdown_table
from landscape.train import RunPaths, learning_rate, train_side_by_side, worker_outcome

TINY = dict(depth=8, epochs=3, batch_size=16, lr=0.05, seed=7, device="cpu", quiet=True)


def test_training_writes_checkpoint_log_and_snapshots(tmp_path, tiny_sets):
    out = tmp_path / "ck" / "m.pt"
    config = TrainConfig(out=str(out), activation="mish", save_every=2, **TINY)
    assert train(config, *tiny_sets) == out
    model, meta = load_checkpoint(out)
    assert meta["activation"] == "mish" and meta["depth"] == 8 and meta["epochs"] == 3
    assert meta["recipe"]["seed"] == 7 and meta["train_size"] == 60 and 0 <= meta["test_acc"] <= 1
    log = [json.loads(line) for line in RunPaths.beside(out).log.read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"} <= set(log[0])
    snaps = sorted(p.name for p in RunPaths.beside(out).snapshots.iterdir())
    assert snaps == ["epoch_000.pt", "epoch_002.pt"]
    assert not RunPaths.beside(out).state.exists()
    assert load_checkpoint(RunPaths.beside(out).snapshots / "epoch_002.pt")[1]["epoch"] == 2
    summary = checkpoint_summary(out)  # what `landscape info` prints: the metadata, rounded
    assert summary["activation"] == "mish (impl=native)" and summary["epochs"] == 3
    assert summary["test acc %"] == round(100 * meta["test_acc"], 2)
    assert summary["train loss"] == round(meta["train_loss"], 4)
    assert summary["s/epoch"] == round(sum(r["seconds"] for r in log) / 3)
    snapshot = checkpoint_summary(RunPaths.beside(out).snapshots / "epoch_002.pt")
    assert snapshot["epochs"] == 2 and snapshot["test acc %"] is None
    table = markdown_table([summary, snapshot]).splitlines()
    assert len(table) == 4 and table[0].startswith("| checkpoint | activation |")
    assert "| mish (impl=native) | 3 |" in table[2]


def test_training_lowers_the_loss(tmp_path, tiny_sets):
    train(TrainConfig(out=str(tmp_path / "m.pt"), **{**TINY, "epochs": 4}), *tiny_sets)
    log = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    assert log[-1]["train_loss"] < log[0]["train_loss"]


@pytest.mark.parametrize("architecture", [{}, {"architecture": "mlp", "depth": 2, "width": 16, "dropout": 0.5}])
def test_resume_after_interruption_gives_identical_weights(tmp_path, tiny_sets, monkeypatch, architecture):
    """ResNet, and an MLP whose dropout draws random numbers: the resumed run ends bit-identical."""
    settings = {**TINY, **architecture}
    straight = train(TrainConfig(out=str(tmp_path / "a.pt"), **settings), *tiny_sets)

    engine = importlib.import_module("landscape.train")  # the package re-exports the function `train`
    real_epoch, calls = engine.train_one_epoch, []

    def crash_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    config = TrainConfig(out=str(tmp_path / "b.pt"), **settings)
    monkeypatch.setattr(engine, "train_one_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(config, *tiny_sets)
    monkeypatch.setattr(engine, "train_one_epoch", real_epoch)
    assert RunPaths.beside(config.out).state.exists()
    resumed = train(config, *tiny_sets)
    a, b = load_checkpoint(straight)[0].state_dict(), load_checkpoint(resumed)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = RunPaths.beside(config.out).log.read_text().splitlines()
    assert len(log) == 3


def test_rerun_with_other_settings_is_refused(tmp_path, tiny_sets):
    out = str(tmp_path / "m.pt")
    train(TrainConfig(out=out, **TINY), *tiny_sets)
    before = (tmp_path / "m.pt").read_bytes()
    # same recipe: already finished, so the checkpoint is returned untouched (no training, no rewrite)
    assert train(TrainConfig(out=out, **TINY), *tiny_sets) == tmp_path / "m.pt"
    assert (tmp_path / "m.pt").read_bytes() == before
    with pytest.raises(LandscapeError, match="other settings"):
        train(TrainConfig(out=out, **{**TINY, "lr": 0.2}), *tiny_sets)


def test_bad_options_are_refused():
    with pytest.raises(LandscapeError, match="unknown optimizer 'lbfgs'; expected one of sgd, rmsprop, adam"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(LandscapeError, match="--epochs must be at least 1"):
        TrainConfig(epochs=0)
    with pytest.raises(LandscapeError, match="does not take beta"):
        TrainConfig(activation="relu", activation_params={"beta": 2.0})


def test_learning_rate_schedules():
    assert learning_rate("cosine", 0.1, 0, 100) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 50, 100) == pytest.approx(0.05)
    assert learning_rate("cosine", 0.1, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert [learning_rate("step", 0.1, s, 100) for s in (0, 49, 50, 75)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    peak = max(learning_rate("onecycle", 0.1, s, 100) for s in range(101))
    assert peak == pytest.approx(0.1) and learning_rate("onecycle", 0.1, 0, 100) == pytest.approx(0.004)
    assert math.isclose(learning_rate("onecycle", 0.1, 100, 100), 0.1 / 25e4)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_other_optimizers_and_bf16_run(tmp_path, tiny_sets, optimizer):
    config = TrainConfig(out=str(tmp_path / "m.pt"), optimizer=optimizer, lr=1e-3, precision="bf16",
                         schedule="onecycle", **{k: v for k, v in TINY.items() if k != "lr"})
    _, meta = load_checkpoint(train(config, *tiny_sets))
    assert math.isfinite(meta["train_loss"])


def test_mlp_trains_saves_and_loads_with_its_settings(tmp_path, tiny_sets):
    config = TrainConfig(out=str(tmp_path / "mlp.pt"), architecture="mlp", depth=3, width=16, dropout=0.25,
                         **{k: v for k, v in TINY.items() if k != "depth"})
    model, meta = load_checkpoint(train(config, *tiny_sets))
    assert (meta["architecture"], meta["depth"], meta["width"], meta["dropout"]) == ("mlp", 3, 16, 0.25)
    assert meta["recipe"]["architecture"] == "mlp" and meta["recipe"]["width"] == 16
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [16, 16, 16, 10] and linears[0].in_features == 3 * 32 * 32
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()) == 3
    assert "architecture" not in TrainConfig().recipe()  # ResNet recipes read as before MLPs existed
    with pytest.raises(LandscapeError, match="--dropout must be in"):
        TrainConfig(architecture="mlp", dropout=1.0)


def test_gradient_norms_are_logged_and_measuring_them_changes_nothing(tmp_path, tiny_sets, monkeypatch):
    measured = train(TrainConfig(out=str(tmp_path / "a.pt"), **TINY), *tiny_sets)
    first = json.loads(RunPaths.beside(measured).log.read_text().splitlines()[0])
    model, _ = load_checkpoint(measured)
    weights = [name for name, p in model.named_parameters() if p.dim() > 1]
    assert list(first["gradient_norms_init"]) == weights and list(first["gradient_norms"]) == weights
    assert all(v > 0 for v in first["gradient_norms_init"].values())
    engine = importlib.import_module("landscape.train")
    monkeypatch.setattr(engine, "gradient_norms", lambda model, inputs, labels: {})
    unmeasured = train(TrainConfig(out=str(tmp_path / "b.pt"), **TINY), *tiny_sets)
    a, b = load_checkpoint(measured)[0].state_dict(), load_checkpoint(unmeasured)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # BatchNorm statistics and random streams untouched


def test_a_diverging_run_stops_and_says_when(tmp_path, tiny_sets):
    config = TrainConfig(out=str(tmp_path / "d.pt"), **{**TINY, "lr": 1e12, "weight_decay": 0.0})
    path = train(config, *tiny_sets)
    meta = read_checkpoint(path).metadata
    with pytest.raises(LandscapeError, match="non-finite weights"):  # nothing can be measured around it
        load_checkpoint(path)
    log = [json.loads(line) for line in RunPaths.beside(path).log.read_text().splitlines()]
    assert meta["diverged_epoch"] == log[-1]["epoch"] and "loss" in log[-1]["diverged"]
    assert len(log) <= TINY["epochs"]
    assert load_checkpoint(train(TrainConfig(out=str(tmp_path / "ok.pt"), **TINY), *tiny_sets))[1][
        "diverged_epoch"] is None


MLP_RUN = dict(architecture="mlp", depth=2, width=16, dropout=0.25, optimizer="rmsprop", lr=1e-3, momentum=0.0,
               weight_decay=0.0, epochs=2, batch_size=8, device="cpu", quiet=True)


def mlp_configs(folder, data, runs) -> list[TrainConfig]:
    return [TrainConfig(out=str(folder / f"{name}_{seed}.pt"), data=str(data), activation=name, seed=seed,
                        **{**MLP_RUN, **extra}) for name, seed, extra in runs]


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
    engine = importlib.import_module("landscape.train")
    monkeypatch.setattr(engine, "train", disk_full)
    out, checkpoint, reason = worker_outcome(config)
    assert (out, checkpoint) == (config.out, None)
    assert reason.startswith(f"training {config.out}: [Errno 28] No space left on device;") and "\n" not in reason
    monkeypatch.setattr(engine, "train", lambda _config: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        worker_outcome(config)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_stopping_the_parent_stops_its_workers(tmp_path, image_folder, stop):
    """Ctrl-C stops the workers through the parent; SIGKILL (no clean-up possible) through the kernel's
    parent-death signal. Either way no worker goes on holding its run, and a rerun finishes every run."""
    configs = mlp_configs(tmp_path, image_folder, [("relu", 0, {"epochs": 100}), ("mish", 0, {"epochs": 100})])
    script = ("import sys, pickle; from landscape.train import train_side_by_side; "
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


def test_an_mlp_trains_on_mnist_standardised_by_its_own_statistics(tmp_path, capsys):
    """`landscape train --dataset mnist`: the network is sized for 1×28×28 digits, standardised by
    MNIST's mean and std (the recorded test accuracy equals one recomputed here by hand), and the
    dataset enters the recipe. A surface of it needs --dataset mnist (one line says so), and its
    centre is the loss on those images; a ResNet refuses one-channel images in one line."""
    from landscape.cli import main
    from landscape.datasets import DatasetSpec, load_split
    from landscape.storage import read_surface
    from tests.test_datasets import fake_mnist

    root = str(fake_mnist(tmp_path / "mnist"))
    out = tmp_path / "digits.pt"
    flags = ["--dataset", "mnist", "--data", root, "--architecture", "mlp", "--depth", "2", "--width", "16",
             "--optimizer", "rmsprop", "--lr", "1e-3", "--momentum", "0", "--weight-decay", "0", "--epochs", "2",
             "--batch-size", "8", "--no-augment", "--device", "cpu", "--quiet"]
    assert main(["train", *flags, "--out", str(out)]) == 0
    model, meta = load_checkpoint(out)
    assert (meta["in_features"], meta["num_classes"], meta["dataset"]) == (784, 10, "mnist")
    assert meta["recipe"]["dataset"] == "mnist" and meta["recipe"]["augment"] is False
    test = load_split(DatasetSpec("mnist"), root, "test")
    inputs = (test.images.float() / 255 - 0.1307) / 0.3081
    with torch.no_grad():
        accuracy = float((model.eval()(inputs).argmax(1) == test.labels).float().mean())
    assert meta["test_acc"] == pytest.approx(accuracy)

    surface = tmp_path / "digits.h5"
    capsys.readouterr()
    assert main(["surface", str(out), "--data", root, "--x=-1:1:3", "--samples", "20", "--out", str(surface)]) == 2
    assert "was trained on mnist; pass --dataset mnist" in capsys.readouterr().err
    assert main(["surface", str(out), "--dataset", "mnist", "--data", root, "--x=-1:1:3", "--samples", "20",
                 "--device", "cpu", "--quiet", "--out", str(surface)]) == 0
    train_set = load_split(DatasetSpec("mnist"), root, "train")
    with torch.no_grad():
        loss = float(torch.nn.functional.cross_entropy(model(((train_set.images.float() / 255) - 0.1307) / 0.3081),
                                                       train_set.labels))
    assert read_surface(surface).values["train_loss"][1] == pytest.approx(loss, rel=1e-5)
    measure = ["metrics", "--checkpoint", str(out), "--data", root, "--samples", "20", "--device", "cpu"]
    capsys.readouterr()
    assert main(measure) == 2 and "pass --dataset mnist" in capsys.readouterr().err
    assert main([*measure, "--dataset", "mnist", "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())[0]["loss"] == pytest.approx(loss, rel=1e-5)

    assert main(["train", *flags[:4], "--depth", "8", "--epochs", "1", "--out", str(tmp_path / "resnet.pt")]) == 2
    assert "cifar_resnet takes 3-channel images" in capsys.readouterr().err


def test_the_default_recipe_is_unchanged_by_the_dataset_options():
    """Runs trained before --dataset and --no-augment existed keep their recipes (and resume)."""
    assert not {"dataset", "augment"} & set(TrainConfig().recipe())
    assert TrainConfig(dataset="mnist", augment=False).recipe()["dataset"] == "mnist"
    with pytest.raises(LandscapeError, match="unknown dataset 'mnits'"):
        TrainConfig(dataset="mnits")
