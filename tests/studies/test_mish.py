import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape import load_checkpoint
from landscape.metrics.options import HessianOptions
from landscape.studies.findings import decide
from landscape.studies.mish import headline, run_study
from landscape.studies.mish_plan import PROFILES, STUDY_ACTIVATIONS, StudyProfile


def test_study_end_to_end_on_tiny_data(tmp_path, image_folder):
    """Training (two seeds) → checkpoints → surfaces → slices → findings → figures → reports."""
    profile = StudyProfile(name="test", train=True, seeds=(0, 1), epochs=2, train_samples=20, grid="-1:1:3",
                           samples=10, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           save_every=1, path_points=3, directions=3, slice_grid="-1:1:5", output_seeds=3,
                           output_resolution=20, hessian=HessianOptions(top_k=1, starts=2, trace_samples=3,
                                                                        iterations=3, lanczos_steps=3, samples=20))
    summary = run_study(profile, data=str(image_folder), device="cpu", quiet=True)
    out = tmp_path / "out"
    assert len(summary) <= 25 and max(len(line) for line in summary[:-3]) <= 120  # the last three name paths
    assert summary[0].startswith("Mish study, test profile: 2 training seed(s) × 3 random directions")
    assert any(line.startswith("  Leaky ReLU (slope 0.3) ") and " [" in line for line in summary)
    assert any(line.startswith("  a wider minimum: ReLU ") for line in summary)  # Mish against each, Holm-corrected
    assert any(line.startswith("Swish and Mish both better than ReLU: wider ") for line in summary)
    assert any(line.startswith("Noise of the width comparisons: ") for line in summary)
    assert summary[-3].startswith("Report: ") and not any("leaky_relu" in line for line in summary)
    assert "leaky_relu" in (out / "report.html").read_text()
    path_report = (out / "report_training_path.html").read_text()
    assert "resnet20_mish_path.h5" in path_report and "explained_variance" in path_report
    for name in STUDY_ACTIVATIONS:
        _, meta = load_checkpoint(tmp_path / "ck" / f"resnet20_{name}.pt")
        assert meta["activation"] == name and meta["recipe"]["precision"] == "fp32"
        _, seed1 = load_checkpoint(tmp_path / "ck" / "seeds" / f"resnet20_{name}_seed1.pt")
        assert seed1["recipe"] == {**meta["recipe"], "seed": 1, "save_every": 0}
        with h5py.File(out / "surfaces" / f"resnet20_{name}.h5") as f:
            assert f.attrs["complete"] and f["test_loss"].shape == (3, 3) and "metrics" in f
        with h5py.File(out / "surfaces" / f"resnet20_{name}_path.h5") as f:
            path, x, y = f["trajectory"][()], f["xcoordinates"][()], f["ycoordinates"][()]
            assert f.attrs["complete"] and f.attrs["direction_source"] == "pca" and path.shape == (3, 2)
            assert x.min() < path[:, 0].min() and path[:, 0].max() < x.max()  # the grid is fitted to the path
            assert y.min() < path[:, 1].min() and path[:, 1].max() < y.max()
        with h5py.File(out / "sharpness" / f"resnet20_{name}_seed1_slices.h5") as f:
            assert f.attrs["layout"] == "slices" and f["train_loss"].shape == (3, 5)
    findings = json.loads((out / "findings.json").read_text())
    assert [r["activation"] for r in findings["rows"]] == list(STUDY_ACTIVATIONS)
    assert {c["other"] for c in findings["comparisons"]} == {"relu", "leaky_relu", "swish"}
    assert all(c["verdict"] in ("supported", "contradicted", "inconclusive") for c in findings["comparisons"])
    assert len(findings["family"]) == 5 * 6 and {t["verdict"] for t in findings["family"]} <= {
        "wider", "narrower", "flatter", "sharper", "lower", "higher", "smoother", "rougher", "alike", "inconclusive"}
    table = (out / "findings.md").read_text().splitlines()
    assert table[0] == "## The paper's claims (30 tests, Holm-corrected together)"
    every = table[table.index("## Every measure (mean [95 % interval])") + 2]
    assert every.startswith("| activation |") and "| basin width at Δ = 1 (wider) |" in every
    assert len(table) > 6
    noise = table[table.index("## Where the noise comes from"):]
    assert any(line.startswith("| basin width at Δ = 1 (wider) | ") for line in noise)
    assert findings["noise"]["width_1"]["differences"]["seeds"] == 2
    exploratory = table[table.index("## Exploratory: Mish − each other activation on every measure"):]
    assert exploratory[4].startswith("| measure | Mish − ReLU | Mish − Leaky ReLU (slope 0.3) | Mish − Swish |")
    assert any(line.startswith("| Hessian λmax (flatter) | ") for line in exploratory)
    assert table[table.index("## Seed by seed") + 2] == "Each cell: seeds 0 / 1."
    quality = table[table.index("## How good the Hessian estimates are") + 4]
    assert quality.startswith("| ReLU | ") and " of 4 | " in quality  # two starts for each of two seeds
    by_activation = {r["activation"]: r for r in findings["rows"]}
    assert by_activation["mish"]["hessian_max_over"] == "2 seeds" and by_activation["relu"]["dead_units"] >= 0
    metrics = json.loads((out / "checkpoint_metrics.json").read_text())
    assert len(metrics) == 8 and all(r["hessian_images"] == 20 and "hessian_trace_ci95" in r for r in metrics)
    rows = json.loads((out / "surface_metrics.json").read_text())
    assert [r["activation"] for r in rows] == list(STUDY_ACTIVATIONS)
    for name in ("comparison_train_loss.png", "comparison_test_loss.pdf", "comparison_path_train_loss.png",
                 "training_curves.png", "surfaces/resnet20_mish_path_train_loss_contour.png", "uncertainty.png",
                 "output_landscape.png", "output_landscape.json", "sharpness/summary.csv"):
        assert (out / name).stat().st_size > 200, name


def test_checkpoint_metrics_are_reused_unless_a_setting_of_the_numbers_changes(tmp_path, image_folder, monkeypatch):
    from dataclasses import replace

    from landscape import activation_factory, resnet, save_checkpoint
    from landscape.sources.specs import model_metadata
    from landscape.studies import mish as study

    checkpoint = save_checkpoint(tmp_path / "tiny.pt", resnet(8, activation_factory("relu")),
                                 model_metadata(8, "relu", {}))

    profile = StudyProfile(name="test", train=False, seeds=(0,), epochs=2, train_samples=20, grid="-1:1:3",
                           samples=10, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           save_every=0, path_points=3, directions=2, slice_grid="-1:1:5", output_seeds=2,
                           output_resolution=20, hessian=HessianOptions(top_k=1, starts=1, trace_samples=2,
                                                                        iterations=2, lanczos_steps=2, samples=10))
    calls = []
    measured = study.run_metrics
    monkeypatch.setattr(study, "run_metrics", lambda config: calls.append(config) or measured(config))
    checkpoints = {"relu": [checkpoint]}
    first = study.model_metrics_all(checkpoints, profile, str(image_folder), "cpu", True)
    low_memory = replace(profile, hessian=replace(profile.hessian, keep_graph=False))  # the same numbers
    assert study.model_metrics_all(checkpoints, low_memory, str(image_folder), "cpu", True) == first
    assert len(calls) == 1
    more = replace(profile, hessian=replace(profile.hessian, trace_samples=3))  # other numbers: measured again
    study.model_metrics_all(checkpoints, more, str(image_folder), "cpu", True)
    assert len(calls) == 2


@pytest.mark.parametrize("seeds", [3, 5])
def test_the_summary_says_how_much_the_added_seeds_narrowed_the_family(seeds):
    rng = np.random.default_rng(0)
    values = {m: {a: centre + rng.normal(0, spread, (seeds, 1)) for a in STUDY_ACTIVATIONS}
              for m, centre, spread in (("width_0.5", 0.7, 0.02), ("hessian_trace", 1700, 100),
                                        ("train_loss_full", 0.12, 0.005), ("test_acc", 88, 0.2))}
    findings = decide(values)
    summary = headline(findings, Path("out"), PROFILES["paper"])
    said = [line for line in summary if line.startswith("Seeds beyond the first 3 narrowed the family's intervals to ")]
    assert len(summary) <= 25 and len(said) == (seeds > 3)
    if said:
        ratio = np.median([r["width_after"] / r["width_before"] for r in findings.narrowing])
        assert f"to {ratio:.2f} of their width" in said[0]


def test_train_only_trains_the_chosen_seeds_and_measures_nothing(monkeypatch, capsys, tmp_path):
    """`landscape study --train-only` hands the paper profile with the chosen seeds to training and
    stops; a profile that trains nothing, or the depth study, is refused in one line."""
    from landscape.cli import main
    from landscape.studies import mish as study

    trained = []
    finished = tmp_path / "resnet20_relu_seed3.pt"
    finished.write_bytes(b"")
    monkeypatch.setattr(study, "train_side_by_side", lambda runs, jobs, quiet: trained.append((runs, jobs)))
    monkeypatch.setattr(study, "checkpoint_path",
                        lambda profile, name, seed: tmp_path / f"resnet20_{name}_seed{seed}.pt")
    monkeypatch.setattr(study, "training_runs", lambda profile, data, device, quiet: profile.seeds)
    monkeypatch.setattr(study, "run_study", lambda *args: pytest.fail("--train-only measured something"))
    assert main(["study", "--profile", "paper", "--seeds", "3,4", "--jobs", "2", "--train-only", "--quiet"]) == 0
    assert trained == [((3, 4), 2)]
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 8 and f"{finished} (finished)" in printed
    assert f"{tmp_path / 'resnet20_mish_seed4.pt'} (not finished)" in printed
    assert main(["study", "--train-only"]) == 2  # the quick profile trains nothing
    assert "use --profile paper" in capsys.readouterr().err
    assert main(["study", "--study", "depth", "--profile", "paper", "--train-only"]) == 2
