"""Training throughput of ResNet-20 per activation and precision on this machine.

One SGD step (forward, backward, update) on a batch of 128 random 32×32 images in
channels_last; reports images/s after warm-up. With --side-by-side, also what `landscape study --jobs`
trades. Run: python -m benchmarks.bench_train [--precision fp32] [--side-by-side]
"""
import argparse
import multiprocessing
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


def resnet_with_sgd(activation: str, params: dict) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """ResNet-20 in channels_last with SGD + momentum, as the study trains it."""
    model = resnet(20, activation_factory(activation, **params)).to(memory_format=torch.channels_last)
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def train_step_images_per_second(activation: str, precision: str, **params) -> float:
    return step_images_per_second(*resnet_with_sgd(activation, params), *random_batch(channels_last=True),
                                  precision)


def timed_on_threads(build: Callable, args: tuple, channels_last: bool, threads: int, start=None,
                     rates=None) -> float:
    """Training images/s of `build(*args)` (model, optimizer) on `threads` threads over one window of
    100 steps; side by side, each waits at the barrier `start` after warm-up and puts its rate on `rates`."""
    torch.set_num_threads(threads)
    rate = step_images_per_second(*build(*args), *random_batch(channels_last), steps=100, repeats=1,
                                  warmed_up=start.wait if start is not None else lambda: None)
    if rates is not None:
        rates.put(rate)
    return rate


def side_by_side(build: Callable, args: tuple, channels_last: bool) -> tuple[float, float]:
    """(images/s of one run on all threads, total images/s of one one-thread run per thread trained at
    the same time in separate processes), what `landscape study --jobs` trades."""
    threads = torch.get_num_threads()
    alone = timed_on_threads(build, args, channels_last, threads)
    context = multiprocessing.get_context("spawn")
    start, rates = context.Barrier(threads), context.Queue()
    workers = [context.Process(target=timed_on_threads, args=(build, args, channels_last, 1, start, rates))
               for _ in range(threads)]
    for w in workers:
        w.start()
    together = sum(rates.get() for _ in workers)
    for w in workers:
        w.join()
    torch.set_num_threads(threads)
    return alone, together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
                        help="precisions to time (bf16 is slow on CPUs without bf16 instructions)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also time one run on all threads against one-thread runs side by side (--jobs)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ResNet-20 training images/s, batch 128")
    for precision in args.precision:
        row = "  ".join(f"{label} {train_step_images_per_second(name, precision, **params):6.0f}"
                        for label, (name, params) in COLUMNS.items())
        print(f"  {precision}: {row}")
    if args.side_by_side:
        threads = torch.get_num_threads()
        print(f"side by side (--jobs): one run on {threads} threads against {threads} one-thread runs at once, "
              f"fp32, one window of 100 steps each")
        for label in ("relu", "swish/compiled"):
            alone, together = side_by_side(resnet_with_sgd, COLUMNS[label], channels_last=True)
            print(f"  {label}: one run {alone:.0f} images/s, side by side {together:.0f} in total: "
                  f"{together / alone:.2f}×")


if __name__ == "__main__":
    main()
