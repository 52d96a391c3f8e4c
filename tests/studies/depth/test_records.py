from landscape.studies.depth.records import deepest_trained


def test_deepest_trained_depth_stops_at_the_first_failure():
    """The deepest depth up to which every run trained: a failure at one depth (divergence, or one
    seed of several stuck at chance) caps it, even where a deeper run happened to train."""
    def row(name, depth, seed=0, diverged=None, chance=False):
        return {"activation": name, "depth": depth, "seed": seed, "diverged_epoch": diverged,
                "never_left_chance": chance}
    rows = [row("relu", 15), row("relu", 17, diverged=3), row("relu", 19),
            row("leaky_relu", 15), row("leaky_relu", 17), row("leaky_relu", 17, seed=1, chance=True),
            row("swish", 15), row("swish", 17), row("swish", 19),
            row("mish", 15, diverged=1), row("mish", 17)]
    assert deepest_trained(rows) == {"relu": 15, "leaky_relu": 15, "swish": 19, "mish": None}
