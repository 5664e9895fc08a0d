"""Smoke tests of the convolutional examples' --quick modes (examples/conv_ode_fashion_mnist.py,
examples/conv_revdeq_fashion_mnist.py): each trains a tiny model on a few Fashion-MNIST images
and checks that the exact gradient methods agree. They take up to a minute each, so ctest runs
them as their own tests (python.example.conv_*, which set REVODE_EXAMPLE_SMOKE=1) rather than
inside python.pytest; they skip without torch or the Debian dataset."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

pytestmark = [
    pytest.mark.skipif(os.environ.get("REVODE_EXAMPLE_SMOKE") != "1",
                       reason="run by ctest as python.example.conv_* (REVODE_EXAMPLE_SMOKE=1)"),
    pytest.mark.skipif(not DATA.exists(), reason="Debian's dataset-fashion-mnist is not installed"),
]


def run_quick(script):
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--quick"], capture_output=True,
                         text=True, timeout=240, env=os.environ.copy())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "quick run ok" in out.stdout


def test_conv_ode_quick():
    run_quick("conv_ode_fashion_mnist.py")


def test_conv_revdeq_quick():
    run_quick("conv_revdeq_fashion_mnist.py")
