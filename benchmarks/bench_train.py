"""Training throughput of ResNet-20 per activation and precision on this machine.

One SGD step (forward, backward, update) on a batch of 128 random 32×32 images in
channels_last; reports images/s after warm-up. Run: python -m benchmarks.bench_train [--precision fp32]
"""
import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from landscape import activation_factory, resnet
from landscape.runtime import autocast

COLUMNS = {"relu": ("relu", {}), "leaky_relu": ("leaky_relu", {"negative_slope": 0.3}),
           "swish": ("swish", {}), "swish/compiled": ("swish", {"impl": "compiled"}),
           "mish": ("mish", {}), "mish/compiled": ("mish", {"impl": "compiled"})}


def step_images_per_second(model: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
                           labels: torch.Tensor, precision: str = "fp32", steps: int = 10, repeats: int = 3,
                           warmed_up: Callable[[], None] = lambda: None) -> float:
    """Training images/s of `model`: the best of `repeats` timings of `steps` steps (forward,
    backward, update) on one fixed batch, after 5 warm-up steps (the first steps are slow);
    `warmed_up` is called between the two (processes timed side by side wait there for each other)."""
    model.train()

    def step():
        with autocast(inputs.device, precision):
            logits = model(inputs)
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    warmed_up()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - start)
    return len(labels) * steps / best


def random_batch(channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """128 seeded random 32×32 images and labels."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(128, 3, 32, 32, generator=g), torch.randint(0, 10, (128,), generator=g)
    return (x.contiguous(memory_format=torch.channels_last) if channels_last else x), y


def train_step_images_per_second(activation: str, precision: str, **params) -> float:
    """ResNet-20 with SGD + momentum, channels_last."""
    model = resnet(20, activation_factory(activation, **params)).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return step_images_per_second(model, optimizer, *random_batch(channels_last=True), precision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
                        help="precisions to time (bf16 is slow on CPUs without bf16 instructions)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ResNet-20 training images/s, batch 128")
    for precision in args.precision:
        row = "  ".join(f"{label} {train_step_images_per_second(name, precision, **params):6.0f}"
                        for label, (name, params) in COLUMNS.items())
        print(f"  {precision}: {row}")


if __name__ == "__main__":
    main()
