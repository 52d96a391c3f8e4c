"""What a figure shows and how (`PlotOptions`): kinds, formats, sizes, colour range.

Stage: figures. Plain data, no matplotlib: the CLI builds its help from it.
"""
from __future__ import annotations

from dataclasses import dataclass

from landscape.errors import LandscapeError, require_choice, require_number

KINDS_2D = ("contour", "filled", "heatmap", "surface3d")
FORMATS = ("png", "pdf", "svg")


@dataclass(frozen=True)
class PlotOptions:
    """What to draw and how; sizes in inches (single column ≈ 3.3, double ≈ 6.9)."""

    metric: str = "train_loss"
    kinds: tuple[str, ...] = KINDS_2D
    levels: int = 20  # at most; losses get round heights above the minimum (viz.plots.heights_above_minimum)
    vmin: float | None = None
    vmax: float | None = None
    log: bool = False
    formats: tuple[str, ...] = ("png",)
    dpi: int = 300
    width: float = 3.3
    note: str | None = None  # a line above comparison figures, e.g. which study profile made them
    partial: bool = False  # draw unfinished surfaces too (their titles say "partial: N of M points")

    def __post_init__(self):
        for kind in self.kinds:
            require_choice("plot kind", kind, KINDS_2D)
        if not self.formats:
            raise LandscapeError(f"--format needs at least one of {', '.join(FORMATS)}")
        for fmt in self.formats:
            require_choice("format", fmt, FORMATS)
        if self.levels < 2:
            raise LandscapeError(f"--levels must be at least 2; got {self.levels}")
        require_number("--dpi", self.dpi, 10, 2400)
        require_number("--width", self.width, 0.5, 40)
        for flag, value in (("--vmin", self.vmin), ("--vmax", self.vmax)):
            if value is not None:
                require_number(flag, value)
        if self.vmin is not None and self.vmax is not None and self.vmin >= self.vmax:
            raise LandscapeError(f"--vmin ({self.vmin}) must be below --vmax ({self.vmax})")
