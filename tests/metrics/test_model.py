import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.metrics.model import (
    KeptGradientGraphs,
    dead_units,
    hessian_spectrum,
    hessian_vector_product,
    loss_spread,
)
from landscape.metrics.options import HessianOptions
from landscape.runtime import cpu_threads
from landscape.sources.activations import get_activation


def flat_parameters_loss(model, inputs, labels):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def loss(flat):
        chunks, start = [], 0
        for s in shapes:
            chunks.append(flat[start:start + s.numel()].view(s))
            start += s.numel()
        out = torch.func.functional_call(model, dict(zip(names, chunks)), (inputs,))
        return F.cross_entropy(out, labels)
    return loss, torch.cat([p.detach().flatten() for p in model.parameters()])


def test_hessian_spectrum_agrees_with_the_exact_hessian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    inputs, labels = torch.randn(64, 5, dtype=torch.float64), torch.randint(0, 3, (64,))
    loss, flat = flat_parameters_loss(model, inputs, labels)
    exact = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))
    by_magnitude = exact[torch.argsort(exact.abs(), descending=True)]
    options = HessianOptions(top_k=2, trace_samples=1000, iterations=500, tolerance=1e-12, batch_size=64)
    spectrum = hessian_spectrum(model, inputs, labels, options, quiet=True)
    assert spectrum.eigenvalues == pytest.approx(by_magnitude[:2].tolist(), rel=1e-5)
    assert abs(spectrum.trace - float(exact.sum())) < spectrum.trace_ci95
    assert spectrum.trace_ci95 < 0.2 * abs(float(exact.sum()))


def test_kept_gradient_graphs_give_the_products_and_spectrum_of_the_low_memory_path():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    inputs, labels = torch.randn(50, 5, dtype=torch.float64), torch.randint(0, 3, (50,))
    params = list(model.parameters())
    vector = [torch.randn_like(p) for p in params]
    kept = KeptGradientGraphs(model, params, inputs, labels, batch_size=16)  # four batches, the last short
    for _ in range(2):  # the kept graphs serve any number of products
        for a, b in zip(kept(vector), hessian_vector_product(model, params, inputs, labels, vector, 16)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    spectra = [hessian_spectrum(model, inputs, labels, HessianOptions(top_k=2, trace_samples=5, batch_size=16,
                                                                      keep_graph=keep), quiet=True)
               for keep in (True, False)]
    assert spectra[0].eigenvalues == pytest.approx(spectra[1].eigenvalues, rel=1e-10)
    assert spectra[0].trace == pytest.approx(spectra[1].trace, rel=1e-10)


def test_products_are_the_same_on_one_thread_and_on_batches_side_by_side():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    inputs, labels = torch.randn(64, 5, dtype=torch.float64), torch.randint(0, 3, (64,))
    params = list(model.parameters())
    vector = [torch.randn_like(p) for p in params]
    with cpu_threads(1):  # one batch of 64
        alone = KeptGradientGraphs(model, params, inputs, labels, 64)
        assert len(alone.gradients) == 1
        one = alone(vector)
    with cpu_threads(4):  # four batches of 16, four at a time
        side = KeptGradientGraphs(model, params, inputs, labels, 64)
        assert len(side.gradients) == 4 and side.workers == 4
        for a, b in zip(one, side(vector)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
        for a, b in zip(one, hessian_vector_product(model, params, inputs, labels, vector, 64)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


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
