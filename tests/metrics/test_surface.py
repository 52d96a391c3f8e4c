import math

import numpy as np
import pytest

from landscape.metrics.surface import measure, surface_metrics
from landscape.storage.schema import Surface


def make_surface(z, x, y=None):
    return Surface("synthetic", x, y, {"train_loss": z}, np.ones(z.shape, bool))


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


def test_measure_on_arrays_equals_the_stored_surface_version():
    bowl = quadratic_bowl(nx=41, ny=31)
    direct = measure(bowl.values["train_loss"], bowl.x, bowl.y)
    assert direct == surface_metrics(bowl)


def test_pending_points_are_ignored():
    bowl = quadratic_bowl(nx=41, ny=31)
    done = np.ones_like(bowl.done)
    done[0, :] = False  # a row far from the minimum still pending
    values = {"train_loss": np.where(done, bowl.values["train_loss"], 1e9)}  # garbage where not done
    partial = Surface("p", bowl.x, bowl.y, values, done)
    assert surface_metrics(partial).minimum == pytest.approx(surface_metrics(bowl).minimum)
