"""The studies' own figures: the output landscapes of random networks, accuracy against depth, and
per-layer diagnostics of the depth sweep. Plain `Figure` objects, no pyplot.
"""
from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from landscape.metrics.stats import Estimate
from landscape.sources.specs import display_name
from landscape.viz.estimates import draw_estimates
from landscape.viz.options import PlotOptions
from landscape.viz.plots import STYLE


def output_landscape_figure(images: dict[str, np.ndarray], values: dict[str, np.ndarray],
                            estimates: dict[str, Estimate], measure: str, options: PlotOptions) -> Figure:
    """One panel per activation (the scaled output image of the same seed), and below them each
    activation's `measure` per seed (dots) with its mean and 95 % interval."""
    n = len(images)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * (1.0 / n + 0.42)))
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.0 / n + 0.06, 0.36])
        panels = top.subplots(1, n, squeeze=False)[0]
        for ax, (name, image) in zip(panels, images.items()):
            mappable = ax.imshow(image, origin="lower", extent=(0, 10, 0, 10), cmap="viridis", vmin=0, vmax=1)
            ax.set_title(name)
            ax.set_xlabel("input 1")
        panels[0].set_ylabel("input 2")
        top.colorbar(mappable, ax=panels, label="output (min–max scaled)")
        ax = bottom.subplots()
        draw_estimates(ax, values, estimates, dots="one random initialisation")
        ax.set_ylabel(measure)
        ax.legend(frameon=False, fontsize=6, loc="best")
    return fig


def depth_accuracy_figure(rows: list[dict], activations: dict[str, dict], options: PlotOptions,
                          chance: float) -> Figure:
    """Test accuracy against depth, a line per activation (mean over seeds), the seeds' range as a band."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.6))
        ax = fig.subplots()
        seeds_repeat = False
        for name, params in activations.items():
            depths = sorted({r["depth"] for r in rows if r["activation"] == name})
            per = [[100 * r["test_acc"] for r in rows if r["activation"] == name and r["depth"] == d] for d in depths]
            seeds_repeat |= any(len(v) > 1 for v in per)
            line, = ax.plot(depths, [np.nanmean(v) for v in per], "o-", label=display_name(name, params))
            ax.fill_between(depths, [np.nanmin(v) for v in per], [np.nanmax(v) for v in per], alpha=0.2,
                            color=line.get_color())
        values = [100 * r["test_acc"] for r in rows if np.isfinite(r["test_acc"])]
        low, high = min(values), max(values)
        pad = max(0.5, 0.08 * (high - low))
        ax.set_ylim(low - pad, high + pad)  # the data fill the axis; chance is drawn only if it is in range
        if low - pad <= 100 * chance:
            ax.axhline(100 * chance, color="gray", lw=0.8, ls=":", label="chance")
        else:
            ax.annotate(f"chance: {100 * chance:g} % (below the axis)", (0.99, 0.02), xycoords="axes fraction",
                        ha="right", fontsize=6, color="gray")
        handles, labels = ax.get_legend_handles_labels()
        if seeds_repeat:  # name the band only where it has a width
            handles.append(Patch(color="gray", alpha=0.2))
            labels.append("range over seeds")
        ax.set_xlabel("dense hidden layers")
        ax.set_xticks(sorted({r["depth"] for r in rows}))  # the trained depths, not fractions
        ax.set_ylabel("test accuracy (%)")
        ax.legend(handles, labels, frameon=False)
    return fig


def depth_training_figure(logs: dict[int, dict[str, list[dict]]], activations: dict[str, dict],
                          options: PlotOptions) -> Figure:
    """The running training loss per epoch, a panel per depth (`logs`: depth → activation → its
    log records), a line per activation; a run that diverged ends where it stopped."""
    depths = sorted(logs)
    columns = min(3, len(depths))
    rows = -(-len(depths) // columns)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.3 * rows + 0.4))
        axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
        for ax, depth in zip(axes, depths):
            for name, params in activations.items():
                records = [r for r in logs[depth].get(name, []) if np.isfinite(r["train_loss"])]
                ax.plot([r["epoch"] for r in records], [r["train_loss"] for r in records],
                        label=display_name(name, params))
            ax.set_title(f"{depth} hidden layers")
        for ax in axes[len(depths):]:
            ax.set_visible(False)
        for ax in axes[::columns]:
            ax.set_ylabel("train loss (nats)")
        for ax in axes[(rows - 1) * columns:]:
            ax.set_xlabel("epoch")
        axes[0].legend(frameon=False)
    return fig


def layer_diagnostics_figure(layers: dict[int, dict[str, dict[str, list[float]]]], activations: dict[str, dict],
                             options: PlotOptions) -> Figure:
    """Layer by layer, a column per depth (`layers`: depth → activation → {"gradient_norms_init",
    "gradient_norms", "dead_units"}: a value per weight tensor, input to head, or per hidden layer):
    the gradient norm at initialisation and after epoch 1 (log scale: vanishing or exploding
    gradients), and the share of units never positive on the study's images at the end."""
    panels = (("gradient_norms_init", "gradient norm at initialisation", "‖∇W‖ (log)"),
              ("gradient_norms", "gradient norm after epoch 1", "‖∇W‖ (log)"),
              ("dead_units", "dead units at the end", "share of units"))
    depths = sorted(layers)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.75))
        axes = fig.subplots(len(panels), len(depths), sharex="col", squeeze=False)
        for column, depth in enumerate(depths):
            count = 1
            for row, (key, title, unit) in enumerate(panels):
                ax = axes[row, column]
                for name, params in activations.items():
                    values = layers[depth].get(name, {}).get(key, [])
                    count = max(count, len(values))
                    ax.plot(range(1, len(values) + 1), values, ".-", label=display_name(name, params))
                if key != "dead_units":
                    ax.set_yscale("log")
                ax.set_title(f"{title}, L={depth}", fontsize=7)
                if column == 0:
                    ax.set_ylabel(unit)
            axes[-1, column].set_xlabel("layer (input → head)")
            axes[-1, column].set_xlim(0.5, count + 0.5)
            axes[-1, column].xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        axes[0, 0].legend(frameon=False, fontsize=6)
    return fig
