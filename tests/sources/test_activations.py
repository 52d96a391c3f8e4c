import math

import pytest
import torch
import torch.nn.functional as F

from landscape import ACTIVATIONS, LandscapeError, get_activation
from landscape.sources.activations import (
    MishFunction,
    PointwiseFunction,
    Swish,
    mish_backward,
    mish_value,
    swish_backward,
    swish_value,
)
from landscape.sources.specs import activation_params


def mish_and_grad(fn, x):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), g


def test_registry_names_and_unknown_name_lists_valid_ones():
    assert {"relu", "leaky_relu", "swish", "mish", "gelu", "elu", "softplus"} <= set(ACTIVATIONS)
    with pytest.raises(LandscapeError, match="expected one of relu, leaky_relu"):
        get_activation("mishh")
    with pytest.raises(LandscapeError, match="does not take slope"):
        get_activation("relu", slope=2)


def test_parameters_reach_the_module():
    assert get_activation("leaky_relu", negative_slope=0.3).negative_slope == 0.3
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(get_activation("swish", beta=2.0)(x), x * torch.sigmoid(2 * x))
    assert torch.allclose(get_activation("swish")(x), F.silu(x))
    assert activation_params("leaky_relu") == {"negative_slope": 0.01}


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_autograd_mish_equals_native_across_huge_range(dtype, tol):
    x = torch.cat([torch.linspace(-1e4, 1e4, 20001, dtype=dtype), torch.linspace(-50, 50, 20001, dtype=dtype)])
    y_ours, g_ours = mish_and_grad(MishFunction.apply, x)
    y_ref, g_ref = mish_and_grad(F.mish, x)
    assert torch.isfinite(y_ours).all() and torch.isfinite(g_ours).all()
    assert torch.allclose(y_ours, y_ref, rtol=tol, atol=tol)
    assert torch.allclose(g_ours, g_ref, rtol=tol, atol=tol)


def test_autograd_mish_is_finite_in_bf16_and_close_to_fp32():
    x = torch.cat([torch.linspace(-1e4, 1e4, 4001), torch.linspace(-10, 10, 4001)])
    y, g = mish_and_grad(MishFunction.apply, x.bfloat16())
    y32, g32 = mish_and_grad(F.mish, x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y).all() and torch.isfinite(g).all()
    assert torch.allclose(y.float(), y32, rtol=1e-2, atol=1e-2)
    assert torch.allclose(g.float(), g32, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_native_mish_default_is_finite_everywhere(dtype):
    x = torch.linspace(-1e4, 1e4, 20001, dtype=dtype)
    y, g = mish_and_grad(get_activation("mish"), x)
    assert torch.isfinite(y).all() and torch.isfinite(g).all()


def test_gradcheck_float64():
    x = torch.linspace(-8, 8, 41, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(MishFunction.apply, (x,))


def test_backward_matches_paper_closed_form_float64():
    # Misra (2019): f'(x) = e^x ω / δ², ω = 4(x+1) + 4e^{2x} + e^{3x} + e^x(4x+6), δ = 2e^x + e^{2x} + 2.
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64)
    e = torch.exp(x)
    omega = 4 * (x + 1) + 4 * e ** 2 + e ** 3 + e * (4 * x + 6)
    delta = 2 * e + e ** 2 + 2
    _, g = mish_and_grad(MishFunction.apply, x)
    assert torch.allclose(g, e * omega / delta ** 2, rtol=1e-10, atol=1e-12)


def test_minimum_of_mish():
    x = torch.linspace(-2, 0, 200001, dtype=torch.float64)
    y = MishFunction.apply(x)
    i = int(torch.argmin(y))
    assert math.isclose(float(y[i]), -0.30884, abs_tol=1e-5)
    assert math.isclose(float(x[i]), -1.1924, abs_tol=1e-3)


def test_both_mish_implementations_give_the_same_module_output():
    x = torch.randn(4, 8, 5, 5)
    native, ours = get_activation("mish", impl="native"), get_activation("mish", impl="autograd")
    assert isinstance(native, torch.nn.Mish) and not isinstance(ours, torch.nn.Mish)
    assert torch.allclose(native(x), ours(x), atol=1e-6)
    with pytest.raises(LandscapeError, match="native, autograd, compiled"):
        get_activation("mish", impl="cuda")
    with pytest.raises(LandscapeError, match="native, compiled"):
        get_activation("swish", impl="autograd")


def test_swish_repr_shows_beta():
    assert "beta=0.5" in repr(Swish(0.5))


@pytest.mark.parametrize("value,backward,args",
                         [(mish_value, mish_backward, ()), (swish_value, swish_backward, (1.5,))])
def test_fused_formulas_have_exact_first_and_second_derivatives(value, backward, args):
    # gradgradcheck differentiates our backward formula numerically: the Hessian path stays right.
    x = torch.cat([torch.linspace(-30, 30, 61), torch.linspace(-3, 3, 31)]).double().requires_grad_(True)
    def fn(t):
        return PointwiseFunction.apply(t, value, backward, *args)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_one_exp_mish_in_float32_is_finite_and_within_rounding_of_float64():
    x = torch.cat([torch.linspace(-1e4, 1e4, 20001), torch.linspace(-50, 50, 20001)])
    y, g = mish_and_grad(lambda t: PointwiseFunction.apply(t, mish_value, mish_backward), x)
    y_ref, g_ref = mish_and_grad(F.mish, x.double())
    assert torch.isfinite(y).all() and torch.isfinite(g).all()
    assert torch.allclose(y.double(), y_ref, rtol=1e-6, atol=1e-7)
    assert torch.allclose(g.double(), g_ref, rtol=0, atol=5e-7)


def value_grad_hessian_diagonal(module, x):
    x = x.clone().requires_grad_(True)
    y = module(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    return y.detach(), g.detach(), h


@pytest.mark.parametrize("name,params", [("mish", {}), ("swish", {"beta": 1.0})])
def test_compiled_kernels_match_native_including_double_backward(name, params):
    compiled, native = get_activation(name, impl="compiled", **params), get_activation(name, **params)
    assert "compiled" in repr(compiled)
    for shape in [(4, 8, 6, 6), (3, 16, 3, 3)]:  # a second shape exercises the recompile
        x = (5 * torch.randn(shape)).contiguous(memory_format=torch.channels_last)
        for ours, ref in zip(value_grad_hessian_diagonal(compiled, x), value_grad_hessian_diagonal(native, x)):
            assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-5)
        assert compiled(x).is_contiguous(memory_format=torch.channels_last)
    y = compiled(torch.randn(5, 3, dtype=torch.bfloat16, requires_grad=True))
    assert y.dtype == torch.bfloat16


def test_compile_failure_is_a_one_line_error(monkeypatch):
    def fail_to_compile(fn):
        def call(*args):
            raise torch._dynamo.exc.BackendCompilerFailed(fn, RuntimeError("No working C++ compiler found"), None)
        return call

    monkeypatch.setattr("landscape.sources.activations.compiled", fail_to_compile)
    with pytest.raises(LandscapeError, match=r"cannot compile the fused mish kernel .*--impl native"):
        get_activation("mish", impl="compiled")(torch.randn(3))


def test_every_named_activation_has_a_builder_that_takes_its_parameters():
    """`specs.ACTIVATION_SPECS` (names, parameters, titles; no torch) and the builders agree."""
    from landscape.sources.activations import BUILDERS
    from landscape.sources.specs import ACTIVATION_SPECS

    assert list(BUILDERS) == list(ACTIVATION_SPECS)
    for name, spec in ACTIVATION_SPECS.items():
        module = get_activation(name, **spec.defaults)
        assert torch.isfinite(module(torch.linspace(-5, 5, 11))).all(), name


def test_torch_mish_is_swapped_for_one_with_a_finite_second_derivative():
    """torch's nn.Mish gives a NaN second derivative at large inputs; the swapped model computes the
    same function, and its second derivative is finite (the Hessian needs it)."""
    from landscape.sources.activations import AutogradMish, with_twice_differentiable_mish

    model = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Mish(), torch.nn.Sequential(torch.nn.Mish()))
    x = torch.tensor([[100.0], [-3.0], [0.5]])
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()

    def second_derivative(m):
        inputs = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(inputs).sum(), inputs, create_graph=True)
        return torch.autograd.grad(g.sum(), inputs)[0]
    assert torch.isnan(second_derivative(model)).any()
    before = model(x)
    swapped = with_twice_differentiable_mish(model)
    assert swapped is model and isinstance(model[1], AutogradMish) and isinstance(model[2][0], AutogradMish)
    torch.testing.assert_close(model(x), before)
    assert torch.isfinite(second_derivative(model)).all()
