"""What a training run is (`TrainConfig`), where its files go (`RunPaths`), and its learning-rate schedule.

Stage: train. Plain data, no torch: the CLI builds its help from it; `loop.train` runs it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from landscape.errors import LandscapeError, require_choice, require_number
from landscape.precision import PRECISIONS, Precision
from landscape.sources.specs import ARCHITECTURES, DatasetSpec, activation_params, model_metadata

if TYPE_CHECKING:
    from landscape.sources.data import ImageSet

Optimizer = Literal["sgd", "rmsprop", "adam"]
Schedule = Literal["cosine", "step", "onecycle", "constant"]


OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)


SCHEDULES: tuple[str, ...] = get_args(Schedule)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults: the study's recipe."""

    out: str = "checkpoints/resnet20.pt"
    data: str | None = None
    architecture: str = "cifar_resnet"
    depth: int = 20  # ResNet: 6n + 2 layers; MLP: hidden layers
    width: int = 500  # MLP only
    dropout: float = 0.25  # MLP only
    activation: str = "relu"
    activation_params: dict = field(default_factory=dict)
    dataset: str = "cifar10"  # a `datasets.DatasetSpec` name: cifar10, mnist, ..., imagefolder:PATH
    augment: bool = True  # random crop (4-pixel padding) and horizontal flip of every training batch
    epochs: int = 50
    optimizer: Optimizer = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "cosine"
    batch_size: int = 128
    seed: int = 0
    precision: Precision = "fp32"
    train_samples: int | None = None
    save_every: int = 0
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self):
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_choice("schedule", self.schedule, SCHEDULES)
        require_choice("precision", self.precision, PRECISIONS)
        require_choice("architecture", self.architecture, ARCHITECTURES)
        DatasetSpec(self.dataset)  # a one-line error for an unknown name
        if not 0 <= self.dropout < 1:
            raise LandscapeError(f"--dropout must be in [0, 1); got {self.dropout}")
        # Resolve the activation's parameters now, so they are recorded in full.
        object.__setattr__(self, "activation_params", activation_params(self.activation, **self.activation_params))
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise LandscapeError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(self, name)}")
        require_number("--lr", self.lr, 0, low_open=True)
        require_number("--momentum", self.momentum, 0, 1, low_open=False)
        if self.momentum == 1:
            raise LandscapeError("--momentum must be below 1; got 1")
        require_number("--weight-decay", self.weight_decay, 0)
        for name, value in self.activation_params.items():
            if isinstance(value, float):
                require_number(f"the activation's {name}", value)
        if self.train_samples is not None and self.train_samples < 1:
            raise LandscapeError(f"--train-samples must be at least 1 (or left out for the whole split); got "
                                 f"{self.train_samples}")
        if self.save_every < 0:
            raise LandscapeError(f"--save-every must be 0 (off) or positive; got {self.save_every}")

    def recipe(self) -> dict:
        """The fields that decide the weights (not where they go, how loud, or on which device). The MLP's
        fields are left out for the ResNet, and the dataset and augmentation where they are CIFAR-10's
        defaults, so recipes read as they did before those options existed (and their runs resume)."""
        left_out = ("out", "data", "device", "quiet") + (
            ("architecture", "width", "dropout") if self.architecture == "cifar_resnet" else ()) + (
            ("dataset",) if self.dataset == "cifar10" else ()) + (("augment",) if self.augment else ())
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in left_out}

    def has_recipe(self, recorded: dict | None) -> bool:
        """Whether a recipe read back from JSON (tuples as lists) is this config's."""
        return recorded == json.loads(json.dumps(self.recipe()))

    def model_metadata(self, data: ImageSet) -> dict:
        """The architecture, sized for the training set `data` (its input values and classes)."""
        shape = tuple(data.images.shape[1:])
        if self.architecture == "cifar_resnet" and (len(shape) != 3 or shape[0] != 3):
            raise LandscapeError(f"cifar_resnet takes 3-channel images; {self.dataset} has inputs of shape "
                                 f"{list(shape)}: use --architecture mlp")
        return model_metadata(self.depth, self.activation, self.activation_params,
                              num_classes=max(len(data.classes), int(data.labels.max()) + 1),
                              architecture=self.architecture, width=self.width, dropout=self.dropout,
                              in_features=math.prod(shape), input_shape=shape)


@dataclass(frozen=True)
class RunPaths:
    """The files a run writes beside its checkpoint."""

    checkpoint: Path
    state: Path
    log: Path
    snapshots: Path

    @classmethod
    def beside(cls, out: str | Path) -> RunPaths:
        out = Path(out)
        stem = out.with_suffix("")
        return cls(out, Path(f"{stem}.state.pt"), Path(f"{stem}.log.jsonl"), Path(f"{stem}.snapshots"))


def learning_rate(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate at optimiser step `step` of `total_steps` (per-step schedules).

    cosine: base → 0 on a half cosine. step: ×0.1 at 50 % and 75 % of training. constant: base
    throughout (Keras's plain SGD, as in the Mish paper's depth notebook).
    onecycle: cosine warm-up from base/25 to base over the first 30 %, then cosine
    annealing to base/25e4 (Smith & Topin 2019's shape, without momentum cycling).
    """
    progress = step / max(total_steps, 1)
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return base_lr * 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    if schedule == "onecycle":
        warm, start, end = 0.3, base_lr / 25, base_lr / 25e4
        if progress < warm:
            return start + (base_lr - start) * 0.5 * (1 - math.cos(math.pi * progress / warm))
        return end + (base_lr - end) * 0.5 * (1 + math.cos(math.pi * (progress - warm) / (1 - warm)))
    raise LandscapeError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
