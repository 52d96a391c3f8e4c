"""ParaView export: a surface as a VTK structured grid (`.vts`), with every value as a point array.

Stage: HDF5 → files for other tools.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pyevtk.hl import gridToVTK

from landscape.errors import LandscapeError
from landscape.files import atomic_write
from landscape.viz.plots import load_for_plot


def export_vtk(path: str | Path, out: str | Path, metric: str = "train_loss", partial: bool = False) -> Path:
    """The surface as a ParaView structured grid (.vts, written by pyevtk): the height is `metric`,
    and every dataset in the file is attached as point data (NaN where not computed)."""
    surface, z = load_for_plot(path, metric, partial)
    if surface.ndim != 2:
        raise LandscapeError(f"{path} is a 1-D surface; VTK export needs a 2-D one")
    # VTK orders points with x fastest; pyevtk takes [nx, ny, nz] arrays, so transpose [iy, ix].
    X, Y = np.meshgrid(surface.x, surface.y, indexing="ij")
    def column(a):
        return np.ascontiguousarray(a, dtype=np.float64)[:, :, None]

    data = {name: column(np.where(surface.done, values, np.nan).T) for name, values in surface.values.items()}
    final = Path(out).with_suffix(".vts")
    with atomic_write(final) as tmp:  # pyevtk appends .vts to the name it is given
        Path(gridToVTK(str(tmp.with_suffix("")), column(X), column(Y), column(z.filled(np.nan).T),
                       pointData=data)).rename(tmp)
    return final
