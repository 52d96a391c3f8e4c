"""The Mish study's plan: the four activations, the profiles (how much compute: `paper`, `quick`), and
the training runs and checkpoint paths they imply. Plain data, no torch: the CLI builds its help
from it, and `mish.run_study` carries it out.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from landscape.metrics.options import AdaptiveSharpnessConfig, HessianOptions
from landscape.sources.specs import DatasetSpec
from landscape.training.config import TrainConfig

# The Mish paper's ResNet-20 comparison (Misra 2019, table of CIFAR-10 ResNet-20 results).
# Swish and Mish use the compiled kernels: same functions, about 3x faster on this CPU.
STUDY_ACTIVATIONS: dict[str, dict] = {"relu": {}, "leaky_relu": {"negative_slope": 0.3},
                                      "swish": {"beta": 1.0, "impl": "compiled"}, "mish": {"impl": "compiled"}}


@dataclass(frozen=True)
class SharpnessBudget:
    """What adaptive sharpness spends per network. One budget for the study's ResNets and the depth
    study's networks, so that Kendall's τ can pool them (rows measured otherwise are left out)."""

    samples: int  # training images, in batches of `batch`
    gap_samples: int  # training images whose accuracy enters the generalisation gap
    batch: int = 128  # m of m-sharpness

    def config(self, checkpoints: tuple[str, ...], data: str | None, device: str, quiet: bool,
               dataset: DatasetSpec = DatasetSpec()) -> AdaptiveSharpnessConfig:
        return AdaptiveSharpnessConfig(checkpoints=checkpoints, data=data, dataset=dataset, samples=self.samples,
                                       batch_size=self.batch, gap_samples=self.gap_samples, device=device,
                                       quiet=quiet)


PAPER_SHARPNESS = SharpnessBudget(samples=1024, gap_samples=10000)


@dataclass(frozen=True)
class AnchorProfile:
    """How much compute the anchors' measurements spend (`studies/anchors.py`): lines between every
    pair of seeds of an activation, adaptive sharpness of every checkpoint, and for seed 0 a Hessian
    map of its surface and a plane of its Hessian's top eigenvectors."""

    connect_points: int  # points along each line between two seeds
    bn_samples: int  # training images giving each point's BatchNorm statistics
    sharpness: SharpnessBudget
    map_every: int  # the Hessian map takes every N-th point of each axis of the seed-0 surface
    map_samples: int  # the first N of that surface's images
    map_steps: int  # Lanczos steps per mapped point
    eigen_grid: str  # both axes of the seed-0 plane along the Hessian's top eigenvectors (unit vectors)
    eigen_samples: int  # images of that plane (and of its eigenvectors)
    pooled_records: tuple[str, ...] = ()  # folders of depth-study run records whose adaptive sharpness
    # (measured with the same budget) joins Kendall's τ beside the ResNets


@dataclass(frozen=True)
class StudyProfile:
    """How much compute the study spends. `paper`: the training recipe of `TrainConfig`, several training seeds, the
    full measurements; `quick`: the shipped seed-0 checkpoints measured small, in minutes."""

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
    anchors: AnchorProfile | None = None  # None: the study leaves the anchors' measurements out


PROFILES = {
    "paper": StudyProfile(name="paper", train=True, seeds=(0, 1, 2, 3, 4), epochs=50, train_samples=None,
                          grid="-1:1:51", samples=1000, checkpoint_dir="checkpoints", output_dir="figures",
                          save_every=5, path_points=31, directions=40, slice_grid="-1:1:21", output_seeds=20,
                          output_resolution=400,
                          hessian=HessianOptions(top_k=1, starts=3, iterations=30, trace_samples=100, lanczos_steps=30,
                                                 samples=500),
                          anchors=AnchorProfile(connect_points=21, bn_samples=2000, sharpness=PAPER_SHARPNESS,
                                                map_every=10, map_samples=200, map_steps=20,
                                                eigen_grid="-0.2:0.2:21", eigen_samples=500,
                                                pooled_records=("checkpoints/depth", "checkpoints/depth_notebook"))),
    # quick: within 5 minutes alone on a 2-core CPU (benchmarks/quick_study_alone.txt); no anchors' measurements
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
