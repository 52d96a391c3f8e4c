import importlib
import json
from pathlib import Path

import pytest

from landscape import LandscapeError
from landscape.cli import main
from landscape.studies.depth.plan import DepthProfile
from landscape.studies.depth.run import run_depth_study
from landscape.studies.mish_plan import STUDY_ACTIVATIONS, SharpnessBudget


def test_depth_study_end_to_end_on_tiny_data(tmp_path, image_folder, capsys, monkeypatch):
    """Sweep → runs table (accuracy, divergence, gradients, dead units) → figure → landscapes of the ends."""
    profile = DepthProfile(name="test", depths=(1, 3), seeds=(0,), epochs=2, train_samples=20, width=16,
                           dropout=0.25, lr=1e-3, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           grid="-1:1:5", samples=10, directions=2, slice_grid="-1:1:5", repeat_depths=(3,),
                           repeat_seeds=(1,), sharpness=SharpnessBudget(samples=20, gap_samples=40, batch=10))
    summary = run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True, jobs=2)  # 2 runs at a time
    out = tmp_path / "out"
    rows = json.loads((out / "runs.json").read_text())
    assert {(r["activation"], r["depth"], r["seed"]) for r in rows} == \
        {(a, d, 0) for a in STUDY_ACTIVATIONS for d in (1, 3)} | {(a, 3, 1) for a in STUDY_ACTIVATIONS}
    for r in rows:
        assert 0 <= r["test_acc"] <= 1 and r["diverged_epoch"] is None and 0 <= r["dead_units"] <= 1
        assert r["gradient_norms_init_first"] > 0 and r["gradient_norms_last"] > 0
    table = (out / "depth.md").read_text()
    assert table.startswith("# Depth study\n") and "\n| activation | L=1 | L=3 |\n" in table
    assert "Leaky ReLU (slope 0.3)" in table
    assert "- L=1 → L=3: test_acc change: mish − relu = " in table  # seed 0 alone is at both depths: exploratory
    assert "### a higher test accuracy at 3 layers: `test_acc_L3`" in table  # two seeds there: the family
    assert "The paper's depth claims (6 tests, Holm-corrected together)" in table
    assert "- L=1: test_acc: mish − relu = " in table and "- L=3: test_acc" not in table
    assert "(paired, over 20 test images, one seed): exploratory (one training seed" in table
    for name in ("accuracy_vs_depth.png", "landscape_depth_1.png", "landscape_depth_3.pdf", "sharpness/summary.csv",
                 "surfaces/mlp3_mish.h5", "training_curves.png", "layers.pdf", "landscapes.csv"):
        assert (out / name).stat().st_size > 200, name
    record = json.loads((tmp_path / "ck" / "mlp3_relu.run.json").read_text())
    per_layer = record["dead_units_per_layer"]  # equal widths: the overall share is the mean over layers
    assert len(per_layer) == 3 and abs(sum(per_layer) / 3 - record["row"]["dead_units"]) < 1e-6
    correct = record["test_correct"]  # image by image; its mean is the accuracy training measured by itself
    assert len(correct) == 20 and set(correct) <= {"0", "1"}
    assert correct.count("1") / 20 == pytest.approx(record["row"]["test_acc"], abs=1e-12)
    sharpness = record["adaptive_sharpness"]  # measured apart from training: same accuracy, its settings kept
    assert sharpness["row"]["test_acc"] == pytest.approx(record["row"]["test_acc"], abs=1e-12)
    assert sharpness["settings"]["checkpoint_sha256"] == record["checkpoint_sha256"]
    assert sharpness["settings"]["samples"] == 20 and sharpness["row"]["batches"] == 2
    assert sum(line.startswith(("- ReLU: ", "- Mish: ")) and "trains" in line for line in table.splitlines()) == 2
    ends = json.loads((out / "landscapes.json").read_text())
    assert [(r["activation"], r["depth"]) for r in ends] == [
        (name, d) for d in (1, 3) for name in ("ReLU", "Leaky ReLU (slope 0.3)", "Swish", "Mish")]
    assert all(r["surface_roughness"] >= 0 and r["slice_curvature_low"] <= r["slice_curvature"]
               and 0 <= r["slices_with_second_minimum"] <= r["slices"] == 2 for r in ends)
    assert "| activation | depth | surface minimum | roughness |" in table
    assert "- L=3: width_0.5: mish − relu = " in table and "- Swish: curvature L=3 − L=1 = " in table
    assert "- width_0.5 change L=1→3: mish − leaky_relu = " in table  # the slices' difference in differences
    assert summary[0].startswith("runs: ") and len(summary) == 2 + len(STUDY_ACTIVATIONS)

    # A fresh clone: the checkpoints are not committed, their records and the finished landscapes are.
    # The study trains and measures nothing again and gives the same results.
    before = {name: (out / name).read_text() for name in ("runs.json", "depth.md", "sharpness/summary.csv")}
    for checkpoint in (tmp_path / "ck").glob("*.pt"):
        checkpoint.unlink()
    assert run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True) == summary
    assert not list((tmp_path / "ck").glob("*.pt"))
    assert {name: (out / name).read_text() for name in before} == before
    # a landscape that is not finished cannot be made without its checkpoint: one line says what to do
    (out / "surfaces" / "mlp3_mish.h5").unlink()
    with pytest.raises(LandscapeError, match=r"mlp3_mish.pt is not on disk .* delete .*mlp3_mish.run.json"):
        run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True)
    assert main(["study", "--study", "depth", "--profile", "huge"]) == 2  # one-line refusal
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert main(["study", "--repeat-depths", "23"]) == 2  # the activation study has no depths
    assert main(["study", "--study", "depth", "--repeat-depths", "deep"]) == 2
    assert main(["study", "--dataset", "mnist"]) == 2  # the activation study is CIFAR-10's
    assert "belong to the depth study" in capsys.readouterr().err
    assert main(["study", "--no-train"]) == 2 and "belongs to the depth study" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)  # the quick profile's folders are relative: none here
    assert main(["study", "--study", "depth", "--no-train", "--profile", "quick"]) == 2
    assert "no run of this sweep is recorded yet" in capsys.readouterr().err


def test_a_stopped_sweep_keeps_the_record_of_every_run_it_finished(tmp_path, image_folder, monkeypatch):
    """Each run's record, and an end network's landscape, is written when that run is trained, not
    when the sweep ends: a sweep stopped in its ninth run leaves eight records and the shallow ends'
    landscapes; a finished run without a record gets it before any training; on a fresh clone (no
    checkpoints) a missing landscape stops the sweep before it trains, and recorded runs are not
    trained again."""
    profile = DepthProfile(name="test", depths=(1, 2, 3), seeds=(0,), epochs=1, train_samples=20, width=8,
                           dropout=0.25, lr=1e-3, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           grid="-1:1:3", samples=10, directions=2, slice_grid="-1:1:5")
    ck, out = tmp_path / "ck", tmp_path / "out"
    module = importlib.import_module("landscape.training.side_by_side")
    real_train, trained = module.train, []

    def train_eight_then_stop(config):
        if len(trained) == 8:
            raise KeyboardInterrupt
        trained.append(Path(config.out).name)
        return real_train(config)
    monkeypatch.setattr(module, "train", train_eight_then_stop)

    def sweep():
        return run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        sweep()
    records = sorted(ck.glob("*.run.json"))
    assert [p.name for p in records] == sorted(f"mlp{d}_{name}.run.json" for d in (1, 2) for name in STUDY_ACTIVATIONS)
    shallow = sorted(p.name for p in (out / "surfaces").glob("*.h5")) + sorted(
        p.name for p in (out / "sharpness").glob("*_slices.h5"))
    assert shallow == sorted(f"mlp1_{n}.h5" for n in STUDY_ACTIVATIONS) + sorted(
        f"mlp1_{n}_slices.h5" for n in STUDY_ACTIVATIONS)
    partial = run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True, train=False)
    assert "(8 of the sweep's 12 runs, recorded so far)" in partial[0] and len(trained) == 8  # nothing trained
    report = (out / "depth.md").read_text()
    assert "- L=1: test_acc: mish − relu" in report and "- L=2: test_acc" in report and "- L=3" not in report
    assert report.count(" (not recorded yet: L=3)\n") == len(STUDY_ACTIVATIONS)  # after each deepest depth
    assert not (out / "landscapes.json").exists()  # the deep ends are not recorded yet
    (ck / "mlp2_relu.run.json").unlink()  # trained by an older sweep that stopped before recording it
    with pytest.raises(KeyboardInterrupt):
        sweep()
    assert sorted(ck.glob("*.run.json")) == records and len(trained) == 8

    for checkpoint in ck.glob("*.pt"):  # a fresh clone: records, logs and landscapes only
        checkpoint.unlink()
    kept = (out / "surfaces" / "mlp1_relu.h5").rename(tmp_path / "aside.h5")
    trained.clear()
    monkeypatch.setattr(module, "train", lambda config: trained.append(Path(config.out).name) or real_train(config))
    with pytest.raises(LandscapeError, match=r"mlp1_relu.pt is not on disk"):
        sweep()
    assert trained == []  # refused before the deep networks' hours of training
    kept.rename(out / "surfaces" / "mlp1_relu.h5")
    sweep()
    assert sorted(trained) == sorted(f"mlp3_{name}.pt" for name in STUDY_ACTIVATIONS)  # only the missing depth
    rows = json.loads((out / "runs.json").read_text())
    assert sorted((r["depth"], r["activation"]) for r in rows) == sorted(
        (d, name) for d in (1, 2, 3) for name in STUDY_ACTIVATIONS)


def test_a_run_started_earlier_trains_before_the_rest(tmp_path, image_folder, monkeypatch):
    """A run with a resume state on disk (started by an earlier sweep, perhaps in another order)
    is resumed before anything new starts."""
    profile = DepthProfile(name="test", depths=(1, 2), seeds=(0,), epochs=1, train_samples=20, width=8,
                           dropout=0.25, lr=1e-3, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           grid="-1:1:3", samples=10, directions=2, slice_grid="-1:1:5")
    module = importlib.import_module("landscape.training.side_by_side")
    trained = []

    def note_and_stop(config):
        trained.append(Path(config.out).name)
        raise KeyboardInterrupt
    monkeypatch.setattr(module, "train", note_and_stop)
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "mlp2_swish.state.pt").touch()
    with pytest.raises(KeyboardInterrupt):
        run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True)
    assert trained == ["mlp2_swish.pt"]


def test_the_depth_study_runs_on_mnist_in_folders_of_its_own(tmp_path):
    """`--dataset mnist --no-augment`: the paper's data, for those who have it. Networks sized for
    28×28 digits, their own folders, and surfaces measured on MNIST (the files say so)."""
    from landscape.sources.checkpoint import read_checkpoint
    from landscape.storage.surface_file import read_surface
    from landscape.studies.depth.plan import on_dataset
    from tests.helpers import fake_mnist

    base = DepthProfile(name="test", depths=(1,), seeds=(0,), epochs=1, train_samples=None, width=8, dropout=0.25,
                        lr=1e-3, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                        grid="-1:1:3", samples=10, directions=2, slice_grid="-1:1:5")
    profile = on_dataset(base, "mnist", augment=False)
    assert (profile.checkpoint_dir, profile.output_dir) == (str(tmp_path / "ck_mnist"), str(tmp_path / "out_mnist"))
    run_depth_study(profile, data=str(fake_mnist(tmp_path / "mnist")), device="cpu", quiet=True)
    meta = read_checkpoint(tmp_path / "ck_mnist" / "mlp1_mish.pt").metadata
    assert (meta["dataset"], meta["in_features"], meta["recipe"]["augment"]) == ("mnist", 784, False)
    assert read_surface(tmp_path / "out_mnist" / "surfaces" / "mlp1_mish.h5").header.dataset == "mnist"
    assert len(json.loads((tmp_path / "out_mnist" / "runs.json").read_text())) == len(STUDY_ACTIVATIONS)
    with pytest.raises(LandscapeError, match="depth study dataset"):
        on_dataset(base, "cifar100", augment=True)  # 100 classes: chance is not 10 %
