"""A quadratic Bézier curve between two trained models, and `run_connect`, which measures the paths
between every pair of models (`landscape connect`; here, above `surfaces`, because a curve's bend
is trained).

Stage: train. The curve φ(t) = (1 − t)²·A + 2t(1 − t)·θ + t²·B joins A and B whatever the bend θ
(Garipov et al. 2018); θ starts at the midpoint (A + B)/2, where the curve is the straight line, and
is trained to lower the expected loss E_t L(φ(t)) with t drawn uniformly for every batch: SGD with
momentum 0.9, a cosine learning rate, augmented training images, BatchNorm on the batch's statistics
(as in training). The bend and the optimiser are saved after every epoch, so an interrupted
training resumes.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from landscape.evaluation.evaluate import prepare_inputs
from landscape.files import exclusive_writer
from landscape.progress import progress
from landscape.runtime import resolve_device
from landscape.sources.checkpoint import atomic_torch_save, load_model
from landscape.sources.data import augment, balanced_subset
from landscape.sources.datasets import load_split
from landscape.surfaces.config import ConnectConfig
from landscape.surfaces.connect import State, connect_pair, pair_path, require_connectable, state_sha256

BATCH_SIZE = 128


def bend_path(config: ConnectConfig, first: str, second: str) -> Path:
    return pair_path(config, first, second).with_name(f"{Path(first).stem}__{Path(second).stem}_bend.pt")


def curve_weights(t: float, a: State, bend: dict[str, torch.Tensor], b: State) -> dict[str, torch.Tensor]:
    """φ(t) for the parameters (those in `bend`), differentiable in the bend."""
    return {k: (1 - t) ** 2 * a[k] + 2 * t * (1 - t) * bend[k] + t ** 2 * b[k] for k in bend}


def train_bend(config: ConnectConfig, first: str, second: str) -> State:
    """The trained bend's state (parameters; BatchNorm statistics at the endpoints' mean, as `--bn
    keep` interpolates them), resumed from its file if an earlier call was interrupted."""
    device = resolve_device(config.device)
    loaded = [load_model(path, config.model) for path in (first, second)]
    network: nn.Module = loaded[0].model.to(device)
    a, b = ({k: v.detach().to(device) for k, v in m.model.state_dict().items()} for m in loaded)
    names = [name for name, _ in network.named_parameters()]
    fingerprint = {"a": loaded[0].sha256, "b": loaded[1].sha256, "epochs": config.curve_epochs,
                   "lr": config.curve_lr, "samples": config.curve_samples, "seed": config.curve_seed,
                   "data_seed": config.data_seed, "dataset": config.dataset.name}
    bend = {k: ((a[k] + b[k]) / 2).clone().requires_grad_(True) for k in names}
    optimizer = torch.optim.SGD(list(bend.values()), lr=config.curve_lr, momentum=0.9)
    generator = torch.Generator().manual_seed(config.curve_seed)
    epoch, path = 0, bend_path(config, first, second)
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_writer(path):
        if path.is_file() and not config.force:
            saved = torch.load(path, map_location=device, weights_only=True)
            if saved["fingerprint"] == fingerprint:
                with torch.no_grad():
                    for k in names:
                        bend[k].copy_(saved["bend"][k])
                optimizer.load_state_dict(saved["optimizer"])
                generator.set_state(saved["generator"])
                epoch = saved["epoch"]
        train = load_split(config.dataset, config.data, "train", quiet=config.quiet)
        if config.curve_samples is not None:
            train = train.subset(balanced_subset(train.labels, config.curve_samples, config.data_seed))
        images, labels = train.images.to(device), train.labels.to(device)
        steps = math.ceil(len(labels) / BATCH_SIZE)
        buffers = {k: v.clone() for k, v in network.named_buffers()}
        network.train()
        while epoch < config.curve_epochs:
            order = torch.randperm(len(labels), generator=generator)
            bar = progress(steps, f"bend {path.stem} epoch {epoch + 1}/{config.curve_epochs}", "batch", config.quiet)
            for i in range(steps):
                progress_share = (epoch * steps + i) / (config.curve_epochs * steps)
                lr = 0.5 * config.curve_lr * (1 + math.cos(math.pi * progress_share))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                index = order[i * BATCH_SIZE:(i + 1) * BATCH_SIZE].to(device)
                inputs = prepare_inputs(augment(images[index], generator), device, train.mean, train.std)
                t = float(torch.rand((), generator=generator))
                logits = functional_call(network, {**curve_weights(t, a, bend, b), **buffers}, (inputs,))
                loss = F.cross_entropy(logits.float(), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                bar.update()
            bar.close()
            epoch += 1
            atomic_torch_save({"fingerprint": fingerprint, "epoch": epoch, "generator": generator.get_state(),
                               "optimizer": optimizer.state_dict(),
                               "bend": {k: v.detach() for k, v in bend.items()}}, path)
    state = {k: (a[k] + b[k]) / 2 for k in a if a[k].is_floating_point()}
    state.update({k: v.detach() for k, v in bend.items()})
    return state


def run_connect(config: ConnectConfig) -> list[dict]:
    """A path (and its file) for every pair of `config.checkpoints`, in the given order: the line, or
    the Bézier curve through a bend trained first; one row each, with its barrier."""
    require_connectable(config)
    paths = config.checkpoints
    rows = []
    for i, first in enumerate(paths):
        for second in paths[i + 1:]:
            bend = train_bend(config, first, second) if config.curve == "bezier" else None
            rows.append({**connect_pair(config, first, second, bend),
                         **({"bend_sha256": state_sha256(bend)} if bend is not None else {})})
    return rows
