"""`landscape hessian-map`: the Hessian's smallest and largest eigenvalue across a plane surface
(Li et al. 2018, section 6), stored in the surface's own file.

Stage: surface → metrics. Each mapped point moves the checkpoint's weights to θ + α·x + β·y (the
surface's own directions, its own images), builds the loss's gradient graph there and runs Lanczos
with full reorthogonalisation: its extreme Ritz values are λmin and λmax, and their residuals
‖H·y − λ·y‖ bound how far each is from an eigenvalue of H. Power iteration would find λmax only, and
λmin only by a shift that converges slowly when the spectrum's bulk sits near zero. A point is
written as soon as it is done, so an interrupted map resumes where it stopped.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from landscape.errors import LandscapeError
from landscape.evaluation.contract import checked_model
from landscape.evaluation.curvature import KeptGradientGraphs, gaussian_vector, lanczos, trainable
from landscape.evaluation.evaluate import EvalSet, load_eval_set, loss_function
from landscape.files import exclusive_writer
from landscape.geometry.directions import Direction, model_entries
from landscape.metrics.options import CurvatureMapConfig
from landscape.progress import progress
from landscape.runtime import resolve_device
from landscape.sources.activations import with_twice_differentiable_mish
from landscape.sources.checkpoint import load_model
from landscape.sources.specs import DatasetSpec
from landscape.storage.schema import CurvatureMap, Surface
from landscape.storage.surface_file import create_curvature_map, read_surface, write_curvature_point
from landscape.surfaces.plan import directions_of

METHOD = "Lanczos with full reorthogonalisation; extreme Ritz values, residuals as error bounds"


@dataclass(frozen=True)
class MapInputs:
    """A surface's model (at its trained weights), directions and images, checked against the file."""

    surface: Surface
    model: nn.Module
    directions: list[Direction]
    images: EvalSet
    checkpoint_sha256: str


def surface_inputs(config: CurvatureMapConfig) -> MapInputs:
    """The model, directions and images a plane surface was computed from, each checked by its
    SHA-256 against the file (LandscapeError naming what differs)."""
    surface = read_surface(config.surface)
    header, settings = surface.header, surface.header.fingerprint
    if surface.is_slices:
        raise LandscapeError(f"{config.surface} holds 1-D slices; a Hessian map needs a plane (`landscape surface`)")
    checkpoint = config.checkpoint or header.checkpoint
    loaded = load_model(checkpoint, config.model)
    if loaded.sha256 != header.checkpoint_sha256:
        raise LandscapeError(f"{checkpoint} is not the checkpoint {config.surface} was computed from (SHA-256 "
                             f"{loaded.sha256[:12]}…, the file's {str(header.checkpoint_sha256)[:12]}…)")
    device = resolve_device(config.device)
    dataset = DatasetSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings["dataset"].items()}) \
        if "dataset" in settings else DatasetSpec()
    sets = [load_eval_set(config.data, split, settings["samples"], settings["data_seed"], device, True, dataset)
            for split in settings["splits"]]
    data_sha = hashlib.sha256("".join(s.sha256 for s in sets).encode()).hexdigest()
    if header.data_sha256 and data_sha != header.data_sha256:
        raise LandscapeError(f"the images --data gives are not those {config.surface} was computed on (their SHA-256 "
                             f"differs): point --data at the data the surface used ({header.data_source})")
    model = checked_model(with_twice_differentiable_mish(loaded.model).to(device), sets, header.loss,
                          config.model.output_key)
    images = sets[0]
    if config.samples is not None:
        if config.samples > len(images.labels):
            raise LandscapeError(f"--samples {config.samples} exceeds the surface's {len(images.labels)} images")
        images = EvalSet(images.split, images.inputs[:config.samples], images.labels[:config.samples])
    return MapInputs(surface, model, directions_of(config.surface, model), images, loaded.sha256)


def map_settings(config: CurvatureMapConfig, inputs: MapInputs) -> dict:
    """What decides the map's numbers: a stored map is resumed only under the same."""
    return {"checkpoint_sha256": inputs.checkpoint_sha256, "data_sha256": inputs.surface.header.data_sha256,
            "split": inputs.images.split, "images": len(inputs.images.labels), "lanczos_steps": config.lanczos_steps,
            "seed": config.seed, "loss": inputs.surface.header.loss, "method": METHOD}


@contextmanager
def moved_weights(model: nn.Module, directions: list[Direction], dir_type: str):
    """A function setting the weights to θ + Σ cᵢ·dᵢ; θ is restored on exit."""
    entries = model_entries(model, dir_type)
    origin = {k: v.detach().clone() for k, v in entries.items()}

    def move(coefficients: tuple[float, ...]) -> None:
        with torch.no_grad():
            for name, tensor in entries.items():
                tensor.copy_(origin[name] + sum(c * d[name].to(tensor) for c, d in zip(coefficients, directions)))
    try:
        yield move
    finally:
        move(tuple(0.0 for _ in directions))


def prepared_map(config: CurvatureMapConfig, inputs: MapInputs) -> CurvatureMap:
    """The file's map if it was made with these settings (to resume), else a new empty one; a map made
    with other settings is replaced only with --force."""
    settings = map_settings(config, inputs)
    existing = inputs.surface.curvature
    if existing is not None and existing.every == config.every and \
            {k: existing.settings.get(k) for k in settings} == settings:
        return existing
    if existing is not None and existing.done.any() and not config.force:
        raise LandscapeError(f"{config.surface} holds a Hessian map made with other settings (every "
                             f"{existing.every}, {existing.settings.get('lanczos_steps')} Lanczos steps, "
                             f"{existing.settings.get('images')} images); pass --force to replace it")
    create_curvature_map(config.surface, config.every, settings)
    return read_surface(config.surface).curvature


def run_curvature_map(config: CurvatureMapConfig) -> dict:
    """Compute (or resume) the map; a summary row of the finished map."""
    inputs = surface_inputs(config)
    with exclusive_writer(config.surface):
        curvature = prepared_map(config, inputs)
        pending = [index for index in np.ndindex(curvature.done.shape) if not curvature.done[index]]
        loss = loss_function(inputs.surface.header.loss)
        params = trainable(inputs.model)
        bar = progress(len(pending) * config.lanczos_steps, f"hessian-map {inputs.surface.header.title}", "hvp",
                       config.quiet)
        with moved_weights(inputs.model, inputs.directions, inputs.surface.header.direction_type) as move:
            for index in pending:
                coefficients = (curvature.x[index[-1]],) + ((curvature.y[index[0]],) if curvature.y is not None else ())
                move(coefficients)
                products = KeptGradientGraphs(inputs.model, params, inputs.images.inputs, inputs.images.labels,
                                              config.batch_size, loss)

                def hvp(v, products=products):
                    bar.update()
                    return products(v)
                flat = int(np.ravel_multi_index(index, curvature.done.shape))
                start = gaussian_vector(params, torch.Generator().manual_seed(config.seed * 1_000_003 + flat))
                run = lanczos(hvp, start, config.lanczos_steps)
                write_curvature_point(config.surface, index, {
                    "min_eig": run.values[0], "max_eig": run.values[-1],
                    "min_residual": run.residuals[0], "max_residual": run.residuals[-1]})
        bar.close()
    return curvature_summary(read_surface(config.surface))


def curvature_summary(surface: Surface) -> dict:
    """A map's headline numbers: λmin, λmax and |λmin/λmax| at the trained weights (when the origin
    is a mapped point), the median ratio, and the share of points where |λmin/λmax| < 0.1."""
    curvature = surface.curvature
    ratio = curvature.ratio[curvature.done]
    row = {"surface": surface.path, "model": surface.header.title, "points": int(curvature.done.sum()),
           "points_planned": int(curvature.done.size), "every": curvature.every,
           "median_ratio": float(np.median(ratio)) if ratio.size else float("nan"),
           "share_ratio_below_0.1": float(np.mean(ratio < 0.1)) if ratio.size else float("nan")}
    at_origin = [np.flatnonzero(np.isclose(axis, 0.0)) for axis in (curvature.y, curvature.x) if axis is not None]
    if all(len(i) for i in at_origin):
        index = tuple(int(i[0]) for i in at_origin)
        row.update({name: float(curvature.arrays[name][index]) for name in ("min_eig", "max_eig")})
        row["ratio_at_origin"] = float(curvature.ratio[index])
    return row
