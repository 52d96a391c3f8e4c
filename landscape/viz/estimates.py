"""Means with their 95 % intervals drawn beside the individual values they summarise, one group per
model: the picture of an `Estimate`. Used by the findings' uncertainty figure and the output
landscapes.
"""
from __future__ import annotations

import numpy as np

from landscape.metrics.stats import Estimate


def draw_estimates(ax, values: dict[str, np.ndarray], estimates: dict[str, Estimate],
                   names: dict[str, str] | None = None, dots: str = "individual values") -> None:
    """Per group: the individual values as dots, the mean as a square and its 95 % interval as a
    line; groups labelled by `names` (a reader's name per key) where given. The artists carry the
    legend labels (`dots`, "mean, 95 % interval") for `legend_for_estimates`."""
    for i, (name, vals) in enumerate(values.items()):
        jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(1)
        ax.plot(i + jitter, vals, "o", ms=2.5, alpha=0.5, color="tab:gray", label=dots if i == 0 else None)
        e = estimates[name]
        ax.errorbar([i + 0.3], [e.mean], yerr=[[e.mean - e.low], [e.high - e.mean]], fmt="s", ms=4, capsize=3,
                    color="tab:blue", label="mean, 95 % interval" if i == 0 else None)
    ax.set_xticks(range(len(values)), [(names or {}).get(name, name) for name in values])
    ax.set_xlim(-0.5, len(values) - 0.3)


def legend_for_estimates(fig, ax) -> None:
    """One legend for a figure of `draw_estimates` panels, above them: what dots and squares are."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(labels), frameon=False)
