import csv
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.cli import main
from landscape.metrics import HessianOptions, dead_units, hessian_spectrum, loss_spread, surface_metrics
from landscape.storage import Surface, read_surface

from .test_report import bowl_surface


def make_surface(z, x, y=None):
    return Surface("synthetic", x, y, {"train_loss": z}, np.ones(z.shape, bool), {}, {})


def quadratic_bowl(l1=4.0, l2=10.0, centre=(0.0013, -0.0021), nx=201, ny=151):
    x, y = np.linspace(-1, 1, nx), np.linspace(-1, 1, ny)
    B, A = np.meshgrid(y, x, indexing="ij")
    return make_surface(0.3 + 0.5 * l1 * (A - centre[0]) ** 2 + 0.5 * l2 * (B - centre[1]) ** 2, x, y)


def test_quadratic_bowl_recovers_analytic_width_radius_and_curvature():
    m = surface_metrics(quadratic_bowl())
    assert m.minimum == pytest.approx(0.3, abs=1e-4)
    assert m.argmin_fit == pytest.approx((0.0013, -0.0021), abs=1e-9)
    assert m.hessian_eigenvalues == pytest.approx([4.0, 10.0], rel=1e-9)
    assert m.condition_number == pytest.approx(2.5)
    for w in m.widths:  # {½·4a² + ½·10b² < Δ} is an ellipse of area 2πΔ/√(4·10)
        area = 2 * math.pi * w.delta / math.sqrt(40)
        assert w.area == pytest.approx(area, rel=0.01)
        assert w.radius == pytest.approx(math.sqrt(area / math.pi), rel=0.01)
        assert w.grid_fraction == pytest.approx(area / 4, rel=0.02)
    assert m.local_minima == 1 and m.roughness < 1e-10
    assert m.nonconvex_fraction == 0 and m.mean_eigen_ratio == pytest.approx(0.4)


def test_one_dimensional_interval_width():
    x = np.linspace(-1, 1, 401)
    m = surface_metrics(make_surface(0.5 * 8.0 * x ** 2, x))
    assert m.hessian_eigenvalues == pytest.approx([8.0])
    for w in m.widths:
        assert w.area == pytest.approx(2 * math.sqrt(2 * w.delta / 8.0), abs=2 * (x[1] - x[0]))


def test_counts_known_local_minima_and_roughness():
    x, y = np.linspace(-1, 1, 81), np.linspace(-1, 1, 61)
    B, A = np.meshgrid(y, x, indexing="ij")
    wells = [(-0.5, -0.4), (0.5, 0.0), (0.0, 0.6)]
    z = 1 - sum(np.exp(-((A - a) ** 2 + (B - b) ** 2) / 0.02) * (1 + 0.1 * i) for i, (a, b) in enumerate(wells))
    assert surface_metrics(make_surface(z, x, y)).local_minima == 3
    noisy = quadratic_bowl(nx=101, ny=101).values["train_loss"] + np.random.default_rng(0).normal(0, 0.01, (101, 101))
    rough = surface_metrics(make_surface(noisy, np.linspace(-1, 1, 101), np.linspace(-1, 1, 101)))
    assert rough.roughness == pytest.approx(0.01, rel=0.1) and rough.local_minima > 10


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


def test_cli_stores_metrics_and_writes_json_csv(tmp_path, capsys):
    path = bowl_surface(tmp_path / "b.h5", "mish", 1.0, nx=41, ny=41)
    assert main(["metrics", str(path), "--json", str(tmp_path / "m.json"), "--csv", str(tmp_path / "m.csv")]) == 0
    table = capsys.readouterr().out
    assert "width_radius_0.5" in table and "mish" in table
    stored = read_surface(path).metrics
    assert stored["minimum"] == pytest.approx(0.5) and stored["local_minima"] == 1
    assert len(stored["widths"]) == 3
    rows = json.loads((tmp_path / "m.json").read_text())
    assert rows[0]["hessian_eigenvalues"] == pytest.approx([2.0, 4.0], rel=1e-6)  # loss = 0.5 + α² + 2β²
    assert next(csv.DictReader(open(tmp_path / "m.csv")))["activation"] == "mish"
    assert main(["metrics"]) == 2
