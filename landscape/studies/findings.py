"""Findings: the paper's claims about each activation, decided with their uncertainty.

Stage: metrics → findings. From the slices files of every trained model (`landscape sharpness`,
one per activation and training seed, the same direction seeds everywhere) it builds, per
measure, a [seeds, directions] array for each activation, the mean and 95 % interval of each
(`stats.estimate`), and the paired difference of the subject (Mish) with every other
activation with its verdict (`stats.compare`). Checkpoint-level numbers (Hessian
λmax and trace, dead units, test accuracy, the losses on the whole splits) are one value per seed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.metrics.options import DEFAULT_THRESHOLDS
from landscape.metrics.sharpness import measure_slices
from landscape.metrics.stats import Comparison, Estimate, NoiseBudget, compare, describe, estimate, noise_budget
from landscape.sources.checkpoint import read_checkpoint
from landscape.sources.specs import display_name
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import format_cell, format_estimate, format_number
from landscape.studies.claims import (
    PairTest,
    claims_markdown,
    decided_markdown,
    family_tests,
    narrowing,
    narrowing_markdown,
    tests_json,
)
from landscape.viz.estimates import draw_estimates, legend_for_estimates
from landscape.viz.options import PlotOptions
from landscape.viz.plots import STYLE

# measure → (label, the sign the Mish paper claims for Mish − other)
CLAIMS = {"width_1": ("basin width at Δ = 1 (wider)", +1), "width_0.5": ("basin width at Δ = 0.5 (wider)", +1),
          "width_0.1": ("basin width at Δ = 0.1 (wider)", +1),
          "minimum": ("minimum training loss (lower)", -1), "curvature": ("curvature at the minimum (flatter)", -1),
          "hessian_max": ("Hessian λmax (flatter)", -1), "hessian_trace": ("Hessian trace (flatter)", -1),
          "dead_units": ("dead units, % of channels (fewer)", -1), "test_acc": ("test accuracy (higher)", +1),
          "train_loss_full": ("training loss, whole training split (lower)", -1),
          "test_loss_full": ("test loss, whole test split (lower)", -1),
          "output_curvature": ("output landscape of random networks, mean |∇²f| (smoother)", -1)}
# the y axis of each measure's panel: what is measured, in which unit
UNITS = {"width_1": "width (direction units)", "width_0.5": "width (direction units)",
         "width_0.1": "width (direction units)", "minimum": "training loss (nats)",
         "curvature": "d²loss/dα² (nats per unit²)", "hessian_max": "λmax (nats per weight unit²)",
         "hessian_trace": "trace (nats per weight unit²)", "dead_units": "dead units (% of channels)",
         "test_acc": "test accuracy (%)", "train_loss_full": "loss (nats)", "test_loss_full": "loss (nats)",
         "output_curvature": "mean |∇²f| (scaled output per input unit²)"}
# checkpoint measures that describe, not decide: shown in the table, compared with nothing
LABELS = {"loss_standard_error": "s.e. of the loss over the images",
          "hessian_trace_ci95": "± of the trace estimate (95 %, over its probe vectors)",
          "hessian_lanczos_max": "Lanczos λmax (a cross-check of the power iteration's)"}
# checkpoint-metrics row key → measure, and the factor to its unit
CHECKPOINT_MEASURES = {"hessian_eig_1": ("hessian_max", 1.0), "hessian_trace": ("hessian_trace", 1.0),
                       "hessian_trace_ci95": ("hessian_trace_ci95", 1.0), "dead_never_positive": ("dead_units", 100.0),
                       "loss_standard_error": ("loss_standard_error", 1.0),
                       "hessian_lanczos_max": ("hessian_lanczos_max", 1.0)}


def label(measure: str) -> str:
    return CLAIMS[measure][0] if measure in CLAIMS else LABELS.get(measure, measure)


def column(measure: str) -> str:
    """The measure's label as a Markdown table cell."""
    return format_cell(label(measure))


@dataclass(frozen=True)
class Findings:
    """Every measure's per-activation estimates and the subject's comparisons."""

    values: dict[str, dict[str, np.ndarray]]  # measure → activation → [seeds, directions]
    estimates: dict[str, dict[str, Estimate]]
    comparisons: list[Comparison]  # Mish − other on every measure: exploratory, uncorrected
    family: list[PairTest]  # the paper's claims: every pair on each primary measure, Holm-corrected (`claims`)
    narrowing: list[dict]  # the family's intervals on the first seeds and on all (`claims.narrowing`)

    def rows(self) -> list[dict]:
        """One row per activation: each measure as mean and interval, for the table and JSON."""
        out = []
        for activation in next(iter(self.estimates.values())):
            row: dict = {"activation": activation}
            for measure, per in self.estimates.items():
                e = per[activation]
                row.update({measure: e.mean, f"{measure}_low": e.low, f"{measure}_high": e.high,
                            f"{measure}_over": e.levels, f"{measure}_seed_sd": e.seed_sd,
                            f"{measure}_direction_sd": e.direction_sd})
            out.append(row)
        return out

    def noise(self) -> dict[str, tuple[NoiseBudget, NoiseBudget | None]]:
        """measure → (budget of the models' means, budget of the subject's paired differences), for
        the measures measured over several seeds and directions."""
        out = {}
        for measure, per in self.estimates.items():
            models = noise_budget(list(per.values()))
            if models is not None:
                out[measure] = (models, noise_budget([c.difference for c in self.comparisons if c.measure == measure]))
        return out

    def to_json(self) -> dict:
        return {"rows": self.rows(), "family": tests_json(self.family), "narrowing": self.narrowing,
                "comparisons": [{**asdict(c), "text": describe(c)} for c in self.comparisons],
                "noise": {m: {"models": a.to_json(), "differences": None if d is None else d.to_json()}
                          for m, (a, d) in self.noise().items()}}


def slice_values(paths: dict[str, list[Path]], thresholds=DEFAULT_THRESHOLDS) -> dict[str, dict[str, np.ndarray]]:
    """measure → activation → [seeds, directions] from each activation's slices files (one per seed)."""
    measures = ["minimum", "curvature"] + [f"width_{d:g}" for d in thresholds]
    out: dict[str, dict[str, np.ndarray]] = {m: {} for m in measures}
    for activation, files in paths.items():
        per_seed = [[m.flat() for m in measure_slices(read_surface(p), "train_loss", thresholds)] for p in files]
        counts = {len(s) for s in per_seed}
        if len(counts) != 1:
            raise LandscapeError(f"the slices files of {activation} hold different numbers of directions: {counts}")
        for m in measures:
            out[m][activation] = np.array([[s[m] for s in seed] for seed in per_seed], dtype=np.float64)
        # every slice passes through the trained weights, so its minimum is (nearly always) the model's own
        # loss: one value per seed, whose noise is the training seed's, not the direction's
        out["minimum"][activation] = out["minimum"][activation].mean(axis=1, keepdims=True)
    return out


# checkpoint-metadata key (scored by `landscape train` on whole splits, eval mode) → measure, factor to its unit
METADATA_MEASURES = {"test_acc": ("test_acc", 100.0), "train_loss": ("train_loss_full", 1.0),
                     "test_loss": ("test_loss_full", 1.0)}


def metadata_values(checkpoints: dict[str, list[Path]]) -> dict[str, dict[str, np.ndarray]]:
    """measure → activation → [seeds, 1] from the checkpoints' metadata: test accuracy (%) and the
    losses on the whole training and test splits, the references for the 1,000-image minimum."""
    meta = {a: [read_checkpoint(p).metadata for p in files] for a, files in checkpoints.items()}
    return {measure: {a: np.array([[factor * m[key]] for m in per]) for a, per in meta.items()}
            for key, (measure, factor) in METADATA_MEASURES.items()}


def checkpoint_values(rows: dict[str, list[dict]]) -> dict[str, dict[str, np.ndarray]]:
    """measure → activation → [seeds, 1] from each activation's checkpoint-metrics rows (one per seed):
    Hessian λmax and trace, dead units (%), the loss's standard error over the images."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, (measure, factor) in CHECKPOINT_MEASURES.items():
        if all(key in row for per in rows.values() for row in per):
            out[measure] = {a: np.array([[factor * row[key]] for row in per]) for a, per in rows.items()}
    return out


FIRST_SEEDS = 3  # the study's first seeds; with more, the findings show what the others changed


def decide(values: dict[str, dict[str, np.ndarray]], subject: str = "mish") -> Findings:
    """Estimates of every measure, the subject's paired comparisons on the claimed measures, the
    family of the paper's claims, and how the seeds beyond the first three narrowed it."""
    estimates = {m: {a: estimate(v) for a, v in per.items()} for m, per in values.items()}
    comparisons = [c for m, (_, sign) in CLAIMS.items() if m in values
                   for c in compare(m, values[m], subject, sign)]
    return Findings(values, estimates, comparisons, family_tests(values), narrowing(values, FIRST_SEEDS))


def uncertainty_figure(findings: Findings, measures: tuple[str, ...], options: PlotOptions,
                       names: dict[str, str] | None = None, primary: tuple[str, ...] = ()) -> Figure:
    """A panel per measure: each activation's per-seed means (dots) and overall mean with its 95 %
    interval; activations labelled by `names` where given (e.g. 'Leaky ReLU (slope 0.3)'); the
    panels of a claim's `primary` measure say so in their title."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.32 * ((len(measures) + 1) // 2) + 0.3))
        axes = fig.subplots((len(measures) + 1) // 2, 2, squeeze=False).ravel()
        for ax, measure in zip(axes, measures):
            # dots: one per seed (its mean over directions), or one per direction when there is one seed
            per_seed = len(next(iter(findings.values[measure].values()))) > 1
            dots = {a: np.nanmean(v, axis=1) if len(v) > 1 else v[0] for a, v in findings.values[measure].items()}
            draw_estimates(ax, dots, findings.estimates[measure], names,
                           "one training seed (mean over directions)" if per_seed else "one direction")
            ax.set_title(("primary: " if measure in primary else "") + label(measure))
            ax.set_ylabel(UNITS.get(measure, measure))
        legend_for_estimates(fig, axes[0])
        if options.note:
            fig.suptitle(options.note, fontsize=7, color="dimgray")
        for ax in axes[len(measures):]:
            ax.set_visible(False)
    return fig


def findings_markdown(findings: Findings, activations: dict[str, dict], seeds: tuple[int, ...] | None = None) -> str:
    """The claims' family of tests, the table of estimates (each measure as mean [95 % interval]),
    the checkpoint measures seed by seed (`seeds`: the training seeds, in the order of the values),
    the exploratory comparisons (no verdicts) and where the noise comes from."""
    measures = list(findings.estimates)
    names = {a: display_name(a, activations.get(a)) for a in next(iter(findings.estimates.values()))}
    tested = {a: activations.get(a, {}) for a in names}
    lines = claims_markdown(findings.family, tested) + decided_markdown(findings.family, tested)
    lines += narrowing_markdown(findings.narrowing, tested)
    lines += ["## Every measure (mean [95 % interval])", "",
              "| activation | " + " | ".join(map(column, measures)) + " |", "|---|" + "---|" * len(measures)]
    for row in findings.rows():
        cells = [format_estimate(row[m], row[f"{m}_low"], row[f"{m}_high"]) for m in measures]
        lines.append(f"| {names[row['activation']]} | " + " | ".join(cells) + " |")
    over = {m: next(iter(per.values())).levels for m, per in findings.estimates.items()}
    lines += ["", "Intervals over: " + "; ".join(f"{label(m)}: {v}" for m, v in over.items()) + ".", ""]
    return "\n".join(lines + per_seed_markdown(findings, names, seeds) + comparisons_markdown(findings, names)
                     + noise_markdown(findings)) + "\n"


PER_SEED = ("test_acc", "train_loss_full", "hessian_max", "hessian_trace")  # one value per training seed each


def per_seed_markdown(findings: Findings, names: dict[str, str], seeds: tuple[int, ...] | None) -> list[str]:
    """The checkpoint measures seed by seed: the values behind their intervals."""
    measures = [m for m in PER_SEED if m in findings.values]
    if not measures:
        return []
    count = len(findings.values[measures[0]][next(iter(names))])
    order = " / ".join(map(str, seeds if seeds is not None else range(count)))
    lines = ["## Seed by seed", "", f"Each cell: seeds {order}.", "",
             "| activation | " + " | ".join(map(column, measures)) + " |", "|---|" + "---|" * len(measures)]
    for activation, name in names.items():
        cells = [" / ".join(format_number(float(v), 4) for v in findings.values[m][activation][:, 0])
                 for m in measures]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def comparisons_markdown(findings: Findings, names: dict[str, str]) -> list[str]:
    """Mish − each other activation on every measure, a row per measure: exploratory, uncorrected."""
    others = list(dict.fromkeys(c.other for c in findings.comparisons))
    if not others:
        return []
    counted = [c for c in findings.comparisons if c.difference.high > c.difference.low]
    lines = ["## Exploratory: Mish − each other activation on every measure", "",
             f"Each at 95 %, not corrected for the {len(counted)} comparisons with an interval (about "
             f"{0.05 * len(counted):.1f} would exclude zero by chance alone where nothing differs), and without "
             "verdicts: a pattern here is a question for the next study, not a finding.", "",
             "| measure | " + " | ".join(f"Mish − {names.get(o, o)}" for o in others) + " | paired over |",
             "|---|" + "---|" * (len(others) + 1)]
    for measure in dict.fromkeys(c.measure for c in findings.comparisons):
        mine = {c.other: c.difference for c in findings.comparisons if c.measure == measure}
        cells = [format_estimate(mine[o].mean, mine[o].low, mine[o].high) if o in mine else "–" for o in others]
        lines.append(f"| {column(measure)} | " + " | ".join(cells) + f" | {next(iter(mine.values())).levels} |")
    return lines + [""]


def hessian_quality_markdown(rows: dict[str, list[dict]], activations: dict[str, dict]) -> list[str]:
    """How far each activation's Hessian numbers can be trusted, from its checkpoints' metric rows
    (`landscape metrics --hessian`): the power-iteration starts that converged and how far apart they
    ended, the Lanczos cross-check's gap from λmax, and each trace's own probe noise."""
    rows = {a: per for a, per in rows.items() if per and all("hessian_max_starts" in r for r in per)}
    if not rows:
        return []
    lines = ["## How good the Hessian estimates are", "",
             "| activation | power-iteration starts converged | largest spread of a model's starts, % of λmax "
             "| largest gap of Lanczos from λmax, % | each trace's ± over its probes (95 %) |", "|---|---|---|---|---|"]
    for activation, per in rows.items():
        gaps = [100 * abs(r["hessian_lanczos_max"] - r["hessian_eig_1"]) / abs(r["hessian_eig_1"]) for r in per]
        noise = [r["hessian_trace_ci95"] for r in per]
        lines.append(f"| {display_name(activation, activations.get(activation))} "
                     f"| {sum(r['hessian_max_converged'] for r in per)} of {sum(r['hessian_max_starts'] for r in per)} "
                     f"| {100 * max(r['hessian_max_spread'] for r in per):.2g} | {max(gaps):.2g} "
                     f"| {format_number(min(noise))} to {format_number(max(noise))} |")
    return lines + [""]


def noise_markdown(findings: Findings) -> list[str]:
    """Seed-to-seed against direction-to-direction spread per measure (pooled over activations, and
    over the subject's paired differences, where shared directions cancel), and which of the two
    dominates the intervals: where the next unit of compute should go."""
    noise = findings.noise()
    if not noise:
        return []
    lines = ["## Where the noise comes from", "", "Standard deviations pooled over the activations (and over "
             "Mish's paired differences), and the seeds' share of the variance of a mean:", "",
             "| measure | seed sd | direction sd | seeds' share | paired difference: seed sd | direction sd "
             "| seeds' share | to narrow the intervals |", "|---|---|---|---|---|---|---|---|"]
    for measure, (models, differences) in noise.items():
        cells = [f"{models.seed_sd:.3g}", f"{models.direction_sd:.3g}", f"{100 * models.seed_share:.0f} %"]
        cells += (["–"] * 3 if differences is None else
                  [f"{differences.seed_sd:.3g}", f"{differences.direction_sd:.3g}",
                   f"{100 * differences.seed_share:.0f} %"])
        lines.append(f"| {column(measure)} | " + " | ".join(cells) + f" | {(differences or models).advice} |")
    return lines
