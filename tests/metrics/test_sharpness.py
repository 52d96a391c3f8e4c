import json

import numpy as np
import pytest
import torch

from landscape import LandscapeError, activation_factory, resnet, save_checkpoint
from landscape.cli import main
from landscape.geometry.directions import direction_sha256, random_directions
from landscape.geometry.options import DirectionOptions
from landscape.sources.specs import model_metadata
from landscape.storage.surface_file import read_directions, read_header, read_surface
from landscape.surfaces.plan import directions_of


@pytest.fixture
def two_checkpoints(tmp_path):
    paths = []
    for name in ("relu", "mish"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = resnet(8, activation_factory(name))
        paths.append(save_checkpoint(tmp_path / f"{name}.pt", model, model_metadata(8, name, {})))
    return paths


def test_slices_are_paired_resumable_and_summarised(tmp_path, two_checkpoints, image_folder, capsys):
    args = ["sharpness", *map(str, two_checkpoints), "--directions", "3", "--x=-1:1:7", "--samples", "20",
            "--data", str(image_folder), "--out-dir", str(tmp_path / "sh"), "--quiet", "--json",
            str(tmp_path / "rows.json")]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("relu: minimum") and "95 % interval over 3 directions" in out[0]
    relu = read_surface(tmp_path / "sh" / "relu_slices.h5")
    assert relu.is_slices and relu.values["train_loss"].shape == (3, 7) and relu.complete
    # slice k moves along direction k alone: the centre column is the model's own loss on every row
    assert np.ptp(relu.values["train_loss"][:, 3]) < 1e-6
    # the same Gaussian draws for both models (paired), filter-normalised against each model's weights;
    # the files keep only their seed and checksums, and give them back when drawn again
    model = resnet(8, activation_factory("relu"))
    model.load_state_dict(torch.load(two_checkpoints[0], weights_only=True)["state_dict"])
    expected = random_directions(model, DirectionOptions(seed=0), 3)
    relu_header, mish_header = (read_header(tmp_path / "sh" / f"{n}_slices.h5") for n in ("relu", "mish"))
    assert not relu_header.directions_stored
    assert relu_header.direction_sha256 == tuple(direction_sha256(d) for d in expected)
    assert mish_header.direction_sha256 == relu_header.direction_sha256  # same init, same draws
    with pytest.raises(LandscapeError, match="stores no directions"):
        read_directions(tmp_path / "sh" / "relu_slices.h5")
    again = directions_of(str(tmp_path / "sh" / "relu_slices.h5"), model)
    assert all(torch.equal(again[k][n], expected[k][n]) for k in range(3) for n in expected[k])
    line = tmp_path / "line.h5"  # reused by `surface --directions`: a curve along slice 0 is slice 0
    assert main(["surface", str(two_checkpoints[0]), "--directions", str(tmp_path / "sh" / "relu_slices.h5"),
                 "--x=-1:1:7", "--samples", "20", "--data", str(image_folder), "--out", str(line), "--quiet"]) == 0
    np.testing.assert_allclose(read_surface(line).values["train_loss"], relu.values["train_loss"][0], rtol=1e-6)
    with torch.no_grad():
        model.conv1.weight.mul_(2)  # other weights: other filter norms, so other directions: refused
    with pytest.raises(LandscapeError, match="does not give them back"):
        directions_of(str(tmp_path / "sh" / "relu_slices.h5"), model)
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [r["activation"] for r in rows] == ["relu", "mish"] and rows[0]["directions"] == 3
    assert rows[0]["width_1_low"] <= rows[0]["width_1"] <= rows[0]["width_1_high"]
    assert len(read_surface(tmp_path / "sh" / "relu_slices.h5").metrics["slices"]) == 3
    assert main(args) == 0  # finished files are reused: nothing recomputed
    assert read_surface(tmp_path / "sh" / "relu_slices.h5").progress.wall_time_s == relu.progress.wall_time_s
    assert main([*args[:5], "--x=-2:2:7", *args[6:]]) == 2  # other settings: refused
    assert "holds a different surface" in capsys.readouterr().err


def test_slices_refuse_plane_options(tmp_path, two_checkpoints, image_folder, capsys):
    from landscape import LandscapeError
    from landscape.surfaces.config import SurfaceConfig

    with pytest.raises(LandscapeError, match="slices are 1-D"):
        SurfaceConfig(checkpoint="a.pt", out="b.h5", y="-1:1:3", slices=4)
    assert main(["sharpness", str(two_checkpoints[0]), "--directions", "0", "--data", str(image_folder),
                 "--out-dir", str(tmp_path), "--quiet"]) == 2
    assert "--directions must be at least 1" in capsys.readouterr().err


def test_planes_are_independent_random_planes_on_the_slices_grid(tmp_path, two_checkpoints, image_folder, capsys):
    out = tmp_path / "sh"
    args = ["sharpness", str(two_checkpoints[0]), "--directions", "2", "--planes", "2", "--x=-1:1:5",
            "--samples", "20", "--data", str(image_folder), "--out-dir", str(out), "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().out.count("  plane: ") == 2
    slices, plane0, plane1 = (read_surface(out / f"relu_{n}.h5") for n in ("slices", "plane0", "plane1"))
    assert plane0.values["train_loss"].shape == (5, 5) and plane0.complete and not plane0.is_slices
    # plane 0's axes are slices 0 and 1: its row through β = 0 is slice 0, its column through α = 0 slice 1
    np.testing.assert_allclose(plane0.values["train_loss"][2], slices.values["train_loss"][0], rtol=1e-6)
    np.testing.assert_allclose(plane0.values["train_loss"][:, 2], slices.values["train_loss"][1], rtol=1e-6)
    assert plane1.header.direction_seed == 1 and plane1.header.direction_sha256 != plane0.header.direction_sha256
    assert main(args[:4] + ["--planes", "-1"] + args[6:]) == 2
    assert "--planes must be at least 0" in capsys.readouterr().err
