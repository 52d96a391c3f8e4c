"""Shared fixtures: tiny synthetic CIFAR-shaped data, on disk and in memory, and a tiny ResNet checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from landscape import activation_factory, resnet, save_checkpoint
from landscape.sources.data import ImageSet
from landscape.sources.specs import CIFAR10_CLASSES, model_metadata
from tests.helpers import synthetic_images


@pytest.fixture
def tiny_sets() -> tuple[ImageSet, ImageSet]:
    return synthetic_images(6, seed=1), synthetic_images(3, seed=2)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A CIFAR-10 ImageFolder tree of PNGs: 4 train and 2 test images per class."""
    from PIL import Image

    root = tmp_path / "cifar"
    for split, k, seed in (("train", 4, 1), ("test", 2, 2)):
        s = synthetic_images(k, seed)
        for i, (img, label) in enumerate(zip(s.images, s.labels)):
            folder = root / split / CIFAR10_CLASSES[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own decode cache and no LANDSCAPE_DATA from the environment."""
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("LANDSCAPE_DATA", raising=False)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    meta = model_metadata(8, "relu", {})
    return save_checkpoint(tmp_path / "tiny.pt", resnet(8, activation_factory("relu")), meta)


@pytest.fixture
def two_models(tmp_path):
    """Two tiny ResNets of one architecture, different weights (and different BatchNorm statistics)."""
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = resnet(8, activation_factory("relu"))
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
        paths.append(save_checkpoint(tmp_path / f"m{seed}.pt", model, model_metadata(8, "relu", {})))
    return paths
