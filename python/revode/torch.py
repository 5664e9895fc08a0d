"""revode.torch: revode's solvers and exact gradient methods for PyTorch modules (docs/torch.md).

A drop-in for torchdiffeq's ``odeint``::

    from revode.torch import odeint            # was: from torchdiffeq import odeint
    ys = odeint(func, y0, t, method="reversible:dopri5", gradient="reversible")
    ys.pow(2).mean().backward()                  # gradients in func's parameters and y0

``func(t, y)`` is any ``nn.Module`` (its parameters are θ) or a callable with
``adjoint_params``. The torch autograd Function runs the gradient method's forward half
(revode's engine, no torch graph) and its backward half with autograd's cotangents at the save
times; each vector-Jacobian product of func builds and frees its own one-evaluation graph, so
every method keeps its memory profile (backprop O(steps), checkpoint:C O(C), reversible O(1)).

Fast path: a ``SequentialField`` (an ``nn.Sequential`` of ``nn.Linear`` and one activation
revode has, optionally fed ``[t, y]``) runs entirely in the native engine with the module's
weights; options={"native": False} turns it off.

Importing this module needs torch; ``import revode`` does not.
"""

from __future__ import annotations

import math
import warnings
import weakref

import numpy as np
import torch
from torch import nn

from . import _core

__all__ = ["odeint", "odeint_adjoint", "deq", "SequentialField", "last_call"]

# torchdiffeq's options keys and revode's own; anything else is refused by name.
_TORCHDIFFEQ_OPTIONS = {"step_size", "first_step", "max_num_steps", "dtype"}
_REVODE_OPTIONS = {"coupling", "damping", "dtmin", "dense", "steps", "native", "reversible_guard",
                   "guard_tolerance", "graph_reuse"}

# Activations whose revode implementation is torch's function (so the fast path agrees with
# the generic one to round-off): torch module type -> revode name.
_NATIVE_ACTIVATIONS = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.SiLU: "silu"}


class SequentialField(nn.Module):
    """A vector field f(t, y) = net(y), or net([t, y]) with ``time_input=True``.

    ``net`` is any module taking one tensor; when it is an ``nn.Sequential`` of ``nn.Linear``
    layers (with bias) separated by one activation revode has (Tanh, ReLU, Sigmoid, SiLU),
    revode.torch.odeint solves it in the native engine (the fast path) with the same weights.
    With ``time_input``, t is concatenated as the first feature of every sample.
    """

    def __init__(self, net: nn.Module, time_input: bool = False):
        super().__init__()
        self.net = net
        self.time_input = bool(time_input)

    def forward(self, t, y):
        if not self.time_input:
            return self.net(y)
        tt = torch.as_tensor(t, dtype=y.dtype).expand(*y.shape[:-1], 1)
        return self.net(torch.cat([tt, y], dim=-1))


def _fail_cuda(what, tensor):
    if tensor.device.type != "cpu":
        raise ValueError(
            f"revode.torch: {what} is on {tensor.device}, but revode has no GPU backend (only "
            f"CPU tensors are supported; a CUDA solve would be a silent copy to the host): move "
            f"it with .cpu()"
        )


class _State:
    """The ODE state: one tensor or a tuple of tensors, flattened into one vector."""

    def __init__(self, y0):
        self.is_tuple = isinstance(y0, (tuple, list))
        tensors = tuple(y0) if self.is_tuple else (y0,)
        if not tensors:
            raise ValueError("revode.torch.odeint: y0 is an empty tuple; expected tensors")
        for i, y in enumerate(tensors):
            what = f"y0[{i}]" if self.is_tuple else "y0"
            if not isinstance(y, torch.Tensor):
                raise TypeError(f"revode.torch.odeint: {what} is a {type(y).__name__}; expected a torch.Tensor")
            _fail_cuda(what, y)
            if y.dtype not in (torch.float32, torch.float64):
                raise TypeError(
                    f"revode.torch.odeint: {what} has dtype {y.dtype}; expected torch.float32 or torch.float64"
                )
        dtypes = {y.dtype for y in tensors}
        if len(dtypes) > 1:
            raise TypeError(f"revode.torch.odeint: the tensors of y0 mix dtypes {sorted(map(str, dtypes))}; use one")
        self.dtype = tensors[0].dtype
        self.shapes = [tuple(y.shape) for y in tensors]
        self.sizes = [y.numel() for y in tensors]
        self.dim = sum(self.sizes)
        if self.dim == 0:
            raise ValueError("revode.torch.odeint: y0 has no entries")
        self.tensors = tensors

    def flat(self, tensors):
        if len(tensors) == 1:  # a view when contiguous: no state-sized copy per evaluation
            return tensors[0].reshape(-1)
        return torch.cat([y.reshape(-1) for y in tensors])

    def unpack(self, flat):
        parts = [p.view(s) for p, s in zip(torch.split(flat, self.sizes), self.shapes)]
        return tuple(parts) if self.is_tuple else parts[0]

    def check(self, out, t):
        """func's result as one flat vector, after checking its structure, shapes, dtype, values."""
        where = f"func(t, y) at t = {t:.17g}"
        outs = out if self.is_tuple else (out,)
        if self.is_tuple and (not isinstance(out, (tuple, list)) or len(out) != len(self.shapes)):
            raise TypeError(f"revode.torch: {where} returned {type(out).__name__}; expected a tuple of {len(self.shapes)} tensors like y0")
        for i, (o, shape) in enumerate(zip(outs, self.shapes)):
            name = f"{where}[{i}]" if self.is_tuple else where
            if not isinstance(o, torch.Tensor):
                raise TypeError(f"revode.torch: {name} returned a {type(o).__name__}; expected a torch.Tensor")
            if tuple(o.shape) != shape:
                raise ValueError(f"revode.torch: {name} has shape {tuple(o.shape)}; expected y's shape {shape}")
            if o.dtype != self.dtype:
                raise TypeError(f"revode.torch: {name} has dtype {o.dtype}; expected y's dtype {self.dtype}")
        flat = self.flat(outs)
        if not _all_finite(flat):
            raise ValueError(f"revode.torch: {where} returned NaN or Inf")
        return flat


class _GraphCache:
    """The torch graphs of the evaluations just taken during a backward pass, so that a VJP at
    the same (t, y) differentiates the graph already built instead of running func again.

    The backward halves of anode, checkpoint:C, symplectic, reversible and the continuous
    adjoint evaluate a step's stages (recomputing them, or reconstructing them by the inverse
    step) and then take the VJP at each of those stage points: with the cache a stage costs one
    forward and one backward of func, as in plain autograd, instead of two forwards and a
    backward. Each graph is one evaluation's and is freed by its VJP; an evaluation that follows
    a VJP starts a new group and drops what the last group left unused, so the cache holds at
    most one step's evaluations (and never more than `capacity`): no torch graph spans steps
    and memory stays O(1) in the number of steps. Only evaluations made while `recording` (set
    by _Run.backward) build graphs; the forward solve never does. A hit needs the VJP's t and y
    to equal the recorded ones bit for bit (θ cannot change in between: _Run refuses parameters
    modified in place), so results are those of the recomputation exactly.
    """

    capacity = 32

    def __init__(self):
        self.recording = False
        self.entries = []  # (t, y leaf tensor, flat output with its graph), oldest first
        self.after_vjp = False

    def add(self, t, yt, out):
        if self.after_vjp:
            self.entries.clear()
        elif len(self.entries) >= self.capacity:
            self.entries.pop(0)  # e.g. checkpointing's advances, whose evaluations no VJP uses
        self.after_vjp = False
        self.entries.append((t, yt, out))

    def take(self, t, y):
        """The (y leaf, output) recorded at (t, y), removed from the cache; None if absent."""
        self.after_vjp = True
        for i in range(len(self.entries) - 1, -1, -1):
            te, yt, out = self.entries[i]
            if _same_bits(te, t) and _same_bits(yt.detach(), y):
                del self.entries[i]
                return yt, out
        return None

    def clear(self):
        self.entries.clear()
        self.recording = False
        self.after_vjp = False


_BITS = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
         torch.bfloat16: torch.int16}


def _same_bits(a, b):
    """Bit-for-bit equality of two floats or two tensors (so 0.0 and -0.0 differ, as a
    recomputation from either could)."""
    if not isinstance(a, torch.Tensor):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and (a == b or (a != a and b != b))
    if a.dtype != b.dtype or a.shape != b.shape or a.dtype not in _BITS:
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return torch.equal(a.contiguous().view(_BITS[a.dtype]), b.contiguous().view(_BITS[b.dtype]))


def _all_finite(flat):
    # A sum is finite only if every entry is (NaN and ±Inf propagate): one cheap pass for the
    # common case; torch.isfinite only when the sum is not (a finite but overflowing sum).
    return math.isfinite(float(flat.sum())) or bool(torch.isfinite(flat).all())


def _torch_field(func, state, params):
    """A revode PythonField whose f and VJP call func; θ is the flat vector of `params`. Also
    returns the field's _GraphCache."""
    dtype = state.dtype
    cache = _GraphCache()

    def f(t, y, theta):
        if cache.recording:
            with torch.enable_grad():
                # y is a fresh array the engine copied out for this call (PythonField), so the
                # cached leaf may share its memory: nothing else writes it.
                yt = torch.from_numpy(y).reshape(-1).requires_grad_(True)
                out = state.check(func(torch.tensor(t, dtype=dtype), state.unpack(yt)), t)
            cache.add(t, yt, out)
            return out.detach().numpy().reshape(-1, 1)
        with torch.no_grad():
            out = func(torch.tensor(t, dtype=dtype), state.unpack(torch.from_numpy(y).reshape(-1)))
            return state.check(out, t).numpy().reshape(-1, 1)

    def vjp(t, y, theta, a):
        hit = cache.take(t, torch.from_numpy(y).reshape(-1)) if cache.recording else None
        with torch.enable_grad():
            if hit is not None:
                yt, out = hit
            else:
                yt = torch.from_numpy(y).reshape(-1).requires_grad_(True)
                out = state.check(func(torch.tensor(t, dtype=dtype), state.unpack(yt)), t)
            grads = torch.autograd.grad(
                out, [yt, *params], grad_outputs=torch.from_numpy(a).reshape(-1), allow_unused=True
            )
        del out, hit
        y_bar = grads[0] if grads[0] is not None else torch.zeros_like(yt)
        theta_bar = [
            (g if g is not None else torch.zeros_like(p)).reshape(-1).to(dtype) for g, p in zip(grads[1:], params)
        ]
        flat_theta = torch.cat(theta_bar) if theta_bar else torch.zeros(0, dtype=dtype)
        return y_bar.detach().numpy().reshape(-1, 1), flat_theta.detach().numpy()

    theta = torch.cat([p.detach().reshape(-1).to(torch.float64) for p in params]) if params else torch.zeros(0, dtype=torch.float64)
    name = type(func).__name__
    return _core.PythonField(state.dim, f, vjp, params=theta.numpy(), name=f"torch {name}"), cache


def _native_mlp(func, state, params, adjoint_params):
    """(widths, activation, linears) when func can run as revode's MLP, else None."""
    if not isinstance(func, SequentialField) or not isinstance(func.net, nn.Sequential):
        return None
    if adjoint_params is not None or state.is_tuple or len(state.shapes[0]) not in (1, 2):
        return None
    layers = list(func.net)
    linears = layers[0::2]
    activations = layers[1::2]
    if not linears or len(linears) != len(activations) + 1:
        return None
    if not all(type(l) is nn.Linear and l.bias is not None for l in linears):
        return None
    kinds = {type(a) for a in activations}
    if len(kinds) > 1 or any(k not in _NATIVE_ACTIVATIONS for k in kinds):
        return None
    if any(p.dtype != state.dtype or p.device.type != "cpu" for p in func.parameters()):
        return None
    dim = state.shapes[0][-1]
    widths = [linears[0].in_features - int(func.time_input)] + [l.out_features for l in linears]
    if widths[0] != dim or widths[-1] != dim or any(l.in_features != o.out_features for o, l in zip(linears, linears[1:])):
        return None
    activation = _NATIVE_ACTIVATIONS[kinds.pop()] if kinds else "tanh"
    if len(linears) == 1:
        activation = "tanh"  # no hidden layer: the activation is never applied
    return widths, activation, linears


def _mlp_theta(linears):
    """revode's MLP layout: per layer, W (outputs × inputs) column-major, then b."""
    return torch.cat([t for l in linears for t in (l.weight.detach().t().reshape(-1), l.bias.detach())])


def _parse_options(options, info, t, rtol, atol):
    """The GradientTape keywords for revode.torch's options dict."""
    options = dict(options or {})
    unknown = set(options) - _TORCHDIFFEQ_OPTIONS - _REVODE_OPTIONS
    if unknown:
        raise ValueError(
            f"revode.torch.odeint: unknown option(s) {sorted(unknown)}; known: "
            f"{sorted(_TORCHDIFFEQ_OPTIONS)} (torchdiffeq's) and {sorted(_REVODE_OPTIONS)} (revode's)"
        )
    kw = {}
    for key in ("coupling", "damping"):
        if key in options:
            kw[key] = float(options[key])
    kw["dense"] = bool(options.get("dense", False))
    # The reconstruction guard of gradient="reversible" (README): repair, error or warn.
    kw["reversible_guard"] = str(options.get("reversible_guard", "repair"))
    kw["guard_tolerance"] = float(options.get("guard_tolerance", 0.0))
    fixed = "step_size" in options or "steps" in options or info["error_order"] == 0
    if fixed:
        for key in ("first_step", "max_num_steps", "dtmin"):
            if key in options:
                raise ValueError(f"revode.torch.odeint: option '{key}' applies to adaptive steps only, but {info['name']} takes fixed steps here")
        if "step_size" in options and "steps" in options:
            raise ValueError("revode.torch.odeint: options 'step_size' and 'steps' exclude each other")
        if "step_size" in options:
            kw["dt"] = float(options["step_size"])
        else:
            kw["steps"] = int(options.get("steps", len(t) - 1))
    else:
        kw["rtol"] = float(rtol)
        kw["atol"] = float(atol)
        if "first_step" in options:
            kw["dt0"] = float(options["first_step"])
        if "max_num_steps" in options:
            kw["max_steps"] = int(options["max_num_steps"])
        if "dtmin" in options:
            kw["dtmin"] = float(options["dtmin"])
    native = options.get("native", True)
    return kw, native, bool(options.get("graph_reuse", True))


class _Run:
    """One odeint call: the tape and how to map between torch tensors and revode's blocks."""

    def __init__(self, tape, state, params, native_linears, out_shape, batch, cache=None):
        self.tape = tape
        self.cache = cache  # the generic field's _GraphCache (None on the fast path)
        self.state = state
        self.params = params
        self.native_linears = native_linears
        self.out_shape = out_shape  # (K, dim_flat) for the generic path, (K, *y0.shape) native
        self.batch = batch
        self.done = False
        # torch's rule for saved tensors: a parameter changed in place (e.g. optimizer.step())
        # between forward and backward would make the backward VJPs use the new values.
        self.versions = [p._version for p in params]

    def forward(self, keep_record):
        ys = torch.from_numpy(self.tape.forward(keep_record=keep_record))
        return ys.reshape(self.out_shape)

    def backward(self, grad_ys):
        if self.done:
            raise RuntimeError(
                "revode.torch.odeint: backward through this odeint call already ran; the "
                "gradient method's record is consumed by its backward pass (retain_graph=True "
                "does not keep it): call odeint again for another backward"
            )
        self.done = True
        for i, (p, v) in enumerate(zip(self.params, self.versions)):
            if p._version != v:
                raise RuntimeError(
                    f"revode.torch.odeint: parameter {i} of func (shape {tuple(p.shape)}) was "
                    f"modified in place between odeint's forward and backward (e.g. by "
                    f"optimizer.step()); call backward before changing the parameters"
                )
        k = grad_ys.shape[0]
        cot = grad_ys.detach().to(self.state.dtype).contiguous().reshape(k, self.batch, -1)
        if self.cache is not None:
            self.cache.recording = self.graph_reuse
        try:
            grad_params, grad_y0 = self.tape.backward(cot.numpy())
        finally:
            if self.cache is not None:
                self.cache.clear()
        guard = self.tape.stats.get("guard")
        if guard is not None and guard["flagged"]:
            warnings.warn(f"revode.torch.odeint: {guard['warning']}", RuntimeWarning, stacklevel=3)
        grad_params = torch.from_numpy(grad_params)
        grads = []
        if self.native_linears is not None:
            offset = 0
            for l in self.native_linears:
                n = l.weight.numel()
                grads.append(grad_params[offset : offset + n].reshape(l.in_features, l.out_features).t())
                offset += n
                grads.append(grad_params[offset : offset + l.out_features])
                offset += l.out_features
        else:
            offset = 0
            for p in self.params:
                grads.append(grad_params[offset : offset + p.numel()].reshape(p.shape).to(p.dtype))
                offset += p.numel()
        return torch.from_numpy(grad_y0), grads


class _OdeintFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, run, y0_block, *params):
        ctx.run = run
        return run.forward(keep_record=True)

    @staticmethod
    def backward(ctx, grad_ys):
        grad_y0, grads = ctx.run.backward(grad_ys)
        return (None, grad_y0.reshape(ctx.run.y0_block_shape), *grads)


def _check_t(t):
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(t, dtype=torch.float64)
    _fail_cuda("t", t)
    if t.requires_grad:
        raise ValueError(
            "revode.torch.odeint: t requires grad, but revode does not differentiate the save "
            "times (dL/dt is not computed); pass t.detach()"
        )
    if t.ndim != 1 or t.numel() < 2:
        raise ValueError(f"revode.torch.odeint: t has shape {tuple(t.shape)}; expected a 1-D tensor of at least 2 save times")
    ts = t.detach().to(torch.float64).numpy().copy()
    if not np.all(np.isfinite(ts)):
        raise ValueError(f"revode.torch.odeint: t contains NaN or Inf: {ts}")
    d = np.diff(ts)
    if not (np.all(d > 0) or np.all(d < 0)):
        raise ValueError(f"revode.torch.odeint: t must be strictly increasing or strictly decreasing; got {ts}")
    return ts


def _params_of(func, adjoint_params):
    if adjoint_params is not None:
        params = list(adjoint_params)
        for i, p in enumerate(params):
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"revode.torch.odeint: adjoint_params[{i}] is a {type(p).__name__}; expected a tensor")
    elif isinstance(func, nn.Module):
        params = list(func.parameters())
    else:
        params = []
    for p in params:
        _fail_cuda("a parameter of func", p)
    return [p for p in params if p.requires_grad]


def odeint(func, y0, t, *, rtol=1e-7, atol=1e-9, method=None, options=None, gradient=None, adjoint_params=None):
    """Solves dy/dt = func(t, y) from y0 and returns y at the times t, shape (len(t), *y0.shape).

    torchdiffeq's signature and conventions: func(t, y) an nn.Module or a callable (then pass
    its tensors as adjoint_params), y0 a tensor of any shape (the whole tensor is one state) or
    a tuple of tensors, t a 1-D tensor of save times, increasing or decreasing (not
    differentiated: t.requires_grad is refused). The result carries autograd to func's
    parameters (or adjoint_params) and y0.

    method: any revode solver (revode.solvers()), default "dopri5". Adaptive solvers use
        rtol/atol; fixed-step ones (and any solver given options step_size or steps) take
        fixed steps, by default len(t) - 1 equal steps split at the save times.
    options: torchdiffeq's step_size, first_step, max_num_steps, dtype (t's dtype; ignored,
        times are float64) and revode's coupling, damping (reversible solvers), dtmin, dense
        (save by Hermite interpolation between steps), steps (number of fixed steps),
        native (False: never use the fast path), graph_reuse (False: every VJP runs func
        again instead of differentiating the graph of the backward pass's own evaluation at
        the same point; see _GraphCache).
    gradient: any revode gradient method (revode.methods()): backprop, anode, checkpoint:C,
        symplectic, adjoint[:...], reversible. Default: reversible for a reversible solver,
        else backprop.
    """
    method = "dopri5" if method is None else str(method)
    if not callable(func):
        raise TypeError(f"revode.torch.odeint: func is a {type(func).__name__}; expected a callable func(t, y)")
    state = _State(y0)
    ts = _check_t(t)
    info = _core.solver_info(method, **{k: float(v) for k, v in (options or {}).items() if k in ("coupling", "damping")})
    if gradient is None:
        gradient = "reversible" if info["reversible"] else "backprop"
    kw, native, graph_reuse = _parse_options(options, info, ts, rtol, atol)
    params = _params_of(func, adjoint_params)
    dtype = "float32" if state.dtype == torch.float32 else "float64"

    mlp = _native_mlp(func, state, params, adjoint_params) if native else None
    if mlp is not None:
        widths, activation, linears = mlp
        y = state.tensors[0]
        batch = y.shape[0] if y.ndim == 2 else 1
        field = _core.MLP(widths, activation=activation, time_input=func.time_input)
        theta = _mlp_theta(linears).to(torch.float64).numpy()
        y_block = y.detach().reshape(batch, -1).t().numpy()
        out_shape = (len(ts), *y.shape)
        params = [p for l in linears for p in (l.weight, l.bias)]
        native_linears = linears
        cache = None
    else:
        batch = 1
        field, cache = _torch_field(func, state, params)
        theta = None
        y_block = state.flat(state.tensors).detach().reshape(-1, 1).numpy()
        out_shape = (len(ts), state.dim)
        native_linears = None
    tape = _core.GradientTape(field, y_block, ts, gradient, solver=method, dtype=dtype, params=theta, **kw)
    run = _Run(tape, state, params, native_linears, out_shape, batch, cache)
    run.graph_reuse = graph_reuse
    y0_block = state.tensors[0] if mlp is not None else state.flat(state.tensors)
    run.y0_block_shape = y0_block.shape
    needs_grad = torch.is_grad_enabled() and (y0_block.requires_grad or any(p.requires_grad for p in params))
    if needs_grad:
        ys = _OdeintFunction.apply(run, y0_block, *params)
    else:
        ys = run.forward(keep_record=False)
    # For diagnostics and tests: the step times (cheap to keep) and the tape only while the
    # autograd graph holds it (a weak reference: keeping it here would keep its record alive).
    _last["step_times"] = tape.step_times
    _last["run"] = weakref.ref(run)
    if mlp is not None:
        return ys
    # (K, dim) -> (K, *y0.shape) or a tuple of (K, *shape_i), as torchdiffeq returns.
    parts = [p.reshape(len(ts), *s) for p, s in zip(torch.split(ys, state.sizes, dim=1), state.shapes)]
    return tuple(parts) if state.is_tuple else parts[0]


_last = {"step_times": None, "run": lambda: None}


def last_call():
    """What the last odeint call in this process did: a dict with ``step_times``, the accepted
    step times t_0 … t_N (e.g. to replay an adaptive solve), ``tape``, its
    revode._core.GradientTape while the autograd graph keeps it alive (else None), and ``native``
    (whether the fast path ran); ``deq_stats``, the last deq call's forward statistics, and
    ``deq_backward_stats``, the last deq backward's (evaluations, VJPs, reconstruction_error and,
    for gradient="reversible", the reconstruction guard's report under "guard")."""
    run = _last["run"]()
    return {
        "deq_stats": _last.get("deq_stats"),
        "deq_backward_stats": _last.get("deq_backward_stats"),
        "step_times": _last["step_times"],
        "tape": None if run is None else run.tape,
        "native": None if run is None else run.native_linears is not None,
    }


def odeint_adjoint(
    func,
    y0,
    t,
    *,
    rtol=1e-7,
    atol=1e-9,
    method=None,
    options=None,
    adjoint_rtol=None,
    adjoint_atol=None,
    adjoint_method=None,
    adjoint_options=None,
    adjoint_params=None,
):
    """torchdiffeq's odeint_adjoint: the continuous adjoint (gradient="adjoint"), inexact by
    nature (the gradient of the ODE, not of the solver's output). adjoint_rtol/atol default to
    rtol/atol; the adjoint solve uses the forward's method and options (adjoint_method and
    adjoint_options may only repeat them)."""
    if adjoint_method is not None and adjoint_method != (method or "dopri5"):
        raise ValueError(
            f"revode.torch.odeint_adjoint: adjoint_method={adjoint_method!r} differs from method="
            f"{method or 'dopri5'!r}; revode's adjoint solve uses the forward's solver"
        )
    if adjoint_options is not None and dict(adjoint_options) != dict(options or {}):
        raise ValueError("revode.torch.odeint_adjoint: adjoint_options must equal options (revode's adjoint solve uses the forward's options)")
    spec = "adjoint"
    items = []
    if adjoint_rtol is not None:
        items.append(f"rtol={float(adjoint_rtol)!r}")
    if adjoint_atol is not None:
        items.append(f"atol={float(adjoint_atol)!r}")
    if items:
        spec += ":" + ",".join(items)
    return odeint(func, y0, t, rtol=rtol, atol=atol, method=method, options=options, gradient=spec, adjoint_params=adjoint_params)


# ---- deep equilibrium layers ----


def _rows(arr, shape):
    """A (features, batch) NumPy block as a (batch, *shape[1:]) tensor (one copy)."""
    return torch.from_numpy(np.ascontiguousarray(arr.T)).reshape(shape)


def _block(tensor):
    """A (batch, ...) tensor as a (features, batch) NumPy block (a transposed view)."""
    return tensor.detach().reshape(tensor.shape[0], -1).numpy().T


class _DeqFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, run, x, *params):
        ctx.run = run
        return _rows(run["tape"].forward().T, run["z_shape"])

    @staticmethod
    def backward(ctx, grad_z):
        run = ctx.run
        if run["done"]:
            raise RuntimeError("revode.torch.deq: backward through this deq call already ran; call deq again")
        run["done"] = True
        g = grad_z.detach().to(run["dtype"]).contiguous().reshape(grad_z.shape[0], -1).numpy()
        grad_params, grad_x = run["tape"].backward(g)
        _last["deq_backward_stats"] = run["tape"].stats  # the whole gradient's, with the guard's report
        grad_params = torch.from_numpy(grad_params)
        grads, offset = [], 0
        for p in run["params"]:
            grads.append(grad_params[offset : offset + p.numel()].reshape(p.shape).to(p.dtype))
            offset += p.numel()
        return (None, torch.from_numpy(grad_x).reshape(run["x_shape"]), *grads)


def deq(f, x, *, z_shape=None, solver="reversible", beta=0.5, tol=1e-6, max_steps=50, gradient="reversible",
        adjoint_tol=None, adjoint_max_steps=None, adjoint_params=None):
    """The equilibrium z* = f(z*, x) of a deep equilibrium layer, with autograd to f's
    parameters (or adjoint_params) and x: revode's reversible DEQ (McCallum, Arora & Foster
    2025) over a torch module.

    x: a (batch, ...) float tensor (the leading dimension is the batch: the stopping rule
    holds per sample); z has shape z_shape (default x.shape), with the same batch. solver:
    "reversible" (β-coupled iteration) or "plain"; gradient: "reversible" (exact, memory
    independent of the iterations), "backprop" (stored iterates, exact) or "implicit"
    (implicit-function adjoint, inexact). Iterations start from z = 0 and stop when
    ‖z − f(z, x)‖ < tol·‖f(z, x)‖ + 1e-8 per sample or after max_steps.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"revode.torch.deq: x is a {type(x).__name__}; expected a torch.Tensor")
    _fail_cuda("x", x)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"revode.torch.deq: x has dtype {x.dtype}; expected torch.float32 or torch.float64")
    if x.ndim < 2:
        raise ValueError(f"revode.torch.deq: x has shape {tuple(x.shape)}; expected (batch, ...)")
    z_shape = tuple(x.shape if z_shape is None else z_shape)
    if z_shape[0] != x.shape[0]:
        raise ValueError(f"revode.torch.deq: z_shape {z_shape} and x {tuple(x.shape)} have different batch sizes")
    params = _params_of(f, adjoint_params)
    dtype = x.dtype
    features = math.prod(z_shape[1:])

    def check(out):
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"revode.torch.deq: f(z, x) returned a {type(out).__name__}; expected a torch.Tensor")
        if tuple(out.shape) != z_shape or out.dtype != dtype:
            raise ValueError(f"revode.torch.deq: f(z, x) returned shape {tuple(out.shape)}, dtype {out.dtype}; expected z's {z_shape}, {dtype}")
        if not torch.isfinite(out).all():
            raise ValueError("revode.torch.deq: f(z, x) returned NaN or Inf")

    def fcb(z, xx):
        with torch.no_grad():
            out = f(_rows(z, z_shape), _rows(xx, x.shape))
            check(out)
            return _block(out)

    def vjp(z, xx, a):
        with torch.enable_grad():
            zt = _rows(z, z_shape).requires_grad_(True)
            xt = _rows(xx, x.shape).requires_grad_(True)
            out = f(zt, xt)
            check(out)
            grads = torch.autograd.grad(out, [zt, xt, *params], grad_outputs=_rows(a, z_shape), allow_unused=True)
        z_bar = grads[0] if grads[0] is not None else torch.zeros_like(zt)
        x_bar = grads[1] if grads[1] is not None else torch.zeros_like(xt)
        theta = [(g if g is not None else torch.zeros_like(p)).reshape(-1).to(dtype) for g, p in zip(grads[2:], params)]
        flat = torch.cat(theta) if theta else torch.zeros(0, dtype=dtype)
        return _block(z_bar), _block(x_bar), flat.detach().numpy()

    theta = torch.cat([p.detach().reshape(-1).to(torch.float64) for p in params]) if params else torch.zeros(0, dtype=torch.float64)
    tape = _core.DeqTape(features, fcb, vjp, _block(x), theta.numpy(), solver=solver, beta=beta, tol=tol,
                         max_steps=max_steps, gradient=gradient, adjoint_tol=adjoint_tol,
                         adjoint_max_steps=adjoint_max_steps, dtype="float32" if dtype == torch.float32 else "float64")
    run = {"tape": tape, "z_shape": z_shape, "x_shape": tuple(x.shape), "params": params, "dtype": dtype, "done": False}
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        z = _DeqFunction.apply(run, x, *params)
    else:
        z = _rows(tape.forward().T, z_shape)
    _last["deq_stats"] = tape.stats  # the forward's (iterations, residual, converged, ...)
    return z
