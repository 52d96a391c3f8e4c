"""Bad input, case by case: a one-line error naming the input and the problem, exit 2, no
traceback, nothing written, and no existing file changed."""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import h5py
import pytest
import torch

from landscape import activation_factory, resnet, save_checkpoint
from landscape.checkpoint import model_metadata
from landscape.cli import main


class ExecutesCode:
    """Unpickling this runs `touch MARKER`: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Checkpoints, data, surfaces and folders the cases point at (built once, never changed)."""
    root = tmp_path_factory.mktemp("world")
    from PIL import Image

    from landscape.data import CIFAR10_CLASSES

    from .conftest import synthetic_images
    for split, k, seed in (("train", 4, 1), ("test", 2, 2)):
        images = synthetic_images(k, seed)
        for i, (img, label) in enumerate(zip(images.images, images.labels)):
            folder = root / "cifar" / split / CIFAR10_CLASSES[int(label)]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
    torch.manual_seed(0)
    meta = model_metadata(8, "relu", {})
    model = resnet(8, activation_factory("relu"))
    save_checkpoint(root / "tiny.pt", model, meta)
    torch.manual_seed(1)
    save_checkpoint(root / "other.pt", resnet(8, activation_factory("relu")), meta)
    (root / "empty.pt").write_bytes(b"")
    full = (root / "tiny.pt").read_bytes()
    (root / "truncated.pt").write_bytes(full[: len(full) // 2])
    (root / "random.pt").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    with open(root / "evil.pt", "wb") as f:
        pickle.dump(ExecutesCode(root / "EXECUTED"), f)
    torch.save({"format": "landscape.checkpoint", "format_version": 1, "metadata": meta,
                "state_dict": {"weird": ExecutesCode(root / "EXECUTED")}}, root / "evil_inside.pt")
    save_checkpoint(root / "vit.pt", model, {**meta, "architecture": "vit"})
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if not k.startswith("fc.")}
    torch.save({"format": "landscape.checkpoint", "format_version": 1, "metadata": meta, "state_dict": missing},
               root / "missing_keys.pt")
    torch.save({"format": "landscape.checkpoint", "format_version": 1, "metadata": meta,
                "state_dict": {**state, "extra.weight": torch.zeros(3)}}, root / "extra_keys.pt")
    save_checkpoint(root / "deep.pt", resnet(14, activation_factory("relu")), model_metadata(14, "relu", {}))
    base = ["--data", str(root / "cifar"), "--samples", "10", "--quiet"]
    assert main(["surface", str(root / "tiny.pt"), *base, "--x=-1:1:3", "--y=-1:1:3", "--out",
                 str(root / "plane.h5")]) == 0
    assert main(["surface", str(root / "tiny.pt"), *base, "--x=-1:1:3", "--out", str(root / "line.h5")]) == 0
    (root / "not.h5").write_bytes(b"plain text, not HDF5")
    plane = (root / "plane.h5").read_bytes()
    (root / "truncated.h5").write_bytes(plane[: len(plane) // 2])
    with h5py.File(root / "foreign.h5", "w") as f:
        f["data"] = [1, 2, 3]
    (root / "emptydata").mkdir()
    (root / "wrongclasses" / "train" / "cats").mkdir(parents=True)
    corrupt = root / "corrupt_images"
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (corrupt / split / name).mkdir(parents=True)
            (corrupt / split / name / "0.png").write_bytes(b"not a png")
    (root / "a_file").write_text("")
    (root / "two_snapshots").mkdir()
    for epoch in (1, 2):
        save_checkpoint(root / "two_snapshots" / f"epoch_{epoch:03d}.pt", model, meta)
    (root / "foreign_snapshots").mkdir()
    for epoch in (1, 2, 3):
        save_checkpoint(root / "foreign_snapshots" / f"epoch_{epoch:03d}.pt", resnet(14, activation_factory("relu")),
                        model_metadata(14, "relu", {}))
    return root


def surface(world: Path, checkpoint: str = "tiny.pt", *extra: str, out: str = "out/s.h5") -> list[str]:
    return ["surface", str(world / checkpoint), "--data", str(world / "cifar"), "--samples", "10",
            "--x=-1:1:3", "--out", str(world / out), "--quiet", *extra]


# (case id, argv from the world folder, words the one-line message must contain)
CASES = [
    ("missing checkpoint", lambda w: surface(w, "nope.pt"), "checkpoint", "nope.pt does not exist"),
    ("empty checkpoint", lambda w: surface(w, "empty.pt"), "empty.pt", "corrupt or not a torch file"),
    ("truncated checkpoint", lambda w: surface(w, "truncated.pt"), "truncated.pt", "corrupt"),
    ("random-bytes checkpoint", lambda w: surface(w, "random.pt"), "random.pt", "corrupt"),
    ("code-executing pickle", lambda w: surface(w, "evil.pt"), "evil.pt", "refused unread"),
    ("code hidden inside a checkpoint", lambda w: surface(w, "evil_inside.pt"), "evil_inside.pt", "refused unread"),
    ("another architecture", lambda w: surface(w, "vit.pt"), "vit.pt", "architecture 'vit' is not supported"),
    ("missing keys", lambda w: surface(w, "missing_keys.pt"), "missing_keys.pt", "does not match"),
    ("extra keys", lambda w: surface(w, "extra_keys.pt"), "extra_keys.pt", "does not match"),
    ("batch size not a number", lambda w: surface(w, "tiny.pt", "--batch-size", "big"), "--batch-size",
     "whole number or auto"),
    ("batch size zero", lambda w: surface(w, "tiny.pt", "--batch-size", "0"), "--batch-size", "at least 1"),
    ("no workers", lambda w: surface(w, "tiny.pt", "--workers", "0"), "--workers", "at least 1"),
    ("grid backwards", lambda w: surface(w, "tiny.pt", "--x=1:-1:5"), "1:-1:5", "grid"),
    ("grid of no points", lambda w: surface(w, "tiny.pt", "--x=0:1:0"), "0:1:0", "grid"),
    ("grid not numbers", lambda w: surface(w, "tiny.pt", "--x=a:b:c"), "a:b:c", "grid"),
    ("grid fractional count", lambda w: surface(w, "tiny.pt", "--x=0:1:2.5"), "0:1:2.5", "grid"),
    ("grid too large", lambda w: surface(w, "tiny.pt", "--x=-1:1:100000000", "--y=-1:1:100000000"),
     "10,000,000,000,000,000", "too large"),
    ("unknown activation", lambda w: ["train", "--activation", "tanhh", "--data", str(w / "cifar"),
                                      "--out", str(w / "out" / "m.pt")], "tanhh", "invalid choice"),
    ("unknown architecture", lambda w: ["train", "--architecture", "vit", "--data", str(w / "cifar"),
                                        "--out", str(w / "out" / "m.pt")], "vit", "invalid choice"),
    ("unknown metric", lambda w: ["plot", str(w / "plane.h5"), "--metric", "val_loss", "--out-dir",
                                  str(w / "out")], "val_loss", ""),
    ("unknown split", lambda w: surface(w, "tiny.pt", "--split", "valid"), "valid", "invalid choice"),
    ("unknown precision", lambda w: surface(w, "tiny.pt", "--precision", "fp8"), "fp8", "invalid choice"),
    ("data path missing", lambda w: surface(w, "tiny.pt", "--data", str(w / "nodata")), "nodata", "not a folder"),
    ("data folder empty", lambda w: surface(w, "tiny.pt", "--data", str(w / "emptydata")), "emptydata",
     "neither train/<class>/ folders nor"),
    ("wrong class folders", lambda w: surface(w, "tiny.pt", "--data", str(w / "wrongclasses")), "cats",
     "does not hold the 10 CIFAR-10 class folders"),
    ("corrupt images", lambda w: surface(w, "tiny.pt", "--data", str(w / "corrupt_images")), "0.png",
     "cannot be read"),
    ("samples zero", lambda w: surface(w, "tiny.pt", "--samples", "0"), "--samples", "at least 1"),
    ("samples negative", lambda w: surface(w, "tiny.pt", "--samples", "-5"), "got -5", "--samples must be at least 1"),
    ("samples beyond the split", lambda w: surface(w, "tiny.pt", "--samples", "99999999"), "99999999",
     "more than the 40 examples"),
    ("output folder cannot exist", lambda w: surface(w, "tiny.pt", out="a_file/sub/s.h5"), "a_file", "--out"),
    ("surface of another checkpoint", lambda w: surface(w, "other.pt", "--y=-1:1:3", out="plane.h5"), "plane.h5",
     "holds a different surface"),
    ("output is not a surface", lambda w: surface(w, "tiny.pt", out="not.h5"), "not.h5", "not an HDF5 file"),
    ("plot of a non-HDF5 file", lambda w: ["plot", str(w / "not.h5"), "--out-dir", str(w / "out")], "not.h5",
     "not an HDF5 file"),
    ("plot of a truncated HDF5 file", lambda w: ["plot", str(w / "truncated.h5"), "--out-dir", str(w / "out")],
     "truncated.h5", "not an HDF5 file"),
    ("plot of another HDF5 file", lambda w: ["plot", str(w / "foreign.h5"), "--out-dir", str(w / "out")],
     "foreign.h5", "not a landscape surface file"),
    ("directions that do not fit", lambda w: surface(w, "deep.pt", "--directions", str(w / "line.h5")), "direction x",
     "does not fit the model"),
    ("directions file missing", lambda w: surface(w, "tiny.pt", "--directions", str(w / "none.h5")), "none.h5",
     "does not exist"),
    ("1-D surface with 2-D options", lambda w: ["plot", str(w / "line.h5"), "--kinds", "surface3d", "--out-dir",
                                                str(w / "out")], "line.h5", "1-D"),
    ("trajectory of two snapshots", lambda w: surface(w, "tiny.pt", "--y=-1:1:3", "--trajectory",
                                                      str(w / "two_snapshots")), "two_snapshots", "needs at least 3"),
    ("trajectory of another model", lambda w: surface(w, "tiny.pt", "--y=-1:1:3", "--trajectory",
                                                      str(w / "foreign_snapshots")),
     "foreign_snapshots", "parameter names differ"),
    ("model args not JSON", lambda w: ["surface", "--model", "torchvision.models:resnet18", "--model-args", "{x",
                                       "--weights", str(w / "tiny.pt"), "--out", str(w / "out" / "s.h5")],
     "--model-args", "JSON"),
    ("unknown dataset", lambda w: surface(w, "tiny.pt", "--dataset", "imagenet"), "imagenet", "unknown dataset"),
    ("unknown loss", lambda w: surface(w, "tiny.pt", "--loss", "hinge"), "hinge", "unknown loss"),
    ("unknown study profile", lambda w: ["study", "--profile", "huge"], "huge", "invalid choice"),
]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".lock" not in p.name}


@pytest.mark.parametrize("argv, names, says", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(world, capsys, recwarn, argv, names, says):
    before = snapshot(world)
    assert main(argv(world)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not [str(w.message) for w in recwarn], "a warning would be printed beside the one line"
    assert err.startswith("landscape ") and " error: " in err, err
    assert names in err and says in err, err
    assert snapshot(world) == before  # nothing written, nothing changed (output folders included)
    assert not (world / "EXECUTED").exists()  # no code from a file ever ran


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


def test_debug_shows_the_traceback(world, capsys):
    assert main([*surface(world, "nope.pt"), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_no_byte_string_crashes_the_checkpoint_reader(tmp_path):
    """Random bytes, and random damage to a real checkpoint, are always a one-line LandscapeError."""
    from landscape import LandscapeError
    from landscape.checkpoint import read_checkpoint

    good = save_checkpoint(tmp_path / "good.pt", resnet(8, activation_factory("relu")), model_metadata(8, "relu", {}))
    original = good.read_bytes()
    g = torch.Generator().manual_seed(0)
    for trial in range(100):
        if trial % 2:
            data = torch.randint(0, 256, (int(torch.randint(1, 5000, (1,), generator=g)),), generator=g,
                                 dtype=torch.uint8).numpy().tobytes()
        else:
            damaged = bytearray(original)
            cut = int(torch.randint(1, len(original), (1,), generator=g))
            flipped = damaged[:cut] + bytes([damaged[cut] ^ 0xFF]) + damaged[cut + 1:]
            damaged = damaged[:cut] if trial % 4 == 0 else flipped
            data = bytes(damaged)
        path = tmp_path / "bad.pt"
        path.write_bytes(data)
        try:
            read_checkpoint(path)
        except LandscapeError as e:
            assert "\n" not in str(e)
