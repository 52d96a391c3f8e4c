from dataclasses import replace

from landscape.studies.depth.plan import DEPTH_PROFILES, DepthProfile, notebook_recipe, sweep_plan, training_runs
from landscape.studies.mish_plan import PAPER_SHARPNESS


def test_the_sweep_trains_the_decisive_runs_first():
    """Without repeats: seed by seed, shallow to deep. With repeats: the first seed at the repeat
    depths, the repeat seeds there, then the other depths; every (seed, depth) exactly once."""
    base = DepthProfile(name="test", depths=(15, 17, 19, 25), seeds=(0,), epochs=1, train_samples=None, width=8,
                        dropout=0.25, lr=1e-3, checkpoint_dir="ck", output_dir="out", grid="-1:1:3", samples=10,
                        directions=2, slice_grid="-1:1:5")
    assert sweep_plan(base) == [(0, 15), (0, 17), (0, 19), (0, 25)]
    repeated = replace(base, repeat_depths=(15, 25), repeat_seeds=(0, 1, 2))
    assert sweep_plan(repeated) == [(0, 15), (0, 25), (1, 15), (1, 25), (2, 15), (2, 25), (0, 17), (0, 19)]


def test_the_notebook_recipe_is_the_papers_and_lives_in_folders_of_its_own():
    recipe = notebook_recipe(DEPTH_PROFILES["paper"])
    # the notebook's 15, 20 and 25 layers (range(12, 23) dense layers, labelled 15 to 25), and its 18
    assert (recipe.depths, recipe.seeds, recipe.repeat_depths, recipe.epochs) == ((12, 15, 17, 22), (0,), (), 10)
    assert recipe.checkpoint_dir == "checkpoints/depth_notebook" and recipe.output_dir == "figures/depth_notebook"
    assert (recipe.grid, recipe.directions, recipe.sharpness) == ("-4:4:17", 10, PAPER_SHARPNESS)  # coarse ends
    runs = training_runs(recipe, "data", "cpu", True)
    assert len(runs) == 16 and {(r.architecture, r.optimizer, r.lr, r.momentum, r.schedule, r.augment, r.weight_decay,
                                 r.batch_size, r.width, r.dropout) for r in runs} == {
        ("conv_mlp", "sgd", 0.01, 0.0, "constant", False, 0.0, 128, 500, 0.25)}
    ours = training_runs(DEPTH_PROFILES["paper"], "data", "cpu", True)[0]  # the study's own recipe is unchanged
    assert (ours.architecture, ours.optimizer, ours.lr, ours.schedule, ours.augment) == (
        "mlp", "rmsprop", 1e-3, "cosine", True)
