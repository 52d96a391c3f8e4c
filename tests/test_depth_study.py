import importlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from landscape import LandscapeError
from landscape.cli import main
from landscape.depth_study import (
    DepthProfile,
    deepest_trained,
    depth_change_comparisons,
    landscape_comparisons,
    run_depth_study,
    sweep_plan,
)
from landscape.study import STUDY_ACTIVATIONS


def test_depth_study_end_to_end_on_tiny_data(tmp_path, image_folder, capsys, monkeypatch):
    """Sweep → runs table (accuracy, divergence, gradients, dead units) → figure → landscapes of the ends."""
    profile = DepthProfile(name="test", depths=(1, 3), seeds=(0,), epochs=2, train_samples=20, width=16,
                           dropout=0.25, lr=1e-3, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           grid="-1:1:5", samples=10, directions=2, slice_grid="-1:1:5", repeat_depths=(3,),
                           repeat_seeds=(1,))
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
    assert "- L=1 → L=3: test_acc change: mish − relu = " in table  # seed 0 alone is at both depths
    assert "- L=3: test_acc: mish − relu = " in table
    assert "2 seeds × 20 test images" in table.split("- L=3")[1] and "2 seeds" not in table.split("- L=3")[0]
    assert "(paired, over 20 test images, one seed)" in table and "training-seed noise not included" in table
    for name in ("accuracy_vs_depth.png", "landscape_depth_1.png", "landscape_depth_3.pdf", "sharpness/summary.csv",
                 "surfaces/mlp3_mish.h5", "training_curves.png", "layers.pdf", "landscapes.csv"):
        assert (out / name).stat().st_size > 200, name
    record = json.loads((tmp_path / "ck" / "mlp3_relu.run.json").read_text())
    per_layer = record["dead_units_per_layer"]  # equal widths: the overall share is the mean over layers
    assert len(per_layer) == 3 and abs(sum(per_layer) / 3 - record["row"]["dead_units"]) < 1e-6
    correct = record["test_correct"]  # image by image; its mean is the accuracy training measured by itself
    assert len(correct) == 20 and set(correct) <= {"0", "1"}
    assert correct.count("1") / 20 == pytest.approx(record["row"]["test_acc"], abs=1e-12)
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
    engine = importlib.import_module("landscape.train")
    real_train, trained = engine.train, []

    def train_eight_then_stop(config):
        if len(trained) == 8:
            raise KeyboardInterrupt
        trained.append(Path(config.out).name)
        return real_train(config)
    monkeypatch.setattr(engine, "train", train_eight_then_stop)

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
    monkeypatch.setattr(engine, "train", lambda config: trained.append(Path(config.out).name) or real_train(config))
    with pytest.raises(LandscapeError, match=r"mlp1_relu.pt is not on disk"):
        sweep()
    assert trained == []  # refused before the deep networks' hours of training
    kept.rename(out / "surfaces" / "mlp1_relu.h5")
    sweep()
    assert sorted(trained) == sorted(f"mlp3_{name}.pt" for name in STUDY_ACTIVATIONS)  # only the missing depth
    rows = json.loads((out / "runs.json").read_text())
    assert sorted((r["depth"], r["activation"]) for r in rows) == sorted(
        (d, name) for d in (1, 2, 3) for name in STUDY_ACTIVATIONS)


def test_deepest_trained_depth_stops_at_the_first_failure():
    """The deepest depth up to which every run trained: a failure at one depth (divergence, or one
    seed of several stuck at chance) caps it, even where a deeper run happened to train."""
    def row(name, depth, seed=0, diverged=None, chance=False):
        return {"activation": name, "depth": depth, "seed": seed, "diverged_epoch": diverged,
                "never_left_chance": chance}
    rows = [row("relu", 15), row("relu", 17, diverged=3), row("relu", 19),
            row("leaky_relu", 15), row("leaky_relu", 17), row("leaky_relu", 17, seed=1, chance=True),
            row("swish", 15), row("swish", 17), row("swish", 19),
            row("mish", 15, diverged=1), row("mish", 17)]
    assert deepest_trained(rows) == {"relu": 15, "leaky_relu": 15, "swish": 19, "mish": None}


def test_the_sweep_trains_the_decisive_runs_first():
    """Without repeats: seed by seed, shallow to deep. With repeats: the first seed at the repeat
    depths, the repeat seeds there, then the other depths; every (seed, depth) exactly once."""
    base = DepthProfile(name="test", depths=(15, 17, 19, 25), seeds=(0,), epochs=1, train_samples=None, width=8,
                        dropout=0.25, lr=1e-3, checkpoint_dir="ck", output_dir="out", grid="-1:1:3", samples=10,
                        directions=2, slice_grid="-1:1:5")
    assert sweep_plan(base) == [(0, 15), (0, 17), (0, 19), (0, 25)]
    repeated = replace(base, repeat_depths=(15, 25), repeat_seeds=(0, 1, 2))
    assert sweep_plan(repeated) == [(0, 15), (0, 25), (1, 15), (1, 25), (2, 15), (2, 25), (0, 17), (0, 19)]


def test_a_run_started_earlier_trains_before_the_rest(tmp_path, image_folder, monkeypatch):
    """A run with a resume state on disk (started by an earlier sweep, perhaps in another order)
    is resumed before anything new starts."""
    profile = DepthProfile(name="test", depths=(1, 2), seeds=(0,), epochs=1, train_samples=20, width=8,
                           dropout=0.25, lr=1e-3, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           grid="-1:1:3", samples=10, directions=2, slice_grid="-1:1:5")
    engine = importlib.import_module("landscape.train")
    trained = []

    def note_and_stop(config):
        trained.append(Path(config.out).name)
        raise KeyboardInterrupt
    monkeypatch.setattr(engine, "train", note_and_stop)
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "mlp2_swish.state.pt").touch()
    with pytest.raises(KeyboardInterrupt):
        run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True)
    assert trained == ["mlp2_swish.pt"]


def test_landscape_comparisons_pair_directions_within_a_depth_and_not_across():
    """Synthetic slices: every basin narrows and sharpens from L=15 to L=25, Mish's least. Within a
    depth the networks share a direction effect, which pairing removes; across depths the changes
    are unpaired, and Mish's change minus ReLU's is Welch's interval over the two depths' paired
    differences (scipy, computed directly)."""
    rng = np.random.default_rng(0)
    width = {15: dict.fromkeys(STUDY_ACTIVATIONS, 3.0), 25: {**dict.fromkeys(STUDY_ACTIVATIONS, 1.0), "mish": 2.0}}
    curvature = {15: dict.fromkeys(STUDY_ACTIVATIONS, 0.1), 25: {**dict.fromkeys(STUDY_ACTIVATIONS, 0.5), "mish": 0.3}}

    def at_depth(d):
        shared = rng.normal(0, 0.3, (1, 20))  # this depth's directions, the same for its four networks
        return {"width_0.5": {n: width[d][n] + shared + rng.normal(0, 0.05, (1, 20)) for n in STUDY_ACTIVATIONS},
                "curvature": {n: curvature[d][n] + shared / 10 + rng.normal(0, 0.005, (1, 20))
                              for n in STUDY_ACTIVATIONS}}
    slices = {15: at_depth(15), 25: at_depth(25)}
    lines = landscape_comparisons(slices)
    relu_change = next(line for line in lines if line.startswith("- ReLU: width_0.5 L=25 − L=15 = "))
    assert relu_change.endswith("(unpaired, over 20 + 20 directions, one seed): narrower with depth")
    assert next(line for line in lines if line.startswith("- Mish: curvature")).endswith("sharper with depth")
    at_deep = next(line for line in lines if line.startswith("- L=25: width_0.5: mish − relu = "))
    assert "(paired, over 20 directions, one seed): supported" in at_deep
    w = {d: slices[d]["width_0.5"] for d in slices}
    welch = stats.ttest_ind((w[25]["mish"] - w[25]["relu"])[0], (w[15]["mish"] - w[15]["relu"])[0],
                            equal_var=False).confidence_interval(0.95)
    change = next(line for line in lines if line.startswith("- width_0.5 change L=15→25: mish − relu = "))
    assert f"[{welch.low:.3g}, {welch.high:.3g}] (unpaired, over 20 + 20 directions, one seed): supported" in change
    curved = next(line for line in lines if line.startswith("- curvature change L=15→25: mish − swish = "))
    assert "): supported" in curved  # Mish's curvature grows less: the paper's sign is negative


def test_the_depth_study_runs_on_mnist_in_folders_of_its_own(tmp_path):
    """`--dataset mnist --no-augment`: the paper's data, for those who have it. Networks sized for
    28×28 digits, their own folders, and surfaces measured on MNIST (the files say so)."""
    from landscape.checkpoint import read_checkpoint
    from landscape.depth_study import on_dataset
    from landscape.storage import read_surface
    from tests.test_datasets import fake_mnist

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


def test_mish_change_with_depth_is_a_difference_in_differences_over_seeds():
    """Mish's loss of test accuracy from the shallowest to the deepest depth against each other
    activation's, checked against a direct computation: per seed, the four runs' accuracies give
    (mish_deep − mish_shallow) − (other_deep − other_shallow); the interval is the t-interval of
    those per-seed values. The deepest depth is the deepest recorded for all four activations."""
    rng = np.random.default_rng(0)
    images, accuracy = 400, {}

    def record(name, depth, seed):
        p = {"relu": 0.6, "leaky_relu": 0.55, "swish": 0.6, "mish": 0.62}[name] - (depth - 1) * (
            0.01 if name == "mish" else 0.05) + 0.02 * seed
        correct = rng.random(images) < p
        accuracy[name, depth, seed] = 100 * correct.mean()
        return {"row": {"activation": name, "depth": depth, "seed": seed},
                "test_correct": "".join("1" if c else "0" for c in correct)}
    records = [record(name, d, s) for name in STUDY_ACTIVATIONS for d in (1, 3) for s in (0, 1, 2)]
    records += [record(name, 5, 0) for name in ("relu", "mish")]  # depth 5 is not recorded for all four
    lines = depth_change_comparisons(records, (1, 3, 5))
    assert [line.split(":")[0] for line in lines] == ["- L=1 → L=3"] * 3
    for other, line in zip(("relu", "leaky_relu", "swish"), lines):
        per_seed = [accuracy["mish", 3, s] - accuracy["mish", 1, s] - accuracy[other, 3, s] + accuracy[other, 1, s]
                    for s in range(3)]
        mean, half = np.mean(per_seed), stats.t.ppf(0.975, 2) * np.std(per_seed, ddof=1) / np.sqrt(3)
        assert f"mish − {other} = {mean:.3g} [{mean - half:.3g}, {mean + half:.3g}]" in line
        assert "(paired, over 3 seeds × 400 test images)" in line
    assert depth_change_comparisons(records, (1,)) == []  # one depth: nothing to compare
