import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape import LandscapeError
from landscape.evaluation.evaluate import evaluate, load_eval_set, prepare_inputs
from landscape.sources.data import normalize


def test_score_equals_a_direct_computation_for_any_batch_size():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    inputs, labels = torch.randn(23, 3, 4, 4), torch.randint(0, 5, (23,))
    with torch.no_grad():
        logits = model(inputs)
    expected_loss = float(F.cross_entropy(logits, labels))
    expected_acc = float((logits.argmax(1) == labels).float().mean())
    for batch_size in (1, 5, 23, 100):
        for workers in (1, 2, 3):  # batches scored side by side in threads: the same numbers
            score = evaluate(model, inputs, labels, batch_size, workers=workers)
            assert score.loss == pytest.approx(expected_loss, rel=1e-6)
            assert score.accuracy == pytest.approx(expected_acc)


def test_workers_share_the_threads_and_give_them_back():
    seen = []
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    inputs, labels = torch.randn(40, 3, 2, 2), torch.randint(0, 3, (40,))
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        evaluate(model, inputs, labels, 10, workers=2)
        assert seen == [2] * 4 and torch.get_num_threads() == 4  # two batches at a time, two threads each
    finally:
        torch.set_num_threads(before)


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


def test_uint8_images_standardised_per_batch_score_exactly_like_float_inputs():
    """What `--samples all` does on a GPU too small for the floats: the same numbers, per point,
    batched through vmap and for the checkpoint metrics."""
    import numpy as np

    from landscape import activation_factory, resnet
    from landscape.evaluation.engine import evaluator_for
    from landscape.evaluation.evaluate import EvalSet, StandardizedImages
    from landscape.evaluation.options import EvalOptions
    from landscape.geometry.directions import random_directions
    from landscape.geometry.options import DirectionOptions
    from landscape.metrics.model import loss_spread

    torch.manual_seed(0)
    images, labels = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (40,))
    kept = prepare_inputs(images, torch.device("cpu"), keep_uint8=True)
    floats = prepare_inputs(images, torch.device("cpu"))
    assert isinstance(kept, StandardizedImages) and kept.images.dtype == torch.uint8 and len(kept) == 40
    assert torch.equal(kept[5:17], floats[5:17]) and kept[5:17].is_contiguous(memory_format=torch.channels_last)
    model = resnet(8, activation_factory("relu")).eval()
    directions = random_directions(model, DirectionOptions(seed=3), 2)
    points = np.array([[0.0, 0.0], [0.3, -0.2], [-0.5, 0.4]])
    for count in (1, 3):
        rows = []
        for inputs in (kept, floats):
            with evaluator_for(model, directions, [EvalSet("train", inputs, labels)], EvalOptions(batch_size=16),
                               "weights", count) as evaluator:
                rows.append(evaluator.many(points))
        assert rows[0] == rows[1]
    assert loss_spread(model, kept, labels, 16) == loss_spread(model, floats, labels, 16)
