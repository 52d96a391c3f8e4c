"""Static figures from surface files (matplotlib): contours, heat maps, 3-D and 1-D curves.

Stage: HDF5 → figures. Reads surfaces through `storage` only; never computes a surface.
Figures are written to temporary names and renamed, so a failure leaves no partial file.
Figures are plain `matplotlib.figure.Figure` objects rendered by the file format's own
canvas: no pyplot, no backend chosen, nothing changed for the caller's process.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colors, ticker
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.files import atomic_write
from landscape.metrics.surface import finite_values
from landscape.storage.schema import Surface
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import format_number
from landscape.viz.labels import axis_label, is_loss, metric_label, surface_title
from landscape.viz.options import PlotOptions

STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
         "legend.fontsize": 7, "font.family": "DejaVu Sans", "axes.linewidth": 0.6, "lines.linewidth": 1.2,
         "figure.constrained_layout.use": True}  # exact --width: no bbox="tight" cropping


def load_for_plot(path: str | Path, metric: str, partial: bool = False) -> tuple[Surface, np.ma.MaskedArray]:
    """A surface and its metric as a masked array (pending points masked), checked for use: an
    unfinished one only with `partial`."""
    surface = read_surface(path).require_complete(partial)
    return surface, np.ma.masked_invalid(finite_values(surface, metric))


def contour_levels(values: list[np.ma.MaskedArray], options: PlotOptions) -> np.ndarray:
    """One set of levels for every panel, from vmin/vmax or the joint range of the data. Losses
    get levels spaced geometrically above the lowest value (0.01 above it, then by a constant
    factor up to the top), so the basin, where the width differences live, gets most of them;
    --log spaces them geometrically in the value itself; accuracies are spaced linearly."""
    lo = options.vmin if options.vmin is not None else min(float(v.min()) for v in values)
    hi = options.vmax if options.vmax is not None else max(float(v.max()) for v in values)
    if lo >= hi and (options.vmin is not None or options.vmax is not None):
        raise LandscapeError(f"the colour range would run from {lo:.4g} up to {hi:.4g}: --vmin must be below the "
                             f"data's largest value and --vmax above its smallest")
    if options.log:
        lo, hi = max(lo, 1e-12), max(hi, 1e-12 * 10)
        return np.geomspace(lo, hi, options.levels)
    span = hi - lo
    if is_loss(options.metric) and span > 0.1:
        return lo + np.concatenate([[0.0], heights_above_minimum(span, options.levels - 1)])
    return np.linspace(lo, hi if hi > lo else lo + 1e-12, options.levels)


MANTISSAS = ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9))  # sparse to dense


def heights_above_minimum(span: float, count: int) -> np.ndarray:
    """Round heights Δ above the minimum (0.01, 0.02, 0.05, 0.1, … in 1-2-5 steps, or finer), from
    0.01 up to `span`: the densest such series with at most `count` values (at least the 1-2-5
    one), so every contour is a round distance above the minimum and the basin gets most of them;
    `span` itself closes the series, so the levels reach the top of the colour range."""
    decades = range(-2, int(np.ceil(np.log10(span))) + 1)
    for mantissas in reversed(MANTISSAS):  # the last tried, 1-2-5, is kept whatever its length
        series = (round(m * 10.0 ** e, 12) for e in decades for m in mantissas)
        heights = [h for h in series if 0.01 <= h < span * (1 - 1e-9)]
        if len(heights) + 1 <= count:
            break
    return np.array([*heights, span])


def contour_label_levels(levels: np.ndarray, options: PlotOptions) -> tuple[np.ndarray, dict[float, str]]:
    """The levels that carry a label on a contour plot, and their text: for a loss, the decades above
    the minimum ('min+0.1', 'min+1', …); otherwise about five of the levels, in plain numbers."""
    if is_loss(options.metric) and not options.log and len(levels) > 2:
        heights = levels[1:] - levels[0]
        decade = np.isclose(heights, 10.0 ** np.round(np.log10(heights)))
        chosen = levels[1:][decade]
        return chosen, {float(v): f"min+{float(h):g}" for v, h in zip(chosen, heights[decade])}
    chosen = levels[::max(1, len(levels) // 5)]
    return chosen, {float(v): format_number(float(v)) for v in chosen}


def clipping(values: list[np.ma.MaskedArray], levels: np.ndarray) -> str:
    """matplotlib's `extend`: which ends of the levels the data pass (drawn as arrows on the colour bar)."""
    tolerance = 1e-9 * max(1.0, abs(levels[-1]))
    above = any(float(v.max()) > levels[-1] + tolerance for v in values)
    below = any(float(v.min()) < levels[0] - tolerance for v in values)
    return {(True, True): "both", (True, False): "max", (False, True): "min"}.get((above, below), "neither")


def colourbar_ticks(levels: np.ndarray, options: PlotOptions) -> list[float]:
    """Round ticks inside the levels' range (none on the extension arrows): 1-2-5 steps where the
    levels are spaced geometrically, about six evenly spaced ones otherwise."""
    lo, hi = levels[0], levels[-1]
    if options.log or (is_loss(options.metric) and not np.allclose(np.diff(levels), np.diff(levels)[0])):
        decades = range(int(np.floor(np.log10(max(lo, 1e-12)))), int(np.ceil(np.log10(hi))) + 1)
        for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):  # finer steps where the range is short
            ticks = [m * 10.0 ** e for e in decades for m in mantissas if lo < m * 10.0 ** e <= hi]
            if len(ticks) >= 3:
                break
        return ticks if len(ticks) <= 8 else ticks[::2]
    return [t for t in ticker.MaxNLocator(6).tick_values(lo, hi) if lo <= t <= hi]


def colour_norm(levels: np.ndarray, extend: str = "neither") -> colors.Normalize:
    """Each band between two levels gets its own colour, evenly spread over the colour map whatever
    the levels' spacing; the arrows of a clipped end get the map's end colours."""
    return colors.BoundaryNorm(levels, ncolors=256, extend=extend)


# no creation date in the file and fixed SVG element ids: the same figure gives the same bytes, so
# redrawing a finished study leaves its committed figures unchanged
UNDATED = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def save(fig: Figure, stem: Path, options: PlotOptions) -> list[Path]:
    """Write `fig` in every requested format atomically; returns the paths."""
    written = []
    for fmt in options.formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_write(path) as tmp, matplotlib.rc_context({"svg.hashsalt": "landscape"}):
            fig.savefig(tmp, format=fmt, dpi=options.dpi, metadata=UNDATED.get(fmt))
        written.append(path)
    return written


def draw_trajectory(ax, surface: Surface) -> None:
    """The optimisation path, where the file carries one ([n, 2] coordinates in /trajectory): its
    snapshots as dots, the first one marked with its file name's epoch, the final model (the origin)
    as a star."""
    path = surface.trajectory
    if path is None:
        return
    ax.plot(path[:, 0], path[:, 1], "o-", color="crimson", ms=2, lw=0.8)
    names = surface.header.trajectory_snapshots
    digits = "".join(c for c in Path(names[0]).stem if c.isdigit()) if names else ""
    ax.annotate(f"epoch {int(digits)}" if digits else "start", path[0], xytext=(3, 3), textcoords="offset points",
                fontsize=6, color="crimson")
    ax.plot(0, 0, marker="*", color="white", mec="crimson", ms=7, ls="none")


def draw_basin_lines(ax, surface: Surface, z: np.ma.MaskedArray, deltas=(0.1, 0.5, 1.0)) -> None:
    """White contour lines at this panel's own minimum + Δ: the sublevel sets whose widths are reported."""
    bottom = float(z.min())
    ax.contour(surface.x, surface.y, z, levels=[bottom + d for d in deltas], colors="white", linewidths=0.5)


def draw_2d(ax, kind: str, surface: Surface, z: np.ma.MaskedArray, levels: np.ndarray, options: PlotOptions,
            extend: str = "neither"):
    """One 2-D view of z [iy, ix] on `ax`; returns the mappable for a colour bar."""
    norm = colour_norm(levels, extend)
    if kind == "contour":
        mappable = ax.contour(surface.x, surface.y, z, levels=levels, norm=norm, cmap="viridis", linewidths=0.6)
        labelled, text = contour_label_levels(levels, options)
        ax.clabel(mappable, labelled, inline=True, fontsize=6, fmt=lambda v: text.get(float(v), format_number(v)))
    elif kind == "filled":
        mappable = ax.contourf(surface.x, surface.y, z, levels=levels, norm=norm, cmap="viridis", extend=extend)
    else:
        mappable = ax.pcolormesh(surface.x, surface.y, z, norm=norm, cmap="viridis", shading="nearest")
    ax.set_aspect("auto")
    draw_trajectory(ax, surface)
    return mappable


def plot_2d(surface: Surface, z: np.ma.MaskedArray, kind: str, options: PlotOptions) -> Figure:
    levels = contour_levels([z], options)
    extend = clipping([z], levels)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.8))
        if kind == "surface3d":
            ax = fig.add_subplot(projection="3d")  # Axes3D(fig) draws nothing on current matplotlib
            X, Y = np.meshgrid(surface.x, surface.y)
            shown = np.log10(np.clip(z.filled(np.nan), 1e-12, None)) if options.log else z.filled(np.nan)
            top = np.log10(levels[-1]) if options.log else levels[-1]
            ax.plot_surface(X, Y, np.clip(shown, None, top), cmap="viridis", linewidth=0, antialiased=True,
                            rcount=200, ccount=200)
            ax.set_zlabel(metric_label(options.metric, options.log))
            ax.set_xlabel("α")
            ax.set_ylabel("β")
            clipped = extend in ("max", "both")
            ax.set_title(surface_title(surface) + (f"\n(flat top: clipped at {levels[-1]:.3g})" if clipped else ""))
            return fig
        ax = fig.subplots()
        mappable = draw_2d(ax, kind, surface, z, levels, options, extend)
        fig.colorbar(mappable, ax=ax, label=metric_label(options.metric), ticks=colourbar_ticks(levels, options),
                     extend=extend if kind != "contour" else "neither")
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


RATIO_TOP = 1.0  # |λmin/λmax| colours saturate here: as much downward curvature as upward


def plot_curvature(surface: Surface, z: np.ma.MaskedArray, options: PlotOptions) -> Figure:
    """The loss (top) above |λmin/λmax| of `landscape hessian-map` (bottom; near 0 where the surface
    is locally convex), on the same axes; a 1-D surface gets λmin and λmax against α."""
    curvature = surface.curvature
    note = f" ({curvature.partial_note})" if curvature.partial_note else ""
    with matplotlib.rc_context(STYLE):
        if surface.ndim == 1:
            fig = Figure(figsize=(options.width, options.width * 0.6))
            ax = fig.subplots()
            for name, style in (("max_eig", "-o"), ("min_eig", "--o")):
                ax.plot(curvature.x, curvature.arrays[name], style, markersize=3, label=name.replace("_eig", "")
                        .replace("max", "λmax").replace("min", "λmin"))
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.set_xlabel(axis_label("x", surface))
            ax.set_ylabel("Hessian eigenvalue")
            ax.legend(frameon=False)
            ax.set_title(surface_title(surface) + note)
            return fig
        fig = Figure(figsize=(options.width, options.width * 1.5), layout="constrained")
        left, right = fig.subplots(2, 1, sharex=True, sharey=True)  # stacked: each panel keeps the width
        levels = contour_levels([z], options)
        mappable = draw_2d(left, "contour", surface, z, levels, options)
        fig.colorbar(mappable, ax=left, label=metric_label(options.metric), ticks=colourbar_ticks(levels, options))
        ratio = np.ma.masked_invalid(curvature.ratio)
        shown = right.pcolormesh(curvature.x, curvature.y, ratio, cmap="viridis", vmin=0, vmax=RATIO_TOP,
                                 shading="nearest")
        above = float(ratio.max()) > RATIO_TOP
        fig.colorbar(shown, ax=right, label="|λmin/λmax|", extend="max" if above else "neither")
        right.set_xlabel(axis_label("x", surface))
        for ax in (left, right):
            ax.set_ylabel(axis_label("y", surface))
        left.set_title(surface_title(surface))
        right.set_title(f"|λmin/λmax|, 1 in {curvature.every} points per axis{note}")
    return fig


def plot_surface(path: str | Path, out_dir: str | Path, options: PlotOptions = PlotOptions(),
                 kinds_given: bool = False) -> list[Path]:
    """Every figure for one surface file (and its Hessian map, if it has one); returns the files written."""
    surface, z = load_for_plot(path, options.metric, options.partial)
    stem = Path(out_dir) / f"{Path(path).stem}_{options.metric}"
    extra = save(plot_curvature(surface, z, options), stem.with_name(f"{stem.name}_hessian_map"), options) \
        if surface.curvature is not None and surface.curvature.done.any() else []
    if surface.ndim == 1:
        if kinds_given:
            raise LandscapeError(f"{path} is a 1-D surface; --kinds {','.join(options.kinds)} needs a 2-D one")
        return save(plot_1d(surface, options), stem, options) + extra
    figures = [(kind, plot_2d(surface, z, kind, options)) for kind in options.kinds]
    return [p for kind, fig in figures for p in save(fig, stem.with_name(f"{stem.name}_{kind}"), options)] + extra


def check_plottable(paths: list[str | Path], options: PlotOptions, kinds_given: bool = False) -> None:
    """Raise before anything is drawn if any file cannot give the requested figures."""
    for path in paths:
        surface, _ = load_for_plot(path, options.metric, options.partial)
        if surface.ndim == 1 and kinds_given:
            raise LandscapeError(f"{path} is a 1-D surface; --kinds {','.join(options.kinds)} needs a 2-D one")
