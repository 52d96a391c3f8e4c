import numpy as np
from scipy import stats

from landscape.studies.depth.landscapes import landscape_comparisons
from landscape.studies.mish_plan import STUDY_ACTIVATIONS


def test_landscape_comparisons_pair_directions_within_a_depth_and_not_across():
    """Synthetic slices: every basin narrows and sharpens from L=15 to L=25, Mish's least. Within a
    depth the networks share a direction effect, which pairing removes; across depths the changes
    are unpaired, and Mish's change minus ReLU's is Welch's interval over the two depths' paired
    differences (scipy, computed directly)."""
    rng = np.random.default_rng(0)
    width = {15: dict.fromkeys(STUDY_ACTIVATIONS, 3.0), 25: {**dict.fromkeys(STUDY_ACTIVATIONS, 1.0), "mish": 2.0}}
    curvature = {15: dict.fromkeys(STUDY_ACTIVATIONS, 0.1), 25: {**dict.fromkeys(STUDY_ACTIVATIONS, 0.5), "mish": 0.3}}

    def at_depth(d):
        shared = rng.normal(0, 0.3, (1, 20))  # this depth's directions, the same for its four networks
        return {"width_0.5": {n: width[d][n] + shared + rng.normal(0, 0.05, (1, 20)) for n in STUDY_ACTIVATIONS},
                "curvature": {n: curvature[d][n] + shared / 10 + rng.normal(0, 0.005, (1, 20))
                              for n in STUDY_ACTIVATIONS}}
    slices = {15: at_depth(15), 25: at_depth(25)}
    lines = landscape_comparisons(slices)
    relu_change = next(line for line in lines if line.startswith("- ReLU: width_0.5 L=25 − L=15 = "))
    one_seed = " (exploratory: one training seed)"
    assert relu_change.endswith("(unpaired, over 20 + 20 directions, one seed): narrower with depth" + one_seed)
    mish_change = next(line for line in lines if line.startswith("- Mish: curvature"))
    assert mish_change.endswith("sharper with depth" + one_seed)
    at_deep = next(line for line in lines if line.startswith("- L=25: width_0.5: mish − relu = "))
    assert "(paired, over 20 directions, one seed): exploratory (one training seed" in at_deep  # no verdict
    w = {d: slices[d]["width_0.5"] for d in slices}
    welch = stats.ttest_ind((w[25]["mish"] - w[25]["relu"])[0], (w[15]["mish"] - w[15]["relu"])[0],
                            equal_var=False).confidence_interval(0.95)
    change = next(line for line in lines if line.startswith("- width_0.5 change L=15→25: mish − relu = "))
    assert f"[{welch.low:.3g}, {welch.high:.3g}] (unpaired, over 20 + 20 directions, one seed): exploratory" in change
    curved = next(line for line in lines if line.startswith("- curvature change L=15→25: mish − swish = "))
    low, high = (float(v) for v in curved.split("[")[1].split("]")[0].split(", "))
    assert high < 0 and "): exploratory" in curved  # Mish's curvature grows less, described without a verdict
