"""Numbers for width and smoothness: from a surface file (no model) and from a checkpoint.

Stage: HDF5 / checkpoint → metrics. Surface metrics are pure numpy functions of the grid;
model metrics use Hessian-vector products (double backward) and forward hooks. Results are
plain dataclasses; `storage.write_metrics` stores surface metrics back into the file.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .activations import AutogradMish, Swish
from .errors import LandscapeError
from .storage import Surface

DEFAULT_THRESHOLDS = (0.1, 0.5, 1.0)


# ---------------------------------------------------------------- from a surface
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
    if metric not in surface.values:
        raise LandscapeError(f"{surface.path} has no {metric!r}; it has {', '.join(sorted(surface.values))}")
    if not surface.done.any():
        raise LandscapeError(f"{surface.path} has no finished points yet")
    z = np.where(surface.done, surface.values[metric], np.nan)
    return z if z.ndim == 2 else z[None, :]  # 1-D surfaces are handled as one row


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
    """Minimum, widths, curvature and smoothness of one surface's `metric` (pending points ignored).

    Curvature comes from a least-squares quadratic over the (2·fit_half_width + 1)² window
    around the grid minimum; its stationary point, if inside one cell, refines the minimum.
    """
    z = finite_values(surface, metric)
    two_d = surface.ndim == 2
    x, y = surface.x, (surface.y if two_d else np.zeros(1))
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


# ---------------------------------------------------------------- from a model
@dataclass(frozen=True)
class HessianSpectrum:
    """Top eigenvalues (largest magnitude first) and Hutchinson trace of the loss Hessian."""

    eigenvalues: list[float]
    trace: float
    trace_ci95: float  # half-width of the 95 % confidence interval of the trace estimate
    trace_samples: int
    images: int


@dataclass(frozen=True)
class DeadUnits:
    """Per activation site: channels never positive, and channels below eps in magnitude everywhere."""

    site: str
    channels: int
    never_positive: float
    below_eps: float


@dataclass(frozen=True)
class LossSpread:
    """The loss at the checkpoint and its standard error over the N images."""

    loss: float
    standard_error: float
    images: int


def batches(inputs: torch.Tensor, labels: torch.Tensor, batch_size: int):
    for start in range(0, len(labels), batch_size):
        yield inputs[start:start + batch_size], labels[start:start + batch_size]


def hessian_vector_product(model: nn.Module, params: list[torch.Tensor], inputs: torch.Tensor,
                           labels: torch.Tensor, vector: list[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
    """H·v for the mean cross-entropy over all inputs, by double backward, batch by batch."""
    total = [torch.zeros_like(p) for p in params]
    for x, y in batches(inputs, labels, batch_size):
        loss = F.cross_entropy(model(x), y, reduction="sum") / len(labels)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=vector)
        for t, h in zip(total, hv):
            t += h.detach()
    return total


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def _normalised(v: list[torch.Tensor]) -> list[torch.Tensor]:
    norm = torch.sqrt(_dot(v, v))
    return [x / norm for x in v]


@dataclass(frozen=True)
class HessianOptions:
    """Power iteration (top_k eigenvalues, at most `iterations` each, stopping at relative change
    `tolerance`) and Hutchinson's trace (`trace_samples` Rademacher vectors)."""

    top_k: int = 3
    trace_samples: int = 20
    iterations: int = 50
    tolerance: float = 1e-3
    batch_size: int = 200
    seed: int = 0


def hessian_spectrum(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                     options: HessianOptions = HessianOptions(), quiet: bool = False) -> HessianSpectrum:
    """Top-k eigenvalues by power iteration with deflation, and the trace by Hutchinson's estimator
    (E[vᵀHv] with Rademacher v), of the training loss at the model's current weights, eval mode."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(options.seed)
    bar = tqdm(total=options.top_k * options.iterations + options.trace_samples, desc="hessian", unit="hvp",
               disable=quiet or None)

    def hvp(v):
        bar.update()
        return hessian_vector_product(model, params, inputs, labels, v, options.batch_size)

    eigenvalues, eigenvectors = [], []
    for _ in range(options.top_k):
        v = _normalised([torch.randn(p.shape, generator=generator).to(p) for p in params])
        value = 0.0
        for _ in range(options.iterations):
            for u in eigenvectors:  # deflation: stay orthogonal to the eigenvectors found so far
                v = [a - _dot(v, u) * b for a, b in zip(v, u)]
            hv = hvp(v)
            new_value = float(_dot(hv, v))
            v = _normalised(hv)
            converged = abs(new_value - value) <= options.tolerance * (abs(value) + 1e-12)
            value = new_value
            if converged:
                break
        eigenvalues.append(value)
        eigenvectors.append(v)
    estimates = []
    for _ in range(options.trace_samples):
        v = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params]
        estimates.append(float(_dot(hvp(v), v)))
    bar.close()
    spread = float(np.std(estimates, ddof=1)) if len(estimates) > 1 else float("nan")
    return HessianSpectrum(eigenvalues, float(np.mean(estimates)), 1.96 * spread / math.sqrt(len(estimates)),
                           options.trace_samples, len(labels))


ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.Mish, AutogradMish, Swish, nn.SiLU, nn.GELU, nn.ELU, nn.Softplus)


def dead_units(model: nn.Module, inputs: torch.Tensor, eps: float = 1e-6, batch_size: int = 200) -> list[DeadUnits]:
    """For every activation module: the share of channels (dim 1) whose output is never > 0, and
    the share whose |output| < eps for every image and position (the dying-ReLU measure)."""
    model.eval()
    peaks: dict[str, list[torch.Tensor]] = {}

    def record(name):
        def hook(_module, _inputs, output):
            dims = [d for d in range(output.dim()) if d != 1]
            maxima = output.detach().float().amax(dim=dims)
            magnitude = output.detach().float().abs().amax(dim=dims)
            if name in peaks:
                peaks[name] = [torch.maximum(peaks[name][0], maxima), torch.maximum(peaks[name][1], magnitude)]
            else:
                peaks[name] = [maxima, magnitude]
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in model.named_modules() if isinstance(m, ACTIVATION_TYPES)]
    if not handles:
        raise LandscapeError("the model has no activation modules to inspect for dead units")
    try:
        with torch.inference_mode():
            for start in range(0, len(inputs), batch_size):
                model(inputs[start:start + batch_size])
    finally:
        for h in handles:
            h.remove()
    return [DeadUnits(name, len(maxima), float((maxima <= 0).float().mean()), float((magnitude < eps).float().mean()))
            for name, (maxima, magnitude) in peaks.items()]


def loss_spread(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 200) -> LossSpread:
    """Mean loss and its standard error (std of per-image losses / √N): the noise floor for
    comparing two models' losses on the same N images."""
    model.eval()
    with torch.inference_mode():
        losses = torch.cat([F.cross_entropy(model(x).float(), y, reduction="none")
                            for x, y in batches(inputs, labels, batch_size)]).double()
    return LossSpread(float(losses.mean()), float(losses.std() / math.sqrt(len(losses))), len(losses))


@dataclass(frozen=True)
class CheckpointMetrics:
    checkpoint: str
    activation: str
    spread: LossSpread
    hessian: HessianSpectrum | None = None
    dead: list[DeadUnits] = field(default_factory=list)

    def flat(self) -> dict:
        out = {"checkpoint": self.checkpoint, "activation": self.activation, "loss": self.spread.loss,
               "loss_standard_error": self.spread.standard_error, "images": self.spread.images}
        if self.hessian:
            out.update({f"hessian_eig_{i + 1}": v for i, v in enumerate(self.hessian.eigenvalues)})
            out.update({"hessian_trace": self.hessian.trace, "hessian_trace_ci95": self.hessian.trace_ci95})
        if self.dead:
            total = sum(d.channels for d in self.dead)
            out["dead_never_positive"] = sum(d.never_positive * d.channels for d in self.dead) / total
            out["dead_below_eps"] = sum(d.below_eps * d.channels for d in self.dead) / total
        return out


# ---------------------------------------------------------------- orchestration
@dataclass(frozen=True)
class MetricsConfig:
    """What `landscape metrics` computes; defaults match the CLI's."""

    surfaces: tuple[str, ...] = ()
    checkpoints: tuple[str, ...] = ()
    metric: str = "train_loss"
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    store: bool = True
    data: str | None = None
    split: str = "train"
    samples: int = 1000
    data_seed: int = 0
    hessian: HessianOptions | None = None  # None: skip the Hessian
    dead_units: bool = False
    eps: float = 1e-6
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self):
        if not self.surfaces and not self.checkpoints:
            raise LandscapeError("give at least one surface file or --checkpoint")
        if any(t <= 0 for t in self.thresholds):
            raise LandscapeError(f"--thresholds must be positive; got {self.thresholds}")


def checkpoint_metrics(path: str, config: MetricsConfig) -> CheckpointMetrics:
    from .checkpoint import load_checkpoint
    from .data import balanced_subset, load_cifar10
    from .evaluate import prepare_inputs
    from .runtime import resolve_device

    device = resolve_device(config.device)
    model, meta = load_checkpoint(path)
    model = model.to(device)
    images = load_cifar10(config.data, config.split, quiet=True)
    chosen = images.subset(balanced_subset(images.labels, min(config.samples, len(images)), config.data_seed))
    inputs, labels = prepare_inputs(chosen.images, device), chosen.labels.to(device)
    return CheckpointMetrics(
        str(path), str(meta.get("activation")), loss_spread(model, inputs, labels),
        hessian_spectrum(model, inputs, labels, config.hessian, config.quiet) if config.hessian else None,
        dead_units(model, inputs, config.eps) if config.dead_units else [])


def run_metrics(config: MetricsConfig) -> list[dict]:
    """One flat row per surface and per checkpoint; surface metrics are also stored in their files."""
    from .storage import read_surface, write_metrics

    rows = []
    for path in config.surfaces:
        surface = read_surface(path)
        result = surface_metrics(surface, config.metric, config.thresholds)
        row = {"source": str(path), "activation": surface.attrs.get("activation"), **result.flat()}
        if config.store:
            write_metrics(path, {**result.flat(), "widths": [asdict(w) for w in result.widths]})
        rows.append(row)
    for path in config.checkpoints:
        rows.append({"source": str(path), **checkpoint_metrics(path, config).flat()})
    return rows


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of the scalar columns (lists are left to JSON)."""
    every_key = dict.fromkeys(k for r in rows for k in r)
    columns = [k for k in every_key if not any(isinstance(r.get(k), (list, tuple, dict)) for r in rows)]

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


def write_rows(rows: list[dict], json_path: str | None, csv_path: str | None) -> None:
    import csv
    import json

    if json_path:
        with open(json_path, "w") as f:
            json.dump(rows, f, indent=2)
    if csv_path:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows({k: json.dumps(v) if isinstance(v, (list, tuple, dict)) else v for k, v in r.items()}
                             for r in rows)
