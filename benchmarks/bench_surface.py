"""Surface-engine speed: seconds per grid point for ResNet-20 on N real CIFAR-10 images.

Times the engine the CLI uses (`PointEvaluator`: weights moved in place; `BatchedEvaluator`: K
points stacked through vmap) for several image batch sizes, points per pass and both precisions,
side by side in one run, so the CLI defaults rest on measurements and the ratios carry from one
machine to another. Run alone (pause training):

    python -m benchmarks.bench_surface --data ../shared/cifar10 [--samples 1000] [--device cuda] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from landscape import activation_factory, resnet
from landscape.directions import DirectionOptions, random_directions
from landscape.engine import EvalOptions, evaluator_for, synchronize
from landscape.evaluate import load_eval_set
from landscape.runtime import resolve_device

MULTIPLY_ADDS_PER_IMAGE = 40.8e6  # ResNet-20 on a 32×32 image


def seconds_per_point(model, directions, sets, options: EvalOptions, count: int, repeats: int) -> list[float]:
    """Per-point times of `repeats` passes of `count` points each, after one warm-up pass."""
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (count, 2))
    with evaluator_for(model, directions, sets, options, "weights", count) as evaluator:
        evaluator.many(points)
        times = []
        for _ in range(repeats):
            synchronize(sets[0].inputs.device)
            started = time.perf_counter()
            evaluator.many(points)
            synchronize(sets[0].inputs.device)
            times.append((time.perf_counter() - started) / count)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--points-per-batch", default="1,4,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = resnet(20, activation_factory("relu")).to(device, memory_format=torch.channels_last).eval()
    directions = random_directions(model, DirectionOptions(seed=0), 2)
    sets = [load_eval_set(args.data, "train", args.samples, 0, device, quiet=True)]
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, ResNet-20, "
          f"{args.samples} training images per point")
    print(f"{'precision':9s} {'batch':>5s} {'points/pass':>11s} {'s/point':>8s} {'images/s':>9s} {'GFLOP/s':>8s}")
    rows = []
    for precision in ("fp32", "bf16"):
        for batch in map(int, args.batch_sizes.split(",")):
            for count in map(int, args.points_per_batch.split(",")):
                options = EvalOptions(batch_size=batch, precision=precision)
                times = seconds_per_point(model, directions, sets, options, count, args.repeats)
                median = statistics.median(times)
                row = {"precision": precision, "batch_size": batch, "points_per_batch": count,
                       "seconds_per_point": median, "min": min(times), "max": max(times),
                       "images_per_s": args.samples / median,
                       "gflop_per_s": 2 * MULTIPLY_ADDS_PER_IMAGE * args.samples / median / 1e9}
                rows.append(row)
                print(f"{precision:9s} {batch:5d} {count:11d} {median:8.3f} {row['images_per_s']:9.0f} "
                      f"{row['gflop_per_s']:8.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "samples": args.samples, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
