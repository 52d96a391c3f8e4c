import numpy as np
import pytest

from landscape.storage.tables import format_estimate
from landscape.studies.findings import decide, findings_markdown, uncertainty_figure
from landscape.viz.options import PlotOptions


def synthetic(seeds=3, directions=10, seed=0):
    """Mish clearly wider than ReLU, the same as Swish; minima equal; one accuracy per seed."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.05, (1, directions))
    width = {"relu": 0.4, "swish": 0.6, "mish": 0.6}
    return {"width_1": {a: w + shared + rng.normal(0, 0.005, (seeds, directions)) for a, w in width.items()},
            "minimum": {a: 0.1 + rng.normal(0, 0.01, (seeds, directions)) for a in width},
            "test_acc": {a: 88 + rng.normal(0, 0.2, (seeds, 1)) for a in width}}


ACTIVATIONS = {"relu": {}, "swish": {}, "mish": {}}


def estimates_table(findings) -> list[str]:
    """The lines of the findings' table of every measure, from its header on."""
    text = findings_markdown(findings, ACTIVATIONS).splitlines()
    return text[text.index("## Every measure (mean [95 % interval])") + 2:]


def noise_section(findings) -> list[str]:
    text = findings_markdown(findings, ACTIVATIONS).splitlines()
    return text[text.index("## Where the noise comes from"):]


def test_claims_get_verdicts_from_their_intervals():
    findings = decide(synthetic())
    verdicts = {(c.measure, c.other): c.verdict for c in findings.comparisons}
    assert verdicts[("width_1", "relu")] == "supported"
    assert verdicts[("width_1", "swish")] in ("inconclusive", "supported", "contradicted")
    assert {m for m, _ in verdicts} == {"width_1", "minimum", "test_acc"}
    rows = findings.rows()
    assert [r["activation"] for r in rows] == ["relu", "swish", "mish"]
    assert rows[0]["width_1_low"] < rows[0]["width_1"] < rows[0]["width_1_high"]
    assert rows[0]["width_1_over"] == "3 seeds × 10 directions" and rows[0]["test_acc_over"] == "3 seeds"


def test_markdown_and_figure():
    findings = decide(synthetic())
    table = estimates_table(findings)
    assert table[0] == ("| activation | basin width at Δ = 1 (wider) | minimum training loss (lower) | "
                        "test accuracy (higher) |")
    assert table[2].startswith("| ReLU | 0.4")
    text = findings_markdown(findings, ACTIVATIONS).splitlines()
    exploratory = text[text.index("## Exploratory: Mish − each other activation on every measure"):]
    assert exploratory[4] == "| measure | Mish − ReLU | Mish − Swish | paired over |"
    row = next(t for t in exploratory if t.startswith("| basin width at Δ = 1 (wider) | "))  # labels, not keys
    relu = next(c.difference for c in findings.comparisons if (c.measure, c.other) == ("width_1", "relu"))
    assert row.split(" | ")[1] == format_estimate(relu.mean, relu.low, relu.high)
    assert row.endswith("| 3 seeds × 10 directions |")
    assert not any("supported" in t or "inconclusive" in t for t in exploratory)  # exploratory: no verdicts
    fig = uncertainty_figure(findings, ("width_1", "minimum", "test_acc"), PlotOptions(width=6.9, note="quick"),
                             primary=("test_acc",))
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()][:3] == [
        "basin width at Δ = 1 (wider)", "minimum training loss (lower)", "primary: test accuracy (higher)"]
    assert fig._suptitle.get_text() == "quick"


def test_checkpoint_rows_become_measures_per_seed():
    from landscape.studies.findings import checkpoint_values

    rows = {"relu": [{"hessian_eig_1": 30.0, "hessian_trace": 400.0, "dead_never_positive": 0.25,
                      "loss_standard_error": 0.01}, {"hessian_eig_1": 32.0, "hessian_trace": 420.0,
                                                     "dead_never_positive": 0.0, "loss_standard_error": 0.02}],
            "mish": [{"hessian_eig_1": 20.0, "hessian_trace": 300.0, "dead_never_positive": 0.0,
                      "loss_standard_error": 0.01}, {"hessian_eig_1": 21.0, "hessian_trace": 310.0,
                                                     "dead_never_positive": 0.0, "loss_standard_error": 0.01}]}
    values = checkpoint_values(rows)
    assert values["hessian_max"]["relu"].tolist() == [[30.0], [32.0]]
    assert values["dead_units"]["relu"].tolist() == [[25.0], [0.0]]  # percent of channels
    findings = decide(values)
    assert {c.measure for c in findings.comparisons} == {"hessian_max", "hessian_trace", "dead_units"}
    assert "s.e. of the loss over the images" in estimates_table(findings)[0]
    assert checkpoint_values({"relu": [{"hessian_eig_1": 1.0}]}).keys() == {"hessian_max"}


def test_the_noise_table_says_which_source_dominates_and_that_pairing_removes_shared_directions():
    findings = decide(synthetic(seeds=3, directions=40))
    models, differences = findings.noise()["width_1"]
    # each direction's own effect (sd 0.05) is shared by the models and cancels in the paired differences,
    # leaving the independent noise (sd 0.005 per model, √2 · 0.005 per difference)
    assert models.direction_sd == pytest.approx(0.05, rel=0.3)
    assert differences.direction_sd == pytest.approx(np.sqrt(2) * 0.005, rel=0.3)
    assert "test_acc" not in findings.noise()  # one value per seed: nothing to split
    rows = [line for line in noise_section(findings) if line.startswith("| basin width")]
    assert len(rows) == 1 and rows[0].endswith("| more directions |")
    values = synthetic(seeds=3, directions=40)
    rng = np.random.default_rng(5)
    values["width_1"] = {a: v + rng.normal(0, 0.1, (3, 1)) for a, v in values["width_1"].items()}  # seed effects
    seeded = decide(values)
    assert seeded.noise()["width_1"][1].seed_share > 0.9
    assert [line for line in noise_section(seeded) if line.startswith("| basin width")][-1].endswith("| more seeds |")
    assert seeded.to_json()["noise"]["width_1"]["differences"]["seed_share"] == seeded.noise()["width_1"][1].seed_share


def test_checkpoint_metadata_become_measures_per_seed(tmp_path):
    import torch

    from landscape.sources.checkpoint import save_checkpoint
    from landscape.studies.findings import metadata_values

    def saved(name, acc, train_loss, test_loss):
        return save_checkpoint(tmp_path / f"{name}.pt", torch.nn.Linear(2, 1),
                               {"test_acc": acc, "train_loss": train_loss, "test_loss": test_loss})

    checkpoints = {"relu": [saved("r0", 0.88, 0.12, 0.39), saved("r1", 0.87, 0.13, 0.38)],
                   "mish": [saved("m0", 0.89, 0.10, 0.36), saved("m1", 0.90, 0.11, 0.37)]}
    values = metadata_values(checkpoints)
    assert np.allclose(values["test_acc"]["relu"], [[88.0], [87.0]])  # percent
    assert values["train_loss_full"]["mish"].tolist() == [[0.10], [0.11]]
    assert values["test_loss_full"]["relu"].tolist() == [[0.39], [0.38]]
    differences = {c.measure: c.difference.mean for c in decide(values).comparisons}
    assert np.isclose(differences["train_loss_full"], -0.02) and np.isclose(differences["test_loss_full"], -0.02)
    assert "training loss, whole training split (lower)" in estimates_table(decide(values))[0]


def test_the_seed_by_seed_table_lists_each_checkpoint_value_in_seed_order():
    values = synthetic()
    values["hessian_trace"] = {a: np.array([[1700.0], [1650.5], [1802.25]]) + i for i, a in enumerate(ACTIVATIONS)}
    text = findings_markdown(decide(values), ACTIVATIONS, seeds=(0, 3, 4)).splitlines()
    table = text[text.index("## Seed by seed"):]
    assert table[2] == "Each cell: seeds 0 / 3 / 4."
    assert table[4] == "| activation | test accuracy (higher) | Hessian trace (flatter) |"
    assert table[7] == ("| Swish | " + " / ".join(f"{v:.2f}" for v in values["test_acc"]["swish"][:, 0])
                        + " | 1701 / 1652 / 1803 |")


def test_a_label_with_a_bar_stays_in_its_cell():
    rng = np.random.default_rng(0)
    values = {"output_curvature": {a: 0.05 + rng.normal(0, 0.01, (20, 1)) for a in ACTIVATIONS}}
    table = estimates_table(decide(values))
    assert table[0] == "| activation | output landscape of random networks, mean \\|∇²f\\| (smoother) |"
    assert all(len(line.replace("\\|", "").split("|")) == 4 for line in table[:5])


def test_the_hessian_quality_table_summarises_each_activations_checkpoints():
    from landscape.studies.findings import hessian_quality_markdown

    def row(top, lanczos, spread, converged, ci):
        return {"hessian_eig_1": top, "hessian_lanczos_max": lanczos, "hessian_max_spread": spread,
                "hessian_max_converged": converged, "hessian_max_starts": 3, "hessian_trace_ci95": ci}
    rows = {"relu": [row(100.0, 100.5, 0.001, 3, 80.0), row(200.0, 199.0, 0.02, 2, 95.5)],
            "mish": [{"hessian_eig_1": 1.0}]}  # measured without the starts: left out
    lines = hessian_quality_markdown(rows, ACTIVATIONS)
    assert lines[0] == "## How good the Hessian estimates are" and len(lines) == 6
    assert lines[4] == "| ReLU | 5 of 6 | 2 | 0.5 | 80.0 to 95.5 |"
    assert hessian_quality_markdown({"mish": [{"hessian_eig_1": 1.0}]}, ACTIVATIONS) == []
