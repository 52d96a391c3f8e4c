
import pytest
import torch
from PIL import Image

from landscape import LandscapeError
from landscape.evaluation.evaluate import load_eval_set
from landscape.sources.datasets import load_split, resize
from landscape.sources.specs import DatasetSpec
from tests.helpers import fake_mnist


def grey_folder(root, size=(28, 28), classes=("a", "b", "c"), per_class=4):
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", size, color=40 * label + i).save(root / name / f"{i}.png")
    return root


def test_mnist_through_torchvision_is_single_channel_with_its_statistics(tmp_path):
    images = load_split(DatasetSpec("mnist"), str(fake_mnist(tmp_path)), "test")
    assert images.images.shape == (20, 1, 28, 28) and images.images.dtype == torch.uint8
    assert images.labels.tolist() == [i % 10 for i in range(20)]
    assert images.mean == (0.1307,) and images.std == (0.3081,)


def test_image_folder_statistics_are_computed_from_the_images(tmp_path):
    folder = grey_folder(tmp_path / "g")
    images = load_split(DatasetSpec(f"imagefolder:{folder}"), None, "train")  # no train/: every split reads PATH
    assert images.images.shape == (12, 1, 28, 28) and images.classes == ("a", "b", "c")
    pixels = images.images.float() / 255
    assert images.mean == pytest.approx((float(pixels.mean()),), abs=1e-4)
    assert images.std == pytest.approx((float(pixels.std()),), abs=1e-4)
    given = load_split(DatasetSpec(f"imagefolder:{folder}", mean=(0.5,), std=(0.25,)), None, "test")
    assert given.mean == (0.5,) and given.std == (0.25,)


def test_image_size_resizes_and_mixed_sizes_need_it(tmp_path):
    folder = grey_folder(tmp_path / "g")
    Image.new("L", (30, 20)).save(folder / "a" / "odd.png")
    with pytest.raises(LandscapeError, match="--image-size"):
        load_split(DatasetSpec(f"imagefolder:{folder}"), None, "train")
    images = load_split(DatasetSpec(f"imagefolder:{folder}", image_size=16), None, "train")
    assert images.images.shape == (13, 1, 16, 16)


def test_resize_keeps_a_constant_image_constant():
    images = torch.full((2, 3, 32, 32), 77, dtype=torch.uint8)
    assert torch.equal(resize(images, 20), torch.full((2, 3, 20, 20), 77, dtype=torch.uint8))


def test_cifar10_folders_resized_for_another_model(image_folder):
    images = load_split(DatasetSpec(image_size=64), str(image_folder), "test")
    assert images.images.shape == (20, 3, 64, 64)


def test_a_callable_dataset_is_used_as_given(tmp_path):
    (tmp_path / "mydata.py").write_text(
        "import torch\n"
        "def points(split):\n"
        "    g = torch.Generator().manual_seed(0 if split == 'train' else 1)\n"
        "    x = torch.randn(30, 2, generator=g)\n"
        "    return x, (x[:, 0] > 0).long()\n")
    spec = DatasetSpec(f"{tmp_path / 'mydata.py'}:points")
    eval_set = load_eval_set(None, "train", 10, 0, torch.device("cpu"), dataset=spec)
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    assert eval_set.inputs.shape == (10, 2) and eval_set.mean is None
    assert all(any(torch.equal(row, r) for r in x) for row in eval_set.inputs)  # not standardised
    assert torch.equal(eval_set.labels, (eval_set.inputs[:, 0] > 0).long())


def test_the_data_identity_is_by_content(tmp_path, image_folder):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(image_folder, copy)
    a = load_eval_set(str(image_folder), "test", 10, 0, torch.device("cpu"))
    b = load_eval_set(str(copy), "test", 10, 0, torch.device("cpu"))
    assert a.source != b.source and a.sha256 == b.sha256
    other = load_eval_set(str(copy), "test", 10, 1, torch.device("cpu"))
    assert other.sha256 != a.sha256


def test_missing_named_set_is_one_line(tmp_path):
    with pytest.raises(LandscapeError, match="dataset mnist at .* is missing or incomplete"):
        load_split(DatasetSpec("mnist"), str(tmp_path), "train")
