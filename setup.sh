#!/usr/bin/env bash
# ringtune set-up on Debian 12: installs the build and test dependencies (idempotent), then
# configures and builds. Usage:
#   ./setup.sh            install deps + release build in build/
#   ./setup.sh demo       ... then run the embedded end-to-end demo
#   ./setup.sh test       ... then run the unit tests (normal build, then ASan+UBSan build),
#                         then the fuzz targets briefly (clang-14 libFuzzer build)
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
    ./tests/check-format.sh
    # two at a time, as the sanitizer pass below (PROCESSORS 2 / RUN_SERIAL tests run alone)
    ctest --test-dir build --output-on-failure -j 2 -LE bench
    # The benchmarks must build and run (a short smoke run; timings are not asserted).
    ctest --test-dir build --output-on-failure -j 1 -L bench
    build build-asan -DRT_WERROR=ON -DRT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    # two at a time: tests of several ranks (PROCESSORS 2) and those that measure time
    # (RUN_SERIAL, tests/CMakeLists.txt) run alone
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure -j 2 -LE "bench|slow|e2e"
    # Every parser under libFuzzer (tests/fuzz/README.md): each seed once, then a short run.
    CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRT_WERROR=ON -DRT_FUZZ=ON >/dev/null
    cmake --build build-fuzz -j "$JOBS" --target fuzz_all
    # each fuzzer is one single-threaded process: two at a time on the two cores
    ctest --test-dir build-fuzz --output-on-failure -j 2 -L fuzz
    ;;
  "") ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac
