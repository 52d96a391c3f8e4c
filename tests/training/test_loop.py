import importlib
import json
import math

import pytest
import torch

from landscape import LandscapeError, TrainConfig, load_checkpoint, train
from landscape.sources.checkpoint import checkpoint_summary, read_checkpoint
from landscape.storage.tables import markdown_table
from landscape.training.config import RunPaths
from tests.helpers import CountedCalls

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

    module = importlib.import_module("landscape.training.loop")
    real_epoch = module.train_one_epoch
    config = TrainConfig(out=str(tmp_path / "b.pt"), **settings)
    monkeypatch.setattr(module, "train_one_epoch", CountedCalls(real_epoch, interrupt_at=2))  # in the second epoch
    with pytest.raises(KeyboardInterrupt):
        train(config, *tiny_sets)
    monkeypatch.setattr(module, "train_one_epoch", real_epoch)
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


def test_the_paper_notebooks_network_trains_and_loads_with_its_front(tmp_path, tiny_sets):
    config = TrainConfig(out=str(tmp_path / "conv.pt"), architecture="conv_mlp", depth=2, width=16, optimizer="sgd",
                         lr=0.01, momentum=0.0, schedule="constant", augment=False,
                         **{k: v for k, v in TINY.items() if k not in ("depth", "lr", "momentum")})
    model, meta = load_checkpoint(train(config, *tiny_sets))
    assert (meta["in_channels"], meta["image_size"], meta["front_filters"]) == (3, 32, [20, 50])
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(3, 20, (5, 5)), (20, 50, (5, 5))]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears[0].in_features == 50 * 12 * 12 and [m.out_features for m in linears] == [16, 16, 10]


def test_gradient_norms_are_logged_and_measuring_them_changes_nothing(tmp_path, tiny_sets, monkeypatch):
    measured = train(TrainConfig(out=str(tmp_path / "a.pt"), **TINY), *tiny_sets)
    first = json.loads(RunPaths.beside(measured).log.read_text().splitlines()[0])
    model, _ = load_checkpoint(measured)
    weights = [name for name, p in model.named_parameters() if p.dim() > 1]
    assert list(first["gradient_norms_init"]) == weights and list(first["gradient_norms"]) == weights
    assert all(v > 0 for v in first["gradient_norms_init"].values())
    module = importlib.import_module("landscape.training.loop")
    monkeypatch.setattr(module, "gradient_norms", lambda model, inputs, labels: {})
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


def test_an_mlp_trains_on_mnist_standardised_by_its_own_statistics(tmp_path, capsys):
    """`landscape train --dataset mnist`: the network is sized for 1×28×28 digits, standardised by
    MNIST's mean and std (the recorded test accuracy equals one recomputed here by hand), and the
    dataset enters the recipe. A surface of it needs --dataset mnist (one line says so), and its
    centre is the loss on those images; a ResNet refuses one-channel images in one line."""
    from landscape.cli import main
    from landscape.sources.datasets import load_split
    from landscape.sources.specs import DatasetSpec
    from landscape.storage.surface_file import read_surface
    from tests.helpers import fake_mnist

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
