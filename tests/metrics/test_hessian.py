import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import LandscapeError
from landscape.metrics.hessian import hessian_spectrum, probe_seed
from landscape.metrics.options import HessianOptions


def exact_hessian(model, inputs, labels):
    """The full Hessian of the mean cross-entropy over the flattened parameters, by torch.func."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def loss(flat):
        chunks, start = [], 0
        for s in shapes:
            chunks.append(flat[start:start + s.numel()].view(s))
            start += s.numel()
        out = torch.func.functional_call(model, dict(zip(names, chunks)), (inputs,))
        return F.cross_entropy(out, labels)
    return torch.autograd.functional.hessian(loss, torch.cat([p.detach().flatten() for p in model.parameters()]))


def small_problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    return model, torch.randn(64, 5, dtype=torch.float64), torch.randint(0, 3, (64,))


def test_spectrum_agrees_with_the_exact_hessian():
    model, inputs, labels = small_problem()
    exact = torch.linalg.eigvalsh(exact_hessian(model, inputs, labels))
    by_magnitude = exact[torch.argsort(exact.abs(), descending=True)]
    options = HessianOptions(top_k=2, starts=3, trace_samples=1000, iterations=500, tolerance=1e-12, batch_size=64,
                             lanczos_steps=20)
    spectrum = hessian_spectrum(model, inputs, labels, options, quiet=True)
    assert spectrum.eigenvalues == pytest.approx(by_magnitude[:2].tolist(), rel=1e-5)
    assert len(spectrum.starts) == 3 and all(s.converged and s.iterations < 500 for s in spectrum.starts)
    assert all(s.value == pytest.approx(float(by_magnitude[0]), rel=1e-5) for s in spectrum.starts)
    assert abs(spectrum.trace - float(exact.sum())) < spectrum.trace_ci95 < 0.2 * abs(float(exact.sum()))
    assert len(spectrum.trace_probes) == 1000 and spectrum.trace == pytest.approx(sum(spectrum.trace_probes) / 1000)
    assert spectrum.lanczos_max == pytest.approx(float(exact[-1]), rel=1e-6)  # extreme Ritz values converge first
    row = spectrum.flat()
    assert (row["hessian_max_starts"], row["hessian_max_converged"], row["hessian_trace_probes"]) == (3, 3, 1000)
    assert row["hessian_max_spread"] < 1e-5


def test_power_iteration_records_a_start_that_did_not_converge():
    model, inputs, labels = small_problem()
    spectrum = hessian_spectrum(model, inputs, labels, HessianOptions(starts=2, iterations=2, tolerance=1e-12,
                                                                       trace_samples=2, lanczos_steps=0), quiet=True)
    assert [(s.iterations, s.converged) for s in spectrum.starts] == [(2, False), (2, False)]
    assert spectrum.flat()["hessian_max_converged"] == 0 and spectrum.ritz_values == []


def test_probes_are_drawn_per_model_unless_shared():
    first, second = small_problem(0)[0], small_problem(1)[0]
    independent, shared = HessianOptions(seed=5), HessianOptions(seed=5, independent_probes=False)
    params = [list(m.parameters()) for m in (first, second)]
    assert probe_seed(independent, params[0]) == probe_seed(independent, params[0])  # reproducible
    assert probe_seed(independent, params[0]) != probe_seed(independent, params[1])
    assert probe_seed(shared, params[0]) == probe_seed(shared, params[1]) == 5


def test_kept_gradient_graphs_give_the_spectrum_of_the_low_memory_path():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    inputs, labels = torch.randn(50, 5, dtype=torch.float64), torch.randint(0, 3, (50,))
    spectra = [hessian_spectrum(model, inputs, labels, HessianOptions(top_k=2, trace_samples=5, batch_size=16,
                                                                      keep_graph=keep), quiet=True)
               for keep in (True, False)]
    assert spectra[0].eigenvalues == pytest.approx(spectra[1].eigenvalues, rel=1e-10)
    assert spectra[0].trace_probes == pytest.approx(spectra[1].trace_probes, rel=1e-10)


@pytest.mark.parametrize("field, value", [("starts", 0), ("trace_samples", 1), ("lanczos_steps", -1)])
def test_settings_that_measure_nothing_are_refused(field, value):
    with pytest.raises(LandscapeError, match=f"--{field.replace('_', '-')} must be at least"):
        HessianOptions(**{field: value})
