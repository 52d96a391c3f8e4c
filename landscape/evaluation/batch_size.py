"""The image batch size for a model and device: a fixed size on a CPU (keeps ResNet-20's activations in
cache), the fastest timed size on a GPU.

Stage: grid evaluation. Resolves `EvalOptions.batch_size = None` once per model and device.
"""
from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from landscape.evaluation.evaluate import EvalSet, evaluate, loss_function
from landscape.evaluation.options import CPU_BATCH_SIZE, EvalOptions


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CANDIDATE_BATCH_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)


def choose_batch_size(model: nn.Module, eval_set: EvalSet, options: EvalOptions) -> int:
    """The image batch size for `eval_set`'s device: `CPU_BATCH_SIZE` on a CPU (measured by the
    benchmark), the fastest as timed here on a GPU."""
    if eval_set.inputs.device.type == "cpu":
        return CPU_BATCH_SIZE
    return fastest_batch_size(model, eval_set, options)


def with_batch_size(options: EvalOptions, model: nn.Module, sets: list[EvalSet]) -> EvalOptions:
    """`options` with an automatic batch size (None) resolved for the first set's device."""
    if options.batch_size is not None or not sets:
        return options
    return dataclasses.replace(options, batch_size=choose_batch_size(model, sets[0], options))


def fastest_batch_size(model: nn.Module, eval_set: EvalSet, options: EvalOptions,
                       candidates=CANDIDATE_BATCH_SIZES) -> int:
    """Each candidate up to the set's size timed on one batch (after a warm-up), in increasing
    order, and taken if more than 10 % faster per image than the best so far, until one runs out of
    memory or is more than 20 % slower."""
    device = eval_set.inputs.device
    loss = loss_function(options.loss)
    best, best_rate = candidates[0], 0.0
    for size in candidates:
        if size > len(eval_set.labels) and size != candidates[0]:
            break
        inputs, labels = eval_set.inputs[:size], eval_set.labels[:size]
        try:
            evaluate(model, inputs, labels, size, options.precision, loss)  # warm-up
            synchronize(device)
            started = time.perf_counter()
            evaluate(model, inputs, labels, size, options.precision, loss)
            synchronize(device)
            rate = len(labels) / (time.perf_counter() - started)
        except torch.OutOfMemoryError:
            break
        if rate > 1.1 * best_rate:
            best, best_rate = size, rate
        elif rate < 0.8 * best_rate:
            break
    return best
