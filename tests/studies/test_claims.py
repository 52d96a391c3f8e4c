"""The paper's claims as one family: every pair on each primary measure, Holm over the family for
'different' and for 'alike', verdict words only from it."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from landscape.studies.claims import (
    CLAIM_FAMILY,
    claims_markdown,
    decided_markdown,
    family_tests,
    narrowing,
    narrowing_markdown,
    paper_word,
    smooth_against_baseline,
    verdict_of,
)

ACTIVATIONS = {"relu": {}, "leaky_relu": {"negative_slope": 0.3}, "swish": {}, "mish": {}}
WIDER, FLATTER, LOWER, HIGHER, SMOOTHER = CLAIM_FAMILY


def known_effects(seeds=5, directions=20, seed=0):
    """Widths: Mish and Swish 0.1 wider than ReLU, alike each other (tight), Leaky ReLU too noisy
    to say; traces: every activation alike within 5 %; one accuracy per seed with no effect."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.05, (1, directions))
    width = {"relu": 0.6, "leaky_relu": 0.65, "swish": 0.7, "mish": 0.7}
    noise = {"relu": 0.002, "leaky_relu": 0.2, "swish": 0.002, "mish": 0.002}
    return {"width_0.5": {a: w + shared + rng.normal(0, noise[a], (seeds, directions)) for a, w in width.items()},
            "hessian_trace": {a: 1000 + rng.normal(0, 2, (seeds, 1)) for a in width},
            "test_acc": {a: 88 + rng.normal(0, 1.0, (seeds, 1)) for a in width}}


def test_verdicts_on_known_effects():
    tests = family_tests(known_effects())
    assert len(tests) == 3 * 6  # three measured claims × every pair of four activations
    assert verdict_of(tests, WIDER, "mish", "relu") == "wider"
    assert verdict_of(tests, WIDER, "relu", "mish") == "narrower"
    assert verdict_of(tests, WIDER, "mish", "swish") == "alike"
    assert verdict_of(tests, WIDER, "mish", "leaky_relu") == "inconclusive"  # too noisy: not "alike"
    assert verdict_of(tests, FLATTER, "mish", "relu") == "alike"  # within 5 % of a trace of 1000
    assert verdict_of(tests, LOWER, "mish", "relu") == "not measured"
    assert paper_word(WIDER, verdict_of(tests, WIDER, "mish", "relu")) == "supported"
    assert smooth_against_baseline(tests, WIDER) == "supported" and smooth_against_baseline(tests, FLATTER) == "alike"
    assert all(t.p_holm >= t.p for t in tests)


def test_the_family_keeps_its_error_rate_where_no_activation_differs():
    """400 simulated studies with no differences at all: at most 5 % (plus the simulation's own
    noise) contain any 'better' or 'worse' among their 30 tests; uncorrected, most would."""
    rng = np.random.default_rng(1)
    studies, any_false, any_raw = 400, 0, 0
    for _ in range(studies):
        values = {claim.measure: {a: 1.0 + rng.normal(0, 0.3, (3, 5)) for a in ACTIVATIONS} for claim in CLAIM_FAMILY}
        tests = family_tests(values)
        any_false += any(t.verdict not in ("alike", "inconclusive") for t in tests)
        any_raw += any(t.p < 0.05 for t in tests)
    assert any_false / studies <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / studies)
    assert any_raw / studies > 0.3


def test_the_markdown_matrix_is_antisymmetric_and_names_activations():
    lines = claims_markdown(family_tests(known_effects()), ACTIVATIONS)
    start = lines.index(next(line for line in lines if line.startswith("### a wider minimum")))
    header, rows = lines[start + 2], lines[start + 4:start + 8]
    assert header == "| row − column | ReLU | Leaky ReLU (slope 0.3) | Swish | Mish |"
    cells = [row.strip(" |").split(" | ")[1:] for row in rows]
    assert cells[0][0] == "–" and cells[3][0].endswith("wider") and cells[0][3].endswith("narrower")
    assert cells[3][0].split(" [")[0] == cells[0][3].split(" [")[0].replace("-", "", 1)  # mish − relu = −(relu − mish)
    assert any(line.startswith("Mish has a wider minimum than ReLU: supported;") for line in lines)


@pytest.mark.parametrize("claim", CLAIM_FAMILY)
def test_each_claim_has_a_margin_and_words(claim):
    assert claim.margin > 0 and claim.sign in (1, -1) and claim.better != claim.worse


def test_each_primary_measure_keeps_the_sign_the_findings_table_gives_it():
    from landscape.studies.findings import CLAIMS

    assert all(CLAIMS[claim.measure][1] == claim.sign for claim in CLAIM_FAMILY)


def test_narrowing_compares_the_first_seeds_with_all_of_them():
    values = known_effects(seeds=5)
    values["output_curvature"] = {a: 0.05 + np.random.default_rng(1).normal(0, 0.01, (20, 1)) for a in ACTIVATIONS}
    rows = narrowing(values, 3)
    assert len(rows) == 3 * 6  # the output claim's replicates are initialisations: neither cut nor listed
    row = next(r for r in rows if (r["measure"], r["first"], r["second"]) == ("test_acc", "relu", "mish"))
    for seeds, width in ((3, row["width_before"]), (5, row["width_after"])):  # a paired t-interval by hand
        d = (values["test_acc"]["relu"] - values["test_acc"]["mish"])[:seeds, 0]
        assert width == pytest.approx(2 * scipy_stats.t.ppf(0.975, seeds - 1) * d.std(ddof=1) / np.sqrt(seeds))
    three = family_tests({m: {a: v[:3] for a, v in per.items()} if m != "output_curvature" else per
                          for m, per in values.items()})
    assert [r["verdict_before"] for r in rows] == [t.verdict for t in three if t.measure != "output_curvature"]
    assert (row["seeds_before"], row["seeds_after"]) == (3, 5)
    table = narrowing_markdown(rows, ACTIVATIONS)
    assert table[0] == "## What the added seeds changed (3 → 5 seeds)" and len(table) == 6 + 18 + 1
    assert narrowing(known_effects(seeds=3), 3) == []  # nothing added: no section


def test_the_summary_gives_mish_verdicts_in_the_papers_terms():
    lines = claims_markdown(family_tests(known_effects()), ACTIVATIONS)
    start = lines.index(next(line for line in lines if line.startswith("| Mish against … |")))
    assert lines[start] == ("| Mish against … | ReLU | Leaky ReLU (slope 0.3) | Swish | "
                            "Swish and Mish both better than ReLU |")
    wider, flatter, accuracy = (line.strip(" |").split(" | ") for line in lines[start + 2:start + 5])
    tests = family_tests(known_effects())
    mish_relu = next(t for t in tests if t.measure == "width_0.5" and {t.first, t.second} == {"mish", "relu"})
    sign = 1 if mish_relu.first == "mish" else -1
    assert wider[:2] == ["wider minimum (`width_0.5`)", f"**supported** ({sign * mish_relu.difference.mean:.3g})"]
    assert wider[2] == "inconclusive" and wider[3].startswith("**alike (within the margin)** (")
    assert wider[4] == "**supported**"
    assert flatter[4] == "**alike**" and accuracy[1:] == ["inconclusive"] * 4
    assert lines[start + 5] == ""  # the claims not measured (loss, outputs) get no row


def test_every_decided_pair_is_listed_with_the_better_one_first():
    tests = family_tests(known_effects())
    lines = decided_markdown(tests, ACTIVATIONS)
    rows = [line.strip(" |").split(" | ") for line in lines[4:] if line.startswith("| ")]
    decided = [t for t in tests if t.verdict != "inconclusive"]
    assert len(rows) == len(decided) > 0
    wider = next(r for r in rows if r[0] == "wider minimum (`width_0.5`)" and "ReLU" in r[1] and "Mish" in r[1])
    assert wider[1] == "Mish − ReLU" and wider[3] == "wider" and float(wider[2].split(" [")[0]) > 0
    assert all(float(r[4]) <= 0.05 for r in rows)  # a verdict needs the corrected test
    assert lines[-2].startswith(f"Nearest to a verdict of the {len(tests) - len(decided)} inconclusive tests:")
