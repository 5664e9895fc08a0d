"""Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files, no download), shared by the
image examples (conv_ode_fashion_mnist.py, conv_revdeq_fashion_mnist.py, cde_fashion_mnist.py)."""
import gzip
import os

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def available():
    return os.path.isdir(DATA_DIR)


def read_idx(name):
    """An IDX file (LeCun's format: magic, dims, uint8 data) as a NumPy array."""
    with gzip.open(os.path.join(DATA_DIR, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def split(name):
    """(images uint8 (n, 28, 28), labels uint8 (n,)) of "train" or "test"."""
    prefix = "train" if name == "train" else "t10k"
    return read_idx(f"{prefix}-images-idx3-ubyte.gz"), read_idx(f"{prefix}-labels-idx1-ubyte.gz")
