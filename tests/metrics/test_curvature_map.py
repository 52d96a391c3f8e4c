import json

import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.metrics.curvature_map import surface_inputs
from landscape.metrics.options import CurvatureMapConfig
from landscape.sources.specs import ModelSpec
from landscape.storage.surface_file import read_directions, read_surface
from tests.helpers import USER_MODEL, CountedCalls, user_model_file
from tests.metrics.test_hessian import exact_hessian

MODEL_ARGS = {"channels": 3, "classes": 10, "hidden": 4}  # 170 parameters: the full Hessian is small


def small_net_weights(path):
    namespace: dict = {}
    exec(USER_MODEL, namespace)  # the model the factory file builds
    torch.save(namespace["small_net"](**MODEL_ARGS).state_dict(), path)
    return path


@pytest.fixture
def mapped(tmp_path, image_folder):
    """A 5×5 surface of a tiny model of your own, and the flags that name the model and data."""
    torch.manual_seed(0)
    factory = f"{user_model_file(tmp_path)}:small_net"
    weights = small_net_weights(tmp_path / "w.pt")
    own = ["--model", factory, "--model-args", json.dumps(MODEL_ARGS), "--weights", str(weights),
           "--data", str(image_folder), "--quiet"]
    out = tmp_path / "s.h5"
    assert main(["surface", *own, "--out", str(out), "--x", "-1:1:5", "--y", "-1:1:5", "--samples", "20"]) == 0
    return out, own, ModelSpec(factory, MODEL_ARGS), weights


def test_the_map_holds_the_exact_extreme_eigenvalues_at_each_mapped_point(mapped, image_folder):
    out, own, spec, weights = mapped
    losses = read_surface(out).values["train_loss"].copy()
    assert main(["hessian-map", str(out), *own, "--every", "2", "--lanczos-steps", "170"]) == 0
    surface = read_surface(out)
    np.testing.assert_array_equal(surface.values["train_loss"], losses)  # the surface itself is untouched
    curvature = surface.curvature
    assert curvature.complete and curvature.done.shape == (3, 3) and curvature.every == 2
    assert curvature.x.tolist() == [-1.0, 0.0, 1.0]
    inputs = surface_inputs(CurvatureMapConfig(surface=str(out), checkpoint=str(weights), data=str(image_folder),
                                               model=spec, device="cpu"))
    x, y = read_directions(out)
    state = {k: v.clone() for k, v in inputs.model.state_dict().items()}
    for iy, beta in enumerate(curvature.y):
        for ix, alpha in enumerate(curvature.x):
            with torch.no_grad():
                for name, p in inputs.model.named_parameters():
                    p.copy_(state[name] + alpha * x[name] + beta * y[name])
            exact = torch.linalg.eigvalsh(exact_hessian(inputs.model, inputs.images.inputs, inputs.images.labels))
            assert curvature.arrays["max_eig"][iy, ix] == pytest.approx(float(exact[-1]), rel=1e-3, abs=1e-5)
            assert curvature.arrays["min_eig"][iy, ix] == pytest.approx(float(exact[0]), rel=1e-3, abs=1e-5)
    ratio = np.abs(curvature.arrays["min_eig"] / curvature.arrays["max_eig"])
    np.testing.assert_allclose(curvature.ratio, ratio)


def test_an_interrupted_map_resumes_and_other_settings_are_refused(mapped, monkeypatch, capsys):
    out, own, _, _ = mapped
    import landscape.metrics.curvature_map as module
    real = module.lanczos
    monkeypatch.setattr(module, "lanczos", CountedCalls(real, interrupt_at=3))
    assert main(["hessian-map", str(out), *own, "--every", "2", "--lanczos-steps", "5"]) != 0
    assert int(read_surface(out).curvature.done.sum()) == 2  # the two finished points were kept
    monkeypatch.setattr(module, "lanczos", counted := CountedCalls(real))
    assert main(["hessian-map", str(out), *own, "--every", "2", "--lanczos-steps", "5"]) == 0
    assert counted.calls == 7 and read_surface(out).curvature.complete  # only the seven missing points
    monkeypatch.setattr(module, "lanczos", real)
    capsys.readouterr()
    assert main(["hessian-map", str(out), *own, "--every", "2", "--lanczos-steps", "6"]) == 2
    assert "made with other settings" in capsys.readouterr().err
    assert main(["hessian-map", str(out), *own, "--every", "2", "--lanczos-steps", "6", "--force"]) == 0
    assert read_surface(out).curvature.x.tolist() == [-1.0, 0.0, 1.0]


def test_a_map_needs_the_surface_s_own_checkpoint(mapped, tmp_path, capsys):
    out, own, _, _ = mapped
    other = small_net_weights(tmp_path / "other.pt")
    flags = [f if f != own[own.index("--weights") + 1] else str(other) for f in own]
    assert main(["hessian-map", str(out), *flags]) == 2
    assert "is not the checkpoint" in capsys.readouterr().err
    assert read_surface(out).curvature is None


def test_a_map_needs_the_surface_s_own_images(mapped, tmp_path, capsys):
    import shutil

    from PIL import Image
    out, own, _, _ = mapped
    data = own[own.index("--data") + 1]
    other = tmp_path / "other_cifar"
    shutil.copytree(data, other)
    first = sorted((other / "train").rglob("*.png"))[0]
    Image.new("RGB", (32, 32), (255, 0, 0)).save(first)  # one training image changed, same name and count
    flags = [f if f != data else str(other) for f in own]
    assert main(["hessian-map", str(out), *flags]) == 2
    assert "not those" in capsys.readouterr().err and read_surface(out).curvature is None
    assert main(["hessian-map", str(tmp_path / "nope.h5"), *own]) == 2


def test_a_file_of_slices_is_refused(tmp_path, capsys):
    from landscape.storage.schema import SurfaceHeader
    from landscape.storage.surface_file import create_surface_file

    path = create_surface_file(tmp_path / "slices.h5", SurfaceHeader(layout="slices", splits=("train",)),
                               np.linspace(-1, 1, 3), None, [{}, {}])
    assert main(["hessian-map", str(path), "--checkpoint", str(tmp_path / "c.pt")]) == 2
    assert "holds 1-D slices" in capsys.readouterr().err
