"""Convolution → BatchNorm folding, for evaluation at many weight settings.

Stage: grid evaluation (used by `engine.PointEvaluator`). In eval mode a BatchNorm that follows a
convolution is a per-channel affine map, so it can be merged into the convolution's weight and
bias: one pass over the activations instead of two (about a tenth of ResNet-20's evaluation time
on a CPU, `benchmarks/profile_surface.txt`). The folded copy shares every other tensor with the
original model; `refresh()` recomputes the folded weights after the original's weights moved.
The numbers differ from the unfolded model's only by float rounding.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import fx, nn


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


class FoldedModel:
    """An eval-mode copy of `model` with its foldable BatchNorms merged into their convolutions.

    All tensors but the folded convolutions' weights and biases are shared with `model`, so moving
    the original's weights moves the copy's; call `refresh()` after each move.
    """

    def __init__(self, model: nn.Module):
        pairs = foldable_pairs(model)
        convs = [model.get_submodule(conv) for conv, _ in pairs]
        own = {id(t) for conv in convs for t in (conv.weight, conv.bias) if t is not None}
        shared = {id(t): t for t in [*model.parameters(), *model.buffers()] if id(t) not in own}
        self.module = copy.deepcopy(model, memo=dict(shared)).eval()
        self.folds = []
        for conv_name, norm_name in pairs:
            target = self.module.get_submodule(conv_name)
            if target.bias is None:
                target.bias = nn.Parameter(torch.zeros(target.out_channels, dtype=target.weight.dtype,
                                                       device=target.weight.device))
            parent, _, leaf = norm_name.rpartition(".")
            setattr(self.module.get_submodule(parent), leaf, nn.Identity())
            self.folds.append(_Fold(model.get_submodule(conv_name), model.get_submodule(norm_name), target))
        self.refresh()

    @property
    def count(self) -> int:
        """How many BatchNorms were folded."""
        return len(self.folds)

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
