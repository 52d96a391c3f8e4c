import itertools

import pytest
import torch
from torch import nn

from landscape.cli import main
from landscape.evaluation.evaluate import mse_sum
from landscape.metrics.adaptive_sharpness import average_case, kendall, perturbed_parameters, worst_case


def linear_problem(weights, inputs, targets):
    model = nn.Linear(weights.shape[1], weights.shape[0], bias=False).double()
    with torch.no_grad():
        model.weight.copy_(weights)
    return model, inputs.double(), targets


def test_average_case_matches_the_expectation_of_a_quadratic_loss():
    """Mean squared error of a linear model is quadratic in W: E L(W + |W|⊙ρz) − L(W) is
    ρ²/(N·C) · Σ_n Σ_ij W_ij² x_nj². Inputs W⁻¹·e_label fit the one-hot targets exactly, so no
    linear term adds Monte Carlo noise."""
    torch.manual_seed(0)
    weights = torch.randn(3, 3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    inputs = torch.linalg.inv(weights)[:, labels].T
    model, x, _ = linear_problem(weights, inputs, labels)
    rho = 0.1
    exact = rho ** 2 / (6 * 3) * float((weights ** 2 @ (inputs ** 2).T).sum())
    value = average_case(model, x, labels, rho, 20000, torch.Generator().manual_seed(1), loss=mse_sum)
    assert value == pytest.approx(exact, rel=0.05)


def test_worst_case_reaches_the_known_maximum_when_the_loss_rises_along_every_coordinate():
    """Inputs e_1..e_3 and all-zero targets (class outputs 0 except the label's 1, far from W's
    entries of ±2 and ±3): every coordinate's loss rises with |W_ij(1 + u)|, so the maximum over
    the box is at u = +ρ everywhere and ascent from any start reaches it."""
    weights = torch.tensor([[2.0, -3.0, 2.0], [-2.0, 3.0, 3.0]], dtype=torch.float64)
    model, x, _ = linear_problem(weights, torch.eye(3), None)
    labels = torch.tensor([0, 0, 0])  # one-hot (1, 0): W_0j(1 + u) − 1 and W_1j(1 + u), both growing with u
    rho = 0.05

    def loss_at(scale):
        out = (weights * scale) @ torch.eye(3, dtype=torch.float64)
        target = torch.nn.functional.one_hot(labels, 2).double().T
        return float(((out - target) ** 2).sum()) / (3 * 2)
    exact = loss_at(1 + rho) - loss_at(1.0)
    assert worst_case(model, x, labels, rho, 20, torch.Generator().manual_seed(0), loss=mse_sum) == \
        pytest.approx(exact, rel=1e-6)  # the loss is taken in float32


def test_worst_case_never_exceeds_the_best_corner_of_a_convex_loss():
    """A convex loss peaks at a corner of the box: brute force over all 2^6 corners bounds ascent."""
    torch.manual_seed(3)
    weights = torch.randn(2, 3, dtype=torch.float64)
    inputs, labels = torch.randn(5, 3, dtype=torch.float64), torch.randint(0, 2, (5,))
    model, x, _ = linear_problem(weights, inputs, labels)
    rho = 0.2
    base = float(mse_sum(model(x).detach(), labels)) / 5
    corners = [float(mse_sum(x @ (weights * (1 + rho * torch.tensor(s, dtype=torch.float64).view(2, 3))).T,
                             labels)) / 5 - base for s in itertools.product((-1, 1), repeat=6)]
    found = worst_case(model, x, labels, rho, 30, torch.Generator().manual_seed(0), loss=mse_sum)
    assert 0 < found <= max(corners) + 1e-12
    assert found >= 0.9 * max(corners)  # and ascent gets close to it here


def test_both_measures_ignore_how_a_relu_network_is_scaled():
    """Scaling a ReLU layer by 4 and the next by 1/4 leaves the function, and adaptive sharpness
    under the same draws, unchanged: the perturbations are relative to each weight."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    rescaled = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    with torch.no_grad():
        rescaled[0].weight.copy_(4 * model[0].weight)
        rescaled[0].bias.copy_(4 * model[0].bias)
        rescaled[2].weight.copy_(model[2].weight / 4)
        rescaled[2].bias.copy_(model[2].bias)
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randint(0, 3, (16,))
    for measure, rho, k in ((average_case, 0.1, 50), (worst_case, 0.01, 10)):
        values = [measure(m, x, y, rho, k, torch.Generator().manual_seed(2)) for m in (model, rescaled)]
        assert values[0] == pytest.approx(values[1], rel=1e-5) and values[0] > 0


def test_normalisation_parameters_are_not_perturbed():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 3, 8, 8))
    assert sorted(perturbed_parameters(model)) == ["0.bias", "0.weight", "4.bias", "4.weight"]


def test_kendall_tau_of_opposite_rankings():
    result = kendall([1.0, 2.0, 3.0, 4.0], [0.9, 0.8, 0.7, 0.1])
    assert result == {"tau": -1.0, "p_value": pytest.approx(1 / 12), "models": 4}  # exact: 2 of 24 orderings


def test_the_command_tabulates_checkpoints_and_ranks_them(tmp_path, image_folder, two_models, capsys):
    third = tmp_path / "m2.pt"
    third.write_bytes(two_models[0].read_bytes())
    out = tmp_path / "rows.json"
    args = ["adaptive-sharpness", *map(str, two_models), str(third), "--data", str(image_folder), "--samples", "40",
            "--batch-size", "10", "--gap-samples", "20", "--draws", "2", "--steps", "3", "--quiet", "--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Kendall" in text and "test_acc" in text
    import json
    rows = json.loads(out.read_text())
    assert len(rows) == 3 and all(r["batches"] == 4 for r in rows)
    assert rows[0]["sharpness_average"] == pytest.approx(rows[2]["sharpness_average"])  # the same model
    assert all(r["sharpness_worst_low"] <= r["sharpness_worst"] <= r["sharpness_worst_high"] for r in rows)
