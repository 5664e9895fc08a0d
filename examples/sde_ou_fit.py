"""Fit a neural SDE to the marginals of an Ornstein–Uhlenbeck process; compare solvers/methods.

Run from the repository root after building (PYTHONPATH=build/python):

    PYTHONPATH=build/python /usr/bin/python3 examples/sde_ou_fit.py [--quick] [--steps 100,1000]

Target: dy = 2 (1 − y) dt + 0.5 dW, y(0) = 0 on [0, 1], whose mean and variance at time t are
1 − e^{−2t} and 0.0625 (1 − e^{−4t}). Model: dy = MLP(y) dt + σ dW (MLP 1 → 16 tanh → 1,
additive noise, σ learnt, starting at 0.2). Loss: squared errors of the batch mean and
variance at 10 save times, over 128 Brownian paths, a fresh Brownian seed every iteration;
Adam, lr 0.02. Each (solver, method) starts from the same parameters and sees the same seeds.
Reported: final loss on 1024 paths of an unseen seed, seconds per iteration, and the stored
floats of a gradient (the largest over the iterations: the method's memory, from revode's
stats) and how many iterations the reversible guard repaired. docs/sde.md.
"""

import argparse
import time

import numpy as np

import revode

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="20 iterations, 100 steps only")
parser.add_argument("--iterations", type=int, default=150)
parser.add_argument("--steps", default="100,1000")
args = parser.parse_args()
iterations = 20 if args.quick else args.iterations
step_counts = [100] if args.quick else [int(s) for s in args.steps.split(",")]

ts = np.linspace(0.0, 1.0, 11)
target_mean = 1.0 - np.exp(-2.0 * ts)
target_var = 0.0625 * (1.0 - np.exp(-4.0 * ts))


def moment_loss(k, t, y):
    """(mean − m_k)² + (var − v_k)² over the batch, and its derivative in y (1, B)."""
    b = y.shape[1]
    mean = y.mean()
    var = ((y - mean) ** 2).mean()
    dm, dv = mean - target_mean[k], var - target_var[k]
    grad = 2 * dm / b + 2 * dv * 2 * (y - mean) / b
    return dm * dm + dv * dv, grad


drift = revode.MLP([1, 16, 1], seed=0)
spec = "const:0.2"
cases = [("midpoint", "backprop"), ("midpoint", "checkpoint:8"),
         ("reversible-heun", "reversible"), ("reversible:midpoint", "reversible")]

print("| steps | solver | method | final loss | σ | s / iteration | stored floats | guard repairs |")
print("|---|---|---|---|---|---|---|---|")
for steps in step_counts:
    for solver, method in cases:
        theta = revode.sde_field(drift, spec, "additive").params.copy()
        adam = revode.Adam(theta.size)
        start = time.perf_counter()
        stored = repairs = 0
        for it in range(iterations):
            sde = revode.sde_field(drift, spec, "additive", brownian_seed=it)
            g = revode.gradient(sde, np.zeros((1, 128)), ts, loss=moment_loss, method=method,
                                solver=solver, steps=steps, params=theta)
            stored = max(stored, g.stats["stored_floats"])
            repairs += bool(g.stats.get("guard", {}).get("repaired", False))
            adam.step(0.02, theta, g.grad_params)
        seconds = (time.perf_counter() - start) / iterations
        test = revode.sde_field(drift, spec, "additive", brownian_seed=10**6)
        final = revode.gradient(test, np.zeros((1, 1024)), ts, loss=moment_loss,
                                solver=solver, steps=steps, params=theta).loss
        print(f"| {steps} | {solver} | {method} | {final:.2e} | {abs(theta[-1]):.3f} | "
              f"{seconds:.3f} | {stored:,} | {repairs} |")
