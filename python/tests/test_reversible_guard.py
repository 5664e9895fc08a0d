"""The reversible guard from Python: a drifting walk (damped ALF, eta = 0.7, 300 steps) is
repaired to backprop's gradient by default, refused with reversible_guard="error", returned
flagged with a RuntimeWarning under "warn"; bad policies and tolerances raise."""

import numpy as np
import pytest

import revode

DRIFTING = dict(solver="alf", damping=0.7, steps=300)


@pytest.fixture
def field():
    return revode.MLP([2, 16, 16, 2], seed=3)


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_repair_is_the_default_and_returns_backprops_gradient(field):
    y0, ts = np.array([0.5, -0.3]), np.array([0.0, 1.0])
    reference = revode.gradient(field, y0, ts, method="backprop", **DRIFTING)
    g = revode.gradient(field, y0, ts, method="reversible", **DRIFTING)
    guard = g.stats["guard"]
    assert guard["policy"] == "repair" and guard["repaired"] and guard["anchors"] > 0
    assert guard["drift"] > guard["tolerance"]
    assert guard["y0_cancellation"] >= 1.0
    assert "repaired with" in guard["warning"]
    assert rel(g.grad_params, reference.grad_params) <= 1e-10
    assert rel(g.grad_y0, reference.grad_y0) <= 1e-10


def test_error_policy_raises_naming_the_drift(field):
    with pytest.raises(revode.Error, match="drift.*tolerance"):
        revode.gradient(field, np.array([0.5, -0.3]), np.array([0.0, 1.0]), method="reversible",
                        reversible_guard="error", **DRIFTING)


def test_warn_policy_flags_and_warns(field):
    with pytest.warns(RuntimeWarning, match="unrepaired"):
        g = revode.gradient(field, np.array([0.5, -0.3]), np.array([0.0, 1.0]),
                            method="reversible", reversible_guard="warn", **DRIFTING)
    assert g.stats["guard"]["flagged"] and not g.stats["guard"]["repaired"]
    assert "unrepaired (policy warn)" in g.stats["guard"]["warning"]


def test_well_conditioned_walk_keeps_no_anchors(field):
    g = revode.gradient(field, np.array([0.5, -0.3]), np.array([0.0, 1.0]), method="reversible",
                        solver="reversible:midpoint", steps=300)
    assert g.stats["guard"]["anchors"] == 0 and not g.stats["guard"]["repaired"]
    assert "guard" not in revode.gradient(field, np.array([0.5, -0.3]), np.array([0.0, 1.0]),
                                          method="backprop", solver="midpoint", steps=10).stats


def test_float32_walks_are_guarded_too(field):
    y0 = np.array([0.5, -0.3], dtype=np.float32)
    g = revode.gradient(field, y0, np.array([0.0, 1.0]), method="reversible", solver="alf",
                        damping=0.7, steps=100, dtype="float32")
    assert g.dtype == "float32" and g.stats["guard"]["repaired"]
    assert g.stats["guard"]["tolerance"] == pytest.approx(1e-4)


@pytest.mark.parametrize("kwargs", [dict(reversible_guard="ignore"), dict(guard_tolerance=-1.0),
                                    dict(guard_tolerance=2.0), dict(guard_tolerance=float("nan"))])
def test_bad_guard_settings_raise(field, kwargs):
    with pytest.raises(revode.Error, match="guard"):
        revode.gradient(field, np.array([0.5, -0.3]), np.array([0.0, 1.0]), method="reversible",
                        solver="alf", steps=10, **kwargs)
