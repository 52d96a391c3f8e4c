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

from landscape import activation_factory, balanced_subset, load_cifar10, resnet, save_checkpoint
from landscape.cli import main
from landscape.evaluation.folding import onednn_fusion_available
from landscape.files import file_sha256
from landscape.sources.data import normalize
from landscape.sources.specs import model_metadata
from landscape.storage.surface_file import read_surface
from landscape.surfaces.config import SurfaceConfig
from landscape.surfaces.sweep import finished_surface, run_surface
from tests.helpers import interruptible, surface_args


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


def cli(*args):
    return [sys.executable, "-m", "landscape", "surface", *args]


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


def test_an_mlp_checkpoint_gets_a_surface_and_slices(tmp_path, image_folder):
    from landscape.sources.checkpoint import build_model

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
