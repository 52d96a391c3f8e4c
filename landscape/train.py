"""Training: config → trained checkpoint, resumable per epoch, with an epoch log and snapshots.

Stage: train (feeds the checkpoint stage). Everything random comes from one seeded
torch.Generator (shuffling, augmentation) and a seeded fork of the RNG for weight init, and
the whole state is saved after every epoch, so a killed run resumed with the same command
ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import math
import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .activations import activation_params
from .checkpoint import (
    ARCHITECTURES,
    atomic_torch_save,
    build_model,
    model_metadata,
    read_checkpoint,
    save_checkpoint,
)
from .data import ImageSet, augment, balanced_subset
from .datasets import DatasetSpec, load_split
from .errors import LandscapeError, require_choice, require_number
from .evaluate import Score, evaluate, prepare_inputs
from .files import atomic_write, exclusive_writer
from .model_metrics import gradient_norms
from .progress import progress
from .runtime import (
    PRECISIONS,
    Precision,
    autocast,
    library_versions,
    resolve_device,
    silence_library_chatter,
)

Optimizer = Literal["sgd", "rmsprop", "adam"]
Schedule = Literal["cosine", "step", "onecycle"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
SCHEDULES: tuple[str, ...] = get_args(Schedule)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults: the study's recipe (issue 6)."""

    out: str = "checkpoints/resnet20.pt"
    data: str | None = None
    architecture: str = "cifar_resnet"
    depth: int = 20  # ResNet: 6n + 2 layers; MLP: hidden layers
    width: int = 500  # MLP only
    dropout: float = 0.25  # MLP only
    activation: str = "relu"
    activation_params: dict = field(default_factory=dict)
    dataset: str = "cifar10"  # a `datasets.DatasetSpec` name: cifar10, mnist, ..., imagefolder:PATH
    augment: bool = True  # random crop (4-pixel padding) and horizontal flip of every training batch
    epochs: int = 50
    optimizer: Optimizer = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "cosine"
    batch_size: int = 128
    seed: int = 0
    precision: Precision = "fp32"
    train_samples: int | None = None
    save_every: int = 0
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self):
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_choice("schedule", self.schedule, SCHEDULES)
        require_choice("precision", self.precision, PRECISIONS)
        require_choice("architecture", self.architecture, ARCHITECTURES)
        DatasetSpec(self.dataset)  # a one-line error for an unknown name
        if not 0 <= self.dropout < 1:
            raise LandscapeError(f"--dropout must be in [0, 1); got {self.dropout}")
        # Resolve the activation's parameters now, so they are recorded in full.
        object.__setattr__(self, "activation_params", activation_params(self.activation, **self.activation_params))
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise LandscapeError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(self, name)}")
        require_number("--lr", self.lr, 0, low_open=True)
        require_number("--momentum", self.momentum, 0, 1, low_open=False)
        if self.momentum == 1:
            raise LandscapeError("--momentum must be below 1; got 1")
        require_number("--weight-decay", self.weight_decay, 0)
        for name, value in self.activation_params.items():
            if isinstance(value, float):
                require_number(f"the activation's {name}", value)
        if self.train_samples is not None and self.train_samples < 1:
            raise LandscapeError(f"--train-samples must be at least 1 (or left out for the whole split); got "
                                 f"{self.train_samples}")
        if self.save_every < 0:
            raise LandscapeError(f"--save-every must be 0 (off) or positive; got {self.save_every}")

    def recipe(self) -> dict:
        """The fields that decide the weights (not where they go, how loud, or on which device). The MLP's
        fields are left out for the ResNet, and the dataset and augmentation where they are CIFAR-10's
        defaults, so recipes read as they did before those options existed (and their runs resume)."""
        left_out = ("out", "data", "device", "quiet") + (
            ("architecture", "width", "dropout") if self.architecture == "cifar_resnet" else ()) + (
            ("dataset",) if self.dataset == "cifar10" else ()) + (("augment",) if self.augment else ())
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in left_out}

    def has_recipe(self, recorded: dict | None) -> bool:
        """Whether a recipe read back from JSON (tuples as lists) is this config's."""
        return recorded == json.loads(json.dumps(self.recipe()))

    def model_metadata(self, data: ImageSet) -> dict:
        """The architecture, sized for the training set `data` (its input values and classes)."""
        shape = tuple(data.images.shape[1:])
        if self.architecture == "cifar_resnet" and (len(shape) != 3 or shape[0] != 3):
            raise LandscapeError(f"cifar_resnet takes 3-channel images; {self.dataset} has inputs of shape "
                                 f"{list(shape)}: use --architecture mlp")
        return model_metadata(self.depth, self.activation, self.activation_params,
                              num_classes=max(len(data.classes), int(data.labels.max()) + 1),
                              architecture=self.architecture, width=self.width, dropout=self.dropout,
                              in_features=math.prod(shape))


@dataclass(frozen=True)
class RunPaths:
    """The files a run writes beside its checkpoint."""

    checkpoint: Path
    state: Path
    log: Path
    snapshots: Path

    @classmethod
    def beside(cls, out: str | Path) -> RunPaths:
        out = Path(out)
        stem = out.with_suffix("")
        return cls(out, Path(f"{stem}.state.pt"), Path(f"{stem}.log.jsonl"), Path(f"{stem}.snapshots"))


def learning_rate(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate at optimiser step `step` of `total_steps` (per-step schedules).

    cosine: base → 0 on a half cosine. step: ×0.1 at 50 % and 75 % of training.
    onecycle: cosine warm-up from base/25 to base over the first 30 %, then cosine
    annealing to base/25e4 (Smith & Topin 2019's shape, without momentum cycling).
    """
    progress = step / max(total_steps, 1)
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "step":
        return base_lr * 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    if schedule == "onecycle":
        warm, start, end = 0.3, base_lr / 25, base_lr / 25e4
        if progress < warm:
            return start + (base_lr - start) * 0.5 * (1 - math.cos(math.pi * progress / warm))
        return end + (base_lr - end) * 0.5 * (1 + math.cos(math.pi * (progress - warm) / (1 - warm)))
    raise LandscapeError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


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


PR_SET_PDEATHSIG = 1  # linux/prctl.h: a signal for this process when its parent dies


def train_in_worker(config: TrainConfig, threads: int, parent: int, results) -> None:
    """Body of one worker process of `train_side_by_side`: train on `threads` CPU threads, then put
    (out, checkpoint, None) or (out, None, error message) on `results`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops its workers
    # with SIGTERM: exit through Python, so the process's clean-up runs (tqdm's lock is a semaphore
    # that would otherwise be reported as leaked when the sweep stops)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    if sys.platform == "linux":  # and a parent killed outright (SIGKILL) takes its workers with it
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            return
    silence_library_chatter()
    torch.set_num_threads(threads)
    results.put(worker_outcome(config))


def worker_outcome(config: TrainConfig) -> tuple[str, str | None, str | None]:
    """(out, checkpoint, None) for a run trained, (out, None, one-line reason) for a run refused or
    stopped by the machine (a read or write failed: disk full, file vanished); a bug still raises,
    with its traceback."""
    try:
        return config.out, str(train(config)), None
    except LandscapeError as e:
        return config.out, None, str(e)
    except OSError as e:
        return config.out, None, f"training {config.out}: {e}; its finished epochs are saved, fix this and rerun"


def logged_epochs(config: TrainConfig) -> int:
    """The epochs of the run finished so far, as its log says."""
    log = RunPaths.beside(config.out).log
    return len(log.read_text().splitlines()) if log.exists() else 0


def train_side_by_side(configs: list[TrainConfig], jobs: int, quiet: bool = False,
                       on_trained: Callable[[TrainConfig], None] | None = None) -> list[Path]:
    """Train every config (skipping finished ones), `jobs` at a time in worker processes that share
    this process's CPU threads (one job: here, one after the other); returns the checkpoints in
    the order of `configs`; runs an earlier call started (a resume state on disk) train before
    the rest, whatever their place in `configs`. `on_trained(config)` runs as soon as each run
    trained by this call has its checkpoint, so a caller's record of it survives an interruption
    later in the sweep.

    Small networks use two threads poorly (two one-thread runs of the depth study's 500-unit MLPs
    trained 1.26–1.72× as many images/s in total as one run on two threads: benchmarks/bench_depth.py),
    so a sweep of many small runs finishes sooner side by side. A worker killed with its run (Ctrl-C,
    SIGTERM to this process, an error elsewhere) loses at most its current epoch: every run resumes
    on the next call."""
    if jobs < 1:
        raise LandscapeError(f"jobs must be at least 1; got {jobs}")
    waiting = [c for c in configs if not already_finished(RunPaths.beside(c.out), c)]
    waiting.sort(key=lambda c: not RunPaths.beside(c.out).state.exists())  # runs started earlier resume first
    if jobs == 1:
        for config in waiting:
            train(config)
            if on_trained:
                on_trained(config)
        return [Path(c.out) for c in configs]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or locks
    results = context.Queue()
    threads = max(1, torch.get_num_threads() // jobs)
    running: dict[str, multiprocessing.Process] = {}
    by_out = {c.out: c for c in waiting}
    counted = {c.out: logged_epochs(c) for c in waiting}  # the progress bar counts epochs over all runs
    bar = progress(sum(c.epochs - counted[c.out] for c in waiting), "training", "epoch", quiet)

    def count(out: str, epochs: int) -> None:
        bar.update(epochs - counted[out])
        counted[out] = epochs
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                config = dataclasses.replace(waiting.pop(0), quiet=True)
                worker = context.Process(target=train_in_worker, args=(config, threads, os.getpid(), results))
                worker.start()
                running[config.out] = worker
            try:
                out, checkpoint, error = results.get(timeout=1.0)
            except queue.Empty:
                lost = [out for out, p in running.items() if p.exitcode not in (None, 0)]
                if lost:
                    raise LandscapeError(f"training {lost[0]} stopped (exit code {running[lost[0]].exitcode}); "
                                         f"rerun to resume it") from None
                for out in running:
                    count(out, logged_epochs(by_out[out]))
                continue
            running.pop(out).join()
            if error:
                raise LandscapeError(error)
            count(out, by_out[out].epochs)  # also a run that diverged and stopped early
            if on_trained:
                on_trained(by_out[out])
            if not quiet:
                meta = read_checkpoint(checkpoint).metadata
                tqdm.write(f"trained {checkpoint}: test accuracy {100 * meta['test_acc']:.2f} %")
    finally:
        for p in running.values():
            p.terminate()
        for p in running.values():
            p.join()
        bar.close()
    return [Path(c.out) for c in configs]


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
