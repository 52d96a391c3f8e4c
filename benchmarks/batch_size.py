"""Which image batch size scores grid points fastest on this CPU, in fp32 and in bf16.

The engine's CPU default (`engine.CPU_BATCH_SIZE`) was chosen in fp32; a bf16 batch takes half the
memory per image, so its best size may differ. On the same checkpoint and N CIFAR-10 training images
the per-point engine (its defaults otherwise: folded, fused, one batch per thread side by side)
scores points at each batch size, the sizes taking turns point by point as in bench_surface.py;
each size's time is compared round by round with the default size's in the same precision.
Run it alone (pause training):

    python -m benchmarks.batch_size --data ../shared/cifar10 [--sizes 32,64,128,256] [--rounds 12]
        [--json out.json]
"""
from __future__ import annotations

import argparse
import contextlib
import json

import numpy as np
import torch

from benchmarks.bench_surface import cpu_description, interleaved_times, paired_ratios, scoring_workload, summary
from benchmarks.synthetic_cifar import training_images
from landscape.evaluation.engine import evaluator_for
from landscape.evaluation.options import CPU_BATCH_SIZE, EvalOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 folder, or 'synthetic' (random images of its shape)")
    parser.add_argument("--checkpoint", default="checkpoints/resnet20_relu.pt")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sizes", default="32,64,128,256", help="comma-separated image batch sizes")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--rounds", type=int, default=12, help="timed points per setting (after 2 warm-up rounds)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")} | {CPU_BATCH_SIZE})
    precisions = args.precisions.split(",")
    device = torch.device("cpu")

    chosen = training_images(args.data, args.samples, 0)
    model, directions, eval_set = scoring_workload(args.checkpoint, chosen, device)
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (64, 2))

    scorers = {}
    with contextlib.ExitStack() as evaluators:
        for precision in precisions:
            for size in sizes:
                evaluator = evaluators.enter_context(evaluator_for(
                    model, directions, [eval_set], EvalOptions(precision=precision, batch_size=size), "weights", 1))
                scorers[(precision, size)] = (lambda chunk, e=evaluator: [row[0] for row in e.many(chunk)], 1)
        times, _ = interleaved_times(scorers, points, args.rounds, 2, device)

    print(f"torch {torch.__version__}, cpu ({cpu_description()}), {torch.get_num_threads()} threads; "
          f"{args.checkpoint}, {args.samples} training images per point")
    print(f"{'precision':9s} {'batch':>5s} {'s/point':>8s} {'min':>6s} {'max':>6s} {'images/s':>9s}  "
          f"speed-up over batch {CPU_BATCH_SIZE} (range)")
    rows = []
    for (precision, size), t in times.items():
        stats, ratio = summary(t), paired_ratios(times[(precision, CPU_BATCH_SIZE)], t)
        rows.append({"precision": precision, "batch_size": size, "seconds_per_point": stats,
                     "images_per_s": args.samples / stats["median"], "speedup_vs_default_batch": ratio})
        print(f"{precision:9s} {size:5d} {stats['median']:8.3f} {stats['min']:6.3f} {stats['max']:6.3f} "
              f"{args.samples / stats['median']:9.0f}  {ratio['median']:.3f}× ({ratio['min']:.3f}-{ratio['max']:.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": cpu_description(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "checkpoint": args.checkpoint, "data": chosen.source, "samples": args.samples,
                       "default_batch_size": CPU_BATCH_SIZE, "settings": rows}, f, indent=1)


if __name__ == "__main__":
    main()
