import pytest
import torch

from landscape import LandscapeError, load_checkpoint, save_checkpoint
from landscape.files import file_sha256
from landscape.sources.checkpoint import build_model, load_model
from landscape.sources.specs import ModelSpec, model_metadata
from landscape.sources.user_code import import_callable
from tests.helpers import user_model_file


def test_round_trip_rebuilds_model_from_metadata(tmp_path):
    meta = {**model_metadata(8, "leaky_relu", {"negative_slope": 0.3}), "test_acc": 0.5, "note": "<b>x</b>"}
    model = build_model(meta)
    path = save_checkpoint(tmp_path / "m.pt", model, meta)
    raw = torch.load(path, weights_only=True)  # readable without executing code
    assert raw["metadata"] == meta
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta and not loaded.training
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x))
    assert loaded.stage1[0].act1.negative_slope == 0.3


def test_bad_checkpoints_give_one_line_errors(tmp_path):
    with pytest.raises(LandscapeError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a zip" * 10)
    with pytest.raises(LandscapeError, match="corrupt.pt is corrupt") as e:
        load_checkpoint(corrupt)
    assert "\n" not in str(e.value)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(LandscapeError, match="not a landscape checkpoint"):
        load_checkpoint(other)
    meta = model_metadata(8, "relu", {})
    vit = tmp_path / "vit.pt"
    save_checkpoint(vit, build_model(meta), {**meta, "architecture": "vit"})
    with pytest.raises(LandscapeError, match="vit.pt: architecture 'vit' is not supported"):
        load_checkpoint(vit)
    wrong_depth = tmp_path / "deep.pt"
    save_checkpoint(wrong_depth, build_model(meta), {**meta, "depth": 14})
    with pytest.raises(LandscapeError, match="does not match the cifar_resnet-14"):
        load_checkpoint(wrong_depth)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "dataparallel"])
def test_your_own_model_from_a_file_and_a_state_dict(tmp_path, wrap):
    spec = ModelSpec(f"{user_model_file(tmp_path)}:small_net", {"classes": 4})
    torch.manual_seed(0)
    reference = import_callable(spec.factory, "--model")(classes=4).eval()
    state = reference.state_dict()
    payload = {"plain": state, "state_dict": {"state_dict": state, "epoch": 3}, "model": {"model": state},
               "dataparallel": {f"module.{k}": v for k, v in state.items()}}[wrap]
    torch.save(payload, tmp_path / "w.pt")
    loaded = load_model(tmp_path / "w.pt", spec)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(loaded.model(x), reference(x)) and not loaded.model.training
    assert loaded.metadata == {"model_factory": spec.factory, "model_args": {"classes": 4}}
    assert loaded.sha256 == file_sha256(tmp_path / "w.pt")


def test_a_torchvision_model_out_of_the_box(tmp_path):
    from torchvision.models import resnet18
    torch.save(resnet18(num_classes=10).state_dict(), tmp_path / "r18.pt")
    loaded = load_model(tmp_path / "r18.pt", ModelSpec("torchvision.models:resnet18", {"num_classes": 10}))
    assert loaded.model.fc.out_features == 10


def test_your_own_model_refusals_are_one_line(tmp_path):
    factory = f"{user_model_file(tmp_path)}:small_net"
    torch.save(import_callable(factory, "--model")(classes=3).state_dict(), tmp_path / "w.pt")
    cases = [
        (ModelSpec(factory, {"classes": 5}), "w.pt", "does not fit --model"),  # head of another shape
        (ModelSpec(factory, {"hidden": 8, "channels": 1, "classes": 3, "depth": 2}), "w.pt", "unexpected keyword"),
        (ModelSpec("no_such_module_xyz:net"), "w.pt", "cannot import no_such_module_xyz"),
        (ModelSpec(f"{tmp_path / 'user_model.py'}:missing"), "w.pt", "has no attribute 'missing'"),
        (ModelSpec("torch:pi"), "w.pt", "is not callable"),
        (ModelSpec("torch.nn:Identity"), "w.pt", "unexpected key"),  # a model with no parameters at all
        (ModelSpec(factory), "missing.pt", "weights file .*missing.pt does not exist"),
    ]
    torch.save({"epoch": 3}, tmp_path / "nostate.pt")
    cases.append((ModelSpec(factory), "nostate.pt", "holds no state_dict"))
    for spec, weights, message in cases:
        with pytest.raises(LandscapeError, match=message) as e:
            load_model(tmp_path / weights, spec)
        assert "\n" not in str(e.value)
