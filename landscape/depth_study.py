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
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .activations import display_name
from .checkpoint import read_checkpoint
from .errors import LandscapeError, require_choice
from .files import atomic_write, file_sha256
from .metrics import MetricsConfig, run_metrics
from .plots import STYLE, PlotOptions, plot_comparison, save
from .sharpness import SharpnessConfig, summarise
from .stats import compare, describe
from .study import STUDY_ACTIVATIONS
from .surface import SurfaceConfig, finished_surface, run_surface
from .tables import markdown_table, write_rows
from .train import RunPaths, TrainConfig, train_side_by_side

CHANCE = 0.1  # CIFAR-10: ten balanced classes
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
    grid: str  # 2-D surfaces of the shallowest and deepest network of each activation
    samples: int
    directions: int  # random slices of those networks
    slice_grid: str
    repeat_depths: tuple[int, ...] = ()  # where the activations separate: trained again with repeat_seeds
    repeat_seeds: tuple[int, ...] = (1, 2)


DEPTH_PROFILES = {
    "paper": DepthProfile(name="paper", depths=(15, 17, 19, 21, 23, 25), seeds=(0,), epochs=50, train_samples=None,
                          width=500, dropout=0.25, lr=1e-3, checkpoint_dir="checkpoints/depth",
                          output_dir="figures/depth", grid="-1:1:31", samples=1000, directions=20,
                          slice_grid="-1:1:21"),
    "quick": DepthProfile(name="quick", depths=(2, 6), seeds=(0,), epochs=2, train_samples=2000, width=64,
                          dropout=0.25, lr=1e-3, checkpoint_dir="runs/quick_depth/checkpoints",
                          output_dir="runs/quick_depth", grid="-1:1:7", samples=200, directions=3,
                          slice_grid="-1:1:9"),
}


def depth_checkpoint(profile: DepthProfile, depth: int, name: str, seed: int) -> Path:
    suffix = "" if seed == 0 else f"_seed{seed}"
    return Path(profile.checkpoint_dir) / f"mlp{depth}_{name}{suffix}.pt"


def sweep_plan(profile: DepthProfile) -> list[tuple[int, int]]:
    """(seed, depth) in training order: every depth for the profile's seeds, seed by seed, shallow to
    deep (an interrupted sweep has whole depths done for every activation), then the repeat seeds
    at the repeat depths."""
    plan = [(seed, depth) for seed in profile.seeds for depth in profile.depths]
    return plan + [(seed, depth) for seed in profile.repeat_seeds if seed not in profile.seeds
                   for depth in profile.repeat_depths]


def training_runs(profile: DepthProfile, data: str | None, device: str, quiet: bool) -> list[TrainConfig]:
    """Every run of the sweep, in `sweep_plan` order, the four activations at each (seed, depth)."""
    return [TrainConfig(out=str(depth_checkpoint(profile, depth, name, seed)), data=data, architecture="mlp",
                        depth=depth, width=profile.width, dropout=profile.dropout, activation=name,
                        activation_params=params, epochs=profile.epochs, optimizer="rmsprop", lr=profile.lr,
                        momentum=0.0, weight_decay=0.0, seed=seed, train_samples=profile.train_samples,
                        device=device, quiet=quiet)
            for seed, depth in sweep_plan(profile) for name, params in STUDY_ACTIVATIONS.items()]


def record_path(checkpoint: str | Path) -> Path:
    """A run's record beside its checkpoint: its outcome row, recipe and checkpoint SHA-256. The
    sweep's checkpoints (20–30 MB each, 40 of them) stay out of git; the records, logs and the
    finished landscapes are committed, and the study stands on them without the checkpoints."""
    return Path(checkpoint).with_suffix(".run.json")


def read_record(config: TrainConfig) -> dict | None:
    """The run's record if it describes this recipe and the checkpoint on disk (or there is none)."""
    path = record_path(config.out)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    if not config.has_recipe(record.get("recipe")):
        return None
    if Path(config.out).exists() and file_sha256(config.out) != record.get("checkpoint_sha256"):
        return None
    return record


def record_run(config: TrainConfig, profile: DepthProfile, data: str | None, device: str) -> dict:
    """Measure a trained run on its checkpoint (dead units on the study's images) and write its record."""
    dead = run_metrics(MetricsConfig(checkpoints=(config.out,), data=data, samples=profile.samples,
                                     dead_units=True, device=device, quiet=True))[0]
    record = {"row": run_row(Path(config.out), config.depth, config.seed, dead),
              "recipe": config.recipe(), "checkpoint_sha256": file_sha256(config.out)}
    with atomic_write(record_path(config.out)) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return record


def run_row(path: Path, depth: int, seed: int, dead: dict) -> dict:
    """One run's outcome: accuracy, divergence, chance level, gradients at the ends of the network."""
    meta = read_checkpoint(path).metadata
    log = [json.loads(line) for line in RunPaths.beside(path).log.read_text().splitlines()]
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


def depth_figure(rows: list[dict], options: PlotOptions) -> Figure:
    """Test accuracy against depth, a line per activation (mean over seeds), the seeds' range as a band."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.6))
        ax = fig.subplots()
        for name, params in STUDY_ACTIVATIONS.items():
            depths = sorted({r["depth"] for r in rows if r["activation"] == name})
            per = [[100 * r["test_acc"] for r in rows if r["activation"] == name and r["depth"] == d] for d in depths]
            ax.plot(depths, [np.nanmean(v) for v in per], "o-", label=display_name(name, params))
            ax.fill_between(depths, [np.nanmin(v) for v in per], [np.nanmax(v) for v in per], alpha=0.2)
        ax.axhline(100 * CHANCE, color="gray", lw=0.8, ls=":", label="chance")
        ax.set_xlabel("hidden layers")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(frameon=False)
    return fig


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
    """`run_surface`; where the checkpoint is not on disk (the sweep's are not committed), its
    finished file instead, which must be of that checkpoint (the SHA-256 in its record)."""
    if Path(config.checkpoint).exists():
        return run_surface(config)
    finished = finished_surface(config, record["checkpoint_sha256"])
    if finished is None:
        raise LandscapeError(f"{config.checkpoint} is not on disk and {config.out} is not its finished "
                             f"surface: delete {record_path(config.checkpoint)} and rerun to train it again")
    return finished


def landscapes(ends: dict[tuple[str, int], tuple[TrainConfig, dict]], profile: DepthProfile, data: str | None,
               device: str, quiet: bool) -> list[Path]:
    """2-D surfaces and random slices of the shallowest and deepest network of each activation
    (`ends`: (activation, depth) → its first seed's run and record), on the same images; one
    comparison figure per depth on shared levels. Directions are kept as seeds and checksums: a
    plane's two would take 40–60 MB."""
    out = Path(profile.output_dir)
    depths = (min(profile.depths), max(profile.depths))
    surfaces = {}
    for d in depths:
        surfaces[d] = [landscape_file(SurfaceConfig(
            checkpoint=run.out, out=str(out / "surfaces" / f"{Path(run.out).stem}.h5"), data=data, x=profile.grid,
            y=profile.grid, samples=profile.samples, store_directions=False, device=device, quiet=quiet), record)
            for run, record in (ends[(name, d)] for name in STUDY_ACTIVATIONS)]
    rows = run_metrics(MetricsConfig(surfaces=tuple(str(p) for per in surfaces.values() for p in per)))
    bottom = min(r["minimum"] for r in rows)
    options = PlotOptions(formats=("png", "pdf"), width=6.9, dpi=200, vmin=bottom, vmax=bottom + 5)
    written = [p for d in depths for p in plot_comparison(surfaces[d], out / f"landscape_depth_{d}", options)]
    chosen = [ends[(name, d)] for d in depths for name in STUDY_ACTIVATIONS]
    config = SharpnessConfig(checkpoints=tuple(run.out for run, _ in chosen), out_dir=str(out / "sharpness"),
                             data=data, directions=profile.directions, x=profile.slice_grid,
                             samples=profile.samples, device=device, quiet=quiet)
    slices = [landscape_file(config.surface_config(run.out), record) for run, record in chosen]
    write_rows([summarise(p, "train_loss", config.thresholds) for p in slices],
               out / "sharpness" / "summary.json", out / "sharpness" / "summary.csv")
    return written


def run_depth_study(profile: str | DepthProfile, data: str | None = None, device: str = "auto",
                    quiet: bool = False, jobs: int = 1) -> list[str]:
    """Train the sweep (`jobs` runs side by side), measure every run, draw accuracy against depth,
    the landscapes of the ends, and Mish's paired comparisons of test accuracy at every depth;
    returns the terminal summary."""
    if isinstance(profile, str):
        require_choice("depth profile", profile, tuple(DEPTH_PROFILES))
        profile = DEPTH_PROFILES[profile]
    out = Path(profile.output_dir)
    runs = training_runs(profile, data, device, quiet)
    known = [read_record(c) for c in runs]
    train_side_by_side([c for c, r in zip(runs, known) if r is None], jobs, quiet)
    records = [r or record_run(c, profile, data, device) for c, r in zip(runs, known)]
    rows = [r["row"] for r in records]
    write_rows(rows, out / "runs.json", out / "runs.csv")
    options = PlotOptions(formats=("png", "pdf"), width=6.9, dpi=200)
    figures = save(depth_figure(rows, options), out / "accuracy_vs_depth", options)
    table = divergence_table(rows)
    comparisons = []
    for depth in profile.depths:
        values = {name: np.array([[100 * r["test_acc"]] for r in rows if r["activation"] == name
                                  and r["depth"] == depth]) for name in STUDY_ACTIVATIONS}
        comparisons += [f"L={depth}: {describe(c)}" for c in compare("test_acc", values, "mish", claimed_sign=+1)]
    with atomic_write(out / "depth.md") as tmp:
        tmp.write_text(table + "\n\n" + "\n".join(f"- {c}" for c in comparisons) + "\n")
    ends = {(c.activation, c.depth): (c, r) for c, r in zip(runs, records)
            if c.seed == profile.seeds[0] and c.depth in (min(profile.depths), max(profile.depths))}
    figures += landscapes(ends, profile, data, device, quiet)
    deepest = max(profile.depths)
    return [f"runs: {out / 'runs.json'}; table and comparisons: {out / 'depth.md'}",
            f"figures: {', '.join(str(f) for f in figures if f.suffix == '.png')}",
            *[f"  {display_name(r['activation'])} L={deepest}: test acc {100 * r['test_acc']:.1f} %"
              + (f", diverged at epoch {r['diverged_epoch']}" if r["diverged_epoch"] is not None else "")
              for r in rows if r["depth"] == deepest and r["seed"] == profile.seeds[0]]]
