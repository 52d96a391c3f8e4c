import numpy as np
import pytest
import torch
from torch import nn

from landscape.cli import main
from landscape.evaluation.evaluate import evaluate, load_eval_set
from landscape.sources.checkpoint import load_checkpoint
from landscape.storage.surface_file import read_surface
from landscape.surfaces.connect import barrier, barrier_above_chord, recompute_batchnorm
from tests.helpers import CountedCalls


def flags(image_folder, out_dir, *extra):
    return ["--data", str(image_folder), "--out-dir", str(out_dir), "--samples", "20", "--quiet", "--points", "5",
            *extra]


def test_with_kept_statistics_the_path_is_a_direct_loop_over_interpolated_models(tmp_path, two_models, image_folder):
    """--bn keep: each point's loss equals that of a model loaded with (1 − t)·A + t·B (weights and
    statistics), scored on its own; the ends are exactly each model's own loss."""
    assert main(["connect", *map(str, two_models), *flags(image_folder, tmp_path / "c", "--bn", "keep")]) == 0
    surface = read_surface(tmp_path / "c" / "m0__m1_line.h5")
    assert surface.header.bn_statistics == "keep" and surface.header.path_curve == "line"
    images = load_eval_set(str(image_folder), "train", 20, 0, torch.device("cpu"), True)
    a, b = (load_checkpoint(p)[0].state_dict() for p in two_models)
    model = load_checkpoint(two_models[0])[0].eval()
    for k, t in enumerate(surface.x):
        model.load_state_dict({n: v if not v.is_floating_point() else (1 - t) * v + t * b[n] for n, v in a.items()})
        model.eval()
        assert surface.values["train_loss"][k] == pytest.approx(evaluate(model, images.inputs, images.labels).loss,
                                                                rel=1e-6)
    for end, path in ((0, two_models[0]), (-1, two_models[1])):
        own = load_checkpoint(path)[0].eval()
        assert surface.values["train_loss"][end] == evaluate(own, images.inputs, images.labels, 200).loss
    height, top = barrier(surface.values["train_loss"])
    assert surface.metrics["barrier"] == pytest.approx(height) and surface.metrics["barrier_t"] == surface.x[top]


def test_recomputed_statistics_are_the_exact_averages_over_the_training_images():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    inputs = torch.randn(64, 3, 8, 8)
    recompute_batchnorm(model, inputs, batch_size=16)
    features = model[0](inputs)
    torch.testing.assert_close(model[1].running_mean, features.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    per_batch = [f.var(dim=(0, 2, 3), unbiased=True) for f in features.detach().split(16)]
    torch.testing.assert_close(model[1].running_var, torch.stack(per_batch).mean(0), rtol=1e-5, atol=1e-6)
    assert not model.training and model[1].momentum == 0.1


def test_recompute_gives_other_ends_than_keep_and_the_barrier_is_measured_from_them(tmp_path, two_models,
                                                                                     image_folder):
    assert main(["connect", *map(str, two_models), *flags(image_folder, tmp_path / "c", "--bn-samples", "40")]) == 0
    surface = read_surface(tmp_path / "c" / "m0__m1_line.h5")
    assert surface.header.bn_statistics == "recompute" and surface.header.bn_samples == 40
    losses = surface.values["train_loss"]
    assert surface.metrics["barrier"] == pytest.approx(losses.max() - (losses[0] + losses[-1]) / 2)


def test_an_interrupted_path_resumes_and_other_settings_are_refused(tmp_path, two_models, image_folder,
                                                                    monkeypatch, capsys):
    import landscape.surfaces.connect as module
    real = module.evaluate
    monkeypatch.setattr(module, "evaluate", CountedCalls(real, interrupt_at=3))
    args = ["connect", *map(str, two_models), *flags(image_folder, tmp_path / "c", "--bn", "keep")]
    assert main(args) != 0
    assert int(read_surface(tmp_path / "c" / "m0__m1_line.h5").done.sum()) == 2
    monkeypatch.setattr(module, "evaluate", counted := CountedCalls(real))
    assert main(args) == 0 and counted.calls == 3  # only the three missing points
    capsys.readouterr()
    assert main([*args, "--bn", "recompute", "--bn-samples", "40"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["connect", str(two_models[0]), str(two_models[0]), *flags(image_folder, tmp_path / "d")]) == 2
    assert "given twice" in capsys.readouterr().err


def test_your_own_model_connects_too(tmp_path, image_folder):
    import json

    from tests.helpers import user_model_file
    from tests.metrics.test_curvature_map import MODEL_ARGS, small_net_weights

    torch.manual_seed(0)
    weights = [small_net_weights(tmp_path / f"w{k}.pt") for k in (0, 1)]
    own = ["--model", f"{user_model_file(tmp_path)}:small_net", "--model-args", json.dumps(MODEL_ARGS),
           "--weights", *map(str, weights)]
    assert main(["connect", *own, *flags(image_folder, tmp_path / "c", "--bn-samples", "40")]) == 0
    surface = read_surface(tmp_path / "c" / "w0__w1_line.h5")
    assert surface.complete and surface.header.bn_statistics == "recompute"  # its BatchNorm was found


def test_the_two_barriers_of_a_known_path():
    t = np.linspace(0, 1, 5)
    rising = 1.0 + t  # a straight rise from 1 to 2: no bump
    assert barrier(rising) == (0.5, 4) and barrier_above_chord(t, rising) == 0.0
    bump = 1.0 + 4 * t * (1 - t)  # equal ends, a bump of 1 in the middle
    assert barrier(bump) == (1.0, 2) and barrier_above_chord(t, bump) == 1.0


def test_batchnorm_images_are_augmented_as_in_training_unless_asked_clean(image_folder):
    from landscape.sources.data import augment, balanced_subset
    from landscape.sources.datasets import load_split
    from landscape.sources.specs import DatasetSpec
    from landscape.surfaces.config import ConnectConfig
    from landscape.surfaces.connect import batchnorm_images

    config = ConnectConfig(checkpoints=("a.pt", "b.pt"), data=str(image_folder), bn_samples=20, data_seed=3)
    train = load_split(DatasetSpec(), str(image_folder), "train", quiet=True)
    chosen = train.subset(balanced_subset(train.labels, 20, 3))
    expected = augment(chosen.images, torch.Generator().manual_seed(3))
    cpu = torch.device("cpu")
    from landscape.evaluation.evaluate import prepare_inputs
    torch.testing.assert_close(batchnorm_images(config, cpu), prepare_inputs(expected, cpu, chosen.mean, chosen.std))
    clean = batchnorm_images(ConnectConfig(**{**config.__dict__, "bn_augment": False}), cpu)
    torch.testing.assert_close(clean, load_eval_set(str(image_folder), "train", 20, 3, cpu, True).inputs)
    assert not torch.equal(clean, batchnorm_images(config, cpu))
