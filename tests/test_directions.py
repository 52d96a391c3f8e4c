import pytest
import torch

from landscape import LandscapeError, activation_factory, resnet
from landscape.directions import (DirectionOptions, check_compatible, cosine, random_directions,
                                  target_direction)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return resnet(8, activation_factory("relu"))


def test_filter_normalisation_matches_every_filter_norm(model):
    (d,) = random_directions(model, DirectionOptions(seed=3), 1)
    params = dict(model.named_parameters())
    for name, w in params.items():
        if w.dim() > 1:
            assert torch.allclose(d[name].flatten(1).norm(dim=1), w.detach().flatten(1).norm(dim=1), rtol=1e-6)
        else:
            assert not d[name].any(), f"{name} should be zero under the default ignore=biasbn"


def test_including_biasbn_and_other_normalisations(model):
    params = {k: v.detach() for k, v in model.named_parameters()}
    (d,) = random_directions(model, DirectionOptions(ignore_biasbn=False, seed=1), 1)
    assert torch.allclose(d["fc.bias"].norm(), params["fc.bias"].norm(), rtol=1e-6)
    (layer,) = random_directions(model, DirectionOptions(norm="layer", seed=1), 1)
    assert torch.allclose(layer["conv1.weight"].norm(), params["conv1.weight"].norm(), rtol=1e-6)
    (raw,) = random_directions(model, DirectionOptions(norm="none", seed=1), 1)
    (weighted,) = random_directions(model, DirectionOptions(norm="weight", seed=1), 1)
    assert torch.allclose(weighted["conv1.weight"], raw["conv1.weight"] * params["conv1.weight"])


def test_seeded_and_states_include_running_statistics(model):
    a = random_directions(model, DirectionOptions(seed=5), 2)
    b = random_directions(model, DirectionOptions(seed=5), 2)
    assert all(torch.equal(a[1][k], b[1][k]) for k in a[1])
    assert not torch.equal(a[0]["conv1.weight"], a[1]["conv1.weight"])
    (states,) = random_directions(model, DirectionOptions(dir_type="states"), 1)
    assert "bn1.running_mean" in states and "bn1.num_batches_tracked" not in states


def test_orthogonalised_directions(model):
    x, y = random_directions(model, DirectionOptions(seed=2, orthogonalize=True), 2)
    assert abs(cosine(x, y)) < 1e-6
    x0, y0 = random_directions(model, DirectionOptions(seed=2), 2)
    assert abs(cosine(x0, y0)) > abs(cosine(x, y))
    norm = lambda d: sum(float((v.double() ** 2).sum()) for v in d.values()) ** 0.5  # noqa: E731
    assert norm(y) == pytest.approx(norm(y0), rel=1e-6)  # float32 entries


def test_target_direction_reaches_the_target(model):
    torch.manual_seed(1)
    other = resnet(8, activation_factory("relu"))
    d = target_direction(model, other)
    for name, p in model.named_parameters():
        assert torch.allclose(p.detach() + d[name], dict(other.named_parameters())[name].detach(), atol=1e-6)
    deeper = resnet(14, activation_factory("relu"))
    with pytest.raises(LandscapeError, match="target model does not fit the model"):
        target_direction(model, deeper)


def test_mismatched_direction_is_refused(model):
    (d,) = random_directions(model, DirectionOptions(), 1)
    entries = dict(model.named_parameters())
    d["fc.weight"] = torch.zeros(3, 3)
    with pytest.raises(LandscapeError, match="fc.weight has shape \\(3, 3\\)"):
        check_compatible(entries, d, "direction x")
    del d["fc.weight"]
    with pytest.raises(LandscapeError, match="missing \\['fc.weight'\\]"):
        check_compatible(entries, d, "direction x")
