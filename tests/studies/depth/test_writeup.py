import numpy as np
from scipy import stats

from landscape.studies.depth.writeup import depth_change_comparisons
from landscape.studies.mish_plan import STUDY_ACTIVATIONS


def test_mish_change_with_depth_is_a_difference_in_differences_over_seeds():
    """Mish's loss of test accuracy from the shallowest to the deepest depth against each other
    activation's, checked against a direct computation: per seed, the four runs' accuracies give
    (mish_deep − mish_shallow) − (other_deep − other_shallow); the interval is the t-interval of
    those per-seed values. The deepest depth is the deepest recorded for all four activations."""
    rng = np.random.default_rng(0)
    images, accuracy = 400, {}

    def record(name, depth, seed):
        p = {"relu": 0.6, "leaky_relu": 0.55, "swish": 0.6, "mish": 0.62}[name] - (depth - 1) * (
            0.01 if name == "mish" else 0.05) + 0.02 * seed
        correct = rng.random(images) < p
        accuracy[name, depth, seed] = 100 * correct.mean()
        return {"row": {"activation": name, "depth": depth, "seed": seed},
                "test_correct": "".join("1" if c else "0" for c in correct)}
    records = [record(name, d, s) for name in STUDY_ACTIVATIONS for d in (1, 3) for s in (0, 1, 2)]
    records += [record(name, 5, 0) for name in ("relu", "mish")]  # depth 5 is not recorded for all four
    lines = depth_change_comparisons(records, (1, 3, 5))
    assert [line.split(":")[0] for line in lines] == ["- L=1 → L=3"] * 3
    for other, line in zip(("relu", "leaky_relu", "swish"), lines):
        per_seed = [accuracy["mish", 3, s] - accuracy["mish", 1, s] - accuracy[other, 3, s] + accuracy[other, 1, s]
                    for s in range(3)]
        mean, half = np.mean(per_seed), stats.t.ppf(0.975, 2) * np.std(per_seed, ddof=1) / np.sqrt(3)
        assert f"mish − {other} = {mean:.3g} [{mean - half:.3g}, {mean + half:.3g}]" in line
        assert "(paired, over 3 seeds × 400 test images)" in line
    assert depth_change_comparisons(records, (1,)) == []  # one depth: nothing to compare
