"""landscape: measure and draw the loss landscapes of neural networks.

Pipeline: checkpoint → model → directions → grid evaluation → HDF5 → metrics → figures.
"""
from .activations import ACTIVATIONS, activation_factory, get_activation
from .checkpoint import load_checkpoint, save_checkpoint
from .data import ImageSet, balanced_subset, load_cifar10
from .errors import LandscapeError
from .models import resnet
from .train import TrainConfig, train, train_side_by_side
from .version import __version__

__all__ = ["__version__", "ACTIVATIONS", "ImageSet", "LandscapeError", "TrainConfig", "activation_factory",
           "balanced_subset", "get_activation", "load_checkpoint", "load_cifar10", "resnet",
           "save_checkpoint", "train", "train_side_by_side"]
