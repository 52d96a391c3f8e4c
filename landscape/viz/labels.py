"""The names readers see on figures and pages, one definition each: axis labels by where the
directions came from ("α (direction 1)", "α (training path PC1, 60 % of its variance)"), metric
labels and model titles. No matplotlib, so the HTML report uses the same names.
"""
from __future__ import annotations

import math

from landscape.storage.schema import Surface


def axis_label(axis: str, surface: Surface) -> str:
    symbol = "α" if axis == "x" else "β"
    source = surface.header.direction_source
    if source == "bezier":
        return "t (Bézier curve from the checkpoint to the target)"
    if source == "target":
        return "t (line from the checkpoint to the target)" if surface.header.path_curve else \
            f"{symbol} (interpolation towards target)"
    if source == "hessian":
        index = 0 if axis == "x" else 1
        return f"{symbol} (eigenvector {index + 1}, λ = {eigenvalue_of(surface, index):.4g})"
    if source == "pca":
        index = 0 if axis == "x" else 1
        share = (surface.header.explained_variance or (math.nan, math.nan))[index]
        return f"{symbol} (training path PC{index + 1}, {100 * share:.0f} % of its variance)"
    norm = surface.header.direction_norm
    return f"{symbol} ({norm}-normalised direction {1 if axis == 'x' else 2})"


def eigenvalue_of(surface: Surface, index: int) -> float:
    values = surface.header.eigenvalues
    return values[index] if index < len(values) else math.nan


def plane_note(surface: Surface) -> str:
    """What one plane of this surface is, in a sentence for a table's note."""
    source = surface.header.direction_source
    if source == "pca":
        return "the plane of the training path's first two principal components"
    if source == "bezier":
        return "a trained Bézier curve between two models"
    if source == "target":
        return "the line towards a target model"
    if source == "file":
        return "directions read from a file"
    if source == "hessian":
        return "the plane of the Hessian's top two eigenvectors at the trained weights"
    return "one random draw of filter-normalised directions"


def metric_label(metric: str, log: bool = False) -> str:
    split, kind = metric.rsplit("_", 1)
    text = f"{split} {'loss' if kind == 'loss' else 'accuracy'}"
    return f"log10 {text}" if log else text


def surface_title(surface: Surface) -> str:
    """The model as a reader names it ('Leaky ReLU (slope 0.3)'), with its test accuracy if known."""
    title, acc = surface.header.title.replace("$", r"\$"), surface.header.checkpoint_test_acc  # no mathtext
    title = f"{title}, test acc {100 * acc:.1f}%" if isinstance(acc, (int, float)) else title
    return f"{title} ({surface.partial_note})" if surface.partial_note else title


def is_loss(metric: str) -> bool:
    return metric.endswith("_loss")


def short_axis_label(axis: str, surface: Surface) -> str:
    """The axis name for a narrow panel: which direction it follows, in a few words."""
    symbol = "α" if axis == "x" else "β"
    source = surface.header.direction_source
    if source == "pca":
        return f"{symbol} (path PC{1 if axis == 'x' else 2})"
    if source == "hessian":
        return f"{symbol} (eigenvector {1 if axis == 'x' else 2})"
    return f"{symbol} ({'target' if source == 'target' else 'direction ' + ('1' if axis == 'x' else '2')})"
