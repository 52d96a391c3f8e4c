"""Checkpoints: a plain state_dict plus the metadata needed to rebuild the model.

Stage: checkpoint → model. Files are written atomically and read with
`torch.load(weights_only=True)`, so loading never executes code from the file.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .activations import activation_factory
from .errors import LandscapeError, require_choice
from .files import atomic_write
from .models import MLP, resnet

FORMAT = "landscape.checkpoint"
FORMAT_VERSION = 1
ARCHITECTURES = ("cifar_resnet", "mlp")
CIFAR_INPUT = 3 * 32 * 32


def model_metadata(depth: int, activation: str, activation_params: dict, num_classes: int = 10,
                   architecture: str = "cifar_resnet", width: int = 500, dropout: float = 0.25) -> dict:
    """The metadata keys that define the architecture (what `build_model` reads). ResNet: depth 6n+2.
    MLP: `depth` hidden layers of `width` units, each Linear → BatchNorm → activation → dropout."""
    require_choice("architecture", architecture, ARCHITECTURES)
    meta = {"architecture": architecture, "depth": depth, "activation": activation,
            "activation_params": dict(activation_params), "num_classes": num_classes}
    if architecture == "mlp":
        meta.update({"width": width, "dropout": dropout, "batch_norm": True, "in_features": CIFAR_INPUT})
    return meta


def build_model(metadata: dict) -> nn.Module:
    """A freshly initialised model of the architecture that `metadata` describes."""
    architecture = metadata.get("architecture")
    if architecture not in ARCHITECTURES:
        raise LandscapeError(f"architecture {architecture!r} is not supported; expected one of "
                             f"{', '.join(ARCHITECTURES)}")
    factory = activation_factory(metadata["activation"], **metadata.get("activation_params", {}))
    num_classes = metadata.get("num_classes", 10)
    if architecture == "mlp":
        if metadata["depth"] < 1:
            raise LandscapeError(f"an MLP needs at least one hidden layer; got depth {metadata['depth']}")
        return MLP(metadata.get("in_features", CIFAR_INPUT), (metadata["width"],) * metadata["depth"], num_classes,
                   factory, batch_norm=metadata.get("batch_norm", True), dropout=metadata.get("dropout", 0.0))
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


def read_checkpoint(path: str | Path) -> CheckpointFile:
    """Read and validate a checkpoint once (the hash comes from the same bytes); every failure is
    a one-line LandscapeError."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"checkpoint {path} does not exist")
    data = path.read_bytes()
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LandscapeError(f"checkpoint {path} is corrupt or not a torch file ({first_line[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LandscapeError(f"{path} is not a landscape checkpoint (no {FORMAT!r} header); "
                             f"train one with `landscape train`")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise LandscapeError(f"checkpoint {path} has format version {payload['format_version']}; "
                             f"this landscape reads up to {FORMAT_VERSION}")
    return CheckpointFile(path, payload, hashlib.sha256(data).hexdigest())


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
    return model.eval()


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on the CPU, metadata) from a checkpoint written by `save_checkpoint`."""
    checkpoint = read_checkpoint(path)
    return model_from(checkpoint), checkpoint.metadata


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
