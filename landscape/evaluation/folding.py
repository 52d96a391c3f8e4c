"""Convolution → BatchNorm folding and activation fusion, for evaluation at many weight settings.

Stage: grid evaluation (used by `engine.PointEvaluator`). In eval mode a BatchNorm that follows a
convolution is a per-channel affine map, so it can be merged into the convolution's weight and
bias: one pass over the activations instead of two (about a tenth of ResNet-20's evaluation time
on a CPU, `benchmarks/profile_surface.txt`). On a CPU, a convolution whose output only feeds an
activation (ReLU, Leaky ReLU, Swish/SiLU, tanh), a residual addition, or an addition and then a
ReLU, is run as one oneDNN convolution with those steps as post-ops: the output is written
once instead of read and written again by each elementwise step. The folded copy shares every other
tensor with the original model; `refresh()` recomputes the folded weights after the original's
weights moved. The numbers differ from the plain model's only by float rounding.
"""
from __future__ import annotations

import copy
import operator
from dataclasses import dataclass

import torch
from torch import fx, nn

from landscape.sources.activations import FusedPointwise, Swish


class _LeafTracer(fx.Tracer):
    """Traces module calls, never into a module without children (activations stay opaque)."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return not any(True for _ in module.children())


def foldable_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(convolution, BatchNorm) module names where the BatchNorm's only input is the output of a
    Conv2d used nowhere else, each module called once and the norm using running statistics.
    Empty when the model cannot be traced by torch.fx (then nothing is folded)."""
    try:
        graph = _LeafTracer().trace(model)
    except Exception:  # any untraceable forward (data-dependent control flow, ...): fold nothing
        return []
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    touched = {str(node.target).rsplit(".", 1)[0] for node in graph.nodes if node.op == "get_attr"}
    pairs = []
    for node in graph.nodes:
        norm = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(norm, nn.BatchNorm2d) or norm.running_mean is None or len(node.args) != 1:
            continue
        source = node.args[0]
        if not (isinstance(source, fx.Node) and source.op == "call_module" and len(source.users) == 1
                and isinstance(modules.get(source.target), nn.Conv2d)):
            continue
        names = (source.target, node.target)
        if all(calls[n] == 1 and n not in touched for n in names):
            pairs.append(names)
    return pairs


@dataclass(frozen=True)
class _Fold:
    conv: nn.Conv2d  # in the original model
    norm: nn.BatchNorm2d  # in the original model
    target: nn.Conv2d  # in the folded copy: weight and bias written by refresh()


class ScoringModel:
    """An eval-mode copy of `model` arranged for fast scoring: with `fold`, its foldable BatchNorms
    merged into their convolutions; with `fuse` and the model on a CPU, its activations and residual
    additions fused into the convolutions before them.

    All tensors but the folded convolutions' weights and biases are shared with `model`, so moving
    the original's weights moves the copy's; call `refresh()` after each move.
    """

    def __init__(self, model: nn.Module, fold: bool = True, fuse: bool = True):
        pairs = foldable_pairs(model) if fold else []
        convs = [model.get_submodule(conv) for conv, _ in pairs]
        own = {id(t) for conv in convs for t in (conv.weight, conv.bias) if t is not None}
        shared = {id(t): t for t in [*model.parameters(), *model.buffers()] if id(t) not in own}
        self.module: nn.Module = copy.deepcopy(model, memo=dict(shared)).eval()
        self.folds = []
        for conv_name, norm_name in pairs:
            target = self.module.get_submodule(conv_name)
            if target.bias is None:
                target.bias = nn.Parameter(torch.zeros(target.out_channels, dtype=target.weight.dtype,
                                                       device=target.weight.device))
            parent, _, leaf = norm_name.rpartition(".")
            setattr(self.module.get_submodule(parent), leaf, nn.Identity())
            self.folds.append(_Fold(model.get_submodule(conv_name), model.get_submodule(norm_name), target))
        self.fused = 0
        if fuse and can_fuse(model):
            self.module, self.fused = fuse_convolutions(self.module)
        self.refresh()

    @property
    def count(self) -> int:
        """How many BatchNorms were folded."""
        return len(self.folds)

    @property
    def changed(self) -> bool:
        """Whether anything was folded or fused (else scoring the original is the same)."""
        return bool(self.folds or self.fused)

    @torch.no_grad()
    def refresh(self) -> None:
        """Folded weight = W·γ/√(σ² + ε) per output channel; bias = (b − μ)·γ/√(σ² + ε) + β."""
        for fold in self.folds:
            norm = fold.norm
            scale = torch.rsqrt(norm.running_var + norm.eps)
            if norm.weight is not None:
                scale = scale * norm.weight
            fold.target.weight.copy_(fold.conv.weight * scale.view(-1, 1, 1, 1))
            bias = -norm.running_mean if fold.conv.bias is None else fold.conv.bias - norm.running_mean
            bias = bias * scale
            fold.target.bias.copy_(bias if norm.bias is None else bias + norm.bias)


def onednn_fusion_available() -> bool:
    """Whether this build of torch has oneDNN's convolution with post-ops."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def can_fuse(model: nn.Module) -> bool:
    """Fusion runs through oneDNN's CPU convolutions: the model's floating-point tensors must be
    float32 on a CPU, and this build of torch must have oneDNN."""
    tensors = [t for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()]
    return onednn_fusion_available() and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def post_op(activation: nn.Module | None) -> tuple[str, list[float]] | None:
    """oneDNN's name and scalars for an activation module, None for one it cannot apply."""
    if isinstance(activation, nn.ReLU):
        return "relu", []
    if isinstance(activation, nn.LeakyReLU):
        return "leaky_relu", [activation.negative_slope]
    if isinstance(activation, nn.Tanh):
        return "tanh", []
    if (isinstance(activation, nn.SiLU) or (isinstance(activation, Swish) and activation.beta == 1.0)
            or (isinstance(activation, FusedPointwise) and activation.name == "swish" and activation.args == (1.0,))):
        return "swish", []
    return None


class FusedConvolution(nn.Module):
    """`activation(conv(x) [+ residual])` as one oneDNN convolution with post-ops. It reads the
    convolution module's weight and bias at every call (they move in place). Under CPU autocast it
    casts as autocast casts a convolution; inputs it cannot take (not 4-D float32/bf16 on a CPU, a
    residual of another shape or type) go through the unfused steps."""

    def __init__(self, conv: nn.Conv2d, activation: nn.Module | None, residual: bool):
        super().__init__()
        self.conv, self.activation, self.residual = conv, activation, residual
        self.attr, self.scalars = post_op(activation) if activation is not None else ("none", [])
        self.bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()  # oneDNN's bf16 needs AVX-512 or AVX-NE-CONVERT

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        conv, weight, bias = self.conv, self.conv.weight, self.conv.bias
        if torch.is_autocast_enabled("cpu"):
            dtype = torch.get_autocast_dtype("cpu")
            x, weight = x.to(dtype), weight.to(dtype)
            bias = None if bias is None else bias.to(dtype)
            residual = None if residual is None else residual.to(dtype)
        if (x.device.type != "cpu" or x.dim() != 4 or x.dtype not in (torch.float32, torch.bfloat16)
                or (x.dtype == torch.bfloat16 and not self.bf16)
                or x.dtype != weight.dtype
                or (residual is not None and (residual.dtype != x.dtype or residual.shape != self.output_shape(x)))):
            out = conv(x) if residual is None else conv(x) + residual
            return out if self.activation is None else self.activation(out)
        geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, *geometry, self.attr, self.scalars, None)
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, weight, bias, *geometry, "add", None,
            None if self.activation is None else self.attr, self.scalars, None)

    def output_shape(self, x: torch.Tensor) -> torch.Size:
        conv, size = self.conv, []
        for extent, pad, dilation, kernel, stride in zip(x.shape[2:], conv.padding, conv.dilation, conv.kernel_size,
                                                         conv.stride):
            size.append((extent + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1)
        return torch.Size([x.shape[0], conv.out_channels, *size])

    def extra_repr(self) -> str:
        return ("conv + residual" if self.residual else "conv") + ("" if self.activation is None else f" → {self.attr}")


def _fusable_conv(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    conv = modules.get(node.target) if node.op == "call_module" else None
    return (type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and len(node.users) == 1 and len(node.args) == 1 and not node.kwargs)


def _activation_of(node: fx.Node, modules: dict[str, nn.Module]) -> nn.Module | None:
    """The module `node` calls when it is an activation oneDNN can apply as a post-op."""
    module = modules.get(node.target) if node.op == "call_module" else None
    return module if module is not None and post_op(module) is not None else None


def _is_addition(node: fx.Node) -> bool:
    return (node.op == "call_function" and node.target in (operator.add, torch.add) and len(node.args) == 2
            and not node.kwargs and all(isinstance(a, fx.Node) for a in node.args))


def fuse_convolutions(module: nn.Module) -> tuple[nn.Module, int]:
    """(`module` with conv → activation, conv → + residual and conv → + residual → ReLU
    chains each replaced by one `FusedConvolution`, how many); `module` itself when it cannot be
    traced or has nothing to fuse. Submodules and tensors are shared with `module`."""
    try:
        graph = _LeafTracer().trace(module)
    except Exception:  # an untraceable forward: run it as it is
        return module, 0
    modules = dict(module.named_modules())
    for node in list(graph.nodes):  # the folded BatchNorms
        if node.op == "call_module" and isinstance(modules[node.target], nn.Identity):
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    fused = 0
    for node in list(graph.nodes):
        if not _fusable_conv(node, modules):
            continue
        user = next(iter(node.users))
        chain, residual = [user], None
        if _is_addition(user):
            residual = user.args[1] if user.args[0] is node else user.args[0]
            if residual is node:
                continue
            after = next(iter(user.users)) if len(user.users) == 1 else None
            if after is not None and isinstance(_activation_of(after, modules), nn.ReLU):
                chain.append(after)  # oneDNN applies no other activation after an addition
        elif _activation_of(user, modules) is None:
            continue
        activation = _activation_of(chain[-1], modules)
        name = f"fused_convolution_{fused}"
        module.add_module(name, FusedConvolution(modules[node.target], activation, residual is not None))
        with graph.inserting_before(chain[-1]):
            replacement = graph.call_module(name, (node.args[0],) if residual is None else (node.args[0], residual))
        chain[-1].replace_all_uses_with(replacement)
        for done in [*reversed(chain), node]:
            graph.erase_node(done)
        fused += 1
    if not fused:
        return module, 0
    return fx.GraphModule(module, graph), fused
