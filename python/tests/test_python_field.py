"""A field written in Python runs through the same solvers and gradient methods as a built-in
one: a NumPy y' = A y must reproduce revode's "linear" field."""

import numpy as np
import pytest

import revode


def python_linear(dim, with_vjp=True, name="numpy-linear"):
    """y' = A y with theta = A flattened column-major, as revode's LinearField."""

    def f(t, y, theta):
        return theta.reshape(dim, dim, order="F") @ y

    def vjp(t, y, theta, a):
        A = theta.reshape(dim, dim, order="F")
        return A.T @ a, (a @ y.T).ravel(order="F")  # theta_bar summed over the batch

    builtin = revode.field("linear", dim=dim)
    return revode.PythonField(dim, f, vjp if with_vjp else None, params=builtin.params.copy(),
                              name=name), builtin


@pytest.mark.parametrize("dim", [2, 3])
def test_solve_matches_builtin_linear(dim):
    py_field, builtin = python_linear(dim)
    y0 = np.arange(1.0, 1.0 + 2 * dim).reshape(dim, 2)
    ts = np.linspace(0.0, 2.0, 7)
    a = revode.solve(py_field, y0, ts, rtol=1e-9, atol=1e-9)
    b = revode.solve(builtin, y0, ts, rtol=1e-9, atol=1e-9)
    assert a.stats["steps"] == b.stats["steps"] and a.stats["nfe"] == b.stats["nfe"]
    np.testing.assert_allclose(a.ys, b.ys, rtol=1e-13, atol=1e-15)
    assert py_field.name == "numpy-linear" and py_field.param_count == dim * dim


@pytest.mark.parametrize(
    "method, solver",
    [("backprop", "dopri5"), ("reversible", "reversible:midpoint"), ("checkpoint:2", "rk4"),
     ("symplectic", "tsit5"), ("adjoint", "dopri5")],
)
def test_gradient_matches_builtin_linear(method, solver):
    py_field, builtin = python_linear(2)
    ts = np.linspace(0.0, 1.0, 4)
    data = np.ones((4, 2))
    kwargs = dict(method=method, solver=solver, steps=15, loss=data)
    a = revode.gradient(py_field, [2.0, 0.0], ts, **kwargs)
    b = revode.gradient(builtin, [2.0, 0.0], ts, **kwargs)
    assert a.loss == pytest.approx(b.loss, rel=1e-13)
    np.testing.assert_allclose(a.grad_params, b.grad_params, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(a.grad_y0, b.grad_y0, rtol=1e-11, atol=1e-14)


def test_float32_callbacks_receive_float32():
    seen = []

    def f(t, y, theta):
        seen.append((y.dtype, theta.dtype, y.shape))
        return -y

    field = revode.PythonField(2, f)
    sol = revode.solve(field, np.array([1.0, 2.0], dtype=np.float32), [0.0, 1.0], steps=4,
                       solver="euler")
    assert sol.ys.dtype == np.float32
    assert seen[0] == (np.float32, np.float32, (2, 1))
    np.testing.assert_allclose(sol.ys[-1], np.array([1.0, 2.0]) * 0.75**4, rtol=1e-6)


def test_field_without_parameters_and_check_vjp():
    field = revode.PythonField(2, lambda t, y, th: np.stack([y[1], -np.sin(y[0])]),
                               lambda t, y, th, a: (np.stack([-np.cos(y[0]) * a[1], a[0]]), None),
                               name="pendulum")
    report = revode.check_vjp(field, 0.0, np.array([[0.3, 1.0], [0.2, -0.5]]))
    assert report["max_relative_error_y"] < 1e-6, report["message"]
    g = revode.gradient(field, [0.3, 0.2], [0.0, 1.0], steps=10)
    assert g.grad_params.shape == (0,) and g.grad_y0.shape == (2,)


def test_field_without_vjp_solves_but_cannot_differentiate():
    field, _ = python_linear(2, with_vjp=False, name="no-vjp")
    revode.solve(field, [1.0, 0.0], [0.0, 1.0], steps=3)
    with pytest.raises(revode.Error, match="PythonField 'no-vjp' has no vjp"):
        revode.gradient(field, [1.0, 0.0], [0.0, 1.0], steps=3)


def test_callback_exceptions_propagate_unchanged():
    def f(t, y, theta):
        raise ZeroDivisionError("inside f")

    with pytest.raises(ZeroDivisionError, match="inside f"):
        revode.solve(revode.PythonField(2, f), [1.0, 0.0], [0.0, 1.0], steps=3)


def test_callback_results_are_checked():
    wrong_shape = revode.PythonField(2, lambda t, y, th: np.zeros(3), name="w")
    with pytest.raises(ValueError, match=r"PythonField 'w': f\(t, y, theta\) has shape \(3,\); "
                                         r"expected \(2,\) or \(2, 1\)"):
        revode.solve(wrong_shape, [1.0, 0.0], [0.0, 1.0], steps=3)
    wrong_type = revode.PythonField(2, lambda t, y, th: "dy", name="s")
    with pytest.raises(TypeError, match="PythonField 's'"):
        revode.solve(wrong_type, [1.0, 0.0], [0.0, 1.0], steps=3)
    bad_vjp = revode.PythonField(2, lambda t, y, th: -y, lambda t, y, th, a: a, name="v")
    with pytest.raises(TypeError, match=r"expected a tuple \(y_bar, theta_bar\)"):
        revode.gradient(bad_vjp, [1.0, 0.0], [0.0, 1.0], steps=3)
    with pytest.raises(TypeError, match="callable"):
        revode.PythonField(2, "not callable")
    with pytest.raises(ValueError, match="state_dim = 0"):
        revode.PythonField(0, lambda t, y, th: y)
