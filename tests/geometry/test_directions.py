import pytest
import torch

from landscape import LandscapeError, activation_factory, resnet
from landscape.geometry.directions import (
    check_compatible,
    cosine,
    dot,
    random_directions,
    target_direction,
    trajectory_pca,
)
from landscape.geometry.options import DirectionOptions


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
    assert torch.equal(d["fc.bias"], params["fc.bias"]) and torch.equal(d["bn1.weight"], params["bn1.weight"])
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
    def norm(d):
        return sum(float((v.double() ** 2).sum()) for v in d.values()) ** 0.5

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


def path_in_a_plane(model, coefficients):
    """Snapshots θ_i = θ + a_i·u + b_i·v for two orthonormal conv-weight directions u, v (biases shifted too)."""
    final = {k: v.detach().clone() for k, v in model.named_parameters()}
    g = torch.Generator().manual_seed(5)
    u, v = ({k: torch.randn(t.shape, generator=g) if t.dim() > 1 else torch.zeros(t.shape) for k, t in final.items()}
            for _ in range(2))
    v = {k: v[k] - dot(v, u) / dot(u, u) * u[k] for k in v}
    u, v = ({k: t / dot(d, d) ** 0.5 for k, t in d.items()} for d in (u, v))
    snapshots = [{k: final[k] + a * u[k] + b * v[k] + (0.01 if final[k].dim() <= 1 else 0) for k in final}
                 for a, b in coefficients]
    return final, snapshots


def test_trajectory_pca_recovers_a_planar_path_exactly(model):
    coefficients = [(3.0, 2.0), (2.0, -1.0), (1.5, 0.5), (0.5, 0.2), (0.0, 0.0)]
    final, snapshots = path_in_a_plane(model, coefficients)
    plane = trajectory_pca(final, snapshots)
    x, y = plane.directions
    assert dot(x, x) == pytest.approx(1, rel=1e-5) and dot(y, y) == pytest.approx(1, rel=1e-5)
    assert abs(dot(x, y)) < 1e-5 and sum(plane.explained_variance) == pytest.approx(1, rel=1e-6)
    assert all(torch.equal(x[k], torch.zeros_like(x[k])) for k in x if x[k].dim() <= 1)  # biases left out
    assert plane.coordinates[0].min() >= 0 and abs(plane.coordinates[-1]).max() < 1e-5  # final at the origin
    for (a, b), snapshot in zip(plane.coordinates, snapshots):  # θ + α·x + β·y gives back each snapshot
        for k, w in final.items():
            if w.dim() > 1:
                assert torch.allclose(w + float(a) * x[k] + float(b) * y[k], snapshot[k], atol=1e-5)
    # distances in the plane are distances in weight space (the directions are not rescaled)
    assert (plane.coordinates[0] ** 2).sum() == pytest.approx(3.0 ** 2 + 2.0 ** 2, rel=1e-5)


def test_trajectory_pca_refuses_what_spans_no_plane(model):
    final, snapshots = path_in_a_plane(model, [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0)])
    with pytest.raises(LandscapeError, match="lie on a line"):
        trajectory_pca(final, snapshots)
    with pytest.raises(LandscapeError, match="at least 2 snapshots"):
        trajectory_pca(final, snapshots[:1])


def test_states_move_the_running_statistics_and_keep_variances_valid():
    """`states` differs from `weights` (also with 1-D parameters ignored), its running variances stay
    non-negative for α ≥ −1, and the surface it gives is finite there."""
    import numpy as np

    from landscape.evaluation.evaluate import EvalSet
    from landscape.geometry.grid import Grid
    from landscape.surfaces.in_memory import compute_surface

    torch.manual_seed(0)
    net = resnet(8, activation_factory("relu"))
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, 3, 32, 32))  # give the running statistics non-trivial values
    net.eval()
    (states,) = random_directions(net, DirectionOptions(dir_type="states", seed=2), 1)
    (weights,) = random_directions(net, DirectionOptions(seed=2), 1)
    buffers = dict(net.named_buffers())
    assert torch.equal(states["bn1.running_var"], buffers["bn1.running_var"])
    assert all(torch.equal(states[k], weights[k]) for k in weights)  # the same draw for the parameters
    for alpha in (-1.0, -0.5, 1.0):
        assert (buffers["bn1.running_var"] + alpha * states["bn1.running_var"] >= 0).all()
    data = [EvalSet("train", torch.randn(20, 3, 32, 32), torch.arange(20) % 10)]
    grid = Grid.parse("-1:1:5")
    a = compute_surface(net, [states], data, grid, dir_type="states", quiet=True)["train_loss"]
    b = compute_surface(net, [weights], data, grid, quiet=True)["train_loss"]
    assert np.isfinite(a[1:]).all() and a[2] == pytest.approx(b[2]) and not np.allclose(a, b)
