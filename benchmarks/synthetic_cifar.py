"""CIFAR-10-shaped random images, for timing on a machine that has no copy of the data.

A lent GPU machine receives the repository and nothing beside it (the JPEG copy is 236 MB, over
what travels), and reaches no network; the speed of a surface does not depend on what the
images show. Seeded, so every run and machine sees the same images.

    python -m benchmarks.bench_surface --data synthetic ...
    landscape surface CHECKPOINT --dataset benchmarks.synthetic_cifar:images ...
"""
from __future__ import annotations

import torch

from landscape.sources.data import ImageSet, balanced_subset, load_cifar10, normalize
from landscape.sources.specs import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD

SIZES = {"train": 50_000, "test": 10_000}


def image_set(split: str) -> ImageSet:
    """uint8 [N, 3, 32, 32] images of uniform noise, labels cycling through the ten classes."""
    n = SIZES[split]
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    return ImageSet(images, torch.arange(n) % 10, CIFAR10_CLASSES, f"synthetic:{split}")


def training_images(data: str | None, samples: int, seed: int) -> ImageSet:
    """The benchmarks' images: `samples` class-balanced training images (seed `seed`) of CIFAR-10
    from `data` (None: $LANDSCAPE_DATA or a download), or of `image_set` with data 'synthetic'."""
    train = image_set("train") if data == "synthetic" else load_cifar10(data, "train", quiet=True)
    return train.subset(balanced_subset(train.labels, samples, seed))


def images(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """`--dataset` callable: the same images standardised with CIFAR-10's statistics, and labels."""
    chosen = image_set(split)
    return normalize(chosen.images, CIFAR10_MEAN, CIFAR10_STD), chosen.labels
