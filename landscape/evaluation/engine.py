"""The surface engine: how grid points are scored, for any `nn.Module` and prepared data.

Stage: directions → grid evaluation. A `PointEvaluator` moves the model's weights to
θ + α·x + β·y in place (no model rebuild) and scores every evaluation set there; the model
returns to θ when it closes. A `BatchedEvaluator` scores K points in one pass instead: the K
perturbed weight sets are stacked and run together through `torch.func.vmap` (few, large kernels:
what fills a GPU). `calibration` chooses between them; `surfaces.in_memory` and the resumable,
file-backed `surfaces.sweep` both call these evaluators, so they give the same numbers. Per
point, BatchNorms that follow convolutions are folded into them, and on a CPU activations and
residual additions are fused into them (`folding`).
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from landscape.errors import LandscapeError
from landscape.evaluation.batch_size import with_batch_size
from landscape.evaluation.evaluate import EvalSet, evaluate, loss_function, value_names
from landscape.evaluation.folding import ScoringModel
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import Direction, check_compatible, model_entries
from landscape.runtime import autocast


class PointEvaluator:
    """Scores `model` on `sets` at grid points (α[, β]) along `directions`.

    Use as a context manager: on exit the model's entries are back at their original values.
    Scoring runs on a copy with BatchNorms folded into convolutions and activations fused into them
    (sharing every other tensor) when the options ask for it and the model has any.
    """

    points_per_batch = 1

    def __init__(self, model: nn.Module, directions: list[Direction], sets: list[EvalSet],
                 options: EvalOptions = EvalOptions(), dir_type: str = "weights"):
        self.model, self.sets, self.options = model.eval(), sets, with_batch_size(options, model, sets)
        self.entries = model_entries(model, dir_type)
        for axis, direction in zip("xy", directions):
            check_compatible(self.entries, direction, f"direction {axis}")
        self.origin = {k: v.detach().clone() for k, v in self.entries.items()}
        self.directions = [{k: d[k].to(self.origin[k]) for k in self.entries} for d in directions]
        self.names = value_names(tuple(s.split for s in sets))  # the order of the values returned
        self.loss = loss_function(options.loss)
        fuse = options.fuse_activations and not options.compile  # torch.compile fuses elementwise steps itself
        arranged = options.fold_batchnorm or fuse
        self.scoring_copy = ScoringModel(model, options.fold_batchnorm, fuse) if arranged else None
        self.scored = self.scoring_copy.module if self.scoring_copy and self.scoring_copy.changed else model
        if options.compile:  # weights are read at every call, so moving them in place needs no recompilation
            on_gpu = any(s.inputs.device.type == "cuda" for s in sets)
            self.scored = torch.compile(self.scored, mode="reduce-overhead" if on_gpu else None)

    @property
    def batchnorms_folded(self) -> int:
        return self.scoring_copy.count if self.scoring_copy else 0

    @property
    def convolutions_fused(self) -> int:
        return self.scoring_copy.fused if self.scoring_copy else 0

    @property
    def cpu_workers(self) -> int:
        """Image batches scored side by side on a CPU: as asked, else one per thread."""
        return self.options.workers or torch.get_num_threads()

    def engine_settings(self) -> dict[str, int]:
        """How this evaluator runs, as recorded in a surface file."""
        on_cpu = all(s.inputs.device.type == "cpu" for s in self.sets)
        return {"points_per_batch": self.points_per_batch, "batchnorms_folded": self.batchnorms_folded,
                "convolutions_fused": self.convolutions_fused,
                "cpu_workers": self.cpu_workers if on_cpu and self.points_per_batch == 1 else 1,
                "compiled": int(self.options.compile)}

    @torch.no_grad()
    def move_to(self, coefficients: Iterable[float]) -> None:
        for name, tensor in self.entries.items():
            tensor.copy_(self.origin[name])
            for coefficient, direction in zip(coefficients, self.directions):
                if coefficient:
                    tensor.add_(direction[name], alpha=float(coefficient))
        if self.scoring_copy:
            self.scoring_copy.refresh()

    def __call__(self, point: np.ndarray) -> list[float]:
        """[loss, acc] per set, in order (`self.names`), at grid point (α, β)."""
        self.move_to(point[:len(self.directions)])
        values = []
        for s in self.sets:
            score = evaluate(self.scored, s.inputs, s.labels, self.options.batch_size, self.options.precision,
                             self.loss, self.cpu_workers)
            values += [score.loss, score.accuracy]
        return values

    def many(self, points: np.ndarray) -> list[list[float]]:
        """The values at each of `points` [K, ≥ len(directions)], in order."""
        return [self(point) for point in points]

    def __enter__(self) -> PointEvaluator:
        return self

    def __exit__(self, *exc) -> None:
        self.move_to([])


class BatchedEvaluator(PointEvaluator):
    """Scores up to `points_per_batch` grid points in one pass: the entries at θ + Σ c·d for every
    point are stacked on a leading dimension and the model runs over them with `torch.func.vmap`
    (BatchNorm in eval mode, as per point). The model's own tensors are never changed."""

    def __init__(self, model: nn.Module, directions: list[Direction], sets: list[EvalSet],
                 options: EvalOptions = EvalOptions(), dir_type: str = "weights", points_per_batch: int = 8):
        unfolded = dataclasses.replace(options, fold_batchnorm=False, fuse_activations=False, compile=False)
        super().__init__(model, directions, sets, unfolded, dir_type)
        if points_per_batch < 1:
            raise LandscapeError(f"--points-per-batch must be at least 1; got {points_per_batch}")
        self.points_per_batch = points_per_batch
        state = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        self.fixed = {k: v.detach() for k, v in state.items() if k not in self.entries}

        def forward(entries: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
            return functional_call(self.model, {**self.fixed, **entries}, (inputs,))
        self.forward = vmap(forward, in_dims=(0, None))

    @torch.no_grad()
    def stacked_entries(self, points: np.ndarray) -> dict[str, torch.Tensor]:
        """Every moved entry at each point, [K, *shape]."""
        out = {}
        for name, origin in self.origin.items():
            coefficients = torch.as_tensor(points[:, :len(self.directions)], dtype=origin.dtype,
                                           device=origin.device)
            moved = origin.expand(len(points), *origin.shape).clone()
            for j, direction in enumerate(self.directions):
                moved += coefficients[:, j].view(-1, *([1] * origin.dim())) * direction[name]
            out[name] = moved
        return out

    def many(self, points: np.ndarray) -> list[list[float]]:
        rows: list[list[float]] = [[] for _ in points]
        for start in range(0, len(points), self.points_per_batch):
            chunk = points[start:start + self.points_per_batch]
            entries = self.stacked_entries(chunk)
            for s in self.sets:
                for k, (loss, accuracy) in enumerate(self.score(entries, s, len(chunk))):
                    rows[start + k] += [loss, accuracy]
        return rows

    def score(self, entries: dict[str, torch.Tensor], s: EvalSet, count: int) -> list[tuple[float, float]]:
        """(loss, accuracy) of each of the `count` stacked weight sets on one evaluation set."""
        total = torch.zeros(count, dtype=torch.float64, device=s.inputs.device)
        correct = torch.zeros(count, dtype=torch.int64, device=s.inputs.device)
        size = self.options.batch_size
        with torch.inference_mode(), autocast(s.inputs.device, self.options.precision):
            for begin in range(0, len(s.labels), size):
                outputs = self.batched_forward(entries, s.inputs[begin:begin + size])  # [K, B, classes]
                if outputs.dtype in (torch.bfloat16, torch.float16):
                    outputs = outputs.float()
                target = s.labels[begin:begin + size]
                for k in range(count):
                    total[k] += self.loss(outputs[k], target).double()
                    correct[k] += (outputs[k].argmax(1) == target).sum()
        n = len(s.labels)
        return [(float(t) / n, int(c) / n) for t, c in zip(total, correct)]

    def batched_forward(self, entries: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        try:
            with warnings.catch_warnings():  # vmap's notice that an operation runs as a loop: the choice of K
                warnings.filterwarnings("ignore", message="There is a performance drop")  # weighs that cost
                return self.forward(entries, inputs)
        except RuntimeError as e:  # e.g. a custom autograd.Function without a vmap rule
            raise NotBatchable(f"this model cannot score several points per pass through torch.func.vmap "
                               f"({str(e).splitlines()[0][:160]}); use --points-per-batch 1") from None

    def __call__(self, point: np.ndarray) -> list[float]:
        return self.many(np.asarray(point)[None, :])[0]

    def __exit__(self, *exc) -> None:
        pass  # the model's own tensors were never moved


class NotBatchable(LandscapeError):
    """The model has an operation that vmap cannot batch (our compiled Swish/Mish kernels, say)."""


def evaluator_for(model: nn.Module, directions: list[Direction], sets: list[EvalSet], options: EvalOptions,
                  dir_type: str, points_per_batch: int) -> PointEvaluator:
    """The per-point evaluator for one point per pass, the batched one for more."""
    if points_per_batch == 1:
        return PointEvaluator(model, directions, sets, options, dir_type)
    return BatchedEvaluator(model, directions, sets, options, dir_type, points_per_batch)
