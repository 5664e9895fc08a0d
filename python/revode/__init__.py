"""revode: neural ODEs with exact gradients in near-constant memory.

The NumPy front end of the C++ engine (docs/python.md)::

    import numpy as np, revode
    f = revode.MLP([2, 16, 2], activation="tanh", seed=0)
    sol = revode.solve(f, np.array([1.0, 0.0]), np.linspace(0, 1, 11), solver="dopri5", rtol=1e-6)
    g = revode.gradient(f, sol.ys[0], sol.ts, loss=sol.ys, method="reversible",
                        solver="reversible:dopri5", steps=100)
    f.params -= 0.1 * g.grad_params          # params is a writable view of theta

Arrays are float64 or float32; states are (state_dim,) or (state_dim, batch).
PyTorch: ``import revode.torch`` (needs torch; docs/torch.md) for a torchdiffeq-style odeint.
"""

from ._core import (
    Adam,
    CDE,
    Dataset,
    Error,
    Field,
    DeqTape,
    Gradient,
    GradientTape,
    MLP,
    PythonField,
    Solution,
    SolveError,
    TrainResult,
    __version__,
    activations,
    cde_field,
    check_vjp,
    clip_global_norm,
    dataset,
    datasets,
    field,
    fields,
    gradient,
    methods,
    solve,
    solvers,
    standard_normal,
    train,
)

__all__ = [
    "Adam",
    "CDE",
    "Dataset",
    "Error",
    "Field",
    "DeqTape",
    "Gradient",
    "GradientTape",
    "MLP",
    "PythonField",
    "Solution",
    "SolveError",
    "TrainResult",
    "__version__",
    "activations",
    "cde_field",
    "check_vjp",
    "clip_global_norm",
    "dataset",
    "datasets",
    "field",
    "fields",
    "gradient",
    "methods",
    "solve",
    "solvers",
    "standard_normal",
    "train",
]

# ---- SDEs (docs/sde.md) ------------------------------------------------------------------------
from ._core import SdeField, sde_field  # noqa: E402


def sde_solve(drift, y0, ts, diffusion, noise="diagonal", brownian_seed=0,
              diffusion_params=None, solver="reversible-heun", **kwargs):
    """Integrates dy = f(t, y) dt + g(t, y) o dW and returns a Solution (ts, ys, stats).

    drift: a revode.Field (f); diffusion, noise, brownian_seed, diffusion_params: as for
    revode.sde_field. solver: an explicit tableau ("euler" is Euler-Maruyama, Ito; "heun",
    "midpoint", ... are Stratonovich), "reversible:<tableau>" (McCallum-Foster),
    "reversible-heun" (the default) or "shark" (ShARK: additive noise only, strong order 1.5,
    over a Brownian tree with space-time Levy area). Fixed steps (steps= or dt=) or adaptive
    ones (rtol=/atol=, for heun, midpoint, ralston2, reversible-heun, reversible:<one of
    those> and shark). Every other keyword is as for revode.solve; params= there means the whole
    [drift params; diffusion params].
    """
    return solve(sde_field(drift, diffusion, noise, brownian_seed, diffusion_params), y0, ts,
                 solver=solver, **kwargs)


def sde_gradient(drift, y0, ts, diffusion, noise="diagonal", brownian_seed=0,
                 diffusion_params=None, loss="mse-zero", method="backprop",
                 solver="reversible-heun", **kwargs):
    """The loss of an SDE solve and its exact gradient for one Brownian sample: a Gradient
    whose grad_params is d loss / d[drift params; diffusion params].

    method: backprop, anode, checkpoint:C, or reversible (for the reversible solvers). Every
    other argument is as for revode.sde_solve and revode.gradient.
    """
    return gradient(sde_field(drift, diffusion, noise, brownian_seed, diffusion_params), y0, ts,
                    loss=loss, method=method, solver=solver, **kwargs)


__all__ += ["SdeField", "sde_field", "sde_solve", "sde_gradient"]
