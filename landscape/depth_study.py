"""The depth study (issue 15): do deep fully connected networks keep training with Mish when they
fail with ReLU? Accuracy, divergence and gradients against depth, and the landscapes of the
shallowest and deepest networks of each activation.

Stage: orchestration, like `study.py`: every step calls the library function that owns it and
skips or resumes work already on disk. The networks are `models.MLP` (L hidden layers of equal
width, each Linear → BatchNorm → activation → dropout), trained by `train.train` with RMSProp on
one recipe for all; training records divergence and per-layer gradient norms itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .activations import display_name
from .checkpoint import load_checkpoint, read_checkpoint
from .datasets import DatasetSpec, load_split
from .errors import LandscapeError, require_choice
from .evaluate import correct_per_example, prepare_inputs
from .files import atomic_write, file_sha256
from .findings import CLAIMS, slice_values
from .metrics import MetricsConfig, checkpoint_metrics, run_metrics
from .plots import PlotOptions, plot_comparison, save
from .runtime import resolve_device
from .sharpness import SharpnessConfig, summarise
from .slice_metrics import has_second_minimum
from .stats import Comparison, compare, describe, unpaired_difference, verdict
from .storage import read_surface
from .study import STUDY_ACTIVATIONS
from .study_figures import depth_accuracy_figure, depth_training_figure, layer_diagnostics_figure, read_training_log
from .surface import SurfaceConfig, finished_surface, run_surface
from .surface_metrics import DEFAULT_THRESHOLDS, finite_values
from .tables import format_estimate, markdown_table, write_rows
from .train import RunPaths, TrainConfig, already_finished, train_side_by_side

CHANCE = 0.1  # ten balanced classes
LEFT_CHANCE = 0.2  # best test accuracy below this: the run never really left chance level


@dataclass(frozen=True)
class DepthProfile:
    """What the depth sweep trains and measures."""

    name: str
    depths: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: int
    train_samples: int | None
    width: int
    dropout: float
    lr: float  # RMSProp, no momentum, no weight decay, cosine schedule, batch 128: the same for every run
    checkpoint_dir: str
    output_dir: str
    grid: str  # 2-D surfaces of the shallowest and deepest network of each activation (paper: ±4, since
    # these BatchNorm MLPs are flat on ±1: the loss rises by 0.1 at α = ±1 and by 0.5 near ±2 at depth 15)
    samples: int
    directions: int  # random slices of those networks
    slice_grid: str
    repeat_depths: tuple[int, ...] = ()  # where the activations separate: trained again with repeat_seeds
    repeat_seeds: tuple[int, ...] = (1, 2)
    dataset: str = "cifar10"  # one of TEN_CLASS_SETS
    augment: bool = True  # crop and flip: right for CIFAR-10, not for digits


TEN_CLASS_SETS = ("cifar10", "mnist", "fashion_mnist", "svhn")  # chance level is 10 % on every one


DEPTH_PROFILES = {
    "paper": DepthProfile(name="paper", depths=(15, 17, 19, 21, 23, 25), seeds=(0,), epochs=50, train_samples=None,
                          width=500, dropout=0.25, lr=1e-3, checkpoint_dir="checkpoints/depth",
                          output_dir="figures/depth", grid="-4:4:33", samples=1000, directions=20,
                          slice_grid="-4:4:41"),
    "quick": DepthProfile(name="quick", depths=(2, 6), seeds=(0,), epochs=2, train_samples=2000, width=64,
                          dropout=0.25, lr=1e-3, checkpoint_dir="runs/quick_depth/checkpoints",
                          output_dir="runs/quick_depth", grid="-1:1:7", samples=200, directions=3,
                          slice_grid="-1:1:9"),
}


def on_dataset(profile: DepthProfile, dataset: str, augment: bool) -> DepthProfile:
    """The profile on another ten-class set (the paper's MNIST, say), in folders of its own."""
    require_choice("depth study dataset", dataset, TEN_CLASS_SETS)
    if dataset == "cifar10":
        return replace(profile, augment=augment)
    return replace(profile, dataset=dataset, augment=augment, checkpoint_dir=f"{profile.checkpoint_dir}_{dataset}",
                   output_dir=f"{profile.output_dir}_{dataset}")


def depth_checkpoint(profile: DepthProfile, depth: int, name: str, seed: int) -> Path:
    suffix = "" if seed == 0 else f"_seed{seed}"
    return Path(profile.checkpoint_dir) / f"mlp{depth}_{name}{suffix}.pt"


def sweep_plan(profile: DepthProfile) -> list[tuple[int, int]]:
    """(seed, depth) in training order, a whole depth (all four activations) at a time. Without
    repeats: every depth for the profile's seeds, seed by seed, shallow to deep. With repeats the
    decisive runs come first, so a sweep spread over sessions reaches its verdict before its
    curve is complete: the first seeds at the repeat depths, then the repeat seeds there, then the
    other depths."""
    first = [(seed, depth) for seed in profile.seeds for depth in profile.depths]
    repeats = [(seed, depth) for seed in profile.repeat_seeds if seed not in profile.seeds
               for depth in profile.repeat_depths]
    decisive = [run for run in first if run[1] in profile.repeat_depths]
    return decisive + repeats + [run for run in first if run not in decisive]


def training_runs(profile: DepthProfile, data: str | None, device: str, quiet: bool) -> list[TrainConfig]:
    """Every run of the sweep, in `sweep_plan` order, the four activations at each (seed, depth)."""
    return [TrainConfig(out=str(depth_checkpoint(profile, depth, name, seed)), data=data, architecture="mlp",
                        depth=depth, width=profile.width, dropout=profile.dropout, activation=name,
                        activation_params=params, dataset=profile.dataset, augment=profile.augment,
                        epochs=profile.epochs, optimizer="rmsprop", lr=profile.lr,
                        momentum=0.0, weight_decay=0.0, seed=seed, train_samples=profile.train_samples,
                        device=device, quiet=quiet)
            for seed, depth in sweep_plan(profile) for name, params in STUDY_ACTIVATIONS.items()]


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
    it gets right) and write its record."""
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


def divergence_table(rows: list[dict]) -> str:
    """Activation × depth: the final test accuracy, or what went wrong."""
    def cell(r: dict) -> str:
        if r["diverged_epoch"] is not None:
            return f"diverged (epoch {r['diverged_epoch']})"
        return f"{100 * r['test_acc']:.1f}" + (" (chance)" if r["never_left_chance"] else "")
    depths = sorted({r["depth"] for r in rows})
    table = [{"activation": display_name(name, params),
              **{f"L={d}": "; ".join(cell(r) for r in rows if r["activation"] == name and r["depth"] == d)
                 for d in depths}} for name, params in STUDY_ACTIVATIONS.items()]
    return markdown_table(table)


def landscape_file(config: SurfaceConfig, record: dict) -> Path:
    """The finished file of this run's checkpoint (the SHA-256 in its record) where there is one,
    without planning it again; else `run_surface` from the checkpoint, which must be on disk (the
    sweep's are not committed)."""
    finished = finished_surface(config, record["checkpoint_sha256"])
    if finished is not None:
        return finished
    if not Path(config.checkpoint).exists():
        raise LandscapeError(f"{config.checkpoint} is not on disk and {config.out} is not its finished "
                             f"surface: delete {record_path(config.checkpoint)} and rerun to train it again")
    return run_surface(config)


def is_end(run: TrainConfig, profile: DepthProfile) -> bool:
    """Whether the study draws this run's landscape: the first seed's shallowest and deepest networks."""
    return run.seed == profile.seeds[0] and run.depth in (min(profile.depths), max(profile.depths))


def end_landscape(run: TrainConfig, record: dict, profile: DepthProfile, data: str | None, device: str,
                  quiet: bool) -> tuple[Path, Path]:
    """The 2-D surface and the random slices of one end network, on the study's images: computed
    (or resumed) from its checkpoint, else read finished. The study makes them as soon as the run
    is recorded, so the checkpoint never has to outlive its session. Directions are kept as seeds
    and checksums: a plane's two would take 40–60 MB."""
    surface = landscape_file(SurfaceConfig(
        checkpoint=run.out, out=str(Path(profile.output_dir) / "surfaces" / f"{Path(run.out).stem}.h5"), data=data,
        x=profile.grid, y=profile.grid, samples=profile.samples, dataset=DatasetSpec(profile.dataset),
        store_directions=False, device=device, quiet=quiet), record)
    slices = SharpnessConfig(checkpoints=(run.out,), out_dir=str(Path(profile.output_dir) / "sharpness"), data=data,
                             dataset=DatasetSpec(profile.dataset), directions=profile.directions, x=profile.slice_grid,
                             samples=profile.samples, device=device, quiet=quiet)
    return surface, landscape_file(slices.surface_config(run.out), record)


def landscapes(ends: dict[tuple[str, int], tuple[TrainConfig, dict]], profile: DepthProfile, data: str | None,
               device: str, quiet: bool) -> tuple[list[Path], list[dict], list[str]]:
    """The shallowest and deepest network of each activation (`ends`: (activation, depth) → its
    first seed's run and record): one comparison figure of their surfaces per depth on shared
    levels; a row per network of the surface's roughness, local minima and width, and the
    slices' widths and curvature over directions and how many cross a second basin (a second
    local minimum below their minimum + 1); and the slices' comparisons (`landscape_comparisons`)."""
    out = Path(profile.output_dir)
    depths = (min(profile.depths), max(profile.depths))
    chosen = [(name, d) for d in depths for name in STUDY_ACTIVATIONS]
    files = {key: end_landscape(*ends[key], profile, data, device, quiet) for key in chosen}
    planes = run_metrics(MetricsConfig(surfaces=tuple(str(files[key][0]) for key in chosen)))
    bottom = min(r["minimum"] for r in planes)
    options = PlotOptions(formats=("png", "pdf"), width=6.9, dpi=200, vmin=bottom, vmax=bottom + 5)
    written = [p for d in depths for p in plot_comparison([files[(name, d)][0] for name in STUDY_ACTIVATIONS],
                                                          out / f"landscape_depth_{d}", options)]
    slices = [summarise(files[key][1], "train_loss", DEFAULT_THRESHOLDS) for key in chosen]
    write_rows(slices, out / "sharpness" / "summary.json", out / "sharpness" / "summary.csv")
    second = [sum(has_second_minimum(z) for z in finite_values(read_surface(files[key][1]), "train_loss"))
              for key in chosen]
    rows = [{"activation": display_name(name, STUDY_ACTIVATIONS[name]), "depth": d, "surface_minimum": plane["minimum"],
             "surface_roughness": plane["roughness"], "surface_local_minima": plane["local_minima"],
             "surface_nonconvex_fraction": plane["nonconvex_fraction"],
             "surface_width_radius_0.5": plane["width_radius_0.5"],
             **{f"slice_{key}{end}": sl[f"{key}{end}"] for key in ("width_0.5", "curvature")
                for end in ("", "_low", "_high")}, "slice_censored_0.5": sl["censored_0.5"],
             "slices_with_second_minimum": n, "slices": sl["directions"]}
            for (name, d), plane, sl, n in zip(chosen, planes, slices, second)]
    by_depth = {d: slice_values({name: [files[(name, d)][1]] for name in STUDY_ACTIVATIONS}) for d in depths}
    return written, rows, landscape_comparisons(by_depth)


LANDSCAPE_MEASURES = ("width_0.5", "curvature")  # of the random slices, compared at and across the ends


def landscape_comparisons(slices: dict[int, dict[str, dict[str, np.ndarray]]]) -> list[str]:
    """From the end networks' random slices ({depth: measure → activation → [seeds, directions]}):
    Mish against each activation at each end, paired by direction (one depth's networks share
    their direction seeds); each activation's change from the shallow end to the deep one (Li et
    al.: sharper with depth); and Mish's change minus each other's (positive for width where
    Mish's basin narrows less). Across depths the weight spaces differ, so those are unpaired."""
    shallow, deep = min(slices), max(slices)
    lines = []
    for measure in LANDSCAPE_MEASURES:
        sign = CLAIMS[measure][1]  # the paper's: Mish wider (+1), flatter (−1)
        at = {d: slices[d][measure] for d in (shallow, deep)}
        lines += [f"- L={d}: {describe(c)}" for d in (shallow, deep) for c in compare(measure, at[d], "mish", sign)]
        for name, params in STUDY_ACTIVATIONS.items():
            e = unpaired_difference(at[deep][name], at[shallow][name])
            way = {0: "no clear change", sign: "wider" if sign > 0 else "flatter",
                   -sign: "narrower" if sign > 0 else "sharper"}[e.excludes_zero()]
            lines.append(f"- {display_name(name, params)}: {measure} L={deep} − L={shallow} = {e.mean:.3g} "
                         f"[{e.low:.3g}, {e.high:.3g}] (unpaired, over {e.levels}): {way} with depth")
        for other in (n for n in STUDY_ACTIVATIONS if n != "mish"):
            e = unpaired_difference(at[deep]["mish"] - at[deep][other], at[shallow]["mish"] - at[shallow][other])
            c = Comparison(f"{measure} change L={shallow}→{deep}", "mish", other, e, sign, verdict(e, sign), "unpaired")
            lines.append(f"- {describe(c)}")
    return lines


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


def train_and_record(runs: list[TrainConfig], profile: DepthProfile, data: str | None, device: str, quiet: bool,
                     jobs: int) -> list[dict]:
    """Every run's record, in the order of `runs`: read where it is on disk, else written as soon as
    its run is trained, with an end network's landscape after it (so a sweep stopped later keeps
    both, without the checkpoint). An end recorded earlier gets its landscape before any training,
    so a missing checkpoint stops the sweep at once rather than after hours."""
    known = {c.out: read_record(c) for c in runs}

    def record(config: TrainConfig) -> None:
        known[config.out] = record_run(config, profile, data, device)
        if is_end(config, profile):
            end_landscape(config, known[config.out], profile, data, device, quiet)
    for config in runs:
        if known[config.out] is None and already_finished(RunPaths.beside(config.out), config):
            record(config)  # trained by an earlier call that stopped before recording it
        elif known[config.out] is not None and is_end(config, profile):
            end_landscape(config, known[config.out], profile, data, device, quiet)
    train_side_by_side([c for c in runs if known[c.out] is None], jobs, quiet, on_trained=record)
    return [known[c.out] for c in runs]


def depth_figures(rows: list[dict], first_seed: list[tuple[TrainConfig, dict]], ends: list[tuple[TrainConfig, dict]],
                  out: Path) -> list[Path]:
    """Accuracy against depth (all seeds), the training curves at every depth (first seed), and the
    layer-by-layer diagnostics of the shallowest and deepest networks."""
    options = PlotOptions(formats=("png", "pdf"), width=6.9, dpi=200)
    logs: dict[int, dict[str, list[dict]]] = {}
    for run, _ in first_seed:
        logs.setdefault(run.depth, {})[run.activation] = read_training_log(RunPaths.beside(run.out).log)
    return [*save(depth_accuracy_figure(rows, STUDY_ACTIVATIONS, options, CHANCE), out / "accuracy_vs_depth", options),
            *save(depth_training_figure(logs, STUDY_ACTIVATIONS, options), out / "training_curves", options),
            *save(layer_diagnostics_figure(layer_diagnostics(ends), STUDY_ACTIVATIONS, options), out / "layers",
                  options)]


def correct_by_image(records: list[dict], depth: int) -> dict[str, dict[int, np.ndarray]]:
    """{activation: {seed: 100 × (test image right), per image}} of the runs recorded at `depth`."""
    return {name: {r["row"]["seed"]: 100.0 * (np.frombuffer(r["test_correct"].encode(), np.uint8) == ord("1"))
                   for r in records if r["row"]["depth"] == depth and r["row"]["activation"] == name}
            for name in STUDY_ACTIVATIONS}


def common_seeds(*by_seed: dict[int, np.ndarray]) -> list[int]:
    return sorted(set.intersection(*(set(runs) for runs in by_seed)))


def accuracy_comparisons(records: list[dict], depths: tuple[int, ...]) -> list[str]:
    """Mish against each activation at every depth: the paired difference in test accuracy (%),
    image by image on the same test set, seed by seed. With one seed the interval is the test
    set's sampling noise alone; with several it is over seeds."""
    lines = []
    for depth in depths:
        at = correct_by_image(records, depth)
        seeds = common_seeds(*at.values())  # recorded for all four
        if seeds:
            values = {name: np.stack([runs[s] for s in seeds]) for name, runs in at.items()}
            lines += [f"- L={depth}: {describe(c)}"
                      for c in compare("test_acc", values, "mish", claimed_sign=+1, replicates="test images")]
    return lines


def depth_change_comparisons(records: list[dict], depths: tuple[int, ...]) -> list[str]:
    """The paper's claim itself: Mish keeps its accuracy as depth grows while the others lose theirs.
    Per activation the change in test accuracy from the shallowest depth to the deepest recorded
    for all four (deep − shallow, image by image, seed by seed), and Mish's change minus each
    other's: a difference in differences, positive where Mish loses less."""
    shallow = correct_by_image(records, depths[0])
    for depth in reversed(depths[1:]):
        deep = correct_by_image(records, depth)
        seeds = common_seeds(*shallow.values(), *deep.values())
        if seeds:
            break
    else:
        return []
    change = {name: np.stack([deep[name][s] - shallow[name][s] for s in seeds]) for name in STUDY_ACTIVATIONS}
    return [f"- L={depths[0]} → L={depth}: {describe(c)}"
            for c in compare("test_acc change", change, "mish", claimed_sign=+1, replicates="test images")]


def depth_report(records: list[dict], depths: tuple[int, ...], landscape_rows: list[dict],
                 landscape_lines: list[str]) -> str:
    """depth.md: the outcome table, the deepest depth each activation trains to, Mish's paired
    comparisons of test accuracy at every depth and of its change with depth, and the landscapes
    of the ends with their slices' comparisons (`landscape_lines`)."""
    rows = [r["row"] for r in records]
    names = {name: display_name(name, params) for name, params in STUDY_ACTIVATIONS.items()}
    def not_yet(name: str) -> str:  # with repeats the sweep skips ahead to its deepest depth
        missing = [f"L={d}" for d in depths if not any(r["activation"] == name and r["depth"] == d for r in rows)]
        return f" (not recorded yet: {', '.join(missing)})" if missing else ""
    trained_to = [f"- {names[name]}: " + (f"every run trains up to L={depth}" if depth is not None else
                                          "no depth trains") + not_yet(name)
                  for name, depth in deepest_trained(rows).items()]
    sections = [("Final test accuracy (%) by activation and depth, or how the run failed", divergence_table(rows)),
                (f"Deepest depth that trains (no divergence, best test accuracy ≥ {100 * LEFT_CHANCE:.0f} %)",
                 "\n".join(trained_to)),
                ("Mish against each activation at every depth (test accuracy, points)",
                 "\n".join(accuracy_comparisons(records, depths))),
                ("Mish's change in test accuracy with depth against each activation's (points; positive: "
                 "Mish loses less)", "\n".join(depth_change_comparisons(records, depths)))]
    if landscape_rows:
        shown = [{"activation": r["activation"], "depth": r["depth"], "surface minimum": r["surface_minimum"],
                  "roughness": r["surface_roughness"], "local minima": r["surface_local_minima"],
                  "non-convex share": r["surface_nonconvex_fraction"],
                  "radius Δ=0.5": r["surface_width_radius_0.5"],
                  **{f"slice {label}": format_estimate(r[f"slice_{key}"], r[f"slice_{key}_low"],
                                                       r[f"slice_{key}_high"])
                     for key, label in (("width_0.5", "width Δ=0.5"), ("curvature", "curvature"))},
                  "censored": r["slice_censored_0.5"],
                  "second minimum": f"{r['slices_with_second_minimum']} of {r['slices']}"} for r in landscape_rows]
        sections.append(("Landscapes of the shallowest and deepest networks", markdown_table(shown, digits=3)))
        sections.append(("Their random slices compared: Mish against each activation at each end, each "
                         "activation's change with depth, and Mish's change against each other's",
                         "\n".join(landscape_lines)))
    return "# Depth study\n\n" + "\n\n".join(f"## {title}\n\n{body}" for title, body in sections if body) + "\n"


def recorded_so_far(runs: list[TrainConfig]) -> tuple[list[TrainConfig], list[dict]]:
    """The runs of the sweep recorded so far, with their records (for results while it runs)."""
    pairs = [(c, r) for c, r in ((c, read_record(c)) for c in runs) if r is not None]
    if not pairs:
        raise LandscapeError("no run of this sweep is recorded yet: run the study without --no-train first")
    return [c for c, _ in pairs], [r for _, r in pairs]


def run_depth_study(profile: str | DepthProfile, data: str | None = None, device: str = "auto",
                    quiet: bool = False, jobs: int = 1, train: bool = True) -> list[str]:
    """Train the sweep (`jobs` runs side by side), measure every run, draw accuracy, training curves
    and layer diagnostics against depth and the landscapes of the ends, and write Mish's paired
    comparisons of test accuracy at every depth; returns the terminal summary. `train` False: the
    same from the runs recorded so far, training nothing (the landscapes once every end is recorded)."""
    if isinstance(profile, str):
        require_choice("depth profile", profile, tuple(DEPTH_PROFILES))
        profile = DEPTH_PROFILES[profile]
    out = Path(profile.output_dir)
    planned = training_runs(profile, data, device, quiet)
    if train:
        runs, records = planned, train_and_record(planned, profile, data, device, quiet, jobs)
    else:
        runs, records = recorded_so_far(planned)
    rows = [r["row"] for r in records]
    write_rows(rows, out / "runs.json", out / "runs.csv")
    first_seed = [(c, r) for c, r in zip(runs, records) if c.seed == profile.seeds[0]]
    ends = {(c.activation, c.depth): (c, r) for c, r in first_seed if is_end(c, profile)}
    figures = depth_figures(rows, first_seed, list(ends.values()), out)
    written, landscape_rows, landscape_lines = landscapes(ends, profile, data, device, quiet) \
        if len(ends) == 2 * len(STUDY_ACTIVATIONS) else ([], [], [])
    if landscape_rows:
        write_rows(landscape_rows, out / "landscapes.json", out / "landscapes.csv")
    with atomic_write(out / "depth.md") as tmp:
        tmp.write_text(depth_report(records, profile.depths, landscape_rows, landscape_lines))
    deepest = max(r["depth"] for r in rows)
    return [f"runs: {out / 'runs.json'}" + ("" if len(runs) == len(planned) else
                                           f" ({len(runs)} of the sweep's {len(planned)} runs, recorded so far)")
            + f"; tables and comparisons: {out / 'depth.md'}",
            f"figures: {', '.join(str(f) for f in figures + written if f.suffix == '.png')}",
            *[f"  {display_name(r['activation'])} L={deepest}: test acc {100 * r['test_acc']:.1f} %"
              + (f", diverged at epoch {r['diverged_epoch']}" if r["diverged_epoch"] is not None else "")
              for r in rows if r["depth"] == deepest and r["seed"] == profile.seeds[0]]]
