"""Training curves from epoch logs (`*.log.jsonl`): training loss, test loss and test accuracy per
epoch, one line per run. Plain `Figure` objects, no pyplot.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.sources.checkpoint import read_checkpoint
from landscape.sources.specs import ACTIVATIONS, display_name
from landscape.viz.options import PlotOptions
from landscape.viz.plots import STYLE, save


def read_training_log(path: str | Path) -> list[dict]:
    """The per-epoch records that `landscape train` writes beside a checkpoint (.log.jsonl)."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"training log {path} does not exist")
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LandscapeError(f"{path} is not a JSON-lines training log") from None
    if not records or not all(isinstance(r, dict) and {"epoch", "train_loss", "test_loss", "test_acc"} <= set(r)
                              for r in records):
        raise LandscapeError(f"{path} has no epoch records with train_loss, test_loss and test_acc")
    return records


def run_name(log: str | Path) -> str:
    """A run as a reader names it: its activation with parameters ('Leaky ReLU (slope 0.3)', plus the
    seed where it is not 0) from the checkpoint beside the log; the log's file name otherwise."""
    log = Path(log)
    stem = log.name.split(".")[0]
    checkpoint = log.with_name(f"{stem}.pt")
    if checkpoint.is_file():
        try:
            meta = read_checkpoint(checkpoint).metadata
        except LandscapeError:
            return stem
        seed = meta.get("seed", 0)
        return display_name(meta.get("activation", stem), meta.get("activation_params")) + (
            f", seed {seed}" if seed else "")
    name = stem.removeprefix("resnet20_")
    return display_name(name) if name in ACTIVATIONS else stem


def training_curves_figure(logs: list[str | Path], options: PlotOptions = PlotOptions()) -> Figure:
    """Train loss, test loss and test accuracy per epoch, one line per run (`run_name`)."""
    runs = [(run_name(p), read_training_log(p)) for p in logs]
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
