"""CIFAR-10 as uint8 tensors: sources, decode cache, balanced subsets, batched augmentation.

Stage: data, shared by training and surface evaluation. Images are decoded once per source
into a cache file, then every later step works on whole tensors: no DataLoader and no PIL
in any loop over batches.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import CIFAR10

from landscape.errors import LandscapeError, LandscapeWarning, require_choice
from landscape.files import atomic_write
from landscape.progress import progress
from landscape.sources.specs import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, SPLITS, Split

BATCHES_FOLDER = "cifar-10-batches-py"

HOW_TO_PROVIDE = ("pass --data PATH (or set LANDSCAPE_DATA) to a folder with train/<class>/*.jpg "
                  "and test/<class>/*.jpg, or to a folder holding torchvision's cifar-10-batches-py")


@dataclass(frozen=True)
class ImageSet:
    """A labelled set: images [N, C, H, W] uint8 with the per-channel mean and std (pixel units in
    [0, 1]) that standardise them, or ready model inputs [N, ...] (floats; mean and std None);
    labels [N] int64."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    source: str
    mean: tuple[float, ...] | None = CIFAR10_MEAN
    std: tuple[float, ...] | None = CIFAR10_STD

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> ImageSet:
        return dataclasses.replace(self, images=self.images[indices], labels=self.labels[indices])


def default_cache_dir() -> Path:
    """Where decoded sets are cached: $LANDSCAPE_CACHE, else ~/.cache/landscape."""
    env = os.environ.get("LANDSCAPE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "landscape"


def default_torchvision_root() -> Path:
    return default_cache_dir() / "torchvision"


def as_given(path: str | Path) -> str:
    """A path for provenance: as the user gave it (relative stays relative), with the home folder
    written as ~ so that committed files do not reveal a machine's home."""
    home, path = str(Path.home()), str(path)
    return "~" + path[len(home):] if path.startswith(home + "/") else path


def resolve_data_root(path: str | None) -> str | None:
    """The data location: the explicit path, else $LANDSCAPE_DATA, else None (torchvision default)."""
    return path or os.environ.get("LANDSCAPE_DATA") or None


def visible(folder: Path) -> list[os.DirEntry]:
    """The entries of `folder` in name order, without hidden ones (.ipynb_checkpoints, .DS_Store):
    those are never data. Directory entries know whether they are files without a stat call each,
    which makes listing 50,000 images several times faster than through Path."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def class_files(split_dir: Path, classes: tuple[str, ...] | None = None, suffixes: tuple[str, ...] | None = None,
                named: str = "the training split's") -> tuple[tuple[str, ...], list[tuple[str, int]]]:
    """The classes and the (file, label) pairs of one split's class folders. Labels number `classes`
    (`named` says whose: the training split's, so every split is numbered alike; None: this split's
    own folders). A class folder outside `classes` is refused; a split lacking one of them is allowed,
    with a warning."""
    found = [d.name for d in visible(split_dir) if d.is_dir()]
    if not found:
        raise LandscapeError(f"{split_dir} holds no class folders (expected {split_dir}/<class>/<image>)")
    classes = tuple(found) if classes is None else classes
    unknown = [name for name in found if name not in classes]
    if unknown:
        raise LandscapeError(f"{split_dir} has class folder(s) {', '.join(unknown)} that are not among "
                             f"{named} {len(classes)} classes ({', '.join(classes)})")
    missing = [name for name in classes if name not in found]
    if missing:
        warnings.warn(f"{split_dir} has no images of class(es) {', '.join(missing)}; its labels keep {named} "
                      f"numbering", LandscapeWarning, stacklevel=2)
    files = [(e.path, classes.index(name)) for name in found for e in visible(split_dir / name)
             if e.is_file() and (suffixes is None or os.path.splitext(e.name)[1].lower() in suffixes)]
    return classes, files


def files_fingerprint(files: list[tuple[str, int]]) -> str:
    """The identity of a list of labelled files by what changes when any image or label changes:
    each file's class, name, size, inode and modification times. Keys the decode cache, so a
    folder edited in place is decoded again."""
    digest = hashlib.sha256()
    for path, label in files:
        stat = os.stat(path)
        folder, name = os.path.split(path)
        digest.update(f"{os.path.basename(folder)}/{name}|{label}|{stat.st_size}|{stat.st_ino}|{stat.st_mtime_ns}|"
                      f"{stat.st_ctime_ns}\n".encode())
    return digest.hexdigest()


def _decode_image_folder(files: list[tuple[str, int]], quiet: bool) -> tuple[torch.Tensor, torch.Tensor]:
    images = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
    bar = progress(len(files), "decode", "img", quiet)
    for i, (path, _) in enumerate(files):
        try:
            with Image.open(path) as im:
                array = np.asarray(im.convert("RGB"))
        except OSError as e:  # unreadable, truncated or not an image
            raise LandscapeError(f"image {path} cannot be read ({str(e)[:120]})") from None
        if array.shape != (32, 32, 3):
            raise LandscapeError(f"{path} is {array.shape[1]}×{array.shape[0]}, not a 32×32 CIFAR image")
        images[i] = array
        bar.update()
    bar.close()
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels


def _load_batches(root: Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        ds = CIFAR10(str(root), train=split == "train", download=download)
    except (RuntimeError, OSError) as e:  # torchvision raises these for missing/undownloadable data
        problem = "could not be downloaded" if download else f"its {BATCHES_FOLDER} is incomplete or corrupt"
        raise LandscapeError(f"no usable CIFAR-10 at {root}: {problem} ({e}); {HOW_TO_PROVIDE}") from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(ds.targets, dtype=torch.int64), as_given(Path(root) / BATCHES_FOLDER)


def cache_path(cache_dir: Path, source: str, split: str, fingerprint: str, prefix: str = "cifar10") -> Path:
    """The decode-cache file of one split of one source (a change of files changes `fingerprint`)."""
    key = hashlib.sha256(f"{source}|{split}|{fingerprint}".encode()).hexdigest()[:16]
    return cache_dir / f"{prefix}-{split}-{key}.pt"


def cached(path: Path, build) -> dict:
    """The tensors cached at `path`, built and written atomically the first time."""
    if path.exists():  # mapped, not read: a run touches only the pages of the images it uses
        return torch.load(path, weights_only=True, mmap=True)
    payload = build()
    with atomic_write(path) as tmp:  # never leave a half-written cache behind
        torch.save(payload, tmp)
    return payload


def load_cifar10(root: str | None, split: Split, cache_dir: Path | None = None,
                 quiet: bool = False) -> ImageSet:
    """CIFAR-10 `split` from an ImageFolder tree, a cifar-10-batches-py folder, or a download.

    `root` None means $LANDSCAPE_DATA, else torchvision's copy under the cache dir,
    downloaded if absent. Decoded images are cached per source, split and file list.
    """
    require_choice("split", split, SPLITS)
    cache_dir = cache_dir or default_cache_dir()
    root = resolve_data_root(root)
    if root is None:
        images, labels, source = _load_batches(default_torchvision_root(), split, download=True)
        return ImageSet(images, labels, CIFAR10_CLASSES, source)
    base = Path(root).expanduser()
    if not base.is_dir():
        raise LandscapeError(f"data path {root} is not a folder; {HOW_TO_PROVIDE}")
    if (base / split).is_dir():
        _, files = class_files(base / split, CIFAR10_CLASSES, named="CIFAR-10's")
        if not files:
            raise LandscapeError(f"{base / split} holds no images")
        payload = cached(cache_path(cache_dir, str(base.resolve()), split, files_fingerprint(files)),
                         lambda: dict(zip(("images", "labels"), _decode_image_folder(files, quiet))))
        return ImageSet(payload["images"], payload["labels"], CIFAR10_CLASSES, as_given(root))
    batches_root = base.parent if base.name == BATCHES_FOLDER else base
    if (batches_root / BATCHES_FOLDER).is_dir():
        images, labels, source = _load_batches(batches_root, split, download=False)
        return ImageSet(images, labels, CIFAR10_CLASSES, source)
    raise LandscapeError(f"data path {root} has neither {split}/<class>/ folders nor {BATCHES_FOLDER}; "
                         f"{HOW_TO_PROVIDE}")


def balanced_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of `n` examples, as equal a number per class as possible, chosen by `seed`.

    The same labels, n and seed always give the same indices (sorted ascending).
    """
    classes = torch.unique(labels)
    if not 0 < n <= len(labels):
        raise LandscapeError(f"sample count must be between 1 and {len(labels)}; got {n}")
    generator = torch.Generator().manual_seed(seed)
    per_class = [n // len(classes) + (i < n % len(classes)) for i in range(len(classes))]
    chosen = []
    for c, k in zip(classes, per_class):
        members = torch.nonzero(labels == c).flatten()
        if k > len(members):
            raise LandscapeError(f"class {int(c)} has only {len(members)} examples; cannot take {k} of {n}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.sort(torch.cat(chosen)).values


def normalize(images: torch.Tensor, mean: tuple[float, ...] = CIFAR10_MEAN,
              std: tuple[float, ...] = CIFAR10_STD) -> torch.Tensor:
    """uint8 [N, C, H, W] → float32, scaled to [0, 1] and standardised per channel."""
    shape = (1, len(mean), 1, 1)
    mean_t = torch.tensor(mean, device=images.device).view(shape)
    std_t = torch.tensor(std, device=images.device).view(shape)
    return (images.float().div_(255) - mean_t) / std_t


def augment(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop after zero padding plus random horizontal flip, on a whole batch at once.

    images: [N, C, H, W]; offsets and flips come from `generator` (on the CPU), so a
    seeded generator reproduces the same augmentation.
    """
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    cols = torch.arange(w).expand(n, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]  # [N, W]
    rows = torch.arange(h)[None, :] + dy[:, None]  # [N, H]
    dev = images.device
    batch = torch.arange(n, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows.to(dev)[:, :, None], cols.to(dev)[:, None, :]]  # [N, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()
