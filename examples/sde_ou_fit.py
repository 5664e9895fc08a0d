"""Fit a neural SDE to sample paths of an Ornstein–Uhlenbeck process; compare solvers/methods.

Run from the repository root after building (PYTHONPATH=build/python):

    PYTHONPATH=build/python /usr/bin/python3 examples/sde_ou_fit.py [--quick]
        [--steps 100,1000,10000] [--iterations 20] [--out-dir docs/sde]

Data: 4096 sample paths of the 8-dimensional Ornstein–Uhlenbeck process
dy_i = κ_i (μ_i − y_i) dt + σ_i dW_i, y(0) = −1, κ from 1 to 3, μ from 0.5 to 1.5, σ from 0.3 to
0.6 over the components, on [0, 1], drawn exactly (the OU transition is Gaussian) at 11 times.
Model: dy = f(y) dt + g(y) ∘ dW (Stratonovich, diagonal noise) with f an MLP 8 → 32 → 32 → 8
and g an MLP 8 → 16 → 8 (tanh), θ = [θ_f; θ_g], 1,608 + 280 parameters, g's initial θ halved.
Loss: per component, the squared errors of the batch's mean, variance and lag-one covariance
Cov(y(t_k), y(t_{k+1})) against the data's, summed over the save times: a moment fit to the
sample paths (no latent SDE or GAN). It couples consecutive saves, so each gradient runs as a
GradientTape (forward, the cotangents of all saves, backward). 64 model paths per iteration
with a fresh Brownian seed each (the same seeds for every run); Adam, lr 0.01.

Every (steps, solver, method) runs in a fresh process (its own peak RSS, examples/peak_rss.py,
measured from after set-up to the end of training), from the same initial θ. Reported: the
loss on 2048 paths of an unseen seed after training, seconds per iteration (median),
revode's stored floats (the method's memory), peak RSS and what the reversible guard
repaired. Writes sde-fit.csv, sde-fit-table.md and sde-fit.png to --out-dir (docs/sde.md).
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peak_rss  # noqa: E402

CASES = [("midpoint", "backprop"), ("midpoint", "checkpoint:8"),
         ("reversible-heun", "reversible"), ("reversible:midpoint", "reversible")]
TS = np.linspace(0.0, 1.0, 11)
Y0 = -1.0


def ou_parameters(dim):
    """dy_i = κ_i (μ_i − y_i) dt + σ_i dW_i, y_i(0) = −1: rates, means and noise per component."""
    return np.linspace(1.0, 3.0, dim), np.linspace(0.5, 1.5, dim), np.linspace(0.3, 0.6, dim)


def data_moments(dim, paths=4096, seed=0):
    """Mean, variance and lag-one covariance per component of exactly simulated OU paths at TS
    (the OU transition is Gaussian): (K, dim), (K, dim), (K − 1, dim)."""
    kappa, mu, sigma = ou_parameters(dim)
    rng = np.random.default_rng(seed)
    y = np.full((paths, dim), Y0)
    ys = [y]
    for dt in np.diff(TS):
        decay = np.exp(-kappa * dt)
        sd = sigma * np.sqrt((1 - decay**2) / (2 * kappa))
        y = mu + (y - mu) * decay + sd * rng.standard_normal((paths, dim))
        ys.append(y)
    ys = np.array(ys)  # (K, paths, dim)
    mean = ys.mean(axis=1)
    c = ys - mean[:, None]
    return mean, (c * c).mean(axis=1), (c[:-1] * c[1:]).mean(axis=1)


def path_loss(ys, moments):
    """Σ_k (mean_k − m_k)² + (var_k − v_k)² + Σ_k (cov(y_k, y_{k+1}) − c_k)² over the batch, and
    its cotangents. ys: the saves as GradientTape returns them, (K, B, dim)."""
    mean, var, lag = moments
    b = ys.shape[1]
    m = ys.mean(axis=1)  # (K, dim)
    c = ys - m[:, None]
    dm = m - mean
    dv = (c * c).mean(axis=1) - var
    dl = (c[:-1] * c[1:]).mean(axis=1) - lag
    grad = 2 * dm[:, None] / b + 4 * dv[:, None] * c / b
    # ∂ cov(y_k, y_{k+1}) / ∂ y_k = c_{k+1} / b (the centring's terms sum to zero).
    grad[:-1] += 2 * dl[:, None] * c[1:] / b
    grad[1:] += 2 * dl[:, None] * c[:-1] / b
    loss = float((dm * dm).sum() + (dv * dv).sum() + (dl * dl).sum())
    return loss, grad


def run_one(a):
    """One (steps, solver, method) training run in this process; prints a JSON line."""
    import revode

    d = a.dim
    moments = data_moments(d)
    drift = revode.MLP([d, a.width, a.width, d], seed=0)
    spec = f"mlp:{d},{a.diffusion_width},{d}"
    theta = revode.sde_field(drift, spec, "diagonal").params.copy()
    # g starts small (paths near the drift's) but not zero: scale the diffusion's last layer.
    n_f = drift.param_count
    theta[n_f:] *= 0.5
    adam = revode.Adam(theta.size)
    batch = a.batch
    y0 = np.full((d, batch), Y0)
    seconds, losses = [], []
    stored = repairs = 0
    base = peak_rss.start_peak_window()
    for it in range(a.iterations):
        start = time.perf_counter()
        sde = revode.sde_field(drift, spec, "diagonal", brownian_seed=it)
        # The loss couples consecutive saves (the lag covariance), so the gradient runs as a
        # tape: forward, the cotangents of all saves at once, backward.
        tape = revode._core.GradientTape(sde, y0, TS, a.method, solver=a.solver, steps=a.steps,
                                         params=theta)
        loss, cotangents = path_loss(tape.forward(), moments)
        grad_params, _ = tape.backward(cotangents)
        stored = max(stored, tape.stats["stored_floats"])
        repairs += bool(tape.stats.get("guard", {}).get("repaired", False))
        adam.step(a.lr, theta, grad_params)
        seconds.append(time.perf_counter() - start)
        losses.append(loss)
    peak = peak_rss.peak_since()
    test = revode._core.GradientTape(revode.sde_field(drift, spec, "diagonal", brownian_seed=10**6),
                                     np.full((d, 2048), Y0), TS, a.method, solver=a.solver,
                                     steps=a.steps, params=theta)
    final = path_loss(test.forward(keep_record=False), moments)[0]
    print(json.dumps({"steps": a.steps, "solver": a.solver, "method": a.method,
                      "params": int(theta.size), "iterations": a.iterations,
                      "train_losses": losses, "test_loss": final,
                      "seconds_per_iteration": float(np.median(seconds)),
                      "stored_floats": int(stored), "peak_rss_mib": peak,
                      "setup_rss_mib": base, "peak_above_setup_mib": peak - base,
                      "guard_repairs": int(repairs)}))


def in_subprocess(a, steps, solver, method, iterations):
    args = [sys.executable, __file__, "--run", "--steps", str(steps), "--solver", solver,
            "--method", method, "--iterations", str(iterations), "--width", str(a.width), "--dim", str(a.dim),
            "--diffusion-width", str(a.diffusion_width), "--batch", str(a.batch), "--lr", str(a.lr)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=a.timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{steps} {solver} {method} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_results(a, rows):
    os.makedirs(a.out_dir, exist_ok=True)
    keys = ["steps", "solver", "method", "iterations", "test_loss", "seconds_per_iteration",
            "stored_floats", "peak_rss_mib", "peak_above_setup_mib", "guard_repairs"]
    with open(os.path.join(a.out_dir, "sde-fit.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in rows:
            w.writerow([r[k] if not isinstance(r[k], float) else f"{r[k]:.6g}" for k in keys])
    lines = ["| steps | solver | method | iterations | test loss | s / iteration | stored floats | "
             "peak RSS (MiB) | above set-up (MiB) | guard repairs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['steps']:,} | {r['solver']} | {r['method']} | {r['iterations']} | "
                     f"{r['test_loss']:.4e} | {r['seconds_per_iteration']:.3g} | {r['stored_floats']:,} | "
                     f"{r['peak_rss_mib']:.0f} | {r['peak_above_setup_mib']:.0f} | {r['guard_repairs']} |")
    with open(os.path.join(a.out_dir, "sde-fit-table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for (solver, method), style in zip(CASES, ["-o", "--s", "-.^", ":v"]):
        mine = [r for r in rows if r["solver"] == solver and r["method"] == method]
        label = f"{solver}, {method}"
        if not mine:
            continue
        steps = [r["steps"] for r in mine]
        axes[0].plot(steps, [r["peak_above_setup_mib"] for r in mine], style, label=label)
        axes[1].plot(steps, [r["seconds_per_iteration"] for r in mine], style, label=label)
        axes[2].plot(steps, [r["test_loss"] for r in mine], style, label=label)
    axes[0].set(xscale="log", yscale="log", xlabel="steps", ylabel="peak RSS above set-up (MiB)",
                title="memory")
    axes[1].set(xscale="log", yscale="log", xlabel="steps", ylabel="s / iteration", title="time")
    iterations = sorted({(r["steps"], r["iterations"]) for r in rows})
    axes[2].set(xscale="log", yscale="log", xlabel="steps", ylabel="test loss",
                title="test loss\n(iterations: " + ", ".join(f"{n} at {s:,}" for s, n in iterations) + ")")
    axes[0].legend(fontsize=8)
    fig.suptitle("neural SDE fitted to Ornstein–Uhlenbeck paths")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "sde-fit.png"), dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 100 steps, 3 iterations, a small model (a few seconds)")
    p.add_argument("--steps", default="100,1000,10000")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--iterations-at", default="",
                   help="fewer iterations for long runs, as STEPS:N,... (e.g. 10000:5)")
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--diffusion-width", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--out-dir", default="docs/sde")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--skip", default="", help="STEPS:SOLVER:METHOD,... runs to leave out")
    p.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--solver", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--from-rows", help="write the table and plot from an earlier run's rows (JSONL)")
    a = p.parse_args()
    if a.from_rows:
        with open(a.from_rows) as f:
            return write_results(a, [json.loads(line) for line in f if line.strip()])
    if a.run:
        a.steps = int(a.steps)
        return run_one(a)
    if a.quick:
        a.dim, a.width, a.diffusion_width, a.batch = 2, 16, 8, 32
        steps, iterations = [100], {100: 3}
    else:
        steps = [int(s) for s in a.steps.split(",")]
        iterations = {s: a.iterations for s in steps}
        for item in filter(None, a.iterations_at.split(",")):
            s, n = item.split(":")
            iterations[int(s)] = int(n)
    skip = set(filter(None, a.skip.split(",")))
    rows = []
    # Each row is kept as soon as it is measured (a long run cut short keeps what it has).
    rows_path = None if a.quick else os.path.join(a.out_dir, "sde-fit-rows.jsonl")
    if rows_path:
        os.makedirs(a.out_dir, exist_ok=True)
        open(rows_path, "w").close()
    for s in steps:
        for solver, method in CASES:
            if f"{s}:{solver}:{method}" in skip:
                print(f"skipped {s} {solver} {method}", flush=True)
                continue
            r = in_subprocess(a, s, solver, method, iterations[s])
            rows.append(r)
            if rows_path:
                with open(rows_path, "a") as f:
                    f.write(json.dumps(r) + "\n")
            print(f"{s:6d} {solver:20s} {method:13s} test loss {r['test_loss']:.3e}  "
                  f"{r['seconds_per_iteration']:.3f} s/it  stored {r['stored_floats']:,}  "
                  f"peak {r['peak_rss_mib']:.0f} MiB (+{r['peak_above_setup_mib']:.0f})  "
                  f"repairs {r['guard_repairs']}", flush=True)
    if a.quick:
        for r in rows:
            assert np.isfinite(r["test_loss"]) and all(np.isfinite(r["train_losses"])), r
        # backprop and checkpointing compute the same gradient of the same discretisation.
        same = [r["train_losses"] for r in rows if r["solver"] == "midpoint"]
        assert np.allclose(same[0], same[1], rtol=1e-10, atol=0), same
        print("quick run ok")
        return
    write_results(a, rows)


if __name__ == "__main__":
    main()
