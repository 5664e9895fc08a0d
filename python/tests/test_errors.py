"""Every error path: Python exceptions that say what was expected."""

import numpy as np
import pytest

import revode

TS = np.linspace(0.0, 1.0, 3)


@pytest.fixture
def field():
    return revode.MLP([2, 4, 2], seed=0)


def test_exception_hierarchy():
    assert issubclass(revode.Error, ValueError)
    assert issubclass(revode.SolveError, revode.Error)
    assert issubclass(revode.SolveError, RuntimeError)


@pytest.mark.parametrize(
    "y0, error, message",
    [
        (np.array([1, 2]), TypeError, r"y0 has dtype int64; expected float64 or float32"),
        (np.array([1j, 2j]), TypeError, r"y0 has dtype complex128"),
        (np.array([1.0, 2.0], dtype=np.float16), TypeError, r"y0 has dtype float16"),
        (["a", "b"], TypeError, r"y0 \(a list\) does not convert to an array of numbers"),
        ("1,2", TypeError, r"y0 is a str"),
        ([1.0, 2.0, 3.0], ValueError, r"y0 has shape \(3,\); expected \(2,\) or \(2, batch\)"),
        (np.zeros((2, 1, 1)), ValueError, r"y0 has shape \(2, 1, 1\)"),
        (np.zeros((2, 0)), ValueError, r"y0 has shape \(2, 0\); expected .* batch >= 1"),
        ([1.0, np.nan], ValueError, r"y0 entry \[1\] is nan in float64; expected finite"),
        (np.array([[0.0, 1.0], [np.inf, 0.0]]), ValueError, r"y0 entry \[1, 0\] is inf"),
    ],
)
def test_bad_y0(field, y0, error, message):
    with pytest.raises(error, match=message):
        revode.solve(field, y0, TS)


def test_float32_overflow_is_reported(field):
    with pytest.raises(ValueError, match=r"y0 entry \[0\] is inf in float32"):
        revode.solve(field, [1e39, 0.0], TS, dtype="float32")


@pytest.mark.parametrize(
    "ts, kwargs, error, message",
    [
        ([], {}, ValueError, "ts is empty"),
        ([1.0], {}, ValueError, r"t0 = 1, t1 = 1; expected finite and different"),
        ([0.0, np.nan, 1.0], {}, ValueError, r"ts entry \[1\] is nan"),
        (np.zeros((2, 2)), {}, ValueError, r"ts has shape \(2, 2\); expected a 1-D array"),
        ([0.0, 0.7, 0.5, 1.0], {}, revode.Error, "strictly increasing"),
        ([0.5, 2.0], {"t1": 1.0}, revode.Error, r"save time"),
        ("final", {}, ValueError, r"ts='final': expected 'steps'"),
        ("steps", {}, ValueError, r"ts='steps' needs the time span: pass t0= and t1="),
    ],
)
def test_bad_times(field, ts, kwargs, error, message):
    with pytest.raises(error, match=message):
        revode.solve(field, None, ts, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(steps=10, rtol=1e-6), ValueError, "steps/dt and rtol/atol exclude each other"),
        (dict(steps=10, dt=0.1), ValueError, "steps=10 and dt=0.1 exclude each other"),
        (dict(max_steps=10), ValueError, "max_steps, dtmin and dt0 apply to adaptive steps only"),
        (dict(steps=0), revode.Error, "steps"),
        (dict(rtol=-1.0), revode.Error, "rtol"),
        (dict(solver="dopri"), revode.Error, r"unknown solver 'dopri' \(known: euler, "),
        (dict(solver="rk4", rtol=1e-6), revode.Error, "rk4"),
        (dict(solver="reversible:midpoint", coupling=2.0), revode.Error, "coupling|λ"),
        (dict(dtype="float16"), TypeError, "dtype=float16: expected 'float32' or 'float64'"),
        (dict(dtype="nonsense"), TypeError, r"dtype='nonsense': expected 'float32' or 'float64'"),
        (dict(params=np.zeros(3)), ValueError, r"params has shape \(3,\); expected \(22,\)"),
        (dict(params=np.full(22, np.inf)), ValueError, r"params entry \[0\] is inf"),
    ],
)
def test_bad_options(field, kwargs, error, message):
    with pytest.raises(error, match=message):
        revode.solve(field, None, TS, **kwargs)


def test_bad_fields():
    with pytest.raises(revode.Error, match=r"unknown analytic field 'lotka' \(known: linear"):
        revode.field("lotka")
    with pytest.raises(ValueError, match="dim=3 applies to the 'linear' field only"):
        revode.field("kepler", dim=3)
    with pytest.raises(revode.Error):
        revode.field("linear", dim=0)
    with pytest.raises(revode.Error, match="relu6|tanh"):
        revode.MLP([2, 4, 2], activation="relu6")
    with pytest.raises(ValueError, match="init='xavier': expected 'pytorch' or 'glorot'"):
        revode.MLP([2, 4, 2], init="xavier")
    with pytest.raises(revode.Error):
        revode.MLP([2, 4, 3])
    with pytest.raises(revode.Error):
        revode.MLP([2])
    with pytest.raises(TypeError):
        revode.MLP([2, 4.5, 2])
    with pytest.raises(ValueError, match="no default initial state"):
        revode.solve(revode.PythonField(1, lambda t, y, th: y), None, TS)


def test_params_setter_is_checked(field):
    with pytest.raises(ValueError, match=r"params has shape \(2,\); expected \(22,\)"):
        field.params = [1.0, 2.0]
    with pytest.raises(ValueError, match="params entry"):
        field.params = np.full(22, np.nan)


def test_solve_errors_carry_status_and_time():
    with pytest.raises(revode.SolveError, match="reached max_steps") as caught:
        revode.solve(revode.field("van-der-pol"), None, [0.0, 10.0], rtol=1e-12, atol=1e-12,
                     max_steps=5)
    assert caught.value.status == "max_steps_reached"
    assert 0.0 <= caught.value.t_reached < 10.0
    blow_up = revode.PythonField(1, lambda t, y, th: y**2)  # y' = y², y(0) = 1: infinite at t = 1
    with pytest.raises(revode.SolveError) as caught, np.errstate(over="ignore"):
        revode.solve(blow_up, [1.0], [0.0, 2.0], solver="euler", steps=2000)
    assert caught.value.status == "non_finite_state"


@pytest.mark.parametrize(
    "loss, error, message",
    [
        ("mse", ValueError, r"loss='mse': expected 'mse-zero', an array of data"),
        (None, TypeError, "loss=None"),
        (np.zeros((3, 3)), ValueError, r"loss data has shape \(3, 3\); expected \(K, 2\)"),
        (np.zeros((4, 2)), ValueError, r"loss data has 4 rows; expected one per save time \(3\)"),
        (np.full((3, 2), np.nan), ValueError, r"loss data\[0\] entry \[0\] is nan"),
        (np.zeros((3, 2), dtype=np.int32), TypeError, "loss data has dtype int32"),
        (lambda k, t, y: 1.0, TypeError, r"tuple \(value, dvalue_dy\)"),
        (lambda k, t, y: ("x", y), TypeError, "value .* is not a number"),
        (lambda k, t, y: (1.0, y[:1]), ValueError, "dvalue_dy has shape"),
    ],
)
def test_bad_losses(field, loss, error, message):
    with pytest.raises(error, match=message):
        revode.gradient(field, None, TS, loss=loss)


def test_bad_methods_and_overflow(field):
    with pytest.raises(revode.Error, match=r"unknown gradient method 'adjoin' \(known: backprop"):
        revode.gradient(field, None, TS, method="adjoin")
    with pytest.raises(revode.Error, match="checkpoint:C"):
        revode.gradient(field, None, TS, method="checkpoint:x")
    with pytest.raises(revode.Error, match="reversible"):
        revode.gradient(field, None, TS, method="reversible", solver="dopri5")
    with pytest.raises(revode.Error, match="the gradient contains NaN or Inf|the loss is inf"):
        revode.gradient(revode.field("linear"), [1e30, 1e30], TS, dtype="float32")


def test_bad_optimizer_arguments(field):
    with pytest.raises(revode.Error, match="adam"):
        revode.Adam(field.param_count, kind="sgd")
    adam = revode.Adam(field.param_count)
    grad = np.zeros(field.param_count)
    with pytest.raises(ValueError, match="expected a writable, contiguous float64 array"):
        adam.step(0.1, field.params.astype(np.float32), grad)
    read_only = field.params.copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        adam.step(0.1, read_only, grad)
    with pytest.raises(TypeError, match="must be a NumPy array"):
        adam.step(0.1, list(field.params), grad)
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        adam.step(0.1, field.params, np.zeros(3))


def test_memory_limit_covers_adaptive_step_times(monkeypatch):
    """An adaptive reversible gradient records its step times as it goes: REVODE_MEMORY_LIMIT
    bounds them too, and the error says which list outgrew it and what to change."""
    f = revode.MLP([2, 4, 2], seed=0)
    kwargs = dict(solver="reversible-heun", method="reversible", rtol=1e-9, atol=1e-9)
    monkeypatch.setenv("REVODE_MEMORY_LIMIT", "2K")
    with pytest.raises(revode.Error, match=r"recording the step times of an adaptive solve.*"
                       r"above the limit of 2\.0 KiB.*REVODE_MEMORY_LIMIT"):
        revode.gradient(f, np.array([1.0, 0.5]), np.linspace(0.0, 1.0, 3), max_steps=10**8,
                        **kwargs)
    monkeypatch.setenv("REVODE_MEMORY_LIMIT", "1M")  # thousands of steps fit
    g = revode.gradient(f, np.array([1.0, 0.5]), np.linspace(0.0, 1.0, 3), **kwargs)
    assert g.stats["steps"] > 256
    assert np.all(np.isfinite(g.grad_params))
