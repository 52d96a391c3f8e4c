"""The depth study's write-up: the divergence table, the figures, accuracy comparisons within and
across depths (paired by test image, then over seeds), and the Markdown report.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.metrics.stats import compare, describe
from landscape.sources.specs import display_name
from landscape.storage.tables import format_estimate, markdown_table
from landscape.studies.depth.plan import CHANCE, LEFT_CHANCE
from landscape.studies.depth.records import common_seeds, correct_by_image, deepest_trained, layer_diagnostics
from landscape.studies.figures import depth_accuracy_figure, depth_training_figure, layer_diagnostics_figure
from landscape.studies.mish_plan import STUDY_ACTIVATIONS
from landscape.training.config import RunPaths, TrainConfig
from landscape.viz.options import PlotOptions
from landscape.viz.plots import save
from landscape.viz.training_curves import read_training_log


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
