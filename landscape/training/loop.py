"""Training: config → trained checkpoint, resumable per epoch, with an epoch log and snapshots.

Stage: train (feeds the checkpoint stage). Everything random comes from one seeded
torch.Generator (shuffling, augmentation) and a seeded fork of the RNG for weight init, and
the whole state is saved after every epoch, so a killed run resumed with the same command
ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from landscape.errors import LandscapeError, require_choice
from landscape.evaluation.evaluate import Score, evaluate, prepare_inputs
from landscape.files import atomic_write, exclusive_writer
from landscape.metrics.model import gradient_norms
from landscape.runtime import autocast, library_versions, resolve_device
from landscape.sources.checkpoint import (
    atomic_torch_save,
    build_model,
    read_checkpoint,
    save_checkpoint,
)
from landscape.sources.data import ImageSet, augment, balanced_subset
from landscape.sources.datasets import load_split
from landscape.sources.specs import DatasetSpec
from landscape.training.config import RunPaths, TrainConfig, learning_rate


def init_model(config: TrainConfig, data: ImageSet) -> nn.Module:
    """The initial weights (sized for `data`), drawn from a fork of the RNG seeded by config.seed."""
    metadata = config.model_metadata(data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_model(metadata)


@dataclass
class RunState:
    """What is saved after every epoch and restored on resume."""

    epoch: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    log: list[dict]

    def save(self, path: Path, recipe: dict) -> None:
        atomic_torch_save({"recipe": json.dumps(recipe), "epoch": self.epoch, "model": self.model.state_dict(),
                           "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                           "log": json.dumps(self.log)}, path)


def start_or_resume(config: TrainConfig, paths: RunPaths, device: torch.device, data: ImageSet) -> RunState:
    """A fresh run state, or the one saved in paths.state if it was made by the same recipe."""
    model = init_model(config, data).to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(config, model.parameters())
    generator = torch.Generator().manual_seed(config.seed)
    state = RunState(0, model, optimizer, generator, [])
    if paths.state.exists():
        saved = torch.load(paths.state, map_location=device, weights_only=True)
        if not config.has_recipe(json.loads(saved["recipe"])):
            raise LandscapeError(f"{paths.state} holds an unfinished run with different settings; rerun it with "
                                 f"the same flags, or delete it to start over")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        state = RunState(saved["epoch"], model, optimizer, generator, json.loads(saved["log"]))
    return state


class Diverged(Exception):
    """The training loss became inf or NaN: the run stops there and says so in its log and checkpoint."""


GRADIENT_PROBE = 256  # training images (the first ones, not augmented) on which gradient norms are measured


def train_one_epoch(state: RunState, config: TrainConfig, train_set: ImageSet, total_steps: int) -> Score:
    """One pass over `train_set` (uint8 images already on the device); returns the running score."""
    model, optimizer = state.model, state.optimizer
    device = train_set.images.device
    model.train()
    order = torch.randperm(len(train_set), generator=state.generator)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    loss_sum, correct, seen, started = 0.0, 0, 0, time.perf_counter()
    bar = tqdm(range(steps_per_epoch), desc=f"epoch {state.epoch + 1}/{config.epochs}", unit="batch",
               leave=False, disable=config.quiet or None)
    for i in bar:
        idx = order[i * config.batch_size:(i + 1) * config.batch_size].to(device)
        batch = augment(train_set.images[idx], state.generator) if config.augment else train_set.images[idx]
        inputs = prepare_inputs(batch, device, train_set.mean, train_set.std)
        labels = train_set.labels[idx]
        lr = learning_rate(config.schedule, config.lr, state.epoch * steps_per_epoch + i, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast(device, config.precision):
            logits = model(inputs)
        loss = F.cross_entropy(logits.float(), labels)
        if not torch.isfinite(loss):
            raise Diverged(f"loss {loss.item()} at step {i + 1} of epoch {state.epoch + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(labels)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(labels)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                        img_s=f"{seen / (time.perf_counter() - started):.0f}", lr=f"{lr:.4f}")
    return Score(loss_sum / seen, correct / seen)


def score_set(model: nn.Module, images: ImageSet, config: TrainConfig) -> Score:
    """Eval-mode loss and accuracy on a whole uint8 set, prepared in chunks to bound memory."""
    model.eval()
    device = images.images.device
    chunk, loss, correct = 5000, 0.0, 0.0
    for start in range(0, len(images), chunk):
        inputs = prepare_inputs(images.images[start:start + chunk], device, images.mean, images.std)
        labels = images.labels[start:start + chunk]
        score = evaluate(model, inputs, labels, batch_size=250, precision=config.precision)
        loss += score.loss * len(labels)
        correct += score.accuracy * len(labels)
    return Score(loss / len(images), correct / len(images))


def write_log(path: Path, log: list[dict]) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text("".join(json.dumps(record) + "\n" for record in log))


def snapshot_metadata(config: TrainConfig, epoch: int, data: ImageSet) -> dict:
    meta = config.model_metadata(data)
    return {**meta, "epoch": epoch, "recipe": config.recipe(), "versions": library_versions()}


def final_metadata(config: TrainConfig, state: RunState, train_set: ImageSet, test_set: ImageSet,
                   scores: dict[str, Score], device: torch.device) -> dict:
    seconds = [r["seconds"] for r in state.log]
    return {**config.model_metadata(train_set),
            "epochs": config.epochs, "recipe": config.recipe(), "dataset": config.dataset,
            "normalization_mean": train_set.mean, "normalization_std": train_set.std, "data_source": train_set.source,
            "train_size": len(train_set), "test_size": len(test_set),
            "train_loss": scores["train"].loss, "train_acc": scores["train"].accuracy,
            "test_loss": scores["test"].loss, "test_acc": scores["test"].accuracy,
            "seconds_per_epoch": sum(seconds) / len(seconds), "wall_time_s": sum(seconds),
            "diverged_epoch": next((r["epoch"] for r in state.log if "diverged" in r), None),
            "device": str(device), "versions": library_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def already_finished(paths: RunPaths, config: TrainConfig) -> bool:
    """True if paths.checkpoint holds this recipe's finished run; error if it holds another."""
    if not paths.checkpoint.exists() or paths.state.exists():
        return False
    meta = read_checkpoint(paths.checkpoint).metadata
    if not config.has_recipe(meta.get("recipe")):
        raise LandscapeError(f"{paths.checkpoint} already holds a model trained with other settings; "
                             f"choose another --out or delete it")
    return True


def train(config: TrainConfig, train_set: ImageSet | None = None, test_set: ImageSet | None = None) -> Path:
    """Train per `config` (resuming if a state file exists) and return the checkpoint path.

    `train_set`/`test_set` default to config.dataset's splits from config.data; or pass your own
    ImageSets (uint8 [N, C, H, W] with their mean and std); the model is sized for the training set.
    """
    paths = RunPaths.beside(config.out)
    if already_finished(paths, config):
        return paths.checkpoint
    with exclusive_writer(paths.checkpoint):  # one training run per checkpoint path at a time
        return run_training(config, paths, train_set, test_set)


def run_training(config: TrainConfig, paths: RunPaths, train_set: ImageSet | None,
                 test_set: ImageSet | None) -> Path:
    """The body of `train`: data, resume, the epochs, the final checkpoint."""
    device = resolve_device(config.device)
    spec = DatasetSpec(config.dataset)
    if train_set is None:
        train_set = load_split(spec, config.data, "train", quiet=config.quiet)
    if test_set is None:
        test_set = load_split(spec, config.data, "test", quiet=config.quiet)
    if train_set.mean is None or train_set.images.dim() != 4:
        raise LandscapeError(f"training takes images [N, C, H, W] with their statistics; {config.dataset} gives "
                             f"ready inputs of shape {list(train_set.images.shape)}")
    if config.train_samples:
        train_set = train_set.subset(balanced_subset(train_set.labels, config.train_samples, config.seed))
    on_device = [dataclasses.replace(s, images=s.images.to(device), labels=s.labels.to(device))
                 for s in (train_set, test_set)]
    state = start_or_resume(config, paths, device, train_set)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.save_every and state.epoch == 0:
        save_checkpoint(paths.snapshots / "epoch_000.pt", state.model, snapshot_metadata(config, 0, train_set))
    probe = (prepare_inputs(on_device[0].images[:GRADIENT_PROBE], device, train_set.mean, train_set.std),
             on_device[0].labels[:GRADIENT_PROBE])
    at_init = gradient_norms(state.model, *probe) if state.epoch == 0 else None
    diverged = None
    while state.epoch < config.epochs and diverged is None:
        started = time.perf_counter()
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(config.seed * 1_000_003 + state.epoch)  # dropout's stream: the same on a rerun
                running = train_one_epoch(state, config, on_device[0], total_steps)
        except Diverged as e:
            diverged, running = str(e), Score(float("nan"), float("nan"))
        test = score_set(state.model, on_device[1], config)
        state.epoch += 1
        record = {"epoch": state.epoch, "train_loss": running.loss, "train_acc": running.accuracy,
                  "test_loss": test.loss, "test_acc": test.accuracy,
                  "lr": learning_rate(config.schedule, config.lr, state.epoch * steps_per_epoch - 1, total_steps),
                  "seconds": time.perf_counter() - started}
        if diverged:
            record["diverged"] = diverged
        if state.epoch == 1 and at_init is not None:  # vanishing or exploding gradients, layer by layer
            record.update(gradient_norms_init=at_init, gradient_norms=gradient_norms(state.model, *probe))
        state.log.append(record)
        if config.save_every and state.epoch % config.save_every == 0:
            save_checkpoint(paths.snapshots / f"epoch_{state.epoch:03d}.pt", state.model,
                            snapshot_metadata(config, state.epoch, train_set))
        state.save(paths.state, config.recipe())
        write_log(paths.log, state.log)
        if not config.quiet:
            tqdm.write(f"epoch {state.epoch}/{config.epochs}  train loss {running.loss:.4f} acc {running.accuracy:.4f}"
                       f"  test loss {test.loss:.4f} acc {test.accuracy:.4f}  {record['seconds']:.0f}s", end="\n")
    scores = {name: score_set(state.model, images, config) for name, images in zip(("train", "test"), on_device)}
    save_checkpoint(paths.checkpoint, state.model, final_metadata(config, state, train_set, test_set, scores, device))
    paths.state.unlink()
    return paths.checkpoint


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    """The optimiser named in `config` (Adam ignores --momentum and uses its default betas)."""
    builders = {
        "sgd": lambda: torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                       weight_decay=config.weight_decay),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum,
                                               weight_decay=config.weight_decay),
        "adam": lambda: torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay),
    }
    require_choice("optimizer", config.optimizer, builders)
    return builders[config.optimizer]()
