"""The Mish study's plan: the four activations, the profiles (how much compute: `paper`, `quick`), and
the training runs and checkpoint paths they imply. Plain data, no torch: the CLI builds its help
from it, and `mish.run_study` carries it out.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from landscape.metrics.options import HessianOptions
from landscape.training.config import TrainConfig

# The Mish paper's ResNet-20 comparison (Misra 2019, table of CIFAR-10 ResNet-20 results).
# Swish and Mish use the compiled kernels: same functions, about 3x faster on this CPU.
STUDY_ACTIVATIONS: dict[str, dict] = {"relu": {}, "leaky_relu": {"negative_slope": 0.3},
                                      "swish": {"beta": 1.0, "impl": "compiled"}, "mish": {"impl": "compiled"}}


@dataclass(frozen=True)
class StudyProfile:
    """How much compute the study spends. `paper`: the training recipe of `TrainConfig`, three training seeds, the full
    measurements; `quick`: the shipped seed-0 checkpoints measured small, in minutes."""

    name: str
    train: bool  # train (or resume) missing checkpoints; False: use the shipped ones as they are
    seeds: tuple[int, ...]  # training seeds per activation (seed 0: checkpoint_dir/, others: checkpoint_dir/seeds/)
    epochs: int
    train_samples: int | None
    grid: str  # of the random-direction surfaces, both axes
    samples: int
    checkpoint_dir: str
    output_dir: str
    save_every: int  # snapshot interval of seed 0; the training-path planes need at least three snapshots
    path_points: int  # per axis of the training-path surfaces (their range is fitted to the path)
    directions: int  # random slices per checkpoint (`landscape sharpness`)
    slice_grid: str
    output_seeds: int  # initialisations per activation of the output-landscape networks
    output_resolution: int
    hessian: HessianOptions  # λmax and trace of every checkpoint (`landscape metrics --hessian`)


PROFILES = {
    "paper": StudyProfile(name="paper", train=True, seeds=(0, 1, 2), epochs=50, train_samples=None, grid="-1:1:51",
                          samples=1000, checkpoint_dir="checkpoints", output_dir="figures", save_every=5,
                          path_points=31, directions=40, slice_grid="-1:1:21", output_seeds=20,
                          output_resolution=400,
                          hessian=HessianOptions(top_k=1, starts=3, iterations=30, trace_samples=100, lanczos_steps=30,
                                                 samples=500)),
    # quick: within 5 minutes alone on a 2-core CPU (benchmarks/quick_study_alone.txt)
    "quick": StudyProfile(name="quick", train=False, seeds=(0,), epochs=50, train_samples=None, grid="-1:1:9",
                          samples=100, checkpoint_dir="checkpoints", output_dir="runs/quick", save_every=5,
                          path_points=7, directions=4, slice_grid="-1:1:11", output_seeds=5, output_resolution=100,
                          hessian=HessianOptions(top_k=1, starts=1, iterations=8, trace_samples=6, lanczos_steps=6,
                                                 samples=100)),
}


def checkpoint_path(profile: StudyProfile, name: str, seed: int) -> Path:
    folder = Path(profile.checkpoint_dir)
    return folder / f"resnet20_{name}.pt" if seed == 0 else folder / "seeds" / f"resnet20_{name}_seed{seed}.pt"


def training_runs(profile: StudyProfile, data: str | None, device: str, quiet: bool) -> list[TrainConfig]:
    """Every run the study trains, seed by seed (so an interrupted study has every activation at the
    same number of seeds): one recipe and precision, only the activation and the seed differ;
    snapshots for seed 0 only."""
    return [TrainConfig(out=str(checkpoint_path(profile, name, seed)), data=data, activation=name,
                        activation_params=params, epochs=profile.epochs, precision="fp32", seed=seed,
                        save_every=profile.save_every if seed == 0 else 0, train_samples=profile.train_samples,
                        device=device, quiet=quiet)
            for seed in profile.seeds for name, params in STUDY_ACTIVATIONS.items()]
