"""Shared fixtures: the built `revode` CLI (for parity tests) and small problems."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

import revode


def _find_cli():
    """REVODE_CLI (set by ctest), else the build tree the module was imported from."""
    candidates = [os.environ.get("REVODE_CLI", "")]
    module_dir = pathlib.Path(revode.__file__).resolve().parent  # <build>/python/revode
    candidates.append(str(module_dir.parent.parent / "revode"))
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def cli():
    """Runs `revode <args> --json` and returns the parsed object (skips without a CLI)."""
    path = _find_cli()
    if path is None:
        pytest.skip("the revode CLI was not found (set REVODE_CLI)")

    def run(*args):
        out = subprocess.run([path, *args, "--json"], capture_output=True, text=True)
        assert out.returncode == 0, f"revode {' '.join(args)}: {out.stderr}"
        return json.loads(out.stdout)

    return run


@pytest.fixture
def mlp():
    return revode.MLP([2, 8, 2], activation="tanh", seed=3)


@pytest.fixture
def ts():
    return np.linspace(0.0, 1.0, 5)


@pytest.fixture(scope="session")
def numpy_training_loop():
    """Replays revode.train's result.settings as a plain loop over revode.gradient and
    revode.Adam on `dataset`: returns (losses, model) for comparison with the trainer's."""

    def run(result, dataset):
        s = result.settings
        model = revode.MLP(s["widths"], activation=s["activation"], seed=s["seed"],
                           time_input=s["time_input"], init=s["init"])
        adam = revode.Adam(model.param_count, kind=s["optimizer"],
                           weight_decay=s["weight_decay"])
        losses = []
        for _ in range(s["iterations"]):
            g = revode.gradient(model, dataset.states[0], dataset.times, loss=dataset.states,
                                method=s["method"], solver=result.solver, steps=s["steps"],
                                dense=s["dense"], coupling=s["coupling"])
            losses.append(g.loss)
            adam.step(s["lr"], model.params, g.grad_params)
        return losses, model

    return run
