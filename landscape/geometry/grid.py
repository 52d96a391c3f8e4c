"""The grid of (α, β) points a surface is evaluated on: parsed once from 'START:STOP:NUM' specs.

Stage: planning. Points are enumerated row-major over [iy, ix], the storage order of the
surface file, so a flat point index is also the flat index into every stored array.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.errors import LandscapeError

AUTO = "auto"  # an axis spec 'auto:NUM' is fitted to a training path (see `fit_axes`)
MAX_POINTS = 10_000_000  # more would take months to evaluate; refused before anything is allocated
MAX_COORDINATE = 1e4  # |α|, |β| beyond this put the weights 10⁴ direction lengths away: a typo, not a landscape


def require_size(shape: tuple[int, ...]) -> None:
    points = int(np.prod(shape, dtype=np.float64))
    if points > MAX_POINTS:
        raise LandscapeError(f"a grid of {' × '.join(map(str, shape))} = {points:,} points is too large "
                             f"(at most {MAX_POINTS:,}); use fewer points per axis")


@dataclass(frozen=True)
class Axis:
    """Evenly spaced coordinates start..stop (inclusive) with num points."""

    start: float
    stop: float
    num: int

    @classmethod
    def parse(cls, spec: str) -> Axis:
        """'START:STOP:NUM', e.g. '-1:1:51'; NUM ≥ 2 and START < STOP (or NUM = 1 and START = STOP)."""
        parts = spec.split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise LandscapeError(f"grid spec {spec!r} is not START:STOP:NUM (e.g. -1:1:51)") from None
        if not all(np.isfinite((start, stop))) or max(abs(start), abs(stop)) > MAX_COORDINATE:
            raise LandscapeError(f"grid spec {spec!r} needs finite bounds within ±{MAX_COORDINATE:g} (multiples of "
                                 f"the direction; -1:1 is the usual range)")
        if num < 1 or (num == 1) != (start == stop) or start > stop:
            raise LandscapeError(f"grid spec {spec!r} needs START < STOP and NUM >= 2 (or START = STOP, NUM = 1)")
        return cls(start, stop, num)

    def coordinates(self) -> np.ndarray:
        """The num coordinates; one within rounding of 0 is exactly 0, so the model itself is that grid point."""
        xs = np.linspace(self.start, self.stop, self.num, dtype=np.float64)
        xs[np.abs(xs) <= 1e-12 * (self.stop - self.start)] = 0.0
        return xs

    def __str__(self) -> str:
        return f"{self.start:.10g}:{self.stop:.10g}:{self.num}"


@dataclass(frozen=True)
class Grid:
    """A 1-D (y None) or 2-D grid; points are enumerated row-major over [iy, ix]."""

    x: Axis
    y: Axis | None = None

    def __post_init__(self):
        require_size(self.shape)

    @classmethod
    def parse(cls, x: str, y: str | None = None) -> Grid:
        return cls(Axis.parse(x), Axis.parse(y) if y else None)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.x.num,) if self.y is None else (self.y.num, self.x.num)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def points(self) -> np.ndarray:
        """[num_points, 2] (α, β), the coefficients of directions x and y, in storage order (β = 0 on
        a 1-D grid)."""
        xs = self.x.coordinates()
        if self.y is None:
            return np.stack([xs, np.zeros_like(xs)], axis=1)
        beta, alpha = np.meshgrid(self.y.coordinates(), xs, indexing="ij")
        return np.stack([alpha.ravel(), beta.ravel()], axis=1)

    def covers(self, points: np.ndarray) -> bool:
        """True if every (α, β) row of `points` lies inside the grid's rectangle."""
        axes = (self.x, self.y)
        return all(a.start <= points[:, i].min() and points[:, i].max() <= a.stop for i, a in enumerate(axes))


@dataclass(frozen=True)
class SliceGrid:
    """`count` one-dimensional slices through the model, slice k along direction k alone.

    Stored as rows [k, ix]; point (k, ix) has coefficient x[ix] on direction k and 0 on the others.
    """

    x: Axis
    count: int

    def __post_init__(self):
        if self.count < 1:
            raise LandscapeError(f"--directions must be at least 1; got {self.count}")
        require_size(self.shape)

    @property
    def y(self) -> None:
        """Slices have no β axis (rows are directions)."""
        return None

    @property
    def shape(self) -> tuple[int, int]:
        return (self.count, self.x.num)

    @property
    def ndim(self) -> int:
        return 1

    def points(self) -> np.ndarray:
        """[count · nx, count] coefficients of every direction, in storage order."""
        xs = self.x.coordinates()
        out = np.zeros((self.count, len(xs), self.count))
        for k in range(self.count):
            out[k, :, k] = xs
        return out.reshape(-1, self.count)


def is_auto(spec: str | None) -> bool:
    return bool(spec) and spec.split(":")[0] == AUTO


def auto_points(spec: str) -> int:
    """NUM of an 'auto:NUM' spec (at least 3: the origin and a point on each side of it)."""
    try:
        _, num = spec.split(":")
        if int(num) < 3:
            raise ValueError
        return int(num)
    except ValueError:
        raise LandscapeError(f"grid spec {spec!r} is not auto:NUM with NUM >= 3 (e.g. auto:31)") from None


def fit_axes(points: np.ndarray, nums: tuple[int, int], margin: float = 0.1) -> Grid:
    """A grid of nums = (nx, ny ≥ 3) points holding the [n, 2] points and the origin with a margin on
    every side, the origin (the model itself) a grid point and the spacing rounded up to two
    significant digits: the plane's minimum is then never worse than the model's own loss."""
    return Grid(*(axis_through_origin(column, num, margin) for column, num in zip(points.T, nums)))


def axis_through_origin(values: np.ndarray, num: int, margin: float) -> Axis:
    """The smallest two-significant-digit spacing h and a k with -k·h ≤ min - pad, (num - 1 - k)·h ≥
    max + pad, where pad = margin × the span of the values and 0."""
    low, high = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    pad = margin * max(high - low, 1e-3)
    below, above = pad - low, high + pad  # distances from 0 to each end, both > 0
    exponent = int(np.floor(np.log10((below + above) / (num - 1)))) - 1
    mantissa = int(np.ceil((below + above) / (num - 1) / 10.0 ** exponent - 1e-9))  # 10..100
    while True:
        step = float(f"{mantissa}e{exponent}")
        left, right = int(np.ceil(below / step - 1e-9)), int(np.ceil(above / step - 1e-9))
        if left + right <= num - 1:
            break
        mantissa, exponent = (mantissa + 1, exponent) if mantissa < 99 else (10, exponent + 1)
    left += (num - 1 - left - right) // 2  # spare points split between the two sides
    return Axis(float(f"{-left * mantissa}e{exponent}"), float(f"{(num - 1 - left) * mantissa}e{exponent}"), num)


def require_covers(grid: Grid, points: np.ndarray) -> None:
    """Refuse a grid that would leave part of a training path off the figure, suggesting one."""
    if grid.covers(points):
        return
    fitted = fit_axes(points, (grid.x.num, grid.y.num))
    raise LandscapeError(f"the training path spans α ∈ [{points[:, 0].min():.3g}, {points[:, 0].max():.3g}], "
                         f"β ∈ [{points[:, 1].min():.3g}, {points[:, 1].max():.3g}], outside the grid; "
                         f"try --x={fitted.x} --y={fitted.y} (or --x=auto:{grid.x.num} --y=auto:{grid.y.num})")
