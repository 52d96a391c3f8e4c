"""The Mish paper's claims as one declared family of tests.

Stage: metrics → findings. Each claim has one primary measure, fixed here before any data are read
(docs/findings.md gives the reasons and the margins). Every pair of activations is compared on each
primary measure (paired by training seed and direction), and Holm's correction runs over the whole
family, both for "different" and for "alike" (two one-sided tests within the claim's margin). The
verdicts of this family are the study's findings; every other comparison is exploratory.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np

from landscape.metrics.stats import LEVEL, Estimate, family_verdicts, paired_difference
from landscape.sources.specs import display_name
from landscape.storage.tables import format_estimate, format_number


@dataclass(frozen=True)
class Claim:
    """What the paper says of Mish, the measure that tests it, and which way is better."""

    statement: str  # "a wider minimum"
    measure: str
    sign: int  # +1: a higher value is better for this claim; −1: lower is better
    margin: float  # two activations are alike when their difference is shown to lie within ±margin
    better: str  # the word for "better" on this measure ("wider")
    worse: str
    relative: bool = False  # margin as a fraction of the pair's mean rather than in the measure's unit
    over_training_seeds: bool = True  # its replicates are training seeds (False: random initialisations)

    def word(self, verdict: str) -> str:
        """A verdict of `stats.family_verdicts` in this claim's words ('wider', 'alike', 'inconclusive')."""
        return {"supported": self.better, "contradicted": self.worse, "equivalent": "alike"}.get(verdict, verdict)


CLAIM_FAMILY = (
    Claim("a wider minimum", "width_0.5", +1, 0.02, "wider", "narrower"),
    Claim("a flatter minimum", "hessian_trace", -1, 0.05, "flatter", "sharper", relative=True),
    Claim("a lower training loss", "train_loss_full", -1, 0.005, "lower", "higher"),
    Claim("a higher test accuracy", "test_acc", +1, 0.3, "higher", "lower"),
    Claim("a smoother output landscape", "output_curvature", -1, 0.05, "smoother", "rougher", relative=True,
          over_training_seeds=False),
)
SUBJECT, BASELINE, SMOOTH = "mish", "relu", ("swish", "mish")  # "smooth activations beat ReLU"


@dataclass(frozen=True)
class PairTest:
    """first − second on one claim's measure, with its family-corrected verdict for `first`."""

    statement: str
    measure: str
    first: str
    second: str
    difference: Estimate
    margin: float
    p: float  # two-sided, uncorrected
    p_holm: float
    p_alike_holm: float  # TOST within ±margin, Holm-corrected over the family
    verdict: str  # of first against second: the claim's better/worse word, "alike" or "inconclusive"


def family_tests(values: dict[str, dict[str, np.ndarray]], claims: tuple[Claim, ...] = CLAIM_FAMILY,
                level: float = LEVEL) -> list[PairTest]:
    """Every pair of activations on every claim whose measure was measured (`values`: measure →
    activation → [seeds, replicates]), Holm-corrected over all of them."""
    tested = []
    for claim in claims:
        if claim.measure not in values:
            continue
        per = values[claim.measure]
        for first, second in combinations(per, 2):
            d = paired_difference(per[first], per[second])
            scale = abs(np.nanmean(per[first]) + np.nanmean(per[second])) / 2 if claim.relative else 1.0
            tested.append((claim, first, second, d, claim.margin * scale))
    verdicts = family_verdicts([d for _, _, _, d, _ in tested], [claim.sign for claim, *_ in tested],
                               [margin for *_, margin in tested], 1 - level)
    out = []
    for (claim, first, second, d, margin), v in zip(tested, verdicts):
        out.append(PairTest(claim.statement, claim.measure, first, second, d, margin, v.p, v.p_holm,
                            v.p_alike_holm, claim.word(v.verdict)))
    return out


def narrowing(values: dict[str, dict[str, np.ndarray]], first: int,
              claims: tuple[Claim, ...] = CLAIM_FAMILY) -> list[dict]:
    """What the training seeds beyond the first `first` changed: each test of a claim over training
    seeds, its interval's width and its verdict when only seeds [0, first) of every activation are
    used (the rest of the family as it is, so Holm runs over as many tests) and with all of them.
    Empty where no activation has more than `first` seeds."""
    trained = {c.measure for c in claims if c.over_training_seeds and c.measure in values}
    if not any(len(v) > first for m in trained for v in values[m].values()):
        return []
    fewer = {m: {a: v[:first] for a, v in per.items()} if m in trained else per for m, per in values.items()}
    before = {(t.measure, t.first, t.second): t for t in family_tests(fewer, claims)}
    return [{"measure": t.measure, "first": t.first, "second": t.second,
             "seeds_before": before[key].difference.seeds, "seeds_after": t.difference.seeds,
             "width_before": before[key].difference.high - before[key].difference.low,
             "width_after": t.difference.high - t.difference.low,
             "verdict_before": before[key].verdict, "verdict_after": t.verdict}
            for t in family_tests(values, claims) if t.measure in trained
            for key in [(t.measure, t.first, t.second)]]


def narrowing_markdown(rows: list[dict], activations: dict[str, dict], heading: str = "##") -> list[str]:
    """The before/after table of `narrowing`, with the median ratio of the widths."""
    if not rows:
        return []
    names = {a: display_name(a, p) for a, p in activations.items()}
    ratios = [r["width_after"] / r["width_before"] for r in rows if r["width_before"] > 0]
    return [f"{heading} What the added seeds changed ({rows[0]['seeds_before']} → {rows[0]['seeds_after']} seeds)",
            "", f"Each interval of the family, on the first {rows[0]['seeds_before']} seeds (the rest of the family "
            f"as it is) and on all; the median width ratio, after ÷ before, is {np.median(ratios):.2f}.", "",
            "| measure | pair | width before | width after | after ÷ before | verdict before | verdict after |",
            "|---|---|---|---|---|---|---|"] + [
        f"| `{r['measure']}` | {names.get(r['first'], r['first'])} − {names.get(r['second'], r['second'])} "
        f"| {r['width_before']:.3g} | {r['width_after']:.3g} | {r['width_after'] / r['width_before']:.2f} "
        f"| {r['verdict_before']} | {r['verdict_after']} |" for r in rows] + [""]


def pair_test(tests: list[PairTest], measure: str, first: str, second: str) -> tuple[PairTest | None, int]:
    """The test of `first` against `second` on `measure`, whichever order the pair was tested in, and
    the sign that turns its difference into first − second (None, 0 where the pair was not tested)."""
    for t in tests:
        if t.measure == measure and (t.first, t.second) in ((first, second), (second, first)):
            return t, 1 if t.first == first else -1
    return None, 0


def verdict_of(tests: list[PairTest], claim: Claim, first: str, second: str) -> str:
    """The verdict of `first` against `second` on `claim`, whichever order the pair was tested in."""
    test, sign = pair_test(tests, claim.measure, first, second)
    if test is None:
        return "not measured"
    return test.verdict if sign > 0 else {claim.better: claim.worse, claim.worse: claim.better}.get(
        test.verdict, test.verdict)


def paper_word(claim: Claim, verdict: str) -> str:
    """A verdict of Mish against another activation, in terms of the paper's claim."""
    return {claim.better: "supported", claim.worse: "contradicted", "alike": "alike (within the margin)"}.get(
        verdict, verdict)


def smooth_against_baseline(tests: list[PairTest], claim: Claim) -> str:
    """'Swish and Mish are both better than ReLU' as one statement: supported only if each pair is
    (an intersection-union test: no further correction needed), contradicted if either is worse."""
    verdicts = [verdict_of(tests, claim, smooth, BASELINE) for smooth in SMOOTH]
    if all(v == claim.better for v in verdicts):
        return "supported"
    if any(v == claim.worse for v in verdicts):
        return "contradicted"
    return "alike" if all(v == "alike" for v in verdicts) else "inconclusive"


def subject_summary(tests: list[PairTest], names: dict[str, str], order: list[str],
                    claims: tuple[Claim, ...] = CLAIM_FAMILY) -> list[str]:
    """Mish against each other activation, claim by claim, in the paper's terms: the verdict and,
    where there is one, the difference Mish − other; and the smooth-activations statement."""
    if SUBJECT not in order:
        return []
    others = [a for a in order if a != SUBJECT]
    lines = [f"{names[SUBJECT]}'s verdicts in the paper's terms (supported: in the direction the paper claims; "
             f"in brackets {names[SUBJECT]} − the other activation):", "",
             f"| {names[SUBJECT]} against … | " + " | ".join(names[o] for o in others)
             + f" | {' and '.join(names.get(a, a) for a in SMOOTH)} both better than {names.get(BASELINE, BASELINE)} |",
             "|---|" + "---|" * (len(others) + 1)]
    for claim in claims:
        if not any(t.measure == claim.measure for t in tests):
            continue
        cells = []
        for other in others:
            word = paper_word(claim, verdict_of(tests, claim, SUBJECT, other))
            if word in ("inconclusive", "not measured"):
                cells.append(word)
                continue
            test, sign = pair_test(tests, claim.measure, SUBJECT, other)
            cells.append(f"**{word}** ({format_number(sign * test.difference.mean)})")
        both = smooth_against_baseline(tests, claim)
        cells.append(both if both == "inconclusive" else f"**{both}**")
        lines.append(f"| {claim.statement.removeprefix('a ')} (`{claim.measure}`) | " + " | ".join(cells) + " |")
    return lines + [""]


def oriented_estimate(d: Estimate, sign: int) -> str:
    """`d` as 'mean [low, high]', negated where `sign` is −1 (the pair read the other way round)."""
    low, high = sorted((sign * d.low, sign * d.high))
    return format_estimate(sign * d.mean, low, high)


def claims_markdown(tests: list[PairTest], activations: dict[str, dict],
                    claims: tuple[Claim, ...] = CLAIM_FAMILY, heading: str = "##") -> list[str]:
    """The family as Markdown: per claim a matrix of row − column differences with their verdicts,
    Mish's verdict against each other activation, and the smooth-activations statement."""
    if not tests:
        return []
    names = {a: display_name(a, p) for a, p in activations.items()}
    order = [a for a in activations if any(a in (t.first, t.second) for t in tests)]
    lines = [f"{heading} The paper's claims ({len(tests)} tests, Holm-corrected together)", "",
             "Each claim is tested on one primary measure, declared before the data were read; every pair of "
             "activations is compared on it. A verdict needs Holm's correction over all the tests below "
             "(different: better or worse; or, by two one-sided tests, alike within the margin). The intervals "
             "are each at 95 %, uncorrected, so one that just excludes zero can still be inconclusive.", ""]
    lines += subject_summary(tests, names, order, claims)
    for claim in claims:
        mine = [t for t in tests if t.measure == claim.measure]
        if not mine:
            continue
        margin = f"±{100 * claim.margin:g} % of the pair's mean" if claim.relative else f"±{claim.margin:g}"
        lines += [f"{heading}# {claim.statement}: `{claim.measure}` (alike within {margin})", "",
                  "| row − column | " + " | ".join(names[a] for a in order) + " |", "|---|" + "---|" * len(order)]
        for row in order:
            cells = []
            for column in order:
                test, sign = pair_test(mine, claim.measure, row, column)
                if test is None:
                    cells.append("–")
                    continue
                cells.append(f"{oriented_estimate(test.difference, sign)} {verdict_of(tests, claim, row, column)}")
            lines.append(f"| {names[row]} | " + " | ".join(cells) + " |")
        mish = [f"{names[o]}: {paper_word(claim, verdict_of(tests, claim, SUBJECT, o))}" for o in order if o != SUBJECT]
        lines += ["", f"Mish has {claim.statement} than " + "; ".join(mish) + ". "
                  f"Swish and Mish both {claim.better} than ReLU: {smooth_against_baseline(tests, claim)}.", ""]
    return lines


def decided_markdown(tests: list[PairTest], activations: dict[str, dict],
                     claims: tuple[Claim, ...] = CLAIM_FAMILY, heading: str = "###") -> list[str]:
    """Every pair of the family with a verdict (better, worse or alike), the better activation named
    first, with its Holm-corrected p; and the undecided test that comes nearest to a verdict."""
    if not tests:
        return []
    names = {a: display_name(a, p) for a, p in activations.items()}
    by_measure = {c.measure: c for c in claims}
    lines = [f"{heading} Every pair with a verdict", "",
             "| claim | pair | difference [95 % interval] | verdict | Holm-corrected p |", "|---|---|---|---|---|"]
    for t in tests:
        claim = by_measure.get(t.measure)
        if t.verdict == "inconclusive" or claim is None:
            continue
        sign = -1 if t.verdict == claim.worse else 1  # name the better one first
        first, second = (t.first, t.second) if sign > 0 else (t.second, t.first)
        verdict, p = ("alike", t.p_alike_holm) if t.verdict == "alike" else (claim.better, t.p_holm)
        lines.append(f"| {claim.statement.removeprefix('a ')} (`{t.measure}`) | {names[first]} − {names[second]} "
                     f"| {oriented_estimate(t.difference, sign)} | {verdict} | {p:.2g} |")
    if len(lines) == 4:
        lines.append("| none | | | | |")
    rest = [t for t in tests if t.verdict == "inconclusive"]
    if rest:
        near = min(rest, key=lambda t: min(t.p_holm, t.p_alike_holm))
        kind, p = ("alike", near.p_alike_holm) if near.p_alike_holm < near.p_holm else ("different", near.p_holm)
        lines += ["", f"Nearest to a verdict of the {len(rest)} inconclusive tests: {names[near.first]} − "
                  f"{names[near.second]} on `{near.measure}`, "
                  f"{oriented_estimate(near.difference, 1)}, "
                  f"{kind} at Holm-corrected p = {p:.2g}."]
    return lines + [""]


def tests_json(tests: list[PairTest]) -> list[dict]:
    return [asdict(t) for t in tests]
