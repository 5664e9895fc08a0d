"""revode.torch: exactness of revode.torch.odeint's gradients against torch autograd through
the same discrete solver written in plain torch here, the fast path against the generic one,
and every bad input (docs/torch.md)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import revode  # noqa: E402
import revode.torch as rt  # noqa: E402



@pytest.fixture(autouse=True, scope="module")
def float64_default():
    """The tests build float64 modules and tensors; the default is restored for other files."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# ---- the reference: the same discrete solvers in plain torch, differentiated by autograd ----

def midpoint_step(f, t0, t1, y):
    h = t1 - t0
    return y + h * f(t0 + 0.5 * h, y + (0.5 * h) * f(t0, y))


def rk4_step(f, t0, t1, y):
    h = t1 - t0
    k1 = f(t0, y)
    k2 = f(t0 + 0.5 * h, y + (0.5 * h) * k1)
    k3 = f(t0 + 0.5 * h, y + (0.5 * h) * k2)
    k4 = f(t1, y + h * k3)
    return y + h * (k1 / 6 + k2 / 3 + k3 / 3 + k4 / 6)


DOPRI5_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
DOPRI5_B = [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0]
DOPRI5_C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1]


def dopri5_step(f, t0, t1, y):
    h = t1 - t0
    ks = []
    for i in range(7):
        yi = y
        for j, a in enumerate(DOPRI5_A[i]):
            if a != 0:
                yi = yi + (h * a) * ks[j]
        ti = t1 if DOPRI5_C[i] == 1 else t0 + DOPRI5_C[i] * h
        ks.append(f(ti, yi))
    out = y
    for b, k in zip(DOPRI5_B, ks):
        if b != 0:
            out = out + (h * b) * k
    return out


def mcallum_foster(base, coupling):
    """McCallum–Foster over `base` on the pair (Y, Z) (ALGORITHMS.md §4); Y is the output."""

    def init(f, t0, y0):
        return (y0, y0)

    def step(f, t0, t1, x):
        y, z = x
        y1 = coupling * (y - z) + base(f, t0, t1, z)
        z1 = z + (y1 - base(f, t1, t0, y1))
        return (y1, z1)

    return init, step, lambda x: x[0]


def alf():
    """Asynchronous leapfrog with η = 1 on (z, v), v0 = f(t0, z0)."""

    def init(f, t0, y0):
        return (y0, f(t0, y0))

    def step(f, t0, t1, x):
        z, v = x
        h = t1 - t0
        k = z + (0.5 * h) * v
        u = f(t0 + 0.5 * h, k)
        v1 = v + 2.0 * (u - v)
        return (k + (0.5 * h) * v1, v1)

    return init, step, lambda x: x[0]


def reversible_heun():
    """Reversible Heun on (y, ŷ, f̂), f̂0 = f(t0, y0) (Kidger et al. 2021; ALGORITHMS.md §4)."""

    def init(f, t0, y0):
        return (y0, y0, f(t0, y0))

    def step(f, t0, t1, x):
        y, y_hat, f_hat = x
        h = t1 - t0
        y_hat1 = 2.0 * y - y_hat + h * f_hat
        f_hat1 = f(t1, y_hat1)
        return (y + (h / 2.0) * (f_hat + f_hat1), y_hat1, f_hat1)

    return init, step, lambda x: x[0]


def plain(step):
    return (lambda f, t0, y0: y0), step, (lambda x: x)


REFERENCE = {
    "midpoint": plain(midpoint_step),
    "rk4": plain(rk4_step),
    "dopri5": plain(dopri5_step),
    "reversible:midpoint": mcallum_foster(midpoint_step, 0.999),
    "alf": alf(),
    "reversible-heun": reversible_heun(),
}


def reference_solve(solver, func, y0, step_times, save_times):
    """The saves of the discrete solve along revode's own step times (replayed)."""
    init, step, out = REFERENCE[solver]
    x = init(func, float(step_times[0]), y0)
    ys = [out(x)]
    saves = iter(save_times[1:])
    target = next(saves, None)
    for t0, t1 in zip(step_times[:-1], step_times[1:]):
        x = step(func, float(t0), float(t1), x)
        if target is not None and t1 == target:
            ys.append(out(x))
            target = next(saves, None)
    assert len(ys) == len(save_times), "the replay did not land on every save time"
    return torch.stack(ys)


# ---- fields ----

class MlpField(nn.Module):
    """A non-autonomous MLP (the generic path: not a SequentialField)."""

    def __init__(self, dim=3, hidden=8):
        super().__init__()
        self.l1 = nn.Linear(dim, hidden)
        self.l2 = nn.Linear(hidden, dim)

    def forward(self, t, y):
        return self.l2(torch.tanh(self.l1(y))) * (1 + 0.1 * math.sin(float(t)))


class ConvField(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, t, y):
        return self.conv2(torch.tanh(self.conv1(y))) * 0.5


class PairField(nn.Module):
    """A tuple state (a (2,), b (3, 2)) with coupled derivatives."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 6) * 0.3)
        self.m = nn.Parameter(torch.randn(3, 3) * 0.3)

    def forward(self, t, state):
        a, b = state
        da = torch.tanh(self.w @ b.reshape(-1)) - 0.1 * a
        db = torch.tanh(self.m @ b) + a.sum() * 0.05
        return da, db


def make_case(kind, seed=0):
    torch.manual_seed(seed)
    if kind == "mlp":
        return MlpField(), torch.randn(2, 3)
    if kind == "conv":
        return ConvField(), torch.randn(1, 4, 6, 6) * 0.5
    return PairField(), (torch.randn(2), torch.randn(3, 2))


def as_tuple(y):
    return y if isinstance(y, tuple) else (y,)


def loss_of(ys, weights):
    return sum((w * y).sum() for w, y in zip(weights, as_tuple(ys)))


def grads_of(kind, solver, gradient, options, rtol=1e-7, atol=1e-9, use_revode=True, step_times=None):
    func, y0 = make_case(kind)
    y0 = tuple(y.clone().requires_grad_(True) for y in as_tuple(y0))
    state = y0 if isinstance(make_case(kind)[1], tuple) else y0[0]
    t = torch.linspace(0.0, 1.0, 5)
    torch.manual_seed(99)
    if use_revode:
        ys = rt.odeint(func, state, t, method=solver, gradient=gradient, options=options, rtol=rtol, atol=atol)
        step_times = rt.last_call()["step_times"]
    else:
        f = func if not isinstance(state, tuple) else func
        if isinstance(state, tuple):
            sizes = [y.numel() for y in state]
            shapes = [y.shape for y in state]

            def flat_f(tt, yflat):
                parts = tuple(p.reshape(s) for p, s in zip(torch.split(yflat, sizes), shapes))
                return torch.cat([o.reshape(-1) for o in func(tt, parts)])

            flat = reference_solve(solver, flat_f, torch.cat([y.reshape(-1) for y in state]), step_times, t.tolist())
            ys = tuple(p.reshape(len(t), *s) for p, s in zip(torch.split(flat, sizes, dim=1), shapes))
        else:
            ys = reference_solve(solver, f, state, step_times, t.tolist())
    weights = [torch.randn(y.shape) for y in as_tuple(ys)]
    loss = loss_of(ys, weights)
    loss.backward()
    grads = [p.grad.clone() for p in func.parameters()] + [y.grad.clone() for y in y0]
    return loss.item(), grads, step_times


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


SOLVERS = [
    ("midpoint", {"steps": 8}, ["backprop", "anode", "checkpoint:3", "symplectic"]),
    ("rk4", {"steps": 4}, ["backprop", "anode", "checkpoint:2", "symplectic"]),
    ("dopri5", {}, ["backprop", "anode", "checkpoint:3", "symplectic"]),
    ("reversible:midpoint", {"steps": 8}, ["reversible", "backprop", "checkpoint:3"]),
    ("alf", {"steps": 8}, ["reversible", "backprop", "anode"]),
    ("reversible-heun", {"steps": 8}, ["reversible", "checkpoint:3"]),
]


@pytest.mark.parametrize("kind", ["mlp", "conv", "pair"])
@pytest.mark.parametrize("solver,options,methods", SOLVERS, ids=[s[0] for s in SOLVERS])
def test_gradients_equal_autograd_through_the_same_solver(kind, solver, options, methods):
    for gradient in methods:
        loss, grads, step_times = grads_of(kind, solver, gradient, options)
        ref_loss, ref_grads, _ = grads_of(kind, solver, gradient, options, use_revode=False, step_times=step_times)
        assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss), (gradient, loss, ref_loss)
        for i, (g, r) in enumerate(zip(grads, ref_grads)):
            assert rel(g, r) <= 1e-10, (gradient, i, rel(g, r))


REUSE_CASES = [("rk4", "anode"), ("rk4", "checkpoint:2"), ("rk4", "symplectic"), ("rk4", "adjoint"),
               ("reversible:rk4", "reversible"), ("dopri5", "checkpoint:3")]


@pytest.mark.parametrize("solver,gradient", REUSE_CASES)
def test_graph_reuse_saves_the_vjp_forwards_and_changes_nothing(solver, gradient):
    """The backward pass differentiates the graphs of its own evaluations (_GraphCache): the
    gradients are those of re-running func in each VJP, bit for bit, with fewer func calls."""
    options = None if solver == "dopri5" else {"steps": 4}
    results = []
    for reuse in (False, True):
        func, y0 = make_case("conv")
        calls = []
        func.register_forward_hook(lambda *args: calls.append(1))
        y0.requires_grad_(True)
        ys = rt.odeint(func, y0, torch.linspace(0.0, 1.0, 3), method=solver, gradient=gradient,
                       options={**(options or {}), "graph_reuse": reuse})
        forward_calls = len(calls)
        tape = rt.last_call()["tape"]
        (ys * torch.linspace(-1.0, 1.0, ys.numel()).reshape(ys.shape)).sum().backward()
        stats = tape.stats
        grads = [p.grad.clone() for p in func.parameters()] + [y0.grad.clone()]
        results.append((grads, len(calls) - forward_calls, stats))
    (off, off_calls, off_stats), (on, on_calls, on_stats) = results
    for a, b in zip(off, on):
        assert torch.equal(a, b)
    # Without reuse each VJP runs func once more; with it, (almost) every VJP hits the graph of
    # the evaluation just taken at its point (misses only where no evaluation precedes a VJP).
    assert on_calls <= off_calls - 0.7 * off_stats["nvjp"], (on_calls, off_calls, off_stats)


def test_the_check_can_fail():
    """The comparison sees a one-step difference in the solver (so it is not vacuous)."""
    _, grads, step_times = grads_of("mlp", "midpoint", "backprop", {"steps": 8})
    _, wrong, _ = grads_of("mlp", "rk4", "backprop", {}, use_revode=False, step_times=step_times)
    assert any(rel(g, r) > 1e-6 for g, r in zip(grads, wrong))


def test_adjoint_approaches_the_exact_gradient():
    _, exact, _ = grads_of("mlp", "dopri5", "backprop", {}, rtol=1e-10, atol=1e-12)
    _, adj, _ = grads_of("mlp", "dopri5", "adjoint", {}, rtol=1e-10, atol=1e-12)
    assert all(rel(a, e) <= 1e-6 for a, e in zip(adj, exact))
    func, y0 = make_case("mlp")
    y0.requires_grad_(True)
    ys = rt.odeint_adjoint(func, y0, torch.linspace(0, 1, 3), rtol=1e-9, atol=1e-11, adjoint_rtol=1e-9)
    ys.sum().backward()
    assert y0.grad is not None and all(p.grad is not None for p in func.parameters())


def test_decreasing_times_match_the_reference():
    func, y0 = make_case("mlp")
    y0.requires_grad_(True)
    t = torch.linspace(1.0, 0.0, 3)
    ys = rt.odeint(func, y0, t, method="rk4", options={"steps": 4})
    st = rt.last_call()["step_times"]
    ys.pow(2).sum().backward()
    g = [p.grad.clone() for p in func.parameters()] + [y0.grad.clone()]
    func.zero_grad()
    y0.grad = None
    ref = reference_solve("rk4", func, y0, st, t.tolist())
    assert rel(ys.detach(), ref.detach()) <= 1e-13
    ref.pow(2).sum().backward()
    for a, b in zip(g, [p.grad for p in func.parameters()] + [y0.grad]):
        assert rel(a, b) <= 1e-10


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_float32_solution_and_gradients_are_close_to_float64(kind):
    results = []
    for dtype in (torch.float64, torch.float32):
        func, y0 = make_case(kind)
        func = func.to(dtype)
        y0 = y0.to(dtype).requires_grad_(True)
        ys = rt.odeint(func, y0, torch.linspace(0, 1, 3), method="reversible:midpoint", options={"steps": 4})
        assert ys.dtype == dtype
        ys.pow(2).sum().backward()
        results.append([ys.detach().double()] + [p.grad.double() for p in func.parameters()] + [y0.grad.double()])
    for a, b in zip(*results):
        assert rel(b, a) <= 1e-4


# ---- the fast path ----

def sequential(time_input=False, act=nn.Tanh):
    torch.manual_seed(3)
    return rt.SequentialField(nn.Sequential(nn.Linear(3 + int(time_input), 16), act(), nn.Linear(16, 16), act(), nn.Linear(16, 3)), time_input=time_input)


@pytest.mark.parametrize("time_input", [False, True])
@pytest.mark.parametrize("act", [nn.Tanh, nn.Sigmoid, nn.SiLU, nn.ReLU])
@pytest.mark.parametrize("solver,options,gradient", [("midpoint", {"steps": 10}, "backprop"), ("dopri5", {}, "checkpoint:3"), ("reversible:rk4", {"steps": 6}, "reversible")])
def test_fast_path_equals_the_generic_path(time_input, act, solver, options, gradient):
    results = []
    for native in (True, False):
        func = sequential(time_input, act)
        torch.manual_seed(5)
        y0 = torch.randn(4, 3, requires_grad=True)
        ys = rt.odeint(func, y0, torch.linspace(0, 1, 4), method=solver, gradient=gradient, options=dict(options, native=native))
        torch.manual_seed(6)
        (ys * torch.randn(ys.shape)).sum().backward()
        results.append((ys.detach(), [p.grad.clone() for p in func.parameters()] + [y0.grad.clone()]))
    (ys_fast, g_fast), (ys_slow, g_slow) = results
    assert rel(ys_fast, ys_slow) <= 1e-12
    for a, b in zip(g_fast, g_slow):
        assert rel(a, b) <= 1e-12


def test_fast_path_never_calls_the_module():
    func = sequential()
    calls = []
    func.net.register_forward_hook(lambda *args: calls.append(1))
    y0 = torch.randn(8, 3, requires_grad=True)
    ys = rt.odeint(func, y0, torch.linspace(0, 1, 3), method="rk4", options={"steps": 5})
    ys.sum().backward()
    assert ys.shape == (3, 8, 3) and not calls
    assert rt.last_call()["native"]
    assert all(p.grad is not None for p in func.parameters())
    rt.odeint(func, y0, torch.linspace(0, 1, 3), method="rk4", options={"steps": 5, "native": False})
    assert calls  # the flag turns the fast path off


# ---- torch conventions ----

def test_training_step_with_an_optimizer():
    func, y0 = make_case("mlp")
    opt = torch.optim.SGD(func.parameters(), lr=0.1)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = rt.odeint(func, y0, torch.linspace(0, 1, 3), method="reversible:midpoint", options={"steps": 4}).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[2] < losses[0]


def test_no_grad_keeps_no_tape():
    func, y0 = make_case("mlp")
    y0.requires_grad_(True)
    with torch.no_grad():
        ys = rt.odeint(func, y0, torch.linspace(0, 1, 3), method="rk4", options={"steps": 4})
    assert not ys.requires_grad
    assert rt.last_call()["tape"] is None  # nothing holds the solve
    ys = rt.odeint(func, y0, torch.linspace(0, 1, 3), method="rk4", options={"steps": 4})
    tape = rt.last_call()["tape"]
    assert tape is not None  # the autograd graph holds it until backward or until ys goes
    del tape, ys
    assert rt.last_call()["tape"] is None
    # Without a record, the tape's backward is a clear error.
    t = revode._core.GradientTape(revode.MLP([2, 4, 2]), np.ones((2, 1)), np.linspace(0, 1, 3), "backprop", solver="rk4", steps=2)
    t.forward(keep_record=False)
    with pytest.raises(revode.Error, match="no forward record"):
        t.backward(np.zeros((3, 1, 2)))


def test_second_backward_is_refused():
    func, y0 = make_case("mlp")
    y0.requires_grad_(True)
    ys = rt.odeint(func, y0, torch.linspace(0, 1, 3), method="rk4", options={"steps": 4})
    loss = ys.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already ran"):
        loss.backward()


def test_parameters_changed_before_backward_are_refused():
    func, y0 = make_case("mlp")
    ys = rt.odeint(func, y0, torch.linspace(0, 1, 3), method="rk4", options={"steps": 2})
    with torch.no_grad():
        func.l1.weight.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        ys.sum().backward()


def test_import_revode_without_torch_works():
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; import revode; print(revode.solvers()[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=None)
    assert out.returncode == 0, out.stderr


# ---- bad input ----

def expect_error(exc, match, func=None, y0=None, t=None, **kw):
    f0, y00 = make_case("mlp")
    with pytest.raises(exc, match=match):
        rt.odeint(func or f0, y00 if y0 is None else y0, torch.linspace(0, 1, 3) if t is None else t, **kw)


def test_t_requires_grad_is_refused():
    expect_error(ValueError, "does not differentiate the save times", t=torch.linspace(0, 1, 3).requires_grad_(True))


def test_non_monotone_t_is_refused():
    expect_error(ValueError, "strictly increasing or strictly decreasing", t=torch.tensor([0.0, 0.5, 0.2]))


def test_unknown_names_are_refused():
    expect_error(revode.Error, "nosuchsolver", method="nosuchsolver")
    expect_error(revode.Error, "nosuchmethod", gradient="nosuchmethod")
    expect_error(ValueError, "unknown option", options={"bogus": 1})
    expect_error(revode.Error, "reversible", method="rk4", gradient="reversible")


def test_wrong_shape_dtype_and_nan_from_func():
    expect_error(ValueError, "has shape", func=lambda t, y: y[:, :2], adjoint_params=())
    expect_error(TypeError, "dtype", func=lambda t, y: y.float(), adjoint_params=())
    expect_error(ValueError, "NaN or Inf", func=lambda t, y: y * float("nan"), adjoint_params=())
    expect_error(TypeError, "torch.Tensor", func=lambda t, y: 1.0, adjoint_params=())


def test_exception_inside_func_is_preserved():
    class Boom(Exception):
        pass

    def func(t, y):
        if float(t) > 0.3:
            raise Boom("func exploded")
        return -y

    expect_error(Boom, "func exploded", func=func, method="rk4", options={"steps": 4})
    # ... and inside the backward pass's VJP too.
    calls = {"vjp": False}

    class Late(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(0.5))

        def forward(self, t, y):
            if torch.is_grad_enabled():
                raise Boom("vjp exploded")
            return -self.a * y

    y0 = torch.ones(3, requires_grad=True)
    ys = rt.odeint(Late(), y0, torch.linspace(0, 1, 3), method="rk4", options={"steps": 2})
    with pytest.raises(Boom, match="vjp exploded"):
        ys.sum().backward()
    assert not calls["vjp"]


def test_bad_y0_is_refused():
    expect_error(TypeError, "dtype", y0=torch.ones(3, dtype=torch.int64))
    expect_error(TypeError, "torch.Tensor", y0=[1.0, 2.0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_is_refused():
    expect_error(ValueError, "no GPU backend", y0=torch.ones(2, 3, device="cuda"))


def test_cuda_refusal_message_without_a_device():
    # A meta tensor stands in for a CUDA one where no GPU exists: any non-CPU device is refused.
    expect_error(ValueError, "no GPU backend", y0=torch.ones(2, 3, device="meta"))


# ---- memory and data parallelism ----

MEMORY_SCRIPT = r"""
import resource, sys, torch
from torch import nn
import revode.torch as rt
torch.set_num_threads(1)
solver, gradient, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
# A cheap (depthwise) convolution on a large state: 32 x 32 x 32 doubles = 256 KiB per state.
func = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.Tanh())
field = lambda t, y: func(y) * 0.1
y0 = torch.randn(1, 32, 32, 32, requires_grad=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ys = rt.odeint(field, y0, torch.tensor([0.0, 1.0]), method=solver, gradient=gradient,
               options={"steps": steps}, adjoint_params=tuple(func.parameters()))
ys[-1].pow(2).sum().backward()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0)
"""


def peak_mib(solver, gradient, steps):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, solver, gradient, str(steps)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.split()[-1])


def test_peak_memory_backprop_grows_with_steps_reversible_does_not():
    """Peak RSS (measured in a fresh process each) with a conv field: backprop keeps every
    step's states and stages (~0.75 MiB per midpoint step here), reversible backprop O(1)."""
    backprop = [peak_mib("reversible:midpoint", "backprop", n) for n in (20, 120)]
    reversible = [peak_mib("reversible:midpoint", "reversible", n) for n in (20, 120)]
    assert backprop[1] - backprop[0] > 60, backprop
    assert reversible[1] - reversible[0] < 15, reversible


DISTRIBUTED_SCRIPT = r"""
import os, sys, torch
import torch.distributed as dist
from torch import nn
import revode.torch as rt
rank, world, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
torch.set_default_dtype(torch.float64)
torch.manual_seed(3)
func = rt.SequentialField(nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 3)))
y0 = torch.randn(4, 3)
part = y0.chunk(world)[rank]
ys = rt.odeint(func, part, torch.linspace(0, 1, 4), method="reversible:midpoint", options={"steps": 6})
ys.pow(2).sum().backward()
for p in func.parameters():
    dist.all_reduce(p.grad)
if rank == 0:
    print(" ".join(repr(x) for p in func.parameters() for x in p.grad.reshape(-1).tolist()))
dist.destroy_process_group()
"""


def test_data_parallel_gloo_equals_one_process_on_the_whole_batch():
    import socket
    import subprocess
    import sys

    def run(world):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        procs = [subprocess.Popen([sys.executable, "-c", DISTRIBUTED_SCRIPT, str(r), str(world), port], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(world)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, err
        return np.array([float(x) for x in outs[0][0].split()])

    one, two = run(1), run(2)
    assert np.max(np.abs(one - two)) <= 1e-12 * np.max(np.abs(one))


@pytest.mark.parametrize("method,solver", [("backprop", "midpoint"), ("checkpoint:3", "dopri5"), ("reversible", "reversible:rk4"), ("symplectic", "rk4")])
def test_tape_halves_equal_revode_gradient_with_the_same_calls(method, solver):
    """GradientTape's forward + backward with the cotangents of mse-zero is revode.gradient."""
    f = revode.MLP([3, 8, 3], seed=1)
    y0 = np.random.default_rng(0).normal(size=(3, 4))
    ts = np.linspace(0, 1, 5)
    kw = {"rtol": 1e-6, "atol": 1e-8} if solver == "dopri5" else {"steps": 8}
    ref = revode.gradient(f, y0, ts, method=method, solver=solver, **kw)
    tape = revode._core.GradientTape(f, y0, ts, method, solver=solver, **kw)
    ys = tape.forward()  # (K, batch, dim)
    assert ys.shape == (5, 4, 3)
    np.testing.assert_array_equal(ys[0], y0.T)
    grad_params, grad_y0 = tape.backward(2 * ys / ys.size)
    np.testing.assert_allclose(grad_params, ref.grad_params, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(grad_y0, ref.grad_y0.T, rtol=1e-13, atol=1e-300)
    for key in ("nfe", "nvjp", "steps"):
        assert tape.stats[key] == ref.stats[key], key
    with pytest.raises(revode.Error, match="no forward record"):
        tape.backward(np.zeros_like(ys))
    with pytest.raises(revode.Error, match="already ran"):
        tape.forward()
    fresh = revode._core.GradientTape(f, y0, ts, method, solver=solver, **kw)
    fresh.forward()
    with pytest.raises(ValueError, match="expected \\(5, 4, 3\\)"):
        fresh.backward(np.zeros((5, 3, 4)))


# ---- revode.torch.deq ----

class DeqMap(nn.Module):
    """f(z, x) = tanh(W z + U x + b), contractive in z (small W)."""

    def __init__(self, dim=4, inputs=3):
        super().__init__()
        torch.manual_seed(11)
        self.w = nn.Linear(dim, dim)
        self.u = nn.Linear(inputs, dim, bias=False)
        with torch.no_grad():
            self.w.weight.mul_(0.3)

    def forward(self, z, x):
        return torch.tanh(self.w(z) + self.u(x))


def reference_deq(f, x, solver, beta, n):
    """The same iteration in plain torch, n steps from zero, differentiated by autograd."""
    z = torch.zeros(x.shape[0], 4)
    y = z
    for _ in range(n):
        if solver == "plain":
            z = f(z, x)
        else:
            y = (1 - beta) * y + beta * f(z, x)
            z = (1 - beta) * z + beta * f(y, x)
    return z


@pytest.mark.parametrize("solver,gradient", [("reversible", "reversible"), ("reversible", "backprop"), ("plain", "backprop")])
def test_deq_gradients_equal_autograd_through_the_iteration(solver, gradient):
    f = DeqMap()
    torch.manual_seed(12)
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(5, 4)
    z = rt.deq(f, x, z_shape=(5, 4), solver=solver, gradient=gradient, tol=0.0, max_steps=10)
    n = rt.last_call()["deq_stats"]["iterations"]
    assert n == 10
    (w * z).sum().backward()
    got = [p.grad.clone() for p in f.parameters()] + [x.grad.clone()]
    f.zero_grad()
    x.grad = None
    ref = reference_deq(f, x, solver, 0.5, n)
    assert rel(z.detach(), ref.detach()) <= 1e-13
    (w * ref).sum().backward()
    for a, b in zip(got, [p.grad for p in f.parameters()] + [x.grad]):
        assert rel(a, b) <= 1e-10


def test_deq_backward_stats_report_the_guard():
    f = DeqMap()
    x = torch.randn(5, 3, requires_grad=True)
    rt.deq(f, x, z_shape=(5, 4), tol=0.0, max_steps=10).sum().backward()
    stats = rt.last_call()["deq_backward_stats"]
    assert stats["nvjp"] > 0 and stats["backward_nfe"] > 0
    guard = stats["guard"]
    assert guard["policy"] == "repair" and guard["tolerance"] > 0
    assert 0.0 <= guard["drift"] < guard["tolerance"] and not guard["repaired"]
    rt.deq(f, x, z_shape=(5, 4), tol=0.0, max_steps=10, gradient="backprop").sum().backward()
    assert "guard" not in rt.last_call()["deq_backward_stats"]


def test_deq_implicit_gradient_approaches_the_exact_one():
    f = DeqMap()
    x = torch.randn(5, 3, requires_grad=True)
    grads = {}
    for gradient in ("reversible", "implicit"):
        f.zero_grad()
        z = rt.deq(f, x, z_shape=(5, 4), gradient=gradient, tol=1e-12, max_steps=40)
        z.sum().backward()
        grads[gradient] = [p.grad.clone() for p in f.parameters()]
    assert all(rel(a, b) <= 1e-6 for a, b in zip(grads["implicit"], grads["reversible"]))


def test_deq_bad_input():
    f = DeqMap()
    with pytest.raises(ValueError, match="expected z's"):
        rt.deq(lambda z, x: z[:, :2], torch.randn(5, 3), z_shape=(5, 4), adjoint_params=())
    with pytest.raises(ValueError, match="NaN"):
        rt.deq(lambda z, x: z * float("nan"), torch.randn(5, 3), z_shape=(5, 4), adjoint_params=())
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):  # f's own error
        rt.deq(f, torch.randn(5, 3), z_shape=(5, 3))
    with pytest.raises(revode.Error, match="beta"):
        rt.deq(f, torch.randn(5, 3), z_shape=(5, 4), beta=1.0)
    with pytest.raises(revode.Error, match="nosuch"):
        rt.deq(f, torch.randn(5, 3), z_shape=(5, 4), gradient="nosuch")
    x = torch.randn(5, 3, requires_grad=True)
    z = rt.deq(f, x, z_shape=(5, 4))
    loss = z.sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="already ran"):
        loss.backward()


def test_torchdiffeq_and_revode_options():
    func, y0 = make_case("mlp")
    t = torch.linspace(0, 1, 4)
    y0.requires_grad_(True)
    landing = rt.odeint(func, y0, t, rtol=1e-9, atol=1e-11)
    dense = rt.odeint(func, y0, t, rtol=1e-9, atol=1e-11, options={"dense": True, "first_step": 0.01, "dtype": torch.float64})
    assert rel(dense.detach(), landing.detach()) <= 1e-6
    dense.sum().backward()
    assert y0.grad is not None
    fixed = rt.odeint(func, y0, t, method="rk4", options={"step_size": 0.05})
    assert len(rt.last_call()["step_times"]) == 23  # 20 steps of 0.05, split at 1/3 and 2/3
    assert rel(fixed.detach(), landing.detach()) <= 1e-5
    with pytest.raises(revode.SolveError, match="max"):
        rt.odeint(func, y0, t, rtol=1e-12, atol=1e-14, options={"max_num_steps": 2})
    with pytest.raises(ValueError, match="adaptive steps only"):
        rt.odeint(func, y0, t, method="rk4", options={"first_step": 0.1})


def test_reversible_guard_repairs_refuses_or_flags_a_drifting_walk():
    # Damped ALF (eta = 0.7) over 300 steps: the inverse amplifies round-off fivefold a step.
    func, y0 = make_case("mlp")
    t = torch.linspace(0.0, 1.0, 3)
    opts = {"damping": 0.7, "steps": 300}

    def grad(**extra):
        y = y0.clone().requires_grad_(True)
        rt.odeint(func, y, t, method="alf", gradient=extra.pop("gradient", "reversible"),
                  options={**opts, **extra}).pow(2).sum().backward()
        return y.grad.clone()

    reference = grad(gradient="backprop")
    assert rel(grad(), reference) <= 1e-10  # repair, the default
    stats = rt.last_call()["tape"].stats if rt.last_call().get("tape") is not None else None
    if stats is not None:
        assert stats["guard"]["repaired"]
    with pytest.raises(revode.Error, match="drift"):
        grad(reversible_guard="error")
    with pytest.warns(RuntimeWarning, match="unrepaired"):
        grad(reversible_guard="warn")
    with pytest.raises(revode.Error, match="guard"):
        grad(reversible_guard="ignore")
