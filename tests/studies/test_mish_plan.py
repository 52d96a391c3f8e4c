"""The Mish study's plan: one recipe for every activation, runs ordered seed by seed, seed 0 in
checkpoints/ and the other seeds in checkpoints/seeds/."""
from dataclasses import replace
from pathlib import Path

from landscape.studies.mish_plan import PROFILES, STUDY_ACTIVATIONS, checkpoint_path, training_runs


def test_runs_differ_only_in_activation_and_seed_and_go_seed_by_seed():
    profile = replace(PROFILES["paper"], seeds=(0, 3))
    runs = training_runs(profile, "data", "cpu", True)
    assert [(r.seed, r.activation) for r in runs] == [(s, a) for s in (0, 3) for a in STUDY_ACTIVATIONS]
    recipe = {(r.epochs, r.lr, r.optimizer, r.schedule, r.batch_size, r.precision) for r in runs}
    assert len(recipe) == 1
    assert [r.save_every > 0 for r in runs] == [r.seed == 0 for r in runs]  # snapshots for seed 0 only
    assert checkpoint_path(profile, "mish", 0) == Path("checkpoints/resnet20_mish.pt")
    assert checkpoint_path(profile, "mish", 3) == Path("checkpoints/seeds/resnet20_mish_seed3.pt")


def test_the_quick_profile_trains_nothing_and_measures_small():
    quick, paper = PROFILES["quick"], PROFILES["paper"]
    assert not quick.train and quick.seeds == (0,)
    assert quick.directions < paper.directions and quick.samples < paper.samples
