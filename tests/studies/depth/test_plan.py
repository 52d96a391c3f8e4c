from dataclasses import replace

from landscape.studies.depth.plan import DepthProfile, sweep_plan


def test_the_sweep_trains_the_decisive_runs_first():
    """Without repeats: seed by seed, shallow to deep. With repeats: the first seed at the repeat
    depths, the repeat seeds there, then the other depths; every (seed, depth) exactly once."""
    base = DepthProfile(name="test", depths=(15, 17, 19, 25), seeds=(0,), epochs=1, train_samples=None, width=8,
                        dropout=0.25, lr=1e-3, checkpoint_dir="ck", output_dir="out", grid="-1:1:3", samples=10,
                        directions=2, slice_grid="-1:1:5")
    assert sweep_plan(base) == [(0, 15), (0, 17), (0, 19), (0, 25)]
    repeated = replace(base, repeat_depths=(15, 25), repeat_seeds=(0, 1, 2))
    assert sweep_plan(repeated) == [(0, 15), (0, 25), (1, 15), (1, 25), (2, 15), (2, 25), (0, 17), (0, 19)]
