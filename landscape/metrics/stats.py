"""Uncertainty of a comparison: means with 95 % intervals over directions and training seeds, and
the verdict a claim gets from its interval.

Stage: metrics → findings, pure numpy/scipy. A measurement is a [seeds, directions] array (one
row per trained model, one column per random direction, the same direction seeds in every row
and for every model, so models can be compared direction by direction).

The interval is the t-interval of the seed means (df = seeds − 1): each seed mean carries its own
direction noise, so the interval covers both sources, and it is exact for normal errors even
with three seeds (a bootstrap of three seeds would be too narrow). With a single seed the
interval is over directions only and says so (`levels`). A [seeds, 1] array (one value per seed)
gives the plain t-interval over seeds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as scipy_stats

from landscape.errors import LandscapeError

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95 % interval, and the two sources of spread behind it."""

    mean: float
    low: float
    high: float
    seeds: int
    directions: int
    seed_sd: float  # spread of the seed means not explained by direction noise (NaN with one seed)
    direction_sd: float  # pooled within-seed spread over directions
    levels: str  # what the interval is over, e.g. "3 seeds × 20 directions", "20 directions, one seed"
    df: float = float("nan")  # degrees of freedom of the t-interval (Welch's for an unpaired difference)
    se: float = float("nan")  # standard error of the mean

    def excludes_zero(self) -> int:
        """+1 if the interval lies above zero, −1 if below, 0 if it contains zero."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0


def t_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high) of the t-interval of the mean of `values`."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return mean, float("nan"), float("nan")
    half = scipy_stats.t.ppf(0.5 + level / 2, n - 1) * standard_error(values)
    return mean, mean - half, mean + half


def standard_error(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else float("nan")


def estimate(measurements: np.ndarray, level: float = LEVEL, replicates: str = "directions") -> Estimate:
    """The mean of a [seeds, directions] array (NaN entries ignored) with its interval. The columns
    are any replicates within a seed (`replicates` names them: random directions, test images)."""
    data = np.atleast_2d(np.asarray(measurements, dtype=np.float64))
    rows = [row[np.isfinite(row)] for row in data]
    rows = [r for r in rows if len(r)]
    if not rows:
        raise LandscapeError("no finite measurements to summarise")
    counts = np.array([len(r) for r in rows])
    within = [np.var(r, ddof=1) for r in rows if len(r) > 1]
    direction_sd = float(np.sqrt(np.mean(within))) if within else float("nan")
    if len(rows) == 1:
        mean, low, high = t_interval(rows[0], level)
        levels = f"{counts[0]} {replicates}, one seed" if counts[0] > 1 else "a single value: no interval"
        return Estimate(mean, low, high, 1, int(counts[0]), float("nan"), direction_sd, levels,
                        float(counts[0] - 1), standard_error(rows[0]))
    seed_means = np.array([r.mean() for r in rows])
    mean, low, high = t_interval(seed_means, level)
    between = np.var(seed_means, ddof=1) - (direction_sd ** 2 / counts).mean() if within else np.var(seed_means, ddof=1)
    levels = f"{len(rows)} seeds" + (f" × {counts.min()} {replicates}" if counts.min() > 1 else "")
    return Estimate(mean, low, high, len(rows), int(counts.min()), float(np.sqrt(max(between, 0.0))), direction_sd,
                    levels, float(len(rows) - 1), standard_error(seed_means))


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = LEVEL, replicates: str = "directions") -> Estimate:
    """a − b, replicate by replicate (same seed row, same direction or image column), with its interval."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape != b.shape:
        raise LandscapeError(f"paired measurements need the same seeds and {replicates}; got {a.shape} and {b.shape}")
    return estimate(a - b, level, replicates)


def unpaired_difference(a: np.ndarray, b: np.ndarray, level: float = LEVEL,
                        replicates: str = "directions") -> Estimate:
    """mean(a) − mean(b) where nothing pairs a's replicates with b's (random directions drawn in
    weight spaces of different shapes, say): Welch's t-interval over the seed means where both have
    several seeds, else over the replicates of their single seed."""
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    one_seed = len(a) == 1 and len(b) == 1
    units = [m[0][np.isfinite(m[0])] if one_seed else np.array([r[np.isfinite(r)].mean() for r in m])
             for m in (a, b)]
    if min(len(u) for u in units) < 2:
        raise LandscapeError(f"an unpaired difference needs two or more {replicates if one_seed else 'seeds'} a side")
    shares = [np.var(u, ddof=1) / len(u) for u in units]  # the squared standard error of each mean
    total = sum(shares)
    df = total ** 2 / sum(v ** 2 / (len(u) - 1) for v, u in zip(shares, units)) if total > 0 else np.inf
    mean = float(units[0].mean() - units[1].mean())
    half = float(scipy_stats.t.ppf(0.5 + level / 2, df) * np.sqrt(total))
    sizes = f"{len(units[0])} + {len(units[1])}"
    levels = f"{sizes} {replicates}, one seed" if one_seed else f"{sizes} seeds"
    return Estimate(mean, mean - half, mean + half, 1 if one_seed else min(len(u) for u in units),
                    min(a.shape[1], b.shape[1]), float("nan"), float("nan"), levels, float(df), float(np.sqrt(total)))


@dataclass(frozen=True)
class NoiseBudget:
    """Where the uncertainty of a mean over S seeds × K directions comes from, pooled (root mean
    square) over several estimates of one measure: says whether more seeds or more directions
    would narrow its intervals."""

    seed_sd: float
    direction_sd: float
    seeds: int
    directions: int

    @property
    def seed_share(self) -> float:
        """The seeds' share of the variance of the mean, (σs²/S) / (σs²/S + σd²/(S·K))."""
        from_seeds = self.seed_sd ** 2 / self.seeds
        total = from_seeds + self.direction_sd ** 2 / (self.seeds * self.directions)
        return from_seeds / total if total > 0 else float("nan")

    @property
    def advice(self) -> str:
        """Which of the two would narrow the intervals most."""
        return "more seeds" if self.seed_share >= 0.5 else "more directions"

    def to_json(self) -> dict:
        return {**asdict(self), "seed_share": self.seed_share}


def noise_budget(estimates: list[Estimate]) -> NoiseBudget | None:
    """The pooled budget of estimates over several seeds and directions; None where either is single."""
    usable = [e for e in estimates if e.seeds > 1 and e.directions > 1]
    if not usable:
        return None
    return NoiseBudget(float(np.sqrt(np.mean([e.seed_sd ** 2 for e in usable]))),
                       float(np.sqrt(np.mean([e.direction_sd ** 2 for e in usable]))),
                       min(e.seeds for e in usable), min(e.directions for e in usable))


def verdict(difference: Estimate, claimed_sign: int) -> str:
    """'supported' if the interval excludes zero in the claimed direction (+1: a − b > 0, −1: < 0),
    'contradicted' if it excludes zero the other way, else 'inconclusive'; 'exploratory' for one
    training seed measured over several replicates, whose interval leaves out the seed-to-seed
    noise and so cannot decide a claim about the activations."""
    if difference.seeds == 1 and difference.directions > 1:
        return "exploratory"
    side = difference.excludes_zero()
    if side == 0:
        return "inconclusive"
    return "supported" if side == claimed_sign else "contradicted"


@dataclass(frozen=True)
class Comparison:
    """subject − other for one measure, paired, with the verdict on a claim about its sign."""

    measure: str
    subject: str
    other: str
    difference: Estimate
    claimed_sign: int
    verdict: str
    pairing: str = "paired"  # or "unpaired" (`unpaired_difference`)


def compare(measure: str, values: dict[str, np.ndarray], subject: str, claimed_sign: int,
            replicates: str = "directions") -> list[Comparison]:
    """The subject against every other group of `values` ({name: [seeds, replicates]}, paired)."""
    out = []
    for other, measurements in values.items():
        if other != subject:
            d = paired_difference(values[subject], measurements, replicates=replicates)
            out.append(Comparison(measure, subject, other, d, claimed_sign, verdict(d, claimed_sign)))
    return out


def describe(c: Comparison, digits: int = 3) -> str:
    """One line: the difference, its interval and the verdict."""
    d = c.difference
    interval = (f" [{d.low:.{digits}g}, {d.high:.{digits}g}]" if np.isfinite(d.low) and np.isfinite(d.high)
                else " (no interval: a single value)")
    return (f"{c.measure}: {c.subject} − {c.other} = {d.mean:.{digits}g}{interval} "
            f"({c.pairing}, over {d.levels}): {c.verdict}"
            + (" (one training seed: its interval leaves out the seed-to-seed noise)" if c.verdict == "exploratory"
               else ""))


def binomial_interval(events: int, trials: int, level: float = LEVEL) -> tuple[float, float]:
    """Clopper–Pearson (exact) interval of a rate from `events` in `trials`: with no events in n
    trials, the rates it rules out are those above 1 − ((1 − level)/2)^(1/n)."""
    if not 0 <= events <= trials or trials < 1:
        raise LandscapeError(f"a rate needs 0 ≤ events ≤ trials and trials ≥ 1; got {events} of {trials}")
    tail = (1 - level) / 2
    low = float(scipy_stats.beta.ppf(tail, events, trials - events + 1)) if events else 0.0
    high = float(scipy_stats.beta.ppf(1 - tail, events + 1, trials - events)) if events < trials else 1.0
    return low, high


# --- several comparisons at once: family-wise error control and equivalence ---------------------------------

def p_value(difference: Estimate) -> float:
    """Two-sided p-value of 'the mean is zero' from the estimate's t statistic (mean / se, its df)."""
    if not (difference.se > 0 and difference.df >= 1):
        return float("nan")
    return float(2 * scipy_stats.t.sf(abs(difference.mean) / difference.se, difference.df))


def holm_adjusted(p_values: list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: the family-wise error rate of rejecting every adjusted
    p below α is at most α, whatever the dependence between the tests (Holm 1979)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    steps = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted


def tost_p_value(difference: Estimate, margin: float) -> float:
    """p-value of two one-sided tests against 'the difference is at least `margin` away from zero':
    the larger of the two one-sided t-test p-values (small: shown to lie inside ±margin)."""
    if not (difference.se > 0 and difference.df >= 1) or margin <= 0:
        return float("nan")
    below = scipy_stats.t.sf((difference.mean + margin) / difference.se, difference.df)  # H0: mean ≤ −margin
    above = scipy_stats.t.cdf((difference.mean - margin) / difference.se, difference.df)  # H0: mean ≥ +margin
    return float(max(below, above))


@dataclass(frozen=True)
class FamilyVerdict:
    """One comparison of a declared family: its p-values and the verdict they give."""

    p: float  # two-sided, uncorrected: "no difference"
    p_holm: float  # the same, Holm-corrected over the family
    p_alike_holm: float  # TOST, "at least the margin away from zero", Holm-corrected over the family
    verdict: str  # 'supported', 'contradicted', 'equivalent' or 'inconclusive'


def family_verdicts(differences: list[Estimate], claimed_signs: list[int], margins: list[float],
                    alpha: float = 1 - LEVEL) -> list[FamilyVerdict]:
    """The verdict of each comparison in one declared family: 'supported' or 'contradicted' where
    Holm's correction over the family rejects 'no difference' (by the sign of the difference
    against the claim), 'equivalent' where TOST, Holm-corrected over the family too, shows it inside
    its margin, else 'inconclusive'. Only 'equivalent' may be written as 'alike'."""
    raw = [p_value(d) for d in differences]
    different = holm_adjusted(raw)
    alike = holm_adjusted([tost_p_value(d, m) for d, m in zip(differences, margins)])
    out = []
    for d, sign, p, p_holm, p_alike in zip(differences, claimed_signs, raw, different, alike):
        if p_holm < alpha:
            word = "supported" if np.sign(d.mean) == sign else "contradicted"
        else:
            word = "equivalent" if p_alike < alpha else "inconclusive"
        out.append(FamilyVerdict(float(p), float(p_holm), float(p_alike), word))
    return out


def pair_mean_jackknife(values: dict[tuple[int, int], float], level: float = LEVEL) -> Estimate:
    """The mean of a measure over every pair of seeds (a barrier between seeds i and j, say), with
    a t-interval from the jackknife over seeds: pairs that share a seed are not independent, so the
    spread over pairs would understate the noise. Leaving out seed k leaves the pairs without it;
    the variance is (n − 1)/n · Σ_k (θ₍ₖ₎ − θ̄₍·₎)², with n − 1 degrees of freedom. Needs 3 or
    more seeds and every pair among them."""
    seeds = sorted({s for pair in values for s in pair})
    n = len(seeds)
    expected = {(a, b) for i, a in enumerate(seeds) for b in seeds[i + 1:]}
    if n < 3 or {tuple(sorted(p)) for p in values} != expected:
        raise LandscapeError(f"a pair mean with its interval needs every pair of 3 or more seeds; got pairs "
                             f"{sorted(values)}")
    mean = float(np.mean(list(values.values())))
    left_out = np.array([np.mean([v for p, v in values.items() if k not in p]) for k in seeds])
    se = float(np.sqrt((n - 1) / n * np.sum((left_out - left_out.mean()) ** 2)))
    half = scipy_stats.t.ppf(0.5 + level / 2, n - 1) * se
    return Estimate(mean, mean - half, mean + half, n, 1, float("nan"), float("nan"),
                    f"{len(values)} pairs of {n} seeds (jackknife over seeds)", float(n - 1), se)
