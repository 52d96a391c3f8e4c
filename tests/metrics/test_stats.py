import numpy as np
import pytest
from scipy import stats

from landscape import LandscapeError
from landscape.metrics.stats import estimate, paired_difference, t_interval, unpaired_difference, verdict


def simulate(rng, seeds, directions, mean, seed_sd, direction_sd, shared=None):
    """[seeds, directions] measurements: a seed effect per row, a direction effect per column (shared
    between models when given, as with paired direction seeds), and noise."""
    columns = shared if shared is not None else 0.0
    return mean + rng.normal(0, seed_sd, (seeds, 1)) + columns + rng.normal(0, direction_sd, (seeds, directions))


def test_interval_covers_a_known_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true_difference, covered, draws = 0.03, 0, 2000
    for _ in range(draws):
        shared = rng.normal(0, 0.2, (1, 20))  # the direction's own effect, the same for both models
        a = simulate(rng, 3, 20, 0.40 + true_difference, 0.02, 0.05, shared)
        b = simulate(rng, 3, 20, 0.40, 0.02, 0.05, shared)
        d = paired_difference(a, b)
        covered += d.low <= true_difference <= d.high
    assert 0.93 <= covered / draws <= 0.97


def test_a_large_difference_is_supported_and_the_reverse_contradicted():
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 0.2, (1, 20))
    wide = simulate(rng, 3, 20, 0.6, 0.01, 0.03, shared)
    narrow = simulate(rng, 3, 20, 0.4, 0.01, 0.03, shared)
    d = paired_difference(wide, narrow)
    assert d.excludes_zero() == 1 and verdict(d, +1) == "supported" and verdict(d, -1) == "contradicted"
    same = paired_difference(simulate(rng, 3, 20, 0.4, 0.05, 0.05, shared),
                             simulate(rng, 3, 20, 0.4, 0.05, 0.05, shared))
    if same.excludes_zero() == 0:
        assert verdict(same, +1) == "inconclusive"
    one_seed = paired_difference(wide[:1], narrow[:1])  # over directions only: decides nothing about activations
    assert one_seed.excludes_zero() == 1 and verdict(one_seed, +1) == "exploratory"


def test_the_two_sources_of_spread_are_recovered():
    rng = np.random.default_rng(2)
    e = estimate(simulate(rng, 200, 50, 1.0, 0.3, 0.1))
    assert e.seed_sd == pytest.approx(0.3, rel=0.15) and e.direction_sd == pytest.approx(0.1, rel=0.05)
    assert e.levels == "200 seeds × 50 directions" and e.seeds == 200 and e.directions == 50


def test_one_seed_gives_an_interval_over_directions_only():
    values = np.array([[1.0, 2.0, 3.0, 4.0]])
    e = estimate(values)
    mean, low, high = t_interval(values[0])
    assert (e.mean, e.low, e.high) == (2.5, low, high) and e.levels == "4 directions, one seed"
    assert estimate(values.T).levels == "4 seeds" and estimate(values.T).low == pytest.approx(low)
    assert high - mean == pytest.approx(3.182446 * np.std(values[0], ddof=1) / 2, rel=1e-6)  # t(0.975, 3)


def test_unpaired_shapes_and_empty_data_are_refused():
    with pytest.raises(LandscapeError, match="same seeds and directions"):
        paired_difference(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(LandscapeError, match="no finite"):
        estimate(np.full((2, 2), np.nan))


def test_noise_budget_pools_the_two_spreads_and_splits_the_variance_of_the_mean():
    from landscape.metrics.stats import NoiseBudget, noise_budget

    # σs²/S = 0.09/3 = 0.03, σd²/(S·K) = 0.01/150: the seeds carry 0.03 / (0.03 + 0.01/150) of it
    assert NoiseBudget(0.3, 0.1, 3, 50).seed_share == pytest.approx(0.03 / (0.03 + 0.01 / 150))
    assert NoiseBudget(0.0, 0.1, 3, 50).seed_share == 0.0
    rng = np.random.default_rng(3)
    groups = [estimate(simulate(rng, 300, 40, m, 0.2, 0.05)) for m in (0.4, 0.6)]
    pooled = noise_budget(groups)
    assert pooled.seed_sd == pytest.approx(0.2, rel=0.15) and pooled.direction_sd == pytest.approx(0.05, rel=0.05)
    assert (pooled.seeds, pooled.directions) == (300, 40)
    assert pooled.seed_sd == pytest.approx(np.sqrt(np.mean([g.seed_sd ** 2 for g in groups])))
    assert noise_budget([estimate(np.ones((1, 5)) + np.arange(5))]) is None  # one seed: nothing to split


def test_an_unpaired_difference_is_welchs_interval():
    """Against scipy's Welch t-test: over the directions of one seed each (different numbers a side),
    and over the seed means where there are several seeds; too few replicates are refused."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 0.5, (1, 20)), rng.normal(0.4, 1.5, (1, 13))
    e = unpaired_difference(a, b)
    welch = stats.ttest_ind(a[0], b[0], equal_var=False).confidence_interval(0.95)
    assert e.mean == pytest.approx(a.mean() - b.mean()) and (e.low, e.high) == pytest.approx((welch.low, welch.high))
    assert e.levels == "20 + 13 directions, one seed"
    a3, b4 = rng.normal(0, 1, (3, 20)), rng.normal(0, 2, (4, 20))
    e = unpaired_difference(a3, b4)
    welch = stats.ttest_ind(a3.mean(axis=1), b4.mean(axis=1), equal_var=False).confidence_interval(0.95)
    assert (e.low, e.high) == pytest.approx((welch.low, welch.high)) and e.levels == "3 + 4 seeds"
    with pytest.raises(LandscapeError, match="two or more directions"):
        unpaired_difference(a[:, :1], b)


# --- family-wise error control and equivalence ---------------------------------------------------------------

def test_p_value_is_the_paired_t_test():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.3, 1, (5, 1)), rng.normal(0.0, 1, (5, 1))
    from landscape.metrics.stats import p_value
    expected = stats.ttest_rel(a[:, 0], b[:, 0]).pvalue
    assert p_value(paired_difference(a, b)) == pytest.approx(expected, rel=1e-10)
    seeds_by_directions = rng.normal(0, 1, (5, 40)) + 0.2
    seed_means = seeds_by_directions.mean(axis=1)
    assert p_value(estimate(seeds_by_directions)) == pytest.approx(stats.ttest_1samp(seed_means, 0).pvalue)


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from landscape.metrics.stats import holm_adjusted
    rng = np.random.default_rng(1)
    for m in (1, 2, 7, 33):
        p = rng.uniform(0, 0.2, m)
        np.testing.assert_allclose(holm_adjusted(list(p)), multipletests(p, method="holm")[1], rtol=1e-12)


def test_tost_matches_statsmodels_on_paired_data():
    from statsmodels.stats.weightstats import ttost_paired

    from landscape.metrics.stats import tost_p_value
    rng = np.random.default_rng(2)
    for shift, margin in ((0.0, 0.5), (0.0, 0.05), (0.4, 0.5), (1.0, 0.5), (-0.2, 0.6)):
        a = rng.normal(shift, 0.3, 12)
        b = rng.normal(0.0, 0.3, 12)
        p, _, _ = ttost_paired(a, b, -margin, margin)
        np.testing.assert_allclose(tost_p_value(paired_difference(a[:, None], b[:, None]), margin), p, rtol=1e-9)


def test_holm_keeps_the_family_wise_error_at_five_percent():
    """2,000 simulated families of 6 null comparisons, each a paired difference over 5 seeds × 40
    directions with seed and direction noise: at most 5 % of families contain a false 'supported'
    (2.5 standard errors of a 5 % rate allowed for the simulation's own noise), while the
    uncorrected intervals make one in over 20 % of them."""
    from landscape.metrics.stats import family_verdicts, verdict
    rng = np.random.default_rng(3)
    families, any_holm, any_raw = 2000, 0, 0
    for _ in range(families):
        differences = [paired_difference(rng.normal(0, 1, (5, 1)) + rng.normal(0, 4, (5, 40)), np.zeros((5, 40)))
                       for _ in range(6)]
        verdicts = family_verdicts(differences, [1] * 6, [1e-9] * 6)
        any_holm += any(v.verdict != "inconclusive" for v in verdicts)
        any_raw += any(verdict(d, 1) != "inconclusive" for d in differences)
    assert any_holm / families <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / families)
    assert any_raw / families > 0.2


def test_family_verdicts_on_known_effects():
    from landscape.metrics.stats import family_verdicts
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.01, (5, 1))
    large = paired_difference(np.full((5, 1), 1.0) + noise, np.zeros((5, 1)))  # clearly positive
    worse = paired_difference(np.full((5, 1), -1.0) + noise, np.zeros((5, 1)))  # clearly negative
    same = paired_difference(noise, np.zeros((5, 1)))  # near zero with a tight interval
    wide = paired_difference(rng.normal(0, 3, (5, 1)), np.zeros((5, 1)))  # near zero, wide interval
    assert [v.verdict for v in family_verdicts([large, worse, same, wide], [1, 1, 1, 1], [0.1] * 4)] == [
        "supported", "contradicted", "equivalent", "inconclusive"]


def test_binomial_interval_is_scipys_exact_interval():
    from scipy.stats import binomtest

    from landscape.metrics.stats import binomial_interval

    for events, trials in ((0, 1), (0, 10), (3, 10), (10, 10), (7, 40)):
        exact = binomtest(events, trials).proportion_ci(confidence_level=0.95, method="exact")
        assert binomial_interval(events, trials) == pytest.approx((exact.low, exact.high), abs=1e-12)
    with pytest.raises(LandscapeError, match="a rate needs"):
        binomial_interval(3, 2)


def test_the_jackknife_interval_of_a_pair_mean_covers_about_95_percent():
    """Pairs of seeds with seed effects shared by every pair a seed is in (b_ij = μ + s_i + s_j + e_ij):
    the jackknife over seeds keeps the coverage near 95 %, where a t-interval over the pairs as if
    independent falls short."""
    from landscape.metrics.stats import pair_mean_jackknife

    rng = np.random.default_rng(0)
    seeds, trials, mu = 6, 2000, 1.0
    covered = naive = 0
    for _ in range(trials):
        s = rng.normal(0, 1, seeds)
        pairs = {(i, j): mu + s[i] + s[j] + rng.normal(0, 0.5) for i in range(seeds) for j in range(i + 1, seeds)}
        e = pair_mean_jackknife(pairs)
        covered += e.low <= mu <= e.high
        _, low, high = t_interval(np.array(list(pairs.values())))
        naive += low <= mu <= high
    assert 0.92 <= covered / trials <= 0.98
    assert naive / trials < 0.85


def test_a_pair_mean_needs_every_pair_of_three_seeds():
    from landscape.metrics.stats import pair_mean_jackknife

    assert pair_mean_jackknife({(0, 1): 1.0, (0, 2): 2.0, (1, 2): 3.0}).mean == 2.0
    with pytest.raises(LandscapeError, match="every pair of 3 or more seeds"):
        pair_mean_jackknife({(0, 1): 1.0, (0, 2): 2.0})
    with pytest.raises(LandscapeError):
        pair_mean_jackknife({(0, 1): 1.0})
