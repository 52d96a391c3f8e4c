"""Directions in weight space: random (filter-normalised, Li et al. 2018), towards a target, or
the principal axes of a training path.

Stage: model → directions. A direction is a dict from parameter (or buffer) name to a
tensor of that entry's shape, so it can be saved by name and checked against any model.
Nothing here evaluates a model.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from landscape.errors import LandscapeError, require_choice
from landscape.geometry.options import DIRECTION_TYPES, NORMALIZATIONS, DirectionOptions

Direction = dict[str, torch.Tensor]


def model_entries(model: nn.Module, dir_type: str) -> dict[str, torch.Tensor]:
    """The tensors a direction moves: parameters, plus float buffers (BN statistics) for 'states'."""
    require_choice("direction type", dir_type, DIRECTION_TYPES)
    entries = dict(model.named_parameters())
    if dir_type == "states":
        entries.update({k: v for k, v in model.named_buffers() if v.is_floating_point()})
    return entries


def filter_normalize(direction: torch.Tensor, weight: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Rescale each output filter (slice along dim 0) of `direction` to the norm of that filter
    of `weight` (Li et al. 2018, section 4), which removes the scale invariance of ReLU-like nets."""
    d = direction.flatten(1)
    w = weight.flatten(1)
    scale = w.norm(dim=1, keepdim=True) / (d.norm(dim=1, keepdim=True) + eps)
    return (d * scale).view_as(direction)


def normalize_tensor(direction: torch.Tensor, weight: torch.Tensor, norm: str) -> torch.Tensor:
    """One entry of a direction normalised against the trained tensor (1-D tensors count as one filter)."""
    if norm == "filter" and direction.dim() > 1:
        return filter_normalize(direction, weight)
    if norm in ("filter", "layer"):
        return direction * (weight.norm() / (direction.norm() + 1e-10))
    if norm == "weight":
        return direction * weight
    if norm == "none":
        return direction
    raise LandscapeError(f"unknown normalisation {norm!r}; expected one of {', '.join(NORMALIZATIONS)}")


def random_direction(model: nn.Module, options: DirectionOptions, generator: torch.Generator) -> Direction:
    """A Gaussian direction shaped like the model, normalised per `options.norm`.

    1-D entries follow Li et al.'s code: biases and BatchNorm parameters are zero when
    options.ignore_biasbn, else the direction is the entry itself (d = w, so α scales it by 1 + α);
    with dir_type "states" the BatchNorm running statistics always move that way (d = w), which
    keeps every running variance non-negative for α ≥ −1 (a random draw would drive them negative).
    Draws come from `generator` on the CPU, so the result does not depend on the device; one draw
    is made for every entry, used or not, so the sequence never depends on these choices.
    """
    buffers = {name for name, _ in model.named_buffers()}
    direction = {}
    for name, weight in model_entries(model, options.dir_type).items():
        w = weight.detach().cpu().float()
        noise = torch.randn(w.shape, generator=generator)
        if w.dim() > 1:
            direction[name] = normalize_tensor(noise, w, options.norm)
        elif name in buffers or not options.ignore_biasbn:
            direction[name] = w.clone()
        else:
            direction[name] = torch.zeros_like(w)
    return direction


def direction_sha256(direction: Direction) -> str:
    """The identity of a direction by content: its entries' names and float32 values, by name."""
    digest = hashlib.sha256()
    for name in sorted(direction):
        digest.update(name.encode())
        digest.update(direction[name].detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def dot(a: Direction, b: Direction) -> float:
    return float(sum((a[k].double() * b[k].double()).sum() for k in a))


def cosine(a: Direction, b: Direction) -> float:
    """Cosine of the angle between two directions, as flat vectors."""
    return dot(a, b) / max((dot(a, a) * dot(b, b)) ** 0.5, 1e-300)


def orthogonalize(y: Direction, x: Direction) -> Direction:
    """y minus its projection on x (Gram–Schmidt), rescaled to y's original overall norm.

    A single global rescale keeps the result exactly orthogonal; per-filter norms of y then
    differ from the weights' by that one common factor.
    """
    coefficient = dot(y, x) / dot(x, x)
    projected = {k: y[k] - coefficient * x[k] for k in y}
    scale = (dot(y, y) / dot(projected, projected)) ** 0.5
    return {k: v * scale for k, v in projected.items()}


def random_directions(model: nn.Module, options: DirectionOptions, count: int) -> list[Direction]:
    """`count` (1 or 2) independent random directions from one generator seeded by options.seed."""
    generator = torch.Generator().manual_seed(options.seed)
    directions = [random_direction(model, options, generator) for _ in range(count)]
    if count == 2 and options.orthogonalize:
        directions[1] = orthogonalize(directions[1], directions[0])
    return directions


def target_direction(model: nn.Module, target: nn.Module, dir_type: str = "weights") -> Direction:
    """θ_target − θ for every entry, unnormalised: α = 1 lands exactly on the target model."""
    ours, theirs = model_entries(model, dir_type), model_entries(target, dir_type)
    check_compatible(ours, {k: v.detach() for k, v in theirs.items()}, "target model")
    return {k: (theirs[k].detach().cpu().float() - v.detach().cpu().float()) for k, v in ours.items()}


def check_compatible(entries: dict[str, torch.Tensor], direction: Direction, what: str) -> None:
    """Refuse a direction whose names or shapes differ from the model's entries."""
    missing, extra = sorted(set(entries) - set(direction)), sorted(set(direction) - set(entries))
    if missing or extra:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        raise LandscapeError(f"{what} does not fit the model: parameter names differ ({detail})")
    for name, tensor in entries.items():
        if tuple(direction[name].shape) != tuple(tensor.shape):
            raise LandscapeError(f"{what} does not fit the model: {name} has shape "
                                 f"{tuple(direction[name].shape)}, the model's is {tuple(tensor.shape)}")


def require_length(direction: Direction, what: str) -> None:
    """Refuse a direction that is zero (a flat 'surface' of one point) or holds NaN or inf."""
    length = math.sqrt(dot(direction, direction))
    if not math.isfinite(length):
        raise LandscapeError(f"{what} holds NaN or inf values")
    if length == 0:
        raise LandscapeError(f"{what} is zero: every point of the grid would be the model itself (a --target with "
                             f"the same weights as the checkpoint?)")


@dataclass(frozen=True)
class TrajectoryPlane:
    """The plane that best holds a training path, and the path's coordinates in it."""

    directions: list[Direction]  # x and y: orthonormal, in raw weight units
    coordinates: np.ndarray  # [n, 2] (α, β) of each snapshot; the final model is (0, 0)
    explained_variance: list[float]  # share of the path's variance along x and y


def trajectory_pca(final: dict[str, torch.Tensor], snapshots: list[dict[str, torch.Tensor]],
                   ignore_biasbn: bool = True) -> TrajectoryPlane:
    """Li et al. (2018, section 7): PCA of the differences θ_i − θ_final over the snapshots.

    The centred differences' top two principal axes become directions x and y (unit norm and
    not filter-normalised, so α and β are distances in weight space); the path's coordinates
    are the projections of the uncentred differences. 1-D entries are left out (zero in the
    directions) when ignore_biasbn, as for random directions. Each axis is signed so that the
    first snapshot has a non-negative coordinate, which makes the result reproducible.
    """
    if len(snapshots) < 2:
        raise LandscapeError(f"a training path needs at least 2 snapshots to span a plane; got {len(snapshots)}")
    for i, snapshot in enumerate(snapshots):
        check_compatible(final, snapshot, f"snapshot {i}")
    kept = [k for k, v in final.items() if not (ignore_biasbn and v.dim() <= 1)]
    rows = torch.stack([torch.cat([(s[k].detach().cpu().double() - final[k].detach().cpu().double()).flatten()
                                   for k in kept]) for s in snapshots])
    _, singular, axes = torch.linalg.svd(rows - rows.mean(0), full_matrices=False)
    if len(singular) < 2 or singular[1] <= 1e-5 * max(float(singular[0]), 1e-300):  # float32 rounding is ~1e-7
        raise LandscapeError("the snapshots lie on a line (or coincide): they do not span a plane")
    axes = axes[:2]
    coordinates = rows @ axes.T
    signs = torch.where(coordinates[0] < 0, -1.0, 1.0).to(axes.dtype)
    axes, coordinates = axes * signs[:, None], coordinates * signs
    directions = []
    for axis in axes:
        pieces = dict(zip(kept, axis.float().split([final[k].numel() for k in kept])))
        directions.append({k: pieces[k].view_as(v).clone() if k in pieces else torch.zeros(v.shape)
                           for k, v in final.items()})
    variance = singular ** 2
    return TrajectoryPlane(directions, coordinates.numpy(), (variance[:2] / variance.sum()).tolist())
