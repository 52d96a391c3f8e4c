import pytest
import torch
from torch import nn

from landscape.evaluation.curvature import (
    KeptGradientGraphs,
    dot,
    hessian_vector_product,
    lanczos,
    power_iteration,
)
from landscape.runtime import cpu_threads
from tests.metrics.test_hessian import exact_hessian, small_problem


def known_matrix(eigenvalues, seed=0):
    """A symmetric matrix with the given eigenvalues and random eigenvectors (its columns of `basis`)."""
    torch.manual_seed(seed)
    n = len(eigenvalues)
    basis = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))[0]
    values = torch.tensor(eigenvalues, dtype=torch.float64)
    return basis @ torch.diag(values) @ basis.T, basis


def test_a_full_lanczos_run_gives_the_whole_spectrum_and_its_density():
    """With as many steps as dimensions the Ritz values are the eigenvalues, the residuals vanish,
    and the weights are the squared projections of the start vector on the eigenvectors."""
    eigenvalues = torch.linspace(-2, 9, 12, dtype=torch.float64)
    matrix, basis = known_matrix(eigenvalues.tolist())
    start = torch.randn(12, dtype=torch.float64)
    run = lanczos(lambda v: [matrix @ v[0]], [start], 12)
    assert run.values == pytest.approx(eigenvalues.tolist(), abs=1e-9)
    assert max(run.residuals) < 1e-8
    expected = (basis.T @ (start / start.norm())) ** 2
    assert run.weights == pytest.approx(expected.tolist(), abs=1e-9) and sum(run.weights) == pytest.approx(1)


def test_lanczos_stops_on_an_invariant_subspace():
    matrix = torch.diag(torch.tensor([3.0, 3.0, 1.0, 1.0], dtype=torch.float64))
    run = lanczos(lambda v: [matrix @ v[0]], [torch.ones(4, dtype=torch.float64)], 4)
    assert run.values == pytest.approx([1.0, 3.0]) and run.weights == pytest.approx([0.5, 0.5])


def test_a_short_run_finds_both_ends_of_a_quadratic_with_honest_residuals():
    """A quadratic ½xᵀAx has Hessian A. 25 steps in 200 dimensions: the extreme eigenvalues (one
    negative, one positive, separated from the bulk) converge first, each within its residual bound."""
    eigenvalues = [-3.0] + torch.linspace(0.1, 1.0, 198).tolist() + [6.0]
    matrix, basis = known_matrix(eigenvalues, seed=3)
    x = torch.zeros(200, dtype=torch.float64, requires_grad=True)

    def hvp(v):  # by double backward, as for a network
        grad = torch.autograd.grad(0.5 * x @ matrix @ x, x, create_graph=True)[0]
        return [torch.autograd.grad(grad, x, grad_outputs=v[0])[0]]
    run = lanczos(hvp, [torch.randn(200, dtype=torch.float64)], 25, vectors=2)
    assert run.values[0] == pytest.approx(-3.0, abs=max(run.residuals[0], 1e-6))
    assert run.values[-1] == pytest.approx(6.0, abs=max(run.residuals[-1], 1e-6))
    assert run.residuals[-1] < 1e-4 and run.residuals[0] < 1e-4
    top = run.vectors[-1][0]  # the Ritz vector of λmax: ± the eigenvector of 6
    assert abs(float(top @ basis[:, -1])) == pytest.approx(1.0, abs=1e-6)
    assert float(top.norm()) == pytest.approx(1.0) and len(run.vectors) == 2


def test_ritz_vectors_are_eigenvectors_of_a_network_hessian():
    model, inputs, labels = small_problem()
    hessian = exact_hessian(model, inputs, labels)
    exact, eigenvectors = torch.linalg.eigh(hessian)
    params = list(model.parameters())
    run = lanczos(lambda v: hessian_vector_product(model, params, inputs, labels, v, 64),
                  [torch.randn_like(p) for p in params], 75, vectors=2)
    for k in (1, 2):
        flat = torch.cat([t.flatten() for t in run.vectors[-k]])
        assert run.values[-k] == pytest.approx(float(exact[-k]), rel=1e-6)
        assert abs(float(flat @ eigenvectors[:, -k])) == pytest.approx(1.0, abs=1e-5)
        assert float(flat @ hessian @ flat) == pytest.approx(float(exact[-k]), rel=1e-6)


def test_power_iteration_finds_the_largest_magnitude_and_respects_deflation():
    matrix, basis = known_matrix([-1.0, 0.5, 2.0, -4.0])
    run, vector = power_iteration(lambda v: [matrix @ v[0]], [torch.ones(4, dtype=torch.float64)], [], 500, 1e-12)
    assert run.converged and run.value == pytest.approx(-4.0)
    second, _ = power_iteration(lambda v: [matrix @ v[0]], [torch.ones(4, dtype=torch.float64)], [vector], 500, 1e-12)
    assert second.value == pytest.approx(2.0)
    assert dot(vector, [basis[:, 3]]) ** 2 == pytest.approx(1.0)


def test_kept_gradient_graphs_give_the_products_of_the_low_memory_path():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3)).double().eval()
    inputs, labels = torch.randn(50, 5, dtype=torch.float64), torch.randint(0, 3, (50,))
    params = list(model.parameters())
    vector = [torch.randn_like(p) for p in params]
    kept = KeptGradientGraphs(model, params, inputs, labels, batch_size=16)  # four batches, the last short
    for _ in range(2):  # the kept graphs serve any number of products
        for a, b in zip(kept(vector), hessian_vector_product(model, params, inputs, labels, vector, 16)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_products_are_the_same_on_one_thread_and_on_batches_side_by_side():
    model, inputs, labels = small_problem()
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


def test_a_product_that_is_not_finite_is_refused():
    from landscape.errors import LandscapeError

    def broken(v):
        return [torch.full_like(v[0], float("nan"))]
    with pytest.raises(LandscapeError, match="NaN or infinite"):
        lanczos(broken, [torch.ones(3)], 3)
    with pytest.raises(LandscapeError, match="NaN or infinite"):
        power_iteration(broken, [torch.ones(3)], [], 3, 1e-3)
