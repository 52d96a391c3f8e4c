"""What a user names on the command line, as plain data: activations (names, parameters, the names
readers see), architectures, a model of one's own (`ModelSpec`), datasets (`DatasetSpec`, the named
sets and their statistics) and splits.

Stage: sources. Imports no torch, so the CLI builds its help from these alone; the modules that
build models and load data (`activations`, `checkpoint`, `datasets`, `data`) take them from here.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from landscape.errors import LandscapeError, require_choice
from landscape.sources.user_code import is_callable_spec


@dataclass(frozen=True)
class ActivationSpec:
    defaults: Mapping[str, object]  # the parameters it takes, with their defaults
    title: str  # the name in figures and reports


ACTIVATION_SPECS: dict[str, ActivationSpec] = {
    "relu": ActivationSpec({}, "ReLU"),
    "leaky_relu": ActivationSpec({"negative_slope": 0.01}, "Leaky ReLU"),
    "swish": ActivationSpec({"beta": 1.0, "impl": "native"}, "Swish"),
    "mish": ActivationSpec({"impl": "native"}, "Mish"),
    "gelu": ActivationSpec({}, "GELU"),
    "elu": ActivationSpec({"alpha": 1.0}, "ELU"),
    "softplus": ActivationSpec({"beta": 1.0}, "Softplus"),
}
ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATION_SPECS)


IMPLEMENTATIONS = ("native", "compiled", "autograd")  # of Swish (native, compiled) and Mish (all three)


PARAMETER_TITLES = {"negative_slope": "slope", "beta": "β", "alpha": "α"}


def activation_defaults(name: str) -> Mapping[str, object]:
    """The parameters activation `name` takes, with their defaults."""
    require_choice("activation", name, ACTIVATIONS)
    return ACTIVATION_SPECS[name].defaults


def display_name(name: str, params: Mapping[str, object] | None = None) -> str:
    """The activation as a reader names it, with the parameters that differ from the defaults:
    'Leaky ReLU (slope 0.3)', 'Swish (β 1.5)', 'Mish'. Unknown names are returned as they are."""
    if name not in ACTIVATION_SPECS:
        return name
    entry = ACTIVATION_SPECS[name]
    changed = [f"{PARAMETER_TITLES.get(k, k)} {v:g}" if isinstance(v, float) else f"{PARAMETER_TITLES.get(k, k)} {v}"
               for k, v in (params or {}).items() if k != "impl" and entry.defaults.get(k) != v]
    return entry.title + (f" ({', '.join(changed)})" if changed else "")


def activation_params(name: str, **params) -> dict[str, object]:
    """The full parameter set of activation `name`: its defaults updated by `params`.

    Raises LandscapeError for an unknown name or a parameter the activation does not take.
    """
    defaults = activation_defaults(name)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        takes = ", ".join(defaults) or "no parameters"
        raise LandscapeError(f"activation {name!r} does not take {', '.join(unknown)}; it takes {takes}")
    return {**defaults, **params}


ARCHITECTURES = ("cifar_resnet", "mlp", "conv_mlp")


@dataclass(frozen=True)
class ModelSpec:
    """How to build the model a weights file fills: None means a landscape checkpoint (the file
    says); otherwise `factory` ('module:callable' or 'file.py:callable') called with `args`."""

    factory: str | None = None
    args: dict = field(default_factory=dict)
    output_key: str | None = None  # which part of a dict (or tuple) output holds the logits (`contract`)


Split = Literal["train", "test"]


SPLITS: tuple[str, ...] = get_args(Split)


# Per-channel statistics of the CIFAR-10 training set, in [0, 1] pixel units.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)


CIFAR10_STD = (0.2470, 0.2435, 0.2616)


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class TorchvisionSet:
    """A torchvision classification set that ships a download, and its usual normalisation."""

    cls: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split_argument: str = "train"  # SVHN takes split="train"/"test" instead of train=True/False


# Per-channel statistics of each training set, as commonly published with the set.
NAMED: dict[str, TorchvisionSet] = {
    "cifar10": TorchvisionSet("CIFAR10", CIFAR10_MEAN, CIFAR10_STD),
    "cifar100": TorchvisionSet("CIFAR100", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": TorchvisionSet("MNIST", (0.1307,), (0.3081,)),
    "fashion_mnist": TorchvisionSet("FashionMNIST", (0.2860,), (0.3530,)),
    "svhn": TorchvisionSet("SVHN", (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), split_argument="split"),
}


IMAGEFOLDER = "imagefolder:"


@dataclass(frozen=True)
class DatasetSpec:
    """Which data: a name from NAMED, 'imagefolder:PATH' (PATH/{train,test}/<class>/ or
    PATH/<class>/ for every split) or 'MODULE:CALLABLE' (called as f(split) → (inputs, labels)).
    `image_size` resizes images to a square; `mean`/`std` override the normalisation (named
    sets: their published statistics; image folders: computed from the images loaded)."""

    name: str = "cifar10"
    image_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self):
        if not (self.name in NAMED or self.name.startswith(IMAGEFOLDER) or is_callable_spec(self.name)):
            raise LandscapeError(f"unknown dataset {self.name!r}; expected one of {', '.join(NAMED)}, "
                                 f"imagefolder:PATH or MODULE:CALLABLE")
        if self.image_size is not None and self.image_size < 1:
            raise LandscapeError(f"--image-size must be a positive number of pixels; got {self.image_size}")
        if (self.mean is None) != (self.std is None) or (self.mean and len(self.mean) != len(self.std)):
            raise LandscapeError("--mean and --std go together, with one value per channel each")
        if self.std and min(self.std) <= 0:
            raise LandscapeError(f"--std must be positive; got {self.std}")

    @property
    def is_default(self) -> bool:
        return self == DatasetSpec()


CIFAR_INPUT = 3 * 32 * 32


def model_metadata(depth: int, activation: str, activation_params: dict, num_classes: int = 10,
                   architecture: str = "cifar_resnet", width: int = 500, dropout: float = 0.25,
                   in_features: int = CIFAR_INPUT, input_shape: tuple[int, ...] = (3, 32, 32)) -> dict:
    """The metadata keys that define the architecture (what `build_model` reads). ResNet: depth 6n+2,
    3-channel images. MLP: `depth` hidden layers of `width` units, each Linear → BatchNorm →
    activation → dropout, on flattened inputs of `in_features` values. conv_mlp: the same behind
    the Mish paper's convolutional front (`models.conv_front`, always with Mish, as in its
    notebook), on square images of `input_shape` (channels, height, width)."""
    require_choice("architecture", architecture, ARCHITECTURES)
    meta = {"architecture": architecture, "depth": depth, "activation": activation,
            "activation_params": dict(activation_params), "num_classes": num_classes}
    if architecture == "mlp":
        meta.update({"width": width, "dropout": dropout, "batch_norm": True, "in_features": in_features})
    if architecture == "conv_mlp":
        if len(input_shape) != 3 or input_shape[1] != input_shape[2]:
            raise LandscapeError(f"conv_mlp takes square images (channels, side, side); got inputs of shape "
                                 f"{list(input_shape)}")
        meta.update({"width": width, "dropout": dropout, "batch_norm": True, "in_channels": input_shape[0],
                     "image_size": input_shape[1], "front_filters": [20, 50], "front_activation": "mish"})
    return meta
