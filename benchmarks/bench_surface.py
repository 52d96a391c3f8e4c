"""Surface-engine speed against the reference method's loop, side by side in one run.

On the same checkpoint and the same N CIFAR-10 training images (or, with `--data synthetic`, random
images of that shape, for a machine without the data), grid points are scored by
  reference        a re-implementation of Li et al.'s per-point loop: a torchvision-style dataset of
                   uint8 HWC arrays, PIL conversion + ToTensor + Normalize per image, DataLoader
                   batch 128 without workers, weights set per point as new tensors, NCHW, fp32
  fp32/bf16(/tf32) `landscape surface`'s per-point engine (prepared tensors, channels_last, batch 64,
                   BatchNorm folded into the convolutions, activations and residual additions fused
                   into them on a CPU, one batch per CPU thread side by side)
  … unfused        the same without the fusion (what fusing buys)
  fp32 1 worker    the default, one batch at a time on all threads (what the workers buy)
  fp32 plain       one batch at a time, BatchNorm neither folded nor fused (the engine before all three)
  fp32 compiled    the per-point engine through torch.compile (`--compile`; compile time not counted)
  fp32 vmap K      K points per pass through torch.func.vmap (`BatchedEvaluator`)
Methods take turns point by point (rounds after a warm-up), so drift on a shared machine hits all
alike; the speed-up is the median over rounds of the reference's time over the method's in the
same round. Ratios carry from one machine to the next, absolute times do not.
Also: the CPU and its bf16 instructions; this machine's fp32 and bf16 matrix-multiply rates and the
fp32 rate of a 64-channel 3×3 convolution (the bounds: which one binds depends on the CPU's
libraries); and each method's largest loss difference from the reference at the same points.
Hessian-vector products: bench_hvp.py.
Run it alone (pause training):

    python -m benchmarks.bench_surface --data ../shared/cifar10 [--checkpoint checkpoints/resnet20_relu.pt]
        [--samples 1000] [--rounds 12] [--device cuda] [--json benchmarks/bench_surface.json]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from benchmarks.synthetic_cifar import training_images
from landscape.evaluation.batch_size import synchronize
from landscape.evaluation.engine import evaluator_for
from landscape.evaluation.evaluate import EvalSet, prepare_inputs
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import random_directions
from landscape.geometry.options import DirectionOptions
from landscape.runtime import resolve_device
from landscape.sources.checkpoint import load_checkpoint
from landscape.sources.data import ImageSet
from landscape.sources.specs import CIFAR10_MEAN, CIFAR10_STD

MULTIPLY_ADDS_PER_IMAGE = 40.8e6  # ResNet-20 on a 32×32 image


class ReferenceDataset(Dataset):
    """The reference method's data: uint8 HWC arrays in memory, PIL + ToTensor + Normalize per image."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.data = images.permute(0, 2, 3, 1).numpy()  # as torchvision's CIFAR10.data
        self.targets = labels.tolist()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def reference_scorer(model: torch.nn.Module, directions, loader: DataLoader, device) -> Callable:
    """Score points as the reference loop does: p.data = θ + Σ c·d per point, then the loader."""
    params = list(model.named_parameters())
    origin = [p.data.clone() for _, p in params]
    steps = [[d[name] if name in d else torch.zeros_like(p) for name, p in params] for d in directions]

    def score(points: np.ndarray) -> list[float]:
        losses = []
        for point in points:
            for i, (_, p) in enumerate(params):
                p.data = origin[i] + sum(float(c) * step[i] for c, step in zip(point, steps))
            total, count = 0.0, 0
            with torch.no_grad():
                for x, y in loader:
                    x, y = x.to(device), y.to(device)
                    total += F.cross_entropy(model(x), y).item() * len(y)
                    count += len(y)
            losses.append(total / count)
        return losses
    return score


def scoring_workload(checkpoint: str, images: ImageSet, device) -> tuple[torch.nn.Module, list, EvalSet]:
    """What the engine scores in every benchmark: the checkpoint's model (channels_last, eval mode),
    two seed-0 filter-normalised directions, and `images` prepared once on `device`."""
    model = load_checkpoint(checkpoint)[0].to(device, memory_format=torch.channels_last).eval()
    directions = random_directions(model, DirectionOptions(seed=0), 2)
    return model, directions, EvalSet("train", prepare_inputs(images.images, device), images.labels.to(device))


def best_seconds(operation: Callable[[], object], device, repeats: int = 5) -> float:
    """Fastest of `repeats` timed calls of `operation`, after one warm-up call."""
    operation()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        operation()
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


def matmul_rate(dtype: torch.dtype, device, size: int = 2048) -> float:
    """Best GFLOP/s of a size × size matrix product in `dtype`."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    return 2 * size ** 3 / best_seconds(lambda: a @ b, device) / 1e9


def convolution_rate(device, channels: int = 64, batch: int = 128) -> float:
    """Best fp32 GFLOP/s of a channels × channels 3×3 convolution on 32×32 images (channels_last),
    counted as direct multiply-adds: the rate a convolutional network could reach here. torch's
    matrix product and its convolutions can run on different libraries (on AMD CPUs MKL's product
    may not use AVX-512 while oneDNN's convolutions do), so the two bounds can differ."""
    images = torch.randn(batch, channels, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device, memory_format=torch.channels_last)
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # fp32 on a GPU too
        seconds = best_seconds(lambda: conv(images), device)
    return 2 * batch * channels * channels * 9 * 32 * 32 / seconds / 1e9


def interleaved_times(scorers: dict[str, tuple[Callable, int]], points: np.ndarray, rounds: int, warmup: int,
                      device) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per point of each scorer, taking turns (rotating order) for warmup + rounds rounds;
    a round scores `chunk` consecutive points. Also every loss each scorer returned, by point."""
    times = {name: [] for name in scorers}
    losses = {name: [np.nan] * len(points) for name in scorers}
    names = list(scorers)
    for r in range(warmup + rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            score, chunk = scorers[name]
            begin = (r * chunk) % len(points)
            chunk_points = points[begin:begin + chunk]
            synchronize(device)
            started = time.perf_counter()
            values = score(chunk_points)
            synchronize(device)
            if r >= warmup:
                times[name].append((time.perf_counter() - started) / len(chunk_points))
            losses[name][begin:begin + len(values)] = values
    return times, losses


def paired_ratios(reference: list[float], times: list[float]) -> dict[str, float]:
    """The reference's time over this method's, round by round (the two ran back to back), summarised."""
    return summary([r / t for r, t in zip(reference, times)])


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU instructions that make bf16 fast; without them it is emulated


def cpu_description() -> str:
    """The CPU's model name and which bf16 instructions it has (Linux; "unknown" elsewhere): what
    decides whether bf16 is faster than fp32 on a CPU."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    name = " ".join(fields.get("model name\t", "unknown").split())
    flags = set(fields.get("flags\t\t", "").split())
    present = [flag for flag in BF16_FLAGS if flag in flags]
    return f"{name}, bf16 instructions: {', '.join(present) or 'none'}"


def summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 folder (default: $LANDSCAPE_DATA or a download), or "
                        "'synthetic': seeded random images of the same shape (benchmarks/synthetic_cifar.py)")
    parser.add_argument("--checkpoint", default="checkpoints/resnet20_relu.pt")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=12, help="timed points per method (after 2 warm-up rounds)")
    parser.add_argument("--points-per-batch", type=int, default=4, help="K of the vmap row")
    parser.add_argument("--skip", default="", help="comma-separated methods to leave out (e.g. reference,bf16)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    skip = set(filter(None, args.skip.split(",")))

    chosen = training_images(args.data, args.samples, 0)
    model, directions, eval_set = scoring_workload(args.checkpoint, chosen, device)
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (max(64, args.points_per_batch * 16), 2))

    reference_model = load_checkpoint(args.checkpoint)[0].to(device).eval()  # default layout, its own weights
    loader = DataLoader(ReferenceDataset(chosen.images, chosen.labels), batch_size=128, shuffle=False, num_workers=0)
    scorers = {}
    if "reference" not in skip:
        scorers["reference"] = (reference_scorer(reference_model, directions, loader, device), 1)
    with contextlib.ExitStack() as evaluators:  # each returns the shared model to its weights on exit
        for name, options, count in (("fp32", EvalOptions(), 1), ("bf16", EvalOptions(precision="bf16"), 1),
                                     ("fp32 unfused", EvalOptions(fuse_activations=False), 1),
                                     ("bf16 unfused", EvalOptions(precision="bf16", fuse_activations=False), 1),
                                     ("fp32 1 worker", EvalOptions(workers=1), 1),
                                     ("fp32 plain", EvalOptions(workers=1, fold_batchnorm=False,
                                                                fuse_activations=False), 1),
                                     ("fp32 compiled", EvalOptions(compile=True), 1),
                                     *((("tf32", EvalOptions(precision="tf32"), 1),) if device.type == "cuda" else ()),
                                     (f"fp32 vmap K={args.points_per_batch}", EvalOptions(), args.points_per_batch)):
            if name not in skip and name.split()[0] not in skip:
                evaluator = evaluators.enter_context(
                    evaluator_for(model, directions, [eval_set], options, "weights", count))
                scorers[name] = (lambda chunk, e=evaluator: [row[0] for row in e.many(chunk)], count)
        times, losses = interleaved_times(scorers, points, args.rounds, 2, device)

    rates = {"fp32": matmul_rate(torch.float32, device),  # small bf16 product: CPUs without bf16 units emulate it
             "bf16": matmul_rate(torch.bfloat16, device, size=512 if device.type == "cpu" else 2048),
             "fp32 convolution": convolution_rate(device)}
    machine = cpu_description() if device.type == "cpu" else torch.cuda.get_device_name()
    print(f"torch {torch.__version__}, {device} ({machine}), {torch.get_num_threads()} threads; ResNet-20 "
          f"{args.checkpoint}, {args.samples} training images per point; matrix multiply "
          f"fp32 {rates['fp32']:.0f} GFLOP/s, bf16 {rates['bf16']:.0f} GFLOP/s; 64-channel 3×3 convolution fp32 "
          f"{rates['fp32 convolution']:.0f} GFLOP/s")

    baseline = times.get("reference")
    # fp32 methods are compared with the reference loop, bf16/tf32 with the default fp32; each falls
    # back on the other where it was skipped
    exact = "reference" if "reference" in losses else "fp32"
    fp32 = "fp32" if "fp32" in losses else "reference"
    rows = []
    print(f"max |Δloss|: bf16/tf32 against {fp32}, the other methods against {exact}")
    print(f"{'method':16s} {'s/point':>8s} {'min':>6s} {'max':>6s} {'images/s':>9s} {'GFLOP/s':>8s} "
          f"{'of fp32 mm':>10s} {'of conv':>8s} {'max |Δloss|':>11s}  speed-up (range)")
    for name, t in times.items():
        stats = summary(t)
        gflops = 2 * MULTIPLY_ADDS_PER_IMAGE * args.samples / stats["median"] / 1e9
        low_precision = name.split()[0] in ("bf16", "tf32")
        against_name = fp32 if low_precision else exact
        against = np.array(losses.get(against_name, [np.nan] * len(points)))
        both = ~np.isnan(against) & ~np.isnan(np.array(losses[name]))
        error = float(np.max(np.abs(np.array(losses[name])[both] - against[both]))) if both.any() else float("nan")
        row = {"method": name, "seconds_per_point": stats, "seconds_by_round": t,
               "images_per_s": args.samples / stats["median"],
               "gflop_per_s": gflops, "fraction_of_fp32_matmul_rate": gflops / rates["fp32"],
               "fraction_of_fp32_convolution_rate": gflops / rates["fp32 convolution"],
               "speedup_vs_reference": paired_ratios(baseline, t) if baseline else None,
               "max_abs_loss_difference": error,
               "loss_difference_against": against_name}
        rows.append(row)
        ratio = row["speedup_vs_reference"]
        speedup = f"{ratio['median']:5.2f}× ({ratio['min']:.2f}-{ratio['max']:.2f})" if baseline else "-"
        print(f"{name:16s} {stats['median']:8.3f} {stats['min']:6.3f} {stats['max']:6.3f} {row['images_per_s']:9.0f} "
              f"{gflops:8.1f} {100 * row['fraction_of_fp32_matmul_rate']:9.0f}% "
              f"{100 * row['fraction_of_fp32_convolution_rate']:7.0f}% {error:11.2e}  {speedup}")

    fusion = {name: paired_ratios(times[f"{name} unfused"], t) for name, t in times.items()
              if f"{name} unfused" in times}
    for name, ratio in fusion.items():
        print(f"fusion, {name}: unfused time over fused, round by round: {ratio['median']:.3f}× "
              f"({ratio['min']:.3f}-{ratio['max']:.3f})")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "machine": machine, "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "checkpoint": args.checkpoint, "data": chosen.source,
                       "samples": args.samples,
                       "matmul_gflop_per_s": rates, "surface": rows, "fusion_speedup": fusion}, f, indent=1)


if __name__ == "__main__":
    main()
