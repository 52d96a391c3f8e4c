"""How the 95 % interval of a model's mean slice metric shrinks with the number of directions K.

Reads one slices file of `landscape sharpness` and summarises its first K slices for several K
(the directions are independent draws, so the first K are a sample of K):

    python benchmarks/direction_count.py figures/sharpness/resnet20_mish_slices.h5 --json out.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from landscape.metrics.options import DEFAULT_THRESHOLDS
from landscape.metrics.sharpness import measure_slices
from landscape.metrics.stats import estimate
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import markdown_table


def convergence(path: str, counts: tuple[int, ...]) -> list[dict]:
    per_slice = [m.flat() for m in measure_slices(read_surface(path), "train_loss", DEFAULT_THRESHOLDS)]
    rows = []
    for k in (c for c in counts if c <= len(per_slice)):
        row = {"K": k}
        for name in ["minimum", "curvature"] + [f"width_{d:g}" for d in DEFAULT_THRESHOLDS]:
            e = estimate(np.array([[s[name] for s in per_slice[:k]]]))
            row[f"{name} mean"] = round(e.mean, 4)
            row[f"{name} ±"] = round((e.high - e.low) / 2, 4)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slices", help="a CHECKPOINT_slices.h5 file from `landscape sharpness`")
    parser.add_argument("--counts", default="3,5,10,20,40", help="numbers of directions K to summarise")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = convergence(args.slices, tuple(int(c) for c in args.counts.split(",")))
    print(markdown_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
