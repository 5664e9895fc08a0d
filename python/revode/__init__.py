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
