"""Where and how computation runs: device choice, precision, torchrun ranks, library versions.

Shared by the training and evaluation stages. Nothing here changes process-wide state on
import; `torchrun_ranks` joins a process group for the duration of a `with` block only.
"""
from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy
import torch
import torch.distributed as dist
import torchvision

from landscape.errors import LandscapeError, require_choice
from landscape.precision import PRECISIONS
from landscape.version import __version__


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' → the first CUDA GPU if there is one, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LandscapeError(f"unknown device {name!r}; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LandscapeError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise LandscapeError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise LandscapeError(f"device {name!r} requested but this machine has no Apple GPU (MPS); use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise LandscapeError(f"device {name!r} is not supported; expected auto, cpu, cuda, cuda:N or mps")
    return device


def autocast(device: torch.device, precision: str):
    """A context manager running matmuls and convolutions in `precision`: bf16 by autocast; on a
    GPU, fp32 in full IEEE precision (torch otherwise lets cuDNN convolutions use TF32) and tf32
    with TF32 matmuls and convolutions. On a CPU tf32 is fp32."""
    require_choice("precision", precision, PRECISIONS)
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if device.type == "cuda":
        return fp32_math("tf32" if precision == "tf32" else "ieee")
    return contextlib.nullcontext()


@contextlib.contextmanager
def fp32_math(mode: str) -> Iterator[None]:
    """CUDA matmuls and cuDNN convolutions on fp32 tensors in `mode` (ieee or tf32) for the block."""
    settings = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)
    before = [s.fp32_precision for s in settings]
    for s in settings:
        s.fp32_precision = mode
    try:
        yield
    finally:
        for s, value in zip(settings, before):
            s.fp32_precision = value


@contextlib.contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """torch's intra-op CPU threads set to `count` for the block, restored after it."""
    before = torch.get_num_threads()
    if count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count != before:
            torch.set_num_threads(before)


Item, Result = TypeVar("Item"), TypeVar("Result")


def side_by_side(work: Callable[[Item], Result], items: Sequence[Item], workers: int) -> list[Result]:
    """work(item) for every item, in order; with workers > 1, that many at once in threads, each
    with its share of torch's CPU threads (small convolutions scale poorly over threads within one
    operation, so several batches side by side use the cores better: benchmarks/bench_surface.py)."""
    workers = min(workers, len(items))
    if workers <= 1:
        return [work(item) for item in items]
    with cpu_threads(max(1, torch.get_num_threads() // workers)), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, items))


@dataclass(frozen=True)
class Ranks:
    """This process's place among torchrun workers (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1

    @property
    def is_writer(self) -> bool:
        return self.rank == 0


@contextlib.contextmanager
def torchrun_ranks(device_name: str) -> Iterator[tuple[Ranks, torch.device]]:
    """(ranks, device) for this process. Under torchrun (WORLD_SIZE > 1) it joins a process group
    (gloo on CPU, nccl on GPU with one GPU per local rank) and leaves it when the block ends."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world == 1:
        yield Ranks(), device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size()), device
    finally:
        if created:
            dist.destroy_process_group()


def library_versions() -> dict[str, str]:
    """Versions that decide the numbers, recorded with every output."""
    versions = {"landscape": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
                "numpy": numpy.__version__, "python": platform.python_version()}
    return {k: str(v) for k, v in versions.items()}  # torch.__version__ is a str subclass torch.load rejects
