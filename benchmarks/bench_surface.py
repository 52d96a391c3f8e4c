"""Surface-engine speed: points/s and images/s for ResNet-20 on N real CIFAR-10 images.

Times one grid point (weights moved in place, then loss and accuracy on all N images) for
several batch sizes, both precisions and both memory layouts, so the CLI defaults rest on
measurements. Run: python -m benchmarks.bench_surface --data ../shared/cifar10 [--samples 1000]
"""
import argparse
import time

import numpy as np
import torch

from landscape import activation_factory, balanced_subset, load_cifar10, resnet
from landscape.directions import DirectionOptions, random_directions
from landscape.evaluate import prepare_inputs
from landscape.surface import EvalOptions, EvalSet, WeightSetter, evaluate_point


def seconds_per_point(model, sets, options: EvalOptions, repeats: int = 3) -> float:
    setter = WeightSetter(model, random_directions(model, DirectionOptions(), 2), "weights")
    evaluate_point(setter, model, np.array([0.1, 0.1]), sets, options)  # warm-up
    start = time.perf_counter()
    for i in range(repeats):
        evaluate_point(setter, model, np.array([0.01 * i, 0.02]), sets, options)
    setter.restore()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--activation", default="relu")
    args = parser.parse_args()
    images = load_cifar10(args.data, "test", quiet=True)
    chosen = images.subset(balanced_subset(images.labels, args.samples, 0))
    device = torch.device("cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, ResNet-20 ({args.activation}), "
          f"N = {args.samples} test images")
    print(f"{'layout':14s} {'precision':9s} {'batch':>5s} {'points/s':>9s} {'images/s':>9s}")
    for layout in (torch.channels_last, torch.contiguous_format):
        model = resnet(20, activation_factory(args.activation)).eval().to(memory_format=layout)
        inputs = prepare_inputs(chosen.images, device).contiguous(memory_format=layout)
        sets = [EvalSet("test", inputs, chosen.labels)]
        for precision in ("fp32", "bf16"):
            for batch in (32, 64, 128, 256, 1000):
                if layout == torch.contiguous_format and batch not in (128, 1000):
                    continue
                s = seconds_per_point(model, sets, EvalOptions(batch, precision))
                name = "channels_last" if layout == torch.channels_last else "contiguous"
                print(f"{name:14s} {precision:9s} {batch:5d} {1 / s:9.3f} {args.samples / s:9.0f}", flush=True)


if __name__ == "__main__":
    main()
