"""Metrics of one 1-D slice of the loss through the model: minimum, curvature, and the width of
the basin at each height Δ, located between grid points.

Stage: HDF5 → metrics, pure numpy. A width is the length of the connected interval around the
lowest grid point where loss < minimum + Δ; each end is where the curve crosses that level,
found on the parabola through the last two grid points inside and the first outside (exact for a
quadratic bowl). An interval that reaches the end of the grid (or a non-finite point) is reported as a lower
bound and flagged `censored`, never clipped silently.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from landscape.errors import LandscapeError


@dataclass(frozen=True)
class SliceWidth:
    """The interval {loss < minimum + delta} around the minimum, in direction units."""

    delta: float
    left: float
    right: float
    censored: bool  # the interval reaches the end of the grid: width is a lower bound

    @property
    def width(self) -> float:
        return self.right - self.left


@dataclass(frozen=True)
class SliceMetrics:
    """One slice's minimum, where it is, its curvature there and its widths."""

    minimum: float
    argmin: float
    curvature: float  # second derivative of a quadratic fit on the 5 grid points around the minimum
    widths: tuple[SliceWidth, ...]

    def flat(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "widths"}
        for w in self.widths:
            out[f"width_{w.delta:g}"] = w.width
            out[f"censored_{w.delta:g}"] = w.censored
        return out


def crossing(x: np.ndarray, z: np.ndarray, inside: int, outside: int, level: float) -> float:
    """The α between grid points `inside` (z < level) and its neighbour `outside` (z ≥ level) where
    the curve reaches `level`: on the parabola through these two and the next point inwards, or
    on the line through the two where that point is missing or the parabola leaves the cell."""
    step = outside - inside
    inner = inside - step
    lo, hi = sorted((x[inside], x[outside]))
    if 0 <= inner < len(x) and np.isfinite(z[inner]):
        a, b, c = np.polyfit(x[[inner, inside, outside]], z[[inner, inside, outside]], 2)
        roots = np.roots([a, b, c - level]) if abs(a) > 1e-300 else np.roots([b, c - level])
        inside_cell = [r.real for r in np.atleast_1d(roots) if abs(r.imag) < 1e-12 and lo <= r.real <= hi]
        if inside_cell:
            return float(min(inside_cell, key=lambda r: abs(r - x[inside])))
    fraction = (level - z[inside]) / (z[outside] - z[inside])
    return float(x[inside] + fraction * (x[outside] - x[inside]))


def interval(x: np.ndarray, z: np.ndarray, start: int, delta: float) -> SliceWidth:
    """The connected sublevel interval of z < z[start] + delta around index `start`."""
    level = z[start] + delta
    ends, censored = [], False
    for step in (-1, 1):
        i = start
        while 0 <= i + step < len(z) and z[i + step] < level:
            i += step
        if 0 <= i + step < len(z) and np.isfinite(z[i + step]):
            ends.append(crossing(x, z, i, i + step, level))
        else:  # the grid's end, or a non-finite (diverged) point: the crossing is not known
            ends.append(float(x[i]))
            censored = True
    return SliceWidth(delta, ends[0], ends[1], censored)


def has_second_minimum(z: np.ndarray, above: float = 1.0) -> bool:
    """Whether the curve z (NaN: not computed) has a strict interior local minimum, other than its
    lowest point, below that lowest value + `above`: a slice through more than one basin."""
    lowest = int(np.nanargmin(z))
    return any(z[i] < z[i - 1] and z[i] < z[i + 1] and z[i] < z[lowest] + above
               for i in range(1, len(z) - 1) if i != lowest)


def slice_metrics(x: np.ndarray, z: np.ndarray, thresholds: tuple[float, ...]) -> SliceMetrics:
    """Metrics of the curve z(x) on an evenly spaced grid (every point computed)."""
    if len(x) < 5:
        raise LandscapeError(f"a slice needs at least 5 points to measure; got {len(x)}")
    if not np.isfinite(z).any():
        raise LandscapeError("the slice has no finite loss")
    start = int(np.nanargmin(z))
    window = slice(max(start - 2, 0), min(start + 3, len(x)))
    keep = np.isfinite(z[window])
    curvature = 2 * np.polyfit(x[window][keep], z[window][keep], 2)[0] if keep.sum() >= 3 else float("nan")
    return SliceMetrics(float(z[start]), float(x[start]), float(curvature),
                        tuple(interval(x, z, start, d) for d in thresholds))
