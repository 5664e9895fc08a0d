"""The Python module gives the CLI's numbers for the same seeds and options (bit for bit: both
run the same library code; the CLI is the C++ API's thin front end)."""

import numpy as np
import pytest

import revode


def ys_of(cli_json, batch):
    """CLI ys[k][sample][component] as the module's (K, dim) or (K, dim, batch)."""
    ys = np.asarray(cli_json["ys"], dtype=np.float64).transpose(0, 2, 1)
    return ys[:, :, 0] if batch is None else ys


def check_stats(cli_stats, stats):
    assert {k: stats[k] for k in cli_stats} == cli_stats


@pytest.mark.parametrize(
    "flags, kwargs",
    [
        (["--rtol", "1e-8", "--atol", "1e-9"], dict(rtol=1e-8, atol=1e-9)),
        (["--solver", "rk4", "--steps", "37"], dict(solver="rk4", steps=37)),
        (["--solver", "tsit5", "--rtol", "1e-5", "--dense"], dict(solver="tsit5", rtol=1e-5, dense=True)),
        (["--solver", "reversible:dopri5", "--coupling", "0.9", "--steps", "20"],
         dict(solver="reversible:dopri5", coupling=0.9, steps=20)),
        (["--solver", "alf", "--damping", "0.8", "--steps", "20"], dict(solver="alf", damping=0.8, steps=20)),
    ],
)
def test_solve_mlp_matches_cli(cli, flags, kwargs):
    out = cli("solve", "--field", "mlp:2,16,2", "--seed", "7", "--saveat", "6", *flags)
    field = revode.MLP([2, 16, 2], seed=7)
    sol = revode.solve(field, None, np.asarray(out["ts"]), **kwargs)
    np.testing.assert_array_equal(sol.ts, out["ts"])
    np.testing.assert_array_equal(sol.ys, ys_of(out, None))
    check_stats(out["stats"], sol.stats)


def test_solve_batch_float32_time_input_matches_cli(cli):
    out = cli("solve", "--field", "mlp:3,10,3", "--seed", "11", "--time-input", "--activation",
              "softplus", "--init", "glorot", "--batch", "3", "--dtype", "float32", "--t1", "2",
              "--saveat", "0.5,1,1.5,2", "--solver", "bosh3", "--rtol", "1e-4")
    field = revode.MLP([3, 10, 3], activation="softplus", seed=11, time_input=True, init="glorot")
    y0 = np.tile(field.default_y0[:, None], (1, 3))
    sol = revode.solve(field, y0, [0.5, 1.0, 1.5, 2.0], t0=0.0, rtol=1e-4, solver="bosh3",
                       dtype="float32")
    assert sol.ys.dtype == np.float32 and sol.ys.shape == (4, 3, 3)
    np.testing.assert_array_equal(sol.ys.astype(np.float64), ys_of(out, 3))


def test_solve_analytic_steps_matches_cli(cli):
    out = cli("solve", "--field", "lotka-volterra", "--y0", "1.5,0.5", "--rtol", "1e-7",
              "--saveat", "steps")
    sol = revode.solve(revode.field("lotka-volterra"), [1.5, 0.5], "steps", rtol=1e-7)
    np.testing.assert_array_equal(sol.ts, out["ts"])
    np.testing.assert_array_equal(sol.ys, ys_of(out, None))
    check_stats(out["stats"], sol.stats)


@pytest.mark.parametrize(
    "method, solver",
    [("backprop", "dopri5"), ("reversible", "reversible:midpoint"), ("checkpoint:3", "rk4"),
     ("symplectic", "bosh3"), ("anode", "heun"), ("adjoint", "dopri5")],
)
def test_grad_matches_cli(cli, method, solver):
    out = cli("grad", "--field", "mlp:2,12,2", "--seed", "5", "--batch", "2", "--solver", solver,
              "--method", method, "--steps", "16", "--saveat", "steps")
    field = revode.MLP([2, 12, 2], seed=5)
    y0 = np.tile(field.default_y0[:, None], (1, 2))
    g = revode.gradient(field, y0, "steps", t0=0.0, t1=1.0, solver=solver, method=method, steps=16)
    assert g.loss == out["loss"]
    np.testing.assert_array_equal(g.grad_params, out["grad_params"])
    np.testing.assert_array_equal(g.grad_y0, np.asarray(out["grad_y0"]).T)
    np.testing.assert_array_equal(g.ts, out["ts"])
    check_stats(out["stats"], g.stats)


def test_grad_with_data_matches_cli(cli, tmp_path):
    times = np.array([0.0, 1.0, 2.5, 5.0])
    data = np.array([[1.0, 0.0], [0.9, -0.2], [0.5, -0.4], [0.1, -0.3]])
    path = tmp_path / "data.csv"
    path.write_text("".join(f"{t!r}, {x!r}, {y!r}\n" for t, (x, y) in zip(times, data)))
    out = cli("grad", "--field", "white-dwarf", "--solver", "tsit5", "--rtol", "1e-6",
              "--saveat", "0,1,2.5,5", "--loss", f"mse-data:{path}")
    g = revode.gradient(revode.field("white-dwarf"), None, times, loss=data, solver="tsit5",
                        rtol=1e-6)
    assert g.loss == out["loss"]
    np.testing.assert_array_equal(g.grad_params, out["grad_params"])
    np.testing.assert_array_equal(g.grad_y0, np.asarray(out["grad_y0"])[0])


def test_standard_normal_is_the_cli_default_y0(cli):
    out = cli("solve", "--field", "mlp:5,4,5", "--seed", "123",
              "--saveat", "0,1")
    np.testing.assert_array_equal(revode.standard_normal(123, 5), np.asarray(out["ys"][0][0]))
