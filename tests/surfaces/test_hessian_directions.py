import numpy as np
import pytest
import torch

from landscape import activation_factory, resnet, save_checkpoint
from landscape.cli import main
from landscape.sources.specs import model_metadata
from landscape.storage.surface_file import read_directions, read_surface
from landscape.viz.labels import axis_label
from tests.helpers import surface_args


@pytest.fixture
def smooth_checkpoint(tmp_path):
    """A small Mish ResNet: smooth, so finite differences of its loss see the Hessian."""
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "mish.pt", resnet(8, activation_factory("mish")), model_metadata(8, "mish", {}))


def test_the_surface_curves_along_each_eigenvector_by_its_eigenvalue(tmp_path, smooth_checkpoint, image_folder):
    out = tmp_path / "eig.h5"
    h = 0.01
    assert main(["surface", *surface_args(smooth_checkpoint, image_folder, out, "--x", f"{-h}:{h}:3", "--y",
                                          f"{-h}:{h}:3", "--directions", "hessian", "--lanczos-steps", "60")]) == 0
    surface = read_surface(out)
    header = surface.header
    assert header.direction_source == "hessian" and header.direction_norm == "none" and header.lanczos_steps == 60
    first, second = header.eigenvalues
    assert first >= second > 0 and max(header.eigen_residuals) < 0.02 * first
    x, y = read_directions(out)
    norms = [sum(float((d[k].double() ** 2).sum()) for k in d) ** 0.5 for d in (x, y)]
    assert norms == pytest.approx([1.0, 1.0], abs=1e-5)
    assert abs(sum(float((x[k].double() * y[k].double()).sum()) for k in x)) < 1e-4  # orthogonal
    loss = surface.values["train_loss"]  # [iy, ix]
    along_x = (loss[1, 2] - 2 * loss[1, 1] + loss[1, 0]) / h ** 2
    along_y = (loss[2, 1] - 2 * loss[1, 1] + loss[0, 1]) / h ** 2
    assert along_x == pytest.approx(first, rel=0.03)
    assert along_y == pytest.approx(second, rel=0.03)
    assert axis_label("x", surface).startswith("α (eigenvector 1, λ = ")


def test_a_resumed_eigenvector_surface_keeps_its_stored_directions(tmp_path, smooth_checkpoint, image_folder,
                                                                    monkeypatch):
    out = tmp_path / "eig.h5"
    args = surface_args(smooth_checkpoint, image_folder, out, "--x", "-0.1:0.1:3", "--directions", "hessian",
                        "--lanczos-steps", "10")
    assert main(["surface", *args]) == 0
    before = read_directions(out)[0]
    def no_lanczos(*_args, **_kwargs):
        raise AssertionError("the eigenvectors were computed again")
    monkeypatch.setattr("landscape.surfaces.plan.lanczos", no_lanczos)
    assert main(["surface", *args]) == 0  # the stored eigenvector is reused, not recomputed
    after = read_directions(out)[0]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert np.isfinite(read_surface(out).values["train_loss"]).all()


def test_eigenvector_directions_exclude_other_direction_sources(tmp_path, smooth_checkpoint, image_folder, capsys):
    args = surface_args(smooth_checkpoint, image_folder, tmp_path / "e.h5", "--directions", "hessian",
                        "--target", str(smooth_checkpoint))
    assert main(["surface", *args]) == 2
    assert "--target and --directions hessian each give the directions" in capsys.readouterr().err
