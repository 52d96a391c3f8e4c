"""Several surfaces side by side on one colour scale and one set of levels, with 1-D slices through
each minimum: the figure that compares models.

Stage: HDF5 → figures. Reads surfaces through `storage` only.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.storage.schema import Surface
from landscape.viz.labels import short_axis_label
from landscape.viz.options import PlotOptions
from landscape.viz.plots import (
    STYLE,
    axis_label,
    clipping,
    colourbar_ticks,
    contour_levels,
    draw_2d,
    draw_basin_lines,
    is_loss,
    load_for_plot,
    metric_label,
    save,
    surface_title,
)


def minimum_slices(surface: Surface, z: np.ma.MaskedArray) -> tuple[np.ndarray, np.ndarray]:
    """The row and column of z through its minimum: (values along x, values along y)."""
    iy, ix = np.unravel_index(int(np.ma.argmin(z)), z.shape)
    return z[iy, :], z[:, ix]


def plot_comparison(paths: list[str | Path], out: str | Path, options: PlotOptions = PlotOptions()) -> list[Path]:
    """Write `comparison_figure` in every requested format."""
    return save(comparison_figure(paths, options), Path(out).with_suffix(""), options)


def comparison_figure(paths: list[str | Path], options: PlotOptions = PlotOptions()) -> Figure:
    """A panel per surface (same levels and colours; white lines at each panel's own minimum + 0.1,
    0.5, 1 on loss panels) and 1-D slices through each minimum, along each model's own directions."""
    loaded = [load_for_plot(p, options.metric, options.partial) for p in paths]
    if len({s.ndim for s, _ in loaded}) != 1:
        raise LandscapeError("cannot compare 1-D and 2-D surfaces in one figure")
    two_d = loaded[0][0].ndim == 2
    values = [z for _, z in loaded]
    levels = contour_levels(values, options)
    extend = clipping(values, levels)
    n = len(loaded)
    with matplotlib.rc_context(STYLE):
        if two_d:
            same_y = all(np.array_equal(s.y, loaded[0][0].y) for s, _ in loaded)
            cols = n if options.width >= 5 or n <= 2 else 2  # a single column gets a grid of panels
            rows = -(-n // cols)
            slices_height = 0.37 if options.width >= 5 else 0.62
            fig = Figure(figsize=(options.width, options.width * (1.15 * rows / cols + 0.1 + slices_height)))
            top, bottom = fig.subfigures(2, 1, height_ratios=[1.15 * rows / cols + 0.1, slices_height])
            grid = top.subplots(rows, cols, sharey=same_y, squeeze=False)
            panels = grid.ravel()[:n]
            for ax in grid.ravel()[n:]:
                ax.set_visible(False)
            for index, (ax, (surface, z)) in enumerate(zip(panels, loaded)):
                mappable = draw_2d(ax, "filled", surface, z, levels, options, extend)
                if is_loss(options.metric) and not options.log:
                    draw_basin_lines(ax, surface, z)
                ax.set_title(surface_title(surface).replace(", ", "\n"))
                ax.set_xlabel(short_axis_label("x", surface))
                ax.set_aspect("equal" if same_y else "auto")
                if not same_y or index % cols == 0:
                    ax.set_ylabel(short_axis_label("y", surface))
            top.colorbar(mappable, ax=panels, label=metric_label(options.metric), extend=extend,
                         ticks=colourbar_ticks(levels, options), location="right" if cols == n else "bottom",
                         shrink=0.9)
            slice_axes = bottom.subplots(1, 2)
            for surface, z in loaded:
                along_x, along_y = minimum_slices(surface, z)
                slice_axes[0].plot(surface.x, along_x, label=surface_title(surface).split(", ")[0])
                slice_axes[1].plot(surface.y, along_y, label=surface_title(surface).split(", ")[0])
            for ax, axis in zip(slice_axes, "xy"):
                ax.set_xlabel(short_axis_label(axis, loaded[0][0]))
            bottom.suptitle("slices through each model's minimum, each along its own axis", fontsize=7)
        else:
            fig = Figure(figsize=(options.width, options.width * 0.7))
            ax = fig.subplots()
            for surface, z in loaded:
                ax.plot(surface.x, z, label=surface_title(surface).split(", ")[0])
            ax.set_xlabel(axis_label("x", loaded[0][0]) + "\n(each model along its own direction)")
            slice_axes = [ax]
        for ax in slice_axes:
            ax.set_ylabel(metric_label(options.metric))
            if options.log:
                ax.set_yscale("log")
        if options.width >= 5:
            slice_axes[-1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:  # narrow: the legend goes under the slices, two names a row
            handles, names = slice_axes[0].get_legend_handles_labels()
            (bottom if two_d else fig).legend(handles, names, frameon=False, loc="outside lower center", ncol=2)
        if not options.log:
            bottom_value = levels[0]
            top_value = min(levels[-1], bottom_value + 2.0) if is_loss(options.metric) else levels[-1]
            for ax in slice_axes:
                ax.set_ylim(bottom_value - 0.05 * (top_value - bottom_value), top_value)
        if options.note:
            fig.suptitle(options.note, fontsize=7, color="dimgray")
    return fig
