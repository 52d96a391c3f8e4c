import numpy as np
import pytest
from scipy import stats

from landscape.studies.depth.writeup import depth_family, exploratory_comparisons, trained_lines
from landscape.studies.mish_plan import STUDY_ACTIVATIONS


def synthetic_records(depths_seeds: dict[int, tuple[int, ...]], images: int = 400):
    """Records whose accuracy falls with depth, Mish's five times slower; and the accuracies drawn."""
    rng = np.random.default_rng(0)
    accuracy, records = {}, []
    for depth, seeds in depths_seeds.items():
        for seed in seeds:
            for name in STUDY_ACTIVATIONS:
                p = {"relu": 0.6, "leaky_relu": 0.55, "swish": 0.6, "mish": 0.62}[name] - (depth - 1) * (
                    0.01 if name == "mish" else 0.05) + 0.02 * seed
                correct = rng.random(images) < p
                accuracy[name, depth, seed] = 100 * correct.mean()
                records.append({"row": {"activation": name, "depth": depth, "seed": seed},
                                "test_correct": "".join("1" if c else "0" for c in correct)})
    return records, accuracy


def test_the_depth_family_tests_every_pair_on_each_claim_with_the_change_as_a_difference_in_differences():
    """Accuracy at each repeated depth and its change between them, every pair of activations; the
    change of a pair checked against a direct computation: per seed (first_deep − first_shallow) −
    (second_deep − second_shallow), its t-interval over seeds."""
    records, accuracy = synthetic_records({1: (0, 1, 2), 3: (0, 1, 2), 5: (0,)})
    claims, tests = depth_family(records, (1, 3, 5))
    assert [c.measure for c in claims] == ["test_acc_L1", "test_acc_L3", "test_acc_change_L1_L3"]
    assert len(tests) == 3 * 6 and {t.verdict for t in tests} <= {"higher", "lower", "steadier", "less steady",
                                                                  "alike", "inconclusive"}
    for t in (t for t in tests if t.measure == "test_acc_change_L1_L3"):
        per_seed = [accuracy[t.first, 3, s] - accuracy[t.first, 1, s] - accuracy[t.second, 3, s]
                    + accuracy[t.second, 1, s] for s in range(3)]
        half = stats.t.ppf(0.975, 2) * np.std(per_seed, ddof=1) / np.sqrt(3)
        assert (t.difference.mean, t.difference.low, t.difference.high) == pytest.approx(
            (np.mean(per_seed), np.mean(per_seed) - half, np.mean(per_seed) + half))
    holm = sorted(t.p_holm for t in tests)
    assert holm == sorted(holm) and all(t.p_holm >= t.p for t in tests)  # corrected over the family
    lines = exploratory_comparisons(records, (1, 3, 5), claims)
    assert [line.split(":")[0] for line in lines] == ["- L=5"] * 3  # the one-seed depth only
    assert all(line.endswith("exploratory (one training seed: its interval leaves out the seed-to-seed noise)")
               for line in lines)


def test_without_repeated_ends_the_change_with_depth_is_exploratory():
    records, _ = synthetic_records({1: (0,), 3: (0, 1)})
    claims, tests = depth_family(records, (1, 3))
    assert [c.measure for c in claims] == ["test_acc_L3"] and len(tests) == 6
    lines = exploratory_comparisons(records, (1, 3), claims)
    assert [line.split(":")[0] for line in lines] == ["- L=1"] * 3 + ["- L=1 → L=3"] * 3
    assert depth_family(records, (1,)) == ((), [])  # one seed at one depth: no family


def test_failures_come_with_the_exact_interval_of_their_rate():
    rows = [{"activation": name, "depth": d, "seed": 0, "diverged_epoch": None, "never_left_chance": False}
            for name in STUDY_ACTIVATIONS for d in (15, 25)]
    rows[-1] = {**rows[-1], "diverged_epoch": 3}  # Mish at 25 diverges
    relu, _, _, mish = trained_lines(rows, (15, 25))
    assert relu == "- ReLU: every run trains up to L=25; 0 of 2 runs failed (failure rate 0–84 %, 95 % exact interval)"
    assert mish.startswith("- Mish: every run trains up to L=15; 1 of 2 runs failed (failure rate 1–99 %")
