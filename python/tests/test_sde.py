"""SDEs from Python (docs/sde.md): revode.sde_field / sde_solve / sde_gradient for every noise
type; reversible and checkpointed gradients equal backprop's for the same Brownian sample;
central finite differences with the noise fixed; the seed fixes the path; named errors."""
import numpy as np
import pytest

import revode

CASES = [("diagonal", "mlp:2,8,2"), ("scalar", "linear:0.3,0.2"),
         ("additive", "const:0.1,0.2,0.3,0.4"), ("general", "mlp:2,8,6")]


def drift():
    return revode.MLP([2, 8, 2], seed=1)


@pytest.mark.parametrize("noise,spec", CASES)
@pytest.mark.parametrize("solver", ["euler", "midpoint", "reversible-heun", "reversible:heun"])
def test_exact_methods_match_backprop(noise, spec, solver):
    y0 = np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.6]])
    ts = np.linspace(0, 1, 4)
    kw = dict(diffusion=spec, noise=noise, brownian_seed=7, solver=solver, steps=10)
    ref = revode.sde_gradient(drift(), y0, ts, method="backprop", **kw)
    assert ref.grad_params.shape == (revode.sde_field(drift(), spec, noise).param_count,)
    methods = ["checkpoint:3"] + (["reversible"] if solver.startswith("reversible") else [])
    for method in methods:
        g = revode.sde_gradient(drift(), y0, ts, method=method, **kw)
        assert g.loss == ref.loss
        assert np.linalg.norm(g.grad_params - ref.grad_params) <= 1e-10 * np.linalg.norm(ref.grad_params)
        assert np.linalg.norm(g.grad_y0 - ref.grad_y0) <= 1e-10 * np.linalg.norm(ref.grad_y0)


def test_finite_differences_with_the_noise_fixed():
    f = revode.sde_field(drift(), "mlp:2,8,6", "general", brownian_seed=3)
    y0, ts = np.array([0.4, -0.3]), np.linspace(0, 1, 3)
    g = revode.gradient(f, y0, ts, solver="reversible-heun", steps=8)
    theta = f.params.copy()
    for i in [0, 5, len(theta) - 1]:
        h = 1e-6
        plus, minus = theta.copy(), theta.copy()
        plus[i] += h
        minus[i] -= h
        loss = [revode.gradient(f, y0, ts, solver="reversible-heun", steps=8, params=p).loss
                for p in (plus, minus)]
        assert abs((loss[0] - loss[1]) / (2 * h) - g.grad_params[i]) <= 1e-6 * max(1, abs(g.grad_params[i]))


@pytest.mark.parametrize("solver", ["heun", "reversible-heun", "reversible:midpoint"])
def test_adaptive_steps_replay_the_accepted_steps(solver):
    # rtol/atol: every exact method replays the forward's accepted steps, so it is backprop's
    # gradient; the save time 0.37 is landed on.
    y0 = np.array([[0.5, -0.2], [0.3, 0.8]])
    ts = np.array([0.0, 0.37, 1.0])
    kw = dict(diffusion="mlp:2,8,2", brownian_seed=2, solver=solver, rtol=1e-3, atol=1e-3)
    ref = revode.sde_gradient(drift(), y0, ts, method="backprop", **kw)
    assert ref.stats["steps"] > 3 and list(ref.ts) == list(ts)
    methods = ["checkpoint:3"] + (["reversible"] if solver.startswith("reversible") else [])
    for method in methods:
        g = revode.sde_gradient(drift(), y0, ts, method=method, **kw)
        assert g.loss == ref.loss and g.stats["steps"] == ref.stats["steps"]
        assert np.linalg.norm(g.grad_params - ref.grad_params) <= 1e-10 * np.linalg.norm(ref.grad_params)
    loose = revode.sde_solve(drift(), y0, ts, "mlp:2,8,2", brownian_seed=2, solver=solver,
                             rtol=1e-1, atol=1e-1)
    assert loose.stats["steps"] < ref.stats["steps"]


def test_seed_fixes_the_path():
    y0, ts = np.zeros(2), np.linspace(0, 1, 5)
    run = lambda seed: revode.sde_solve(drift(), y0, ts, "const:0.5", brownian_seed=seed, steps=16).ys
    assert np.array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))
    # float32 runs the same path in single precision.
    ys32 = revode.sde_solve(drift(), y0.astype(np.float32), ts, "const:0.5", brownian_seed=4, steps=16).ys
    assert ys32.dtype == np.float32 and np.allclose(ys32, run(4), atol=1e-4)


@pytest.mark.parametrize("solver", ["euler", "reversible-heun"])
def test_float32_end_times_that_round_up(solver):
    # 0.1 and 0.7 round up in float32: the last step asks the Brownian motion (built on the
    # double span) just past its end, which must read as the end point, not fail.
    ts = np.array([0.0, 0.1, 0.7])
    ys64 = revode.sde_solve(drift(), np.zeros(2), ts, "const:0.5", solver=solver, steps=14).ys
    ys32 = revode.sde_solve(drift(), np.zeros(2, np.float32), ts, "const:0.5", solver=solver,
                            steps=14).ys
    assert ys32.dtype == np.float32 and np.allclose(ys32, ys64, atol=1e-4)


def test_named_errors():
    y0, ts = np.zeros(2), np.linspace(0, 1, 3)
    with pytest.raises(revode.Error, match="outside its range"):
        revode.sde_field(drift(), "const:1", brownian_seed=-1)
    with pytest.raises(revode.Error, match="noise type 'pink'"):
        revode.sde_field(drift(), "const:1", noise="pink")
    with pytest.raises(revode.Error, match="a multiple of 2"):
        revode.sde_field(drift(), "mlp:2,8,3", noise="general")
    with pytest.raises(revode.Error, match="depends on y"):
        revode.sde_field(drift(), "linear:1", noise="additive")
    with pytest.raises(revode.Error, match="has no embedded error estimate"):
        revode.sde_solve(drift(), y0, ts, "const:1", solver="euler", rtol=1e-3)
    with pytest.raises(revode.Error, match="no SDE form"):
        revode.sde_solve(drift(), y0, ts, "const:1", solver="alf")
    with pytest.raises(revode.Error, match="SDE steps go forward in time"):
        revode.sde_solve(drift(), y0, ts[::-1], "const:1")
    with pytest.raises(revode.Error, match="is not finite"):
        revode.sde_solve(drift(), np.array([1e300, 1.0]), ts, "linear:1e300", steps=2)


def test_shark_for_additive_noise():
    # ShARK (docs/sde.md): exact gradients through it, and a named refusal of other noise.
    y0, ts = np.array([[0.1, -0.3], [0.2, 0.5]]), np.linspace(0, 1, 3)
    args = dict(diffusion="const:0.3,0.2,-0.1,0.4", noise="additive", brownian_seed=2,
                solver="shark", steps=12)
    sol = revode.sde_solve(drift(), y0, ts, **args)
    assert sol.ys.shape == (3, 2, 2) and np.all(np.isfinite(sol.ys))
    a = revode.sde_gradient(drift(), y0, ts, method="backprop", **args)
    b = revode.sde_gradient(drift(), y0, ts, method="checkpoint:2", **args)
    assert a.loss == b.loss
    assert np.linalg.norm(a.grad_params - b.grad_params) <= 1e-10 * np.linalg.norm(a.grad_params)
    # Adaptive (rtol/atol, ShARK's embedded estimate): checkpointing replays backprop's steps.
    adaptive = dict({k: v for k, v in args.items() if k != "steps"}, rtol=1e-4, atol=1e-4)
    ref = revode.sde_gradient(drift(), y0, ts, method="backprop", **adaptive)
    assert ref.stats["steps"] > 3 and list(ref.ts) == list(ts)
    c = revode.sde_gradient(drift(), y0, ts, method="checkpoint:2", **adaptive)
    assert c.loss == ref.loss and c.stats["steps"] == ref.stats["steps"]
    assert np.linalg.norm(c.grad_params - ref.grad_params) <= 1e-10 * np.linalg.norm(ref.grad_params)
    with pytest.raises(revode.Error, match="'shark' .ShARK. is for additive noise only"):
        revode.sde_solve(drift(), y0, ts, "const:0.3", noise="diagonal", solver="shark")
