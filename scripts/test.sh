#!/usr/bin/env bash
# The whole test suite: install what is missing, build and run every test (C++, CLI, Python),
# then the same tests under AddressSanitizer + UndefinedBehaviorSanitizer, then build and run
# an outside project that uses revode through find_package after `cmake --install`.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
bash scripts/install-deps.sh

echo "== release build and tests =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DREVODE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan + UBSan) and tests =="
# -g1 (line tables only): a report still names file and line, and the heavy Eigen TUs compile
# in about half the time of -g's full debug information (81 → 45 s for one test TU).
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREVODE_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DREVODE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-sanitize --output-on-failure -j"$jobs"

echo "== install and find_package(revode) from an outside project =="
prefix=$(mktemp -d)
cmake --install build --prefix "$prefix" >/dev/null
cmake -S examples/consumer -B build-consumer -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build-consumer -j"$jobs"
./build-consumer/consumer
rm -rf "$prefix"
echo "all test stages passed"
