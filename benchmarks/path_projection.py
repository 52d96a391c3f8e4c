"""What the training-path planes show: for each snapshot, where it projects on the plane, the
training loss of the plane at that projection, and how much of the snapshot's distance to the
final model lies in the plane.

    python benchmarks/path_projection.py figures/surfaces/resnet20_relu_path.h5
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import RegularGridInterpolator

from landscape import load_checkpoint
from landscape.geometry.directions import model_entries
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import markdown_table


def projection_rows(path: str) -> list[dict]:
    surface = read_surface(path)
    header = surface.header
    loss = RegularGridInterpolator((surface.y, surface.x), surface.values["train_loss"])
    final = model_entries(load_checkpoint(header.checkpoint)[0], "weights")
    rows = []
    for name, (alpha, beta) in zip(header.trajectory_snapshots, surface.trajectory):
        snapshot = model_entries(load_checkpoint(Path(header.trajectory) / name)[0], "weights")
        with torch.no_grad():
            distance = float(torch.sqrt(sum(((snapshot[k] - final[k]).double() ** 2).sum()
                                            for k in final if final[k].dim() > 1)))
        in_plane = float(np.hypot(alpha, beta))
        rows.append({"snapshot": name, "alpha": round(float(alpha), 2), "beta": round(float(beta), 2),
                     "loss on the plane": round(float(loss([beta, alpha])[0]), 3),
                     "distance": round(distance, 2),
                     "share in the plane": round(in_plane / distance, 3) if distance else None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("surfaces", nargs="+", help="training-path surfaces (`surface --trajectory`)")
    args = parser.parse_args()
    for path in args.surfaces:
        print(f"\n{path}\n")
        print(markdown_table(projection_rows(path)))


if __name__ == "__main__":
    main()
