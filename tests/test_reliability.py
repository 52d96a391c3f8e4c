"""Trust at the edges: data edited in place is read again, classes are numbered by the training
split, hidden entries are no classes, unfinished surfaces are refused or labelled, and models
with tuple, dict or `.logits` outputs give the same numbers as a plain one. The refusals
themselves (one line, exit 2, nothing written) are tabled in test_bad_input.py."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import activation_factory, resnet, save_checkpoint
from landscape.cli import main
from landscape.errors import LandscapeError, LandscapeWarning
from landscape.sources.data import load_cifar10
from landscape.sources.datasets import load_split
from landscape.sources.specs import CIFAR10_CLASSES, DatasetSpec, model_metadata
from landscape.storage.surface_file import read_surface


def move(path: Path, folder: Path) -> None:
    """Move a file to another class folder, keeping its name and modification time."""
    stat = path.stat()
    target = folder / path.name
    shutil.move(path, target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def edit_in_place(split_dir: Path) -> None:
    """Two images swap classes and one is replaced: the file count and the last file name stay."""
    a, b = sorted((split_dir / CIFAR10_CLASSES[0]).iterdir())[0], sorted((split_dir / CIFAR10_CLASSES[1]).iterdir())[0]
    move(a, split_dir / CIFAR10_CLASSES[1])
    move(b, split_dir / CIFAR10_CLASSES[0])
    replaced = sorted((split_dir / CIFAR10_CLASSES[2]).iterdir())[0]
    stat = replaced.stat()
    shutil.copyfile(sorted((split_dir / CIFAR10_CLASSES[3]).iterdir())[0], replaced)
    os.utime(replaced, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its old time


@pytest.mark.parametrize("loader", ["cifar10", "imagefolder"])
def test_a_folder_edited_in_place_is_decoded_again(image_folder, loader):
    def load():
        if loader == "cifar10":
            return load_cifar10(str(image_folder), "train", quiet=True)
        return load_split(DatasetSpec(f"imagefolder:{image_folder}"), None, "train", quiet=True)
    before = load()
    edit_in_place(image_folder / "train")
    after = load()
    assert not torch.equal(before.labels, after.labels) or not torch.equal(before.images, after.images)
    fresh_cache = load()  # the new cache entry reads back the same
    assert torch.equal(after.images, fresh_cache.images) and torch.equal(after.labels, fresh_cache.labels)


def test_an_edited_folder_never_resumes_an_old_surface(image_folder, tmp_path, capsys):
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "m.pt", resnet(8, activation_factory("relu")),
                                 model_metadata(8, "relu", {}))
    out = tmp_path / "s.h5"
    argv = ["surface", str(checkpoint), "--data", str(image_folder), "--samples", "all", "--x=-1:1:3",
            "--out", str(out), "--quiet"]
    assert main(argv) == 0
    old = read_surface(out)
    edit_in_place(image_folder / "train")
    before = out.read_bytes()
    assert main(argv) == 2
    assert "holds a different surface" in capsys.readouterr().err and out.read_bytes() == before
    assert main([*argv[:-3], "--out", str(tmp_path / "new.h5"), "--quiet"]) == 0
    new = read_surface(tmp_path / "new.h5")
    assert new.header.data_sha256 != old.header.data_sha256
    assert not np.allclose(new.values["train_loss"], old.values["train_loss"])


def test_every_split_is_numbered_by_the_training_split(tmp_path):
    root = tmp_path / "pets"
    for split, classes in (("train", ("bird", "cat", "dog")), ("test", ("bird", "dog"))):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            from PIL import Image
            Image.new("RGB", (8, 8), (40 * label, 0, 0)).save(folder / "0.png")
    (root / "train" / ".ipynb_checkpoints").mkdir()  # hidden: never a class
    (root / "train" / "bird" / ".DS_Store.png").write_bytes(b"not an image")  # hidden: never an image
    train = load_split(DatasetSpec(f"imagefolder:{root}"), None, "train")
    assert train.classes == ("bird", "cat", "dog") and train.labels.tolist() == [0, 1, 2]
    with pytest.warns(LandscapeWarning, match="no images of class\\(es\\) cat"):
        test = load_split(DatasetSpec(f"imagefolder:{root}"), None, "test")
    assert test.labels.tolist() == [0, 2]  # dog keeps the training split's label 2, not 1
    (root / "test" / "fish").mkdir()
    (root / "test" / "fish" / "0.png").write_bytes((root / "test" / "dog" / "0.png").read_bytes())
    with pytest.raises(LandscapeError, match="fish that are not among the training split's 3 classes"):
        load_split(DatasetSpec(f"imagefolder:{root}"), None, "test")


def test_hidden_folders_are_no_cifar_classes(image_folder):
    before = load_cifar10(str(image_folder), "train")
    (image_folder / "train" / ".ipynb_checkpoints").mkdir()
    (image_folder / "train" / "cat" / ".hidden.png").write_bytes(b"junk")
    after = load_cifar10(str(image_folder), "train")
    assert torch.equal(before.labels, after.labels) and torch.equal(before.images, after.images)


def test_a_cifar_test_split_without_a_class_keeps_its_labels(image_folder):
    shutil.rmtree(image_folder / "test" / "bird")
    with pytest.warns(LandscapeWarning, match="bird"):
        test = load_cifar10(str(image_folder), "test")
    assert 2 not in test.labels.tolist() and test.labels.max() == 9  # cat stays 3, truck 9


@pytest.fixture
def partial_surface(image_folder, tmp_path) -> Path:
    """A 3×3 surface of which 4 points are done: a run interrupted early."""
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "m.pt", resnet(8, activation_factory("relu")),
                                 model_metadata(8, "relu", {}))
    out = tmp_path / "s.h5"
    assert main(["surface", str(checkpoint), "--data", str(image_folder), "--samples", "10", "--x=-1:1:3",
                 "--y=-1:1:3", "--out", str(out), "--quiet"]) == 0
    import h5py
    with h5py.File(out, "r+") as f:
        done = f["done"][()]
        done.ravel()[4:] = 0
        f["done"][...] = done
        for name in ("train_loss", "train_acc"):
            values = f[name][()]
            values.ravel()[4:] = np.nan
            f[name][...] = values
    return out


def test_consumers_refuse_an_unfinished_surface_unless_asked(partial_surface, tmp_path, capsys):
    for argv in (["metrics", str(partial_surface)], ["report", str(partial_surface), "--out", str(tmp_path / "r.html")],
                 ["plot", str(partial_surface), "--out-dir", str(tmp_path / "f")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "unfinished (partial: 4 of 9 points)" in err and "--partial" in err, err
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "f").exists()
    assert main(["metrics", str(partial_surface), "--partial"]) == 0
    assert "[partial: 4 of 9 points]" in capsys.readouterr().out
    assert read_surface(partial_surface).metrics == {}  # nothing stored from part of a grid
    assert main(["report", str(partial_surface), "--out", str(tmp_path / "r.html"), "--partial"]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Partial results." in page and "partial: 4 of 9 points" in page


def test_a_surface_of_only_nan_losses_is_marked_unfinished(tmp_path):
    from landscape.storage.schema import SurfaceHeader
    from landscape.storage.surface_file import create_surface_file, write_points
    from landscape.surfaces.sweep import require_finite_losses

    path = create_surface_file(tmp_path / "s.h5", SurfaceHeader(splits=("train",)), np.linspace(-1, 1, 3), None, [])
    write_points(path, [0, 1, 2], {"train_loss": [float("nan"), float("inf"), float("nan")], "train_acc": [0.1] * 3})
    with pytest.raises(LandscapeError, match="every loss computed .* is NaN or inf"):
        require_finite_losses(path)
    assert read_surface(path).progress.complete is False
    write_points(path, [1], {"train_loss": [2.0], "train_acc": [0.1]})
    require_finite_losses(path)  # one finite point: a result (the others are masked where used)
