import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from landscape import activation_factory, resnet, save_checkpoint
from landscape.metrics.adaptive_sharpness import sharpness_settings
from landscape.metrics.options import HessianOptions
from landscape.metrics.stats import pair_mean_jackknife
from landscape.sources.specs import model_metadata
from landscape.storage.surface_file import read_surface
from landscape.studies.anchors import (
    correlations,
    pooled_sharpness,
    run_anchors,
    seed_spectra,
    sharpness_by_activation,
    tau_table,
)
from landscape.studies.mish import model_metrics_all, surface_all
from landscape.studies.mish_plan import AnchorProfile, SharpnessBudget, StudyProfile


@pytest.fixture
def tiny_study(tmp_path):
    """Three seeds of two activations (tiny ResNets, untrained) and a profile that measures them small."""
    checkpoints = {}
    for name in ("relu", "mish"):
        for seed in (0, 1, 2):
            torch.manual_seed(10 * seed + len(name))
            path = tmp_path / "ck" / (f"resnet20_{name}.pt" if seed == 0 else f"seeds/resnet20_{name}_seed{seed}.pt")
            path.parent.mkdir(parents=True, exist_ok=True)
            checkpoints.setdefault(name, []).append(
                save_checkpoint(path, resnet(8, activation_factory(name)), model_metadata(8, name, {})))
    profile = StudyProfile(name="test", train=False, seeds=(0, 1, 2), epochs=1, train_samples=None, grid="-1:1:5",
                           samples=20, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           save_every=0, path_points=3, directions=2, slice_grid="-1:1:5", output_seeds=2,
                           output_resolution=10,
                           hessian=HessianOptions(top_k=1, starts=1, iterations=3, trace_samples=2, lanczos_steps=8,
                                                  samples=20),
                           anchors=AnchorProfile(connect_points=3, bn_samples=40,
                                                 sharpness=SharpnessBudget(samples=20, gap_samples=20, batch=10),
                                                 map_every=4, map_samples=10, map_steps=4, eigen_grid="-0.1:0.1:3",
                                                 eigen_samples=20, pooled_records=(str(tmp_path / "depth"),)))
    return checkpoints, profile


def test_the_anchors_measure_every_model_and_write_their_page(tiny_study, image_folder):
    checkpoints, profile = tiny_study
    data = str(image_folder)
    surfaces = surface_all([paths[0] for paths in checkpoints.values()], profile, data, "cpu", True)
    measured = model_metrics_all(checkpoints, profile, data, "cpu", True)
    spectra, planes = run_anchors(checkpoints, surfaces, measured, profile, data, "cpu", True)
    out = profile.output_dir
    tmp = Path(out)
    record = json.loads((tmp / "anchors.json").read_text())
    barriers = {name: {(a, b): v for a, b, v in rows} for name, rows in record["barriers"].items()}
    assert set(barriers["mish"]) == {(0, 1), (0, 2), (1, 2)}
    line = read_surface(tmp / "connect" / "resnet20_mish__resnet20_mish_seed1_line.h5")
    losses = line.values["train_loss"]
    assert barriers["mish"][(0, 1)] == pytest.approx(losses.max() - (losses[0] + losses[-1]) / 2)
    page = (tmp / "anchors.md").read_text()
    mean = pair_mean_jackknife(barriers["mish"])
    assert "## Loss barrier on the line between two seeds" in page and f"{mean.mean:.3g}"[:4] in page
    assert "3 pairs of 3 seeds (jackknife over seeds)" in page
    assert len(record["sharpness"]) == 6 and len(record["kendall"]) == 4  # no depth records: the ResNets alone
    assert {r["family"] for r in record["sharpness"]} == {"ResNet-20"}
    assert all(read_surface(s).curvature.complete for s in surfaces)
    assert [p["activation"] for p in record["planes"]] == ["relu", "mish"]
    for plane in record["planes"]:
        assert read_surface(plane["surface"]).header.direction_source == "hessian"
    assert planes == [Path(p["surface"]) for p in record["planes"]]
    assert set(spectra) == {"relu", "mish"} and len(spectra["mish"]["density_runs"]) == 3
    grid = np.asarray(spectra["mish"]["grid"])
    assert np.sum(spectra["mish"]["density"]) * (grid[1] - grid[0]) == pytest.approx(1, abs=1e-3)
    lambda_max = [r["hessian_detail"]["ritz_values"][-1] for r in measured["mish"]]
    assert spectra["mish"]["lambda_max_seeds"] == lambda_max


def test_seed_spectra_share_one_grid():
    rows = {"relu": [{"hessian_detail": {"ritz_values": [0.0, 1.0], "ritz_weights": [0.5, 0.5]}}],
            "mish": [{"hessian_detail": {"ritz_values": [-1.0, 3.0], "ritz_weights": [0.2, 0.8]}}]}
    spectra = seed_spectra(rows)
    assert spectra["relu"]["grid"] == spectra["mish"]["grid"]
    assert spectra["mish"]["negative_mass_seeds"] == [0.2] and spectra["relu"]["negative_mass_seeds"] == [0.0]
    assert spectra["relu"]["near_zero_mass_seeds"] == [0.5] and spectra["mish"]["lambda_min_seeds"] == [-1.0]
    tiny = seed_spectra({"relu": [{"hessian_detail": {"ritz_values": [-0.001, 0.001, 1.0],
                                                      "ritz_weights": [0.6, 0.3, 0.1]}}]})["relu"]
    assert tiny["negative_mass_seeds"] == [0.0] and tiny["near_zero_mass_seeds"] == [pytest.approx(0.9)]


def test_depth_records_join_the_sharpness_table_only_when_measured_alike(tmp_path):
    budget = SharpnessBudget(samples=20, gap_samples=20, batch=10)
    config = budget.config(("a.pt",), "data", "cpu", True)
    settings = {"checkpoint_sha256": "x", **sharpness_settings(config)}
    other = {**settings, "samples": 40}
    folder = tmp_path / "depth"
    folder.mkdir()
    for i, stored in enumerate([settings, other, None, settings, settings]):
        record = {"row": {}} if stored is None else {"row": {}, "adaptive_sharpness": {
            "settings": {**stored, "checkpoint_sha256": str(i)}, "row": {"source": f"mlp{i}.pt"}}}
        (folder / f"mlp{i}.run.json").write_text(json.dumps(record))
    rows = pooled_sharpness((str(folder), str(tmp_path / "absent")), config)
    assert [r["source"] for r in rows] == ["mlp0.pt", "mlp3.pt", "mlp4.pt"]  # other settings, or none: left out


def test_kendall_tau_per_family_and_over_all():
    def row(sharp, acc):
        return {"sharpness_average": sharp, "sharpness_worst": -sharp, "test_acc": acc, "generalization_gap": -acc}
    resnets = [row(1, 0.9), row(2, 0.8), row(3, 0.7)]  # sharper, worse: τ = −1 within the ResNets
    mlps = [row(10, 0.5), row(20, 0.6)]  # two MLPs: no τ of their own
    taus = {(t["networks"], t["measure"], t["against"]): t for t in correlations(resnets, mlps)}
    assert taus[("ResNet-20", "sharpness_average", "test_acc")]["tau"] == pytest.approx(-1)
    assert taus[("ResNet-20", "sharpness_worst", "test_acc")]["tau"] == pytest.approx(1)
    assert not any(key[0] == "depth MLP" for key in taus)
    pooled = taus[("all", "sharpness_average", "test_acc")]
    assert pooled["models"] == 5 and pooled["tau"] == pytest.approx(scipy_stats.kendalltau(
        [1, 2, 3, 10, 20], [0.9, 0.8, 0.7, 0.5, 0.6]).statistic)
    assert not any(t["networks"] == "all" for t in correlations(resnets, []))  # all = the ResNets: not repeated
    table = tau_table(correlations(resnets, mlps)).splitlines()
    assert table[0] == "| networks | measure | τ with test accuracy | τ with the generalisation gap |"
    assert table[2] == "| 3 ResNet-20 | average case | -1.00 (p = 0.33) | +1.00 (p = 0.33) |"
    assert table[5].startswith("| 5 all | worst case | ") and len(table) == 6


def test_sharpness_per_activation_is_a_t_interval_over_seeds_paired_by_seed():
    average = {"relu": [0.04, 0.05, 0.048], "mish": [0.03, 0.036, 0.035]}
    rows = [{"family": "ResNet-20", "activation": name, "sharpness_average": v, "sharpness_worst": 2 * v}
            for name, values in average.items() for v in values]
    rows.append({"family": "depth MLP", "activation": "relu", "sharpness_average": 9.0, "sharpness_worst": 9.0})
    means, differences = sharpness_by_activation(rows)
    relu = np.array(average["relu"])  # the MLP row is not a ResNet seed: left out
    half = scipy_stats.t.ppf(0.975, 2) * relu.std(ddof=1) / np.sqrt(3)
    assert (means["sharpness_average"]["relu"].low, means["sharpness_average"]["relu"].high) == pytest.approx(
        (relu.mean() - half, relu.mean() + half))
    paired = np.array(average["mish"]) - relu
    half = scipy_stats.t.ppf(0.975, 2) * paired.std(ddof=1) / np.sqrt(3)
    d = differences["sharpness_worst"]["relu"]
    assert (d.mean, d.low, d.high) == pytest.approx((2 * paired.mean(), 2 * (paired.mean() - half),
                                                     2 * (paired.mean() + half)))
