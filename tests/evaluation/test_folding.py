import numpy as np
import pytest
import torch
from torch import nn

from landscape import activation_factory, resnet
from landscape.evaluation.engine import PointEvaluator
from landscape.evaluation.evaluate import EvalSet
from landscape.evaluation.folding import (
    FusedConvolution,
    ScoringModel,
    can_fuse,
    foldable_pairs,
    onednn_fusion_available,
)
from landscape.evaluation.options import EvalOptions
from landscape.geometry.directions import random_directions
from landscape.geometry.options import DirectionOptions

needs_onednn = pytest.mark.skipif(not onednn_fusion_available(), reason="this torch has no oneDNN: nothing is fused")


def randomise_batchnorms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Running statistics and affine parameters away from their initial 0/1, so folding is not trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t, low, high in ((m.running_mean, -0.3, 0.3), (m.running_var, 0.3, 3.0),
                                     (m.weight, 0.5, 1.5), (m.bias, -0.2, 0.2)):
                    if t is not None:
                        t.copy_(torch.empty(t.shape).uniform_(low, high, generator=g))
    return model.eval()


class Branches(nn.Module):
    """One conv→BN pair that folds; a conv whose output also feeds a skip (not foldable); a conv
    with a bias into an affine-free BN (folds); a BN without running statistics (never folds)."""

    def __init__(self):
        super().__init__()
        self.a, self.bn_a = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.b, self.bn_b = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)
        self.c, self.bn_c = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4, affine=False)
        self.d, self.bn_d = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4, track_running_stats=False)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.bn_a(self.a(x)))
        y = self.b(x)
        x = self.bn_b(y) + y
        x = torch.tanh(self.bn_c(self.c(x)))
        x = self.bn_d(self.d(x))
        return self.head(x.mean((2, 3)))


class DataDependent(nn.Module):
    """A forward torch.fx cannot trace (a branch on a tensor's value): nothing is folded."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x.mean((2, 3)) if x.sum() > 0 else -x.mean((2, 3))


@pytest.mark.parametrize("activation,impl", [("relu", "native"), ("mish", "compiled"), ("swish", "native")])
def test_folded_resnet_gives_the_same_outputs_and_follows_moved_weights(activation, impl):
    torch.manual_seed(0)
    kwargs = {"impl": impl} if impl != "native" else {}
    model = randomise_batchnorms(resnet(8, activation_factory(activation, **kwargs)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = ScoringModel(model, fuse=False)
    assert folded.count == len([m for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    x = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded.module(x), model(x), rtol=1e-5, atol=1e-5)
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # original untouched
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.mul_(1.05).add_(0.01)  # a move of weights and BatchNorm statistics, as `states` directions do
        folded.refresh()
        torch.testing.assert_close(folded.module(x), model(x), rtol=1e-5, atol=1e-5)


def test_only_convolutions_feeding_nothing_but_their_batchnorm_are_folded():
    model = randomise_batchnorms(Branches())
    assert foldable_pairs(model) == [("a", "bn_a"), ("c", "bn_c")]
    folded = ScoringModel(model, fuse=False)
    x = torch.randn(5, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(folded.module(x), model(x), rtol=1e-5, atol=1e-6)
    assert folded.module.b.weight is model.b.weight  # unfolded tensors are shared, not copied
    assert folded.module.c.bias is not model.c.bias  # the folded bias is its own


def test_an_untraceable_model_is_scored_unfolded():
    model = randomise_batchnorms(DataDependent())
    assert foldable_pairs(model) == []
    folded = ScoringModel(model)
    assert folded.count == 0
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(folded.module(x), model(x))


@pytest.mark.parametrize("dir_type", ["weights", "states"])
def test_folding_changes_the_surface_only_by_float_rounding(dir_type):
    torch.manual_seed(1)
    model = randomise_batchnorms(resnet(8, activation_factory("relu")))
    sets = [EvalSet("train", torch.randn(24, 3, 32, 32), torch.randint(0, 10, (24,)))]
    directions = random_directions(model, DirectionOptions(seed=2, dir_type=dir_type), 2)
    points = np.array([[0.0, 0.0], [0.4, -0.3], [-0.8, 0.6]])
    values = {}
    for fold, fuse in ((False, False), (True, False), (False, True), (True, True)):
        options = EvalOptions(batch_size=8, fold_batchnorm=fold, fuse_activations=fuse)
        with PointEvaluator(model, directions, sets, options, dir_type) as e:
            assert e.batchnorms_folded == (7 if fold else 0)
            # stem → ReLU, conv → ReLU, conv → + shortcut → ReLU; unfolded, a BatchNorm stands in between
            assert e.convolutions_fused == (7 if fold and fuse and can_fuse(model) else 0)
            values[fold, fuse] = np.array(e.many(points))
    for arranged in ((True, False), (False, True), (True, True)):
        np.testing.assert_allclose(values[arranged], values[False, False], rtol=1e-6)


@needs_onednn
@pytest.mark.parametrize("activation,params,fused", [
    ("relu", {}, 7), ("leaky_relu", {"negative_slope": 0.3}, 7), ("swish", {}, 7), ("swish", {"impl": "compiled"}, 7),
    ("swish", {"beta": 1.5}, 3), ("mish", {}, 3), ("mish", {"impl": "compiled"}, 3)])
def test_fused_resnet_gives_the_same_outputs_and_follows_moved_weights(activation, params, fused):
    """Each activation oneDNN applies is fused with its convolution; the others (Mish, Swish with
    β ≠ 1) keep only the residual addition fused (one per block of ResNet-8)."""
    torch.manual_seed(0)
    model = randomise_batchnorms(resnet(8, activation_factory(activation, **params)))
    fast = ScoringModel(model)
    assert (fast.count, fast.fused) == (7, fused)
    assert sum(isinstance(m, FusedConvolution) for m in fast.module.modules()) == fused
    x = torch.randn(6, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(fast.module(x), model(x), rtol=1e-5, atol=1e-5)
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.mul_(0.95).add_(0.01)
        fast.refresh()
        torch.testing.assert_close(fast.module(x), model(x), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_fusion_under_bf16_autocast_is_as_close_to_fp32_as_autocast_itself():
    torch.manual_seed(0)
    model = randomise_batchnorms(resnet(8, activation_factory("relu")))
    fast = ScoringModel(model)
    x = torch.randn(16, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        exact = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain, fused = model(x).float(), fast.module(x).float()
    assert fast.fused == 7
    autocast_error = (plain - exact).abs().max()
    assert (fused - exact).abs().max() <= 2 * autocast_error


class Chains(nn.Module):
    """conv → LeakyReLU (fused); conv whose output also feeds a skip (not fused); conv → + a
    per-channel tensor, which broadcasts (fused module falls back to the plain steps); conv with
    'same' padding → tanh (not fused: string padding)."""

    def __init__(self):
        super().__init__()
        self.a, self.act_a = nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2)
        self.b, self.act_b = nn.Conv2d(4, 4, 1), nn.ReLU()
        self.c = nn.Conv2d(4, 4, 3, padding=1)
        self.d, self.act_d = nn.Conv2d(4, 4, 3, padding="same"), nn.Tanh()
        self.shift = nn.Parameter(torch.randn(1, 4, 1, 1))

    def forward(self, x):
        x = self.act_a(self.a(x))
        y = self.b(x)
        x = self.act_b(y) + y
        x = self.c(x) + self.shift
        return self.act_d(self.d(x)).mean((2, 3))


@needs_onednn
def test_only_chains_onednn_can_run_are_fused_and_the_rest_stays_exact():
    torch.manual_seed(0)
    model = Chains().eval()
    fast = ScoringModel(model)
    assert (fast.count, fast.fused) == (0, 2)  # a → LeakyReLU, c → + shift
    for shape in ((5, 3, 6, 6), (2, 3, 1, 1)):
        x = torch.randn(*shape)
        with torch.no_grad():
            torch.testing.assert_close(fast.module(x), model(x), rtol=1e-5, atol=1e-6)
    assert ScoringModel(model, fuse=False).fused == 0
    assert ScoringModel(model.double()).fused == 0  # oneDNN's fusion takes float32 (bf16 under autocast) only
