#!/usr/bin/env bash
# Installs the Debian 12 packages revode builds and tests with, only those that are missing.
set -euo pipefail
packages=(
  g++ cmake make
  libeigen3-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  librandom123-dev  # Philox, the counter-based generator of the Brownian tree (src/sde)
  python3 python3-dev python3-numpy python3-matplotlib python3-pytest pybind11-dev python3-pybind11
  # revode.torch (python/revode/torch.py) and revode::torch (TorchField, --field
  # torchscript:PATH). libtorch-dev brings the headers and CMake config (with
  # libgoogle-glog-dev, libgflags-dev, libprotobuf-dev that Caffe2's config looks for). Debian's
  # torch calls libblas.so.3: without an optimised provider it runs on the reference BLAS
  # (3 GFLOP/s float64 GEMM against 44 with OpenBLAS).
  libtorch-dev python3-torch libopenblas0-pthread
  # revode::mpi (integrations/mpi, docs/mpi.md): `mpirun -np P revode train`, and its ctest.
  libopenmpi-dev openmpi-bin
  # Fashion-MNIST's IDX files under /usr/share/datasets/fashion-mnist: the neural CDE classifier
  # (examples/cde_fashion_mnist.py) and the image examples (examples/conv_*_fashion_mnist.py).
  dataset-fashion-mnist
  # The CNF example (examples/cnf_two_moons.py: sklearn.datasets.make_moons).
  python3-sklearn
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "revode: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
