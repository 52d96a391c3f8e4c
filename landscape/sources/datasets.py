"""Classification data from anywhere: torchvision's downloadable sets, any ImageFolder tree, or
your own callable returning inputs and labels.

Stage: data. Every source becomes an `ImageSet` (uint8 images with the statistics that
standardise them, or ready float inputs), so the class-balanced fixed subset, the preloaded
tensors and the evaluation engine work the same for all of them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from landscape.errors import LandscapeError, first_line
from landscape.progress import progress
from landscape.sources.data import (
    ImageSet,
    as_given,
    cache_path,
    cached,
    class_files,
    default_cache_dir,
    default_torchvision_root,
    files_fingerprint,
    load_cifar10,
    resolve_data_root,
)
from landscape.sources.specs import IMAGE_SUFFIXES, IMAGEFOLDER, NAMED, DatasetSpec
from landscape.sources.user_code import import_callable


def require_own_data(metadata: dict, spec: DatasetSpec, checkpoint: str | Path) -> None:
    """A one-line error where a checkpoint trained on another named set would be measured on
    CIFAR-10 only because --dataset was not given (its inputs would not even fit the network)."""
    trained_on = metadata.get("dataset", "cifar10")
    if spec.is_default and trained_on != "cifar10":
        raise LandscapeError(f"{checkpoint} was trained on {trained_on}; pass --dataset {trained_on} "
                             f"(and --data where its files are) to measure it on its own data")


def load_split(spec: DatasetSpec, root: str | None, split: str, quiet: bool = False) -> ImageSet:
    """One split of the data `spec` names (`root`: where named sets and CIFAR-10 folders live)."""
    if spec.name == "cifar10":  # our folder layouts as well as torchvision's
        images = load_cifar10(root, split, quiet=quiet)
    elif spec.name in NAMED:
        images = _load_torchvision(spec.name, root, split)
    elif spec.name.startswith(IMAGEFOLDER):
        images = _load_image_folder(Path(spec.name[len(IMAGEFOLDER):]).expanduser(), split, spec.image_size, quiet)
    else:
        return _load_callable(spec.name, split)
    if spec.image_size is not None and images.images.shape[-1] != spec.image_size:
        images = ImageSet(resize(images.images, spec.image_size), images.labels, images.classes, images.source,
                          images.mean, images.std)
    if spec.mean is not None:
        if len(spec.mean) != images.images.shape[1]:
            raise LandscapeError(f"--mean has {len(spec.mean)} value(s); the images have "
                                 f"{images.images.shape[1]} channel(s)")
        images = ImageSet(images.images, images.labels, images.classes, images.source, spec.mean, spec.std)
    return images


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] → uint8 [N, C, size, size], bilinear with antialiasing."""
    out = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True,
                                          align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _as_nchw(data) -> torch.Tensor:
    """torchvision's stored images ([N, H, W], [N, H, W, C] or [N, C, H, W]) as uint8 [N, C, H, W]."""
    images = torch.as_tensor(np.asarray(data))
    if images.ndim == 3:
        return images.unsqueeze(1).contiguous()
    if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        return images.permute(0, 3, 1, 2).contiguous()
    return images.contiguous()


def _load_torchvision(name: str, root: str | None, split: str) -> ImageSet:
    """A named torchvision set from `root` (read only) or the cache folder (downloaded if absent)."""
    info = NAMED[name]
    folder = resolve_data_root(root)
    download = folder is None
    folder = Path(folder) if folder else default_torchvision_root()
    split_kwargs = {"split": split} if info.split_argument == "split" else {"train": split == "train"}
    try:
        ds = getattr(torchvision.datasets, info.cls)(str(folder), download=download, **split_kwargs)
    except (RuntimeError, OSError) as e:  # torchvision raises these for missing or undownloadable data
        problem = "could not be downloaded" if download else "is missing or incomplete"
        raise LandscapeError(f"dataset {name} at {folder} {problem} ({str(e).splitlines()[0][:120]}); pass --data "
                             f"to a folder holding torchvision's copy, or allow the download") from None
    labels = getattr(ds, "targets", None)
    labels = ds.labels if labels is None else labels
    classes = tuple(getattr(ds, "classes", ())) or tuple(str(c) for c in sorted(set(np.asarray(labels).tolist())))
    return ImageSet(_as_nchw(ds.data), torch.as_tensor(np.asarray(labels), dtype=torch.int64), classes,
                    as_given(folder), info.mean, info.std)


def _decode(files: list[tuple[str, int]], size: int | None, quiet: bool) -> dict:
    """Decode every image (greyscale if the first is, else RGB), resized to size×size if given."""
    with Image.open(files[0][0]) as first:
        mode = "L" if first.mode in ("L", "1", "I;16", "I") else "RGB"
        shape = (size, size) if size else first.size
    images = np.empty((len(files), shape[1], shape[0], 1 if mode == "L" else 3), dtype=np.uint8)
    bar = progress(len(files), "decode", "img", quiet)
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as im:
                im = im.convert(mode)
                if size:
                    im = im.resize(shape, Image.BILINEAR)
                array = np.asarray(im).reshape(images.shape[1:]) if im.size == shape else None
        except OSError as e:
            raise LandscapeError(f"image {path} cannot be read ({e})") from None
        if array is None:
            raise LandscapeError(f"{path} is {im.size[0]}×{im.size[1]}, the first image {shape[0]}×{shape[1]}; "
                                 f"pass --image-size N to resize them all")
        images[i] = array
        bar.update()
    bar.close()
    return {"images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            "labels": torch.tensor([label for _, label in files], dtype=torch.int64)}


def _decoded_folder(folder: Path, split: str, size: int | None, quiet: bool,
                    classes: tuple[str, ...] | None = None) -> tuple[tuple[str, ...], dict]:
    """The class names and the decoded images and labels of one class-folder tree (cached by the
    files' content identity, `files_fingerprint`); labels number `classes` (None: the tree's own)."""
    classes, files = class_files(folder, classes, IMAGE_SUFFIXES)
    if not files:
        raise LandscapeError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    key = cache_path(default_cache_dir(), str(folder.resolve()), split, f"{files_fingerprint(files)}|{size}",
                     prefix="imagefolder")
    return classes, cached(key, lambda: _decode(files, size, quiet))


def _channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    pixels = images.float().div_(255).transpose(0, 1).flatten(1)
    return (tuple(round(float(v), 4) for v in pixels.mean(1)),
            tuple(round(max(float(v), 1e-3), 4) for v in pixels.std(1)))


def _load_image_folder(base: Path, split: str, size: int | None, quiet: bool) -> ImageSet:
    """PATH/<split>/<class>/ if it exists, else PATH/<class>/ for every split; standardised with the
    statistics of PATH/train/ when there is one (the same for every split), else of the images read."""
    if not base.is_dir():
        raise LandscapeError(f"image folder {base} is not a folder")
    folder = base / split if (base / split).is_dir() else base
    if split == "train" or not (base / "train").is_dir():
        classes, payload = _decoded_folder(folder, split, size, quiet)
        reference = payload
    else:  # the training split names and numbers the classes, and gives the statistics
        classes, reference = _decoded_folder(base / "train", "train", size, quiet)
        _, payload = _decoded_folder(folder, split, size, quiet, classes)
    mean, std = _channel_statistics(reference["images"])
    return ImageSet(payload["images"], payload["labels"], classes, as_given(folder), mean, std)


def _load_callable(spec: str, split: str) -> ImageSet:
    """Your data: f(split) → (inputs [N, ...] float, labels [N] int), used as given (no normalisation)."""
    try:
        result = import_callable(spec, "--dataset")(split)
    except LandscapeError:
        raise
    except Exception as e:  # your code
        raise LandscapeError(f"--dataset {spec} raised {type(e).__name__} for the {split} split: "
                             f"{first_line(e)}") from None
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(t, torch.Tensor) for t in result)):
        raise LandscapeError(f"--dataset {spec} must return (inputs, labels) tensors; got {type(result).__name__}")
    inputs, labels = result
    if len(inputs) != len(labels) or labels.ndim != 1 or labels.dtype.is_floating_point:
        raise LandscapeError(f"--dataset {spec}: labels must be integer class indices [N] matching the "
                             f"{len(inputs)} inputs; got shape {tuple(labels.shape)}, {labels.dtype}")
    classes = tuple(str(c) for c in torch.unique(labels).tolist())
    return ImageSet(inputs.float(), labels.long(), classes, spec, None, None)
