"""Numbers for the width and smoothness of a surface: pure numpy functions of its arrays.

Stage: HDF5 → metrics. Nothing here needs a model: minimum, sublevel-set widths, curvature of
a local quadratic fit, local minima, roughness and in-plane convexity, from the grid values.
"""
from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from landscape.errors import LandscapeError, LandscapeWarning
from landscape.metrics.options import DEFAULT_THRESHOLDS
from landscape.storage.schema import Surface


@dataclass(frozen=True)
class Width:
    """The connected sublevel set {loss < min + delta} that contains the minimum."""

    delta: float
    grid_fraction: float  # share of grid points in the set
    area: float  # in squared direction units (2-D) or length (1-D)
    radius: float  # radius of the disc of that area (2-D) or half the interval length (1-D)


@dataclass(frozen=True)
class SurfaceMetrics:
    metric: str
    minimum: float
    argmin: tuple[float, ...]  # grid point coordinates (α[, β])
    argmin_fit: tuple[float, ...]  # sub-grid location from a local quadratic fit
    widths: list[Width]
    hessian: list[list[float]]  # of the quadratic fit around the minimum, in direction units
    hessian_eigenvalues: list[float]
    condition_number: float
    local_minima: int  # strict local minima on the grid (8-neighbourhood)
    roughness: float  # RMS residual of a quartic fit over the widest basin
    nonconvex_fraction: float  # basin points whose finite-difference Hessian has a negative eigenvalue
    mean_eigen_ratio: float  # mean |λmin/λmax| of those finite-difference Hessians (Li et al. 2018, §6)

    def flat(self) -> dict:
        """One level of keys, for tables, CSV and HDF5 attributes."""
        out = {k: v for k, v in asdict(self).items() if k != "widths"}
        for w in self.widths:
            out[f"width_fraction_{w.delta:g}"] = w.grid_fraction
            out[f"width_radius_{w.delta:g}"] = w.radius
        return out


def finite_values(surface: Surface, metric: str) -> np.ndarray:
    """The metric's array with pending and non-finite points as NaN (LandscapeError if absent or
    empty). Finished points whose value is inf or NaN (a diverged model) stay so in the file; here
    they are masked with a warning."""
    if metric not in surface.values:
        raise LandscapeError(f"{surface.path} has no {metric!r}; it has {', '.join(sorted(surface.values))}")
    if not surface.done.any():
        raise LandscapeError(f"{surface.path} has no finished points yet")
    values = surface.values[metric]
    finite = surface.done & np.isfinite(values)
    if not finite.any():
        raise LandscapeError(f"{surface.path} holds no finite {metric}: every computed point is NaN or inf")
    diverged = int((surface.done & ~np.isfinite(values)).sum())
    if diverged:
        warnings.warn(f"{surface.path}: {diverged} finished point(s) of {metric} are not finite (inf or NaN, "
                      f"e.g. where the model diverges); they are masked", LandscapeWarning, stacklevel=2)
    return np.where(finite, values, np.nan)


def neighbours(shape: tuple[int, int], iy: int, ix: int):
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if (dy or dx) and 0 <= iy + dy < shape[0] and 0 <= ix + dx < shape[1]:
                yield iy + dy, ix + dx


def basin(z: np.ndarray, start: tuple[int, int], level: float) -> np.ndarray:
    """Boolean mask of the 8-connected component of {z < level} that contains `start`."""
    inside = np.zeros(z.shape, dtype=bool)
    queue = deque([start])
    inside[start] = True
    while queue:
        point = queue.popleft()
        for n in neighbours(z.shape, *point):
            if not inside[n] and z[n] < level:
                inside[n] = True
                queue.append(n)
    return inside


def strict_local_minima(z: np.ndarray) -> int:
    """Points lower than every finite neighbour (NaN points are neither minima nor walls)."""
    count = 0
    for iy, ix in zip(*np.nonzero(np.isfinite(z))):
        values = [z[n] for n in neighbours(z.shape, iy, ix) if np.isfinite(z[n])]
        count += bool(values) and all(z[iy, ix] < v for v in values)
    return count


def polynomial_design(a: np.ndarray, b: np.ndarray, degree: int) -> np.ndarray:
    return np.stack([a ** i * b ** j for i in range(degree + 1) for j in range(degree + 1 - i)], axis=1)


def quadratic_fit(a: np.ndarray, b: np.ndarray, z: np.ndarray, two_d: bool):
    """Least-squares z ≈ c + gᵀd + ½ dᵀHd around (0, 0); returns (g, H)."""
    if two_d:
        design = np.stack([np.ones_like(a), a, b, a * a / 2, a * b, b * b / 2], axis=1)
        c = np.linalg.lstsq(design, z, rcond=None)[0]
        return c[1:3], np.array([[c[3], c[4]], [c[4], c[5]]])
    c = np.linalg.lstsq(np.stack([np.ones_like(a), a, a * a / 2], axis=1), z, rcond=None)[0]
    return c[1:2], np.array([[c[2]]])


def fit_window(x, y, z, iy, ix, half: int):
    """Coordinates relative to (x[ix], y[iy]) and values of the finite points in a window."""
    ys, xs = slice(max(iy - half, 0), iy + half + 1), slice(max(ix - half, 0), ix + half + 1)
    B, A = np.meshgrid(y[ys] - y[iy], x[xs] - x[ix], indexing="ij")
    window = z[ys, xs]
    keep = np.isfinite(window)
    return A[keep], B[keep], window[keep]


def finite_difference_hessians(z: np.ndarray, x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[k, 2, 2] central-difference Hessians at interior points of `mask` (uniform grid)."""
    hx, hy = x[1] - x[0], y[1] - y[0]
    out = []
    for iy, ix in zip(*np.nonzero(mask)):
        if 0 < iy < z.shape[0] - 1 and 0 < ix < z.shape[1] - 1:
            zxx = (z[iy, ix + 1] - 2 * z[iy, ix] + z[iy, ix - 1]) / hx ** 2
            zyy = (z[iy + 1, ix] - 2 * z[iy, ix] + z[iy - 1, ix]) / hy ** 2
            zxy = (z[iy + 1, ix + 1] - z[iy + 1, ix - 1] - z[iy - 1, ix + 1] + z[iy - 1, ix - 1]) / (4 * hx * hy)
            out.append([[zxx, zxy], [zxy, zyy]])
    return np.array(out).reshape(-1, 2, 2)


def sublevel_widths(z, start, cell: float, two_d: bool, thresholds) -> list[Width]:
    zmin = z[start]
    widths = []
    for delta in thresholds:
        inside = basin(z, start, zmin + delta)
        area = float(inside.sum() * cell)
        widths.append(Width(delta, float(inside.mean()), area, math.sqrt(area / math.pi) if two_d else area / 2))
    return widths


def quartic_roughness(z, x, y, start, mask) -> float:
    """RMS residual of a degree-4 polynomial fit over the points in `mask`: 0 for any smooth bowl of
    low order, the size of the bumps otherwise."""
    X, Y = np.meshgrid(x - x[start[1]], y - y[start[0]])
    design = polynomial_design(X[mask], Y[mask], 4)
    if mask.sum() <= design.shape[1]:
        return float("nan")
    residual = z[mask] - design @ np.linalg.lstsq(design, z[mask], rcond=None)[0]
    return float(np.sqrt(np.mean(residual ** 2)))


def planar_convexity(z, x, y, mask) -> tuple[float, float]:
    """(share of basin points with a negative in-plane curvature, mean |λmin/λmax|) from
    finite-difference Hessians: Li et al.'s convexity map, restricted to the plotted plane."""
    if z.shape[0] < 3:
        return float("nan"), float("nan")
    eig = np.linalg.eigvalsh(finite_difference_hessians(z, x, y, mask))
    eig = eig[np.all(np.isfinite(eig), axis=1)]
    if not len(eig):
        return float("nan"), float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.abs(eig[:, 0] / eig[:, 1])
    return float(np.mean(eig[:, 0] < 0)), float(np.nanmean(ratios))


def surface_metrics(surface: Surface, metric: str = "train_loss",
                    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS, fit_half_width: int = 2) -> SurfaceMetrics:
    """`measure` applied to one stored surface's `metric` (pending points ignored)."""
    return measure(finite_values(surface, metric), surface.x, surface.y, metric, thresholds, fit_half_width)


def measure(values: np.ndarray, x: np.ndarray, y: np.ndarray | None, metric: str = "train_loss",
            thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS, fit_half_width: int = 2) -> SurfaceMetrics:
    """Minimum, widths, curvature and smoothness of `values` ([ny, nx] on x, y, or [nx] on x with
    y None; NaN points ignored).

    Curvature comes from a least-squares quadratic over the (2·fit_half_width + 1)² window
    around the grid minimum; its stationary point, if inside one cell, refines the minimum.
    """
    two_d = y is not None
    z = values if two_d else values[None, :]  # 1-D surfaces are handled as one row
    y = y if two_d else np.zeros(1)
    start = np.unravel_index(int(np.nanargmin(z)), z.shape)
    step = np.array([x[1] - x[0] if len(x) > 1 else 1.0, y[1] - y[0] if len(y) > 1 else 1.0])
    grid_point = np.array([x[start[1]], y[start[0]]])[:2 if two_d else 1]
    g, H = quadratic_fit(*fit_window(x, y, z, *start, fit_half_width), two_d)
    eig = np.linalg.eigvalsh(H)
    offset = -np.linalg.solve(H, g) if np.all(eig > 0) else np.zeros_like(g)
    refined = grid_point + np.clip(offset, -step[:len(g)], step[:len(g)])
    widest = basin(z, start, z[start] + max(thresholds))
    nonconvex, ratio = planar_convexity(z, x, y, widest) if two_d else (float("nan"), float("nan"))
    return SurfaceMetrics(
        metric=metric, minimum=float(z[start]), argmin=tuple(grid_point.tolist()),
        argmin_fit=tuple(refined.tolist()),
        widths=sublevel_widths(z, start, float(step[0] * (step[1] if two_d else 1.0)), two_d, thresholds),
        hessian=H.tolist(), hessian_eigenvalues=eig.tolist(),
        condition_number=float(abs(eig[-1] / eig[0])) if eig[0] != 0 else math.inf,
        local_minima=strict_local_minima(z), roughness=quartic_roughness(z, x, y, start, widest),
        nonconvex_fraction=nonconvex, mean_eigen_ratio=ratio)
