"""threads= and per_sample_steps= (docs/parallel.md): bit-identical results for every thread
count, per-sample steps equal to each sample solved alone, clear errors."""

import numpy as np
import pytest

import revode

Y0 = np.random.default_rng(0).normal(size=(2, 150)) * np.linspace(0.2, 3.0, 150)


@pytest.mark.parametrize("kwargs", [dict(steps=20), dict(rtol=1e-6, atol=1e-8),
                                    dict(rtol=1e-6, atol=1e-8, per_sample_steps=True)])
def test_bit_identical_for_every_thread_count(mlp, ts, kwargs):
    runs = [revode.gradient(mlp, Y0, ts, threads=k, **kwargs) for k in (1, 2, 3)]
    for r in runs[1:]:
        assert r.loss == runs[0].loss
        assert np.array_equal(r.grad_params, runs[0].grad_params)
        assert np.array_equal(r.grad_y0, runs[0].grad_y0)


def test_per_sample_steps_are_each_sample_alone(mlp, ts):
    g = revode.gradient(mlp, Y0[:, :5], ts, rtol=1e-7, atol=1e-9, per_sample_steps=True,
                        method="reversible", solver="reversible:dopri5")
    steps = g.stats["chunk_steps"]
    assert len(steps) == 5 and g.stats["steps"] == sum(steps)
    assert g.stats["chunks"]["steps"] == (min(steps), sorted(steps)[2], max(steps))
    for j in range(5):
        alone = revode.gradient(mlp, Y0[:, j:j + 1], ts, rtol=1e-7, atol=1e-9,
                                method="reversible", solver="reversible:dopri5")
        assert alone.stats["steps"] == steps[j]
        np.testing.assert_allclose(g.grad_y0[:, j], alone.grad_y0[:, 0] / 5, rtol=1e-12)
    s = revode.solve(mlp, Y0[:, :5], ts, rtol=1e-7, atol=1e-9, per_sample_steps=True, threads=2)
    assert s.ys.shape == (len(ts), 2, 5)


def test_errors(mlp, ts):
    with pytest.raises(ValueError, match="threads=0"):
        revode.gradient(mlp, Y0, ts, threads=0)
    with pytest.raises(ValueError, match="its own step times"):
        revode.solve(mlp, Y0, "steps", t0=0.0, t1=1.0, rtol=1e-6, atol=1e-8,
                     per_sample_steps=True)
    loss = lambda k, t, y: (float(np.sum(y ** 2)), 2 * y)
    with pytest.raises(revode.Error, match="sees the whole batch"):
        revode.gradient(mlp, Y0, ts, loss=loss, rtol=1e-6, atol=1e-8, per_sample_steps=True)


def test_python_field_runs_on_one_thread_with_the_same_numbers():
    linear = revode.field("linear", dim=2)
    dim = 2

    def f(t, y, theta):
        return theta.reshape(dim, dim, order="F") @ y

    def vjp(t, y, theta, a):
        A = theta.reshape(dim, dim, order="F")
        return A.T @ a, (a @ y.T).ravel(order="F")

    field = revode.PythonField(dim, f, vjp, params=linear.params.copy())
    ts = np.linspace(0.0, 1.0, 4)
    a = revode.gradient(field, Y0, ts, steps=10, threads=3)
    b = revode.gradient(linear, Y0, ts, steps=10, threads=3)
    np.testing.assert_allclose(a.grad_params, b.grad_params, rtol=1e-12)
