"""The largest difference between two surface files at the grid points they share, per quantity.

For checking that a surface computed on one device (or engine) equals one computed on another:
    python -m benchmarks.compare_surfaces A.h5 B.h5 [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from landscape.storage.surface_file import read_surface


def shared_points(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices into `a` and into `b` of the coordinates the two axes share (to 1e-9)."""
    ia, ib = np.nonzero(np.abs(a[:, None] - b[None, :]) < 1e-9)
    return ia, ib


def largest_differences(path_a: str, path_b: str) -> dict:
    a, b = read_surface(path_a), read_surface(path_b)
    xa, xb = shared_points(a.x, b.x)
    ya, yb = shared_points(a.y, b.y) if a.y is not None and b.y is not None else (np.array([0]), np.array([0]))
    out = {"points": int(len(xa) * len(ya))}
    for name in sorted(set(a.values) & set(b.values)):
        va = a.values[name].reshape(-1, len(a.x))[np.ix_(ya, xa)]
        vb = b.values[name].reshape(-1, len(b.x))[np.ix_(yb, xb)]
        difference = np.abs(va - vb)
        out[name] = {"max_abs": float(difference.max()),
                     "max_rel": float((difference / np.maximum(np.abs(vb), 1e-12)).max())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = largest_differences(args.a, args.b)
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
