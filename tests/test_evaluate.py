import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape import LandscapeError
from landscape.data import normalize
from landscape.evaluate import evaluate, load_eval_set, prepare_inputs


def test_score_equals_a_direct_computation_for_any_batch_size():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    inputs, labels = torch.randn(23, 3, 4, 4), torch.randint(0, 5, (23,))
    with torch.no_grad():
        logits = model(inputs)
    expected_loss = float(F.cross_entropy(logits, labels))
    expected_acc = float((logits.argmax(1) == labels).float().mean())
    for batch_size in (1, 5, 23, 100):
        score = evaluate(model, inputs, labels, batch_size)
        assert score.loss == pytest.approx(expected_loss, rel=1e-6) and score.accuracy == pytest.approx(expected_acc)


def test_bf16_is_close_to_fp32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 4))
    inputs, labels = torch.randn(64, 3, 4, 4), torch.randint(0, 4, (64,))
    fp32, bf16 = evaluate(model, inputs, labels), evaluate(model, inputs, labels, precision="bf16")
    assert bf16.loss == pytest.approx(fp32.loss, rel=0.02)


def test_eval_set_is_the_balanced_subset_prepared_on_the_device(image_folder):
    chosen = load_eval_set(str(image_folder), "train", 20, 0, torch.device("cpu"), quiet=True)
    assert chosen.split == "train" and torch.bincount(chosen.labels).tolist() == [2] * 10
    assert chosen.inputs.is_contiguous(memory_format=torch.channels_last)
    assert chosen.source == str(image_folder)
    again = load_eval_set(str(image_folder), "train", 20, 0, torch.device("cpu"), quiet=True)
    assert torch.equal(chosen.inputs, again.inputs)
    with pytest.raises(LandscapeError, match="--samples 99999999 is more than the 20 examples of the test split"):
        load_eval_set(str(image_folder), "test", 99_999_999, 0, torch.device("cpu"), quiet=True)
    images = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    assert torch.equal(prepare_inputs(images, torch.device("cpu")), normalize(images))
