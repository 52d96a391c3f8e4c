"""Checkpoints: a plain state_dict plus the metadata needed to rebuild the model.

Stage: checkpoint → model. Files are written atomically and read with
`torch.load(weights_only=True)`, so loading never executes code from the file.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .activations import activation_factory
from .errors import LandscapeError
from .models import CifarResNet, resnet

FORMAT = "landscape.checkpoint"
FORMAT_VERSION = 1
ARCHITECTURE = "cifar_resnet"


def model_metadata(depth: int, activation: str, activation_params: dict, num_classes: int = 10) -> dict:
    """The metadata keys that define the architecture (what `build_model` reads)."""
    return {"architecture": ARCHITECTURE, "depth": depth, "activation": activation,
            "activation_params": dict(activation_params), "num_classes": num_classes}


def build_model(metadata: dict) -> CifarResNet:
    """A freshly initialised model of the architecture that `metadata` describes."""
    if metadata.get("architecture") != ARCHITECTURE:
        raise LandscapeError(f"architecture {metadata.get('architecture')!r} is not supported; "
                             f"expected {ARCHITECTURE!r}")
    factory = activation_factory(metadata["activation"], **metadata.get("activation_params", {}))
    return resnet(metadata["depth"], factory, metadata.get("num_classes", 10))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save through a temporary file, so a crash never leaves a truncated file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: str | Path, model: nn.Module, metadata: dict) -> Path:
    """Write `model`'s state_dict and `metadata` (plain Python values) to `path`."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"format": FORMAT, "format_version": FORMAT_VERSION,
                       "metadata": metadata, "state_dict": state}, path)
    return path


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dictionary, validated; every failure is a one-line LandscapeError."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LandscapeError(f"checkpoint {path} is corrupt or not a torch file ({first_line[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LandscapeError(f"{path} is not a landscape checkpoint (no {FORMAT!r} header); "
                             f"train one with `landscape train`")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise LandscapeError(f"checkpoint {path} has format version {payload['format_version']}; "
                             f"this landscape reads up to {FORMAT_VERSION}")
    return payload


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """(model in eval mode on the CPU, metadata) from a checkpoint written by `save_checkpoint`."""
    payload = read_checkpoint(path)
    metadata = payload["metadata"]
    try:
        model = build_model(metadata)
    except LandscapeError as e:
        raise LandscapeError(f"checkpoint {path}: {e}") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as e:
        raise LandscapeError(f"checkpoint {path} does not match the {metadata.get('architecture')}-"
                             f"{metadata.get('depth')} it declares ({str(e).splitlines()[0][:120]})") from None
    return model.eval(), metadata


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (identifies the exact checkpoint a surface came from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_summary(path: str | Path) -> dict:
    """The headline numbers a finished `landscape train` run records (blank for other checkpoints)."""
    meta = read_checkpoint(path)["metadata"]
    params = ", ".join(f"{k}={v}" for k, v in meta.get("activation_params", {}).items())
    percent = {k: None if meta.get(k) is None else round(100 * meta[k], 2) for k in ("train_acc", "test_acc")}
    rounded = {k: None if meta.get(k) is None else round(meta[k], 4) for k in ("train_loss", "test_loss")}
    seconds = meta.get("seconds_per_epoch")
    return {"checkpoint": Path(path).name, "activation": meta.get("activation") + (f" ({params})" if params else ""),
            "epochs": meta.get("epochs", meta.get("epoch")),  # snapshots record the epoch they were taken at
            "train loss": rounded["train_loss"], "train acc %": percent["train_acc"],
            "test loss": rounded["test_loss"], "test acc %": percent["test_acc"],
            "s/epoch": None if seconds is None else round(seconds), "device": meta.get("device")}


def markdown_table(rows: list[dict]) -> str:
    """rows (dicts with the same keys) as a Markdown table; None prints as an empty cell."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if r[c] is None else str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
