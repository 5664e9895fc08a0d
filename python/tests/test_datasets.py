"""revode.Dataset with many trajectories: ensembles, `trajectory,t,...` CSV files and arrays,
in revode.solve's layout ((K, dim) for one trajectory, (K, dim, N) for N), and revode.train
on them equal to a loop over revode.gradient with that layout."""

import numpy as np
import pytest

import revode


@pytest.fixture(scope="module")
def ensemble():
    return revode.dataset("ensemble:lotka-volterra:5:3")


def test_ensemble_layout(ensemble):
    assert ensemble.trajectories == 5 and ensemble.points == 101 and ensemble.state_dim == 2
    assert ensemble.times.shape == (101,)
    assert ensemble.states.shape == (101, 2, 5)
    for n in range(5):
        np.testing.assert_array_equal(ensemble.trajectory(n), ensemble.states[:, :, n])
    assert ensemble.trajectory(0).shape == (101, 2)
    # The trajectories start at different random states, and each is a solve of the field.
    assert len({tuple(ensemble.states[0, :, n]) for n in range(5)}) == 5
    with pytest.raises(IndexError, match="trajectory 5"):
        ensemble.trajectory(5)
    with pytest.raises(IndexError, match="trajectory -1"):
        ensemble.trajectory(-1)
    assert "5 trajectories × 101 points" in repr(ensemble)


def test_one_trajectory_keeps_its_shape():
    ds = revode.dataset("white-dwarf")
    assert ds.trajectories == 1 and ds.states.shape == (1000, 2)
    assert "1 trajectory × 1000 points" in repr(ds)
    np.testing.assert_array_equal(ds.trajectory(0), ds.states)


def test_arrays_csv_and_ensemble_agree(ensemble, tmp_path):
    times, states = ensemble.times, ensemble.states
    from_arrays = revode.Dataset(times, states, columns=["prey", "predator"], name="lv")
    assert from_arrays.trajectories == 5 and from_arrays.columns == ["prey", "predator"]
    np.testing.assert_array_equal(from_arrays.states, states)
    np.testing.assert_array_equal(from_arrays.times, times)
    assert from_arrays.suggested["steps"] == 100 and from_arrays.suggested["solver"] == "midpoint"
    # A trajectory CSV file (ids in an order of their own) reads back the same values.
    path = tmp_path / "lv.csv"
    order = [3, 0, 4, 1, 2]
    with open(path, "w") as f:
        f.write("trajectory,t,prey,predator\n")
        for n in order:
            for k, t in enumerate(times):
                f.write(f"{10 + n},{t!r},{states[k, 0, n]!r},{states[k, 1, n]!r}\n")
    from_csv = revode.dataset(str(path))
    assert from_csv.trajectories == 5 and from_csv.columns == ["prey", "predator"]
    np.testing.assert_array_equal(from_csv.states, states[:, :, order])
    # Equal data, equal fingerprints (arrays and files hash their values).
    reordered = revode.Dataset(times, states[:, :, order], columns=["prey", "predator"])
    assert reordered.fingerprint == from_csv.fingerprint
    assert reordered.fingerprint != from_arrays.fingerprint
    # One trajectory from (K, dim); default column names.
    one = revode.Dataset(times, states[:, :, 2])
    assert one.trajectories == 1 and one.states.shape == (101, 2) and one.columns == ["y1", "y2"]
    np.testing.assert_array_equal(one.states, states[:, :, 2])


def test_array_errors(ensemble):
    times, states = ensemble.times, ensemble.states
    with pytest.raises(ValueError, match=r"states has shape \(100, 2, 5\); expected \(K, dim\)"):
        revode.Dataset(times, states[:100])
    with pytest.raises(ValueError, match=r"states has shape \(101,\)"):
        revode.Dataset(times, states[:, 0, 0])
    with pytest.raises(ValueError, match="at least one trajectory"):
        revode.Dataset(times, states[:, :, :0])
    bad_times = times.copy()
    bad_times[7] = bad_times[6]
    with pytest.raises(revode.Error, match=r"time 7 .* is not after time 6"):
        revode.Dataset(bad_times, states)
    assert revode.Dataset(times[:2], states[:2]).points == 2
    with pytest.raises(revode.Error, match=r"1 time\(s\); at least 2"):
        revode.Dataset(times[:1], states[:1])
    bad = states.copy()
    bad[4, 1, 3] = np.nan
    with pytest.raises(revode.Error, match="trajectory 3, time 4, component 1 is nan"):
        revode.Dataset(times, bad)
    with pytest.raises(revode.Error, match="1 column names for 2 state components"):
        revode.Dataset(times, states, columns=["x"])
    with pytest.raises(TypeError, match="states has dtype"):
        revode.Dataset(times, states.astype(np.int64))


def test_train_on_many_trajectories_equals_a_gradient_loop(ensemble, numpy_training_loop):
    """The trainer's full-batch loss over N trajectories is revode.gradient's with y0 =
    states[0] (dim, N) and the data states (K, dim, N): the layouts agree."""
    ds = revode.Dataset(ensemble.times, ensemble.states)
    result = revode.train(ds, iterations=2)
    losses, model = numpy_training_loop(result, ds)
    np.testing.assert_array_equal(result.losses, losses)  # N = 5: one chunk, the same sums
    np.testing.assert_array_equal(result.params, model.params)
