"""The depth study's records: one JSON per trained network (its row, dead units per layer, which
test images it classifies correctly), written once after training and read back instead of
measuring again; which depth is the deepest that still trains.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError
from landscape.evaluation.evaluate import correct_per_example, prepare_inputs
from landscape.files import atomic_write, file_sha256
from landscape.metrics.adaptive_sharpness import measured_sharpness
from landscape.metrics.checkpoint import checkpoint_metrics
from landscape.metrics.options import MetricsConfig
from landscape.runtime import resolve_device
from landscape.sources.checkpoint import load_checkpoint, read_checkpoint
from landscape.sources.datasets import load_split
from landscape.sources.specs import DatasetSpec
from landscape.studies.depth.plan import LEFT_CHANCE, DepthProfile
from landscape.studies.mish_plan import STUDY_ACTIVATIONS
from landscape.training.config import RunPaths, TrainConfig
from landscape.viz.training_curves import read_training_log


def record_path(checkpoint: str | Path) -> Path:
    """A run's record beside its checkpoint: its outcome row, dead units per layer, recipe and
    checkpoint SHA-256. The sweep's checkpoints (20–30 MB each, 40 of them) stay out of git; the
    records, logs and the finished landscapes are committed, and the study stands on them without
    the checkpoints."""
    return Path(checkpoint).with_suffix(".run.json")


RECORD_KEYS = frozenset({"row", "dead_units_per_layer", "test_correct", "recipe", "checkpoint_sha256"})


def read_record(config: TrainConfig) -> dict | None:
    """The run's record if it describes this recipe and the checkpoint on disk (or there is none)
    and holds every measurement this version records (an older record is measured again)."""
    path = record_path(config.out)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    if not RECORD_KEYS <= set(record) or not config.has_recipe(record["recipe"]):
        return None
    if Path(config.out).exists() and file_sha256(config.out) != record["checkpoint_sha256"]:
        return None
    return record


def test_correct(checkpoint: str, dataset: DatasetSpec, data: str | None, device: str) -> str:
    """Which test images the checkpoint classifies correctly, as a string of 0s and 1s in the test
    set's order: the record keeps it (10 kB), so paired accuracy comparisons need no checkpoint."""
    target = resolve_device(device)
    model = load_checkpoint(checkpoint)[0].to(target)
    test = load_split(dataset, data, "test", quiet=True)
    inputs = prepare_inputs(test.images, target, test.mean, test.std)
    correct = correct_per_example(model, inputs, test.labels.to(inputs.device))
    return "".join("1" if c else "0" for c in correct.tolist())


def record_run(config: TrainConfig, profile: DepthProfile, data: str | None, device: str) -> dict:
    """Measure a trained run on its checkpoint (dead units on the study's images, which test images
    it gets right, and its adaptive sharpness where the profile asks) and write its record."""
    dataset = DatasetSpec(profile.dataset)
    if read_checkpoint(config.out).metadata.get("diverged_epoch") is not None:
        # NaN weights: no unit can be measured, and a NaN output classifies no image correctly
        dead, per_layer = {}, []
        correct = "0" * len(load_split(dataset, data, "test", quiet=True))
    else:
        measured = checkpoint_metrics(config.out, MetricsConfig(checkpoints=(config.out,), data=data,
                                                                dataset=dataset, samples=profile.samples,
                                                                dead_units=True, device=device, quiet=True))
        dead, per_layer = measured.flat(), [d.never_positive for d in measured.dead]
        correct = test_correct(config.out, dataset, data, device)
    record = {"row": run_row(Path(config.out), config.depth, config.seed, dead),
              "dead_units_per_layer": per_layer,
              "test_correct": correct,
              "recipe": config.recipe(), "checkpoint_sha256": file_sha256(config.out)}
    if profile.sharpness and record["row"]["diverged_epoch"] is None:
        sharpness = profile.sharpness.config((config.out,), data, device, True, dataset)
        record["adaptive_sharpness"] = measured_sharpness(config.out, sharpness, resolve_device(device))
    with atomic_write(record_path(config.out)) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return record


def run_row(path: Path, depth: int, seed: int, dead: dict) -> dict:
    """One run's outcome: accuracy, divergence, chance level, gradients at the ends of the network."""
    meta = read_checkpoint(path).metadata
    log = read_training_log(RunPaths.beside(path).log)
    best = max((r["test_acc"] for r in log if np.isfinite(r["test_acc"])), default=float("nan"))
    first = log[0]
    row = {"activation": meta["activation"], "depth": depth, "seed": seed, "test_acc": meta["test_acc"],
           "best_test_acc": best, "diverged_epoch": meta.get("diverged_epoch"),
           "never_left_chance": bool(not best >= LEFT_CHANCE), "dead_units": dead.get("dead_never_positive")}
    for key in ("gradient_norms_init", "gradient_norms"):
        norms = list(first.get(key, {}).values())
        if norms:  # first hidden layer over the head: < 1 means the gradient fades towards the input
            row[f"{key}_first"], row[f"{key}_last"] = norms[0], norms[-1]
    return row


def trains(row: dict) -> bool:
    """Whether a run trained: no divergence and out of chance level."""
    return row["diverged_epoch"] is None and not row["never_left_chance"]


def deepest_trained(rows: list[dict]) -> dict[str, int | None]:
    """Per activation, the deepest depth up to which every run (every depth, every seed) trained."""
    deepest = {}
    for name in STUDY_ACTIVATIONS:
        runs = [r for r in rows if r["activation"] == name]
        failed = [r["depth"] for r in runs if not trains(r)]
        good = [d for d in {r["depth"] for r in runs} if not failed or d < min(failed)]
        deepest[name] = max(good, default=None)
    return deepest


def layer_diagnostics(runs: list[tuple[TrainConfig, dict]]) -> dict[int, dict[str, dict[str, list[float]]]]:
    """depth → activation → gradient norms per weight tensor (at initialisation, after epoch 1, from
    the training log) and dead units per hidden layer (from the record), for the figure."""
    layers: dict[int, dict] = {}
    for run, record in runs:
        first = read_training_log(RunPaths.beside(run.out).log)[0]
        layers.setdefault(run.depth, {})[run.activation] = {
            "gradient_norms_init": list(first.get("gradient_norms_init", {}).values()),
            "gradient_norms": list(first.get("gradient_norms", {}).values()),
            "dead_units": record["dead_units_per_layer"]}
    return layers


def correct_by_image(records: list[dict], depth: int) -> dict[str, dict[int, np.ndarray]]:
    """{activation: {seed: 100 × (test image right), per image}} of the runs recorded at `depth`."""
    return {name: {r["row"]["seed"]: 100.0 * (np.frombuffer(r["test_correct"].encode(), np.uint8) == ord("1"))
                   for r in records if r["row"]["depth"] == depth and r["row"]["activation"] == name}
            for name in STUDY_ACTIVATIONS}


def common_seeds(*by_seed: dict[int, np.ndarray]) -> list[int]:
    return sorted(set.intersection(*(set(runs) for runs in by_seed)))


def recorded_so_far(runs: list[TrainConfig]) -> tuple[list[TrainConfig], list[dict]]:
    """The runs of the sweep recorded so far, with their records (for results while it runs)."""
    pairs = [(c, r) for c, r in ((c, read_record(c)) for c in runs) if r is not None]
    if not pairs:
        raise LandscapeError("no run of this sweep is recorded yet: run the study without --no-train first")
    return [c for c, _ in pairs], [r for _, r in pairs]
