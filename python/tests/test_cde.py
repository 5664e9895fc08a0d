"""revode.cde_field: a neural CDE over observations with solve, gradient, finite differences
to the observations, and named errors (docs/cde.md)."""

import numpy as np
import pytest

import revode

TIMES = [0.0, 0.3, 0.8, 1.0, 1.7]


def observations(batch=2, channels=2, seed=0):
    x = np.random.default_rng(seed).normal(size=(batch, len(TIMES), channels))
    x[0, 2, 1] = np.nan  # missing: filled forward
    return x


def make_field(interpolation="hermite", **kw):
    return revode.cde_field(TIMES, observations(), hidden=3, hidden_widths=[5],
                            interpolation=interpolation, seed=1, **kw)


def test_shapes_and_layout():
    f = make_field()
    assert isinstance(f, revode.CDE) and isinstance(f, revode.Field)
    assert (f.hidden, f.batch, f.channels) == (3, 2, 1 + 2 + 2)  # time, data, counts
    values = f.path_values
    assert values.shape == (2, 5, 5)
    np.testing.assert_array_equal(values[0, :, 0], TIMES)
    assert values[0, 2, 2] == values[0, 1, 2]  # forward filled
    np.testing.assert_array_equal(values[0, :, 4], [1, 2, 2, 3, 4])  # observation count
    np.testing.assert_array_equal(f.params[f.network_param_count:].reshape(2, 5, 5), values)


@pytest.mark.parametrize("interpolation", ["linear", "hermite", "natural"])
def test_gradient_matches_finite_differences_in_observations(interpolation):
    f = make_field(interpolation)
    z0 = np.random.default_rng(2).normal(size=(3, 2))
    kw = dict(solver="reversible:rk4", steps=8, method="reversible")
    g = revode.gradient(f, z0, TIMES[1:], **kw)
    raw = observations()
    grad_raw = f.observation_gradient(g.grad_params)
    assert grad_raw.shape == raw.shape and grad_raw[0, 2, 1] == 0.0

    def loss_at(x):
        f.set_observations(x)
        return revode.gradient(f, z0, TIMES[1:], **kw).loss

    h = 1e-6
    for index in [(0, 0, 0), (0, 1, 1), (1, 3, 0), (1, 4, 1)]:
        plus, minus = raw.copy(), raw.copy()
        plus[index] += h
        minus[index] -= h
        fd = (loss_at(plus) - loss_at(minus)) / (2 * h)
        assert grad_raw[index] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    f.set_observations(raw)


def test_every_exact_method_agrees():
    f = make_field()
    z0 = np.random.default_rng(3).normal(size=(3, 2))
    reference = revode.gradient(f, z0, TIMES[1:], solver="rk4", steps=10, method="backprop")
    for method in ["anode", "checkpoint:3", "symplectic"]:
        g = revode.gradient(f, z0, TIMES[1:], solver="rk4", steps=10, method=method)
        np.testing.assert_allclose(g.grad_params, reference.grad_params, rtol=1e-10, atol=1e-14)
    sol = revode.solve(f, z0, TIMES[1:], solver="rk4", steps=10)
    assert sol.ys.shape == (4, 3, 2)


def test_errors_are_named():
    with pytest.raises(revode.Error, match="increase strictly"):
        revode.cde_field([0.0, 1.0, 0.5], np.zeros((1, 3, 2)), hidden=2)
    x = np.zeros((1, 3, 2))
    x[0, :, 1] = np.nan
    with pytest.raises(revode.Error, match="channel 1 of sample 0 is missing"):
        revode.cde_field([0.0, 1.0, 2.0], x, hidden=2)
    with pytest.raises(ValueError, match="4 times; expected 3"):
        revode.cde_field([0.0, 1.0, 2.0], np.zeros((1, 4, 2)), hidden=2)
    with pytest.raises(revode.Error, match="interpolation 'cubic'"):
        revode.cde_field([0.0, 1.0, 2.0], np.zeros((1, 3, 2)), hidden=2, interpolation="cubic")
    f = make_field()
    with pytest.raises(revode.Error, match="expected the batch 2"):
        revode.solve(f, np.zeros((3, 4)), TIMES[1:], solver="rk4", steps=4)
    with pytest.raises(ValueError, match="this field was made for 2 and 2"):
        f.set_observations(np.zeros((3, 5, 2)))
