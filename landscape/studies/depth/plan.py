"""The depth study's plan: its profiles (depths, widths, seeds, recipe), the runs they imply, and
where each run's files go. The question: do deep fully connected networks keep training with
Mish when they fail with ReLU? Plain data: no training happens here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from landscape.errors import require_choice
from landscape.studies.mish_plan import PAPER_SHARPNESS, STUDY_ACTIVATIONS, SharpnessBudget
from landscape.training.config import TrainConfig

CHANCE = 0.1  # ten balanced classes


LEFT_CHANCE = 0.2  # best test accuracy below this: the run never really left chance level


@dataclass(frozen=True)
class DepthProfile:
    """What the depth sweep trains and measures."""

    name: str
    depths: tuple[int, ...]
    seeds: tuple[int, ...]
    epochs: int
    train_samples: int | None
    width: int
    dropout: float
    lr: float  # of `optimizer` (RMSProp unless the notebook recipe), no weight decay, batch 128: one recipe for all
    checkpoint_dir: str
    output_dir: str
    grid: str  # 2-D surfaces of the shallowest and deepest network of each activation (paper: ±4, since
    # these BatchNorm MLPs are flat on ±1: the loss rises by 0.1 at α = ±1 and by 0.5 near ±2 at depth 15)
    samples: int
    directions: int  # random slices of those networks
    slice_grid: str
    repeat_depths: tuple[int, ...] = ()  # where the activations separate: trained again with repeat_seeds
    repeat_seeds: tuple[int, ...] = (1, 2)
    dataset: str = "cifar10"  # one of TEN_CLASS_SETS
    augment: bool = True  # crop and flip: right for CIFAR-10, not for digits
    architecture: str = "mlp"  # or conv_mlp: the paper notebook's convolutional front before the dense layers
    optimizer: str = "rmsprop"
    momentum: float = 0.0
    schedule: str = "cosine"
    sharpness: SharpnessBudget | None = None  # adaptive sharpness of every trained run, kept in its record
    # (its checkpoint is not kept), for the Mish study's Kendall τ of sharpness against generalisation


TEN_CLASS_SETS = ("cifar10", "mnist", "fashion_mnist", "svhn")  # chance level is 10 % on every one


DEPTH_PROFILES = {
    "paper": DepthProfile(name="paper", depths=(15, 17, 19, 21, 23, 25), seeds=(0,), epochs=50, train_samples=None,
                          width=500, dropout=0.25, lr=1e-3, checkpoint_dir="checkpoints/depth",
                          output_dir="figures/depth", grid="-4:4:33", samples=1000, directions=20,
                          slice_grid="-4:4:41", sharpness=PAPER_SHARPNESS),
    "quick": DepthProfile(name="quick", depths=(2, 6), seeds=(0,), epochs=2, train_samples=2000, width=64,
                          dropout=0.25, lr=1e-3, checkpoint_dir="runs/quick_depth/checkpoints",
                          output_dir="runs/quick_depth", grid="-1:1:7", samples=200, directions=3,
                          slice_grid="-1:1:9"),
}


def on_dataset(profile: DepthProfile, dataset: str, augment: bool) -> DepthProfile:
    """The profile on another ten-class set (the paper's MNIST, say), in folders of its own."""
    require_choice("depth study dataset", dataset, TEN_CLASS_SETS)
    if dataset == "cifar10":
        return replace(profile, augment=augment)
    return replace(profile, dataset=dataset, augment=augment, checkpoint_dir=f"{profile.checkpoint_dir}_{dataset}",
                   output_dir=f"{profile.output_dir}_{dataset}")


NOTEBOOK_COUNTED_LAYERS = 3  # what the notebook's "number of layers" adds to the dense hidden layers: two
# convolutions and the output layer (its loop builds 12 to 22 dense layers and labels them 15 to 25)


def notebook_recipe(profile: DepthProfile) -> DepthProfile:
    """The Mish paper's own depth recipe (its Layers_Acc notebook), in folders of its own: two 5×5
    convolutions (Mish) and a max-pool before the dense layers, plain SGD (learning rate 0.01, no
    momentum, no schedule, no weight decay), 10 epochs, no augmentation; one seed, at 12, 17 and 22
    dense layers (the notebook's 15, 20 and 25 layers, as it counts them) and at 15 (its 18).
    Does ReLU collapse with depth under it, where it does not under ours? The question is
    whether training collapses, so the ends' landscapes are coarser than the main sweep's (a 17 × 17
    plane, a quarter of the points, and 10 slices, half as many).
    Each run's adaptive sharpness goes into its record (`sharpness`), so the Mish study's Kendall τ
    includes these networks."""
    recipe = replace(profile, architecture="conv_mlp", optimizer="sgd", lr=0.01, momentum=0.0, schedule="constant",
                     augment=False, checkpoint_dir=f"{profile.checkpoint_dir}_notebook",
                     output_dir=f"{profile.output_dir}_notebook")
    if profile.name == "quick":
        return recipe
    return replace(recipe, depths=tuple(n - NOTEBOOK_COUNTED_LAYERS for n in (15, 18, 20, 25)), seeds=(0,),
                   repeat_depths=(), epochs=10, grid="-4:4:17", directions=10)


def depth_checkpoint(profile: DepthProfile, depth: int, name: str, seed: int) -> Path:
    suffix = "" if seed == 0 else f"_seed{seed}"
    return Path(profile.checkpoint_dir) / f"mlp{depth}_{name}{suffix}.pt"


def sweep_plan(profile: DepthProfile) -> list[tuple[int, int]]:
    """(seed, depth) in training order, a whole depth (all four activations) at a time. Without
    repeats: every depth for the profile's seeds, seed by seed, shallow to deep. With repeats the
    decisive runs come first, so a sweep spread over sessions reaches its verdict before its
    curve is complete: the first seeds at the repeat depths, then the repeat seeds there, then the
    other depths."""
    first = [(seed, depth) for seed in profile.seeds for depth in profile.depths]
    repeats = [(seed, depth) for seed in profile.repeat_seeds if seed not in profile.seeds
               for depth in profile.repeat_depths]
    decisive = [run for run in first if run[1] in profile.repeat_depths]
    return decisive + repeats + [run for run in first if run not in decisive]


def training_runs(profile: DepthProfile, data: str | None, device: str, quiet: bool) -> list[TrainConfig]:
    """Every run of the sweep, in `sweep_plan` order, the four activations at each (seed, depth)."""
    return [TrainConfig(out=str(depth_checkpoint(profile, depth, name, seed)), data=data,
                        architecture=profile.architecture, depth=depth, width=profile.width, dropout=profile.dropout,
                        activation=name, activation_params=params, dataset=profile.dataset, augment=profile.augment,
                        epochs=profile.epochs, optimizer=profile.optimizer, lr=profile.lr, momentum=profile.momentum,
                        weight_decay=0.0, schedule=profile.schedule, seed=seed,
                        train_samples=profile.train_samples, device=device, quiet=quiet)
            for seed, depth in sweep_plan(profile) for name, params in STUDY_ACTIVATIONS.items()]
