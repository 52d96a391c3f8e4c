"""Checkpoints: a plain state_dict plus the metadata needed to rebuild the model; or your own
model, built by a factory you name and filled from a weights file.

Stage: checkpoint → model. Files are written atomically and read with
`torch.load(weights_only=True)`, so loading never executes code from the file.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape.errors import LandscapeError, first_line
from landscape.files import atomic_write
from landscape.sources.activations import activation_factory
from landscape.sources.models import MLP, conv_front, conv_front_features, resnet
from landscape.sources.specs import ARCHITECTURES, CIFAR_INPUT, ModelSpec
from landscape.sources.user_code import import_callable

FORMAT = "landscape.checkpoint"
FORMAT_VERSION = 1


def build_model(metadata: dict) -> nn.Module:
    """A freshly initialised model of the architecture that `metadata` describes."""
    architecture = metadata.get("architecture")
    if architecture not in ARCHITECTURES:
        raise LandscapeError(f"architecture {architecture!r} is not supported; expected one of "
                             f"{', '.join(ARCHITECTURES)}")
    factory = activation_factory(metadata["activation"], **metadata.get("activation_params", {}))
    num_classes = metadata.get("num_classes", 10)
    if architecture in ("mlp", "conv_mlp"):
        if metadata["depth"] < 1:
            raise LandscapeError(f"an MLP needs at least one hidden layer; got depth {metadata['depth']}")
        front, in_features = None, metadata.get("in_features", CIFAR_INPUT)
        if architecture == "conv_mlp":
            filters = tuple(metadata["front_filters"])
            front = conv_front(metadata["in_channels"], activation_factory(metadata["front_activation"]), filters)
            in_features = conv_front_features(metadata["in_channels"], metadata["image_size"], filters)
        return MLP(in_features, (metadata["width"],) * metadata["depth"], num_classes, factory,
                   batch_norm=metadata.get("batch_norm", True), dropout=metadata.get("dropout", 0.0), front=front)
    return resnet(metadata["depth"], factory, num_classes)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save through a temporary file, so a crash never leaves a truncated file."""
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def save_checkpoint(path: str | Path, model: nn.Module, metadata: dict) -> Path:
    """Write `model`'s state_dict and `metadata` (plain Python values) to `path`."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"format": FORMAT, "format_version": FORMAT_VERSION,
                       "metadata": metadata, "state_dict": state}, path)
    return path


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint read from disk: its validated contents and the SHA-256 of the bytes read."""

    path: Path
    payload: dict
    sha256: str

    @property
    def metadata(self) -> dict:
        return self.payload["metadata"]


def _torch_load(path: Path, what: str) -> tuple[Any, str]:
    """(contents, SHA-256 of the bytes read) of a torch file, loaded without executing code."""
    if not path.is_file():
        raise LandscapeError(f"{what} {path} does not exist")
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():  # torch's notice about an unusual pickle protocol: the error says enough
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # untrusted bytes: any failure to parse them means the file is not usable
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            first_line = "it holds Python objects other than tensors and plain values; refused unread"
        raise LandscapeError(f"{what} {path} is corrupt or not a torch file ({first_line[:120]})") from None
    return payload, hashlib.sha256(data).hexdigest()


def read_checkpoint(path: str | Path) -> CheckpointFile:
    """Read and validate a checkpoint once (the hash comes from the same bytes); every failure is
    a one-line LandscapeError."""
    path = Path(path)
    payload, sha256 = _torch_load(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LandscapeError(f"{path} is not a landscape checkpoint (no {FORMAT!r} header); train one with "
                             f"`landscape train`, or give your own model with --model MODULE:CALLABLE")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise LandscapeError(f"checkpoint {path} has format version {payload['format_version']}; "
                             f"this landscape reads up to {FORMAT_VERSION}")
    return CheckpointFile(path, payload, sha256)


def model_from(checkpoint: CheckpointFile) -> nn.Module:
    """The model a read checkpoint describes, with its weights, in eval mode on the CPU."""
    metadata = checkpoint.metadata
    try:
        model = build_model(metadata)
    except LandscapeError as e:
        raise LandscapeError(f"checkpoint {checkpoint.path}: {e}") from None
    try:
        model.load_state_dict(checkpoint.payload["state_dict"])
    except RuntimeError as e:
        raise LandscapeError(f"checkpoint {checkpoint.path} does not match the {metadata.get('architecture')}-"
                             f"{metadata.get('depth')} it declares ({str(e).splitlines()[0][:120]})") from None
    require_finite_weights(model, checkpoint.path)
    return model.eval()


def require_finite_weights(model: nn.Module, path: str | Path) -> None:
    """Refuse a model whose weights or BatchNorm statistics hold NaN or inf: every number measured
    around it would be NaN."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise LandscapeError(f"{path} holds non-finite weights: {bad:,} NaN or inf value(s) in {name!r}")


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on the CPU, metadata) from a checkpoint written by `save_checkpoint`."""
    checkpoint = read_checkpoint(path)
    return model_from(checkpoint), checkpoint.metadata


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to measure (eval mode, CPU), the SHA-256 of the file its weights came from,
    and what is known about it (a checkpoint's metadata, or the factory and its arguments)."""

    model: nn.Module
    sha256: str
    metadata: dict


def state_dict_of(payload: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict inside a weights file as training scripts save it: the dict itself, or under
    'state_dict' or 'model'; a 'module.' prefix (DataParallel, DistributedDataParallel) is removed."""
    for key in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    if not isinstance(payload, dict) or not payload or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
        raise LandscapeError(f"weights file {path} holds no state_dict (a dict of tensors, possibly under "
                             f"'state_dict' or 'model')")
    if all(k.startswith("module.") for k in payload):
        payload = {k[len("module."):]: v for k, v in payload.items()}
    return payload


def load_foreign_model(weights: str | Path, spec: ModelSpec) -> LoadedModel:
    """Your model: `spec.factory(**spec.args)`, filled strictly from the state_dict in `weights`."""
    path = Path(weights)
    payload, sha256 = _torch_load(path, "weights file")
    state = state_dict_of(payload, path)
    factory = import_callable(spec.factory, "--model")
    try:
        model = factory(**spec.args)
    except Exception as e:  # your code: whatever it raises, the message names it and where it came from
        raise LandscapeError(f"--model {spec.factory} with --model-args {spec.args} raised "
                             f"{type(e).__name__}: {first_line(e)}") from None
    if not isinstance(model, nn.Module):
        raise LandscapeError(f"--model {spec.factory} returned {type(model).__name__}, not a torch nn.Module")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # tensor shapes differ
        detail = " ".join(str(e).split())
        raise LandscapeError(f"weights file {path} does not fit --model {spec.factory} ({detail[:160]})") from None
    if result.missing_keys or result.unexpected_keys:
        parts = [f"{len(keys)} {kind} key(s), e.g. {keys[0]!r}" for kind, keys in
                 (("missing", result.missing_keys), ("unexpected", result.unexpected_keys)) if keys]
        raise LandscapeError(f"weights file {path} does not fit --model {spec.factory}: {'; '.join(parts)}")
    require_finite_weights(model, path)
    return LoadedModel(model.eval(), sha256, {"model_factory": spec.factory, "model_args": dict(spec.args)})


def load_model(path: str | Path, spec: ModelSpec = ModelSpec()) -> LoadedModel:
    """A landscape checkpoint (spec.factory None) or your own model's weights file, ready to measure."""
    if spec.factory is None:
        checkpoint = read_checkpoint(path)
        return LoadedModel(model_from(checkpoint), checkpoint.sha256, checkpoint.metadata)
    return load_foreign_model(path, spec)


def checkpoint_summary(path: str | Path) -> dict:
    """The headline numbers a finished `landscape train` run records (blank for other checkpoints)."""
    meta = read_checkpoint(path).metadata
    params = ", ".join(f"{k}={v}" for k, v in meta.get("activation_params", {}).items())
    percent = {k: None if meta.get(k) is None else round(100 * meta[k], 2) for k in ("train_acc", "test_acc")}
    rounded = {k: None if meta.get(k) is None else round(meta[k], 4) for k in ("train_loss", "test_loss")}
    seconds = meta.get("seconds_per_epoch")
    return {"checkpoint": Path(path).name, "activation": meta.get("activation") + (f" ({params})" if params else ""),
            "epochs": meta.get("epochs", meta.get("epoch")),  # snapshots record the epoch they were taken at
            "train loss": rounded["train_loss"], "train acc %": percent["train_acc"],
            "test loss": rounded["test_loss"], "test acc %": percent["test_acc"],
            "s/epoch": None if seconds is None else round(seconds), "device": meta.get("device")}
