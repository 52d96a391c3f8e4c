"""Figures of studies rather than of one surface: training curves, the output landscapes of
random networks, and each comparison's uncertainty (means, intervals and the individual values).

Stage: results → figures, with the same style, sizes and atomic saving as `plots`.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .errors import LandscapeError
from .plots import STYLE, PlotOptions, save
from .stats import Estimate


def read_training_log(path: str | Path) -> list[dict]:
    """The per-epoch records that `landscape train` writes beside a checkpoint (.log.jsonl)."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"training log {path} does not exist")
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise LandscapeError(f"{path} is not a JSON-lines training log") from None
    if not records or not all({"epoch", "train_loss", "test_loss", "test_acc"} <= set(r) for r in records):
        raise LandscapeError(f"{path} has no epoch records with train_loss, test_loss and test_acc")
    return records


def training_curves_figure(logs: list[str | Path], options: PlotOptions = PlotOptions()) -> Figure:
    """Train loss, test loss and test accuracy per epoch, one line per run (named after its file)."""
    runs = [(Path(p).name.split(".")[0].removeprefix("resnet20_"), read_training_log(p)) for p in logs]
    panels = (("train_loss", "train loss (running, augmented)", "cross-entropy (nats)"),
              ("test_loss", "test loss", "cross-entropy (nats)"), ("test_acc", "test accuracy", "accuracy (%)"))
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.36))
        axes = fig.subplots(1, 3)
        for name, records in runs:
            epochs = [r["epoch"] for r in records]
            for ax, (key, _, _) in zip(axes, panels):
                scale = 100 if key.endswith("acc") else 1
                ax.plot(epochs, [scale * r[key] for r in records], label=name)
        for ax, (key, title, unit) in zip(axes, panels):
            ax.set_xlabel("epoch")
            ax.set_ylabel(unit)
            ax.set_title(title)
            if key.endswith("loss") and options.log:
                ax.set_yscale("log")
        axes[-1].legend(frameon=False)
    return fig


def plot_training_curves(logs: list[str | Path], out: str | Path, options: PlotOptions = PlotOptions()) -> list[Path]:
    return save(training_curves_figure(logs, options), Path(out).with_suffix(""), options)


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
        draw_estimates(ax, values, estimates)
        ax.set_ylabel(measure)
    return fig


def draw_estimates(ax, values: dict[str, np.ndarray], estimates: dict[str, Estimate],
                   names: dict[str, str] | None = None) -> None:
    """Per group: the individual values as dots, the mean as a bar and its 95 % interval as a line;
    groups labelled by `names` (a reader's name per key) where given."""
    for i, (name, vals) in enumerate(values.items()):
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(1)
        ax.plot(i + jitter, vals, "o", ms=2.5, alpha=0.5, color="tab:gray")
        e = estimates[name]
        ax.errorbar([i + 0.3], [e.mean], yerr=[[e.mean - e.low], [e.high - e.mean]], fmt="s", ms=4, capsize=3,
                    color="tab:blue")
    ax.set_xticks(range(len(values)), [(names or {}).get(name, name) for name in values])
    ax.set_xlim(-0.5, len(values) - 0.3)
