"""The surface engine: how grid points are evaluated, for any `nn.Module` and prepared data.

Stage: directions → grid evaluation. A `PointEvaluator` moves the model's weights to
θ + α·x + β·y in place (no model rebuild) and scores every evaluation set there; the model
returns to θ when it closes. A `BatchedEvaluator` scores K points in one pass instead: the K
perturbed weight sets are stacked and run together through `torch.func.vmap` (few, large kernels:
what fills a GPU). `calibrate_points_per_batch` times both on the actual device and model and
keeps one point per pass unless more are clearly faster. `compute_surface` is the in-memory
sweep of a whole grid; `surface.execute` is the resumable, file-backed, multi-process one. Both
call the same evaluators, so they give the same numbers. Per point, BatchNorms that follow
convolutions are folded into them, and on a CPU activations and residual additions are fused
into them (`folding`).
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from .directions import Direction, check_compatible, model_entries
from .errors import LandscapeError, require_choice
from .evaluate import EvalSet, evaluate, loss_function, require_loss
from .folding import ScoringModel
from .grid import Grid
from .progress import progress
from .runtime import PRECISIONS, autocast
from .storage import value_names

CPU_BATCH_SIZE = 64  # keeps ResNet-20's activations in cache: benchmarks/bench_surface.py


@dataclass(frozen=True)
class EvalOptions:
    """How grid points are scored. The numbers depend on the image batch size (None: chosen for
    the device by `choose_batch_size`), the precision and the loss (a name from evaluate.LOSSES or
    MODULE:CALLABLE). The rest changes only how fast, up to float rounding: grid points per pass
    (None: the fastest here), and for the per-point path BatchNorm folding, activation fusion on a
    CPU (`folding`; not with torch.compile, which fuses them its own way), image batches scored side
    by side on a CPU (`evaluate.evaluate`; None: one per thread) and torch.compile."""

    batch_size: int | None = CPU_BATCH_SIZE
    precision: str = "fp32"
    loss: str = "cross_entropy"
    points_per_batch: int | None = None  # grid points per pass; None: the fastest here, measured at start
    fold_batchnorm: bool = True
    fuse_activations: bool = True
    workers: int | None = None
    compile: bool = False

    def __post_init__(self):
        require_choice("precision", self.precision, PRECISIONS)
        require_loss(self.loss)
        if self.points_per_batch is not None and self.points_per_batch < 1:
            raise LandscapeError(f"--points-per-batch must be at least 1 (or auto); got {self.points_per_batch}")
        if self.batch_size is not None and self.batch_size < 1:
            raise LandscapeError(f"--batch-size must be at least 1 (or auto); got {self.batch_size}")
        if self.workers is not None and self.workers < 1:
            raise LandscapeError(f"--workers must be at least 1 (or auto); got {self.workers}")

    @property
    def cpu_workers(self) -> int:
        return self.workers or torch.get_num_threads()


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

    def engine_settings(self) -> dict[str, int]:
        """How this evaluator runs, as recorded in a surface file."""
        on_cpu = all(s.inputs.device.type == "cpu" for s in self.sets)
        return {"points_per_batch": self.points_per_batch, "batchnorms_folded": self.batchnorms_folded,
                "convolutions_fused": self.convolutions_fused,
                "cpu_workers": self.options.cpu_workers if on_cpu and self.points_per_batch == 1 else 1,
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
                             self.loss, self.options.cpu_workers)
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


CANDIDATE_POINTS_PER_BATCH = (1, 2, 4, 8, 16, 32, 64)
CALIBRATION_ROUNDS = 3  # timings per candidate, interleaved: a burst of load hits every candidate alike
CLEAR_MARGIN = 1.15  # more points per pass only when this much faster than one, in every round


@dataclass(frozen=True)
class Calibration:
    """The grid points per pass chosen, and the seconds per point each candidate took in each round
    (recorded in the surface file, so a choice can be checked after the fact)."""

    points_per_batch: int
    seconds_per_point: dict[int, list[float]]


def pick_points_per_batch(seconds_per_point: dict[int, list[float]], default: int = 1,
                          margin: float = CLEAR_MARGIN) -> int:
    """The candidate with the lowest median time per point if it beats `default` by `margin` in every
    round (paired by round), else `default`: noise never moves the choice off the safe default."""
    best = min(seconds_per_point, key=lambda count: float(np.median(seconds_per_point[count])))
    rounds = zip(seconds_per_point[default], seconds_per_point[best])
    return best if best != default and all(base >= margin * t for base, t in rounds) else default


def time_points(model: nn.Module, directions: list[Direction], probe: list[EvalSet], options: EvalOptions,
                dir_type: str, count: int, warm_up: bool) -> float:
    """Seconds per point of one pass of `count` points (after a warm-up pass if asked)."""
    points = np.zeros((count, max(1, len(directions))))
    with evaluator_for(model, directions, probe, options, dir_type, count) as evaluator:
        if warm_up:
            evaluator.many(points)
        synchronize(probe[0].inputs.device)
        started = time.perf_counter()
        evaluator.many(points)
        synchronize(probe[0].inputs.device)
        return (time.perf_counter() - started) / count


def calibrate_points_per_batch(model: nn.Module, directions: list[Direction], sets: list[EvalSet],
                               options: EvalOptions, dir_type: str, candidates=CANDIDATE_POINTS_PER_BATCH,
                               rounds: int = CALIBRATION_ROUNDS) -> Calibration:
    """Time the candidates on one image batch of this model and device. A first pass (after a warm-up)
    keeps them in increasing order until one runs out of memory, the model cannot be batched, or one
    is more than 20 % slower per point than the best so far; then `rounds` more timings of those,
    interleaved (in alternating order), decide by `pick_points_per_batch`."""
    options = with_batch_size(options, model, sets)
    probe = [EvalSet(sets[0].split, sets[0].inputs[:options.batch_size], sets[0].labels[:options.batch_size])]
    first_pass: dict[int, float] = {}
    for count in candidates:
        try:
            first = time_points(model, directions, probe, options, dir_type, count, warm_up=True)
        except (torch.OutOfMemoryError, NotBatchable):
            break
        if first_pass and first > 1.25 * min(first_pass.values()):
            break
        first_pass[count] = first
    seconds: dict[int, list[float]] = {count: [] for count in first_pass}
    for r in range(rounds):
        for count in (list(first_pass) if r % 2 == 0 else list(reversed(first_pass))):
            seconds[count].append(time_points(model, directions, probe, options, dir_type, count, warm_up=False))
    return Calibration(pick_points_per_batch(seconds), seconds)


def choose_points_per_batch(model: nn.Module, directions: list[Direction], sets: list[EvalSet],
                            options: EvalOptions, dir_type: str) -> Calibration:
    """`--points-per-batch auto`: one point per pass on a CPU, where stacked passes were never faster
    in a run and, under a competing load, were timed faster at the start yet ran 2.7× slower
    (benchmarks/calibration_under_load.txt); on a GPU the calibrated choice."""
    if sets[0].inputs.device.type == "cpu":
        return Calibration(1, {})
    return calibrate_points_per_batch(model, directions, sets, options, dir_type)


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


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compute_surface(model: nn.Module, directions: list[Direction], sets: list[EvalSet], grid: Grid,
                    options: EvalOptions = EvalOptions(), dir_type: str = "weights",
                    quiet: bool = False) -> dict[str, np.ndarray]:
    """Evaluate `model` (any classifier) on the grid, in memory; returns {split_loss/acc: array of
    grid.shape}. The model is left at its original weights, in eval mode."""
    if len(directions) != grid.ndim:
        raise LandscapeError(f"a {grid.ndim}-D grid needs {grid.ndim} direction(s); got {len(directions)}")
    options = with_batch_size(options, model.eval(), sets)
    count = options.points_per_batch or \
        choose_points_per_batch(model, directions, sets, options, dir_type).points_per_batch
    points = grid.points()
    with evaluator_for(model, directions, sets, options, dir_type, count) as evaluator:
        out = {n: np.full(grid.shape, np.nan) for n in evaluator.names}
        bar = progress(len(points), "surface", "pt", quiet)
        for start in range(0, len(points), count):
            for offset, row in enumerate(evaluator.many(points[start:start + count])):
                for name, value in zip(evaluator.names, row):
                    out[name][np.unravel_index(start + offset, grid.shape)] = value
            bar.update(min(count, len(points) - start))
        bar.close()
    return out
