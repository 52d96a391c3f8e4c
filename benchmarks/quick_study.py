"""How long `landscape study --profile quick` takes on a fresh clone: alone, and beside a CPU-bound job.

The repository is cloned into a temporary folder (its committed checkpoints only: no earlier
outputs), the decoded-image cache starts empty (as on a new machine), and the study runs with the
clone's own code. `--busy N` runs N single-threaded matrix-product loops beside it for its whole
length (N = 2 keeps both cores of this machine busy, as a training run does). Prints the wall time
and the study's terminal summary, whose length is checked (at most 25 lines).

    python -m benchmarks.quick_study --data ../shared/cifar10 --busy 0 --out benchmarks/quick_study_alone.txt
    python -m benchmarks.quick_study --data ../shared/cifar10 --busy 2 --out benchmarks/quick_study_loaded.txt
    python -m benchmarks.quick_study --data ../shared/cifar10 --beside "two ResNet-20 training runs" --out …
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.calibration_under_load import busy
from benchmarks.cli_help import cpu_name

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the CIFAR-10 folder")
    parser.add_argument("--busy", type=int, default=0, help="competing single-threaded busy processes")
    parser.add_argument("--beside", default="", help="another job already running beside it, in words")
    parser.add_argument("--out", default=None, help="also write the result to this file")
    args = parser.parse_args()
    stop = mp.get_context("spawn").Event()
    workers = [mp.get_context("spawn").Process(target=busy, args=(stop,)) for _ in range(args.busy)]
    with tempfile.TemporaryDirectory() as tmp:
        clone, cache = Path(tmp) / "clone", Path(tmp) / "cache"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "PYTHONPATH": str(clone), "LANDSCAPE_CACHE": str(cache)}
        for w in workers:
            w.start()
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "landscape", "study", "--profile", "quick", "--data",
                                 str(Path(args.data).resolve()), "--device", "cpu"], cwd=clone, env=env,
                                capture_output=True, text=True)
        seconds = time.perf_counter() - started
        stop.set()
        for w in workers:
            w.join()
    if result.returncode != 0:
        sys.exit(f"the quick study failed ({result.returncode}): {result.stderr[-2000:]}")
    summary = result.stdout.strip().splitlines()
    lines = [f"# {time.strftime('%Y-%m-%d')}, {cpu_name()}, {os.cpu_count()} CPUs; fresh clone, empty image cache; "
             f"{args.busy} busy process(es) beside it" + (f"; also running: {args.beside}" if args.beside else ""),
             f"landscape study --profile quick: {seconds / 60:.1f} min ({seconds:.0f} s); "
             f"summary {len(summary)} lines ({'PASS' if len(summary) <= 25 else 'FAIL'}: at most 25)", "",
             *summary]
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
