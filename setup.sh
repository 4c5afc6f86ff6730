#!/usr/bin/env bash
# ringtune set-up on Debian 12: installs the build and test dependencies (idempotent), then
# configures and builds. Usage:
#   ./setup.sh            install deps + release build in build/
#   ./setup.sh demo       ... then run the embedded end-to-end demo
#   ./setup.sh test       ... then run the tests (normal build, then ASan+UBSan build),
#                         then the fuzz targets briefly (clang-14 libFuzzer build); the long
#                         end-to-end runs and the multi-rank tests under ASan are left out
#   ./setup.sh test-long  ... then run what `test` leaves out (CI runs both)
set -euo pipefail
cd "$(dirname "$0")"

PKGS=(build-essential cmake pkg-config git
      libopenmpi-dev openmpi-bin
      libblis-dev
      libdnnl-dev        # oneDNN: the bf16 matmul of train.precision bf16
      libhdf5-openmpi-dev hdf5-tools
      libprotobuf-c-dev protobuf-c-compiler
      check libsubunit-dev
      libjansson-dev libyaml-dev libpcre2-dev libxxhash-dev libssl-dev
      libisal-dev        # CRC32C (crc32_iscsi) of TensorBoard event files
      clang-format python3
      clang-14 libclang-rt-14-dev libomp-14-dev   # tests/fuzz: libFuzzer targets (RT_FUZZ)
      slurm-wlm munge    # slurm/: a throw-away local cluster for the Slurm end-to-end test
      gnuplot-nox)       # benchmarks/plot_suite.sh: PNG plots of the benchmark suite

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Open MPI refuses to run as root unless told; tests run many ranks on few cores.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

JOBS=$(nproc)
build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

build build -DRT_WERROR=ON

case "${1:-}" in
  demo)
    shift
    ./cli/demo/demo.sh "$@"
    ;;
  test)
    # The default test run (under 20 minutes on 2 cores): everything but the long end-to-end
    # runs (label slow) in the Release build, the benchmarks' smoke runs, the single-process
    # tests under ASan+UBSan, and the fuzzers briefly. `./setup.sh test-long` runs the rest.
    ./tests/check-format.sh
    t0=$SECONDS
    # two at a time (PROCESSORS 2 / RUN_SERIAL tests run alone, tests/CMakeLists.txt)
    ctest --test-dir build --output-on-failure -j 2 -LE "bench|slow"
    # The benchmarks must build and run (a short smoke run; timings are not asserted).
    ctest --test-dir build --output-on-failure -j 1 -L bench
    echo "setup: Release tests and benchmark smoke runs: $((SECONDS - t0)) s"
    t0=$SECONDS
    build build-asan -DRT_WERROR=ON -DRT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure -j 2 -LE "bench|slow|e2e|mpi"
    echo "setup: sanitizer build and single-process tests: $((SECONDS - t0)) s"
    t0=$SECONDS
    # Every parser under libFuzzer (tests/fuzz/README.md): each seed once, then a short run.
    CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRT_WERROR=ON -DRT_FUZZ=ON >/dev/null
    cmake --build build-fuzz -j "$JOBS" --target fuzz_all
    # each fuzzer is one single-threaded process: two at a time on the two cores
    ctest --test-dir build-fuzz --output-on-failure -j 2 -L fuzz
    echo "setup: fuzzers: $((SECONDS - t0)) s"
    ;;
  test-long)
    # What `test` leaves out (CI runs both): the long end-to-end runs in the Release build, and
    # the multi-rank tests (label mpi: ring, checkpoints, signals, LoRA, sweeps...) under
    # ASan+UBSan, two at a time as above.
    t0=$SECONDS
    ctest --test-dir build --output-on-failure -j 2 -L slow -LE bench
    echo "setup: long Release end-to-end runs: $((SECONDS - t0)) s"
    t0=$SECONDS
    build build-asan -DRT_WERROR=ON -DRT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure -j 2 -L mpi -LE "bench|slow|e2e"
    echo "setup: multi-rank tests under the sanitizers: $((SECONDS - t0)) s"
    ;;
  "") ;;
  *) echo "usage: $0 [demo|test|test-long]" >&2; exit 2 ;;
esac
