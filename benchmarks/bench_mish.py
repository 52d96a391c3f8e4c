"""Mish forward+backward: PyTorch's F.mish kernel vs our MishFunction vs the compiled
one-exp formula, fp32 and bf16.

Times the activation alone on a ResNet-20 stage-1 sized tensor [128, 16, 32, 32] in
channels_last, and a whole ResNet-20 training step with each implementation, each step
timing in a fresh process (the first model timed in a process runs slower, which would
otherwise favour whichever implementation is timed second).
Run: python benchmarks/bench_mish.py
"""
import subprocess
import sys
import time

import torch

from landscape import get_activation

IMPLEMENTATIONS = ("native", "autograd", "compiled")


def activation_ms(fn, dtype: torch.dtype, repeats: int = 20) -> float:
    x = torch.randn(128, 16, 32, 32, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    grad = torch.ones_like(x)
    for _ in range(3):
        fn(x).backward(grad)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x).backward(grad)
    return (time.perf_counter() - start) / repeats * 1e3


def step_in_fresh_process(precision: str, impl: str) -> float:
    code = ("from benchmarks.bench_train import train_step_images_per_second as f; "
            f"print(f('mish', {precision!r}, impl={impl!r}))")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("activation alone, forward+backward, [128,16,32,32] channels_last (ms, lower is better)")
    for dtype in (torch.float32, torch.bfloat16):
        row = "  ".join(f"{impl} {activation_ms(get_activation('mish', impl=impl), dtype):6.2f}"
                        for impl in IMPLEMENTATIONS)
        print(f"  {str(dtype):15s} {row}")
    print("ResNet-20 training step, batch 128 (images/s, higher is better)")
    for precision in ("fp32", "bf16"):
        row = "  ".join(f"{impl} {step_in_fresh_process(precision, impl):6.0f}" for impl in IMPLEMENTATIONS)
        print(f"  {precision:15s} {row}")


if __name__ == "__main__":
    main()
