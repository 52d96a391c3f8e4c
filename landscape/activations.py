"""Activation functions by name: the registry every other stage uses.

Stage: model construction. The model never switches on names; it receives the factory
that `activation_factory` returns. Mish also has a hand-written autograd function so its
backward (the paper's derivative) can be checked and benchmarked against PyTorch's kernel.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .errors import LandscapeError


def _tanh_softplus(x: torch.Tensor) -> torch.Tensor:
    # softplus with PyTorch's threshold is exact for large x and never overflows.
    return torch.tanh(F.softplus(x))


class MishFunction(torch.autograd.Function):
    """Mish, f(x) = x·tanh(softplus(x)), with the backward written from Misra (2019).

    f'(x) = Δ(x)·swish(x) + f(x)/x, Δ = sech²(softplus(x)), which simplifies to
    t + x·σ(x)·(1 − t²) with t = tanh(softplus(x)); that form has no division by x and
    no exp of large arguments, so it is finite for every finite input. Only x is saved.
    Low-precision inputs are computed in float32 and cast back.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return (xf * _tanh_softplus(xf)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        t = _tanh_softplus(xf)
        grad = t + xf * torch.sigmoid(xf) * (1 - t * t)
        return (grad_output * grad).to(x.dtype)


class AutogradMish(nn.Module):
    """Mish through `MishFunction` (the reference implementation of the paper's derivative)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return MishFunction.apply(x)


class Swish(nn.Module):
    """Swish, x·σ(βx) (Ramachandran et al. 2017); β = 1 is SiLU and uses its fused kernel."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 1.0:
            return F.silu(x)
        return x * torch.sigmoid(self.beta * x)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


def _mish(impl: str = "native") -> nn.Module:
    # benchmarks/bench_mish.py: PyTorch's fused kernel is faster than MishFunction in fp32
    # and bf16 at equal results (one kernel each way, no temporaries), so it is the default.
    if impl == "native":
        return nn.Mish()
    if impl == "autograd":
        return AutogradMish()
    raise LandscapeError(f"unknown Mish implementation {impl!r}; expected one of native, autograd")


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., nn.Module]
    defaults: Mapping[str, object]


_REGISTRY: dict[str, _Entry] = {
    "relu": _Entry(lambda: nn.ReLU(inplace=True), {}),
    "leaky_relu": _Entry(lambda negative_slope: nn.LeakyReLU(negative_slope, inplace=True),
                         {"negative_slope": 0.01}),
    "swish": _Entry(Swish, {"beta": 1.0}),
    "mish": _Entry(_mish, {"impl": "native"}),
    "gelu": _Entry(lambda: nn.GELU(), {}),
    "elu": _Entry(lambda alpha: nn.ELU(alpha, inplace=True), {"alpha": 1.0}),
    "softplus": _Entry(lambda beta: nn.Softplus(beta), {"beta": 1.0}),
}

ACTIVATIONS: tuple[str, ...] = tuple(_REGISTRY)


def activation_params(name: str, **params) -> dict[str, object]:
    """The full parameter set of activation `name`: its defaults updated by `params`.

    Raises LandscapeError for an unknown name or a parameter the activation does not take.
    """
    if name not in _REGISTRY:
        raise LandscapeError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    defaults = _REGISTRY[name].defaults
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        takes = ", ".join(defaults) or "no parameters"
        raise LandscapeError(f"activation {name!r} does not take {', '.join(unknown)}; it takes {takes}")
    return {**defaults, **params}


def activation_factory(name: str, **params) -> Callable[[], nn.Module]:
    """A zero-argument callable that builds a fresh activation module each call."""
    resolved = activation_params(name, **params)
    return functools.partial(_REGISTRY[name].build, **resolved)


def get_activation(name: str, **params) -> nn.Module:
    """One activation module by name, e.g. `get_activation("leaky_relu", negative_slope=0.3)`."""
    return activation_factory(name, **params)()
