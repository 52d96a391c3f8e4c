import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape import (LandscapeError, activation_factory, balanced_subset, load_checkpoint, load_cifar10, resnet,
                       save_checkpoint)
from landscape.checkpoint import model_metadata
from landscape.cli import main
from landscape.data import normalize
from landscape.directions import DirectionOptions, random_directions
from landscape.storage import read_directions, read_surface
from landscape.surface import Axis, EvalSet, Grid, compute_surface


def test_axis_parsing():
    assert Axis.parse("-1:1:51").coordinates()[25] == 0.0
    assert Axis.parse("0:0:1").coordinates().tolist() == [0.0]
    for bad in ("1:-1:0", "1:-1:5", "-1:1", "a:b:c", "-1:1:1", "-1:1:5:2"):
        with pytest.raises(LandscapeError, match="grid spec"):
            Axis.parse(bad)


def test_grid_points_are_row_major_over_y_then_x():
    grid = Grid(Axis.parse("0:2:3"), Axis.parse("10:11:2"))
    assert grid.shape == (2, 3)
    assert grid.points().tolist() == [[0, 10], [1, 10], [2, 10], [0, 11], [1, 11], [2, 11]]


def test_linear_model_reproduces_the_analytic_surface_on_a_non_square_grid():
    g = torch.Generator().manual_seed(0)
    features, labels = torch.randn(40, 6, generator=g, dtype=torch.float64), torch.arange(40) % 4
    model = nn.Linear(6, 4, bias=False).double()
    dx, dy = random_directions(model, DirectionOptions(seed=9), 2)
    grid = Grid(Axis.parse("-1:2:5"), Axis.parse("-0.5:0.5:3"))
    out = compute_surface(model, [dx, dy], [EvalSet("train", features, labels)], grid, quiet=True)
    w0, x, y = (t.detach().double().numpy() for t in (model.weight, dx["weight"], dy["weight"]))
    X, Y = features.numpy(), labels.numpy()
    for iy, beta in enumerate(grid.y.coordinates()):
        for ix, alpha in enumerate(grid.x.coordinates()):
            logits = X @ (w0 + alpha * x + beta * y).T
            logp = logits - logits.max(1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(1, keepdims=True))
            assert out["train_loss"][iy, ix] == pytest.approx(-logp[np.arange(40), Y].mean(), rel=1e-10)
            assert out["train_acc"][iy, ix] == pytest.approx((logits.argmax(1) == Y).mean())
    assert torch.equal(model.weight, torch.from_numpy(w0))  # the model is left as it was


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    meta = model_metadata(8, "relu", {})
    return save_checkpoint(tmp_path / "tiny.pt", resnet(8, activation_factory("relu")), meta)


def surface_args(ckpt, data, out, *extra):
    return [str(ckpt), "--data", str(data), "--out", str(out), "--samples", "20", "--quiet", *extra]


def test_centre_equals_the_checkpoints_own_score(tmp_path, tiny_checkpoint, image_folder):
    out = tmp_path / "s.h5"
    grid = ["--x", "-1:1:3", "--y", "-1:1:3", "--split", "train", "test"]
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, *grid)]) == 0
    surface = read_surface(out)
    model = torch.load(tiny_checkpoint, weights_only=True)
    net = resnet(8, activation_factory("relu"))
    net.load_state_dict(model["state_dict"])
    net.eval()
    for split in ("train", "test"):
        images = load_cifar10(str(image_folder), split)
        idx = balanced_subset(images.labels, 20, 0)
        with torch.no_grad():
            logits = net(normalize(images.images[idx]))
        loss, correct = F.cross_entropy(logits, images.labels[idx]), logits.argmax(1) == images.labels[idx]
        assert surface.values[f"{split}_loss"][1, 1] == pytest.approx(float(loss), rel=1e-5)
        assert surface.values[f"{split}_acc"][1, 1] == pytest.approx(float(correct.float().mean()))
    assert surface.complete and surface.attrs["complete"] and surface.attrs["points_done"] == 9
    assert surface.attrs["activation"] == "relu" and len(surface.attrs["checkpoint_sha256"]) == 64


def test_file_describes_itself_and_opens_in_xarray(tmp_path, tiny_checkpoint, image_folder):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    out = tmp_path / "s.h5"
    main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-1:1:4", "--y", "0:1:2")])
    with h5py.File(out) as f:
        assert f["train_loss"].attrs["units"].startswith("nats")
        assert f["train_loss"].dims[1][0].name == "/xcoordinates"
        assert set(f["directions/x"]) == set(dict(resnet(8, activation_factory("relu")).named_parameters()))
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["train_loss"].dims == ("ycoordinates", "xcoordinates") and ds["train_loss"].shape == (2, 4)
    assert ds.attrs["direction_norm"] == "filter"
    ds.close()


def test_rerun_with_other_settings_is_refused_unless_forced(tmp_path, tiny_checkpoint, image_folder, capsys):
    out = tmp_path / "s.h5"
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-1:1:3")]) == 0
    before = out.read_bytes()
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-1:1:3")]) == 0
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-2:2:3")]) == 2
    assert "holds a different surface" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x", "-2:2:3", "--force")]) == 0
    assert read_surface(out).x.tolist() == [-2, 0, 2]


def test_directions_can_be_reused_and_must_fit(tmp_path, tiny_checkpoint, image_folder, capsys):
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    main(["surface", *surface_args(tiny_checkpoint, image_folder, first, "--x", "-1:1:3", "--seed", "4")])
    main(["surface", *surface_args(tiny_checkpoint, image_folder, second, "--x", "-1:1:3", "--directions", str(first))])
    a, b = read_directions(first)[0], read_directions(second)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(read_surface(first).values["train_loss"], read_surface(second).values["train_loss"])
    deeper = save_checkpoint(tmp_path / "deep.pt", resnet(14, activation_factory("relu")),
                             model_metadata(14, "relu", {}))
    assert main(["surface", *surface_args(deeper, image_folder, tmp_path / "c.h5", "--directions", str(first))]) == 2
    assert "does not fit the model" in capsys.readouterr().err


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
    assert surface.attrs["direction_source"] == "pca" and len(surface.attrs["trajectory_snapshots"]) == 4
    assert abs(surface.attrs["cosine_xy"]) < 1e-5 and 0.99 < sum(surface.attrs["explained_variance"]) <= 1 + 1e-9
    x, y = read_directions(out)
    assert sum(float((t * t).sum()) for t in x.values()) == pytest.approx(1, rel=1e-4)
    assert surface.complete
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, "--x=-5:35:5",
                                          "--trajectory", str(folder))]) == 2
    assert "--trajectory gives a plane of two directions; add --y" in capsys.readouterr().err


def test_bad_input_is_one_line(tmp_path, tiny_checkpoint, image_folder, capsys):
    cases = [(["surface", *surface_args(tmp_path / "none.pt", image_folder, tmp_path / "o.h5")], "does not exist"),
             (["surface", *surface_args(tiny_checkpoint, image_folder, tmp_path / "o.h5", "--x", "1:-1:0")],
              "grid spec"),
             (["surface", *surface_args(tiny_checkpoint, tmp_path / "nodata", tmp_path / "o.h5")], "not a folder")]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.h5").exists()


def cli(*args):
    return [sys.executable, "-m", "landscape", "surface", *args]


def test_sigkill_then_resume_gives_the_uninterrupted_arrays(tmp_path, tiny_checkpoint, image_folder):
    grid = ["--x", "-1:1:15", "--y", "-1:1:15", "--flush-seconds", "0"]
    reference, resumed = tmp_path / "ref.h5", tmp_path / "resumed.h5"
    subprocess.run(cli(*surface_args(tiny_checkpoint, image_folder, reference, *grid)), check=True)
    proc = subprocess.Popen(cli(*surface_args(tiny_checkpoint, image_folder, resumed, *grid)))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if resumed.exists() and 5 < read_surface(resumed).attrs["points_done"]:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_surface(resumed)
    assert 0 < partial.done.sum() < 225, "the run should have been killed part-way"
    assert np.isnan(partial.values["train_loss"][~partial.done]).all()
    subprocess.run(cli(*surface_args(tiny_checkpoint, image_folder, resumed, *grid)), check=True)
    finished, expected = read_surface(resumed), read_surface(reference)
    assert finished.complete
    for name in expected.values:
        np.testing.assert_array_equal(finished.values[name], expected.values[name])


def test_two_torchrun_ranks_give_the_single_process_arrays(tmp_path, tiny_checkpoint, image_folder):
    grid = ["--x", "-1:1:5", "--y", "-1:1:3", "--split", "train", "test", "--device", "cpu"]
    single, double = tmp_path / "one.h5", tmp_path / "two.h5"
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, single, *grid)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "landscape", "surface", *surface_args(tiny_checkpoint, image_folder, double, *grid)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    one, two = read_surface(single), read_surface(double)
    assert two.attrs["world_size"] == 2 and two.complete
    for name in one.values:
        np.testing.assert_allclose(two.values[name], one.values[name], rtol=1e-6)
