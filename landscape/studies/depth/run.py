"""The depth study end to end (`run_depth_study(profile)`): train the sweep side by side (resumable),
record every run, measure the end depths' landscapes, and write the report. Every step skips work
already on disk.
"""
from __future__ import annotations

from pathlib import Path

from landscape.errors import require_choice
from landscape.files import atomic_write
from landscape.sources.specs import display_name
from landscape.storage.tables import write_rows
from landscape.studies.depth.landscapes import end_landscape, is_end, landscapes
from landscape.studies.depth.plan import DEPTH_PROFILES, DepthProfile, training_runs
from landscape.studies.depth.records import read_record, record_run, recorded_so_far
from landscape.studies.depth.writeup import depth_figures, depth_report
from landscape.studies.mish_plan import STUDY_ACTIVATIONS
from landscape.training.config import RunPaths, TrainConfig
from landscape.training.loop import already_finished
from landscape.training.side_by_side import train_side_by_side


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
