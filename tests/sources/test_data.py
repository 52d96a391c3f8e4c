import pytest
import torch

from landscape import LandscapeError, balanced_subset, load_cifar10
from landscape.sources.data import as_given, augment, normalize
from tests.helpers import REAL_CIFAR, needs_real_cifar, synthetic_images


def test_image_folder_loads_in_label_order_and_is_cached(image_folder, monkeypatch):
    first = load_cifar10(str(image_folder), "train", quiet=True)
    assert first.images.shape == (40, 3, 32, 32) and first.images.dtype == torch.uint8
    assert torch.equal(first.labels, torch.arange(10).repeat_interleave(4))
    expected = synthetic_images(4, seed=1)  # the fixture wrote these pixels as lossless PNGs
    assert torch.equal(first.images, expected.images)

    def no_decoding(*a, **k):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr("landscape.sources.data._decode_image_folder", no_decoding)
    assert torch.equal(load_cifar10(str(image_folder), "train").images, first.images)


def test_data_from_environment_variable(image_folder, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_DATA", str(image_folder))
    assert len(load_cifar10(None, "test", quiet=True)) == 20


def test_unusable_paths_give_one_clear_error(tmp_path):
    with pytest.raises(LandscapeError, match="is not a folder.*--data PATH"):
        load_cifar10(str(tmp_path / "missing"), "train")
    with pytest.raises(LandscapeError, match="neither train/<class>/ folders nor cifar-10-batches-py"):
        load_cifar10(str(tmp_path), "train")
    (tmp_path / "train" / "cats").mkdir(parents=True)
    with pytest.raises(LandscapeError, match="cats that are not among CIFAR-10's 10 classes"):
        load_cifar10(str(tmp_path), "train")
    with pytest.raises(LandscapeError, match="unknown split 'val'"):
        load_cifar10(str(tmp_path), "val")


def test_damaged_torchvision_batches_give_a_clear_error(tmp_path):
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    (batches / "data_batch_1").write_bytes(b"not a pickle")
    for path in (tmp_path, batches):
        with pytest.raises(LandscapeError, match="cifar-10-batches-py is incomplete or corrupt.*--data PATH"):
            load_cifar10(str(path), "train")


def test_balanced_subset_is_deterministic_and_balanced():
    labels = torch.arange(10).repeat_interleave(50)
    a = balanced_subset(labels, 105, seed=3)
    assert torch.equal(a, balanced_subset(labels, 105, seed=3))
    assert not torch.equal(a, balanced_subset(labels, 105, seed=4))
    counts = torch.bincount(labels[a], minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 105 and len(a.unique()) == 105
    with pytest.raises(LandscapeError, match="between 1 and 500"):
        balanced_subset(labels, 501, seed=0)


def test_augment_is_a_window_of_the_padded_image_possibly_flipped():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = augment(images, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(len(images)):
        windows = [padded[i, :, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)
    again = augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert not torch.equal(out, images)


def test_normalize_standardises_per_channel():
    images = synthetic_images(20, seed=0).images
    x = normalize(images)
    manual = (images[:, 1].float() / 255 - 0.4822) / 0.2435
    assert x.dtype == torch.float32 and torch.allclose(x[:, 1], manual, atol=1e-6)


@pytest.mark.cifar
@needs_real_cifar()
def test_real_cifar10_test_split():
    test = load_cifar10(str(REAL_CIFAR), "test", quiet=True)
    assert test.images.shape == (10_000, 3, 32, 32)
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 1000))


def test_provenance_keeps_paths_as_given(image_folder, monkeypatch):
    monkeypatch.chdir(image_folder.parent)
    assert load_cifar10(image_folder.name, "test").source == image_folder.name  # relative stays relative
    monkeypatch.setenv("HOME", str(image_folder.parent))
    assert as_given(image_folder / "train") == f"~/{image_folder.name}/train"
    assert as_given("runs/data") == "runs/data"
