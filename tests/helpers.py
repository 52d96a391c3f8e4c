"""Helpers shared by test modules: synthetic data and surfaces, a user's model file, the real CIFAR-10 copy."""
from __future__ import annotations

import signal
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.sources.data import ImageSet
from landscape.sources.specs import CIFAR10_CLASSES
from landscape.storage.schema import SurfaceHeader
from landscape.storage.surface_file import create_surface_file, write_points

REAL_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "cifar10"


def synthetic_images(n_per_class: int, seed: int) -> ImageSet:
    """Images whose mean colour depends on the class, so a tiny model can learn something."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(10).repeat_interleave(n_per_class)
    base = (labels.float() * 25).view(-1, 1, 1, 1)
    noise = torch.randint(0, 60, (len(labels), 3, 32, 32), generator=g).float()
    images = (base + noise).clamp(0, 255).to(torch.uint8)
    return ImageSet(images, labels, CIFAR10_CLASSES, f"synthetic(seed={seed})")


def needs_real_cifar():
    return pytest.mark.skipif(not (REAL_CIFAR / "test").is_dir(), reason="real CIFAR-10 copy not present")


EVIL = "<script>alert(1)</script>.pt"


def bowl_surface(path, activation, scale, nx=9, ny=7, done_fraction=1.0, trajectory=None):
    """A synthetic 2-D surface: loss = 0.5 + scale·(α² + 2β²), accuracy falling with it."""
    x, y = np.linspace(-1, 1, nx), np.linspace(-1, 1, ny)
    header = SurfaceHeader(activation=activation, checkpoint=EVIL, checkpoint_test_acc=0.9, splits=("train",))
    create_surface_file(path, header, x, y, [], trajectory)
    beta, alpha = np.meshgrid(y, x, indexing="ij")
    loss = 0.5 + scale * (alpha ** 2 + 2 * beta ** 2)
    n = int(done_fraction * loss.size)
    write_points(path, list(range(n)), {"train_loss": loss.ravel()[:n].tolist(),
                                        "train_acc": np.exp(-loss).ravel()[:n].tolist()})
    return path


def interruptible() -> None:
    """In a child before exec: SIGINT back to its default, so Python turns it into KeyboardInterrupt
    even when these tests run in a background job (where the shell ignores SIGINT for children)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CountedCalls:
    """A stand-in for `function` that counts its calls and raises KeyboardInterrupt on call number
    `interrupt_at` (None: never), as Ctrl-C would in the middle of a run."""

    def __init__(self, function, interrupt_at: int | None = None):
        self.function, self.interrupt_at, self.calls = function, interrupt_at, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return self.function(*args, **kwargs)


USER_MODEL = '''
import torch
from torch import nn


class SmallNet(nn.Module):
    def __init__(self, channels=1, classes=3, hidden=8):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.head(self.features(x))


def small_net(**kwargs):
    return SmallNet(**kwargs)
'''


def user_model_file(folder):
    path = folder / "user_model.py"
    path.write_text(USER_MODEL)
    return path


def surface_header(**changes) -> SurfaceHeader:
    """A header with every kind of field set (tuples, dicts, parameters), for storage tests."""
    return SurfaceHeader(checkpoint="ck.pt", activation="leaky_relu", activation_params={"negative_slope": 0.3},
                         splits=("train", "test"), samples=10, grid_x="-1:1:3", grid_y="0:1:2",
                         explained_variance=(0.6, 0.2), trajectory_snapshots=("a.pt", "b.pt"),
                         fingerprint={"grid": ["-1:1:3", "0:1:2"]}, **changes)


def surface_args(ckpt, data, out, *extra):
    return [str(ckpt), "--data", str(data), "--out", str(out), "--samples", "20", "--quiet", *extra]


def write_idx(path, array: torch.Tensor) -> None:
    """An MNIST idx file (big-endian header: 0x0000, type 0x08 = uint8, ndim; then the sizes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">HBB", 0, 8, array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.numpy().tobytes())


def fake_mnist(root, n: int = 20):
    g = torch.Generator().manual_seed(0)
    for prefix in ("train", "t10k"):
        labels = torch.arange(n, dtype=torch.uint8) % 10
        images = (labels.view(-1, 1, 1) * 20 + torch.randint(0, 40, (n, 28, 28), generator=g)).to(torch.uint8)
        write_idx(root / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", labels)
    return root
