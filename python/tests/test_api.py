"""The API's conventions: registries, fields and their parameter view, result shapes, dtypes,
optimizer building blocks, and the GIL being released during built-in solves."""

import threading
import time

import numpy as np
import pytest

import revode


def test_registries():
    assert {"euler", "dopri5", "tsit5", "reversible:dopri5", "reversible-heun", "alf"} <= set(
        revode.solvers())
    assert revode.methods()[0] == "backprop" and "checkpoint:C" in revode.methods()
    assert {"linear", "lotka-volterra", "van-der-pol", "kepler", "white-dwarf"} <= set(revode.fields())
    assert "tanh" in revode.activations()
    assert isinstance(revode.__version__, str)


def test_mlp_parameters_are_seeded_and_laid_out():
    a, b = revode.MLP([2, 16, 2], seed=0), revode.MLP([2, 16, 2], seed=0)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, revode.MLP([2, 16, 2], seed=1).params)
    assert a.param_count == 2 * 16 + 16 + 16 * 2 + 2 and a.state_dim == 2
    assert a.widths == [2, 16, 2] and a.activation == "tanh" and a.init == "pytorch"
    glorot = revode.MLP([3, 5, 3], init="glorot", time_input=True)
    first = glorot.layers[0]
    assert first["inputs"] == 4 and first["outputs"] == 5
    np.testing.assert_array_equal(glorot.params[first["bias_offset"]:first["bias_offset"] + 5], 0)
    assert repr(glorot).startswith("<revode.MLP mlp:3,5,3 tanh time-input")


def test_params_is_a_writable_view(ts):
    field = revode.MLP([2, 8, 2], seed=0)
    view = field.params
    assert view.dtype == np.float64 and view.flags.writeable
    before = revode.solve(field, None, ts, steps=5).ys
    view *= 0.5  # in place: the field sees it
    np.testing.assert_array_equal(field.params, view)
    after = revode.solve(field, None, ts, steps=5).ys
    assert not np.array_equal(before, after)
    field.params = np.zeros(field.param_count)  # assignment copies into the same buffer
    assert np.all(view == 0)
    np.testing.assert_array_equal(revode.solve(field, None, ts, steps=5).ys[-1], field.default_y0)
    overridden = revode.solve(field, None, ts, steps=5, params=np.full(field.param_count, 0.1))
    assert not np.array_equal(overridden.ys[-1], field.default_y0) and np.all(view == 0)


def test_analytic_fields_and_defaults():
    lv = revode.field("lotka-volterra")
    assert lv.t_span == (0.0, 10.0) and lv.param_count == 4
    np.testing.assert_array_equal(lv.default_y0, [1.0, 1.0])
    assert "Lotka" in lv.description or "x' =" in lv.description
    linear3 = revode.field("linear", dim=3)
    assert linear3.state_dim == 3 and linear3.default_y0 is None


def test_linear_field_against_the_exact_solution():
    field = revode.field("linear")
    A = field.params.reshape(2, 2, order="F")
    values, vectors = np.linalg.eig(A)
    ts = np.linspace(0.0, 3.0, 7)
    exact = np.stack([(vectors @ np.diag(np.exp(values * t)) @ np.linalg.solve(vectors, [2.0, 0.0])).real
                      for t in ts])
    sol = revode.solve(field, None, ts, solver="dopri5", rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(sol.ys, exact, rtol=1e-8, atol=1e-9)


def test_result_shapes_and_dtypes(mlp, ts):
    assert revode.solve(mlp, [0.1, 0.2], ts).ys.shape == (5, 2)
    assert revode.solve(mlp, np.zeros((2, 1)), ts).ys.shape == (5, 2, 1)
    batch = revode.solve(mlp, np.zeros((2, 3), dtype=np.float32), ts)
    assert batch.ys.shape == (5, 2, 3) and batch.ys.dtype == np.float32 and batch.dtype == "float32"
    assert revode.solve(mlp, np.zeros(2, dtype=np.float32), ts, dtype="float64").ys.dtype == np.float64
    assert revode.solve(mlp, [0.1, 0.2], ts, dtype=np.float32).ys.dtype == np.float32
    g = revode.gradient(mlp, np.zeros((2, 3)), ts, steps=4)
    assert g.grad_y0.shape == (2, 3) and g.grad_params.shape == (mlp.param_count,)
    assert set(g.stats) == {"nfe", "nvjp", "steps", "rejected", "stored_floats",
                            "recomputed_steps", "reconstruction_error"}
    assert "revode.Gradient backprop" in repr(g) and "ys (5, 2)" in repr(revode.solve(mlp, None, ts))


def test_non_contiguous_inputs_are_accepted(mlp, ts):
    y0 = np.asfortranarray(np.arange(6.0).reshape(2, 3) / 10)
    strided = np.zeros((4, 6))
    strided[::2, ::2] = y0
    a = revode.solve(mlp, y0, ts[::-1][::-1], steps=3)
    b = revode.solve(mlp, strided[::2, ::2], np.repeat(ts, 2)[::2], steps=3)
    np.testing.assert_array_equal(a.ys, b.ys)


def test_save_times_inside_the_span(mlp):
    full = revode.solve(mlp, None, np.linspace(0, 1, 11), steps=10)
    final_only = revode.solve(mlp, None, [1.0], t0=0.0, steps=10)
    np.testing.assert_array_equal(final_only.ys[0], full.ys[-1])
    every = revode.solve(mlp, None, "steps", t0=0.0, t1=1.0, steps=10)
    np.testing.assert_array_equal(every.ys, full.ys)
    backwards = revode.solve(mlp, None, [1.0, 0.0], steps=10)  # reverse time
    assert backwards.ts[0] == 1.0


def test_adam_and_clipping_match_the_formulas():
    params = np.array([1.0, -2.0, 3.0])
    grad = np.array([0.1, -0.3, 0.0])
    adam = revode.Adam(3, beta1=0.9, beta2=0.999, eps=1e-8)
    adam.step(0.01, params, grad)
    m, v = 0.1 * grad, 0.001 * grad**2
    expected = np.array([1.0, -2.0, 3.0]) - 0.01 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
    np.testing.assert_allclose(params, expected, rtol=1e-15)
    assert adam.step_count == 1
    g = np.array([3.0, 4.0])
    assert revode.clip_global_norm(g, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(g, [0.6, 0.8])


def test_gil_is_released_during_builtin_solves():
    """While a long built-in solve runs in a thread, this thread keeps running Python."""
    field = revode.MLP([8, 64, 64, 8], seed=0)
    y0 = np.zeros((8, 64))
    start = time.perf_counter()
    revode.solve(field, y0, [0.0, 1.0], solver="rk4", steps=200)
    one_solve = time.perf_counter() - start
    steps = max(200, int(200 * 0.4 / max(one_solve, 1e-3)))  # about 0.4 s of work

    worker = threading.Thread(
        target=lambda: revode.solve(field, y0, [0.0, 1.0], solver="rk4", steps=steps))
    ticks, longest_gap = 0, 0.0
    began = last = time.perf_counter()
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        longest_gap = max(longest_gap, now - last)
        last = now
        ticks += 1
    duration = last - began
    worker.join()
    # Holding the GIL would freeze this loop for the whole solve (one or two ticks, one gap as
    # long as the solve). The bounds are loose so that a loaded CI machine cannot fail them.
    assert ticks > 10 and longest_gap < 0.9 * duration, (ticks, longest_gap, duration)
