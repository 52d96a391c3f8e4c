from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import activation_factory, resnet, save_checkpoint
from landscape.cli import main
from landscape.sources.checkpoint import load_checkpoint
from landscape.sources.specs import model_metadata
from landscape.storage.surface_file import read_directions, read_header, read_surface
from landscape.surfaces.config import SurfaceConfig
from tests.helpers import REAL_CIFAR, needs_real_cifar, surface_args

SHIPPED = Path(__file__).resolve().parents[2] / "figures" / "surfaces"


def test_rerun_with_other_settings_is_refused_unless_forced(tmp_path, tiny_checkpoint, image_folder, capsys):
    out = tmp_path / "s.h5"
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-1:1:3")]) == 0
    before = out.read_bytes()
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-1:1:3")]) == 0
    capsys.readouterr()
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-2:2:3")]) == 2
    err = capsys.readouterr().err
    assert "holds a different surface" in err and out.read_bytes() == before
    assert 'grid: file ["-1:1:3", null], now ["-2:2:3", null]' in err  # each differing setting, both values
    other_images = surface_args(tiny_checkpoint, image_folder, out, "--x", "-1:1:3", "--data-seed", "3")
    assert main(["surface", *other_images]) == 2
    err = capsys.readouterr().err
    assert "data_seed: file 0, now 3" in err and "data_sha256: file " in err
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-2:2:3", "--force")]) == 0
    assert read_surface(out).x.tolist() == [-2, 0, 2]


def test_directions_can_be_reused_and_must_fit(tmp_path, tiny_checkpoint, image_folder, capsys):
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    one_grouping = ["--x", "-1:1:3", "--points-per-batch", "1"]  # bit-identical arrays need one grouping of points
    main(["surface", *surface_args(tiny_checkpoint, image_folder, first, *one_grouping, "--seed", "4")])
    main(["surface", *surface_args(tiny_checkpoint, image_folder, second, *one_grouping, "--directions", str(first))])
    a, b = read_directions(first)[0], read_directions(second)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(read_surface(first).values["train_loss"], read_surface(second).values["train_loss"])
    deeper = save_checkpoint(tmp_path / "deep.pt", resnet(14, activation_factory("relu")),
                             model_metadata(14, "relu", {}))
    assert main(["surface", *surface_args(deeper, image_folder, tmp_path / "c.h5", "--directions", str(first))]) == 2
    assert "does not fit the model" in capsys.readouterr().err


def test_trajectory_plane_stores_the_path_and_refuses_a_grid_that_misses_it(tmp_path, tiny_checkpoint,
                                                                           image_folder, capsys):
    folder = snapshot_folder(tmp_path, tiny_checkpoint, [(2.0, 1.0), (1.0, -0.5), (0.3, 0.2), (0.0, 0.0)])
    narrow = tmp_path / "narrow.h5"
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, narrow, "--x=-0.1:0.1:3",
                                          "--y=-0.1:0.1:3", "--trajectory", str(folder))]) == 2
    err = capsys.readouterr().err
    assert "the training path spans" in err and "try --x=" in err and err.count("\n") == 1
    assert not narrow.exists()
    out = tmp_path / "path.h5"
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x=-5:35:5", "--y=-3:15:3",
                                          "--trajectory", str(folder))]) == 0
    surface = read_surface(out)
    assert surface.trajectory.shape == (4, 2) and abs(surface.trajectory[-1]).max() < 1e-5
    assert surface.header.direction_source == "pca" and len(surface.header.trajectory_snapshots) == 4
    assert abs(surface.header.cosine_xy) < 1e-5 and 0.99 < sum(surface.header.explained_variance) <= 1 + 1e-9
    x, y = read_directions(out)
    assert sum(float((t * t).sum()) for t in x.values()) == pytest.approx(1, rel=1e-4)
    assert surface.complete
    fitted = tmp_path / "fitted.h5"
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, fitted, "--x=auto:5", "--y=auto:3",
                                          "--trajectory", str(folder))]) == 0
    grid = read_surface(fitted)
    assert grid.x.shape == (5,) and grid.y.shape == (3,) and grid.header.grid_x != "auto:5"
    assert grid.x.min() < surface.trajectory[:, 0].min() and surface.trajectory[:, 0].max() < grid.x.max()
    origin = (list(grid.y).index(0.0), list(grid.x).index(0.0))  # the model itself is a grid point
    line = tmp_path / "line.h5"  # the model's loss, from a surface on other directions through the same point
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, line, "--x=-1:1:3")]) == 0
    assert grid.values["train_loss"][origin] == pytest.approx(read_surface(line).values["train_loss"][1], rel=1e-6)
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x=auto:5", "--y=auto:3")]) == 2
    assert "--x/--y auto:NUM" in capsys.readouterr().err
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x=-5:35:5",
                                          "--trajectory", str(folder))]) == 2
    assert "--trajectory gives a plane of two directions; add --y" in capsys.readouterr().err


def test_bad_input_is_one_line(tmp_path, tiny_checkpoint, image_folder, capsys):
    cases = [(["surface", *surface_args(tmp_path / "none.pt", image_folder, tmp_path / "o.h5")], "does not exist"),
             (["surface", *surface_args(tiny_checkpoint, image_folder, tmp_path / "o.h5", "--x", "1:-1:0")],
              "grid spec"),
             (["surface", *surface_args(tiny_checkpoint, tmp_path / "nodata", tmp_path / "o.h5")], "not a folder")]
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cases += [(["surface", *surface_args(tiny_checkpoint, image_folder, blocker / "o.h5")], "cannot create the folder"),
              (["surface", *surface_args(tiny_checkpoint, image_folder, tmp_path / "o.h5", "--x=-1:1:100000000",
                                         "--y=-1:1:100000000")], "too large"),
              (["surface", *surface_args(tiny_checkpoint, image_folder, tmp_path / "o.h5")[:-3], "--samples",
                "99999999", "--quiet"], "more than the 40 examples of the train split")]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.cifar
@needs_real_cifar()
@pytest.mark.parametrize("name", ["resnet20_mish", "resnet20_relu_path"])
def test_a_shipped_surface_is_planned_identically_and_its_points_recomputed(name):
    """The refactored pipeline plans the committed surfaces with the same fingerprint (so they resume
    and are skipped, not recomputed) and gives their stored numbers at two grid points."""
    from landscape.evaluation.engine import PointEvaluator
    from landscape.surfaces.plan import plan_surface, same_settings

    stored = read_surface(SHIPPED / f"{name}.h5")
    header = stored.header
    config = SurfaceConfig(checkpoint=header.checkpoint, out=str(SHIPPED / f"{name}.h5"), data=str(REAL_CIFAR),
                           x=header.grid_x, y=header.grid_y, splits=header.splits, samples=header.samples,
                           trajectory=header.trajectory, device="cpu", quiet=True)
    plan = plan_surface(config)
    assert ("data_sha256" not in header.fingerprint) == (name == "resnet20_mish")  # written before the data hash
    assert len(plan.header.fingerprint["data_sha256"]) == 64
    assert same_settings(header.fingerprint, plan.header.fingerprint)  # with or without the data hash: resumable
    assert not same_settings({**header.fingerprint, "data_sha256": "0" * 64}, plan.header.fingerprint)
    points = plan.grid.points()
    origin = [int(i) for i in np.flatnonzero((points == 0).all(axis=1))]  # the model itself: on both grids
    assert len(origin) == 1
    with PointEvaluator(plan.model, plan.directions, plan.sets) as evaluator:
        for index in (0, len(points) // 2 + 7, *origin):
            got = dict(zip(evaluator.names, evaluator(points[index])))
            for key, value in got.items():
                assert value == pytest.approx(stored.values[key].ravel()[index], rel=1e-5, abs=1e-7), key


def test_samples_all_takes_the_whole_split(tmp_path, tiny_checkpoint, image_folder):
    out = tmp_path / "all.h5"
    args = [str(tiny_checkpoint), "--data", str(image_folder), "--samples", "all", "--x=-1:1:3", "--out", str(out),
            "--quiet"]
    assert main(["surface", *args]) == 0
    surface = read_surface(out)
    assert surface.header.samples == 40 and surface.header.fingerprint["samples"] is None
    assert main(["surface", *args[:3], "al", *args[4:]]) == 2


def test_batch_size_auto_is_64_on_a_cpu_and_a_resumed_file_keeps_its_own(tmp_path, tiny_checkpoint, image_folder):
    out = tmp_path / "s.h5"
    grid = ["--x=-1:1:5"]
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, tmp_path / "auto.h5", *grid)]) == 0
    assert read_header(tmp_path / "auto.h5").batch_size == 64
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, *grid), "--batch-size", "8"]) == 0
    before = read_surface(out).values["train_loss"].copy()
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, *grid)]) == 0  # auto: resumes
    assert read_header(out).batch_size == 8
    np.testing.assert_array_equal(read_surface(out).values["train_loss"], before)


def snapshot_folder(tmp_path, checkpoint, steps):
    """Snapshots that walk from a start to `checkpoint`'s weights along a bent path."""
    model, meta = load_checkpoint(checkpoint)
    g = torch.Generator().manual_seed(1)
    kicks = [{k: 0.05 * torch.randn(v.shape, generator=g) for k, v in model.state_dict().items()
              if v.is_floating_point()} for _ in range(2)]
    folder = tmp_path / "snaps"
    for i, (a, b) in enumerate(steps):
        snap = resnet(8, activation_factory("relu"))
        snap.load_state_dict({k: v + a * kicks[0][k] + b * kicks[1][k] if k in kicks[0] else v
                              for k, v in model.state_dict().items()})
        save_checkpoint(folder / f"epoch_{i:03d}.pt", snap, {**meta, "epoch": i})
    return folder

