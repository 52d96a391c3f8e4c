import pytest
import torch

from landscape import LandscapeError, load_checkpoint, save_checkpoint
from landscape.checkpoint import build_model, model_metadata


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
