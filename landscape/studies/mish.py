"""The Mish study end to end: ResNet-20s that differ only in their activation (several training
seeds each), their surfaces (random filter-normalised planes and training-path planes), many
random slices per model, the output landscapes of random networks, and the findings with
their uncertainty; figures and reports.

Stage: orchestration only. Each step calls the library function that owns it and skips or
resumes work already on disk, so rerunning the same command continues an interrupted study.
"""
from __future__ import annotations

import json
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from landscape.errors import require_choice
from landscape.evaluation.options import EvalOptions
from landscape.files import atomic_write, file_sha256
from landscape.geometry.options import DirectionOptions
from landscape.metrics.checkpoint import run_metrics
from landscape.metrics.options import HessianOptions, MetricsConfig, SharpnessConfig, slices_path
from landscape.metrics.sharpness import run_sharpness
from landscape.sources.specs import display_name
from landscape.storage.tables import format_estimate, write_rows
from landscape.studies.anchors import run_anchors
from landscape.studies.claims import CLAIM_FAMILY, SUBJECT, paper_word, smooth_against_baseline, verdict_of
from landscape.studies.findings import (
    Findings,
    checkpoint_values,
    decide,
    findings_markdown,
    hessian_quality_markdown,
    label,
    metadata_values,
    slice_values,
    uncertainty_figure,
)
from landscape.studies.mish_plan import PROFILES, STUDY_ACTIVATIONS, StudyProfile, checkpoint_path, training_runs
from landscape.studies.output_landscape import curvature_values, run_output_landscape
from landscape.surfaces.config import SurfaceConfig
from landscape.surfaces.sweep import run_surface
from landscape.training.config import RunPaths
from landscape.training.side_by_side import train_side_by_side
from landscape.viz.comparison import plot_comparison
from landscape.viz.options import PlotOptions
from landscape.viz.plots import plot_surface, save
from landscape.viz.report import EstimateTable, write_report
from landscape.viz.spectrum import spectrum_figure
from landscape.viz.training_curves import plot_training_curves

TITLE = "ResNet-20 on CIFAR-10: ReLU, Leaky ReLU, Swish, Mish"
SHORT_NAMES = {"width_0.5": "width at Δ = 0.5", "hessian_trace": "Hessian trace", "train_loss_full": "training loss",
               "test_acc": "test accuracy %"}  # the summary's column heads
REPORT_MEASURES = ("test_acc", "minimum", "width_0.1", "width_0.5", "width_1", "curvature", "hessian_max",
                   "hessian_trace", "dead_units")  # the report's table of estimates, in this order


def train_all(profile: StudyProfile, data: str | None, device: str, quiet: bool,
              jobs: int = 1) -> dict[str, list[Path]]:
    """activation → its checkpoints, one per seed, trained (or resumed, or skipped when finished),
    `jobs` runs side by side. Without `profile.train`, the shipped files."""
    if profile.train:
        train_side_by_side(training_runs(profile, data, device, quiet), jobs, quiet)
    return {name: [checkpoint_path(profile, name, seed) for seed in profile.seeds] for name in STUDY_ACTIVATIONS}


def surface_all(checkpoints: list[Path], profile: StudyProfile, data: str | None, device: str,
                quiet: bool) -> list[Path]:
    """A 2-D train+test surface per checkpoint, each with its own filter-normalised directions (seed 0)."""
    out_dir = Path(profile.output_dir) / "surfaces"
    return [run_surface(SurfaceConfig(checkpoint=str(ckpt), out=str(out_dir / f"{ckpt.stem}.h5"), data=data,
                                      x=profile.grid, y=profile.grid, splits=("train", "test"),
                                      samples=profile.samples, directions=DirectionOptions(seed=0),
                                      eval=EvalOptions(), device=device, quiet=quiet))
            for ckpt in checkpoints]


def path_surface_all(checkpoints: list[Path], profile: StudyProfile, data: str | None, device: str,
                     quiet: bool) -> list[Path]:
    """A 2-D train surface per checkpoint on the plane of its own training path, the grid fitted to
    the path (`auto:NUM` axes)."""
    out_dir, fitted = Path(profile.output_dir) / "surfaces", f"auto:{profile.path_points}"
    return [run_surface(SurfaceConfig(checkpoint=str(ckpt), out=str(out_dir / f"{ckpt.stem}_path.h5"), data=data,
                                      x=fitted, y=fitted, splits=("train",), samples=profile.samples,
                                      trajectory=str(RunPaths.beside(ckpt).snapshots), device=device, quiet=quiet))
            for ckpt in checkpoints]


def sharpness_all(checkpoints: dict[str, list[Path]], profile: StudyProfile, data: str | None, device: str,
                  quiet: bool) -> dict[str, list[Path]]:
    """K random slices of every checkpoint (the same direction seed for all); activation → files."""
    config = SharpnessConfig(checkpoints=tuple(str(p) for paths in checkpoints.values() for p in paths),
                             out_dir=str(Path(profile.output_dir) / "sharpness"), data=data,
                             directions=profile.directions, x=profile.slice_grid, samples=profile.samples,
                             device=device, quiet=quiet)
    write_rows(run_sharpness(config), Path(config.out_dir) / "summary.json", Path(config.out_dir) / "summary.csv")
    return {name: [slices_path(config.out_dir, p) for p in paths] for name, paths in checkpoints.items()}


def numbers_of(hessian: HessianOptions) -> dict:
    """The Hessian settings that decide its numbers (how the products are computed does not)."""
    return {k: v for k, v in asdict(hessian).items() if k != "keep_graph"}


def model_metrics_all(checkpoints: dict[str, list[Path]], profile: StudyProfile, data: str | None, device: str,
                      quiet: bool) -> dict[str, list[dict]]:
    """activation → a row per checkpoint: the loss and its standard error on the study's images, dead
    units, Hessian λmax and trace. Each row is kept in CHECKPOINT_metrics.json, reused while the
    checkpoint (by SHA-256) and the settings are the same."""
    out_dir = Path(profile.output_dir) / "checkpoint_metrics"
    rows: dict[str, list[dict]] = {}
    for name, paths in checkpoints.items():
        for path in paths:
            cache = out_dir / f"{path.stem}_metrics.json"
            settings = {"checkpoint_sha256": file_sha256(path), "data": data, "samples": profile.samples,
                        "hessian": numbers_of(profile.hessian)}
            stored = json.loads(cache.read_text()) if cache.is_file() else {}
            if stored.get("settings") != settings:
                config = MetricsConfig(checkpoints=(str(path),), data=data, samples=profile.samples,
                                       hessian=profile.hessian, dead_units=True, device=device, quiet=quiet)
                stored = {"settings": settings, "row": run_metrics(config)[0]}
                with atomic_write(cache) as tmp:
                    tmp.write_text(json.dumps(stored, indent=1))
            rows.setdefault(name, []).append(stored["row"])
    write_rows([r for per in rows.values() for r in per], Path(profile.output_dir) / "checkpoint_metrics.json",
               Path(profile.output_dir) / "checkpoint_metrics.csv")
    return rows


def headline(findings: Findings, out: Path, profile: StudyProfile) -> list[str]:
    """The terminal summary (at most 25 lines, readable without the docs): what was measured, each
    activation's primary measures with 95 % intervals, the verdict on each of the paper's claims for
    Mish against every other activation, and where the report and figures are."""
    rows = findings.rows()
    names = {r["activation"]: display_name(r["activation"], STUDY_ACTIVATIONS.get(r["activation"])) for r in rows}
    claims = [c for c in CLAIM_FAMILY if c.measure in rows[0]]
    shown = [c for c in claims if c.measure in SHORT_NAMES]  # the trained models' claims: 120 characters
    lines = [f"Mish study, {profile.name} profile: {len(profile.seeds)} training seed(s) × {profile.directions} random "
             f"directions, {profile.samples} training images per point.",
             "Primary measure of each claim on the trained models, mean [95 % interval]:",
             (f"  {'':<22}" + "".join(f" {SHORT_NAMES[c.measure]:<23}" for c in shown)).rstrip()]
    for r in rows:
        cells = "".join(f" {format_estimate(r[c.measure], r[c.measure + '_low'], r[c.measure + '_high']):<23}"
                        for c in shown)
        lines.append(f"  {names[r['activation']]:<22}{cells}".rstrip())
    lines.append(f"Mish against each activation ({len(findings.family)} tests, Holm-corrected; 'alike' only where "
                 "shown within a margin):")
    for claim in claims:
        verdicts = ", ".join(f"{names[o]} {paper_word(claim, verdict_of(findings.family, claim, SUBJECT, o))}"
                             for o in names if o != SUBJECT)
        lines.append(f"  {claim.statement}: {verdicts}")
    lines += textwrap.wrap("Swish and Mish both better than ReLU: " + ", ".join(
        f"{c.better} {smooth_against_baseline(findings.family, c)}" for c in claims) + ".", 120,
        subsequent_indent="  ")
    _, differences = findings.noise().get("width_0.5", (None, None))
    if differences is not None:
        lines.append(f"Noise of the width comparisons: {100 * differences.seed_share:.0f} % from training seeds "
                     f"({differences.advice} narrow them most).")
    if findings.narrowing:
        ratio = np.median([r["width_after"] / r["width_before"] for r in findings.narrowing])
        lines.append(f"Seeds beyond the first {findings.narrowing[0]['seeds_before']} narrowed the family's intervals "
                     f"to {ratio:.2f} of their width (median; findings.md).")
    if profile.name != "paper":
        lines.append("These are small-profile numbers for a first look; the committed findings use the paper profile.")
    lines += [f"Report: {out / 'report.html'}", f"Training-path planes: {out / 'report_training_path.html'}",
              f"Figures and tables: {out}/ (findings.md, uncertainty.png, output_landscape.png"
              + (", anchors.md, spectra.png)" if profile.anchors else ")")]
    return lines


def estimate_table(findings: Findings) -> EstimateTable:
    """The per-activation estimates of the report's summary: the primary measures, labelled."""
    rows = findings.rows()
    measures = [m for m in REPORT_MEASURES if m in rows[0]]
    return EstimateTable({m: label(m) for m in measures},
                         [(display_name(r["activation"], STUDY_ACTIVATIONS[r["activation"]]), r) for r in rows],
                         rows[0].get("width_1_over", ""))


def run_study(profile: str | StudyProfile, data: str | None = None, device: str = "auto",
              quiet: bool = False, jobs: int = 1) -> list[str]:
    """Checkpoints (`jobs` trained side by side) → surfaces → slices → findings → figures → reports,
    skipping what is on disk; returns the terminal summary (`profile` is a name from PROFILES or your
    own StudyProfile)."""
    if isinstance(profile, str):
        require_choice("study profile", profile, tuple(PROFILES))
        profile = PROFILES[profile]
    out = Path(profile.output_dir)
    note = None if profile.name == "paper" else f"{profile.name} profile: low resolution, few directions"
    options = PlotOptions(formats=("png", "pdf"), width=6.9, vmax=5.0, dpi=200, note=note)
    checkpoints = train_all(profile, data, device, quiet, jobs)
    first = [paths[0] for paths in checkpoints.values()]
    surfaces = surface_all(first, profile, data, device, quiet)
    rows = run_metrics(MetricsConfig(surfaces=tuple(map(str, surfaces)), metric="train_loss"))
    write_rows(rows, out / "surface_metrics.json", out / "surface_metrics.csv")
    plot_comparison(surfaces, out / "comparison_train_loss", options)
    plot_comparison(surfaces, out / "comparison_test_loss", replace(options, metric="test_loss"))
    path_surfaces = path_surface_all(first, profile, data, device, quiet)
    plot_comparison(path_surfaces, out / "comparison_path_train_loss", options)
    plot_training_curves([RunPaths.beside(c).log for c in first], out / "training_curves", options)
    slices = sharpness_all(checkpoints, profile, data, device, quiet)
    measured = model_metrics_all(checkpoints, profile, data, device, quiet)
    plain = {name: {k: v for k, v in params.items() if k != "impl"} for name, params in STUDY_ACTIVATIONS.items()}
    output = run_output_landscape(plain, out, profile.output_seeds, profile.output_resolution, options=options)
    findings = decide({**slice_values(slices), **checkpoint_values(measured), **metadata_values(checkpoints),
                       "output_curvature": curvature_values(output)})
    figures = {out / "uncertainty.png": "Each activation's mean (square) with its 95 % interval over seeds and "
                                        "directions (line), beside the individual values (dots).",
               out / "output_landscape.png": "What a random fully connected network computes on a 2-D input grid, "
                                             "per activation, and the smoothness of that output."}
    planes = []
    if profile.anchors:
        spectra, planes = run_anchors(checkpoints, surfaces, measured, profile, data, device, quiet)
        save(spectrum_figure({display_name(n, STUDY_ACTIVATIONS[n]): s for n, s in spectra.items()}, options,
                             replicates="seeds"), out / "spectra", options)
        figures[out / "spectra.png"] = ("The Hessian's eigenvalue density per activation (stochastic Lanczos "
                                        "quadrature, one run per seed drawn faintly, their mean bold).")
    for surface in surfaces + path_surfaces + planes:  # after the anchors: seed 0's surfaces now hold Hessian maps
        plot_surface(surface, out / "surfaces", PlotOptions(formats=("png",), vmax=5.0, dpi=200))
    with atomic_write(out / "findings.json") as tmp:
        tmp.write_text(json.dumps(findings.to_json(), indent=1))
    with atomic_write(out / "findings.md") as tmp:
        tmp.write_text(findings_markdown(findings, STUDY_ACTIVATIONS, profile.seeds)
                       + "\n".join([""] + hessian_quality_markdown(measured, STUDY_ACTIVATIONS)))
    names = {name: display_name(name, params).replace(" (", "\n(") for name, params in STUDY_ACTIVATIONS.items()}
    primary = tuple(c.measure for c in CLAIM_FAMILY if c.over_training_seeds and c.measure in findings.values)
    save(uncertainty_figure(findings, primary + ("width_1", "curvature"), options, names, primary),
         out / "uncertainty", options)
    write_report(path_surfaces, out / "report_training_path.html", title=f"{TITLE}: planes of the training paths")
    write_report(surfaces, out / "report.html", title=TITLE, figures=figures, estimates=estimate_table(findings))
    return headline(findings, out, profile)
