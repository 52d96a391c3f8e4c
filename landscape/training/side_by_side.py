"""Many training runs side by side, each in a worker process of its own (spawned: no inherited
threads or locks), with one progress line over all of them. A worker stops with its parent
(Ctrl-C through the parent, SIGKILL through the kernel's parent-death signal); a failed run stops
the sweep with one line saying why.
"""
from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from landscape.errors import LandscapeError, silence_library_chatter
from landscape.progress import progress
from landscape.sources.checkpoint import (
    read_checkpoint,
)
from landscape.training.config import RunPaths, TrainConfig
from landscape.training.loop import already_finished, train

PR_SET_PDEATHSIG = 1  # linux/prctl.h: a signal for this process when its parent dies


def train_in_worker(config: TrainConfig, threads: int, parent: int, results) -> None:
    """Body of one worker process of `train_side_by_side`: train on `threads` CPU threads, then put
    (out, checkpoint, None) or (out, None, error message) on `results`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops its workers
    # with SIGTERM: exit through Python, so the process's clean-up runs (tqdm's lock is a semaphore
    # that would otherwise be reported as leaked when the sweep stops)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    if sys.platform == "linux":  # and a parent killed outright (SIGKILL) takes its workers with it
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            return
    silence_library_chatter()
    torch.set_num_threads(threads)
    results.put(worker_outcome(config))


def worker_outcome(config: TrainConfig) -> tuple[str, str | None, str | None]:
    """(out, checkpoint, None) for a run trained, (out, None, one-line reason) for a run refused or
    stopped by the machine (a read or write failed: disk full, file vanished); a bug still raises,
    with its traceback."""
    try:
        return config.out, str(train(config)), None
    except LandscapeError as e:
        return config.out, None, str(e)
    except OSError as e:
        return config.out, None, f"training {config.out}: {e}; its finished epochs are saved, fix this and rerun"


def logged_epochs(config: TrainConfig) -> int:
    """The epochs of the run finished so far, as its log says."""
    log = RunPaths.beside(config.out).log
    return len(log.read_text().splitlines()) if log.exists() else 0


def train_side_by_side(configs: list[TrainConfig], jobs: int, quiet: bool = False,
                       on_trained: Callable[[TrainConfig], None] | None = None) -> list[Path]:
    """Train every config (skipping finished ones), `jobs` at a time in worker processes that share
    this process's CPU threads (one job: here, one after the other); returns the checkpoints in
    the order of `configs`; runs an earlier call started (a resume state on disk) train before
    the rest, whatever their place in `configs`. `on_trained(config)` runs as soon as each run
    trained by this call has its checkpoint, so a caller's record of it survives an interruption
    later in the sweep.

    Small networks use two threads poorly (two one-thread runs of the depth study's 500-unit MLPs
    trained 1.26–1.72× as many images/s in total as one run on two threads: benchmarks/bench_depth.py),
    so a sweep of many small runs finishes sooner side by side. A worker killed with its run (Ctrl-C,
    SIGTERM to this process, an error elsewhere) loses at most its current epoch: every run resumes
    on the next call."""
    if jobs < 1:
        raise LandscapeError(f"jobs must be at least 1; got {jobs}")
    waiting = [c for c in configs if not already_finished(RunPaths.beside(c.out), c)]
    waiting.sort(key=lambda c: not RunPaths.beside(c.out).state.exists())  # runs started earlier resume first
    if jobs == 1:
        for config in waiting:
            train(config)
            if on_trained:
                on_trained(config)
        return [Path(c.out) for c in configs]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or locks
    results = context.Queue()
    threads = max(1, torch.get_num_threads() // jobs)
    running: dict[str, multiprocessing.Process] = {}
    by_out = {c.out: c for c in waiting}
    counted = {c.out: logged_epochs(c) for c in waiting}  # the progress bar counts epochs over all runs
    bar = progress(sum(c.epochs - counted[c.out] for c in waiting), "training", "epoch", quiet)

    def count(out: str, epochs: int) -> None:
        bar.update(epochs - counted[out])
        counted[out] = epochs
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                config = dataclasses.replace(waiting.pop(0), quiet=True)
                worker = context.Process(target=train_in_worker, args=(config, threads, os.getpid(), results))
                worker.start()
                running[config.out] = worker
            try:
                out, checkpoint, error = results.get(timeout=1.0)
            except queue.Empty:
                lost = [out for out, p in running.items() if p.exitcode not in (None, 0)]
                if lost:
                    raise LandscapeError(f"training {lost[0]} stopped (exit code {running[lost[0]].exitcode}); "
                                         f"rerun to resume it") from None
                for out in running:
                    count(out, logged_epochs(by_out[out]))
                continue
            running.pop(out).join()
            if error:
                raise LandscapeError(error)
            count(out, by_out[out].epochs)  # also a run that diverged and stopped early
            if on_trained:
                on_trained(by_out[out])
            if not quiet:
                meta = read_checkpoint(checkpoint).metadata
                tqdm.write(f"trained {checkpoint}: test accuracy {100 * meta['test_acc']:.2f} %")
    finally:
        for p in running.values():
            p.terminate()
        for p in running.values():
            p.join()
        bar.close()
    return [Path(c.out) for c in configs]
