"""The model stage: CIFAR ResNets (He et al. 2016, section 4.2) and fully connected networks.

ResNets: three stages of 16/32/64 channels with n basic blocks each, depth 6n + 2, and the
parameter-free "option A" shortcut (stride-2 subsampling plus zero channel padding) that
the paper used on CIFAR. MLPs: flattened input, hidden layers of any widths (optionally with
BatchNorm and dropout), a linear head. The activation is injected as a factory, never chosen
by name here.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import LandscapeError

ActivationFactory = Callable[[], nn.Module]


class PaddingShortcut(nn.Module):
    """Identity shortcut across a stage change: subsample by 2, zero-pad the new channels."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.extra_channels = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.extra_channels // 2
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))


class BasicBlock(nn.Module):
    """conv3x3-BN-act-conv3x3-BN, plus shortcut, then act."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, activation: ActivationFactory):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = activation()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = activation()
        changes_shape = stride != 1 or in_channels != out_channels
        self.shortcut = PaddingShortcut(out_channels - in_channels) if changes_shape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32×32 inputs; `forward` returns logits of shape [N, num_classes]."""

    def __init__(self, blocks_per_stage: int, activation: ActivationFactory, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = activation()
        stages, in_channels = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(in_channels, width, stride if i == 0 else 1, activation))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet(depth: int, activation: ActivationFactory, num_classes: int = 10) -> CifarResNet:
    """A CIFAR ResNet of `depth` layers (20, 32, 44, 56, 110, …: any 6n + 2)."""
    if depth < 8 or (depth - 2) % 6:
        raise LandscapeError(f"ResNet depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110); got {depth}")
    return CifarResNet((depth - 2) // 6, activation, num_classes)


def conv_front(in_channels: int, activation: ActivationFactory,
               filters: tuple[int, int] = (20, 50)) -> nn.Sequential:
    """The Mish paper's depth network's front (its Layers_Acc notebook): two unpadded 5×5
    convolutions with the activation, a 2×2 max-pool and dropout 0.25, before the dense layers."""
    return nn.Sequential(nn.Conv2d(in_channels, filters[0], 5), activation(), nn.Conv2d(filters[0], filters[1], 5),
                         activation(), nn.MaxPool2d(2), nn.Dropout(0.25))


def conv_front_features(in_channels: int, image_size: int, filters: tuple[int, int] = (20, 50)) -> int:
    """Values per image after `conv_front`: two 5×5 convolutions take 8 pixels, the pool halves."""
    side = (image_size - 8) // 2
    if side < 1:
        raise LandscapeError(f"the convolutional front needs images of at least 10×10 pixels; got {image_size}")
    return filters[1] * side * side


class MLP(nn.Module):
    """(front →) Flatten → [Linear → (BatchNorm) → activation → (dropout)] per hidden width → Linear."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], out_features: int, activation: ActivationFactory,
                 batch_norm: bool = False, dropout: float = 0.0, front: nn.Module | None = None):
        super().__init__()
        self.front = front if front is not None else nn.Identity()
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers.append(nn.Linear(in_features, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(activation())
            if dropout:
                layers.append(nn.Dropout(dropout))
            in_features = width
        layers.append(nn.Linear(in_features, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.front(x))
