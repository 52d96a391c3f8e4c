"""Where a CPU surface run spends its time: torch.profiler over grid points of the CLI's engine.

Scores a few points of a ResNet-20 checkpoint on N real CIFAR-10 training images with the
per-point engine (fp32 or `--precision bf16`, batch 64, channels_last, one batch at a time so
the profile is one thread's story): as the engine runs by default (BatchNorm folded, activations
and residual additions fused into the convolutions), folded only, and neither; it prints each
run's self time by kind of operator and the top operators.

    python -m benchmarks.profile_surface --data ../shared/cifar10 [--points 4] > benchmarks/profile_surface.txt
    python -m benchmarks.profile_surface --data ../shared/cifar10 --precision bf16
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from landscape.evaluation.engine import PointEvaluator
from landscape.evaluation.evaluate import load_eval_set
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import random_directions
from landscape.geometry.options import DirectionOptions
from landscape.precision import PRECISIONS
from landscape.sources.checkpoint import load_checkpoint

KINDS = {  # operator name fragments → what they are, first match wins
    "convolution_pointwise": "convolution with fused post-ops", "convolution": "convolution",
    "batch_norm": "BatchNorm", "clamp": "activation", "relu": "activation", "threshold": "activation",
    "mish": "activation", "sigmoid": "activation", "tanh": "activation",
    "copy_": "memory copies", "_to_copy": "memory copies", "add_": "weights moved (in-place adds)",
    "add": "residual additions", "mul": "weights folded (scaling)", "rsqrt": "weights folded (scaling)",
    "cross_entropy": "loss", "log_softmax": "loss", "nll_loss": "loss", "argmax": "accuracy", "eq": "accuracy",
    "adaptive_avg_pool": "pooling", "mean": "pooling", "addmm": "linear head", "linear": "linear head",
}


def kind_of(name: str) -> str:
    return next((kind for fragment, kind in KINDS.items() if fragment in name), "other")


def profile_points(evaluator: PointEvaluator, points: np.ndarray):
    """Operator times over points[1:], after points[0] as a warm-up."""
    evaluator(points[0])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for point in points[1:]:
            evaluator(point)
    return prof.key_averages()


def report(title: str, averages, points: int) -> None:
    leaves = [a for a in averages if a.self_cpu_time_total > 0]
    total = sum(a.self_cpu_time_total for a in leaves)
    by_kind = defaultdict(float)
    for a in leaves:
        by_kind[kind_of(a.key)] += a.self_cpu_time_total
    print(f"\n{title}: {total / 1e6 / points:.3f} s of operator time per point")
    for kind, t in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:32s} {100 * t / total:5.1f} %")
    print("  top operators (self time):")
    for a in sorted(leaves, key=lambda a: -a.self_cpu_time_total)[:8]:
        print(f"    {a.key:36s} {100 * a.self_cpu_time_total / total:5.1f} %  {a.count // points:4d} calls/point")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--checkpoint", default="checkpoints/resnet20_relu.pt")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    args = parser.parse_args()
    model = load_checkpoint(args.checkpoint)[0].to(memory_format=torch.channels_last).eval()
    directions = random_directions(model, DirectionOptions(seed=0), 2)
    sets = [load_eval_set(args.data, "train", args.samples, 0, torch.device("cpu"), quiet=True)]
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (args.points + 1, 2))
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, {args.checkpoint}, "
          f"{args.samples} training images, {args.points} points after one warm-up point, {args.precision}")
    for title, fold, fuse in (("BatchNorm folded, activations fused (the default)", True, True),
                              ("BatchNorm folded, nothing fused", True, False),
                              ("BatchNorm neither folded nor fused", False, False)):
        options = EvalOptions(precision=args.precision, fold_batchnorm=fold, fuse_activations=fuse, workers=1)
        with PointEvaluator(model, directions, sets, options) as evaluator:
            report(title, profile_points(evaluator, points), args.points)


if __name__ == "__main__":
    main()
