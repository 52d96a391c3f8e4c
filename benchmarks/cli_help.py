"""How long `landscape --help` and every `landscape CMD --help` take, each in a fresh interpreter (what
a user waits for), and the same for `python -c "import torch"` in the same run, as the cost help
no longer pays. Reports the median and range of `--repeats` runs per command.

    python -m benchmarks.cli_help --repeats 5 --out benchmarks/cli_help.txt
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from landscape.cli import build_parser


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args()
    commands = [[]] + [[name] for name in build_parser()._subparsers._group_actions[0].choices]
    cases = [(f"landscape {' '.join(c + ['--help'])}", [sys.executable, "-m", "landscape", *c, "--help"])
             for c in commands]
    cases.append(("python -c 'import torch' (for scale)", [sys.executable, "-c", "import torch"]))
    seconds([sys.executable, "-c", "import torch"])  # warm the file cache once
    lines = [f"# {time.strftime('%Y-%m-%d')}, {cpu_name()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {args.repeats} runs each",
             "| command | median s | min–max s |", "|---|---|---|"]
    for label, argv in cases:
        times = [seconds(argv) for _ in range(args.repeats)]
        lines.append(f"| `{label}` | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} |")
    worst = max(float(line.split("|")[2]) for line in lines[3:-1])
    lines.append(f"slowest help (median): {worst:.2f} s; {'PASS' if worst < 1.0 else 'FAIL'} (< 1 s)")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
