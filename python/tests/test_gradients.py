"""Gradients against central finite differences, across losses, methods, batches and dtypes."""

import numpy as np
import pytest

import revode

STEPS = dict(solver="dopri5", steps=12)


def central_difference(function, x, h=1e-6):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        grad[i] = (function(x + e) - function(x - e)) / (2 * h)
    return grad


def test_mse_zero_gradient_matches_finite_differences(mlp, ts):
    y0 = np.array([[0.3, -0.2], [0.7, 1.1]])  # dim 2 × batch 2
    g = revode.gradient(mlp, y0, ts, **STEPS)
    loss_of_params = lambda p: revode.gradient(mlp, y0, ts, params=p, **STEPS).loss
    loss_of_y0 = lambda y: revode.gradient(mlp, y, ts, **STEPS).loss
    np.testing.assert_allclose(g.grad_params, central_difference(loss_of_params, mlp.params),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g.grad_y0, central_difference(loss_of_y0, y0), rtol=1e-6, atol=1e-9)


def test_data_loss_gradient_matches_finite_differences(mlp, ts):
    data = np.linspace(-1, 1, 10).reshape(5, 2)
    y0 = np.array([0.5, -0.5])
    g = revode.gradient(mlp, y0, ts, loss=data, **STEPS)
    sol = revode.solve(mlp, y0, ts, **STEPS)
    assert g.loss == pytest.approx(np.mean((sol.ys - data) ** 2), rel=1e-14)
    loss_of_params = lambda p: revode.gradient(mlp, y0, ts, loss=data, params=p, **STEPS).loss
    np.testing.assert_allclose(g.grad_params, central_difference(loss_of_params, mlp.params),
                               rtol=1e-6, atol=1e-9)


def test_callable_loss(mlp, ts):
    y0 = np.array([0.5, -0.5])
    calls = []

    def loss(k, t, y):
        calls.append((k, t))
        assert y.shape == (2,)
        return float(np.sum(np.sin(y))), np.cos(y)

    g = revode.gradient(mlp, y0, ts, loss=loss, **STEPS)
    # Every method's forward half sums the loss values (saves in order) and its backward half
    # evaluates the cotangents afresh (newest first).
    assert [k for k, _ in calls] == list(range(5)) + list(range(4, -1, -1))
    sol = revode.solve(mlp, y0, ts, **STEPS)
    assert g.loss == pytest.approx(np.sum(np.sin(sol.ys)), rel=1e-14)
    loss_of_y0 = lambda y: revode.gradient(mlp, y, ts, loss=loss, **STEPS).loss
    np.testing.assert_allclose(g.grad_y0, central_difference(loss_of_y0, y0), rtol=1e-6)

    # The mean square written as a callable is mse-zero.
    mean_square = lambda k, t, y: (np.sum(y**2) / y.size / 5, 2 * y / y.size / 5)
    a = revode.gradient(mlp, y0, ts, loss=mean_square, **STEPS)
    b = revode.gradient(mlp, y0, ts, **STEPS)
    assert a.loss == pytest.approx(b.loss, rel=1e-14)
    np.testing.assert_allclose(a.grad_params, b.grad_params, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize(
    "method, solver",
    [("reversible", "reversible:bosh3"), ("anode", "reversible:bosh3"), ("checkpoint:2", "rk4"),
     ("symplectic", "bosh3")],
)
def test_methods_agree_with_backprop(mlp, ts, method, solver):
    kwargs = dict(solver=solver, steps=10)
    reference = revode.gradient(mlp, None, ts, method="backprop", **kwargs)
    g = revode.gradient(mlp, None, ts, method=method, **kwargs)
    assert g.method
    assert g.loss == pytest.approx(reference.loss, rel=1e-12)
    np.testing.assert_allclose(g.grad_params, reference.grad_params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g.grad_y0, reference.grad_y0, rtol=1e-9, atol=1e-12)


def test_float32_gradient(mlp, ts):
    y0 = np.array([0.5, -0.5], dtype=np.float32)
    g32 = revode.gradient(mlp, y0, ts, **STEPS)
    g64 = revode.gradient(mlp, y0.astype(np.float64), ts, **STEPS)
    assert g32.dtype == "float32" and g32.grad_params.dtype == np.float32
    np.testing.assert_allclose(g32.grad_params, g64.grad_params, rtol=1e-3, atol=1e-5)


def test_field_vjp_matches_check_vjp_and_eval():
    field = revode.MLP([3, 7, 3], activation="silu", seed=1, time_input=True)
    y = np.random.default_rng(0).normal(size=(3, 4))
    report = revode.check_vjp(field, 0.3, y)
    assert report["max_relative_error_y"] < 1e-6 and report["max_relative_error_theta"] < 1e-6
    a = np.ones((3, 4))
    y_bar, theta_bar = field.vjp(0.3, y, a)
    assert y_bar.shape == (3, 4) and theta_bar.shape == (field.param_count,)
    fd = central_difference(lambda z: np.sum(field.eval(0.3, z)), y)
    np.testing.assert_allclose(y_bar, fd, rtol=1e-6, atol=1e-9)


def test_callbacks_may_use_the_same_field_again(mlp, ts):
    """A callable loss that solves with the field being differentiated does not deadlock."""

    def loss(k, t, y):
        revode.solve(mlp, y, [0.0, 0.1], steps=2)
        return float(np.sum(y**2)), 2 * y

    g = revode.gradient(mlp, [0.5, -0.5], ts, loss=loss, **STEPS)
    reference = revode.gradient(mlp, [0.5, -0.5], ts, loss=lambda k, t, y: (float(np.sum(y**2)), 2 * y),
                                **STEPS)
    np.testing.assert_array_equal(g.grad_params, reference.grad_params)
