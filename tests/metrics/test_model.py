import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.metrics.model import dead_units, loss_spread
from landscape.sources.activations import get_activation


def test_dead_units_by_construction():
    conv = nn.Conv2d(3, 4, 1)
    with torch.no_grad():
        conv.weight[:2] = 0
        conv.bias[:2] = torch.tensor([-1.0, 0.0])  # channel 0: always −1 → 0; channel 1: always 0
        conv.weight[2:] = 1
        conv.bias[2:] = torch.tensor([5.0, -0.5])
    model = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(4, 2, 1), nn.LeakyReLU(0.3))
    inputs = torch.rand(10, 3, 4, 4)
    relu, leaky = dead_units(model, inputs)
    assert (relu.site, relu.channels, relu.never_positive, relu.below_eps) == ("1", 4, 0.5, 0.5)
    assert leaky.channels == 2


def test_loss_spread_is_the_standard_error():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    inputs, labels = torch.randn(50, 4), torch.randint(0, 3, (50,))
    per_image = F.cross_entropy(model(inputs), labels, reduction="none").detach().double().numpy()
    spread = loss_spread(model, inputs, labels, batch_size=7)
    assert spread.loss == pytest.approx(per_image.mean())
    assert spread.standard_error == pytest.approx(per_image.std(ddof=1) / math.sqrt(50))


@pytest.mark.parametrize("name, params", [("relu", {}), ("leaky_relu", {"negative_slope": 0.3}),
                                          ("swish", {"impl": "native"}), ("swish", {"impl": "compiled"}),
                                          ("mish", {"impl": "native"}), ("mish", {"impl": "autograd"}),
                                          ("mish", {"impl": "compiled"}), ("gelu", {}), ("elu", {}), ("softplus", {})])
def test_dead_units_sees_every_activation_implementation(name, params):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), get_activation(name, **params), nn.Conv2d(4, 2, 1))
    (site,) = dead_units(model, torch.randn(6, 3, 4, 4))
    assert site.site == "1" and site.channels == 4


def test_gradient_norms_match_autograd_and_leave_the_model_alone():
    from landscape.metrics.model import gradient_norms

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 3)).eval()
    inputs, labels = torch.randn(16, 5), torch.randint(0, 3, (16,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    norms = gradient_norms(model, inputs, labels)
    assert list(norms) == ["0.weight", "4.weight"] and not model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # running statistics kept
    assert torch.equal(torch.get_rng_state(), rng) and all(p.grad is None for p in model.parameters())
    torch.set_rng_state(rng)  # the same dropout mask as inside: the same gradient, computed directly
    model.train()
    F.cross_entropy(model(inputs), labels).backward()
    assert norms["4.weight"] == pytest.approx(float(model[4].weight.grad.norm()), rel=1e-6)
