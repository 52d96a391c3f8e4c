import pytest
import torch

from landscape.evaluation.curvature import lanczos
from landscape.metrics.options import SpectrumConfig
from landscape.metrics.spectrum import QuadratureRule, density_grid, lanczos_runs
from tests.metrics.test_hessian import exact_hessian, small_problem


def known_spectrum_runs(runs: int, steps: int, dim: int = 60):
    """SLQ runs on an explicit symmetric matrix with a known spectrum (two clusters and an outlier)."""
    torch.manual_seed(0)
    eigenvalues = torch.cat([torch.linspace(-0.5, 0.5, dim - 11, dtype=torch.float64),
                             torch.linspace(4, 5, 10, dtype=torch.float64), torch.tensor([20.0], dtype=torch.float64)])
    basis = torch.linalg.qr(torch.randn(dim, dim, dtype=torch.float64))[0]
    matrix = basis @ torch.diag(eigenvalues) @ basis.T
    generator = torch.Generator().manual_seed(1)
    out = []
    for _ in range(runs):
        start = (torch.randint(0, 2, (dim,), generator=generator) * 2 - 1).double()
        ritz = lanczos(lambda v: [matrix @ v[0]], [start], steps)
        out.append(QuadratureRule(ritz.values, ritz.weights))
    return out, eigenvalues


def test_the_density_integrates_to_one_and_reaches_lambda_max():
    runs, eigenvalues = known_spectrum_runs(runs=5, steps=30)
    grid, density, each = density_grid(runs, 0.01, 2000)
    step = grid[1] - grid[0]
    assert (density * step).sum() == pytest.approx(1, abs=1e-5)
    assert all((d * step).sum() == pytest.approx(1, abs=1e-5) for d in each)
    assert max(r.values[-1] for r in runs) == pytest.approx(20.0, rel=1e-8)  # the outlier, found by every run
    mean = (grid * density).sum() * step  # the first moment: the trace per dimension, on average over starts
    assert mean == pytest.approx(float(eigenvalues.mean()), rel=0.15)
    cluster = (grid > 3.5) & (grid < 5.5)  # 10 of 60 eigenvalues lie in [4, 5]
    assert (density[cluster] * step).sum() == pytest.approx(10 / 60, abs=0.08)


def test_a_full_run_on_a_small_network_finds_its_exact_extreme_eigenvalues():
    model, inputs, labels = small_problem()
    exact = torch.linalg.eigvalsh(exact_hessian(model, inputs, labels))
    (run,) = lanczos_runs(model, inputs, labels, [0], steps=75, seed=0, batch_size=64, quiet=True).values()
    assert run.values[-1] == pytest.approx(float(exact[-1]), rel=1e-6)
    assert run.values[0] == pytest.approx(float(exact[0]), abs=1e-6)
    assert sum(run.weights) == pytest.approx(1)


def test_settings_that_measure_nothing_are_refused():
    from landscape.errors import LandscapeError

    with pytest.raises(LandscapeError, match="--steps must be at least 2"):
        SpectrumConfig(checkpoints=("c.pt",), steps=1)
    with pytest.raises(LandscapeError, match="--broadening must lie between 0 and 1"):
        SpectrumConfig(checkpoints=("c.pt",), broadening=2.0)
