"""What a user names, as plain data: activation parameters and reader names, dataset specs, the
architecture metadata."""
import pytest

from landscape import LandscapeError
from landscape.sources.specs import DatasetSpec, ModelSpec, activation_params, display_name, model_metadata


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "imagenet"}, "unknown dataset 'imagenet'"),
    ({"image_size": 0}, "--image-size"),
    ({"mean": (0.5,)}, "--mean and --std go together"),
    ({"mean": (0.5,), "std": (0.0,)}, "--std must be positive"),
])
def test_bad_specs_are_refused(kwargs, message):
    with pytest.raises(LandscapeError, match=message):
        DatasetSpec(**kwargs)


def test_activation_parameters_and_the_names_readers_see():
    assert activation_params("leaky_relu", negative_slope=0.3) == {"negative_slope": 0.3}
    with pytest.raises(LandscapeError, match="'relu' does not take slope; it takes no parameters"):
        activation_params("relu", slope=2)
    with pytest.raises(LandscapeError, match="expected one of relu, leaky_relu"):
        activation_params("mishh")
    assert display_name("leaky_relu", {"negative_slope": 0.3}) == "Leaky ReLU (slope 0.3)"
    assert display_name("swish", {"beta": 1.0, "impl": "compiled"}) == "Swish"  # defaults and impl are unsaid
    assert display_name("my_act") == "my_act"


def test_architecture_metadata_and_the_default_model_spec():
    assert model_metadata(20, "mish", {})["architecture"] == "cifar_resnet"
    mlp = model_metadata(4, "relu", {}, architecture="mlp", width=64, in_features=784)
    assert (mlp["width"], mlp["in_features"], mlp["batch_norm"]) == (64, 784, True)
    with pytest.raises(LandscapeError, match="architecture"):
        model_metadata(20, "relu", {}, architecture="vit")
    assert ModelSpec().factory is None and DatasetSpec().is_default
