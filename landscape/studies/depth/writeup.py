"""The depth study's write-up: the divergence table, the figures, accuracy comparisons within and
across depths (paired by test image, then over seeds), and the Markdown report.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.metrics.stats import binomial_interval, compare, describe
from landscape.sources.specs import display_name
from landscape.storage.tables import format_estimate, markdown_table
from landscape.studies.claims import Claim, PairTest, claims_markdown, family_tests
from landscape.studies.depth.plan import CHANCE, LEFT_CHANCE
from landscape.studies.depth.records import common_seeds, correct_by_image, deepest_trained, layer_diagnostics, trains
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


ACCURACY_MARGIN = 0.3  # points of test accuracy: the activation study's margin (docs/findings.md)
DROP_MARGIN = 1.0  # points of accuracy lost with depth: far below the tens of points of the paper's collapse


def accuracy_claim(depth: int) -> Claim:
    return Claim(f"a higher test accuracy at {depth} layers", f"test_acc_L{depth}", +1, ACCURACY_MARGIN,
                 "higher", "lower")


def steadiness_claim(shallow: int, deep: int) -> Claim:
    return Claim(f"a steadier test accuracy from {shallow} to {deep} layers", f"test_acc_change_L{shallow}_L{deep}",
                 +1, DROP_MARGIN, "steadier", "less steady")


def repeated_depths(records: list[dict], depths: tuple[int, ...]) -> dict[int, list[int]]:
    """depth → seeds, for the depths recorded for all four activations with two or more common seeds."""
    seeds = {depth: common_seeds(*correct_by_image(records, depth).values()) for depth in depths}
    return {depth: s for depth, s in seeds.items() if len(s) >= 2}


def accuracy_at(records: list[dict], depth: int, seeds: list[int]) -> dict[str, np.ndarray]:
    """activation → [seeds, images] of test-image correctness (points) at `depth`."""
    at = correct_by_image(records, depth)
    return {name: np.stack([at[name][s] for s in seeds]) for name in STUDY_ACTIVATIONS}


def accuracy_change(records: list[dict], shallow: int, deep: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """activation → [seeds, images] of the change in test accuracy (points) from `shallow` to `deep`,
    image by image, over the seeds recorded at both for all four activations."""
    low, high = correct_by_image(records, shallow), correct_by_image(records, deep)
    seeds = common_seeds(*low.values(), *high.values())
    return ({name: np.stack([high[name][s] - low[name][s] for s in seeds]) for name in STUDY_ACTIVATIONS}
            if seeds else {}), seeds


def depth_family(records: list[dict], depths: tuple[int, ...]) -> tuple[tuple[Claim, ...], list[PairTest]]:
    """The paper's depth claims as one declared family on the depths trained with several seeds:
    Mish more accurate at each, and steadier from the shallowest to the deepest of them. Every pair of
    activations on each (test accuracy in points, image by image, seed by seed), Holm-corrected
    together."""
    repeated = repeated_depths(records, depths)
    claims = [accuracy_claim(depth) for depth in repeated]
    values = {}
    for depth, seeds in repeated.items():
        values[f"test_acc_L{depth}"] = accuracy_at(records, depth, seeds)
    if len(repeated) >= 2:
        shallow, deep = min(repeated), max(repeated)
        change, seeds = accuracy_change(records, shallow, deep)
        if len(seeds) >= 2:
            claims.append(steadiness_claim(shallow, deep))
            values[claims[-1].measure] = change
    return tuple(claims), family_tests(values, tuple(claims))


def exploratory_comparisons(records: list[dict], depths: tuple[int, ...], family: tuple[Claim, ...]) -> list[str]:
    """Mish against each activation where the family does not reach: test accuracy at the depths with
    one seed, and the change from the shallowest depth to the deepest recorded for all four if the
    family has no such claim. With one seed the interval is the test set's sampling noise alone:
    these describe the trained networks and decide no claim."""
    measured = {claim.measure for claim in family}
    lines = []
    for depth in (d for d in depths if f"test_acc_L{d}" not in measured):
        seeds = common_seeds(*correct_by_image(records, depth).values())
        if seeds:
            values = accuracy_at(records, depth, seeds)
            lines += [f"- L={depth}: {describe(c)}"
                      for c in compare("test_acc", values, "mish", claimed_sign=+1, replicates="test images")]
    if not any(m.startswith("test_acc_change") for m in measured):
        for deep in reversed(depths[1:]):
            change, seeds = accuracy_change(records, depths[0], deep)
            if seeds:
                lines += [f"- L={depths[0]} → L={deep}: {describe(c)}" for c in
                          compare("test_acc change", change, "mish", claimed_sign=+1, replicates="test images")]
                break
    return lines


def trained_lines(rows: list[dict], depths: tuple[int, ...]) -> list[str]:
    """Per activation: the deepest depth up to which every run trains, and how many runs failed, with
    the failure rate's exact 95 % interval (no failure in n runs rules out only rates above it)."""
    lines = []
    for name, depth in deepest_trained(rows).items():
        runs = [r for r in rows if r["activation"] == name]
        failed = sum(not trains(r) for r in runs)
        low, high = binomial_interval(failed, len(runs)) if runs else (float("nan"), float("nan"))
        missing = [f"L={d}" for d in depths if not any(r["depth"] == d for r in runs)]
        lines.append(f"- {display_name(name, STUDY_ACTIVATIONS[name])}: "
                     + (f"every run trains up to L={depth}" if depth is not None else "no depth trains")
                     + f"; {failed} of {len(runs)} runs failed (failure rate {100 * low:.0f}–{100 * high:.0f} %, "
                       f"95 % exact interval)" + (f" (not recorded yet: {', '.join(missing)})" if missing else ""))
    return lines


def depth_report(records: list[dict], depths: tuple[int, ...], landscape_rows: list[dict],
                 landscape_lines: list[str]) -> str:
    """depth.md: the outcome table, the deepest depth each activation trains to, the declared family of
    the paper's depth claims (every pair, Holm-corrected), Mish's exploratory comparisons at the
    one-seed depths, and the landscapes of the ends with their slices' comparisons (`landscape_lines`)."""
    rows = [r["row"] for r in records]
    claims, family = depth_family(records, depths)
    sections = [("Final test accuracy (%) by activation and depth, or how the run failed", divergence_table(rows)),
                (f"Deepest depth that trains (no divergence, best test accuracy ≥ {100 * LEFT_CHANCE:.0f} %)",
                 "\n".join(trained_lines(rows, depths))),
                (f"The paper's depth claims ({len(family)} tests, Holm-corrected together)",
                 "\n".join(claims_markdown(family, STUDY_ACTIVATIONS, claims, heading="##")[2:]).strip()),
                ("Exploratory: Mish against each activation where the family does not reach (test accuracy, "
                 "points)", "\n".join(exploratory_comparisons(records, depths, claims)))]
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
