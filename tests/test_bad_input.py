"""Bad input, case by case: a one-line error naming the input and the problem, exit 2, no
traceback, nothing written, and no existing file changed."""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from landscape import activation_factory, resnet, save_checkpoint
from landscape.cli import main
from landscape.sources.specs import model_metadata
from landscape.storage.schema import SurfaceHeader
from landscape.storage.surface_file import create_surface_file, write_points
from tests.helpers import synthetic_images


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

    from landscape.sources.specs import CIFAR10_CLASSES

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
    all_nan = create_surface_file(root / "all_nan.h5", SurfaceHeader(activation="relu", splits=("train",)),
                                  np.linspace(-1, 1, 3), np.linspace(-1, 1, 3), [])
    write_points(all_nan, list(range(9)), {"train_loss": [float("nan")] * 9, "train_acc": [0.1] * 9})
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
    (root / "user.py").write_text(USER_CODE)
    torch.manual_seed(2)
    torch.save(user_net().state_dict(), root / "net.pt")
    torch.save(user_net(classes=5).state_dict(), root / "net5.pt")
    torch.save({k: torch.full_like(v, float("nan")) for k, v in user_net().state_dict().items()}, root / "nan_net.pt")
    save_checkpoint(root / "nan.pt", resnet(8, activation_factory("relu")).apply(
        lambda m: torch.nn.init.constant_(m.weight, float("nan")) if isinstance(m, torch.nn.Conv2d) else None), meta)
    (root / "two_snapshots").mkdir()
    for epoch in (1, 2):
        save_checkpoint(root / "two_snapshots" / f"epoch_{epoch:03d}.pt", model, meta)
    (root / "foreign_snapshots").mkdir()
    for epoch in (1, 2, 3):
        save_checkpoint(root / "foreign_snapshots" / f"epoch_{epoch:03d}.pt", resnet(14, activation_factory("relu")),
                        model_metadata(14, "relu", {}))
    return root


USER_CODE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, kind="tensor", classes=10, channels=3):
        super().__init__()
        self.kind, self.conv, self.fc = kind, nn.Conv2d(channels, 4, 3), nn.Linear(4, classes)

    def forward(self, x):
        z = self.fc(self.conv(x).mean((2, 3)))
        return {"tuple": (z, z.sum()), "dict": {"logits": z, "aux": z}, "string": "logits"}.get(self.kind, z)


def net(**kwargs):
    return Net(**kwargs)


def broken(**kwargs):
    raise RuntimeError("factory failed on purpose")


def sum_loss(outputs, labels):
    return nn.functional.cross_entropy(outputs, labels, reduction="sum")


def vector_loss(outputs, labels):
    return nn.functional.cross_entropy(outputs, labels, reduction="none")


def raising_loss(outputs, labels):
    raise ValueError("loss failed on purpose")


def nan_inputs(split):
    inputs = torch.randn(20, 3, 32, 32)
    inputs[3, 0, 0, 0] = float("nan")
    return inputs, torch.arange(20) % 10


def labels_beyond(split):
    return torch.randn(20, 3, 32, 32), torch.arange(20) % 12


def negative_labels(split):
    return torch.randn(20, 3, 32, 32), torch.arange(20) % 10 - 1


def grey(split):
    return torch.randn(20, 1, 32, 32), torch.arange(20) % 10


def raising_data(split):
    raise OSError("no such bucket")
"""


def user_net(**kwargs) -> torch.nn.Module:
    namespace: dict = {}
    exec(USER_CODE, namespace)
    return namespace["net"](**kwargs)


def own(world: Path, *extra: str, factory: str = "net", weights: str = "net.pt", args: str = "{}",
        out: str = "out/s.h5") -> list[str]:
    """`landscape surface` of your own model from the world's user.py."""
    return ["surface", "--model", f"{world / 'user.py'}:{factory}", "--model-args", args, "--weights",
            str(world / weights), "--data", str(world / "cifar"), "--samples", "10", "--x=-1:1:3",
            "--out", str(world / out), "--quiet", *extra]


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
     "not among CIFAR-10's 10 classes"),
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
    # data loss: no command writes over one of its inputs, or over a surface or checkpoint it did not make
    ("report over its own input", lambda w: ["report", str(w / "plane.h5"), "--out", str(w / "plane.h5")],
     "plane.h5", "also an input"),
    ("metrics CSV over its input", lambda w: ["metrics", str(w / "plane.h5"), "--csv", str(w / "plane.h5")],
     "plane.h5", "also an input"),
    ("metrics JSON over another surface", lambda w: ["metrics", "--json", str(w / "line.h5"), str(w / "plane.h5")],
     "line.h5", "is an HDF5 file"),
    ("report over another surface", lambda w: ["report", "--out", str(w / "line.h5"), str(w / "plane.h5")],
     "line.h5", "is an HDF5 file"),
    ("report over a checkpoint", lambda w: ["report", str(w / "plane.h5"), "--out", str(w / "tiny.pt")],
     "tiny.pt", "a torch checkpoint"),
    ("surface over its checkpoint", lambda w: surface(w, "tiny.pt", out="tiny.pt"), "tiny.pt", "also an input"),
    ("surface over its directions file", lambda w: surface(w, "tiny.pt", "--directions", str(w / "line.h5"),
                                                           out="line.h5"), "line.h5", "also an input"),
    ("plot of an all-NaN surface", lambda w: ["plot", str(w / "all_nan.h5"), "--out-dir", str(w / "out")],
     "all_nan.h5", "no finite train_loss"),
    ("metrics of an all-NaN surface", lambda w: ["metrics", str(w / "all_nan.h5")], "all_nan.h5", "no finite"),
    ("report of an all-NaN surface", lambda w: ["report", str(w / "all_nan.h5"), "--out", str(w / "out" / "r.html")],
     "all_nan.h5", "no finite"),
    # bad grids
    ("grid of NaN", lambda w: surface(w, "tiny.pt", "--x=nan:1:5"), "nan:1:5", "finite bounds"),
    ("grid from -inf", lambda w: surface(w, "tiny.pt", "--x=-inf:1:5"), "-inf:1:5", "finite bounds"),
    ("grid of astronomic bounds", lambda w: surface(w, "tiny.pt", "--x=-1e300:1e300:3"), "1e300", "finite bounds"),
    ("y grid of inf", lambda w: surface(w, "tiny.pt", "--y=0:inf:3"), "0:inf:3", "finite bounds"),
    ("target equal to the model", lambda w: surface(w, "tiny.pt", "--target", str(w / "tiny.pt")), "direction x",
     "is zero"),
    # bad models
    ("NaN weights in a checkpoint", lambda w: surface(w, "nan.pt"), "nan.pt", "non-finite weights"),
    ("NaN weights in --weights", lambda w: own(w, weights="nan_net.pt"), "nan_net.pt", "non-finite weights"),
    ("factory that raises", lambda w: own(w, factory="broken"), "broken", "factory failed on purpose"),
    ("dict output without a key", lambda w: own(w, args='{"kind": "dict"}'), "logits, aux", "--output-key"),
    ("output key that is not there", lambda w: own(w, "--output-key", "probs", args='{"kind": "dict"}'), "probs",
     "has keys logits, aux"),
    ("output key on a tensor output", lambda w: own(w, "--output-key", "logits"), "--output-key",
     "returns a tensor"),
    ("a string output", lambda w: own(w, args='{"kind": "string"}'), "returns str", "tensor of logits"),
    ("output key without --model", lambda w: surface(w, "tiny.pt", "--output-key", "x"), "--output-key",
     "belong to --model"),
    ("grey images into an RGB model", lambda w: own(w, "--dataset", f"{w / 'user.py'}:grey"), "cannot take",
     "(1, 32, 32)"),
    ("fewer outputs than classes", lambda w: own(w, args='{"classes": 5}', weights="net5.pt"), "0 to 9",
     "5 output(s)"),
    ("labels beyond the outputs", lambda w: own(w, "--dataset", f"{w / 'user.py'}:labels_beyond"), "0 to 11",
     "[0, 10)"),
    ("negative labels", lambda w: own(w, "--dataset", f"{w / 'user.py'}:negative_labels"), "-1 to 8",
     "class indices"),
    ("NaN inputs", lambda w: own(w, "--dataset", f"{w / 'user.py'}:nan_inputs"), "1 of the 10", "NaN or inf"),
    ("a dataset that raises", lambda w: own(w, "--dataset", f"{w / 'user.py'}:raising_data"), "raising_data",
     "no such bucket"),
    ("device that is not here", lambda w: surface(w, "tiny.pt", "--device", "mps"), "mps", "no Apple GPU"),
    ("device of another kind", lambda w: surface(w, "tiny.pt", "--device", "xla"), "xla", ""),
    # bad losses
    ("loss that sums", lambda w: surface(w, "tiny.pt", "--loss", f"{w / 'user.py'}:sum_loss"), "sum_loss",
     "the batch sum"),
    ("loss that returns a vector", lambda w: surface(w, "tiny.pt", "--loss", f"{w / 'user.py'}:vector_loss"),
     "vector_loss", "not a scalar"),
    ("loss that raises", lambda w: surface(w, "tiny.pt", "--loss", f"{w / 'user.py'}:raising_loss"),
     "raising_loss", "loss failed on purpose"),
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
    from landscape.sources.checkpoint import read_checkpoint

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


# --- fuzz: every command on many generated bad inputs -------------------------------------------------
FILES = ["nope.pt", "empty.pt", "truncated.pt", "random.pt", "evil.pt", "evil_inside.pt", "not.h5", "foreign.h5",
         "emptydata", "a_file", "nan.pt", "vit.pt", "missing_keys.pt"]
SURFACES = ["not.h5", "truncated.h5", "foreign.h5", "nope.h5", "tiny.pt", "emptydata", "a_file"]
PROTECTED = ["plane.h5", "line.h5", "tiny.pt", "emptydata", "a_file/sub/x"]
GRIDS = ["nan:1:5", "1:-1:5", "a:b:c", "0:1:0", "-1e300:1e300:3", "0:1", "-inf:0:3", "0:1:2.5", "1:1:3", ""]
COUNTS = ["0", "-1", "abc", "1.5", "nan", ""]
SIZES = ["0", "-1", "nan", "inf", "-inf", "abc"]
JUNK = ["zzz", "", "val-loss"]
DATA = ["nodata", "emptydata", "wrongclasses", "corrupt_images", "a_file"]


def fuzz_table(w: Path) -> dict[str, tuple[list[str], dict[str, list[str]]]]:
    """command → (a valid argv, {slot: bad values}); slot '@' is the positional input, '@2' a second one."""
    def at(names):
        return [str(w / n) for n in names]
    data = ["--data", str(w / "cifar")]
    figure = {"--format": ["jpg", "png,zzz", ""], "--dpi": ["0", "-10", "x", "nan"], "--width": SIZES}
    return {
        "surface": (surface(w, "tiny.pt"), {
            "@": at(FILES), "--x": GRIDS, "--y": GRIDS, "--samples": ["0", "-5", "abc", "99999999", "1.5"],
            "--batch-size": COUNTS, "--workers": COUNTS, "--points-per-batch": COUNTS, "--precision": JUNK,
            "--split": JUNK, "--loss": ["hinge", "nomodule_xyz:fn", f"{w / 'user.py'}:sum_loss"],
            "--directions": at(SURFACES), "--target": at(FILES), "--device": ["mps", "xla", "cuda:7", "zzz"],
            "--trajectory": at(["emptydata", "a_file", "nope", "two_snapshots"]), "--data": at(DATA),
            "--image-size": ["0", "-4", "x"], "--dataset": ["imagenet", f"imagefolder:{w / 'nope'}"],
            "--flush-seconds": ["nan", "-1", "abc", "inf"], "--seed": ["x", "1.5"], "--norm": JUNK,
            "--out": at(["tiny.pt", "a_file/sub/s.h5", "emptydata", "not.h5", "plane.h5"])}),
        "plot": (["plot", str(w / "plane.h5"), "--out-dir", str(w / "out" / "p")], {
            "@": at(SURFACES), "--metric": JUNK, "--kinds": ["bogus", "contour,zzz"],
            "--levels": ["1", "0", "-3", "x"], "--vmin": ["nan", "inf", "x", "99"],
            "--vmax": ["nan", "-inf", "x", "-99"],
            "--out-dir": at(["a_file", "tiny.pt"]), **figure}),
        "curves": (["curves", str(w / "run.log.jsonl"), "--out", str(w / "out" / "c")], {
            "@": at(["nope.log.jsonl", "a_file", "not.h5", "random.pt", "emptydata"]),
            "--out": at(["a_file/sub/c"]), **figure}),
        "info": (["info", str(w / "tiny.pt")], {"@": at([f for f in FILES if f != "nan.pt"])}),
        "report": (["report", str(w / "plane.h5"), "--out", str(w / "out" / "r.html")], {
            "@": at(SURFACES), "@2": at(["line.h5", "nope.h5", "not.h5"]), "--out": at(PROTECTED)}),
        "metrics": (["metrics", str(w / "plane.h5")], {
            "@": at(SURFACES), "--thresholds": ["0", "-1", "a", "nan", "inf", ""], "--metric": JUNK,
            "--json": at(PROTECTED), "--csv": at(PROTECTED), "--checkpoint": at(FILES),
            "--split": JUNK}),
        "sharpness": (["sharpness", str(w / "tiny.pt"), *data, "--samples", "10", "--directions", "2", "--x=-1:1:3",
                       "--out-dir", str(w / "out" / "sh"), "--quiet"], {
            "@": at(FILES), "--directions": ["0", "-1", "x"], "--planes": ["-1", "x"], "--x": GRIDS,
            "--samples": ["0", "-5", "abc", "99999999"], "--thresholds": ["0", "-1", "a", "nan"],
            "--json": at(PROTECTED), "--csv": at(PROTECTED), "--data": at(DATA), "--batch-size": COUNTS,
            "--out-dir": at(["a_file", "tiny.pt"])}),
        "spectrum": (["spectrum", str(w / "tiny.pt"), *data, "--samples", "10", "--runs", "1", "--steps", "3",
                      "--out-dir", str(w / "out" / "sp"), "--quiet"], {
            "@": at(FILES), "--runs": ["0", "x"], "--steps": ["1", "0", "x"], "--samples": ["0", "x", "99999"],
            "--broadening": ["0", "1", "nan", "x"], "--bins": ["5", "x"], "--split": JUNK, "--data": at(DATA),
            "--out-dir": at(["a_file", "tiny.pt"]), "--json": at(PROTECTED), **figure}),
        "hessian-map": (["hessian-map", str(w / "plane.h5"), *data, "--every", "2", "--lanczos-steps", "3",
                         "--quiet"], {
            "@": at(SURFACES), "--every": ["0", "-1", "x"], "--lanczos-steps": ["1", "0", "x"],
            "--samples": ["0", "-1", "99999", "x"], "--checkpoint": at(FILES + ["other.pt"]), "--data": at(DATA),
            "--batch-size": COUNTS, "--device": ["mps", "zzz"]}),
        "connect": (["connect", str(w / "tiny.pt"), str(w / "other.pt"), *data, "--samples", "10", "--points", "3",
                     "--bn-samples", "20", "--out-dir", str(w / "out" / "cn"), "--quiet"], {
            "@": at(FILES + ["deep.pt"]), "@2": at(["nope.pt", "random.pt", "deep.pt", "tiny.pt"]),
            "--points": ["0", "2", "-1", "x"], "--curve": JUNK, "--bn": JUNK,
            "--bn-samples": ["0", "-1", "99999", "x"], "--samples": ["0", "-5", "abc", "99999999"],
            "--curve-epochs": ["0", "x"], "--curve-lr": ["0", "-1", "nan", "x"], "--split": JUNK,
            "--out-dir": at(["a_file", "tiny.pt"]), "--json": at(PROTECTED), "--data": at(DATA),
            "--batch-size": COUNTS}),
        "adaptive-sharpness": (["adaptive-sharpness", str(w / "tiny.pt"), *data, "--samples", "20", "--batch-size",
                                "10", "--gap-samples", "10", "--draws", "1", "--steps", "1", "--quiet"], {
            "@": at(FILES), "@2": at(["nope.pt", "random.pt", "vit.pt"]), "--samples": ["0", "1", "x", "99999"],
            "--batch-size": COUNTS, "--rho-average": ["0", "1", "-0.1", "nan", "x"],
            "--rho-worst": ["0", "1", "nan", "x"], "--draws": ["0", "x"], "--steps": ["0", "x"],
            "--gap-samples": ["0", "99999", "x"], "--json": at(PROTECTED), "--data": at(DATA)}),
        "output-landscape": (["output-landscape", "--seeds", "2", "--resolution", "4", "--out-dir",
                              str(w / "out" / "ol")], {
            "--activations": ["zzz", "relu,zzz", ""], "--subject": ["zzz"], "--seeds": ["0", "1", "-1", "x"],
            "--resolution": ["0", "2", "-5", "x"], "--out-dir": at(["a_file", "tiny.pt"]), **figure}),
        "study": (["study", "--profile", "quick", *data], {
            "--profile": JUNK, "--study": JUNK, "--seeds": ["x", "1,a", ""], "--repeat-depths": ["15", "x"],
            "--jobs": ["0", "-1", "x"], "--dataset": ["zzz"], "--data": at(["nodata", "a_file", "emptydata"])}),
        "train": (["train", *data, "--out", str(w / "out" / "m.pt"), "--epochs", "1", "--train-samples", "20",
                   "--depth", "8", "--quiet"], {
            "--epochs": COUNTS, "--lr": ["0", "-1", "nan", "inf", "x"], "--momentum": ["-0.5", "1.5", "nan"],
            "--weight-decay": ["-1", "nan", "inf"], "--batch-size": COUNTS, "--depth": ["0", "-1", "7", "x"],
            "--dropout": ["-0.1", "1.5", "nan"], "--train-samples": ["0", "-1", "99999999"],
            "--save-every": ["-1", "x"], "--activation": JUNK, "--data": at(DATA),
            "--negative-slope": ["nan", "inf"], "--beta": ["nan", "inf"],
            "--out": at(["plane.h5", "a_file/sub/m.pt", "emptydata", "not.h5"])}),
    }


def mutated(argv: list[str], slot: str, value: str) -> list[str]:
    """`argv` with one slot given a bad value (the positional input replaced, a second one added, or a flag
    set; '--x=...' form for grid values, which argparse would read as options)."""
    if slot == "@":
        return [argv[0], value, *argv[2:]]
    if slot == "@2":
        return [argv[0], argv[1], value, *argv[2:]]
    flags = [a.split("=")[0] for a in argv]
    out = list(argv)
    if slot in flags:
        i = flags.index(slot)
        if "=" in argv[i]:
            out[i] = f"{slot}={value}"
        else:
            out[i + 1] = value
        return out
    return out + [f"{slot}={value}"]


FUZZ_PER_COMMAND = 40


def fuzz_cases(w: Path, command: str) -> list[list[str]]:
    """FUZZ_PER_COMMAND distinct bad argvs: every (slot, value) once, then random pairs of them."""
    base, slots = fuzz_table(w)[command]
    singles = [(slot, value) for slot, values in slots.items() for value in values]
    cases = [mutated(base, *single) for single in singles]
    rng = np.random.default_rng(sum(map(ord, command)))
    while len(cases) < FUZZ_PER_COMMAND:
        i, j = sorted(rng.choice(len(singles), 2, replace=False))
        (a, va), (b, vb) = singles[i], singles[j]
        if a == b == "@":  # two bad inputs where the command takes several
            cases.append(mutated(mutated(base, a, va), "@2", vb))
        elif a != b and "@2" not in (a, b):
            cases.append(mutated(mutated(base, a, va), b, vb))
    return cases


FUZZ_COMMANDS = ["surface", "plot", "curves", "info", "report", "metrics", "sharpness", "spectrum", "hessian-map",
                 "connect", "adaptive-sharpness", "output-landscape", "study", "train"]


@pytest.mark.parametrize("command", FUZZ_COMMANDS)
def test_fuzz_every_command_refuses_bad_input_cleanly(world, command, capsys, monkeypatch):
    """Each command on at least 40 generated bad inputs: exit 2, one line naming the problem, no
    traceback, and not a file created or changed (in the world, nor in the working folder)."""
    (world / "run.log.jsonl").write_text('{"epoch": 1, "train_loss": 2.0, "test_loss": 2.1, "test_acc": 0.2}\n')
    monkeypatch.chdir(world / "emptydata")
    before = snapshot(world)
    cases = fuzz_cases(world, command)
    assert len(cases) >= FUZZ_PER_COMMAND
    failures = []
    for argv in cases:
        code = main(argv)
        captured = capsys.readouterr()
        err = captured.err
        if code != 2 or "Traceback" in err or err.count("\n") != 1 or snapshot(world) != before:
            failures.append(f"exit {code}: {' '.join(argv[1:])[-160:]}\n    {err.strip()[-300:]}")
            before = snapshot(world)
    assert not failures, f"{len(failures)} of {len(cases)}:\n" + "\n".join(failures).replace(str(world), "W")


def test_the_fuzz_covers_every_command():
    from landscape.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert set(FUZZ_COMMANDS) == commands
