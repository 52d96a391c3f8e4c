"""Activation modules by name: builds each activation that `specs.ACTIVATION_SPECS` names.

Stage: model construction. The model never switches on names; it receives the factory
that `activation_factory` returns. Mish also has a hand-written autograd function so its
backward (the paper's derivative) can be checked and benchmarked against PyTorch's kernel.
Swish and Mish can also run as one fused kernel each way (`impl="compiled"`): on this CPU
PyTorch's Mish kernel is slow on channels_last tensors and the fused one trains ResNet-20
3.4× faster (benchmarks/bench_mish.py).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import LandscapeError
from landscape.sources.specs import activation_params


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


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def mish_value(x: torch.Tensor) -> torch.Tensor:
    """Mish with one exp: tanh(softplus(x)) = n/(n+2), n = eˣ(eˣ+2); eˣ is capped at e²⁰,
    where n/(n+2) is 1 in every float format, so it never overflows."""
    xf = _upcast(x)
    e = torch.exp(torch.clamp(xf, max=20.0))
    n = e * (e + 2)
    return (xf * n / (n + 2)).to(x.dtype)


def mish_backward(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """grad·f'(x), f'(x) = t + x·σ(x)·(1 − t²), t = tanh(softplus(x)) (see MishFunction), one exp.

    With t = n/(n+2), 1 − t² = 4(n+1)/(n+2)², which avoids the cancellation of 1 − t² near t = 1.
    """
    xf = _upcast(x)
    e = torch.exp(torch.clamp(xf, max=20.0))
    n = e * (e + 2)
    d = n + 2
    return (_upcast(grad) * (n / d + xf * (e / (1 + e)) * (4 * (n + 1) / (d * d)))).to(grad.dtype)


def swish_value(x: torch.Tensor, beta: float) -> torch.Tensor:
    xf = _upcast(x)
    return (xf * torch.sigmoid(beta * xf)).to(x.dtype)


def swish_backward(x: torch.Tensor, grad: torch.Tensor, beta: float) -> torch.Tensor:
    """grad·f'(x), f'(x) = σ(βx)·(1 + βx·(1 − σ(βx)))."""
    xf = _upcast(x)
    s = torch.sigmoid(beta * xf)
    return (_upcast(grad) * s * (1 + beta * xf * (1 - s))).to(grad.dtype)


class PointwiseFunction(torch.autograd.Function):
    """y = value(x, *args), with the gradient backward(x, grad_output, *args) = grad_output·f'(x).

    The backward is a differentiable call, so double backward (the Hessian-vector products of
    `landscape metrics --hessian`) works even when `value` and `backward` are torch.compile'd,
    which by themselves support only first derivatives. Under torch.func.vmap (several grid points
    per pass) the function is applied to the whole batched tensor: it is elementwise.
    """

    @staticmethod
    def forward(x, value, backward, *args):
        return value(x, *args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, _, backward, *args = inputs
        ctx.save_for_backward(x)
        ctx.backward_fn, ctx.args = backward, tuple(args)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        if grad_output.stride() != x.stride():  # e.g. NCHW gradients for channels_last inputs
            grad_output = torch.empty_like(x, dtype=grad_output.dtype).copy_(grad_output)
        return (ctx.backward_fn(x, grad_output, *ctx.args), None, None) + (None,) * len(ctx.args)

    @staticmethod
    def vmap(info, in_dims, x, value, backward, *args):
        return PointwiseFunction.apply(x, value, backward, *args), in_dims[0]


@functools.cache
def compiled(fn: Callable) -> Callable:
    """`fn` compiled once per process into a fused kernel (shapes dynamic after the first change)."""
    return torch.compile(fn)


class FusedPointwise(nn.Module):
    """An elementwise activation whose forward and backward each run as one compiled kernel."""

    def __init__(self, name: str, value: Callable, backward: Callable, *args: float):
        super().__init__()
        self.name, self.value, self.backward_fn, self.args = name, value, backward, args

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return PointwiseFunction.apply(x, compiled(self.value), compiled(self.backward_fn), *self.args)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            reason = str(e).strip().splitlines()[0]
            raise LandscapeError(f"cannot compile the fused {self.name} kernel ({reason}); "
                                 f"use the native implementation instead (--impl native)") from e

    def extra_repr(self) -> str:
        return f"{self.name}, compiled" + "".join(f", {a}" for a in self.args)


def _swish(beta: float = 1.0, impl: str = "native") -> nn.Module:
    if impl == "native":
        return Swish(beta)
    if impl == "compiled":
        return FusedPointwise("swish", swish_value, swish_backward, float(beta))
    raise LandscapeError(f"unknown Swish implementation {impl!r}; expected one of native, compiled")


def _mish(impl: str = "native") -> nn.Module:
    # PyTorch's kernel beats MishFunction (one kernel each way, no temporaries), but on CPU it
    # is slow for channels_last inputs; the compiled one-exp formula is the fastest there.
    if impl == "native":
        return nn.Mish()
    if impl == "autograd":
        return AutogradMish()
    if impl == "compiled":
        return FusedPointwise("mish", mish_value, mish_backward)
    raise LandscapeError(f"unknown Mish implementation {impl!r}; expected one of native, autograd, compiled")


# how each activation of `specs.ACTIVATION_SPECS` is built, from its parameters
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky_relu": lambda negative_slope: nn.LeakyReLU(negative_slope, inplace=True),
    "swish": _swish,
    "mish": _mish,
    "gelu": lambda: nn.GELU(),
    "elu": lambda alpha: nn.ELU(alpha, inplace=True),
    "softplus": lambda beta: nn.Softplus(beta),
}
REGISTRY_TAG = "landscape_activation"  # set on every module the registry builds
# torch's elementwise activation modules, recognised in models built outside the registry
TORCH_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.SiLU, nn.Mish, nn.GELU, nn.ELU, nn.Softplus, nn.Tanh, nn.Sigmoid,
                     nn.Hardswish, nn.PReLU, nn.SELU, nn.CELU, nn.ReLU6)


def _build_tagged(name: str, params: dict) -> nn.Module:
    module = BUILDERS[name](**params)
    setattr(module, REGISTRY_TAG, name)
    return module


def activation_factory(name: str, **params) -> Callable[[], nn.Module]:
    """A zero-argument callable that builds a fresh activation module each call."""
    return functools.partial(_build_tagged, name, activation_params(name, **params))


def get_activation(name: str, **params) -> nn.Module:
    """One activation module by name, e.g. `get_activation("leaky_relu", negative_slope=0.3)`."""
    return activation_factory(name, **params)()


def with_twice_differentiable_mish(model: nn.Module) -> nn.Module:
    """`model` with every torch `nn.Mish` replaced, in place, by `AutogradMish`, the same function:
    torch's Mish kernel has a second derivative that is NaN for inputs above about 90, and Hessian-
    vector products need it; the replacement's derivative is differentiable everywhere."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Mish:
                replacement = AutogradMish()
                if hasattr(child, REGISTRY_TAG):
                    setattr(replacement, REGISTRY_TAG, getattr(child, REGISTRY_TAG))
                setattr(parent, name, replacement)
    return model


def is_activation(module: nn.Module) -> bool:
    """True for every module the registry built (whatever its implementation), and for torch's
    own elementwise activations in models built elsewhere."""
    return hasattr(module, REGISTRY_TAG) or isinstance(module, TORCH_ACTIVATIONS)
