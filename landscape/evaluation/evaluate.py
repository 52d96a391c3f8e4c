"""Loss and accuracy of a model on a prepared tensor of inputs: the inner loop of evaluation,
and the fixed evaluation sets it runs on.

Used by training (per-epoch test score), by the surface engine (every grid point) and by the
checkpoint metrics. Inputs arrive normalised and on the device; only `load_eval_set` reads data.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import LandscapeError
from landscape.evaluation.options import require_loss
from landscape.runtime import autocast, side_by_side
from landscape.sources.data import balanced_subset, normalize
from landscape.sources.datasets import load_split
from landscape.sources.specs import CIFAR10_MEAN, CIFAR10_STD, DatasetSpec
from landscape.sources.user_code import import_callable

LossSum = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, labels) → summed loss


def cross_entropy_sum(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, labels, reduction="sum")


def mse_sum(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Squared error to the one-hot labels, averaged over classes, summed over examples."""
    one_hot = F.one_hot(labels, outputs.shape[1]).to(outputs.dtype)
    return F.mse_loss(outputs, one_hot, reduction="sum") / outputs.shape[1]


def loss_function(spec: str) -> LossSum:
    """The summed loss `spec` names; your MODULE:CALLABLE(outputs, labels) returns the batch mean
    (as torch's losses do by default) and is scaled by the batch size."""
    require_loss(spec)
    if spec == "cross_entropy":
        return cross_entropy_sum
    if spec == "mse":
        return mse_sum
    user_loss = import_callable(spec, "--loss")
    return lambda outputs, labels: user_loss(outputs, labels) * len(labels)


@dataclass(frozen=True)
class Score:
    """Mean cross-entropy (nats) and accuracy (fraction correct) over a set of examples."""

    loss: float
    accuracy: float


class StandardizedImages:
    """uint8 images [N, C, H, W] kept on the device and standardised slice by slice: a quarter of
    the memory of float inputs (the whole training set on a GPU that cannot hold it as floats).
    Indexing gives what `prepare_inputs` would have given for those images."""

    def __init__(self, images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]):
        self.images, self.mean, self.std = images, mean, std

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __getitem__(self, index) -> torch.Tensor:
        return normalize(self.images[index], self.mean, self.std).contiguous(memory_format=torch.channels_last)


@dataclass(frozen=True)
class EvalSet:
    """One split's prepared inputs [N, ...] (standardised, on the device; or uint8 standardised per
    batch) and labels [N]."""

    split: str
    inputs: torch.Tensor | StandardizedImages
    labels: torch.Tensor
    source: str = ""
    sha256: str = ""  # of the raw examples and labels chosen (`samples_sha256`)
    mean: tuple[float, ...] | None = None  # the standardisation applied, if any
    std: tuple[float, ...] | None = None
    classes: int | None = None  # how many classes the whole split's data names (the model must give as many outputs)


def evaluate(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 128,
             precision: str = "fp32", loss: LossSum = cross_entropy_sum, workers: int = 1) -> Score:
    """Score `model` in its current mode on prepared inputs [N, ...] and labels [N]: mean `loss`
    per example, and the share whose largest output is the label.

    On a CPU, `workers` > 1 scores the batches in that many threads at once, each with its share of
    torch's threads: small convolutions scale poorly over threads within one operation, so
    several batches side by side use the cores better (benchmarks/bench_surface.py). The batches
    are the same, so only the order of the final float64 sum changes."""
    starts = range(0, len(labels), batch_size)
    workers = min(workers, len(starts)) if inputs.device.type == "cpu" else 1
    shards = [starts[w::workers] for w in range(max(1, workers))]
    parts = side_by_side(lambda shard: _score_batches(model, inputs, labels, shard, batch_size, precision, loss),
                         shards, workers)
    total_loss, correct = sum(p[0] for p in parts), sum(p[1] for p in parts)
    n = len(labels)
    return Score(float(total_loss) / n, int(correct) / n)


def correct_per_example(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                        batch_size: int = 500) -> torch.Tensor:
    """Whether each example's largest output is its label ([N] bool, model in eval mode): what
    paired comparisons of two models' accuracy on the same examples need."""
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(inputs[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]
                          for i in range(0, len(labels), batch_size)]).cpu()


def _score_batches(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, starts: Sequence[int],
                   batch_size: int, precision: str, loss: LossSum) -> tuple[float, int]:
    """Summed loss and correct count over the batches beginning at `starts` (inference mode and
    autocast are per thread, so they are entered here)."""
    total_loss = torch.zeros((), dtype=torch.float64, device=inputs.device)
    correct = torch.zeros((), dtype=torch.int64, device=inputs.device)
    with torch.inference_mode(), autocast(inputs.device, precision):
        for start in starts:
            logits = model(inputs[start:start + batch_size])
            if logits.dtype in (torch.bfloat16, torch.float16):
                logits = logits.float()
            target = labels[start:start + batch_size]
            total_loss += loss(logits, target).double()
            correct += (logits.argmax(1) == target).sum()
    return float(total_loss), int(correct)


def prepare_inputs(images: torch.Tensor, device: torch.device, mean: tuple[float, ...] | None = CIFAR10_MEAN,
                   std: tuple[float, ...] | None = CIFAR10_STD,
                   keep_uint8: bool | None = None) -> torch.Tensor | StandardizedImages:
    """uint8 images → standardised float32 on `device`, channels_last (faster convolutions); float
    inputs (mean None) are moved as they are. With `keep_uint8` (None: when the floats would take
    more than half of a GPU's free memory) they stay uint8, standardised per batch."""
    if mean is None:
        return images.to(device, torch.float32)
    if keep_uint8 is None:
        keep_uint8 = device.type == "cuda" and 4 * images.numel() > torch.cuda.mem_get_info(device)[0] // 2
    standardized = StandardizedImages(images.to(device), mean, std)
    return standardized if keep_uint8 else standardized[:]


def samples_sha256(images: torch.Tensor, labels: torch.Tensor) -> str:
    """The identity of an evaluation set by content (raw images or inputs, then labels), wherever it was read."""
    digest = hashlib.sha256()
    for tensor in (images, labels):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_eval_set(data: str | None, split: str, samples: int | None, data_seed: int, device: torch.device,
                  quiet: bool = False, dataset: DatasetSpec = DatasetSpec()) -> EvalSet:
    """The same class-balanced `samples` examples of `split` (None: all of them) for every point and
    every model, prepared on `device`; more than the split holds is refused."""
    if samples is not None and samples < 1:
        raise LandscapeError(f"--samples must be at least 1; got {samples}")
    images = load_split(dataset, data, split, quiet=quiet)
    if samples is not None and samples > len(images):
        raise LandscapeError(f"--samples {samples} is more than the {len(images):,} examples of the {split} split")
    chosen = images if samples is None else images.subset(balanced_subset(images.labels, samples, data_seed))
    if chosen.images.is_floating_point() and not bool(torch.isfinite(chosen.images).all()):
        bad = int((~torch.isfinite(chosen.images)).any(dim=tuple(range(1, chosen.images.dim()))).sum())
        raise LandscapeError(f"{bad:,} of the {len(chosen):,} {split} inputs hold NaN or inf values ({images.source})")
    return EvalSet(split, prepare_inputs(chosen.images, device, chosen.mean, chosen.std), chosen.labels.to(device),
                   images.source, samples_sha256(chosen.images, chosen.labels), chosen.mean, chosen.std,
                   max(len(images.classes), int(images.labels.max()) + 1))


def value_names(splits: tuple[str, ...]) -> list[str]:
    """The value datasets for these splits: train_loss, train_acc, test_loss, test_acc order."""
    return [f"{split}_{kind}" for split in splits for kind in ("loss", "acc")]
