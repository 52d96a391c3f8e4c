"""`landscape connect`: the loss along a path between two trained models (mode connectivity).

Stage: checkpoints → a 1-D surface. The path is the straight line φ(t) = (1 − t)·A + t·B (Frankle
et al. 2020) or the quadratic Bézier curve φ(t) = (1 − t)²·A + 2t(1 − t)·θ + t²·B through a trained
bend θ (Garipov et al. 2018; `training/curve.py` trains it). Interpolated weights with the endpoints'
interpolated BatchNorm statistics mislead (the statistics no longer describe the activations), so
by default every point's statistics are estimated again on training images (`bn` recompute);
`keep` interpolates them with the weights, and then t = 0 and t = 1 are exactly A and B. The result
is a 1-D surface file over t (plotted and reported like any other), resumable point by point; its
barrier is the highest loss along the path above the mean of the endpoints' losses.
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from landscape.errors import LandscapeError
from landscape.evaluation.contract import checked_model
from landscape.evaluation.evaluate import EvalSet, evaluate, load_eval_set, prepare_inputs, value_names
from landscape.files import exclusive_writer
from landscape.geometry.grid import Axis
from landscape.progress import progress
from landscape.runtime import library_versions, resolve_device
from landscape.sources.checkpoint import load_model
from landscape.sources.data import augment, balanced_subset
from landscape.sources.datasets import load_split
from landscape.storage.schema import SurfaceHeader
from landscape.storage.surface_file import create_surface_file, read_header, read_surface, write_metrics, write_points
from landscape.surfaces.config import ConnectConfig

State = dict[str, torch.Tensor]


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def bn_mode(config: ConnectConfig, model: nn.Module) -> str:
    """recompute, keep, or none (a model without BatchNorm has no statistics to treat)."""
    if not has_batchnorm(model):
        return "none"
    return "recompute" if config.bn == "auto" else config.bn


def path_state(t: float, a: State, b: State, bend: State | None = None) -> State:
    """φ(t) for every floating-point entry of the state (weights and BatchNorm statistics); integer
    entries (batch counters) are A's. At t = 0 and t = 1 the result is exactly A or B."""
    out = {}
    for name, start in a.items():
        if not start.is_floating_point():
            out[name] = start
        elif bend is None:
            out[name] = start if t == 0 else b[name] if t == 1 else (1 - t) * start + t * b[name]
        else:
            out[name] = start if t == 0 else b[name] if t == 1 else \
                (1 - t) ** 2 * start + 2 * t * (1 - t) * bend[name] + t ** 2 * b[name]
    return out


def recompute_batchnorm(model: nn.Module, inputs: torch.Tensor, batch_size: int) -> None:
    """Replace every BatchNorm's running statistics by their exact average over `inputs` (train-mode
    passes with cumulative averaging), then return the model to eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the mean over all batches seen
    model.train()
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            model(inputs[start:start + batch_size])
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def require_same_architecture(a: State, b: State, first: str, second: str) -> None:
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise LandscapeError(f"{first} and {second} are not the same architecture: a path between them is undefined")


def require_connectable(config: ConnectConfig) -> None:
    """Every model loads and all share one architecture, checked before any path is computed."""
    states = [load_model(path, config.model).model.state_dict() for path in config.checkpoints]
    for path, state in zip(config.checkpoints[1:], states[1:]):
        require_same_architecture(states[0], state, config.checkpoints[0], path)
    if len({Path(p).resolve() for p in config.checkpoints}) < len(config.checkpoints):
        raise LandscapeError("a checkpoint is given twice: a path needs two different models")


def batchnorm_images(config: ConnectConfig, device: torch.device) -> torch.Tensor:
    """The model inputs each point's BatchNorm statistics are estimated on: `bn_samples` class-
    balanced training images, augmented as training augments them (`bn_augment`; seeded), since
    the trained statistics were gathered on augmented batches. On clean images the statistics
    differ: the shipped ReLU ResNet-20's training loss on 1,000 images is 0.114 with its own
    statistics, 0.115 with statistics from augmented images and 0.235 from clean ones."""
    train = load_split(config.dataset, config.data, "train", quiet=True)
    if not 0 < config.bn_samples <= len(train):
        raise LandscapeError(f"--bn-samples {config.bn_samples}: the train split has {len(train):,} examples")
    chosen = train.subset(balanced_subset(train.labels, config.bn_samples, config.data_seed))
    images = chosen.images
    if config.bn_augment and images.dim() == 4 and not images.is_floating_point():
        images = augment(images, torch.Generator().manual_seed(config.data_seed))
    return prepare_inputs(images, device, chosen.mean, chosen.std, keep_uint8=False)


@dataclass(frozen=True)
class Endpoints:
    """Two loaded models of one architecture, their identities, and the path's images."""

    network: nn.Module  # the model itself: each point's state is loaded into it (A's on exit)
    model: nn.Module  # the same, checked and adapted to return its logits: what is scored
    a: State
    b: State
    sha256: tuple[str, str]
    metadata: dict
    sets: list[EvalSet]
    bn_images: torch.Tensor | None


def load_endpoints(config: ConnectConfig, first: str, second: str) -> Endpoints:
    device = resolve_device(config.device)
    loaded = [load_model(path, config.model) for path in (first, second)]
    a, b = ({k: v.detach().clone() for k, v in m.model.state_dict().items()} for m in loaded)
    require_same_architecture(a, b, first, second)
    sets = [load_eval_set(config.data, split, config.samples, config.data_seed, device, config.quiet, config.dataset)
            for split in config.splits]
    network = loaded[0].model.to(device)
    model = checked_model(network, sets, "cross_entropy", config.model.output_key)
    a = {k: v.to(device) for k, v in a.items()}
    b = {k: v.to(device) for k, v in b.items()}
    bn_images = batchnorm_images(config, device) if bn_mode(config, model) == "recompute" else None
    return Endpoints(network, model, a, b, (loaded[0].sha256, loaded[1].sha256), loaded[0].metadata, sets, bn_images)


def pair_path(config: ConnectConfig, first: str, second: str) -> Path:
    return Path(config.out_dir) / f"{Path(first).stem}__{Path(second).stem}_{config.curve}.h5"


def state_sha256(state: State) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def connect_header(config: ConnectConfig, ends: Endpoints, first: str, second: str, bend: State | None,
                   mode: str, grid: Axis) -> SurfaceHeader:
    meta, sets = ends.metadata, ends.sets
    data_sha = hashlib.sha256("".join(s.sha256 for s in sets).encode()).hexdigest()
    fingerprint = {"checkpoint_sha256": ends.sha256[0], "target_sha256": ends.sha256[1], "curve": config.curve,
                   "bend_sha256": state_sha256(bend) if bend is not None else None, "bn": mode,
                   "bn_samples": config.bn_samples if mode == "recompute" else None,
                   "bn_augment": config.bn_augment if mode == "recompute" else None, "grid": [str(grid), None],
                   "splits": list(config.splits), "samples": config.samples, "data_seed": config.data_seed,
                   "data_sha256": data_sha, "batch_size": config.batch_size}
    return SurfaceHeader(
        checkpoint=str(first), checkpoint_sha256=ends.sha256[0], architecture=meta.get("architecture"),
        depth=meta.get("depth"), activation=meta.get("activation"), activation_params=meta.get("activation_params", {}),
        checkpoint_test_acc=meta.get("test_acc"), checkpoint_test_loss=meta.get("test_loss"),
        model_factory=meta.get("model_factory"), model_args=meta.get("model_args", {}),
        direction_source="bezier" if bend is not None else "target", direction_norm="none", direction_type="states",
        target=str(second), target_sha256=ends.sha256[1], path_curve=config.curve, bn_statistics=mode,
        bn_samples=config.bn_samples if mode == "recompute" else None,
        bn_augment=config.bn_augment if mode == "recompute" else None, data_source=sets[0].source,
        dataset=config.dataset.name, data_sha256=data_sha, normalization_mean=sets[0].mean or (),
        normalization_std=sets[0].std or (), splits=tuple(config.splits), samples=len(sets[0].labels),
        data_seed=config.data_seed, grid_x=str(grid), batch_size=config.batch_size,
        device=str(sets[0].labels.device), versions=library_versions(), fingerprint=fingerprint)


def path_directions(ends: Endpoints, bend: State | None) -> list[dict[str, torch.Tensor]]:
    """What the file stores as its directions: B − A, and for a curve θ − A (floating entries, CPU)."""
    def minus(x: State) -> dict[str, torch.Tensor]:
        return {k: (x[k] - ends.a[k]).cpu() for k in ends.a if ends.a[k].is_floating_point()}
    return [minus(ends.b)] + ([minus(bend)] if bend is not None else [])


def barrier(losses: np.ndarray) -> tuple[float, int]:
    """The highest loss along the path minus the mean of its two endpoints' losses, and where it is."""
    top = int(np.nanargmax(losses))
    return float(losses[top] - (losses[0] + losses[-1]) / 2), top


def barrier_above_chord(t: np.ndarray, losses: np.ndarray) -> float:
    """The largest excess of the loss over the straight chord between the endpoints' losses,
    max_t L(t) − ((1 − t)·L(0) + t·L(1)) (Frankle et al. 2020): 0 for a path that never rises above
    its ends' interpolation, where `barrier` also counts half the difference between the ends."""
    return float(np.nanmax(losses - ((1 - t) * losses[0] + t * losses[-1])))


def connect_pair(config: ConnectConfig, first: str, second: str, bend: State | None = None) -> dict:
    """The path's file (created or resumed) and its row: barrier height and where along t it lies, and
    each endpoint's loss."""
    out = pair_path(config, first, second)
    if Path(first).resolve() == Path(second).resolve():
        raise LandscapeError(f"{first} is given twice: a path needs two different models")
    ends = load_endpoints(config, first, second)
    mode = bn_mode(config, ends.model)
    grid = Axis.parse(f"0:1:{config.points}")
    header = connect_header(config, ends, first, second, bend, mode, grid)
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_writer(out):
        if out.exists() and not config.force:
            if read_header(out).fingerprint != header.fingerprint:
                raise LandscapeError(f"{out} holds a path made with other settings; pass --force to replace it")
        else:
            create_surface_file(out, header, grid.coordinates(), None, path_directions(ends, bend))
        done = read_surface(out).done
        pending = np.flatnonzero(~done)
        bar = progress(len(pending), f"connect {out.stem}", "pt", config.quiet)
        names = value_names(tuple(config.splits))
        with contextlib.ExitStack() as stack:
            stack.callback(ends.network.load_state_dict, ends.a)
            for index in pending:
                ends.network.load_state_dict(path_state(float(grid.coordinates()[index]), ends.a, ends.b, bend))
                if mode == "recompute":
                    recompute_batchnorm(ends.network, ends.bn_images, config.batch_size)
                ends.network.eval()
                scores = [evaluate(ends.model, s.inputs, s.labels, config.batch_size) for s in ends.sets]
                values = [v for score in scores for v in (score.loss, score.accuracy)]
                write_points(out, [int(index)], {n: [v] for n, v in zip(names, values)})
                bar.update()
        bar.close()
    surface = read_surface(out)
    metric = f"{config.splits[0]}_loss"
    height, top = barrier(surface.values[metric])
    row = {"source": str(out), "activation": surface.header.activation_label, "a": str(first), "b": str(second),
           "curve": config.curve, "bn": mode, "barrier": height, "barrier_t": float(surface.x[top]),
           "barrier_above_chord": barrier_above_chord(surface.x, surface.values[metric]),
           "loss_a": float(surface.values[metric][0]), "loss_b": float(surface.values[metric][-1])}
    write_metrics(out, {k: v for k, v in row.items() if k not in ("source",)}, metric)
    return row
