import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape import (
    activation_factory,
    balanced_subset,
    load_checkpoint,
    load_cifar10,
    resnet,
    save_checkpoint,
)
from landscape.checkpoint import model_metadata
from landscape.cli import main
from landscape.data import normalize
from landscape.files import file_sha256
from landscape.folding import onednn_fusion_available
from landscape.storage import read_directions, read_header, read_surface
from landscape.surface import SurfaceConfig, finished_surface, run_surface

from .conftest import REAL_CIFAR, needs_real_cifar


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
    assert surface.complete and surface.progress.complete and surface.progress.points_done == 9
    assert surface.header.activation == "relu" and len(surface.header.checkpoint_sha256) == 64


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


def cli(*args):
    return [sys.executable, "-m", "landscape", "surface", *args]


def interruptible() -> None:
    """In a child before exec: SIGINT back to its default, so Python turns it into KeyboardInterrupt
    even when these tests run in a background job (where the shell ignores SIGINT for children)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_points(path, proc, more_than):
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and more_than < read_surface(path).progress.points_done:
            return read_surface(path).progress.points_done
        time.sleep(0.02)
    raise AssertionError("the run finished or stalled before it could be interrupted")


def test_stops_at_ten_random_moments_then_resume_gives_the_uninterrupted_arrays(tmp_path, tiny_checkpoint,
                                                                                image_folder):
    """SIGKILL, SIGTERM and SIGINT at ten random moments, rerunning each time: the file always opens,
    no finished point is lost, and the end holds exactly the arrays of an uninterrupted run. A second
    writer is refused while the first is paused."""
    grid = ["--x", "-1:1:21", "--y", "-1:1:21", "--points-per-batch", "1"]  # bit-identical needs one grouping
    reference, resumed = tmp_path / "ref.h5", tmp_path / "resumed.h5"
    subprocess.run(cli(*surface_args(tiny_checkpoint, image_folder, reference, *grid)), check=True)
    grid += ["--flush-seconds", "0"]
    rng = np.random.default_rng(0)
    signals = [(signal.SIGKILL, -9), (signal.SIGTERM, 143), (signal.SIGINT, 130)]
    seen = 0
    for round_ in range(10):
        stop, code = signals[round_ % 3] if round_ < 3 else signals[rng.integers(3)]
        proc = subprocess.Popen(cli(*surface_args(tiny_checkpoint, image_folder, resumed, *grid)),
                                stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
        seen = wait_for_points(resumed, proc, seen + int(rng.integers(1, 15)))
        if round_ == 0:  # paused mid-run, the first process still holds the file
            proc.send_signal(signal.SIGSTOP)
            second = subprocess.run(cli(*surface_args(tiny_checkpoint, image_folder, resumed, *grid)),
                                    capture_output=True, text=True)
            assert second.returncode == 2 and f"being written by another process (pid {proc.pid}" in second.stderr
            proc.send_signal(signal.SIGCONT)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=120)
        if round_ >= 3 and proc.returncode == 0 and read_surface(resumed).complete:
            break  # on a busy machine the run may end before a late signal lands: nothing left to stop
        assert proc.returncode == code, err
        if code > 0:
            assert "interrupted; finished work is saved, rerun the same command to resume" in err
        partial = read_surface(resumed)
        assert seen <= partial.done.sum() < 441, "no finished point may be lost"
        assert np.isnan(partial.values["train_loss"][~partial.done]).all()
        seen = int(partial.done.sum())
    subprocess.run(cli(*surface_args(tiny_checkpoint, image_folder, resumed, *grid)), check=True)
    finished, expected = read_surface(resumed), read_surface(reference)
    assert finished.complete and not (tmp_path / "resumed.h5.lock").exists()
    for name in expected.values:
        np.testing.assert_array_equal(finished.values[name], expected.values[name])


@pytest.mark.parametrize("points_per_batch", ["auto", "3"])
def test_two_torchrun_ranks_give_the_single_process_arrays(tmp_path, tiny_checkpoint, image_folder, points_per_batch):
    """Each rank scores its own groups of points (one per pass, or 3 stacked through vmap)."""
    grid = ["--x", "-1:1:5", "--y", "-1:1:3", "--split", "train", "test", "--device", "cpu"]
    single, double = tmp_path / "one.h5", tmp_path / "two.h5"
    args = surface_args(tiny_checkpoint, image_folder, single, *grid)
    assert main(["surface", *args, "--points-per-batch", "1"]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "landscape", "surface", *surface_args(tiny_checkpoint, image_folder, double, *grid),
                             "--points-per-batch", points_per_batch],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    one, two = read_surface(single), read_surface(double)
    assert two.header.world_size == 2 and two.complete
    if points_per_batch == "3":
        assert two.progress.points_per_batch == 3
    for name in one.values:
        np.testing.assert_allclose(two.values[name], one.values[name], rtol=1e-6)


SHIPPED = Path(__file__).resolve().parents[1] / "figures" / "surfaces"


@pytest.mark.cifar
@needs_real_cifar()
@pytest.mark.parametrize("name", ["resnet20_mish", "resnet20_relu_path"])
def test_a_shipped_surface_is_planned_identically_and_its_points_recomputed(name):
    """The refactored pipeline plans the committed surfaces with the same fingerprint (so they resume
    and are skipped, not recomputed) and gives their stored numbers at two grid points."""
    from landscape.engine import PointEvaluator
    from landscape.surface import plan_surface, same_settings

    stored = read_surface(SHIPPED / f"{name}.h5")
    header = stored.header
    config = SurfaceConfig(checkpoint=header.checkpoint, out=str(SHIPPED / f"{name}.h5"), data=str(REAL_CIFAR),
                           x=header.grid_x, y=header.grid_y, splits=header.splits, samples=header.samples,
                           trajectory=header.trajectory, device="cpu", quiet=True)
    plan = plan_surface(config)
    assert "data_sha256" not in header.fingerprint and len(plan.header.fingerprint["data_sha256"]) == 64
    assert same_settings(header.fingerprint, plan.header.fingerprint)  # written before the data hash: resumable
    assert not same_settings({**header.fingerprint, "data_sha256": "0" * 64}, plan.header.fingerprint)
    points = plan.grid.points()
    with PointEvaluator(plan.model, plan.directions, plan.sets) as evaluator:
        for index in (0, len(points) // 2 + 7):
            got = dict(zip(evaluator.names, evaluator(points[index])))
            for key, value in got.items():
                assert value == pytest.approx(stored.values[key].ravel()[index], rel=1e-5, abs=1e-7), key


def test_an_mlp_checkpoint_gets_a_surface_and_slices(tmp_path, image_folder):
    from landscape.checkpoint import build_model

    meta = model_metadata(2, "mish", {}, architecture="mlp", width=8, dropout=0.25)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ckpt = save_checkpoint(tmp_path / "mlp.pt", build_model(meta), meta)
    out = tmp_path / "mlp.h5"
    assert main(["surface", *surface_args(ckpt, image_folder, out, "--x", "-1:1:3", "--y", "-1:1:3")]) == 0
    surface = read_surface(out)
    assert surface.complete and surface.header.architecture == "mlp" and surface.header.depth == 2
    assert main(["sharpness", str(ckpt), "--directions", "2", "--x=-1:1:5", "--samples", "20", "--data",
                 str(image_folder), "--out-dir", str(tmp_path / "sh"), "--quiet"]) == 0


def test_batched_surface_equals_the_per_point_surface_and_records_its_grouping(tmp_path, tiny_checkpoint,
                                                                                image_folder):
    grid = ["--x=-1:1:5", "--y=-1:1:3", "--split", "train", "test"]
    for count in ("1", "4"):
        assert main(["surface", *surface_args(tiny_checkpoint, image_folder, tmp_path / f"k{count}.h5", *grid),
                     "--points-per-batch", count, "--workers", "2"]) == 0
    one, four = read_surface(tmp_path / "k1.h5"), read_surface(tmp_path / "k4.h5")
    assert one.progress.points_per_batch == 1 and four.progress.points_per_batch == 4
    assert one.progress.cpu_workers == 2 and four.progress.cpu_workers == 1  # vmap passes use all threads
    fused = 7 if onednn_fusion_available() else 0  # ResNet-8 with ReLU; nothing where torch has no oneDNN
    assert (one.progress.batchnorms_folded, one.progress.convolutions_fused) == (7, fused)
    assert (four.progress.batchnorms_folded, four.progress.convolutions_fused) == (0, 0)  # vmap runs the model as is
    assert one.header.fingerprint == four.header.fingerprint  # the grouping is not a setting of the numbers
    for name in one.values:
        np.testing.assert_allclose(four.values[name], one.values[name], rtol=1e-6)


def test_a_batched_run_resumes_only_the_missing_points(tmp_path, tiny_checkpoint, image_folder):
    """Points marked missing in a finished file are scored again, in groups of 4, and the file ends
    with the per-point run's arrays (1e-6); the points that were done are not touched."""
    grid = ["--x=-1:1:5", "--y=-1:1:3"]
    reference, out = tmp_path / "per_point.h5", tmp_path / "batched.h5"
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, reference, *grid),
                 "--points-per-batch", "1"]) == 0
    shutil.copy(reference, out)
    missing = [1, 2, 3, 7, 8, 13]
    with h5py.File(out, "r+") as f:
        done = f["done"][...].ravel()
        done[missing] = 0
        f["done"][...] = done.reshape(f["done"].shape)
        loss = f["train_loss"][...].ravel()
        loss[missing] = np.nan
        f["train_loss"][...] = loss.reshape(f["train_loss"].shape)
        f.attrs["complete"] = False
    assert main(["surface", *surface_args(tiny_checkpoint, image_folder, out, *grid), "--points-per-batch", "4"]) == 0
    resumed, expected = read_surface(out), read_surface(reference)
    assert resumed.complete and resumed.progress.points_per_batch == 4
    assert resumed.progress.points_per_s * resumed.progress.wall_time_s == pytest.approx(len(missing))
    np.testing.assert_allclose(resumed.values["train_loss"], expected.values["train_loss"], rtol=1e-6)
    kept = np.setdiff1d(np.arange(15), missing)
    np.testing.assert_array_equal(resumed.values["train_loss"].ravel()[kept],
                                  expected.values["train_loss"].ravel()[kept])


def test_a_bf16_surface_records_its_error_against_fp32(tmp_path, tiny_checkpoint, image_folder):
    grid = ["--x=-1:1:5", "--y=-1:1:3", "--split", "train", "test", "--points-per-batch", "1"]  # as the check scores
    for precision in ("fp32", "bf16"):
        assert main(["surface", *surface_args(tiny_checkpoint, image_folder, tmp_path / f"{precision}.h5", *grid),
                     "--precision", precision]) == 0
    fp32, bf16 = read_surface(tmp_path / "fp32.h5"), read_surface(tmp_path / "bf16.h5")
    assert fp32.progress.precision_error_points is None  # nothing to check at full precision
    checked = [0, 7, 14]  # the first, middle and last point of the 15
    errors = np.concatenate([np.abs(bf16.values[n].ravel()[checked] - fp32.values[n].ravel()[checked])
                             for n in ("train_loss", "test_loss")])
    assert bf16.progress.precision_error_points == 3
    assert bf16.progress.precision_error_abs == pytest.approx(errors.max(), rel=1e-4, abs=1e-6)
    assert 0 < bf16.progress.precision_error_abs < 0.1


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


def test_a_finished_surface_is_found_without_its_checkpoint(tmp_path, tiny_checkpoint, image_folder):
    """Only a finished file of that checkpoint, grid, slice count and number of samples is reused."""
    plane = SurfaceConfig(checkpoint=str(tiny_checkpoint), out=str(tmp_path / "p.h5"), data=str(image_folder),
                          x="-1:1:3", y="-1:1:3", samples=20, device="cpu", quiet=True)
    slices = dataclasses.replace(plane, out=str(tmp_path / "s.h5"), y=None, slices=2, store_directions=False)
    sha = file_sha256(tiny_checkpoint)
    assert finished_surface(plane, sha) is None  # not yet written
    for config in (plane, slices):
        run_surface(config)
        assert finished_surface(config, sha) == Path(config.out)
    tiny_checkpoint.unlink()
    assert finished_surface(plane, sha) == Path(plane.out)  # no checkpoint needed
    for other in (dataclasses.replace(plane, x="-1:1:5"), dataclasses.replace(plane, y="-2:2:3"),
                  dataclasses.replace(plane, samples=10), dataclasses.replace(slices, slices=3)):
        assert finished_surface(other, sha) is None
    assert finished_surface(plane, "0" * 64) is None
    with h5py.File(plane.out, "r+") as f:  # one point not done: unfinished
        f["done"][0, 0] = False
    assert finished_surface(plane, sha) is None
