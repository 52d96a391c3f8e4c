"""`--points-per-batch auto` under a competing load: is its choice ever slower than the safe
default (one point per pass)?

Two busy processes (each a single-threaded loop of matrix products) run beside the benchmark for
its whole length, as other jobs on a shared machine would. Each trial times the candidates as a
calibration does (`engine.calibrate_points_per_batch`: interleaved rounds, a 15 % margin in every
round), takes what `auto` uses (`engine.choose_points_per_batch`: on a CPU always one point per
pass), and scores the same 5×5 grid of a shipped ResNet-20 on 200 images with the timed choice
and with one point per pass, in alternating order. The claim checked: `auto` is never more than
10 % slower than the default; the timed choice's ratio shows why a CPU does not calibrate.

    python -m benchmarks.calibration_under_load --data ../shared/cifar10 --trials 5
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time

import numpy as np
import torch

from benchmarks.bench_surface import scoring_workload
from benchmarks.synthetic_cifar import training_images
from landscape.evaluation.calibration import calibrate_points_per_batch, choose_points_per_batch
from landscape.evaluation.engine import evaluator_for
from landscape.evaluation.options import EvalOptions
from landscape.geometry.grid import Grid

TOLERANCE = 1.10  # the chosen setting may be at most this much slower than one point per pass


def busy(stop) -> None:
    """A competing job: single-threaded matrix products until told to stop."""
    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    while not stop.is_set():
        a = (a @ a).tanh_()


def grid_seconds(model, directions, sets, options, count: int, points: np.ndarray) -> float:
    """Seconds to score every point of the grid, `count` points per pass."""
    started = time.perf_counter()
    with evaluator_for(model, directions, sets, options, "weights", count) as evaluator:
        for start in range(0, len(points), count):
            evaluator.many(points[start:start + count])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/resnet20_mish.pt")
    parser.add_argument("--data", default="../shared/cifar10", help="CIFAR-10 folder, or 'synthetic'")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--load", type=int, default=2, help="busy processes beside the benchmark")
    args = parser.parse_args()

    model, directions, eval_set = scoring_workload(args.checkpoint, training_images(args.data, args.samples, 0),
                                                   torch.device("cpu"))
    sets, options = [eval_set], EvalOptions()
    points = Grid.parse("-1:1:5", "-1:1:5").points()
    stop = mp.Event()
    workers = [mp.Process(target=busy, args=(stop,), daemon=True) for _ in range(args.load)]
    for worker in workers:
        worker.start()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"{args.load} busy processes beside; {args.checkpoint}, {args.samples} images, 5×5 grid")
    timed_ratios, auto_ratios = [], []
    try:
        for trial in range(args.trials):
            calibration = calibrate_points_per_batch(model, directions, sets, options, "weights")
            auto = choose_points_per_batch(model, directions, sets, options, "weights").points_per_batch
            timed = calibration.points_per_batch
            counts = sorted({timed, auto, 1})
            order = counts if trial % 2 == 0 else counts[::-1]
            seconds = {count: grid_seconds(model, directions, sets, options, count, points) for count in order}
            timed_ratios.append(seconds[timed] / seconds[1])
            auto_ratios.append(seconds[auto] / seconds[1])
            medians = ", ".join(f"{k}: {1e3 * float(np.median(v)):.0f}"
                                for k, v in calibration.seconds_per_point.items())
            print(f"trial {trial + 1}: timed choice {timed} (median ms per point {medians}), auto {auto}; grid "
                  + ", ".join(f"{k} per pass {v:.1f} s" for k, v in seconds.items())
                  + f"; ratio to 1 per pass: timed {timed_ratios[-1]:.3f}, auto {auto_ratios[-1]:.3f}")
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    print(f"worst ratio to one point per pass over {args.trials} trials: timed choice {max(timed_ratios):.3f}, "
          f"auto {max(auto_ratios):.3f}: {'PASS' if max(auto_ratios) <= TOLERANCE else 'FAIL'} "
          f"(auto at most {TOLERANCE:.2f})")


if __name__ == "__main__":
    main()
