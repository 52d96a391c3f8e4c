"""The Hessian's eigenvalue density (`landscape spectrum`): one curve per model on a log scale, each
run of its stochastic Lanczos quadrature drawn faintly behind the mean, so the run-to-run spread
shows; a dashed line at the power iteration's λmax where it is known.
"""
from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from landscape.viz.options import PlotOptions
from landscape.viz.plots import STYLE

FLOOR = 1e-8  # densities below this are drawn at it: a log axis has no zero


def spectrum_figure(spectra: dict[str, dict], options: PlotOptions,
                    lambda_max: dict[str, float] | None = None, replicates: str = "runs") -> Figure:
    """`spectra`: a reader's name → a spectrum record (`grid`, `density`, `density_runs`: one per
    replicate, named `replicates` in the legend)."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(options.width, options.width * 0.5), layout="constrained")
        ax = fig.subplots()
        for i, (name, record) in enumerate(spectra.items()):
            colour = f"C{i}"
            grid = np.asarray(record["grid"])
            for run in record["density_runs"]:
                ax.plot(grid, np.maximum(run, FLOOR), color=colour, lw=0.5, alpha=0.3)
            ax.plot(grid, np.maximum(record["density"], FLOOR), color=colour, lw=1.2,
                    label=f"{name} ({len(record['density_runs'])} {replicates})")
            if lambda_max and name in lambda_max:
                ax.axvline(lambda_max[name], color=colour, ls="--", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylim(bottom=FLOOR)
        ax.set_xlabel("Hessian eigenvalue")
        ax.set_ylabel("density (log)")
        ax.legend(frameon=False, fontsize="small")
    return fig
