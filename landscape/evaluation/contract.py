"""The contract between a model, its data and its loss, checked on a few examples before any work.

Stage: between loading (checkpoint, data) and evaluation. The engine needs, from any model, one
tensor of logits [N, classes] per batch, as many classes as the labels use, finite numbers at
the model's own weights, and a loss that is the mean over the batch. A model or loss that breaks
this would otherwise give a traceback halfway through, or worse, a wrong surface marked
complete; here it is refused in one line before a file is written.

Models whose forward returns a tuple, a dict or an object with `.logits` (Hugging Face style) are
adapted: the logits are taken out inside `forward`, so the parameter names (which key the
directions) stay the same.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from landscape.errors import LandscapeError, first_line
from landscape.evaluation.evaluate import EvalSet
from landscape.sources.user_code import import_callable, is_callable_spec

PROBE_EXAMPLES = 8  # examples the checks run on: enough for the loss's mean test, cheap for any model


def output_selector(output: Any, key: str | None) -> Callable[[Any], torch.Tensor] | None:
    """How to take the logits out of what the model returned: None for a tensor; the `key` entry of
    a dict (or the `key`-th element of a tuple); `.logits`; the first element of a tuple."""
    if isinstance(output, torch.Tensor):
        if key is not None:
            raise LandscapeError(f"--output-key {key}: the model returns a tensor, not a dict or tuple; drop it")
        return None
    if key is not None:
        if isinstance(output, Mapping):
            if key not in output:
                raise LandscapeError(f"--output-key {key}: the model's output has keys {', '.join(map(str, output))}")
            return lambda out: out[key]
        if isinstance(output, (tuple, list)) and key.isdigit() and int(key) < len(output):
            return lambda out: out[int(key)]
        raise LandscapeError(f"--output-key {key} does not pick anything out of the model's "
                             f"{type(output).__name__} output")
    if isinstance(getattr(output, "logits", None), torch.Tensor):
        return lambda out: out.logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return lambda out: out[0]
    if isinstance(output, Mapping):
        raise LandscapeError(f"the model returns a dict with keys {', '.join(map(str, output))}; choose the logits "
                             f"with --output-key NAME")
    raise LandscapeError(f"the model returns {type(output).__name__}; it must return a tensor of logits (or a "
                         f"tuple whose first element, or a dict with --output-key, holds them)")


def select_output(model: nn.Module, select: Callable[[Any], torch.Tensor]) -> nn.Module:
    """`model` whose forward returns `select(output)`: its class is swapped for a subclass, so its
    parameters, buffers and their names stay exactly as they were."""
    base = type(model)

    def forward(self, *args, **kwargs):
        return select(base.forward(self, *args, **kwargs))
    model.__class__ = type(base.__name__, (base,), {"forward": forward, "__module__": base.__module__,
                                                    "selects_output": True})
    return model


def require_labels(eval_set: EvalSet, outputs: int) -> None:
    """Labels are class indices in [0, outputs), and the model has an output for every class the
    split's data name (not only those among the chosen examples)."""
    low, high = int(eval_set.labels.min()), int(eval_set.labels.max())
    if low < 0 or high >= outputs:
        raise LandscapeError(f"the {eval_set.split} labels run from {low} to {high}, but the model gives {outputs} "
                             f"output(s) per example: labels must be class indices in [0, {outputs})")
    if eval_set.classes and eval_set.classes > outputs:
        raise LandscapeError(f"the {eval_set.split} data have labels 0 to {eval_set.classes - 1}, but the model "
                             f"gives {outputs} output(s) per example: labels must be class indices in [0, {outputs})")


def require_mean_loss(spec: str, outputs: torch.Tensor, labels: torch.Tensor) -> None:
    """Your --loss on one batch: a finite scalar, and the mean over the batch (the engine adds up
    batches weighted by their size, so a sum would count every example N times over)."""
    if not is_callable_spec(spec):
        return
    user_loss = import_callable(spec, "--loss")

    def value(out: torch.Tensor, target: torch.Tensor) -> float:
        try:
            result = user_loss(out, target)
        except Exception as e:  # your code
            raise LandscapeError(f"--loss {spec} raised {type(e).__name__}: {first_line(e)}") from None
        if not isinstance(result, torch.Tensor) or result.dim() != 0:
            shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
            raise LandscapeError(f"--loss {spec} returned {shape}, not a scalar tensor: return the batch mean")
        if not math.isfinite(float(result)):
            raise LandscapeError(f"--loss {spec} returned {float(result)} at the model's own weights")
        return float(result)
    whole = value(outputs, labels)
    n = len(labels)
    if n < 2:
        return
    half = n // 2
    first, second = value(outputs[:half], labels[:half]), value(outputs[half:], labels[half:])
    mean = (first * half + second * (n - half)) / n
    if not math.isclose(whole, mean, rel_tol=1e-4, abs_tol=1e-7):
        kind = "the batch sum" if math.isclose(whole, first + second, rel_tol=1e-4) else "not a mean over examples"
        raise LandscapeError(f"--loss {spec} is {kind}: on {n} examples it gave {whole:.6g}, the mean of its two "
                             f"halves is {mean:.6g}; return the mean over the batch (reduction='mean')")


def checked_model(model: nn.Module, sets: list[EvalSet], loss: str = "cross_entropy",
                  output_key: str | None = None) -> nn.Module:
    """`model` (on the sets' device) checked on the first examples of each set and adapted to return
    its logits; a one-line LandscapeError for anything that breaks the contract (module doc)."""
    model.eval()
    for eval_set in sets:
        inputs, labels = eval_set.inputs[:PROBE_EXAMPLES], eval_set.labels[:PROBE_EXAMPLES]
        with torch.inference_mode():
            try:
                output = model(inputs)
            except Exception as e:  # your model, given these inputs
                raise LandscapeError(f"the model cannot take the {eval_set.split} inputs (each of shape "
                                     f"{tuple(inputs.shape[1:])}): {type(e).__name__}: {first_line(e)}") from None
            select = None if getattr(model, "selects_output", False) else output_selector(output, output_key)
            if select is not None:
                model = select_output(model, select)
                output = select(output)
        if not isinstance(output, torch.Tensor) or output.dim() != 2 or len(output) != len(inputs) \
                or not output.is_floating_point():
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise LandscapeError(f"the model's output for {len(inputs)} examples is {shape}; the engine needs "
                                 f"logits of shape ({len(inputs)}, classes)")
        require_labels(eval_set, output.shape[1])
        if not bool(torch.isfinite(output).all()):
            raise LandscapeError(f"the model's outputs on the first {eval_set.split} examples are NaN or inf at its "
                                 f"own weights: nothing around them can be measured")
        require_mean_loss(loss, output.float(), labels)
    return model
