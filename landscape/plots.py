"""Static figures from surface files (matplotlib): contours, heat maps, 3-D, 1-D curves,
side-by-side comparisons with shared levels, and ParaView export.

Stage: HDF5 → figures. Reads surfaces through `storage` only; never computes a surface.
Figures are written to temporary names and renamed, so a failure leaves no partial file.
Figures are plain `matplotlib.figure.Figure` objects rendered by the file format's own
canvas: no pyplot, no backend chosen, nothing changed for the caller's process.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colors, ticker
from matplotlib.figure import Figure
from pyevtk.hl import gridToVTK

from .errors import LandscapeError, require_choice
from .files import atomic_write
from .storage import Surface, read_surface

KINDS_2D = ("contour", "filled", "heatmap", "surface3d")
FORMATS = ("png", "pdf", "svg")
STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
         "legend.fontsize": 7, "font.family": "DejaVu Sans", "axes.linewidth": 0.6, "lines.linewidth": 1.2,
         "figure.constrained_layout.use": True}  # exact --width: no bbox="tight" cropping


@dataclass(frozen=True)
class PlotOptions:
    """What to draw and how; sizes in inches (single column ≈ 3.3, double ≈ 6.9)."""

    metric: str = "train_loss"
    kinds: tuple[str, ...] = KINDS_2D
    levels: int = 30
    vmin: float | None = None
    vmax: float | None = None
    log: bool = False
    formats: tuple[str, ...] = ("png",)
    dpi: int = 300
    width: float = 3.3
    note: str | None = None  # a line above comparison figures, e.g. which study profile made them

    def __post_init__(self):
        for kind in self.kinds:
            require_choice("plot kind", kind, KINDS_2D)
        for fmt in self.formats:
            require_choice("format", fmt, FORMATS)
        if self.levels < 2:
            raise LandscapeError(f"--levels must be at least 2; got {self.levels}")
        if self.vmin is not None and self.vmax is not None and self.vmin >= self.vmax:
            raise LandscapeError(f"--vmin ({self.vmin}) must be below --vmax ({self.vmax})")


def load_for_plot(path: str | Path, metric: str) -> tuple[Surface, np.ma.MaskedArray]:
    """A surface and its metric as a masked array (pending points masked), checked for use."""
    surface = read_surface(path)
    if metric not in surface.values:
        raise LandscapeError(f"{path} has no {metric!r}; it has {', '.join(sorted(surface.values))}")
    if not surface.done.any():
        raise LandscapeError(f"{path} has no finished points yet; run `landscape surface` to compute it")
    if not surface.complete:
        warnings.warn(f"{path}: {int(surface.done.sum())} of {surface.done.size} points computed; "
                      f"missing points are masked", stacklevel=2)
    return surface, np.ma.masked_array(surface.values[metric], mask=~surface.done)


def axis_label(axis: str, surface: Surface) -> str:
    symbol = "α" if axis == "x" else "β"
    source = surface.header.direction_source
    if source == "target":
        return f"{symbol} (interpolation towards target)"
    if source == "pca":
        index = 0 if axis == "x" else 1
        share = (surface.header.explained_variance or (np.nan, np.nan))[index]
        return f"{symbol} (training path PC{index + 1}, {100 * share:.0f}% of its variance)"
    norm = surface.header.direction_norm
    return f"{symbol} ({norm}-normalised direction {1 if axis == 'x' else 2})"


def metric_label(metric: str, log: bool = False) -> str:
    split, kind = metric.rsplit("_", 1)
    text = f"{split} {'loss' if kind == 'loss' else 'accuracy'}"
    return f"log10 {text}" if log else text


def surface_title(surface: Surface) -> str:
    title = surface.header.activation_label if surface.header.activation else Path(surface.path).stem
    acc = surface.header.checkpoint_test_acc
    return f"{title} (test acc {100 * acc:.1f}%)" if isinstance(acc, (int, float)) else title


def contour_levels(values: list[np.ma.MaskedArray], options: PlotOptions) -> np.ndarray:
    """One set of levels for every panel: from vmin/vmax or the joint range of the data."""
    lo = options.vmin if options.vmin is not None else min(float(v.min()) for v in values)
    hi = options.vmax if options.vmax is not None else max(float(v.max()) for v in values)
    if options.log:
        lo, hi = max(lo, 1e-12), max(hi, 1e-12 * 10)
        return np.geomspace(lo, hi, options.levels)
    return np.linspace(lo, hi if hi > lo else lo + 1e-12, options.levels)


def colourbar_ticks(levels: np.ndarray) -> list[float]:
    """About six round ticks inside the levels' range (none on the extension triangles)."""
    return [t for t in ticker.MaxNLocator(6).tick_values(levels[0], levels[-1]) if levels[0] <= t <= levels[-1]]


def colour_norm(levels: np.ndarray, log: bool) -> colors.Normalize:
    return colors.LogNorm(levels[0], levels[-1]) if log else colors.Normalize(levels[0], levels[-1])


def save(fig: Figure, stem: Path, options: PlotOptions) -> list[Path]:
    """Write `fig` in every requested format atomically; returns the paths."""
    written = []
    for fmt in options.formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=options.dpi)
        written.append(path)
    return written


def draw_trajectory(ax, surface: Surface) -> None:
    """The optimisation path, where the file carries one ([n, 2] coordinates in /trajectory)."""
    if surface.trajectory is not None:
        ax.plot(surface.trajectory[:, 0], surface.trajectory[:, 1], "o-", color="crimson", ms=2, lw=0.8)


def draw_2d(ax, kind: str, surface: Surface, z: np.ma.MaskedArray, levels: np.ndarray, options: PlotOptions):
    """One 2-D view of z [iy, ix] on `ax`; returns the mappable for a colour bar."""
    norm = colour_norm(levels, options.log)
    if kind == "contour":
        mappable = ax.contour(surface.x, surface.y, z, levels=levels, norm=norm, cmap="viridis", linewidths=0.6)
        ax.clabel(mappable, mappable.levels[::max(1, len(levels) // 6)], inline=True, fontsize=5, fmt="%.3g")
    elif kind == "filled":
        mappable = ax.contourf(surface.x, surface.y, z, levels=levels, norm=norm, cmap="viridis", extend="both")
    else:
        mappable = ax.pcolormesh(surface.x, surface.y, z, norm=norm, cmap="viridis", shading="nearest")
    ax.set_aspect("auto")
    draw_trajectory(ax, surface)
    return mappable


def plot_2d(surface: Surface, z: np.ma.MaskedArray, kind: str, options: PlotOptions) -> Figure:
    levels = contour_levels([z], options)
    with matplotlib.rc_context(STYLE):
        if kind == "surface3d":
            fig = Figure(figsize=(options.width, options.width * 0.8))
            ax = fig.add_subplot(projection="3d")  # Axes3D(fig) draws nothing on current matplotlib
            X, Y = np.meshgrid(surface.x, surface.y)
            shown = np.log10(np.clip(z.filled(np.nan), 1e-12, None)) if options.log else z.filled(np.nan)
            ax.plot_surface(X, Y, np.clip(shown, None, np.log10(levels[-1]) if options.log else levels[-1]),
                            cmap="viridis", linewidth=0, antialiased=True, rcount=200, ccount=200)
            ax.set_zlabel(metric_label(options.metric, options.log))
            ax.set_xlabel("α")
            ax.set_ylabel("β")
            ax.set_title(surface_title(surface))
            return fig
        else:
            fig = Figure(figsize=(options.width, options.width * 0.8))
            ax = fig.subplots()
            mappable = draw_2d(ax, kind, surface, z, levels, options)
            fig.colorbar(mappable, ax=ax, label=metric_label(options.metric), ticks=colourbar_ticks(levels))
        ax.set_xlabel(axis_label("x", surface))
        ax.set_ylabel(axis_label("y", surface))
        ax.set_title(surface_title(surface))
    return fig


def plot_1d(surface: Surface, options: PlotOptions) -> Figure:
    """Loss (left axis) and accuracy (right axis) against α, every split in the file."""
    splits = sorted({name.rsplit("_", 1)[0] for name in surface.values})
    styles = {"train": "-", "test": "--"}
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.7))
        ax = fig.subplots()
        twin = ax.twinx()
        mask = ~surface.done
        for split in splits:
            loss = np.ma.masked_array(surface.values[f"{split}_loss"], mask)
            acc = np.ma.masked_array(surface.values[f"{split}_acc"], mask)
            ax.plot(surface.x, loss, styles.get(split, "-"), color="tab:blue", label=f"{split} loss")
            twin.plot(surface.x, 100 * acc, styles.get(split, "-"), color="tab:red", label=f"{split} accuracy")
        if options.log:
            ax.set_yscale("log")
        ax.set_xlabel(axis_label("x", surface))
        ax.set_ylabel("loss", color="tab:blue")
        twin.set_ylabel("accuracy (%)", color="tab:red")
        lines = ax.get_lines() + twin.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="upper center", frameon=False, ncol=2)
        ax.set_title(surface_title(surface))
    return fig


def plot_surface(path: str | Path, out_dir: str | Path, options: PlotOptions = PlotOptions(),
                 kinds_given: bool = False) -> list[Path]:
    """Every figure for one surface file; returns the files written."""
    surface, z = load_for_plot(path, options.metric)
    stem = Path(out_dir) / f"{Path(path).stem}_{options.metric}"
    if surface.ndim == 1:
        if kinds_given:
            raise LandscapeError(f"{path} is a 1-D surface; --kinds {','.join(options.kinds)} needs a 2-D one")
        return save(plot_1d(surface, options), stem, options)
    figures = [(kind, plot_2d(surface, z, kind, options)) for kind in options.kinds]
    return [p for kind, fig in figures for p in save(fig, stem.with_name(f"{stem.name}_{kind}"), options)]


def minimum_slices(surface: Surface, z: np.ma.MaskedArray) -> tuple[np.ndarray, np.ndarray]:
    """The row and column of z through its minimum: (values along x, values along y)."""
    iy, ix = np.unravel_index(int(np.ma.argmin(z)), z.shape)
    return z[iy, :], z[:, ix]


def check_plottable(paths: list[str | Path], options: PlotOptions, kinds_given: bool = False) -> None:
    """Raise before anything is drawn if any file cannot give the requested figures."""
    for path in paths:
        surface, _ = load_for_plot(path, options.metric)
        if surface.ndim == 1 and kinds_given:
            raise LandscapeError(f"{path} is a 1-D surface; --kinds {','.join(options.kinds)} needs a 2-D one")


def plot_comparison(paths: list[str | Path], out: str | Path, options: PlotOptions = PlotOptions()) -> list[Path]:
    """Write `comparison_figure` in every requested format."""
    return save(comparison_figure(paths, options), Path(out).with_suffix(""), options)


def comparison_figure(paths: list[str | Path], options: PlotOptions = PlotOptions()) -> Figure:
    """A panel per surface (same levels and colours) and 1-D slices through each minimum."""
    loaded = [load_for_plot(p, options.metric) for p in paths]
    if len({s.ndim for s, _ in loaded}) != 1:
        raise LandscapeError("cannot compare 1-D and 2-D surfaces in one figure")
    two_d = loaded[0][0].ndim == 2
    levels = contour_levels([z for _, z in loaded], options)
    n = len(loaded)
    with matplotlib.rc_context(STYLE):
        if two_d:
            fig = Figure(figsize=(options.width, options.width * (1.0 / n + 0.45)))
            top, bottom = fig.subfigures(2, 1, height_ratios=[1.0 / n + 0.08, 0.37])
            panels = top.subplots(1, n, sharey=True, squeeze=False)[0]
            for ax, (surface, z) in zip(panels, loaded):
                mappable = draw_2d(ax, "filled", surface, z, levels, options)
                ax.set_title(surface_title(surface).replace(" (", "\n("))
                ax.set_xlabel("α")
                ax.set_aspect("equal")
            panels[0].set_ylabel("β")
            top.colorbar(mappable, ax=panels, label=metric_label(options.metric), ticks=colourbar_ticks(levels))
            slice_axes = bottom.subplots(1, 2)
            for surface, z in loaded:
                along_x, along_y = minimum_slices(surface, z)
                slice_axes[0].plot(surface.x, along_x, label=surface_title(surface))
                slice_axes[1].plot(surface.y, along_y, label=surface_title(surface))
            slice_axes[0].set_xlabel("α (slice through each minimum)")
            slice_axes[1].set_xlabel("β (slice through each minimum)")
        else:
            fig = Figure(figsize=(options.width, options.width * 0.7))
            ax = fig.subplots()
            for surface, z in loaded:
                ax.plot(surface.x, z, label=surface_title(surface))
            ax.set_xlabel(axis_label("x", loaded[0][0]))
            slice_axes = [ax]
        for ax in slice_axes:
            ax.set_ylabel(metric_label(options.metric))
            if options.log:
                ax.set_yscale("log")
        slice_axes[-1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        if not options.log:
            for ax in slice_axes:
                ax.set_ylim(levels[0] - 0.05 * (levels[-1] - levels[0]), levels[-1])
        if options.note:
            fig.suptitle(options.note, fontsize=7, color="dimgray")
    return fig


def export_vtk(path: str | Path, out: str | Path, metric: str = "train_loss") -> Path:
    """The surface as a ParaView structured grid (.vts, written by pyevtk): the height is `metric`,
    and every dataset in the file is attached as point data (NaN where not computed)."""
    surface, z = load_for_plot(path, metric)
    if surface.ndim != 2:
        raise LandscapeError(f"{path} is a 1-D surface; VTK export needs a 2-D one")
    # VTK orders points with x fastest; pyevtk takes [nx, ny, nz] arrays, so transpose [iy, ix].
    X, Y = np.meshgrid(surface.x, surface.y, indexing="ij")
    column = lambda a: np.ascontiguousarray(a, dtype=np.float64)[:, :, None]  # noqa: E731
    data = {name: column(np.where(surface.done, values, np.nan).T) for name, values in surface.values.items()}
    final = Path(out).with_suffix(".vts")
    with atomic_write(final) as tmp:  # pyevtk appends .vts to the name it is given
        Path(gridToVTK(str(tmp.with_suffix("")), column(X), column(Y), column(z.filled(np.nan).T),
                       pointData=data)).rename(tmp)
    return final
