"""A seeded fuzz test of the whole Python API (issue 16): every public function called with
valid arguments, one or two of them replaced by hostile values (NaN/Inf, huge and negative
integers, wrong types, dtypes, shapes and ndim, non-contiguous and empty arrays, None,
callables that raise or return the wrong thing).

Every call must end in one of two ways:
- success, with every number in the result finite;
- revode.Error, ValueError or TypeError with a message of our own (not a bare C++ message
  such as "vector::reserve"); or, when a user callback in the arguments raised, that
  callback's own exception.
Never another exception type (MemoryError, RuntimeError, ...), a crash or a hang.

The cases run in a child process (`python test_fuzz.py SEED COUNT`) so that a segmentation
fault or a hang fails the test with the case that caused it instead of killing pytest; the
child prints one JSON line per case before and after running it, and the parent gives it a
time limit. Deterministic: the same seed gives the same calls.
"""

import json
import math
import os
import random
import resource
import subprocess
import sys
import time

import numpy as np
import pytest

import revode

SEED = 16
COUNT = 1000
CHILD_TIMEOUT_S = 120  # the whole run takes a few seconds; this is only the hang guard
CASE_LIMIT_S = 10.0  # no single call may take longer
ADDRESS_SPACE_LIMIT = 8 << 30  # bytes, for the child (its cases need well under 1 GiB)


class CallbackError(Exception):
    """Raised by the fuzz's own callbacks: it must come back to the caller unchanged."""


# --- hostile values ------------------------------------------------------------------------


def _raise(*_):
    raise CallbackError("raised by a fuzz callback")


NAN, INF = float("nan"), float("inf")
FLOATS = [NAN, INF, -INF, 0.0, -0.0, -1.0, 1e-300, 1e308, -1e308, 5e-324]
INTS = [0, -1, -(2**63), 2**31 + 1, 2**62, 2**63, 2**64, 2**70]
JUNK = [None, "", "junk", [], {}, object(), b"x", 1.5, True, _raise, (1, 2)]


def arrays(shape):
    """Hostile arrays for an argument whose valid shape is `shape`."""
    n = int(np.prod(shape)) if shape else 1
    good = np.linspace(0.2, 0.9, n).reshape(shape)
    nan = good.copy()
    nan.flat[0] = NAN
    inf = good.copy()
    inf.flat[-1] = -INF
    wide = np.linspace(0.2, 0.9, 2 * n).reshape((*shape[:-1], 2 * shape[-1]) if shape else (2,))
    return [
        nan,
        inf,
        good.astype(np.int64),
        good.astype(np.complex128),
        good.astype(np.float16),
        good.astype(np.float32),
        np.full(shape, 1e38, dtype=np.float64),
        np.full(shape, 1e300),
        np.full(shape, 1e200),  # squares overflow
        np.zeros(shape),  # Kepler's q = 0: a collision
        np.full(shape, 0.3),  # Lennard-Jones: atoms on top of each other
        good.reshape(-1)[:-1] if n > 1 else np.array([]),
        np.array([]),
        np.zeros((0, 2)),
        np.zeros((*shape, 1, 1)),
        np.float64(0.5),
        wide[..., ::2] if shape else good,  # non-contiguous, right shape
        np.asfortranarray(np.atleast_2d(good)),
        good.tolist(),
        ["a"] * max(n, 1),
        np.array(["x"] * max(n, 1)),
    ]


# --- the public API with valid arguments ---------------------------------------------------

MLP_SPEC = dict(widths=[2, 4, 2], activation="tanh", seed=0, time_input=True, init="pytorch")


def make_field(kind):
    if kind == "mlp":
        return revode.MLP(**MLP_SPEC)
    if kind == "python":
        return revode.PythonField(
            2, lambda t, y, th: -y * th[0], vjp=lambda t, y, th, a: (-a * th[0], np.array([-(a * y).sum()])),
            params=np.array([0.5]),
        )
    return revode.field(kind)


FIELD_KINDS = ["mlp", "python", *revode.fields()]
HAS_GUARD = "reversible_guard" in (revode.gradient.__doc__ or "")


def valid(api, rng):
    """(function, kwargs, array shapes by name) for one valid call of `api`."""
    kind = rng.choice(FIELD_KINDS)
    field = make_field(kind)
    dim = field.state_dim
    y = np.asarray(field.default_y0) if field.default_y0 is not None else np.full(dim, 0.5)
    if api == "eval":
        return field.eval, dict(t=0.1, y=y, params=None), {"y": (dim,), "params": (field.param_count,)}
    if api == "vjp":
        return (field.vjp, dict(t=0.1, y=y, a=np.ones(dim), params=None),
                {"y": (dim,), "a": (dim,), "params": (field.param_count,)})
    if api == "check_vjp":
        return (revode.check_vjp, dict(field=field, t=0.1, y=y, directions=2, seed=1, step=0.0),
                {"y": (dim,)})
    if api == "set_params":
        return (lambda value: setattr(field, "params", value), dict(value=field.params.copy()),
                {"value": (field.param_count,)})
    if api in ("solve", "gradient"):
        if rng.random() < 0.3:  # a batch of states
            y = np.stack([y, 0.9 * y], axis=1)
        kwargs = dict(field=field, y0=y, ts=np.linspace(0.0, 0.5, 3), solver=rng.choice(
            ["dopri5", "euler", "reversible:midpoint", "alf", "reversible-heun"]), steps=4,
            dense=False, coupling=0.999, damping=1.0, t0=None, t1=None, dtype=None, params=None)
        if rng.random() < 0.3:
            kwargs.pop("steps")
            kwargs.update(solver=rng.choice(["dopri5", "bosh3", "tsit5"]), rtol=1e-4, atol=1e-6,
                          max_steps=1000, dtmin=None, dt0=None)
        shapes = {"y0": y.shape, "ts": (3,), "params": (field.param_count,)}
        if api == "solve":
            return revode.solve, kwargs, shapes
        if HAS_GUARD:
            kwargs.update(reversible_guard="repair", guard_tolerance=0.0)
        kwargs["method"] = rng.choice(
            ["backprop", "reversible", "anode", "checkpoint:2", "symplectic", "adjoint"])
        if kwargs["method"] == "reversible":
            kwargs["solver"] = "reversible:midpoint"
        if kwargs["method"] == "symplectic":
            kwargs["solver"] = "rk4"
        loss = rng.choice(["mse-zero", "data", "callable"])
        if loss == "data":
            kwargs["loss"] = np.full((3, *y.shape), 0.1)
            shapes["loss"] = (3, *y.shape)
        elif loss == "callable":
            kwargs["loss"] = lambda k, t, yk: (float((yk**2).sum()), 2 * yk)
        return revode.gradient, kwargs, shapes
    if api == "MLP":
        return revode.MLP, dict(MLP_SPEC), {}
    if api == "field":
        return revode.field, dict(name="linear", dim=3), {}
    if api == "PythonField":
        return (revode.PythonField, dict(state_dim=2, f=lambda t, y, th: -y, vjp=None, params=None,
                                         name="p"), {})
    if api == "Adam":
        return revode.Adam, dict(param_count=3, kind="adamw", beta1=0.9, beta2=0.999, eps=1e-8,
                                 weight_decay=0.01), {}
    if api == "Adam.step":
        adam = revode.Adam(3)
        return (adam.step, dict(lr=0.01, params=np.array([0.1, 0.2, 0.3]), grad=np.ones(3)),
                {"params": (3,), "grad": (3,)})
    if api == "clip_global_norm":
        return revode.clip_global_norm, dict(grad=np.array([3.0, 4.0]), max_norm=1.0), {"grad": (2,)}
    if api == "standard_normal":
        return revode.standard_normal, dict(seed=1, n=5), {}
    if api == "dataset":
        return revode.dataset, dict(name=rng.choice(revode.datasets())), {}
    if api == "train":
        return (revode.train, dict(dataset=rng.choice(["oscillator", "pendulum"]), iterations=2,
                                   checkpoint_every=0, lr=0.01, steps=20), {})
    raise AssertionError(api)


APIS = ["eval", "vjp", "check_vjp", "set_params", "solve", "gradient", "MLP", "field",
        "PythonField", "Adam", "Adam.step", "clip_global_norm", "standard_normal", "dataset",
        "train"]

# Values that are valid but would run or allocate without bound (a legitimately huge step
# count, an MLP of 2^31 parameters) are not generated: the limits the library checks are.
EXTRA = {
    "solver": ["junk", "reversible:", "alf-junk", None, 3],
    "method": ["junk", "checkpoint:0", "checkpoint:-1", "checkpoint:", "adjoint:rtol=nan",
               "adjoint:seminorm,seminorm", None],
    "loss": ["junk", None, 3, _raise, lambda k, t, y: (NAN, y), lambda k, t, y: (1.0, y * NAN),
             lambda k, t, y: 1.0, lambda k, t, y: (1.0, np.ones(7)), lambda k, t, y: ("a", y)],
    "ts": ["steps", "final", [0.0], [0.0, 0.0], [0.5, 0.1], [0.0, NAN], [-1e308, 1e308],
           [0.0, 1e308]],
    "widths": [[], [2], [2, 0, 2], [2, -1, 2], [2, 2**21, 2], [2, 4, 3], [2**63], ["a"], None],
    "activation": ["junk", "", None],
    "init": ["junk", None],
    "kind": ["sgd", "", None],
    "name": ["junk", "", None, "linear:3", "/nonexistent.csv"],
    "dataset": ["junk", "/nonexistent.csv", None, 3],
    "dim": [0, -1, 2**31, 46341, 2**62],
    "n": [-1, 2**31 + 1, 2**62],
    "param_count": [-1, 2**31 + 1, 2**62],
    "state_dim": [0, -1],
    "f": [None, 3, _raise, lambda t, y, th: y * NAN, lambda t, y, th: np.ones(5),
          lambda t, y, th: None, lambda t, y, th: y.astype(np.int64)],
    "vjp": [3, _raise, lambda t, y, th, a: (a * NAN, None), lambda t, y, th, a: 5,
            lambda t, y, th, a: (a, np.ones(9))],
    "directions": [0, -3, 2**40],
    "step": [NAN, -1.0, INF],
    "iterations": [0, -1, 2**63, 1.5, NAN],
    "checkpoint_every": [-5, -1, 2**63],
    "lr": [NAN, INF, -1.0, 0.0, 1e308],
    "steps": [0, -1, 2**63, 1.5],
    "max_steps": [0, -1],
    "coupling": [NAN, 0.0, 2.0, -1e15],
    "damping": [NAN, 0.5, 0.0, 1e15],
    "dtype": ["int32", "float16", "junk", np.float32, "float32"],
    "rtol": [NAN, -1.0, 0.0, INF],
    "atol": [NAN, -1.0, 0.0, INF],
    "dt": [NAN, -0.1, 1e-300, 0.0],
    "t0": [NAN, INF, 0.5, 0.6, -1e308],
    "t1": [NAN, -INF, 0.0, 0.4, 1e308],
    "dtmin": [NAN, -1.0, 1.0, INF],
    "dt0": [NAN, -1.0, 1e-300, INF],
    "dense": [1, None, "yes"],
    "seed": [-1, 2**64],
    "reversible_guard": ["junk", "", None, "error", "warn"],
    "guard_tolerance": [NAN, -1.0, INF, 1e-300],
}


# Counts whose large values are valid and run for as long as asked (steps, iterations): only
# EXTRA's values. A huge iterations (2^62) is refused by the allocation limit of the CLI part of
# issue 16 (losses reserved up front); add it here once that check is in.
UNBOUNDED = {"steps", "iterations"}


def mutations(name, value, shapes):
    pool = list(EXTRA.get(name, []))
    if name in shapes and shapes[name] is not None:
        pool += arrays(shapes[name])
    if isinstance(value, bool):
        pool += [None, "x", 2]
    elif isinstance(value, float):
        pool += FLOATS
    elif isinstance(value, int) and name not in UNBOUNDED:
        pool += INTS
    return pool + JUNK


def generate(seed, count):
    """The cases: (id, api, the names of the replaced arguments, function, kwargs)."""
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        api = APIS[i % len(APIS)]
        function, kwargs, shapes = valid(api, rng)
        names = [n for n in kwargs if not (api in ("solve", "gradient", "check_vjp") and n == "field")]
        replaced = []
        for _ in range(rng.choice([0, 1, 1, 1, 1, 2])):
            if not names:
                break
            name = rng.choice(names)
            kwargs[name] = rng.choice(mutations(name, kwargs[name], shapes))
            replaced.append(name)
        if api in ("solve", "gradient", "check_vjp") and rng.random() < 0.05:
            kwargs["field"] = None
            replaced.append("field")
        cases.append((i, api, replaced, function, kwargs))
    return cases


# --- outcome classes -----------------------------------------------------------------------


def non_finite(value, path="result"):
    """Where `value` holds a non-finite number (None if nowhere)."""
    if isinstance(value, (float, np.floating)):
        return None if math.isfinite(value) else path
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            return path
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            where = non_finite(v, f"{path}[{k!r}]")
            if where:
                return where
        return None
    if isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            where = non_finite(v, f"{path}[{k}]")
            if where:
                return where
        return None
    for attribute in ("ts", "ys", "stats", "loss", "grad_params", "grad_y0", "params", "losses",
                      "best_loss", "prediction", "default_y0", "times", "states"):
        if hasattr(value, attribute) and not isinstance(value, type):
            where = non_finite(getattr(value, attribute), f"{path}.{attribute}")
            if where:
                return where
    return None


def classify(call):
    """(outcome, detail): outcome 'ok', 'error' or 'callback' when allowed, else what went wrong."""
    try:
        result = call()
    except CallbackError as e:
        return "callback", str(e)
    except (revode.Error, ValueError, TypeError) as e:
        message = str(e)
        # A bare C++ message ("vector::reserve", "std::bad_alloc") is a foreign exception that
        # pybind11 happened to translate to ValueError.
        if " " not in message.strip() or "std::" in message or "vector::" in message:
            return f"foreign message from {type(e).__name__}", message
        return "error", f"{type(e).__name__}: {message}"
    except BaseException as e:  # every other type is the failure being tested
        return f"{type(e).__name__}", str(e)
    where = non_finite(result)
    if where:
        return f"non-finite {where} in a successful result", repr(result)[:200]
    return "ok", ""


# The reproducers of issue 16, each a fixed case run in a child of its own (one of them crashed
# the interpreter).
REPRODUCERS = {
    "adam lr inf": lambda: revode.Adam(3).step(INF, np.zeros(3), np.ones(3)),
    "adam lr nan": lambda: revode.Adam(3).step(NAN, np.zeros(3), np.ones(3)),
    "adam lr negative": lambda: revode.Adam(3).step(-0.1, np.zeros(3), np.ones(3)),
    "mlp t nan": lambda: revode.MLP([2, 4, 2], time_input=True).eval(NAN, np.ones(2)),
    "lennard-jones overlap eval": lambda: revode.field("lennard-jones").eval(
        0.0, np.full(12, 0.3)),
    "lennard-jones overlap vjp": lambda: revode.field("lennard-jones").vjp(
        0.0, np.full(12, 0.3), np.ones(12)),
    "lennard-jones overlap check_vjp": lambda: revode.check_vjp(
        revode.field("lennard-jones"), 0.0, np.full(12, 0.3)),
    "lennard-jones overlap solve": lambda: revode.solve(
        revode.field("lennard-jones"), np.full(12, 0.3), [0.0, 1.0], steps=3),
    "coupling -1e15 with dopri5": lambda: revode.solve(
        revode.MLP([2, 4, 2]), np.ones(2), [0.0, 1.0], coupling=-1e15),
    "damping 1e15 with euler": lambda: revode.solve(
        revode.MLP([2, 4, 2]), np.ones(2), [0.0, 1.0], solver="euler", damping=1e15),
    "lennard-jones overlap gradient": lambda: revode.gradient(
        revode.field("lennard-jones"), np.full(12, 0.3), [0.0, 1.0], steps=3),
    "linear dim 2**31": lambda: revode.field("linear", dim=2**31),
    "train checkpoint_every -5": lambda: revode.train("pendulum", checkpoint_every=-5,
                                                      iterations=1),
    "adam param_count 2**62": lambda: revode.Adam(2**62),
    "standard_normal 2**62": lambda: revode.standard_normal(0, 2**62),
    "solve field None": lambda: revode.solve(None, np.ones(2), [0.0, 1.0]),
    "gradient field None": lambda: revode.gradient(None, np.ones(2), [0.0, 1.0]),
    "clip inf grad": lambda: revode.clip_global_norm(np.array([INF, 1.0]), 1.0),
    "train lr nan": lambda: revode.train("pendulum", lr=NAN, iterations=1),
    "nan written through the params view": lambda: (lambda f: (f.params.__setitem__(0, NAN),
                                                               f.eval(0.0, np.ones(2))))(
        revode.MLP([2, 4, 2])),
    "python field nan eval": lambda: revode.PythonField(2, lambda t, y, th: y * NAN).eval(
        0.0, np.ones(2)),
}


def run_child(which):
    """Runs the cases ("reproducer:NAME" or "SEED:COUNT"), printing {"start": id} before and the
    outcome after each. Address space is capped so that a size check that goes missing shows
    up as MemoryError, not as the machine's out-of-memory killer."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    if which.startswith("reproducer:"):
        name = which.split(":", 1)[1]
        cases = [(name, "reproducer", [], REPRODUCERS[name], {})]
    else:
        seed, count = map(int, which.split(":"))
        cases = generate(seed, count)
    for i, api, replaced, function, kwargs in cases:
        print(json.dumps({"start": i}), flush=True)
        begin = time.perf_counter()
        outcome, detail = classify(lambda: function(**kwargs))
        seconds = time.perf_counter() - begin
        print(json.dumps({"id": i, "api": api, "replaced": replaced, "outcome": outcome,
                          "detail": detail[:300], "seconds": seconds,
                          "args": {k: repr(v)[:100] for k, v in kwargs.items()}}), flush=True)


def in_child(which, expected):
    """Runs run_child(which) in a fresh interpreter; returns the outcomes by case id, or fails
    naming the case that crashed or hung."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(revode.__file__)), env.get("PYTHONPATH", "")])
    begin = time.perf_counter()
    try:
        child = subprocess.run([sys.executable, __file__, which], env=env, capture_output=True,
                               text=True, timeout=CHILD_TIMEOUT_S)
        stdout, stderr, code = child.stdout, child.stderr, child.returncode
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode() if isinstance(b, bytes) else (b or "")
        stdout, stderr, code = text(e.stdout), text(e.stderr), "timeout"
    seconds = time.perf_counter() - begin
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    done = {r["id"]: r for r in lines if "id" in r}
    started = [r["start"] for r in lines if "start" in r]
    if code != 0 or len(done) != expected:
        last = started[-1] if started else None
        pytest.fail(f"the fuzz child ({which}) ended with {code} after {seconds:.1f} s in case "
                    f"{last!r} (crash or hang); stderr: {stderr[-2000:]}")
    return done


# --- the tests -----------------------------------------------------------------------------


def test_fuzz_every_public_function():
    done = in_child(f"{SEED}:{COUNT}", COUNT)
    failures = [r for r in done.values() if r["outcome"] not in ("ok", "error", "callback")]
    slow = [r for r in done.values() if r["seconds"] > CASE_LIMIT_S]
    report = "\n".join(f"case {r['id']} {r['api']} {r['replaced']}: {r['outcome']} "
                       f"({r['detail']}, {r['seconds']:.2f} s)\n  {r['args']}"
                       for r in failures + slow)
    assert not failures and not slow, f"{len(failures)} bad outcomes, {len(slow)} slow:\n{report}"
    outcomes = [r["outcome"] for r in done.values()]
    # The generator must reach both ends: valid calls that succeed and bad ones refused.
    assert outcomes.count("ok") >= 150 and outcomes.count("error") >= 500, outcomes


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_issue_16_reproducer(name):
    r = in_child(f"reproducer:{name}", 1)[name]
    assert r["outcome"] == "error", f"{name}: {r['outcome']} ({r['detail']})"


def test_callback_exceptions_propagate_unchanged():
    field = revode.PythonField(2, _raise)
    with pytest.raises(CallbackError):
        revode.solve(field, np.ones(2), [0.0, 1.0], steps=2)
    with pytest.raises(CallbackError):
        field.eval(0.0, np.ones(2))
    with pytest.raises(CallbackError):
        revode.gradient(revode.MLP([2, 4, 2]), np.ones(2), [0.0, 1.0], steps=2, loss=_raise)
    with pytest.raises(CallbackError):
        revode.train("pendulum", iterations=2, progress=_raise)


def test_adam_overflow_leaves_params_and_state_unchanged():
    adam = revode.Adam(2, kind="adam", beta1=0.0, beta2=0.0)
    params = np.array([1e308, -1e308])
    with pytest.raises(revode.Error, match=r"update overflows.*left unchanged"):
        adam.step(1e308, params, np.array([-1.0, 1.0]))
    np.testing.assert_array_equal(params, [1e308, -1e308])
    assert adam.step_count == 0


def test_field_output_error_names_what_was_evaluated():
    with pytest.raises(revode.Error, match=r"field 'lennard-jones:3': eval at t = 0 gives "
                                           r"dy\[6\] = -?nan in float64 for y = \[0\.3, "):
        revode.field("lennard-jones").eval(0.0, np.full(12, 0.3))


if __name__ == "__main__":
    run_child(sys.argv[1])
