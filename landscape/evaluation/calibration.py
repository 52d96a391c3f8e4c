"""`--points-per-batch auto`: how many grid points one pass scores, timed on the actual model and device.

Stage: grid evaluation. One point per pass on a CPU; on a GPU, candidates are timed in interleaved
rounds and more points per pass are taken only when clearly faster in every round. The timings
are recorded in the surface file.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from landscape.evaluation.batch_size import synchronize, with_batch_size
from landscape.evaluation.engine import NotBatchable, evaluator_for
from landscape.evaluation.evaluate import EvalSet
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import Direction

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
