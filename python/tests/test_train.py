"""revode.train runs the library's trainer: the same numbers as a NumPy loop over
revode.gradient and revode.Adam, progress callbacks, checkpoints and resuming."""

import numpy as np
import pytest

import revode

FAST = dict(steps=50, iterations=3)  # the published 1000 steps × 1000 iterations, shrunk


@pytest.fixture(scope="module")
def white_dwarf():
    return revode.dataset("white-dwarf")


def test_datasets(white_dwarf):
    assert {"white-dwarf", "oscillator", "pendulum"} <= set(revode.datasets())
    assert white_dwarf.times.shape == (1000,) and white_dwarf.states.shape == (1000, 2)
    np.testing.assert_array_equal(white_dwarf.states[0], [1.0, 0.0])
    assert white_dwarf.suggested["widths"] == [2, 10, 2] and white_dwarf.suggested["time_input"]
    assert len(white_dwarf.fingerprint) == 16


def test_train_equals_a_numpy_loop(white_dwarf, numpy_training_loop):
    result = revode.train(white_dwarf, **FAST)
    losses, model = numpy_training_loop(result, white_dwarf)
    np.testing.assert_array_equal(result.losses, losses)
    np.testing.assert_array_equal(result.params, model.params)
    np.testing.assert_array_equal(result.model.params, model.params)
    assert result.prediction.shape == (1000, 2) and result.iterations == 3


def test_progress_checkpoint_and_resume(white_dwarf, tmp_path):
    path = str(tmp_path / "run.json")
    seen = []

    class Stop(Exception):
        pass

    def progress(p):
        seen.append(p)
        if p["iteration"] == 2:
            raise Stop

    settings = dict(steps=30, iterations=4)
    with pytest.raises(Stop):
        revode.train(white_dwarf, progress=progress, checkpoint=path, checkpoint_every=2,
                     **settings)
    assert [p["iteration"] for p in seen] == [1, 2]
    assert set(seen[0]) == {"iteration", "iterations", "loss", "best_loss", "lr", "grad_norm",
                            "seconds"}
    resumed = revode.train(white_dwarf, resume=path)
    full = revode.train(white_dwarf, **settings)
    np.testing.assert_array_equal(resumed.params, full.params)
    np.testing.assert_array_equal(resumed.losses, full.losses)


def test_train_errors(white_dwarf):
    with pytest.raises(revode.Error, match="learning_rate"):
        revode.train(white_dwarf, learning_rate=0.1)
    with pytest.raises(revode.Error, match="lr"):
        revode.train(white_dwarf, lr=-1.0)
    with pytest.raises(revode.Error, match="widths"):
        revode.train(white_dwarf, widths=[3, 10, 3], iterations=1)
    with pytest.raises(TypeError, match="dataset must be a name"):
        revode.train(42)
    with pytest.raises(revode.Error):
        revode.train("no-such-dataset.csv")
    with pytest.raises(TypeError, match="progress must be None or callable"):
        revode.train(white_dwarf, progress=3)


class _Stop(Exception):
    pass


def _interrupted_then_resumed(data, path, stop_at, **settings):
    """Trains with a checkpoint every iteration, interrupted after iteration `stop_at` (a
    progress callback raising), then resumes from the checkpoint: the resumed TrainResult."""
    def stop(p):
        if p["iteration"] == stop_at:
            raise _Stop

    with pytest.raises(_Stop):
        revode.train(data, progress=stop, checkpoint=path, checkpoint_every=1, **settings)
    return revode.train(data, resume=path)


def test_train_an_sde(tmp_path):
    """diffusion= trains θ = [θ_f; θ_g] with a fresh Brownian sample per iteration; resuming is
    exact; the returned MLP is the drift."""
    data = revode.dataset("ensemble:van-der-pol:4")
    sde = dict(widths=[2, 8, 2], diffusion="const:0.1", noise="additive", brownian_seed=5,
               solver="reversible-heun", method="reversible", steps=20)
    path = str(tmp_path / "sde.json")

    resumed = _interrupted_then_resumed(data, path, 2, iterations=4, **sde)
    full = revode.train(data, iterations=4, **sde)
    np.testing.assert_array_equal(resumed.params, full.params)
    n = full.model.param_count
    assert full.params.size > n  # [θ_f; θ_g]
    assert np.all(full.params[n:] != 0.1)  # σ is trained
    np.testing.assert_array_equal(full.model.params, full.params[:n])
    assert full.settings["diffusion"] == "const:0.1"
    with pytest.raises(revode.Error, match="apply to SDEs only"):
        revode.train(data, noise="scalar", iterations=1)


def test_train_a_cde(tmp_path):
    """field="cde:FILE,..." trains the network of a neural CDE whose file holds one path per
    trajectory (as `revode train --field cde:`): the loss falls, θ is the network alone, the
    result has no MLP model, resuming is exact, and chunks give the single chunk's loss."""
    ts = np.array([0.0, 0.15, 0.4, 0.5, 0.8, 1.0])
    paths = np.array([[0.0, 0.4, 0.3, 0.9, 1.2, 0.8], [0.0, -0.5, -0.2, -0.6, -0.1, 0.2],
                      [0.0, 0.2, 0.7, 0.5, 0.1, -0.3]])
    obs = tmp_path / "obs.csv"
    with open(obs, "w") as f:
        for k, t in enumerate(ts):
            row = ["nan" if (k, b) == (3, 1) else repr(paths[b, k]) for b in range(3)]
            f.write(", ".join([repr(t)] + row) + "\n")
    states = np.stack([0.5 * np.sin(2 * paths.T), 0.3 * ts[:, None] * paths.T], axis=1)
    data = revode.Dataset(ts, states)  # (K, dim, trajectories)
    cde = dict(field=f"cde:{obs},hidden=2,widths=8,interpolation=hermite", solver="midpoint",
               steps=10, method="reversible", lr=0.02, seed=4)
    trained = revode.train(data, iterations=40, **cde)
    assert trained.params.size == 78  # mlp:2,8,6: the observations are not in θ
    assert trained.losses[-1] < 0.5 * trained.losses[0]
    assert trained.model is None and trained.settings["field"] == cde["field"]
    assert trained.prediction.shape == (6, 2)

    path = str(tmp_path / "cde.json")

    resumed = _interrupted_then_resumed(data, path, 3, iterations=6, batch_size=2,
                                        batch_chunks=2, **cde)
    full = revode.train(data, iterations=6, batch_size=2, batch_chunks=2, **cde)
    np.testing.assert_array_equal(resumed.params, full.params)

    one = revode.train(data, iterations=1, **cde)
    three = revode.train(data, iterations=1, batch_chunks=3, **cde)
    np.testing.assert_allclose(three.losses, one.losses, rtol=1e-13)
    with pytest.raises(revode.Error, match="2 trajectories.*must hold 2 samples"):
        revode.train(revode.Dataset(ts, states[:, :, :2]), iterations=1, **cde)
    with pytest.raises(revode.Error, match="loaded by the caller"):
        revode.train(data, iterations=1, field="torchscript:/no/such.pt")
